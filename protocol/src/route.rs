//! The route protocol parser: what one server sends another.
//!
//! Same framing as the client protocol (see [`crate::framing`]) with the
//! route verbs, limits of their own (a control line may be several times a
//! client's, as queue lists make routed lines long; a payload may be as big
//! as any server of the cluster allows), and message ops whose argument
//! count decides their shape:
//!
//! ```text
//! RMSG <acc> <subj> [reply] <size>
//! RMSG <acc> <subj> + <reply> <queue>... <size>
//! RMSG <acc> <subj> | <queue>... <size>
//! HMSG <acc> <subj> [reply] <hdr> <total>      (and the same + / | forms)
//! ```
//!
//! States are those of the client parser: `Line` (searching for `\n`) and
//! `Body` (waiting for the payload), with argument positions parked as
//! offsets so nothing is rescanned.

use crate::client::Frame;
use crate::framing::{
    find_line_end, is_arg_separator, is_space, line_search_start, match_verb, parse_size, After, ParseError, Status,
    VerbMatch,
};

/// A message relayed by a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteMsg<'a> {
    pub account: &'a [u8],
    pub subject: &'a [u8],
    pub reply: Option<&'a [u8]>,
    /// Queue groups the sender chose this server for, space-separated.
    pub queues: Option<&'a [u8]>,
    /// Header length for HMSG (`message` starts with the header block).
    pub header_len: Option<usize>,
    pub message: &'a [u8],
}

/// An op received on a route connection. Slices borrow the caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteOp<'a> {
    Info(&'a [u8]),
    Connect(&'a [u8]),
    Ping,
    Pong,
    Ok,
    Err(&'a [u8]),
    /// `RS+ <acc> <subj> [<queue> <weight>]`, or LS+ with an origin first.
    Sub {
        account: &'a [u8],
        subject: &'a [u8],
        queue: Option<(&'a [u8], u32)>,
    },
    /// `RS- <acc> <subj> [<queue>]` (LS- alike).
    Unsub {
        account: &'a [u8],
        subject: &'a [u8],
        queue: Option<&'a [u8]>,
    },
    Msg(RouteMsg<'a>),
    /// A+/A- (account interest, only sent to peers that asked) and client
    /// SUB on a route: accepted and ignored.
    Ignored,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    Info,
    Connect,
    Ping,
    Pong,
    Ok,
    Err,
    RsPlus,
    RsMinus,
    RMsg,
    HMsg,
    LsPlus,
    LsMinus,
    LMsg,
    APlus,
    AMinus,
    Sub,
    Unsub,
    Pub,
    HPub,
}

const VERBS: &[(&[u8], After)] = &[
    (b"INFO", After::Glued),
    (b"CONNECT", After::Glued),
    (b"PING", After::Ignore),
    (b"PONG", After::Ignore),
    (b"+OK", After::Ignore),
    (b"-ERR", After::Args),
    (b"RS+", After::Args),
    (b"RS-", After::Args),
    (b"RMSG", After::Args),
    (b"HMSG", After::Args),
    (b"LS+", After::Args),
    (b"LS-", After::Args),
    (b"LMSG", After::Args),
    (b"A+", After::Args),
    (b"A-", After::Args),
    // Client ops on a route, as Go treats them: SUB is ignored, UNSUB is an
    // error, PUB and HPUB are read whole and come out as messages of no
    // account (dropped).
    (b"SUB", After::Args),
    (b"UNSUB", After::Args),
    (b"PUB", After::Args),
    (b"HPUB", After::Args),
];

const VERB_IDS: [Verb; 19] = [
    Verb::Info,
    Verb::Connect,
    Verb::Ping,
    Verb::Pong,
    Verb::Ok,
    Verb::Err,
    Verb::RsPlus,
    Verb::RsMinus,
    Verb::RMsg,
    Verb::HMsg,
    Verb::LsPlus,
    Verb::LsMinus,
    Verb::LMsg,
    Verb::APlus,
    Verb::AMinus,
    Verb::Sub,
    Verb::Unsub,
    Verb::Pub,
    Verb::HPub,
];

/// Byte ranges `(start, len)` within the control line.
type Span = (u32, u32);

/// The total size (last token) and, with two sizes, the header size before
/// it, which must not exceed the total.
fn message_sizes(line: &[u8], t: &Tokens, sizes: usize) -> Result<(usize, Option<usize>), ParseError> {
    let total = parse_size(slice(line, t.back(1))).ok_or(ParseError::BadSize)?;
    if sizes < 2 {
        return Ok((total, None));
    }
    let hdr = parse_size(slice(line, t.back(2))).ok_or(ParseError::BadSize)?;
    if hdr > total {
        return Err(ParseError::BadHeaderSize);
    }
    Ok((total, Some(hdr)))
}

fn slice(line: &[u8], s: Span) -> &[u8] {
    line.get(s.0 as usize..(s.0 + s.1) as usize).unwrap_or(&[])
}

/// Tokens of a control line: the first few and the last few, plus the
/// count, which is all the message forms need (the queue list is the run
/// between them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Tokens {
    first: [Span; 6],
    last: [Span; 3],
    count: usize,
}

impl Tokens {
    fn split(line: &[u8], from: usize) -> Tokens {
        let mut t = Tokens::default();
        let mut i = from;
        loop {
            while i < line.len() && is_arg_separator(line[i]) {
                i += 1;
            }
            if i >= line.len() {
                return t;
            }
            let start = i;
            while i < line.len() && !is_arg_separator(line[i]) {
                i += 1;
            }
            let span = (start as u32, (i - start) as u32);
            if t.count < t.first.len() {
                t.first[t.count] = span;
            }
            t.last = [t.last[1], t.last[2], span];
            t.count += 1;
        }
    }

    /// Token `i` counted from the start (`i` < 6).
    fn at(&self, i: usize) -> Span {
        self.first[i]
    }

    /// Token `i` counted from the end (1 = last, up to 3).
    fn back(&self, i: usize) -> Span {
        self.last[3 - i]
    }
}

/// Parsed message arguments, parked while the payload arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct MsgArgs {
    account: Span,
    subject: Span,
    reply: Option<Span>,
    queues: Option<Span>,
    header_len: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Line { scanned: usize },
    Body { args: MsgArgs, args_at: usize, line_len: usize, body_start: usize, body_len: usize },
}

/// Resumable parser for one route connection.
#[derive(Debug, Clone)]
pub struct RouteParser {
    state: State,
    max_control_line: usize,
    max_payload: usize,
}

impl Default for RouteParser {
    /// A parser without limits (for tests and fuzzing).
    fn default() -> Self {
        RouteParser::new(usize::MAX, usize::MAX)
    }
}

fn trim_start(b: &[u8]) -> &[u8] {
    let i = b.iter().position(|c| !is_space(*c)).unwrap_or(b.len());
    &b[i..]
}

impl RouteParser {
    /// A parser refusing control lines longer than `max_control_line` and
    /// payloads larger than `max_payload` before buffering them.
    pub fn new(max_control_line: usize, max_payload: usize) -> Self {
        RouteParser { state: State::Line { scanned: 0 }, max_control_line, max_payload }
    }

    /// New limits for the ops still to come (a configuration reload).
    pub fn set_limits(&mut self, max_control_line: usize, max_payload: usize) {
        self.max_control_line = max_control_line;
        self.max_payload = max_payload;
    }

    /// See [`crate::client::ClientParser::body_needed`].
    pub fn body_needed(&self, buffered: usize) -> Option<usize> {
        match self.state {
            State::Body { body_start, body_len, .. } => {
                Some((body_start + body_len + 2).saturating_sub(buffered).max(1))
            }
            State::Line { .. } => None,
        }
    }

    /// Parses the op at the start of `buf`; same contract as the client parser.
    pub fn parse<'a>(&mut self, buf: &'a [u8]) -> Result<Status<Frame<'a, RouteOp<'a>>>, ParseError> {
        if let State::Body { args, args_at, line_len, body_start, body_len } = self.state {
            return self.finish_body(buf, args, args_at, line_len, body_start, body_len);
        }
        let (verb, after, args_at) = match match_verb(buf, VERBS) {
            VerbMatch::Found { index, args_at } => (VERB_IDS[index], VERBS[index].1, args_at),
            VerbMatch::NeedMore => return Ok(Status::Partial),
            VerbMatch::NoMatch => return Err(ParseError::UnknownOp),
        };
        let scanned = match self.state {
            State::Line { scanned } => scanned,
            State::Body { .. } => 0,
        };
        let Some((line_len, next)) = find_line_end(buf, line_search_start(buf, args_at, after, scanned)) else {
            // A `\r` may still be waiting for its `\n`, hence the one byte.
            if buf.len().saturating_sub(args_at) > self.max_control_line.saturating_add(1) {
                return Err(ParseError::MaxControlLine);
            }
            self.state = State::Line { scanned: buf.len() };
            return Ok(Status::Partial);
        };
        self.state = State::Line { scanned: 0 };
        if line_len.saturating_sub(args_at) > self.max_control_line {
            return Err(ParseError::MaxControlLine);
        }
        let line = &buf[..line_len];
        let done = |op| Ok(Status::Complete(Frame { op, line, args_at, len: next }));
        match verb {
            Verb::Ping => done(RouteOp::Ping),
            Verb::Pong => done(RouteOp::Pong),
            Verb::Ok => done(RouteOp::Ok),
            Verb::Info => done(RouteOp::Info(trim_start(&line[args_at..]))),
            Verb::Connect => done(RouteOp::Connect(trim_start(&line[args_at..]))),
            Verb::Err => done(RouteOp::Err(trim_start(&line[args_at..]))),
            Verb::APlus | Verb::AMinus | Verb::Sub => done(RouteOp::Ignored),
            // Go closes a route that sends UNSUB (no -ERR).
            Verb::Unsub => Err(ParseError::BadArgs),
            Verb::Pub | Verb::HPub => {
                let t = Tokens::split(line, args_at);
                let sizes = if verb == Verb::Pub { 1 } else { 2 };
                let n = t.count;
                if n != 1 + sizes && n != 2 + sizes {
                    return Err(ParseError::BadArgs);
                }
                let (total, header_len) = message_sizes(line, &t, sizes)?;
                let args = MsgArgs {
                    account: (0, 0),
                    subject: t.at(0),
                    reply: (n == 2 + sizes).then(|| t.at(1)),
                    queues: None,
                    header_len,
                };
                self.finish_body(buf, args, args_at, line_len, next, total)
            }
            Verb::RsPlus | Verb::LsPlus => {
                let t = Tokens::split(line, args_at);
                // LS+ (interest that came from a leaf node) names its origin first.
                let o = usize::from(verb == Verb::LsPlus);
                let (account, subject) = (slice(line, t.at(o)), slice(line, t.at(o + 1)));
                match t.count - o.min(t.count) {
                    2 => done(RouteOp::Sub { account, subject, queue: None }),
                    4 => {
                        // A weight that is not a size counts as 0: no
                        // member over there to pick (Go's reading).
                        let w = parse_size(slice(line, t.at(o + 3))).and_then(|w| u32::try_from(w).ok()).unwrap_or(0);
                        done(RouteOp::Sub { account, subject, queue: Some((slice(line, t.at(o + 2)), w)) })
                    }
                    _ => Err(ParseError::BadArgs),
                }
            }
            Verb::RsMinus | Verb::LsMinus => {
                let t = Tokens::split(line, args_at);
                let (account, subject) = (slice(line, t.at(0)), slice(line, t.at(1)));
                match t.count {
                    2 => done(RouteOp::Unsub { account, subject, queue: None }),
                    3 => done(RouteOp::Unsub { account, subject, queue: Some(slice(line, t.at(2))) }),
                    _ => Err(ParseError::BadArgs),
                }
            }
            Verb::RMsg | Verb::HMsg | Verb::LMsg => {
                let t = Tokens::split(line, args_at);
                // LMSG carries an origin cluster first and always a header size.
                let (skip, sizes) = match verb {
                    Verb::RMsg => (0, 1),
                    Verb::HMsg => (0, 2),
                    _ => (1, 2),
                };
                let n = t.count;
                if n < skip + 2 + sizes {
                    return Err(ParseError::BadArgs);
                }
                let mut args = MsgArgs {
                    account: t.at(skip),
                    subject: t.at(skip + 1),
                    reply: None,
                    queues: None,
                    header_len: None,
                };
                let plain = skip + 2 + sizes;
                if n == plain + 1 {
                    args.reply = Some(t.at(skip + 2));
                } else if n > plain + 1 {
                    let marker = slice(line, t.at(skip + 2));
                    let (qfirst, qlast_from_end) = match marker {
                        b"+" => {
                            args.reply = Some(t.at(skip + 3));
                            (skip + 4, sizes + 1)
                        }
                        b"|" => (skip + 3, sizes + 1),
                        _ => return Err(ParseError::BadArgs),
                    };
                    // `+ reply` may come without queue names.
                    if n >= qfirst + qlast_from_end {
                        let start = t.at(qfirst).0;
                        let end_tok = t.back(qlast_from_end);
                        args.queues = Some((start, end_tok.0 + end_tok.1 - start));
                    }
                }
                let (total, header_len) = message_sizes(line, &t, sizes)?;
                args.header_len = header_len;
                self.finish_body(buf, args, args_at, line_len, next, total)
            }
        }
    }

    fn finish_body<'a>(
        &mut self,
        buf: &'a [u8],
        args: MsgArgs,
        args_at: usize,
        line_len: usize,
        body_start: usize,
        body_len: usize,
    ) -> Result<Status<Frame<'a, RouteOp<'a>>>, ParseError> {
        if body_len > self.max_payload {
            return Err(ParseError::MaxPayload);
        }
        let end = body_start + body_len;
        if buf.len() < end + 2 {
            if buf.len() > end && buf[end] != b'\r' {
                return Err(ParseError::BadPayloadEnd);
            }
            self.state = State::Body { args, args_at, line_len, body_start, body_len };
            return Ok(Status::Partial);
        }
        if buf[end] != b'\r' || buf[end + 1] != b'\n' {
            return Err(ParseError::BadPayloadEnd);
        }
        self.state = State::Line { scanned: 0 };
        let line = &buf[..line_len];
        let msg = RouteMsg {
            account: slice(line, args.account),
            subject: slice(line, args.subject),
            reply: args.reply.map(|s| slice(line, s)),
            queues: args.queues.map(|s| slice(line, s)),
            header_len: args.header_len,
            message: &buf[body_start..end],
        };
        Ok(Status::Complete(Frame { op: RouteOp::Msg(msg), line, args_at, len: end + 2 }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(input: &[u8], chunk: usize) -> (Vec<String>, Option<ParseError>) {
        let mut p = RouteParser::default();
        let mut buf = Vec::new();
        let mut ops = Vec::new();
        let step = if chunk == 0 { input.len().max(1) } else { chunk };
        for piece in input.chunks(step) {
            buf.extend_from_slice(piece);
            loop {
                match p.parse(&buf) {
                    Ok(Status::Complete(f)) => {
                        ops.push(format!("{:?}", f.op));
                        let n = f.len;
                        buf.drain(..n);
                    }
                    Ok(Status::Partial) => break,
                    Err(e) => return (ops, Some(e)),
                }
            }
        }
        (ops, None)
    }

    fn check(input: &[u8]) -> (Vec<String>, Option<ParseError>) {
        let whole = parse_all(input, 0);
        for c in 1..input.len() {
            assert_eq!(parse_all(input, c), whole, "chunks of {c}");
        }
        whole
    }

    fn ok(input: &[u8]) -> Vec<String> {
        let (ops, e) = check(input);
        assert_eq!(e, None);
        ops
    }

    fn m(
        account: &'static [u8],
        subject: &'static [u8],
        reply: Option<&'static [u8]>,
        queues: Option<&'static [u8]>,
        header_len: Option<usize>,
        message: &'static [u8],
    ) -> String {
        format!("{:?}", RouteOp::Msg(RouteMsg { account, subject, reply, queues, header_len, message }))
    }

    #[test]
    fn messages() {
        assert_eq!(
            ok(b"RMSG $G foo 5\r\nhello\r\nRMSG $G foo rep 2\r\nhi\r\nRMSG $G qq | grp 2\r\nab\r\nRMSG $G qq + r.1 g1 g2 0\r\n\r\n"),
            vec![
                m(b"$G", b"foo", None, None, None, b"hello"),
                m(b"$G", b"foo", Some(b"rep"), None, None, b"hi"),
                m(b"$G", b"qq", None, Some(b"grp"), None, b"ab"),
                m(b"$G", b"qq", Some(b"r.1"), Some(b"g1 g2"), None, b""),
            ]
        );
        assert_eq!(
            ok(b"HMSG $G baz 18 23\r\nNATS/1.0\r\nA: b\r\n\r\nhello\r\nHMSG $G q | a  b 0 1\r\nx\r\n"),
            vec![
                m(b"$G", b"baz", None, None, Some(18), b"NATS/1.0\r\nA: b\r\n\r\nhello"),
                m(b"$G", b"q", None, Some(b"a  b"), Some(0), b"x"),
            ]
        );
    }

    #[test]
    fn interest() {
        let s = |op: RouteOp| format!("{op:?}");
        assert_eq!(
            ok(b"RS+ $G foo\r\nRS+ $G bar q1 2\r\nRS- $G foo\r\nrs- $G bar q1\r\nLS+ c $G x\r\nA+ x\r\n"),
            vec![
                s(RouteOp::Sub { account: b"$G", subject: b"foo", queue: None }),
                s(RouteOp::Sub { account: b"$G", subject: b"bar", queue: Some((b"q1", 2)) }),
                s(RouteOp::Unsub { account: b"$G", subject: b"foo", queue: None }),
                s(RouteOp::Unsub { account: b"$G", subject: b"bar", queue: Some(b"q1") }),
                s(RouteOp::Sub { account: b"$G", subject: b"x", queue: None }),
                s(RouteOp::Ignored),
            ]
        );
    }

    #[test]
    fn handshake_ops() {
        let s = |op: RouteOp| format!("{op:?}");
        assert_eq!(
            ok(b"CONNECT {\"a\":1}\r\nINFO {} \r\nPING\r\nPONG\r\n-ERR 'x'\r\n"),
            vec![
                s(RouteOp::Connect(b"{\"a\":1}")),
                s(RouteOp::Info(b"{} ")),
                s(RouteOp::Ping),
                s(RouteOp::Pong),
                s(RouteOp::Err(b"'x'")),
            ]
        );
    }

    #[test]
    fn errors() {
        assert_eq!(check(b"RS+ $G foo q\r\n").1, Some(ParseError::BadArgs));
        assert_eq!(check(b"RMSG $G foo x 1 5\r\n").1, Some(ParseError::BadArgs));
        assert_eq!(check(b"RMSG $G 5\r\n").1, Some(ParseError::BadArgs));
        assert_eq!(check(b"RMSG $G foo 2\r\nabc\r\n").1, Some(ParseError::BadPayloadEnd));
        assert_eq!(check(b"MSG foo 1\r\n").1, Some(ParseError::UnknownOp));
        assert_eq!(check(b"UNSUB 1\r\n").1, Some(ParseError::BadArgs));
        assert_eq!(check(b"PUB foo\r\n").1, Some(ParseError::BadArgs));
        assert_eq!(check(b"HMSG $G f 3 2\r\n").1, Some(ParseError::BadHeaderSize));
    }

    /// Leaf-origin ops: LS+ names the origin first, LMSG too (and always
    /// has a header size); a payload in a later read keeps its fields (the
    /// route fuzz target once found them lost).
    #[test]
    fn leaf_origin_ops() {
        let s = |op: RouteOp| format!("{op:?}");
        assert_eq!(
            ok(b"LMSG c $G foo r 2 4\r\nhiab\r\nLMSG c $G foo + r q1 0 1\r\nx\r\nPING\r\n"),
            vec![
                m(b"$G", b"foo", Some(b"r"), None, Some(2), b"hiab"),
                m(b"$G", b"foo", Some(b"r"), Some(b"q1"), Some(0), b"x"),
                s(RouteOp::Ping)
            ]
        );
        assert_eq!(
            ok(b"LS+ c $G foo q 2\r\nLS- $G foo q\r\n"),
            vec![
                s(RouteOp::Sub { account: b"$G", subject: b"foo", queue: Some((b"q", 2)) }),
                s(RouteOp::Unsub { account: b"$G", subject: b"foo", queue: Some(b"q") }),
            ]
        );
    }

    #[test]
    fn default_parser_has_no_control_line_limit() {
        let mut line = b"RS+ $G ".to_vec();
        line.extend(std::iter::repeat_n(b'a', 100_000));
        line.extend_from_slice(b"\r\n");
        assert_eq!(parse_all(&line, 0).0.len(), 1);
        assert_eq!(parse_all(&line, 4096).0.len(), 1);
    }

    #[test]
    fn limits_refuse_before_buffering() {
        let mut p = RouteParser::new(64, 1000);
        let mut long = b"INFO ".to_vec();
        long.extend(std::iter::repeat_n(b'x', 70));
        assert_eq!(p.parse(&long), Err(ParseError::MaxControlLine));
        let mut p = RouteParser::new(64, 1000);
        long.extend_from_slice(b"\r\n");
        assert_eq!(p.parse(&long), Err(ParseError::MaxControlLine));
        let mut p = RouteParser::new(64, 1000);
        assert_eq!(p.parse(b"RMSG $G foo 900000000\r\n"), Err(ParseError::MaxPayload));
        let mut p = RouteParser::new(64, 1000);
        assert_eq!(p.parse(b"HMSG $G foo 2 1001\r\n"), Err(ParseError::MaxPayload));
        let mut p = RouteParser::new(64, 1000);
        assert!(matches!(p.parse(b"RMSG $G foo 1000\r\n"), Ok(Status::Partial)));
    }

    #[test]
    fn client_ops_on_a_route() {
        let s = |op: RouteOp| format!("{op:?}");
        let none = |reply, header_len, message| {
            s(RouteOp::Msg(RouteMsg { account: b"", subject: b"foo", reply, queues: None, header_len, message }))
        };
        assert_eq!(
            ok(b"SUB foo 1\r\nPUB foo 2\r\nhi\r\nHPUB foo r 2 4\r\nhiab\r\n"),
            vec![s(RouteOp::Ignored), none(None, None, b"hi"), none(Some(&b"r"[..]), Some(2), b"hiab")]
        );
    }

    #[test]
    fn reply_without_queues_and_odd_weights() {
        let s = |op: RouteOp| format!("{op:?}");
        let msg = |reply: Option<&'static [u8]>, header_len, message: &'static [u8]| {
            s(RouteOp::Msg(RouteMsg { account: b"$G", subject: b"foo", reply, queues: None, header_len, message }))
        };
        assert_eq!(
            ok(b"RMSG $G foo + r.1 2\r\nhi\r\nHMSG $G foo + r.1 2 4\r\nhiab\r\n"),
            vec![msg(Some(b"r.1"), None, b"hi"), msg(Some(b"r.1"), Some(2), b"hiab")]
        );
        let sub = |w| s(RouteOp::Sub { account: b"$G", subject: b"foo", queue: Some((b"q", w)) });
        assert_eq!(
            ok(b"RS+ $G foo q -1\r\nRS+ $G foo q 9999999999\r\nRS+ $G foo q 0\r\n"),
            vec![sub(0), sub(0), sub(0)]
        );
    }
}

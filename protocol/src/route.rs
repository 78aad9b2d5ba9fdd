//! The route protocol parser: what one server sends another.
//!
//! Same framing, verb table format and states as the client protocol (see
//! [`crate::framing`]) with the route verbs, limits of their own (a control
//! line may be several times a client's, as queue lists make routed lines
//! long; a payload may be as big as any server of the cluster allows), and
//! message ops whose argument count decides their shape:
//!
//! ```text
//! RMSG <acc> <subj> [reply] <size>
//! RMSG <acc> <subj> + <reply> <queue>... <size>
//! RMSG <acc> <subj> | <queue>... <size>
//! HMSG <acc> <subj> [reply] <hdr> <total>      (and the same + / | forms)
//! ```

use crate::framing::{
    argument_end, match_verb, message_sizes, parse_size, span_of, split_args, text_after, Body, Frame, Message,
    ParseError, Span, State, Status, Verb,
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
    /// LMSG on a route: the cluster of the leaf node it came from.
    pub origin: Option<&'a [u8]>,
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
        /// The interest's name as Go keys it: the arguments as sent, from
        /// the account on (LS+: from the byte after the origin's first
        /// blank), without the weight and the byte before it, blanks kept.
        key: &'a [u8],
        /// LS+: the cluster of the leaf node the interest came from.
        origin: Option<&'a [u8]>,
    },
    /// `RS- <acc> <subj> [<queue>]`, LS- alike, with the origin first
    /// from a peer that announced `lnocu` (see [`RouteParser::set_lnocu`]).
    Unsub {
        account: &'a [u8],
        subject: &'a [u8],
        queue: Option<&'a [u8]>,
        /// LS- from an `lnocu` peer: the interest's origin cluster.
        origin: Option<&'a [u8]>,
        /// The arguments as sent, blanks kept: an RS- removes the interest
        /// whose RS+ had exactly this [`RouteOp::Sub`] key.
        key: &'a [u8],
    },
    Msg(RouteMsg<'a>),
    /// A+/A- (account interest, only sent to peers that asked) and client
    /// SUB on a route: accepted and ignored.
    Ignored,
}

/// The verbs a peer may send. The client ops at the end are taken as Go
/// takes them on a route: SUB is ignored, UNSUB is an error, PUB and HPUB
/// are read whole and come out as messages of no account (dropped).
const VERBS: &[Verb] = &[
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

/// Arguments of a control line: the first few and the last few, plus the
/// count, which is all the message forms need (the queue list is the run
/// between them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Tokens {
    first: [Span; 6],
    last: [Span; 3],
    count: usize,
}

impl Tokens {
    /// Splits `line[from..]` as [`crate::framing::Args::split`] does, with
    /// no bound on the number of arguments.
    fn split(line: &[u8], from: usize) -> Tokens {
        let mut t = Tokens::default();
        split_args::<true>(line, from, |start, end| {
            let span = (start as u32, (end - start) as u32);
            if let Some(slot) = t.first.get_mut(t.count) {
                *slot = span;
            }
            t.last = [t.last[1], t.last[2], span];
            t.count += 1;
            Some(())
        });
        t
    }

    /// Token `i` counted from the start (`i` < 6).
    fn at(&self, i: usize) -> Span {
        self.first[i]
    }

    /// Token `i` counted from the end (1 = last, up to 3).
    fn back(&self, i: usize) -> Span {
        self.last[3 - i]
    }

    /// The size fields of a message op: the last token, and with `sizes`
    /// 2 the header size before it.
    fn message_sizes(&self, line: &[u8], sizes: usize) -> Result<(usize, Option<usize>), ParseError> {
        message_sizes(span_of(line, self.back(1)), (sizes == 2).then(|| span_of(line, self.back(2))))
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
    origin: Option<Span>,
}

impl Message for MsgArgs {
    type Op<'a> = RouteOp<'a>;

    /// The message whose payload is `message`.
    fn op<'a>(&self, line: &'a [u8], message: &'a [u8]) -> RouteOp<'a> {
        RouteOp::Msg(RouteMsg {
            account: span_of(line, self.account),
            subject: span_of(line, self.subject),
            reply: self.reply.map(|s| span_of(line, s)),
            queues: self.queues.map(|s| span_of(line, s)),
            header_len: self.header_len,
            message,
            origin: self.origin.map(|s| span_of(line, s)),
        })
    }
}

/// Resumable parser for one route connection, or (`RouteParser::leaf`)
/// one leaf node connection, whose ops name no account and no origin:
///
/// ```text
/// LS+ <subj> [<queue> <weight>]     LS- <subj> [<queue>]
/// LMSG <subj> [reply] <size>        (and the + / | forms; RMSG alike)
/// HMSG <subj> [reply] <hdr> <total> (and the + / | forms)
/// ```
#[derive(Debug, Clone)]
pub struct RouteParser {
    state: State<MsgArgs>,
    max_control_line: usize,
    max_payload: usize,
    leaf: bool,
    /// LS- names its origin first (the peer announced `lnocu`).
    lnocu: bool,
}

impl Default for RouteParser {
    /// A parser without limits (for tests and fuzzing).
    fn default() -> Self {
        RouteParser::new(usize::MAX, usize::MAX)
    }
}

impl RouteParser {
    /// A parser refusing control lines longer than `max_control_line` and
    /// payloads larger than `max_payload` before buffering them.
    pub fn new(max_control_line: usize, max_payload: usize) -> Self {
        RouteParser { state: State::IDLE, max_control_line, max_payload, leaf: false, lnocu: false }
    }

    /// A parser of the leaf node protocol (see the type's documentation),
    /// with the same limits as [`RouteParser::new`]. Messages and interest
    /// come out with an empty `account`: the connection's binding names it.
    pub fn leaf(max_control_line: usize, max_payload: usize) -> Self {
        RouteParser { state: State::IDLE, max_control_line, max_payload, leaf: true, lnocu: false }
    }

    /// The peer announced `lnocu`: its LS- names the origin cluster first,
    /// as its LS+ does.
    pub fn set_lnocu(&mut self, on: bool) {
        self.lnocu = on;
    }

    /// New limits for the ops still to come (a configuration reload).
    pub fn set_limits(&mut self, max_control_line: usize, max_payload: usize) {
        self.max_control_line = max_control_line;
        self.max_payload = max_payload;
    }

    /// See [`crate::client::ClientParser::body_needed`].
    pub fn body_needed(&self, buffered: usize) -> Option<usize> {
        self.state.body_needed(buffered)
    }

    /// See [`crate::client::ClientParser::is_idle`].
    pub fn is_idle(&self) -> bool {
        self.state.is_idle()
    }

    /// Parses the op at the start of `buf`; same contract as the client parser.
    pub fn parse<'a>(&mut self, buf: &'a [u8]) -> Result<Status<Frame<'a, RouteOp<'a>>>, ParseError> {
        if let State::Body(body) = self.state {
            return self.finish_msg(buf, body);
        }
        if let Some(frame) = self.whole_rmsg(buf) {
            self.state.reset_line();
            return Ok(Status::Complete(frame));
        }
        self.parse_line(buf)
    }

    /// Everything but a parked payload and the one-pass RMSG.
    #[inline(always)]
    fn parse_line<'a>(&mut self, buf: &'a [u8]) -> Result<Status<Frame<'a, RouteOp<'a>>>, ParseError> {
        let Some((verb, after, args_at)) = match_verb(buf, VERBS)? else {
            return Ok(Status::Partial);
        };
        let Some((line_len, next)) = self.state.control_line(buf, args_at, after, self.max_control_line, |_| true)?
        else {
            return Ok(Status::Partial);
        };
        let line = &buf[..line_len];
        let done = |op| Ok(Status::Complete(Frame { op, line, args_at, len: next }));
        match verb {
            Verb::Ping => done(RouteOp::Ping),
            Verb::Pong => done(RouteOp::Pong),
            Verb::Ok => done(RouteOp::Ok),
            Verb::Info => done(RouteOp::Info(text_after(line, args_at))),
            Verb::Connect => done(RouteOp::Connect(text_after(line, args_at))),
            Verb::Err => done(RouteOp::Err(text_after(line, args_at))),
            // Go closes a leaf connection that sends SUB, and ignores its
            // UNSUB; a route is the other way round (no -ERR either way).
            Verb::Sub if self.leaf => Err(ParseError::BadArgs),
            Verb::Unsub if self.leaf => done(RouteOp::Ignored),
            Verb::APlus | Verb::AMinus | Verb::Sub => done(RouteOp::Ignored),
            Verb::Unsub => Err(ParseError::BadArgs),
            Verb::Pub | Verb::HPub => {
                let t = Tokens::split(line, args_at);
                let sizes = if verb == Verb::Pub { 1 } else { 2 };
                let n = t.count;
                if n != 1 + sizes && n != 2 + sizes {
                    return Err(ParseError::BadArgs);
                }
                let (len, header_len) = t.message_sizes(line, sizes)?;
                let args = MsgArgs {
                    account: (0, 0),
                    subject: t.at(0),
                    reply: (n == 2 + sizes).then(|| t.at(1)),
                    queues: None,
                    header_len,
                    origin: None,
                };
                self.finish_msg(buf, Body { args, args_at, line_len, start: next, len })
            }
            Verb::RsPlus | Verb::LsPlus if self.leaf => {
                let t = Tokens::split(line, args_at);
                let subject = span_of(line, t.at(0));
                let key_start = t.at(0).0 as usize;
                match t.count {
                    1 => {
                        done(RouteOp::Sub { account: b"", subject, queue: None, key: &line[key_start..], origin: None })
                    }
                    3 => {
                        let weight = span_of(line, t.at(2));
                        let w = parse_size(weight).and_then(|w| u32::try_from(w).ok()).unwrap_or(0);
                        let key_end = line.len().saturating_sub(weight.len() + 1);
                        let key = line.get(key_start..key_end).unwrap_or_default();
                        done(RouteOp::Sub {
                            account: b"",
                            subject,
                            queue: Some((span_of(line, t.at(1)), w)),
                            key,
                            origin: None,
                        })
                    }
                    _ => Err(ParseError::BadArgs),
                }
            }
            Verb::RsMinus | Verb::LsMinus if self.leaf => {
                let t = Tokens::split(line, args_at);
                let subject = span_of(line, t.at(0));
                let key = line.get(t.at(0).0 as usize..).unwrap_or_default();
                match t.count {
                    1 => done(RouteOp::Unsub { account: b"", subject, queue: None, key, origin: None }),
                    2 => done(RouteOp::Unsub {
                        account: b"",
                        subject,
                        queue: Some(span_of(line, t.at(1))),
                        key,
                        origin: None,
                    }),
                    // Go looks the arguments up as a key, which such text
                    // never is: nothing happens.
                    _ => done(RouteOp::Ignored),
                }
            }
            Verb::RsPlus | Verb::LsPlus => {
                let t = Tokens::split(line, args_at);
                // LS+ (interest that came from a leaf node) names its origin first.
                let o = usize::from(verb == Verb::LsPlus);
                let (account, subject) = (span_of(line, t.at(o)), span_of(line, t.at(o + 1)));
                let origin = (o == 1).then(|| span_of(line, t.at(0)));
                // Go keys the interest by the text of its arguments, cut by
                // lengths: after the origin and one byte, before the weight
                // and one byte (whatever blanks surround them).
                let (args_start, origin_len) = (t.at(0).0 as usize, t.at(0).1 as usize);
                let key_start = args_start + o * (origin_len + 1);
                match t.count - o.min(t.count) {
                    2 => {
                        let key = line.get(key_start..).unwrap_or_default();
                        done(RouteOp::Sub { account, subject, queue: None, key, origin })
                    }
                    4 => {
                        // Go reads a weight as it reads a size: 1 to 9
                        // digits. Anything else (10 digits or more, so
                        // 2^31, 2^32, 2^64 and beyond; a sign; letters) is
                        // invalid and, like 0, means no member over there.
                        let weight = span_of(line, t.at(o + 3));
                        let w = parse_size(weight).and_then(|w| u32::try_from(w).ok()).unwrap_or(0);
                        let key_end = line.len().saturating_sub(weight.len() + 1);
                        let key = line.get(key_start..key_end).unwrap_or_default();
                        done(RouteOp::Sub {
                            account,
                            subject,
                            queue: Some((span_of(line, t.at(o + 2)), w)),
                            key,
                            origin,
                        })
                    }
                    _ => Err(ParseError::BadArgs),
                }
            }
            Verb::RsMinus | Verb::LsMinus => {
                let t = Tokens::split(line, args_at);
                let o = usize::from(verb == Verb::LsMinus && self.lnocu);
                let (account, subject) = (span_of(line, t.at(o)), span_of(line, t.at(o + 1)));
                let origin = (o == 1).then(|| span_of(line, t.at(0)));
                let key = line.get(t.at(o).0 as usize..).unwrap_or_default();
                match t.count - o.min(t.count) {
                    2 => done(RouteOp::Unsub { account, subject, queue: None, key, origin }),
                    3 => {
                        done(RouteOp::Unsub { account, subject, queue: Some(span_of(line, t.at(o + 2))), key, origin })
                    }
                    _ => Err(ParseError::BadArgs),
                }
            }
            Verb::RMsg | Verb::HMsg | Verb::LMsg => {
                let t = Tokens::split(line, args_at);
                // On a route LMSG carries an origin cluster first and always
                // a header size; on a leaf connection no op names an account.
                let (skip, sizes) = match verb {
                    Verb::HMsg => (0, 2),
                    _ if self.leaf => (0, 1),
                    Verb::RMsg => (0, 1),
                    _ => (1, 2),
                };
                let acct = usize::from(!self.leaf);
                let n = t.count;
                if n < skip + acct + 1 + sizes {
                    return Err(ParseError::BadArgs);
                }
                let mut args = MsgArgs {
                    account: if self.leaf { (0, 0) } else { t.at(skip) },
                    subject: t.at(skip + acct),
                    reply: None,
                    queues: None,
                    header_len: None,
                    origin: (skip == 1).then(|| t.at(0)),
                };
                let plain = skip + acct + 1 + sizes;
                if n == plain + 1 {
                    args.reply = Some(t.at(skip + acct + 1));
                } else if n > plain + 1 {
                    let marker = span_of(line, t.at(skip + acct + 1));
                    let (qfirst, qlast_from_end) = match marker {
                        b"+" => {
                            args.reply = Some(t.at(skip + acct + 2));
                            (skip + acct + 3, sizes + 1)
                        }
                        b"|" => (skip + acct + 2, sizes + 1),
                        _ => return Err(ParseError::BadArgs),
                    };
                    // `+ reply` may come without queue names.
                    if n >= qfirst + qlast_from_end {
                        let start = t.at(qfirst).0;
                        let end_tok = t.back(qlast_from_end);
                        args.queues = Some((start, end_tok.0 + end_tok.1 - start));
                    }
                }
                let (len, header_len) = t.message_sizes(line, sizes)?;
                args.header_len = header_len;
                self.finish_msg(buf, Body { args, args_at, line_len, start: next, len })
            }
        }
    }

    /// The common message in one pass: `RMSG <account> <subject> [<reply>]
    /// <size>\r\n` on a route, `LMSG <subject> [<reply>] <size>\r\n` (or
    /// the same with `RMSG`) on a leaf connection, any case, single spaces,
    /// the whole payload and its `\r\n` in `buf`, within the limits. `None`
    /// for anything else, which the general path then parses (or rejects)
    /// the same way.
    #[inline(always)]
    fn whole_rmsg<'a>(&self, buf: &'a [u8]) -> Option<Frame<'a, RouteOp<'a>>> {
        let head: [u8; 5] = *buf.first_chunk()?;
        if head[4] != b' '
            || !(head[..4].eq_ignore_ascii_case(b"RMSG") || self.leaf && head[..4].eq_ignore_ascii_case(b"LMSG"))
        {
            return None;
        }
        // Arguments before the subject: the account, on a route.
        let acct = usize::from(!self.leaf);
        let mut ends = [0usize; 4];
        let mut n = 0;
        let mut at = 5;
        let line_len = loop {
            let end = argument_end(buf, at)?;
            if end == at || n == ends.len() {
                return None;
            }
            ends[n] = end;
            n += 1;
            match buf[end] {
                b' ' => at = end + 1,
                b'\r' => break end,
                _ => return None,
            }
        };
        if !(2 + acct..=3 + acct).contains(&n)
            || *buf.get(line_len + 1)? != b'\n'
            || line_len - 4 > self.max_control_line
        {
            return None;
        }
        let len = parse_size(&buf[ends[n - 2] + 1..line_len])?;
        if len > self.max_payload {
            return None;
        }
        let start = line_len + 2;
        let end = start.checked_add(len)?;
        if buf.get(end..end.checked_add(2)?)? != b"\r\n" {
            return None;
        }
        let subject_at = if self.leaf { 5 } else { ends[0] + 1 };
        let msg = RouteMsg {
            account: if self.leaf { &buf[..0] } else { &buf[5..ends[0]] },
            subject: &buf[subject_at..ends[acct]],
            reply: (n == 3 + acct).then(|| &buf[ends[acct] + 1..ends[acct + 1]]),
            queues: None,
            header_len: None,
            message: &buf[start..end],
            origin: None,
        };
        Some(Frame { op: RouteOp::Msg(msg), line: &buf[..line_len], args_at: 4, len: end + 2 })
    }

    /// Checks the payload size against the limit (again on every call: the
    /// limit may change while a payload arrives), then completes the message.
    fn finish_msg<'a>(
        &mut self,
        buf: &'a [u8],
        body: Body<MsgArgs>,
    ) -> Result<Status<Frame<'a, RouteOp<'a>>>, ParseError> {
        if body.len > self.max_payload {
            return Err(ParseError::MaxPayload);
        }
        self.state.finish_body(buf, body)
    }
}

crate::framing::impl_frame_parser!(RouteParser, RouteOp);

#[cfg(test)]
mod tests {
    use super::*;

    /// The one-pass RMSG (LMSG on a leaf connection) gives what the
    /// general path gives, or leaves the input to it: message-like lines
    /// built from a small alphabet, cut at every length, in both modes.
    #[test]
    fn whole_rmsg_agrees_with_the_general_path() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let mut pick = |choices: &[&'static [u8]]| choices[next(choices.len() as u64) as usize];
        let mut fast = 0;
        for _ in 0..50_000 {
            let seps: &[&[u8]] = &[b" ", b" ", b" ", b"  ", b"\t", b"\r"];
            let words: &[&[u8]] = &[b"$G", b"a.b", b"+", b"|", b"q", b"", b"a.b.c.d.e.f.g"];
            let verb = pick(&[b"RMSG", b"RMSG", b"rmsg", b"LMSG", b"lmsg", b"HMSG", b"RMSG ", b"LMSG "]);
            // A trailing blank in the pick: the same verb on a leaf connection.
            let leaf = verb.len() == 5;
            let mut input = verb[..4].to_vec();
            input.extend_from_slice(pick(seps));
            for _ in 0..pick(&[b"x", b"xx", b"xxx", b"xxxx"]).len() {
                input.extend_from_slice(pick(words));
                input.extend_from_slice(pick(seps));
            }
            let payload = pick(&[b"", b"hi", b"0123456789", b"01234567890", b"\r\n"]);
            let size = pick(&[b"=", b"=", b"1", b"x", b"0012", b"11"]);
            if size == b"=" {
                input.extend_from_slice(payload.len().to_string().as_bytes());
            } else {
                input.extend_from_slice(size);
            }
            input.extend_from_slice(pick(&[b"\r\n", b"\r\n", b"\n", b" \r\n"]));
            input.extend_from_slice(payload);
            input.extend_from_slice(pick(&[b"\r\n", b"\r\n", b"\n", b"\r\nRMSG"]));
            for cut in 0..=input.len() {
                let buf = &input[..cut];
                let parser = || if leaf { RouteParser::leaf(24, 10) } else { RouteParser::new(24, 10) };
                let Some(frame) = parser().whole_rmsg(buf) else { continue };
                fast += 1;
                let mut general = parser();
                match general.parse_line(buf) {
                    Ok(Status::Complete(want)) => assert_eq!(frame, want, "{buf:?}"),
                    other => panic!("{buf:?}: {other:?}"),
                }
            }
        }
        assert!(fast > 200, "the one-pass path was taken {fast} times");
    }

    use crate::testing;

    fn ok(input: &[u8]) -> Vec<String> {
        testing::ops(RouteParser::default, input)
    }

    fn err(input: &[u8]) -> ParseError {
        testing::error(RouteParser::default, input)
    }

    /// An LMSG from a route: [`m`] with origin cluster `c`.
    fn lm(
        account: &'static [u8],
        subject: &'static [u8],
        reply: Option<&'static [u8]>,
        queues: Option<&'static [u8]>,
        header_len: Option<usize>,
        message: &'static [u8],
    ) -> String {
        let msg = RouteMsg { account, subject, reply, queues, header_len, message, origin: Some(b"c") };
        format!("{:?}", RouteOp::Msg(msg))
    }

    fn m(
        account: &'static [u8],
        subject: &'static [u8],
        reply: Option<&'static [u8]>,
        queues: Option<&'static [u8]>,
        header_len: Option<usize>,
        message: &'static [u8],
    ) -> String {
        format!("{:?}", RouteOp::Msg(RouteMsg { account, subject, reply, queues, header_len, message, origin: None }))
    }

    fn leaf_ok(input: &[u8]) -> Vec<String> {
        testing::ops(|| RouteParser::leaf(usize::MAX, usize::MAX), input)
    }

    fn leaf_err(input: &[u8]) -> ParseError {
        testing::error(|| RouteParser::leaf(usize::MAX, usize::MAX), input)
    }

    #[test]
    fn leaf_connection_ops_name_no_account() {
        let s = |op: RouteOp| format!("{op:?}");
        assert_eq!(
            leaf_ok(b"LS+ foo\r\nLS+ bar q1 2\r\nLS- foo\r\nls- bar q1\r\n"),
            vec![
                s(RouteOp::Sub { account: b"", subject: b"foo", queue: None, key: b"foo", origin: None }),
                s(RouteOp::Sub {
                    account: b"",
                    subject: b"bar",
                    queue: Some((b"q1", 2)),
                    key: b"bar q1",
                    origin: None
                }),
                s(RouteOp::Unsub { account: b"", subject: b"foo", queue: None, key: b"foo", origin: None }),
                s(RouteOp::Unsub { account: b"", subject: b"bar", queue: Some(b"q1"), key: b"bar q1", origin: None }),
            ]
        );
        assert_eq!(
            leaf_ok(b"LMSG a 2\r\nhi\r\nLMSG a r 1\r\nx\r\nLMSG a + r g1 g2 1\r\nx\r\nLMSG a | g1 1\r\nx\r\nRMSG w 0\r\n\r\n"),
            vec![
                m(b"", b"a", None, None, None, b"hi"),
                m(b"", b"a", Some(b"r"), None, None, b"x"),
                m(b"", b"a", Some(b"r"), Some(b"g1 g2"), None, b"x"),
                m(b"", b"a", None, Some(b"g1"), None, b"x"),
                m(b"", b"w", None, None, None, b""),
            ]
        );
        assert_eq!(
            leaf_ok(b"HMSG h 12 14\r\nNATS/1.0\r\n\r\nhi\r\nHMSG h + r q 12 12\r\nNATS/1.0\r\n\r\n\r\n"),
            vec![
                m(b"", b"h", None, None, Some(12), b"NATS/1.0\r\n\r\nhi"),
                m(b"", b"h", Some(b"r"), Some(b"q"), Some(12), b"NATS/1.0\r\n\r\n"),
            ]
        );
        // Go: exactly 1 or 3 arguments to LS+, and `+` or `|` before queues.
        assert_eq!(leaf_err(b"LS+ foo q\r\n"), ParseError::BadArgs);
        assert_eq!(leaf_err(b"LMSG a x r q 1\r\nx\r\n"), ParseError::BadArgs);
        assert_eq!(leaf_err(b"LMSG a\r\n"), ParseError::BadArgs);
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
                s(RouteOp::Sub { account: b"$G", subject: b"foo", queue: None, key: b"$G foo", origin: None }),
                s(RouteOp::Sub {
                    account: b"$G",
                    subject: b"bar",
                    queue: Some((b"q1", 2)),
                    key: b"$G bar q1",
                    origin: None
                }),
                s(RouteOp::Unsub { account: b"$G", subject: b"foo", queue: None, key: b"$G foo", origin: None }),
                s(RouteOp::Unsub {
                    account: b"$G",
                    subject: b"bar",
                    queue: Some(b"q1"),
                    key: b"$G bar q1",
                    origin: None
                }),
                s(RouteOp::Sub { account: b"$G", subject: b"x", queue: None, key: b"$G x", origin: Some(b"c") }),
                s(RouteOp::Ignored),
            ]
        );
    }

    /// The key keeps the blanks as sent and is cut by lengths as Go cuts
    /// it: an RS- names the interest only when spelled like its RS+.
    #[test]
    fn interest_keys_keep_the_text_as_sent() {
        let key = |input: &[u8]| ok(input).concat();
        let k = |op: RouteOp| format!("{op:?}");
        assert_eq!(
            key(b"RS+ $G  a.b.c  rq1  2\r\n"),
            k(RouteOp::Sub {
                account: b"$G",
                subject: b"a.b.c",
                queue: Some((b"rq1", 2)),
                key: b"$G  a.b.c  rq1 ",
                origin: None
            })
        );
        assert_eq!(
            key(b"RS+\t$G foo q 1  \r\n"),
            k(RouteOp::Sub {
                account: b"$G",
                subject: b"foo",
                queue: Some((b"q", 1)),
                key: b"$G foo q 1",
                origin: None
            })
        );
        assert_eq!(
            key(b"RS+ $G w.* \r\n"),
            k(RouteOp::Sub { account: b"$G", subject: b"w.*", queue: None, key: b"$G w.* ", origin: None })
        );
        assert_eq!(
            key(b"RS- $G w.* \n"),
            k(RouteOp::Unsub { account: b"$G", subject: b"w.*", queue: None, key: b"$G w.* ", origin: None })
        );
        assert_eq!(
            key(b"LS+ C1  $G foo q 1\r\n"),
            k(RouteOp::Sub {
                account: b"$G",
                subject: b"foo",
                queue: Some((b"q", 1)),
                key: b" $G foo q",
                origin: Some(b"C1")
            })
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
        assert_eq!(err(b"RS+ $G foo q\r\n"), ParseError::BadArgs);
        assert_eq!(err(b"RMSG $G foo x 1 5\r\n"), ParseError::BadArgs);
        assert_eq!(err(b"RMSG $G 5\r\n"), ParseError::BadArgs);
        assert_eq!(err(b"RMSG $G foo 2\r\nabc\r\n"), ParseError::BadPayloadEnd);
        assert_eq!(err(b"MSG foo 1\r\n"), ParseError::UnknownOp);
        assert_eq!(err(b"UNSUB 1\r\n"), ParseError::BadArgs);
        assert_eq!(err(b"PUB foo\r\n"), ParseError::BadArgs);
        assert_eq!(err(b"HMSG $G f 3 2\r\n"), ParseError::BadHeaderSize);
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
                lm(b"$G", b"foo", Some(b"r"), None, Some(2), b"hiab"),
                lm(b"$G", b"foo", Some(b"r"), Some(b"q1"), Some(0), b"x"),
                s(RouteOp::Ping)
            ]
        );
        assert_eq!(
            ok(b"LS+ c $G foo q 2\r\nLS- $G foo q\r\n"),
            vec![
                s(RouteOp::Sub {
                    account: b"$G",
                    subject: b"foo",
                    queue: Some((b"q", 2)),
                    key: b"$G foo q",
                    origin: Some(b"c")
                }),
                s(RouteOp::Unsub {
                    account: b"$G",
                    subject: b"foo",
                    queue: Some(b"q"),
                    key: b"$G foo q",
                    origin: None
                }),
            ]
        );
        // From a peer that announced lnocu, LS- names the origin too.
        let lnocu = || {
            let mut p = RouteParser::default();
            p.set_lnocu(true);
            p
        };
        assert_eq!(
            testing::ops(lnocu, b"LS- c $G foo q\r\nLS- c $G foo\r\nRS- $G foo q\r\n"),
            vec![
                s(RouteOp::Unsub {
                    account: b"$G",
                    subject: b"foo",
                    queue: Some(b"q"),
                    key: b"$G foo q",
                    origin: Some(b"c")
                }),
                s(RouteOp::Unsub { account: b"$G", subject: b"foo", queue: None, key: b"$G foo", origin: Some(b"c") }),
                s(RouteOp::Unsub {
                    account: b"$G",
                    subject: b"foo",
                    queue: Some(b"q"),
                    key: b"$G foo q",
                    origin: None
                }),
            ]
        );
    }

    #[test]
    fn default_parser_has_no_control_line_limit() {
        let mut line = b"RS+ $G ".to_vec();
        line.extend(std::iter::repeat_n(b'a', 100_000));
        line.extend_from_slice(b"\r\n");
        assert_eq!(testing::feed(RouteParser::default(), &line, &[]).ops.len(), 1);
        let reads = vec![4096; line.len() / 4096];
        assert_eq!(testing::feed(RouteParser::default(), &line, &reads).ops.len(), 1);
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
            s(RouteOp::Msg(RouteMsg {
                account: b"",
                subject: b"foo",
                reply,
                queues: None,
                header_len,
                message,
                origin: None,
            }))
        };
        assert_eq!(
            ok(b"SUB foo 1\r\nPUB foo 2\r\nhi\r\nHPUB foo r 2 4\r\nhiab\r\n"),
            vec![s(RouteOp::Ignored), none(None, None, b"hi"), none(Some(&b"r"[..]), Some(2), b"hiab")]
        );
    }

    /// Weights of every magnitude, read as Go reads them (checked against
    /// Go 2.9.10 and 2.15.1): 1 to 9 digits make a number, anything else
    /// is invalid and counts as no member, as 0 does.
    #[test]
    fn weights_of_every_magnitude() {
        let sub = |w: u32| {
            format!(
                "{:?}",
                RouteOp::Sub {
                    account: b"$G",
                    subject: b"foo.>",
                    queue: Some((b"rq1", w)),
                    key: b"$G foo.> rq1",
                    origin: None
                }
            )
        };
        let cases: &[(&str, u32)] = &[
            ("0", 0),
            ("1", 1),
            ("2", 2),
            ("0001", 1),
            ("000000007", 7),
            ("999999999", 999_999_999),
            ("0000000001", 0),
            ("1000000000", 0),
            ("2147483647", 0),
            ("2147483648", 0),
            ("4294967295", 0),
            ("4294967296", 0),
            ("4294967297", 0),
            ("99999999999", 0),
            ("9223372036854775807", 0),
            ("9223372036854775808", 0),
            ("18446744073709551615", 0),
            ("18446744073709551616", 0),
            ("340282366920938463463374607431768211456", 0),
            ("-1", 0),
            ("-0", 0),
            ("-2147483648", 0),
            ("+1", 0),
            ("x", 0),
            ("1x", 0),
            ("0x10", 0),
            ("1e3", 0),
        ];
        for &(w, want) in cases {
            assert_eq!(ok(format!("RS+ $G foo.> rq1 {w}\r\n").as_bytes()), vec![sub(want)], "weight {w}");
        }
    }

    #[test]
    fn reply_without_queues_and_odd_weights() {
        let s = |op: RouteOp| format!("{op:?}");
        let msg = |reply: Option<&'static [u8]>, header_len, message: &'static [u8]| {
            s(RouteOp::Msg(RouteMsg {
                account: b"$G",
                subject: b"foo",
                reply,
                queues: None,
                header_len,
                message,
                origin: None,
            }))
        };
        assert_eq!(
            ok(b"RMSG $G foo + r.1 2\r\nhi\r\nHMSG $G foo + r.1 2 4\r\nhiab\r\n"),
            vec![msg(Some(b"r.1"), None, b"hi"), msg(Some(b"r.1"), Some(2), b"hiab")]
        );
        let sub = |w| {
            s(RouteOp::Sub { account: b"$G", subject: b"foo", queue: Some((b"q", w)), key: b"$G foo q", origin: None })
        };
        assert_eq!(
            ok(b"RS+ $G foo q -1\r\nRS+ $G foo q 9999999999\r\nRS+ $G foo q 0\r\n"),
            vec![sub(0), sub(0), sub(0)]
        );
    }
}

//! The client protocol parser: what a NATS client may send to a server.
//!
//! [`ClientParser::parse`] takes the unconsumed bytes of a connection's input
//! (always starting at an op boundary) and returns at most one op. Framing,
//! the verb table format and the states between calls are those of
//! [`crate::framing`].

pub use crate::framing::Frame;
use crate::framing::{
    argument_end, is_space, match_verb, message_sizes, parse_size, text_after, After, Args, Body, Message, ParseError,
    State, Status, Verb,
};

/// An op received from a client. Every slice borrows the caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientOp<'a> {
    /// `CONNECT <json>`: the JSON text, not yet decoded.
    Connect(&'a [u8]),
    /// `INFO <json>`: tolerated from clients, JSON not yet decoded.
    Info(&'a [u8]),
    /// `PUB <subject> [reply] <size>` and its payload.
    Pub {
        subject: &'a [u8],
        reply: Option<&'a [u8]>,
        payload: &'a [u8],
    },
    /// `HPUB <subject> [reply] <hdr> <total>`: `message` holds the header
    /// block followed by the payload; the first `header_len` bytes are headers.
    HPub {
        subject: &'a [u8],
        reply: Option<&'a [u8]>,
        header_len: usize,
        message: &'a [u8],
    },
    /// `SUB <subject> [queue] <sid>`.
    Sub {
        subject: &'a [u8],
        queue: Option<&'a [u8]>,
        sid: &'a [u8],
    },
    /// `UNSUB <sid> [max]`. `max` is `Some(None)` when a max was given but is
    /// not a valid number (the Go server then removes the subscription now).
    Unsub {
        sid: &'a [u8],
        max: Option<Option<usize>>,
    },
    Ping,
    Pong,
    /// `+OK`, ignored by servers.
    Ok,
    /// `-ERR <text>`.
    Err(&'a [u8]),
}

/// The verbs a client may send.
const VERBS: &[Verb] = &[
    Verb::Pub,
    Verb::HPub,
    Verb::Sub,
    Verb::Unsub,
    Verb::Ping,
    Verb::Pong,
    Verb::Connect,
    Verb::Info,
    Verb::Ok,
    Verb::Err,
];

/// The op nearly every message starts with, `PUB` in any case followed by a
/// blank, recognised with one comparison of four bytes. For a letter, setting
/// bit 5 gives its lower case and no other byte maps onto it, so the folded
/// compare is exact.
#[inline(always)]
fn pub_fast_path(buf: &[u8]) -> Option<(Verb, After, usize)> {
    let head: [u8; 4] = *buf.first_chunk()?;
    let folded = u32::from_le_bytes(head) | 0x0020_2020;
    let want = u32::from_le_bytes(*b"pub ");
    let blank = head[3] == b' ' || head[3] == b'\t';
    (blank && folded & 0x00ff_ffff == want & 0x00ff_ffff).then_some((Verb::Pub, After::Args, 3))
}

/// A PUB or HPUB parked while its payload arrives: the verb, the arguments
/// and the header size (0 for PUB).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PubArgs {
    verb: Verb,
    args: Args,
    header_len: usize,
}

/// Resumable parser for one client connection.
#[derive(Debug, Clone)]
pub struct ClientParser {
    max_control_line: usize,
    max_payload: usize,
    /// Whether HPUB is allowed (the client asked for headers in CONNECT).
    headers: bool,
    state: State<PubArgs>,
}

/// The looser bound is at least this many bytes.
const LOOSE_LINE_MIN: usize = 64 * 1024;

/// Whether the control line `buf[args_at..end]` is over `max`, measured as
/// Go measures it: the arguments without the blanks before them. Lines of
/// verbs whose arguments are ignored (PING, PONG, +OK) and runs of blanks
/// are held to a looser bound, as Go skips them without buffering.
#[cold]
fn over_limit(buf: &[u8], args_at: usize, end: usize, max: usize, after: After) -> bool {
    let loose = max.saturating_mul(16).max(LOOSE_LINE_MIN);
    let len = end.saturating_sub(args_at);
    if after == After::Ignore || len > loose {
        return len > loose;
    }
    let blanks = buf[args_at.min(end)..end].iter().take_while(|b| is_space(**b)).count();
    len - blanks > max
}

impl Message for PubArgs {
    type Op<'a> = ClientOp<'a>;

    /// The PUB or HPUB whose payload is `message`.
    #[inline(always)]
    fn op<'a>(&self, line: &'a [u8], message: &'a [u8]) -> ClientOp<'a> {
        let PubArgs { verb, args, header_len } = *self;
        let n = args.len();
        let subject = args.get(line, 0);
        if verb == Verb::Pub {
            let reply = if n == 3 { Some(args.get(line, 1)) } else { None };
            ClientOp::Pub { subject, reply, payload: message }
        } else {
            let reply = if n == 4 { Some(args.get(line, 1)) } else { None };
            ClientOp::HPub { subject, reply, header_len, message }
        }
    }
}

impl ClientParser {
    /// A parser enforcing the given limits (Go defaults: 4096 and 1048576).
    pub fn new(max_control_line: usize, max_payload: usize) -> Self {
        ClientParser { max_control_line, max_payload, headers: true, state: State::IDLE }
    }

    /// Allows or refuses HPUB (refused: `HeadersNotSupported`, as Go answers
    /// a client that did not ask for headers).
    pub fn set_headers(&mut self, headers: bool) {
        self.headers = headers;
    }

    /// Changes the payload limit (for example after authentication).
    pub fn set_max_payload(&mut self, max_payload: usize) {
        self.max_payload = max_payload;
    }

    /// Changes the control-line limit (configuration reload).
    pub fn set_max_control_line(&mut self, max_control_line: usize) {
        self.max_control_line = max_control_line;
    }

    /// True when the parser is between ops: the caller's buffer holds no
    /// partial op it has already looked at.
    pub fn is_idle(&self) -> bool {
        self.state.is_idle()
    }

    /// When the parser waits for a message body: how many more bytes it
    /// needs beyond the `buffered` it was last given. `None` while it is
    /// still looking for a line end.
    pub fn body_needed(&self, buffered: usize) -> Option<usize> {
        self.state.body_needed(buffered)
    }

    /// The subject of the PUB or HPUB whose payload the parser waits for;
    /// `buf` is the buffer last given to `parse`.
    pub fn pending_subject<'a>(&self, buf: &'a [u8]) -> Option<&'a [u8]> {
        match self.state {
            State::Body(Body { args: PubArgs { args, .. }, line_len, .. }) => Some(args.get(buf.get(..line_len)?, 0)),
            State::Line { .. } => None,
        }
    }

    /// Parses the op at the start of `buf`. On `Partial` the caller must keep
    /// the bytes and call again with them and more appended; on `Complete` it
    /// drops `frame.len` bytes from the front before the next call.
    pub fn parse<'a>(&mut self, buf: &'a [u8]) -> Result<Status<Frame<'a, ClientOp<'a>>>, ParseError> {
        if let State::Body(body) = self.state {
            return self.state.finish_body(buf, body);
        }
        let (verb, after, args_at) = match pub_fast_path(buf) {
            Some(found) => {
                if let Some(frame) = self.whole_pub(buf) {
                    self.state.reset_line();
                    return Ok(Status::Complete(frame));
                }
                found
            }
            None => match match_verb(buf, VERBS)? {
                Some(found) => found,
                None => return Ok(Status::Partial),
            },
        };
        let max = self.max_control_line;
        let over = |end| over_limit(buf, args_at, end, max, after);
        let Some((line_len, next)) = self.state.control_line(buf, args_at, after, max, over)? else {
            return Ok(Status::Partial);
        };
        let line = &buf[..line_len];
        match verb {
            Verb::Pub | Verb::HPub => {
                let headers = verb == Verb::HPub;
                if headers && !self.headers {
                    return Err(ParseError::HeadersNotSupported);
                }
                let args = Args::split_blanks(line, args_at).ok_or(ParseError::BadArgs)?;
                let n = args.len();
                let sizes = 1 + usize::from(headers);
                if n != sizes + 1 && n != sizes + 2 {
                    return Err(ParseError::BadArgs);
                }
                let header = if headers { Some(args.get(line, n - 2)) } else { None };
                let (len, header_len) = message_sizes(args.get(line, n - 1), header)?;
                if len > self.max_payload {
                    return Err(ParseError::MaxPayload);
                }
                let args = PubArgs { verb, args, header_len: header_len.unwrap_or(0) };
                self.state.finish_body(buf, Body { args, args_at, line_len, start: next, len })
            }
            _ => Ok(Status::Complete(Frame { op: line_op(verb, line, args_at)?, line, args_at, len: next })),
        }
    }
}

impl ClientParser {
    /// The common PUB in one pass: `PUB <subject> [<reply>] <size>\r\n`
    /// with single spaces, the whole payload and its `\r\n` in `buf`, within
    /// the limits. `None` for anything else, which the general path then
    /// parses (or rejects) the same way; `buf` starts with `PUB` and a
    /// blank.
    #[inline(always)]
    fn whole_pub<'a>(&self, buf: &'a [u8]) -> Option<Frame<'a, ClientOp<'a>>> {
        if buf[3] != b' ' {
            return None;
        }
        let subject_end = argument_end(buf, 4)?;
        if subject_end == 4 || buf[subject_end] != b' ' {
            return None;
        }
        let second = subject_end + 1;
        let second_end = argument_end(buf, second)?;
        if second_end == second {
            return None;
        }
        let (reply, size, line_len) = match buf[second_end] {
            b'\r' => (None, &buf[second..second_end], second_end),
            b' ' => {
                let third = second_end + 1;
                let third_end = argument_end(buf, third)?;
                if third_end == third || buf[third_end] != b'\r' {
                    return None;
                }
                (Some(&buf[second..second_end]), &buf[third..third_end], third_end)
            }
            _ => return None,
        };
        // Go measures the arguments without the blank before them.
        if *buf.get(line_len + 1)? != b'\n' || line_len - 4 > self.max_control_line {
            return None;
        }
        let len = parse_size(size)?;
        if len > self.max_payload {
            return None;
        }
        let start = line_len + 2;
        let end = start.checked_add(len)?;
        if buf.get(end..end.checked_add(2)?)? != b"\r\n" {
            return None;
        }
        let op = ClientOp::Pub { subject: &buf[4..subject_end], reply, payload: &buf[start..end] };
        Some(Frame { op, line: &buf[..line_len], args_at: 3, len: end + 2 })
    }
}

/// The op of a control line without payload. Kept out of line: the message
/// path, inlined into the server's read loop, stays small.
#[inline(never)]
fn line_op(verb: Verb, line: &[u8], args_at: usize) -> Result<ClientOp<'_>, ParseError> {
    Ok(match verb {
        Verb::Ping => ClientOp::Ping,
        Verb::Pong => ClientOp::Pong,
        Verb::Ok => ClientOp::Ok,
        Verb::Connect => ClientOp::Connect(text_after(line, args_at)),
        Verb::Info => ClientOp::Info(text_after(line, args_at)),
        Verb::Err => ClientOp::Err(text_after(line, args_at)),
        Verb::Sub => {
            let args = Args::split(line, args_at).ok_or(ParseError::BadArgs)?;
            let subject = args.get(line, 0);
            match args.len() {
                2 => ClientOp::Sub { subject, queue: None, sid: args.get(line, 1) },
                3 => ClientOp::Sub { subject, queue: Some(args.get(line, 1)), sid: args.get(line, 2) },
                _ => return Err(ParseError::BadArgs),
            }
        }
        Verb::Unsub => {
            let args = Args::split(line, args_at).ok_or(ParseError::BadArgs)?;
            let max = match args.len() {
                1 => None,
                2 => Some(parse_size(args.get(line, 1))),
                _ => return Err(ParseError::BadArgs),
            };
            ClientOp::Unsub { sid: args.get(line, 0), max }
        }
        // Messages, and route verbs (not in the client's table).
        _ => return Err(ParseError::UnknownOp),
    })
}

crate::framing::impl_frame_parser!(ClientParser, ClientOp);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing;

    fn parser() -> ClientParser {
        ClientParser::new(4096, 1024)
    }

    fn ops(input: &[u8]) -> Vec<String> {
        testing::ops(parser, input)
    }

    fn err(input: &[u8]) -> ParseError {
        testing::error(parser, input)
    }

    fn s(op: ClientOp) -> String {
        format!("{op:?}")
    }

    #[test]
    fn ping_pong_ok() {
        assert_eq!(ops(b"PING\r\nPONG\r\n+OK\r\n"), vec![s(ClientOp::Ping), s(ClientOp::Pong), s(ClientOp::Ok)]);
        assert_eq!(ops(b"ping\npOnG\r\nPINGxyz\r\n"), vec![s(ClientOp::Ping), s(ClientOp::Pong), s(ClientOp::Ping)]);
    }

    #[test]
    fn pub_forms() {
        assert_eq!(
            ops(b"PUB foo 5\r\nhello\r\npub\tfoo  bar\t 0\r\n\r\n"),
            vec![
                s(ClientOp::Pub { subject: b"foo", reply: None, payload: b"hello" }),
                s(ClientOp::Pub { subject: b"foo", reply: Some(b"bar"), payload: b"" }),
            ]
        );
        // Payload bytes are opaque, CRLF inside them included.
        assert_eq!(
            ops(b"PUB a 4\r\n\r\n\r\n\r\n"),
            vec![s(ClientOp::Pub { subject: b"a", reply: None, payload: b"\r\n\r\n" })]
        );
    }

    /// The one-pass PUB gives what the general path gives, or leaves the
    /// input to it: every PUB-like line built from a small alphabet, cut at
    /// every length.
    #[test]
    fn whole_pub_agrees_with_the_general_path() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let mut pick = |choices: &[&'static [u8]]| choices[next(choices.len() as u64) as usize];
        let mut fast = 0;
        for _ in 0..50_000 {
            let seps: &[&[u8]] = &[b" ", b" ", b" ", b"  ", b"\t", b" \r"];
            let words: &[&[u8]] = &[b"a", b"b.c", b"x\ry", b"", b"a.b.c.d.e.f.g"];
            let mut input = b"PUB".to_vec();
            input.extend_from_slice(pick(seps));
            input.extend_from_slice(pick(words));
            input.extend_from_slice(pick(seps));
            if pick(&[b"", b"r"]) == b"r" {
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
            input.extend_from_slice(pick(&[b"\r\n", b"\r\n", b"\n", b"\r\nPUB"]));
            for cut in 4..=input.len() {
                let buf = &input[..cut];
                let p = ClientParser::new(24, 10);
                let Some(frame) = p.whole_pub(buf) else { continue };
                fast += 1;
                // The general path, from the same idle state.
                let mut general = ClientParser::new(24, 10);
                let (verb, after, args_at) = match match_verb(buf, VERBS) {
                    Ok(Some(found)) => found,
                    other => panic!("{buf:?}: {other:?}"),
                };
                assert_eq!(verb, Verb::Pub);
                let max = general.max_control_line;
                let over = |end| over_limit(buf, args_at, end, max, after);
                let (line_len, next_at) = general
                    .state
                    .control_line(buf, args_at, after, max, over)
                    .ok()
                    .flatten()
                    .unwrap_or_else(|| panic!("{buf:?}"));
                let line = &buf[..line_len];
                let args = Args::split_blanks(line, args_at).unwrap_or_else(|| panic!("{buf:?}"));
                let (len, _) =
                    message_sizes(args.get(line, args.len() - 1), None).unwrap_or_else(|_| panic!("{buf:?}"));
                let body = Body { args: PubArgs { verb, args, header_len: 0 }, args_at, line_len, start: next_at, len };
                match general.state.finish_body(buf, body) {
                    Ok(Status::Complete(want)) => assert_eq!(frame, want, "{buf:?}"),
                    other => panic!("{buf:?}: {other:?}"),
                }
            }
        }
        assert!(fast > 500, "the one-pass path was taken {fast} times");
    }

    /// The four-byte PUB check takes exactly what the verb table takes.
    #[test]
    fn pub_fast_path_agrees_with_the_table() {
        for head in [&b"PUB "[..], b"pub\t", b"pUb ", b"PUB\0", b"PUBX", b"QUB ", b"PU\x02 ", b"\x10UB ", b"PUB\r"] {
            let fast = pub_fast_path(head).map(|(_, _, at)| at);
            let table = match match_verb(head, VERBS) {
                Ok(Some((Verb::Pub, _, args_at))) => Some(args_at),
                _ => None,
            };
            assert_eq!(fast, table, "{head:?}");
        }
    }

    #[test]
    fn hpub_forms() {
        assert_eq!(
            ops(b"HPUB baz 18 23\r\nNATS/1.0\r\nA: b\r\n\r\nhello\r\nHPUB x r 0 2\r\nhi\r\n"),
            vec![
                s(ClientOp::HPub {
                    subject: b"baz",
                    reply: None,
                    header_len: 18,
                    message: b"NATS/1.0\r\nA: b\r\n\r\nhello"
                }),
                s(ClientOp::HPub { subject: b"x", reply: Some(b"r"), header_len: 0, message: b"hi" }),
            ]
        );
        assert_eq!(err(b"HPUB x 5 2\r\nhi\r\n"), ParseError::BadHeaderSize);
    }

    #[test]
    fn sub_unsub() {
        assert_eq!(
            ops(b"SUB foo 1\r\nsub foo  q\t2\r\nUNSUB 1\r\nunsub 2 10\r\nUNSUB 3 x\r\n"),
            vec![
                s(ClientOp::Sub { subject: b"foo", queue: None, sid: b"1" }),
                s(ClientOp::Sub { subject: b"foo", queue: Some(b"q"), sid: b"2" }),
                s(ClientOp::Unsub { sid: b"1", max: None }),
                s(ClientOp::Unsub { sid: b"2", max: Some(Some(10)) }),
                s(ClientOp::Unsub { sid: b"3", max: Some(None) }),
            ]
        );
    }

    /// As in Go, a CR or LF inside the arguments separates them for SUB and
    /// UNSUB, while PUB splits only on blanks and keeps it in the subject.
    #[test]
    fn carriage_return_in_arguments() {
        assert_eq!(
            ops(b"SUB cr.x a\rb\r\nUNSUB 1\r2\r\nPUB cr.x\r 1\r\nx\r\n"),
            vec![
                s(ClientOp::Sub { subject: b"cr.x", queue: Some(b"a"), sid: b"b" }),
                s(ClientOp::Unsub { sid: b"1", max: Some(Some(2)) }),
                s(ClientOp::Pub { subject: b"cr.x\r", reply: None, payload: b"x" }),
            ]
        );
    }

    /// The first byte after a verb's blanks starts its arguments even when it
    /// is a CR or LF, so it never ends the line.
    #[test]
    fn line_end_right_after_the_verb() {
        assert_eq!(
            ops(b"SUB \nfoo 1\r\nUNSUB\t\n1\r\nPUB \nfoo 1\r\nx\r\nCONNECT\n{}\r\n"),
            vec![
                s(ClientOp::Sub { subject: b"foo", queue: None, sid: b"1" }),
                s(ClientOp::Unsub { sid: b"1", max: None }),
                s(ClientOp::Pub { subject: b"\nfoo", reply: None, payload: b"x" }),
                s(ClientOp::Connect(b"\n{}")),
            ]
        );
        // A CR there is the arguments' first byte and the LF after it ends
        // the line: no arguments.
        assert_eq!(err(b"SUB \r\nfoo 1\r\n"), ParseError::BadArgs);
        // PING takes no arguments and ends at its first LF.
        assert_eq!(ops(b"PING \n"), vec![s(ClientOp::Ping)]);
    }

    #[test]
    fn connect_info_err() {
        assert_eq!(
            ops(b"CONNECT {\"verbose\":false}\r\nCONNECT{}\r\nINFO {}\r\n-ERR 'x y'\r\n"),
            vec![
                s(ClientOp::Connect(b"{\"verbose\":false}")),
                s(ClientOp::Connect(b"{}")),
                s(ClientOp::Info(b"{}")),
                s(ClientOp::Err(b"'x y'")),
            ]
        );
    }

    #[test]
    fn errors() {
        assert_eq!(err(b"MSG foo 1 1\r\nx\r\n"), ParseError::UnknownOp);
        assert_eq!(err(b"PUBX foo 1\r\n"), ParseError::UnknownOp);
        assert_eq!(err(b"\r\n"), ParseError::UnknownOp);
        assert_eq!(err(b"xyz"), ParseError::UnknownOp);
        assert_eq!(err(b"PUB foo 2\r\nhello\r\n"), ParseError::BadPayloadEnd);
        assert_eq!(err(b"PUB foo 2\r\nhi\n\n"), ParseError::BadPayloadEnd);
        assert_eq!(err(b"SUB foo\r\n"), ParseError::BadArgs);
        assert_eq!(err(b"PUB foo bar baz 1\r\n"), ParseError::BadArgs);
        assert_eq!(err(b"PUB foo x\r\n"), ParseError::BadSize);
        assert_eq!(err(b"PUB foo 1234567890\r\n"), ParseError::BadSize);
        assert_eq!(err(b"PUB foo 1025\r\n"), ParseError::MaxPayload);
        assert_eq!(err(b"UNSUB \r\n"), ParseError::BadArgs);
        assert_eq!(err(b"UNSUB\r\n"), ParseError::UnknownOp);
        assert_eq!(err(b"SUB a b c d e f g\r\n"), ParseError::BadArgs);
    }

    #[test]
    fn control_line_limit() {
        let mut long = b"SUB ".to_vec();
        long.extend(std::iter::repeat_n(b'a', 5000));
        // Rejected before any line end arrives.
        assert_eq!(ClientParser::new(4096, 1024).parse(&long), Err(ParseError::MaxControlLine));
        let mut ok = b"SUB ".to_vec();
        ok.extend(std::iter::repeat_n(b'a', 4090));
        ok.extend_from_slice(b" 1\r\n");
        assert!(matches!(ClientParser::new(4096, 1024).parse(&ok), Ok(Status::Complete(_))));
    }

    #[test]
    fn frame_line_and_len() {
        let mut p = ClientParser::new(4096, 1024);
        let buf = b"PUB foo 5\r\nhello\r\nPING\r\n";
        let Ok(Status::Complete(f)) = p.parse(buf) else { panic!("complete") };
        assert_eq!(f.line, b"PUB foo 5");
        assert_eq!(&f.line[f.args_at..], b" foo 5");
        assert_eq!(f.len, 18);
        assert!(p.is_idle());
    }
}

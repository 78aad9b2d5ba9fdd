//! The client protocol parser.
//!
//! Input: one byte choosing the limits, one byte choosing how the rest is
//! cut into reads, then the bytes a client sends.

use rnats_protocol::client::{ClientOp, ClientParser, Frame};
use rnats_protocol::encode::{write_err, write_hmsg, write_msg, write_rmsg, write_rs_plus};
use rnats_protocol::framing::is_arg_separator;
use rnats_protocol::route::{RouteOp, RouteParser};
use rnats_protocol::subject::{is_valid_literal_subject, is_valid_subject, matches};
use rnats_protocol::{ParseError, Status};

use crate::stream::{self, Proto};
use crate::within;

const CONTROL_LINES: [usize; 8] = [4096, 1024, 64, 16, 8, 1, 0, usize::MAX];
const PAYLOADS: [usize; 8] = [1 << 20, 1024, 64, 8, 1, 0, 65536, usize::MAX];

pub fn check(data: &[u8]) {
    let [limits, seed, input @ ..] = data else { return };
    let max_control_line = CONTROL_LINES[usize::from(limits & 7)];
    let max_payload = PAYLOADS[usize::from((limits >> 3) & 7)];
    stream::check_all(input, *seed, |deep| Client { p: ClientParser::new(max_control_line, max_payload), deep });
}

/// An op as recorded for comparison: its debug form, control line,
/// argument offset and length.
pub type Rec = (String, Vec<u8>, usize, usize);

struct Client {
    p: ClientParser,
    deep: bool,
}

impl Proto for Client {
    type Rec = Rec;

    fn step(&mut self, buf: &[u8]) -> Result<Option<(usize, Rec)>, ParseError> {
        match self.p.parse(buf)? {
            Status::Partial => {
                if let Some(n) = self.p.body_needed(buf.len()) {
                    assert!(n > 0);
                }
                Ok(None)
            }
            Status::Complete(f) => {
                assert!(self.p.is_idle(), "parser not idle after a whole op");
                assert_eq!(self.p.body_needed(0), None);
                check_frame(buf, &f);
                if self.deep {
                    round_trips(&f.op);
                }
                Ok(Some((f.len, (format!("{:?}", f.op), f.line.to_vec(), f.args_at, f.len))))
            }
        }
    }

    fn body_needed(&self, buffered: usize) -> Option<usize> {
        self.p.body_needed(buffered)
    }
}

fn is_token(t: &[u8]) -> bool {
    !t.is_empty() && !t.iter().copied().any(is_arg_separator)
}

/// PUB and HPUB split their arguments on blanks only.
fn is_pub_token(t: &[u8]) -> bool {
    !t.is_empty() && !t.iter().any(|c| *c == b' ' || *c == b'\t')
}

/// Where the frame's pieces lie in the buffer, and how they fit together.
pub fn check_frame(buf: &[u8], f: &Frame<ClientOp>) {
    let line = f.line;
    assert!(f.len <= buf.len());
    assert_eq!(line.as_ptr(), buf.as_ptr(), "the control line does not start the buffer");
    assert!(line.len() < f.len);
    assert!(f.args_at <= line.len());
    assert!(crate::line_feeds_only_at_argument_start(line, f.args_at));
    // The line ends with "\n" or "\r\n" right after it.
    let after = &buf[line.len()..];
    let line_end = if after.starts_with(b"\r\n") { 2 } else { 1 };
    assert_eq!(after[line_end - 1], b'\n');
    let body_start = line.len() + line_end;
    let body = |b: &[u8]| {
        assert!(within(buf, b));
        assert_eq!(f.len, body_start + b.len() + 2, "message length");
        assert_eq!(&buf[body_start..body_start + b.len()], b);
        assert_eq!(&buf[f.len - 2..f.len], b"\r\n");
    };
    let rest_of_line = |t: &[u8]| {
        assert!(within(line, t));
        assert!(line.ends_with(t));
        assert_eq!(f.len, body_start);
    };
    match f.op {
        ClientOp::Pub { subject, reply, payload } => {
            assert!(is_pub_token(subject) && reply.is_none_or(is_pub_token));
            assert!(within(line, subject) && reply.is_none_or(|r| within(line, r)));
            body(payload);
        }
        ClientOp::HPub { subject, reply, header_len, message } => {
            assert!(is_pub_token(subject) && reply.is_none_or(is_pub_token));
            assert!(header_len <= message.len());
            body(message);
        }
        ClientOp::Sub { subject, queue, sid } => {
            assert!(is_token(subject) && queue.is_none_or(is_token) && is_token(sid));
            assert_eq!(f.len, body_start);
            subjects(subject);
        }
        ClientOp::Unsub { sid, max } => {
            assert!(is_token(sid));
            if let Some(Some(n)) = max {
                assert!(n < 1_000_000_000);
            }
            assert_eq!(f.len, body_start);
        }
        ClientOp::Connect(t) | ClientOp::Info(t) | ClientOp::Err(t) => rest_of_line(t),
        ClientOp::Ping | ClientOp::Pong | ClientOp::Ok => assert_eq!(f.len, body_start),
    }
}

/// Subject helpers must agree with each other on any token.
fn subjects(s: &[u8]) {
    let valid = is_valid_subject(s);
    // The pedantic publish check leaves whitespace alone, as Go's does.
    let blank = s.iter().any(|c| matches!(c, b' ' | b'\t' | b'\r' | b'\n' | 0x0c));
    if is_valid_literal_subject(s) && !blank {
        assert!(valid, "a literal subject without whitespace that is not a valid subject");
    }
    if valid {
        assert!(matches(s, s), "a valid subject does not match itself");
        if !s.split(|c| *c == b'.').any(|t| t == b">") {
            let mut longer = s.to_vec();
            longer.extend_from_slice(b".x");
            assert!(!matches(s, &longer), "a pattern without '>' matched a longer subject");
            let mut wild = s.to_vec();
            wild.extend_from_slice(b".>");
            assert!(matches(&wild, &longer), "'.>' did not match one more token");
        }
    }
}

/// Re-encodes what a server would forward and parses it back.
fn round_trips(op: &ClientOp) {
    match *op {
        ClientOp::Pub { subject, reply, payload } => {
            let mut out = Vec::new();
            write_msg(&mut out, subject, b"7", reply, payload);
            reparse_as_client(&out, b"MSG ", b"PUB ", op);
            if forwardable(subject, reply) {
                route_back(subject, reply, None, payload);
            }
        }
        ClientOp::HPub { subject, reply, header_len, message } => {
            let mut out = Vec::new();
            write_hmsg(&mut out, subject, b"7", reply, header_len, message);
            reparse_as_client(&out, b"HMSG ", b"HPUB ", op);
            if forwardable(subject, reply) {
                route_back(subject, reply, Some(header_len), message);
            }
        }
        ClientOp::Sub { subject, queue, .. } => {
            let mut out = Vec::new();
            let queue = queue.map(|q| (q, 1 + subject.len() as u32));
            write_rs_plus(&mut out, b"$G", subject, queue);
            let mut p = RouteParser::default();
            match p.parse(&out) {
                Ok(Status::Complete(f)) => {
                    assert_eq!(f.op, RouteOp::Sub { account: b"$G", subject, queue });
                    assert_eq!(f.len, out.len());
                }
                other => panic!("RS+ from a SUB did not parse: {other:?}"),
            }
        }
        // A text can start with a LF (the argument-start rule), but once
        // quoted that LF would end the line: only LF-free texts round-trip.
        ClientOp::Err(text) if !text.contains(&b'\n') => {
            let mut out = Vec::new();
            write_err(&mut out, text);
            let mut p = ClientParser::new(usize::MAX, usize::MAX);
            match p.parse(&out) {
                Ok(Status::Complete(f)) => {
                    let mut quoted = b"'".to_vec();
                    quoted.extend_from_slice(text);
                    quoted.push(b'\'');
                    assert_eq!(f.op, ClientOp::Err(&quoted));
                    assert_eq!(f.len, out.len());
                }
                other => panic!("-ERR did not parse back: {other:?}"),
            }
        }
        _ => {}
    }
}

/// Turns `MSG <subject> <sid> ...` into `PUB <subject> ...` (the same for
/// HMSG/HPUB), parses it with no limits and compares with `op`.
fn reparse_as_client(out: &[u8], from: &[u8], to: &[u8], op: &ClientOp) {
    assert!(out.starts_with(from));
    let subject_end = from.len() + out[from.len()..].iter().position(|c| *c == b' ').expect("a subject");
    assert_eq!(&out[subject_end..subject_end + 3], b" 7 ", "sid where it belongs");
    let mut pubbed = to.to_vec();
    pubbed.extend_from_slice(&out[from.len()..subject_end]);
    pubbed.extend_from_slice(&out[subject_end + 2..]);
    let mut p = ClientParser::new(usize::MAX, usize::MAX);
    match p.parse(&pubbed) {
        Ok(Status::Complete(f)) => {
            assert_eq!(f.op, *op, "{:?} parsed back differently", String::from_utf8_lossy(&pubbed));
            assert_eq!(f.len, pubbed.len());
        }
        other => panic!("{:?} did not parse back: {other:?}", String::from_utf8_lossy(&pubbed)),
    }
}

/// The server delivers nothing whose subject or reply holds a CR or LF.
fn forwardable(subject: &[u8], reply: Option<&[u8]>) -> bool {
    let clean = |t: &[u8]| !t.iter().any(|c| *c == b'\r' || *c == b'\n');
    clean(subject) && reply.is_none_or(clean)
}

/// Forwards a message over a route and parses it there.
fn route_back(subject: &[u8], reply: Option<&[u8]>, header_len: Option<usize>, message: &[u8]) {
    let mut out = Vec::new();
    write_rmsg(&mut out, b"ACC", subject, reply, &mut core::iter::empty(), header_len, message);
    let mut p = RouteParser::default();
    match p.parse(&out) {
        Ok(Status::Complete(f)) => {
            let RouteOp::Msg(m) = f.op else { panic!("not a message: {:?}", f.op) };
            assert_eq!((m.account, m.subject, m.reply, m.queues), (&b"ACC"[..], subject, reply, None));
            assert_eq!((m.header_len, m.message), (header_len, message));
            assert_eq!(f.len, out.len());
        }
        other => panic!("{:?} did not parse as a route message: {other:?}", String::from_utf8_lossy(&out)),
    }
}

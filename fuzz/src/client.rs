//! The client protocol parser.
//!
//! Input: one byte choosing the limits, one byte choosing how the rest is
//! cut into reads, then the bytes a client sends.

use rnats_protocol::client::{ClientOp, ClientParser};
use rnats_protocol::encode::{write_hmsg, write_msg, write_rmsg, write_rs_plus};
use rnats_protocol::route::{RouteOp, RouteParser};
use rnats_protocol::subject::{is_valid_literal_subject, is_valid_subject, matches};
use rnats_protocol::Frame;

use crate::frames::{self, check_payload, check_rest_of_line, err_round_trip, is_token, parse_whole, Checks};
use crate::within;

const CONTROL_LINES: [usize; 8] = [4096, 1024, 64, 16, 8, 1, 0, usize::MAX];
const PAYLOADS: [usize; 8] = [1 << 20, 1024, 64, 8, 1, 0, 65536, usize::MAX];

pub fn check(data: &[u8]) {
    let [limits, seed, input @ ..] = data else { return };
    let max_control_line = CONTROL_LINES[usize::from(limits & 7)];
    let max_payload = PAYLOADS[usize::from((limits >> 3) & 7)];
    frames::check_stream(input, *seed, || ClientParser::new(max_control_line, max_payload));
}

/// PUB and HPUB split their arguments on blanks only.
fn is_pub_token(t: &[u8]) -> bool {
    !t.is_empty() && !t.iter().any(|c| *c == b' ' || *c == b'\t')
}

impl Checks for ClientParser {
    fn check_op(buf: &[u8], f: &Frame<ClientOp>, body_start: usize) {
        let line = f.line;
        match f.op {
            ClientOp::Pub { subject, reply, payload } => {
                assert!(is_pub_token(subject) && reply.is_none_or(is_pub_token));
                assert!(within(line, subject) && reply.is_none_or(|r| within(line, r)));
                check_payload(buf, f, body_start, payload);
            }
            ClientOp::HPub { subject, reply, header_len, message } => {
                assert!(is_pub_token(subject) && reply.is_none_or(is_pub_token));
                assert!(header_len <= message.len());
                check_payload(buf, f, body_start, message);
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
            ClientOp::Connect(t) | ClientOp::Info(t) | ClientOp::Err(t) => check_rest_of_line(f, body_start, t),
            ClientOp::Ping | ClientOp::Pong | ClientOp::Ok => assert_eq!(f.len, body_start),
        }
    }

    /// Re-encodes what a server would forward and parses it back.
    fn round_trip(op: &ClientOp) {
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
                let mut key = [&b"$G"[..], subject].join(&b' ');
                if let Some((q, _)) = queue {
                    key.push(b' ');
                    key.extend_from_slice(q);
                }
                assert_eq!(
                    parse_whole(RouteParser::default(), &out),
                    RouteOp::Sub { account: b"$G", subject, queue, key: &key, origin: None }
                );
            }
            ClientOp::Err(text) => err_round_trip(unlimited(), text, |t| ClientOp::Err(t)),
            _ => {}
        }
    }
}

fn unlimited() -> ClientParser {
    ClientParser::new(usize::MAX, usize::MAX)
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

/// Turns `MSG <subject> <sid> ...` into `PUB <subject> ...` (the same for
/// HMSG/HPUB), parses it with no limits and compares with `op`.
fn reparse_as_client(out: &[u8], from: &[u8], to: &[u8], op: &ClientOp) {
    assert!(out.starts_with(from));
    let subject_end = from.len() + out[from.len()..].iter().position(|c| *c == b' ').expect("a subject");
    assert_eq!(&out[subject_end..subject_end + 3], b" 7 ", "sid where it belongs");
    let mut pubbed = to.to_vec();
    pubbed.extend_from_slice(&out[from.len()..subject_end]);
    pubbed.extend_from_slice(&out[subject_end + 2..]);
    let got = parse_whole(unlimited(), &pubbed);
    assert_eq!(got, *op, "{:?} parsed back differently", String::from_utf8_lossy(&pubbed));
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
    let got = parse_whole(RouteParser::default(), &out);
    let RouteOp::Msg(m) = got else { panic!("not a message: {got:?}") };
    assert_eq!((m.account, m.subject, m.reply, m.queues), (&b"ACC"[..], subject, reply, None));
    assert_eq!((m.header_len, m.message), (header_len, message));
}

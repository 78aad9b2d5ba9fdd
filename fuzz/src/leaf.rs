//! The leaf node protocol parser (`RouteParser::leaf`).
//!
//! Input: one byte choosing how the rest is cut into reads, then the bytes
//! a hub or a leaf sends over a leaf connection.

use rnats_protocol::encode::{write_lmsg, write_ls_minus, write_ls_plus};
use rnats_protocol::framing::{is_arg_separator, FrameParser, ParseError, Status};
use rnats_protocol::route::{RouteMsg, RouteOp, RouteParser};
use rnats_protocol::Frame;

use crate::frames::{self, check_payload, check_rest_of_line, err_round_trip, is_token, parse_whole, Checks};
use crate::within;

/// The route parser in leaf mode, as a type of its own for the checks.
#[derive(Debug, Clone)]
pub struct LeafParser(RouteParser);

impl LeafParser {
    pub fn new() -> LeafParser {
        LeafParser(RouteParser::leaf(usize::MAX, usize::MAX))
    }
}

impl Default for LeafParser {
    fn default() -> Self {
        LeafParser::new()
    }
}

impl FrameParser for LeafParser {
    type Op<'a> = RouteOp<'a>;

    fn parse<'a>(&mut self, buf: &'a [u8]) -> Result<Status<Frame<'a, RouteOp<'a>>>, ParseError> {
        self.0.parse(buf)
    }

    fn body_needed(&self, buffered: usize) -> Option<usize> {
        self.0.body_needed(buffered)
    }

    fn is_idle(&self) -> bool {
        self.0.is_idle()
    }
}

pub fn check(data: &[u8]) {
    let [seed, input @ ..] = data else { return };
    frames::check_stream(input, *seed, LeafParser::new);
}

impl Checks for LeafParser {
    fn check_op(buf: &[u8], f: &Frame<RouteOp>, body_start: usize) {
        let line = f.line;
        match f.op {
            RouteOp::Msg(m) => {
                // No op names an account on a leaf connection.
                assert!(m.account.is_empty());
                for t in [m.subject].into_iter().chain(m.reply) {
                    assert!(is_token(t) && within(line, t));
                }
                if let Some(q) = m.queues {
                    assert!(within(line, q));
                    assert!(q.first().is_some_and(|c| !is_arg_separator(*c)));
                    assert!(q.last().is_some_and(|c| !is_arg_separator(*c)));
                }
                if let Some(h) = m.header_len {
                    assert!(h <= m.message.len());
                }
                check_payload(buf, f, body_start, m.message);
            }
            RouteOp::Ignored => assert_eq!(f.len, body_start),
            RouteOp::Sub { account, subject, queue, key, origin } => {
                assert!(origin.is_none());
                assert!(account.is_empty() && is_token(subject));
                assert!(queue.is_none_or(|(q, _)| is_token(q)));
                assert!(within(line, key) && key.starts_with(subject));
                assert_eq!(f.len, body_start);
            }
            RouteOp::Unsub { account, subject, queue, key, origin } => {
                assert!(origin.is_none());
                assert!(account.is_empty() && is_token(subject) && queue.is_none_or(is_token));
                assert!(within(line, key) && key.starts_with(subject));
                assert_eq!(f.len, body_start);
            }
            RouteOp::Info(t) | RouteOp::Connect(t) | RouteOp::Err(t) => check_rest_of_line(f, body_start, t),
            RouteOp::Ping | RouteOp::Pong | RouteOp::Ok => assert_eq!(f.len, body_start),
        }
    }

    /// Writes the op back with the server's leaf encoders and parses it again.
    fn round_trip(op: &RouteOp) {
        let mut out = Vec::new();
        match *op {
            // A client PUB/HPUB on a leaf connection has no LMSG form of its own.
            RouteOp::Msg(m) if m.header_len.is_none() || m.queues.is_some() || m.reply.is_some() => {
                let queues: Vec<&[u8]> = m
                    .queues
                    .map(|q| q.split(|c| is_arg_separator(*c)).filter(|t| !t.is_empty()).collect())
                    .unwrap_or_default();
                write_lmsg(&mut out, m.subject, m.reply, &mut queues.iter().copied(), m.header_len, m.message);
                let got = parse_whole(LeafParser::new(), &out);
                let RouteOp::Msg(g) = got else { panic!("not a message: {got:?}") };
                let joined = (!queues.is_empty()).then(|| queues.join(&b' '));
                let want = RouteMsg { queues: joined.as_deref(), ..m };
                assert_eq!(g, want, "{:?} parsed back differently", String::from_utf8_lossy(&out));
            }
            RouteOp::Sub { subject, queue, .. } => {
                write_ls_plus(&mut out, subject, queue);
                let key = canonical_key(subject, queue.map(|(q, _)| q));
                assert_eq!(
                    parse_whole(LeafParser::new(), &out),
                    RouteOp::Sub { account: b"", subject, queue, key: &key, origin: None }
                );
            }
            RouteOp::Unsub { subject, queue, .. } => {
                write_ls_minus(&mut out, subject, queue);
                let key = canonical_key(subject, queue);
                assert_eq!(
                    parse_whole(LeafParser::new(), &out),
                    RouteOp::Unsub { account: b"", subject, queue, key: &key, origin: None }
                );
            }
            RouteOp::Err(text) => err_round_trip(LeafParser::new(), text, |t| RouteOp::Err(t)),
            _ => {}
        }
    }
}

/// The key of an interest written with single blanks: `subj [queue]`.
fn canonical_key(subject: &[u8], queue: Option<&[u8]>) -> Vec<u8> {
    let mut k = subject.to_vec();
    if let Some(q) = queue {
        k.push(b' ');
        k.extend_from_slice(q);
    }
    k
}

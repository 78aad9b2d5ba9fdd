//! The route protocol parser.
//!
//! Input: one byte choosing how the rest is cut into reads, then the bytes
//! a peer server sends.

use rnats_protocol::encode::{write_rmsg, write_route_lmsg, write_route_ls_plus, write_rs_minus, write_rs_plus};
use rnats_protocol::framing::is_arg_separator;
use rnats_protocol::route::{RouteMsg, RouteOp, RouteParser};
use rnats_protocol::Frame;

use crate::frames::{self, check_payload, check_rest_of_line, err_round_trip, is_token, parse_whole, Checks};
use crate::within;

pub fn check(data: &[u8]) {
    let [seed, input @ ..] = data else { return };
    frames::check_stream(input, *seed, RouteParser::default);
}

impl Checks for RouteParser {
    fn check_op(buf: &[u8], f: &Frame<RouteOp>, body_start: usize) {
        let line = f.line;
        match f.op {
            RouteOp::Msg(m) => {
                // A client PUB/HPUB on a route comes out with no account.
                let verb = line[..f.args_at].trim_ascii();
                let client_pub = verb.eq_ignore_ascii_case(b"PUB") || verb.eq_ignore_ascii_case(b"HPUB");
                assert!(is_token(m.account) || (m.account.is_empty() && client_pub));
                assert!(within(line, m.account));
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
            // A+, A- and SUB: one line.
            RouteOp::Ignored => assert_eq!(f.len, body_start),
            RouteOp::Sub { account, subject, queue, key, origin } => {
                assert!(is_token(account) && is_token(subject) && origin.is_none_or(is_token));
                assert!(queue.is_none_or(|(q, _)| is_token(q)));
                assert!(within(line, key));
                assert_eq!(f.len, body_start);
            }
            RouteOp::Unsub { account, subject, queue, key, origin } => {
                assert!(is_token(account) && is_token(subject) && queue.is_none_or(is_token) && origin.is_none());
                assert!(within(line, key) && key.starts_with(account));
                assert_eq!(f.len, body_start);
            }
            RouteOp::Info(t) | RouteOp::Connect(t) | RouteOp::Err(t) => check_rest_of_line(f, body_start, t),
            RouteOp::Ping | RouteOp::Pong | RouteOp::Ok => assert_eq!(f.len, body_start),
        }
    }

    /// Writes the op back with the server's encoders and parses it again.
    fn round_trip(op: &RouteOp) {
        let mut out = Vec::new();
        match *op {
            // A client PUB/HPUB on a route (no account) has no RMSG form.
            RouteOp::Msg(m) if m.account.is_empty() => {}
            RouteOp::Msg(m) => {
                let queues: Vec<&[u8]> = m
                    .queues
                    .map(|q| q.split(|c| is_arg_separator(*c)).filter(|t| !t.is_empty()).collect())
                    .unwrap_or_default();
                match m.origin {
                    Some(o) => write_route_lmsg(
                        &mut out,
                        o,
                        m.account,
                        m.subject,
                        m.reply,
                        &mut queues.iter().copied(),
                        m.header_len,
                        m.message,
                    ),
                    None => write_rmsg(
                        &mut out,
                        m.account,
                        m.subject,
                        m.reply,
                        &mut queues.iter().copied(),
                        m.header_len,
                        m.message,
                    ),
                }
                let got = parse_whole(RouteParser::default(), &out);
                let RouteOp::Msg(g) = got else { panic!("not a message: {got:?}") };
                let joined = (!queues.is_empty()).then(|| queues.join(&b' '));
                let want = RouteMsg { queues: joined.as_deref(), ..m };
                assert_eq!(g, want, "{:?} parsed back differently", String::from_utf8_lossy(&out));
            }
            // Written back with single blanks: the key is that text's.
            RouteOp::Sub { account, subject, queue, origin, .. } => {
                match origin {
                    Some(o) => write_route_ls_plus(&mut out, o, account, subject, queue),
                    None => write_rs_plus(&mut out, account, subject, queue),
                }
                let key = canonical_key(account, subject, queue.map(|(q, _)| q));
                assert_eq!(
                    parse_whole(RouteParser::default(), &out),
                    RouteOp::Sub { account, subject, queue, key: &key, origin }
                );
            }
            RouteOp::Unsub { account, subject, queue, .. } => {
                write_rs_minus(&mut out, account, subject, queue);
                let key = canonical_key(account, subject, queue);
                assert_eq!(
                    parse_whole(RouteParser::default(), &out),
                    RouteOp::Unsub { account, subject, queue, key: &key, origin: None }
                );
            }
            RouteOp::Err(text) => err_round_trip(RouteParser::default(), text, |t| RouteOp::Err(t)),
            _ => {}
        }
    }
}

/// The key of an interest written with single blanks: `acc subj [queue]`.
fn canonical_key(account: &[u8], subject: &[u8], queue: Option<&[u8]>) -> Vec<u8> {
    let mut k = [account, subject].join(&b' ');
    if let Some(q) = queue {
        k.push(b' ');
        k.extend_from_slice(q);
    }
    k
}

//! The route protocol parser.
//!
//! Input: one byte choosing how the rest is cut into reads, then the bytes
//! a peer server sends.

use rnats_protocol::client::Frame;
use rnats_protocol::encode::{write_err, write_rmsg, write_rs_minus, write_rs_plus};
use rnats_protocol::framing::is_arg_separator;
use rnats_protocol::route::{RouteMsg, RouteOp, RouteParser};
use rnats_protocol::{ParseError, Status};

use crate::stream::{self, Proto};
use crate::within;

pub fn check(data: &[u8]) {
    let [seed, input @ ..] = data else { return };
    stream::check_all(input, *seed, |deep| Route { p: RouteParser::default(), deep });
}

/// An op as recorded for comparison: its debug form, control line,
/// argument offset and length.
pub type Rec = (String, Vec<u8>, usize, usize);

struct Route {
    p: RouteParser,
    deep: bool,
}

impl Proto for Route {
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
                assert_eq!(self.p.body_needed(0), None, "parser not idle after a whole op");
                check_frame(buf, &f);
                if self.deep {
                    round_trip(&f.op);
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

fn check_frame(buf: &[u8], f: &Frame<RouteOp>) {
    let line = f.line;
    assert!(f.len <= buf.len());
    assert_eq!(line.as_ptr(), buf.as_ptr(), "the control line does not start the buffer");
    assert!(line.len() < f.len);
    assert!(f.args_at <= line.len());
    assert!(crate::line_feeds_only_at_argument_start(line, f.args_at));
    let after = &buf[line.len()..];
    let line_end = if after.starts_with(b"\r\n") { 2 } else { 1 };
    assert_eq!(after[line_end - 1], b'\n');
    let body_start = line.len() + line_end;
    match f.op {
        RouteOp::Msg(m) => {
            // A client PUB/HPUB on a route comes out with no account.
            let verb = &line[..f.args_at];
            let client_pub =
                verb.trim_ascii().eq_ignore_ascii_case(b"PUB") || verb.trim_ascii().eq_ignore_ascii_case(b"HPUB");
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
            assert!(within(buf, m.message));
            assert_eq!(f.len, body_start + m.message.len() + 2, "message length");
            assert_eq!(&buf[body_start..body_start + m.message.len()], m.message);
            assert_eq!(&buf[f.len - 2..f.len], b"\r\n");
        }
        RouteOp::Ignored => {
            // LMSG carries a payload; the others are one line.
            assert!(f.len == body_start || buf[..f.len].ends_with(b"\r\n"));
        }
        RouteOp::Sub { account, subject, queue } => {
            assert!(is_token(account) && is_token(subject));
            assert!(queue.is_none_or(|(q, _)| is_token(q)));
            assert_eq!(f.len, body_start);
        }
        RouteOp::Unsub { account, subject, queue } => {
            assert!(is_token(account) && is_token(subject) && queue.is_none_or(is_token));
            assert_eq!(f.len, body_start);
        }
        RouteOp::Info(t) | RouteOp::Connect(t) | RouteOp::Err(t) => {
            assert!(within(line, t) && line.ends_with(t));
            assert_eq!(f.len, body_start);
        }
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
            write_rmsg(&mut out, m.account, m.subject, m.reply, &mut queues.iter().copied(), m.header_len, m.message);
            let got = reparse(&out);
            let RouteOp::Msg(g) = got else { panic!("not a message: {got:?}") };
            let joined = (!queues.is_empty()).then(|| queues.join(&b' '));
            let want = RouteMsg { queues: joined.as_deref(), ..m };
            assert_eq!(g, want, "{:?} parsed back differently", String::from_utf8_lossy(&out));
        }
        RouteOp::Sub { account, subject, queue } => {
            write_rs_plus(&mut out, account, subject, queue);
            assert_eq!(reparse(&out), *op);
        }
        RouteOp::Unsub { account, subject, queue } => {
            write_rs_minus(&mut out, account, subject, queue);
            assert_eq!(reparse(&out), *op);
        }
        // A text can start with a LF (the argument-start rule), but once
        // quoted that LF would end the line: only LF-free texts round-trip.
        RouteOp::Err(text) if !text.contains(&b'\n') => {
            write_err(&mut out, text);
            let mut quoted = b"'".to_vec();
            quoted.extend_from_slice(text);
            quoted.push(b'\'');
            assert_eq!(reparse(&out), RouteOp::Err(&quoted));
        }
        _ => {}
    }
}

fn reparse(out: &[u8]) -> RouteOp<'_> {
    match RouteParser::default().parse(out) {
        Ok(Status::Complete(f)) => {
            assert_eq!(f.len, out.len(), "{:?} parsed back with another length", String::from_utf8_lossy(out));
            f.op
        }
        other => panic!("{:?} did not parse back: {other:?}", String::from_utf8_lossy(out)),
    }
}

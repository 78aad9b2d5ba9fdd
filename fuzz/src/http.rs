//! The monitoring port's HTTP request-head parser and query decoding.
//!
//! Input: one byte choosing the head size limit, one byte choosing how the
//! rest is cut into reads, then the bytes a browser or script sends. The
//! monitoring port appends each read to the connection buffer and parses
//! the whole buffer again, so every way of cutting the input must end with
//! the same request or error. Query strings are decoded, and
//! percent-encoding any bytes must decode back to them.

use rnats_protocol::http::{parse_request, query_pairs, url_decode, HttpError, Request};
use rnats_protocol::Status;

use crate::{stream, within};

const LIMITS: [usize; 4] = [16 * 1024, 64, 16, 1];

/// What the monitoring port ends up with: a request (owned), an error, or
/// still waiting with this many bytes buffered.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Request { method: Vec<u8>, target: Vec<u8>, len: usize },
    Error(HttpError),
    Waiting(usize),
}

pub fn check(data: &[u8]) {
    let [limit, seed, input @ ..] = data else { return };
    let max = LIMITS[usize::from(limit & 3)];
    let whole = feed(input, &[], max);
    let sizes = stream::plan(*seed, input.len());
    assert_eq!(feed(input, &sizes, max), whole, "cut into reads {sizes:?}");
    if input.len() <= 128 {
        assert_eq!(feed(input, &vec![1; input.len()], max), whole, "byte by byte");
        for cut in 1..input.len() {
            assert_eq!(feed(input, &[cut], max), whole, "cut at {cut}");
        }
    }
    let encoded = percent_encode(input);
    assert_eq!(url_decode(&encoded), input, "percent-encoding did not decode back");
    let decoded = url_decode(input);
    assert!(decoded.len() <= input.len());
    for (k, v) in query_pairs(input) {
        assert!(k.len() + v.len() <= input.len());
    }
}

/// Appends reads of `sizes` (then the rest) to a buffer, parsing the whole
/// buffer after each, until a request or an error.
fn feed(input: &[u8], sizes: &[usize], max: usize) -> Outcome {
    let mut buf = Vec::new();
    let mut rest = input;
    let mut sizes = sizes.iter();
    loop {
        let n = sizes.next().copied().unwrap_or(rest.len()).min(rest.len());
        buf.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        match parse_request(&buf, max) {
            Ok(Status::Complete(r)) => {
                check_request(&buf, &r, max);
                return Outcome::Request { method: r.method.to_vec(), target: r.target.to_vec(), len: r.len };
            }
            Ok(Status::Partial) => {
                assert!(buf.len() <= max, "a head over the limit is still awaited");
                if rest.is_empty() {
                    return Outcome::Waiting(buf.len());
                }
            }
            Err(e) => return Outcome::Error(e),
        }
    }
}

fn check_request(buf: &[u8], r: &Request, max: usize) {
    assert!(r.len <= buf.len() && r.len <= max);
    let head = &buf[..r.len];
    assert!(head.ends_with(b"\n\n") || head.ends_with(b"\n\r\n"), "the head does not end with a blank line");
    for part in [r.method, r.target, r.path, r.query] {
        assert!(within(head, part));
    }
    assert!(!r.method.is_empty() && r.method.iter().all(u8::is_ascii_uppercase));
    assert!(r.path.starts_with(b"/") && r.target.starts_with(r.path));
    if r.target.len() > r.path.len() {
        assert_eq!(r.target[r.path.len()], b'?');
        assert_eq!(&r.target[r.path.len() + 1..], r.query);
    } else {
        assert!(r.query.is_empty());
    }
    assert!(!r.path.contains(&b'?'));
    for (k, v) in query_pairs(r.query) {
        assert!(k.len() + v.len() <= r.query.len());
    }
}

fn percent_encode(b: &[u8]) -> Vec<u8> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = Vec::with_capacity(b.len() * 3);
    for (i, &c) in b.iter().enumerate() {
        if c.is_ascii_alphanumeric() && i % 2 == 0 {
            out.push(c);
        } else {
            out.extend_from_slice(&[b'%', HEX[usize::from(c >> 4)], HEX[usize::from(c & 15)]]);
        }
    }
    out
}

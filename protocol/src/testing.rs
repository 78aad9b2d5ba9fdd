//! The test driver of the client and route parsers: feeds an input the way
//! a server feeds a connection's buffer, whole and cut at every byte
//! boundary, and requires the same frames and the same final error from
//! every way of cutting it.

use crate::framing::{FrameParser, ParseError, Status};

/// What a parser made of an input.
#[derive(Debug, PartialEq)]
pub struct Outcome {
    /// Each frame's debug form: op, control line, argument offset, length.
    pub frames: Vec<String>,
    /// Each op's debug form, for comparing with expected ops.
    pub ops: Vec<String>,
    /// The error that stopped the parse, if any.
    pub error: Option<ParseError>,
}

/// Feeds `input` in reads of `sizes` (then the rest as one read), each
/// appended to a buffer that keeps the unconsumed bytes, parsing after
/// every read until the parser wants more.
pub fn feed<P: FrameParser>(mut p: P, input: &[u8], sizes: &[usize]) -> Outcome {
    let mut out = Outcome { frames: Vec::new(), ops: Vec::new(), error: None };
    let mut buf: Vec<u8> = Vec::new();
    let mut rest = input;
    let mut sizes = sizes.iter();
    loop {
        let (read, after) = rest.split_at(sizes.next().map_or(rest.len(), |n| (*n).min(rest.len())));
        buf.extend_from_slice(read);
        rest = after;
        loop {
            let len = match p.parse(&buf) {
                Ok(Status::Complete(f)) => {
                    out.frames.push(format!("{f:?}"));
                    out.ops.push(format!("{:?}", f.op));
                    f.len
                }
                Ok(Status::Partial) => break,
                Err(e) => {
                    out.error = Some(e);
                    return out;
                }
            };
            assert!(p.is_idle(), "parser not idle after a whole op");
            buf.drain(..len);
        }
        if rest.is_empty() {
            return out;
        }
    }
}

/// Parses `input` whole, then cut in two at every byte boundary, then one
/// byte at a time, with parsers from `new`; all must agree.
pub fn check<P: FrameParser>(new: impl Fn() -> P, input: &[u8]) -> Outcome {
    let whole = feed(new(), input, &[]);
    let shown = String::from_utf8_lossy(input);
    for cut in 0..=input.len() {
        assert_eq!(feed(new(), input, &[cut]), whole, "cut at {cut} of {shown:?}");
    }
    assert_eq!(feed(new(), input, &vec![1; input.len()]), whole, "byte by byte: {shown:?}");
    whole
}

/// The ops of an input that must parse without error (see [`check`]).
pub fn ops<P: FrameParser>(new: impl Fn() -> P, input: &[u8]) -> Vec<String> {
    let out = check(new, input);
    assert_eq!(out.error, None, "unexpected error for {:?}", String::from_utf8_lossy(input));
    out.ops
}

/// The error an input must end in (see [`check`]).
pub fn error<P: FrameParser>(new: impl Fn() -> P, input: &[u8]) -> ParseError {
    match check(new, input).error {
        Some(e) => e,
        None => panic!("no error for {:?}", String::from_utf8_lossy(input)),
    }
}

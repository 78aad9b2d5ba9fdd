//! What the client and route targets share: a line parser driven through
//! every feeding strategy of [`crate::stream`], the layout every frame must
//! have in its buffer, and parsing written ops back.

use rnats_protocol::encode::write_err;
use rnats_protocol::framing::is_arg_separator;
use rnats_protocol::{Frame, FrameParser, ParseError, Status};

use crate::stream::{self, Proto};
use crate::within;

/// The checks a target makes on each op its parser returns.
pub trait Checks: FrameParser {
    /// Checks the op's fields against the buffer; `body_start` is where
    /// the control line's line end ends.
    fn check_op(buf: &[u8], f: &Frame<'_, Self::Op<'_>>, body_start: usize);
    /// Writes the op with the server's encoders and parses it back.
    fn round_trip(op: &Self::Op<'_>);
}

/// An op as recorded for comparison: its debug form, control line,
/// argument offset and length.
type Rec = (String, Vec<u8>, usize, usize);

struct Checked<P> {
    p: P,
    /// Whether to make the expensive per-op checks (round trips).
    deep: bool,
}

impl<P: Checks> Proto for Checked<P> {
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
                P::check_op(buf, &f, line_layout(buf, &f));
                if self.deep {
                    P::round_trip(&f.op);
                }
                Ok(Some((f.len, (format!("{:?}", f.op), f.line.to_vec(), f.args_at, f.len))))
            }
        }
    }

    fn body_needed(&self, buffered: usize) -> Option<usize> {
        self.p.body_needed(buffered)
    }
}

/// Feeds `input` to parsers from `new` in every way of [`stream::check_all`].
pub fn check_stream<P: Checks>(input: &[u8], seed: u8, new: impl Fn() -> P) {
    stream::check_all(input, seed, |deep| Checked { p: new(), deep });
}

/// Where a frame's control line and its line end lie: at the start of the
/// buffer, a `\n` only where the arguments start. Returns where the line
/// end ends.
fn line_layout<Op>(buf: &[u8], f: &Frame<'_, Op>) -> usize {
    let line = f.line;
    assert!(f.len <= buf.len());
    assert_eq!(line.as_ptr(), buf.as_ptr(), "the control line does not start the buffer");
    assert!(line.len() < f.len);
    assert!(f.args_at <= line.len());
    let start = f.args_at + line[f.args_at..].iter().take_while(|c| **c == b' ' || **c == b'\t').count();
    assert!(line.iter().enumerate().all(|(i, c)| *c != b'\n' || i == start), "a line feed inside the line");
    let after = &buf[line.len()..];
    let line_end = if after.starts_with(b"\r\n") { 2 } else { 1 };
    assert_eq!(after[line_end - 1], b'\n');
    line.len() + line_end
}

/// A message body: right after the line end, inside the buffer, followed
/// by `\r\n`, which ends the frame.
pub fn check_payload<Op>(buf: &[u8], f: &Frame<'_, Op>, body_start: usize, body: &[u8]) {
    assert!(within(buf, body));
    assert_eq!(f.len, body_start + body.len() + 2, "message length");
    assert_eq!(&buf[body_start..body_start + body.len()], body);
    assert_eq!(&buf[f.len - 2..f.len], b"\r\n");
}

/// The text of CONNECT, INFO or `-ERR`: the end of the line, which ends
/// the frame.
pub fn check_rest_of_line<Op>(f: &Frame<'_, Op>, body_start: usize, text: &[u8]) {
    assert!(within(f.line, text) && f.line.ends_with(text));
    assert_eq!(f.len, body_start);
}

/// An argument as the splitter cuts them: not empty, no separator.
pub fn is_token(t: &[u8]) -> bool {
    !t.is_empty() && !t.iter().copied().any(is_arg_separator)
}

/// The op `p` makes of `out`, which must be exactly one whole op.
pub fn parse_whole<P: FrameParser>(mut p: P, out: &[u8]) -> P::Op<'_> {
    match p.parse(out) {
        Ok(Status::Complete(f)) => {
            assert_eq!(f.len, out.len(), "{:?} parsed back with another length", String::from_utf8_lossy(out));
            f.op
        }
        other => panic!("{:?} did not parse back: {other:?}", String::from_utf8_lossy(out)),
    }
}

/// A `-ERR` text written with `write_err` parses back quoted. A text can
/// start with a LF (the argument-start rule), but once quoted that LF would
/// end the line: only LF-free texts round-trip.
pub fn err_round_trip<P: FrameParser>(p: P, text: &[u8], err: impl for<'a> Fn(&'a [u8]) -> P::Op<'a>) {
    if text.contains(&b'\n') {
        return;
    }
    let mut out = Vec::new();
    write_err(&mut out, text);
    let mut quoted = b"'".to_vec();
    quoted.extend_from_slice(text);
    quoted.push(b'\'');
    assert_eq!(parse_whole(p, &out), err(&quoted));
}

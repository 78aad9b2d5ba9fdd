//! What the client and route parsers share: the verbs and how an op's
//! start is matched against them, the argument splitter, the size fields,
//! the two states of a parse (control line, then payload), the frame a
//! parse hands back and the error type.
//!
//! Both protocols frame the same way: a case-insensitive verb, arguments
//! separated by runs of spaces or tabs, a control line ending at `\n` (a `\r`
//! before it is dropped) and, for message ops, a payload of a declared size
//! followed by exactly `\r\n`.
//!
//! A parser keeps only offsets between calls ([`State`]): how far it already
//! searched for the line end, or, once a message's control line is known,
//! where its arguments are and how many payload bytes it waits for. Feeding
//! the same bytes again plus whatever arrived meanwhile therefore never
//! rescans a line or a payload. Both states go back to `Line { scanned: 0 }`
//! after an op completes.

use core::fmt;

/// Outcome of one parse call: a whole op, or "feed me more bytes".
#[derive(Debug, PartialEq, Eq)]
pub enum Status<T> {
    /// A complete op; the value says how many input bytes it used.
    Complete(T),
    /// The input ends inside an op. Call again with the same bytes plus more.
    Partial,
}

/// Why an input can never become a valid op. The connection that sent it is
/// beyond repair; the server picks the reply text (if any) from the variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// The bytes do not start any op this side accepts.
    UnknownOp,
    /// The bytes after a payload are not `\r\n`.
    BadPayloadEnd,
    /// A control line longer than the configured limit.
    MaxControlLine,
    /// A payload larger than the configured limit.
    MaxPayload,
    /// Wrong number of arguments for the op.
    BadArgs,
    /// A size field that is not 1-9 decimal digits.
    BadSize,
    /// A header size larger than the total size.
    BadHeaderSize,
    /// HPUB from a client that did not ask for headers.
    HeadersNotSupported,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            ParseError::UnknownOp => "unknown protocol operation",
            ParseError::BadPayloadEnd => "message payload not followed by CRLF",
            ParseError::MaxControlLine => "control line too long",
            ParseError::MaxPayload => "payload too large",
            ParseError::BadArgs => "wrong number of arguments",
            ParseError::BadSize => "invalid size",
            ParseError::BadHeaderSize => "header size larger than total size",
            ParseError::HeadersNotSupported => "message headers not supported",
        };
        f.write_str(s)
    }
}

impl std::error::Error for ParseError {}

/// One parsed op with its control line (for protocol traces) and the number
/// of input bytes it spans, payload and trailing CRLF included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a, Op> {
    pub op: Op,
    /// The control line without its line end.
    pub line: &'a [u8],
    /// Where the arguments start within `line` (right after the verb).
    pub args_at: usize,
    /// Bytes consumed from the input.
    pub len: usize,
}

/// The client and route parsers as one interface, for code that drives
/// either of them (tests, fuzzing).
pub trait FrameParser {
    /// The ops the parser hands back; they borrow the parsed buffer.
    type Op<'a>: fmt::Debug + PartialEq;

    /// Parses the op at the start of `buf`. On `Partial` the caller must
    /// keep the bytes and call again with them and more appended; on
    /// `Complete` it drops `frame.len` bytes from the front before the next
    /// call.
    fn parse<'a>(&mut self, buf: &'a [u8]) -> Result<Status<Frame<'a, Self::Op<'a>>>, ParseError>;

    /// When the parser waits for a message body: how many more bytes it
    /// needs beyond the `buffered` it was last given. `None` while it is
    /// still looking for a line end.
    fn body_needed(&self, buffered: usize) -> Option<usize>;

    /// True when the parser is between ops: the caller's buffer holds no
    /// partial op it has already looked at.
    fn is_idle(&self) -> bool;
}

/// Implements [`FrameParser`] for a parser type by its inherent methods.
macro_rules! impl_frame_parser {
    ($parser:ident, $op:ident) => {
        impl $crate::framing::FrameParser for $parser {
            type Op<'a> = $op<'a>;

            fn parse<'a>(
                &mut self,
                buf: &'a [u8],
            ) -> Result<$crate::framing::Status<$crate::framing::Frame<'a, $op<'a>>>, $crate::framing::ParseError> {
                $parser::parse(self, buf)
            }

            fn body_needed(&self, buffered: usize) -> Option<usize> {
                $parser::body_needed(self, buffered)
            }

            fn is_idle(&self) -> bool {
                $parser::is_idle(self)
            }
        }
    };
}
pub(crate) use impl_frame_parser;

/// Whether `b` separates arguments: spaces and tabs, and, as in the Go
/// server's argument splitter, a carriage return or line feed inside the
/// line.
#[inline]
pub fn is_arg_separator(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Whether any of the eight bytes of `w` is at most `b' '` (0x20): the
/// classic test for a byte below a bound, exact as a yes/no answer.
#[inline(always)]
fn has_byte_at_most_space(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    w.wrapping_sub(ONES * 0x21) & !w & (ONES * 0x80) != 0
}

/// Whether `b` is blank space after a verb.
#[inline]
pub fn is_space(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// The text after a verb and its blanks: the JSON of CONNECT and INFO, the
/// message of `-ERR`.
pub fn text_after(line: &[u8], args_at: usize) -> &[u8] {
    let text = line.get(args_at..).unwrap_or_default();
    let blanks = text.iter().take_while(|c| is_space(**c)).count();
    &text[blanks..]
}

/// How the bytes after a matched verb are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    /// At least one space or tab must follow, then arguments.
    Args,
    /// Arguments may follow directly (`CONNECT{...}`).
    Glued,
    /// Everything up to the line end is ignored (`PINGxyz`).
    Ignore,
}

/// The verbs of the client and route protocols. Each parser has a table of
/// the ones it accepts (a route accepts every client verb too, and treats
/// each as Go does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Pub,
    HPub,
    Sub,
    Unsub,
    Ping,
    Pong,
    Connect,
    Info,
    /// `+OK`
    Ok,
    /// `-ERR`
    Err,
    /// `RS+`
    RsPlus,
    /// `RS-`
    RsMinus,
    RMsg,
    HMsg,
    /// `LS+`
    LsPlus,
    /// `LS-`
    LsMinus,
    LMsg,
    /// `A+`
    APlus,
    /// `A-`
    AMinus,
}

impl Verb {
    /// How the verb is spelled, and what may follow it.
    pub const fn spelling(self) -> (&'static [u8], After) {
        match self {
            Verb::Pub => (b"PUB", After::Args),
            Verb::HPub => (b"HPUB", After::Args),
            Verb::Sub => (b"SUB", After::Args),
            Verb::Unsub => (b"UNSUB", After::Args),
            Verb::Ping => (b"PING", After::Ignore),
            Verb::Pong => (b"PONG", After::Ignore),
            Verb::Connect => (b"CONNECT", After::Glued),
            Verb::Info => (b"INFO", After::Glued),
            Verb::Ok => (b"+OK", After::Ignore),
            Verb::Err => (b"-ERR", After::Args),
            Verb::RsPlus => (b"RS+", After::Args),
            Verb::RsMinus => (b"RS-", After::Args),
            Verb::RMsg => (b"RMSG", After::Args),
            Verb::HMsg => (b"HMSG", After::Args),
            Verb::LsPlus => (b"LS+", After::Args),
            Verb::LsMinus => (b"LS-", After::Args),
            Verb::LMsg => (b"LMSG", After::Args),
            Verb::APlus => (b"A+", After::Args),
            Verb::AMinus => (b"A-", After::Args),
        }
    }
}

/// Matches `buf` (the start of an op) against the verbs of `table`,
/// case-insensitively, deciding as early as the bytes allow so garbage is
/// rejected without waiting for a line end. `Ok(Some((verb, after,
/// args_at)))`: the verb, what may follow it and where its arguments start;
/// `Ok(None)`: not enough bytes to decide yet; `UnknownOp`: no verb of the
/// table starts this way.
pub fn match_verb(buf: &[u8], table: &[Verb]) -> Result<Option<(Verb, After, usize)>, ParseError> {
    let mut need_more = false;
    for &verb in table {
        let (name, after) = verb.spelling();
        let n = name.len().min(buf.len());
        if !buf[..n].eq_ignore_ascii_case(&name[..n]) {
            continue;
        }
        if buf.len() <= name.len() {
            // A prefix of this verb, or the verb with nothing after it yet.
            if after == After::Ignore && buf.len() == name.len() {
                return Ok(Some((verb, after, name.len())));
            }
            need_more = true;
            continue;
        }
        if after != After::Args || is_space(buf[name.len()]) {
            return Ok(Some((verb, after, name.len())));
        }
    }
    if need_more {
        Ok(None)
    } else {
        Err(ParseError::UnknownOp)
    }
}

/// A byte range `(start, len)` within a control line.
pub type Span = (u32, u32);

/// The bytes of `span` within `line`.
#[inline(always)]
pub fn span_of(line: &[u8], (start, len): Span) -> &[u8] {
    line.get(start as usize..(start + len) as usize).unwrap_or(&[])
}

/// The argument splitter of both protocols: calls `arg(start, end)` for
/// every argument of `line[from..]`, in order, and stops (returning `None`)
/// at the first `None` it returns. Arguments are separated by runs of
/// spaces and tabs, and, with `LINE_BREAKS_SEPARATE`, of CRs and LFs too.
///
/// One pass over the bytes. Every separator is at most `b' '`, so inside
/// an argument eight bytes at a time are checked for such a byte at once.
#[inline(always)]
pub fn split_args<const LINE_BREAKS_SEPARATE: bool>(
    line: &[u8],
    from: usize,
    mut arg: impl FnMut(usize, usize) -> Option<()>,
) -> Option<()> {
    let is_sep = |c: u8| c <= b' ' && (c == b' ' || c == b'\t' || (LINE_BREAKS_SEPARATE && (c == b'\r' || c == b'\n')));
    let mut i = from;
    while let Some(&c) = line.get(i) {
        if is_sep(c) {
            i += 1;
            continue;
        }
        let start = i;
        while let Some(word) = line.get(i..).and_then(|r| r.first_chunk::<8>()) {
            if has_byte_at_most_space(u64::from_le_bytes(*word)) {
                break;
            }
            i += 8;
        }
        while line.get(i).is_some_and(|c| !is_sep(*c)) {
            i += 1;
        }
        arg(start, i)?;
    }
    Some(())
}

/// Where the argument starting at `buf[i]` ends: the first byte at most
/// `b' '` from `i` on, eight bytes at a time; `None` when `buf` ends first.
#[inline(always)]
pub(crate) fn argument_end(buf: &[u8], mut i: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    while let Some(word) = buf.get(i..).and_then(|r| r.first_chunk::<8>()) {
        let w = u64::from_le_bytes(*word);
        // Borrows only run upwards, so the lowest marked byte is exact.
        let low = w.wrapping_sub(ONES * 0x21) & !w & (ONES * 0x80);
        if low != 0 {
            return Some(i + (low.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    while let Some(&c) = buf.get(i) {
        if c <= b' ' {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// Positions of up to [`MAX_ARGS`] arguments within a control line, kept as
/// offsets so a parser can park them across reads and rebuild slices later.
pub const MAX_ARGS: usize = 6;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Args {
    spans: [Span; MAX_ARGS],
    count: u8,
}

impl Args {
    /// Splits `line[from..]` on runs of spaces, tabs, CRs and LFs, as Go
    /// splits the arguments of most ops. `None` when there are more than
    /// [`MAX_ARGS`] arguments.
    pub fn split(line: &[u8], from: usize) -> Option<Args> {
        Args::split_by::<true>(line, from)
    }

    /// Splits `line[from..]` on runs of spaces and tabs only, as Go splits
    /// the arguments of a client's PUB and HPUB: a CR or LF inside them is
    /// part of an argument.
    #[inline(always)]
    pub fn split_blanks(line: &[u8], from: usize) -> Option<Args> {
        Args::split_by::<false>(line, from)
    }

    #[inline(always)]
    fn split_by<const LINE_BREAKS_SEPARATE: bool>(line: &[u8], from: usize) -> Option<Args> {
        let mut args = Args::default();
        split_args::<LINE_BREAKS_SEPARATE>(line, from, |start, end| {
            let slot = args.spans.get_mut(args.count as usize)?;
            *slot = (start as u32, (end - start) as u32);
            args.count += 1;
            Some(())
        })?;
        Some(args)
    }

    /// Number of arguments found.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// True when the line had no arguments.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Argument `i` as a slice of `line`, the same line given to `split`.
    pub fn get<'a>(&self, line: &'a [u8], i: usize) -> &'a [u8] {
        span_of(line, self.spans[i])
    }
}

/// Parses a size field: 1 to 9 ASCII digits, nothing else.
pub fn parse_size(b: &[u8]) -> Option<usize> {
    if b.is_empty() || b.len() > 9 {
        return None;
    }
    let mut n = 0usize;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n * 10 + (c - b'0') as usize;
    }
    Some(n)
}

/// The size fields that end a message op's arguments: the total size and,
/// for a message with headers, the header size before it, which must not
/// exceed the total.
#[inline(always)]
pub fn message_sizes(total: &[u8], header: Option<&[u8]>) -> Result<(usize, Option<usize>), ParseError> {
    let total = parse_size(total).ok_or(ParseError::BadSize)?;
    let Some(header) = header else {
        return Ok((total, None));
    };
    let header = parse_size(header).ok_or(ParseError::BadSize)?;
    if header > total {
        return Err(ParseError::BadHeaderSize);
    }
    Ok((total, Some(header)))
}

/// Where the search for the end of a control line starts. As in Go's parser,
/// the first byte after the verb's spaces and tabs starts the arguments
/// whatever it is: a `\r` or `\n` there is part of the arguments (where it
/// separates them) and does not end the line. Verbs that take no arguments
/// end at their first `\n`.
#[inline]
pub fn line_search_start(buf: &[u8], args_at: usize, after: After, scanned: usize) -> usize {
    if after == After::Ignore {
        return scanned;
    }
    let mut i = args_at;
    while let Some(&c) = buf.get(i) {
        if c != b' ' && c != b'\t' {
            break;
        }
        i += 1;
    }
    scanned.max(i + 1).min(buf.len())
}

/// Finds the end of the control line starting at `buf[0]`, resuming the
/// search at `scanned`. Returns `(line_len, next)` where `line_len` excludes
/// the `\r\n` (or bare `\n`) and `next` is the index after the `\n`.
#[inline]
pub fn find_line_end(buf: &[u8], scanned: usize) -> Option<(usize, usize)> {
    let nl = scanned + memchr::memchr(b'\n', buf.get(scanned..)?)?;
    let line_len = if nl > 0 && buf[nl - 1] == b'\r' { nl - 1 } else { nl };
    Some((line_len, nl + 1))
}

/// The arguments a protocol parks for a message op while its payload
/// arrives, and how they become the op.
pub(crate) trait Message: Copy {
    type Op<'a>;
    /// The op, its arguments taken from `line`, its payload `message`.
    fn op<'a>(&self, line: &'a [u8], message: &'a [u8]) -> Self::Op<'a>;
}

/// A message op whose control line is parsed, waiting for its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Body<A> {
    /// The op's arguments as the protocol parked them.
    pub args: A,
    /// Where the arguments start within the control line.
    pub args_at: usize,
    /// The control line's length without its line end.
    pub line_len: usize,
    /// Where the payload starts in the buffer.
    pub start: usize,
    /// The payload's declared size.
    pub len: usize,
}

/// Where a parse stands between calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State<A> {
    /// Looking for the control line's `\n`; `scanned` bytes already searched.
    Line { scanned: usize },
    /// Control line parsed, waiting for the payload and its `\r\n`.
    Body(Body<A>),
}

impl<A: Copy> State<A> {
    /// Between ops.
    pub const IDLE: State<A> = State::Line { scanned: 0 };

    pub fn is_idle(&self) -> bool {
        matches!(self, State::Line { scanned: 0 })
    }

    /// Back to idle from looking for a line end (an op completed by a path
    /// that never parked a payload): one store, not a whole state.
    #[inline(always)]
    pub fn reset_line(&mut self) {
        match self {
            State::Line { scanned } => *scanned = 0,
            State::Body(_) => *self = State::IDLE,
        }
    }

    /// See [`FrameParser::body_needed`].
    pub fn body_needed(&self, buffered: usize) -> Option<usize> {
        match self {
            State::Body(body) => Some((body.start + body.len + 2).saturating_sub(buffered).max(1)),
            State::Line { .. } => None,
        }
    }

    /// Finds the end of the control line of the op whose verb `buf` starts
    /// with: `(line_len, next)` as [`find_line_end`] gives them, or `None`
    /// while the line end has not arrived. A line whose arguments run past
    /// `max` bytes is refused (before its end arrives too) when `over(end)`
    /// agrees that the line up to `end` is too long.
    #[inline(always)]
    pub fn control_line(
        &mut self,
        buf: &[u8],
        args_at: usize,
        after: After,
        max: usize,
        over: impl FnOnce(usize) -> bool,
    ) -> Result<Option<(usize, usize)>, ParseError> {
        let scanned = match *self {
            State::Line { scanned } => scanned,
            State::Body(_) => 0,
        };
        let Some((line_len, next)) = find_line_end(buf, line_search_start(buf, args_at, after, scanned)) else {
            // A `\r` may still be waiting for its `\n`, hence the one byte.
            if buf.len().saturating_sub(args_at) > max.saturating_add(1) && over(buf.len() - 1) {
                return Err(ParseError::MaxControlLine);
            }
            *self = State::Line { scanned: buf.len() };
            return Ok(None);
        };
        *self = State::Line { scanned: 0 };
        if line_len.saturating_sub(args_at) > max && over(line_len) {
            return Err(ParseError::MaxControlLine);
        }
        Ok(Some((line_len, next)))
    }

    /// Completes the message `body` once `buf` holds its payload and the
    /// `\r\n` after it. Until then, and on a bad payload end, the message
    /// stays parked (so the caller can still look at its arguments while
    /// answering the error).
    #[inline(always)]
    pub fn finish_body<'a>(&mut self, buf: &'a [u8], body: Body<A>) -> Result<Status<Frame<'a, A::Op<'a>>>, ParseError>
    where
        A: Message,
    {
        let end = body.start + body.len;
        if buf.len() < end + 2 {
            *self = State::Body(body);
            if buf.len() > end && buf[end] != b'\r' {
                return Err(ParseError::BadPayloadEnd);
            }
            return Ok(Status::Partial);
        }
        if buf[end] != b'\r' || buf[end + 1] != b'\n' {
            *self = State::Body(body);
            return Err(ParseError::BadPayloadEnd);
        }
        *self = State::Line { scanned: 0 };
        let line = &buf[..body.line_len];
        let op = body.args.op(line, &buf[body.start..end]);
        Ok(Status::Complete(Frame { op, line, args_at: body.args_at, len: end + 2 }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The eight-byte test agrees with a byte-by-byte check for every byte
    /// value at every position, among both low and high neighbours.
    #[test]
    fn word_test_finds_every_byte_at_most_space() {
        for fill in [b'a', 0x21, 0xff, 0x80] {
            for pos in 0..8 {
                for b in 0..=255u8 {
                    let mut w = [fill; 8];
                    w[pos] = b;
                    assert_eq!(has_byte_at_most_space(u64::from_le_bytes(w)), b <= b' ', "{w:?}");
                }
            }
        }
    }

    #[test]
    fn split_long_arguments() {
        let line = b"PUB a.very.long.subject.name.over.eight\tbytes\r\nx  123456789 ";
        let a = Args::split_blanks(line, 3).expect("args");
        let got: Vec<&[u8]> = (0..a.len()).map(|i| a.get(line, i)).collect();
        assert_eq!(got, [&b"a.very.long.subject.name.over.eight"[..], b"bytes\r\nx", b"123456789"]);
        let a = Args::split(line, 3).expect("args");
        let got: Vec<&[u8]> = (0..a.len()).map(|i| a.get(line, i)).collect();
        assert_eq!(got, [&b"a.very.long.subject.name.over.eight"[..], b"bytes", b"x", b"123456789"]);
    }
}

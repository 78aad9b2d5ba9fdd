//! Pieces shared by the client and route parsers: the op-name matcher, the
//! argument splitter, the size parser and the error type.
//!
//! Both protocols frame the same way: a case-insensitive verb, arguments
//! separated by runs of spaces or tabs, a control line ending at `\n` (a `\r`
//! before it is dropped) and, for message ops, a payload of a declared size
//! followed by exactly `\r\n`.

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

/// Result of matching the start of an op against a verb table.
pub enum VerbMatch {
    /// Verb `index` of the table, its arguments start at `args_at`.
    Found { index: usize, args_at: usize },
    /// Not enough bytes to decide yet.
    NeedMore,
    /// No verb of the table can start this way.
    NoMatch,
}

/// Matches `buf` (the start of an op) against `table`, case-insensitively,
/// deciding as early as the bytes allow so garbage is rejected without
/// waiting for a line end.
pub fn match_verb(buf: &[u8], table: &[(&[u8], After)]) -> VerbMatch {
    let mut need_more = false;
    for (index, (verb, after)) in table.iter().enumerate() {
        let n = verb.len().min(buf.len());
        if !buf[..n].eq_ignore_ascii_case(&verb[..n]) {
            continue;
        }
        if buf.len() <= verb.len() {
            // A prefix of this verb, or the verb with nothing after it yet.
            if *after == After::Ignore && buf.len() == verb.len() {
                return VerbMatch::Found { index, args_at: verb.len() };
            }
            need_more = true;
            continue;
        }
        let next = buf[verb.len()];
        match after {
            After::Ignore => return VerbMatch::Found { index, args_at: verb.len() },
            After::Glued => return VerbMatch::Found { index, args_at: verb.len() },
            After::Args if is_space(next) => return VerbMatch::Found { index, args_at: verb.len() },
            After::Args => {}
        }
    }
    if need_more {
        VerbMatch::NeedMore
    } else {
        VerbMatch::NoMatch
    }
}

/// Positions of up to [`MAX_ARGS`] arguments within a control line, kept as
/// offsets so a parser can park them across reads and rebuild slices later.
pub const MAX_ARGS: usize = 6;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Args {
    spans: [(u32, u32); MAX_ARGS],
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

    /// One pass over the bytes. Every separator is at most `b' '`, so inside
    /// an argument eight bytes at a time are checked for such a byte at once.
    #[inline(always)]
    fn split_by<const LINE_BREAKS_SEPARATE: bool>(line: &[u8], from: usize) -> Option<Args> {
        let is_sep =
            |c: u8| c <= b' ' && (c == b' ' || c == b'\t' || (LINE_BREAKS_SEPARATE && (c == b'\r' || c == b'\n')));
        let mut args = Args::default();
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
            args.push(start, i)?;
        }
        Some(args)
    }

    #[inline(always)]
    fn push(&mut self, start: usize, end: usize) -> Option<()> {
        let slot = self.spans.get_mut(self.count as usize)?;
        *slot = (start as u32, (end - start) as u32);
        self.count += 1;
        Some(())
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
        let (s, l) = self.spans[i];
        line.get(s as usize..(s + l) as usize).unwrap_or(&[])
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

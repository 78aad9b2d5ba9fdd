//! The character level of the configuration format: positions and the
//! errors located by them, blanks and comments, keys, and the scalar values
//! (strings, numbers, datetimes).

use core::fmt;

use super::{ConfError, Value};

/// A cursor over a configuration text.
pub(super) struct Lexer<'a> {
    pub src: &'a str,
    pub b: &'a [u8],
    pub pos: usize,
    /// Byte offsets of every `\n`, for line/column computation.
    newlines: Vec<usize>,
}

pub(super) fn is_ws(c: u8) -> bool {
    c == b' ' || c == b'\t'
}

pub(super) fn is_nl(c: u8) -> bool {
    c == b'\n' || c == b'\r'
}

fn is_size_suffix(c: u8) -> bool {
    matches!(c, b'k' | b'K' | b'm' | b'M' | b'g' | b'G' | b't' | b'T' | b'p' | b'P' | b'e' | b'E')
}

/// Ends a number: newline, EOF, `}`, `;`, `,`, space, tab.
fn ends_number(c: Option<u8>) -> bool {
    match c {
        None => true,
        Some(c) => is_nl(c) || is_ws(c) || c == b'}' || c == b';' || c == b',',
    }
}

/// The boolean an unquoted word stands for, if any.
pub(super) fn is_bool_word(s: &str) -> Option<bool> {
    const T: [&str; 3] = ["true", "yes", "on"];
    const F: [&str; 3] = ["false", "no", "off"];
    if T.iter().any(|w| s.eq_ignore_ascii_case(w)) {
        Some(true)
    } else if F.iter().any(|w| s.eq_ignore_ascii_case(w)) {
        Some(false)
    } else {
        None
    }
}

fn show_char(c: char) -> String {
    match c {
        '\n' => "'\\n'".into(),
        '\r' => "'\\r'".into(),
        '\t' => "'\\t'".into(),
        c if c.is_control() => format!("'{}'", c.escape_default()),
        c => format!("'{c}'"),
    }
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl<'a> Lexer<'a> {
    pub fn new(src: &'a str) -> Self {
        let b = src.as_bytes();
        Lexer { src, b, pos: 0, newlines: memchr::memchr_iter(b'\n', b).collect() }
    }

    pub fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    pub fn peek_at(&self, off: usize) -> Option<u8> {
        self.b.get(off).copied()
    }

    pub fn char_at(&self, off: usize) -> Option<char> {
        self.src.get(off..).and_then(|s| s.chars().next())
    }

    /// Skips what Go's `unicode.IsSpace` accepts (newlines included).
    pub fn skip_space(&mut self) {
        while let Some(c) = self.char_at(self.pos) {
            if c.is_whitespace() {
                self.pos += c.len_utf8();
            } else {
                break;
            }
        }
    }

    /// Skips spaces and tabs only.
    pub fn skip_ws(&mut self) {
        while self.peek().is_some_and(is_ws) {
            self.pos += 1;
        }
    }

    /// At `#` or `//`.
    pub fn at_comment(&self) -> bool {
        match self.peek() {
            Some(b'#') => true,
            Some(b'/') => self.peek_at(self.pos + 1) == Some(b'/'),
            _ => false,
        }
    }

    /// Skips a comment (up to its line end) if one starts here.
    pub fn skip_comment(&mut self) -> bool {
        let at = self.at_comment();
        if at {
            self.pos = self.line_end(self.pos).unwrap_or(self.b.len());
        }
        at
    }

    /// The offset of the first `\n` or `\r` from `from`.
    fn line_end(&self, from: usize) -> Option<usize> {
        memchr::memchr2(b'\n', b'\r', self.b.get(from..).unwrap_or(&[])).map(|i| from + i)
    }

    /// True if only whitespace, `}` and comments remain.
    pub fn only_closers_left(&self) -> bool {
        let mut i = self.pos;
        while let Some(c) = self.char_at(i) {
            if c.is_whitespace() || c == '}' {
                i += c.len_utf8();
            } else if c == '#' || (c == '/' && self.peek_at(i + 1) == Some(b'/')) {
                match self.line_end(i) {
                    Some(end) => i = end,
                    None => return true,
                }
            } else {
                return false;
            }
        }
        true
    }

    pub fn line_col(&self, off: usize) -> (u32, u32) {
        let idx = self.newlines.partition_point(|&n| n < off);
        let col = match idx.checked_sub(1).and_then(|i| self.newlines.get(i)) {
            Some(&nl) => off - nl,
            None => off,
        };
        (to_u32(idx + 1), to_u32(col))
    }

    /// A lexical error, located just past the offending character (Go's convention).
    pub fn lex_err(&self, after: usize, text: impl fmt::Display) -> ConfError {
        let (line, col) = self.line_col(after);
        ConfError { line, col, msg: format!("Parse error on line {line}: '{text}'") }
    }

    /// An error about a complete token starting at `at`.
    pub fn plain_err(&self, at: usize, msg: String) -> ConfError {
        let (line, col) = self.line_col(at);
        ConfError { line, col, msg }
    }

    /// A lexical error about the character at `at` (or EOF), which `text`
    /// words from its description.
    pub fn unexpected(&self, at: usize, text: impl FnOnce(&str) -> String) -> ConfError {
        let (got, after) = match self.char_at(at) {
            Some(c) => (show_char(c), at + c.len_utf8()),
            None => ("EOF".into(), self.b.len()),
        };
        self.lex_err(after, text(&got))
    }

    /// A string between two `quote`s, without escapes, the opening quote
    /// at `pos`: its text and where that starts. Moves past the closing quote.
    pub fn quoted(&mut self, quote: u8) -> Result<(&'a str, usize), ConfError> {
        let from = self.pos + 1;
        let Some(len) = memchr::memchr(quote, self.b.get(from..).unwrap_or(&[])) else {
            return Err(self.lex_err(self.b.len(), "Unexpected EOF."));
        };
        self.pos = from + len + 1;
        Ok((self.src.get(from..from + len).unwrap_or_default(), from))
    }

    /// An unquoted key from `pos`: its first character whatever it is, then
    /// everything up to whitespace, `:` or `=`. EOF ends a key only at the
    /// top level.
    pub fn bare_key(&mut self, top: bool) -> Result<&'a str, ConfError> {
        let start = self.pos;
        match self.char_at(self.pos) {
            Some(c) => self.pos += c.len_utf8(),
            None => return Err(self.lex_err(self.b.len(), "Unexpected EOF processing map key.")),
        }
        loop {
            match self.char_at(self.pos) {
                Some(c) if c.is_whitespace() || c == ':' || c == '=' => break,
                Some(c) => self.pos += c.len_utf8(),
                None if top => break,
                None => return Err(self.lex_err(self.b.len(), "Unexpected EOF processing map key.")),
            }
        }
        Ok(self.src.get(start..self.pos).unwrap_or_default())
    }

    fn utf8(&self, bytes: Vec<u8>, at: usize) -> Result<String, ConfError> {
        String::from_utf8(bytes)
            .map_err(|_| self.plain_err(at, "string escapes (\\xHH) produce invalid UTF-8".to_string()))
    }

    /// Handles the escape at `self.pos` (a backslash), appending its bytes.
    fn escape(&mut self, buf: &mut Vec<u8>) -> Result<(), ConfError> {
        let next = self.pos + 1;
        let byte = match self.peek_at(next) {
            Some(b't') => b'\t',
            Some(b'n') => b'\n',
            Some(b'r') => b'\r',
            Some(b'"') => b'"',
            Some(b'\\') => b'\\',
            Some(b'x') => return self.hex_escape(buf),
            _ => {
                let shown = match self.char_at(next) {
                    Some(c) => c.escape_default().to_string(),
                    None => String::new(),
                };
                return Err(self.unexpected(next, |_| {
                    format!(
                        "Invalid escape character '{shown}'. Only the following escape characters are allowed: \\xXX, \\t, \\n, \\r, \\\", \\\\."
                    )
                }));
            }
        };
        buf.push(byte);
        self.pos += 2;
        Ok(())
    }

    fn hex_escape(&mut self, buf: &mut Vec<u8>) -> Result<(), ConfError> {
        let mut at = self.pos + 2;
        let mut digits = String::new();
        for _ in 0..2 {
            match self.char_at(at) {
                Some(c) if c != '\n' && c != '\r' => {
                    digits.push(c);
                    at += c.len_utf8();
                }
                other => {
                    let after = if other.is_some() { at + 1 } else { at };
                    return Err(self.lex_err(after, "Expected two hexadecimal digits after '\\x', but hit end of line"));
                }
            }
        }
        match u8::from_str_radix(&digits, 16) {
            Ok(b) if digits.bytes().all(|c| c.is_ascii_hexdigit()) => {
                buf.push(b);
                self.pos = at;
                Ok(())
            }
            _ => Err(self.lex_err(at, format!("Expected two hexadecimal digits after '\\x', but got '{digits}'"))),
        }
    }

    /// `"..."` with escapes; the opening quote is at `pos`.
    pub fn double_quoted(&mut self) -> Result<(Value, usize), ConfError> {
        let from = self.pos + 1;
        self.pos = from;
        let mut buf = Vec::new();
        loop {
            match self.peek() {
                None => return Err(self.lex_err(self.b.len(), "Unexpected EOF.")),
                Some(b'"') => {
                    self.pos += 1;
                    break;
                }
                Some(b'\\') => self.escape(&mut buf)?,
                Some(c) => {
                    buf.push(c);
                    self.pos += 1;
                }
            }
        }
        Ok((Value::String(self.utf8(buf, from)?), from))
    }

    /// `( ... )`: everything up to a `)` alone at the start of a line and
    /// followed by `\n` or EOF. The text keeps the newline before the `)`.
    pub fn block(&mut self) -> Result<(Value, usize), ConfError> {
        let from = self.pos + 1;
        let rest = self.b.get(from..).unwrap_or(&[]);
        for i in memchr::memchr_iter(b')', rest) {
            let at = from + i;
            let after_ok = matches!(self.peek_at(at + 1), None | Some(b'\n'));
            if at > 0 && self.peek_at(at - 1) == Some(b'\n') && after_ok {
                self.pos = at + 1;
                return Ok((Value::String(self.src.get(from..at).unwrap_or_default().to_string()), from));
            }
        }
        Err(self.lex_err(self.b.len(), "Unexpected EOF processing block."))
    }

    /// An unquoted string. `src[start..resume]` is taken verbatim (it is the
    /// part already scanned as a would-be number); scanning with escapes
    /// continues at `resume`. Returns the text and whether it is plain: with
    /// no escapes and not ended by `'` (only a plain word may be a boolean
    /// or a variable, as in Go).
    pub fn unquoted(&mut self, start: usize, resume: usize) -> Result<(String, bool), ConfError> {
        let mut buf = self.b.get(start..resume).unwrap_or(&[]).to_vec();
        let mut escaped = false;
        self.pos = resume;
        let mut quote_end = false;
        while let Some(c) = self.peek() {
            match c {
                b'\n' | b'\r' | b';' | b',' | b']' | b'}' | b' ' | b'\t' => break,
                b'\'' => {
                    quote_end = true;
                    break;
                }
                b'\\' => {
                    escaped = true;
                    self.escape(&mut buf)?;
                }
                c => {
                    buf.push(c);
                    self.pos += 1;
                }
            }
        }
        if quote_end {
            self.pos += 1;
        }
        Ok((self.utf8(buf, start)?, !escaped && !quote_end))
    }

    /// A string that started like a number (never a boolean or variable).
    fn number_like_string(&mut self, start: usize, resume: usize) -> Result<(Value, usize), ConfError> {
        let (s, _) = self.unquoted(start, resume)?;
        Ok((Value::String(s), start))
    }

    /// The end of the run of ASCII digits from `i`.
    fn digits_end(&self, mut i: usize) -> usize {
        while self.peek_at(i).is_some_and(|c| c.is_ascii_digit()) {
            i += 1;
        }
        i
    }

    /// Starts with a digit at `pos`: integer (with optional size suffix),
    /// float, datetime, IP-like string, or (if it is not entirely a number)
    /// string. `in_array`: a `]` ends an integer.
    pub fn number(&mut self, in_array: bool) -> Result<(Value, usize), ConfError> {
        let start = self.pos;
        let i = self.digits_end(start);
        match self.peek_at(i) {
            Some(b'-') if i - start == 4 => self.datetime(start),
            Some(b'-') => Err(self.lex_err(i + 1, "All ISO8601 dates must be in full Zulu form.")),
            Some(b'.') => self.float_or_ip(start, i),
            Some(c) if is_size_suffix(c) => self.sized(start, i + 1),
            c if ends_number(c) => self.integer(start, i),
            Some(b']') if in_array => self.integer(start, i),
            _ => {
                // Not a number after all: a string, with this character taken verbatim.
                let len = self.char_at(i).map_or(1, char::len_utf8);
                self.number_like_string(start, i + len)
            }
        }
    }

    /// Starts with `-` at `pos`.
    pub fn negative(&mut self) -> Result<(Value, usize), ConfError> {
        let start = self.pos;
        let i = start + 1;
        match self.peek_at(i) {
            Some(c) if c.is_ascii_digit() => {}
            Some(b'.') => return Err(self.lex_err(i + 1, "Floats must start with a digit, not '.'.")),
            _ => return Err(self.unexpected(i, |got| format!("Expected a digit but got {got}."))),
        }
        let i = self.digits_end(i);
        match self.peek_at(i) {
            Some(b'.') => self.float_or_ip(start, i),
            Some(c) if is_size_suffix(c) => self.sized(start, i + 1),
            // Anything else ends a negative integer.
            _ => self.integer(start, i),
        }
    }

    /// After digits and a size-suffix letter ending at `i`.
    fn sized(&mut self, start: usize, mut i: usize) -> Result<(Value, usize), ConfError> {
        while matches!(self.peek_at(i), Some(b'b' | b'B' | b'i' | b'I')) {
            i += 1;
        }
        let next = self.peek_at(i);
        if ends_number(next) || next == Some(b']') {
            self.integer(start, i)
        } else {
            self.number_like_string(start, start)
        }
    }

    fn integer(&mut self, start: usize, end: usize) -> Result<(Value, usize), ConfError> {
        self.pos = end;
        let text = self.src.get(start..end).unwrap_or_default();
        let split = text.bytes().position(|c| !(c.is_ascii_digit() || c == b'-')).unwrap_or(text.len());
        let (digits, suffix) = text.split_at(split);
        let range_err = || self.plain_err(start, format!("integer '{text}' is out of the range"));
        let n: i64 = digits.parse().map_err(|_| range_err())?;
        let pow = |base: i64, exp: u32| base.checked_pow(exp);
        let mult = match suffix.to_ascii_lowercase().as_str() {
            "" => Some(1),
            "k" => pow(1000, 1),
            "m" => pow(1000, 2),
            "g" => pow(1000, 3),
            "t" => pow(1000, 4),
            "p" => pow(1000, 5),
            "e" => pow(1000, 6),
            "kb" | "ki" | "kib" => pow(1024, 1),
            "mb" | "mi" | "mib" => pow(1024, 2),
            "gb" | "gi" | "gib" => pow(1024, 3),
            "tb" | "ti" | "tib" => pow(1024, 4),
            "pb" | "pi" | "pib" => pow(1024, 5),
            "eb" | "ei" | "eib" => pow(1024, 6),
            _ => {
                return Err(self.plain_err(start, format!("invalid size suffix '{suffix}' in integer '{text}'")));
            }
        };
        let v = mult.and_then(|m| n.checked_mul(m)).ok_or_else(range_err)?;
        Ok((Value::Integer(v), start))
    }

    /// After digits and a `.` at `dot`.
    fn float_or_ip(&mut self, start: usize, dot: usize) -> Result<(Value, usize), ConfError> {
        let i = dot + 1;
        if !self.peek_at(i).is_some_and(|c| c.is_ascii_digit()) {
            return Err(
                self.unexpected(i, |got| format!("Floats must have a digit after the '.', but got {got} instead."))
            );
        }
        let mut i = self.digits_end(i);
        if self.peek_at(i) == Some(b'.') {
            // A second dot: an IP address (or version-like) string.
            while self.peek_at(i).is_some_and(|c| c.is_ascii_digit() || matches!(c, b'.' | b':' | b'-')) {
                i += 1;
            }
            self.pos = i;
            return Ok((Value::String(self.src.get(start..i).unwrap_or_default().to_string()), start));
        }
        self.pos = i;
        let text = self.src.get(start..i).unwrap_or_default();
        match text.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok((Value::Float(f), start)),
            _ => Err(self.plain_err(start, format!("float '{text}' is out of the range"))),
        }
    }

    /// `YYYY-MM-DDTHH:MM:SSZ`; the four year digits start at `start`.
    fn datetime(&mut self, start: usize) -> Result<(Value, usize), ConfError> {
        let mut i = start + 5;
        for want in "00-00T00:00:00Z".bytes() {
            let got = self.peek_at(i);
            let ok = if want == b'0' { got.is_some_and(|c| c.is_ascii_digit()) } else { got == Some(want) };
            if !ok {
                return Err(self.unexpected(i, |shown| {
                    if want == b'0' {
                        format!("Expected digit in ISO8601 datetime, but found {shown} instead.")
                    } else {
                        format!("Expected '{}' in ISO8601 datetime, but found {shown} instead.", want as char)
                    }
                }));
            }
            i += 1;
        }
        self.pos = i;
        let text = self.src.get(start..i).unwrap_or_default();
        if !valid_datetime(text.as_bytes()) {
            return Err(self.plain_err(start, format!("expected Zulu formatted DateTime, but got '{text}'")));
        }
        Ok((Value::DateTime(text.to_string()), start))
    }
}

/// Checks the ranges of an already well-shaped `YYYY-MM-DDTHH:MM:SSZ`.
fn valid_datetime(t: &[u8]) -> bool {
    let num = |a: usize, b: usize| -> Option<u32> {
        t.get(a..b)?.iter().try_fold(0u32, |acc, &c| c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0')))
    };
    let (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(s)) =
        (num(0, 4), num(5, 7), num(8, 10), num(11, 13), num(14, 16), num(17, 19))
    else {
        return false;
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match mo {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d) && h < 24 && mi < 60 && s < 60
}

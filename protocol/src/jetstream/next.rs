//! The body of a pull request (`$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>`)
//! read as Go reads it: empty, an integer batch, or a JSON object whose
//! decoding errors are quoted back in a `400 Bad Request - <error>` status
//! with the texts of Go's `encoding/json`.

use crate::json::{self, Value};

/// A decoded pull request; durations in nanoseconds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NextRequest {
    pub expires: i64,
    pub batch: i64,
    pub max_bytes: i64,
    pub no_wait: bool,
    pub heartbeat: i64,
    pub group: String,
    pub min_pending: i64,
    pub min_ack_pending: i64,
    pub id: String,
    pub priority: i64,
    /// Whether the body was JSON (Go then carries a priority group).
    pub json: bool,
}

/// Reads a pull request body; the error is Go's decoder text.
pub fn parse(body: &[u8]) -> Result<NextRequest, String> {
    let t = body.trim_ascii();
    let mut r = NextRequest { batch: 1, ..NextRequest::default() };
    if t.is_empty() {
        return Ok(r);
    }
    if t[0] != b'{' {
        // `strconv.Atoi`; anything else is a batch of one.
        if let Some(n) = atoi(t) {
            r.batch = n;
        }
        return Ok(r);
    }
    if let Some(e) = syntax_error(t) {
        return Err(e);
    }
    let Ok(Value::Object(fields)) = json::parse(t) else {
        return Err("unexpected end of JSON input".into());
    };
    r.batch = 0;
    r.json = true;
    let mut first: Option<String> = None;
    for (k, v) in &fields {
        let Some((name, kind)) = FIELDS.iter().find(|(n, _)| n.eq_ignore_ascii_case(k)) else { continue };
        if let Err(e) = r.set(name, *kind, v) {
            first.get_or_insert(e);
        }
    }
    match first {
        Some(e) => Err(e),
        None => Ok(r),
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Int,
    Int64,
    Duration,
    Bool,
    Str,
}

const FIELDS: &[(&str, Kind)] = &[
    ("expires", Kind::Duration),
    ("batch", Kind::Int),
    ("max_bytes", Kind::Int),
    ("no_wait", Kind::Bool),
    ("idle_heartbeat", Kind::Duration),
    ("group", Kind::Str),
    ("min_pending", Kind::Int64),
    ("min_ack_pending", Kind::Int64),
    ("id", Kind::Str),
    ("priority", Kind::Int),
];

impl NextRequest {
    fn set(&mut self, name: &str, kind: Kind, v: &Value) -> Result<(), String> {
        if *v == Value::Null {
            return Ok(());
        }
        let go_type = match kind {
            Kind::Int => "int",
            Kind::Int64 => "int64",
            Kind::Duration => "time.Duration",
            Kind::Bool => "bool",
            Kind::Str => "string",
        };
        let wrong =
            |what: String| Err(format!("json: cannot unmarshal {what} into Go struct field .{name} of type {go_type}"));
        match (kind, v) {
            (Kind::Bool, Value::Bool(b)) => self.no_wait = *b,
            (Kind::Str, Value::String(s)) => {
                if name == "group" {
                    self.group = s.clone();
                } else {
                    self.id = s.clone();
                }
            }
            (Kind::Int | Kind::Int64 | Kind::Duration, Value::Integer(n)) => match name {
                "expires" => self.expires = *n,
                "batch" => self.batch = *n,
                "max_bytes" => self.max_bytes = *n,
                "idle_heartbeat" => self.heartbeat = *n,
                "min_pending" => self.min_pending = *n,
                "min_ack_pending" => self.min_ack_pending = *n,
                _ => self.priority = *n,
            },
            (Kind::Int | Kind::Int64 | Kind::Duration, Value::Number(n)) => return wrong(format!("number {n}")),
            (_, Value::String(_)) => return wrong("string".into()),
            (_, Value::Bool(_)) => return wrong("bool".into()),
            (_, Value::Array(_)) => return wrong("array".into()),
            (_, Value::Object(_)) => return wrong("object".into()),
            (_, Value::Integer(_) | Value::Number(_)) => return wrong("number".into()),
            (_, Value::Null) => {}
        }
        Ok(())
    }
}

/// `strconv.Atoi`: an optional sign and decimal digits that fit.
fn atoi(t: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(t).ok()?;
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Go's text for a byte in a syntax error.
fn quote_char(c: u8) -> String {
    match c {
        b'\'' => "'\\''".into(),
        b'"' => "'\"'".into(),
        b'\n' => "'\\n'".into(),
        b'\r' => "'\\r'".into(),
        b'\t' => "'\\t'".into(),
        0x07 => "'\\a'".into(),
        0x08 => "'\\b'".into(),
        0x0c => "'\\f'".into(),
        0x0b => "'\\v'".into(),
        b'\\' => "'\\\\'".into(),
        0x20..=0x7e => format!("'{}'", c as char),
        0x00..=0x1f | 0x7f => format!("'\\x{c:02x}'"),
        _ => {
            // Go quotes the byte as the code point U+00XX.
            let ch = char::from(c);
            if c < 0xa0 || c == 0xad {
                format!("'\\u{:04x}'", c)
            } else {
                format!("'{ch}'")
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Ctx {
    ObjectKey,
    ObjectValue,
    ArrayValue,
}

#[derive(Clone, Copy, PartialEq)]
enum St {
    BeginValue,
    BeginValueOrEmpty,
    BeginStringOrEmpty,
    BeginString,
    EndValue,
    EndTop,
    InString,
    InStringEsc,
    InStringEscU(u8),
    Neg,
    One,
    Zero,
    Dot,
    Dot0,
    E,
    ESign,
    E0,
    /// Inside a literal: the rest still expected.
    Lit(&'static [u8], &'static str),
}

/// The first syntax error Go's scanner reports for `input`, in its words.
pub fn syntax_error(input: &[u8]) -> Option<String> {
    let mut stack: Vec<Ctx> = Vec::new();
    let mut st = St::BeginValue;
    for &c in input {
        match step(&mut st, &mut stack, c) {
            Ok(()) => {}
            Err(e) => return Some(e),
        }
    }
    if st == St::EndTop {
        return None;
    }
    // A number at the top level ends with the input.
    let mut probe = st;
    if step(&mut probe, &mut stack, b' ').is_ok() && probe == St::EndTop {
        return None;
    }
    Some("unexpected end of JSON input".into())
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

fn err(c: u8, context: &str) -> Result<(), String> {
    Err(format!("invalid character {} {context}", quote_char(c)))
}

fn step(st: &mut St, stack: &mut Vec<Ctx>, c: u8) -> Result<(), String> {
    match *st {
        St::BeginValueOrEmpty => {
            if is_space(c) {
                return Ok(());
            }
            if c == b']' {
                return end_value(st, stack, c);
            }
            *st = St::BeginValue;
            step(st, stack, c)
        }
        St::BeginValue => {
            if is_space(c) {
                return Ok(());
            }
            match c {
                b'{' => {
                    stack.push(Ctx::ObjectKey);
                    *st = St::BeginStringOrEmpty;
                }
                b'[' => {
                    stack.push(Ctx::ArrayValue);
                    *st = St::BeginValueOrEmpty;
                }
                b'"' => *st = St::InString,
                b'-' => *st = St::Neg,
                b'0' => *st = St::Zero,
                b'1'..=b'9' => *st = St::One,
                b't' => *st = St::Lit(b"rue", "true"),
                b'f' => *st = St::Lit(b"alse", "false"),
                b'n' => *st = St::Lit(b"ull", "null"),
                _ => return err(c, "looking for beginning of value"),
            }
            Ok(())
        }
        St::BeginStringOrEmpty => {
            if is_space(c) {
                return Ok(());
            }
            if c == b'}' {
                if let Some(top) = stack.last_mut() {
                    *top = Ctx::ObjectValue;
                }
                return end_value(st, stack, c);
            }
            *st = St::BeginString;
            step(st, stack, c)
        }
        St::BeginString => {
            if is_space(c) {
                return Ok(());
            }
            if c == b'"' {
                *st = St::InString;
                return Ok(());
            }
            err(c, "looking for beginning of object key string")
        }
        St::EndValue => end_value(st, stack, c),
        St::EndTop => {
            if is_space(c) {
                Ok(())
            } else {
                err(c, "after top-level value")
            }
        }
        St::InString => {
            match c {
                b'"' => *st = St::EndValue,
                b'\\' => *st = St::InStringEsc,
                0..=0x1f => return err(c, "in string literal"),
                _ => {}
            }
            Ok(())
        }
        St::InStringEsc => {
            match c {
                b'b' | b'f' | b'n' | b'r' | b't' | b'\\' | b'/' | b'"' => *st = St::InString,
                b'u' => *st = St::InStringEscU(0),
                _ => return err(c, "in string escape code"),
            }
            Ok(())
        }
        St::InStringEscU(n) => {
            if !c.is_ascii_hexdigit() {
                return err(c, "in \\u hexadecimal character escape");
            }
            *st = if n == 3 { St::InString } else { St::InStringEscU(n + 1) };
            Ok(())
        }
        St::Neg => {
            match c {
                b'0' => *st = St::Zero,
                b'1'..=b'9' => *st = St::One,
                _ => return err(c, "in numeric literal"),
            }
            Ok(())
        }
        St::One => {
            if c.is_ascii_digit() {
                return Ok(());
            }
            *st = St::Zero;
            step(st, stack, c)
        }
        St::Zero => match c {
            b'.' => {
                *st = St::Dot;
                Ok(())
            }
            b'e' | b'E' => {
                *st = St::E;
                Ok(())
            }
            _ => end_value(st, stack, c),
        },
        St::Dot => {
            if c.is_ascii_digit() {
                *st = St::Dot0;
                return Ok(());
            }
            err(c, "after decimal point in numeric literal")
        }
        St::Dot0 => match c {
            b'0'..=b'9' => Ok(()),
            b'e' | b'E' => {
                *st = St::E;
                Ok(())
            }
            _ => end_value(st, stack, c),
        },
        St::E => {
            if c == b'+' || c == b'-' {
                *st = St::ESign;
                return Ok(());
            }
            *st = St::ESign;
            step(st, stack, c)
        }
        St::ESign => {
            if c.is_ascii_digit() {
                *st = St::E0;
                return Ok(());
            }
            err(c, "in exponent of numeric literal")
        }
        St::E0 => {
            if c.is_ascii_digit() {
                return Ok(());
            }
            end_value(st, stack, c)
        }
        St::Lit(rest, word) => {
            if c != rest[0] {
                return err(c, &format!("in literal {word} (expecting '{}')", rest[0] as char));
            }
            *st = if rest.len() == 1 { St::EndValue } else { St::Lit(&rest[1..], word) };
            Ok(())
        }
    }
}

/// After a value: what its container expects next.
fn end_value(st: &mut St, stack: &mut Vec<Ctx>, c: u8) -> Result<(), String> {
    let Some(top) = stack.last().copied() else {
        *st = St::EndTop;
        return step(st, stack, c);
    };
    if is_space(c) {
        *st = St::EndValue;
        return Ok(());
    }
    match top {
        Ctx::ObjectKey => {
            if c == b':' {
                if let Some(t) = stack.last_mut() {
                    *t = Ctx::ObjectValue;
                }
                *st = St::BeginValue;
                return Ok(());
            }
            err(c, "after object key")
        }
        Ctx::ObjectValue => match c {
            b',' => {
                if let Some(t) = stack.last_mut() {
                    *t = Ctx::ObjectKey;
                }
                *st = St::BeginString;
                Ok(())
            }
            b'}' => {
                stack.pop();
                *st = St::EndValue;
                if stack.is_empty() {
                    *st = St::EndTop;
                }
                Ok(())
            }
            _ => err(c, "after object key:value pair"),
        },
        Ctx::ArrayValue => match c {
            b',' => {
                *st = St::BeginValue;
                Ok(())
            }
            b']' => {
                stack.pop();
                *st = St::EndValue;
                if stack.is_empty() {
                    *st = St::EndTop;
                }
                Ok(())
            }
            _ => err(c, "after array element"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_errors_in_go_words() {
        assert_eq!(syntax_error(b"{}"), None);
        assert_eq!(syntax_error(b"{\"a\":[1,2.5e3,true,null,\"x\\u00e9\"]} "), None);
        assert_eq!(syntax_error(b"12"), None);
        assert_eq!(
            syntax_error(b"{bad").as_deref(),
            Some("invalid character 'b' looking for beginning of object key string")
        );
        assert_eq!(syntax_error(b"{\"a\"").as_deref(), Some("unexpected end of JSON input"));
        assert_eq!(syntax_error(b"{\"a\" 1}").as_deref(), Some("invalid character '1' after object key"));
        assert_eq!(
            syntax_error(b"{\"a\":1 \"b\"}").as_deref(),
            Some("invalid character '\"' after object key:value pair")
        );
        assert_eq!(
            syntax_error(b"{\"a\":tru}").as_deref(),
            Some("invalid character '}' in literal true (expecting 'e')")
        );
        assert_eq!(syntax_error(b"{}x").as_deref(), Some("invalid character 'x' after top-level value"));
        assert_eq!(syntax_error(b"{\"a\":-}").as_deref(), Some("invalid character '}' in numeric literal"));
        assert_eq!(syntax_error(b"{\"a\":[1 2]}").as_deref(), Some("invalid character '2' after array element"));
        assert_eq!(syntax_error(b"{\"a\":\"\n\"}").as_deref(), Some("invalid character '\\n' in string literal"));
    }

    #[test]
    fn typed_fields_in_go_words() {
        assert_eq!(parse(b"").map(|r| r.batch), Ok(1));
        assert_eq!(parse(b" 7 ").map(|r| r.batch), Ok(7));
        assert_eq!(parse(b"abc").map(|r| r.batch), Ok(1));
        let r = parse(br#"{"batch":3,"no_wait":true,"expires":5000}"#).unwrap();
        assert_eq!((r.batch, r.no_wait, r.expires), (3, true, 5000));
        assert_eq!(
            parse(br#"{"batch":"2"}"#),
            Err("json: cannot unmarshal string into Go struct field .batch of type int".into())
        );
        assert_eq!(
            parse(br#"{"batch":1,"no_wait":1}"#),
            Err("json: cannot unmarshal number into Go struct field .no_wait of type bool".into())
        );
        assert_eq!(
            parse(br#"{"expires":1.5}"#),
            Err("json: cannot unmarshal number 1.5 into Go struct field .expires of type time.Duration".into())
        );
    }
}

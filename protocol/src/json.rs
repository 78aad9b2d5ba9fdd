//! A small JSON reader for CONNECT and INFO bodies, and string escaping for
//! the JSON the server writes.
//!
//! CONNECT and INFO arrive rarely (once per connection, or on topology
//! changes), so the reader builds a plain tree of owned values. It accepts
//! any valid JSON value, skips nothing silently (the caller ignores unknown
//! keys), caps nesting depth so hostile input cannot exhaust the stack, and
//! rejects trailing garbage.

use core::fmt;

/// A decoded JSON value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    /// A number written as an integer (no fraction or exponent) that fits
    /// an i64: what Go accepts for an integer field.
    Integer(i64),
    /// Any other number.
    Number(f64),
    String(String),
    Array(Vec<Value>),
    Object(Vec<(String, Value)>),
}

impl Value {
    /// The value stored under `key` if this is an object.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(fields) => fields.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Like [`Value::get`] with the key compared ASCII case-insensitively
    /// (how Go matches JSON keys to struct fields); the last match wins.
    pub fn get_ignore_case(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(fields) => fields.iter().rev().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Number(n) => Some(*n),
            Value::Integer(n) => Some(*n as f64),
            _ => None,
        }
    }

    /// A non-negative integral number that fits in `i64`.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Integer(n) => Some(*n),
            Value::Number(n) if n.fract() == 0.0 && n.abs() < 9.0e15 => Some(*n as i64),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }
}

/// Why a JSON text was rejected, with the byte offset where it went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonError {
    pub offset: usize,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid JSON at byte {}", self.offset)
    }
}

impl std::error::Error for JsonError {}

const MAX_DEPTH: usize = 64;

/// Parses one JSON value that spans all of `input` (surrounding whitespace allowed).
pub fn parse(input: &[u8]) -> Result<Value, JsonError> {
    let mut r = Reader { b: input, i: 0 };
    let v = r.value(0)?;
    r.ws();
    if r.i != input.len() {
        return Err(r.err());
    }
    Ok(v)
}

struct Reader<'a> {
    b: &'a [u8],
    i: usize,
}

impl Reader<'_> {
    fn err(&self) -> JsonError {
        JsonError { offset: self.i }
    }

    fn ws(&mut self) {
        while let Some(&c) = self.b.get(self.i) {
            if c == b' ' || c == b'\t' || c == b'\n' || c == b'\r' {
                self.i += 1;
            } else {
                break;
            }
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.b.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn lit(&mut self, word: &[u8], v: Value) -> Result<Value, JsonError> {
        if self.b.get(self.i..self.i + word.len()) == Some(word) {
            self.i += word.len();
            Ok(v)
        } else {
            Err(self.err())
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, JsonError> {
        if depth > MAX_DEPTH {
            return Err(self.err());
        }
        self.ws();
        match self.b.get(self.i) {
            Some(b'{') => {
                let mut fields = Vec::new();
                self.elements(b'}', |r| {
                    r.ws();
                    let k = r.string()?;
                    r.ws();
                    if !r.eat(b':') {
                        return Err(r.err());
                    }
                    fields.push((k, r.value(depth + 1)?));
                    Ok(())
                })?;
                Ok(Value::Object(fields))
            }
            Some(b'[') => {
                let mut items = Vec::new();
                self.elements(b']', |r| {
                    items.push(r.value(depth + 1)?);
                    Ok(())
                })?;
                Ok(Value::Array(items))
            }
            Some(b'"') => Ok(Value::String(self.string()?)),
            Some(b't') => self.lit(b"true", Value::Bool(true)),
            Some(b'f') => self.lit(b"false", Value::Bool(false)),
            Some(b'n') => self.lit(b"null", Value::Null),
            Some(c) if *c == b'-' || c.is_ascii_digit() => self.number(),
            _ => Err(self.err()),
        }
    }

    /// The members of an object or the elements of an array, from its
    /// opening bracket (at `self.i`) through `close`: `element` reads one,
    /// and commas separate them.
    fn elements(
        &mut self,
        close: u8,
        mut element: impl FnMut(&mut Self) -> Result<(), JsonError>,
    ) -> Result<(), JsonError> {
        self.i += 1;
        self.ws();
        if self.eat(close) {
            return Ok(());
        }
        loop {
            element(self)?;
            self.ws();
            if self.eat(b',') {
                continue;
            }
            if self.eat(close) {
                return Ok(());
            }
            return Err(self.err());
        }
    }

    fn number(&mut self) -> Result<Value, JsonError> {
        let start = self.i;
        self.eat(b'-');
        let digits = |r: &mut Self| {
            let s = r.i;
            while r.b.get(r.i).is_some_and(|c| c.is_ascii_digit()) {
                r.i += 1;
            }
            r.i > s
        };
        let int_start = self.i;
        if !digits(self) {
            return Err(self.err());
        }
        // JSON has no leading zeros (`01`), and Go's decoder refuses them.
        if self.b[int_start] == b'0' && self.i - int_start > 1 {
            return Err(JsonError { offset: int_start });
        }
        let int_end = self.i;
        if self.eat(b'.') && !digits(self) {
            return Err(self.err());
        }
        if self.b.get(self.i).is_some_and(|c| *c == b'e' || *c == b'E') {
            self.i += 1;
            if !self.eat(b'+') {
                self.eat(b'-');
            }
            if !digits(self) {
                return Err(self.err());
            }
        }
        let text = core::str::from_utf8(&self.b[start..self.i]).map_err(|_| self.err())?;
        if int_end == self.i {
            if let Ok(n) = text.parse::<i64>() {
                return Ok(Value::Integer(n));
            }
        }
        // Out-of-range numbers (1e999) are rejected, as Go's decoder does,
        // rather than becoming an infinity that cannot be written back.
        match text.parse::<f64>() {
            Ok(n) if n.is_finite() => Ok(Value::Number(n)),
            _ => Err(JsonError { offset: start }),
        }
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let mut v = 0u32;
        for _ in 0..4 {
            let c = *self.b.get(self.i).ok_or(self.err())?;
            let d = (c as char).to_digit(16).ok_or(self.err())?;
            v = v * 16 + d;
            self.i += 1;
        }
        Ok(v)
    }

    fn string(&mut self) -> Result<String, JsonError> {
        if !self.eat(b'"') {
            return Err(self.err());
        }
        let mut out: Vec<u8> = Vec::new();
        loop {
            let c = *self.b.get(self.i).ok_or(self.err())?;
            self.i += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let e = *self.b.get(self.i).ok_or(self.err())?;
                    self.i += 1;
                    match e {
                        b'"' => out.push(b'"'),
                        b'\\' => out.push(b'\\'),
                        b'/' => out.push(b'/'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let mut cp = self.hex4()?;
                            if (0xD800..0xDC00).contains(&cp) && self.b.get(self.i..self.i + 2) == Some(b"\\u") {
                                let pair_at = self.i;
                                self.i += 2;
                                let lo = self.hex4()?;
                                if (0xDC00..0xE000).contains(&lo) {
                                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                                } else {
                                    // Not a pair: the lone half becomes U+FFFD below and
                                    // the next escape is read on its own (as Go does).
                                    self.i = pair_at;
                                }
                            }
                            let ch = char::from_u32(cp).unwrap_or('\u{FFFD}');
                            let mut tmp = [0u8; 4];
                            out.extend_from_slice(ch.encode_utf8(&mut tmp).as_bytes());
                        }
                        _ => return Err(self.err()),
                    }
                }
                c if c < 0x20 => return Err(self.err()),
                c => out.push(c),
            }
        }
        String::from_utf8(out).map_err(|_| self.err())
    }
}

/// Appends `s` as a JSON string literal, escaping like Go's encoder does by
/// default (`<`, `>` and `&` included), so output matches the Go server.
pub fn write_str(out: &mut Vec<u8>, s: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    for &c in s {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            c if c < 0x20 || c == b'<' || c == b'>' || c == b'&' => {
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(c >> 4) as usize]);
                out.push(HEX[(c & 15) as usize]);
            }
            c => out.push(c),
        }
    }
    out.push(b'"');
}

/// Appends `v` as compact JSON (object keys in their stored order).
pub fn write_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Integer(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::Number(n) => {
            if n.fract() == 0.0 && n.abs() < 9.0e15 {
                out.extend_from_slice((*n as i64).to_string().as_bytes());
            } else {
                out.extend_from_slice(n.to_string().as_bytes());
            }
        }
        Value::String(s) => write_str(out, s.as_bytes()),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item);
            }
            out.push(b']');
        }
        Value::Object(fields) => {
            out.push(b'{');
            for (i, (k, item)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(out, k.as_bytes());
                out.push(b':');
                write_value(out, item);
            }
            out.push(b'}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_like() {
        let v = parse(
            br#" {"verbose":false,"pedantic":true,"name":"a\"b\u00e9","protocol":1,"x":[1,{"y":null}],"f":-1.5e2} "#,
        )
        .unwrap();
        assert_eq!(v.get("verbose").and_then(Value::as_bool), Some(false));
        assert_eq!(v.get("pedantic").and_then(Value::as_bool), Some(true));
        assert_eq!(v.get("name").and_then(Value::as_str), Some("a\"bé"));
        assert_eq!(v.get("protocol").and_then(Value::as_i64), Some(1));
        assert_eq!(v.get("f").and_then(Value::as_f64), Some(-150.0));
        assert!(v.get("missing").is_none());
    }

    #[test]
    fn rejects() {
        for bad in [&b""[..], b"{", b"{\"a\"}", b"{\"a\":1,}", b"[1 2]", b"{} x", b"\"\x01\"", b"01x", b"tru"] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        let deep = vec![b'['; 10_000];
        assert!(parse(&deep).is_err());
    }

    /// Found by the json fuzz target: an out-of-range number parsed as an
    /// infinity, which `write_value` wrote as `inf`.
    #[test]
    fn out_of_range_numbers() {
        assert_eq!(parse(b" 1e999 "), Err(JsonError { offset: 1 }));
        assert_eq!(parse(b"[-1e400]"), Err(JsonError { offset: 1 }));
        assert_eq!(parse(b"1e308"), Ok(Value::Number(1e308)));
        assert!(parse(b"01").is_err() && parse(b"-01").is_err() && parse(b"[00]").is_err());
        assert_eq!(parse(b"0"), Ok(Value::Integer(0)));
        assert_eq!(parse(b"-0.5"), Ok(Value::Number(-0.5)));
        assert_eq!(parse(b"1.0"), Ok(Value::Number(1.0)));
        assert_eq!(parse(b"1e-400"), Ok(Value::Number(0.0)));
    }

    /// Found by the json fuzz target: a high surrogate followed by an
    /// escape that is not a low surrogate swallowed that escape.
    #[test]
    fn unpaired_surrogates() {
        let input = b"\"\\ud83d\\ud1e999e00 gggga\\u004cbgggggggggggggggggggggggggg%ggggggggggggggggg\\r\\t\"";
        let want = "\u{fffd}\u{d1e9}99e00 ggggaLbgggggggggggggggggggggggggg%ggggggggggggggggg\r\t";
        assert_eq!(parse(input), Ok(Value::String(want.into())));
        assert_eq!(parse(br#""\ud800\u0041""#), Ok(Value::String("\u{fffd}A".into())));
        assert_eq!(parse(br#""\ud800\ud800\udc00""#), Ok(Value::String("\u{fffd}\u{10000}".into())));
        assert_eq!(parse(br#""\udc00x""#), Ok(Value::String("\u{fffd}x".into())));
        assert!(parse(br#""\ud800\uzzzz""#).is_err());
    }

    #[test]
    fn value_round_trip() {
        let text = br#"{"a":[1,-2.5,true,null,"x"],"b":{"c":"d"},"e":{}}"#;
        let v = parse(text).unwrap();
        let mut out = Vec::new();
        write_value(&mut out, &v);
        assert_eq!(out, text.to_vec());
    }

    #[test]
    fn write_round_trip() {
        let mut out = Vec::new();
        write_str(&mut out, b"a<b>&\"\\\n\x01");
        assert_eq!(out, br#""a\u003cb\u003e\u0026\"\\\n\u0001""#.to_vec());
        assert_eq!(parse(&out).unwrap(), Value::String("a<b>&\"\\\n\x01".into()));
    }
}

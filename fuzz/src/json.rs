//! The JSON reader and writer (CONNECT and INFO bodies).
//!
//! Input: the JSON text. A value that parses must come back equal after
//! `write_value` and a second parse, and the written form must be a fixed
//! point. Text that is a single string literal is also decoded by an
//! independent reference here (JSON's grammar with Go's replacement of
//! invalid surrogates by U+FFFD), and both must agree. Finally the input,
//! read as UTF-8, goes through `write_str` and must parse back unchanged.

use rnats_protocol::json::{parse, write_str, write_value, Value};

pub fn check(data: &[u8]) {
    match parse(data) {
        Ok(v) => {
            assert!(depth(&v) <= 65, "nesting beyond the cap was accepted");
            let mut once = Vec::new();
            write_value(&mut once, &v);
            let again = parse(&once)
                .unwrap_or_else(|e| panic!("written JSON {:?} does not parse: {e}", String::from_utf8_lossy(&once)));
            assert!(same(&v, &again), "value changed through write_value: {v:?} became {again:?}");
            let mut twice = Vec::new();
            write_value(&mut twice, &again);
            assert_eq!(once, twice, "write_value is not a fixed point");
            if let Value::Object(fields) = &v {
                for (k, _) in fields {
                    assert!(v.get(k).is_some());
                }
            }
        }
        Err(e) => assert!(e.offset <= data.len(), "error offset {} past the input", e.offset),
    }
    let trimmed = trim_json_space(data);
    if trimmed.first() == Some(&b'"') {
        let ours = parse(data).ok();
        let reference = reference_string(trimmed).map(Value::String);
        assert_eq!(ours, reference, "string literal decoded differently from the reference");
    }
    let text = String::from_utf8_lossy(data);
    let mut quoted = Vec::new();
    write_str(&mut quoted, text.as_bytes());
    assert_eq!(parse(&quoted), Ok(Value::String(text.into_owned())), "write_str output did not parse back");
}

fn trim_json_space(mut b: &[u8]) -> &[u8] {
    let ws = |c: &u8| matches!(c, b' ' | b'\t' | b'\n' | b'\r');
    while b.first().is_some_and(ws) {
        b = &b[1..];
    }
    while b.last().is_some_and(ws) {
        b = &b[..b.len() - 1];
    }
    b
}

fn depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        Value::Object(o) => 1 + o.iter().map(|(_, v)| depth(v)).max().unwrap_or(0),
        _ => 0,
    }
}

/// Equality where numbers compare by value and NaN never appears.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(_) | Value::Integer(_), Value::Number(_) | Value::Integer(_)) => a.as_f64() == b.as_f64(),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|((ka, va), (kb, vb))| ka == kb && same(va, vb))
        }
        _ => a == b,
    }
}

/// Decodes `lit`, which must be exactly one JSON string literal.
fn reference_string(lit: &[u8]) -> Option<String> {
    let body = lit.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
    let mut units: Vec<u16> = Vec::new();
    let mut raw: Vec<u8> = Vec::new();
    let mut out = String::new();
    // Raw bytes and \u units are collected separately and flushed in order.
    fn flush_units(units: &mut Vec<u16>, out: &mut String) {
        for r in char::decode_utf16(units.drain(..)) {
            out.push(r.unwrap_or('\u{fffd}'));
        }
    }
    let mut i = 0;
    while i < body.len() {
        let c = body[i];
        match c {
            b'"' => return None,
            b'\\' => {
                out.push_str(core::str::from_utf8(&raw).ok()?);
                raw.clear();
                let e = *body.get(i + 1)?;
                if e == b'u' {
                    let hex = core::str::from_utf8(body.get(i + 2..i + 6)?).ok()?;
                    if !hex.bytes().all(|h| h.is_ascii_hexdigit()) {
                        return None;
                    }
                    units.push(u16::from_str_radix(hex, 16).ok()?);
                    i += 6;
                    continue;
                }
                flush_units(&mut units, &mut out);
                out.push(match e {
                    b'"' => '"',
                    b'\\' => '\\',
                    b'/' => '/',
                    b'b' => '\u{8}',
                    b'f' => '\u{c}',
                    b'n' => '\n',
                    b'r' => '\r',
                    b't' => '\t',
                    _ => return None,
                });
                i += 2;
            }
            c if c < 0x20 => return None,
            c => {
                flush_units(&mut units, &mut out);
                raw.push(c);
                i += 1;
            }
        }
    }
    flush_units(&mut units, &mut out);
    out.push_str(core::str::from_utf8(&raw).ok()?);
    Some(out)
}

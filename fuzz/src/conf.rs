//! The configuration file reader.
//!
//! Input: the configuration text (invalid UTF-8 replaced). It is parsed
//! with an environment whose includes fail and with one whose includes
//! return a small fixed list; both share a fixed table of environment
//! variables, cycles included. Parsing must not panic, must be
//! deterministic, must place errors inside the text, and a parsed document
//! written back as configuration text must parse to the same values.

use rnats_protocol::conf::{parse, ConfError, Env, Item, Parsed, Value};

pub fn check(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let failing = parse(&text, &mut TestEnv { includes: false });
    let fixed = parse(&text, &mut TestEnv { includes: true });
    assert_eq!(failing, parse(&text, &mut TestEnv { includes: false }), "parsing is not deterministic");
    let lines = text.bytes().filter(|c| *c == b'\n').count() + 1;
    for r in [&failing, &fixed] {
        match r {
            Ok(p) => {
                for (_, item) in &p.entries {
                    positions(item);
                }
                round_trip(p);
            }
            Err(e) => located(e, lines, text.len()),
        }
    }
}

fn located(e: &ConfError, lines: usize, len: usize) {
    assert!(e.line >= 1 && e.line as usize <= lines, "error line {} outside 1..={lines}: {}", e.line, e.msg);
    assert!(e.col as usize <= len, "error column {} past the text: {}", e.col, e.msg);
    assert!(!e.msg.is_empty());
}

fn positions(item: &Item) {
    assert!(item.line >= 1, "line 0 in {item:?}");
    match &item.value {
        Value::Array(a) => a.iter().for_each(positions),
        Value::Map(m) => m.iter().for_each(|(_, i)| positions(i)),
        _ => {}
    }
}

struct TestEnv {
    includes: bool,
}

impl Env for TestEnv {
    fn var(&self, name: &str) -> Option<String> {
        let v = match name {
            "A" => "1",
            "B" => "[1, $A ]",
            "C" => "{a: $B, b: \"x\"}",
            "D" => "2016-05-04T18:53:41Z",
            "E" => "",
            "F" => "1.5",
            "K" => "64kb",
            "L" => "$L",
            "M" => "$N",
            "N" => "$M",
            "Q" => "'quoted'",
            "S" => "some string",
            "X" => "(\nblock\n)",
            "Y" => "yes",
            "Z" => "{",
            _ => return None,
        };
        Some(v.to_string())
    }

    fn include(&mut self, path: &str) -> Result<Vec<(String, Item)>, String> {
        if !self.includes || path.is_empty() {
            return Err(format!("open {path}: no such file or directory"));
        }
        let item = |value| Item { value, line: 1, col: 0 };
        Ok(vec![
            ("included".to_string(), item(Value::Integer(path.len() as i64))),
            ("A".to_string(), item(Value::String(path.to_string()))),
            ("list".to_string(), item(Value::Array(vec![item(Value::Bool(true))]))),
        ])
    }
}

/// Writes the document back as configuration text, parses it and compares
/// values (positions aside). Skipped when a value was copied from another
/// key, which may nest deeper than the text that referred to it.
fn round_trip(p: &Parsed) {
    if !p.used_vars.is_empty() {
        return;
    }
    let mut out = String::new();
    for (k, item) in &p.entries {
        if !write_key(&mut out, k) {
            return;
        }
        out.push_str(": ");
        if !write_value(&mut out, &item.value) {
            return;
        }
        out.push('\n');
    }
    let again = match parse(&out, &mut TestEnv { includes: false }) {
        Ok(a) => a,
        Err(e) => panic!("written configuration {out:?} does not parse: {}", e.msg),
    };
    assert!(
        same_entries(&p.entries, &again.entries),
        "values changed through {out:?}: {:?} became {:?}",
        p.entries,
        again.entries
    );
}

/// A quoted key; false when the key holds both quote characters.
fn write_key(out: &mut String, k: &str) -> bool {
    let q = if !k.contains('"') {
        '"'
    } else if !k.contains('\'') {
        '\''
    } else {
        return false;
    };
    out.push(q);
    out.push_str(k);
    out.push(q);
    true
}

fn write_value(out: &mut String, v: &Value) -> bool {
    match v {
        Value::String(s) => {
            out.push('"');
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c => out.push(c),
                }
            }
            out.push('"');
        }
        Value::Integer(i) => out.push_str(&i.to_string()),
        Value::Float(f) => {
            assert!(f.is_finite(), "a non-finite float was accepted");
            let s = f.to_string();
            out.push_str(&s);
            if !s.contains('.') {
                out.push_str(".0");
            }
        }
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::DateTime(d) => out.push_str(d),
        Value::Array(items) => {
            out.push('[');
            for (n, item) in items.iter().enumerate() {
                if n > 0 {
                    out.push_str(", ");
                }
                if !write_value(out, &item.value) {
                    return false;
                }
            }
            out.push(']');
        }
        Value::Map(entries) => {
            out.push('{');
            for (n, (k, item)) in entries.iter().enumerate() {
                if n > 0 {
                    out.push_str(", ");
                }
                if !write_key(out, k) {
                    return false;
                }
                out.push_str(": ");
                if !write_value(out, &item.value) {
                    return false;
                }
            }
            out.push('}');
        }
    }
    true
}

fn same_entries(a: &[(String, Item)], b: &[(String, Item)]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|((ka, ia), (kb, ib))| ka == kb && same(&ia.value, &ib.value))
}

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(&a.value, &b.value))
        }
        (Value::Map(x), Value::Map(y)) => same_entries(x, y),
        _ => a == b,
    }
}

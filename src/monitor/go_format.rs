//! Go's formats for the monitoring endpoints: pretty JSON in the layout of
//! `json.MarshalIndent(v, "", "  ")` (or any other [`Document`] sink, such
//! as the Prometheus samples of `/metrics`). Times, uptimes and durations
//! as Go prints them are in `rnats_protocol::gotime`.

use std::time::SystemTime;

use rnats_protocol::gotime::rfc3339;
use rnats_protocol::json::write_str;

/// Pretty JSON in the layout of Go's `MarshalIndent(v, "", "  ")`.
pub struct JsonOut {
    pub buf: Vec<u8>,
    depth: usize,
    first: bool,
}

impl JsonOut {
    pub fn new() -> Self {
        JsonOut { buf: Vec::with_capacity(2048), depth: 0, first: true }
    }

    fn newline(&mut self) {
        self.buf.push(b'\n');
        for _ in 0..self.depth {
            self.buf.extend_from_slice(b"  ");
        }
    }

    fn key(&mut self, k: &str) {
        if !self.first {
            self.buf.push(b',');
        }
        self.first = false;
        self.newline();
        write_str(&mut self.buf, k.as_bytes());
        self.buf.extend_from_slice(b": ");
    }

    pub fn open(&mut self, k: Option<&str>, brace: u8) {
        match k {
            Some(k) => self.key(k),
            // An element of an array (the document itself has depth 0).
            None if self.depth > 0 => {
                if !self.first {
                    self.buf.push(b',');
                }
                self.first = false;
                self.newline();
            }
            None => {}
        }
        self.buf.push(brace);
        self.depth += 1;
        self.first = true;
    }

    pub fn close(&mut self, brace: u8) {
        self.depth -= 1;
        if !self.first {
            self.newline();
        }
        self.buf.push(brace);
        self.first = false;
    }

    /// Ends a value whose text was appended whole after `open` (its
    /// opening brace removed): nothing more is written.
    #[cfg_attr(not(feature = "jetstream"), allow(dead_code))]
    pub fn close_raw(&mut self) {
        self.depth -= 1;
        self.first = false;
    }

    pub fn str(&mut self, k: &str, v: &str) {
        self.key(k);
        write_str(&mut self.buf, v.as_bytes());
    }

    pub fn num(&mut self, k: &str, v: impl std::fmt::Display) {
        self.key(k);
        self.buf.extend_from_slice(v.to_string().as_bytes());
    }

    pub fn bool(&mut self, k: &str, v: bool) {
        self.key(k);
        self.buf.extend_from_slice(if v { b"true" } else { b"false" });
    }

    /// An array element (string).
    pub fn item_str(&mut self, v: &str) {
        if !self.first {
            self.buf.push(b',');
        }
        self.first = false;
        self.newline();
        write_str(&mut self.buf, v.as_bytes());
    }

    pub fn empty_obj(&mut self, k: &str) {
        self.key(k);
        self.buf.extend_from_slice(b"{}");
    }
}

/// A monitoring document as it is written, field by field: [`JsonOut`]
/// makes Go's JSON of it, `crate::monitor::metrics` turns the same calls into
/// Prometheus samples. Keys are Go's JSON field names.
pub trait Document {
    /// Opens an object (`b'{'`) or array (`b'['`), keyed inside an object.
    fn open(&mut self, k: Option<&str>, brace: u8);
    fn close(&mut self, brace: u8);
    fn str(&mut self, k: &str, v: &str);
    /// A number, written as `v` displays.
    fn num(&mut self, k: &str, v: &dyn std::fmt::Display);
    fn bool(&mut self, k: &str, v: bool);
    /// A point in time (RFC 3339 text in the JSON).
    fn time(&mut self, k: &str, t: SystemTime);
    /// An array element (string).
    fn item_str(&mut self, v: &str);
    fn empty_obj(&mut self, k: &str);
}

impl Document for JsonOut {
    fn open(&mut self, k: Option<&str>, brace: u8) {
        JsonOut::open(self, k, brace)
    }
    fn close(&mut self, brace: u8) {
        JsonOut::close(self, brace)
    }
    fn str(&mut self, k: &str, v: &str) {
        JsonOut::str(self, k, v)
    }
    fn num(&mut self, k: &str, v: &dyn std::fmt::Display) {
        JsonOut::num(self, k, v)
    }
    fn bool(&mut self, k: &str, v: bool) {
        JsonOut::bool(self, k, v)
    }
    fn time(&mut self, k: &str, t: SystemTime) {
        JsonOut::str(self, k, &rfc3339(t))
    }
    fn item_str(&mut self, v: &str) {
        JsonOut::item_str(self, v)
    }
    fn empty_obj(&mut self, k: &str) {
        JsonOut::empty_obj(self, k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pretty_json_layout() {
        let mut j = JsonOut::new();
        j.open(None, b'{');
        j.str("a", "x<y");
        j.open(Some("m"), b'{');
        j.close(b'}');
        j.open(Some("l"), b'[');
        j.item_str("u");
        j.open(None, b'{');
        j.num("v", 2);
        j.close(b'}');
        j.close(b']');
        j.num("n", 1);
        j.close(b'}');
        assert_eq!(
            String::from_utf8(j.buf).unwrap(),
            "{\n  \"a\": \"x\\u003cy\",\n  \"m\": {},\n  \"l\": [\n    \"u\",\n    {\n      \"v\": 2\n    }\n  ],\n  \"n\": 1\n}"
        );
    }
}

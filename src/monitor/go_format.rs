//! Go's formats for the monitoring endpoints: pretty JSON in the layout of
//! `json.MarshalIndent(v, "", "  ")` (or any other [`Document`] sink, such
//! as the Prometheus samples of `/metrics`), RFC 3339 times, uptimes and
//! durations as Go prints them.

use std::fmt::Write as _;
use std::time::SystemTime;

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

/// RFC 3339 UTC time with nanoseconds, trailing zeros dropped, as Go prints.
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + if month <= 2 { 1 } else { 0 };
    let mut s = format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60);
    let nanos = d.subsec_nanos();
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

/// Go's uptime text: `8s`, `5m3s`, `2h0m4s`, `1d2h3m4s`, `1y2d3h4m5s`.
pub fn uptime(secs: u64) -> String {
    let (y, rest) = (secs / 31_536_000, secs % 31_536_000);
    let (d, rest) = (rest / 86400, rest % 86400);
    let (h, rest) = (rest / 3600, rest % 3600);
    let (m, s) = (rest / 60, rest % 60);
    let mut out = String::new();
    if y > 0 {
        let _ = write!(out, "{y}y{d}d{h}h{m}m{s}s");
    } else if d > 0 {
        let _ = write!(out, "{d}d{h}h{m}m{s}s");
    } else if h > 0 {
        let _ = write!(out, "{h}h{m}m{s}s");
    } else if m > 0 {
        let _ = write!(out, "{m}m{s}s");
    } else {
        let _ = write!(out, "{s}s");
    }
    out
}

/// Go's `time.Duration` text: `0s`, `850ns`, `412.5µs`, `1.25ms`, `3s`,
/// `2m0.5s`, `1h0m0s`.
pub fn go_duration(d: std::time::Duration) -> String {
    fn with_fraction(v: u128, unit: u128, suffix: &str) -> String {
        let (whole, rem) = (v / unit, v % unit);
        if rem == 0 {
            return format!("{whole}{suffix}");
        }
        let width = unit.ilog10() as usize;
        let frac = format!("{rem:0width$}");
        format!("{whole}.{}{suffix}", frac.trim_end_matches('0'))
    }
    let ns = d.as_nanos();
    match ns {
        0 => "0s".to_string(),
        1..=999 => format!("{ns}ns"),
        1_000..=999_999 => with_fraction(ns, 1_000, "µs"),
        1_000_000..=999_999_999 => with_fraction(ns, 1_000_000, "ms"),
        _ => {
            let secs = ns / 1_000_000_000;
            let (h, m) = (secs / 3600, secs % 3600 / 60);
            let s = with_fraction(ns % 60_000_000_000, 1_000_000_000, "s");
            if h > 0 {
                format!("{h}h{m}m{s}")
            } else if m > 0 {
                format!("{m}m{s}")
            } else {
                s
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_time_and_uptime_formats() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::new(1_795_623_615, 487_509_900);
        assert_eq!(rfc3339(t), "2026-11-25T16:20:15.4875099Z");
        assert_eq!(rfc3339(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(uptime(8), "8s");
        assert_eq!(uptime(303), "5m3s");
        assert_eq!(uptime(7204), "2h0m4s");
        assert_eq!(uptime(93784), "1d2h3m4s");
    }

    #[test]
    fn go_duration_format() {
        use std::time::Duration;
        assert_eq!(go_duration(Duration::ZERO), "0s");
        assert_eq!(go_duration(Duration::from_nanos(850)), "850ns");
        assert_eq!(go_duration(Duration::from_nanos(412_500)), "412.5µs");
        assert_eq!(go_duration(Duration::from_micros(412)), "412µs");
        assert_eq!(go_duration(Duration::from_nanos(1_250_000)), "1.25ms");
        assert_eq!(go_duration(Duration::from_nanos(1_000_001)), "1.000001ms");
        assert_eq!(go_duration(Duration::from_secs(3)), "3s");
        assert_eq!(go_duration(Duration::from_millis(120_500)), "2m0.5s");
        assert_eq!(go_duration(Duration::from_secs(3600)), "1h0m0s");
        assert_eq!(go_duration(Duration::from_secs(3723)), "1h2m3s");
    }

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

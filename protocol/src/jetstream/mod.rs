//! JetStream's pure parts: the stream and consumer configurations of API
//! requests (read, defaulted and checked as Go does, written back in Go's
//! order), API errors, times, and the store's record format. Every entry
//! point takes arbitrary input (the `jsapi` and `jsstore` fuzz targets).

pub mod config;
pub mod next;
pub mod record;

use crate::json::Value;

/// An API error as Go writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: u16,
    pub err_code: u16,
    pub description: String,
}

impl ApiError {
    pub fn new(code: u16, err_code: u16, description: &str) -> ApiError {
        ApiError { code, err_code, description: description.to_string() }
    }
    pub fn bad_json() -> ApiError {
        ApiError::new(400, 10025, "invalid JSON")
    }
    pub fn stream_not_found() -> ApiError {
        ApiError::new(404, 10059, "stream not found")
    }
    pub fn consumer_not_found() -> ApiError {
        ApiError::new(404, 10014, "consumer not found")
    }
    pub fn bad_request() -> ApiError {
        ApiError::new(400, 10003, "bad request")
    }
    pub fn to_value(&self) -> Value {
        let mut o = config::Obj::default();
        o.put("code", config::n(i64::from(self.code)));
        o.put("err_code", config::n(i64::from(self.err_code)));
        o.put("description", config::s(&self.description));
        o.done()
    }
}

/// Reads an RFC 3339 time (`2006-01-02T15:04:05.999999999Z07:00`) into
/// Unix nanoseconds.
pub fn parse_rfc3339(t: &str) -> Option<i64> {
    let b = t.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> { t.get(r)?.parse().ok() };
    let (y, mo, d, h, mi, s) = (num(0..4)?, num(5..7)?, num(8..10)?, num(11..13)?, num(14..16)?, num(17..19)?);
    let mut i = 19;
    let mut nanos = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let frac = &t[start..i];
        let mut digits = frac.chars().take(9).collect::<String>();
        while digits.len() < 9 {
            digits.push('0');
        }
        nanos = digits.parse().ok()?;
    }
    let offset = match b.get(i)? {
        b'Z' | b'z' => 0,
        b'+' | b'-' => {
            let sign = if b[i] == b'-' { -1 } else { 1 };
            let oh: i64 = t.get(i + 1..i + 3)?.parse().ok()?;
            let om: i64 = t.get(i + 4..i + 6)?.parse().ok()?;
            sign * (oh * 3600 + om * 60)
        }
        _ => return None,
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let (yy, mm) = if mo <= 2 { (y - 1, mo + 9) } else { (y, mo - 3) };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let doy = (153 * mm + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    let secs = days * 86400 + h * 3600 + mi * 60 + s - offset;
    secs.checked_mul(1_000_000_000)?.checked_add(nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_times() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:01Z"), Some(1_000_000_000));
        assert_eq!(parse_rfc3339("1970-01-01T00:00:01.5+01:00"), Some(-3_598_500_000_000));
        assert_eq!(parse_rfc3339("bad"), None);
        assert_eq!(parse_rfc3339("2026-12-06T20:06:14.610825228Z"), Some(1_796_587_574_610_825_228));
    }
}

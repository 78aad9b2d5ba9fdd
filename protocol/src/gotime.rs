//! Times and durations in the text forms of Go's `time` package, as the
//! Go server writes them in JSON (monitoring, the JetStream API) and reads
//! them back.

use std::fmt::Write as _;
use std::time::SystemTime;

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
    fn rfc3339_times() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:01Z"), Some(1_000_000_000));
        assert_eq!(parse_rfc3339("1970-01-01T00:00:01.5+01:00"), Some(-3_598_500_000_000));
        assert_eq!(parse_rfc3339("bad"), None);
        assert_eq!(parse_rfc3339("2026-12-06T20:06:14.610825228Z"), Some(1_796_587_574_610_825_228));
    }
}

//! Time as JetStream records and shows it: Unix nanoseconds, and Go's
//! RFC 3339 text of them.

use std::time::{Duration, SystemTime};

/// Unix nanoseconds now.
pub fn now_nanos() -> i64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i64)
}

/// Go's RFC 3339 text of Unix nanoseconds (the zero time for 0).
pub fn time_text(ns: i64) -> String {
    if ns <= 0 {
        return "0001-01-01T00:00:00Z".to_string();
    }
    rnats_protocol::gotime::rfc3339(SystemTime::UNIX_EPOCH + Duration::from_nanos(ns as u64))
}

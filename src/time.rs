//! Timestamps as stored (Unix microseconds, UTC) and as shown (RFC 3339).

use chrono::{DateTime, SecondsFormat, TimeZone as _, Utc};

/// Now, in Unix microseconds.
pub fn now_micros() -> i64 {
    Utc::now().timestamp_micros()
}

/// A stored timestamp as RFC 3339 UTC (`2026-11-24T10:00:00.123456Z`; whole seconds
/// print without a fraction).
pub fn rfc3339(micros: i64) -> String {
    Utc.timestamp_micros(micros)
        .single()
        .map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
        .unwrap_or_default()
}

/// An instant in Unix microseconds.
pub fn micros<Tz: chrono::TimeZone>(at: &DateTime<Tz>) -> i64 {
    at.timestamp_micros()
}

/// An RFC 3339 timestamp in Unix microseconds, if it is one.
pub fn parse_micros(text: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp_micros())
}

//! Timestamps: RFC 3339 with an explicit offset in, fixed-format UTC out.

use chrono::{DateTime, FixedOffset, NaiveDateTime, SecondsFormat, Utc};

use super::field_error::echo;

/// Parses an RFC 3339 timestamp that carries its offset (`Z` or `±hh:mm`).
///
/// A timestamp without an offset is refused rather than assumed to be UTC: a bank that
/// sends local time would otherwise shift every transaction by hours without anyone noticing.
/// The error is the detail message for the client.
pub fn parse_timestamp(s: &str) -> Result<DateTime<FixedOffset>, String> {
    DateTime::parse_from_rfc3339(s).map_err(|_| {
        if NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").is_ok() {
            format!(
                "`{}` has no UTC offset; add `Z` or an offset such as `+02:00`",
                echo(s)
            )
        } else {
            format!(
                "`{}` is not an RFC 3339 timestamp such as `2026-11-24T10:00:00Z`",
                echo(s)
            )
        }
    })
}

/// The instant in UTC with fixed formatting and full (nanosecond) precision, for example
/// `2026-11-24T10:00:00.000000000Z`.
///
/// Equal instants give equal strings whatever offset the bank wrote, and different
/// instants give different strings, so it is safe in idempotency keys and content hashes.
pub fn utc_key(t: &DateTime<FixedOffset>) -> String {
    t.with_timezone(&Utc)
        .format("%Y-%m-%dT%H:%M:%S%.9fZ")
        .to_string()
}

/// The timestamp as RFC 3339 with the offset the bank sent (`Z` for UTC), for releasing it:
/// the recipient sees the local time of the event as well as the instant.
pub(crate) fn to_rfc3339(t: &DateTime<FixedOffset>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_utc_timestamp_is_accepted() {
        let t = parse_timestamp("2026-11-24T10:00:00Z").unwrap();
        assert_eq!(t.offset().local_minus_utc(), 0);
    }

    #[test]
    fn a_timestamp_with_a_positive_offset_keeps_it() {
        let t = parse_timestamp("2026-11-24T12:00:00+02:00").unwrap();
        assert_eq!(t.offset().local_minus_utc(), 7200);
    }

    #[test]
    fn a_timestamp_without_an_offset_is_rejected_with_a_hint() {
        assert_eq!(
            parse_timestamp("2026-11-24T10:00:00").unwrap_err(),
            "`2026-11-24T10:00:00` has no UTC offset; add `Z` or an offset such as `+02:00`"
        );
    }

    #[test]
    fn a_timestamp_with_fractional_seconds_and_no_offset_is_rejected() {
        let detail = parse_timestamp("2026-11-24T10:00:00.5").unwrap_err();
        assert!(detail.contains("has no UTC offset"), "{detail}");
    }

    #[test]
    fn a_date_alone_is_rejected() {
        assert_eq!(
            parse_timestamp("2026-11-24").unwrap_err(),
            "`2026-11-24` is not an RFC 3339 timestamp such as `2026-11-24T10:00:00Z`"
        );
    }

    #[test]
    fn an_impossible_date_is_rejected() {
        assert!(parse_timestamp("2026-02-30T10:00:00Z").is_err());
    }

    #[test]
    fn an_offset_without_a_colon_is_rejected() {
        assert!(parse_timestamp("2026-11-24T10:00:00+0200").is_err());
    }

    #[test]
    fn a_unix_time_is_rejected() {
        assert!(parse_timestamp("1795600000").is_err());
    }

    #[test]
    fn the_utc_key_is_the_same_for_the_same_instant_at_different_offsets() {
        let utc = parse_timestamp("2026-11-24T10:00:00Z").unwrap();
        let paris = parse_timestamp("2026-11-24T12:00:00+02:00").unwrap();
        let new_york = parse_timestamp("2026-11-24T05:00:00-05:00").unwrap();
        assert_eq!(utc_key(&utc), "2026-11-24T10:00:00.000000000Z");
        assert_eq!(utc_key(&paris), utc_key(&utc));
        assert_eq!(utc_key(&new_york), utc_key(&utc));
    }

    #[test]
    fn the_utc_key_keeps_nanoseconds() {
        let a = parse_timestamp("2026-11-24T10:00:00.000000001Z").unwrap();
        let b = parse_timestamp("2026-11-24T10:00:00.000000002Z").unwrap();
        assert_eq!(utc_key(&a), "2026-11-24T10:00:00.000000001Z");
        assert_ne!(utc_key(&a), utc_key(&b));
    }

    #[test]
    fn the_utc_key_crosses_the_date_line_correctly() {
        let t = parse_timestamp("2026-11-24T01:00:00+05:00").unwrap();
        assert_eq!(utc_key(&t), "2026-11-23T20:00:00.000000000Z");
    }

    #[test]
    fn a_released_timestamp_keeps_the_offset_the_bank_sent() {
        let t = parse_timestamp("2026-11-24T12:00:00+02:00").unwrap();
        assert_eq!(to_rfc3339(&t), "2026-11-24T12:00:00+02:00");
        let t = parse_timestamp("2026-11-24T10:00:00.250Z").unwrap();
        assert_eq!(to_rfc3339(&t), "2026-11-24T10:00:00.250Z");
    }
}

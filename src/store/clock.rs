//! The clock: RFC 3339 UTC timestamps and today's date. Kept in one place so that every
//! stored time has the same shape.

use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime};

/// Now, as RFC 3339 UTC with millisecond precision: `2026-11-21T10:15:00.123Z`.
pub fn now() -> String {
    format_time(OffsetDateTime::now_utc())
}

/// Always three fractional digits, so that stored times sort as text.
pub fn format_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    t.format(&format).unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// Today's date in UTC.
pub fn today() -> Date {
    OffsetDateTime::now_utc().date()
}

/// A compact UTC stamp for file names: `20261121T101500Z`.
pub fn file_stamp() -> String {
    let t = OffsetDateTime::now_utc();
    format!("{:04}{:02}{:02}T{:02}{:02}{:02}Z", t.year(), t.month() as u8, t.day(), t.hour(), t.minute(), t.second())
}

/// Parses an RFC 3339 time.
pub fn parse_time(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_have_a_fixed_shape() {
        let t = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        assert_eq!(format_time(t), "2027-01-15T08:00:00.000Z");
        assert_eq!(parse_time(&format_time(t)), Some(t));
    }
}

//! The clock: RFC 3339 UTC timestamps and today's date. Kept in one place so that every
//! stored time has the same shape.

use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime};

/// Now, as RFC 3339 UTC with millisecond precision: `2026-11-21T10:15:00.123Z`.
pub fn now() -> String {
    format_time(OffsetDateTime::now_utc())
}

pub fn format_time(t: OffsetDateTime) -> String {
    let t = t.replace_nanosecond(t.millisecond() as u32 * 1_000_000).unwrap_or(t);
    t.format(&Rfc3339).unwrap_or_else(|_| t.unix_timestamp().to_string())
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

//! The clock: the one source of time for use-cases and adapters alike, injectable so that
//! tests can fix it, and the one shape every stored time has (RFC 3339 UTC, three
//! fractional digits).

use std::sync::Mutex;

use time::format_description::well_known::Rfc3339;
use time::{Date, Duration, OffsetDateTime};

/// Where time comes from.
pub trait Clock: Send + Sync {
    fn now(&self) -> OffsetDateTime;

    /// Now, as stored: `2026-11-21T10:15:00.123Z`.
    fn now_text(&self) -> String {
        format_time(self.now())
    }

    /// Today's date in UTC.
    fn today(&self) -> Date {
        self.now().to_offset(time::UtcOffset::UTC).date()
    }

    /// A compact UTC stamp for file names: `20261121T101500Z`.
    fn file_stamp(&self) -> String {
        let t = self.now().to_offset(time::UtcOffset::UTC);
        format!("{:04}{:02}{:02}T{:02}{:02}{:02}Z", t.year(), t.month() as u8, t.day(), t.hour(), t.minute(), t.second())
    }
}

/// The system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that stands still until told to move (tests).
#[derive(Debug)]
pub struct FixedClock {
    now: Mutex<OffsetDateTime>,
}

impl FixedClock {
    pub fn new(now: OffsetDateTime) -> FixedClock {
        FixedClock { now: Mutex::new(now) }
    }

    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap_or_else(|p| p.into_inner());
        *now += by;
    }
}

impl Clock for FixedClock {
    fn now(&self) -> OffsetDateTime {
        *self.now.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Always three fractional digits, so that stored times sort as text.
pub fn format_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    t.format(&format).unwrap_or_else(|_| t.unix_timestamp().to_string())
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

    #[test]
    fn a_fixed_clock_moves_only_when_told() {
        let clock = FixedClock::new(OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap());
        assert_eq!(clock.now_text(), "2027-01-15T08:00:00.000Z");
        assert_eq!(clock.file_stamp(), "20270115T080000Z");
        clock.advance(Duration::days(1));
        assert_eq!(clock.today().to_string(), "2027-01-16");
    }
}

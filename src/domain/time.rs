//! Wall-clock instants as unix milliseconds, the unit every table stores.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// An instant in unix milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The current time.
    pub fn now() -> Self {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        Self(since.as_millis() as i64)
    }

    /// This instant plus `delay`.
    pub fn after(self, delay: Duration) -> Self {
        Self(self.0.saturating_add(delay.as_millis() as i64))
    }

    /// This instant minus `span`.
    pub fn before(self, span: Duration) -> Self {
        Self(self.0.saturating_sub(span.as_millis() as i64))
    }

    /// Whole unix seconds, as delivered payloads carry them.
    pub fn unix_seconds(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// How long from now until this instant (zero if it has passed).
    pub fn until(self) -> Duration {
        Duration::from_millis(self.0.saturating_sub(Timestamp::now().0).max(0) as u64)
    }
}

/// The instants from `since` to `until`, both included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeWindow {
    /// The first instant in it.
    pub since: Timestamp,
    /// The last instant in it.
    pub until: Timestamp,
}

/// RFC 3339 text for an instant, as API responses show times.
pub fn rfc3339(at: Timestamp) -> String {
    let nanos = i128::from(at.0) * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

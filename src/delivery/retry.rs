//! The retry schedule: how long to wait after each failed attempt.

use std::str::FromStr;
use std::time::Duration;

use rand::Rng;

/// Delays after the 1st, 2nd, ... failed attempt; when they run out the
/// delivery is marked failed. Each delay gets up to ±10% jitter so retries
/// from one outage do not arrive in lock-step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule(Vec<Duration>);

impl RetrySchedule {
    /// The production default: 10 attempts over about three days, like Stripe
    /// (5s, 5m, 30m, 2h, 5h, 10h, 14h, 20h, 20h between attempts).
    pub fn production() -> Self {
        const MINUTE: u64 = 60;
        const HOUR: u64 = 60 * MINUTE;
        let secs = [
            5,
            5 * MINUTE,
            30 * MINUTE,
            2 * HOUR,
            5 * HOUR,
            10 * HOUR,
            14 * HOUR,
            20 * HOUR,
            20 * HOUR,
        ];
        Self(secs.into_iter().map(Duration::from_secs).collect())
    }

    /// The delay after `failed_attempts` failures, jittered; `None` once the
    /// schedule is exhausted.
    pub fn delay_after(&self, failed_attempts: u32) -> Option<Duration> {
        let base = *self.0.get(failed_attempts.checked_sub(1)? as usize)?;
        let jitter = rand::rng().random_range(0.9..=1.1);
        Some(base.mul_f64(jitter))
    }

    /// Total attempts a delivery gets: the first plus one per delay.
    pub fn max_attempts(&self) -> usize {
        self.0.len() + 1
    }
}

/// Why a retry schedule was refused.
#[derive(Debug, thiserror::Error)]
#[error("invalid retry schedule {input:?}: {reason} (expected a comma list such as 1s,30s,5m,2h)")]
pub struct ScheduleError {
    input: String,
    reason: String,
}

impl FromStr for RetrySchedule {
    type Err = ScheduleError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let fail = |reason: String| ScheduleError {
            input: input.to_owned(),
            reason,
        };
        if input.trim().is_empty() {
            return Ok(Self(Vec::new()));
        }
        let delays = input
            .split(',')
            .map(|part| {
                humantime::parse_duration(part.trim()).map_err(|e| fail(format!("{part:?}: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if delays.len() > 50 {
            return Err(fail("at most 50 retries".into()));
        }
        if delays
            .iter()
            .any(|d| *d > Duration::from_secs(7 * 24 * 3600))
        {
            return Err(fail("a delay is at most 7 days".into()));
        }
        Ok(Self(delays))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_comma_list_and_runs_out() {
        let schedule: RetrySchedule = "1s, 2s,500ms".parse().unwrap();
        assert_eq!(schedule.max_attempts(), 4);
        let first = schedule.delay_after(1).unwrap();
        assert!(first >= Duration::from_millis(900) && first <= Duration::from_millis(1100));
        assert!(schedule.delay_after(3).unwrap() <= Duration::from_millis(550));
        assert_eq!(schedule.delay_after(4), None);
        assert_eq!(schedule.delay_after(0), None);
    }

    #[test]
    fn refuses_garbage() {
        assert!("1s,soon".parse::<RetrySchedule>().is_err());
        assert!("30d".parse::<RetrySchedule>().is_err());
    }

    #[test]
    fn production_spans_about_three_days() {
        let total: Duration = RetrySchedule::production().0.iter().sum();
        assert!(total > Duration::from_secs(70 * 3600) && total < Duration::from_secs(74 * 3600));
    }
}

//! The retry policy: the schedule of delays after each failed attempt, and
//! the decision of what follows an attempt (delivered, retry when, failed,
//! or the subscription removed).

use std::str::FromStr;
use std::time::Duration;

use rand::Rng;

use crate::domain::{Source, Timestamp};
use crate::store::{AttemptResult, NextStep};

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

/// The longest `Retry-After` honoured; a target asking for more is retried
/// after this, so one header cannot park a delivery for days.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// Decide what follows an attempt of a delivery to a subscription from
/// `source` that had `attempts_made` attempts before it. A 2xx delivers; a
/// 410 removes a subscription whose source says so (REST hooks); anything
/// else is retried after the schedule's next delay, or fails when the
/// schedule has run out. A target's `Retry-After` (on 429 or 503) postpones
/// the retry to at least that long, up to [`MAX_RETRY_AFTER`]; it does not
/// add attempts beyond the schedule.
pub fn next_step(
    schedule: &RetrySchedule,
    source: Source,
    attempts_made: u32,
    attempt: &AttemptResult,
) -> NextStep {
    match attempt.status {
        _ if attempt.delivered() => NextStep::Delivered,
        Some(410) if source.removed_by_gone() => NextStep::RemoveSubscription,
        _ => match schedule.delay_after(attempts_made + 1) {
            Some(delay) => {
                let asked = attempt.retry_after.unwrap_or_default().min(MAX_RETRY_AFTER);
                NextStep::RetryAt(Timestamp::now().after(delay.max(asked)))
            }
            None => NextStep::Failed,
        },
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

    fn answered(status: Option<u16>, retry_after: Option<Duration>) -> AttemptResult {
        AttemptResult {
            started_at: Timestamp::now(),
            status,
            latency_ms: 1,
            response_snippet: String::new(),
            error: status.is_none().then(|| "connection refused".to_owned()),
            retry_after,
        }
    }

    /// How far from now a step's retry is, or `None` for any other step.
    fn retry_in(step: NextStep) -> Option<Duration> {
        match step {
            NextStep::RetryAt(at) => {
                Some(Duration::from_millis((at.0 - Timestamp::now().0) as u64))
            }
            _ => None,
        }
    }

    #[test]
    fn a_2xx_delivers_and_a_failure_waits_for_the_next_delay_until_they_run_out() {
        let schedule: RetrySchedule = "10s,20s".parse().unwrap();
        let ok = answered(Some(204), None);
        assert!(matches!(
            next_step(&schedule, Source::Api, 0, &ok),
            NextStep::Delivered
        ));
        let down = answered(None, None);
        let first = retry_in(next_step(&schedule, Source::Api, 0, &down)).unwrap();
        assert!(first > Duration::from_secs(8) && first <= Duration::from_secs(11));
        let second = retry_in(next_step(&schedule, Source::Api, 1, &down)).unwrap();
        assert!(second > Duration::from_secs(17) && second <= Duration::from_secs(22));
        let error = answered(Some(500), None);
        assert!(matches!(
            next_step(&schedule, Source::Api, 2, &error),
            NextStep::Failed
        ));
    }

    #[test]
    fn gone_removes_rest_hooks_and_raw_webhooks_but_make_keeps_retrying() {
        let schedule: RetrySchedule = "10s".parse().unwrap();
        let gone = answered(Some(410), None);
        for source in [Source::Zapier, Source::Api] {
            assert!(matches!(
                next_step(&schedule, source, 0, &gone),
                NextStep::RemoveSubscription
            ));
        }
        assert!(retry_in(next_step(&schedule, Source::Make, 0, &gone)).is_some());
    }

    #[test]
    fn retry_after_postpones_the_retry_up_to_an_hour_but_adds_no_attempt() {
        let schedule: RetrySchedule = "1s".parse().unwrap();
        let busy = answered(Some(429), Some(Duration::from_secs(120)));
        let wait = retry_in(next_step(&schedule, Source::Api, 0, &busy)).unwrap();
        assert!(wait > Duration::from_secs(118) && wait <= Duration::from_secs(120));
        let greedy = answered(Some(503), Some(Duration::from_secs(86_400)));
        let wait = retry_in(next_step(&schedule, Source::Api, 0, &greedy)).unwrap();
        assert!(wait > MAX_RETRY_AFTER - Duration::from_secs(2) && wait <= MAX_RETRY_AFTER);
        assert!(matches!(
            next_step(&schedule, Source::Api, 1, &busy),
            NextStep::Failed
        ));
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

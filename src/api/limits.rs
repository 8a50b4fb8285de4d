//! Per-account rate limits: management calls made with an account's key, and
//! events published for an account. Over a limit the answer is 429 with
//! `Retry-After` (whole seconds, at least 1). Limits are kept per node, in
//! memory (GCRA from the governor crate): with several nodes behind a load
//! balancer an account gets up to each node's limit.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::ApiError;

/// How often (in checks) idle accounts' state is dropped.
const PRUNE_EVERY: u64 = 4096;

/// One keyed limit: `per_second` sustained, bursts of twice that.
struct Limit {
    limiter: DefaultKeyedRateLimiter<String>,
    checks: AtomicU64,
    what: &'static str,
}

impl Limit {
    fn new(per_second: u32, what: &'static str) -> Option<Self> {
        let rate = NonZeroU32::new(per_second)?;
        let burst = rate.saturating_mul(NonZeroU32::new(2).expect("2 is not zero"));
        Some(Self {
            limiter: RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)),
            checks: AtomicU64::new(0),
            what,
        })
    }

    fn check(&self, account_id: &str) -> Result<(), ApiError> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1 {
            self.limiter.retain_recent();
        }
        self.limiter
            .check_key(&account_id.to_owned())
            .map_err(|not_until| {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                ApiError::rate_limited(self.what, wait)
            })
    }
}

/// The limits of one node; a limit of 0 per second is off.
pub struct RateLimits {
    management: Option<Limit>,
    publish: Option<Limit>,
}

impl RateLimits {
    /// Limits of `management` calls and `publish`ed events per account and
    /// second (0 turns one off).
    pub fn new(management: u32, publish: u32) -> Self {
        Self {
            management: Limit::new(management, "API requests for this account"),
            publish: Limit::new(publish, "events published for this account"),
        }
    }

    /// Count one management call by `account_id`.
    pub fn management(&self, account_id: &str) -> Result<(), ApiError> {
        self.management
            .as_ref()
            .map_or(Ok(()), |limit| limit.check(account_id))
    }

    /// Count one event published for `account_id`.
    pub fn publish(&self, account_id: &str) -> Result<(), ApiError> {
        self.publish
            .as_ref()
            .map_or(Ok(()), |limit| limit.check(account_id))
    }
}

/// Whole seconds to wait, at least one.
pub fn retry_after_seconds(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0).max(u64::from(wait.is_zero()))
}

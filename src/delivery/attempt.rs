//! One attempt of one delivery, made the same way wherever it starts (the
//! dispatcher, or a test send from the API): sent, told to the target's
//! circuit breaker, judged by the retry policy, counted in the metrics, and
//! turned into the [`Completion`] the queue records.

use std::sync::Arc;
use std::time::Duration;

use super::breaker::Breaker;
use super::retry::{RetrySchedule, next_step};
use super::sender::Sender;
use crate::domain::Ordering;
use crate::metrics::Metrics;
use crate::store::{AttemptResult, Completion, DeliveryJob, NextStep};

/// Makes attempts and judges them; shared by every caller of one service.
pub struct Attempter {
    sender: Arc<Sender>,
    breaker: Arc<Breaker>,
    metrics: Arc<Metrics>,
    schedule: RetrySchedule,
    auto_disable_after: Option<Duration>,
}

impl Attempter {
    /// An attempter sending through `sender`, telling `breaker` how targets
    /// answer, retrying by `schedule`, and disabling a subscription whose
    /// attempts have all failed for `auto_disable_after`.
    pub fn new(
        sender: Arc<Sender>,
        breaker: Arc<Breaker>,
        metrics: Arc<Metrics>,
        schedule: RetrySchedule,
        auto_disable_after: Option<Duration>,
    ) -> Self {
        Self {
            sender,
            breaker,
            metrics,
            schedule,
            auto_disable_after,
        }
    }

    /// The breaker this attempter reports to.
    pub fn breaker(&self) -> &Arc<Breaker> {
        &self.breaker
    }

    /// Attempt a queued delivery: what follows is the retry policy's
    /// decision (delivered, a retry, failed for good, the subscription
    /// removed).
    pub async fn attempt(&self, job: DeliveryJob) -> Completion {
        let result = self.send(&job).await;
        let next = next_step(
            &self.schedule,
            job.subscription.source,
            job.attempts_made,
            &result,
        );
        self.complete(job, result, next, self.auto_disable_after)
    }

    /// Attempt a test delivery once: delivered on a 2xx, failed otherwise,
    /// never retried and never a reason to disable the subscription.
    pub async fn attempt_once(&self, job: DeliveryJob) -> Completion {
        let result = self.send(&job).await;
        let next = if result.delivered() {
            NextStep::Delivered
        } else {
            NextStep::Failed
        };
        self.complete(job, result, next, None)
    }

    /// Send `job` and tell the breaker whether its target is up.
    async fn send(&self, job: &DeliveryJob) -> AttemptResult {
        let result = self.sender.attempt(job).await;
        self.breaker
            .record(&job.subscription.id, !target_down(&result));
        result
    }

    /// Count the attempt and shape what the queue records of it.
    fn complete(
        &self,
        job: DeliveryJob,
        result: AttemptResult,
        next: NextStep,
        auto_disable_after: Option<Duration>,
    ) -> Completion {
        self.metrics.attempted(&next, result.latency_ms);
        tracing::debug!(
            delivery = %job.lease.delivery_id,
            status = ?result.status,
            error = ?result.error,
            next = ?next,
            "attempt finished"
        );
        Completion {
            lease: job.lease,
            account_id: job.subscription.account_id.clone(),
            subscription_id: job.subscription.id.clone(),
            event_pk: job.event_pk,
            disable_if_failing_since: auto_disable_after.map(|span| result.started_at.before(span)),
            ordered: job.subscription.ordering == Ordering::Fifo,
            was_failing: job.subscription.failing_since.is_some(),
            attempt: result,
            next,
        }
    }
}

/// Whether an attempt says the target is down: no answer, a server error,
/// or "too many requests". Other answers show it up, even if unhappy.
fn target_down(result: &AttemptResult) -> bool {
    matches!(result.status, None | Some(408 | 429 | 500..))
}

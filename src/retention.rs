//! Retention: a background task that deletes events older than the
//! retention whose deliveries have all finished, with their deliveries and
//! attempts, in small steps so ingest and delivery go on between them.
//! Each pass walks the events from the oldest up to the first one younger
//! than the retention; passes run at least once a minute, and at least
//! every tenth of the retention when that is shorter.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::delivery::queue::DeliveryQueue;
use crate::domain::Timestamp;
use crate::metrics::Metrics;
use crate::store::capacity::StorageHealth;
use crate::store::{Purged, StoreError};

/// The retention when none is configured: thirty days.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(30 * 86_400);

/// Events examined per step: a step is one short write transaction.
const STEP_EVENTS: usize = 200;
/// The longest time between two passes.
const LONGEST_INTERVAL: Duration = Duration::from_secs(60);
/// The shortest time between two passes, however short the retention.
const SHORTEST_INTERVAL: Duration = Duration::from_millis(100);

/// The time between two passes for `retention`: a minute, or a tenth of
/// the retention when that is shorter.
pub fn pass_interval(retention: Duration) -> Duration {
    (retention / 10).clamp(SHORTEST_INTERVAL, LONGEST_INTERVAL)
}

/// The background purger.
pub struct Purger {
    store: Arc<dyn DeliveryQueue>,
    retention: Duration,
    metrics: Arc<Metrics>,
    storage: Arc<StorageHealth>,
}

impl Purger {
    /// A purger deleting what is older than `retention` from `store`.
    pub fn new(
        store: Arc<dyn DeliveryQueue>,
        retention: Duration,
        metrics: Arc<Metrics>,
        storage: Arc<StorageHealth>,
    ) -> Self {
        Self {
            store,
            retention,
            metrics,
            storage,
        }
    }

    /// Purge pass after pass until `stop` is cancelled.
    pub async fn run(self, stop: CancellationToken) {
        let interval = pass_interval(self.retention);
        loop {
            self.pass(&stop).await;
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = stop.cancelled() => return,
            }
        }
    }

    /// One pass over the events older than the retention; what it deleted.
    /// Between two steps it waits as long as the last step took, so it
    /// never holds the store's writer more than half the time.
    pub async fn pass(&self, stop: &CancellationToken) -> Purged {
        let cutoff = Timestamp::now().before(self.retention);
        let mut purged = Purged::default();
        let mut after = 0;
        while !stop.is_cancelled() {
            let started = Instant::now();
            let step = match self.store.purge(cutoff, after, STEP_EVENTS).await {
                Ok(step) => step,
                Err(error) => {
                    self.storage.note_error(&error);
                    if !matches!(error, StoreError::StorageFull(_)) {
                        tracing::warn!(%error, "purging old events failed; the next pass tries again");
                    }
                    break;
                }
            };
            self.metrics.purged(step.purged);
            purged += step.purged;
            let Some(next) = step.resume_after else {
                break;
            };
            after = next;
            tokio::time::sleep(started.elapsed()).await;
        }
        if purged.events > 0 {
            tracing::debug!(
                events = purged.events,
                deliveries = purged.deliveries,
                attempts = purged.attempts,
                "purged events older than the retention"
            );
        }
        purged
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_run_every_tenth_of_the_retention_and_at_least_once_a_minute() {
        assert_eq!(pass_interval(DEFAULT_RETENTION), LONGEST_INTERVAL);
        assert_eq!(
            pass_interval(Duration::from_secs(300)),
            Duration::from_secs(30)
        );
        assert_eq!(pass_interval(Duration::from_secs(2)), SHORTEST_INTERVAL * 2);
        assert_eq!(pass_interval(Duration::from_secs(1)), SHORTEST_INTERVAL);
    }
}

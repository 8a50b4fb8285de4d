//! The dispatcher: claims due deliveries from the store, runs each attempt
//! as its own task (bounded), and hands outcomes to a recorder that writes
//! them back in batches. Woken at once by ingest; the database is polled
//! only as a fallback and to catch retries as they fall due.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, mpsc};
use tokio::task::{Id, JoinSet};
use tokio_util::sync::CancellationToken;

use super::retry::RetrySchedule;
use super::sender::{ATTEMPT_TIMEOUT, Sender};
use crate::domain::Timestamp;
use crate::store::{AttemptResult, Completion, DeliveryJob, Lease, NextStep, Store};

/// Tunables of the dispatcher.
#[derive(Debug, Clone)]
pub struct DispatchSettings {
    /// Delays between attempts.
    pub schedule: RetrySchedule,
    /// How long a claim holds a delivery; longer than an attempt can take.
    pub lease: Duration,
    /// Deliveries claimed per round trip.
    pub batch: usize,
    /// Attempts running at once.
    pub max_in_flight: usize,
    /// Attempts running at once to one subscription, so a slow or hanging
    /// endpoint cannot take every slot from the others.
    pub per_target: usize,
    /// The fallback poll interval.
    pub poll: Duration,
    /// How long shutdown waits for running attempts before releasing them.
    pub drain_grace: Duration,
}

impl DispatchSettings {
    /// Defaults around `schedule`.
    pub fn new(schedule: RetrySchedule) -> Self {
        Self {
            schedule,
            lease: ATTEMPT_TIMEOUT * 6,
            batch: 256,
            max_in_flight: 512,
            per_target: 32,
            poll: Duration::from_secs(1),
            drain_grace: ATTEMPT_TIMEOUT + Duration::from_secs(2),
        }
    }
}

/// Decide what follows an attempt.
pub fn next_step(schedule: &RetrySchedule, job: &DeliveryJob, attempt: &AttemptResult) -> NextStep {
    match attempt.status {
        Some(status) if (200..300).contains(&status) => NextStep::Delivered,
        Some(410) if job.subscription.source.removed_by_gone() => NextStep::RemoveSubscription,
        _ => match schedule.delay_after(job.attempts_made + 1) {
            Some(delay) => NextStep::RetryAt(Timestamp::now().after(delay)),
            None => NextStep::Failed,
        },
    }
}

/// Runs deliveries until cancelled, then drains.
pub struct Dispatcher {
    store: Arc<dyn Store>,
    sender: Arc<Sender>,
    settings: DispatchSettings,
    wake: Arc<Notify>,
}

impl Dispatcher {
    /// A dispatcher; `wake` is notified by ingest when deliveries are stored.
    pub fn new(
        store: Arc<dyn Store>,
        sender: Sender,
        settings: DispatchSettings,
        wake: Arc<Notify>,
    ) -> Self {
        Self {
            store,
            sender: Arc::new(sender),
            settings,
            wake,
        }
    }

    /// Deliver until `shutdown` is cancelled; then stop claiming, let running
    /// attempts finish (up to the drain grace), release the rest, and return
    /// once every outcome is recorded.
    pub async fn run(self, shutdown: CancellationToken) {
        let (outcomes, recorded) = mpsc::unbounded_channel();
        let recorder = tokio::spawn(record(self.store.clone(), recorded));
        let mut running: JoinSet<()> = JoinSet::new();
        let mut in_flight = InFlight::default();

        while !shutdown.is_cancelled() {
            while let Some(Ok((id, ()))) = running.try_join_next_with_id() {
                in_flight.finished(id);
            }
            let room = self.settings.max_in_flight.saturating_sub(running.len());
            if room == 0 {
                tokio::select! {
                    Some(Ok((id, ()))) = running.join_next_with_id() => in_flight.finished(id),
                    _ = shutdown.cancelled() => {}
                }
                continue;
            }
            let skip = in_flight.saturated(self.settings.per_target);
            let claimed = self
                .store
                .claim_due(room.min(self.settings.batch), self.settings.lease, skip)
                .await;
            let jobs = match claimed {
                Ok(jobs) => jobs,
                Err(error) => {
                    tracing::warn!(%error, "claiming deliveries failed; retrying shortly");
                    tokio::select! {
                        _ = tokio::time::sleep(self.settings.poll) => {}
                        _ = shutdown.cancelled() => {}
                    }
                    continue;
                }
            };
            if jobs.is_empty() {
                let wait = match self.store.next_due().await {
                    Ok(Some(at)) => at
                        .until()
                        .clamp(Duration::from_millis(5), self.settings.poll),
                    _ => self.settings.poll,
                };
                tokio::select! {
                    _ = self.wake.notified() => {}
                    _ = tokio::time::sleep(wait) => {}
                    _ = shutdown.cancelled() => {}
                }
                continue;
            }
            let mut over_limit = Vec::new();
            for job in jobs {
                if in_flight.to(&job.subscription.id) >= self.settings.per_target {
                    over_limit.push(job.lease);
                    continue;
                }
                let (lease, target) = (job.lease.clone(), job.subscription.id.clone());
                let handle = running.spawn(attempt(
                    self.sender.clone(),
                    self.settings.schedule.clone(),
                    job,
                    outcomes.clone(),
                ));
                in_flight.started(handle.id(), lease, target);
            }
            if !over_limit.is_empty() {
                if let Err(error) = self.store.release(over_limit).await {
                    tracing::warn!(%error, "releasing over-limit deliveries failed; their leases expire");
                }
            }
        }

        let drained = tokio::time::timeout(self.settings.drain_grace, async {
            while let Some(joined) = running.join_next_with_id().await {
                if let Ok((id, ())) = joined {
                    in_flight.finished(id);
                }
            }
        })
        .await;
        if drained.is_err() {
            running.abort_all();
            let unfinished = in_flight.into_leases();
            tracing::info!(count = unfinished.len(), "releasing unfinished deliveries");
            if let Err(error) = self.store.release(unfinished).await {
                tracing::warn!(%error, "releasing leases failed; they expire on their own");
            }
        }
        drop(outcomes);
        let _ = recorder.await;
    }
}

/// The attempts running now: their leases and how many go to each target.
#[derive(Default)]
struct InFlight {
    tasks: HashMap<Id, (Lease, String)>,
    per_target: HashMap<String, usize>,
}

impl InFlight {
    fn started(&mut self, task: Id, lease: Lease, target: String) {
        *self.per_target.entry(target.clone()).or_default() += 1;
        self.tasks.insert(task, (lease, target));
    }

    fn finished(&mut self, task: Id) {
        if let Some((_, target)) = self.tasks.remove(&task) {
            if let Some(count) = self.per_target.get_mut(&target) {
                *count -= 1;
                if *count == 0 {
                    self.per_target.remove(&target);
                }
            }
        }
    }

    fn to(&self, target: &str) -> usize {
        self.per_target.get(target).copied().unwrap_or(0)
    }

    /// Targets with `limit` attempts running: the next claim skips them.
    fn saturated(&self, limit: usize) -> Vec<String> {
        self.per_target
            .iter()
            .filter(|(_, count)| **count >= limit)
            .map(|(target, _)| target.clone())
            .collect()
    }

    fn into_leases(self) -> Vec<Lease> {
        self.tasks.into_values().map(|(lease, _)| lease).collect()
    }
}

async fn attempt(
    sender: Arc<Sender>,
    schedule: RetrySchedule,
    job: DeliveryJob,
    outcomes: mpsc::UnboundedSender<Completion>,
) {
    let result = sender.attempt(&job).await;
    let next = next_step(&schedule, &job, &result);
    tracing::debug!(
        delivery = %job.lease.delivery_id,
        status = ?result.status,
        error = ?result.error,
        next = ?next,
        "attempt finished"
    );
    let _ = outcomes.send(Completion {
        lease: job.lease,
        account_id: job.subscription.account_id,
        subscription_id: job.subscription.id,
        attempt: result,
        next,
    });
}

/// Write outcomes back in batches: whatever has arrived while the previous
/// batch was being written goes in the next one.
async fn record(store: Arc<dyn Store>, mut outcomes: mpsc::UnboundedReceiver<Completion>) {
    const MAX_BATCH: usize = 512;
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while outcomes.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let count = batch.len();
        if let Err(error) = store.complete(std::mem::take(&mut batch)).await {
            tracing::error!(%error, count, "recording attempts failed; their leases will expire and they will be retried");
        }
    }
}

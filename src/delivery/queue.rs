//! The delivery queue: the one interface the delivery engine needs from
//! storage. An event is ingested with one delivery per matching
//! subscription in one transaction (so 202 means durable); the dispatcher
//! claims due deliveries under a lease, or takes them handed straight over,
//! records each attempt's outcome, gives back what it cannot run, and
//! extends what it still holds. A lease that runs out makes its delivery
//! due again, so a crash loses nothing.
//!
//! Each store implements it beside its records ([`crate::store::Records`]):
//! one database keeps both, and [`crate::store::Store`] is the two together.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::work::{
    ClaimRequest, Completion, DeliveryJob, DueWork, IngestOutcome, Lease, PurgeStep, ReplayPage,
    ReplayStep,
};
use crate::domain::{AccountId, DeliveryId, SubscriptionId, TimeWindow, Timestamp};
use crate::store::{DeliveryStatus, NewEvent, StoreResult};

/// Where a store hands new deliveries straight to the dispatcher: one batch
/// per event, each delivery leased.
pub type HandOff = tokio::sync::mpsc::Receiver<Vec<DeliveryJob>>;

/// Deliveries waiting to be attempted, and their outcomes.
#[async_trait]
pub trait DeliveryQueue: Send + Sync + 'static {
    /// Call `woken` when another node stores deliveries that are due now,
    /// saying where. A single-node store has no other nodes: its default
    /// does nothing.
    fn listen_for_work(&self, woken: Arc<dyn Fn(DueWork) + Send + Sync>) {
        drop(woken);
    }

    /// Store an event and one pending delivery per matching subscription in
    /// one transaction. Publishing an id the account used before stores
    /// nothing and reports the first event.
    async fn ingest(&self, event: NewEvent) -> StoreResult<IngestOutcome>;

    /// Have every delivery that ingest creates from now on, leased for
    /// `lease`, handed straight to the receiver returned, as one batch per
    /// event, instead of waiting in the store to be claimed. `None` (the
    /// default) when the store cannot: the PostgreSQL store's nodes share
    /// their deliveries and must claim them. When the receiver has no room
    /// for one more batch, or is closed, ingest leaves the deliveries in the
    /// store, unleased. A handed delivery is claimable again once given back
    /// (`release`), or once its lease has run out and the next `extend` has
    /// passed; a restart makes it due at once.
    fn hand_off(&self, lease: Duration) -> Option<HandOff> {
        let _ = lease;
        None
    }

    /// Lease the due deliveries `request` allows, oldest first, none to a
    /// paused subscription; a lease that expires makes its delivery due
    /// again.
    async fn claim_due(&self, request: ClaimRequest) -> StoreResult<Vec<DeliveryJob>>;

    /// Record attempts and apply their outcomes (delivered, retry, failed,
    /// subscription gone). An outcome whose lease was lost is ignored.
    /// What the outcomes did to customers' endpoints (a delivery out of
    /// attempts, a webhook disabled or removed) is stored in the same
    /// transaction as operational events, delivered to the operator's
    /// webhooks; the webhooks so given deliveries due now.
    async fn complete(&self, completions: Vec<Completion>) -> StoreResult<Vec<SubscriptionId>>;

    /// Give leased deliveries back so they are due now.
    async fn release(&self, leases: Vec<Lease>) -> StoreResult<()>;

    /// Extend leases still held (jobs waiting for a busy target, attempts
    /// running) to `lease` from now, so none runs out and is claimed again.
    /// Called at each renewal, held leases or not, so a store can tidy the
    /// leases that ran out.
    async fn extend(&self, leases: Vec<Lease>, lease: Duration) -> StoreResult<()>;

    /// When the earliest claimable pending delivery is due (not to a target
    /// in `skip`, not paused), if any is.
    async fn next_due(&self, skip: Vec<SubscriptionId>) -> StoreResult<Option<Timestamp>>;

    /// Make one of the account's deliveries due now again, whatever its
    /// state (unless it is being attempted); `None` when the account has no
    /// such delivery or its subscription is gone.
    async fn resend(
        &self,
        account_id: &AccountId,
        delivery_id: &DeliveryId,
    ) -> StoreResult<Option<DeliveryStatus>>;

    /// Make every failed delivery of one of the account's subscriptions
    /// that failed within `window` due now again; how many.
    async fn resend_failed(
        &self,
        account_id: &AccountId,
        subscription_id: &SubscriptionId,
        window: TimeWindow,
    ) -> StoreResult<usize>;

    /// One page of a replay, in one transaction: read the events `page`
    /// names, give each that matches the webhook's route (by
    /// [`crate::domain::matching`], as ingest routes) and has no delivery
    /// to it a new pending delivery due now, and, when the page asks,
    /// make the webhook's existing deliveries of those events due now again
    /// as [`DeliveryQueue::resend`] does (whatever their state, unless being
    /// attempted). Nothing is written when the webhook is no longer the
    /// account's. Says how many deliveries were made due and where the
    /// next page starts.
    async fn replay_page(&self, page: ReplayPage) -> StoreResult<ReplayStep>;

    /// Store a test event (never a sample) with one delivery to the given
    /// subscription, already leased to the caller for `lease`; `None` when the
    /// account has no such subscription.
    async fn start_test_delivery(
        &self,
        event: NewEvent,
        subscription_id: &SubscriptionId,
        lease_length: Duration,
    ) -> StoreResult<Option<DeliveryJob>>;

    /// Reserve the next turn of a rate-limited subscription, whose
    /// deliveries start at least `interval` apart, for every node: when it
    /// comes. `None` (the default) when the store keeps no turns and each
    /// node paces on its own (one node, as SQLite's).
    async fn reserve_turn(
        &self,
        subscription_id: &SubscriptionId,
        interval: Duration,
    ) -> StoreResult<Option<std::time::SystemTime>> {
        let _ = (subscription_id, interval);
        Ok(None)
    }

    /// Pending deliveries, and when the oldest of them was created.
    async fn queue_stats(&self) -> StoreResult<(u64, Option<Timestamp>)>;

    /// One step of a retention pass: examine at most `limit` events in row
    /// order after the row key `after`, and delete those created before
    /// `cutoff` whose deliveries have all finished (delivered, failed,
    /// cancelled), with their deliveries and attempts. An event with a
    /// delivery still pending (or paused, or in flight) is kept. The step
    /// says where the next one resumes, or that the pass reached events
    /// younger than `cutoff` (or the end).
    async fn purge(&self, cutoff: Timestamp, after: i64, limit: usize) -> StoreResult<PurgeStep>;
}

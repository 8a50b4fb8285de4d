//! Deliveries on request: a test event sent now through the same attempt
//! path as every delivery (breaker, metrics, recorded attempt), deliveries
//! made due again (one, or every failed one of a webhook), and a webhook's
//! replay of the events published in a time window.

use std::sync::Arc;

use crate::delivery::attempt::Attempter;
use crate::delivery::queue::DeliveryQueue;
use crate::delivery::wake::Wake;
use crate::delivery::worker::LEASE;
use crate::domain::{AccountId, DeliveryId, SubscriptionId, TimeWindow};
use crate::store::{
    AttemptResult, DeliveryStatus, NewEvent, ReplayPage, StoreResult, Subscription,
};

/// The most events one page of a replay reads (one transaction each).
const REPLAY_PAGE_EVENTS: usize = 1_000;

/// Sends and resends deliveries for the API.
pub struct Deliveries {
    store: Arc<dyn DeliveryQueue>,
    attempter: Arc<Attempter>,
    wake: Arc<Wake>,
}

/// Which deliveries a replay makes due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayScope {
    /// The webhook's deliveries that failed within the window.
    Failed,
    /// New deliveries of the events published within the window that
    /// match the webhook now and were never delivered to it.
    Missing,
    /// `Missing`, plus every existing delivery of those events to the
    /// webhook, made due again.
    All,
}

/// What a test send did.
#[derive(Debug)]
pub struct TestSend {
    /// The test event's id.
    pub event_id: String,
    /// The test event's type.
    pub event_type: String,
    /// The delivery made for it.
    pub delivery_id: DeliveryId,
    /// Whether the endpoint answered 2xx.
    pub delivered: bool,
    /// What the attempt saw.
    pub attempt: AttemptResult,
}

impl Deliveries {
    /// Deliveries kept in `store`, attempted by `attempter` (the one the
    /// dispatcher uses), with `wake` rung when some fall due again.
    pub fn new(store: Arc<dyn DeliveryQueue>, attempter: Arc<Attempter>, wake: Arc<Wake>) -> Self {
        Self {
            store,
            attempter,
            wake,
        }
    }

    /// Store `event` (a test event, never a sample) with one delivery to
    /// the account's subscription `subscription_id`, attempt it once now
    /// and record the attempt; `None` when the account has no such
    /// subscription.
    pub async fn send_test(
        &self,
        event: NewEvent,
        subscription_id: &SubscriptionId,
    ) -> StoreResult<Option<TestSend>> {
        let Some(job) = self
            .store
            .start_test_delivery(event, subscription_id, LEASE)
            .await?
        else {
            return Ok(None);
        };
        let (event_id, event_type) = (job.event.id.clone(), job.event.event_type.clone());
        let completion = self.attempter.attempt_once(job).await;
        let sent = TestSend {
            event_id,
            event_type,
            delivery_id: completion.lease.delivery_id.clone(),
            delivered: completion.attempt.delivered(),
            attempt: completion.attempt.clone(),
        };
        let told = self.store.complete(vec![completion]).await?;
        self.wake.due_now(told);
        Ok(Some(sent))
    }

    /// Make one of the account's deliveries due now again; `None` when the
    /// account has no such delivery, its webhook is gone, or it is being
    /// attempted now.
    pub async fn resend(
        &self,
        account_id: &AccountId,
        delivery_id: &DeliveryId,
    ) -> StoreResult<Option<DeliveryStatus>> {
        let resent = self.store.resend(account_id, delivery_id).await?;
        if let Some(delivery) = &resent {
            self.wake.due_now([delivery.subscription_id.clone()]);
        }
        Ok(resent)
    }

    /// Replay to `webhook` what `scope` selects within `window`, and wake
    /// the dispatcher for it; how many deliveries were made due. `Failed`
    /// windows the time deliveries failed, the others the time events were
    /// published; those read the events a page at a time and route them as
    /// ingest does. A disabled webhook's deliveries wait paused.
    pub async fn replay(
        &self,
        webhook: &Subscription,
        window: TimeWindow,
        scope: ReplayScope,
    ) -> StoreResult<usize> {
        let replayed = match scope {
            ReplayScope::Failed => {
                self.store
                    .resend_failed(&webhook.account_id, &webhook.id, window)
                    .await?
            }
            ReplayScope::Missing | ReplayScope::All => {
                let mut page = ReplayPage {
                    account_id: webhook.account_id.clone(),
                    route: webhook.route(),
                    window,
                    redeliver_existing: scope == ReplayScope::All,
                    after: 0,
                    limit: REPLAY_PAGE_EVENTS,
                };
                let mut replayed = 0;
                loop {
                    let step = self.store.replay_page(page.clone()).await?;
                    replayed += step.replayed;
                    match step.resume_after {
                        Some(after) => page.after = after,
                        None => break,
                    }
                }
                replayed
            }
        };
        if replayed > 0 {
            self.wake.due_now([webhook.id.clone()]);
        }
        Ok(replayed)
    }
}

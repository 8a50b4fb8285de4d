//! Deliveries on request: a test event sent now through the same attempt
//! path as every delivery (breaker, metrics, recorded attempt), and
//! deliveries made due again (one, or every failed one of a webhook).

use std::sync::Arc;

use crate::delivery::attempt::Attempter;
use crate::delivery::queue::DeliveryQueue;
use crate::delivery::wake::Wake;
use crate::delivery::worker::LEASE;
use crate::domain::{AccountId, DeliveryId, SubscriptionId, Timestamp};
use crate::store::{AttemptResult, DeliveryStatus, NewEvent, StoreResult};

/// Sends and resends deliveries for the API.
pub struct Deliveries {
    store: Arc<dyn DeliveryQueue>,
    attempter: Arc<Attempter>,
    wake: Arc<Wake>,
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

    /// Make every delivery of the account's subscription that failed at or
    /// after `since` due now again; how many.
    pub async fn resend_failed(
        &self,
        account_id: &AccountId,
        subscription_id: &SubscriptionId,
        since: Timestamp,
    ) -> StoreResult<usize> {
        let resent = self
            .store
            .resend_failed(account_id, subscription_id, since)
            .await?;
        if resent > 0 {
            self.wake.due_now([subscription_id.clone()]);
        }
        Ok(resent)
    }
}

//! Per-webhook rate limits: a delivery to a webhook with a `rate_limit`
//! waits for its turn before its attempt starts, one turn every
//! `1 / rate_limit` seconds. Waiting spends no attempt and drops nothing;
//! the job keeps its lease (renewed while held). The turns come from the
//! store when it keeps them for every node (PostgreSQL, one row per
//! webhook), else from this node's own schedule (SQLite's one node).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use super::queue::DeliveryQueue;
use crate::domain::SubscriptionId;
use crate::store::Subscription;

/// Local schedules kept before the ones long past are dropped.
const PRUNE_ABOVE: usize = 10_000;

/// Hands out the turns of rate-limited webhooks.
pub struct Pacer {
    store: Option<Arc<dyn DeliveryQueue>>,
    next_free: Mutex<HashMap<SubscriptionId, Instant>>,
}

impl Pacer {
    /// Turns from `store` where it keeps them, else from this node.
    pub fn new(store: Arc<dyn DeliveryQueue>) -> Self {
        Self {
            store: Some(store),
            next_free: Mutex::default(),
        }
    }

    /// Turns from this node alone (the dispatcher's unit tests).
    #[cfg(test)]
    pub fn local() -> Self {
        Self {
            store: None,
            next_free: Mutex::default(),
        }
    }

    /// Wait until a delivery to `subscription` may start (at once when it
    /// has no rate limit).
    pub async fn wait_turn(&self, subscription: &Subscription) {
        let Some(limit) = subscription.rate_limit else {
            return;
        };
        let interval = limit.interval();
        let shared = match &self.store {
            Some(store) => store.reserve_turn(&subscription.id, interval).await,
            None => Ok(None),
        };
        let wait = match shared {
            Ok(Some(at)) => at.duration_since(SystemTime::now()).unwrap_or_default(),
            Ok(None) => self.local_turn(&subscription.id, interval),
            Err(error) => {
                tracing::warn!(%error, subscription = %subscription.id, "reserving a rate-limited turn failed; pacing on this node alone");
                self.local_turn(&subscription.id, interval)
            }
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    /// The wait for this node's next turn of `id`, taking it.
    fn local_turn(&self, id: &SubscriptionId, interval: Duration) -> Duration {
        let now = Instant::now();
        let mut next_free = self.next_free.lock().unwrap_or_else(|p| p.into_inner());
        if next_free.len() > PRUNE_ABOVE {
            next_free.retain(|_, at| *at > now);
        }
        let next = next_free.entry(id.clone()).or_insert(now);
        let turn = (*next).max(now);
        *next = turn + interval;
        turn - now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_turns_are_one_interval_apart_and_start_now_when_idle() {
        let pacer = Pacer::local();
        let id = SubscriptionId::from("sub_paced");
        let interval = Duration::from_millis(100);
        let waits: Vec<Duration> = (0..4).map(|_| pacer.local_turn(&id, interval)).collect();
        assert!(waits[0] < Duration::from_millis(5));
        for (i, wait) in waits.iter().enumerate().skip(1) {
            let expected = interval * i as u32;
            assert!(
                *wait <= expected && *wait + Duration::from_millis(20) >= expected,
                "turn {i}: {wait:?}"
            );
        }
        let other = SubscriptionId::from("sub_other");
        assert!(pacer.local_turn(&other, interval) < Duration::from_millis(5));
    }
}

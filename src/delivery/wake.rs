//! The dispatcher's doorbell. Ingest, the API and the outcome recorder ring
//! it with what may have fallen due (deliveries to some targets, a retry at
//! some time, or anything at all), so that the dispatcher claims only where
//! there is work it can take, and does not search a busy target's backlog
//! each time another event for that target arrives.

use std::collections::HashSet;
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

use crate::domain::{SubscriptionId, Timestamp};

/// Rung by whoever stores due work; answered by the dispatcher.
#[derive(Default)]
pub struct Wake {
    bell: Notify,
    news: Mutex<News>,
}

/// What the rings since the dispatcher last looked said.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct News {
    /// Something may be due to any target (another node stored work, or
    /// the store could not say where): look everywhere.
    pub anything: bool,
    /// Targets with deliveries due now.
    pub targets: HashSet<SubscriptionId>,
    /// The earliest time a newly scheduled delivery falls due.
    pub earliest: Option<Timestamp>,
}

impl Wake {
    /// A doorbell nobody has rung.
    pub fn new() -> Self {
        Self::default()
    }

    /// Deliveries to `targets` (subscription ids) are due now.
    pub fn due_now(&self, targets: impl IntoIterator<Item = SubscriptionId>) {
        self.news().targets.extend(targets);
        self.bell.notify_one();
    }

    /// A delivery falls due at `at`.
    pub fn due_at(&self, at: Timestamp) {
        let mut news = self.news();
        news.earliest = Some(news.earliest.map_or(at, |earliest| earliest.min(at)));
        drop(news);
        self.bell.notify_one();
    }

    /// Something may be due to any target.
    pub fn anything(&self) {
        self.news().anything = true;
        self.bell.notify_one();
    }

    /// Wait for a ring (at once if one came since the last wait).
    pub async fn rung(&self) {
        self.bell.notified().await;
    }

    /// What the rings said since the last take, forgetting it.
    pub fn take(&self) -> News {
        std::mem::take(&mut *self.news())
    }

    fn news(&self) -> MutexGuard<'_, News> {
        self.news.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn rings_gather_until_taken() {
        let wake = Wake::new();
        wake.due_now(["sub_a".into()]);
        wake.due_at(Timestamp(2_000));
        wake.due_now(["sub_b".into(), "sub_a".into()]);
        wake.due_at(Timestamp(1_000));
        wake.rung().await;
        let news = wake.take();
        assert!(!news.anything);
        assert_eq!(
            news.targets,
            HashSet::from(["sub_a".into(), "sub_b".into()])
        );
        assert_eq!(news.earliest, Some(Timestamp(1_000)));
        assert_eq!(wake.take(), News::default());
        wake.anything();
        assert!(wake.take().anything);
    }
}

//! Whether the database has room to write. A write refused for lack of
//! space marks the storage full; while it is, a watch probes the store
//! every second ([`super::Records::probe_write`]: room to spare, and a
//! write that succeeds), and marks it free again once a probe passes. While it is
//! full, `/readyz` answers 503; each refused write answers
//! `503 storage_full`. Each episode is logged once when it starts and once
//! when it ends, not once per refused write.
//!
//! Other writes that succeed meanwhile do not end an episode: on a nearly
//! full disk a small write can fit where an event does not.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{Store, StoreError};

/// How often a full storage is probed.
const PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// Seconds a client refused for lack of space is asked to wait.
pub const STORAGE_FULL_RETRY_AFTER: u64 = 10;

/// The storage's state, shared by the API, the dispatcher and the purger.
#[derive(Debug, Default)]
pub struct StorageHealth {
    full: AtomicBool,
}

impl StorageHealth {
    /// Whether the last write that reached the database was refused for
    /// lack of space.
    pub fn is_full(&self) -> bool {
        self.full.load(Ordering::Relaxed)
    }

    /// Note a store call's outcome: a lack of space marks the storage full
    /// (logged once per episode); other errors say nothing about space.
    pub fn note_error(&self, error: &StoreError) {
        if let StoreError::StorageFull(cause) = error
            && !self.full.swap(true, Ordering::Relaxed)
        {
            tracing::error!(
                error = %cause,
                "the database's storage is full: writes are refused with 503 storage_full and \
                 /readyz answers 503 until space is freed (accepted events keep their deliveries)"
            );
        }
    }

    /// The storage has room again (logged once, when an episode ends).
    pub fn recovered(&self) {
        if self.full.swap(false, Ordering::Relaxed) {
            tracing::info!("the database's storage has room again; writes are accepted");
        }
    }

    /// While `stop` is not cancelled: whenever the storage is full, probe
    /// `store` every second, and end the episode once a probe passes.
    pub async fn watch(self: Arc<Self>, store: Arc<dyn Store>, stop: CancellationToken) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(PROBE_INTERVAL) => {}
                _ = stop.cancelled() => return,
            }
            if self.is_full() {
                match store.probe_write().await {
                    Ok(()) => self.recovered(),
                    Err(error) => self.note_error(&error),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_episode_starts_with_a_refusal_and_ends_when_the_storage_recovers() {
        let health = StorageHealth::default();
        assert!(!health.is_full());
        health.note_error(&StoreError::Database("a timeout".into()));
        assert!(!health.is_full(), "other errors say nothing about space");
        health.note_error(&StoreError::StorageFull("disk full".into()));
        health.note_error(&StoreError::StorageFull("still full".into()));
        assert!(health.is_full());
        health.recovered();
        assert!(!health.is_full());
    }
}

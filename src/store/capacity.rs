//! Whether the database has room to write. A write refused for lack of
//! space marks the storage full; the next write that succeeds marks it
//! free again. While it is full, `/readyz` answers 503 and refused writes
//! answer `503 storage_full`. Each episode is logged once when it starts
//! and once when it ends, not once per refused write.

use std::sync::atomic::{AtomicBool, Ordering};

use super::StoreError;

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

    /// Note a write that succeeded: the storage has room again (logged
    /// once, when an episode ends).
    pub fn note_written(&self) {
        if self.full.load(Ordering::Relaxed) && self.full.swap(false, Ordering::Relaxed) {
            tracing::info!("the database's storage has room again; writes are accepted");
        }
    }

    /// [`StorageHealth::note_error`] or [`StorageHealth::note_written`], as
    /// a write's `result` says.
    pub fn note<T>(&self, result: &Result<T, StoreError>) {
        match result {
            Ok(_) => self.note_written(),
            Err(error) => self.note_error(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_episode_starts_with_a_refusal_and_ends_with_a_write() {
        let health = StorageHealth::default();
        assert!(!health.is_full());
        health.note_error(&StoreError::Database("a timeout".into()));
        assert!(!health.is_full(), "other errors say nothing about space");
        health.note::<()>(&Err(StoreError::StorageFull("disk full".into())));
        health.note_error(&StoreError::StorageFull("still full".into()));
        assert!(health.is_full());
        health.note(&Ok(()));
        assert!(!health.is_full());
    }
}

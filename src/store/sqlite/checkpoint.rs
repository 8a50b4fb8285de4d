//! The checkpointer: copies the write-ahead log back into the database file
//! on its own thread and connection, so the writer's commits do not pay for
//! it. A profile of ten endpoints under load had the writer thread busy 90%
//! of the time, a tenth of it in the checkpoints SQLite ran inside commits.
//!
//! Checkpoints here are passive: they never block the writer or a reader.
//! The writer keeps a backstop (`wal_autocheckpoint`, see `configure`), so
//! the log stays bounded even if this thread falls behind.

use std::path::Path;
use std::sync::mpsc::{self, SyncSender};
use std::time::Duration;

use rusqlite::Connection;

use crate::store::StoreResult;

/// The shortest time between two checkpoints: under load, a checkpoint
/// copies a few hundred pages rather than one commit's handful.
const SPACING: Duration = Duration::from_millis(25);

/// A handle to the checkpoint thread; the thread ends when it is dropped.
pub struct Checkpointer {
    nudges: SyncSender<()>,
}

impl Checkpointer {
    /// Start checkpointing the database at `path` on a thread of its own.
    pub fn start(path: &Path) -> StoreResult<Self> {
        let connection = Connection::open(path)?;
        let (nudges, nudged) = mpsc::sync_channel::<()>(1);
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || {
                // Logged when checkpoints start failing and when they work
                // again, not at every nudge (a full disk fails them all).
                let mut failing = false;
                while nudged.recv().is_ok() {
                    match connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                        Err(error) if !failing => {
                            failing = true;
                            tracing::warn!(%error, "background checkpoints are failing");
                        }
                        Ok(()) if failing => {
                            failing = false;
                            tracing::info!("background checkpoints work again");
                        }
                        _ => {}
                    }
                    std::thread::sleep(SPACING);
                }
            })
            .expect("spawn the sqlite checkpoint thread");
        Ok(Self { nudges })
    }

    /// Say that a transaction committed: a checkpoint follows soon, at most
    /// one per [`SPACING`] however many commits asked.
    pub fn nudge(&self) {
        let _ = self.nudges.try_send(());
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    #[test]
    fn a_nudge_copies_the_log_back_into_the_database_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let writer = Connection::open(&path).unwrap();
        writer
            .execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0;
                 CREATE TABLE t (x BLOB);",
            )
            .unwrap();
        let file_size = || std::fs::metadata(&path).unwrap().len();
        let checkpointer = Checkpointer::start(&path).unwrap();
        writer
            .execute("INSERT INTO t VALUES (zeroblob(400000))", [])
            .unwrap();
        assert!(file_size() < 100_000, "the row is in the log only");
        checkpointer.nudge();
        let deadline = Instant::now() + Duration::from_secs(10);
        while file_size() < 400_000 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(
            file_size() >= 400_000,
            "the checkpointer copied the row into the database file"
        );
    }
}

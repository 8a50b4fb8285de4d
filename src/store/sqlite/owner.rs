//! The lock that makes one process the owner of an embedded database. The
//! SQLite store keeps its leases in memory and takes back, at start, every
//! lease a previous process left in the file; both are right only while no
//! other process delivers from the same file, so a second one refuses to
//! start instead of sending every delivery twice.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use crate::store::{StoreError, StoreResult};

/// An exclusive lock on `<database>-lock`, held while this value lives (the
/// operating system drops it when the process dies, however it dies).
#[derive(Debug)]
pub struct ProcessLock {
    _file: File,
}

impl ProcessLock {
    /// Take the lock for the database at `database`, or say which file
    /// another process holds.
    pub fn take(database: &Path) -> StoreResult<Self> {
        let path = lock_path(database);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|error| {
                StoreError::Database(format!("opening the lock file {}: {error}", path.display()))
            })?;
        match file.try_lock() {
            Ok(()) => Ok(Self { _file: file }),
            Err(TryLockError::WouldBlock) => Err(StoreError::Database(format!(
                "another process is using the database {} (it holds {}); \
                 an embedded database serves one process, use PostgreSQL for several nodes",
                database.display(),
                path.display()
            ))),
            Err(TryLockError::Error(error)) => Err(StoreError::Database(format!(
                "locking {}: {error}",
                path.display()
            ))),
        }
    }
}

/// The lock file beside the database at `database`.
fn lock_path(database: &Path) -> PathBuf {
    let mut lock = database.as_os_str().to_owned();
    lock.push("-lock");
    lock.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_owner_is_refused_until_the_first_lets_go() {
        let dir = tempfile::TempDir::new().unwrap();
        let database = dir.path().join("hookbridge.db");
        let first = ProcessLock::take(&database).unwrap();
        let refused = ProcessLock::take(&database).unwrap_err().to_string();
        assert!(refused.contains("another process"), "{refused}");
        drop(first);
        ProcessLock::take(&database).expect("the lock is free again");
    }
}

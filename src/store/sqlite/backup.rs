//! Online backup of an embedded database: a consistent copy of a file
//! that a running service keeps writing, made with `VACUUM INTO` from a
//! read transaction of its own (in WAL mode a reader neither waits for the
//! writer nor stops it). The copy holds everything committed before the
//! backup began. The encryption key file beside the database is copied
//! beside the backup, since the copy's sealed secrets are useless without
//! it.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, params};

use crate::store::{StoreError, StoreResult};

/// What a backup wrote.
#[derive(Debug)]
pub struct BackupReport {
    /// The database copy.
    pub database: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// The key file copied beside it, when the database had one.
    pub key_file: Option<PathBuf>,
}

/// The key file that a database at `database` keeps its secrets' key in.
pub fn key_file_of(database: &Path) -> PathBuf {
    let mut path = database.as_os_str().to_owned();
    path.push(".key");
    path.into()
}

/// Copy the database at `database` (which may be in use) to `to`, which
/// must not exist yet, and its key file to `to` plus `.key`.
pub fn backup(database: &Path, to: &Path) -> StoreResult<BackupReport> {
    if !database.exists() {
        return Err(StoreError::Database(format!(
            "there is no database at {}",
            database.display()
        )));
    }
    let key_to = key_file_of(to);
    for target in [to, key_to.as_path()] {
        if target.exists() {
            return Err(StoreError::Database(format!(
                "{} exists already; back up to a new file",
                target.display()
            )));
        }
    }
    let connection = Connection::open_with_flags(
        database,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    connection.busy_timeout(std::time::Duration::from_secs(30))?;
    let target = to
        .to_str()
        .ok_or_else(|| StoreError::Database(format!("{} is not a UTF-8 path", to.display())))?;
    connection.execute("VACUUM INTO ?1", params![target])?;
    let key_from = key_file_of(database);
    let key_file = if key_from.exists() {
        copy_private(&key_from, &key_to)?;
        Some(key_to)
    } else {
        None
    };
    let bytes = std::fs::metadata(to).map_or(0, |m| m.len());
    Ok(BackupReport {
        database: to.to_owned(),
        bytes,
        key_file,
    })
}

/// Copy `from` to a new file `to` that only its owner can read.
fn copy_private(from: &Path, to: &Path) -> StoreResult<()> {
    let failed = |error: std::io::Error| {
        StoreError::Database(format!(
            "copying {} to {}: {error}",
            from.display(),
            to.display()
        ))
    };
    let text = std::fs::read(from).map_err(failed)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(to).map_err(failed)?;
    std::io::Write::write_all(&mut file, &text).map_err(failed)?;
    file.sync_all().map_err(failed)
}

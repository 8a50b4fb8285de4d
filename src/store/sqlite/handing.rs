//! Handing new deliveries from ingest straight to the dispatcher, on the
//! one SQLite node (the channel itself is `store::hand_off`). Ingest
//! reserves a place in the hand-off channel, stores
//! each new delivery in state `handed`, leases it as handed, and sends the
//! batch once its transaction has committed. A `handed` row is outside the
//! due indexes: no claim can see it, and its outcome moves it on without
//! touching them (four index changes fewer per delivery). A give-back, or a
//! lease that ran out, returns the row to `pending`, to be claimed.
//!
//! A crash can leave rows `handed`. The settings row `handed_from` holds a
//! watermark below which no row is `handed`, moved on at each renewal of
//! leases; at start, the rows at or above it go back to `pending`.
//!
//! So can a write batch that fails (a full disk) after ending handed leases
//! in memory: their rows stay `handed` with no lease. The watermark then
//! stops moving, and the next renewal returns every row at or above it that
//! is `handed` without a lease to `pending`, where a claim finds it: within
//! a third of a lease, and without a restart.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use rusqlite::{Connection, OptionalExtension, params};

use super::leases::{LeaseTable, Leases};
use crate::domain::Timestamp;
use crate::store::{StoreError, StoreResult};

/// The state of a delivery ingest handed to the dispatcher; the API shows
/// it as `pending`.
pub const HANDED: &str = "handed";

/// Return the handed rows at `rowids` to `pending`, due at their old time.
pub fn unhand(connection: &Connection, rowids: &[i64]) -> StoreResult<()> {
    let mut update = connection.prepare_cached(
        "UPDATE deliveries SET state = 'pending' WHERE rowid = ?1 AND state = ?2",
    )?;
    for rowid in rowids {
        update.execute(params![rowid, HANDED])?;
    }
    Ok(())
}

/// Cancel the handed deliveries of `subscription_id` (from the row key
/// `from`, the lowest a handed lease holds): those in flight when their
/// subscription went.
pub fn cancel_handed(
    connection: &Connection,
    subscription_id: &str,
    from: i64,
    now: Timestamp,
) -> StoreResult<()> {
    connection
        .prepare_cached(
            "UPDATE deliveries SET state = 'cancelled', next_attempt_at = NULL, updated_at = ?3
             WHERE rowid >= ?2 AND subscription_id = ?1 AND state = ?4",
        )?
        .execute(params![subscription_id, from, now.0, HANDED])?;
    Ok(())
}

/// The watermark as stored, kept to write it only when it moves.
#[derive(Debug, Clone, Default)]
pub struct Watermark {
    saved: Arc<AtomicI64>,
}

impl Watermark {
    /// With the leases locked in a write job: forget those that ran out,
    /// return their handed rows to `pending`, and store the watermark if it
    /// moved. After a failed batch (the watermark frozen), also return the
    /// rows it left `handed` without a lease; true when it did, and the
    /// caller thaws the watermark once this job has committed.
    pub fn sweep(
        &self,
        connection: &Connection,
        table: &mut LeaseTable<'_>,
        now: Timestamp,
    ) -> StoreResult<bool> {
        unhand(connection, &table.forget_run_out(now))?;
        if table.frozen() {
            self.return_orphans(connection, table)?;
            return Ok(true);
        }
        match table.watermark() {
            Some(mark) if mark != self.saved.load(Ordering::Relaxed) => {
                save(connection, mark)?;
                self.saved.store(mark, Ordering::Relaxed);
                Ok(false)
            }
            _ => Ok(false),
        }
    }

    /// Return to `pending` every row at or above the watermark as stored
    /// (not as last saved: that save may have been rolled back) that is
    /// `handed` but held by no handed lease; and forget the handed leases
    /// whose rows a rolled-back ingest never stored, so none of them can
    /// hold the watermark above a row stored later at its key.
    fn return_orphans(
        &self,
        connection: &Connection,
        table: &mut LeaseTable<'_>,
    ) -> StoreResult<()> {
        let from = stored(connection)?.unwrap_or(0);
        let handed: HashSet<i64> = connection
            .prepare_cached("SELECT rowid FROM deliveries WHERE rowid >= ?1 AND state = ?2")?
            .query_map(params![from, HANDED], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        table.forget_handed_missing(&handed);
        let orphans: Vec<i64> = handed
            .into_iter()
            .filter(|&rowid| !table.holds_handed(rowid))
            .collect();
        if !orphans.is_empty() {
            tracing::info!(
                count = orphans.len(),
                "deliveries left handed by a failed write are due again"
            );
        }
        unhand(connection, &orphans)
    }

    /// After a purge left `top` the highest row key: the next row gets
    /// `top + 1`, so no watermark may stay above that, in memory or as
    /// stored. Lowering it is always safe: recovery then looks at more rows.
    pub fn lower(
        &self,
        connection: &Connection,
        table: &mut LeaseTable<'_>,
        top: i64,
    ) -> StoreResult<()> {
        table.handed_at_most(top);
        if stored(connection)?.is_some_and(|mark| mark > top + 1) {
            save(connection, top + 1)?;
            self.saved.store(top + 1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// At start, before any hand-off: return the rows a crash left `handed`
    /// to `pending`, and set the watermark past every row.
    pub fn recover(connection: &Connection, leases: &Leases) -> StoreResult<Self> {
        // No watermark: the file was never written by a version that hands
        // deliveries over, so no row is `handed`.
        if let Some(from) = stored(connection)? {
            let returned = connection.execute(
                "UPDATE deliveries SET state = 'pending' WHERE rowid >= ?1 AND state = ?2",
                params![from, HANDED],
            )?;
            if returned > 0 {
                tracing::info!(
                    count = returned,
                    "deliveries handed over before a crash are due again"
                );
            }
        }
        let top: i64 = connection.query_row(
            "SELECT coalesce(max(rowid), 0) FROM deliveries",
            [],
            |row| row.get(0),
        )?;
        save(connection, top + 1)?;
        leases.lock().start_after(top);
        Ok(Self {
            saved: Arc::new(AtomicI64::new(top + 1)),
        })
    }
}

/// The watermark as the file holds it, if any was ever stored.
fn stored(connection: &Connection) -> StoreResult<Option<i64>> {
    let stored: Option<String> = connection
        .prepare_cached("SELECT value FROM settings WHERE key = 'handed_from'")?
        .query_row([], |row| row.get(0))
        .optional()?;
    stored
        .map(|text| {
            text.parse().map_err(|_| {
                StoreError::Database(format!("the stored hand-off watermark {text:?}"))
            })
        })
        .transpose()
}

fn save(connection: &Connection, mark: i64) -> StoreResult<()> {
    connection
        .prepare_cached(
            "INSERT INTO settings (key, value) VALUES ('handed_from', ?1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )?
        .execute(params![mark.to_string()])?;
    Ok(())
}

//! The leases held on SQLite deliveries, kept in memory. One process owns
//! an embedded database (see [`super::owner::ProcessLock`]), so no other
//! node can ask which deliveries are taken: a claim, a release or a renewal
//! writes no row, and a claim leaves the delivery's place in the due
//! indexes alone.
//! A restart forgets every lease, which makes every pending delivery due at
//! once: at least once, as a lease that ran out would.
//!
//! Deliveries ingest hands straight to the dispatcher are leased here as
//! handed; their rows are in state `handed`, outside the due indexes, until
//! an outcome, a give-back or a run-out lease moves them on. The table
//! keeps the watermark below which no row is `handed` (see `handing.rs`).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use rand::Rng;

use crate::domain::Timestamp;

/// How many low bits of a lease token are a random tag; the rest are the
/// delivery's row key.
const TAG_BITS: u32 = 20;

/// A fresh lease token for the delivery at `rowid` (any row key below 2^43):
/// the row key and a random tag. Completing a lease finds the row by its
/// key, not through the text id's index, and the tag tells one lease of a
/// row from the next: a completion from a lease that ran out and whose row
/// was claimed again matches the new token one time in a million, and then
/// the delivery is at worst made twice.
pub fn lease_token(rowid: i64) -> i64 {
    (rowid << TAG_BITS) | i64::from(rand::rng().random::<u32>() >> (32 - TAG_BITS))
}

/// The row key a lease token carries.
pub fn leased_row(token: i64) -> i64 {
    token >> TAG_BITS
}

/// One held lease.
#[derive(Debug, Clone, Copy)]
struct Held {
    token: i64,
    expiry: Timestamp,
    /// Ingest handed the delivery over: its row is in state `handed`.
    handed: bool,
}

/// The table behind the lock.
#[derive(Debug, Default)]
struct Table {
    held: HashMap<i64, Held>,
    /// The highest row key ever handed over (or, at start, the highest
    /// row key there is).
    handed_up_to: i64,
    /// A batch that ended leases failed to commit: the rows of handed
    /// leases ended in memory may still be `handed` in the file, with no
    /// lease to move them on. The watermark stops moving until the next
    /// renewal has returned such rows to `pending` (see `handing.rs`).
    watermark_frozen: bool,
}

/// Every lease this process holds, by delivery row key.
#[derive(Debug, Default)]
pub struct Leases {
    table: Mutex<Table>,
}

/// The leases, locked for one claim or one batch of outcomes.
pub struct LeaseTable<'a> {
    table: MutexGuard<'a, Table>,
}

impl Leases {
    /// Lock the table.
    pub fn lock(&self) -> LeaseTable<'_> {
        LeaseTable {
            table: self
                .table
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        }
    }
}

impl LeaseTable<'_> {
    /// How many leases are held, run out or not: a claim reads that many
    /// more due rows than it means to take, since held ones come first.
    pub fn len(&self) -> usize {
        self.table.held.len()
    }

    /// Whether the delivery at `rowid` is held by a lease that has not run
    /// out at `now`.
    pub fn is_held(&self, rowid: i64, now: Timestamp) -> bool {
        self.table
            .held
            .get(&rowid)
            .is_some_and(|held| held.expiry > now)
    }

    /// Take a new lease on the delivery at `rowid` until `expiry`; its token.
    pub fn take(&mut self, rowid: i64, expiry: Timestamp) -> i64 {
        self.insert(rowid, expiry, false)
    }

    /// [`LeaseTable::take`] for a delivery ingest hands over, whose row it
    /// stores in state `handed`.
    pub fn take_handed(&mut self, rowid: i64, expiry: Timestamp) -> i64 {
        self.table.handed_up_to = self.table.handed_up_to.max(rowid);
        self.insert(rowid, expiry, true)
    }

    fn insert(&mut self, rowid: i64, expiry: Timestamp, handed: bool) -> i64 {
        let token = lease_token(rowid);
        let held = Held {
            token,
            expiry,
            handed,
        };
        self.table.held.insert(rowid, held);
        token
    }

    /// Whether `token` is a lease still held on a handed delivery.
    pub fn is_handed(&self, token: i64) -> bool {
        self.table
            .held
            .get(&leased_row(token))
            .is_some_and(|held| held.token == token && held.handed)
    }

    /// How many handed deliveries are held.
    pub fn handed(&self) -> usize {
        self.table.held.values().filter(|held| held.handed).count()
    }

    /// End the lease `token`, run out or not; false when it is no longer
    /// held (given back, or its delivery claimed again after it ran out).
    pub fn end(&mut self, token: i64) -> bool {
        let rowid = leased_row(token);
        match self.table.held.get(&rowid) {
            Some(held) if held.token == token => {
                self.table.held.remove(&rowid);
                true
            }
            _ => false,
        }
    }

    /// Hold the lease `token`, if still held, until `expiry`.
    pub fn extend(&mut self, token: i64, expiry: Timestamp) {
        if let Some(held) = self.table.held.get_mut(&leased_row(token))
            && held.token == token
        {
            held.expiry = expiry;
        }
    }

    /// Forget leases that ran out before `now` and were not claimed again:
    /// those of a delivery cancelled or finished some other way while its
    /// attempt was lost. The row keys of the handed ones among them, whose
    /// rows the caller must return to `pending`.
    pub fn forget_run_out(&mut self, now: Timestamp) -> Vec<i64> {
        let mut handed = Vec::new();
        self.table.held.retain(|&rowid, held| {
            let keep = held.expiry > now;
            if !keep && held.handed {
                handed.push(rowid);
            }
            keep
        });
        handed
    }

    /// The lowest row key a held handed lease is on, or the one past every
    /// row handed so far.
    pub fn lowest_handed(&self) -> i64 {
        let lowest = self
            .table
            .held
            .iter()
            .filter(|(_, held)| held.handed)
            .map(|(&rowid, _)| rowid)
            .min();
        lowest.unwrap_or(self.table.handed_up_to + 1)
    }

    /// The watermark to store with the current transaction: no row below
    /// it is in state `handed` once it commits (outcomes and give-backs end
    /// a handed lease in the transaction that moves its row on). `None`
    /// once it is frozen.
    pub fn watermark(&self) -> Option<i64> {
        (!self.table.watermark_frozen).then(|| self.lowest_handed())
    }

    /// No row above `rowid` exists any more (a purge deleted them): the
    /// watermark need not stay above it.
    pub fn handed_at_most(&mut self, rowid: i64) {
        self.table.handed_up_to = self.table.handed_up_to.min(rowid);
    }

    /// At start: no row above `rowid` exists, and none is handed.
    pub fn start_after(&mut self, rowid: i64) {
        self.table.handed_up_to = rowid;
    }

    /// A batch failed to commit after leases may have ended in memory: stop
    /// moving the watermark until the rows left `handed` are found.
    pub fn freeze_watermark(&mut self) {
        self.table.watermark_frozen = true;
    }

    /// Whether a failed batch may have left rows `handed` with no lease.
    pub fn frozen(&self) -> bool {
        self.table.watermark_frozen
    }

    /// The rows left `handed` by failed batches are `pending` again, as
    /// committed: the watermark moves again.
    pub fn thaw(&mut self) {
        self.table.watermark_frozen = false;
    }

    /// Forget every handed lease whose row is not among `handed` (the rows
    /// in state `handed` at or above the stored watermark): a lease a
    /// rolled-back ingest took on a row it never stored.
    pub fn forget_handed_missing(&mut self, handed: &std::collections::HashSet<i64>) {
        self.table
            .held
            .retain(|rowid, held| !held.handed || handed.contains(rowid));
    }

    /// Whether a handed lease holds the delivery at `rowid`, run out or not.
    pub fn holds_handed(&self, rowid: i64) -> bool {
        self.table.held.get(&rowid).is_some_and(|held| held.handed)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_lease_token_carries_its_row_and_differs_from_the_rows_next_lease() {
        for rowid in [1_i64, 4_096, (1 << 43) - 1] {
            let tokens: HashSet<i64> = (0..64).map(|_| lease_token(rowid)).collect();
            assert!(tokens.len() > 60, "tags repeat too often: {}", tokens.len());
            assert!(tokens.iter().all(|&token| leased_row(token) == rowid));
        }
    }

    #[test]
    fn a_lease_ends_once_and_only_with_its_own_token() {
        let leases = Leases::default();
        let now = Timestamp::now();
        let later = now.after(Duration::from_secs(60));
        let mut table = leases.lock();
        let first = table.take(7, later);
        assert!(table.is_held(7, now));
        assert!(!table.is_held(8, now));
        // A new lease of the same row, with a tag of its own.
        let second = std::iter::repeat_with(|| table.take(7, later))
            .find(|&token| token != first)
            .unwrap();
        assert!(!table.end(first), "an old token ended the new lease");
        assert!(table.end(second));
        assert!(!table.end(second), "a lease ended twice");
        assert!(!table.is_held(7, now));
    }

    #[test]
    fn the_watermark_is_the_lowest_handed_lease_or_past_every_handed_row() {
        let leases = Leases::default();
        let later = Timestamp::now().after(Duration::from_secs(60));
        let mut table = leases.lock();
        table.start_after(10);
        assert_eq!(table.watermark(), Some(11));
        let claimed = table.take(5, later);
        let low = table.take_handed(12, later);
        let high = table.take_handed(14, later);
        assert_eq!(
            table.watermark(),
            Some(12),
            "a claimed lease does not count"
        );
        assert!(table.is_handed(low) && !table.is_handed(claimed));
        assert_eq!(table.handed(), 2);
        assert!(table.end(low));
        assert_eq!(table.watermark(), Some(14));
        assert!(table.end(high));
        assert_eq!(table.watermark(), Some(15), "past the last handed row");
        table.freeze_watermark();
        assert_eq!(table.watermark(), None);
        assert!(table.frozen());
        assert_eq!(table.lowest_handed(), 15);
        table.thaw();
        assert_eq!(table.watermark(), Some(15));
    }

    #[test]
    fn a_run_out_handed_lease_is_named_when_swept() {
        let leases = Leases::default();
        let now = Timestamp::now();
        let mut table = leases.lock();
        table.take_handed(8, now);
        table.take(9, now);
        table.take_handed(10, now.after(Duration::from_secs(60)));
        assert_eq!(table.forget_run_out(now), vec![8]);
        assert_eq!(table.len(), 1);
    }

    #[test]
    fn a_run_out_lease_is_claimable_until_renewed_and_forgotten_when_swept() {
        let leases = Leases::default();
        let now = Timestamp::now();
        let mut table = leases.lock();
        let token = table.take(3, now);
        assert!(!table.is_held(3, now), "a lease at its expiry still holds");
        table.extend(token, now.after(Duration::from_secs(60)));
        assert!(table.is_held(3, now));
        let lost = table.take(4, now);
        assert!(
            table.forget_run_out(now).is_empty(),
            "no handed lease ran out"
        );
        assert_eq!(
            table.len(),
            1,
            "the run-out lease is swept, the renewed one kept"
        );
        assert!(!table.end(lost));
        assert!(table.end(token));
    }
}

//! The leases held on SQLite deliveries, kept in memory. One process owns
//! an embedded database (see [`super::owner::ProcessLock`]), so no other
//! node can ask which deliveries are taken: a claim, a release or a renewal
//! writes no row, and a claim leaves the delivery's place in the due
//! indexes alone.
//! A restart forgets every lease, which makes every pending delivery due at
//! once: at least once, as a lease that ran out would.

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
}

/// Every lease this process holds, by delivery row key.
#[derive(Debug, Default)]
pub struct Leases {
    held: Mutex<HashMap<i64, Held>>,
}

/// The leases, locked for one claim or one batch of outcomes.
pub struct LeaseTable<'a> {
    held: MutexGuard<'a, HashMap<i64, Held>>,
}

impl Leases {
    /// Lock the table.
    pub fn lock(&self) -> LeaseTable<'_> {
        LeaseTable {
            held: self
                .held
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        }
    }
}

impl LeaseTable<'_> {
    /// How many leases are held, run out or not: a claim reads that many
    /// more due rows than it means to take, since held ones come first.
    pub fn len(&self) -> usize {
        self.held.len()
    }

    /// Whether the delivery at `rowid` is held by a lease that has not run
    /// out at `now`.
    pub fn is_held(&self, rowid: i64, now: Timestamp) -> bool {
        self.held.get(&rowid).is_some_and(|held| held.expiry > now)
    }

    /// Take a new lease on the delivery at `rowid` until `expiry`; its token.
    pub fn take(&mut self, rowid: i64, expiry: Timestamp) -> i64 {
        let token = lease_token(rowid);
        self.held.insert(rowid, Held { token, expiry });
        token
    }

    /// End the lease `token`, run out or not; false when it is no longer
    /// held (given back, or its delivery claimed again after it ran out).
    pub fn end(&mut self, token: i64) -> bool {
        let rowid = leased_row(token);
        match self.held.get(&rowid) {
            Some(held) if held.token == token => {
                self.held.remove(&rowid);
                true
            }
            _ => false,
        }
    }

    /// Hold the lease `token`, if still held, until `expiry`.
    pub fn extend(&mut self, token: i64, expiry: Timestamp) {
        if let Some(held) = self.held.get_mut(&leased_row(token))
            && held.token == token
        {
            held.expiry = expiry;
        }
    }

    /// Forget leases that ran out before `now` and were not claimed again:
    /// those of a delivery cancelled or finished some other way while its
    /// attempt was lost.
    pub fn forget_run_out(&mut self, now: Timestamp) {
        self.held.retain(|_, held| held.expiry > now);
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
    fn a_run_out_lease_is_claimable_until_renewed_and_forgotten_when_swept() {
        let leases = Leases::default();
        let now = Timestamp::now();
        let mut table = leases.lock();
        let token = table.take(3, now);
        assert!(!table.is_held(3, now), "a lease at its expiry still holds");
        table.extend(token, now.after(Duration::from_secs(60)));
        assert!(table.is_held(3, now));
        let lost = table.take(4, now);
        table.forget_run_out(now);
        assert_eq!(
            table.len(),
            1,
            "the run-out lease is swept, the renewed one kept"
        );
        assert!(!table.end(lost));
        assert!(table.end(token));
    }
}

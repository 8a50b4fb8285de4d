//! The SQLite store's subscription cache: each account's routes (for
//! ingest) and whole subscriptions by id (for deliveries), kept parsed
//! between write jobs, and warmed from a read connection before an ingest
//! job reaches the writer, so the single writer thread does not spend its
//! time reading webhooks it has not seen yet.

use super::*;

/// Accounts whose routes the cache keeps at most.
const CACHED_ACCOUNTS: usize = 100_000;
/// Whole subscriptions the cache keeps at most (100,000 took about 100 MB
/// in the many-tenants benchmark).
const CACHED_SUBSCRIPTIONS: usize = 100_000;

/// What the writer thread keeps parsed between jobs. A subscription write
/// drops its account's routes and that subscription, and a batch that
/// fails to commit empties it, so it never holds uncommitted or stale
/// state. It keeps at most [`CACHED_ACCOUNTS`] accounts' routes and
/// [`CACHED_SUBSCRIPTIONS`] subscriptions, dropping the least recently
/// used, so a deployment with millions of webhooks does not hold them all.
/// It also holds the [`Sealer`] that every read of a whole subscription
/// needs, since the cache is what every write job already carries.
///
/// The writer fills it on its own connection, which sees every earlier
/// job's writes. A warm-up on a read connection sees only what had
/// committed when its read began, so it stores what it read only if no
/// subscription write was in flight when it started ([`Self::warming`]
/// refuses while one is) and none began since (the epoch is unchanged).
#[derive(Clone)]
pub(super) struct SubscriptionCache {
    entries: Arc<Mutex<CachedSubscriptions>>,
    /// Opens and seals subscriptions' secrets.
    pub(super) sealer: Arc<Sealer>,
}

struct CachedSubscriptions {
    routes: LruCache<AccountId, Arc<Vec<Route>>>,
    by_id: LruCache<SubscriptionId, Arc<Subscription>>,
    /// Counts the drops: a warm-up that began at another epoch may have
    /// read what a write since changed.
    epoch: u64,
    /// A subscription write dropped entries in the batch being written and
    /// has not committed yet; a read connection cannot see it.
    unsettled: bool,
}

impl Default for CachedSubscriptions {
    fn default() -> Self {
        Self {
            routes: LruCache::new(CACHED_ACCOUNTS),
            by_id: LruCache::new(CACHED_SUBSCRIPTIONS),
            epoch: 0,
            unsettled: false,
        }
    }
}

/// A warm-up an ingest asks for: the epoch it began at.
pub(super) struct Warming {
    epoch: u64,
}

impl SubscriptionCache {
    /// An empty cache whose subscriptions' secrets `sealer` opens.
    pub(super) fn new(sealer: Sealer) -> Self {
        Self {
            entries: Arc::default(),
            sealer: Arc::new(sealer),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CachedSubscriptions> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Drop everything: a batch failed to commit.
    pub(super) fn clear(&self) {
        let mut entries = self.lock();
        entries.routes.clear();
        entries.by_id.clear();
        entries.epoch += 1;
        entries.unsettled = false;
    }

    /// Drop what a write to `account_id`'s subscription `id` may have made
    /// stale: that account's routes and that subscription. The rest stays:
    /// a write to one tenant's webhook costs the others nothing.
    pub(super) fn forget(&self, account_id: &AccountId, id: &SubscriptionId) {
        let mut entries = self.lock();
        entries.routes.remove(account_id);
        entries.by_id.remove(id);
        entries.epoch += 1;
        entries.unsettled = true;
    }

    /// A batch committed: its subscription writes, if any, are now what a
    /// read connection sees.
    pub(super) fn settle(&self) {
        self.lock().unsettled = false;
    }

    /// The routes of `account_id`'s enabled subscriptions.
    pub(super) fn routes_for(
        &self,
        connection: &Connection,
        account_id: &AccountId,
    ) -> StoreResult<Arc<Vec<Route>>> {
        if let Some(cached) = self.lock().routes.get(account_id) {
            return Ok(cached.clone());
        }
        let routes = Arc::new(read_routes(connection, account_id)?);
        self.lock()
            .routes
            .insert(account_id.to_owned(), routes.clone());
        Ok(routes)
    }

    /// A subscription by id; `None` when it no longer exists.
    pub(super) fn subscription(
        &self,
        connection: &Connection,
        id: &SubscriptionId,
    ) -> StoreResult<Option<Arc<Subscription>>> {
        if let Some(cached) = self.lock().by_id.get(id) {
            return Ok(Some(cached.clone()));
        }
        let found = read_subscription(connection, id, &self.sealer)?.map(Arc::new);
        if let Some(subscription) = &found {
            self.lock()
                .by_id
                .insert(id.to_owned(), subscription.clone());
        }
        Ok(found)
    }

    /// Whether ingesting `event` would read anything the cache lacks (its
    /// account's routes, or a subscription they send it to), and no
    /// subscription write is in flight: then a warm-up is worth starting.
    pub(super) fn warming(&self, event: &NewEvent) -> Option<Warming> {
        let mut entries = self.lock();
        if entries.unsettled {
            return None;
        }
        let epoch = entries.epoch;
        let Some(routes) = entries.routes.get(&event.account_id).cloned() else {
            return Some(Warming { epoch });
        };
        matching(&routes, event.event_type.as_str(), &event.data)
            .any(|route| !entries.by_id.contains_key(&route.subscription_id))
            .then_some(Warming { epoch })
    }

    /// Read on `connection` (a read connection) what ingesting `event`
    /// needs and the cache lacks, and keep it if no subscription write
    /// began since `warming`. Best effort: on any error the writer reads
    /// for itself.
    pub(super) fn warm(&self, connection: &Connection, event: &NewEvent, warming: Warming) {
        let cached = self.lock().routes.get(&event.account_id).cloned();
        let (routes, read) = match cached {
            Some(routes) => (routes, false),
            None => match read_routes(connection, &event.account_id) {
                Ok(routes) => (Arc::new(routes), true),
                Err(_) => return,
            },
        };
        let mut subscriptions = Vec::new();
        for route in matching(&routes, event.event_type.as_str(), &event.data) {
            if self.lock().by_id.contains_key(&route.subscription_id) {
                continue;
            }
            match read_subscription(connection, &route.subscription_id, &self.sealer) {
                Ok(Some(subscription)) => subscriptions.push(Arc::new(subscription)),
                Ok(None) => {}
                Err(_) => return,
            }
        }
        let mut entries = self.lock();
        if entries.epoch != warming.epoch || entries.unsettled {
            return;
        }
        if read {
            entries.routes.insert(event.account_id.clone(), routes);
        }
        for subscription in subscriptions {
            entries.by_id.insert(subscription.id.clone(), subscription);
        }
    }
}

/// The routes of `account_id`'s enabled subscriptions, as stored.
fn read_routes(connection: &Connection, account_id: &AccountId) -> StoreResult<Vec<Route>> {
    let mut query = connection.prepare_cached(
        "SELECT id, events, filter FROM subscriptions WHERE account_id = ?1 AND enabled = 1",
    )?;
    let routes = query
        .query_map(params![account_id], |row| {
            let events: Vec<String> = json_column(row, 1)?;
            Ok(Route {
                subscription_id: row.get(0)?,
                events: EventSelection::from_stored(events),
                filter: filter_column(row, 2)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(routes)
}

/// The subscription `id` as stored, its secrets opened with `sealer`.
fn read_subscription(
    connection: &Connection,
    id: &SubscriptionId,
    sealer: &Sealer,
) -> StoreResult<Option<Subscription>> {
    Ok(connection
        .prepare_cached(&format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions s WHERE s.id = ?1"
        ))?
        .query_row(params![id], |r| subscription_at(r, 0, sealer))
        .optional()?)
}

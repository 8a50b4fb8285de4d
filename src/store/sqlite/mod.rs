//! The embedded SQLite store: WAL mode, one writer thread doing group commit
//! (see `writer.rs`), and a small pool of read connections. SQLite is the
//! single-node backend: one process owns the file (see `owner.rs`), holds
//! its leases in memory (see `leases.rs`), and hands new deliveries straight
//! to its dispatcher (see `handing.rs`). Its [`Records`] are implemented in
//! `records.rs` and its [`DeliveryQueue`] in `queue.rs`, over the helpers
//! here; [`backup`] copies a file in use.

pub mod backup;
mod checkpoint;
mod handing;
mod leases;
mod owner;
mod queue;
mod records;
mod writer;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use hashlink::LruCache;
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::config::DbConfig;
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde_json::Value;

use super::sealing::{Owner, SealedColumn, Sealer};
use super::{
    Account, ApiKeyRecord, Attempt, AttemptResult, AttemptsOf, ClaimRequest, ClaimScope,
    Completion, DeliveryJob, DeliveryQueue, DeliveryStatus, Dialect, HandOff, IngestOutcome, Lease,
    NewEvent, NextStep, Page, PageRequest, PreviousSecret, PurgeStep, Purged, Records,
    RegisteredEventType, ReplayCandidate, ReplayPage, ReplayStep, SCHEMA_VERSION,
    SUBSCRIPTION_COLUMNS, StoreError, StoreResult, StoredEvent, Subscription, TargetRoom,
    disabled_reason, page_of, to_json, upgrades_from,
};
use crate::domain::{
    AccountId, CustomHeaders, DeliveryId, DeliveryState, EventSelection, Filter, Format,
    OperationalEvent, Ordering, RateLimit, Route, SigningSecret, Source, SubscriptionId,
    TimeWindow, Timestamp, matching, new_id, operator_account,
};
use crate::store::hand_off::{FreshDelivery, HandingSlot, Reservation};
use checkpoint::Checkpointer;
use handing::{HANDED, Watermark};
use leases::{LeaseTable, Leases, leased_row};
use owner::ProcessLock;
use writer::{Durability, Hooks, Writer};

/// Ids bind as their text and read back from it.
macro_rules! text_id_columns {
    ($($id:ty),*) => {$(
        impl rusqlite::ToSql for $id {
            fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
                self.as_str().to_sql()
            }
        }

        impl rusqlite::types::FromSql for $id {
            fn column_result(
                value: rusqlite::types::ValueRef<'_>,
            ) -> rusqlite::types::FromSqlResult<Self> {
                String::column_result(value).map(Self::from)
            }
        }
    )*};
}

text_id_columns!(AccountId, SubscriptionId, DeliveryId);

const SCHEMA: &str = include_str!("schema.sql");
const READ_CONNECTIONS: u32 = 4;

/// What the writer thread keeps parsed between jobs: the routes of each
/// account's subscriptions (for ingest) and whole subscriptions by id (for
/// claims). A subscription write drops its account's routes and that
/// subscription, and a batch that fails to commit empties it, so it never
/// holds uncommitted or stale state.
/// It also holds the [`Sealer`] that every read of a whole subscription
/// needs, since the cache is what every write job already carries.
/// It keeps at most [`CACHED_ACCOUNTS`] accounts' routes and
/// [`CACHED_SUBSCRIPTIONS`] subscriptions, dropping the least recently
/// used, so a deployment with millions of webhooks does not hold them all.
#[derive(Clone)]
struct SubscriptionCache {
    entries: Arc<Mutex<CachedSubscriptions>>,
    sealer: Arc<Sealer>,
}

/// Accounts whose routes the cache keeps at most.
const CACHED_ACCOUNTS: usize = 100_000;
/// Whole subscriptions the cache keeps at most (100,000 took about 100 MB
/// in the many-tenants benchmark).
const CACHED_SUBSCRIPTIONS: usize = 100_000;

struct CachedSubscriptions {
    routes: LruCache<AccountId, Arc<Vec<Route>>>,
    by_id: LruCache<SubscriptionId, Arc<Subscription>>,
}

impl Default for CachedSubscriptions {
    fn default() -> Self {
        Self {
            routes: LruCache::new(CACHED_ACCOUNTS),
            by_id: LruCache::new(CACHED_SUBSCRIPTIONS),
        }
    }
}

impl SubscriptionCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, CachedSubscriptions> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn clear(&self) {
        *self.lock() = CachedSubscriptions::default();
    }

    /// Drop what a write to `account_id`'s subscription `id` may have made
    /// stale: that account's routes and that subscription. The rest stays:
    /// a write to one tenant's webhook costs the others nothing.
    fn forget(&self, account_id: &AccountId, id: &SubscriptionId) {
        let mut entries = self.lock();
        entries.routes.remove(account_id);
        entries.by_id.remove(id);
    }

    fn routes_for(
        &self,
        connection: &Connection,
        account_id: &AccountId,
    ) -> StoreResult<Arc<Vec<Route>>> {
        if let Some(cached) = self.lock().routes.get(account_id) {
            return Ok(cached.clone());
        }
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
        let routes = Arc::new(routes);
        self.lock()
            .routes
            .insert(account_id.to_owned(), routes.clone());
        Ok(routes)
    }

    /// A subscription by id; `None` when it no longer exists.
    fn subscription(
        &self,
        connection: &Connection,
        id: &SubscriptionId,
    ) -> StoreResult<Option<Arc<Subscription>>> {
        if let Some(cached) = self.lock().by_id.get(id) {
            return Ok(Some(cached.clone()));
        }
        let found = connection
            .prepare_cached(&format!(
                "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions s WHERE s.id = ?1"
            ))?
            .query_row(params![id], |r| subscription_at(r, 0, &self.sealer))
            .optional()?
            .map(Arc::new);
        if let Some(subscription) = &found {
            self.lock()
                .by_id
                .insert(id.to_owned(), subscription.clone());
        }
        Ok(found)
    }
}

/// The SQLite-backed [`Store`].
pub struct SqliteStore {
    writer: Writer,
    readers: r2d2::Pool<SqliteConnectionManager>,
    cache: SubscriptionCache,
    leases: Arc<Leases>,
    /// Where ingest hands new deliveries, once a dispatcher asked.
    handing: HandingSlot,
    /// Below which no delivery is handed over, as stored.
    watermark: Watermark,
    /// The database file (its log is beside it).
    path: std::path::PathBuf,
    _owner: ProcessLock,
}

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        if writer::is_storage_full(&error) {
            StoreError::StorageFull(error.to_string())
        } else {
            StoreError::Database(error.to_string())
        }
    }
}

impl From<r2d2::Error> for StoreError {
    fn from(error: r2d2::Error) -> Self {
        StoreError::Database(error.to_string())
    }
}

/// The write connection's settings. `temp_store = MEMORY` keeps statement
/// journals in memory: by default they spill to a temporary file past
/// 64 KiB, and writing that file was once a third of the writer's time.
/// The [`Checkpointer`] copies the log back; the writer checkpoints itself
/// only past `WAL_BACKSTOP_PAGES`, four times SQLite's default. The writer
/// caches 4 MiB of pages (SQLite's default is 2 MiB). A larger cache costs
/// more at commits than it saves in reads: when a page split reorders
/// pages, SQLite parks one at the lock-byte page's number (262,145 with
/// 4 KiB pages), and the commit then drops cached pages above the file's
/// end by walking every cached page. With 16 MiB that walk was 8% of the
/// writer's time among 10,000 tenants.
///
/// Commits are `synchronous = NORMAL`; after a commit holding a durable
/// write, the writer thread syncs the log before that write's caller hears
/// back (see `writer`).
///
/// The query planner stability guarantee is on: without it SQLite plans a
/// statement around its bound `LIMIT`, and parsed the claim over all
/// targets again whenever its limit changed, which was most claims.
fn configure(connection: &Connection) -> rusqlite::Result<()> {
    connection.busy_timeout(Duration::from_secs(5))?;
    connection.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    connection.execute_batch(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;
         PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = {WAL_BACKSTOP_PAGES};
         PRAGMA cache_size = -4096;"
    ))
}

/// The write-ahead log file SQLite keeps beside the database at `path`.
fn log_path(path: &Path) -> std::path::PathBuf {
    let mut log = path.as_os_str().to_owned();
    log.push("-wal");
    log.into()
}

/// The free space a full disk must have again before the store reports
/// room: enough for the log to grow by a full backstop of pages.
const PROBE_HEADROOM: u64 = WAL_BACKSTOP_PAGES as u64 * 4096;

/// How many pages the log may hold before the writer checkpoints it itself.
const WAL_BACKSTOP_PAGES: u32 = 4000;

impl SqliteStore {
    /// Open (creating if needed) the database at `path` as its one owner,
    /// and migrate it. Leases that earlier versions wrote into the file are
    /// taken back: no process holds them any more.
    pub fn open(path: &Path, sealer: Sealer) -> StoreResult<Self> {
        let owner = ProcessLock::take(path)?;
        let connection = Connection::open(path)?;
        configure(&connection)?;
        migrate(&connection)?;
        connection.execute(
            "UPDATE deliveries SET next_attempt_at = ?1, lease_token = NULL
             WHERE state = 'pending' AND lease_token IS NOT NULL",
            params![Timestamp::now().0],
        )?;
        bind_sealed_values(&connection, &sealer)?;
        let leases = Arc::new(Leases::default());
        let watermark = Watermark::recover(&connection, &leases)?;
        let manager = SqliteConnectionManager::file(path).with_init(|c| {
            c.busy_timeout(Duration::from_secs(5))?;
            c.execute_batch("PRAGMA foreign_keys = ON;")
        });
        let readers = r2d2::Pool::builder()
            .max_size(READ_CONNECTIONS)
            .test_on_check_out(false)
            .connection_timeout(Duration::from_secs(5))
            .build(manager)?;
        let cache = SubscriptionCache {
            entries: Arc::default(),
            sealer: Arc::new(sealer),
        };
        let mode: String = connection.query_row("PRAGMA journal_mode", [], |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Database(format!(
                "the database at {} is in journal mode {mode}, not WAL, which the writer needs \
                 (SQLite falls back when the file system cannot share memory)",
                path.display()
            )));
        }
        let log = File::open(log_path(path)).map_err(|error| {
            StoreError::Database(format!("opening the write-ahead log: {error}"))
        })?;
        let checkpointer = Checkpointer::start(path)?;
        let hooks = Hooks {
            on_commit: Box::new(move || checkpointer.nudge()),
            on_rollback: {
                let (cache, leases) = (cache.clone(), leases.clone());
                Box::new(move || {
                    cache.clear();
                    leases.lock().freeze_watermark();
                })
            },
        };
        Ok(Self {
            writer: Writer::start(connection, log, hooks),
            readers,
            cache,
            leases,
            handing: HandingSlot::default(),
            watermark,
            path: path.to_owned(),
            _owner: owner,
        })
    }

    async fn read<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let readers = self.readers.clone();
        tokio::task::spawn_blocking(move || work(&*readers.get()?))
            .await
            .map_err(|e| StoreError::Database(format!("read task failed: {e}")))?
    }
}

fn migrate(connection: &Connection) -> StoreResult<()> {
    let version: i64 = connection.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version == 0 {
        connection.execute_batch(&format!(
            "BEGIN; {SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
        ))?;
    } else if version > SCHEMA_VERSION {
        return Err(StoreError::Database(format!(
            "the database has schema version {version}, newer than this binary's {SCHEMA_VERSION}"
        )));
    } else if version < SCHEMA_VERSION {
        let steps = upgrades_from(version, Dialect::Sqlite);
        connection.execute_batch(&format!(
            "BEGIN; {steps} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
        ))?;
    }
    Ok(())
}

/// Bind every sealed value written before values were bound to their row
/// (see `sealing.rs`) to its row and column, in place, once: the settings
/// row `sealed_values_bound` records that it is done, after which an
/// unbound value is refused rather than bound. A value that cannot be
/// opened (its key was not given) is left as it is, with an error logged,
/// and the binding is tried again at the next start.
fn bind_sealed_values(connection: &Connection, sealer: &Sealer) -> StoreResult<()> {
    let done = connection
        .prepare("SELECT 1 FROM settings WHERE key = 'sealed_values_bound'")?
        .exists([])?;
    if done {
        return Ok(());
    }
    let transaction = connection.unchecked_transaction()?;
    let mut left = 0;
    for column in SealedColumn::ALL {
        let name = column.name();
        let rows: Vec<(String, String)> = transaction
            .prepare(&format!(
                "SELECT id, {name} FROM subscriptions WHERE {name} IS NOT NULL"
            ))?
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<Result<_, _>>()?;
        for (id, stored) in rows.into_iter().filter(|(_, v)| !Sealer::is_bound(v)) {
            match sealer.open_unbound(&stored) {
                Ok(plain) => {
                    let bound = sealer.seal(&plain, Owner { column, row: &id });
                    transaction.execute(
                        &format!("UPDATE subscriptions SET {name} = ?1 WHERE id = ?2"),
                        params![bound, id],
                    )?;
                }
                Err(error) => {
                    tracing::error!(%error, subscription = %id, column = name, "a sealed value could not be bound to its row; give its key in --old-encryption-keys");
                    left += 1;
                }
            }
        }
    }
    if left == 0 {
        transaction.execute(
            "INSERT INTO settings (key, value) VALUES ('sealed_values_bound', '1')",
            [],
        )?;
    }
    transaction.commit()?;
    Ok(())
}

fn corrupt(what: &str) -> rusqlite::Error {
    rusqlite::Error::InvalidColumnType(0, what.to_owned(), rusqlite::types::Type::Text)
}

fn json_column<T: serde::de::DeserializeOwned>(row: &Row, index: usize) -> rusqlite::Result<T> {
    let text: String = row.get(index)?;
    serde_json::from_str(&text).map_err(|_| corrupt("json"))
}

fn filter_column(row: &Row, index: usize) -> rusqlite::Result<Option<Filter>> {
    let Some(text) = row.get::<_, Option<String>>(index)? else {
        return Ok(None);
    };
    let value: Value = serde_json::from_str(&text).map_err(|_| corrupt("filter"))?;
    Filter::parse(&value)
        .map(Some)
        .map_err(|_| corrupt("filter"))
}

/// Read a subscription from `SUBSCRIPTION_COLUMNS` starting at `at`.
fn subscription_at(row: &Row, at: usize, sealer: &Sealer) -> rusqlite::Result<Subscription> {
    let id: String = row.get(at)?;
    let unseal = |text: String, column: SealedColumn| {
        sealer
            .open(&text, Owner { column, row: &id })
            .map_err(|error| {
                tracing::error!(%error, subscription = %id, column = column.name(), "a stored subscription could not be decrypted");
                corrupt("sealed value")
            })
    };
    let events: Vec<String> = json_column(row, at + 3)?;
    let filter = filter_column(row, at + 4)?;
    let format: String = row.get(at + 5)?;
    let secret = unseal(row.get(at + 6)?, SealedColumn::Secret)?;
    let headers: BTreeMap<String, String> =
        serde_json::from_str(&unseal(row.get(at + 7)?, SealedColumn::Headers)?)
            .map_err(|_| corrupt("headers"))?;
    let source: String = row.get(at + 9)?;
    Ok(Subscription {
        id: id.as_str().into(),
        account_id: row.get(at + 1)?,
        url: row.get(at + 2)?,
        events: EventSelection::from_stored(events),
        filter,
        format: Format::from_stored(&format).ok_or_else(|| corrupt("format"))?,
        secret: SigningSecret::parse(&secret).map_err(|_| corrupt("secret"))?,
        headers: CustomHeaders::from_stored(headers),
        description: row.get(at + 8)?,
        source: Source::from_stored(&source).ok_or_else(|| corrupt("source"))?,
        created_at: Timestamp(row.get(at + 10)?),
        updated_at: Timestamp(row.get(at + 11)?),
        previous_secret: match (
            row.get::<_, Option<String>>(at + 12)?,
            row.get::<_, Option<i64>>(at + 13)?,
        ) {
            (Some(secret), Some(until)) => Some(PreviousSecret {
                secret: SigningSecret::parse(&unseal(secret, SealedColumn::PreviousSecret)?)
                    .map_err(|_| corrupt("previous secret"))?,
                until: Timestamp(until),
            }),
            _ => None,
        },
        enabled: row.get(at + 14)?,
        disabled_reason: row.get(at + 15)?,
        failing_since: row.get::<_, Option<i64>>(at + 16)?.map(Timestamp),
        ordering: Ordering::from_stored(&row.get::<_, String>(at + 17)?)
            .ok_or_else(|| corrupt("ordering"))?,
        rate_limit: row
            .get::<_, Option<u32>>(at + 18)?
            .map(|limit| RateLimit::new(limit).map_err(|_| corrupt("rate limit")))
            .transpose()?,
    })
}

/// A delivery's state from `id, subscription_id, state, attempts,
/// last_status, last_error`.
fn delivery_status_from(row: &Row) -> rusqlite::Result<DeliveryStatus> {
    Ok(DeliveryStatus {
        id: row.get(0)?,
        subscription_id: row.get(1)?,
        state: match row.get::<_, String>(2)? {
            handed if handed == HANDED => DeliveryState::Pending,
            stored => {
                DeliveryState::from_stored(&stored).ok_or_else(|| corrupt("delivery state"))?
            }
        },
        attempts: row.get(3)?,
        last_status: row.get(4)?,
        last_error: row.get(5)?,
    })
}

fn account_from(row: &Row) -> rusqlite::Result<Account> {
    Ok(Account {
        id: row.get(0)?,
        name: row.get(1)?,
        created_at: Timestamp(row.get(2)?),
    })
}

fn event_type_from(row: &Row) -> rusqlite::Result<RegisteredEventType> {
    let schema: String = row.get(2)?;
    let examples: String = row.get(3)?;
    Ok(RegisteredEventType {
        name: row.get(0)?,
        description: row.get(1)?,
        schema: serde_json::from_str(&schema).unwrap_or(Value::Null),
        examples: serde_json::from_str(&examples).unwrap_or_default(),
        created_at: Timestamp(row.get(4)?),
        updated_at: Timestamp(row.get(5)?),
    })
}

/// The stored values of a subscription, in the order of `SUBSCRIPTION_WRITE`.
fn subscription_values(s: &Subscription, sealer: &Sealer) -> Vec<rusqlite::types::Value> {
    use rusqlite::types::Value as V;
    let owner = |column| Owner {
        column,
        row: s.id.as_str(),
    };
    let text = |t: &str| V::Text(t.to_owned());
    let optional_text = |t: Option<String>| t.map_or(V::Null, V::Text);
    vec![
        text(s.id.as_str()),
        text(s.account_id.as_str()),
        text(&s.url),
        V::Text(to_json(&s.events.to_list())),
        optional_text(s.filter.as_ref().map(|f| f.to_json().to_string())),
        text(s.format.as_str()),
        V::Text(sealer.seal(s.secret.shown(), owner(SealedColumn::Secret))),
        V::Text(sealer.seal(&to_json(s.headers.as_map()), owner(SealedColumn::Headers))),
        text(&s.description),
        text(s.source.as_str()),
        V::Integer(s.created_at.0),
        V::Integer(s.updated_at.0),
        optional_text(
            s.previous_secret
                .as_ref()
                .map(|p| sealer.seal(p.secret.shown(), owner(SealedColumn::PreviousSecret))),
        ),
        s.previous_secret
            .as_ref()
            .map_or(V::Null, |p| V::Integer(p.until.0)),
        V::Integer(i64::from(s.enabled)),
        optional_text(s.disabled_reason.clone()),
        s.failing_since.map_or(V::Null, |t| V::Integer(t.0)),
        text(s.ordering.as_str()),
        s.rate_limit
            .map_or(V::Null, |limit| V::Integer(i64::from(limit.per_second()))),
    ]
}

/// Cancel the pending deliveries of a subscription that no longer exists,
/// and its handed ones (each at or above `handed_from`, the lowest row key
/// a handed lease holds).
fn cancel_pending(
    connection: &Connection,
    subscription_id: &SubscriptionId,
    handed_from: i64,
) -> StoreResult<()> {
    let now = Timestamp::now();
    // `OR`, not `IN`: only then can each state's partial index serve it (as
    // in `has_open_delivery`); with `IN`, every delivery stored was scanned.
    connection
        .prepare_cached(
            "UPDATE deliveries SET state = 'cancelled', next_attempt_at = NULL, updated_at = ?2
             WHERE subscription_id = ?1 AND (state = 'pending' OR state = 'waiting')",
        )?
        .execute(params![subscription_id, now.0])?;
    handing::cancel_handed(connection, subscription_id.as_str(), handed_from, now)
}

/// The state of an ordered subscription's delivery waiting behind the one
/// going out, outside the due indexes; the API shows it as `pending`.
const WAITING: &str = "waiting";

/// Whether an ordered subscription has a delivery going out, due or
/// waiting, so that a new one must wait behind it. (Ordered deliveries are
/// never handed over.)
fn has_open_delivery(
    connection: &Connection,
    subscription_id: &SubscriptionId,
) -> StoreResult<bool> {
    Ok(connection
        .prepare_cached(
            "SELECT 1 FROM deliveries
             WHERE subscription_id = ?1 AND (state = 'pending' OR state = 'waiting')",
        )?
        .exists(params![subscription_id])?)
}

/// Let an ordered subscription's oldest waiting delivery go (due at the
/// time it was made, so now), unless another is pending; whether one went.
fn release_next_waiting(
    connection: &Connection,
    subscription_id: &SubscriptionId,
) -> StoreResult<bool> {
    let released = connection
        .prepare_cached(
            "UPDATE deliveries SET state = 'pending'
             WHERE rowid = (SELECT MIN(rowid) FROM deliveries
                            WHERE subscription_id = ?1 AND state = 'waiting')
               AND NOT EXISTS (SELECT 1 FROM deliveries
                               WHERE subscription_id = ?1 AND state = 'pending')",
        )?
        .execute(params![subscription_id])?;
    Ok(released > 0)
}

/// Let every waiting delivery of a subscription that is no longer ordered go.
fn release_waiting(connection: &Connection, subscription_id: &SubscriptionId) -> StoreResult<()> {
    connection
        .prepare_cached(
            "UPDATE deliveries SET state = 'pending'
             WHERE subscription_id = ?1 AND state = 'waiting'",
        )?
        .execute(params![subscription_id])?;
    Ok(())
}

fn delete_subscription_in(
    connection: &Connection,
    cache: &SubscriptionCache,
    leases: &Leases,
    account_id: &AccountId,
    id: &SubscriptionId,
) -> StoreResult<bool> {
    cache.forget(account_id, id);
    let deleted = connection
        .prepare_cached("DELETE FROM subscriptions WHERE id = ?1 AND account_id = ?2")?
        .execute(params![id, account_id])?;
    if deleted > 0 {
        let handed_from = leases.lock().lowest_handed();
        cancel_pending(connection, id, handed_from)?;
    }
    Ok(deleted > 0)
}

/// Whether the account has an event with this id.
fn event_exists(
    connection: &Connection,
    account_id: &AccountId,
    event_id: &str,
) -> StoreResult<bool> {
    Ok(connection
        .prepare_cached("SELECT 1 FROM events WHERE account_id = ?1 AND id = ?2")?
        .exists(params![account_id, event_id])?)
}

/// A page of one subscription's attempts, newest first (the row key
/// breaking ties, as the index `(subscription_id, started_at)` orders
/// them): `?1` the account, `?2` the subscription, `?3` the cursor (the
/// last attempt id seen, or NULL), `?4` the rows to read. The bound on
/// `started_at` lets the subscription index start at the cursor.
const ATTEMPTS_OF_SUBSCRIPTION: &str = "SELECT a.id, a.delivery_id, e.id, e.type,
         a.subscription_id, a.started_at, a.status, a.latency_ms, a.response_snippet, a.error
     FROM attempts a JOIN events e ON e.pk = a.event_pk
     WHERE a.subscription_id = ?2 AND a.account_id = ?1
       AND a.started_at <= coalesce((SELECT started_at FROM attempts WHERE id = ?3),
                                    9223372036854775807)
       AND (?3 IS NULL OR (a.started_at, a.rowid) <
            (SELECT started_at, rowid FROM attempts WHERE id = ?3))
     ORDER BY a.started_at DESC, a.rowid DESC LIMIT ?4";

/// A page of one event's attempts, newest first: `?2` is the event's id;
/// the other parameters as in [`ATTEMPTS_OF_SUBSCRIPTION`].
///
/// An event's attempts are all its account's, so they are found through the
/// event alone: a condition on the attempts' account let PostgreSQL's
/// planner, misled by young statistics, read the account's every attempt.
const ATTEMPTS_OF_EVENT: &str = "SELECT a.id, a.delivery_id, e.id, e.type,
         a.subscription_id, a.started_at, a.status, a.latency_ms, a.response_snippet, a.error
     FROM events e JOIN attempts a ON a.event_pk = e.pk
     WHERE e.account_id = ?1 AND e.id = ?2
       AND (?3 IS NULL OR (a.started_at, a.id) <
            (SELECT started_at, id FROM attempts WHERE id = ?3))
     ORDER BY a.started_at DESC, a.id DESC LIMIT ?4";

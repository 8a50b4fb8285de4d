//! The embedded SQLite store: WAL mode, one writer thread doing group commit
//! (see `writer.rs`), and a small pool of read connections. SQLite is the
//! single-node backend: one process owns the file (see `owner.rs`), holds
//! its leases in memory (see `leases.rs`), and hands new deliveries straight
//! to its dispatcher (see `handing.rs`). [`backup`] copies a file in use.

pub mod backup;
mod checkpoint;
mod handing;
mod leases;
mod owner;
mod writer;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::config::DbConfig;
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde_json::Value;
use tokio::sync::mpsc;

use super::sealing::{Owner, SealedColumn, Sealer};
use super::{
    Account, ApiKeyRecord, Attempt, AttemptResult, AttemptsOf, ClaimRequest, ClaimScope,
    Completion, DeliveryJob, DeliveryStatus, Dialect, HandOff, IngestOutcome, Lease, NewEvent,
    NextStep, Page, PageRequest, PreviousSecret, PurgeStep, Purged, RegisteredEventType,
    SCHEMA_VERSION, SUBSCRIPTION_COLUMNS, Store, StoreError, StoreResult, StoredEvent,
    Subscription, TargetRoom, page_of, to_json, upgrades_from,
};
use crate::domain::{
    CustomHeaders, EventSelection, Filter, Format, SigningSecret, Source, Timestamp, new_id,
};
use checkpoint::Checkpointer;
use handing::{HAND_OFF_EVENTS, HANDED, Handing, Reservation, Watermark};
use leases::{LeaseTable, Leases, leased_row};
use owner::ProcessLock;
use writer::{Durability, Hooks, Writer};

const SCHEMA: &str = include_str!("schema.sql");
const READ_CONNECTIONS: u32 = 4;

/// What ingest needs of a subscription to decide whether it gets a delivery.
struct Matcher {
    id: String,
    events: EventSelection,
    filter: Option<Filter>,
}

impl Matcher {
    fn matches(&self, event_type: &str, data: &Value) -> bool {
        self.events.wants(event_type) && self.filter.as_ref().is_none_or(|f| f.matches(data))
    }
}

/// What the writer thread keeps parsed between jobs: the matchers of each
/// account's subscriptions (for ingest) and whole subscriptions by id (for
/// claims). Every subscription write empties it, and so does a batch that
/// fails to commit, so it never holds uncommitted or stale state.
/// It also holds the [`Sealer`] that every read of a whole subscription
/// needs, since the cache is what every write job already carries.
#[derive(Clone)]
struct SubscriptionCache {
    entries: Arc<Mutex<CachedSubscriptions>>,
    sealer: Arc<Sealer>,
}

#[derive(Default)]
struct CachedSubscriptions {
    matchers: HashMap<String, Arc<Vec<Matcher>>>,
    by_id: HashMap<String, Arc<Subscription>>,
}

impl SubscriptionCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, CachedSubscriptions> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn clear(&self) {
        *self.lock() = CachedSubscriptions::default();
    }

    fn matchers_for(
        &self,
        connection: &Connection,
        account_id: &str,
    ) -> StoreResult<Arc<Vec<Matcher>>> {
        if let Some(cached) = self.lock().matchers.get(account_id) {
            return Ok(cached.clone());
        }
        let mut query = connection.prepare_cached(
            "SELECT id, events, filter FROM subscriptions WHERE account_id = ?1 AND enabled = 1",
        )?;
        let matchers = query
            .query_map(params![account_id], |row| {
                let events: Vec<String> = json_column(row, 1)?;
                Ok(Matcher {
                    id: row.get(0)?,
                    events: EventSelection::from_stored(events),
                    filter: filter_column(row, 2)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let matchers = Arc::new(matchers);
        self.lock()
            .matchers
            .insert(account_id.to_owned(), matchers.clone());
        Ok(matchers)
    }

    /// A subscription by id; `None` when it no longer exists.
    fn subscription(
        &self,
        connection: &Connection,
        id: &str,
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
    handing: Arc<Mutex<Option<Handing>>>,
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
/// caches 16 MiB of pages (SQLite's default is 2 MiB), which made a burst to
/// ten endpoints about 4% faster.
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
         PRAGMA cache_size = -16384;"
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
            handing: Arc::default(),
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
        id: id.clone(),
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
    })
}

/// A delivery's state from `id, subscription_id, state, attempts,
/// last_status, last_error`.
fn delivery_status_from(row: &Row) -> rusqlite::Result<DeliveryStatus> {
    Ok(DeliveryStatus {
        id: row.get(0)?,
        subscription_id: row.get(1)?,
        state: match row.get::<_, String>(2)? {
            handed if handed == HANDED => "pending".to_owned(),
            state => state,
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
    let owner = |column| Owner { column, row: &s.id };
    let text = |t: &str| V::Text(t.to_owned());
    let optional_text = |t: Option<String>| t.map_or(V::Null, V::Text);
    vec![
        text(&s.id),
        text(&s.account_id),
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
    ]
}

/// Cancel the pending deliveries of a subscription that no longer exists,
/// and its handed ones (each at or above `handed_from`, the lowest row key
/// a handed lease holds).
fn cancel_pending(
    connection: &Connection,
    subscription_id: &str,
    handed_from: i64,
) -> StoreResult<()> {
    let now = Timestamp::now();
    connection
        .prepare_cached(
            "UPDATE deliveries SET state = 'cancelled', next_attempt_at = NULL, updated_at = ?2
             WHERE subscription_id = ?1 AND state = 'pending'",
        )?
        .execute(params![subscription_id, now.0])?;
    handing::cancel_handed(connection, subscription_id, handed_from, now)
}

fn delete_subscription_in(
    connection: &Connection,
    cache: &SubscriptionCache,
    leases: &Leases,
    account_id: &str,
    id: &str,
) -> StoreResult<bool> {
    cache.clear();
    let deleted = connection
        .prepare_cached("DELETE FROM subscriptions WHERE id = ?1 AND account_id = ?2")?
        .execute(params![id, account_id])?;
    if deleted > 0 {
        let handed_from = leases.lock().lowest_handed();
        cancel_pending(connection, id, handed_from)?;
    }
    Ok(deleted > 0)
}

/// Store an event; its row key, or `None` when the account already has an
/// event with this id (idempotent publishing).
fn insert_event(connection: &Connection, event: &NewEvent, test: bool) -> StoreResult<Option<i64>> {
    let inserted = connection
        .prepare_cached(
            "INSERT INTO events (id, account_id, type, data, created_at, test)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (account_id, id) DO NOTHING",
        )?
        .execute(params![
            event.id.as_str(),
            event.account_id,
            event.event_type,
            event.data.to_string(),
            event.created_at.0,
            test
        ])?;
    Ok((inserted > 0).then(|| connection.last_insert_rowid()))
}

/// What an ingest job wrote: its outcome, and the deliveries it hands
/// straight to the dispatcher once it has committed.
struct Ingested {
    outcome: IngestOutcome,
    event_pk: i64,
    fresh: Vec<FreshDelivery>,
    /// The event itself, for the jobs of the fresh deliveries.
    event: Option<NewEvent>,
    /// The place kept for them in the hand-off channel.
    reservation: Option<Reservation>,
}

/// A delivery ingest just created and leased as handed, with what a job
/// to send it needs.
struct FreshDelivery {
    token: i64,
    id: String,
    subscription: Arc<Subscription>,
}

/// Store `event` and a delivery per matching subscription. With
/// `hand_off` (the leases, and when a lease runs out), each delivery whose
/// subscription can be read is stored `handed`, leased, and kept aside as
/// fresh; the others are `pending` and listed among the targets.
fn ingest_in(
    connection: &Connection,
    cache: &SubscriptionCache,
    event: &NewEvent,
    hand_off: Option<(&Leases, Timestamp)>,
) -> StoreResult<Ingested> {
    let account_exists = connection
        .prepare_cached("SELECT 1 FROM accounts WHERE id = ?1")?
        .exists(params![event.account_id])?;
    if !account_exists {
        return Err(StoreError::AccountNotFound(event.account_id.clone()));
    }
    let Some(event_pk) = insert_event(connection, event, false)? else {
        return Ok(Ingested {
            outcome: IngestOutcome {
                event_id: event.id.as_str().to_owned(),
                duplicate: true,
                deliveries: 0,
                targets: Vec::new(),
            },
            event_pk: 0,
            fresh: Vec::new(),
            event: None,
            reservation: None,
        });
    };
    let subscriptions = cache.matchers_for(connection, &event.account_id)?;
    let mut insert = connection.prepare_cached(
        "INSERT INTO deliveries (id, event_pk, subscription_id, account_id, state,
             next_attempt_at, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?6)",
    )?;
    let (mut targets, mut fresh) = (Vec::new(), Vec::new());
    for matcher in subscriptions
        .iter()
        .filter(|s| s.matches(&event.event_type, &event.data))
    {
        let id = new_id("dlv");
        let handed = match hand_off {
            Some((leases, expiry)) => cache
                .subscription(connection, &matcher.id)
                .ok()
                .flatten()
                .map(|subscription| (leases, expiry, subscription)),
            None => None,
        };
        insert.execute(params![
            id,
            event_pk,
            matcher.id,
            event.account_id,
            if handed.is_some() { HANDED } else { "pending" },
            event.created_at.0
        ])?;
        match handed {
            Some((leases, expiry, subscription)) => fresh.push(FreshDelivery {
                token: leases
                    .lock()
                    .take_handed(connection.last_insert_rowid(), expiry),
                id,
                subscription,
            }),
            None => targets.push(matcher.id.clone()),
        }
    }
    Ok(Ingested {
        outcome: IngestOutcome {
            event_id: event.id.as_str().to_owned(),
            duplicate: false,
            deliveries: targets.len() + fresh.len(),
            targets,
        },
        event_pk,
        fresh,
        event: None,
        reservation: None,
    })
}

/// Whether the account has an event with this id.
fn event_exists(connection: &Connection, account_id: &str, event_id: &str) -> StoreResult<bool> {
    Ok(connection
        .prepare_cached("SELECT 1 FROM events WHERE account_id = ?1 AND id = ?2")?
        .exists(params![account_id, event_id])?)
}

/// Once `ingested` has committed (on the writer thread, before any later
/// job runs): hand its fresh deliveries to the dispatcher as one batch, in
/// the place kept for them.
fn hand_over(ingested: &mut Ingested) {
    let (Some(reservation), Some(event)) = (ingested.reservation.take(), ingested.event.take())
    else {
        return;
    };
    let stored = Arc::new(StoredEvent {
        id: event.id.as_str().to_owned(),
        event_type: event.event_type,
        data: event.data,
        created_at: event.created_at,
        bodies: Default::default(),
    });
    let jobs = std::mem::take(&mut ingested.fresh)
        .into_iter()
        .map(|delivery| DeliveryJob {
            lease: Lease {
                delivery_id: delivery.id,
                token: delivery.token,
            },
            attempts_made: 0,
            event_pk: ingested.event_pk,
            event: stored.clone(),
            subscription: delivery.subscription,
        })
        .collect();
    reservation.send(jobs);
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

/// Claim due deliveries that no lease holds, as `request` allows. Held
/// deliveries are the oldest due ones, so each scan reads past as many rows
/// as there are leases.
fn claim_in(
    connection: &Connection,
    cache: &SubscriptionCache,
    leases: &Leases,
    request: &ClaimRequest,
) -> StoreResult<Vec<DeliveryJob>> {
    let now = Timestamp::now();
    let mut table = leases.lock();
    let held = table.len();
    let picked: Vec<i64> = match &request.scope {
        ClaimScope::Any(limits) => {
            // The due index alone: each row's key and target, no event read.
            let mut due = connection.prepare_cached(
                "SELECT rowid, subscription_id FROM deliveries
                 WHERE state = 'pending' AND next_attempt_at <= ?1
                   AND subscription_id NOT IN (SELECT value FROM json_each(?2))
                   AND subscription_id NOT IN (SELECT id FROM subscriptions WHERE enabled = 0)
                 ORDER BY next_attempt_at
                 LIMIT ?3",
            )?;
            // Read lazily: the index gives due order without a sort, so the
            // rows past the last one picked are never read. A held row's
            // target is not read at all.
            let scan = request.total.saturating_mul(TargetRoom::SCAN) + held;
            let mut failure = None;
            let candidates = due
                .query_map(
                    params![now.0, to_json(&limits.skipped()), scan as i64],
                    |row| {
                        let rowid: i64 = row.get(0)?;
                        if table.is_held(rowid, now) {
                            return Ok(None);
                        }
                        Ok(Some((rowid, row.get::<_, String>(1)?)))
                    },
                )?
                .map_while(|row| row.map_err(|error| failure = Some(error)).ok())
                .flatten();
            let picked = limits.pick(candidates, request.total);
            if let Some(error) = failure {
                return Err(error.into());
            }
            picked
        }
        ClaimScope::Targets(targets) => {
            let mut due = connection.prepare_cached(
                "SELECT rowid FROM deliveries
                 WHERE subscription_id = ?1 AND state = 'pending' AND next_attempt_at <= ?2
                   AND NOT EXISTS (SELECT 1 FROM subscriptions WHERE id = ?1 AND enabled = 0)
                 ORDER BY next_attempt_at
                 LIMIT ?3",
            )?;
            let mut picked = Vec::new();
            for (target, room) in targets {
                let left = request.total.saturating_sub(picked.len());
                if left == 0 {
                    break;
                }
                let wanted = (*room).min(left);
                let rows = due
                    .query_map(params![target, now.0, (wanted + held) as i64], |row| {
                        row.get::<_, i64>(0)
                    })?;
                let mut taken = 0;
                for row in rows {
                    let rowid = row?;
                    if table.is_held(rowid, now) {
                        continue;
                    }
                    picked.push(rowid);
                    taken += 1;
                    if taken == wanted {
                        break;
                    }
                }
            }
            picked
        }
    };
    lease_rows(
        connection,
        cache,
        &mut table,
        &picked,
        now.after(request.lease),
    )
}

/// Lease the deliveries at `rowids` until `expiry`, with each one's event
/// and subscription.
fn lease_rows(
    connection: &Connection,
    cache: &SubscriptionCache,
    table: &mut LeaseTable<'_>,
    rowids: &[i64],
    expiry: Timestamp,
) -> StoreResult<Vec<DeliveryJob>> {
    let mut read = connection.prepare_cached(
        "SELECT d.id, d.attempts, d.subscription_id, e.pk, e.id, e.type, e.data, e.created_at
         FROM deliveries d
         JOIN events e ON e.pk = d.event_pk
         WHERE d.rowid = ?1",
    )?;
    let mut events: HashMap<i64, Arc<StoredEvent>> = HashMap::new();
    let mut jobs = Vec::with_capacity(rowids.len());
    for &rowid in rowids {
        let (delivery_id, attempts_made, subscription_id, event_pk, event) =
            read.query_row(params![rowid], |row| {
                let event_pk: i64 = row.get(3)?;
                let event = match events.get(&event_pk) {
                    Some(event) => event.clone(),
                    None => {
                        let data: String = row.get(6)?;
                        let event = Arc::new(StoredEvent {
                            id: row.get(4)?,
                            event_type: row.get(5)?,
                            data: serde_json::from_str(&data).map_err(|_| corrupt("event data"))?,
                            created_at: Timestamp(row.get(7)?),
                            bodies: Default::default(),
                        });
                        events.insert(event_pk, event.clone());
                        event
                    }
                };
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, u32>(1)?,
                    row.get::<_, String>(2)?,
                    event_pk,
                    event,
                ))
            })?;
        let subscription = match cache.subscription(connection, &subscription_id) {
            Ok(Some(subscription)) => subscription,
            Ok(None) => {
                cancel_pending(connection, &subscription_id, table.lowest_handed())?;
                continue;
            }
            Err(error) => {
                // One unreadable subscription (a secret sealed under a key
                // this process lacks) must not stall the others: its
                // delivery is held for a lease and tried again after it.
                tracing::error!(%error, subscription = %subscription_id, "a subscription could not be read; its delivery waits a lease");
                table.take(rowid, expiry);
                continue;
            }
        };
        let token = table.take(rowid, expiry);
        jobs.push(DeliveryJob {
            lease: Lease { delivery_id, token },
            attempts_made,
            event_pk,
            event,
            subscription,
        });
    }
    Ok(jobs)
}

/// Record one attempt's outcome, whose lease `completion` held (ended by
/// the caller, who skips outcomes of leases no longer held).
fn complete_in<'a>(
    connection: &Connection,
    cache: &SubscriptionCache,
    leases: &Leases,
    not_failing: &mut HashSet<&'a str>,
    completion: &'a Completion,
) -> StoreResult<()> {
    let attempt = &completion.attempt;
    let (state, next_at, error) = completion.stored_outcome();
    // No RETURNING: SQLite gathers a RETURNING statement's rows in a
    // temporary table first, which cost this update more than the update.
    // The event's row key comes with the completion instead.
    let applied = connection
        .prepare_cached(
            "UPDATE deliveries SET state = ?2, attempts = attempts + 1, next_attempt_at = ?3,
                 last_status = ?4, last_error = ?5, updated_at = ?6
             WHERE rowid = ?1 AND state IN ('pending', 'handed')",
        )?
        .execute(params![
            leased_row(completion.lease.token),
            state,
            next_at,
            attempt.status,
            error,
            Timestamp::now().0
        ])?;
    if applied == 0 {
        return Ok(());
    }
    connection
        .prepare_cached(
            "INSERT INTO attempts (id, delivery_id, subscription_id, account_id, event_pk,
                 started_at, status, latency_ms, response_snippet, error)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )?
        .execute(params![
            new_id("att"),
            completion.lease.delivery_id,
            completion.subscription_id,
            completion.account_id,
            completion.event_pk,
            attempt.started_at.0,
            attempt.status,
            attempt.latency_ms as i64,
            attempt.response_snippet,
            attempt.error
        ])?;
    track_failures(connection, cache, not_failing, completion)?;
    if completion.next == NextStep::RemoveSubscription {
        delete_subscription_in(
            connection,
            cache,
            leases,
            &completion.account_id,
            &completion.subscription_id,
        )?;
    }
    Ok(())
}

/// Keep a subscription's run of failures: a success ends it; a failure
/// starts it, or, once it began before the auto-disable cutoff, disables the
/// subscription with the reason recorded.
///
/// `not_failing` holds the subscriptions that a success earlier in the same
/// write job has already cleared, and that no failure has marked since: a
/// batch of outcomes to one target clears it once, not once per delivery.
fn track_failures<'a>(
    connection: &Connection,
    cache: &SubscriptionCache,
    not_failing: &mut HashSet<&'a str>,
    completion: &'a Completion,
) -> StoreResult<()> {
    let id = completion.subscription_id.as_str();
    if completion.next == NextStep::Delivered {
        if not_failing.contains(id) {
            return Ok(());
        }
        connection
            .prepare_cached(
                "UPDATE subscriptions SET failing_since = NULL
                 WHERE id = ?1 AND failing_since IS NOT NULL",
            )?
            .execute(params![id])?;
        not_failing.insert(id);
        return Ok(());
    }
    not_failing.remove(id);
    connection
        .prepare_cached(
            "UPDATE subscriptions SET failing_since = ?2 WHERE id = ?1 AND failing_since IS NULL",
        )?
        .execute(params![id, completion.attempt.started_at.0])?;
    let Some(cutoff) = completion.disable_if_failing_since else {
        return Ok(());
    };
    let disabled = connection
        .prepare_cached(
            "UPDATE subscriptions SET enabled = 0,
                 disabled_reason = 'every attempt failed since ' || ?3
             WHERE id = ?1 AND enabled = 1 AND failing_since <= ?2",
        )?
        .execute(params![id, cutoff.0, crate::domain::rfc3339(cutoff)])?;
    if disabled > 0 {
        cache.clear();
        tracing::warn!(subscription = %id, "auto-disabled after failing every attempt for the configured span");
    }
    Ok(())
}

/// One step of a retention pass (see [`Store::purge`]).
///
/// SQLite gives a new row the key one past the highest, so a step that
/// deletes the highest deliveries hands their keys out again. The hand-off
/// watermark (see `handing.rs`) must stay at or below every key a new row
/// can get, so the step lowers it (in memory and as stored) to one past the
/// highest key left.
fn purge_in(
    connection: &Connection,
    leases: &Leases,
    watermark: &Watermark,
    cutoff: Timestamp,
    after: i64,
    limit: usize,
) -> StoreResult<PurgeStep> {
    let examined: Vec<(i64, i64, bool)> = connection
        .prepare_cached(
            "SELECT e.pk, e.created_at, EXISTS (
                 SELECT 1 FROM deliveries d
                 WHERE d.event_pk = e.pk AND d.state IN ('pending', ?2))
             FROM events e WHERE e.pk > ?1 ORDER BY e.pk LIMIT ?3",
        )?
        .query_map(params![after, HANDED, limit as i64], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })?
        .collect::<Result<_, _>>()?;
    let mut step = PurgeStep {
        purged: Purged::default(),
        resume_after: (examined.len() == limit)
            .then(|| examined.last().map(|e| e.0))
            .flatten(),
    };
    let mut delete_attempts =
        connection.prepare_cached("DELETE FROM attempts WHERE event_pk = ?1")?;
    let mut delete_deliveries =
        connection.prepare_cached("DELETE FROM deliveries WHERE event_pk = ?1")?;
    let mut delete_event = connection.prepare_cached("DELETE FROM events WHERE pk = ?1")?;
    for (pk, created_at, kept) in examined {
        if created_at >= cutoff.0 {
            step.resume_after = None;
            break;
        }
        if kept {
            continue;
        }
        step.purged.attempts += delete_attempts.execute(params![pk])? as u64;
        step.purged.deliveries += delete_deliveries.execute(params![pk])? as u64;
        step.purged.events += delete_event.execute(params![pk])? as u64;
    }
    if step.purged.deliveries > 0 {
        let top: i64 = connection
            .prepare_cached("SELECT coalesce(max(rowid), 0) FROM deliveries")?
            .query_row([], |row| row.get(0))?;
        watermark.lower(connection, &mut leases.lock(), top)?;
    }
    Ok(step)
}

#[async_trait]
impl Store for SqliteStore {
    async fn admin_key_hash(&self) -> StoreResult<Option<String>> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT value FROM settings WHERE key = 'admin_key_hash'",
                [],
                |r| r.get(0),
            )
            .optional()?)
        })
        .await
    }

    async fn set_admin_key_hash(&self, hash: String) -> StoreResult<()> {
        self.writer
            .write(Durability::Full, move |c| {
                c.execute(
                    "INSERT INTO settings (key, value) VALUES ('admin_key_hash', ?1)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    params![hash],
                )?;
                Ok(())
            })
            .await
    }

    async fn create_event_type(&self, event_type: RegisteredEventType) -> StoreResult<bool> {
        self.writer
            .write(Durability::Full, move |c| {
                let created = c.execute(
                    "INSERT INTO event_types
                       (name, description, schema, examples, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (name) DO NOTHING",
                    params![
                        event_type.name,
                        event_type.description,
                        to_json(&event_type.schema),
                        to_json(&event_type.examples),
                        event_type.created_at.0,
                        event_type.updated_at.0
                    ],
                )?;
                Ok(created == 1)
            })
            .await
    }

    async fn replace_event_type(&self, event_type: RegisteredEventType) -> StoreResult<bool> {
        self.writer
            .write(Durability::Full, move |c| {
                let replaced = c.execute(
                    "UPDATE event_types SET description = ?2, schema = ?3, examples = ?4,
                       updated_at = ?5 WHERE name = ?1",
                    params![
                        event_type.name,
                        event_type.description,
                        to_json(&event_type.schema),
                        to_json(&event_type.examples),
                        event_type.updated_at.0
                    ],
                )?;
                Ok(replaced == 1)
            })
            .await
    }

    async fn event_types(&self) -> StoreResult<Vec<RegisteredEventType>> {
        self.read(|c| {
            let mut statement = c.prepare_cached(
                "SELECT name, description, schema, examples, created_at, updated_at
                 FROM event_types ORDER BY name",
            )?;
            let rows = statement.query_map([], event_type_from)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
        .await
    }

    async fn create_account(&self, account: Account) -> StoreResult<Account> {
        self.writer
            .write(Durability::Full, move |c| {
                c.execute(
                    "INSERT INTO accounts (id, name, created_at) VALUES (?1, ?2, ?3)",
                    params![account.id, account.name, account.created_at.0],
                )?;
                Ok(account)
            })
            .await
    }

    async fn account(&self, id: &str) -> StoreResult<Option<Account>> {
        let id = id.to_owned();
        self.read(move |c| {
            Ok(
                c.prepare_cached("SELECT id, name, created_at FROM accounts WHERE id = ?1")?
                    .query_row(params![id], account_from)
                    .optional()?,
            )
        })
        .await
    }

    async fn create_api_key(&self, key: ApiKeyRecord) -> StoreResult<ApiKeyRecord> {
        self.writer
            .write(Durability::Full, move |c| {
                let exists = c
                    .prepare_cached("SELECT 1 FROM accounts WHERE id = ?1")?
                    .exists(params![key.account_id])?;
                if !exists {
                    return Err(StoreError::AccountNotFound(key.account_id));
                }
                c.execute(
                    "INSERT INTO api_keys (id, account_id, hash, last_four, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![
                        key.id,
                        key.account_id,
                        key.hash,
                        key.last_four,
                        key.created_at.0
                    ],
                )?;
                Ok(key)
            })
            .await
    }

    async fn account_by_key_hash(&self, hash: &str) -> StoreResult<Option<Account>> {
        let hash = hash.to_owned();
        self.read(move |c| {
            Ok(c.prepare_cached(
                "SELECT a.id, a.name, a.created_at FROM api_keys k
                 JOIN accounts a ON a.id = k.account_id WHERE k.hash = ?1",
            )?
            .query_row(params![hash], account_from)
            .optional()?)
        })
        .await
    }

    async fn create_subscription(&self, subscription: Subscription) -> StoreResult<Subscription> {
        let cache = self.cache.clone();
        self.writer
            .write(Durability::Full, move |c| {
                cache.clear();
                c.prepare_cached(
                    "INSERT INTO subscriptions (id, account_id, url, events, filter, format,
                         secret, headers, description, source, created_at, updated_at,
                         previous_secret, previous_secret_until, enabled, disabled_reason,
                         failing_since)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12,
                         ?13, ?14, ?15, ?16, ?17)",
                )?
                .execute(rusqlite::params_from_iter(subscription_values(
                    &subscription,
                    &cache.sealer,
                )))?;
                Ok(subscription)
            })
            .await
    }

    async fn subscription(&self, account_id: &str, id: &str) -> StoreResult<Option<Subscription>> {
        let (account_id, id) = (account_id.to_owned(), id.to_owned());
        let sealer = self.cache.sealer.clone();
        self.read(move |c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions s
                 WHERE s.id = ?1 AND s.account_id = ?2"
            ))?
            .query_row(params![id, account_id], |r| subscription_at(r, 0, &sealer))
            .optional()?)
        })
        .await
    }

    async fn list_subscriptions(
        &self,
        account_id: &str,
        page: PageRequest,
    ) -> StoreResult<Page<Subscription>> {
        let account_id = account_id.to_owned();
        let sealer = self.cache.sealer.clone();
        self.read(move |c| {
            let items = c
                .prepare_cached(&format!(
                    "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions s
                     WHERE s.account_id = ?1 AND (?2 IS NULL OR s.id < ?2)
                     ORDER BY s.id DESC LIMIT ?3"
                ))?
                .query_map(
                    params![account_id, page.cursor, page.limit as i64 + 1],
                    |r| subscription_at(r, 0, &sealer),
                )?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(page_of(items, page.limit, |s| s.id.clone()))
        })
        .await
    }

    async fn update_subscription(
        &self,
        subscription: Subscription,
    ) -> StoreResult<Option<Subscription>> {
        let cache = self.cache.clone();
        self.writer
            .write(Durability::Full, move |c| {
                cache.clear();
                // The values are `subscription_values` in full: `source` and
                // `created_at` never change, so they only narrow the WHERE.
                let changed =
                    c.prepare_cached(
                        "UPDATE subscriptions SET url = ?3, events = ?4, filter = ?5, format = ?6,
                             secret = ?7, headers = ?8, description = ?9, updated_at = ?12,
                             previous_secret = ?13, previous_secret_until = ?14,
                             enabled = ?15, disabled_reason = ?16, failing_since = ?17
                         WHERE id = ?1 AND account_id = ?2 AND source = ?10 AND created_at = ?11",
                    )?
                    .execute(rusqlite::params_from_iter(
                        subscription_values(&subscription, &cache.sealer),
                    ))?;
                Ok((changed > 0).then_some(subscription))
            })
            .await
    }

    async fn delete_subscription(&self, account_id: &str, id: &str) -> StoreResult<bool> {
        let (account_id, id) = (account_id.to_owned(), id.to_owned());
        let (cache, leases) = (self.cache.clone(), self.leases.clone());
        self.writer
            .write(Durability::Full, move |c| {
                delete_subscription_in(c, &cache, &leases, &account_id, &id)
            })
            .await
    }

    /// With a dispatcher to hand to (and room in its channel), the new
    /// deliveries are stored `handed` and leased, and handed over on the
    /// writer thread right after the commit (and the log's sync).
    async fn ingest(&self, event: NewEvent) -> StoreResult<IngestOutcome> {
        let (cache, handing, leases) = (
            self.cache.clone(),
            self.handing.clone(),
            self.leases.clone(),
        );
        let ingested = self
            .writer
            .write_then(
                Durability::Full,
                move |c| {
                    let reservation = handing::reserve(&handing);
                    let hand_off = reservation.as_ref().map(|r| (&*leases, r.expiry));
                    let mut ingested = ingest_in(c, &cache, &event, hand_off)?;
                    if !ingested.fresh.is_empty() {
                        ingested.event = Some(event);
                        ingested.reservation = reservation;
                    }
                    Ok(ingested)
                },
                hand_over,
            )
            .await?;
        Ok(ingested.outcome)
    }

    fn hand_off(&self, lease: Duration) -> Option<HandOff> {
        let (jobs, handed) = mpsc::channel(HAND_OFF_EVENTS);
        *self.handing.lock().unwrap_or_else(|p| p.into_inner()) = Some(Handing::new(jobs, lease));
        Some(handed)
    }

    async fn recent_events(
        &self,
        account_id: &str,
        event_type: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<StoredEvent>> {
        let (account_id, event_type) = (account_id.to_owned(), event_type.map(str::to_owned));
        self.read(move |c| {
            let events = c
                .prepare_cached(
                    "SELECT id, type, data, created_at FROM events
                     WHERE account_id = ?1 AND (?2 IS NULL OR type = ?2) AND test = 0
                     ORDER BY pk DESC LIMIT ?3",
                )?
                .query_map(params![account_id, event_type, limit as i64], |row| {
                    let data: String = row.get(2)?;
                    Ok(StoredEvent {
                        id: row.get(0)?,
                        event_type: row.get(1)?,
                        data: serde_json::from_str(&data).map_err(|_| corrupt("event data"))?,
                        created_at: Timestamp(row.get(3)?),
                        bodies: Default::default(),
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(events)
        })
        .await
    }

    async fn claim_due(&self, request: ClaimRequest) -> StoreResult<Vec<DeliveryJob>> {
        let (cache, leases) = (self.cache.clone(), self.leases.clone());
        self.writer
            .write(Durability::Relaxed, move |c| {
                claim_in(c, &cache, &leases, &request)
            })
            .await
    }

    /// Each outcome ends its lease first, on the writer thread, so no claim
    /// can take the delivery between its lease ending and its row changing.
    /// If the batch then fails to commit, the delivery is pending and free,
    /// and is made again (at least once).
    async fn complete(&self, completions: Vec<Completion>) -> StoreResult<()> {
        let (cache, leases) = (self.cache.clone(), self.leases.clone());
        self.writer
            .write(Durability::Relaxed, move |c| {
                let held: Vec<&Completion> = {
                    let mut table = leases.lock();
                    completions
                        .iter()
                        .filter(|done| table.end(done.lease.token))
                        .collect()
                };
                let mut not_failing = HashSet::new();
                held.into_iter()
                    .try_for_each(|done| complete_in(c, &cache, &leases, &mut not_failing, done))
            })
            .await
    }

    /// Leases live in memory: giving one back writes nothing, and the
    /// delivery is due again at once, at its old due time. A handed
    /// delivery's row goes back to `pending` (one write job for them all).
    async fn release(&self, leases: Vec<Lease>) -> StoreResult<()> {
        let mut handed = Vec::new();
        {
            let mut table = self.leases.lock();
            for lease in leases {
                if table.is_handed(lease.token) {
                    handed.push(lease.token);
                } else {
                    table.end(lease.token);
                }
            }
        }
        if handed.is_empty() {
            return Ok(());
        }
        let leases = self.leases.clone();
        self.writer
            .write(Durability::Relaxed, move |c| {
                let rowids: Vec<i64> = {
                    let mut table = leases.lock();
                    handed
                        .into_iter()
                        .filter(|&token| table.end(token))
                        .map(leased_row)
                        .collect()
                };
                handing::unhand(c, &rowids)
            })
            .await
    }

    /// Extends in memory; then, in a write job, returns the rows of handed
    /// leases that ran out to `pending` and stores the hand-off watermark.
    async fn extend(&self, leases: Vec<Lease>, lease: Duration) -> StoreResult<()> {
        let now = Timestamp::now();
        let expiry = now.after(lease);
        {
            let mut table = self.leases.lock();
            for held in leases {
                table.extend(held.token, expiry);
            }
        }
        let (leases, watermark) = (self.leases.clone(), self.watermark.clone());
        let thawing = self.leases.clone();
        self.writer
            .write_then(
                Durability::Relaxed,
                move |c| watermark.sweep(c, &mut leases.lock(), now),
                move |returned_orphans| {
                    if *returned_orphans {
                        thawing.lock().thaw();
                    }
                },
            )
            .await
            .map(|_| ())
    }

    async fn next_due(&self, skip: Vec<String>) -> StoreResult<Option<Timestamp>> {
        let leases = self.leases.clone();
        self.read(move |c| {
            let mut due = c.prepare_cached(
                "SELECT rowid, next_attempt_at FROM deliveries
                 WHERE state = 'pending'
                   AND subscription_id NOT IN (SELECT value FROM json_each(?1))
                   AND subscription_id NOT IN (SELECT id FROM subscriptions WHERE enabled = 0)
                 ORDER BY next_attempt_at",
            )?;
            let mut rows = due.query(params![to_json(&skip)])?;
            let now = Timestamp::now();
            let table = leases.lock();
            while let Some(row) = rows.next()? {
                if !table.is_held(row.get(0)?, now) {
                    return Ok(Some(Timestamp(row.get(1)?)));
                }
            }
            Ok(None)
        })
        .await
    }

    async fn resend(
        &self,
        account_id: &str,
        delivery_id: &str,
    ) -> StoreResult<Option<DeliveryStatus>> {
        let (account_id, delivery_id) = (account_id.to_owned(), delivery_id.to_owned());
        let leases = self.leases.clone();
        self.writer
            .write(Durability::Full, move |c| {
                let now = Timestamp::now();
                let rowid: Option<i64> = c
                    .prepare_cached(
                        "SELECT rowid FROM deliveries WHERE id = ?1 AND account_id = ?2",
                    )?
                    .query_row(params![delivery_id, account_id], |row| row.get(0))
                    .optional()?;
                let Some(rowid) = rowid else {
                    return Ok(None);
                };
                if leases.lock().is_held(rowid, now) {
                    return Ok(None);
                }
                Ok(c.prepare_cached(
                    "UPDATE deliveries SET state = 'pending', next_attempt_at = ?3, updated_at = ?3
                     WHERE rowid = ?1 AND account_id = ?2
                       AND subscription_id IN (SELECT id FROM subscriptions WHERE account_id = ?2)
                     RETURNING id, subscription_id, state, attempts, last_status, last_error",
                )?
                .query_row(params![rowid, account_id, now.0], delivery_status_from)
                .optional()?)
            })
            .await
    }

    async fn resend_failed(
        &self,
        account_id: &str,
        subscription_id: &str,
        since: Timestamp,
    ) -> StoreResult<usize> {
        let (account_id, subscription_id) = (account_id.to_owned(), subscription_id.to_owned());
        self.writer
            .write(Durability::Full, move |c| {
                let now = Timestamp::now();
                Ok(c.prepare_cached(
                    "UPDATE deliveries SET state = 'pending', next_attempt_at = ?4, updated_at = ?4
                     WHERE account_id = ?1 AND subscription_id = ?2 AND state = 'failed'
                       AND updated_at >= ?3",
                )?
                .execute(params![account_id, subscription_id, since.0, now.0])?)
            })
            .await
    }

    async fn start_test_delivery(
        &self,
        event: NewEvent,
        subscription_id: &str,
        lease_length: Duration,
    ) -> StoreResult<Option<DeliveryJob>> {
        let subscription_id = subscription_id.to_owned();
        let (cache, leases) = (self.cache.clone(), self.leases.clone());
        self.writer
            .write(Durability::Full, move |c| {
                let Some(subscription) = cache.subscription(c, &subscription_id)? else {
                    return Ok(None);
                };
                if subscription.account_id != event.account_id {
                    return Ok(None);
                }
                let Some(event_pk) = insert_event(c, &event, true)? else {
                    return Ok(None);
                };
                let delivery_id = new_id("dlv");
                c.prepare_cached(
                    "INSERT INTO deliveries (id, event_pk, subscription_id, account_id, state,
                         next_attempt_at, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?6, ?6)",
                )?
                .execute(params![
                    delivery_id,
                    event_pk,
                    subscription.id,
                    event.account_id,
                    event.created_at.after(lease_length).0,
                    event.created_at.0
                ])?;
                let token = leases
                    .lock()
                    .take(c.last_insert_rowid(), event.created_at.after(lease_length));
                let lease = Lease { delivery_id, token };
                Ok(Some(DeliveryJob {
                    lease,
                    attempts_made: 0,
                    event_pk,
                    event: Arc::new(StoredEvent {
                        id: event.id.as_str().to_owned(),
                        event_type: event.event_type,
                        data: event.data,
                        created_at: event.created_at,
                        bodies: Default::default(),
                    }),
                    subscription,
                }))
            })
            .await
    }

    /// Handed deliveries count as pending; the oldest of them is the one
    /// at the lowest row key.
    async fn queue_stats(&self) -> StoreResult<(u64, Option<Timestamp>)> {
        let (handed, lowest) = {
            let table = self.leases.lock();
            (table.handed(), table.lowest_handed())
        };
        self.read(move |c| {
            let (count, oldest): (i64, Option<i64>) = c.query_row(
                "SELECT COUNT(*), MIN(created_at) FROM deliveries WHERE state = 'pending'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            let oldest_handed: Option<i64> = match handed {
                0 => None,
                _ => c
                    .prepare_cached("SELECT created_at FROM deliveries WHERE rowid = ?1")?
                    .query_row(params![lowest], |r| r.get(0))
                    .optional()?,
            };
            let oldest = match (oldest, oldest_handed) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            Ok((count as u64 + handed as u64, oldest.map(Timestamp)))
        })
        .await
    }

    async fn ping(&self) -> StoreResult<()> {
        self.read(|c| Ok(c.query_row("SELECT 1", [], |_| Ok(()))?))
            .await
    }

    /// Refused while the file system holds less than [`PROBE_HEADROOM`]
    /// free: a small write can fit on a disk where an event does not.
    async fn probe_write(&self) -> StoreResult<()> {
        let folder = match self.path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
            _ => std::path::PathBuf::from("."),
        };
        let free = rustix::fs::statvfs(&folder)
            .map(|fs| fs.f_bavail.saturating_mul(fs.f_frsize))
            .map_err(|e| StoreError::Database(format!("reading the free space: {e}")))?;
        if free < PROBE_HEADROOM {
            return Err(StoreError::StorageFull(format!(
                "{free} bytes free on the database's file system"
            )));
        }
        self.writer
            .write(Durability::Full, |c| {
                c.prepare_cached(
                    "INSERT INTO settings (key, value) VALUES ('storage_probe', ?1)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                )?
                .execute(params![Timestamp::now().0.to_string()])?;
                Ok(())
            })
            .await
    }

    async fn database_size(&self) -> StoreResult<u64> {
        let size = |path: &Path| std::fs::metadata(path).map_or(0, |m| m.len());
        Ok(size(&self.path) + size(&log_path(&self.path)))
    }

    /// Runs on the writer thread like any write, one small step at a time,
    /// so ingest and outcomes go on between steps. Freed pages go to the
    /// file's free list and new rows reuse them: under a steady load the
    /// file stops growing once it holds a retention's worth of rows.
    async fn purge(&self, cutoff: Timestamp, after: i64, limit: usize) -> StoreResult<PurgeStep> {
        let (leases, watermark) = (self.leases.clone(), self.watermark.clone());
        self.writer
            .write(Durability::Relaxed, move |c| {
                purge_in(c, &leases, &watermark, cutoff, after, limit)
            })
            .await
    }

    async fn attempts(
        &self,
        account_id: &str,
        of: AttemptsOf,
        page: PageRequest,
    ) -> StoreResult<Page<Attempt>> {
        let account_id = account_id.to_owned();
        self.read(move |c| {
            // One statement per kind, so each reads its own index: a
            // webhook's attempts from the newest down, an event's through
            // the event. (One statement with optional filters read the
            // whole account's attempts and sorted them, for every page.)
            let (sql, of_id) = match of {
                AttemptsOf::Subscription(id) => (ATTEMPTS_OF_SUBSCRIPTION, id),
                AttemptsOf::Event(id) => (ATTEMPTS_OF_EVENT, id),
            };
            let items = c
                .prepare_cached(sql)?
                .query_map(
                    params![account_id, of_id, page.cursor, page.limit as i64 + 1],
                    |row| {
                        Ok(Attempt {
                            id: row.get(0)?,
                            delivery_id: row.get(1)?,
                            event_id: row.get(2)?,
                            event_type: row.get(3)?,
                            subscription_id: row.get(4)?,
                            result: AttemptResult {
                                started_at: Timestamp(row.get(5)?),
                                status: row.get(6)?,
                                latency_ms: row.get::<_, i64>(7)? as u64,
                                response_snippet: row.get(8)?,
                                error: row.get(9)?,
                                retry_after: None,
                            },
                        })
                    },
                )?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(page_of(items, page.limit, |a| a.id.clone()))
        })
        .await
    }

    async fn has_event(&self, account_id: &str, event_id: &str) -> StoreResult<bool> {
        let (account_id, event_id) = (account_id.to_owned(), event_id.to_owned());
        self.read(move |c| event_exists(c, &account_id, &event_id))
            .await
    }

    async fn deliveries_for_event(
        &self,
        account_id: &str,
        event_id: &str,
    ) -> StoreResult<Option<Vec<DeliveryStatus>>> {
        let (account_id, event_id) = (account_id.to_owned(), event_id.to_owned());
        self.read(move |c| {
            if !event_exists(c, &account_id, &event_id)? {
                return Ok(None);
            }
            let deliveries = c
                .prepare_cached(
                    "SELECT d.id, d.subscription_id, d.state, d.attempts, d.last_status, d.last_error
                     FROM deliveries d JOIN events e ON e.pk = d.event_pk
                     WHERE e.account_id = ?1 AND e.id = ?2 ORDER BY d.id",
                )?
                .query_map(params![account_id, event_id], delivery_status_from)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Some(deliveries))
        })
        .await
    }
}

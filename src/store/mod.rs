//! Persistence: the [`Records`] trait (accounts, keys, webhooks, event
//! types, listings) and the delivery engine's [`DeliveryQueue`], both
//! implemented by the embedded SQLite store (the single-node default) and
//! the PostgreSQL store (several nodes on one database); [`Store`] is the
//! two together. One database keeps both, so an event and its delivery rows
//! are written in one transaction, and workers claim due rows with a lease.

pub mod capacity;
pub mod hand_off;
mod models;
pub mod postgres;
pub mod sealing;
pub mod sqlite;

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;

pub use models::*;

use crate::config::DatabaseUrl;
use crate::domain::{AccountId, SubscriptionId};

pub use crate::delivery::queue::{DeliveryQueue, HandOff};

/// One schema upgrade: the SQL each database runs.
struct Upgrade {
    sqlite: &'static str,
    postgres: &'static str,
}

impl Upgrade {
    /// An upgrade both databases run alike.
    const fn both(sql: &'static str) -> Self {
        Self {
            sqlite: sql,
            postgres: sql,
        }
    }
}

/// Which database an upgrade's SQL is for.
#[derive(Debug, Clone, Copy)]
enum Dialect {
    Sqlite,
    Postgres,
}

/// Each schema upgrade, in order: upgrade `i` takes a database from version
/// `i + 1` to `i + 2`. A new database gets the latest schema (each store's
/// `schema.sql`) at [`SCHEMA_VERSION`].
const UPGRADES: &[Upgrade] = &[
    // 2: a target's pending deliveries in due order, for claims per target.
    Upgrade::both(
        "DROP INDEX deliveries_pending_by_subscription;
         CREATE INDEX deliveries_pending_by_subscription
             ON deliveries(subscription_id, next_attempt_at) WHERE state = 'pending';",
    ),
    // 3: attempts in the order they are listed, and an event's attempts
    // (PostgreSQL had that index already).
    Upgrade::both(
        "DROP INDEX attempts_by_subscription;
         CREATE INDEX attempts_by_subscription
             ON attempts(account_id, subscription_id, started_at, id);
         CREATE INDEX IF NOT EXISTS attempts_by_event ON attempts(event_pk);",
    ),
    // 4: on SQLite, a webhook's attempts through a key a third as long
    // (ties broken by the row key), so far fewer of its pages split and go
    // to the log per commit.
    Upgrade {
        sqlite: "DROP INDEX attempts_by_subscription;
                 CREATE INDEX attempts_by_subscription ON attempts(subscription_id, started_at);",
        postgres: "",
    },
    // 5: on PostgreSQL, autovacuum keeps up with retention's deletes.
    Upgrade {
        sqlite: "",
        postgres: "ALTER TABLE events SET (autovacuum_vacuum_scale_factor = 0.02);
                   ALTER TABLE deliveries SET (autovacuum_vacuum_scale_factor = 0.02);
                   ALTER TABLE attempts SET (autovacuum_vacuum_scale_factor = 0.02);",
    },
    // 6: ordered webhooks (their deliveries after the one going out wait,
    // in publish order, outside the due indexes) and rate-limited ones (on
    // PostgreSQL, the next free send time, shared by every node).
    Upgrade {
        sqlite: "ALTER TABLE subscriptions ADD COLUMN ordering TEXT NOT NULL DEFAULT 'none';
                 ALTER TABLE subscriptions ADD COLUMN rate_limit INTEGER;
                 CREATE INDEX deliveries_waiting ON deliveries(subscription_id)
                     WHERE state = 'waiting';",
        postgres: "ALTER TABLE subscriptions ADD COLUMN ordering TEXT NOT NULL DEFAULT 'none';
                   ALTER TABLE subscriptions ADD COLUMN rate_limit INTEGER;
                   ALTER TABLE subscriptions ADD COLUMN next_send_us BIGINT;
                   CREATE INDEX deliveries_waiting ON deliveries(subscription_id, event_pk)
                       WHERE state = 'waiting';",
    },
    // 7: on PostgreSQL, no foreign key check per delivery row (see
    // `schema.sql`: replays and retention lock the events instead).
    Upgrade {
        sqlite: "",
        postgres: "ALTER TABLE deliveries DROP CONSTRAINT IF EXISTS deliveries_event_pk_fkey;",
    },
];

/// The schema version this binary writes and reads.
const SCHEMA_VERSION: i64 = 1 + UPGRADES.len() as i64;

/// The SQL of the upgrades a `dialect` database at `version` still needs.
fn upgrades_from(version: i64, dialect: Dialect) -> String {
    let done = usize::try_from(version - 1)
        .unwrap_or(0)
        .min(UPGRADES.len());
    UPGRADES[done..]
        .iter()
        .map(|upgrade| match dialect {
            Dialect::Sqlite => upgrade.sqlite,
            Dialect::Postgres => upgrade.postgres,
        })
        .collect()
}

/// The columns both stores read a subscription from, in the order their
/// row readers expect (`s` is the subscriptions table).
const SUBSCRIPTION_COLUMNS: &str = "s.id, s.account_id, s.url, s.events, s.filter, s.format, \
     s.secret, s.headers, s.description, s.source, s.created_at, s.updated_at, \
     s.previous_secret, s.previous_secret_until, s.enabled, s.disabled_reason, s.failing_since, \
     s.ordering, s.rate_limit";

/// A page from `limit + 1` rows read: the extra row only tells whether
/// there is a next page, whose cursor is the last kept item's id.
fn page_of<T>(mut items: Vec<T>, limit: usize, id: impl Fn(&T) -> String) -> Page<T> {
    let next_cursor = if items.len() > limit {
        items.truncate(limit);
        items.last().map(&id)
    } else {
        None
    };
    Page { items, next_cursor }
}

/// A value as the JSON text both stores keep in TEXT columns.
fn to_json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}

/// Open the store a database URL names, migrating its schema; secrets are
/// sealed with `sealer`. `ca_file` adds a CA for PostgreSQL's TLS.
pub async fn open(
    url: &DatabaseUrl,
    ca_file: Option<&Path>,
    sealer: sealing::Sealer,
) -> StoreResult<Arc<dyn Store>> {
    Ok(match url {
        DatabaseUrl::Sqlite(path) => Arc::new(sqlite::SqliteStore::open(path, sealer)?),
        DatabaseUrl::Postgres(url) => {
            Arc::new(postgres::PostgresStore::connect(url, ca_file, sealer).await?)
        }
    })
}

/// Errors from a store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed.
    #[error("database error: {0}")]
    Database(String),
    /// A write was refused for lack of space (SQLite's `SQLITE_FULL`,
    /// PostgreSQL's `disk_full`); nothing of it was stored.
    #[error("the database's storage is full: {0}")]
    StorageFull(String),
    /// The database rolled the transaction back in favour of a conflicting
    /// one (a deadlock); nothing of it was stored, and it can run again.
    #[error("the write conflicted with another and was rolled back: {0}")]
    Contention(String),
    /// A referenced account does not exist.
    #[error("account {0} does not exist")]
    AccountNotFound(String),
    /// The store is shutting down or its writer is gone.
    #[error("the store is closed")]
    Closed,
    /// A value sealed at rest could not be opened.
    #[error(transparent)]
    Sealed(#[from] sealing::SealError),
}

impl StoreError {
    /// This error as each caller of a batch that failed with it hears it:
    /// a lack of space stays one, anything else becomes a database error
    /// with its text.
    pub fn for_each_caller(&self) -> StoreError {
        match self {
            StoreError::StorageFull(cause) => StoreError::StorageFull(cause.clone()),
            other => StoreError::Database(other.to_string()),
        }
    }
}

/// Result alias for store calls.
pub type StoreResult<T> = Result<T, StoreError>;

/// The records Hookbridge keeps: the admin key, event types, accounts and
/// their keys, subscriptions, and the listings of events, deliveries and
/// attempts. Every account-scoped call takes the account id, so one
/// account can never reach another's rows.
#[async_trait]
pub trait Records: Send + Sync + 'static {
    /// The stored admin key hash, if one was generated earlier.
    async fn admin_key_hash(&self) -> StoreResult<Option<String>>;

    /// Store the admin key hash.
    async fn set_admin_key_hash(&self, hash: String) -> StoreResult<()>;

    /// Register a new event type; false (and nothing stored) when the name
    /// is taken.
    async fn create_event_type(&self, event_type: RegisteredEventType) -> StoreResult<bool>;

    /// Replace a registered event type's description, schema and examples;
    /// false when no such type is registered.
    async fn replace_event_type(&self, event_type: RegisteredEventType) -> StoreResult<bool>;

    /// Every registered event type, by name.
    async fn event_types(&self) -> StoreResult<Vec<RegisteredEventType>>;

    /// Create an account.
    async fn create_account(&self, account: Account) -> StoreResult<Account>;

    /// An account by id.
    async fn account(&self, id: &AccountId) -> StoreResult<Option<Account>>;

    /// Add an API key (stored as its hash) to an existing account.
    async fn create_api_key(&self, key: ApiKeyRecord) -> StoreResult<ApiKeyRecord>;

    /// The account owning the key with this hash.
    async fn account_by_key_hash(&self, hash: &str) -> StoreResult<Option<Account>>;

    /// Create a subscription.
    async fn create_subscription(&self, subscription: Subscription) -> StoreResult<Subscription>;

    /// One of the account's subscriptions.
    async fn subscription(
        &self,
        account_id: &AccountId,
        id: &SubscriptionId,
    ) -> StoreResult<Option<Subscription>>;

    /// The account's subscriptions, newest first.
    async fn list_subscriptions(
        &self,
        account_id: &AccountId,
        page: PageRequest,
    ) -> StoreResult<Page<Subscription>>;

    /// Replace a subscription's mutable fields; `None` when it does not exist.
    async fn update_subscription(
        &self,
        subscription: Subscription,
    ) -> StoreResult<Option<Subscription>>;

    /// Delete a subscription and cancel its pending deliveries; false when
    /// there was nothing to delete.
    async fn delete_subscription(
        &self,
        account_id: &AccountId,
        id: &SubscriptionId,
    ) -> StoreResult<bool>;

    /// The account's most recent events (of one type, if given), newest first.
    async fn recent_events(
        &self,
        account_id: &AccountId,
        event_type: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<StoredEvent>>;

    /// Whether the database answers.
    async fn ping(&self) -> StoreResult<()>;

    /// Write (and keep) one small settings row: whether the database takes
    /// writes again after a full disk.
    async fn probe_write(&self) -> StoreResult<()>;

    /// How many bytes the database takes on disk (SQLite: the file and its
    /// log; PostgreSQL: the whole database).
    async fn database_size(&self) -> StoreResult<u64>;

    /// Attempts made for the account's deliveries of one subscription or of
    /// one event, newest first.
    async fn attempts(
        &self,
        account_id: &AccountId,
        of: AttemptsOf,
        page: PageRequest,
    ) -> StoreResult<Page<Attempt>>;

    /// Whether the account has an event with this id.
    async fn has_event(&self, account_id: &AccountId, event_id: &str) -> StoreResult<bool>;

    /// Deliveries of one of the account's events (one per subscription);
    /// `None` when the account has no such event.
    async fn deliveries_for_event(
        &self,
        account_id: &AccountId,
        event_id: &str,
    ) -> StoreResult<Option<Vec<DeliveryStatus>>>;
}

/// A whole store: its records and its delivery queue, kept in one
/// database so that an event and its deliveries commit together.
pub trait Store: Records + DeliveryQueue {}

impl<T: Records + DeliveryQueue + ?Sized> Store for T {}

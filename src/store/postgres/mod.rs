//! The PostgreSQL store: the multi-node backend. Several Hookbridge nodes
//! share one database: workers claim due deliveries with
//! `FOR UPDATE SKIP LOCKED` and a lease (a node that dies leaves leases that
//! simply fall due again when they expire), and ingest wakes every node's
//! workers with `NOTIFY` (each node `LISTEN`s; polling is only the fallback).
//! Publishes arriving together share one transaction (`ingest.rs`). The
//! statements of the delivery path are prepared once per connection and
//! cached (deadpool's `prepare_cached`): a plain query is parsed and planned
//! on every call and costs two round trips, a prepared one a single one.
//! Nothing is cached between calls, since another node may change any row.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{GenericClient, Pool, Runtime};
use futures_util::StreamExt;
use serde_json::Value;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::sealing::{Owner, SealedColumn, Sealer};
use super::{
    Account, ApiKeyRecord, Attempt, AttemptResult, AttemptsOf, ClaimRequest, ClaimScope,
    Completion, DeliveryJob, DeliveryStatus, Dialect, DueWork, IngestOutcome, Lease, NewEvent,
    NextStep, Page, PageRequest, PreviousSecret, PurgeStep, Purged, RegisteredEventType,
    SCHEMA_VERSION, SUBSCRIPTION_COLUMNS, Store, StoreError, StoreResult, StoredEvent,
    Subscription, TargetRoom, page_of, to_json, upgrades_from,
};
use crate::domain::{
    CustomHeaders, EventSelection, Filter, Format, SigningSecret, Source, Timestamp, new_id,
    rfc3339,
};

mod ingest;
mod tls;

const SCHEMA: &str = include_str!("schema.sql");
/// The channel ingest notifies when deliveries are due now.
const CHANNEL: &str = "hookbridge_due";
/// The advisory lock a purge step holds, so one node purges at a time.
const PURGE_LOCK: i64 = 7262653;
/// Connections per node.
const POOL_SIZE: usize = 16;

/// The PostgreSQL-backed [`Store`].
pub struct PostgresStore {
    pool: Pool,
    ingest: ingest::IngestQueue,
    url: String,
    tls: MakeRustlsConnect,
    sealer: Sealer,
    /// This node's name in its notifications, so that it ignores its own.
    node: Arc<str>,
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(error: tokio_postgres::Error) -> Self {
        if error.code() == Some(&tokio_postgres::error::SqlState::DISK_FULL) {
            StoreError::StorageFull(describe(&error))
        } else {
            StoreError::Database(describe(&error))
        }
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(error: deadpool_postgres::PoolError) -> Self {
        match error {
            deadpool_postgres::PoolError::Backend(error) => error.into(),
            other => StoreError::Database(other.to_string()),
        }
    }
}

/// The server's own message for a database error (tokio-postgres prints
/// only "db error"), else the error with its causes.
fn describe(error: &tokio_postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        return format!("{}: {}", db.severity(), db.message());
    }
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Database(format!("a stored {what} could not be read"))
}

impl PostgresStore {
    /// Connect to `url` (TLS as its `sslmode` says, the server verified
    /// against the system's roots and `ca_file`) and bring the schema up to
    /// date. Nodes starting at once serialise on an advisory lock, so the
    /// schema is created once.
    pub async fn connect(
        url: &str,
        ca_file: Option<&std::path::Path>,
        sealer: Sealer,
    ) -> StoreResult<Self> {
        let tls = tls::connector(ca_file)?;
        let mut config = deadpool_postgres::Config::new();
        config.url = Some(url.to_owned());
        config.pool = Some(deadpool_postgres::PoolConfig::new(POOL_SIZE));
        let pool = config
            .create_pool(Some(Runtime::Tokio1), tls.clone())
            .map_err(|e| StoreError::Database(format!("invalid PostgreSQL settings: {e}")))?;
        let mut client = pool
            .get()
            .await
            .map_err(|e| tls::explain(StoreError::from(e)))?;
        let transaction = client.transaction().await?;
        transaction
            .execute("SELECT pg_advisory_xact_lock(7262652)", &[])
            .await?;
        transaction
            .batch_execute("CREATE TABLE IF NOT EXISTS hookbridge_schema (version BIGINT NOT NULL)")
            .await?;
        let version: Option<i64> = transaction
            .query_opt("SELECT version FROM hookbridge_schema", &[])
            .await?
            .map(|r| r.get(0));
        match version {
            None => {
                transaction.batch_execute(SCHEMA).await?;
                transaction
                    .execute(
                        "INSERT INTO hookbridge_schema (version) VALUES ($1)",
                        &[&SCHEMA_VERSION],
                    )
                    .await?;
            }
            Some(found) if found > SCHEMA_VERSION => {
                return Err(StoreError::Database(format!(
                    "the database has schema version {found}, newer than this binary's {SCHEMA_VERSION}"
                )));
            }
            Some(found) if found < SCHEMA_VERSION => {
                transaction
                    .batch_execute(&upgrades_from(found, Dialect::Postgres))
                    .await?;
                transaction
                    .execute(
                        "UPDATE hookbridge_schema SET version = $1",
                        &[&SCHEMA_VERSION],
                    )
                    .await?;
            }
            Some(_) => {}
        }
        bind_sealed_values(&transaction, &sealer).await?;
        transaction.commit().await?;
        drop(client);
        let node: Arc<str> = new_id("node").into();
        Ok(Self {
            ingest: ingest::IngestQueue::start(pool.clone(), node.clone()),
            pool,
            url: url.to_owned(),
            tls,
            sealer,
            node,
        })
    }
}

/// Bind every sealed value written before values were bound to their row
/// to its row and column, in place, once (see the SQLite store's
/// `bind_sealed_values`: the same rules); runs inside the migration's
/// transaction, under its advisory lock, so one node does it.
async fn bind_sealed_values(
    transaction: &deadpool_postgres::Transaction<'_>,
    sealer: &Sealer,
) -> StoreResult<()> {
    let done = transaction
        .query_opt(
            "SELECT 1 FROM settings WHERE key = 'sealed_values_bound'",
            &[],
        )
        .await?;
    if done.is_some() {
        return Ok(());
    }
    let mut left = 0;
    for column in SealedColumn::ALL {
        let name = column.name();
        let rows = transaction
            .query(
                &format!("SELECT id, {name} FROM subscriptions WHERE {name} IS NOT NULL"),
                &[],
            )
            .await?;
        for row in rows {
            let (id, stored): (String, String) = (row.get(0), row.get(1));
            if Sealer::is_bound(&stored) {
                continue;
            }
            match sealer.open_unbound(&stored) {
                Ok(plain) => {
                    let bound = sealer.seal(&plain, Owner { column, row: &id });
                    transaction
                        .execute(
                            &format!("UPDATE subscriptions SET {name} = $1 WHERE id = $2"),
                            &[&bound, &id],
                        )
                        .await?;
                }
                Err(error) => {
                    tracing::error!(%error, subscription = %id, column = name, "a sealed value could not be bound to its row; give its key in --old-encryption-keys");
                    left += 1;
                }
            }
        }
    }
    if left == 0 {
        transaction
            .execute(
                "INSERT INTO settings (key, value) VALUES ('sealed_values_bound', '1')",
                &[],
            )
            .await?;
    }
    Ok(())
}

/// Call `woken` with what another node's notification on [`CHANNEL`] says
/// is due; reconnects after a lost connection (then calling it once for
/// anywhere, in case a notification was missed).
async fn listen(
    url: String,
    tls: MakeRustlsConnect,
    node: Arc<str>,
    woken: Arc<dyn Fn(DueWork) + Send + Sync>,
) {
    loop {
        match tokio_postgres::connect(&url, tls.clone()).await {
            Ok((client, mut connection)) => {
                let mut messages =
                    futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
                let listening = async {
                    client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
                    Ok::<_, tokio_postgres::Error>(())
                };
                let (listened, _) = tokio::join!(listening, async {
                    while let Some(Ok(message)) = messages.next().await {
                        if let tokio_postgres::AsyncMessage::Notification(note) = message
                            && let Some(work) = notified_work(note.payload(), &node)
                        {
                            woken(work);
                        }
                    }
                });
                if let Err(error) = listened {
                    tracing::warn!(%error, "LISTEN failed");
                }
            }
            Err(error) => tracing::warn!(%error, "the notification connection failed"),
        }
        woken(DueWork::Anywhere);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

fn json_text<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|_| corrupt(what))
}

/// A stored filter: `None` when the subscription has none.
fn filter_column(text: Option<&str>) -> StoreResult<Option<Filter>> {
    text.map(|text| {
        Filter::parse(&json_text::<Value>(text, "filter")?).map_err(|_| corrupt("filter"))
    })
    .transpose()
}

/// A subscription from `SUBSCRIPTION_COLUMNS` starting at `at`.
fn subscription_at(row: &Row, at: usize, sealer: &Sealer) -> StoreResult<Subscription> {
    let id: String = row.get(at);
    let owner = |column| Owner { column, row: &id };
    let events: Vec<String> = json_text(row.get(at + 3), "event list")?;
    let filter = filter_column(row.get(at + 4))?;
    let headers: BTreeMap<String, String> = json_text(
        &sealer.open(row.get(at + 7), owner(SealedColumn::Headers))?,
        "header set",
    )?;
    let previous_secret = match (
        row.get::<_, Option<&str>>(at + 12),
        row.get::<_, Option<i64>>(at + 13),
    ) {
        (Some(secret), Some(until)) => Some(PreviousSecret {
            secret: SigningSecret::parse(
                &sealer.open(secret, owner(SealedColumn::PreviousSecret))?,
            )
            .map_err(|_| corrupt("previous secret"))?,
            until: Timestamp(until),
        }),
        _ => None,
    };
    Ok(Subscription {
        id: id.clone(),
        account_id: row.get(at + 1),
        url: row.get(at + 2),
        events: EventSelection::from_stored(events),
        filter,
        format: Format::from_stored(row.get(at + 5)).ok_or_else(|| corrupt("format"))?,
        secret: SigningSecret::parse(&sealer.open(row.get(at + 6), owner(SealedColumn::Secret))?)
            .map_err(|_| corrupt("secret"))?,
        headers: CustomHeaders::from_stored(headers),
        description: row.get(at + 8),
        source: Source::from_stored(row.get(at + 9)).ok_or_else(|| corrupt("source"))?,
        created_at: Timestamp(row.get(at + 10)),
        updated_at: Timestamp(row.get(at + 11)),
        previous_secret,
        enabled: row.get(at + 14),
        disabled_reason: row.get(at + 15),
        failing_since: row.get::<_, Option<i64>>(at + 16).map(Timestamp),
    })
}

fn account_from(row: &Row) -> Account {
    Account {
        id: row.get(0),
        name: row.get(1),
        created_at: Timestamp(row.get(2)),
    }
}

/// A delivery's state from `id, subscription_id, state, attempts,
/// last_status, last_error`.
fn delivery_status_from(row: &Row) -> DeliveryStatus {
    DeliveryStatus {
        id: row.get(0),
        subscription_id: row.get(1),
        state: row.get(2),
        attempts: row.get::<_, i32>(3).max(0) as u32,
        last_status: row.get::<_, Option<i32>>(4).map(|s| s as u16),
        last_error: row.get(5),
    }
}

fn event_from(row: &Row, at: usize) -> StoreResult<StoredEvent> {
    Ok(StoredEvent {
        id: row.get(at),
        event_type: row.get(at + 1),
        data: json_text(row.get(at + 2), "event")?,
        created_at: Timestamp(row.get(at + 3)),
        bodies: Default::default(),
    })
}

/// The values of a subscription in `SUBSCRIPTION_COLUMNS` order.
struct SubscriptionValues {
    events: String,
    secret: String,
    filter: Option<String>,
    headers: String,
    previous_secret: Option<String>,
    previous_until: Option<i64>,
    failing_since: Option<i64>,
}

impl SubscriptionValues {
    fn of(s: &Subscription, sealer: &Sealer) -> Self {
        let owner = |column| Owner { column, row: &s.id };
        Self {
            events: to_json(&s.events.to_list()),
            filter: s.filter.as_ref().map(|f| f.to_json().to_string()),
            secret: sealer.seal(s.secret.shown(), owner(SealedColumn::Secret)),
            headers: sealer.seal(&to_json(s.headers.as_map()), owner(SealedColumn::Headers)),
            previous_secret: s
                .previous_secret
                .as_ref()
                .map(|p| sealer.seal(p.secret.shown(), owner(SealedColumn::PreviousSecret))),
            previous_until: s.previous_secret.as_ref().map(|p| p.until.0),
            failing_since: s.failing_since.map(|t| t.0),
        }
    }
}

async fn cancel_pending(
    client: &impl GenericClient,
    subscription_id: &str,
    now: Timestamp,
) -> StoreResult<()> {
    execute(
        client,
        "UPDATE deliveries SET state = 'cancelled', next_attempt_at = NULL,
                 lease_token = NULL, updated_at = $2
             WHERE subscription_id = $1 AND state = 'pending'",
        &[&subscription_id, &now.0],
    )
    .await?;
    Ok(())
}

/// Delete a subscription and cancel its pending deliveries.
///
/// The deliveries are locked before the subscription, the order in which an
/// attempt's outcome locks them (its delivery, then the subscription's run
/// of failures): in the other order a deletion and an outcome arriving
/// together deadlocked, and PostgreSQL aborted one of them.
async fn delete_subscription_in(
    client: &impl GenericClient,
    account_id: &str,
    id: &str,
) -> StoreResult<bool> {
    let exists = query_opt(
        client,
        "SELECT 1 FROM subscriptions WHERE id = $1 AND account_id = $2",
        &[&id, &account_id],
    )
    .await?
    .is_some();
    if !exists {
        return Ok(false);
    }
    cancel_pending(client, id, Timestamp::now()).await?;
    let deleted = execute(
        client,
        "DELETE FROM subscriptions WHERE id = $1 AND account_id = $2",
        &[&id, &account_id],
    )
    .await?;
    Ok(deleted > 0)
}

async fn insert_event(
    client: &impl GenericClient,
    event: &NewEvent,
    test: bool,
) -> StoreResult<Option<i64>> {
    let row = query_opt(
        client,
        "INSERT INTO events (id, account_id, type, data, created_at, test)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (account_id, id) DO NOTHING RETURNING pk",
        &[
            &event.id.as_str(),
            &event.account_id,
            &event.event_type,
            &event.data.to_string(),
            &event.created_at.0,
            &test,
        ],
    )
    .await?;
    Ok(row.map(|r| r.get(0)))
}

/// Make the pending deliveries whose `leases` still hold due at `due`:
/// ending the lease (a release) or keeping it (a renewal).
async fn move_leased(
    client: &impl GenericClient,
    leases: &[Lease],
    due: Timestamp,
    end_lease: bool,
) -> StoreResult<()> {
    let ids: Vec<&str> = leases.iter().map(|l| l.delivery_id.as_str()).collect();
    let tokens: Vec<i64> = leases.iter().map(|l| l.token).collect();
    execute(
        client,
        "UPDATE deliveries d SET next_attempt_at = $3,
             lease_token = CASE WHEN $4 THEN NULL ELSE d.lease_token END
         FROM UNNEST($1::TEXT[], $2::BIGINT[]) AS l(id, token)
         WHERE d.id = l.id AND d.lease_token = l.token AND d.state = 'pending'",
        &[&ids, &tokens, &due.0, &end_lease],
    )
    .await?;
    Ok(())
}

/// Run `sql` as a statement prepared once per connection and cached
/// (deadpool's `prepare_cached`): PostgreSQL neither parses nor plans it
/// again, and each call is one round trip, not two. Every statement of the
/// store goes through here or its siblings below, except the schema
/// migration and the health ping; their SQL texts are fixed, so each
/// connection's cache stays bounded.
async fn query(
    client: &impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> StoreResult<Vec<Row>> {
    let statement = client.prepare_cached(sql).await?;
    Ok(client.query(&statement, params).await?)
}

/// Whether the account has an event with this id.
async fn event_exists(
    client: &impl GenericClient,
    account_id: &str,
    event_id: &str,
) -> StoreResult<bool> {
    let found = query_opt(
        client,
        "SELECT 1 FROM events WHERE account_id = $1 AND id = $2",
        &[&account_id, &event_id],
    )
    .await?;
    Ok(found.is_some())
}

/// [`query`] for at most one row (the first, if several came back).
async fn query_opt(
    client: &impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> StoreResult<Option<Row>> {
    Ok(query(client, sql, params).await?.into_iter().next())
}

/// [`query`] for exactly one row.
async fn query_one(
    client: &impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> StoreResult<Row> {
    query_opt(client, sql, params)
        .await?
        .ok_or_else(|| StoreError::Database(format!("no row from {sql}")))
}

/// [`query`] for a statement that returns no rows: how many it changed.
async fn execute(
    client: &impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> StoreResult<u64> {
    let statement = client.prepare_cached(sql).await?;
    Ok(client.execute(&statement, params).await?)
}

/// The statement that leases the deliveries a `due (id, next_attempt_at)`
/// query selects (and locks) until `$1`, returning each with the due time
/// it had.
macro_rules! lease_due {
    ($due:literal) => {
        concat!(
            "WITH due AS (",
            $due,
            ")
             UPDATE deliveries d
             SET next_attempt_at = $1,
                 lease_token = floor(random() * 9007199254740991)::BIGINT
             FROM due WHERE d.id = due.id
             RETURNING d.id, d.attempts, d.subscription_id, d.lease_token, d.event_pk,
                       due.next_attempt_at"
        )
    };
}

/// The longest notification payload sent; PostgreSQL refuses 8,000 bytes.
const MAX_PAYLOAD: usize = 7_000;

/// Tell every node that deliveries are due now to `targets` (subscription
/// ids; none: to any). The payload is `node` (which has rung its own
/// dispatcher already) and the targets, separated by spaces; a list too long
/// for one payload is left out, and the others then look everywhere.
async fn notify_due(client: &impl GenericClient, node: &str, targets: &[&str]) -> StoreResult<()> {
    let payload = notice_payload(node, targets);
    execute(client, "SELECT pg_notify($1, $2)", &[&CHANNEL, &payload]).await?;
    Ok(())
}

/// The payload [`notify_due`] sends.
fn notice_payload(node: &str, targets: &[&str]) -> String {
    let mut payload = node.to_owned();
    let listed: usize = targets.iter().map(|t| t.len() + 1).sum();
    if payload.len() + listed <= MAX_PAYLOAD {
        for target in targets {
            payload.push(' ');
            payload.push_str(target);
        }
    }
    payload
}

/// What another node's notification says is due, or `None` for this
/// node's own.
fn notified_work(payload: &str, node: &str) -> Option<DueWork> {
    let mut parts = payload.split(' ');
    if parts.next() == Some(node) {
        return None;
    }
    let targets: Vec<String> = parts.filter(|t| !t.is_empty()).map(str::to_owned).collect();
    Some(if targets.is_empty() {
        DueWork::Anywhere
    } else {
        DueWork::Targets(targets)
    })
}

/// Apply a batch of outcomes in a few statements, whatever its size: one
/// UPDATE of the deliveries whose lease still holds, one INSERT of their
/// attempts, one UPDATE ending the failure runs of delivered targets; only
/// failures and 410s (rare when targets are healthy) take a statement each.
async fn complete_all(client: &impl GenericClient, completions: &[Completion]) -> StoreResult<()> {
    let mut ids = Vec::with_capacity(completions.len());
    let mut tokens = Vec::with_capacity(completions.len());
    let mut states = Vec::with_capacity(completions.len());
    let mut next_ats: Vec<Option<i64>> = Vec::with_capacity(completions.len());
    let mut statuses: Vec<Option<i32>> = Vec::with_capacity(completions.len());
    let mut errors: Vec<Option<String>> = Vec::with_capacity(completions.len());
    for completion in completions {
        let attempt = &completion.attempt;
        let (state, next_at, error) = completion.stored_outcome();
        ids.push(completion.lease.delivery_id.as_str());
        tokens.push(completion.lease.token);
        states.push(state);
        next_ats.push(next_at);
        statuses.push(attempt.status.map(i32::from));
        errors.push(error);
    }
    let applied: HashSet<String> = query(
        client,
        "UPDATE deliveries d SET state = c.state, attempts = d.attempts + 1,
                 next_attempt_at = c.next_at, lease_token = NULL, last_status = c.status,
                 last_error = c.error, updated_at = $7
             FROM UNNEST($1::TEXT[], $2::BIGINT[], $3::TEXT[], $4::BIGINT[], $5::INT[], $6::TEXT[])
                 AS c(id, token, state, next_at, status, error)
             WHERE d.id = c.id AND d.lease_token = c.token AND d.state = 'pending'
             RETURNING d.id",
        &[
            &ids,
            &tokens,
            &states,
            &next_ats,
            &statuses,
            &errors,
            &Timestamp::now().0,
        ],
    )
    .await?
    .iter()
    .map(|row| row.get(0))
    .collect();
    let done: Vec<&Completion> = completions
        .iter()
        .filter(|c| applied.contains(&c.lease.delivery_id))
        .collect();
    if done.is_empty() {
        return Ok(());
    }
    let attempt_ids: Vec<String> = done.iter().map(|_| new_id("att")).collect();
    let delivery_ids: Vec<&str> = done.iter().map(|c| c.lease.delivery_id.as_str()).collect();
    let subscription_ids: Vec<&str> = done.iter().map(|c| c.subscription_id.as_str()).collect();
    let account_ids: Vec<&str> = done.iter().map(|c| c.account_id.as_str()).collect();
    let event_pks: Vec<i64> = done.iter().map(|c| c.event_pk).collect();
    let started: Vec<i64> = done.iter().map(|c| c.attempt.started_at.0).collect();
    let statuses: Vec<Option<i32>> = done
        .iter()
        .map(|c| c.attempt.status.map(i32::from))
        .collect();
    let latencies: Vec<i64> = done.iter().map(|c| c.attempt.latency_ms as i64).collect();
    let snippets: Vec<&str> = done
        .iter()
        .map(|c| c.attempt.response_snippet.as_str())
        .collect();
    let errors: Vec<Option<&str>> = done.iter().map(|c| c.attempt.error.as_deref()).collect();
    execute(
        client,
        "INSERT INTO attempts (id, delivery_id, subscription_id, account_id, event_pk,
                 started_at, status, latency_ms, response_snippet, error)
             SELECT * FROM UNNEST($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::BIGINT[],
                 $6::BIGINT[], $7::INT[], $8::BIGINT[], $9::TEXT[], $10::TEXT[])",
        &[
            &attempt_ids,
            &delivery_ids,
            &subscription_ids,
            &account_ids,
            &event_pks,
            &started,
            &statuses,
            &latencies,
            &snippets,
            &errors,
        ],
    )
    .await?;
    // A batch's outcomes count in their order, as the SQLite store records
    // them one by one: a subscription's last success in the batch ends its
    // run of failures, so only the failures after it start a new one.
    let mut last_success: HashMap<&str, usize> = HashMap::new();
    for (index, completion) in done.iter().enumerate() {
        if completion.next == NextStep::Delivered {
            last_success.insert(completion.subscription_id.as_str(), index);
        }
    }
    let mut recovered: Vec<&str> = last_success.keys().copied().collect();
    recovered.sort_unstable();
    execute(
        client,
        "UPDATE subscriptions SET failing_since = NULL
             WHERE id = ANY($1) AND failing_since IS NOT NULL",
        &[&recovered],
    )
    .await?;
    for (index, completion) in done.iter().enumerate() {
        if completion.next == NextStep::Delivered {
            continue;
        }
        let succeeded_later = last_success
            .get(completion.subscription_id.as_str())
            .is_some_and(|&success| success > index);
        if !succeeded_later {
            track_failure(client, completion).await?;
        }
        if completion.next == NextStep::RemoveSubscription {
            delete_subscription_in(client, &completion.account_id, &completion.subscription_id)
                .await?;
        }
    }
    Ok(())
}

/// As in the SQLite store: a failure starts a subscription's run of
/// failures, or disables the subscription once the run began before the
/// auto-disable cutoff (a success ends the run, in [`complete_all`]).
async fn track_failure(client: &impl GenericClient, completion: &Completion) -> StoreResult<()> {
    let id = &completion.subscription_id;
    execute(
        client,
        "UPDATE subscriptions SET failing_since = $2 WHERE id = $1 AND failing_since IS NULL",
        &[id, &completion.attempt.started_at.0],
    )
    .await?;
    let Some(cutoff) = completion.disable_if_failing_since else {
        return Ok(());
    };
    let disabled = execute(
        client,
        "UPDATE subscriptions SET enabled = FALSE,
                 disabled_reason = 'every attempt failed since ' || $3
             WHERE id = $1 AND enabled AND failing_since <= $2",
        &[id, &cutoff.0, &rfc3339(cutoff)],
    )
    .await?;
    if disabled > 0 {
        tracing::warn!(subscription = %id, "auto-disabled after failing every attempt for the configured span");
    }
    Ok(())
}

/// A page of one subscription's attempts, newest first: `$1` the account,
/// `$2` the subscription, `$3` the cursor (the last attempt id seen, or
/// NULL), `$4` the rows to read. The bound on `started_at` lets the
/// subscription index start at the cursor.
const ATTEMPTS_OF_SUBSCRIPTION: &str = "SELECT a.id, a.delivery_id, e.id, e.type,
         a.subscription_id, a.started_at, a.status, a.latency_ms, a.response_snippet, a.error
     FROM attempts a JOIN events e ON e.pk = a.event_pk
     WHERE a.account_id = $1 AND a.subscription_id = $2
       AND a.started_at <= coalesce((SELECT started_at FROM attempts WHERE id = $3::TEXT),
                                    9223372036854775807)
       AND ($3::TEXT IS NULL OR (a.started_at, a.id) <
            (SELECT started_at, id FROM attempts WHERE id = $3::TEXT))
     ORDER BY a.started_at DESC, a.id DESC LIMIT $4";

/// A page of one event's attempts, newest first: `$2` is the event's id;
/// the other parameters as in [`ATTEMPTS_OF_SUBSCRIPTION`].
///
/// An event's attempts are all its account's, so they are found through the
/// event alone: a condition on the attempts' account let PostgreSQL's
/// planner, misled by young statistics, read the account's every attempt.
const ATTEMPTS_OF_EVENT: &str = "SELECT a.id, a.delivery_id, e.id, e.type,
         a.subscription_id, a.started_at, a.status, a.latency_ms, a.response_snippet, a.error
     FROM events e JOIN attempts a ON a.event_pk = e.pk
     WHERE e.account_id = $1 AND e.id = $2
       AND ($3::TEXT IS NULL OR (a.started_at, a.id) <
            (SELECT started_at, id FROM attempts WHERE id = $3::TEXT))
     ORDER BY a.started_at DESC, a.id DESC LIMIT $4";

#[async_trait]
impl Store for PostgresStore {
    fn listen_for_work(&self, woken: Arc<dyn Fn(DueWork) + Send + Sync>) {
        tokio::spawn(listen(
            self.url.clone(),
            self.tls.clone(),
            self.node.clone(),
            woken,
        ));
    }

    async fn admin_key_hash(&self) -> StoreResult<Option<String>> {
        let client = self.pool.get().await?;
        Ok(query_opt(
            &client,
            "SELECT value FROM settings WHERE key = 'admin_key_hash'",
            &[],
        )
        .await?
        .map(|r| r.get(0)))
    }

    async fn set_admin_key_hash(&self, hash: String) -> StoreResult<()> {
        let client = self.pool.get().await?;
        execute(
            &client,
            "INSERT INTO settings (key, value) VALUES ('admin_key_hash', $1)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            &[&hash],
        )
        .await?;
        Ok(())
    }

    async fn create_event_type(&self, event_type: RegisteredEventType) -> StoreResult<bool> {
        let client = self.pool.get().await?;
        let created = execute(
            &client,
            "INSERT INTO event_types (name, description, schema, examples, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO NOTHING",
            &[
                &event_type.name,
                &event_type.description,
                &to_json(&event_type.schema),
                &to_json(&event_type.examples),
                &event_type.created_at.0,
                &event_type.updated_at.0,
            ],
        )
        .await?;
        Ok(created == 1)
    }

    async fn replace_event_type(&self, event_type: RegisteredEventType) -> StoreResult<bool> {
        let client = self.pool.get().await?;
        let replaced = execute(
            &client,
            "UPDATE event_types SET description = $2, schema = $3, examples = $4,
                     updated_at = $5 WHERE name = $1",
            &[
                &event_type.name,
                &event_type.description,
                &to_json(&event_type.schema),
                &to_json(&event_type.examples),
                &event_type.updated_at.0,
            ],
        )
        .await?;
        Ok(replaced == 1)
    }

    async fn event_types(&self) -> StoreResult<Vec<RegisteredEventType>> {
        let client = self.pool.get().await?;
        query(
            &client,
            "SELECT name, description, schema, examples, created_at, updated_at
                 FROM event_types ORDER BY name",
            &[],
        )
        .await?
        .iter()
        .map(|row| {
            Ok(RegisteredEventType {
                name: row.get(0),
                description: row.get(1),
                schema: json_text(row.get(2), "event type schema")?,
                examples: json_text(row.get(3), "event type example list")?,
                created_at: Timestamp(row.get(4)),
                updated_at: Timestamp(row.get(5)),
            })
        })
        .collect()
    }

    async fn create_account(&self, account: Account) -> StoreResult<Account> {
        let client = self.pool.get().await?;
        execute(
            &client,
            "INSERT INTO accounts (id, name, created_at) VALUES ($1, $2, $3)",
            &[&account.id, &account.name, &account.created_at.0],
        )
        .await?;
        Ok(account)
    }

    async fn account(&self, id: &str) -> StoreResult<Option<Account>> {
        let client = self.pool.get().await?;
        Ok(query_opt(
            &client,
            "SELECT id, name, created_at FROM accounts WHERE id = $1",
            &[&id],
        )
        .await?
        .as_ref()
        .map(account_from))
    }

    async fn create_api_key(&self, key: ApiKeyRecord) -> StoreResult<ApiKeyRecord> {
        let client = self.pool.get().await?;
        let inserted = execute(
            &client,
            "INSERT INTO api_keys (id, account_id, hash, last_four, created_at)
                 SELECT $1, id, $3, $4, $5 FROM accounts WHERE id = $2",
            &[
                &key.id,
                &key.account_id,
                &key.hash,
                &key.last_four,
                &key.created_at.0,
            ],
        )
        .await?;
        if inserted == 0 {
            return Err(StoreError::AccountNotFound(key.account_id));
        }
        Ok(key)
    }

    async fn account_by_key_hash(&self, hash: &str) -> StoreResult<Option<Account>> {
        let client = self.pool.get().await?;
        Ok(query_opt(
            &client,
            "SELECT a.id, a.name, a.created_at FROM api_keys k
                 JOIN accounts a ON a.id = k.account_id WHERE k.hash = $1",
            &[&hash],
        )
        .await?
        .as_ref()
        .map(account_from))
    }

    async fn create_subscription(&self, subscription: Subscription) -> StoreResult<Subscription> {
        let client = self.pool.get().await?;
        let s = &subscription;
        let v = SubscriptionValues::of(s, &self.sealer);
        let inserted = execute(
            &client,
            "INSERT INTO subscriptions (id, account_id, url, events, filter, format, secret,
                     headers, description, source, created_at, updated_at, previous_secret,
                     previous_secret_until, enabled, disabled_reason, failing_since)
                 SELECT $1, id, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17
                 FROM accounts WHERE id = $2",
            &[
                &s.id,
                &s.account_id,
                &s.url,
                &v.events,
                &v.filter,
                &s.format.as_str(),
                &v.secret,
                &v.headers,
                &s.description,
                &s.source.as_str(),
                &s.created_at.0,
                &s.updated_at.0,
                &v.previous_secret,
                &v.previous_until,
                &s.enabled,
                &s.disabled_reason,
                &v.failing_since,
            ],
        )
        .await?;
        if inserted == 0 {
            return Err(StoreError::AccountNotFound(subscription.account_id));
        }
        Ok(subscription)
    }

    async fn subscription(&self, account_id: &str, id: &str) -> StoreResult<Option<Subscription>> {
        let client = self.pool.get().await?;
        query_opt(
            &client,
            &format!(
                "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions s
                     WHERE s.id = $1 AND s.account_id = $2"
            ),
            &[&id, &account_id],
        )
        .await?
        .map(|row| subscription_at(&row, 0, &self.sealer))
        .transpose()
    }

    async fn list_subscriptions(
        &self,
        account_id: &str,
        page: PageRequest,
    ) -> StoreResult<Page<Subscription>> {
        let client = self.pool.get().await?;
        let items = query(
            &client,
            &format!(
                "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions s
                     WHERE s.account_id = $1 AND ($2::TEXT IS NULL OR s.id < $2)
                     ORDER BY s.id DESC LIMIT $3"
            ),
            &[&account_id, &page.cursor, &(page.limit as i64 + 1)],
        )
        .await?
        .iter()
        .map(|row| subscription_at(row, 0, &self.sealer))
        .collect::<StoreResult<Vec<_>>>()?;
        Ok(page_of(items, page.limit, |s| s.id.clone()))
    }

    async fn update_subscription(
        &self,
        subscription: Subscription,
    ) -> StoreResult<Option<Subscription>> {
        let client = self.pool.get().await?;
        let s = &subscription;
        let v = SubscriptionValues::of(s, &self.sealer);
        let changed = execute(
            &client,
            "UPDATE subscriptions SET url = $3, events = $4, filter = $5, format = $6,
                     secret = $7, headers = $8, description = $9, updated_at = $10,
                     previous_secret = $11, previous_secret_until = $12,
                     enabled = $13, disabled_reason = $14, failing_since = $15
                 WHERE id = $1 AND account_id = $2",
            &[
                &s.id,
                &s.account_id,
                &s.url,
                &v.events,
                &v.filter,
                &s.format.as_str(),
                &v.secret,
                &v.headers,
                &s.description,
                &s.updated_at.0,
                &v.previous_secret,
                &v.previous_until,
                &s.enabled,
                &s.disabled_reason,
                &v.failing_since,
            ],
        )
        .await?;
        Ok((changed > 0).then_some(subscription))
    }

    async fn delete_subscription(&self, account_id: &str, id: &str) -> StoreResult<bool> {
        let mut client = self.pool.get().await?;
        let transaction = client.transaction().await?;
        let deleted = delete_subscription_in(&transaction, account_id, id).await?;
        transaction.commit().await?;
        Ok(deleted)
    }

    async fn ingest(&self, event: NewEvent) -> StoreResult<IngestOutcome> {
        self.ingest.ingest(event).await
    }

    async fn recent_events(
        &self,
        account_id: &str,
        event_type: Option<&str>,
        limit: usize,
    ) -> StoreResult<Vec<StoredEvent>> {
        let client = self.pool.get().await?;
        query(
            &client,
            "SELECT id, type, data, created_at FROM events
                 WHERE account_id = $1 AND ($2::TEXT IS NULL OR type = $2) AND NOT test
                 ORDER BY pk DESC LIMIT $3",
            &[&account_id, &event_type, &(limit as i64)],
        )
        .await?
        .iter()
        .map(|row| event_from(row, 0))
        .collect()
    }

    async fn claim_due(&self, request: ClaimRequest) -> StoreResult<Vec<DeliveryJob>> {
        let client = self.pool.get().await?;
        let now = Timestamp::now();
        let lease_until = now.after(request.lease).0;
        // Each path leases in one statement whose rows carry the due time
        // they had, so the jobs can be put back in due order.
        let mut claimed = match &request.scope {
            ClaimScope::Any(limits) => {
                let scan = request.total.saturating_mul(TargetRoom::SCAN) as i64;
                let candidates = query(
                    &client,
                    "SELECT d.id, d.subscription_id FROM deliveries d
                     WHERE d.state = 'pending' AND d.next_attempt_at <= $1
                       AND NOT (d.subscription_id = ANY($2::TEXT[]))
                       AND NOT EXISTS (SELECT 1 FROM subscriptions s
                                       WHERE s.id = d.subscription_id AND NOT s.enabled)
                     ORDER BY d.next_attempt_at
                     LIMIT $3",
                    &[&now.0, &limits.skipped(), &scan],
                )
                .await?;
                let picked: Vec<String> = limits.pick(
                    candidates.iter().map(|row| (row.get(0), row.get(1))),
                    request.total,
                );
                if picked.is_empty() {
                    return Ok(Vec::new());
                }
                // Another node may have leased some of them since they were
                // read: those are skipped (locked) or no longer due.
                query(
                    &client,
                    lease_due!(
                        "SELECT d.id, d.next_attempt_at FROM deliveries d
                         WHERE d.id = ANY($2) AND d.state = 'pending' AND d.next_attempt_at <= $3
                         FOR UPDATE SKIP LOCKED"
                    ),
                    &[&lease_until, &picked, &now.0],
                )
                .await?
            }
            ClaimScope::Targets(targets) => {
                let mut left = request.total;
                let (ids, rooms): (Vec<&str>, Vec<i64>) = targets
                    .iter()
                    .map(|(id, room)| {
                        let room = (*room).min(left);
                        left -= room;
                        (id.as_str(), room as i64)
                    })
                    .unzip();
                query(
                    &client,
                    lease_due!(
                        "SELECT due.id, due.next_attempt_at
                         FROM UNNEST($2::TEXT[], $3::BIGINT[]) AS t(id, room)
                         CROSS JOIN LATERAL (
                             SELECT d.id, d.next_attempt_at FROM deliveries d
                             WHERE d.subscription_id = t.id AND d.state = 'pending'
                               AND d.next_attempt_at <= $4
                               AND NOT EXISTS (SELECT 1 FROM subscriptions s
                                               WHERE s.id = t.id AND NOT s.enabled)
                             ORDER BY d.next_attempt_at
                             LIMIT t.room
                             FOR UPDATE SKIP LOCKED) due"
                    ),
                    &[&lease_until, &ids, &rooms, &now.0],
                )
                .await?
            }
        };
        claimed.sort_by_key(|row| row.get::<_, i64>(5));
        if claimed.is_empty() {
            return Ok(Vec::new());
        }
        let event_pks: Vec<i64> = claimed.iter().map(|r| r.get(4)).collect();
        let subscription_ids: Vec<String> = claimed.iter().map(|r| r.get(2)).collect();
        let mut events = HashMap::new();
        for row in query(
            &client,
            "SELECT pk, id, type, data, created_at FROM events WHERE pk = ANY($1)",
            &[&event_pks],
        )
        .await?
        {
            events.insert(row.get::<_, i64>(0), Arc::new(event_from(&row, 1)?));
        }
        let mut subscriptions = HashMap::new();
        for row in query(
            &client,
            &format!("SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions s WHERE s.id = ANY($1)"),
            &[&subscription_ids],
        )
        .await?
        {
            let id: String = row.get(0);
            match subscription_at(&row, 0, &self.sealer) {
                Ok(subscription) => {
                    subscriptions.insert(id, Some(Arc::new(subscription)));
                }
                Err(error) => {
                    // One unreadable subscription (a secret sealed under a
                    // key this node lacks) must not stall the others: its
                    // deliveries keep their lease and are tried after it.
                    tracing::error!(%error, subscription = %id, "a subscription could not be read; its deliveries wait a lease");
                    subscriptions.insert(id, None);
                }
            }
        }
        let mut jobs = Vec::with_capacity(claimed.len());
        for row in &claimed {
            let subscription_id: String = row.get(2);
            let subscription = match subscriptions.get(&subscription_id) {
                Some(Some(subscription)) => subscription,
                Some(None) => continue,
                None => {
                    cancel_pending(&client, &subscription_id, now).await?;
                    continue;
                }
            };
            let event = events
                .get(&row.get::<_, i64>(4))
                .ok_or_else(|| corrupt("delivery's event"))?;
            jobs.push(DeliveryJob {
                lease: Lease {
                    delivery_id: row.get(0),
                    token: row.get(3),
                },
                attempts_made: row.get::<_, i32>(1).max(0) as u32,
                event_pk: row.get(4),
                event: event.clone(),
                subscription: subscription.clone(),
            });
        }
        Ok(jobs)
    }

    async fn complete(&self, completions: Vec<Completion>) -> StoreResult<()> {
        let mut client = self.pool.get().await?;
        let transaction = client.transaction().await?;
        complete_all(&transaction, &completions).await?;
        transaction.commit().await?;
        Ok(())
    }

    async fn release(&self, leases: Vec<Lease>) -> StoreResult<()> {
        let client = self.pool.get().await?;
        move_leased(&client, &leases, Timestamp::now(), true).await?;
        notify_due(&client, &self.node, &[]).await?;
        Ok(())
    }

    async fn extend(&self, leases: Vec<Lease>, lease: Duration) -> StoreResult<()> {
        if leases.is_empty() {
            return Ok(());
        }
        let client = self.pool.get().await?;
        move_leased(&client, &leases, Timestamp::now().after(lease), false).await
    }

    async fn next_due(&self, skip: Vec<String>) -> StoreResult<Option<Timestamp>> {
        let client = self.pool.get().await?;
        let rows = query(
            &client,
            "SELECT MIN(d.next_attempt_at) FROM deliveries d
             WHERE d.state = 'pending' AND NOT (d.subscription_id = ANY($1::TEXT[]))
               AND NOT EXISTS (SELECT 1 FROM subscriptions s
                               WHERE s.id = d.subscription_id AND NOT s.enabled)",
            &[&skip],
        )
        .await?;
        let at: Option<i64> = rows.first().and_then(|row| row.get(0));
        Ok(at.map(Timestamp))
    }

    async fn resend(
        &self,
        account_id: &str,
        delivery_id: &str,
    ) -> StoreResult<Option<DeliveryStatus>> {
        let client = self.pool.get().await?;
        let row = query_opt(
            &client,
            "UPDATE deliveries SET state = 'pending', next_attempt_at = $3, updated_at = $3
                 WHERE id = $1 AND account_id = $2 AND lease_token IS NULL
                   AND subscription_id IN (SELECT id FROM subscriptions WHERE account_id = $2)
                 RETURNING id, subscription_id, state, attempts, last_status, last_error",
            &[&delivery_id, &account_id, &Timestamp::now().0],
        )
        .await?;
        if row.is_some() {
            notify_due(&client, &self.node, &[]).await?;
        }
        Ok(row.as_ref().map(delivery_status_from))
    }

    async fn resend_failed(
        &self,
        account_id: &str,
        subscription_id: &str,
        since: Timestamp,
    ) -> StoreResult<usize> {
        let client = self.pool.get().await?;
        let resent = execute(
            &client,
            "UPDATE deliveries SET state = 'pending', next_attempt_at = $4, updated_at = $4
                 WHERE account_id = $1 AND subscription_id = $2 AND state = 'failed'
                   AND updated_at >= $3",
            &[&account_id, &subscription_id, &since.0, &Timestamp::now().0],
        )
        .await?;
        if resent > 0 {
            notify_due(&client, &self.node, &[]).await?;
        }
        Ok(resent as usize)
    }

    async fn start_test_delivery(
        &self,
        event: NewEvent,
        subscription_id: &str,
        lease_length: Duration,
    ) -> StoreResult<Option<DeliveryJob>> {
        let mut client = self.pool.get().await?;
        let transaction = client.transaction().await?;
        let Some(row) = query_opt(
            &transaction,
            &format!(
                "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions s
                     WHERE s.id = $1 AND s.account_id = $2"
            ),
            &[&subscription_id, &event.account_id],
        )
        .await?
        else {
            return Ok(None);
        };
        let subscription = Arc::new(subscription_at(&row, 0, &self.sealer)?);
        let Some(event_pk) = insert_event(&transaction, &event, true).await? else {
            return Ok(None);
        };
        let lease = Lease {
            delivery_id: new_id("dlv"),
            token: rand::random::<i64>(),
        };
        execute(
            &transaction,
            "INSERT INTO deliveries (id, event_pk, subscription_id, account_id, state,
                     next_attempt_at, lease_token, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7, $7)",
            &[
                &lease.delivery_id,
                &event_pk,
                &subscription.id,
                &event.account_id,
                &event.created_at.after(lease_length).0,
                &lease.token,
                &event.created_at.0,
            ],
        )
        .await?;
        transaction.commit().await?;
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
    }

    async fn queue_stats(&self) -> StoreResult<(u64, Option<Timestamp>)> {
        let client = self.pool.get().await?;
        let row = query_one(
            &client,
            "SELECT COUNT(*), MIN(created_at) FROM deliveries WHERE state = 'pending'",
            &[],
        )
        .await?;
        Ok((
            row.get::<_, i64>(0) as u64,
            row.get::<_, Option<i64>>(1).map(Timestamp),
        ))
    }

    async fn ping(&self) -> StoreResult<()> {
        let client = self.pool.get().await?;
        client.execute("SELECT 1", &[]).await?;
        Ok(())
    }

    /// Writes 32 KiB of text that does not compress: a small write can
    /// fit in a page's free space on a disk where an event does not.
    async fn probe_write(&self) -> StoreResult<()> {
        let client = self.pool.get().await?;
        execute(
            &client,
            "INSERT INTO settings (key, value) VALUES ('storage_probe',
                 (SELECT string_agg(md5(random()::text), '') FROM generate_series(1, 1024)))
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            &[],
        )
        .await?;
        Ok(())
    }

    async fn database_size(&self) -> StoreResult<u64> {
        let client = self.pool.get().await?;
        let row = query_one(&client, "SELECT pg_database_size(current_database())", &[]).await?;
        Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
    }

    /// One node purges at a time: a step takes a transaction-scoped
    /// advisory lock, and a node that finds it taken ends its pass. Deleted
    /// rows are reclaimed by autovacuum, tuned tighter for the three
    /// purged tables (see `schema.sql`), and their space reused by new rows.
    async fn purge(&self, cutoff: Timestamp, after: i64, limit: usize) -> StoreResult<PurgeStep> {
        let mut client = self.pool.get().await?;
        let transaction = client.transaction().await?;
        let locked = query_one(
            &transaction,
            "SELECT pg_try_advisory_xact_lock($1)",
            &[&PURGE_LOCK],
        )
        .await?;
        if !locked.get::<_, bool>(0) {
            return Ok(PurgeStep::default());
        }
        let examined = query(
            &transaction,
            "SELECT e.pk, e.created_at, EXISTS (
                 SELECT 1 FROM deliveries d WHERE d.event_pk = e.pk AND d.state = 'pending')
             FROM events e WHERE e.pk > $1 ORDER BY e.pk LIMIT $2",
            &[&after, &(limit as i64)],
        )
        .await?;
        let mut resume_after = (examined.len() == limit)
            .then(|| examined.last().map(|row| row.get::<_, i64>(0)))
            .flatten();
        let mut doomed: Vec<i64> = Vec::new();
        for row in &examined {
            if row.get::<_, i64>(1) >= cutoff.0 {
                resume_after = None;
                break;
            }
            if !row.get::<_, bool>(2) {
                doomed.push(row.get(0));
            }
        }
        let mut purged = Purged::default();
        if !doomed.is_empty() {
            // A delivery made pending again meanwhile (a resend) keeps its
            // event: each statement sees what committed before it.
            purged.deliveries = execute(
                &transaction,
                "DELETE FROM deliveries WHERE event_pk = ANY($1) AND state <> 'pending'",
                &[&doomed],
            )
            .await?;
            purged.attempts = execute(
                &transaction,
                "DELETE FROM attempts WHERE event_pk = ANY($1)",
                &[&doomed],
            )
            .await?;
            purged.events = execute(
                &transaction,
                "DELETE FROM events e WHERE e.pk = ANY($1)
                   AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_pk = e.pk)",
                &[&doomed],
            )
            .await?;
        }
        transaction.commit().await?;
        Ok(PurgeStep {
            purged,
            resume_after,
        })
    }

    async fn attempts(
        &self,
        account_id: &str,
        of: AttemptsOf,
        page: PageRequest,
    ) -> StoreResult<Page<Attempt>> {
        let client = self.pool.get().await?;
        // One statement per kind, so each reads its own index (see the
        // SQLite store).
        let (sql, of_id) = match of {
            AttemptsOf::Subscription(id) => (ATTEMPTS_OF_SUBSCRIPTION, id),
            AttemptsOf::Event(id) => (ATTEMPTS_OF_EVENT, id),
        };
        let items = query(
            &client,
            sql,
            &[&account_id, &of_id, &page.cursor, &(page.limit as i64 + 1)],
        )
        .await?
        .iter()
        .map(|row| Attempt {
            id: row.get(0),
            delivery_id: row.get(1),
            event_id: row.get(2),
            event_type: row.get(3),
            subscription_id: row.get(4),
            result: AttemptResult {
                started_at: Timestamp(row.get(5)),
                status: row.get::<_, Option<i32>>(6).map(|s| s as u16),
                latency_ms: row.get::<_, i64>(7).max(0) as u64,
                response_snippet: row.get(8),
                error: row.get(9),
                retry_after: None,
            },
        })
        .collect();
        Ok(page_of(items, page.limit, |a| a.id.clone()))
    }

    async fn has_event(&self, account_id: &str, event_id: &str) -> StoreResult<bool> {
        let client = self.pool.get().await?;
        event_exists(&client, account_id, event_id).await
    }

    async fn deliveries_for_event(
        &self,
        account_id: &str,
        event_id: &str,
    ) -> StoreResult<Option<Vec<DeliveryStatus>>> {
        let client = self.pool.get().await?;
        if !event_exists(&client, account_id, event_id).await? {
            return Ok(None);
        }
        let rows = query(
            &client,
            "SELECT d.id, d.subscription_id, d.state, d.attempts, d.last_status, d.last_error
                 FROM deliveries d JOIN events e ON e.pk = d.event_pk
                 WHERE e.account_id = $1 AND e.id = $2 ORDER BY d.id",
            &[&account_id, &event_id],
        )
        .await?;
        Ok(Some(rows.iter().map(delivery_status_from).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_name_their_node_and_targets_and_a_long_list_is_left_out() {
        let payload = notice_payload("node_a", &["sub_1", "sub_2"]);
        assert_eq!(
            notified_work(&payload, "node_a"),
            None,
            "a node's own notice"
        );
        assert_eq!(
            notified_work(&payload, "node_b"),
            Some(DueWork::Targets(vec!["sub_1".into(), "sub_2".into()]))
        );
        let many: Vec<String> = (0..1_000).map(|i| format!("sub_{i:026}")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let payload = notice_payload("node_a", &many);
        assert!(payload.len() < 8_000);
        assert_eq!(notified_work(&payload, "node_b"), Some(DueWork::Anywhere));
        assert_eq!(
            notified_work(&notice_payload("node_a", &[]), "node_b"),
            Some(DueWork::Anywhere)
        );
    }
}

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

use super::hand_off::HandingSlot;
use super::sealing::{Owner, SealedColumn, Sealer};
use super::{
    Account, ApiKeyRecord, Attempt, AttemptResult, AttemptsOf, ClaimRequest, ClaimScope,
    Completion, DeliveryJob, DeliveryQueue, DeliveryStatus, Dialect, DueWork, HandOff,
    IngestOutcome, Lease, NewEvent, NextStep, Page, PageRequest, PreviousSecret, PurgeStep, Purged,
    Records, RegisteredEventType, ReplayCandidate, ReplayPage, ReplayStep, SCHEMA_VERSION,
    SUBSCRIPTION_COLUMNS, StoreError, StoreResult, StoredEvent, Subscription, TargetRoom,
    disabled_reason, page_of, to_json, upgrades_from,
};
use crate::domain::{
    AccountId, CustomHeaders, DeliveryId, DeliveryState, EventSelection, Filter, Format,
    OperationalEvent, Ordering, RateLimit, Route, SigningSecret, Source, SubscriptionId,
    TimeWindow, Timestamp, matching, new_id, operator_account,
};

mod ingest;
mod queue;
mod records;
mod tls;

/// Ids bind as their text and read back from it.
macro_rules! text_id_columns {
    ($($id:ty),*) => {$(
        impl tokio_postgres::types::ToSql for $id {
            fn to_sql(
                &self,
                ty: &tokio_postgres::types::Type,
                out: &mut bytes::BytesMut,
            ) -> Result<tokio_postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>>
            {
                self.as_str().to_sql(ty, out)
            }

            fn accepts(ty: &tokio_postgres::types::Type) -> bool {
                <&str as tokio_postgres::types::ToSql>::accepts(ty)
            }

            tokio_postgres::types::to_sql_checked!();
        }

        impl<'a> tokio_postgres::types::FromSql<'a> for $id {
            fn from_sql(
                ty: &tokio_postgres::types::Type,
                raw: &'a [u8],
            ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
                String::from_sql(ty, raw).map(Self::from)
            }

            fn accepts(ty: &tokio_postgres::types::Type) -> bool {
                <String as tokio_postgres::types::FromSql>::accepts(ty)
            }
        }
    )*};
}

text_id_columns!(AccountId, SubscriptionId, DeliveryId);

const SCHEMA: &str = include_str!("schema.sql");
/// The channel ingest notifies when deliveries are due now.
const CHANNEL: &str = "hookbridge_due";
/// Connections per node.
const POOL_SIZE: usize = 16;

/// The PostgreSQL-backed [`Store`].
pub struct PostgresStore {
    pool: Pool,
    ingest: ingest::IngestQueue,
    /// Where ingest hands new deliveries, once this node's dispatcher asked.
    handing: HandingSlot,
    url: String,
    tls: MakeRustlsConnect,
    sealer: Sealer,
    /// This node's name in its notifications, so that it ignores its own.
    node: Arc<str>,
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(error: tokio_postgres::Error) -> Self {
        use tokio_postgres::error::SqlState;
        match error.code() {
            Some(&SqlState::DISK_FULL) => StoreError::StorageFull(describe(&error)),
            Some(&SqlState::T_R_DEADLOCK_DETECTED) => StoreError::Contention(describe(&error)),
            _ => StoreError::Database(describe(&error)),
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
        let handing = HandingSlot::default();
        Ok(Self {
            ingest: ingest::IngestQueue::start(
                pool.clone(),
                node.clone(),
                handing.clone(),
                sealer.clone(),
            ),
            handing,
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
        id: id.as_str().into(),
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
        ordering: Ordering::from_stored(row.get(at + 17)).ok_or_else(|| corrupt("ordering"))?,
        rate_limit: row
            .get::<_, Option<i32>>(at + 18)
            .map(|limit| {
                u32::try_from(limit)
                    .ok()
                    .and_then(|limit| RateLimit::new(limit).ok())
                    .ok_or_else(|| corrupt("rate limit"))
            })
            .transpose()?,
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
fn delivery_status_from(row: &Row) -> StoreResult<DeliveryStatus> {
    Ok(DeliveryStatus {
        id: row.get(0),
        subscription_id: row.get(1),
        state: DeliveryState::from_stored(row.get(2)).ok_or_else(|| corrupt("delivery state"))?,
        attempts: row.get::<_, i32>(3).max(0) as u32,
        last_status: row.get::<_, Option<i32>>(4).map(|s| s as u16),
        last_error: row.get(5),
    })
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
    rate_limit: Option<i32>,
}

impl SubscriptionValues {
    fn of(s: &Subscription, sealer: &Sealer) -> Self {
        let owner = |column| Owner {
            column,
            row: s.id.as_str(),
        };
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
            rate_limit: s.rate_limit.map(|limit| limit.per_second() as i32),
        }
    }
}

async fn cancel_pending(
    client: &impl GenericClient,
    subscription_id: &SubscriptionId,
    now: Timestamp,
) -> StoreResult<()> {
    // `OR`, not `IN`: only then can each state's partial index serve it; with
    // `IN`, every delivery ever stored was scanned.
    execute(
        client,
        "UPDATE deliveries SET state = 'cancelled', next_attempt_at = NULL,
                 lease_token = NULL, updated_at = $2
             WHERE subscription_id = $1 AND (state = 'pending' OR state = 'waiting')",
        &[&subscription_id, &now.0],
    )
    .await?;
    Ok(())
}

/// Lock the rows of the subscriptions `ids` (sorted, so that two callers
/// take them in the same order) until the transaction ends.
///
/// The store's lock order, which keeps its transactions from deadlocking:
/// subscription rows first, in id order, then delivery rows. Ingest, an
/// outcome that fails, ends a run of failures or frees an ordered webhook's
/// next delivery, a replay and a deletion all take them so. The one
/// exception is the usual batch of successes (`complete_delivered`), which
/// locks no subscription row unless one turned out to be failing after its
/// job was read; a deadlock that leaves is run again (see [`retrying`]).
async fn lock_subscriptions(client: &impl GenericClient, ids: &[&str]) -> StoreResult<()> {
    query(
        client,
        "SELECT id FROM subscriptions WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE",
        &[&ids],
    )
    .await?;
    Ok(())
}

/// Delete a subscription and cancel its pending deliveries.
///
/// The subscription's row is locked before its deliveries, in the store's
/// lock order (see [`lock_subscriptions`]). An outcome that frees an
/// ordered webhook's next delivery locks that subscription and then two of
/// its deliveries, the one done and the next; a deletion that locked the
/// deliveries first deadlocked with it.
async fn delete_subscription_in(
    client: &impl GenericClient,
    account_id: &AccountId,
    id: &SubscriptionId,
) -> StoreResult<bool> {
    let exists = query_opt(
        client,
        "SELECT 1 FROM subscriptions WHERE id = $1 AND account_id = $2 FOR UPDATE",
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

/// How many times in all a transaction is run while PostgreSQL keeps
/// rolling it back for a deadlock.
const RUNS_UNDER_CONTENTION: usize = 3;

/// Run `transaction` (which opens, fills and commits one) again when
/// PostgreSQL rolled it back for a deadlock: nothing of it was stored, and
/// the other transaction, which went ahead, is done by the next run.
async fn retrying<T, F, Fut>(mut transaction: F) -> StoreResult<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = StoreResult<T>>,
{
    let mut runs = 1;
    loop {
        match transaction().await {
            Err(StoreError::Contention(cause)) if runs < RUNS_UNDER_CONTENTION => {
                tracing::warn!(%cause, runs, "a transaction was rolled back for a deadlock; running it again");
                runs += 1;
            }
            outcome => return outcome,
        }
    }
}

/// Run `sql` as a statement prepared once per connection and cached
/// (deadpool's `prepare_cached`): PostgreSQL does not parse it again, and
/// each call is one round trip, not two. (It still plans a statement anew at
/// each call while its plan for the call's values looks cheaper than a
/// generic one, as it does for `= ANY($1)` on one element: about 0.06 ms a
/// call.) Every statement of the store goes through here or its siblings
/// below, except the schema migration and the health ping; their SQL texts
/// are fixed, so each connection's cache stays bounded.
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
    account_id: &AccountId,
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
    let targets: Vec<SubscriptionId> = parts.filter(|t| !t.is_empty()).map(Into::into).collect();
    Some(if targets.is_empty() {
        DueWork::Anywhere
    } else {
        DueWork::Targets(targets)
    })
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

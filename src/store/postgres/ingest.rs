//! Group commit for publishing on PostgreSQL: events published at the same
//! time share one transaction (a handful of statements whatever their
//! number), and each publisher hears back only after it has committed. One
//! transaction per event had made the commit's fsync the limit on how many
//! events a node could accept.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use deadpool_postgres::Pool;
use tokio::sync::{Mutex, mpsc, oneshot};

use super::{execute, filter_column, json_text, notify_due, query};
use crate::domain::{AccountId, EventSelection, Route, matching, new_id};
use crate::store::{IngestOutcome, NewEvent, StoreError, StoreResult};

/// Events taken into one transaction at most.
const MAX_BATCH: usize = 256;
/// Transactions running at once; while they commit, the next publishes
/// gather into the following batches.
const COMMITTERS: usize = 4;

type Request = (NewEvent, oneshot::Sender<StoreResult<IngestOutcome>>);

/// The queue of events waiting for a transaction.
pub(super) struct IngestQueue {
    requests: mpsc::Sender<Request>,
}

impl IngestQueue {
    /// Start the committers on `pool`; their notifications name `node`.
    pub(super) fn start(pool: Pool, node: Arc<str>) -> Self {
        let (requests, queue) = mpsc::channel(MAX_BATCH * COMMITTERS * 4);
        let queue = Arc::new(Mutex::new(queue));
        for _ in 0..COMMITTERS {
            tokio::spawn(commit_batches(pool.clone(), queue.clone(), node.clone()));
        }
        Self { requests }
    }

    /// Store `event` with its deliveries; resolves once that has committed.
    pub(super) async fn ingest(&self, event: NewEvent) -> StoreResult<IngestOutcome> {
        let (reply, outcome) = oneshot::channel();
        self.requests
            .send((event, reply))
            .await
            .map_err(|_| StoreError::Closed)?;
        outcome.await.map_err(|_| StoreError::Closed)?
    }
}

/// Take whatever is queued (up to [`MAX_BATCH`]) and store it in one
/// transaction, until the queue closes.
async fn commit_batches(pool: Pool, queue: Arc<Mutex<mpsc::Receiver<Request>>>, node: Arc<str>) {
    loop {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        if queue.lock().await.recv_many(&mut batch, MAX_BATCH).await == 0 {
            return;
        }
        let (events, replies): (Vec<NewEvent>, Vec<_>) = batch.into_iter().unzip();
        match store_batch(&pool, &events, &node).await {
            Ok(outcomes) => {
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    let _ = reply.send(outcome);
                }
            }
            Err(error) => {
                for reply in replies {
                    let _ = reply.send(Err(error.for_each_caller()));
                }
            }
        }
    }
}

/// Store `events` and their deliveries in one transaction: one outcome per
/// event, in order. An event of an unknown account gets its own error and
/// the others go on; a database error fails the whole batch.
async fn store_batch(
    pool: &Pool,
    events: &[NewEvent],
    node: &str,
) -> StoreResult<Vec<StoreResult<IngestOutcome>>> {
    let mut client = pool.get().await?;
    let transaction = client.transaction().await?;

    let mut account_ids: Vec<&str> = events.iter().map(|e| e.account_id.as_str()).collect();
    account_ids.sort_unstable();
    account_ids.dedup();
    let known: HashSet<AccountId> = query(
        &transaction,
        "SELECT id FROM accounts WHERE id = ANY($1)",
        &[&account_ids],
    )
    .await?
    .iter()
    .map(|row| row.get(0))
    .collect();

    // The first of several publishes of one id in a batch is the one stored.
    let mut first_of: HashSet<(&str, &str)> = HashSet::new();
    let mut candidates: Vec<&NewEvent> = events
        .iter()
        .filter(|e| known.contains(&e.account_id))
        .filter(|e| first_of.insert((e.account_id.as_str(), e.id.as_str())))
        .collect();
    // In key order, so that two batches holding the same ids take their
    // locks in the same order and cannot deadlock.
    candidates.sort_unstable_by_key(|e| (e.account_id.as_str(), e.id.as_str()));
    let ids: Vec<&str> = candidates.iter().map(|e| e.id.as_str()).collect();
    let owners: Vec<&str> = candidates.iter().map(|e| e.account_id.as_str()).collect();
    let types: Vec<&str> = candidates.iter().map(|e| e.event_type.as_str()).collect();
    let data: Vec<String> = candidates.iter().map(|e| e.data.to_string()).collect();
    let times: Vec<i64> = candidates.iter().map(|e| e.created_at.0).collect();
    let mut inserted: HashMap<(AccountId, String), i64> = query(
        &transaction,
        "INSERT INTO events (id, account_id, type, data, created_at, test)
         SELECT id, account_id, type, data, created_at, FALSE
         FROM UNNEST($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::BIGINT[])
             AS e(id, account_id, type, data, created_at)
         ON CONFLICT (account_id, id) DO NOTHING
         RETURNING account_id, id, pk",
        &[&ids, &owners, &types, &data, &times],
    )
    .await?
    .iter()
    .map(|row| ((row.get(0), row.get(1)), row.get(2)))
    .collect();

    let mut routes: HashMap<AccountId, Vec<Route>> = HashMap::new();
    for row in query(
        &transaction,
        "SELECT account_id, id, events, filter FROM subscriptions
             WHERE account_id = ANY($1) AND enabled",
        &[&account_ids],
    )
    .await?
    {
        routes.entry(row.get(0)).or_default().push(Route {
            subscription_id: row.get(1),
            events: EventSelection::from_stored(json_text(row.get(2), "event list")?),
            filter: filter_column(row.get(3))?,
        });
    }

    let (mut delivery_ids, mut event_pks, mut targets, mut delivery_owners, mut delivery_times) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut outcomes = Vec::with_capacity(events.len());
    for event in events {
        if !known.contains(&event.account_id) {
            outcomes.push(Err(StoreError::AccountNotFound(
                event.account_id.to_string(),
            )));
            continue;
        }
        // Taken out once: a later publish of the same id in this batch is a
        // duplicate of the first.
        let key = (event.account_id.clone(), event.id.as_str().to_owned());
        let Some(event_pk) = inserted.remove(&key) else {
            outcomes.push(Ok(IngestOutcome {
                event_id: event.id.as_str().to_owned(),
                duplicate: true,
                deliveries: 0,
                targets: Vec::new(),
            }));
            continue;
        };
        let mut matched = Vec::new();
        let account_routes = routes.get(&event.account_id).map_or(&[][..], Vec::as_slice);
        for route in matching(account_routes, event.event_type.as_str(), &event.data) {
            delivery_ids.push(new_id("dlv"));
            event_pks.push(event_pk);
            targets.push(route.subscription_id.as_str());
            delivery_owners.push(event.account_id.as_str());
            delivery_times.push(event.created_at.0);
            matched.push(route.subscription_id.clone());
        }
        outcomes.push(Ok(IngestOutcome {
            event_id: event.id.as_str().to_owned(),
            duplicate: false,
            deliveries: matched.len(),
            targets: matched,
        }));
    }
    if !delivery_ids.is_empty() {
        execute(
            &transaction,
            "INSERT INTO deliveries (id, event_pk, subscription_id, account_id, state,
                 next_attempt_at, created_at, updated_at)
             SELECT d, e, s, a, 'pending', t, t, t
             FROM UNNEST($1::TEXT[], $2::BIGINT[], $3::TEXT[], $4::TEXT[], $5::BIGINT[])
                 AS x(d, e, s, a, t)",
            &[
                &delivery_ids,
                &event_pks,
                &targets,
                &delivery_owners,
                &delivery_times,
            ],
        )
        .await?;
        let mut notified = targets.clone();
        notified.sort_unstable();
        notified.dedup();
        notify_due(&transaction, node, &notified).await?;
    }
    transaction.commit().await?;
    Ok(outcomes)
}

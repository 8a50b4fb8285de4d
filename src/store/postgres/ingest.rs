//! Group commit for publishing on PostgreSQL: events published at the same
//! time share one transaction (a handful of statements whatever their
//! number), and each publisher hears back only after it has committed. One
//! transaction per event had made the commit's fsync the limit on how many
//! events a node could accept. A node writes one batch at a time: what is
//! published meanwhile makes the next batch, so batches grow with the load
//! instead of splitting it over more transactions (each costs the server far
//! more than the events in it). Only the wait for a commit (the WAL's
//! fsync) overlaps with the next batch's statements.
//!
//! The node that accepts an event delivers it: where its dispatcher has
//! room, the event's deliveries are stored already leased to this node (in
//! the same transaction) and handed to the dispatcher once committed, with
//! no claim and no notification. Other nodes see them only if that lease
//! runs out, as when this node stops.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use deadpool_postgres::Pool;
use tokio::sync::{Mutex, MutexGuard, mpsc, oneshot};

use tokio_postgres::Row;

use super::{
    SUBSCRIPTION_COLUMNS, execute, filter_column, json_text, lock_subscriptions, notify_due, query,
    subscription_at,
};
use crate::domain::{
    AccountId, DeliveryId, EventSelection, Ordering, Route, SubscriptionId, matching,
};
use crate::store::hand_off::{FreshDelivery, HandingSlot, Reservation};
use crate::store::sealing::Sealer;
use crate::store::{IngestOutcome, NewEvent, StoreError, StoreResult, StoredEvent, Subscription};

/// Events taken into one transaction at most.
const MAX_BATCH: usize = 256;
/// Transactions open at once: one gathering and writing its batch, the
/// others waiting for their commits.
const COMMITTERS: usize = 2;

type Request = (NewEvent, oneshot::Sender<StoreResult<IngestOutcome>>);

/// The queue of events waiting for a transaction.
pub(super) struct IngestQueue {
    requests: mpsc::Sender<Request>,
}

impl IngestQueue {
    /// Start the committers on `pool`; their notifications name `node`,
    /// and they hand what they can to `handing`.
    pub(super) fn start(pool: Pool, node: Arc<str>, handing: HandingSlot, sealer: Sealer) -> Self {
        let (requests, queue) = mpsc::channel(MAX_BATCH * 4);
        let committer = Arc::new(Committer {
            pool,
            node,
            handing,
            sealer,
            queue: Mutex::new(queue),
        });
        for _ in 0..COMMITTERS {
            tokio::spawn(committer.clone().commit_batches());
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

/// What every committer shares.
struct Committer {
    pool: Pool,
    node: Arc<str>,
    handing: HandingSlot,
    sealer: Sealer,
    /// Held from taking a batch until its statements have run, so that
    /// only one batch is gathered and written at a time.
    queue: Mutex<mpsc::Receiver<Request>>,
}

/// One event's deliveries leased to this node, to hand over once their
/// transaction has committed.
struct Handed {
    reservation: Reservation,
    event_pk: i64,
    event: Arc<StoredEvent>,
    fresh: Vec<FreshDelivery>,
}

impl Committer {
    /// Take whatever is queued (up to [`MAX_BATCH`]) and store it in one
    /// transaction, until the queue closes.
    async fn commit_batches(self: Arc<Self>) {
        loop {
            let mut queue = self.queue.lock().await;
            let mut batch = Vec::with_capacity(MAX_BATCH);
            if queue.recv_many(&mut batch, MAX_BATCH).await == 0 {
                return;
            }
            let (events, replies): (Vec<NewEvent>, Vec<_>) = batch.into_iter().unzip();
            match self.store_batch(&events, queue).await {
                Ok((outcomes, handed)) => {
                    for batch in handed {
                        batch
                            .reservation
                            .hand_over(batch.event_pk, batch.event, batch.fresh);
                    }
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

    /// Store `events` and their deliveries in one transaction: one outcome
    /// per event, in order, and the deliveries to hand over once it has
    /// committed. An event of an unknown account gets its own error and the
    /// others go on; a database error fails the whole batch (and the places
    /// kept for its hand-offs are freed).
    async fn store_batch(
        &self,
        events: &[NewEvent],
        queue: MutexGuard<'_, mpsc::Receiver<Request>>,
    ) -> StoreResult<(Vec<StoreResult<IngestOutcome>>, Vec<Handed>)> {
        let mut client = self.pool.get().await?;
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
        let mut targets = Targets::read(&transaction, &account_ids).await?;

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

        let mut open = targets.lock_ordered(&transaction).await?;
        let mut rows = DeliveryRows::default();
        let mut handed = Vec::new();
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
            let matched: Vec<SubscriptionId> = targets.matching(event).cloned().collect();
            let reservation = if matched.is_empty() {
                None
            } else {
                self.handing.reserve()
            };
            let (mut due, mut fresh, mut waiting) = (Vec::new(), Vec::new(), 0);
            for subscription_id in matched {
                let id = DeliveryId::generate();
                // One delivery of an ordered webhook is open at a time; the
                // others wait their turn, in publish order. The open one is
                // `pending` (handed over or due), as every delivery is, so a
                // publish that comes later sees it and waits.
                let waits = targets.ordered.contains(&subscription_id)
                    && !open.insert(subscription_id.clone());
                let placed = if waits {
                    Placed::Waiting
                } else {
                    let subscription = reservation
                        .as_ref()
                        .and_then(|_| targets.subscription(&subscription_id, &self.sealer));
                    match (&reservation, subscription) {
                        (Some(reservation), Some(subscription)) => Placed::Handed {
                            expiry: reservation.expiry,
                            token: rand::random::<i64>() & LEASE_TOKEN_MASK,
                            subscription,
                        },
                        _ => Placed::Due,
                    }
                };
                let (state, due_at, token) = match &placed {
                    Placed::Due => (PENDING, event.created_at.0, None),
                    Placed::Waiting => (WAITING, event.created_at.0, None),
                    Placed::Handed { expiry, token, .. } => (PENDING, expiry.0, Some(*token)),
                };
                rows.push(&id, event_pk, event, &subscription_id, state, due_at, token);
                match placed {
                    Placed::Due => due.push(subscription_id),
                    Placed::Waiting => waiting += 1,
                    Placed::Handed {
                        token,
                        subscription,
                        ..
                    } => fresh.push(FreshDelivery {
                        id,
                        token,
                        subscription,
                    }),
                }
            }
            outcomes.push(Ok(IngestOutcome {
                event_id: event.id.as_str().to_owned(),
                duplicate: false,
                deliveries: due.len() + fresh.len() + waiting,
                targets: due,
            }));
            if let (Some(reservation), false) = (reservation, fresh.is_empty()) {
                handed.push(Handed {
                    reservation,
                    event_pk,
                    event: Arc::new(StoredEvent::from(event.clone())),
                    fresh,
                });
            }
        }
        rows.insert(&transaction).await?;
        let mut notified: Vec<&SubscriptionId> = outcomes
            .iter()
            .flat_map(|outcome| outcome.as_ref().map_or(&[][..], |o| o.targets.as_slice()))
            .collect();
        if !notified.is_empty() {
            notified.sort_unstable();
            notified.dedup();
            let notified: Vec<&str> = notified.iter().map(|id| id.as_str()).collect();
            notify_due(&transaction, &self.node, &notified).await?;
        }
        // The next batch may be written while this one waits for its commit.
        drop(queue);
        transaction.commit().await?;
        Ok((outcomes, handed))
    }
}

/// Where ingest puts one new delivery.
enum Placed {
    /// Due now, for any node to claim.
    Due,
    /// Behind an ordered webhook's open delivery.
    Waiting,
    /// Leased to this node until `expiry` and handed to its dispatcher.
    Handed {
        expiry: crate::domain::Timestamp,
        token: i64,
        subscription: Arc<Subscription>,
    },
}

/// A delivery due, or going out.
const PENDING: &str = "pending";
/// An ordered webhook's delivery waiting behind the one going out.
const WAITING: &str = "waiting";

/// Lease tokens stay within the integers a JSON number holds exactly, as
/// the claims' do.
pub(super) const LEASE_TOKEN_MASK: i64 = (1 << 53) - 1;

/// The enabled subscriptions of a batch's accounts: their routes, and each
/// one's full row, opened (secrets unsealed) only when a delivery to it is
/// handed over.
struct Targets {
    routes: HashMap<AccountId, Vec<Route>>,
    /// The ordered (`fifo`) ones: a delivery to one waits while another of
    /// its deliveries is open.
    ordered: HashSet<SubscriptionId>,
    rows: HashMap<SubscriptionId, Row>,
    opened: HashMap<SubscriptionId, Option<Arc<Subscription>>>,
}

impl Targets {
    /// The enabled subscriptions of `account_ids`, through their index.
    /// With statistics that still take the table for empty (just after a
    /// bulk import of webhooks, until autovacuum's next analyze) PostgreSQL
    /// scans every subscription here instead, and since a node writes one
    /// batch at a time, its ingest slows with the table's size.
    async fn read(
        transaction: &deadpool_postgres::Transaction<'_>,
        account_ids: &[&str],
    ) -> StoreResult<Self> {
        let mut targets = Targets {
            routes: HashMap::new(),
            ordered: HashSet::new(),
            rows: HashMap::new(),
            opened: HashMap::new(),
        };
        for row in query(
            transaction,
            &format!(
                "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions s
                 WHERE s.account_id = ANY($1) AND s.enabled"
            ),
            &[&account_ids],
        )
        .await?
        {
            let subscription_id: SubscriptionId = row.get(0);
            targets.routes.entry(row.get(1)).or_default().push(Route {
                subscription_id: subscription_id.clone(),
                events: EventSelection::from_stored(json_text(row.get(3), "event list")?),
                filter: filter_column(row.get(4))?,
            });
            if row.get::<_, &str>(17) == Ordering::Fifo.as_str() {
                targets.ordered.insert(subscription_id.clone());
            }
            targets.rows.insert(subscription_id, row);
        }
        Ok(targets)
    }

    /// Lock the ordered subscriptions' rows (see the queue's
    /// `release_next_waiting`, which takes the same locks), and say which
    /// of them have a delivery pending or waiting already.
    async fn lock_ordered(
        &self,
        transaction: &deadpool_postgres::Transaction<'_>,
    ) -> StoreResult<HashSet<SubscriptionId>> {
        if self.ordered.is_empty() {
            return Ok(HashSet::new());
        }
        let mut ids: Vec<&str> = self.ordered.iter().map(SubscriptionId::as_str).collect();
        ids.sort_unstable();
        lock_subscriptions(transaction, &ids).await?;
        Ok(query(
            transaction,
            "SELECT DISTINCT subscription_id FROM deliveries
             WHERE subscription_id = ANY($1) AND (state = 'pending' OR state = 'waiting')",
            &[&ids],
        )
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect())
    }

    /// The subscriptions `event` goes to.
    fn matching<'a>(&'a self, event: &'a NewEvent) -> impl Iterator<Item = &'a SubscriptionId> {
        let routes = self
            .routes
            .get(&event.account_id)
            .map_or(&[][..], Vec::as_slice);
        matching(routes, event.event_type.as_str(), &event.data).map(|route| &route.subscription_id)
    }

    /// The whole subscription, opened once per batch; `None` when it cannot
    /// be read here (a secret sealed under a key this node lacks), so that
    /// its deliveries are left to be claimed instead.
    fn subscription(&mut self, id: &SubscriptionId, sealer: &Sealer) -> Option<Arc<Subscription>> {
        if let Some(opened) = self.opened.get(id) {
            return opened.clone();
        }
        let opened = match subscription_at(self.rows.get(id)?, 0, sealer) {
            Ok(subscription) => Some(Arc::new(subscription)),
            Err(error) => {
                tracing::error!(%error, subscription = %id, "a subscription could not be read; its deliveries are left to be claimed");
                None
            }
        };
        self.opened.insert(id.clone(), opened.clone());
        opened
    }
}

/// The delivery rows of a batch, column by column, for one insert.
#[derive(Default)]
struct DeliveryRows {
    ids: Vec<String>,
    event_pks: Vec<i64>,
    subscription_ids: Vec<String>,
    account_ids: Vec<String>,
    states: Vec<&'static str>,
    due_at: Vec<i64>,
    lease_tokens: Vec<Option<i64>>,
    created_at: Vec<i64>,
}

impl DeliveryRows {
    /// A delivery of `event` to `subscription_id` in `state`, due (or,
    /// leased with `lease_token`, held) until `due_at`.
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        id: &DeliveryId,
        event_pk: i64,
        event: &NewEvent,
        subscription_id: &SubscriptionId,
        state: &'static str,
        due_at: i64,
        lease_token: Option<i64>,
    ) {
        self.ids.push(id.as_str().to_owned());
        self.event_pks.push(event_pk);
        self.subscription_ids
            .push(subscription_id.as_str().to_owned());
        self.account_ids.push(event.account_id.as_str().to_owned());
        self.states.push(state);
        self.due_at.push(due_at);
        self.lease_tokens.push(lease_token);
        self.created_at.push(event.created_at.0);
    }

    async fn insert(&self, transaction: &deadpool_postgres::Transaction<'_>) -> StoreResult<()> {
        if self.ids.is_empty() {
            return Ok(());
        }
        execute(
            transaction,
            "INSERT INTO deliveries (id, event_pk, subscription_id, account_id, state,
                 next_attempt_at, lease_token, created_at, updated_at)
             SELECT d, e, s, a, st, n, l, t, t
             FROM UNNEST($1::TEXT[], $2::BIGINT[], $3::TEXT[], $4::TEXT[], $5::BIGINT[],
                         $6::BIGINT[], $7::BIGINT[], $8::TEXT[])
                 AS x(d, e, s, a, n, l, t, st)",
            &[
                &self.ids,
                &self.event_pks,
                &self.subscription_ids,
                &self.account_ids,
                &self.due_at,
                &self.lease_tokens,
                &self.created_at,
                &self.states,
            ],
        )
        .await?;
        Ok(())
    }
}

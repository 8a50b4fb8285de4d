//! The PostgreSQL store's delivery queue, shared by every node: ingest
//! with deliveries, claims (`FOR UPDATE SKIP LOCKED`), outcomes, leases,
//! resends, test deliveries, retention's purge (one node at a time) and the
//! LISTEN/NOTIFY doorbell.

use super::ingest::LEASE_TOKEN_MASK;
use super::*;
use crate::store::hand_off::{FreshDelivery, Reservation};

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

#[async_trait]
impl DeliveryQueue for PostgresStore {
    fn listen_for_work(&self, woken: Arc<dyn Fn(DueWork) + Send + Sync>) {
        tokio::spawn(listen(
            self.url.clone(),
            self.tls.clone(),
            self.node.clone(),
            woken,
        ));
    }

    async fn ingest(&self, event: NewEvent) -> StoreResult<IngestOutcome> {
        self.ingest.ingest(event).await
    }

    /// Deliveries this node accepts are leased to it in their ingest
    /// transaction; every node claims the ones whose lease ran out.
    fn hand_off(&self, lease: Duration) -> Option<HandOff> {
        Some(self.handing.open(lease))
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
        let subscription_ids: Vec<&str> = claimed.iter().map(|r| r.get(2)).collect();
        let (events, subscriptions) =
            read_for_jobs(&client, &event_pks, &subscription_ids, &self.sealer).await?;
        let mut jobs = Vec::with_capacity(claimed.len());
        for row in &claimed {
            let subscription_id: SubscriptionId = row.get(2);
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

    async fn complete(&self, completions: Vec<Completion>) -> StoreResult<Vec<SubscriptionId>> {
        retrying(|| self.complete_once(&completions)).await
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

    async fn next_due(&self, skip: Vec<SubscriptionId>) -> StoreResult<Option<Timestamp>> {
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
        account_id: &AccountId,
        delivery_id: &DeliveryId,
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
        row.as_ref().map(delivery_status_from).transpose()
    }

    async fn resend_failed(
        &self,
        account_id: &AccountId,
        subscription_id: &SubscriptionId,
        window: TimeWindow,
    ) -> StoreResult<usize> {
        let client = self.pool.get().await?;
        let resent = execute(
            &client,
            "UPDATE deliveries SET state = 'pending', next_attempt_at = $5, updated_at = $5
                 WHERE account_id = $1 AND subscription_id = $2 AND state = 'failed'
                   AND updated_at >= $3 AND updated_at <= $4",
            &[
                &account_id,
                &subscription_id,
                &window.since.0,
                &window.until.0,
                &Timestamp::now().0,
            ],
        )
        .await?;
        if resent > 0 {
            notify_due(&client, &self.node, &[]).await?;
        }
        Ok(resent as usize)
    }

    /// The page's transaction locks the webhook's row, so two replays of
    /// one webhook take turns and never both find an event missing. A
    /// delivery with a lease token is in flight and left alone, as `resend`
    /// leaves it.
    async fn replay_page(&self, page: ReplayPage) -> StoreResult<ReplayStep> {
        let mut client = self.pool.get().await?;
        let transaction = client.transaction().await?;
        let subscription_id = &page.route.subscription_id;
        let owned = query_opt(
            &transaction,
            "SELECT 1 FROM subscriptions WHERE id = $1 AND account_id = $2 FOR NO KEY UPDATE",
            &[subscription_id, &page.account_id],
        )
        .await?;
        if owned.is_none() {
            return Ok(ReplayStep::default());
        }
        let candidates = query(
            &transaction,
            "SELECT e.pk, e.type, e.data,
                    EXISTS (SELECT 1 FROM deliveries d
                            WHERE d.event_pk = e.pk AND d.subscription_id = $2)
             FROM events e
             WHERE e.account_id = $1 AND NOT e.test AND e.pk > $5
               AND e.created_at >= $3 AND e.created_at <= $4
             ORDER BY e.pk LIMIT $6
             FOR KEY SHARE OF e",
            &[
                &page.account_id,
                subscription_id,
                &page.window.since.0,
                &page.window.until.0,
                &page.after,
                &(page.limit as i64),
            ],
        )
        .await?
        .iter()
        .map(|row| ReplayCandidate {
            event_pk: row.get(0),
            event_type: row.get(1),
            data: row.get(2),
            has_delivery: row.get(3),
        })
        .collect::<Vec<_>>();
        let plan = page.plan(&candidates).map_err(|_| corrupt("event data"))?;
        let now = Timestamp::now().0;
        let ids: Vec<String> = plan
            .create_for
            .iter()
            .map(|_| DeliveryId::generate().as_str().to_owned())
            .collect();
        let created = execute(
            &transaction,
            "INSERT INTO deliveries (id, event_pk, subscription_id, account_id, state,
                     next_attempt_at, created_at, updated_at)
                 SELECT fresh.id, fresh.event_pk, $3, $4, 'pending', $5, $5, $5
                 FROM UNNEST($1::TEXT[], $2::BIGINT[]) AS fresh(id, event_pk)",
            &[
                &ids,
                &plan.create_for,
                subscription_id,
                &page.account_id,
                &now,
            ],
        )
        .await?;
        let redelivered = execute(
            &transaction,
            "UPDATE deliveries SET state = 'pending', next_attempt_at = $3, updated_at = $3
                 WHERE subscription_id = $1 AND event_pk = ANY($2::BIGINT[])
                   AND lease_token IS NULL",
            &[subscription_id, &plan.redeliver, &now],
        )
        .await?;
        let replayed = (created + redelivered) as usize;
        if replayed > 0 {
            notify_due(&transaction, &self.node, &[subscription_id.as_str()]).await?;
        }
        transaction.commit().await?;
        Ok(page.step(&candidates, replayed))
    }

    async fn start_test_delivery(
        &self,
        event: NewEvent,
        subscription_id: &SubscriptionId,
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
            delivery_id: DeliveryId::generate(),
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
            event: Arc::new(StoredEvent::from(event)),
            subscription,
        }))
    }

    /// One row per webhook holds the next free turn, in microseconds, so
    /// that every node's deliveries to it keep the interval.
    async fn reserve_turn(
        &self,
        subscription_id: &SubscriptionId,
        interval: Duration,
    ) -> StoreResult<Option<std::time::SystemTime>> {
        let now_us = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_micros() as i64;
        let interval_us = interval.as_micros() as i64;
        let client = self.pool.get().await?;
        let turn = query_opt(
            &client,
            "UPDATE subscriptions SET next_send_us = GREATEST(COALESCE(next_send_us, 0), $2) + $3
                 WHERE id = $1
                 RETURNING next_send_us - $3",
            &[subscription_id, &now_us, &interval_us],
        )
        .await?;
        Ok(turn.map(|row| {
            std::time::UNIX_EPOCH + Duration::from_micros(row.get::<_, i64>(0).max(0) as u64)
        }))
    }

    async fn queue_stats(&self) -> StoreResult<(u64, Option<Timestamp>)> {
        let client = self.pool.get().await?;
        let row = query_one(
            &client,
            "SELECT COUNT(*), MIN(created_at) FROM deliveries
             WHERE state = 'pending' OR state = 'waiting'",
            &[],
        )
        .await?;
        Ok((
            row.get::<_, i64>(0) as u64,
            row.get::<_, Option<i64>>(1).map(Timestamp),
        ))
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
                 SELECT 1 FROM deliveries d
                 WHERE d.event_pk = e.pk AND d.state IN ('pending', 'waiting'))
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
            // A replay that has read one of these events holds it (FOR KEY
            // SHARE) until it commits; this waits for it, and a replay that
            // comes later skips the events purged here.
            execute(
                &transaction,
                "SELECT 1 FROM events WHERE pk = ANY($1) ORDER BY pk FOR UPDATE",
                &[&doomed],
            )
            .await?;
            // A delivery made pending again meanwhile (a resend), or made by
            // such a replay, keeps its event: each statement sees what
            // committed before it.
            purged.deliveries = execute(
                &transaction,
                "DELETE FROM deliveries
                 WHERE event_pk = ANY($1) AND state NOT IN ('pending', 'waiting')",
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
}

impl PostgresStore {
    /// Record a batch of outcomes in one transaction: the usual batch of
    /// successes in one statement, any other in [`complete_all`]'s few.
    async fn complete_once(&self, completions: &[Completion]) -> StoreResult<Vec<SubscriptionId>> {
        let mut client = self.pool.get().await?;
        if completions
            .iter()
            .all(|c| c.next == NextStep::Delivered && !c.frees_the_next() && !c.was_failing)
        {
            complete_delivered(&client, completions).await?;
            return Ok(Vec::new());
        }
        let transaction = client.transaction().await?;
        let (notices, freed) = complete_all(&transaction, completions, &self.handing).await?;
        let (mut told, handed) = read_freed(&transaction, freed, &self.sealer).await?;
        if !told.is_empty() {
            let notified: Vec<&str> = told.iter().map(SubscriptionId::as_str).collect();
            notify_due(&transaction, &self.node, &notified).await?;
        }
        told.extend(store_operational(&transaction, &self.node, &notices).await?);
        transaction.commit().await?;
        for job in handed {
            job.send();
        }
        Ok(told)
    }
}

/// What jobs for deliveries of the events `event_pks` to the subscriptions
/// `subscription_ids` need: the events, and each subscription opened, or
/// `None` when it cannot be opened here (a secret sealed under a key this
/// node lacks). One unreadable subscription must not stall the others: its
/// deliveries keep their lease and are tried after it. A subscription that
/// no longer exists is missing from the map.
async fn read_for_jobs(
    client: &impl GenericClient,
    event_pks: &[i64],
    subscription_ids: &[&str],
    sealer: &Sealer,
) -> StoreResult<(
    HashMap<i64, Arc<StoredEvent>>,
    HashMap<SubscriptionId, Option<Arc<Subscription>>>,
)> {
    let mut events = HashMap::new();
    for row in query(
        client,
        "SELECT pk, id, type, data, created_at FROM events WHERE pk = ANY($1)",
        &[&event_pks],
    )
    .await?
    {
        events.insert(row.get::<_, i64>(0), Arc::new(event_from(&row, 1)?));
    }
    let mut subscriptions = HashMap::new();
    for row in query(
        client,
        &format!("SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions s WHERE s.id = ANY($1)"),
        &[&subscription_ids],
    )
    .await?
    {
        let id: SubscriptionId = row.get(0);
        match subscription_at(&row, 0, sealer) {
            Ok(subscription) => {
                subscriptions.insert(id, Some(Arc::new(subscription)));
            }
            Err(error) => {
                tracing::error!(%error, subscription = %id, "a subscription could not be read; its deliveries wait a lease");
                subscriptions.insert(id, None);
            }
        }
    }
    Ok((events, subscriptions))
}

/// The advisory lock a purge step holds, so one node purges at a time.
const PURGE_LOCK: i64 = 7262653;

/// The usual batch, where every attempt delivered and none frees an ordered
/// webhook's next delivery, in one statement, its own transaction: the
/// deliveries whose lease still holds are marked delivered, their attempts
/// stored and their webhooks' runs of failures ended, as [`complete_all`]
/// does in its three statements and a transaction's four round trips.
/// The webhooks are reached through their key (`= ANY`): a join on the
/// batch's rows could be planned as a scan of every webhook.
async fn complete_delivered(
    client: &impl GenericClient,
    completions: &[Completion],
) -> StoreResult<()> {
    let ids: Vec<&str> = completions
        .iter()
        .map(|c| c.lease.delivery_id.as_str())
        .collect();
    let tokens: Vec<i64> = completions.iter().map(|c| c.lease.token).collect();
    let statuses: Vec<Option<i32>> = completions
        .iter()
        .map(|c| c.attempt.status.map(i32::from))
        .collect();
    let attempt_ids: Vec<String> = completions.iter().map(|_| new_id("att")).collect();
    let subscription_ids: Vec<&str> = completions
        .iter()
        .map(|c| c.subscription_id.as_str())
        .collect();
    let account_ids: Vec<&str> = completions.iter().map(|c| c.account_id.as_str()).collect();
    let event_pks: Vec<i64> = completions.iter().map(|c| c.event_pk).collect();
    let started: Vec<i64> = completions.iter().map(|c| c.attempt.started_at.0).collect();
    let latencies: Vec<i64> = completions
        .iter()
        .map(|c| c.attempt.latency_ms as i64)
        .collect();
    let snippets: Vec<&str> = completions
        .iter()
        .map(|c| c.attempt.response_snippet.as_str())
        .collect();
    execute(
        client,
        "WITH c AS (
             SELECT * FROM UNNEST($1::TEXT[], $2::BIGINT[], $3::INT[], $4::TEXT[], $5::TEXT[],
                                  $6::TEXT[], $7::BIGINT[], $8::BIGINT[], $9::BIGINT[], $10::TEXT[])
                 AS c(id, token, status, attempt_id, subscription_id, account_id, event_pk,
                      started_at, latency_ms, snippet)
         ), done AS (
             UPDATE deliveries d SET state = 'delivered', attempts = d.attempts + 1,
                     next_attempt_at = NULL, lease_token = NULL, last_status = c.status,
                     last_error = NULL, updated_at = $11
                 FROM c
                 WHERE d.id = c.id AND d.lease_token = c.token AND d.state = 'pending'
                 RETURNING d.id
         ), recorded AS (
             INSERT INTO attempts (id, delivery_id, subscription_id, account_id, event_pk,
                     started_at, status, latency_ms, response_snippet, error)
                 SELECT c.attempt_id, c.id, c.subscription_id, c.account_id, c.event_pk,
                        c.started_at, c.status, c.latency_ms, c.snippet, NULL
                 FROM c JOIN done ON done.id = c.id
         )
         UPDATE subscriptions SET failing_since = NULL
             WHERE id = ANY($5) AND failing_since IS NOT NULL
               AND id IN (SELECT c.subscription_id FROM c JOIN done ON done.id = c.id)",
        &[
            &ids,
            &tokens,
            &statuses,
            &attempt_ids,
            &subscription_ids,
            &account_ids,
            &event_pks,
            &started,
            &latencies,
            &snippets,
            &Timestamp::now().0,
        ],
    )
    .await?;
    Ok(())
}

/// Apply a batch of outcomes in a few statements, whatever its size: one
/// UPDATE of the deliveries whose lease still holds, one INSERT of their
/// attempts, one UPDATE ending the failure runs of delivered targets; only
/// failures and 410s (rare when targets are healthy) take a statement each.
/// What the operational webhooks are to hear of them, and the ordered
/// subscriptions whose next delivery they let go.
///
/// The batch's subscriptions are locked first, in id order, before any of
/// its deliveries (the store's lock order, see [`lock_subscriptions`]):
/// two nodes' batches failing on the same webhooks in another order, or a
/// deletion beside an ordered webhook's outcome, then wait for each other
/// instead of deadlocking.
async fn complete_all(
    client: &impl GenericClient,
    completions: &[Completion],
    handing: &HandingSlot,
) -> StoreResult<(Vec<OperationalEvent>, Vec<Freed>)> {
    let mut touched: Vec<&str> = completions
        .iter()
        .map(|c| c.subscription_id.as_str())
        .collect();
    touched.sort_unstable();
    touched.dedup();
    lock_subscriptions(client, &touched).await?;
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
    let applied: HashSet<DeliveryId> = query(
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
        return Ok((Vec::new(), Vec::new()));
    }
    let freed = release_next_waiting(client, &done, handing).await?;
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
    let mut notices = Vec::new();
    for (index, completion) in done.iter().enumerate() {
        if completion.next == NextStep::Delivered {
            continue;
        }
        let told = OperationalEvent::concerns(&completion.account_id);
        let succeeded_later = last_success
            .get(completion.subscription_id.as_str())
            .is_some_and(|&success| success > index);
        if !succeeded_later
            && let Some(reason) = track_failure(client, completion).await?
            && told
        {
            notices.push(OperationalEvent::WebhookDisabled {
                account_id: completion.account_id.clone(),
                webhook_id: completion.subscription_id.clone(),
                reason,
            });
        }
        if completion.next == NextStep::Failed && told {
            let event = query_opt(
                client,
                "SELECT id, type FROM events WHERE pk = $1 AND NOT test",
                &[&completion.event_pk],
            )
            .await?;
            if let Some(row) = event {
                let (_, _, error) = completion.stored_outcome();
                notices.push(completion.exhausted(row.get(0), row.get(1), error));
            }
        }
        if completion.next == NextStep::RemoveSubscription {
            let removed = query_opt(
                client,
                "SELECT url, source FROM subscriptions WHERE id = $1",
                &[&completion.subscription_id],
            )
            .await?;
            let deleted =
                delete_subscription_in(client, &completion.account_id, &completion.subscription_id)
                    .await?;
            if let (true, true, Some(row)) = (deleted, told, removed) {
                notices.push(OperationalEvent::SubscriptionRemoved {
                    account_id: completion.account_id.clone(),
                    webhook_id: completion.subscription_id.clone(),
                    url: row.get(0),
                    source: row.get(1),
                });
            }
        }
    }
    Ok((notices, freed))
}

/// Let the next waiting delivery of each ordered subscription whose
/// delivery `done` finished go, unless another of its deliveries is
/// pending. Their rows are locked already ([`complete_all`] locks them
/// first), as ingest locks them before choosing between `pending` and
/// `waiting`, so a delivery stored meanwhile is never left waiting behind
/// one that has finished. Each subscription's next is the first of its
/// waiting index (`LIMIT 1`), whatever the length of its line.
///
/// Where `handing` keeps a place in this node's dispatcher, the next one
/// (never tried before) is leased to this node in the same statement, to be
/// handed over once the transaction commits, as ingest hands new
/// deliveries: no claim, and no second transaction, per delivery.
async fn release_next_waiting(
    client: &impl GenericClient,
    done: &[&Completion],
    handing: &HandingSlot,
) -> StoreResult<Vec<Freed>> {
    let mut ordered: Vec<&str> = done
        .iter()
        .filter(|c| c.frees_the_next())
        .map(|c| c.subscription_id.as_str())
        .collect();
    if ordered.is_empty() {
        return Ok(Vec::new());
    }
    ordered.sort_unstable();
    ordered.dedup();
    let mut reservations: HashMap<&str, Reservation> = HashMap::new();
    let mut tokens: Vec<Option<i64>> = Vec::with_capacity(ordered.len());
    let mut expiries: Vec<Option<i64>> = Vec::with_capacity(ordered.len());
    for &subscription_id in &ordered {
        match handing.reserve() {
            Some(reservation) => {
                tokens.push(Some(rand::random::<i64>() & LEASE_TOKEN_MASK));
                expiries.push(Some(reservation.expiry.0));
                reservations.insert(subscription_id, reservation);
            }
            None => {
                tokens.push(None);
                expiries.push(None);
            }
        }
    }
    let rows = query(
        client,
        "UPDATE deliveries d SET state = 'pending',
                next_attempt_at = COALESCE(next.expiry, d.next_attempt_at),
                lease_token = next.token
         FROM (SELECT n.id,
                      CASE WHEN n.attempts = 0 THEN s.token END AS token,
                      CASE WHEN n.attempts = 0 THEN s.expiry END AS expiry
               FROM UNNEST($1::TEXT[], $2::BIGINT[], $3::BIGINT[]) AS s(id, token, expiry)
               CROSS JOIN LATERAL (SELECT w.id, w.attempts FROM deliveries w
                                   WHERE w.subscription_id = s.id AND w.state = 'waiting'
                                   ORDER BY w.event_pk LIMIT 1) n
               WHERE NOT EXISTS (SELECT 1 FROM deliveries p
                                 WHERE p.subscription_id = s.id AND p.state = 'pending')) next
         WHERE d.id = next.id
         RETURNING d.subscription_id, d.id, d.event_pk, d.lease_token",
        &[&ordered, &tokens, &expiries],
    )
    .await?;
    let mut freed = Vec::with_capacity(rows.len());
    for row in rows {
        let subscription_id: SubscriptionId = row.get(0);
        let lease = row.get::<_, Option<i64>>(3).map(|token| Lease {
            delivery_id: row.get(1),
            token,
        });
        let handed = match lease {
            Some(lease) => reservations
                .remove(subscription_id.as_str())
                .map(|reservation| (lease, reservation)),
            None => None,
        };
        freed.push(Freed {
            subscription_id,
            event_pk: row.get(2),
            handed,
        });
    }
    Ok(freed)
}

/// An ordered subscription's next delivery, let go by an outcome: leased to
/// this node with the place kept for it (`handed`), or left due for any
/// node to claim.
struct Freed {
    subscription_id: SubscriptionId,
    event_pk: i64,
    handed: Option<(Lease, Reservation)>,
}

/// A freed delivery's job, to send to the dispatcher once its lease has
/// committed.
struct HandOver {
    reservation: Reservation,
    event_pk: i64,
    event: Arc<StoredEvent>,
    delivery: FreshDelivery,
}

impl HandOver {
    fn send(self) {
        self.reservation
            .hand_over(self.event_pk, self.event, vec![self.delivery]);
    }
}

/// Read what the `freed` deliveries leased to this node need to be sent
/// (their events and subscriptions), as jobs to hand over; those that
/// cannot be read here (a secret sealed under a key this node lacks) keep
/// their lease and are claimed after it. Also the subscriptions of the
/// others, left due, to be told.
async fn read_freed(
    client: &impl GenericClient,
    freed: Vec<Freed>,
    sealer: &Sealer,
) -> StoreResult<(Vec<SubscriptionId>, Vec<HandOver>)> {
    let (handed, due): (Vec<Freed>, Vec<Freed>) =
        freed.into_iter().partition(|f| f.handed.is_some());
    let told = due.into_iter().map(|f| f.subscription_id).collect();
    if handed.is_empty() {
        return Ok((told, Vec::new()));
    }
    let event_pks: Vec<i64> = handed.iter().map(|f| f.event_pk).collect();
    let subscription_ids: Vec<&str> = handed.iter().map(|f| f.subscription_id.as_str()).collect();
    let (events, subscriptions) =
        read_for_jobs(client, &event_pks, &subscription_ids, sealer).await?;
    let mut jobs = Vec::with_capacity(handed.len());
    for freed in handed {
        let (Some((lease, reservation)), Some(event), Some(Some(subscription))) = (
            freed.handed,
            events.get(&freed.event_pk),
            subscriptions.get(&freed.subscription_id),
        ) else {
            continue;
        };
        jobs.push(HandOver {
            reservation,
            event_pk: freed.event_pk,
            event: event.clone(),
            delivery: FreshDelivery {
                id: lease.delivery_id,
                token: lease.token,
                subscription: subscription.clone(),
            },
        });
    }
    Ok((told, jobs))
}

/// Store `notices` as events of the operator account, with deliveries to
/// its operational webhooks, telling the other nodes; the webhooks given
/// deliveries. Nothing is stored while the operator has no webhook to hear
/// them.
async fn store_operational(
    client: &impl GenericClient,
    node: &str,
    notices: &[OperationalEvent],
) -> StoreResult<Vec<SubscriptionId>> {
    if notices.is_empty() {
        return Ok(Vec::new());
    }
    let operator = operator_account();
    let mut routes = Vec::new();
    for row in query(
        client,
        "SELECT id, events, filter FROM subscriptions WHERE account_id = $1 AND enabled",
        &[&operator],
    )
    .await?
    {
        routes.push(Route {
            subscription_id: row.get(0),
            events: EventSelection::from_stored(json_text(row.get(1), "event list")?),
            filter: filter_column(row.get(2))?,
        });
    }
    if routes.is_empty() {
        return Ok(Vec::new());
    }
    let mut targets = Vec::new();
    for notice in notices {
        let event = notice.to_new_event();
        let Some(event_pk) = insert_event(client, &event, false).await? else {
            continue;
        };
        for route in matching(&routes, event.event_type.as_str(), &event.data) {
            execute(
                client,
                "INSERT INTO deliveries (id, event_pk, subscription_id, account_id, state,
                     next_attempt_at, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, 'pending', $5, $5, $5)",
                &[
                    &DeliveryId::generate(),
                    &event_pk,
                    &route.subscription_id,
                    &operator,
                    &event.created_at.0,
                ],
            )
            .await?;
            targets.push(route.subscription_id.clone());
        }
    }
    if !targets.is_empty() {
        let notified: Vec<&str> = targets.iter().map(SubscriptionId::as_str).collect();
        notify_due(client, node, &notified).await?;
    }
    Ok(targets)
}

/// As in the SQLite store: a failure starts a subscription's run of
/// failures, or disables the subscription once the run began before the
/// auto-disable cutoff (a success ends the run, in [`complete_all`]); the
/// reason, when it did disable it.
async fn track_failure(
    client: &impl GenericClient,
    completion: &Completion,
) -> StoreResult<Option<String>> {
    let id = &completion.subscription_id;
    execute(
        client,
        "UPDATE subscriptions SET failing_since = $2 WHERE id = $1 AND failing_since IS NULL",
        &[id, &completion.attempt.started_at.0],
    )
    .await?;
    let Some(cutoff) = completion.disable_if_failing_since else {
        return Ok(None);
    };
    let reason = disabled_reason(cutoff);
    let disabled = execute(
        client,
        "UPDATE subscriptions SET enabled = FALSE, disabled_reason = $3
             WHERE id = $1 AND enabled AND failing_since <= $2",
        &[id, &cutoff.0, &reason],
    )
    .await?;
    if disabled == 0 {
        return Ok(None);
    }
    tracing::warn!(subscription = %id, "auto-disabled after failing every attempt for the configured span");
    Ok(Some(reason))
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
            &event.event_type.as_str(),
            &event.data.to_string(),
            &event.created_at.0,
            &test,
        ],
    )
    .await?;
    Ok(row.map(|r| r.get(0)))
}

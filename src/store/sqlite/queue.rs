//! The SQLite store's delivery queue: ingest with deliveries (handed
//! straight to the dispatcher where it can), claims, outcomes, leases,
//! resends, test deliveries and retention's purge.

use super::*;

#[async_trait]
impl DeliveryQueue for SqliteStore {
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
                    let reservation = handing.reserve();
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
        Some(self.handing.open(lease))
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
    /// and is made again (at least once). The operational events the
    /// outcomes cause are stored in the same write.
    async fn complete(&self, completions: Vec<Completion>) -> StoreResult<Vec<SubscriptionId>> {
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
                let (mut not_failing, mut notices, mut freed) =
                    (HashSet::new(), Vec::new(), Vec::new());
                for done in held {
                    complete_in(
                        c,
                        &cache,
                        &leases,
                        &mut not_failing,
                        &mut notices,
                        &mut freed,
                        done,
                    )?;
                }
                freed.extend(store_operational(c, &cache, &notices)?);
                Ok(freed)
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

    async fn next_due(&self, skip: Vec<SubscriptionId>) -> StoreResult<Option<Timestamp>> {
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
        account_id: &AccountId,
        delivery_id: &DeliveryId,
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
        account_id: &AccountId,
        subscription_id: &SubscriptionId,
        window: TimeWindow,
    ) -> StoreResult<usize> {
        let (account_id, subscription_id) = (account_id.to_owned(), subscription_id.to_owned());
        self.writer
            .write(Durability::Full, move |c| {
                let now = Timestamp::now();
                Ok(c.prepare_cached(
                    "UPDATE deliveries SET state = 'pending', next_attempt_at = ?5, updated_at = ?5
                     WHERE account_id = ?1 AND subscription_id = ?2 AND state = 'failed'
                       AND updated_at >= ?3 AND updated_at <= ?4",
                )?
                .execute(params![
                    account_id,
                    subscription_id,
                    window.since.0,
                    window.until.0,
                    now.0
                ])?)
            })
            .await
    }

    /// One write job per page, so ingest and outcomes go on between pages.
    /// A delivery held by a lease (claimed, or handed to the dispatcher) is
    /// in flight and left alone, as `resend` leaves it.
    async fn replay_page(&self, page: ReplayPage) -> StoreResult<ReplayStep> {
        let leases = self.leases.clone();
        self.writer
            .write(Durability::Full, move |c| replay_page_in(c, &leases, &page))
            .await
    }

    async fn start_test_delivery(
        &self,
        event: NewEvent,
        subscription_id: &SubscriptionId,
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
                let delivery_id = DeliveryId::generate();
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
                    event: Arc::new(StoredEvent::from(event)),
                    subscription,
                }))
            })
            .await
    }

    /// Handed deliveries count as pending; the oldest of them is the one
    /// at the lowest row key. The rows are read before the leases: an
    /// outcome ends its lease before its row leaves `handed`, so a delivery
    /// is never counted both as a handed lease and as a pending row (it may
    /// be missed for the instant between the two).
    async fn queue_stats(&self) -> StoreResult<(u64, Option<Timestamp>)> {
        let leases = self.leases.clone();
        self.read(move |c| {
            let (count, oldest): (i64, Option<i64>) = c.query_row(
                "SELECT COUNT(*), MIN(created_at) FROM (
                     SELECT created_at FROM deliveries WHERE state = 'pending'
                     UNION ALL
                     SELECT created_at FROM deliveries WHERE state = 'waiting')",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            let (handed, lowest) = {
                let table = leases.lock();
                (table.handed(), table.lowest_handed())
            };
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

/// Store a delivery (`id`, event row key, subscription, account) in a
/// state, due at a time that is also its creation time.
const INSERT_DELIVERY: &str = "INSERT INTO deliveries (id, event_pk, subscription_id, account_id,
         state, next_attempt_at, created_at, updated_at)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?6)";

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
            event.event_type.as_str(),
            event.data.to_string(),
            event.created_at.0,
            test
        ])?;
    Ok((inserted > 0).then(|| connection.last_insert_rowid()))
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
        return Err(StoreError::AccountNotFound(event.account_id.to_string()));
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
    let routes = cache.routes_for(connection, &event.account_id)?;
    let mut insert = connection.prepare_cached(INSERT_DELIVERY)?;
    let (mut targets, mut fresh, mut waiting) = (Vec::new(), Vec::new(), 0);
    for route in matching(&routes, event.event_type.as_str(), &event.data) {
        let id = DeliveryId::generate();
        let subscription = cache
            .subscription(connection, &route.subscription_id)
            .ok()
            .flatten();
        let ordered = subscription
            .as_ref()
            .is_some_and(|s| s.ordering == Ordering::Fifo);
        let handed = match (hand_off, subscription) {
            (Some((leases, expiry)), Some(subscription)) if !ordered => {
                Some((leases, expiry, subscription))
            }
            _ => None,
        };
        let waits = ordered && has_open_delivery(connection, &route.subscription_id)?;
        let state = match (&handed, waits) {
            (Some(_), _) => HANDED,
            (None, true) => WAITING,
            (None, false) => "pending",
        };
        insert.execute(params![
            id,
            event_pk,
            route.subscription_id,
            event.account_id,
            state,
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
            None if waits => waiting += 1,
            None => targets.push(route.subscription_id.clone()),
        }
    }
    Ok(Ingested {
        outcome: IngestOutcome {
            event_id: event.id.as_str().to_owned(),
            duplicate: false,
            deliveries: targets.len() + fresh.len() + waiting,
            targets,
        },
        event_pk,
        fresh,
        event: None,
        reservation: None,
    })
}

/// One page of a replay (see [`DeliveryQueue::replay_page`]), in the
/// writer's transaction: nothing when the webhook is not the account's.
fn replay_page_in(
    connection: &Connection,
    leases: &Leases,
    page: &ReplayPage,
) -> StoreResult<ReplayStep> {
    let subscription_id = &page.route.subscription_id;
    let owned = connection
        .prepare_cached("SELECT 1 FROM subscriptions WHERE id = ?1 AND account_id = ?2")?
        .exists(params![subscription_id, page.account_id])?;
    if !owned {
        return Ok(ReplayStep::default());
    }
    let candidates = connection
        .prepare_cached(
            "SELECT e.pk, e.type, e.data,
                    EXISTS (SELECT 1 FROM deliveries d
                            WHERE d.event_pk = e.pk AND d.subscription_id = ?2)
             FROM events e
             WHERE e.account_id = ?1 AND e.test = 0 AND e.pk > ?5
               AND e.created_at >= ?3 AND e.created_at <= ?4
             ORDER BY e.pk LIMIT ?6",
        )?
        .query_map(
            params![
                page.account_id,
                subscription_id,
                page.window.since.0,
                page.window.until.0,
                page.after,
                page.limit as i64
            ],
            |row| {
                Ok(ReplayCandidate {
                    event_pk: row.get(0)?,
                    event_type: row.get(1)?,
                    data: row.get(2)?,
                    has_delivery: row.get(3)?,
                })
            },
        )?
        .collect::<Result<Vec<_>, _>>()?;
    let plan = page
        .plan(&candidates)
        .map_err(|e| StoreError::Database(format!("a stored event's data is not JSON: {e}")))?;
    let now = Timestamp::now();
    let mut insert = connection.prepare_cached(INSERT_DELIVERY)?;
    for event_pk in &plan.create_for {
        insert.execute(params![
            DeliveryId::generate(),
            event_pk,
            subscription_id,
            page.account_id,
            "pending",
            now.0
        ])?;
    }
    let redelivered = redeliver_in(connection, leases, subscription_id, &plan.redeliver, now)?;
    Ok(page.step(&candidates, plan.create_for.len() + redelivered))
}

/// Make the deliveries to `subscription_id` of the events `event_pks` due
/// at `now` again, whatever their state, except those a lease holds; how
/// many.
fn redeliver_in(
    connection: &Connection,
    leases: &Leases,
    subscription_id: &SubscriptionId,
    event_pks: &[i64],
    now: Timestamp,
) -> StoreResult<usize> {
    if event_pks.is_empty() {
        return Ok(0);
    }
    let rowids = connection
        .prepare_cached(
            "SELECT rowid FROM deliveries
             WHERE subscription_id = ?1 AND event_pk IN (SELECT value FROM json_each(?2))",
        )?
        .query_map(params![subscription_id, to_json(&event_pks)], |row| {
            row.get::<_, i64>(0)
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let free: Vec<i64> = {
        let table = leases.lock();
        rowids
            .into_iter()
            .filter(|&rowid| !table.is_held(rowid, now))
            .collect()
    };
    let mut due_again = connection.prepare_cached(
        "UPDATE deliveries SET state = 'pending', next_attempt_at = ?2, updated_at = ?2
         WHERE rowid = ?1",
    )?;
    let mut redelivered = 0;
    for rowid in free {
        redelivered += due_again.execute(params![rowid, now.0])?;
    }
    Ok(redelivered)
}

/// Once `ingested` has committed (on the writer thread, before any later
/// job runs): hand its fresh deliveries to the dispatcher as one batch, in
/// the place kept for them.
fn hand_over(ingested: &mut Ingested) {
    let (Some(reservation), Some(event)) = (ingested.reservation.take(), ingested.event.take())
    else {
        return;
    };
    let stored = Arc::new(StoredEvent::from(event));
    reservation.hand_over(
        ingested.event_pk,
        stored,
        std::mem::take(&mut ingested.fresh),
    );
}

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
                        Ok(Some((rowid, row.get::<_, SubscriptionId>(1)?)))
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
                    row.get::<_, DeliveryId>(0)?,
                    row.get::<_, u32>(1)?,
                    row.get::<_, SubscriptionId>(2)?,
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
/// the caller, who skips outcomes of leases no longer held), noting in
/// `notices` what the product's operational webhooks are to hear of it, and
/// in `freed` an ordered subscription whose next delivery it let go.
fn complete_in<'a>(
    connection: &Connection,
    cache: &SubscriptionCache,
    leases: &Leases,
    not_failing: &mut HashSet<&'a str>,
    notices: &mut Vec<OperationalEvent>,
    freed: &mut Vec<SubscriptionId>,
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
    if completion.frees_the_next() && release_next_waiting(connection, &completion.subscription_id)?
    {
        freed.push(completion.subscription_id.clone());
    }
    let told = OperationalEvent::concerns(&completion.account_id);
    track_failures(connection, cache, not_failing, completion, notices)?;
    if completion.next == NextStep::Failed && told {
        let event = connection
            .prepare_cached("SELECT id, type FROM events WHERE rowid = ?1 AND test = 0")?
            .query_row(params![completion.event_pk], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
            })
            .optional()?;
        if let Some((event_id, event_type)) = event {
            notices.push(completion.exhausted(event_id, event_type, error));
        }
    }
    if completion.next == NextStep::RemoveSubscription {
        let removed = connection
            .prepare_cached("SELECT url, source FROM subscriptions WHERE id = ?1")?
            .query_row(params![completion.subscription_id], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
            })
            .optional()?;
        let deleted = delete_subscription_in(
            connection,
            cache,
            leases,
            &completion.account_id,
            &completion.subscription_id,
        )?;
        if let (true, true, Some((url, source))) = (deleted, told, removed) {
            notices.push(OperationalEvent::SubscriptionRemoved {
                account_id: completion.account_id.clone(),
                webhook_id: completion.subscription_id.clone(),
                url,
                source,
            });
        }
    }
    Ok(())
}

/// Store `notices` as events of the operator account, with deliveries to
/// its operational webhooks; the webhooks given deliveries. Nothing is
/// stored while the operator has no webhook to hear them.
fn store_operational(
    connection: &Connection,
    cache: &SubscriptionCache,
    notices: &[OperationalEvent],
) -> StoreResult<Vec<SubscriptionId>> {
    let operator = operator_account();
    if notices.is_empty() || cache.routes_for(connection, &operator)?.is_empty() {
        return Ok(Vec::new());
    }
    let mut targets = Vec::new();
    for notice in notices {
        targets.extend(
            ingest_in(connection, cache, &notice.to_new_event(), None)?
                .outcome
                .targets,
        );
    }
    Ok(targets)
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
    notices: &mut Vec<OperationalEvent>,
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
    let reason = disabled_reason(cutoff);
    let disabled = connection
        .prepare_cached(
            "UPDATE subscriptions SET enabled = 0, disabled_reason = ?3
             WHERE id = ?1 AND enabled = 1 AND failing_since <= ?2",
        )?
        .execute(params![id, cutoff.0, reason])?;
    if disabled > 0 {
        cache.forget(&completion.account_id, &completion.subscription_id);
        if OperationalEvent::concerns(&completion.account_id) {
            notices.push(OperationalEvent::WebhookDisabled {
                account_id: completion.account_id.clone(),
                webhook_id: completion.subscription_id.clone(),
                reason,
            });
        }
        tracing::warn!(subscription = %id, "auto-disabled after failing every attempt for the configured span");
    }
    Ok(())
}

/// One step of a retention pass (see [`DeliveryQueue::purge`]).
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
                 WHERE d.event_pk = e.pk AND d.state IN ('pending', 'waiting', ?2))
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

//! The dispatcher: claims due deliveries from the store, runs each attempt
//! (an [`Attempter`]'s) as its own task (bounded), and hands outcomes to a recorder that writes
//! them back in batches. Woken at once by ingest; the database is polled
//! only as a fallback and to catch retries as they fall due.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::{Id, JoinSet};
use tokio_util::sync::CancellationToken;

use super::attempt::Attempter;
use super::breaker::{Admission, Breaker};
use super::pace::Pacer;
use super::queue::DeliveryQueue;
use super::sender::ATTEMPT_TIMEOUT;
use super::wake::Wake;
use crate::domain::SubscriptionId;
use crate::metrics::Metrics;
use crate::store::capacity::StorageHealth;
use crate::store::{
    ClaimRequest, ClaimScope, Completion, DeliveryJob, HandOff, Lease, NextStep, StoreError,
    TargetRoom,
};

/// How long a claim holds a delivery: several times what an attempt may take.
pub const LEASE: Duration = Duration::from_secs(ATTEMPT_TIMEOUT.as_secs() * 6);
/// Disable a subscription whose every attempt failed this long (as Svix).
pub const DEFAULT_AUTO_DISABLE: Duration = Duration::from_secs(5 * 24 * 3600);

/// Tunables of the dispatcher.
#[derive(Debug, Clone)]
pub struct DispatchSettings {
    /// How long a claim holds a delivery; longer than an attempt can take.
    pub lease: Duration,
    /// Deliveries claimed per round trip.
    pub batch: usize,
    /// Attempts running at once.
    pub max_in_flight: usize,
    /// Attempts running at once to one subscription, so a slow or hanging
    /// endpoint cannot take every slot from the others.
    pub per_target: usize,
    /// The fallback poll interval.
    pub poll: Duration,
    /// How long shutdown waits for running attempts before releasing them.
    pub drain_grace: Duration,
}

impl Default for DispatchSettings {
    fn default() -> Self {
        Self {
            lease: LEASE,
            batch: 256,
            max_in_flight: 512,
            per_target: 32,
            poll: Duration::from_secs(1),
            drain_grace: ATTEMPT_TIMEOUT + Duration::from_secs(2),
        }
    }
}

/// Runs deliveries until cancelled, then drains.
pub struct Dispatcher {
    store: Arc<dyn DeliveryQueue>,
    attempter: Arc<Attempter>,
    settings: DispatchSettings,
    wake: Arc<Wake>,
    metrics: Arc<Metrics>,
    storage: Arc<StorageHealth>,
}

/// What ended a wait of the dispatcher.
enum Woken {
    /// Its doorbell rang.
    Rung,
    /// An attempt finished.
    Finished,
    /// Ingest handed over new deliveries (`None`: it never will again).
    Handed(Option<Vec<DeliveryJob>>),
    /// The deadline passed: retries or expired leases may be due.
    Deadline,
    /// Shutdown began.
    Shutdown,
}

impl Dispatcher {
    /// A dispatcher making its attempts with `attempter`; `wake` is rung
    /// when deliveries fall due.
    pub fn new(
        store: Arc<dyn DeliveryQueue>,
        attempter: Arc<Attempter>,
        settings: DispatchSettings,
        wake: Arc<Wake>,
        metrics: Arc<Metrics>,
        storage: Arc<StorageHealth>,
    ) -> Self {
        Self {
            store,
            attempter,
            settings,
            wake,
            metrics,
            storage,
        }
    }

    /// Deliver until `shutdown` is cancelled; then stop claiming, let running
    /// attempts finish (up to the drain grace), release the rest, and return
    /// once every outcome is recorded.
    ///
    /// Two kinds of claim: one over every target's due deliveries in due
    /// order (at start, when the deadline for the next retry passes, at the
    /// fallback poll, and when the doorbell cannot say where work is), and
    /// one per target (when ingest or a resend rings with targets that have
    /// room, and when a target that was full drains enough to take a slot's
    /// worth more). A full target is not claimed for again until then, so
    /// its backlog is neither searched nor claimed and given back each time
    /// one of its attempts ends or another event for it arrives.
    ///
    /// A store that can (SQLite, one node) hands the deliveries of each new
    /// event straight over, leased, so they need no claim at all; see
    /// `Slots::admit_handed` for when they are given back to be claimed.
    pub async fn run(self, shutdown: CancellationToken) {
        let (outcomes, recorded) = mpsc::unbounded_channel();
        let recorder = tokio::spawn(record(
            self.store.clone(),
            recorded,
            self.wake.clone(),
            self.storage.clone(),
        ));
        let pacer = Arc::new(Pacer::new(self.store.clone()));
        let mut slots = Slots::new(self.attempter.clone(), pacer, &self.settings, outcomes);

        let mut handed = self.store.hand_off(self.settings.lease);
        let mut renew_at = Instant::now() + self.settings.lease / 3;
        let mut look_everywhere = true;
        let mut deadline = Instant::now();
        while !shutdown.is_cancelled() {
            slots.reap();
            self.release(std::mem::take(&mut slots.turned_away)).await;
            if Instant::now() >= renew_at {
                self.renew(slots.held()).await;
                renew_at = Instant::now() + self.settings.lease / 3;
            }
            if slots.room() == 0 {
                tokio::select! {
                    _ = slots.next_finished() => {}
                    jobs = next_handed(&mut handed) => self.take_handed(&mut slots, &mut handed, jobs).await,
                    _ = shutdown.cancelled() => {}
                }
                continue;
            }
            if look_everywhere || Instant::now() >= deadline {
                // This claim sees everything rung so far.
                self.wake.take();
                let scope = ClaimScope::Any(TargetRoom {
                    room: slots.room_by_target(),
                    per_new_target: slots.capacity(),
                });
                match self.claim(&mut slots, scope).await {
                    Err(()) => {
                        tokio::select! {
                            _ = tokio::time::sleep(self.settings.poll) => {}
                            _ = shutdown.cancelled() => {}
                        }
                        continue;
                    }
                    Ok((Fill::Full, _)) => {
                        look_everywhere = true;
                        continue;
                    }
                    Ok((Fill::Short, _)) => look_everywhere = false,
                }
                let wait = match self.store.next_due(slots.skipped_targets()).await {
                    Ok(Some(at)) => at
                        .until()
                        .clamp(Duration::from_millis(5), self.settings.poll),
                    _ => self.settings.poll,
                };
                deadline = Instant::now() + wait;
            }
            let woken = tokio::select! {
                _ = self.wake.rung() => Woken::Rung,
                _ = tokio::time::sleep_until(deadline.into()) => Woken::Deadline,
                _ = slots.next_finished(), if slots.awaits_finishes() => Woken::Finished,
                jobs = next_handed(&mut handed) => Woken::Handed(jobs),
                _ = shutdown.cancelled() => Woken::Shutdown,
            };
            match woken {
                Woken::Rung => {
                    let news = self.wake.take();
                    if news.anything {
                        look_everywhere = true;
                        continue;
                    }
                    if let Some(at) = news.earliest {
                        deadline = deadline.min(Instant::now() + at.until());
                    }
                    let targets = slots.claimable(news.targets);
                    look_everywhere |= self.claim_for(&mut slots, targets).await.is_err();
                }
                Woken::Finished => {
                    let targets = slots.refillable();
                    look_everywhere |= self.claim_for(&mut slots, targets).await.is_err();
                }
                Woken::Handed(jobs) => self.take_handed(&mut slots, &mut handed, jobs).await,
                Woken::Deadline => look_everywhere = true,
                Woken::Shutdown => {}
            }
        }

        if let Some(mut handed) = handed {
            handed.close();
            while let Ok(jobs) = handed.try_recv() {
                self.give_back(jobs.into_iter().map(|job| job.lease).collect())
                    .await;
            }
        }
        self.release(slots.take_queued()).await;
        let drained = tokio::time::timeout(self.settings.drain_grace, slots.drain()).await;
        if drained.is_err() {
            let unfinished = slots.abort();
            tracing::info!(count = unfinished.len(), "releasing unfinished deliveries");
            self.release(unfinished).await;
        }
        drop(slots);
        let _ = recorder.await;
    }

    /// Admit the deliveries ingest handed over (`jobs`, and any more batches
    /// already waiting, up to a node's worth), and give back those refused.
    async fn take_handed(
        &self,
        slots: &mut Slots,
        handed: &mut Option<HandOff>,
        jobs: Option<Vec<DeliveryJob>>,
    ) {
        let Some(mut jobs) = jobs else {
            *handed = None;
            return;
        };
        let mut count = 0;
        let mut refused = Vec::new();
        loop {
            count += jobs.len();
            refused.extend(jobs.into_iter().filter_map(|job| slots.admit_handed(job)));
            if count >= self.settings.max_in_flight {
                break;
            }
            match handed.as_mut().map(|handed| handed.try_recv()) {
                Some(Ok(more)) => jobs = more,
                _ => break,
            }
        }
        self.metrics.handed(count, refused.len());
        self.give_back(refused).await;
    }

    /// The most one claim may take: a batch, within the room left.
    fn claim_total(&self, slots: &Slots) -> usize {
        slots.room().min(self.settings.batch)
    }

    /// Claim what `scope` allows, at most [`Self::claim_total`], and start
    /// or queue each job. Whether the claim filled its whole allowance (so
    /// more may be due), and how many jobs each target got; `Err` if the
    /// store failed (logged).
    async fn claim(
        &self,
        slots: &mut Slots,
        scope: ClaimScope,
    ) -> Result<(Fill, HashMap<SubscriptionId, usize>), ()> {
        let total = self.claim_total(slots);
        let everywhere = matches!(scope, ClaimScope::Any(_));
        let spilled = match &scope {
            ClaimScope::Targets(targets) => slots.spilled_of(targets),
            ClaimScope::Any(_) => Vec::new(),
        };
        let request = ClaimRequest {
            lease: self.settings.lease,
            total,
            scope,
        };
        let jobs = match self.store.claim_due(request).await {
            Ok(jobs) => jobs,
            Err(error) => {
                self.failed("claiming deliveries failed; retrying shortly", &error);
                return Err(());
            }
        };
        self.metrics.claimed(jobs.len(), everywhere);
        slots.note_drained(spilled, &jobs);
        let fill = if jobs.len() >= total {
            Fill::Full
        } else {
            Fill::Short
        };
        let mut got: HashMap<SubscriptionId, usize> = HashMap::new();
        for job in &jobs {
            *got.entry(job.subscription.id.clone()).or_default() += 1;
        }
        let refused: Vec<Lease> = jobs
            .into_iter()
            .filter_map(|job| slots.admit(job))
            .collect();
        self.release(refused).await;
        slots.note_starved();
        Ok((fill, got))
    }

    /// Claim for `targets` (each with its room, the emptiest first), if
    /// any, in as many claims as they need: each claim takes at most half a
    /// batch of targets and shares its allowance among them evenly (at
    /// least two each, within each target's room), so that a burst to many
    /// targets is claimed for at once rather than the first few taking the
    /// whole allowance and the others waiting for the fallback poll. A
    /// target that got all it was allotted may have more due: it is
    /// remembered as starved, to be claimed for again as attempts end; so
    /// is every target left when this node runs out of room.
    async fn claim_for(
        &self,
        slots: &mut Slots,
        targets: Vec<(SubscriptionId, usize)>,
    ) -> Result<(), ()> {
        let mut left = VecDeque::from(targets);
        while !left.is_empty() {
            let total = self.claim_total(slots);
            if total == 0 {
                slots
                    .starved
                    .extend(left.into_iter().map(|(target, _)| target));
                break;
            }
            let allotted = allot(&mut left, total);
            let claimed = self
                .claim(slots, ClaimScope::Targets(allotted.clone()))
                .await;
            let (_, got) = match claimed {
                Ok(claimed) => claimed,
                Err(()) => {
                    slots
                        .starved
                        .extend(left.into_iter().map(|(target, _)| target));
                    return Err(());
                }
            };
            for (target, allowed) in allotted {
                if got.get(&target).copied().unwrap_or(0) >= allowed {
                    slots.starved.insert(target);
                }
            }
        }
        Ok(())
    }

    /// Extend the leases of every job this node holds. A job can wait for a
    /// busy target's slots for several attempt timeouts, and outcomes can be
    /// written late under load; renewing a third of the way through each
    /// lease keeps any of them from running out and being claimed twice.
    /// It runs with no job held too: the store tidies the leases that ran
    /// out (on SQLite, a run-out hand-off's row becomes claimable then).
    async fn renew(&self, leases: Vec<Lease>) {
        if let Err(error) = self.store.extend(leases, self.settings.lease).await {
            self.failed(
                "extending leases failed; they may run out and be claimed again",
                &error,
            );
        }
    }

    /// Log a store call that failed with `error`, except for a lack of
    /// space, which the storage watch logs once per episode.
    fn failed(&self, what: &str, error: &StoreError) {
        self.storage.note_error(error);
        if !matches!(error, StoreError::StorageFull(_)) {
            tracing::warn!(%error, "{what}");
        }
    }

    async fn release(&self, leases: Vec<Lease>) {
        if leases.is_empty() {
            return;
        }
        self.metrics.released(leases.len());
        self.give_back(leases).await;
    }

    /// Give leases back to the store, uncounted.
    async fn give_back(&self, leases: Vec<Lease>) {
        if leases.is_empty() {
            return;
        }
        if let Err(error) = self.store.release(leases).await {
            self.failed("releasing leases failed; they expire on their own", &error);
        }
    }
}

/// The next claim's share of `left` (targets and their room) within
/// `total`: at most half of `total` targets, taken from the front, each
/// allotted an even share of `total` (at least two when `total` allows)
/// within its own room.
fn allot(
    left: &mut VecDeque<(SubscriptionId, usize)>,
    total: usize,
) -> Vec<(SubscriptionId, usize)> {
    let count = left.len().min((total / 2).max(1));
    let share = (total / count.max(1)).max(1);
    left.drain(..count)
        .map(|(target, room)| (target, room.min(share)))
        .collect()
}

/// Whether a claim took all it was allowed to.
enum Fill {
    /// It did: more may be due.
    Full,
    /// It took less: nothing more it was allowed was due.
    Short,
}

/// How many claimed jobs may wait for a busy target, per slot. Each slot
/// finishes an attempt within the attempt timeout, so a full queue starts
/// within 4 timeouts (40 s); meanwhile the dispatcher renews the waiting
/// jobs' leases, so none runs out and is claimed twice.
const QUEUED_PER_SLOT: usize = 4;

/// How many handed-over jobs may wait for a busy target, per slot: enough
/// for the backlog a burst builds, so that a busy target's new deliveries
/// still need no claim. Their leases are renewed as the claimed ones' are.
const HANDED_PER_SLOT: usize = 32;

/// How many handed-over jobs may wait in all, per attempt this node may run.
const HANDED_PER_ATTEMPT: usize = 16;

/// One target's attempts: how many run, the claimed jobs waiting, and the
/// jobs ingest handed over waiting (started after the claimed ones, which
/// include its retries).
#[derive(Default)]
struct Target {
    running: usize,
    waiting: VecDeque<DeliveryJob>,
    handed: VecDeque<DeliveryJob>,
}

impl Target {
    fn idle(&self) -> bool {
        self.running == 0 && self.waiting.is_empty() && self.handed.is_empty()
    }
}

/// The attempts running now, at most `per_target` to one subscription, and
/// the claimed jobs waiting for their target's slots.
struct Slots {
    attempter: Arc<Attempter>,
    pacer: Arc<Pacer>,
    outcomes: mpsc::UnboundedSender<Completion>,
    per_target: usize,
    max_in_flight: usize,
    tasks: JoinSet<()>,
    running: HashMap<Id, (Lease, SubscriptionId)>,
    targets: HashMap<SubscriptionId, Target>,
    breaker: Arc<Breaker>,
    /// Claimed jobs given up because their target's circuit opened: the
    /// dispatcher releases them.
    turned_away: Vec<Lease>,
    /// Targets that may have due deliveries this node did not claim for
    /// want of room: claimed for again once they have a slot's worth.
    starved: HashSet<SubscriptionId>,
    /// Handed-over jobs waiting, over all targets.
    handed: usize,
    /// Targets some of whose handed-over jobs were given back to the store:
    /// they take no more until a claim for them comes back short, so their
    /// deliveries keep their order and the store's backlog is not passed
    /// over for newer ones.
    spilled: HashSet<SubscriptionId>,
}

impl Slots {
    fn new(
        attempter: Arc<Attempter>,
        pacer: Arc<Pacer>,
        settings: &DispatchSettings,
        outcomes: mpsc::UnboundedSender<Completion>,
    ) -> Self {
        Self {
            breaker: attempter.breaker().clone(),
            attempter,
            pacer,
            outcomes,
            per_target: settings.per_target,
            max_in_flight: settings.max_in_flight,
            tasks: JoinSet::new(),
            running: HashMap::new(),
            targets: HashMap::new(),
            turned_away: Vec::new(),
            starved: HashSet::new(),
            handed: 0,
            spilled: HashSet::new(),
        }
    }

    /// Running plus claimed jobs waiting. Handed-over jobs waiting are
    /// bounded apart, so that one busy target's cannot stop claims (and
    /// retries) for the others.
    fn busy(&self) -> usize {
        self.tasks.len()
            + self
                .targets
                .values()
                .map(|t| t.waiting.len())
                .sum::<usize>()
    }

    /// How many more jobs this node may hold in all.
    fn room(&self) -> usize {
        self.max_in_flight.saturating_sub(self.busy())
    }

    fn has_queued(&self) -> bool {
        self.handed > 0 || self.targets.values().any(|t| !t.waiting.is_empty())
    }

    /// Whether a finished attempt may let the dispatcher do more: start a
    /// queued job, or claim for a starved target.
    fn awaits_finishes(&self) -> bool {
        !self.tasks.is_empty() && (self.has_queued() || !self.starved.is_empty())
    }

    /// How many jobs one target may hold: its slots and its queue.
    fn capacity(&self) -> usize {
        self.per_target * (1 + QUEUED_PER_SLOT)
    }

    /// How many more jobs a claim may take for `target`: none while its
    /// circuit is open, one when it is due a probe, and none while it has
    /// less than a slot's worth of room (a job queued behind that many more
    /// waits anyway, and claiming one or two at a time as attempts end
    /// costs a claim per delivery).
    fn claimable_room(&self, target: &SubscriptionId) -> usize {
        match self.breaker.peek(target) {
            Admission::Open => return 0,
            Admission::Probe => return 1,
            Admission::Closed => {}
        }
        let Some(held) = self.targets.get(target) else {
            return self.capacity();
        };
        if !held.handed.is_empty() && self.spilled.contains(target) {
            // Its older handed-over jobs go first.
            return 0;
        }
        let room = self
            .capacity()
            .saturating_sub(held.running + held.waiting.len());
        if room < self.per_target { 0 } else { room }
    }

    /// The room of every target that holds jobs or whose circuit is not
    /// closed, for a claim over all targets (0: skip it).
    fn room_by_target(&self) -> HashMap<SubscriptionId, usize> {
        self.targets
            .keys()
            .cloned()
            .chain(self.breaker.tripped_targets())
            .map(|target| {
                let room = self.claimable_room(&target);
                (target, room)
            })
            .collect()
    }

    /// The targets a claim over all targets skips: those without room.
    fn skipped_targets(&self) -> Vec<SubscriptionId> {
        self.room_by_target()
            .into_iter()
            .filter(|(_, room)| *room == 0)
            .map(|(target, _)| target)
            .collect()
    }

    /// Of `targets`, those with room, and their room, the emptiest first
    /// (a claim short of room in all serves them in this order); the others
    /// are remembered as starved. While this node has less than a slot's
    /// worth of room in all, every one of them is: claiming a delivery or
    /// two as each attempt ends would cost a claim per delivery. A target
    /// whose circuit is open is not remembered: the claim over all targets
    /// finds its deliveries once the circuit lets a probe through.
    fn claimable(&mut self, targets: HashSet<SubscriptionId>) -> Vec<(SubscriptionId, usize)> {
        let node_full = !self.has_room_for_a_claim();
        let mut claimable = Vec::new();
        for target in targets {
            if self.breaker.peek(&target) == Admission::Open {
                continue;
            }
            match self.claimable_room(&target) {
                room if room > 0 && !node_full => claimable.push((target, room)),
                _ => {
                    self.starved.insert(target);
                }
            }
        }
        claimable.sort_by_key(|(_, room)| std::cmp::Reverse(*room));
        claimable
    }

    /// Whether this node has a slot's worth of room in all.
    fn has_room_for_a_claim(&self) -> bool {
        self.room() >= self.per_target.min(self.max_in_flight)
    }

    /// Starved targets that now have room, forgotten as starved; none
    /// (and the starved left untouched) while the node itself is full, so
    /// each finished attempt costs nothing however many targets wait.
    fn refillable(&mut self) -> Vec<(SubscriptionId, usize)> {
        if !self.has_room_for_a_claim() {
            return Vec::new();
        }
        let starved = std::mem::take(&mut self.starved);
        self.claimable(starved)
    }

    /// Remember every held target without room as starved (its circuit
    /// closed): it may have more due than it could take.
    fn note_starved(&mut self) {
        let full: Vec<SubscriptionId> = self
            .targets
            .keys()
            .filter(|target| {
                self.claimable_room(target) == 0 && self.breaker.peek(target) != Admission::Open
            })
            .cloned()
            .collect();
        self.starved.extend(full);
    }

    /// Of the targets of a claim, those spilled, with the room claimed for.
    fn spilled_of(&self, targets: &[(SubscriptionId, usize)]) -> Vec<(SubscriptionId, usize)> {
        if self.spilled.is_empty() {
            return Vec::new();
        }
        targets
            .iter()
            .filter(|(target, _)| self.spilled.contains(target))
            .cloned()
            .collect()
    }

    /// A claim for the spilled `targets` returned `jobs`: each that got
    /// less than its room has nothing more due in the store, and takes
    /// handed-over jobs again.
    fn note_drained(&mut self, targets: Vec<(SubscriptionId, usize)>, jobs: &[DeliveryJob]) {
        for (target, room) in targets {
            let got = jobs
                .iter()
                .filter(|job| job.subscription.id == target)
                .count();
            if got < room {
                self.spilled.remove(&target);
            }
        }
    }

    /// Start a job ingest handed over, or queue it behind its target's
    /// attempts. It is given back, to be claimed later in due order, when
    /// the target's circuit is open, when the target took none since it
    /// last gave one back, when its handed queue (or this node's) is full,
    /// or when this node runs all the attempts it may and none of them is
    /// the target's (no attempt of its would end and start the job). The
    /// target is then remembered as spilled and starved, so a claim follows
    /// once it has room.
    fn admit_handed(&mut self, job: DeliveryJob) -> Option<Lease> {
        let target_id = &job.subscription.id;
        if !self.spilled.contains(target_id) {
            match self.breaker.admit(target_id) {
                Admission::Open => return Some(job.lease),
                Admission::Probe => {
                    self.start(job);
                    return None;
                }
                Admission::Closed => {}
            }
            let node_full = self.tasks.len() >= self.max_in_flight;
            let handed_room = self.handed < self.max_in_flight * HANDED_PER_ATTEMPT;
            let (per_target, queue) = (self.per_target, self.per_target * HANDED_PER_SLOT);
            let target = self.targets.entry(target_id.clone()).or_default();
            if target.running < per_target && !node_full {
                self.start(job);
                return None;
            }
            if target.running > 0 && target.handed.len() < queue && handed_room {
                target.handed.push_back(job);
                self.handed += 1;
                return None;
            }
            if target.idle() {
                self.targets.remove(target_id);
            }
        }
        self.spilled.insert(target_id.clone());
        self.starved.insert(target_id.clone());
        Some(job.lease)
    }

    /// Start `job`, or queue it behind its target; give its lease back when
    /// the queue is full too, or when the target's circuit is open. A
    /// half-open circuit gets this one job as its probe.
    fn admit(&mut self, job: DeliveryJob) -> Option<Lease> {
        match self.breaker.admit(&job.subscription.id) {
            Admission::Open => return Some(job.lease),
            Admission::Probe => {
                self.start(job);
                return None;
            }
            Admission::Closed => {}
        }
        let target = self.targets.entry(job.subscription.id.clone()).or_default();
        if target.running < self.per_target {
            self.start(job);
            None
        } else if target.waiting.len() < self.per_target * QUEUED_PER_SLOT {
            target.waiting.push_back(job);
            None
        } else {
            Some(job.lease)
        }
    }

    fn start(&mut self, job: DeliveryJob) {
        let (lease, target) = (job.lease.clone(), job.subscription.id.clone());
        self.targets.entry(target.clone()).or_default().running += 1;
        let handle = self.tasks.spawn(attempt(
            self.attempter.clone(),
            self.pacer.clone(),
            job,
            self.outcomes.clone(),
        ));
        self.running.insert(handle.id(), (lease, target));
    }

    /// An attempt ended: free its slot and start the target's next job.
    fn finished(&mut self, task: Id) {
        let Some((_, target_id)) = self.running.remove(&task) else {
            return;
        };
        let Some(target) = self.targets.get_mut(&target_id) else {
            return;
        };
        target.running -= 1;
        let queued = !target.waiting.is_empty() || !target.handed.is_empty();
        if queued && self.breaker.admit(&target_id) == Admission::Open {
            self.handed -= target.handed.len();
            self.turned_away.extend(
                target
                    .waiting
                    .drain(..)
                    .chain(target.handed.drain(..))
                    .map(|job| job.lease),
            );
        }
        let next = match target.waiting.pop_front() {
            Some(next) => Some(next),
            None => target.handed.pop_front().inspect(|_| self.handed -= 1),
        };
        match next {
            Some(next) => self.start(next),
            None if target.idle() => {
                self.targets.remove(&target_id);
            }
            None => {}
        }
    }

    fn reap(&mut self) {
        while let Some(joined) = self.tasks.try_join_next_with_id() {
            self.finished(task_id(joined));
        }
    }

    async fn next_finished(&mut self) {
        if let Some(joined) = self.tasks.join_next_with_id().await {
            self.finished(task_id(joined));
        }
    }

    /// The leases of every job held: waiting or running.
    fn held(&self) -> Vec<Lease> {
        let waiting = self.targets.values().flat_map(|t| {
            t.waiting
                .iter()
                .chain(t.handed.iter())
                .map(|job| job.lease.clone())
        });
        let running = self.running.values().map(|(lease, _)| lease.clone());
        waiting.chain(running).collect()
    }

    /// The leases of every waiting job, which will not be started.
    fn take_queued(&mut self) -> Vec<Lease> {
        self.handed = 0;
        self.targets
            .values_mut()
            .flat_map(|t| t.waiting.drain(..).chain(t.handed.drain(..)))
            .map(|job| job.lease)
            .collect()
    }

    /// Wait for every running attempt.
    async fn drain(&mut self) {
        while let Some(joined) = self.tasks.join_next_with_id().await {
            if let Ok((id, ())) = joined {
                self.running.remove(&id);
            }
        }
    }

    /// Stop the attempts still running; their leases.
    fn abort(&mut self) -> Vec<Lease> {
        self.tasks.abort_all();
        self.running.drain().map(|(_, (lease, _))| lease).collect()
    }
}

/// The id of a finished attempt task, whether it returned or panicked (a
/// panicked attempt still frees its slot; its lease expires and it is retried).
fn task_id(joined: Result<(Id, ()), tokio::task::JoinError>) -> Id {
    match joined {
        Ok((id, ())) => id,
        Err(error) => {
            tracing::error!(%error, "a delivery attempt task failed");
            error.id()
        }
    }
}

/// The next batch ingest hands over, or never when it does not.
async fn next_handed(handed: &mut Option<HandOff>) -> Option<Vec<DeliveryJob>> {
    match handed {
        Some(handed) => handed.recv().await,
        None => std::future::pending().await,
    }
}

/// Make one attempt, once its webhook's rate limit gives it a turn, and
/// send its outcome to the recorder.
async fn attempt(
    attempter: Arc<Attempter>,
    pacer: Arc<Pacer>,
    job: DeliveryJob,
    outcomes: mpsc::UnboundedSender<Completion>,
) {
    pacer.wait_turn(&job.subscription).await;
    let _ = outcomes.send(attempter.attempt(job).await);
}

/// Write outcomes back in batches: whatever has arrived while the previous
/// batch was being written goes in the next one. A recorded retry rings the
/// dispatcher with its time, since its deadline was set before the retry
/// existed.
async fn record(
    store: Arc<dyn DeliveryQueue>,
    mut outcomes: mpsc::UnboundedReceiver<Completion>,
    wake: Arc<Wake>,
    storage: Arc<StorageHealth>,
) {
    const MAX_BATCH: usize = 512;
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while outcomes.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let count = batch.len();
        let earliest_retry = batch
            .iter()
            .filter_map(|c| match c.next {
                NextStep::RetryAt(at) => Some(at),
                _ => None,
            })
            .min();
        let recorded = store.complete(std::mem::take(&mut batch)).await;
        if let Some(at) = earliest_retry {
            wake.due_at(at);
        }
        match recorded {
            Ok(told) => wake.due_now(told),
            Err(error @ StoreError::StorageFull(_)) => storage.note_error(&error),
            Err(error) => {
                tracing::error!(%error, count, "recording attempts failed; their leases will expire and they will be retried");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::delivery::breaker::BreakerSettings;
    use crate::delivery::guard::TargetGuard;
    use crate::delivery::retry::RetrySchedule;
    use crate::delivery::sender::Sender;
    use crate::domain::{DeliveryId, Source, Timestamp};
    use crate::store::{StoredEvent, Subscription};

    const PER_TARGET: usize = 2;

    /// Slots of `PER_TARGET` attempts per target whose attempts end at once
    /// (the guard refuses their loopback target), with a breaker that opens
    /// after `threshold` failures; the receiver of their outcomes.
    fn slots(threshold: u32) -> (Slots, mpsc::UnboundedReceiver<Completion>) {
        let sender = Sender::new(
            TargetGuard::new(false),
            http::HeaderName::from_static("x-test-signature"),
            8,
        )
        .unwrap();
        let breaker = Breaker::new(BreakerSettings {
            threshold,
            cooldown: Duration::from_secs(60),
            max_cooldown: Duration::from_secs(60),
        });
        let attempter = Attempter::new(
            Arc::new(sender),
            Arc::new(breaker),
            Arc::new(Metrics::new().unwrap()),
            RetrySchedule::production(),
            None,
        );
        let settings = DispatchSettings {
            per_target: PER_TARGET,
            max_in_flight: 8,
            ..DispatchSettings::default()
        };
        let (outcomes, received) = mpsc::unbounded_channel();
        (
            Slots::new(
                Arc::new(attempter),
                Arc::new(Pacer::local()),
                &settings,
                outcomes,
            ),
            received,
        )
    }

    /// A job for subscription `target`.
    fn job(target: &str) -> DeliveryJob {
        DeliveryJob {
            lease: Lease {
                delivery_id: DeliveryId::generate(),
                token: 1,
            },
            attempts_made: 0,
            event_pk: 1,
            event: Arc::new(StoredEvent {
                id: "evt_1".into(),
                event_type: "signup".into(),
                data: json!({"email": "a@example.com"}),
                created_at: Timestamp::now(),
                bodies: Default::default(),
            }),
            subscription: Arc::new(Subscription::new(
                target.into(),
                "acc_1".into(),
                "http://127.0.0.1:9/hook".into(),
                Source::Api,
            )),
        }
    }

    #[test]
    fn a_claim_for_many_targets_shares_its_allowance_instead_of_giving_it_to_the_first() {
        let many: Vec<(SubscriptionId, usize)> = (0..1_000)
            .map(|i| (SubscriptionId::from(format!("sub_{i}")), 160))
            .collect();
        let mut left = VecDeque::from(many);
        let mut claims = 0;
        while !left.is_empty() {
            let allotted = allot(&mut left, 256);
            assert!(allotted.len() <= 128);
            assert!(allotted.iter().all(|(_, room)| *room == 2));
            claims += 1;
        }
        assert_eq!(claims, 8, "1,000 targets in claims of 128");

        let mut few = VecDeque::from(vec![
            (SubscriptionId::from("sub_big"), 160),
            (SubscriptionId::from("sub_small"), 40),
            (SubscriptionId::from("sub_mid"), 100),
        ]);
        let allotted = allot(&mut few, 256);
        let rooms: Vec<usize> = allotted.iter().map(|(_, room)| *room).collect();
        assert_eq!(rooms, [85, 40, 85], "an even share, within each room");
        assert!(few.is_empty());
        assert_eq!(
            allot(&mut VecDeque::from(vec![(SubscriptionId::from("a"), 9)]), 1),
            [(SubscriptionId::from("a"), 1)]
        );
    }

    #[tokio::test]
    async fn a_target_runs_its_slots_queues_behind_them_and_gives_back_the_rest() {
        let (mut slots, _outcomes) = slots(0);
        let target = SubscriptionId::from("sub_a");
        let queued = PER_TARGET * QUEUED_PER_SLOT;
        for _ in 0..PER_TARGET + queued {
            assert_eq!(slots.admit(job("sub_a")), None);
        }
        assert_eq!(slots.tasks.len(), PER_TARGET, "one attempt per slot");
        assert_eq!(slots.busy(), PER_TARGET + queued);
        assert_eq!(slots.held().len(), PER_TARGET + queued);
        assert_eq!(
            slots.claimable_room(&target),
            0,
            "a full target claims none"
        );
        let extra = job("sub_a");
        let lease = extra.lease.clone();
        assert_eq!(slots.admit(extra), Some(lease), "a full queue gives back");
        assert_eq!(
            slots.claimable_room(&SubscriptionId::from("sub_b")),
            slots.capacity(),
            "another target is not slowed"
        );

        slots.next_finished().await;
        assert_eq!(slots.tasks.len(), PER_TARGET, "the next queued job started");
        assert_eq!(slots.busy(), PER_TARGET + queued - 1);
        let taken = slots.take_queued();
        assert_eq!(taken.len(), queued - 1);
        slots.drain().await;
        assert_eq!(slots.busy(), 0);
    }

    #[tokio::test]
    async fn an_open_circuit_turns_jobs_away_and_claims_pass_its_target_by() {
        let (mut slots, mut outcomes) = slots(2);
        let target = SubscriptionId::from("sub_down");
        for _ in 0..2 {
            assert_eq!(slots.admit(job("sub_down")), None);
        }
        slots.drain().await;
        for _ in 0..2 {
            let outcome = outcomes.recv().await.unwrap();
            assert!(outcome.attempt.error.is_some(), "the guard refused it");
        }
        let turned = job("sub_down");
        let lease = turned.lease.clone();
        assert_eq!(
            slots.admit(turned),
            Some(lease),
            "an open circuit admits none"
        );
        assert_eq!(slots.claimable_room(&target), 0);
        assert!(slots.skipped_targets().contains(&target));
        let wanted = HashSet::from([target.clone(), SubscriptionId::from("sub_up")]);
        let claimable = slots.claimable(wanted);
        assert_eq!(claimable.len(), 1);
        assert_eq!(claimable[0].0, "sub_up");
        assert!(
            !slots.starved.contains(&target),
            "an open circuit's target is found by the claim over all targets"
        );
    }

    #[tokio::test]
    async fn handed_jobs_spill_past_a_full_target_until_a_claim_comes_back_short() {
        let (mut slots, _outcomes) = slots(0);
        let target = SubscriptionId::from("sub_busy");
        let handed = PER_TARGET * HANDED_PER_SLOT;
        for _ in 0..PER_TARGET + handed {
            assert_eq!(slots.admit_handed(job("sub_busy")), None);
        }
        assert_eq!(slots.tasks.len(), PER_TARGET);
        assert_eq!(slots.handed, handed);
        let spilled = job("sub_busy");
        let lease = spilled.lease.clone();
        assert_eq!(slots.admit_handed(spilled), Some(lease));
        assert!(slots.spilled.contains(&target) && slots.starved.contains(&target));
        assert_eq!(
            slots.claimable_room(&target),
            0,
            "its older handed jobs go first"
        );
        let next = job("sub_busy");
        let lease = next.lease.clone();
        assert_eq!(
            slots.admit_handed(next),
            Some(lease),
            "a spilled target takes no more handed jobs"
        );

        slots.note_drained(vec![(target.clone(), 4)], &[job("sub_busy")]);
        assert!(
            !slots.spilled.contains(&target),
            "a short claim means nothing more is due in the store"
        );
        slots.abort();
    }
}

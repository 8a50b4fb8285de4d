//! The values the delivery queue speaks in: what ingest did, where work is
//! due, claims and the leases they take, the jobs a worker runs, each
//! attempt's result and what follows it, what a retention purge did, and
//! one page of a webhook's replay.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::domain::{
    AccountId, DeliveryId, OperationalEvent, Route, SubscriptionId, TimeWindow, Timestamp, rfc3339,
};
use crate::store::{StoredEvent, Subscription};

/// What ingesting an event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestOutcome {
    /// The stored event's id.
    pub event_id: String,
    /// True when the id had been published before and nothing was stored.
    pub duplicate: bool,
    /// How many deliveries were created, one per matching subscription.
    pub deliveries: usize,
    /// The subscriptions whose new deliveries wait in the store to be
    /// claimed, one per delivery: all of them, less those the store handed
    /// straight to this node's dispatcher (see [`crate::delivery::queue::DeliveryQueue::hand_off`]).
    pub targets: Vec<SubscriptionId>,
}

/// Where another node says deliveries are due now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DueWork {
    /// To these subscriptions.
    Targets(Vec<SubscriptionId>),
    /// It did not say (a released or resent delivery, a missed notice).
    Anywhere,
}

/// Which due deliveries one claim may lease, oldest first.
#[derive(Debug, Clone)]
pub struct ClaimRequest {
    /// How long the claim holds each delivery.
    pub lease: Duration,
    /// At most this many deliveries in all.
    pub total: usize,
    /// Where to look.
    pub scope: ClaimScope,
}

/// Where a claim looks for due deliveries.
#[derive(Debug, Clone)]
pub enum ClaimScope {
    /// Among every target's due deliveries, in due order, within each
    /// target's room.
    Any(TargetRoom),
    /// Only these targets' due deliveries, at most the given number each.
    Targets(Vec<(SubscriptionId, usize)>),
}

/// How many deliveries a claim over all targets may take to each target.
/// It looks at no more than [`TargetRoom::SCAN`] times its total of due
/// deliveries not to a skipped target, so one target's backlog cannot make
/// the claim long.
#[derive(Debug, Clone)]
pub struct TargetRoom {
    /// Targets that already hold claimed deliveries: how many more each may
    /// take (none: the claim skips it).
    pub room: HashMap<SubscriptionId, usize>,
    /// How many a target not in `room` may take.
    pub per_new_target: usize,
}

impl TargetRoom {
    /// How many due deliveries the claim looks at, per delivery it may take.
    pub const SCAN: usize = 4;

    /// The targets the claim skips: those without room.
    pub fn skipped(&self) -> Vec<SubscriptionId> {
        self.room
            .iter()
            .filter(|(_, free)| **free == 0)
            .map(|(target, _)| target.clone())
            .collect()
    }

    /// From due `candidates` (a key and its target, in due order), those the
    /// claim takes: at most `total`, each target's room respected.
    pub fn pick<K>(
        &self,
        candidates: impl IntoIterator<Item = (K, SubscriptionId)>,
        total: usize,
    ) -> Vec<K> {
        let mut taken: HashMap<SubscriptionId, usize> = HashMap::new();
        let mut picked = Vec::new();
        for (key, target) in candidates {
            if picked.len() == total {
                break;
            }
            let allowed = self
                .room
                .get(&target)
                .copied()
                .unwrap_or(self.per_new_target);
            let count = taken.entry(target).or_default();
            if *count < allowed {
                *count += 1;
                picked.push(key);
            }
        }
        picked
    }
}

/// A leased delivery: proof that this worker may complete it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// `dlv_...`
    pub delivery_id: DeliveryId,
    /// Changes with every claim; a completion with an old token is ignored.
    pub token: i64,
}

/// A claimed delivery with all a worker needs to send it.
#[derive(Debug, Clone)]
pub struct DeliveryJob {
    /// The lease held on it.
    pub lease: Lease,
    /// Attempts made before this one.
    pub attempts_made: u32,
    /// The stored row key of its event, which its attempt records carry.
    pub event_pk: i64,
    /// The event (shared by the deliveries of one event in a claim).
    pub event: Arc<StoredEvent>,
    /// The subscription it goes to.
    pub subscription: Arc<Subscription>,
}

/// What to do with a delivery after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextStep {
    /// The target answered 2xx.
    Delivered,
    /// Try again at this time.
    RetryAt(Timestamp),
    /// Retries ran out: keep it, marked failed.
    Failed,
    /// The target answered 410 Gone: remove the subscription.
    RemoveSubscription,
}

/// One attempt and its consequence.
#[derive(Debug, Clone)]
pub struct Completion {
    /// The lease the worker held.
    pub lease: Lease,
    /// The owning account (for the subscription removal).
    pub account_id: AccountId,
    /// The subscription it was sent to.
    pub subscription_id: SubscriptionId,
    /// The stored row key of the delivery's event (from its claim).
    pub event_pk: i64,
    /// What the attempt saw.
    pub attempt: AttemptResult,
    /// What happens next.
    pub next: NextStep,
    /// Disable the subscription when this attempt failed and every attempt
    /// has failed since before this time (auto-disable); `None`: never.
    pub disable_if_failing_since: Option<Timestamp>,
    /// Whether the subscription is ordered (`fifo`): a delivery that
    /// finishes lets the next one waiting behind it go.
    pub ordered: bool,
    /// Whether the subscription was in a run of failures when the job was
    /// read, so that a success ends the run: a shared store then locks the
    /// subscription's row before the delivery's, as it does for failures.
    pub was_failing: bool,
}

impl Completion {
    /// Whether this outcome ends the delivery of an ordered subscription,
    /// so the next one waiting may go.
    pub fn frees_the_next(&self) -> bool {
        self.ordered && matches!(self.next, NextStep::Delivered | NextStep::Failed)
    }

    /// The delivery row's new `(state, next_attempt_at, last_error)`.
    pub fn stored_outcome(&self) -> (&'static str, Option<i64>, Option<String>) {
        let error = self.attempt.error.clone();
        match &self.next {
            NextStep::Delivered => ("delivered", None, None),
            NextStep::RetryAt(at) => ("pending", Some(at.0), error),
            NextStep::Failed => ("failed", None, error),
            NextStep::RemoveSubscription => (
                "failed",
                None,
                Some("the target answered 410 Gone; the subscription was removed".to_owned()),
            ),
        }
    }

    /// The operational event of this outcome when its delivery, of event
    /// `event_id` of type `event_type`, ran out of attempts.
    pub fn exhausted(
        &self,
        event_id: String,
        event_type: String,
        last_error: Option<String>,
    ) -> OperationalEvent {
        OperationalEvent::DeliveryExhausted {
            account_id: self.account_id.clone(),
            webhook_id: self.subscription_id.clone(),
            delivery_id: self.lease.delivery_id.clone(),
            event_id,
            event_type,
            last_status: self.attempt.status,
            last_error,
        }
    }
}

/// Why a subscription whose attempts have all failed since `cutoff` or
/// earlier was disabled, as its `disabled_reason` says.
pub fn disabled_reason(cutoff: Timestamp) -> String {
    format!("every attempt failed since {}", rfc3339(cutoff))
}

/// What one HTTP attempt saw.
#[derive(Debug, Clone)]
pub struct AttemptResult {
    /// When it started.
    pub started_at: Timestamp,
    /// Status code, if a response arrived.
    pub status: Option<u16>,
    /// Time to the response (or the error), in milliseconds.
    pub latency_ms: u64,
    /// The first bytes of the response body.
    pub response_snippet: String,
    /// A connection error, time-out or refusal, if any.
    pub error: Option<String>,
    /// How long the target asked us to wait (`Retry-After` on a 429 or 503);
    /// used to schedule the retry, not stored.
    pub retry_after: Option<std::time::Duration>,
}

impl AttemptResult {
    /// Whether the target answered with a 2xx.
    pub fn delivered(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// What one step of a retention pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgeStep {
    /// Rows deleted.
    pub purged: Purged,
    /// The row key the next step resumes after; `None` when this pass has
    /// reached events younger than the cutoff, or the last event.
    pub resume_after: Option<i64>,
}

/// Rows a purge deleted, by table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    /// Events.
    pub events: u64,
    /// Their deliveries.
    pub deliveries: u64,
    /// Their attempts.
    pub attempts: u64,
}

impl std::ops::AddAssign for Purged {
    fn add_assign(&mut self, other: Self) {
        self.events += other.events;
        self.deliveries += other.deliveries;
        self.attempts += other.attempts;
    }
}

/// One page of a webhook's replay: the account's stored events (not test
/// events) published in `window`, at most `limit` of them in row order
/// after the row key `after`.
#[derive(Debug, Clone)]
pub struct ReplayPage {
    /// The account whose events are read and whose webhook is replayed to.
    pub account_id: AccountId,
    /// The webhook, as routing sees it now (enabled or not).
    pub route: Route,
    /// The publish times of the events read.
    pub window: TimeWindow,
    /// Whether the webhook's existing deliveries of these events are made
    /// due again too (`all`), or only the missing ones are created.
    pub redeliver_existing: bool,
    /// The row key the page starts after.
    pub after: i64,
    /// The most events the page reads.
    pub limit: usize,
}

/// What one page of a replay did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplayStep {
    /// Deliveries made due: new ones, and existing ones made due again.
    pub replayed: usize,
    /// The row key the next page starts after; `None` when this page was
    /// the last.
    pub resume_after: Option<i64>,
}

/// One event a replay page read, as the store found it.
#[derive(Debug, Clone)]
pub struct ReplayCandidate {
    /// The event's row key.
    pub event_pk: i64,
    /// Its type.
    pub event_type: String,
    /// Its data, as stored (JSON text).
    pub data: String,
    /// Whether it already has a delivery to the replayed webhook.
    pub has_delivery: bool,
}

/// What a replay page does to the events it read, by row key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayPlan {
    /// Events that get a new delivery: they match the webhook now and have
    /// none.
    pub create_for: Vec<i64>,
    /// Events whose existing deliveries are made due again.
    pub redeliver: Vec<i64>,
}

impl ReplayPage {
    /// Decide, the way ingest routes, what this page does with the events
    /// it read; an event whose stored data is not JSON is an error.
    pub fn plan(&self, candidates: &[ReplayCandidate]) -> Result<ReplayPlan, serde_json::Error> {
        let mut plan = ReplayPlan::default();
        for candidate in candidates {
            if candidate.has_delivery {
                if self.redeliver_existing {
                    plan.redeliver.push(candidate.event_pk);
                }
                continue;
            }
            let data: Value = serde_json::from_str(&candidate.data)?;
            let routes = std::slice::from_ref(&self.route);
            if crate::domain::matching(routes, &candidate.event_type, &data)
                .next()
                .is_some()
            {
                plan.create_for.push(candidate.event_pk);
            }
        }
        Ok(plan)
    }

    /// The step a page ends with, having read `candidates` and made
    /// `replayed` deliveries due: the next page starts after the last row
    /// read, unless this page was not full.
    pub fn step(&self, candidates: &[ReplayCandidate], replayed: usize) -> ReplayStep {
        ReplayStep {
            replayed,
            resume_after: candidates
                .last()
                .filter(|_| candidates.len() >= self.limit)
                .map(|last| last.event_pk),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_over_all_targets_keeps_to_each_targets_room_and_the_total() {
        let limits = TargetRoom {
            room: HashMap::from([("busy".into(), 0), ("half".into(), 2)]),
            per_new_target: 3,
        };
        assert_eq!(limits.skipped(), ["busy"]);
        let due = [
            "half", "busy", "new", "half", "half", "new", "new", "new", "other",
        ];
        let candidates = || {
            due.iter()
                .enumerate()
                .map(|(at, t)| (at, SubscriptionId::from(*t)))
        };
        assert_eq!(limits.pick(candidates(), 10), [0, 2, 3, 5, 6, 8]);
        assert_eq!(limits.pick(candidates(), 4), [0, 2, 3, 5]);
    }

    fn page(redeliver_existing: bool) -> ReplayPage {
        ReplayPage {
            account_id: "acc".into(),
            route: Route {
                subscription_id: "sub".into(),
                events: crate::domain::EventSelection::from_stored(vec!["job".into()]),
                filter: Some(
                    crate::domain::Filter::parse(&serde_json::json!({"kind": "video"})).unwrap(),
                ),
            },
            window: TimeWindow {
                since: Timestamp(0),
                until: Timestamp(10),
            },
            redeliver_existing,
            after: 0,
            limit: 4,
        }
    }

    fn candidate(
        event_pk: i64,
        event_type: &str,
        kind: &str,
        has_delivery: bool,
    ) -> ReplayCandidate {
        ReplayCandidate {
            event_pk,
            event_type: event_type.into(),
            data: serde_json::json!({"kind": kind}).to_string(),
            has_delivery,
        }
    }

    #[test]
    fn a_replay_page_creates_what_matches_and_is_missing_and_redelivers_only_for_all() {
        let read = [
            candidate(1, "job", "video", false),
            candidate(2, "job", "image", false),
            candidate(3, "other", "video", false),
            candidate(4, "job", "image", true),
        ];
        let missing = page(false).plan(&read).unwrap();
        assert_eq!(missing.create_for, [1]);
        assert!(missing.redeliver.is_empty());
        let all = page(true).plan(&read).unwrap();
        assert_eq!(all.create_for, [1]);
        assert_eq!(all.redeliver, [4]);
        assert_eq!(page(true).step(&read, 2).resume_after, Some(4));
        assert_eq!(page(true).step(&read[..3], 2).resume_after, None);
    }
}

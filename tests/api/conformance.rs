//! The store's contract, case by case, driven through its traits directly
//! (no service) on whichever backend the suite runs on: the test command
//! runs these cases on SQLite and again on PostgreSQL, so every backend
//! goes through the same ones, and a new backend is added by running them.
//!
//! The delivery queue: routing at ingest (types, filters, a repeated id),
//! leases (a held delivery is not claimed twice, a given-back or run-out
//! one is claimed again at once, the outcome of a lease no longer held
//! changes nothing; SQLite holds leases in memory and PostgreSQL in rows),
//! hand-offs, retries and when the next one is due, resending what failed,
//! replays a page at a time, and retention's purge. The records: one account never reaches
//! another's, and attempts that started in the same millisecond page
//! without gaps or repeats.

use std::time::Duration;

use serde_json::json;

use hookbridge::domain::{DeliveryState, EventId, EventTypeName, TimeWindow, Timestamp};
use hookbridge::store::{
    AttemptResult, AttemptsOf, ClaimRequest, ClaimScope, Completion, DeliveryJob, NewEvent,
    NextStep, PageRequest, ReplayPage, ReplayStep, Store, Subscription,
};

use crate::helpers::{TestDatabase, stored_subscription};

/// Claim at most one of the webhook's due deliveries, leased for `lease`.
async fn claim(store: &dyn Store, lease: Duration) -> Vec<DeliveryJob> {
    store
        .claim_due(ClaimRequest {
            lease,
            total: 1,
            scope: ClaimScope::Targets(vec![("sub_lease".into(), 1)]),
        })
        .await
        .unwrap()
}

/// The window from `since` to now.
fn until_now(since: Timestamp) -> TimeWindow {
    TimeWindow {
        since,
        until: Timestamp::now(),
    }
}

/// A successful attempt's outcome for `job`.
fn delivered(job: &DeliveryJob) -> Completion {
    delivered_at(job, Timestamp::now())
}

/// A successful attempt's outcome for `job`, started at `started_at`.
fn delivered_at(job: &DeliveryJob, started_at: Timestamp) -> Completion {
    Completion {
        lease: job.lease.clone(),
        account_id: "acc_lease".into(),
        subscription_id: "sub_lease".into(),
        event_pk: job.event_pk,
        attempt: AttemptResult {
            started_at,
            status: Some(200),
            latency_ms: 1,
            response_snippet: String::new(),
            error: None,
            retry_after: None,
        },
        next: NextStep::Delivered,
        disable_if_failing_since: None,
        ordered: false,
        was_failing: false,
    }
}

#[tokio::test]
async fn a_held_delivery_is_claimed_once_until_given_back_or_run_out() {
    let database = TestDatabase::new();
    let store = database.store_with_webhook("acc_lease", "sub_lease").await;
    let store: &dyn Store = store.as_ref();
    let event_id = ingest(store).await;
    let long = Duration::from_secs(60);

    let first = claim(store, long).await;
    assert_eq!(first.len(), 1);
    assert!(
        claim(store, long).await.is_empty(),
        "a held delivery was claimed twice"
    );

    store.release(vec![first[0].lease.clone()]).await.unwrap();
    let second = claim(store, Duration::from_millis(1)).await;
    assert_eq!(second.len(), 1, "a given-back delivery is due at once");
    assert_ne!(second[0].lease, first[0].lease);

    tokio::time::sleep(Duration::from_millis(50)).await;
    let third = claim(store, long).await;
    assert_eq!(third.len(), 1, "a lease that ran out is claimed again");

    store
        .complete(vec![delivered(&first[0]), delivered(&second[0])])
        .await
        .unwrap();
    assert_eq!(
        state_of(store, &event_id).await,
        (DeliveryState::Pending, 0),
        "outcomes of leases no longer held were recorded"
    );
    assert!(
        claim(store, long).await.is_empty(),
        "the third lease still holds"
    );

    store.complete(vec![delivered(&third[0])]).await.unwrap();
    assert_eq!(
        state_of(store, &event_id).await,
        (DeliveryState::Delivered, 1)
    );
    assert!(claim(store, long).await.is_empty());
}

/// Publish one signup event for the lease test's account.
async fn ingest(store: &dyn Store) -> EventId {
    let event_id = EventId::generate();
    store
        .ingest(NewEvent {
            id: event_id.clone(),
            account_id: "acc_lease".into(),
            event_type: EventTypeName::parse("signup").unwrap(),
            data: json!({"email": "ada@example.com"}),
            created_at: Timestamp::now(),
        })
        .await
        .unwrap();
    event_id
}

/// The state the API shows for the one delivery of `event_id`, and its
/// attempts.
async fn state_of(store: &dyn Store, event_id: &EventId) -> (DeliveryState, u32) {
    let deliveries = store
        .deliveries_for_event(&"acc_lease".into(), event_id.as_str())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(deliveries.len(), 1);
    (deliveries[0].state, deliveries[0].attempts)
}

/// A delivery ingest hands straight over cannot be claimed while its lease
/// holds; given back, or run out, it can (on SQLite once the next renewal
/// has swept it; PostgreSQL keeps the lease in the row, so at once). The
/// API shows it pending, counts it in the queue, and cancels it with its
/// webhook.
#[tokio::test]
async fn a_handed_delivery_is_claimable_only_once_given_back_or_run_out() {
    let database = TestDatabase::new();
    let store = database.store_with_webhook("acc_lease", "sub_lease").await;
    let store: &dyn Store = store.as_ref();
    let long = Duration::from_secs(60);
    let mut handed = store
        .hand_off(Duration::from_millis(200))
        .expect("both stores hand deliveries over");

    let given_back = ingest(store).await;
    let job = handed.recv().await.unwrap().remove(0);
    assert_eq!(state_of(store, &given_back).await.0, DeliveryState::Pending);
    assert_eq!(store.queue_stats().await.unwrap().0, 1, "handed is queued");
    assert!(
        claim(store, long).await.is_empty(),
        "a handed delivery was claimed"
    );
    store.release(vec![job.lease.clone()]).await.unwrap();
    let claimed = claim(store, long).await;
    assert_eq!(claimed.len(), 1, "a given-back delivery is due at once");
    store.complete(vec![delivered(&claimed[0])]).await.unwrap();
    assert_eq!(
        state_of(store, &given_back).await.0,
        DeliveryState::Delivered
    );

    let run_out = ingest(store).await;
    let job = handed.recv().await.unwrap().remove(0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    if !crate::helpers::postgres_backend() {
        assert!(
            claim(store, long).await.is_empty(),
            "a run-out handed delivery is claimable before the sweep"
        );
        store.extend(Vec::new(), long).await.unwrap();
    }
    let claimed = claim(store, long).await;
    assert_eq!(claimed.len(), 1, "the sweep made the run-out delivery due");
    store.complete(vec![delivered(&job)]).await.unwrap();
    assert_eq!(
        state_of(store, &run_out).await.0,
        DeliveryState::Pending,
        "the outcome of the run-out lease was recorded"
    );
    store.complete(vec![delivered(&claimed[0])]).await.unwrap();
    assert_eq!(state_of(store, &run_out).await.0, DeliveryState::Delivered);

    let cancelled = ingest(store).await;
    let _job = handed.recv().await.unwrap();
    assert!(
        store
            .delete_subscription(&"acc_lease".into(), &"sub_lease".into())
            .await
            .unwrap()
    );
    assert_eq!(
        state_of(store, &cancelled).await.0,
        DeliveryState::Cancelled
    );
    // SQLite counts it queued until its lease ends; PostgreSQL's count
    // reads the row, cancelled at once.
    let still_queued = if crate::helpers::postgres_backend() {
        0
    } else {
        1
    };
    assert_eq!(
        store.queue_stats().await.unwrap().0,
        still_queued,
        "its lease still holds"
    );
}

/// Twelve attempts to one webhook that all started in the same millisecond
/// (so only the tie-break orders them) come out of pages of two each
/// exactly once.
#[tokio::test]
async fn attempts_started_in_the_same_millisecond_page_without_gaps_or_repeats() {
    let database = TestDatabase::new();
    let store = database.store_with_webhook("acc_lease", "sub_lease").await;
    let store: &dyn Store = store.as_ref();
    let long = Duration::from_secs(60);
    let started_at = Timestamp::now();
    for _ in 0..12 {
        ingest(store).await;
        let job = claim(store, long).await.remove(0);
        store
            .complete(vec![delivered_at(&job, started_at)])
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .attempts(
                &"acc_lease".into(),
                AttemptsOf::Subscription("sub_lease".into()),
                PageRequest { limit: 2, cursor },
            )
            .await
            .unwrap();
        assert!(page.items.len() <= 2);
        seen.extend(page.items.into_iter().map(|attempt| attempt.id));
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    let distinct: std::collections::HashSet<&String> = seen.iter().collect();
    assert_eq!(seen.len(), 12, "{seen:?}");
    assert_eq!(distinct.len(), 12, "an attempt was listed twice: {seen:?}");
}

/// Add to `account_id` the subscription `id`, for `events` (empty: all),
/// passing only events whose data matches `filter`.
async fn add_subscription(
    store: &dyn Store,
    account_id: &str,
    id: &str,
    events: &[&str],
    filter: Option<serde_json::Value>,
) {
    store
        .create_subscription(stored_subscription(account_id, id, events, filter))
        .await
        .unwrap();
}

/// Publish `data` as an event of `event_type` with id `id` for `acc_lease`.
async fn ingest_as(
    store: &dyn Store,
    id: &EventId,
    event_type: &str,
    data: serde_json::Value,
) -> hookbridge::store::IngestOutcome {
    store
        .ingest(NewEvent {
            id: id.clone(),
            account_id: "acc_lease".into(),
            event_type: EventTypeName::parse(event_type).unwrap(),
            data,
            created_at: Timestamp::now(),
        })
        .await
        .unwrap()
}

/// The subscriptions an event's deliveries went to, sorted.
async fn routed_to(store: &dyn Store, event_id: &EventId) -> Vec<String> {
    let mut targets: Vec<String> = store
        .deliveries_for_event(&"acc_lease".into(), event_id.as_str())
        .await
        .unwrap()
        .unwrap()
        .into_iter()
        .map(|d| d.subscription_id.to_string())
        .collect();
    targets.sort();
    targets
}

/// Ingest creates one delivery per subscription whose types and filter the
/// event passes, and none to the others; a disabled subscription gets none;
/// the same id published again stores nothing.
#[tokio::test]
async fn ingest_routes_by_type_and_filter_and_a_repeated_id_stores_nothing() {
    let database = TestDatabase::new();
    let store = database.store_with_webhook("acc_lease", "sub_lease").await;
    let store: &dyn Store = store.as_ref();
    let images = Some(json!({"kind": "image"}));
    let videos = Some(json!({"kind": ["video", "clip"]}));
    add_subscription(store, "acc_lease", "sub_images", &["generation"], images).await;
    add_subscription(store, "acc_lease", "sub_videos", &["generation"], videos).await;
    add_subscription(store, "acc_lease", "sub_signups", &["signup"], None).await;
    add_subscription(store, "acc_lease", "sub_off", &[], None).await;
    let mut off = store
        .subscription(&"acc_lease".into(), &"sub_off".into())
        .await
        .unwrap()
        .unwrap();
    off.enabled = false;
    store.update_subscription(off).await.unwrap().unwrap();

    let image = EventId::generate();
    let outcome = ingest_as(store, &image, "generation", json!({"kind": "image"})).await;
    assert!(!outcome.duplicate);
    assert_eq!(outcome.deliveries, 2);
    assert_eq!(routed_to(store, &image).await, ["sub_images", "sub_lease"]);
    let clip = EventId::generate();
    ingest_as(store, &clip, "generation", json!({"kind": "clip"})).await;
    assert_eq!(routed_to(store, &clip).await, ["sub_lease", "sub_videos"]);
    let signup = EventId::generate();
    ingest_as(store, &signup, "signup", json!({"email": "a@example.com"})).await;
    assert_eq!(
        routed_to(store, &signup).await,
        ["sub_lease", "sub_signups"]
    );

    let again = ingest_as(store, &image, "generation", json!({"kind": "video"})).await;
    assert!(again.duplicate);
    assert_eq!(again.deliveries, 0);
    assert_eq!(routed_to(store, &image).await, ["sub_images", "sub_lease"]);
}

/// Every account-scoped read and write with another account's id finds
/// nothing and changes nothing.
#[tokio::test]
async fn one_account_never_reaches_anothers_records_or_deliveries() {
    let database = TestDatabase::new();
    let store = database.store_with_webhook("acc_lease", "sub_lease").await;
    let store: &dyn Store = store.as_ref();
    store
        .create_account(hookbridge::store::Account {
            id: "acc_other".into(),
            name: "other".into(),
            created_at: Timestamp::now(),
        })
        .await
        .unwrap();
    let event_id = ingest(store).await;
    let job = claim(store, Duration::from_secs(60)).await.remove(0);
    store.complete(vec![delivered(&job)]).await.unwrap();

    assert!(
        store
            .subscription(&"acc_other".into(), &"sub_lease".into())
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .deliveries_for_event(&"acc_other".into(), event_id.as_str())
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        !store
            .has_event(&"acc_other".into(), event_id.as_str())
            .await
            .unwrap()
    );
    assert!(
        store
            .resend(&"acc_other".into(), &job.lease.delivery_id)
            .await
            .unwrap()
            .is_none()
    );
    let attempts = store
        .attempts(
            &"acc_other".into(),
            AttemptsOf::Subscription("sub_lease".into()),
            PageRequest {
                limit: 10,
                cursor: None,
            },
        )
        .await
        .unwrap();
    assert!(attempts.items.is_empty());
    assert!(
        store
            .list_subscriptions(
                &"acc_other".into(),
                PageRequest {
                    limit: 10,
                    cursor: None
                }
            )
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert!(
        !store
            .delete_subscription(&"acc_other".into(), &"sub_lease".into())
            .await
            .unwrap()
    );
    assert_eq!(
        state_of(store, &event_id).await,
        (DeliveryState::Delivered, 1)
    );
    assert!(
        store
            .subscription(&"acc_lease".into(), &"sub_lease".into())
            .await
            .unwrap()
            .is_some()
    );
}

/// A failed attempt with a retry ahead leaves its delivery pending and
/// tells `next_due` when; one that ran out of retries is failed, and
/// resending what failed since a time makes it due at once.
#[tokio::test]
async fn a_retry_is_due_when_scheduled_and_what_failed_is_resent() {
    let database = TestDatabase::new();
    let store = database.store_with_webhook("acc_lease", "sub_lease").await;
    let store: &dyn Store = store.as_ref();
    let long = Duration::from_secs(60);
    let since = Timestamp::now();
    let event_id = ingest(store).await;
    let job = claim(store, long).await.remove(0);
    let retry_at = Timestamp::now().after(Duration::from_secs(30));
    let mut retry = delivered(&job);
    retry.attempt.status = Some(500);
    retry.next = NextStep::RetryAt(retry_at);
    store.complete(vec![retry]).await.unwrap();
    assert_eq!(
        state_of(store, &event_id).await,
        (DeliveryState::Pending, 1)
    );
    assert_eq!(store.next_due(Vec::new()).await.unwrap(), Some(retry_at));
    assert_eq!(
        store.next_due(vec!["sub_lease".into()]).await.unwrap(),
        None,
        "a skipped target's retry was reported"
    );
    assert!(claim(store, long).await.is_empty(), "a retry was due early");

    let waiting = store
        .resend_failed(&"acc_lease".into(), &"sub_lease".into(), until_now(since))
        .await
        .unwrap();
    assert_eq!(waiting, 0, "a delivery waiting for its retry is not failed");
    let resent = store
        .resend(&"acc_lease".into(), &job.lease.delivery_id)
        .await
        .unwrap();
    assert_eq!(resent.unwrap().state, DeliveryState::Pending);
    let job = claim(store, long).await.remove(0);
    let mut failed = delivered(&job);
    failed.attempt.status = Some(500);
    failed.next = NextStep::Failed;
    store.complete(vec![failed]).await.unwrap();
    assert_eq!(state_of(store, &event_id).await, (DeliveryState::Failed, 2));

    let resent = store
        .resend_failed(&"acc_lease".into(), &"sub_lease".into(), until_now(since))
        .await
        .unwrap();
    assert_eq!(resent, 1);
    assert_eq!(state_of(store, &event_id).await.0, DeliveryState::Pending);
    assert_eq!(claim(store, long).await.len(), 1, "a resent delivery waits");
}

/// A replay reads the window's events a page at a time: each event a
/// webhook never got gets one delivery, once, across pages and replays;
/// making existing deliveries due again leaves one a lease holds alone;
/// another account's replay reaches nothing.
#[tokio::test]
async fn a_replay_pages_through_the_window_and_leaves_held_deliveries_alone() {
    let database = TestDatabase::new();
    let store = database.store_with_webhook("acc_lease", "sub_lease").await;
    let store: &dyn Store = store.as_ref();
    let since = Timestamp::now();
    let held = ingest(store).await;
    assert_eq!(claim(store, Duration::from_secs(60)).await.len(), 1);
    ingest(store).await;
    ingest(store).await;
    let later = stored_subscription("acc_lease", "sub_later", &[], None);
    store.create_subscription(later.clone()).await.unwrap();
    let page = |subscription: &Subscription, redeliver_existing: bool, after: i64| ReplayPage {
        account_id: "acc_lease".into(),
        route: subscription.route(),
        window: until_now(since),
        redeliver_existing,
        after,
        limit: 2,
    };

    let first = store.replay_page(page(&later, false, 0)).await.unwrap();
    assert_eq!(first.replayed, 2);
    let resume = first.resume_after.expect("a full page goes on");
    let second = store
        .replay_page(page(&later, false, resume))
        .await
        .unwrap();
    assert_eq!(
        second,
        ReplayStep {
            replayed: 1,
            resume_after: None
        }
    );
    let again = store.replay_page(page(&later, false, 0)).await.unwrap();
    assert_eq!(again.replayed, 0, "a missing delivery was created twice");
    let deliveries = store
        .deliveries_for_event(&"acc_lease".into(), held.as_str())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(deliveries.len(), 2);

    let first_webhook = stored_subscription("acc_lease", "sub_lease", &[], None);
    let all = ReplayPage {
        limit: 10,
        ..page(&first_webhook, true, 0)
    };
    let redelivered = store.replay_page(all.clone()).await.unwrap();
    assert_eq!(redelivered.replayed, 2, "the held delivery is in flight");
    let elsewhere = ReplayPage {
        account_id: "acc_other".into(),
        ..all
    };
    assert_eq!(
        store.replay_page(elsewhere).await.unwrap(),
        ReplayStep::default()
    );
}

/// A purge deletes the events before its cutoff whose deliveries have all
/// finished, with their deliveries and attempts, and keeps one whose
/// delivery is still pending, however old.
#[tokio::test]
async fn a_purge_deletes_finished_events_and_keeps_pending_ones() {
    let database = TestDatabase::new();
    let store = database.store_with_webhook("acc_lease", "sub_lease").await;
    let store: &dyn Store = store.as_ref();
    let finished = ingest(store).await;
    let job = claim(store, Duration::from_secs(60)).await.remove(0);
    store.complete(vec![delivered(&job)]).await.unwrap();
    let pending = ingest(store).await;
    tokio::time::sleep(Duration::from_millis(5)).await;

    let mut purged = hookbridge::store::Purged::default();
    let mut after = 0;
    loop {
        let step = store.purge(Timestamp::now(), after, 1).await.unwrap();
        purged += step.purged;
        match step.resume_after {
            Some(next) => after = next,
            None => break,
        }
    }
    assert_eq!(
        (purged.events, purged.deliveries, purged.attempts),
        (1, 1, 1)
    );
    assert!(
        store
            .deliveries_for_event(&"acc_lease".into(), finished.as_str())
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(state_of(store, &pending).await, (DeliveryState::Pending, 0));
    assert_eq!(store.queue_stats().await.unwrap().0, 1);
}

//! Leases, driven through the store on both backends: a held delivery is
//! not claimed twice, a given-back or run-out one is claimed again at once,
//! and the outcome of a lease no longer held changes nothing. SQLite holds
//! leases in memory and PostgreSQL in rows; both must behave alike. Also,
//! through the same store: attempts that started in the same millisecond
//! page without gaps or repeats.

use std::time::Duration;

use serde_json::json;

use hookbridge::domain::{EventId, Timestamp};
use hookbridge::store::{
    AttemptResult, AttemptsOf, ClaimRequest, ClaimScope, Completion, DeliveryJob, NewEvent,
    NextStep, PageRequest, Store,
};

use crate::helpers::TestDatabase;

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
        ("pending".to_owned(), 0),
        "outcomes of leases no longer held were recorded"
    );
    assert!(
        claim(store, long).await.is_empty(),
        "the third lease still holds"
    );

    store.complete(vec![delivered(&third[0])]).await.unwrap();
    assert_eq!(
        state_of(store, &event_id).await,
        ("delivered".to_owned(), 1)
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
            event_type: "signup".into(),
            data: json!({"email": "ada@example.com"}),
            created_at: Timestamp::now(),
        })
        .await
        .unwrap();
    event_id
}

/// The state the API shows for the one delivery of `event_id`, and its
/// attempts.
async fn state_of(store: &dyn Store, event_id: &EventId) -> (String, u32) {
    let deliveries = store
        .deliveries_for_event("acc_lease", event_id.as_str())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(deliveries.len(), 1);
    (deliveries[0].state.clone(), deliveries[0].attempts)
}

/// A delivery ingest hands straight over (SQLite) cannot be claimed while
/// its lease holds; given back, or run out and swept by the next renewal,
/// it can. The API shows it pending, counts it in the queue, and cancels it
/// with its webhook.
#[tokio::test]
async fn a_handed_delivery_is_claimable_only_once_given_back_or_run_out() {
    let database = TestDatabase::new();
    let store = database.store_with_webhook("acc_lease", "sub_lease").await;
    let store: &dyn Store = store.as_ref();
    let long = Duration::from_secs(60);
    let Some(mut handed) = store.hand_off(Duration::from_millis(200)) else {
        assert!(
            crate::helpers::postgres_backend(),
            "SQLite hands deliveries over"
        );
        return;
    };

    let given_back = ingest(store).await;
    let job = handed.recv().await.unwrap().remove(0);
    assert_eq!(state_of(store, &given_back).await.0, "pending");
    assert_eq!(store.queue_stats().await.unwrap().0, 1, "handed is queued");
    assert!(
        claim(store, long).await.is_empty(),
        "a handed delivery was claimed"
    );
    store.release(vec![job.lease.clone()]).await.unwrap();
    let claimed = claim(store, long).await;
    assert_eq!(claimed.len(), 1, "a given-back delivery is due at once");
    store.complete(vec![delivered(&claimed[0])]).await.unwrap();
    assert_eq!(state_of(store, &given_back).await.0, "delivered");

    let run_out = ingest(store).await;
    let job = handed.recv().await.unwrap().remove(0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        claim(store, long).await.is_empty(),
        "a run-out handed delivery is claimable before the sweep"
    );
    store.extend(Vec::new(), long).await.unwrap();
    let claimed = claim(store, long).await;
    assert_eq!(claimed.len(), 1, "the sweep made the run-out delivery due");
    store.complete(vec![delivered(&job)]).await.unwrap();
    assert_eq!(
        state_of(store, &run_out).await.0,
        "pending",
        "the outcome of the run-out lease was recorded"
    );
    store.complete(vec![delivered(&claimed[0])]).await.unwrap();
    assert_eq!(state_of(store, &run_out).await.0, "delivered");

    let cancelled = ingest(store).await;
    let _job = handed.recv().await.unwrap();
    assert!(
        store
            .delete_subscription("acc_lease", "sub_lease")
            .await
            .unwrap()
    );
    assert_eq!(state_of(store, &cancelled).await.0, "cancelled");
    assert_eq!(
        store.queue_stats().await.unwrap().0,
        1,
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
                "acc_lease",
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

//! Leases, driven through the store on both backends: a held delivery is
//! not claimed twice, a given-back or run-out one is claimed again at once,
//! and the outcome of a lease no longer held changes nothing. SQLite holds
//! leases in memory and PostgreSQL in rows; both must behave alike.

use std::time::Duration;

use serde_json::json;

use hookbridge::domain::{EventId, Timestamp};
use hookbridge::store::{
    AttemptResult, ClaimRequest, ClaimScope, Completion, DeliveryJob, NewEvent, NextStep, Store,
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
    Completion {
        lease: job.lease.clone(),
        account_id: "acc_lease".into(),
        subscription_id: "sub_lease".into(),
        event_pk: job.event_pk,
        attempt: AttemptResult {
            started_at: Timestamp::now(),
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
    let state = || async {
        let deliveries = store
            .deliveries_for_event("acc_lease", event_id.as_str())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(deliveries.len(), 1);
        (deliveries[0].state.clone(), deliveries[0].attempts)
    };
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
        state().await,
        ("pending".to_owned(), 0),
        "outcomes of leases no longer held were recorded"
    );
    assert!(
        claim(store, long).await.is_empty(),
        "the third lease still holds"
    );

    store.complete(vec![delivered(&third[0])]).await.unwrap();
    assert_eq!(state().await, ("delivered".to_owned(), 1));
    assert!(claim(store, long).await.is_empty());
}

//! Ordered webhooks (`"ordering": "fifo"`): deliveries go out one at a
//! time, in publish order, the next waiting until the one before it was
//! delivered or failed for good; other webhooks are not slowed; the order
//! survives a restart; back to `none`, the waiting ones go at once.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{
    Api, BinaryApp, Receiver, TestAccount, TestApp, TestDatabase, TwoNodes, eventually,
    expect_error, generation, pointers,
};

const WAIT: Duration = Duration::from_secs(15);

/// Publish `count` generations one after another; their ids in order.
async fn publish_in_order(app: &Api, account: &TestAccount, count: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for _ in 0..count {
        let published = app
            .publish_accepted(account, "generation_complete", generation("image"))
            .await;
        ids.push(published["id"].as_str().unwrap().to_owned());
    }
    ids
}

/// The order three events arrive in when the first was tried twice.
fn retried_first_then_the_rest(ids: &[String]) -> Vec<String> {
    vec![
        ids[0].clone(),
        ids[0].clone(),
        ids[1].clone(),
        ids[2].clone(),
    ]
}

/// The event id of each request `receiver` got, in arrival order.
fn arrival_order(receiver: &Receiver) -> Vec<String> {
    receiver
        .received()
        .iter()
        .map(|r| r.json()["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn an_ordered_webhook_gets_one_at_a_time_in_publish_order_and_others_are_not_slowed() {
    let app = TestApp::spawn_with(|c| c.retry_schedule = Some("1s,1s,1s".parse().unwrap())).await;
    let account = app.new_account().await;
    let (ordered, unordered) = (Receiver::start().await, Receiver::start().await);
    ordered.script(&[500, 500]);
    ordered.set_delay(Duration::from_millis(20));
    let webhook = app
        .create_webhook(&account, json!({"url": ordered.url, "ordering": "fifo"}))
        .await;
    assert_eq!(webhook["ordering"], "fifo");
    let other = app
        .create_webhook(&account, json!({"url": unordered.url}))
        .await;
    assert_eq!(other["ordering"], "none");

    let ids = publish_in_order(&app, &account, 6).await;
    unordered.wait_for(6, WAIT).await;
    assert!(
        arrival_order(&ordered).iter().all(|id| id == &ids[0]),
        "the others waited while the first was retried: {:?}",
        arrival_order(&ordered)
    );
    let deliveries: Value = app
        .get_as(&account, &format!("/v1/events/{}/deliveries", ids[5]))
        .await
        .json()
        .await
        .unwrap();
    let to_ordered: Vec<&Value> = deliveries["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["subscription_id"] == webhook["id"])
        .collect();
    assert_eq!(to_ordered.len(), 1);
    assert_eq!(to_ordered[0]["state"], "pending", "waiting shows pending");
    assert_eq!(to_ordered[0]["attempts"], 0);

    ordered.wait_for(8, WAIT).await;
    let mut expected = vec![ids[0].clone(), ids[0].clone()];
    expected.extend(ids.iter().cloned());
    assert_eq!(arrival_order(&ordered), expected);
    assert_eq!(ordered.max_concurrent(), 1);
    ordered.assert_quiet(8, Duration::from_millis(300)).await;
}

#[tokio::test]
async fn a_delivery_that_fails_for_good_lets_the_next_go() {
    let app = TestApp::spawn_with(|c| c.retry_schedule = Some("100ms".parse().unwrap())).await;
    let account = app.new_account().await;
    let receiver = Receiver::start().await;
    receiver.script(&[500, 500]);
    app.create_webhook(&account, json!({"url": receiver.url, "ordering": "fifo"}))
        .await;
    let ids = publish_in_order(&app, &account, 3).await;
    receiver.wait_for(4, WAIT).await;
    assert_eq!(
        arrival_order(&receiver),
        retried_first_then_the_rest(&ids),
        "the first failed for good after two attempts, then the rest went"
    );
}

#[tokio::test]
async fn back_to_none_the_waiting_deliveries_go_at_once() {
    let app = TestApp::spawn_with(|c| c.retry_schedule = Some("30s".parse().unwrap())).await;
    let account = app.new_account().await;
    let receiver = Receiver::start().await;
    receiver.set_default_status(503);
    let webhook = app
        .create_webhook(&account, json!({"url": receiver.url, "ordering": "fifo"}))
        .await;
    let ids = publish_in_order(&app, &account, 3).await;
    receiver.wait_for(1, WAIT).await;
    receiver.assert_quiet(1, Duration::from_millis(500)).await;
    let path = format!("/v1/webhooks/{}", webhook["id"].as_str().unwrap());
    let patched: Value = app
        .patch_webhook(&account, &path, json!({"ordering": "none"}))
        .await;
    assert_eq!(patched["ordering"], "none");
    receiver.wait_for(3, WAIT).await;
    let arrived: std::collections::BTreeSet<String> =
        arrival_order(&receiver).into_iter().collect();
    assert_eq!(arrived, ids.into_iter().collect());
}

#[tokio::test]
async fn ordering_is_validated_and_refusals_change_nothing() {
    let app = TestApp::spawn().await;
    let account = app.new_account().await;
    let refused = expect_error(
        app.post_as(
            &account,
            "/v1/webhooks",
            &json!({"url": "https://example.com/h", "ordering": "lifo"}),
        )
        .await,
        422,
        "invalid_request",
    )
    .await;
    assert_eq!(pointers(&refused), ["/ordering"]);
    let listed: Value = app
        .get_as(&account, "/v1/webhooks")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["data"], json!([]));
    let webhook = app
        .create_webhook(&account, json!({"url": "https://example.com/h"}))
        .await;
    let path = format!("/v1/webhooks/{}", webhook["id"].as_str().unwrap());
    expect_error(
        app.patch_as(&account, &path, &json!({"ordering": "FIFO"}))
            .await,
        422,
        "invalid_request",
    )
    .await;
    let shown: Value = app.get_as(&account, &path).await.json().await.unwrap();
    assert_eq!(shown["ordering"], "none");
}

/// The first delivery fails and is due again in 30 s; the service is
/// killed and started again. The two behind it still wait (they were due
/// from the start, so only their stored state holds them back); resending
/// the first makes it go, and the rest follow in order.
#[tokio::test]
async fn the_order_survives_a_restart() {
    let database = TestDatabase::new();
    let receiver = Receiver::start().await;
    receiver.script(&[500]);
    let mut app = BinaryApp::start(&database, &["--retry-schedule", "30s"]);
    let api = app.api();
    let account = api.new_account().await;
    api.create_webhook(&account, json!({"url": receiver.url, "ordering": "fifo"}))
        .await;
    let ids = publish_in_order(&api, &account, 3).await;
    receiver.wait_for(1, WAIT).await;
    // Killed once the failed attempt is recorded (its retry due in 30 s).
    let first_delivery = format!("/v1/events/{}/deliveries", ids[0]);
    eventually(WAIT, || async {
        let shown: Value = api
            .get_as(&account, &first_delivery)
            .await
            .json()
            .await
            .ok()?;
        (shown["data"][0]["attempts"] == 1).then_some(())
    })
    .await;
    app.kill_hard();

    let app = BinaryApp::start(&database, &["--retry-schedule", "30s"]);
    let api = app.api();
    receiver.assert_quiet(1, Duration::from_millis(1500)).await;
    let deliveries: Value = api
        .get_as(&account, &first_delivery)
        .await
        .json()
        .await
        .unwrap();
    let first = deliveries["data"][0]["id"].as_str().unwrap();
    let resent = api
        .post_as(
            &account,
            &format!("/v1/deliveries/{first}/resend"),
            &json!({}),
        )
        .await;
    assert_eq!(resent.status(), 202);
    receiver.wait_for(4, WAIT).await;
    assert_eq!(arrival_order(&receiver), retried_first_then_the_rest(&ids));
}

/// Two nodes on one PostgreSQL database, events published to each in turn:
/// the ordered webhook still gets them one at a time in publish order.
/// Always on PostgreSQL (the SQLite store is single-node), so it runs in
/// the SQLite pass only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multinode_ordering_keeps_publish_order_across_nodes() {
    let receiver = Receiver::start().await;
    receiver.set_delay(Duration::from_millis(5));
    let cluster = TwoNodes::with_webhook(json!({"url": receiver.url, "ordering": "fifo"})).await;
    let ids = cluster.publish_in_turn(40).await;
    receiver.wait_for(40, WAIT).await;
    assert_eq!(arrival_order(&receiver), ids);
    assert_eq!(receiver.max_concurrent(), 1);
    receiver.assert_quiet(40, Duration::from_millis(300)).await;
}

/// On PostgreSQL, ingest hands the delivery that opens an ordered line to
/// the dispatcher, and the outcome that lets the next delivery go leases
/// it to its node in the same transaction and hands it over once committed:
/// a line of five is never claimed, and no delivery takes a claim's
/// transaction of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_an_ordered_webhooks_deliveries_are_handed_over_not_claimed() {
    let database = TestDatabase::postgres();
    let app = BinaryApp::start(&database, &[]);
    let api = app.api();
    let account = api.new_account().await;
    let receiver = Receiver::start().await;
    receiver.set_delay(Duration::from_millis(300));
    api.create_webhook(&account, json!({"url": receiver.url, "ordering": "fifo"}))
        .await;
    let ids = publish_in_order(&api, &account, 5).await;
    receiver.wait_for(5, WAIT).await;
    assert_eq!(arrival_order(&receiver), ids);
    let claimed = api.metric("hookbridge_dispatcher_claimed_total").await;
    let handed = api.metric("hookbridge_dispatcher_handed_total").await;
    assert_eq!((claimed, handed), (0.0, 5.0));
}

//! Per-webhook rate limits: deliveries beyond a webhook's `rate_limit`
//! wait their turn, spend no attempt and are never dropped; across several
//! PostgreSQL nodes the limit holds for the webhook as a whole.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{Received, Receiver, TestApp, TwoNodes, expect_error, generation, pointers};

const WAIT: Duration = Duration::from_secs(20);

/// The most deliveries that started within any one second.
pub fn most_in_one_second(received: &[Received]) -> usize {
    let times: Vec<Instant> = received.iter().map(|r| r.at).collect();
    times
        .iter()
        .map(|start| {
            times
                .iter()
                .filter(|at| **at >= *start && **at < *start + Duration::from_secs(1))
                .count()
        })
        .max()
        .unwrap_or(0)
}

/// Each event id `received` carries, once each (no event twice).
pub fn distinct_ids(received: &[Received]) -> usize {
    let ids: std::collections::BTreeSet<String> = received
        .iter()
        .map(|r| r.json()["id"].as_str().unwrap().to_owned())
        .collect();
    ids.len()
}

#[tokio::test]
async fn a_rate_limited_webhook_gets_at_most_its_rate_and_every_delivery_once() {
    let app = TestApp::spawn().await;
    let account = app.new_account().await;
    let (limited, free) = (Receiver::start().await, Receiver::start().await);
    let webhook = app
        .create_webhook(&account, json!({"url": limited.url, "rate_limit": 5}))
        .await;
    assert_eq!(webhook["rate_limit"], 5);
    app.create_webhook(&account, json!({"url": free.url})).await;
    for _ in 0..15 {
        app.publish_accepted(&account, "generation_complete", generation("image"))
            .await;
    }
    free.wait_for(15, WAIT).await;
    assert!(
        limited.received().len() < 15,
        "the unlimited webhook was not held back by the limited one"
    );
    let got = limited.wait_for(15, WAIT).await;
    assert_eq!(distinct_ids(&got), 15);
    let most = most_in_one_second(&got);
    assert!(most <= 6, "{most} deliveries within one second at 5/s");
    let span = got.last().unwrap().at - got[0].at;
    assert!(span >= Duration::from_millis(2_600), "{span:?}");
    limited.assert_quiet(15, Duration::from_millis(300)).await;
    let attempts = app
        .attempts(&account, webhook["id"].as_str().unwrap())
        .await;
    assert_eq!(attempts.len(), 15, "waiting spent no attempt");
}

#[tokio::test]
async fn rate_limits_are_validated_and_null_removes_one() {
    let app = TestApp::spawn().await;
    let account = app.new_account().await;
    for bad in [json!(0), json!(100_001), json!(-1), json!("fast")] {
        let refused = expect_error(
            app.post_as(
                &account,
                "/v1/webhooks",
                &json!({"url": "https://example.com/h", "rate_limit": bad}),
            )
            .await,
            422,
            if bad == json!(0) || bad == json!(100_001) {
                "invalid_subscription"
            } else {
                "invalid_request"
            },
        )
        .await;
        assert_eq!(pointers(&refused), ["/rate_limit"], "{bad}");
    }
    let listed: Value = app
        .get_as(&account, "/v1/webhooks")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["data"], json!([]), "refusals stored nothing");

    let webhook = app
        .create_webhook(&account, json!({"url": "https://example.com/h"}))
        .await;
    assert_eq!(webhook["rate_limit"], Value::Null);
    let path = format!("/v1/webhooks/{}", webhook["id"].as_str().unwrap());
    let limited: Value = app
        .patch_webhook(&account, &path, json!({"rate_limit": 3}))
        .await;
    assert_eq!(limited["rate_limit"], 3);
    let unchanged: Value = app
        .patch_webhook(&account, &path, json!({"description": "slow endpoint"}))
        .await;
    assert_eq!(unchanged["rate_limit"], 3, "absent leaves it");
    let cleared: Value = app
        .patch_webhook(&account, &path, json!({"rate_limit": null}))
        .await;
    assert_eq!(cleared["rate_limit"], Value::Null);
}

/// Two nodes on one PostgreSQL database, events published to both: the
/// webhook's limit holds for the two together. Always on PostgreSQL (the
/// SQLite store is single-node), so it runs in the SQLite pass only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multinode_rate_limit_holds_for_the_webhook_as_a_whole() {
    let receiver = Receiver::start().await;
    let cluster = TwoNodes::with_webhook(json!({"url": receiver.url, "rate_limit": 10})).await;
    cluster.publish_in_turn(30).await;
    let got = receiver.wait_for(30, WAIT).await;
    assert_eq!(distinct_ids(&got), 30);
    let most = most_in_one_second(&got);
    assert!(
        most <= 11,
        "{most} deliveries within one second at 10/s over two nodes"
    );
    receiver.assert_quiet(30, Duration::from_millis(300)).await;
}

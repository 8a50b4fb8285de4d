//! Retention: finished events older than `--retention` are deleted with
//! their deliveries and attempts; events with a delivery still pending are
//! kept; an id can be published again once its event is gone.

use std::time::Duration;

use hookbridge::config::Retention;
use serde_json::{Value, json};

use crate::helpers::{Receiver, TestApp, eventually, expect_error, generation};

/// The status of `GET path` for `account`.
async fn status_of(app: &TestApp, account: &crate::helpers::TestAccount, path: &str) -> u16 {
    app.get_as(account, path).await.status().as_u16()
}

#[tokio::test]
async fn finished_events_are_purged_after_the_retention_and_pending_ones_are_kept() {
    let app = TestApp::spawn_with(|config| {
        config.retention = Retention(Some(Duration::from_secs(2)));
        // A failed attempt waits an hour: its delivery stays pending.
        config.retry_schedule = Some("1h".parse().unwrap());
    })
    .await;
    let account = app.new_account().await;
    let healthy = Receiver::start().await;
    let failing = Receiver::start().await;
    failing.set_default_status(500);
    app.create_webhook(&account, json!({"url": healthy.url, "events": ["*"]}))
        .await;
    app.create_webhook(&account, json!({"url": failing.url, "events": ["signup"]}))
        .await;

    let delivered = app
        .client
        .post(app.url("/v1/events"))
        .bearer_auth(crate::helpers::ADMIN_KEY)
        .json(&json!({
            "type": "generation_complete", "account_id": account.id,
            "data": generation("image"), "id": "evt_once"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(delivered.status(), 202);
    let waiting: Value = app
        .publish_accepted(
            &account,
            "signup",
            json!({"email": "a@example.com", "plan": "free"}),
        )
        .await;
    let waiting_id = waiting["id"].as_str().unwrap().to_owned();
    healthy.wait_for(2, Duration::from_secs(10)).await;
    failing.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(
        status_of(&app, &account, "/v1/events/evt_once/deliveries").await,
        200
    );

    eventually(Duration::from_secs(15), || async {
        (status_of(&app, &account, "/v1/events/evt_once/deliveries").await == 404).then_some(())
    })
    .await;
    expect_error(
        app.get_as(&account, "/v1/events/evt_once/attempts").await,
        404,
        "not_found",
    )
    .await;

    let kept: Value = app
        .get_as(&account, &format!("/v1/events/{waiting_id}/deliveries"))
        .await
        .json()
        .await
        .unwrap();
    let states: Vec<&str> = kept["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["state"].as_str().unwrap())
        .collect();
    assert!(
        states.contains(&"pending"),
        "an event with a pending delivery is kept whole: {kept}"
    );
    assert_eq!(states.len(), 2, "{kept}");

    let purged = app.metrics().await;
    let purged_events = purged
        .lines()
        .find_map(|l| l.strip_prefix("hookbridge_purged_rows_total{table=\"events\"} "))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no purged events in\n{purged}"));
    assert!(purged_events >= 1.0);
    assert!(app.metric("hookbridge_database_bytes").await > 0.0);

    // The id is free again: the same id is a new event, delivered again.
    let again = app
        .client
        .post(app.url("/v1/events"))
        .bearer_auth(crate::helpers::ADMIN_KEY)
        .json(&json!({
            "type": "generation_complete", "account_id": account.id,
            "data": generation("video"), "id": "evt_once"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 202);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["duplicate"], false, "{again}");
    let received = healthy.wait_for(3, Duration::from_secs(10)).await;
    assert_eq!(received[2].json()["type"], "video");
}

#[tokio::test]
async fn sample_polling_falls_back_to_the_examples_once_every_event_is_purged() {
    let app = TestApp::spawn_with(|config| {
        config.retention = Retention(Some(Duration::from_secs(1)));
    })
    .await;
    let account = app.new_account().await;
    app.publish_accepted(&account, "generation_complete", generation("video"))
        .await;
    let polled = || async {
        app.get_as(&account, "/v1/events?type=generation_complete")
            .await
            .json::<Vec<Value>>()
            .await
            .unwrap()
    };
    let retained = polled().await;
    assert_eq!(retained.len(), 1);
    assert_eq!(retained[0]["type"], "video");
    let examples = eventually(Duration::from_secs(15), || async {
        let samples = polled().await;
        samples
            .first()
            .is_some_and(|s| {
                s["id"]
                    .as_str()
                    .is_some_and(|id| id.starts_with("evt_example_"))
            })
            .then_some(samples)
    })
    .await;
    assert_eq!(examples[0]["generation_id"], "gen_9f3a2b");
}

#[tokio::test]
async fn unknown_type_names_share_one_metric_series() {
    let app = TestApp::spawn().await;
    let account = app.new_account().await;
    for name in ["no.such.type", "another.invented", "third.one"] {
        let refused = app.publish(&account, name, json!({})).await;
        expect_error(refused, 422, "unknown_event_type").await;
    }
    let metrics = app.metrics().await;
    let series: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("hookbridge_events_rejected_total{"))
        .collect();
    assert_eq!(series.len(), 1, "{series:?}");
    assert!(series[0].contains("type=\"(unknown)\""), "{series:?}");
    assert!(series[0].ends_with(" 3"), "{series:?}");
}

//! Webhook management: secret rotation, enable/disable, resend, probes.

use std::time::Duration;

use serde_json::{Value, json};
use standardwebhooks::Webhook;

use crate::helpers::{
    Received, Receiver, TestApp, client, eventually, expect_error, generation,
    seed_header_is_signed_by,
};

const WAIT: Duration = Duration::from_secs(10);

fn verifies(secret: &str, delivery: &Received) -> bool {
    Webhook::new(secret)
        .unwrap()
        .verify(&delivery.body, &delivery.headers)
        .is_ok()
}

#[tokio::test]
async fn rotating_a_secret_keeps_the_old_one_signing_for_the_grace_period() {
    let app = TestApp::spawn().await;
    let account = app.new_account().await;
    let receiver = Receiver::start().await;
    let created = app
        .create_webhook(&account, json!({"url": receiver.url}))
        .await;
    let (id, first) = (
        created["id"].as_str().unwrap(),
        created["secret"].as_str().unwrap().to_owned(),
    );

    let rotated = app
        .post_as(
            &account,
            &format!("/v1/webhooks/{id}/rotate-secret"),
            &json!({}),
        )
        .await;
    assert_eq!(rotated.status(), 200);
    let rotated: Value = rotated.json().await.unwrap();
    let second = rotated["secret"].as_str().unwrap().to_owned();
    assert!(second.starts_with("whsec_") && second != first);
    assert!(rotated["previous_secret_expires_at"].is_string());
    let shown: Value = app
        .get_as(&account, &format!("/v1/webhooks/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert!(
        shown.get("secret").is_none(),
        "the new secret is shown once"
    );

    app.publish(&account, "generation_complete", generation("image"))
        .await;
    let during = receiver.wait_for(1, WAIT).await;
    assert!(verifies(&second, &during[0]), "the new secret signs");
    assert!(
        verifies(&first, &during[0]),
        "the old secret signs beside it"
    );
    assert!(
        seed_header_is_signed_by(&first, &during[0]),
        "sha256= keeps the old secret in the grace period"
    );

    let third: Value = app
        .post_as(
            &account,
            &format!("/v1/webhooks/{id}/rotate-secret"),
            &json!({"grace_seconds": 0}),
        )
        .await
        .json()
        .await
        .unwrap();
    let third = third["secret"].as_str().unwrap().to_owned();
    app.publish(&account, "generation_complete", generation("video"))
        .await;
    let after = receiver.wait_for(2, WAIT).await;
    assert!(verifies(&third, &after[1]));
    assert!(
        !verifies(&second, &after[1]),
        "no grace: the replaced secret stops at once"
    );
    assert!(seed_header_is_signed_by(&third, &after[1]));

    let too_long = app
        .post_as(
            &account,
            &format!("/v1/webhooks/{id}/rotate-secret"),
            &json!({"grace_seconds": 999_999_999}),
        )
        .await;
    expect_error(too_long, 422, "invalid_request").await;
    let other = app.new_account().await;
    let foreign = app
        .post_as(
            &other,
            &format!("/v1/webhooks/{id}/rotate-secret"),
            &json!({}),
        )
        .await;
    expect_error(foreign, 404, "not_found").await;
}

#[tokio::test]
async fn a_disabled_webhook_gets_nothing_new_and_its_retries_pause_until_enabled() {
    let app = TestApp::spawn_with(|c| c.retry_schedule = Some("1s".parse().unwrap())).await;
    let account = app.new_account().await;
    let receiver = Receiver::start().await;
    receiver.script(&[500]);
    let created = app
        .create_webhook(&account, json!({"url": receiver.url}))
        .await;
    let path = format!("/v1/webhooks/{}", created["id"].as_str().unwrap());
    app.publish(&account, "generation_complete", generation("image"))
        .await;
    receiver.wait_for(1, WAIT).await;

    let disabled: Value = app
        .patch_webhook(&account, &path, json!({"enabled": false}))
        .await;
    assert_eq!(disabled["enabled"], false);
    let unseen: Value = app
        .publish_accepted(
            &account,
            "signup",
            json!({"email": "a@example.com", "plan": "free"}),
        )
        .await;
    assert_eq!(
        unseen["deliveries"], 0,
        "no delivery for a disabled webhook"
    );
    receiver.assert_quiet(1, Duration::from_millis(1600)).await;

    let enabled: Value = app
        .patch_webhook(&account, &path, json!({"enabled": true}))
        .await;
    assert_eq!(enabled["enabled"], true);
    let got = receiver.wait_for(2, WAIT).await;
    assert_eq!(got[1].answered, 200);
    assert_eq!(
        got[1].json()["event"],
        "generation_complete",
        "the paused retry resumed"
    );
    receiver.assert_quiet(2, Duration::from_millis(500)).await;
}

#[tokio::test]
async fn a_failed_delivery_can_be_resent_once_the_target_recovers() {
    let app = TestApp::spawn_with(|c| c.retry_schedule = Some("100ms".parse().unwrap())).await;
    let account = app.new_account().await;
    let receiver = Receiver::start().await;
    receiver.set_default_status(503);
    app.create_webhook(&account, json!({"url": receiver.url}))
        .await;
    let event: Value = app
        .publish_accepted(&account, "generation_complete", generation("image"))
        .await;
    receiver.wait_for(2, WAIT).await;
    receiver.assert_quiet(2, Duration::from_millis(400)).await;
    let path = format!("/v1/events/{}/deliveries", event["id"].as_str().unwrap());
    let deliveries: Value = app.get_as(&account, &path).await.json().await.unwrap();
    assert_eq!(deliveries["data"][0]["state"], "failed");
    let delivery_id = deliveries["data"][0]["id"].as_str().unwrap().to_owned();

    let other = app.new_account().await;
    let resend_path = format!("/v1/deliveries/{delivery_id}/resend");
    expect_error(
        app.post_as(&other, &resend_path, &json!({})).await,
        404,
        "not_found",
    )
    .await;
    expect_error(
        app.post_as(&account, "/v1/deliveries/dlv_nope/resend", &json!({}))
            .await,
        404,
        "not_found",
    )
    .await;

    receiver.set_default_status(200);
    let resent = app.post_as(&account, &resend_path, &json!({})).await;
    assert_eq!(resent.status(), 202);
    let got = receiver.wait_for(3, WAIT).await;
    assert_eq!(got[2].answered, 200);
    assert_eq!(got[2].json()["id"], event["id"]);
    eventually(WAIT, || async {
        let after: Value = app.get_as(&account, &path).await.json().await.unwrap();
        (after["data"][0]["state"] == "delivered").then_some(())
    })
    .await;
}

#[tokio::test]
async fn health_and_readiness_probes_answer() {
    let app = TestApp::spawn().await;
    for path in ["/healthz", "/readyz"] {
        let response = client().get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let body: Value = response.json().await.unwrap();
        assert!(body["status"].is_string());
    }
}

#[tokio::test]
async fn a_test_event_is_sent_now_recorded_counted_and_never_a_sample() {
    let app = TestApp::spawn().await;
    let account = app.new_account().await;
    let receiver = Receiver::start().await;
    let created = app
        .create_webhook(
            &account,
            json!({"url": receiver.url, "events": ["zip.completed", "signup"]}),
        )
        .await;
    let (id, secret) = (
        created["id"].as_str().unwrap(),
        created["secret"].as_str().unwrap(),
    );
    let test_path = format!("/v1/webhooks/{id}/test");

    let outcome: Value = app
        .post_as(&account, &test_path, &json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(outcome["delivered"], true, "{outcome}");
    assert_eq!(outcome["status"], 200);
    assert_eq!(
        outcome["event_type"], "zip.completed",
        "the webhook's first type by default"
    );
    let got = receiver.wait_for(1, WAIT).await;
    assert!(verifies(secret, &got[0]));
    assert_eq!(got[0].json()["object"]["id"], "zip_abc123");

    let signup: Value = app
        .post_as(&account, &test_path, &json!({"event_type": "signup"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(signup["event_type"], "signup");
    receiver.set_default_status(500);
    let failed: Value = app
        .post_as(&account, &test_path, &json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(failed["delivered"], false);
    assert_eq!(failed["status"], 500);
    receiver.assert_quiet(3, Duration::from_millis(800)).await;

    let statuses: Vec<Value> = app
        .attempts(&account, id)
        .await
        .iter()
        .map(|a| a["status"].clone())
        .collect();
    assert_eq!(statuses, [json!(500), json!(200), json!(200)]);
    assert_eq!(
        app.metric(r#"hookbridge_delivery_attempts_total{outcome="delivered"}"#)
            .await,
        2.0,
        "test sends count as attempts"
    );
    assert_eq!(
        app.metric(r#"hookbridge_delivery_attempts_total{outcome="failed"}"#)
            .await,
        1.0
    );
    let samples: Vec<Value> = app
        .get_as(&account, "/v1/events?type=zip.completed")
        .await
        .json()
        .await
        .unwrap();
    assert!(
        samples
            .iter()
            .all(|s| s["id"].as_str().unwrap().starts_with("evt_example_"))
    );

    let unknown = app
        .post_as(&account, &test_path, &json!({"event_type": "nope"}))
        .await;
    expect_error(unknown, 422, "unknown_event_type").await;
    let other = app.new_account().await;
    expect_error(
        app.post_as(&other, &test_path, &json!({})).await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn everything_that_failed_since_a_time_can_be_resent() {
    let app = TestApp::spawn_with(|c| c.retry_schedule = Some("100ms".parse().unwrap())).await;
    let account = app.new_account().await;
    let receiver = Receiver::start().await;
    receiver.set_default_status(503);
    let created = app
        .create_webhook(&account, json!({"url": receiver.url}))
        .await;
    let path = format!(
        "/v1/webhooks/{}/resend-failed",
        created["id"].as_str().unwrap()
    );
    for kind in ["image", "video", "image"] {
        app.publish(&account, "generation_complete", generation(kind))
            .await;
    }
    receiver.wait_for(6, WAIT).await;
    receiver.assert_quiet(6, Duration::from_millis(400)).await;

    let future = app
        .post_as(&account, &path, &json!({"since": "2999-01-01T00:00:00Z"}))
        .await;
    assert_eq!(future.json::<Value>().await.unwrap()["resent"], 0);
    expect_error(
        app.post_as(&account, &path, &json!({"since": "yesterday"}))
            .await,
        422,
        "invalid_request",
    )
    .await;

    receiver.set_default_status(200);
    let resent = app
        .post_as(&account, &path, &json!({"since": "2020-01-01T00:00:00Z"}))
        .await;
    assert_eq!(resent.status(), 202);
    assert_eq!(resent.json::<Value>().await.unwrap()["resent"], 3);
    let got = receiver.wait_for(9, WAIT).await;
    assert!(got[6..].iter().all(|r| r.answered == 200));
}

#[tokio::test]
async fn attempts_page_newest_first_per_webhook_and_per_event() {
    let app = TestApp::spawn().await;
    let account = app.new_account().await;
    let receiver = Receiver::start().await;
    receiver.script(&[500, 502]);
    let created = app
        .create_webhook(&account, json!({"url": receiver.url}))
        .await;
    let event: Value = app
        .publish_accepted(&account, "generation_complete", generation("image"))
        .await;
    receiver.wait_for(3, WAIT).await;
    let base = format!("/v1/webhooks/{}/attempts", created["id"].as_str().unwrap());
    eventually(WAIT, || async {
        let all: Value = app.get_as(&account, &base).await.json().await.unwrap();
        (all["data"].as_array().unwrap().len() == 3).then_some(())
    })
    .await;

    let mut statuses = Vec::new();
    let mut path = format!("{base}?limit=2");
    loop {
        let page: Value = app.get_as(&account, &path).await.json().await.unwrap();
        let items = page["data"].as_array().unwrap();
        assert!(items.len() <= 2);
        statuses.extend(items.iter().map(|a| a["status"].clone()));
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("{base}?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(statuses, [json!(200), json!(502), json!(500)]);

    let event_path = format!("/v1/events/{}/attempts", event["id"].as_str().unwrap());
    let per_event: Value = app
        .get_as(&account, &event_path)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(per_event["data"].as_array().unwrap().len(), 3);
    assert_eq!(per_event["data"][0]["webhook_id"], created["id"]);
    let other = app.new_account().await;
    expect_error(app.get_as(&other, &event_path).await, 404, "not_found").await;
    expect_error(app.get_as(&other, &base).await, 404, "not_found").await;
    expect_error(
        app.get_as(&account, "/v1/events/evt_nope/attempts").await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn a_webhook_failing_for_the_span_is_disabled_and_resumes_when_enabled() {
    let app = TestApp::spawn_with(|c| {
        c.retry_schedule = Some(
            "150ms,150ms,150ms,150ms,150ms,150ms,150ms,150ms"
                .parse()
                .unwrap(),
        );
        c.auto_disable_after = "400ms".parse().unwrap();
    })
    .await;
    let account = app.new_account().await;
    let receiver = Receiver::start().await;
    receiver.set_default_status(500);
    let created = app
        .create_webhook(&account, json!({"url": receiver.url}))
        .await;
    let path = format!("/v1/webhooks/{}", created["id"].as_str().unwrap());
    app.publish(&account, "generation_complete", generation("image"))
        .await;

    let deadline = std::time::Instant::now() + WAIT;
    let disabled = loop {
        let shown: Value = app.get_as(&account, &path).await.json().await.unwrap();
        if shown["enabled"] == false {
            break shown;
        }
        assert!(std::time::Instant::now() < deadline, "never auto-disabled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        disabled["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("every attempt failed")
    );
    let attempts_when_disabled = receiver.received().len();
    assert!(
        (3..=6).contains(&attempts_when_disabled),
        "{attempts_when_disabled} attempts"
    );
    receiver
        .assert_quiet(attempts_when_disabled, Duration::from_millis(600))
        .await;

    receiver.set_default_status(200);
    let enabled: Value = app
        .patch_webhook(&account, &path, json!({"enabled": true}))
        .await;
    assert_eq!(enabled["disabled_reason"], Value::Null);
    let got = receiver.wait_for(attempts_when_disabled + 1, WAIT).await;
    assert_eq!(
        got.last().unwrap().answered,
        200,
        "the pending delivery resumed"
    );
}

#[tokio::test]
async fn prometheus_metrics_count_events_attempts_and_the_queue() {
    let app = TestApp::spawn_with(|c| c.retry_schedule = Some("1h".parse().unwrap())).await;
    let account = app.new_account().await;
    let receiver = Receiver::start().await;
    receiver.set_default_status(500);
    app.create_webhook(&account, json!({"url": receiver.url}))
        .await;
    app.publish(&account, "generation_complete", generation("image"))
        .await;
    app.publish(&account, "generation_complete", json!({"type": "gif"}))
        .await;
    receiver.wait_for(1, WAIT).await;

    let as_account = app.get_as(&account, "/metrics").await;
    expect_error(as_account, 401, "unauthorized").await;
    let attempt_recorded = r#"hookbridge_delivery_attempts_total{outcome="retry"} 1"#;
    // The counter moves when the attempt ends, the gauge once its outcome
    // is stored: wait for both.
    let text = eventually(WAIT, || async {
        let text = app.metrics().await;
        let settled = [attempt_recorded, "hookbridge_queue_depth 1"]
            .iter()
            .all(|line| text.lines().any(|l| l == *line));
        settled.then_some(text)
    })
    .await;
    for line in [
        r#"hookbridge_events_accepted_total{type="generation_complete"} 1"#,
        r#"hookbridge_events_rejected_total{reason="schema",type="generation_complete"} 1"#,
        r#"hookbridge_delivery_attempts_total{outcome="retry"} 1"#,
        "hookbridge_delivery_attempt_seconds_count 1",
        "hookbridge_queue_depth 1",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
}

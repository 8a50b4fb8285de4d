//! Delivery: bodies, both signature schemes, retries, 410, filters, headers.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use axum::http::HeaderName;
use serde_json::{Value, json};
use standardwebhooks::Webhook;

use crate::helpers::{
    Received, Receiver, TestAccount, TestApp, TestDatabase, expect_error, generation,
};

const WAIT: Duration = Duration::from_secs(10);

/// The seed page's `verify_signature`, run verbatim by Python.
fn seed_verify(body: &[u8], signature: &str, secret: &str) -> bool {
    let script = r#"
import hashlib, hmac, sys
def verify_signature(body: bytes, sig: str, secret: str) -> bool:
    expected = "sha256=" + hmac.new(
        secret.encode(), body, hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(expected, sig)
sys.exit(0 if verify_signature(sys.stdin.buffer.read(), sys.argv[1], sys.argv[2]) else 1)
"#;
    let mut child = Command::new("python3")
        .args(["-c", script, signature, secret])
        .stdin(Stdio::piped())
        .spawn()
        .expect("python3 runs the seed's verify_signature");
    child.stdin.take().unwrap().write_all(body).unwrap();
    child.wait().unwrap().success()
}

fn header<'a>(received: &'a Received, name: &str) -> &'a str {
    received
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

#[tokio::test]
async fn the_seed_flow_delivers_the_seed_shape_signed_both_ways() {
    let app =
        TestApp::spawn_with(|c| c.signature_header = HeaderName::from_static("x-zsky-signature"))
            .await;
    let account = app.new_account().await;
    let receiver = Receiver::start().await;
    let secret = "optional_signing_secret";
    let registered = app
        .post_as(
            &account,
            "/api/webhooks/register",
            &json!({"url": receiver.url, "events": ["generation_complete", "signup", "subscription"], "secret": secret}),
        )
        .await;
    assert_eq!(registered.status(), 201);
    let published: Value = app
        .publish_accepted(&account, "generation_complete", generation("image"))
        .await;
    let got = receiver.wait_for(1, WAIT).await;
    let delivery = &got[0];
    assert_eq!(header(delivery, "content-type"), "application/json");
    let body = delivery.json();
    let timestamp = body["timestamp"].as_i64().unwrap();
    assert_eq!(
        body,
        json!({
            "event": "generation_complete", "type": "image", "user_id": "user_abc123",
            "credits_used": 1, "generation_id": "gen_9f3a2b",
            "output_url": "https://zsky.ai/outputs/gen_9f3a2b.png",
            "timestamp": timestamp, "id": published["id"]
        })
    );
    let signature = header(delivery, "x-zsky-signature");
    assert!(signature.starts_with("sha256="));
    assert!(seed_verify(&delivery.body, signature, secret));
    assert!(!seed_verify(b"{\"tampered\":true}", signature, secret));
    let standard = Webhook::from_bytes(secret.as_bytes().to_vec()).unwrap();
    standard
        .verify(&delivery.body, &delivery.headers)
        .expect("Standard Webhooks signature");
    assert_eq!(
        header(delivery, "webhook-id"),
        published["id"].as_str().unwrap()
    );
}

#[tokio::test]
async fn generated_whsec_secrets_verify_with_the_standard_webhooks_library() {
    let app = TestApp::spawn().await;
    let account = app.new_account().await;
    let receiver = Receiver::start().await;
    let created = app
        .create_webhook(&account, json!({"url": receiver.url, "events": ["signup"]}))
        .await;
    let secret = created["secret"].as_str().unwrap();
    app.publish(
        &account,
        "signup",
        json!({"email": "ada@example.com", "plan": "free", "referral_code": null}),
    )
    .await;
    let got = receiver.wait_for(1, WAIT).await;
    Webhook::new(secret)
        .unwrap()
        .verify(&got[0].body, &got[0].headers)
        .expect("verifies");
    assert!(seed_verify(
        &got[0].body,
        header(&got[0], "x-hookbridge-signature"),
        secret
    ));
    let other = Webhook::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    assert!(other.verify(&got[0].body, &got[0].headers).is_err());
}

#[tokio::test]
async fn the_envelope_format_has_the_zipkit_shape() {
    let app = TestApp::spawn().await;
    let account = app.new_account().await;
    let receiver = Receiver::start().await;
    app.create_webhook(
        &account,
        json!({"url": receiver.url, "format": "envelope", "events": ["zip.completed"]}),
    )
    .await;
    let data = json!({"object": {"id": "zip_def456", "object": "zip", "status": "failed",
        "key": "reports/monthly-2025-11.zip", "bucket": {"service": "s3", "name": "my-destination-bucket"},
        "metadata": {"user_id": "user_123", "order_id": "order_456"}},
        "error": {"type": "bucket_error", "code": "upload_failed", "message": "Failed to upload zip to bucket"}});
    let published: Value = app
        .publish_accepted(&account, "zip.completed", data.clone())
        .await;
    let body = receiver.wait_for(1, WAIT).await[0].json();
    assert_eq!(body["id"], published["id"]);
    assert_eq!(body["object"], "event");
    assert_eq!(body["type"], "zip.completed");
    assert!(body["created"].as_i64().unwrap() > 1_700_000_000);
    assert_eq!(body["data"], data);
    assert_eq!(body.as_object().unwrap().len(), 5);
}

/// An event's body is serialized once per format and shared by its
/// deliveries: two webhooks of each format on one event must each get the
/// body of their own format, signed with their own secret.
#[tokio::test]
async fn one_event_to_webhooks_of_both_formats_gives_each_its_own_shape_and_signature() {
    let app = TestApp::spawn().await;
    let account = app.new_account().await;
    let mut webhooks = Vec::new();
    for format in ["flat", "envelope", "flat", "envelope"] {
        let receiver = Receiver::start().await;
        let created = app
            .create_webhook(
                &account,
                json!({"url": receiver.url, "format": format, "events": ["signup"]}),
            )
            .await;
        let secret = created["secret"].as_str().unwrap().to_owned();
        webhooks.push((format, secret, receiver));
    }
    let data = json!({"email": "ada@example.com", "plan": "pro", "referral_code": null});
    let published = app.publish_accepted(&account, "signup", data.clone()).await;
    for (format, secret, receiver) in &webhooks {
        let got = receiver.wait_for(1, WAIT).await;
        Webhook::new(secret)
            .unwrap()
            .verify(&got[0].body, &got[0].headers)
            .expect("signed with this webhook's own secret");
        let body = got[0].json();
        assert_eq!(
            body.get("object").is_some(),
            *format == "envelope",
            "{body}"
        );
        match *format {
            "envelope" => assert_eq!(body["data"], data),
            _ => assert_eq!(body["email"], "ada@example.com"),
        }
        assert_eq!(body["id"], published["id"]);
    }
}

#[tokio::test]
async fn every_matching_webhook_receives_and_custom_headers_are_sent() {
    let app = TestApp::spawn().await;
    let account = app.new_account().await;
    let (first, second, other) = (
        Receiver::start().await,
        Receiver::start().await,
        Receiver::start().await,
    );
    app.create_webhook(
        &account,
        json!({"url": first.url, "headers": {"Authorization": "Bearer t0k3n"}}),
    )
    .await;
    app.create_webhook(
        &account,
        json!({"url": second.url, "events": ["zip.completed", "signup"]}),
    )
    .await;
    app.create_webhook(
        &account,
        json!({"url": other.url, "events": ["subscription"]}),
    )
    .await;
    app.publish(
        &account,
        "signup",
        json!({"email": "a@example.com", "plan": "pro"}),
    )
    .await;
    let got = first.wait_for(1, WAIT).await;
    assert_eq!(header(&got[0], "authorization"), "Bearer t0k3n");
    second.wait_for(1, WAIT).await;
    other.assert_quiet(0, Duration::from_millis(300)).await;
}

#[tokio::test]
async fn failures_are_retried_until_success_and_each_attempt_is_recorded() {
    let app = TestApp::spawn().await;
    let account = app.new_account().await;
    let receiver = Receiver::start().await;
    receiver.script(&[500, 503]);
    let created = app
        .create_webhook(&account, json!({"url": receiver.url}))
        .await;
    app.publish(&account, "generation_complete", generation("video"))
        .await;
    let got = receiver.wait_for(3, WAIT).await;
    let statuses: Vec<u16> = got.iter().map(|r| r.answered).collect();
    assert_eq!(statuses, [500, 503, 200]);
    let ids: Vec<Value> = got.iter().map(|r| r.json()["id"].clone()).collect();
    assert!(
        ids.windows(2).all(|w| w[0] == w[1]),
        "retries carry the same event id"
    );
    receiver.assert_quiet(3, Duration::from_millis(700)).await;
    let path = format!("/v1/webhooks/{}/attempts", created["id"].as_str().unwrap());
    let attempts: Value = app.get_as(&account, &path).await.json().await.unwrap();
    let recorded: Vec<Value> = attempts["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status"].clone())
        .collect();
    assert_eq!(recorded, [json!(200), json!(503), json!(500)]);
    assert!(attempts["data"][0]["latency_ms"].is_u64());
}

/// A target that answers 429 with `Retry-After: 2` is retried after two
/// seconds, not after the schedule's 200 ms.
#[tokio::test]
async fn a_targets_retry_after_postpones_the_retry() {
    let app = TestApp::spawn().await;
    let account = app.new_account().await;
    let receiver = Receiver::start().await;
    receiver.script(&[429]);
    receiver.set_retry_after(2);
    app.create_webhook(&account, json!({"url": receiver.url}))
        .await;
    app.publish(&account, "generation_complete", generation("video"))
        .await;
    let got = receiver.wait_for(2, WAIT).await;
    assert_eq!(got[0].answered, 429);
    assert_eq!(got[1].answered, 200);
    let waited = got[1].at.duration_since(got[0].at);
    assert!(
        waited >= Duration::from_millis(1900),
        "retried after {waited:?}, before the 2 s the target asked for"
    );
}

#[tokio::test]
async fn a_delivery_whose_retries_run_out_is_marked_failed() {
    let app = TestApp::spawn().await;
    let account = app.new_account().await;
    let receiver = Receiver::start().await;
    receiver.set_default_status(500);
    app.create_webhook(&account, json!({"url": receiver.url}))
        .await;
    let published: Value = app
        .publish_accepted(&account, "generation_complete", generation("image"))
        .await;
    receiver.wait_for(4, WAIT).await;
    receiver.assert_quiet(4, Duration::from_millis(700)).await;
    let path = format!(
        "/v1/events/{}/deliveries",
        published["id"].as_str().unwrap()
    );
    let deliveries: Value = app.get_as(&account, &path).await.json().await.unwrap();
    assert_eq!(deliveries["data"][0]["state"], "failed");
    assert_eq!(deliveries["data"][0]["attempts"], 4);
    assert_eq!(deliveries["data"][0]["last_status"], 500);
}

#[tokio::test]
async fn gone_removes_zapier_n8n_and_api_subscriptions_but_not_make_ones() {
    let app = TestApp::spawn().await;
    let account = app.new_account().await;
    let (zapier, make, n8n) = (
        Receiver::start().await,
        Receiver::start().await,
        Receiver::start().await,
    );
    zapier.set_default_status(410);
    n8n.set_default_status(410);
    make.script(&[410]);
    let zap = app
        .create_hook(&account, json!({"hookUrl": zapier.url, "event": "signup"}))
        .await;
    let workflow = app
        .create_hook(
            &account,
            json!({"url": n8n.url, "event": "signup", "source": "n8n"}),
        )
        .await;
    let scenario = app
        .create_hook(
            &account,
            json!({"target_url": make.url, "event": "signup", "source": "make"}),
        )
        .await;
    app.publish(
        &account,
        "signup",
        json!({"email": "a@example.com", "plan": "free"}),
    )
    .await;
    zapier.wait_for(1, WAIT).await;
    n8n.wait_for(1, WAIT).await;
    let made = make.wait_for(2, WAIT).await;
    assert_eq!(
        made.iter().map(|r| r.answered).collect::<Vec<_>>(),
        [410, 200]
    );
    zapier.assert_quiet(1, Duration::from_millis(700)).await;
    let zap_path = format!("/v1/webhooks/{}", zap["id"].as_str().unwrap());
    expect_error(app.get_as(&account, &zap_path).await, 404, "not_found").await;
    let workflow_path = format!("/v1/webhooks/{}", workflow["id"].as_str().unwrap());
    expect_error(app.get_as(&account, &workflow_path).await, 404, "not_found").await;
    let make_path = format!("/v1/webhooks/{}", scenario["id"].as_str().unwrap());
    assert_eq!(app.get_as(&account, &make_path).await.status(), 200);
    app.publish(
        &account,
        "signup",
        json!({"email": "b@example.com", "plan": "free"}),
    )
    .await;
    make.wait_for(3, WAIT).await;
    zapier.assert_quiet(1, Duration::from_millis(300)).await;
    n8n.assert_quiet(1, Duration::from_millis(300)).await;
}

#[tokio::test]
async fn filters_route_images_one_way_and_videos_another() {
    let app = TestApp::spawn().await;
    let account = app.new_account().await;
    let (images, videos, both) = (
        Receiver::start().await,
        Receiver::start().await,
        Receiver::start().await,
    );
    for (receiver, filter) in [
        (&images, json!({"type": "image"})),
        (&videos, json!({"type": "video"})),
        (
            &both,
            json!({"type": ["image", "video"], "credits_used": 1}),
        ),
    ] {
        app.create_hook(
            &account,
            json!({"hookUrl": receiver.url, "event": "generation_complete", "filter": filter}),
        )
        .await;
    }
    app.publish(&account, "generation_complete", generation("image"))
        .await;
    let mut video = generation("video");
    video["credits_used"] = json!(5);
    app.publish(&account, "generation_complete", video).await;
    assert_eq!(images.wait_for(1, WAIT).await[0].json()["type"], "image");
    assert_eq!(videos.wait_for(1, WAIT).await[0].json()["type"], "video");
    assert_eq!(both.wait_for(1, WAIT).await[0].json()["type"], "image");
    images.assert_quiet(1, Duration::from_millis(300)).await;
    videos.assert_quiet(1, Duration::from_millis(0)).await;
    both.assert_quiet(1, Duration::from_millis(0)).await;
}

#[tokio::test]
async fn deleting_a_webhook_stops_its_pending_retries() {
    let app = TestApp::spawn_with(|c| c.retry_schedule = Some("1s,1s,1s".parse().unwrap())).await;
    let account = app.new_account().await;
    let receiver = Receiver::start().await;
    receiver.set_default_status(500);
    let created = app
        .create_webhook(&account, json!({"url": receiver.url}))
        .await;
    let published = app
        .publish_accepted(&account, "generation_complete", generation("image"))
        .await;
    receiver.wait_for(1, WAIT).await;
    let deleted = app
        .delete_as(
            &account,
            &format!("/v1/webhooks/{}", created["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(deleted.status(), 204);
    let path = format!(
        "/v1/events/{}/deliveries",
        published["id"].as_str().unwrap()
    );
    let deliveries: Value = app.get_as(&account, &path).await.json().await.unwrap();
    assert_eq!(deliveries["data"][0]["state"], "cancelled");
    receiver.assert_quiet(1, Duration::from_millis(1500)).await;
}

/// More deliveries to a hanging target than there are attempt slots in all:
/// the per-target limit keeps slots for the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_target_does_not_hold_up_the_others() {
    let app = TestApp::spawn().await;
    let (slow_account, quick_account) = (app.new_account().await, app.new_account().await);
    let (slow, quick) = (Receiver::start().await, Receiver::start().await);
    slow.set_delay(Duration::from_secs(3));
    app.create_webhook(&slow_account, json!({"url": slow.url}))
        .await;
    app.create_webhook(&quick_account, json!({"url": quick.url}))
        .await;
    for _ in 0..600 {
        let accepted = app
            .publish(&slow_account, "generation_complete", generation("video"))
            .await;
        assert_eq!(accepted.status(), 202);
    }
    for _ in 0..20 {
        app.publish(&quick_account, "generation_complete", generation("image"))
            .await;
    }
    quick.wait_for(20, Duration::from_millis(1500)).await;
    assert!(
        slow.max_concurrent() <= 32,
        "{} concurrent to one target",
        slow.max_concurrent()
    );
}

/// A slow target's backlog is taken as the target drains: no delivery is
/// given back unattempted for want of room, each is taken once (claimed,
/// or on SQLite handed over by ingest), and claims stay far fewer than
/// deliveries (before, every finished attempt claimed a batch and gave most
/// of it back).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_targets_backlog_is_claimed_as_it_drains_not_claimed_and_given_back() {
    const EVENTS: usize = 600;
    let app = TestApp::spawn().await;
    let account = app.new_account().await;
    let slow = Receiver::start().await;
    // 32 at a time, about 210 a second.
    slow.set_delay(Duration::from_millis(150));
    app.create_webhook(&account, json!({"url": slow.url})).await;
    // Published 8 at a time, so they arrive faster than the target drains.
    publish_at_once(&app, &account, EVENTS, 8).await;
    slow.wait_for(EVENTS, WAIT).await;
    assert_eq!(
        app.metric("hookbridge_dispatcher_released_total").await,
        0.0
    );
    assert_eq!(taken_once(&app).await, EVENTS as f64);
    let claims = app.metric("hookbridge_dispatcher_claims_total").await;
    assert!(
        claims < (EVENTS / 4) as f64,
        "{claims} claims for {EVENTS} deliveries"
    );
}

/// Publish `events` image events, `at_once` of them at a time.
async fn publish_at_once(app: &TestApp, account: &TestAccount, events: usize, at_once: usize) {
    for _ in 0..events / at_once {
        futures_util::future::join_all(
            (0..at_once)
                .map(|_| app.publish_accepted(account, "generation_complete", generation("image"))),
        )
        .await;
    }
}

/// How many deliveries the dispatcher took and kept: claimed, plus handed
/// over by ingest less those it gave back to be claimed.
async fn taken_once(app: &TestApp) -> f64 {
    app.metric("hookbridge_dispatcher_claimed_total").await
        + app.metric("hookbridge_dispatcher_handed_total").await
        - app.metric("hookbridge_dispatcher_handed_back_total").await
}

/// More new deliveries to a slow target than the dispatcher keeps handed
/// over: the rest stay in the store and are claimed once the handed ones
/// are done, and every event arrives once. Ingest hands each event's
/// deliveries straight to the dispatcher; past a target's queue (1,024) it
/// gives them back, and that target takes no more hand-offs until its
/// backlog is claimed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_past_the_hand_off_queue_wait_in_the_store_and_arrive_once() {
    const EVENTS: usize = 1400;
    let app = TestApp::spawn().await;
    let account = app.new_account().await;
    let slow = Receiver::start().await;
    // 32 at a time: 80 a second, slower than they are published.
    slow.set_delay(Duration::from_millis(400));
    app.create_webhook(&account, json!({"url": slow.url})).await;
    publish_at_once(&app, &account, EVENTS, 14).await;
    let handed_back = app.metric("hookbridge_dispatcher_handed_back_total").await;
    assert!(
        handed_back > 0.0,
        "the queue of handed-over deliveries never filled"
    );
    slow.wait_for(EVENTS, Duration::from_secs(60)).await;
    slow.assert_quiet(EVENTS, Duration::from_millis(500)).await;
    let ids: std::collections::BTreeSet<String> = slow
        .received()
        .iter()
        .map(|r| r.json()["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), EVENTS, "every event once");
    assert_eq!(taken_once(&app).await, EVENTS as f64);
    assert_eq!(
        app.metric("hookbridge_dispatcher_released_total").await,
        0.0
    );
}

/// A target that fails every attempt trips the circuit breaker: after a few
/// failures it is left alone (its deliveries wait without spending attempts)
/// while a healthy target of the same account gets everything; when it
/// recovers, a probe closes the circuit and every waiting delivery arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_target_trips_the_breaker_and_recovers_without_losing_deliveries() {
    const EVENTS: usize = 40;
    let app = TestApp::spawn_with(|config| {
        config.circuit_breaker_after = 3;
        config.circuit_breaker_cooldown = Duration::from_millis(400);
        config.retry_schedule = Some("200ms,200ms,200ms".parse().unwrap());
    })
    .await;
    let account = app.new_account().await;
    let (failing, healthy) = (Receiver::start().await, Receiver::start().await);
    failing.set_default_status(500);
    app.create_webhook(&account, json!({"url": failing.url}))
        .await;
    app.create_webhook(&account, json!({"url": healthy.url}))
        .await;
    for _ in 0..EVENTS {
        app.publish_accepted(&account, "generation_complete", generation("image"))
            .await;
    }
    healthy.wait_for(EVENTS, WAIT).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let tried = failing.received().len();
    assert!(
        tried < EVENTS * 2,
        "{tried} attempts at a failing target for {EVENTS} events: without the breaker \
         it would have had {} (every event, four attempts each)",
        EVENTS * 4
    );
    failing.set_default_status(200);
    let all = failing
        .wait_until(Duration::from_secs(20), |got| {
            let delivered: std::collections::HashSet<String> = got
                .iter()
                .filter(|r| r.answered == 200)
                .map(|r| r.json()["id"].as_str().unwrap().to_owned())
                .collect();
            delivered.len() == EVENTS
        })
        .await;
    assert!(all.iter().any(|r| r.answered == 500));
}

/// A target that redirects is not followed (a redirect could point anywhere,
/// a private address included): the 307 is a failed attempt, retried, and the
/// redirect's destination never hears from us.
#[tokio::test]
async fn redirects_are_not_followed() {
    let app = TestApp::spawn().await;
    let account = app.new_account().await;
    let destination = Receiver::start().await;
    let location = destination.url.clone();
    let redirector = axum::Router::new().fallback(move || {
        let location = location.clone();
        async move {
            (
                axum::http::StatusCode::TEMPORARY_REDIRECT,
                [(axum::http::header::LOCATION, location)],
            )
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, redirector).await });
    let created = app.create_webhook(&account, json!({"url": url})).await;
    app.publish(&account, "generation_complete", generation("video"))
        .await;
    let id = created["id"].as_str().unwrap();
    let statuses = crate::helpers::eventually(WAIT, || async {
        let attempts = app.attempts(&account, id).await;
        let statuses: Vec<Value> = attempts.iter().map(|a| a["status"].clone()).collect();
        (statuses.len() >= 2).then_some(statuses)
    })
    .await;
    assert!(statuses.iter().all(|s| *s == json!(307)), "{statuses:?}");
    destination
        .assert_quiet(0, Duration::from_millis(300))
        .await;
}

/// A target that accepts connections and closes them without answering, by
/// turns with a plain close and with a reset (RST): each
/// attempt is recorded with the connection error and retried, and another
/// target's deliveries are not held up.
#[tokio::test]
async fn a_target_that_drops_or_resets_connections_is_retried_and_holds_up_nobody() {
    let app = TestApp::spawn().await;
    let account = app.new_account().await;
    let healthy = Receiver::start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut reset = false;
        while let Ok((socket, _)) = listener.accept().await {
            if reset {
                socket
                    .set_zero_linger()
                    .expect("SO_LINGER 0: close with a reset");
            }
            reset = !reset;
            drop(socket);
        }
    });
    let resetting = app.create_webhook(&account, json!({"url": url})).await;
    app.create_webhook(&account, json!({"url": healthy.url}))
        .await;
    for _ in 0..10 {
        app.publish(&account, "generation_complete", generation("image"))
            .await;
    }
    healthy.wait_for(10, WAIT).await;
    let id = resetting["id"].as_str().unwrap();
    let attempts = crate::helpers::eventually(WAIT, || async {
        let attempts = app.attempts(&account, id).await;
        (attempts.len() >= 10).then_some(attempts)
    })
    .await;
    for attempt in &attempts {
        assert!(attempt["status"].is_null(), "{attempt}");
        assert!(!attempt["error"].as_str().unwrap().is_empty(), "{attempt}");
    }
}

/// Jobs waiting for a slow target's slots outlive a short lease: the
/// dispatcher renews the leases it holds, so none runs out and is claimed
/// (and delivered) a second time. Three rounds of 32 attempts of 9 s each
/// take 27 s against a 20 s lease; without renewal the third round is
/// claimed again and delivered twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_of_jobs_waiting_for_a_slow_target_are_renewed_not_claimed_twice() {
    const EVENTS: usize = 96;
    let app = TestApp::spawn_with(|config| {
        config.lease = hookbridge::config::LeaseSpan(Duration::from_secs(20));
    })
    .await;
    let account = app.new_account().await;
    let receiver = Receiver::start().await;
    receiver.set_delay(Duration::from_secs(9));
    app.create_webhook(&account, json!({"url": receiver.url}))
        .await;
    for _ in 0..EVENTS {
        app.publish_accepted(&account, "generation_complete", generation("video"))
            .await;
    }
    receiver.wait_for(EVENTS, Duration::from_secs(45)).await;
    receiver.assert_quiet(EVENTS, Duration::from_secs(12)).await;
    let ids: std::collections::BTreeSet<String> = receiver
        .received()
        .iter()
        .map(|r| r.json()["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), EVENTS, "every event once");
}

/// Outcomes recorded in one batch keep a webhook's run of failures in their
/// order: a success, a failure, then a success leave it not failing, and a
/// success then a failure leave it failing. The SQLite store clears a
/// webhook once per run of successes in a batch, and the PostgreSQL store
/// once applied a batch's successes before its failures (leaving a webhook
/// whose last attempt succeeded marked failing). Drives the store directly,
/// on both backends.
#[tokio::test]
async fn outcomes_recorded_together_keep_the_run_of_failures_in_order() {
    use hookbridge::domain::{EventId, Timestamp};
    use hookbridge::store::{
        AttemptResult, ClaimRequest, ClaimScope, Completion, NewEvent, NextStep, Store,
    };

    let database = TestDatabase::new();
    let store = database.store_with_webhook("acc_run", "sub_run").await;
    let store: &dyn Store = store.as_ref();
    let record = |outcomes: &'static [bool]| async move {
        for _ in outcomes {
            store
                .ingest(NewEvent {
                    id: EventId::generate(),
                    account_id: "acc_run".into(),
                    event_type: hookbridge::domain::EventTypeName::parse("signup").unwrap(),
                    data: json!({"email": "ada@example.com"}),
                    created_at: Timestamp::now(),
                })
                .await
                .unwrap();
        }
        let jobs = store
            .claim_due(ClaimRequest {
                lease: Duration::from_secs(60),
                total: outcomes.len(),
                scope: ClaimScope::Targets(vec![("sub_run".into(), outcomes.len())]),
            })
            .await
            .unwrap();
        assert_eq!(jobs.len(), outcomes.len());
        let completions = jobs
            .into_iter()
            .zip(outcomes)
            .map(|(job, &delivered)| Completion {
                lease: job.lease,
                account_id: "acc_run".into(),
                subscription_id: "sub_run".into(),
                event_pk: job.event_pk,
                attempt: AttemptResult {
                    started_at: Timestamp::now(),
                    status: Some(if delivered { 200 } else { 500 }),
                    latency_ms: 1,
                    response_snippet: String::new(),
                    error: None,
                    retry_after: None,
                },
                next: if delivered {
                    NextStep::Delivered
                } else {
                    NextStep::RetryAt(Timestamp::now().after(Duration::from_secs(3600)))
                },
                disable_if_failing_since: None,
                ordered: false,
                was_failing: job.subscription.failing_since.is_some(),
            })
            .collect();
        store.complete(completions).await.unwrap();
        let subscription = store
            .subscription(&"acc_run".into(), &"sub_run".into())
            .await
            .unwrap();
        subscription.unwrap().failing_since
    };
    assert_eq!(record(&[true, false, true]).await, None);
    assert!(record(&[true, false]).await.is_some());
    assert_eq!(record(&[false, true, true]).await, None);
    // A batch of successes only (one statement on PostgreSQL) ends a run too.
    assert!(record(&[false]).await.is_some());
    assert_eq!(record(&[true, true]).await, None);
}

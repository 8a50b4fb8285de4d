//! Operational webhooks: the product hears, signed and retried like any
//! delivery, when a customer's delivery runs out of attempts, a webhook is
//! auto-disabled, or a 410 removes a subscription; only the admin key
//! manages them, and bad input changes nothing.

use std::time::Duration;

use serde_json::{Value, json};
use standardwebhooks::Webhook;

use crate::helpers::{Receiver, TestApp, expect_error, generation, pointers};

const WAIT: Duration = Duration::from_secs(10);

/// Register an operational webhook for `events` at `receiver`.
async fn operational_webhook(app: &TestApp, receiver: &Receiver, events: &[&str]) -> Value {
    let response = app
        .admin_post(
            "/v1/operational-webhooks",
            &json!({"url": receiver.url, "events": events}),
        )
        .await;
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

/// The operational webhooks listed (the first page).
async fn operational_webhooks(app: &TestApp) -> Value {
    let page: Value = app
        .admin_get("/v1/operational-webhooks")
        .await
        .json()
        .await
        .unwrap();
    page["data"].clone()
}

/// The operational events `receiver` got of type `kind`, each verified
/// against `secret` with the Standard Webhooks library.
fn received_of(receiver: &Receiver, secret: &str, kind: &str) -> Vec<Value> {
    let verifier = Webhook::new(secret).unwrap();
    receiver
        .received()
        .iter()
        .filter(|r| r.answered == 200)
        .map(|r| {
            verifier.verify(&r.body, &r.headers).expect("signed");
            r.json()
        })
        .filter(|body| body["event"] == kind)
        .collect()
}

#[tokio::test]
async fn an_exhausted_delivery_is_told_with_its_account_webhook_and_event() {
    let app = TestApp::spawn().await;
    let operations = Receiver::start().await;
    let hook = operational_webhook(&app, &operations, &["delivery.exhausted"]).await;
    let secret = hook["secret"].as_str().unwrap();
    let account = app.new_account().await;
    let failing = Receiver::start().await;
    failing.set_default_status(500);
    let webhook = app
        .create_webhook(&account, json!({"url": failing.url}))
        .await;
    let published: Value = app
        .publish(&account, "generation_complete", generation("image"))
        .await
        .json()
        .await
        .unwrap();

    operations.wait_for(1, WAIT).await;
    let told = received_of(&operations, secret, "delivery.exhausted");
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0]["account_id"], account.id.as_str());
    assert_eq!(told[0]["webhook_id"], webhook["id"]);
    assert_eq!(told[0]["event_id"], published["id"]);
    assert_eq!(told[0]["event_type"], "generation_complete");
    assert_eq!(told[0]["last_status"], 500);
    assert!(told[0]["delivery_id"].as_str().unwrap().starts_with("dlv_"));
    assert_eq!(failing.received().len(), 4, "one attempt and three retries");
    operations.assert_quiet(1, Duration::from_millis(500)).await;
}

#[tokio::test]
async fn an_auto_disabled_webhook_and_a_removed_subscription_are_told() {
    let app = TestApp::spawn_with(|c| {
        c.retry_schedule = Some("150ms,150ms,150ms,150ms,150ms,150ms".parse().unwrap());
        c.auto_disable_after = "300ms".parse().unwrap();
    })
    .await;
    let operations = Receiver::start().await;
    let hook = operational_webhook(
        &app,
        &operations,
        &["webhook.disabled", "subscription.removed"],
    )
    .await;
    let secret = hook["secret"].as_str().unwrap();
    let account = app.new_account().await;
    let (failing, gone) = (Receiver::start().await, Receiver::start().await);
    failing.set_default_status(500);
    gone.set_default_status(410);
    let disabled = app
        .create_webhook(&account, json!({"url": failing.url}))
        .await;
    let removed = app
        .create_hook(
            &account,
            json!({"hookUrl": gone.url, "event": "generation_complete"}),
        )
        .await;
    app.publish(&account, "generation_complete", generation("video"))
        .await;

    operations.wait_for(2, WAIT).await;
    let told_disabled = received_of(&operations, secret, "webhook.disabled");
    assert_eq!(told_disabled.len(), 1);
    assert_eq!(told_disabled[0]["account_id"], account.id.as_str());
    assert_eq!(told_disabled[0]["webhook_id"], disabled["id"]);
    assert!(
        told_disabled[0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("every attempt failed since ")
    );
    let told_removed = received_of(&operations, secret, "subscription.removed");
    assert_eq!(told_removed.len(), 1);
    assert_eq!(told_removed[0]["webhook_id"], removed["id"]);
    assert_eq!(told_removed[0]["url"], gone.url.as_str());
    assert_eq!(told_removed[0]["source"], "zapier");
    assert!(
        received_of(&operations, secret, "delivery.exhausted").is_empty(),
        "not subscribed to exhausted deliveries"
    );
}

#[tokio::test]
async fn a_failing_operational_endpoint_is_retried_and_never_told_of_itself() {
    let app = TestApp::spawn().await;
    let operations = Receiver::start().await;
    operations.script(&[503]);
    let hook = operational_webhook(&app, &operations, &["delivery.exhausted"]).await;
    let broken = Receiver::start().await;
    broken.set_default_status(500);
    let other = Receiver::start().await;
    other.set_default_status(500);
    // A second operational webhook that always fails: its own exhausted
    // deliveries must not become operational events.
    operational_webhook(&app, &broken, &["delivery.exhausted"]).await;
    let account = app.new_account().await;
    app.create_webhook(&account, json!({"url": other.url}))
        .await;
    app.publish(&account, "generation_complete", generation("image"))
        .await;

    let got = operations.wait_for(2, WAIT).await;
    assert_eq!(got[0].answered, 503);
    assert_eq!(got[1].answered, 200, "retried like any delivery");
    assert_eq!(got[0].json()["id"], got[1].json()["id"]);
    let secret = hook["secret"].as_str().unwrap();
    assert_eq!(
        received_of(&operations, secret, "delivery.exhausted").len(),
        1
    );
    broken.wait_for(4, WAIT).await;
    operations
        .assert_quiet(2, Duration::from_millis(1500))
        .await;
    broken.assert_quiet(4, Duration::from_millis(300)).await;
}

#[tokio::test]
async fn only_the_admin_key_manages_them_and_bad_input_changes_nothing() {
    let app = TestApp::spawn().await;
    let account = app.new_account().await;
    let receiver = Receiver::start().await;
    let body = json!({"url": receiver.url, "events": ["webhook.disabled"]});
    expect_error(
        app.post_as(&account, "/v1/operational-webhooks", &body)
            .await,
        401,
        "unauthorized",
    )
    .await;
    let refused = expect_error(
        app.admin_post(
            "/v1/operational-webhooks",
            &json!({"url": "not a url", "events": ["webhook.disabled", "invoice.paid"]}),
        )
        .await,
        422,
        "invalid_subscription",
    )
    .await;
    assert_eq!(pointers(&refused), ["/url", "/events/1"]);
    expect_error(
        app.admin_post(
            "/v1/operational-webhooks",
            &json!({"url": receiver.url, "events": []}),
        )
        .await,
        422,
        "invalid_subscription",
    )
    .await;
    assert_eq!(
        operational_webhooks(&app).await,
        json!([]),
        "nothing was created"
    );

    let made: Value = app
        .admin_post(
            "/v1/operational-webhooks",
            &json!({"url": receiver.url, "events": ["webhook.disabled", "webhook.disabled"], "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(made["events"], json!(["webhook.disabled"]));
    assert_eq!(made["secret"], "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    let listed = operational_webhooks(&app).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["id"], made["id"]);
    assert!(listed[0].get("secret").is_none());

    // The operator account behind them is out of every caller's reach.
    expect_error(
        app.admin_get("/v1/accounts/acc_operator").await,
        404,
        "not_found",
    )
    .await;
    expect_error(
        app.admin_post("/v1/accounts/acc_operator/api-keys", &json!({}))
            .await,
        404,
        "not_found",
    )
    .await;
    let path = format!("/v1/operational-webhooks/{}", made["id"].as_str().unwrap());
    expect_error(app.delete_as(&account, &path).await, 401, "unauthorized").await;
    let webhook_path = format!("/v1/webhooks/{}", made["id"].as_str().unwrap());
    expect_error(app.get_as(&account, &webhook_path).await, 404, "not_found").await;
    assert_eq!(app.admin_delete(&path).await.status(), 204);
    expect_error(app.admin_delete(&path).await, 404, "not_found").await;
}

#[tokio::test]
async fn operational_webhooks_pass_the_target_guard() {
    let app = TestApp::spawn_with(|c| c.allow_private_targets = false).await;
    let refused = expect_error(
        app.admin_post(
            "/v1/operational-webhooks",
            &json!({"url": "http://169.254.169.254/latest", "events": ["delivery.exhausted"]}),
        )
        .await,
        422,
        "invalid_subscription",
    )
    .await;
    assert_eq!(pointers(&refused), ["/url"]);
}

//! Tenant isolation: account B never sees, changes or receives account A's data.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{Receiver, TestAccount, TestApp, expect_error, generation};

/// Two accounts on one service: Alice with a webhook, a REST hook and one
/// published event, Bob with a webhook of his own; each with a receiver.
struct Tenants {
    app: TestApp,
    alice: TestAccount,
    bob: TestAccount,
    alice_receiver: Receiver,
    bob_receiver: Receiver,
    webhook: Value,
    hook: Value,
    event: Value,
}

impl Tenants {
    async fn start() -> Self {
        let app = TestApp::spawn().await;
        let (alice, bob) = (app.new_account().await, app.new_account().await);
        let (alice_receiver, bob_receiver) = (Receiver::start().await, Receiver::start().await);
        let webhook = app
            .create_webhook(&alice, json!({"url": alice_receiver.url}))
            .await;
        let hook = app
            .create_hook(
                &alice,
                json!({"hookUrl": alice_receiver.url, "event": "signup"}),
            )
            .await;
        app.create_webhook(&bob, json!({"url": bob_receiver.url}))
            .await;
        let event = app
            .publish_accepted(&alice, "generation_complete", generation("image"))
            .await;
        Self {
            app,
            alice,
            bob,
            alice_receiver,
            bob_receiver,
            webhook,
            hook,
            event,
        }
    }
}

#[tokio::test]
async fn another_accounts_objects_answer_404_and_stay_untouched() {
    let Tenants {
        app,
        alice,
        bob,
        alice_receiver,
        bob_receiver,
        webhook,
        hook,
        event,
    } = Tenants::start().await;

    let webhook_path = format!("/v1/webhooks/{}", webhook["id"].as_str().unwrap());
    let event_path = format!("/v1/events/{}/deliveries", event["id"].as_str().unwrap());
    expect_error(app.get_as(&bob, &webhook_path).await, 404, "not_found").await;
    expect_error(
        app.patch_as(&bob, &webhook_path, &json!({"url": bob_receiver.url}))
            .await,
        404,
        "not_found",
    )
    .await;
    expect_error(app.delete_as(&bob, &webhook_path).await, 404, "not_found").await;
    expect_error(
        app.get_as(&bob, &format!("{webhook_path}/attempts")).await,
        404,
        "not_found",
    )
    .await;
    expect_error(app.get_as(&bob, &event_path).await, 404, "not_found").await;
    let unsubscribed: Value = app
        .delete_as(&bob, &format!("/v1/hooks/{}", hook["id"].as_str().unwrap()))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(unsubscribed["deleted"], false);

    let bobs_list: Value = app.get_as(&bob, "/v1/webhooks").await.json().await.unwrap();
    assert_eq!(bobs_list["data"].as_array().unwrap().len(), 1);
    assert!(
        !bobs_list
            .to_string()
            .contains(webhook["id"].as_str().unwrap())
    );
    let bobs_samples: Vec<Value> = app
        .get_as(&bob, "/v1/events?type=generation_complete")
        .await
        .json()
        .await
        .unwrap();
    assert!(bobs_samples.iter().all(|e| e["id"] != event["id"]));

    assert_eq!(app.get_as(&alice, &webhook_path).await.status(), 200);
    let alices_hook = format!("/v1/webhooks/{}", hook["id"].as_str().unwrap());
    assert_eq!(app.get_as(&alice, &alices_hook).await.status(), 200);
    alice_receiver.wait_for(1, Duration::from_secs(10)).await;
    bob_receiver
        .assert_quiet(0, Duration::from_millis(500))
        .await;
}

/// Which of Alice's objects an account route's `{id}` names, by path.
fn alices_object<'a>(path: &str, ids: &'a [(&'static str, String)]) -> Option<&'a str> {
    let kind = if path.starts_with("/v1/webhooks/") {
        "webhook"
    } else if path.starts_with("/v1/events/") {
        "event"
    } else if path.starts_with("/v1/deliveries/") {
        "delivery"
    } else if path.starts_with("/v1/hooks/") {
        "hook"
    } else {
        return None;
    };
    ids.iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, id)| id.as_str())
}

/// Table-driven over the OpenAPI document: every account route is called by
/// Bob with Alice's ids (404, except that unsubscribing a hook always
/// succeeds and reports `deleted: false`), every account route without an id
/// is read by Bob without a trace of Alice, and afterwards Alice's webhook is
/// unchanged and Bob's endpoint has received nothing. A new account route
/// fails this test until its id has a row here.
#[tokio::test]
async fn every_account_route_in_the_openapi_document_keeps_accounts_apart() {
    let Tenants {
        app,
        alice,
        bob,
        alice_receiver,
        bob_receiver,
        webhook,
        hook,
        event,
    } = Tenants::start().await;
    let event_id = event["id"].as_str().unwrap().to_owned();
    alice_receiver.wait_for(1, Duration::from_secs(10)).await;
    let deliveries: Value = app
        .get_as(&alice, &format!("/v1/events/{event_id}/deliveries"))
        .await
        .json()
        .await
        .unwrap();
    let ids = [
        ("webhook", webhook["id"].as_str().unwrap().to_owned()),
        ("hook", hook["id"].as_str().unwrap().to_owned()),
        ("event", event_id.clone()),
        (
            "delivery",
            deliveries["data"][0]["id"].as_str().unwrap().to_owned(),
        ),
    ];
    let alices_view: Value = app
        .get_as(&alice, &format!("/v1/webhooks/{}", ids[0].1))
        .await
        .json()
        .await
        .unwrap();

    let document = app.get_public("/openapi.json").await;
    let mut with_id = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let for_accounts = operation["security"]
                .as_array()
                .is_some_and(|s| s.iter().any(|r| r.get("api_key").is_some()));
            if !for_accounts {
                continue;
            }
            let request = |url: String| {
                app.client
                    .request(method.to_uppercase().parse().unwrap(), url)
                    .header("X-Api-Key", &bob.key)
            };
            if !path.contains('{') {
                if method != "get" {
                    continue;
                }
                let body = request(app.url(path))
                    .send()
                    .await
                    .unwrap()
                    .text()
                    .await
                    .unwrap();
                for (kind, id) in &ids {
                    assert!(
                        !body.contains(id.as_str()),
                        "GET {path} shows Bob Alice's {kind}"
                    );
                }
                continue;
            }
            let id = alices_object(path, &ids)
                .unwrap_or_else(|| panic!("{method} {path}: add its id's kind to this table"));
            let concrete = path.replace("{id}", id);
            // A valid body for each route, so ownership is what decides.
            let body = match (method.as_str(), concrete.rsplit('/').next()) {
                (_, Some("resend-failed" | "replay")) => {
                    json!({"since": "2000-01-01T00:00:00Z"})
                }
                (_, Some("test")) => json!({"event_type": "signup"}),
                ("patch", _) => json!({"url": bob_receiver.url, "description": "bob was here"}),
                _ => json!({}),
            };
            let response = request(app.url(&concrete))
                .json(&body)
                .send()
                .await
                .unwrap();
            if method == "delete" && path.starts_with("/v1/hooks/") {
                let answer: Value = response.json().await.unwrap();
                assert_eq!(answer["deleted"], false, "{method} {path}");
            } else {
                assert_eq!(response.status(), 404, "{method} {path} as another account");
            }
            with_id += 1;
        }
    }
    assert!(with_id >= 11, "only {with_id} routes with an id were tried");

    let after: Value = app
        .get_as(&alice, &format!("/v1/webhooks/{}", ids[0].1))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(after, alices_view, "Alice's webhook changed");
    assert_eq!(
        app.get_as(&alice, &format!("/v1/webhooks/{}", ids[1].1))
            .await
            .status(),
        200,
        "Alice's hook is still there"
    );
    bob_receiver
        .assert_quiet(0, Duration::from_millis(500))
        .await;
    assert_eq!(
        alice_receiver.received().len(),
        1,
        "no resend or test reached Alice"
    );
}

//! The three subscription doors: seed register, `/v1/webhooks`, `/v1/hooks`.

use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Value, json};

use crate::helpers::{Receiver, TestApp, expect_error, generation, pointers};

#[tokio::test]
async fn the_seed_register_call_works_exactly_as_documented() {
    let app = TestApp::spawn().await;
    let account = app.new_account().await;
    let response = app
        .post_as(
            &account,
            "/api/webhooks/register",
            &json!({
                "url": "https://your-server.com/hooks/zsky",
                "events": ["generation_complete", "signup", "subscription"],
                "secret": "optional_signing_secret"
            }),
        )
        .await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    assert!(body["id"].as_str().unwrap().starts_with("sub_"));
    assert_eq!(body["url"], "https://your-server.com/hooks/zsky");
    assert_eq!(
        body["events"],
        json!(["generation_complete", "signup", "subscription"])
    );
    assert_eq!(body["secret"], "optional_signing_secret");
    assert_eq!(body["source"], "api");

    let generated: Value = app
        .post_as(
            &account,
            "/api/webhooks/register",
            &json!({"url": "https://example.com/h", "events": ["signup"]}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert!(generated["secret"].as_str().unwrap().starts_with("whsec_"));
}

#[tokio::test]
async fn webhooks_crud_keeps_custom_headers_write_only() {
    let app = TestApp::spawn().await;
    let account = app.new_account().await;
    let created = app
        .create_webhook(
            &account,
            json!({"url": "https://api.myapp.com/webhooks/zipkit", "events": ["zip.completed"],
                   "description": "Production webhook", "format": "envelope",
                   "headers": {"Authorization": "Bearer very-secret-token"}}),
        )
        .await;
    let id = created["id"].as_str().unwrap();
    assert_eq!(created["header_names"], json!(["authorization"]));
    assert!(!created.to_string().contains("very-secret-token"));
    assert_eq!(created["format"], "envelope");

    let shown: Value = app
        .get_as(&account, &format!("/v1/webhooks/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert!(!shown.to_string().contains("very-secret-token"));
    assert!(
        shown.get("secret").is_none(),
        "the secret is shown only on creation"
    );
    assert_eq!(shown["description"], "Production webhook");
    assert!(shown["created_at"].as_str().unwrap().contains('T'));

    let patched = app
        .patch_as(
            &account,
            &format!("/v1/webhooks/{id}"),
            &json!({"description": "Renamed", "events": ["*"], "filter": {"object.status": "failed"}}),
        )
        .await;
    assert_eq!(patched.status(), 200);
    let patched: Value = patched.json().await.unwrap();
    assert_eq!(patched["description"], "Renamed");
    assert_eq!(patched["events"], json!(["*"]));
    assert_eq!(patched["filter"], json!({"object.status": "failed"}));
    assert_eq!(patched["header_names"], json!(["authorization"]));
    let cleared: Value = app
        .patch_as(
            &account,
            &format!("/v1/webhooks/{id}"),
            &json!({"filter": null}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(cleared["filter"], Value::Null);

    let deleted = app.delete_as(&account, &format!("/v1/webhooks/{id}")).await;
    assert_eq!(deleted.status(), 204);
    expect_error(
        app.get_as(&account, &format!("/v1/webhooks/{id}")).await,
        404,
        "not_found",
    )
    .await;
    expect_error(
        app.delete_as(&account, &format!("/v1/webhooks/{id}")).await,
        404,
        "not_found",
    )
    .await;
}

#[tokio::test]
async fn listing_is_newest_first_with_a_cursor() {
    let app = TestApp::spawn().await;
    let account = app.new_account().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let created = app
            .create_webhook(&account, json!({"url": format!("https://example.com/{i}")}))
            .await;
        ids.push(created["id"].as_str().unwrap().to_owned());
    }
    ids.reverse();
    let mut seen = Vec::new();
    let mut path = "/v1/webhooks?limit=2".to_owned();
    loop {
        let page: Value = app.get_as(&account, &path).await.json().await.unwrap();
        let items = page["data"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|w| w["id"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/webhooks?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, ids);
}

#[tokio::test]
async fn invalid_subscriptions_are_refused_with_pointers_and_not_stored() {
    let app = TestApp::spawn().await;
    let account = app.new_account().await;
    let cases = [
        (
            json!({"url": "https://example.com", "events": ["signup", "order_shipped"]}),
            "/events/1",
        ),
        (json!({"url": "not a url"}), "/url"),
        (
            json!({"url": "https://example.com", "events": ["generation_complete"], "filter": {"type": "vidoe"}}),
            "/filter/type",
        ),
        (
            json!({"url": "https://example.com", "events": ["generation_complete"], "filter": {"credits_used": ["1", 2]}}),
            "/filter/credits_used",
        ),
        (
            json!({"url": "https://example.com", "events": ["generation_complete"], "filter": {"colour": "red"}}),
            "/filter/colour",
        ),
        (
            json!({"url": "https://example.com", "filter": {"type": {"nested": true}}}),
            "/filter/type",
        ),
        (
            json!({"url": "https://example.com", "headers": {"webhook-signature": "forged"}}),
            "/headers/webhook-signature",
        ),
        (
            json!({"url": "https://example.com", "headers": {"X-Ok": 5}}),
            "/headers/X-Ok",
        ),
        (
            json!({"url": "https://example.com", "secret": "has space"}),
            "/secret",
        ),
    ];
    for (body, pointer) in cases {
        let error = expect_error(
            app.post_as(&account, "/v1/webhooks", &body).await,
            422,
            "invalid_subscription",
        )
        .await;
        assert!(
            pointers(&error).iter().any(|p| p == pointer),
            "{body}: {error}"
        );
    }
    let error = expect_error(
        app.post_as(
            &account,
            "/v1/webhooks",
            &json!({"url": "https://example.com", "colour": 1}),
        )
        .await,
        422,
        "invalid_request",
    )
    .await;
    assert!(error["message"].as_str().unwrap().contains("colour"));
    let list: Value = app
        .get_as(&account, "/v1/webhooks")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["data"], json!([]));
}

#[tokio::test]
async fn rest_hooks_accept_each_url_name_and_record_the_source() {
    let app = TestApp::spawn().await;
    let account = app.new_account().await;
    let cases = [
        (
            json!({"hookUrl": "https://hooks.zapier.com/hooks/standard/1/abc", "event": "generation_complete"}),
            "zapier",
        ),
        (
            json!({"target_url": "https://hook.eu1.make.com/xyz", "event": "signup"}),
            "make",
        ),
        (
            json!({"url": "https://example.com/raw", "event": "subscription"}),
            "api",
        ),
        (
            json!({"url": "https://n8n.example.com/webhook/abc/webhook", "event": "*", "source": "n8n"}),
            "n8n",
        ),
        (
            json!({"hookUrl": "https://example.com/z", "event": "*", "filter": {"type": "video"}}),
            "zapier",
        ),
    ];
    for (body, source) in cases {
        let response = app.post_as(&account, "/v1/hooks", &body).await;
        assert_eq!(response.status(), 201);
        let created: Value = response.json().await.unwrap();
        assert_eq!(created["source"], source, "{body}");
        assert!(created["secret"].as_str().unwrap().starts_with("whsec_"));
        assert_eq!(created["event"], body["event"]);
        if body["filter"] == json!({"type": []}) {
            assert_eq!(
                created["filter"],
                Value::Null,
                "a filter constraining nothing is no filter"
            );
        }
    }
    let error = expect_error(
        app.post_as(
            &account,
            "/v1/hooks",
            &json!({"hookUrl": "https://example.com", "event": "nope"}),
        )
        .await,
        422,
        "invalid_subscription",
    )
    .await;
    assert_eq!(error["details"][0]["pointer"], "/event");
    let error = expect_error(
        app.post_as(
            &account,
            "/v1/hooks",
            &json!({"hookUrl": "ftp://example.com", "event": "signup"}),
        )
        .await,
        422,
        "invalid_subscription",
    )
    .await;
    assert_eq!(error["details"][0]["pointer"], "/hookUrl");
    expect_error(
        app.post_as(&account, "/v1/hooks", &json!({"event": "signup"}))
            .await,
        422,
        "invalid_request",
    )
    .await;
}

#[tokio::test]
async fn unsubscribing_a_hook_never_fails_twice() {
    let app = TestApp::spawn().await;
    let account = app.new_account().await;
    let created = app
        .create_hook(
            &account,
            json!({"hookUrl": "https://hooks.zapier.com/x", "event": "signup"}),
        )
        .await;
    let id = created["id"].as_str().unwrap();
    let first = app.delete_as(&account, &format!("/v1/hooks/{id}")).await;
    assert_eq!(first.status(), 200);
    assert_eq!(first.json::<Value>().await.unwrap()["deleted"], true);
    let second = app.delete_as(&account, &format!("/v1/hooks/{id}")).await;
    assert_eq!(second.status(), 200);
    assert_eq!(second.json::<Value>().await.unwrap()["deleted"], false);
    expect_error(
        app.get_as(&account, &format!("/v1/webhooks/{id}")).await,
        404,
        "not_found",
    )
    .await;
}

/// A changed filter governs the very next event while other events of the
/// same account are published beside it, each of which may read the
/// account's webhooks into the service's caches at any moment.
#[tokio::test]
async fn a_changed_filter_routes_the_next_event_while_others_are_published_beside_it() {
    let app = TestApp::spawn().await;
    let account = app.new_account().await;
    let receiver = Receiver::start().await;
    let created = app
        .create_webhook(
            &account,
            json!({"url": receiver.url, "filter": {"user_id": "user_0"}}),
        )
        .await;
    let path = format!("/v1/webhooks/{}", created["id"].as_str().unwrap());
    let for_user = |user: &str| {
        let mut data = generation("image");
        data["user_id"] = json!(user);
        data
    };
    let done = AtomicBool::new(false);
    let beside = async {
        let mut published = 0;
        while !done.load(Ordering::Relaxed) {
            app.publish_accepted(&account, "generation_complete", for_user("nobody"))
                .await;
            published += 1;
        }
        published
    };
    let changes = async {
        for change in 1..=60 {
            app.patch_webhook(
                &account,
                &path,
                json!({"filter": {"user_id": format!("user_{change}")}}),
            )
            .await;
            for (user, deliveries) in [(change, 1), (change - 1, 0)] {
                let user = format!("user_{user}");
                let accepted = app
                    .publish_accepted(&account, "generation_complete", for_user(&user))
                    .await;
                assert_eq!(
                    accepted["deliveries"], deliveries,
                    "after change {change}, an event for {user}"
                );
            }
        }
        done.store(true, Ordering::Relaxed);
    };
    let (published, ()) = tokio::join!(beside, changes);
    assert!(published > 0, "events were published beside the changes");
}

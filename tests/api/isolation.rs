//! Tenant isolation: account B never sees, changes or receives account A's data.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{Receiver, TestApp, expect_error, generation};

#[tokio::test]
async fn another_accounts_objects_answer_404_and_stay_untouched() {
    let app = TestApp::spawn().await;
    let (alice, bob) = (app.new_account().await, app.new_account().await);
    let alice_receiver = Receiver::start().await;
    let bob_receiver = Receiver::start().await;
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
    let event: Value = app
        .publish_accepted(&alice, "generation_complete", generation("image"))
        .await;

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

//! Sample polling (`GET /v1/events?type=T`) for Zapier and Make.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{Receiver, TestApp, expect_error, generation};

#[tokio::test]
async fn examples_stand_in_until_real_events_exist() {
    let app = TestApp::spawn().await;
    let account = app.new_account().await;
    let samples: Vec<Value> = app
        .get_as(&account, "/v1/events?type=generation_complete")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(samples.len(), 2);
    assert_eq!(samples[0]["event"], "generation_complete");
    assert_eq!(samples[0]["generation_id"], "gen_9f3a2b");
    assert!(samples[0]["id"].is_string() && samples[0]["timestamp"].is_i64());
}

#[tokio::test]
async fn recent_events_come_newest_first_exactly_as_delivered() {
    let app = TestApp::spawn().await;
    let account = app.new_account().await;
    let receiver = Receiver::start().await;
    app.create_webhook(
        &account,
        json!({"url": receiver.url, "events": ["generation_complete"]}),
    )
    .await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let mut data = generation("image");
        data["credits_used"] = json!(i);
        let accepted: Value = app
            .publish_accepted(&account, "generation_complete", data)
            .await;
        ids.push(accepted["id"].clone());
    }
    app.publish(
        &account,
        "signup",
        json!({"email": "a@example.com", "plan": "free"}),
    )
    .await;
    let recent: Vec<Value> = app
        .get_as(&account, "/v1/events?type=generation_complete")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(recent.len(), 3, "the default limit is 3");
    let newest: Vec<Value> = recent.iter().map(|e| e["id"].clone()).collect();
    assert_eq!(newest, [ids[4].clone(), ids[3].clone(), ids[2].clone()]);
    let all: Vec<Value> = app
        .get_as(&account, "/v1/events?type=generation_complete&limit=100")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all.len(), 5);
    let delivered = receiver.wait_for(5, Duration::from_secs(10)).await;
    let newest_delivery = delivered.iter().find(|r| r.json()["id"] == ids[4]).unwrap();
    assert_eq!(
        recent[0],
        newest_delivery.json(),
        "a sample is the flat delivery body"
    );
}

#[tokio::test]
async fn polling_needs_a_known_type() {
    let app = TestApp::spawn().await;
    let account = app.new_account().await;
    expect_error(
        app.get_as(&account, "/v1/events?type=nope").await,
        422,
        "unknown_event_type",
    )
    .await;
    expect_error(
        app.get_as(&account, "/v1/events?type=signup&limit=ten")
            .await,
        400,
        "invalid_query",
    )
    .await;
}

#[tokio::test]
async fn without_a_type_polling_covers_every_type() {
    let app = TestApp::spawn().await;
    let account = app.new_account().await;
    let samples: Vec<Value> = app
        .get_as(&account, "/v1/events?limit=100")
        .await
        .json()
        .await
        .unwrap();
    let types: std::collections::BTreeSet<&str> = samples
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(types.len(), 4, "examples of every type: {types:?}");
    app.publish(
        &account,
        "signup",
        json!({"email": "a@example.com", "plan": "free"}),
    )
    .await;
    app.publish(&account, "generation_complete", generation("video"))
        .await;
    let recent: Vec<Value> = app
        .get_as(&account, "/v1/events")
        .await
        .json()
        .await
        .unwrap();
    let events: Vec<&str> = recent
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["generation_complete", "signup"]);
}

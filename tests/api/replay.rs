//! Replaying a time window's events to a webhook: the ones it never got
//! (`missing`), everything again (`all`), what failed (`failed`); the
//! window's bounds, validation and ownership.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use hookbridge::domain::{Timestamp, rfc3339};

use crate::helpers::{
    Receiver, TestAccount, TestApp, eventually, expect_error, generation, pointers,
};

const WAIT: Duration = Duration::from_secs(10);

/// Long enough for a delivery made due by mistake to have arrived.
const QUIET: Duration = Duration::from_millis(500);

/// The current time as RFC 3339, after a pause so that it falls strictly
/// between what was published before and what is published after.
async fn marker() -> String {
    tokio::time::sleep(Duration::from_millis(20)).await;
    let now = rfc3339(Timestamp::now());
    tokio::time::sleep(Duration::from_millis(20)).await;
    now
}

/// Publish `generation_complete` of `kind` for `account`; the event id.
async fn publish(app: &TestApp, account: &TestAccount, kind: &str) -> String {
    let published = app
        .publish_accepted(account, "generation_complete", generation(kind))
        .await;
    published["id"].as_str().unwrap().to_owned()
}

/// A webhook of `account` to `receiver` for video generations only; its id.
async fn videos_webhook(app: &TestApp, account: &TestAccount, receiver: &Receiver) -> String {
    let created = app
        .create_webhook(
            account,
            json!({"url": receiver.url, "events": ["generation_complete"],
                   "filter": {"type": "video"}}),
        )
        .await;
    created["id"].as_str().unwrap().to_owned()
}

/// `POST /v1/webhooks/{webhook}/replay` with `body`, which must be
/// accepted; how many deliveries it made due.
async fn replay(app: &TestApp, account: &TestAccount, webhook: &str, body: Value) -> u64 {
    let response = app
        .post_as(account, &format!("/v1/webhooks/{webhook}/replay"), &body)
        .await;
    assert_eq!(response.status(), 202, "{:?}", response.text().await);
    let answer: Value = response.json().await.unwrap();
    answer["replayed"].as_u64().expect("a count")
}

/// Wait until the event's delivery (its first) is in `state`: its attempt
/// recorded, not merely received.
async fn wait_for_state(app: &TestApp, account: &TestAccount, event_id: &str, state: &str) {
    let deliveries = format!("/v1/events/{event_id}/deliveries");
    eventually(WAIT, || async {
        let listed: Value = app.get_as(account, &deliveries).await.json().await.unwrap();
        (listed["data"][0]["state"] == state).then_some(())
    })
    .await;
}

/// Assert that nothing reached `receiver` and that the one event published
/// since `since` is still missing from `webhook`: what was refused changed
/// nothing.
async fn assert_one_still_missing(
    app: &TestApp,
    account: &TestAccount,
    webhook: &str,
    receiver: &Receiver,
    since: &str,
) {
    receiver.assert_quiet(0, QUIET).await;
    let missing = json!({"since": since, "only": "missing"});
    assert_eq!(replay(app, account, webhook, missing).await, 1);
}

/// How many times each event id arrived at `receiver`.
fn arrivals(receiver: &Receiver) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for delivery in receiver.received() {
        let id = delivery.json()["id"].as_str().unwrap().to_owned();
        assert_eq!(
            delivery.headers["webhook-id"].to_str().unwrap(),
            id,
            "the webhook-id header is the event id"
        );
        *counts.entry(id).or_default() += 1;
    }
    counts
}

/// Each of `ids` once.
fn once_each(ids: &[&String]) -> BTreeMap<String, usize> {
    ids.iter().map(|id| ((*id).clone(), 1)).collect()
}

#[tokio::test]
async fn replay_missing_delivers_earlier_matching_events_once_with_their_ids() {
    let app = TestApp::spawn().await;
    let account = app.new_account().await;
    let since = marker().await;
    let first_video = publish(&app, &account, "video").await;
    publish(&app, &account, "image").await;
    let second_video = publish(&app, &account, "video").await;
    let signup = app.get_public("/v1/event-types/signup").await["examples"][0].clone();
    app.publish_accepted(&account, "signup", signup).await;
    let other_account = app.new_account().await;
    publish(&app, &other_account, "video").await;

    let receiver = Receiver::start().await;
    let webhook = videos_webhook(&app, &account, &receiver).await;
    let replayed = replay(
        &app,
        &account,
        &webhook,
        json!({"since": since, "only": "missing"}),
    )
    .await;
    assert_eq!(
        replayed, 2,
        "the two videos, not the image, signup or other account's"
    );
    receiver.wait_for(2, WAIT).await;
    receiver.assert_quiet(2, QUIET).await;
    assert_eq!(
        arrivals(&receiver),
        once_each(&[&first_video, &second_video])
    );
}

#[tokio::test]
async fn replay_missing_twice_replays_nothing_the_second_time() {
    let app = TestApp::spawn().await;
    let account = app.new_account().await;
    let since = marker().await;
    let video = publish(&app, &account, "video").await;
    let receiver = Receiver::start().await;
    let webhook = videos_webhook(&app, &account, &receiver).await;
    let body = json!({"since": since, "only": "missing"});

    assert_eq!(replay(&app, &account, &webhook, body.clone()).await, 1);
    receiver.wait_for(1, WAIT).await;
    assert_eq!(replay(&app, &account, &webhook, body).await, 0);
    receiver.assert_quiet(1, QUIET).await;
    assert_eq!(arrivals(&receiver), once_each(&[&video]));
}

#[tokio::test]
async fn replay_all_redelivers_events_already_delivered() {
    let app = TestApp::spawn().await;
    let account = app.new_account().await;
    let receiver = Receiver::start().await;
    let webhook = videos_webhook(&app, &account, &receiver).await;
    let since = marker().await;
    let first = publish(&app, &account, "video").await;
    let second = publish(&app, &account, "video").await;
    for delivered in [&first, &second] {
        wait_for_state(&app, &account, delivered, "delivered").await;
    }

    assert_eq!(
        replay(&app, &account, &webhook, json!({"since": since})).await,
        2
    );
    receiver.wait_for(4, WAIT).await;
    receiver.assert_quiet(4, QUIET).await;
    let twice: BTreeMap<String, usize> = [(first, 2), (second, 2)].into();
    assert_eq!(arrivals(&receiver), twice);
}

#[tokio::test]
async fn replay_failed_resends_what_failed_in_the_window() {
    let app = TestApp::spawn().await;
    let account = app.new_account().await;
    let receiver = Receiver::start().await;
    receiver.set_default_status(503);
    let webhook = videos_webhook(&app, &account, &receiver).await;
    let since = marker().await;
    let video = publish(&app, &account, "video").await;
    // Its retries take 600 ms at least (three, 200 ms apart), so it fails
    // after this.
    let before_it_failed = marker().await;
    wait_for_state(&app, &account, &video, "failed").await;
    let attempts = receiver.received().len();
    receiver.set_default_status(200);

    let ended_before = json!({"since": since, "until": before_it_failed, "only": "failed"});
    assert_eq!(replay(&app, &account, &webhook, ended_before).await, 0);
    let started_after = json!({"since": marker().await, "only": "failed"});
    assert_eq!(replay(&app, &account, &webhook, started_after).await, 0);
    receiver.assert_quiet(attempts, QUIET).await;
    let covering = json!({"since": since, "only": "failed"});
    assert_eq!(replay(&app, &account, &webhook, covering).await, 1);
    let received = receiver.wait_for(attempts + 1, WAIT).await;
    receiver.assert_quiet(attempts + 1, QUIET).await;
    let last = received.last().unwrap();
    assert_eq!(
        (last.answered, last.json()["id"].clone()),
        (200, json!(video))
    );
}

#[tokio::test]
async fn replay_keeps_to_the_window_of_publish_times() {
    let app = TestApp::spawn().await;
    let account = app.new_account().await;
    let since = marker().await;
    publish(&app, &account, "video").await;
    let start = marker().await;
    let inside = publish(&app, &account, "video").await;
    let end = marker().await;
    publish(&app, &account, "video").await;
    let receiver = Receiver::start().await;
    let webhook = videos_webhook(&app, &account, &receiver).await;

    let window = json!({"since": start, "until": end, "only": "missing"});
    assert_eq!(replay(&app, &account, &webhook, window).await, 1);
    receiver.wait_for(1, WAIT).await;
    receiver.assert_quiet(1, QUIET).await;
    assert_eq!(arrivals(&receiver), once_each(&[&inside]));
    let everything = json!({"since": since, "only": "missing"});
    assert_eq!(
        replay(&app, &account, &webhook, everything).await,
        2,
        "the two outside the window were left"
    );
}

#[tokio::test]
async fn replay_refuses_invalid_bodies_with_422_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let account = app.new_account().await;
    let since = marker().await;
    publish(&app, &account, "video").await;
    let receiver = Receiver::start().await;
    let webhook = videos_webhook(&app, &account, &receiver).await;
    let path = format!("/v1/webhooks/{webhook}/replay");
    let now = marker().await;
    let cases = [
        (json!({"since": "yesterday"}), "/since"),
        (json!({"since": since, "until": "tomorrow"}), "/until"),
        (json!({"since": since, "only": "some"}), "/only"),
        (json!({"since": now, "until": since}), "/until"),
        (json!({"since": "2999-01-01T00:00:00Z"}), "/since"),
        (json!({"until": now}), ""),
        (json!({"since": since, "from": now}), ""),
    ];
    for (body, pointer) in cases {
        let error = expect_error(
            app.post_as(&account, &path, &body).await,
            422,
            "invalid_request",
        )
        .await;
        if !pointer.is_empty() {
            assert_eq!(pointers(&error), [pointer], "{body}");
        }
    }
    assert_one_still_missing(&app, &account, &webhook, &receiver, &since).await;
}

#[tokio::test]
async fn replay_of_another_accounts_webhook_is_404_and_delivers_nothing() {
    let app = TestApp::spawn().await;
    let alice = app.new_account().await;
    let bob = app.new_account().await;
    let since = marker().await;
    publish(&app, &alice, "video").await;
    publish(&app, &bob, "video").await;
    let receiver = Receiver::start().await;
    let webhook = videos_webhook(&app, &alice, &receiver).await;

    for only in ["failed", "missing", "all"] {
        let response = app
            .post_as(
                &bob,
                &format!("/v1/webhooks/{webhook}/replay"),
                &json!({"since": since, "only": only}),
            )
            .await;
        expect_error(response, 404, "not_found").await;
    }
    assert_one_still_missing(&app, &alice, &webhook, &receiver, &since).await;
}

#[tokio::test]
async fn replay_to_a_disabled_webhook_waits_until_it_is_enabled() {
    let app = TestApp::spawn().await;
    let account = app.new_account().await;
    let receiver = Receiver::start().await;
    let webhook = videos_webhook(&app, &account, &receiver).await;
    let path = format!("/v1/webhooks/{webhook}");
    let disabled = app
        .patch_as(&account, &path, &json!({"enabled": false}))
        .await;
    assert_eq!(disabled.status(), 200);
    let since = marker().await;
    let video = publish(&app, &account, "video").await;

    let body = json!({"since": since, "only": "missing"});
    assert_eq!(replay(&app, &account, &webhook, body).await, 1);
    receiver.assert_quiet(0, QUIET).await;
    let enabled = app
        .patch_as(&account, &path, &json!({"enabled": true}))
        .await;
    assert_eq!(enabled.status(), 200);
    receiver.wait_for(1, WAIT).await;
    receiver.assert_quiet(1, QUIET).await;
    assert_eq!(arrivals(&receiver), once_each(&[&video]));
}

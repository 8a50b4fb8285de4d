//! Per-account rate limits: 429 with `Retry-After`, counted per account, and
//! nothing stored for a refused publish.

use serde_json::Value;

use crate::helpers::{TestApp, generation};

#[tokio::test]
async fn an_account_over_its_request_limit_gets_429_with_retry_after_and_others_do_not() {
    let app = TestApp::spawn_with(|config| config.rate_limit = 2).await;
    let (busy, quiet) = (app.new_account().await, app.new_account().await);
    let mut statuses = Vec::new();
    let mut refusal = None;
    for _ in 0..40 {
        let response = app.get_as(&busy, "/v1/me").await;
        statuses.push(response.status().as_u16());
        if response.status() == 429 && refusal.is_none() {
            let retry_after = response.headers()["retry-after"]
                .to_str()
                .unwrap()
                .to_owned();
            refusal = Some((retry_after, response.json::<Value>().await.unwrap()));
        }
    }
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert!(refused >= 15, "{statuses:?}");
    assert!(
        statuses[..4].iter().all(|s| *s == 200),
        "a burst of twice the rate passes: {statuses:?}"
    );
    let (retry_after, body) = refusal.unwrap();
    assert!(retry_after.parse::<u64>().unwrap() >= 1);
    assert_eq!(body["error"]["code"], "rate_limited");
    assert_eq!(app.get_as(&quiet, "/v1/me").await.status(), 200);
}

#[tokio::test]
async fn publishing_over_an_accounts_limit_is_refused_and_stores_nothing() {
    let app = TestApp::spawn_with(|config| config.publish_rate_limit = 2).await;
    let (busy, quiet) = (app.new_account().await, app.new_account().await);
    let mut accepted = 0;
    let mut refused = 0;
    for _ in 0..40 {
        match app
            .publish(&busy, "generation_complete", generation("image"))
            .await
            .status()
            .as_u16()
        {
            202 => accepted += 1,
            429 => refused += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert!(
        refused >= 15 && accepted >= 4,
        "{accepted} accepted, {refused} refused"
    );
    let stored: Vec<Value> = app
        .get_as(&busy, "/v1/events?type=generation_complete&limit=100")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stored.len(), accepted, "only accepted events are stored");
    assert_eq!(
        app.publish(&quiet, "generation_complete", generation("image"))
            .await
            .status(),
        202
    );
}

//! Secrets stay out of the logs: the real binary at debug level, through a
//! flow that handles every kind of secret.

use serde_json::{Value, json};

use crate::helpers::{ADMIN_KEY, BinaryApp, Receiver, TestDatabase, generation};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_secrets_and_custom_headers_never_reach_the_logs() {
    let database = TestDatabase::new();
    let log = database.dir.path().join("hookbridge.log");
    let mut app = BinaryApp::start_logging_to(&database, &log);
    let receiver = Receiver::start().await;
    let api = app.api();
    let account = api.new_account().await;
    let header_value = "Bearer custom-header-value-7f3a9c";
    let created = api
        .create_webhook(
            &account,
            json!({"url": receiver.url, "secret": "chosen-signing-secret-41b2",
                   "headers": {"Authorization": header_value}}),
        )
        .await;
    let rotate = format!(
        "/v1/webhooks/{}/rotate-secret",
        created["id"].as_str().unwrap()
    );
    let rotated: Value = api
        .post_as(&account, &rotate, &json!({}))
        .await
        .json()
        .await
        .unwrap();
    api.publish_accepted(&account, "generation_complete", generation("image"))
        .await;
    receiver
        .wait_for(1, std::time::Duration::from_secs(10))
        .await;
    let wrong = api
        .client
        .get(api.url("/v1/me"))
        .header("X-Api-Key", "hb_wrong-key-value-5d1e")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert!(app.terminate().success());

    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.lines().count() > 5,
        "debug logging was on:\n{logged}"
    );
    for secret in [
        ADMIN_KEY,
        account.key.as_str(),
        "chosen-signing-secret-41b2",
        rotated["secret"].as_str().unwrap(),
        "custom-header-value-7f3a9c",
        "wrong-key-value-5d1e",
    ] {
        assert!(!logged.contains(secret), "{secret} appears in the logs");
    }
}

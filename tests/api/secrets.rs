//! Secrets stay out of the logs: the real binary at debug level, through a
//! flow that handles every kind of secret.

use serde_json::{Value, json};

use crate::helpers::{ADMIN_KEY, BinaryApp, Receiver, client, generation, temp_database};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_secrets_and_custom_headers_never_reach_the_logs() {
    let (dir, database) = temp_database();
    let log = dir.path().join("hookbridge.log");
    let mut app = BinaryApp::start_logging_to(&database, &log);
    let receiver = Receiver::start().await;
    let http = client();
    let admin = |path: &str| http.post(app.url(path)).bearer_auth(ADMIN_KEY);

    let account: Value = admin("/v1/accounts")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let account_id = account["id"].as_str().unwrap();
    let key: Value = admin(&format!("/v1/accounts/{account_id}/api-keys"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = key["key"].as_str().unwrap();
    let header_value = "Bearer custom-header-value-7f3a9c";
    let created: Value = http
        .post(app.url("/v1/webhooks"))
        .header("X-Api-Key", key)
        .json(&json!({"url": receiver.url, "secret": "chosen-signing-secret-41b2", "headers": {"Authorization": header_value}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap();
    let rotated: Value = http
        .post(app.url(&format!("/v1/webhooks/{id}/rotate-secret")))
        .header("X-Api-Key", key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let published = admin("/v1/events")
        .json(&json!({"type": "generation_complete", "account_id": account_id, "data": generation("image")}))
        .send()
        .await
        .unwrap();
    assert_eq!(published.status(), 202);
    receiver
        .wait_for(1, std::time::Duration::from_secs(10))
        .await;
    let wrong = http
        .get(app.url("/v1/me"))
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
        key,
        "chosen-signing-secret-41b2",
        rotated["secret"].as_str().unwrap(),
        "custom-header-value-7f3a9c",
        "wrong-key-value-5d1e",
    ] {
        assert!(!logged.contains(secret), "{secret} appears in the logs");
    }
}

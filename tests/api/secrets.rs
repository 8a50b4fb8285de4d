//! Secrets stay out of the logs and out of the database in clear: the real
//! binary at debug level, through a flow that handles every kind of secret;
//! then the stored rows, and a restart under a rotated encryption key.

use serde_json::{Value, json};

use hookbridge::store::sealing::EncryptionKey;

use crate::helpers::{ADMIN_KEY, BinaryApp, Receiver, TestDatabase, generation, postgres_backend};

/// Everything the database holds, as text: the SQLite files (database and
/// write-ahead log), or a dump of PostgreSQL's subscriptions table.
fn stored_text(database: &TestDatabase) -> String {
    if postgres_backend() {
        let out = std::process::Command::new("psql")
            .args([database.url.as_str(), "-c", "SELECT * FROM subscriptions"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        return String::from_utf8_lossy(&out.stdout).into_owned();
    }
    let mut text = String::new();
    for entry in std::fs::read_dir(database.dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.to_string_lossy().contains("hookbridge.db") && !path.ends_with(".key") {
            text += &String::from_utf8_lossy(&std::fs::read(&path).unwrap());
        }
    }
    text
}

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

    let stored = stored_text(&database);
    assert!(
        stored.contains(created["id"].as_str().unwrap()),
        "the dump holds the row"
    );
    for secret in [
        "chosen-signing-secret-41b2",
        rotated["secret"].as_str().unwrap(),
        "custom-header-value-7f3a9c",
    ] {
        assert!(!stored.contains(secret), "{secret} is stored in clear");
    }

    // Rotate the encryption key: the old one stays readable, so the stored
    // custom header still reaches the target after a restart.
    let old_key = match &database.encryption_key {
        Some(key) => key.clone(),
        None => {
            let file = database.dir.path().join("hookbridge.db.key");
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(&file).unwrap().permissions().mode();
                assert_eq!(mode & 0o777, 0o600, "only the owner reads the key file");
            }
            std::fs::read_to_string(file).unwrap().trim().to_owned()
        }
    };
    let new_key = EncryptionKey::generate().encoded();
    let mut database = database;
    database.encryption_key = Some(new_key);
    let restarted = BinaryApp::start(&database, &["--old-encryption-keys", &old_key]);
    restarted
        .api()
        .publish_accepted(&account, "generation_complete", generation("video"))
        .await;
    let deliveries = receiver
        .wait_for(2, std::time::Duration::from_secs(10))
        .await;
    assert_eq!(deliveries[1].headers["authorization"], header_value);
}

/// Restarted under a different encryption key without the old one listed, a
/// node cannot read webhooks sealed under the old key: they wait (with an
/// error in the log), and webhooks it can read keep receiving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_sealed_under_a_missing_key_does_not_stall_the_others() {
    let mut database = TestDatabase::new();
    database.encryption_key = Some(EncryptionKey::generate().encoded());
    let (old, new) = (Receiver::start().await, Receiver::start().await);
    let mut first = BinaryApp::start(&database, &[]);
    let account = first.api().new_account().await;
    first
        .api()
        .create_webhook(&account, json!({"url": old.url}))
        .await;
    assert!(first.terminate().success());

    database.encryption_key = Some(EncryptionKey::generate().encoded());
    let second = BinaryApp::start(&database, &[]);
    let api = second.api();
    api.create_webhook(&account, json!({"url": new.url})).await;
    for _ in 0..3 {
        api.publish_accepted(&account, "generation_complete", generation("image"))
            .await;
    }
    new.wait_for(3, std::time::Duration::from_secs(10)).await;
    old.assert_quiet(0, std::time::Duration::from_millis(500))
        .await;
}

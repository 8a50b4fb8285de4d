//! Secrets stay out of the logs and out of the database in clear: the real
//! binary at debug level, through a flow that handles every kind of secret;
//! then the stored rows, and a restart under a rotated encryption key.

use serde_json::{Value, json};

use hookbridge::store::sealing::EncryptionKey;

use crate::helpers::{
    ADMIN_KEY, BinaryApp, Receiver, TestDatabase, generation, postgres_backend,
    seed_header_is_signed_by,
};

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

/// Run `sql` on the database directly, the service stopped.
fn run_sql(database: &TestDatabase, sql: &str) {
    if postgres_backend() {
        let out = std::process::Command::new("psql")
            .args([database.url.as_str(), "-v", "ON_ERROR_STOP=1", "-c", sql])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    } else {
        rusqlite::Connection::open(database.dir.path().join("hookbridge.db"))
            .unwrap()
            .execute_batch(sql)
            .unwrap();
    }
}

/// One value read directly from the database.
fn read_sql(database: &TestDatabase, sql: &str) -> String {
    if postgres_backend() {
        let out = std::process::Command::new("psql")
            .args([database.url.as_str(), "-At", "-c", sql])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        return String::from_utf8_lossy(&out.stdout).trim().to_owned();
    }
    rusqlite::Connection::open(database.dir.path().join("hookbridge.db"))
        .unwrap()
        .query_row(sql, [], |row| row.get(0))
        .unwrap()
}

/// A sealed secret copied into another webhook's row, or into another
/// column of its own row, does not open: that webhook is unreadable (500,
/// and nothing is delivered to it), the others work. A plain value left by
/// an old version is bound to its row in place at the next start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sealed_values_open_only_in_their_own_row_and_column() {
    let database = TestDatabase::new();
    let (to_a, to_b) = (Receiver::start().await, Receiver::start().await);
    let mut first = BinaryApp::start(&database, &[]);
    let api = first.api();
    let account = api.new_account().await;
    let a = api
        .create_webhook(
            &account,
            json!({"url": to_a.url, "secret": "secret-of-webhook-a-5b1e"}),
        )
        .await;
    let b = api
        .create_webhook(
            &account,
            json!({"url": to_b.url, "secret": "secret-of-webhook-b-9c4d"}),
        )
        .await;
    let (a, b) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap());
    assert!(first.terminate().success());

    run_sql(
        &database,
        &format!(
            "UPDATE subscriptions SET secret = (SELECT secret FROM subscriptions WHERE id = '{a}')
             WHERE id = '{b}'"
        ),
    );
    let mut second = BinaryApp::start(&database, &[]);
    let api = second.api();
    let swapped = api.get_as(&account, &format!("/v1/webhooks/{b}")).await;
    assert_eq!(swapped.status(), 500, "a swapped secret does not open");
    let kept = api.get_as(&account, &format!("/v1/webhooks/{a}")).await;
    assert_eq!(kept.status(), 200);
    api.publish_accepted(&account, "generation_complete", generation("image"))
        .await;
    let delivered = to_a.wait_for(1, std::time::Duration::from_secs(10)).await;
    assert!(seed_header_is_signed_by(
        "secret-of-webhook-a-5b1e",
        &delivered[0]
    ));
    to_b.assert_quiet(0, std::time::Duration::from_millis(500))
        .await;
    assert!(second.terminate().success());

    // Another column of the same row: A's secret as its headers.
    run_sql(
        &database,
        &format!("UPDATE subscriptions SET headers = secret WHERE id = '{a}'"),
    );
    // An old version's plain value, and a database not yet bound.
    run_sql(
        &database,
        &format!(
            "UPDATE subscriptions SET secret = 'legacy-plain-secret-0a7f' WHERE id = '{b}';
             DELETE FROM settings WHERE key = 'sealed_values_bound'"
        ),
    );
    let third = BinaryApp::start(&database, &[]);
    let api = third.api();
    let moved = api.get_as(&account, &format!("/v1/webhooks/{a}")).await;
    assert_eq!(
        moved.status(),
        500,
        "a value moved to another column does not open"
    );
    let bound = read_sql(
        &database,
        &format!("SELECT secret FROM subscriptions WHERE id = '{b}'"),
    );
    assert!(bound.starts_with("enc:v2:"), "bound in place: {bound}");
    api.publish_accepted(&account, "generation_complete", generation("video"))
        .await;
    let delivered = to_b.wait_for(1, std::time::Duration::from_secs(10)).await;
    assert!(seed_header_is_signed_by(
        "legacy-plain-secret-0a7f",
        &delivered[0]
    ));
}

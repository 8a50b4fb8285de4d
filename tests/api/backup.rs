//! `hookbridge backup`: a consistent copy of a running service's SQLite
//! database, from which `serve` starts with every account, key, webhook and
//! event accepted before the backup began.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{BinaryApp, Receiver, TestDatabase, generation};

/// Run `hookbridge backup` with `args`.
fn backup(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hookbridge"))
        .arg("backup")
        .args(args)
        .env_remove("HOOKBRIDGE_DATABASE_URL")
        .output()
        .expect("run hookbridge backup")
}

fn said(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test]
async fn a_backup_of_a_running_sqlite_service_serves_everything_accepted_before_it() {
    let folder = tempfile::tempdir().unwrap();
    let original = TestDatabase::sqlite_at(&folder.path().join("live.db"));
    let mut service = BinaryApp::start(&original, &[]);
    let api = service.api();
    let account = api.new_account().await;
    let receiver = Receiver::start().await;
    let webhook = api
        .create_webhook(&account, json!({"url": receiver.url, "events": ["*"]}))
        .await;
    let before: Value = api
        .publish_accepted(&account, "generation_complete", generation("image"))
        .await;
    receiver.wait_for(1, Duration::from_secs(10)).await;

    let copy = folder.path().join("copy.db");
    let made = backup(&["--database-url", &original.url, copy.to_str().unwrap()]);
    assert!(made.status.success(), "{}", said(&made));
    assert!(
        said(&made).contains("copied the encryption key"),
        "{}",
        said(&made)
    );
    let again = backup(&["--database-url", &original.url, copy.to_str().unwrap()]);
    assert!(!again.status.success(), "a backup never overwrites a file");
    assert!(said(&again).contains("exists already"), "{}", said(&again));

    let after: Value = api
        .publish_accepted(&account, "generation_complete", generation("video"))
        .await;
    service.terminate();

    let restored = TestDatabase::sqlite_at(&copy);
    let copy_service = BinaryApp::start(&restored, &[]);
    let api = copy_service.api();
    let me = api.get_as(&account, "/v1/me").await;
    assert_eq!(me.status(), 200, "the account's key works on the copy");
    let listed: Value = api
        .get_as(
            &account,
            &format!("/v1/webhooks/{}", webhook["id"].as_str().unwrap()),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["url"], receiver.url, "{listed}");
    let deliveries = api
        .get_as(
            &account,
            &format!("/v1/events/{}/deliveries", before["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(deliveries.status(), 200);
    let deliveries: Value = deliveries.json().await.unwrap();
    assert_eq!(deliveries["data"][0]["state"], "delivered", "{deliveries}");
    let later = api
        .get_as(
            &account,
            &format!("/v1/events/{}/deliveries", after["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(
        later.status(),
        404,
        "the copy holds nothing published after it"
    );

    // The copy's secrets open with the copied key: a test send is signed.
    let sent = api
        .post_as(
            &account,
            &format!("/v1/webhooks/{}/test", webhook["id"].as_str().unwrap()),
            &json!({}),
        )
        .await;
    assert_eq!(sent.status(), 200, "{:?}", sent.text().await);
}

#[test]
fn postgres_is_backed_up_with_pg_dump() {
    let refused = backup(&[
        "--database-url",
        "postgres://hookbridge@127.0.0.1:1/hookbridge",
        "/tmp/never-written.db",
    ]);
    assert!(!refused.status.success());
    assert!(said(&refused).contains("pg_dump"), "{}", said(&refused));
    assert!(!Path::new("/tmp/never-written.db").exists());
}

//! Databases written by an older binary: the real binary upgrades them in
//! place on start, and the deliveries they held pending are still made.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{BinaryApp, Receiver, TestDatabase, generation};

/// The one index schema version 2 changed, as version 1 had it.
const VERSION_1_INDEX: &str = "DROP INDEX deliveries_pending_by_subscription;
     CREATE INDEX deliveries_pending_by_subscription
         ON deliveries(subscription_id) WHERE state = 'pending';";

/// Turn `database` (at the current version) back into version 1.
async fn downgrade_to_version_1(database: &TestDatabase) {
    if database.url.starts_with("sqlite://") {
        let connection = rusqlite::Connection::open(database.dir.path().join("hookbridge.db"))
            .expect("open the SQLite file");
        connection
            .execute_batch(&format!(
                "BEGIN; {VERSION_1_INDEX} PRAGMA user_version = 1; COMMIT;"
            ))
            .expect("downgrade");
    } else {
        let client = postgres_client(database).await;
        client
            .batch_execute(&format!(
                "BEGIN; {VERSION_1_INDEX} UPDATE hookbridge_schema SET version = 1; COMMIT;"
            ))
            .await
            .expect("downgrade");
    }
}

/// The schema version recorded in `database`, and its index's definition.
async fn version_and_index(database: &TestDatabase) -> (i64, String) {
    if database.url.starts_with("sqlite://") {
        let connection = rusqlite::Connection::open(database.dir.path().join("hookbridge.db"))
            .expect("open the SQLite file");
        let version = connection
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .unwrap();
        let index = connection
            .query_row(
                "SELECT sql FROM sqlite_master WHERE name = 'deliveries_pending_by_subscription'",
                [],
                |row| row.get(0),
            )
            .unwrap();
        (version, index)
    } else {
        let client = postgres_client(database).await;
        let version = client
            .query_one("SELECT version FROM hookbridge_schema", &[])
            .await
            .unwrap()
            .get(0);
        let index = client
            .query_one(
                "SELECT indexdef FROM pg_indexes WHERE indexname = 'deliveries_pending_by_subscription'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        (version, index)
    }
}

async fn postgres_client(database: &TestDatabase) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&database.url, tokio_postgres::NoTls)
        .await
        .expect("connect to the test server");
    tokio::spawn(connection);
    client
}

/// A version 1 database with a delivery pending (its target was down) is
/// upgraded by the next start, once, and the delivery is made.
#[tokio::test]
async fn a_version_1_database_is_upgraded_on_start_and_its_pending_delivery_made() {
    let database = TestDatabase::new();
    let receiver = Receiver::start().await;
    receiver.set_default_status(503);
    let schedule = ["--retry-schedule", "2s"];

    let mut first = BinaryApp::start(&database, &schedule);
    let api = first.api();
    let account = api.new_account().await;
    api.create_webhook(&account, json!({"url": receiver.url}))
        .await;
    let published = api
        .publish_accepted(&account, "generation_complete", generation("image"))
        .await;
    receiver.wait_for(1, Duration::from_secs(10)).await;
    assert!(first.terminate().success());

    downgrade_to_version_1(&database).await;
    let (version, index) = version_and_index(&database).await;
    assert_eq!(version, 1);
    assert!(!index.contains("next_attempt_at"), "{index}");

    receiver.set_default_status(200);
    let second = BinaryApp::start(&database, &schedule);
    let got = receiver
        .wait_until(Duration::from_secs(15), |got| {
            got.iter().any(|r| r.answered == 200)
        })
        .await;
    let delivered = got.iter().find(|r| r.answered == 200).unwrap();
    assert_eq!(delivered.json()["id"], published["id"]);

    let (version, index) = version_and_index(&database).await;
    assert_eq!(version, 2);
    assert!(
        index.contains("subscription_id, next_attempt_at"),
        "the upgraded index: {index}"
    );
    drop(second);
    let restarted = BinaryApp::start(&database, &schedule);
    restarted.api().new_account().await;
    assert_eq!(version_and_index(&database).await.0, 2, "upgraded once");
}

//! Databases written by an older binary: the real binary upgrades them in
//! place on start, and the deliveries they held pending are still made.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{BinaryApp, Receiver, TestDatabase, generation};

/// The indexes later versions changed, as version 1 had them (SQLite's
/// version 1 had no `attempts_by_event`; PostgreSQL's had it already), and
/// no ordered webhooks.
const VERSION_1_INDEXES: &str = "DROP INDEX deliveries_pending_by_subscription;
     CREATE INDEX deliveries_pending_by_subscription
         ON deliveries(subscription_id) WHERE state = 'pending';
     DROP INDEX attempts_by_subscription;
     CREATE INDEX attempts_by_subscription
         ON attempts(account_id, subscription_id, started_at);
     DROP INDEX deliveries_waiting;
     ALTER TABLE subscriptions DROP COLUMN ordering;
     ALTER TABLE subscriptions DROP COLUMN rate_limit;";

/// The schema version this binary writes.
const CURRENT_VERSION: i64 = 7;

/// Turn `database` (at the current version) back into version 1.
async fn downgrade_to_version_1(database: &TestDatabase) {
    if database.url.starts_with("sqlite://") {
        let connection = rusqlite::Connection::open(database.dir.path().join("hookbridge.db"))
            .expect("open the SQLite file");
        connection
            .execute_batch(&format!(
                "BEGIN; {VERSION_1_INDEXES} DROP INDEX attempts_by_event;
                 PRAGMA user_version = 1; COMMIT;"
            ))
            .expect("downgrade");
    } else {
        let client = postgres_client(database).await;
        client
            .batch_execute(&format!(
                "BEGIN; {VERSION_1_INDEXES} ALTER TABLE subscriptions DROP COLUMN next_send_us;
                 ALTER TABLE deliveries ADD CONSTRAINT deliveries_event_pk_fkey
                     FOREIGN KEY (event_pk) REFERENCES events(pk);
                 UPDATE hookbridge_schema SET version = 1; COMMIT;"
            ))
            .await
            .expect("downgrade");
    }
}

/// The indexes the upgrades change.
const CHANGED_INDEXES: [&str; 3] = [
    "deliveries_pending_by_subscription",
    "attempts_by_subscription",
    "attempts_by_event",
];

/// The schema version recorded in `database`, and the definitions of
/// [`CHANGED_INDEXES`] (empty for one that does not exist).
async fn version_and_indexes(database: &TestDatabase) -> (i64, Vec<String>) {
    if database.url.starts_with("sqlite://") {
        let connection = rusqlite::Connection::open(database.dir.path().join("hookbridge.db"))
            .expect("open the SQLite file");
        let version = connection
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .unwrap();
        let indexes = CHANGED_INDEXES
            .iter()
            .map(|name| {
                connection
                    .query_row(
                        "SELECT sql FROM sqlite_master WHERE name = ?1",
                        [name],
                        |row| row.get(0),
                    )
                    .unwrap_or_default()
            })
            .collect();
        (version, indexes)
    } else {
        let client = postgres_client(database).await;
        let version = client
            .query_one("SELECT version FROM hookbridge_schema", &[])
            .await
            .unwrap()
            .get(0);
        let mut indexes = Vec::new();
        for name in CHANGED_INDEXES {
            let row = client
                .query_opt(
                    "SELECT indexdef FROM pg_indexes WHERE indexname = $1",
                    &[&name],
                )
                .await
                .unwrap();
            indexes.push(row.map(|row| row.get(0)).unwrap_or_default());
        }
        (version, indexes)
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
    let (version, indexes) = version_and_indexes(&database).await;
    assert_eq!(version, 1);
    assert!(!indexes[0].contains("next_attempt_at"), "{indexes:?}");
    assert!(!indexes[1].contains("started_at, id"), "{indexes:?}");

    receiver.set_default_status(200);
    let second = BinaryApp::start(&database, &schedule);
    let got = receiver
        .wait_until(Duration::from_secs(15), |got| {
            got.iter().any(|r| r.answered == 200)
        })
        .await;
    let delivered = got.iter().find(|r| r.answered == 200).unwrap();
    assert_eq!(delivered.json()["id"], published["id"]);

    let (version, indexes) = version_and_indexes(&database).await;
    assert_eq!(version, CURRENT_VERSION);
    assert!(
        indexes[0].contains("subscription_id, next_attempt_at"),
        "the upgraded indexes: {indexes:?}"
    );
    // SQLite's is shorter since version 4.
    let listed_by = match database.url.starts_with("sqlite://") {
        true => "(subscription_id, started_at)",
        false => "(account_id, subscription_id, started_at, id)",
    };
    assert!(
        indexes[1].contains(listed_by),
        "the upgraded indexes: {indexes:?}"
    );
    assert!(
        indexes[2].contains("event_pk"),
        "the upgraded indexes: {indexes:?}"
    );
    if !database.url.starts_with("sqlite://") {
        // Version 5: autovacuum keeps up with retention's deletes.
        let options: Vec<String> = postgres_client(&database)
            .await
            .query_one(
                "SELECT reloptions FROM pg_class WHERE relname = 'attempts'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert!(
            options.contains(&"autovacuum_vacuum_scale_factor=0.02".to_owned()),
            "{options:?}"
        );
        // Version 7: no foreign key check per delivery row.
        let keys: i64 = postgres_client(&database)
            .await
            .query_one(
                "SELECT COUNT(*) FROM pg_constraint
                 WHERE conrelid = 'deliveries'::regclass AND contype = 'f'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(keys, 0, "the deliveries' foreign keys after the upgrade");
    }
    drop(second);
    let restarted = BinaryApp::start(&database, &schedule);
    restarted.api().new_account().await;
    assert_eq!(
        version_and_indexes(&database).await.0,
        CURRENT_VERSION,
        "upgraded once"
    );
}

//! PostgreSQL's lock order, seen from outside: a webhook deleted while an
//! attempt's outcome is being recorded. A second connection plays the
//! outcome's transaction, holding rows in the order the store takes them
//! (the subscription, then its deliveries), and the deletion must wait for
//! it and then succeed. A transaction that crosses that order is rolled
//! back by PostgreSQL, and the store runs the deletion again.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio_postgres::Client;

use crate::helpers::{BinaryApp, Receiver, TestAccount, TestDatabase, eventually, generation};

const WAIT: Duration = Duration::from_secs(10);

/// A service on PostgreSQL whose one webhook (`webhook` plus the URL of a
/// receiver that answers 500) has had the first of `events` published
/// events attempted once, its retry an hour away.
struct FailingWebhook {
    database: TestDatabase,
    _receiver: Receiver,
    app: BinaryApp,
    account: TestAccount,
    id: String,
}

impl FailingWebhook {
    async fn start(webhook: Value, events: usize) -> Self {
        let database = TestDatabase::postgres();
        let receiver = Receiver::start().await;
        receiver.set_default_status(500);
        let app = BinaryApp::start(&database, &["--retry-schedule", "1h"]);
        let api = app.api();
        let account = api.new_account().await;
        let mut body = webhook;
        body["url"] = json!(receiver.url);
        let id = api.create_webhook(&account, body).await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let mut published = Vec::new();
        for _ in 0..events {
            let event = api
                .publish_accepted(&account, "generation_complete", generation("image"))
                .await;
            published.push(event["id"].as_str().unwrap().to_owned());
        }
        let first = format!("/v1/events/{}/deliveries", published[0]);
        eventually(WAIT, || async {
            let listed: Value = api.get_as(&account, &first).await.json().await.unwrap();
            (listed["data"][0]["attempts"] == 1).then_some(())
        })
        .await;
        Self {
            database,
            _receiver: receiver,
            app,
            account,
            id,
        }
    }

    /// A new connection to the service's database.
    async fn connect(&self) -> Client {
        let (client, connection) =
            tokio_postgres::connect(&self.database.url, tokio_postgres::NoTls)
                .await
                .unwrap();
        tokio::spawn(connection);
        client
    }

    /// Run `sql`, whose one parameter is the webhook's id, on `client`.
    async fn on_webhook(&self, client: &Client, sql: &str) -> Result<u64, tokio_postgres::Error> {
        client.execute(sql, &[&self.id]).await
    }

    /// Delete the webhook through the API, in the background; its status.
    fn delete(&self) -> JoinHandle<u16> {
        let api = self.app.api();
        let account = self.account.clone();
        let path = format!("/v1/webhooks/{}", self.id);
        tokio::spawn(async move { api.delete_as(&account, &path).await.status().as_u16() })
    }

    /// The webhook's deliveries' states, in publish order.
    async fn states(&self, observer: &Client) -> Vec<String> {
        observer
            .query(
                "SELECT state FROM deliveries WHERE subscription_id = $1 ORDER BY event_pk",
                &[&self.id],
            )
            .await
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect()
    }
}

/// Until another session waits for a row lock. (Asked on a connection of
/// its own: a transaction sees one snapshot of `pg_stat_activity`.)
async fn a_session_waits_for_a_lock(observer: &Client) {
    eventually(WAIT, || async {
        let waiting: i64 = observer
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        (waiting > 0).then_some(())
    })
    .await;
}

/// The statement of an ordered webhook's outcome that lets its first
/// waiting delivery go, due in an hour (so the service leaves it alone).
const FREE_THE_NEXT: &str = "UPDATE deliveries SET state = 'pending',
        next_attempt_at = (extract(epoch FROM now()) * 1000)::BIGINT + 3600000
    WHERE id = (SELECT id FROM deliveries WHERE subscription_id = $1 AND state = 'waiting'
                ORDER BY event_pk LIMIT 1)";

/// The statement of an ordered webhook's outcome that ends its pending
/// delivery, failed.
const FAIL_THE_PENDING: &str = "UPDATE deliveries SET state = 'failed', next_attempt_at = NULL
    WHERE subscription_id = $1 AND state = 'pending'";

/// An ordered webhook's outcome in progress: it has locked the webhook's
/// row and the delivery that finished, and goes on to let the next one,
/// waiting behind it, go. A deletion that locked the waiting deliveries
/// first deadlocked with it, and PostgreSQL rolled one of them back; now
/// it waits, and then cancels the deliveries the outcome left, the one it
/// let go among them. (An earlier outcome has let the second delivery go,
/// so that its row, rewritten, lies after the waiting ones, as a long line
/// leaves it: a deletion's scan then reaches the waiting rows first.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_deleting_an_ordered_webhook_waits_for_an_outcome_that_frees_the_next() {
    let webhook = FailingWebhook::start(json!({"ordering": "fifo"}), 4).await;
    let observer = webhook.connect().await;
    let earlier = webhook.connect().await;
    earlier.batch_execute("BEGIN").await.unwrap();
    webhook
        .on_webhook(&earlier, FAIL_THE_PENDING)
        .await
        .unwrap();
    webhook.on_webhook(&earlier, FREE_THE_NEXT).await.unwrap();
    earlier.batch_execute("COMMIT").await.unwrap();
    assert_eq!(
        webhook.states(&observer).await,
        ["failed", "pending", "waiting", "waiting"]
    );

    let outcome = webhook.connect().await;
    outcome.batch_execute("BEGIN").await.unwrap();
    webhook
        .on_webhook(
            &outcome,
            "SELECT id FROM subscriptions WHERE id = $1 FOR NO KEY UPDATE",
        )
        .await
        .unwrap();
    webhook
        .on_webhook(&outcome, FAIL_THE_PENDING)
        .await
        .unwrap();
    let deletion = webhook.delete();
    a_session_waits_for_a_lock(&observer).await;
    let freed = webhook.on_webhook(&outcome, FREE_THE_NEXT).await;
    assert!(freed.is_ok(), "the outcome was rolled back: {freed:?}");
    outcome.batch_execute("COMMIT").await.unwrap();
    assert_eq!(deletion.await.unwrap(), 204);
    assert_eq!(
        webhook.states(&observer).await,
        ["failed", "failed", "cancelled", "cancelled"]
    );
}

/// A transaction that takes the rows in the other order (a batch of
/// successes locks a delivery, then ends its webhook's run of failures,
/// when it did not know the webhook was failing) while the deletion holds
/// the webhook and waits for the delivery: PostgreSQL finds the deadlock
/// and rolls the deletion back, which the store runs again once the other
/// transaction is done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_deletion_rolled_back_for_a_deadlock_runs_again() {
    let webhook = FailingWebhook::start(json!({}), 1).await;
    let observer = webhook.connect().await;
    let crossing = webhook.connect().await;
    crossing.batch_execute("BEGIN").await.unwrap();
    webhook
        .on_webhook(
            &crossing,
            "UPDATE deliveries SET updated_at = updated_at WHERE subscription_id = $1",
        )
        .await
        .unwrap();
    let deletion = webhook.delete();
    a_session_waits_for_a_lock(&observer).await;
    webhook
        .on_webhook(
            &crossing,
            "UPDATE subscriptions SET failing_since = NULL WHERE id = $1",
        )
        .await
        .expect("the deletion, which waited first, is the one rolled back");
    crossing.batch_execute("COMMIT").await.unwrap();
    assert_eq!(deletion.await.unwrap(), 204);
    assert_eq!(webhook.states(&observer).await, ["cancelled"]);
}

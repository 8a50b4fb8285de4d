//! A full disk, for real: the SQLite database, or a PostgreSQL database's
//! tablespace, on a small tmpfs that the test mounts (tests run as root in
//! CI). Writes are refused with
//! `503 storage_full`, `/readyz` answers 503, the episode is logged once,
//! and once the file system grows every accepted event is delivered and
//! publishing works again, without a restart.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{BinaryApp, Receiver, TestDatabase, eventually, expect_error};

/// A tmpfs mounted for one test, unmounted on drop.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    /// Mount a tmpfs of `size` (as `mount -o size=` takes it). Panics,
    /// loudly, when mounting is impossible (not root): this test cannot
    /// pass without a real full disk.
    fn mount(size: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status();
        assert!(
            mounted.as_ref().is_ok_and(|s| s.success()),
            "THE FULL-DISK TEST NEEDS A TMPFS: `mount -t tmpfs` failed ({mounted:?}); \
             run the suite as root (CI does)"
        );
        Self { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Grow the file system to `size`, as an operator freeing space would.
    fn grow(&self, size: &str) {
        let grown = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(self.path())
            .status()
            .unwrap();
        assert!(grown.success(), "remounting the tmpfs failed");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.path()).status();
    }
}

/// A free-form event type whose payload carries `blob`.
fn blob_type() -> Value {
    json!({
        "name": "blob.stored",
        "description": "A large payload, to fill a disk.",
        "schema": {"type": "object", "required": ["blob"], "properties": {"blob": {"type": "string"}}},
        "examples": [{"blob": "x"}]
    })
}

/// The ids in the flat bodies `receiver` got.
fn received_ids(receiver: &Receiver) -> HashSet<String> {
    receiver
        .received()
        .iter()
        .filter_map(|r| r.json()["id"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn sqlite_on_a_full_disk_refuses_writes_with_503_and_recovers_without_a_restart() {
    let disk = SmallDisk::mount("3m");
    let database = TestDatabase::sqlite_at(&disk.path().join("hookbridge.db"));
    let log: PathBuf = database.dir.path().join("service.log");
    let service = BinaryApp::start_logging_to(&database, &log);
    fill_refuse_and_recover(service, &disk, &log).await;
}

/// The PostgreSQL server's disk itself stays roomy (a full disk under its
/// write-ahead log stops the server, by design); the database's tablespace
/// is the small disk, so every table and index of the service fills it.
#[tokio::test]
async fn postgres_on_a_full_disk_refuses_writes_with_503_and_recovers_without_a_restart() {
    let disk = SmallDisk::mount("12m");
    let owned = Command::new("chown")
        .args(["postgres:postgres"])
        .arg(disk.path())
        .status()
        .unwrap();
    assert!(owned.success(), "chown the tmpfs to the postgres user");
    let database = TestDatabase::postgres();
    let server = database.url.rsplit_once('/').unwrap().0.to_owned();
    let (admin, connection) =
        tokio_postgres::connect(&format!("{server}/postgres"), tokio_postgres::NoTls)
            .await
            .expect("connect as the server's superuser");
    tokio::spawn(connection);
    admin
        .batch_execute(&format!(
            "CREATE TABLESPACE small LOCATION '{}'",
            disk.path().display()
        ))
        .await
        .unwrap();
    admin
        .batch_execute("ALTER DATABASE hookbridge SET TABLESPACE small")
        .await
        .unwrap();
    let log: PathBuf = database.dir.path().join("service.log");
    let service = BinaryApp::start_logging_to(&database, &log);
    fill_refuse_and_recover(service, &disk, &log).await;
}

/// Fill `disk` through `service` until publishing is refused, keep it full
/// for three seconds, grow it, and check that the service recovered by
/// itself, delivered every event it accepted and logged the episode once.
async fn fill_refuse_and_recover(mut service: BinaryApp, disk: &SmallDisk, log: &Path) {
    let api = service.api();
    assert_eq!(
        api.admin_post("/v1/event-types", &blob_type())
            .await
            .status(),
        201
    );
    let account = api.new_account().await;
    let receiver = Receiver::start().await;
    api.create_webhook(
        &account,
        json!({"url": receiver.url, "events": ["blob.stored"]}),
    )
    .await;

    // Publish 8 KiB payloads, 48 at a time, until the disk is full. The
    // target answers slowly, so outcomes are being written and deliveries
    // handed back (more than its 32 slots are busy) as the disk fills:
    // batches holding them fail.
    receiver.set_delay(Duration::from_millis(500));
    // Random text: PostgreSQL would compress a repeated letter to nothing.
    let blob = || -> String {
        use rand::Rng;
        let mut random = rand::rng();
        (0..8 * 1024)
            .map(|_| char::from(b'a' + random.random_range(0..26)))
            .collect()
    };
    let mut accepted = HashSet::new();
    let mut refused = None;
    let deadline = Instant::now() + Duration::from_secs(120);
    while refused.is_none() {
        assert!(Instant::now() < deadline, "the small disk never filled");
        let round = (0..48).map(|_| api.publish(&account, "blob.stored", json!({"blob": blob()})));
        for response in futures_util::future::join_all(round).await {
            match response.status().as_u16() {
                202 => {
                    let body: Value = response.json().await.unwrap();
                    accepted.insert(body["id"].as_str().unwrap().to_owned());
                }
                503 if refused.is_none() => refused = Some(response),
                503 => {}
                other => panic!(
                    "publishing on a filling disk answered {other}: {:?}",
                    response.text().await
                ),
            }
        }
    }
    let refused = refused.unwrap();
    let retry_after = refused.headers().get("retry-after").cloned();
    expect_error(refused, 503, "storage_full").await;
    assert!(
        retry_after.is_some_and(|v| v.to_str().unwrap().parse::<u64>().unwrap() > 0),
        "a storage_full answer says when to retry"
    );
    // While it lasts (three seconds, as the deliveries in flight end and
    // their outcomes fail to be written): more refusals, each a clean JSON
    // 503, and /readyz takes the node out of a load balancer.
    let full_until = Instant::now() + Duration::from_secs(3);
    let mut refusals = 1;
    while Instant::now() < full_until {
        let response = api
            .publish(&account, "blob.stored", json!({"blob": blob()}))
            .await;
        match response.status().as_u16() {
            202 => {
                let body: Value = response.json().await.unwrap();
                accepted.insert(body["id"].as_str().unwrap().to_owned());
            }
            503 => {
                expect_error(response, 503, "storage_full").await;
                refusals += 1;
            }
            other => panic!("{other}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(refusals > 20, "{refusals} refusals");
    let ready = api.client.get(api.url("/readyz")).send().await.unwrap();
    expect_error(ready, 503, "storage_full").await;

    // Space is freed: the service takes writes again by itself.
    receiver.set_delay(Duration::ZERO);
    disk.grow("64m");
    eventually(Duration::from_secs(15), || async {
        let ready = api.client.get(api.url("/readyz")).send().await.unwrap();
        (ready.status() == 200).then_some(())
    })
    .await;
    let after: Value = api
        .publish_accepted(&account, "blob.stored", json!({"blob": "after"}))
        .await;
    accepted.insert(after["id"].as_str().unwrap().to_owned());

    // Every accepted event arrives and is recorded delivered, within the
    // 20 s lease: the ones whose hand-off was given back, or whose outcome
    // was lost, by a batch that failed included.
    let mut waiting: Vec<String> = accepted.iter().cloned().collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !waiting.is_empty() {
        let arrived = received_ids(&receiver);
        let mut still = Vec::new();
        for id in waiting {
            let deliveries: Value = api
                .get_as(&account, &format!("/v1/events/{id}/deliveries"))
                .await
                .json()
                .await
                .unwrap();
            if !arrived.contains(&id) || deliveries["data"][0]["state"] != "delivered" {
                still.push(id);
            }
        }
        waiting = still;
        assert!(
            Instant::now() < deadline,
            "{} of {} accepted events were not delivered, e.g. {:?}",
            waiting.len(),
            accepted.len(),
            &waiting[..waiting.len().min(5)]
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    service.terminate();
    let log = std::fs::read_to_string(log).unwrap();
    let started = log
        .matches("the database's storage is full: writes")
        .count();
    let ended = log.matches("the database's storage has room again").count();
    // Over twenty refusals above; a line as each episode starts and as it
    // ends (space a checkpoint frees can end one early).
    assert!(
        started >= 1 && started == ended && started <= 3,
        "logged {started} starts and {ended} ends of a full disk"
    );
    assert!(
        !log.contains("internal_error") && !log.contains("request failed"),
        "no refusal was logged as an internal error"
    );
}

//! The real binary under SIGKILL and SIGTERM: no accepted event is lost.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{ADMIN_KEY, BinaryApp, Received, Receiver, TestDatabase, client, generation};

/// An account with a webhook to `target` on a running binary; its id.
async fn setup(app: &BinaryApp, target: &str) -> String {
    let api = app.api();
    let account = api.new_account().await;
    api.create_webhook(&account, json!({"url": target})).await;
    account.id
}

/// How many 2xx deliveries repeated an event already delivered.
fn duplicate_deliveries(got: &[Received]) -> usize {
    let mut per_id: HashMap<String, usize> = HashMap::new();
    for r in got.iter().filter(|r| r.answered == 200) {
        *per_id
            .entry(r.json()["id"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    per_id.values().map(|n| n - 1).sum()
}

/// kill -9 while 1,000 events are being published against a failing target,
/// restart on the same database, let the target recover: every event that
/// got a 202 is delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_ingest_and_retries_loses_no_accepted_event() {
    const EVENTS: usize = 1000;
    let receiver = Receiver::start().await;
    receiver.set_default_status(500);
    let database = TestDatabase::new();
    let schedule = [
        "--retry-schedule",
        "300ms,300ms,500ms,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s",
    ];
    let mut first = BinaryApp::start(&database, &schedule);
    let account_id = setup(&first, &receiver.url).await;

    let http = client();
    let accepted = Arc::new(std::sync::Mutex::new(Vec::new()));
    let answered = Arc::new(AtomicUsize::new(0));
    let next = Arc::new(AtomicUsize::new(0));
    let mut publishers = Vec::new();
    for _ in 0..16 {
        let (http, url) = (http.clone(), first.url("/v1/events"));
        let (accepted, answered, next, account_id) = (
            accepted.clone(),
            answered.clone(),
            next.clone(),
            account_id.clone(),
        );
        publishers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= EVENTS {
                    break;
                }
                let id = format!("crash-{i}");
                let response = http
                    .post(&url)
                    .bearer_auth(ADMIN_KEY)
                    .json(&json!({"type": "generation_complete", "account_id": account_id, "data": generation("image"), "id": id}))
                    .send()
                    .await;
                if matches!(&response, Ok(r) if r.status() == 202) {
                    accepted.lock().unwrap().push(id);
                    answered.fetch_add(1, Ordering::SeqCst);
                }
            }
        }));
    }
    while answered.load(Ordering::SeqCst) < EVENTS * 9 / 10 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    first.kill_hard();
    for publisher in publishers {
        publisher.await.unwrap();
    }
    let accepted: HashSet<String> = accepted.lock().unwrap().iter().cloned().collect();
    assert!(
        accepted.len() >= EVENTS * 9 / 10,
        "{} accepted",
        accepted.len()
    );
    assert!(
        accepted.len() < EVENTS,
        "the kill came too late to interrupt ingest"
    );

    let _second = BinaryApp::start(&database, &schedule);
    receiver.set_default_status(200);
    let got = receiver
        .wait_until(Duration::from_secs(60), |got| {
            let delivered: HashSet<&str> = got
                .iter()
                .filter(|r| r.answered == 200)
                .filter_map(|r| serde_json::from_slice::<Value>(&r.body).ok())
                .filter_map(|body| body["id"].as_str().map(str::to_owned))
                .map(|id| accepted.get(&id).map(String::as_str).unwrap_or(""))
                .collect();
            accepted.iter().all(|id| delivered.contains(id.as_str()))
        })
        .await;
    let duplicates = duplicate_deliveries(&got);
    println!(
        "crash test: {} accepted before kill -9, all delivered after restart; {} duplicate 2xx deliveries",
        accepted.len(),
        duplicates
    );
}

/// kill -9 while every delivery is in flight to a target that has not
/// answered yet (on SQLite, each was handed straight from ingest to the
/// dispatcher and is stored as handed): after a restart on the same
/// database, every one is delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_with_every_delivery_in_flight_loses_none() {
    const EVENTS: usize = 20;
    let receiver = Receiver::start().await;
    // Longer than the test: the killed process's attempts never end.
    receiver.set_delay(Duration::from_secs(120));
    let database = TestDatabase::new();
    let mut first = BinaryApp::start(&database, &[]);
    let api = first.api();
    let account = api.new_account().await;
    api.create_webhook(&account, json!({"url": receiver.url}))
        .await;
    let mut published = HashSet::new();
    for _ in 0..EVENTS {
        let accepted = api
            .publish_accepted(&account, "generation_complete", generation("image"))
            .await;
        published.insert(accepted["id"].as_str().unwrap().to_owned());
    }
    crate::helpers::eventually(Duration::from_secs(10), || async {
        (receiver.max_concurrent() >= EVENTS as u64).then_some(())
    })
    .await;
    first.kill_hard();

    receiver.set_delay(Duration::ZERO);
    let _second = BinaryApp::start(&database, &[]);
    receiver
        .wait_until(Duration::from_secs(60), |got| {
            let delivered: HashSet<String> = got
                .iter()
                .map(|r| r.json()["id"].as_str().unwrap().to_owned())
                .collect();
            published.is_subset(&delivered)
        })
        .await;
}

/// SIGTERM while a delivery is in flight to a slow target: the attempt
/// finishes, is recorded, and the process exits 0; a restart does not send
/// it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_in_flight_deliveries_and_exits_zero() {
    let receiver = Receiver::start().await;
    receiver.set_delay(Duration::from_millis(1500));
    let database = TestDatabase::new();
    let mut app = BinaryApp::start(&database, &[]);
    let account_id = setup(&app, &receiver.url).await;
    let published = client()
        .post(app.url("/v1/events"))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({"type": "generation_complete", "account_id": account_id, "data": generation("video")}))
        .send()
        .await
        .unwrap();
    assert_eq!(published.status(), 202);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let status = tokio::task::spawn_blocking(move || {
        let status = app.terminate();
        (status, app)
    })
    .await
    .unwrap();
    assert!(status.0.success(), "exit status {:?}", status.0);
    assert_eq!(
        receiver.received().len(),
        1,
        "the in-flight delivery completed"
    );
    receiver.set_delay(Duration::ZERO);
    let _restarted = BinaryApp::start(&database, &[]);
    receiver.assert_quiet(1, Duration::from_millis(1500)).await;
}

/// Five rounds of: start the binary on the same database, publish while the
/// target answers at random (half 500s, so some deliveries are in retry and
/// some are delivered), SIGKILL after a random delay, which lands during
/// ingest, attempts or retries. Then a last start with a healthy target:
/// every event that got a 202 in any round is delivered at least once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_kill_9_at_random_moments_loses_no_accepted_event() {
    use rand::Rng;
    const ROUNDS: usize = 5;
    const PER_ROUND: usize = 300;
    let receiver = Receiver::start().await;
    let statuses: Vec<u16> = (0..20_000)
        .map(|_| {
            if rand::rng().random_bool(0.5) {
                500
            } else {
                200
            }
        })
        .collect();
    receiver.script(&statuses);
    let database = TestDatabase::new();
    let schedule = ["--retry-schedule", &["200ms"; 30].join(",")];
    let http = client();
    let mut account_id = None;
    let mut accepted: HashSet<String> = HashSet::new();
    let mut kill_delays = Vec::new();
    for round in 0..ROUNDS {
        let mut node = BinaryApp::start(&database, &schedule);
        let account = match &account_id {
            Some(id) => String::clone(id),
            None => setup(&node, &receiver.url).await,
        };
        account_id = Some(account.clone());
        let delay = Duration::from_millis(rand::rng().random_range(100..900));
        kill_delays.push(delay);
        let url = node.url("/v1/events");
        let publishing = {
            let (http, account) = (http.clone(), account.clone());
            tokio::spawn(async move {
                let mut ok = Vec::new();
                for i in 0..PER_ROUND {
                    let id = format!("round{round}-{i}");
                    let response = http
                        .post(&url)
                        .bearer_auth(ADMIN_KEY)
                        .json(&json!({"type": "generation_complete", "account_id": account, "data": generation("video"), "id": id}))
                        .send()
                        .await;
                    match response {
                        Ok(r) if r.status() == 202 => ok.push(id),
                        Ok(_) => {}
                        Err(_) => break,
                    }
                }
                ok
            })
        };
        tokio::time::sleep(delay).await;
        node.kill_hard();
        accepted.extend(publishing.await.unwrap());
    }
    assert!(accepted.len() > ROUNDS * 10, "{} accepted", accepted.len());

    receiver.clear_script();
    receiver.set_default_status(200);
    let _last = BinaryApp::start(&database, &schedule);
    let got = receiver
        .wait_until(Duration::from_secs(90), |got| {
            let delivered: HashSet<String> = got
                .iter()
                .filter(|r| r.answered == 200)
                .filter_map(|r| r.json()["id"].as_str().map(str::to_owned))
                .collect();
            accepted.iter().all(|id| delivered.contains(id))
        })
        .await;
    let duplicates = duplicate_deliveries(&got);
    println!(
        "repeated crash test: {ROUNDS} kills after {kill_delays:?}; {} events accepted, all delivered; \
         {duplicates} duplicate 2xx deliveries",
        accepted.len()
    );
}

/// An embedded database serves one process: it holds its leases in memory,
/// so a second process on the same file would send every delivery twice. A
/// second start refuses, saying why, and the first keeps serving.
#[tokio::test]
async fn a_second_process_on_the_same_sqlite_database_refuses_to_start() {
    if crate::helpers::postgres_backend() {
        return;
    }
    let database = TestDatabase::new();
    let first = BinaryApp::start(&database, &[]);
    let mut second = std::process::Command::new(env!("CARGO_BIN_EXE_hookbridge"))
        .args(["serve", "--listen", "127.0.0.1:0", "--admin-key", ADMIN_KEY])
        .args(["--database-url", &database.url])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run a second hookbridge");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while second.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            second.kill().unwrap();
            panic!("a second process started serving the same SQLite database");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let second = second.wait_with_output().unwrap();
    assert!(!second.status.success(), "{second:?}");
    let said = String::from_utf8_lossy(&second.stderr);
    assert!(
        said.contains("another process is using the database"),
        "{said}"
    );
    let health = client().get(first.url("/readyz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
}

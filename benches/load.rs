//! The load benchmark: `cargo bench --bench load` (release build).
//!
//! Starts the real `hookbridge` binary on a temporary SQLite file (and then
//! on a durable PostgreSQL server it starts itself, with one node and with
//! three nodes sharing the database), a local
//! receiver (bare hyper) that counts deliveries and time-stamps them, and
//! a load generator over real HTTP, all on this machine's cores. Each event
//! carries its send time (`sent_at_us`, an extra data field), so the receiver
//! measures publish -> delivery latency. CPU seconds and peak RSS are the
//! service process's own, from /proc. Prints one Markdown table.
//!
//! `BENCH_SECONDS` (default 10) sets the timed phases; `BENCH_PENDING`
//! (default 1000000) the pending deliveries of the memory workload;
//! `BENCH_POSTGRES=0` skips the PostgreSQL rows (and `BENCH_POSTGRES=only`
//! the SQLite ones of the tenants, stored and fifo workloads); `BENCH_ONLY=fanout1,fanout10`
//! runs only the named workloads (`ingest`, `fanout1`, `fanout10`, `steady`,
//! `hanging`, `pending`, `history`, `svix`, `postgres`), for profiling one of them. When a Svix server binary
//! is at `SVIX_SERVER` (default `/work/peers-build/bin/svix-server`, what
//! `shared/peers/build-svix.sh` builds), the first three workloads run on it
//! too, on its own durable PostgreSQL server, in the same run.
//!
//! `BENCH_ONLY=paired` (run only when named) alternates Hookbridge on SQLite
//! (or on one PostgreSQL node, with `BENCH_PAIRED=postgres`)
//! and Svix on each of those three workloads for `BENCH_ROUNDS` rounds
//! (`BENCH_PAIRED=nodes`: three PostgreSQL nodes against one, no Svix needed)
//! (default 3), Hookbridge first in odd rounds and Svix first in even ones,
//! and prints each round's ratio and their median: this VM's speed drifts
//! by a third within minutes, and one run of each is a sample of one phase.
//!
//! `BENCH_ONLY=tenants` (run only when named) measures many tenants:
//! `BENCH_TENANTS` accounts (default 10,000) of `BENCH_TENANT_WEBHOOKS`
//! webhooks each (default 10), every webhook filtering on its own `user_id`,
//! events published for random accounts and users so that one webhook of
//! one account matches each; then the same with webhooks created and
//! deleted at 100/s alongside. Run it with `fanout1` for the one-account,
//! one-endpoint figure of the same run.
//!
//! `BENCH_ONLY=stored` (run only when named) measures ingest and one
//! endpoint on a database that already holds `BENCH_STORED_EVENTS` events
//! (default 1,000,000), each delivered once with its attempt, against an
//! empty database in the same run, on SQLite and PostgreSQL.
//!
//! On PostgreSQL every ingest and end-to-end run also reports the database
//! server's own costs per 1,000 events or deliveries (its processes' CPU,
//! write transactions, WAL), in a second table: the figures the scaling
//! model in `docs/performance.md` is built from.
//!
//! `BENCH_STATEMENTS=1` loads `pg_stat_statements` into those servers and
//! prints, after each such workload, its ten statements that took the
//! server the most time, planning included (calls, total and mean
//! milliseconds, rows, plans made and planning milliseconds), to stderr:
//! where the database's time goes.
//!
//! `BENCH_ONLY=fifo` (run only when named) measures what ordered delivery
//! costs: one webhook with `"ordering": "fifo"` gets `BENCH_FIFO_EVENTS`
//! events (default 2,000) published in a burst, one delivery at a time,
//! beside `fanout1` in the same run, on SQLite and PostgreSQL.
//!
//! `BENCH_ONLY=soak` (run only when named) proves long-running behaviour:
//! steady publishing to one account with one webhook to the receiver, at
//! `BENCH_SOAK_RATE` events/s (default 500) for `BENCH_SOAK_SECONDS`
//! (default 180), with the service's `--retention` set to
//! `BENCH_SOAK_RETENTION` (default `30s`), on SQLite and then on PostgreSQL
//! (unless `BENCH_POSTGRES=0`). Every `BENCH_SOAK_SAMPLE` seconds (default
//! 5) it records the database size (`hookbridge_database_bytes`), the
//! service's RSS (VmRSS), the publish p99 and the publish -> delivery p99
//! of that window, the events purged so far and the queue depth; it prints
//! them as a Markdown table with a summary line (first-third against
//! last-third averages of database size and RSS, the largest publish p99),
//! and plots them to `docs/soak-sqlite.svg` and `docs/soak-postgres.svg`.
//! Database size and RSS should go flat once the retention is reached.

// The tests' server helper; the benchmark uses only plain, durable servers.
#[path = "../tests/api/postgres_server.rs"]
#[allow(dead_code)]
mod postgres_server;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

/// Clock ticks per second in `/proc` CPU times (Linux's USER_HZ).
const TICKS_PER_SECOND: f64 = 100.0;
const ADMIN_KEY: &str = "bench-admin-key-0123456789abcdef";

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

/// Whether `BENCH_ONLY` names `workload` itself (for workloads that run
/// only when asked for).
fn named(workload: &str) -> bool {
    std::env::var("BENCH_ONLY").is_ok_and(|only| only.split(',').any(|w| w.trim() == workload))
}

/// Whether `BENCH_ONLY` (a comma-separated list) names `workload`; all run
/// when it is unset.
fn wanted(workload: &str) -> bool {
    std::env::var("BENCH_ONLY").map_or(true, |only| only.split(',').any(|w| w.trim() == workload))
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One process of the service under test: the real binary (or Svix).
struct Service {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
    /// Svix's bearer token, for a Svix server.
    svix_token: Option<String>,
}

/// The Svix server binary, when one has been built.
fn svix_binary() -> Option<std::path::PathBuf> {
    let path =
        std::env::var("SVIX_SERVER").unwrap_or_else(|_| "/work/peers-build/bin/svix-server".into());
    let path = std::path::PathBuf::from(path);
    path.exists().then_some(path)
}

impl Service {
    /// A node on a fresh SQLite file.
    fn start(extra: &[&str]) -> Self {
        let dir = tempfile::TempDir::new().unwrap();
        let url = format!("sqlite://{}", dir.path().join("bench.db").display());
        Self::start_on(&url, dir, extra)
    }

    fn start_on(database_url: &str, dir: tempfile::TempDir, extra: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_hookbridge"))
            .args(["serve", "--listen", "127.0.0.1:0", "--admin-key", ADMIN_KEY])
            .args(["--database-url", database_url])
            .args(extra)
            .env("HOOKBRIDGE_ALLOW_PRIVATE_TARGETS", "1")
            .env("HOOKBRIDGE_LOG", "error")
            .stdout(Stdio::piped())
            .spawn()
            .expect("start hookbridge");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let url = lines
            .by_ref()
            .map_while(Result::ok)
            .find_map(|l| l.split("listening on ").nth(1).map(str::to_owned))
            .expect("listening line");
        std::thread::spawn(move || lines.for_each(drop));
        Self {
            child,
            url,
            _dir: dir,
            svix_token: None,
        }
    }

    /// The Svix server on `database_url`, as `shared/peers/README.md` runs
    /// it: memory queue and cache, loopback targets allowed, migrations run.
    fn start_svix(database_url: &str) -> Self {
        let binary = svix_binary().expect("a Svix server binary");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let secret = "bench-jwt-secret-0123456789abcdef0123456789";
        let env = [
            ("SVIX_DB_DSN", database_url.to_owned()),
            ("SVIX_JWT_SECRET", secret.to_owned()),
            ("SVIX_QUEUE_TYPE", "memory".to_owned()),
            ("SVIX_CACHE_TYPE", "memory".to_owned()),
            ("SVIX_LISTEN_ADDRESS", format!("127.0.0.1:{port}")),
            ("SVIX_WHITELIST_SUBNETS", "[127.0.0.0/8]".to_owned()),
            ("SVIX_LOG_LEVEL", "info".to_owned()),
        ];
        let token = Command::new(&binary)
            .args(["jwt", "generate"])
            .envs(env.clone())
            .output()
            .expect("svix-server jwt generate");
        let token = String::from_utf8_lossy(&token.stdout)
            .split_whitespace()
            .last()
            .expect("a token")
            .to_owned();
        let child = Command::new(&binary)
            .arg("--run-migrations")
            .envs(env)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start svix-server");
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "svix-server did not listen"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Self {
            child,
            url,
            _dir: tempfile::TempDir::new().unwrap(),
            svix_token: Some(token),
        }
    }

    /// Its Prometheus metrics (empty, with a note on stderr, when they
    /// cannot be read).
    async fn metrics(&self, client: &reqwest::Client) -> String {
        let response = client
            .get(format!("{}/metrics", self.url))
            .bearer_auth(ADMIN_KEY)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status);
        match response {
            Ok(response) => response.text().await.unwrap_or_default(),
            Err(error) => {
                eprintln!("{}: metrics unavailable: {error}", self.url);
                String::new()
            }
        }
    }

    fn proc_field(&self, file: &str) -> String {
        std::fs::read_to_string(format!("/proc/{}/{file}", self.child.id())).unwrap_or_default()
    }

    /// User plus system CPU seconds so far.
    fn cpu_seconds(&self) -> f64 {
        let stat = self.proc_field("stat");
        let after_name = stat.rsplit(')').next().unwrap_or("");
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        let ticks: f64 = fields.get(11..13).map_or(0.0, |f| {
            f.iter().filter_map(|v| v.parse::<f64>().ok()).sum()
        });
        ticks / TICKS_PER_SECOND
    }

    fn memory_kb(&self, key: &str) -> u64 {
        self.proc_field("status")
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            .unwrap_or(0)
    }
}

/// The nodes of one run: one on SQLite, or one or more sharing a PostgreSQL
/// server. CPU is the nodes' total (the database server's is not counted);
/// RSS the largest node's.
struct Nodes {
    services: Vec<Service>,
    _server: Option<postgres_server::PostgresServer>,
}

impl Nodes {
    fn start(backend: Backend, extra: &[&str]) -> Self {
        match backend {
            Backend::Sqlite => Self {
                services: vec![Service::start(extra)],
                _server: None,
            },
            Backend::Svix => {
                let server = start_database();
                Self {
                    services: vec![Service::start_svix(&server.url())],
                    _server: Some(server),
                }
            }
            Backend::Postgres { nodes } => {
                let server = start_database();
                let key = hookbridge::store::sealing::EncryptionKey::generate().encoded();
                let mut args = vec!["--encryption-key", key.as_str()];
                args.extend_from_slice(extra);
                let services = (0..nodes)
                    .map(|_| {
                        Service::start_on(&server.url(), tempfile::TempDir::new().unwrap(), &args)
                    })
                    .collect();
                Self {
                    services,
                    _server: Some(server),
                }
            }
        }
    }

    fn api(&self, client: &reqwest::Client) -> Arc<Api> {
        Arc::new(Api {
            client: client.clone(),
            urls: self.services.iter().map(|s| s.url.clone()).collect(),
            next: AtomicU64::new(0),
            svix_token: self.services[0].svix_token.clone(),
        })
    }

    fn cpu_seconds(&self) -> f64 {
        self.services.iter().map(Service::cpu_seconds).sum()
    }

    /// Print each node's dispatcher counters (claims, claimed, released) to
    /// stderr: how much claiming a workload took, for `BENCH_METRICS=1`.
    async fn print_dispatcher_metrics(&self, client: &reqwest::Client) {
        for service in &self.services {
            let text = service.metrics(client).await;
            for line in text
                .lines()
                .filter(|l| l.starts_with("hookbridge_dispatcher_"))
            {
                eprintln!("{}: {line}", service.url);
            }
        }
    }

    /// Bring the database server's statistics up to date, as its
    /// autovacuum would within a minute or so of a table's growth: right
    /// after 100,000 webhooks are created, the planner would still take the
    /// table for empty.
    async fn analyze(&self) {
        let Some(server) = &self._server else {
            return;
        };
        connect(server)
            .await
            .batch_execute("ANALYZE")
            .await
            .expect("ANALYZE");
    }

    /// Add `workload`'s line to the database table: its costs from
    /// `before` (read as it began) to now, per 1,000 of `units` done in
    /// `elapsed`.
    async fn note_database_costs(
        &self,
        before: Option<DatabaseCounters>,
        workload: &str,
        units: u64,
        elapsed: Duration,
    ) {
        let Some(server) = &self._server else {
            return;
        };
        if let (Some(before), Some(after)) = (before, DatabaseCounters::read(server).await) {
            DATABASE_LINES
                .lock()
                .unwrap()
                .push(before.line_to(after, workload, units, elapsed));
        }
        if statements_wanted() {
            print_statements(server, workload).await;
        }
    }

    /// The database server's counters as a workload begins, when the nodes
    /// share one (and, for `BENCH_STATEMENTS=1`, its statement statistics
    /// reset).
    async fn begin_database_costs(&self) -> Option<DatabaseCounters> {
        let server = self._server.as_ref()?;
        if statements_wanted() {
            connect(server)
                .await
                .batch_execute(
                    "CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
                     SELECT pg_stat_statements_reset();",
                )
                .await
                .expect("reset pg_stat_statements");
        }
        DatabaseCounters::read(server).await
    }

    /// The database's size in bytes, from the first node's metrics.
    async fn database_bytes(&self, client: &reqwest::Client) -> u64 {
        let text = self.services[0].metrics(client).await;
        metric_value(&text, "hookbridge_database_bytes") as u64
    }

    fn peak_rss_mb(&self) -> f64 {
        self.services
            .iter()
            .map(|s| s.memory_kb("VmHWM:"))
            .max()
            .unwrap_or(0) as f64
            / 1024.0
    }
}

/// What a PostgreSQL server has done so far: the CPU seconds of its
/// processes (the postmaster, its live children and the children it has
/// reaped), the write transactions begun and the bytes of WAL written.
#[derive(Clone, Copy)]
struct DatabaseCounters {
    cpu_seconds: f64,
    transactions: i64,
    wal_bytes: i64,
}

/// One process's parent, its own CPU seconds, and those of its reaped
/// children, from `/proc/{pid}/stat`.
fn process_times(pid: &str) -> Option<(u32, f64, f64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit(')').next()?.split_whitespace().collect();
    let ticks = |range: std::ops::Range<usize>| -> f64 {
        fields[range]
            .iter()
            .filter_map(|v| v.parse::<f64>().ok())
            .sum::<f64>()
            / TICKS_PER_SECOND
    };
    Some((fields.get(1)?.parse().ok()?, ticks(11..13), ticks(13..15)))
}

impl DatabaseCounters {
    async fn read(server: &postgres_server::PostgresServer) -> Option<Self> {
        let postmaster = server.pid()?;
        let (_, own, reaped) = process_times(&postmaster.to_string())?;
        let children: f64 = std::fs::read_dir("/proc")
            .ok()?
            .filter_map(Result::ok)
            .filter_map(|entry| process_times(entry.file_name().to_str()?))
            .filter(|(parent, _, _)| *parent == postmaster)
            .map(|(_, own, _)| own)
            .sum();
        let (client, connection) = tokio_postgres::connect(&server.url(), tokio_postgres::NoTls)
            .await
            .ok()?;
        tokio::spawn(connection);
        let row = client
            .query_one(
                "SELECT pg_current_xact_id()::TEXT::BIGINT,
                        (pg_current_wal_lsn() - '0/0'::PG_LSN)::BIGINT",
                &[],
            )
            .await
            .ok()?;
        Some(Self {
            cpu_seconds: own + reaped + children,
            transactions: row.get(0),
            wal_bytes: row.get(1),
        })
    }

    /// One line of the database table for `workload`, from `self` to
    /// `after`, per 1,000 of `units` (events or deliveries) done in
    /// `elapsed`.
    fn line_to(self, after: Self, workload: &str, units: u64, elapsed: Duration) -> String {
        let per_1000 = 1000.0 / units.max(1) as f64;
        let cpu = after.cpu_seconds - self.cpu_seconds;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        format!(
            "| {workload} | {:.3} | {:.1} | {:.0} | {:.0} |",
            cpu * per_1000,
            (after.transactions - self.transactions) as f64 * per_1000,
            (after.wal_bytes - self.wal_bytes) as f64 * per_1000 / 1024.0,
            100.0 * cpu / elapsed.as_secs_f64() / cores,
        )
    }
}

/// Whether `BENCH_STATEMENTS=1` asks for the database's statement
/// statistics.
fn statements_wanted() -> bool {
    std::env::var("BENCH_STATEMENTS").is_ok_and(|v| v == "1")
}

/// A durable PostgreSQL server for one run, with `pg_stat_statements`
/// loaded when [`statements_wanted`].
fn start_database() -> postgres_server::PostgresServer {
    let options = if statements_wanted() {
        "-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all \
         -c pg_stat_statements.track_planning=on"
    } else {
        ""
    };
    postgres_server::PostgresServer::start_with_options(true, options)
}

/// A client of `server`'s database.
async fn connect(server: &postgres_server::PostgresServer) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&server.url(), tokio_postgres::NoTls)
        .await
        .expect("connect to the database");
    tokio::spawn(connection);
    client
}

/// Print to stderr the ten statements that took `server` the most time
/// (planning and executing) since the statistics were last reset, under
/// `workload`'s name.
async fn print_statements(server: &postgres_server::PostgresServer, workload: &str) {
    let rows = connect(server)
        .await
        .query(
            "SELECT calls, total_exec_time, rows,
                    regexp_replace(left(query, 160), '\\s+', ' ', 'g'), total_plan_time, plans
             FROM pg_stat_statements ORDER BY total_exec_time + total_plan_time DESC LIMIT 10",
            &[],
        )
        .await
        .expect("read pg_stat_statements");
    eprintln!(
        "statements, {workload}: calls | total ms | mean ms | rows | plans | planning ms | statement"
    );
    for row in rows {
        let (calls, total, result_rows): (i64, f64, i64) = (row.get(0), row.get(1), row.get(2));
        let (planning, plans): (f64, i64) = (row.get(4), row.get(5));
        eprintln!(
            "  {calls} | {total:.0} | {:.3} | {result_rows} | {plans} | {planning:.0} | {}",
            total / calls.max(1) as f64,
            row.get::<_, &str>(3)
        );
    }
}

/// Lines of the database table, printed after the main one.
static DATABASE_LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Where the service keeps its data in a run (or which service it is).
#[derive(Clone, Copy)]
enum Backend {
    Sqlite,
    Postgres {
        nodes: usize,
    },
    /// The Svix server, the peer we measure against, on PostgreSQL.
    Svix,
}

impl Backend {
    fn label(self) -> String {
        match self {
            Backend::Sqlite => "SQLite".into(),
            Backend::Postgres { nodes: 1 } => "PostgreSQL, 1 node".into(),
            Backend::Postgres { nodes } => format!("PostgreSQL, {nodes} nodes"),
            Backend::Svix => "Svix 1.100 (PostgreSQL, memory queue)".into(),
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Counts deliveries per path and records publish -> delivery latency.
#[derive(Default)]
struct Received {
    count: AtomicU64,
    latencies_us: Mutex<HashMap<String, Vec<u64>>>,
    hang: Mutex<HashMap<String, Duration>>,
}

fn sent_at(body: &[u8]) -> Option<u64> {
    let key = b"\"sent_at_us\":";
    let at = body.windows(key.len()).position(|w| w == key)? + key.len();
    let digits: Vec<u8> = body[at..]
        .iter()
        .copied()
        .take_while(u8::is_ascii_digit)
        .collect();
    std::str::from_utf8(&digits).ok()?.parse().ok()
}

async fn receive(
    received: Arc<Received>,
    request: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<Empty<Bytes>>, hyper::Error> {
    let path = request.uri().path().trim_start_matches('/').to_owned();
    let body = request.into_body().collect().await?.to_bytes();
    let hang = received.hang.lock().unwrap().get(&path).copied();
    if let Some(hang) = hang {
        tokio::time::sleep(hang).await;
    }
    if let Some(sent) = sent_at(&body) {
        let latency = now_us().saturating_sub(sent);
        received
            .latencies_us
            .lock()
            .unwrap()
            .entry(path)
            .or_default()
            .push(latency);
    }
    received.count.fetch_add(1, Ordering::Relaxed);
    Ok(hyper::Response::new(Empty::new()))
}

/// The receiver: a bare hyper HTTP/1.1 server (keep-alive, no routing
/// layer), so as little of the shared cores as possible goes to it.
async fn start_receiver() -> (String, Arc<Received>) {
    let received = Arc::new(Received::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let state = received.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            let state = state.clone();
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |request| receive(state.clone(), request));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (url, received)
}

/// A client of the nodes: management calls go to the first, events are
/// spread over all of them in turn.
struct Api {
    client: reqwest::Client,
    urls: Vec<String>,
    next: AtomicU64,
    /// Set when the service is Svix: its bearer token.
    svix_token: Option<String>,
}

impl Api {
    async fn post(&self, path: &str, key: Option<&str>, body: Value) -> Value {
        let mut request = self
            .client
            .post(format!("{}{path}", self.urls[0]))
            .json(&body);
        request = match (key, &self.svix_token) {
            (_, Some(token)) => request.bearer_auth(token),
            (Some(key), None) => request.header("X-Api-Key", key),
            (None, None) => request.bearer_auth(ADMIN_KEY),
        };
        let response = request.send().await.expect("request");
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        response.json().await.unwrap()
    }

    /// Publish one event for `account`; it must be accepted.
    async fn publish(&self, account: &str) {
        let node = self.next.fetch_add(1, Ordering::Relaxed) as usize % self.urls.len();
        let request = match &self.svix_token {
            Some(token) => self
                .client
                .post(format!("{}/api/v1/app/{account}/msg/", self.urls[node]))
                .bearer_auth(token)
                .json(
                    &json!({"eventType": "generation_complete", "payload": event(account)["data"]}),
                ),
            None => self
                .client
                .post(format!("{}/v1/events", self.urls[node]))
                .bearer_auth(ADMIN_KEY)
                .json(&event(account)),
        };
        let response = request.send().await.expect("publish");
        assert_eq!(response.status(), 202);
    }

    /// A publisher of `account`'s events over a connection of its own to
    /// node `task` (modulo the nodes).
    async fn publisher(&self, account: &str, task: usize) -> Publisher {
        let url: http::Uri = self.urls[task % self.urls.len()].parse().unwrap();
        let authority = url.authority().unwrap().clone();
        let stream = tokio::net::TcpStream::connect(authority.as_str())
            .await
            .expect("connect a publisher");
        stream.set_nodelay(true).unwrap();
        let (sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .expect("publisher handshake");
        tokio::spawn(connection);
        let (path, token, body) = match &self.svix_token {
            Some(token) => (
                format!("/api/v1/app/{account}/msg/"),
                token.as_str(),
                (
                    format!(r#"{{"eventType":"generation_complete","payload":{{{EVENT_DATA}"#),
                    "}}",
                ),
            ),
            None => (
                "/v1/events".to_owned(),
                ADMIN_KEY,
                (
                    format!(
                        r#"{{"type":"generation_complete","account_id":"{account}","data":{{{EVENT_DATA}"#
                    ),
                    "}}",
                ),
            ),
        };
        Publisher {
            sender,
            uri: path.parse().unwrap(),
            host: authority.as_str().parse().unwrap(),
            authorization: format!("Bearer {token}").parse().unwrap(),
            body,
        }
    }

    /// An account with `subscriptions` webhooks to `target/<prefix><i>`.
    async fn account(&self, target: &str, prefix: &str, subscriptions: usize) -> String {
        self.account_with_key(target, prefix, subscriptions).await.0
    }

    /// `GET path` with an account's API key; the JSON answer.
    async fn get(&self, path: &str, key: &str) -> Value {
        let response = self
            .client
            .get(format!("{}{path}", self.urls[0]))
            .header("X-Api-Key", key)
            .send()
            .await
            .expect("request");
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        response.json().await.unwrap()
    }

    /// [`Api::account`], with the account's API key (none on Svix).
    async fn account_with_key(
        &self,
        target: &str,
        prefix: &str,
        subscriptions: usize,
    ) -> (String, String) {
        if self.svix_token.is_some() {
            let app = self
                .post("/api/v1/app/", None, json!({"name": prefix}))
                .await["id"]
                .as_str()
                .unwrap()
                .to_owned();
            for i in 0..subscriptions {
                self.post(
                    &format!("/api/v1/app/{app}/endpoint/"),
                    None,
                    json!({"url": format!("{target}/{prefix}{i}"), "version": 1}),
                )
                .await;
            }
            return (app, String::new());
        }
        let account = self.post("/v1/accounts", None, json!({})).await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let key = self
            .post(&format!("/v1/accounts/{account}/api-keys"), None, json!({}))
            .await["key"]
            .as_str()
            .unwrap()
            .to_owned();
        for i in 0..subscriptions {
            self.post(
                "/v1/webhooks",
                Some(&key),
                json!({"url": format!("{target}/{prefix}{i}")}),
            )
            .await;
        }
        (account, key)
    }
}

/// One publishing task's own keep-alive HTTP/1.1 connection to one node:
/// bare hyper, each request's head and body built from parts made once, so
/// that the load generator takes as little of the shared cores as it can
/// (reqwest's client took about as much CPU per publish as the service's
/// whole ingest).
struct Publisher {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    uri: http::Uri,
    host: http::HeaderValue,
    authorization: http::HeaderValue,
    /// The body up to the send time, and after it.
    body: (String, &'static str),
}

impl Publisher {
    async fn publish(&mut self) {
        let body = format!("{}{}{}", self.body.0, now_us(), self.body.1);
        self.send(body).await;
    }

    /// Publish `body` (a whole `POST /v1/events` body); it must be accepted.
    async fn send(&mut self, body: String) {
        let request = hyper::Request::post(self.uri.clone())
            .header(http::header::HOST, self.host.clone())
            .header(http::header::AUTHORIZATION, self.authorization.clone())
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        self.sender.ready().await.expect("publisher connection");
        let response = self.sender.send_request(request).await.expect("publish");
        assert_eq!(response.status(), 202);
        response
            .into_body()
            .collect()
            .await
            .expect("publish answer");
    }
}

/// The data of every published event up to its send time (`sent_at_us`
/// ends it), as JSON text without the opening brace.
const EVENT_DATA: &str = r#""type":"image","user_id":"user_abc123","credits_used":1,"generation_id":"gen_9f3a2b","output_url":"https://zsky.ai/outputs/gen_9f3a2b.png","sent_at_us":"#;

fn event(account: &str) -> Value {
    json!({"type": "generation_complete", "account_id": account, "data": {
        "type": "image", "user_id": "user_abc123", "credits_used": 1, "generation_id": "gen_9f3a2b",
        "output_url": "https://zsky.ai/outputs/gen_9f3a2b.png", "sent_at_us": now_us()}})
}

/// Publish `total` events from `concurrency` tasks as fast as they are accepted.
async fn burst(
    api: &Arc<Api>,
    account: &str,
    total: u64,
    concurrency: usize,
) -> (Duration, Vec<u64>) {
    let next = Arc::new(AtomicU64::new(0));
    let mut publishers = Vec::with_capacity(concurrency);
    for task in 0..concurrency {
        publishers.push(api.publisher(account, task).await);
    }
    let started = Instant::now();
    let mut tasks = Vec::new();
    for mut publisher in publishers {
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < total {
                let t = Instant::now();
                publisher.publish().await;
                latencies.push(t.elapsed().as_micros() as u64);
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    (started.elapsed(), latencies)
}

/// Publish at a steady `rate` per second for `seconds`.
async fn paced(api: &Arc<Api>, account: &str, rate: u64, seconds: u64) {
    let mut ticker = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..rate * seconds {
        ticker.tick().await;
        let (api, account) = (api.clone(), account.to_owned());
        tasks.spawn(async move { api.publish(&account).await });
    }
    while tasks.join_next().await.is_some() {}
}

async fn wait_for(received: &Received, count: u64, limit: Duration) -> Duration {
    let started = Instant::now();
    while received.count.load(Ordering::Relaxed) < count {
        assert!(
            started.elapsed() < limit,
            "only {} of {count} deliveries arrived",
            received.count.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    started.elapsed()
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize] as f64 / 1000.0
}

/// The whole machine's CPU time so far, from the first line of `/proc/stat`
/// (clock ticks summed over every core).
#[derive(Clone, Copy)]
struct MachineCpu {
    busy: u64,
    total: u64,
}

impl MachineCpu {
    fn now() -> Self {
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let ticks: Vec<u64> = stat
            .lines()
            .next()
            .unwrap_or("")
            .split_whitespace()
            .skip(1)
            .take(8)
            .filter_map(|v| v.parse().ok())
            .collect();
        let total: u64 = ticks.iter().sum();
        // The fourth and fifth fields: idle and waiting for I/O.
        let idle = ticks.get(3).copied().unwrap_or(0) + ticks.get(4).copied().unwrap_or(0);
        Self {
            busy: total - idle,
            total,
        }
    }

    /// Since `self`: how busy the machine was, and the service's share of
    /// it given the service's CPU seconds in the same span, both in percent
    /// of all cores' time.
    fn shares_since(self, service_cpu_seconds: f64) -> (f64, f64) {
        let now = Self::now();
        let total = (now.total - self.total).max(1) as f64;
        let busy = (now.busy - self.busy) as f64;
        (
            100.0 * busy / total,
            100.0 * service_cpu_seconds * TICKS_PER_SECOND / total,
        )
    }
}

/// One row of the table.
struct Row {
    workload: String,
    events_per_s: Option<f64>,
    deliveries_per_s: Option<f64>,
    latencies_us: Vec<u64>,
    latency_of: &'static str,
    cpu_per_1000: Option<f64>,
    /// Percent of all cores' time: the machine busy, the service's part.
    machine: Option<(f64, f64)>,
    peak_rss_mb: f64,
}

impl Row {
    fn print(&mut self) {
        self.latencies_us.sort_unstable();
        let l = &self.latencies_us;
        let opt = |v: Option<f64>, digits: usize| v.map_or("-".into(), |v| format!("{v:.digits$}"));
        let latency = if l.is_empty() {
            "-".to_owned()
        } else {
            format!(
                "{:.1} / {:.1} / {:.1} ({})",
                percentile(l, 0.5),
                percentile(l, 0.99),
                percentile(l, 1.0),
                self.latency_of
            )
        };
        let machine = self.machine.map_or("-".into(), |(busy, service)| {
            format!("{busy:.0} / {service:.0}")
        });
        println!(
            "| {} | {} | {} | {latency} | {} | {machine} | {:.0} |",
            self.workload,
            opt(self.events_per_s, 0),
            opt(self.deliveries_per_s, 0),
            opt(self.cpu_per_1000, 3),
            self.peak_rss_mb,
        );
    }
}

fn latencies_of(received: &Received, prefix: &str) -> Vec<u64> {
    let map = received.latencies_us.lock().unwrap();
    map.iter()
        .filter(|(path, _)| path.starts_with(prefix))
        .flat_map(|(_, l)| l.iter().copied())
        .collect()
}

/// Ingest only: no subscriptions, 32 concurrent publishers.
async fn ingest_only(client: &reqwest::Client, seconds: u64, backend: Backend) -> Row {
    let service = Nodes::start(backend, &[]);
    let api = service.api(client);
    let account = api.account("http://127.0.0.1:9", "unused", 0).await;
    burst(&api, &account, 500, 32).await;
    measure_ingest(&service, &api, &account, 5_000 * seconds, backend.label()).await
}

/// Publish `events` to `account` (which has no webhooks) from 32 tasks and
/// measure how fast they are accepted.
async fn measure_ingest(
    service: &Nodes,
    api: &Arc<Api>,
    account: &str,
    events: u64,
    label: String,
) -> Row {
    let cpu = service.cpu_seconds();
    let machine = MachineCpu::now();
    let database = service.begin_database_costs().await;
    let (elapsed, latencies) = burst(api, account, events, 32).await;
    let used = service.cpu_seconds() - cpu;
    let workload = format!("{label}: ingest only, per 1,000 events");
    service
        .note_database_costs(database, &workload, events, elapsed)
        .await;
    Row {
        workload: format!("{label}: ingest only, 32 publishers, {events} events"),
        events_per_s: Some(events as f64 / elapsed.as_secs_f64()),
        deliveries_per_s: None,
        latencies_us: latencies,
        latency_of: "publish request",
        cpu_per_1000: Some(used / events as f64 * 1000.0),
        machine: Some(machine.shares_since(used)),
        peak_rss_mb: service.peak_rss_mb(),
    }
}

async fn fanout(
    client: &reqwest::Client,
    seconds: u64,
    subscriptions: usize,
    backend: Backend,
) -> Row {
    fanout_with(
        client,
        2_000 * seconds,
        subscriptions,
        backend,
        Delivery::Unordered,
    )
    .await
}

/// How the end-to-end workloads' webhooks take their deliveries.
#[derive(Clone, Copy, PartialEq)]
enum Delivery {
    /// As soon as each can, many at once.
    Unordered,
    /// `"ordering": "fifo"`: one at a time, in publish order.
    Ordered,
}

/// `events` published in a burst (after a warm-up of 200) to one account
/// with `subscriptions` matching webhooks, end to end.
async fn fanout_with(
    client: &reqwest::Client,
    events: u64,
    subscriptions: usize,
    backend: Backend,
    delivery: Delivery,
) -> Row {
    let service = Nodes::start(backend, &["--retry-schedule", "1s,5s"]);
    let (target, received) = start_receiver().await;
    let api = service.api(client);
    let account = match delivery {
        Delivery::Unordered => api.account(&target, "t", subscriptions).await,
        Delivery::Ordered => {
            let (account, key) = api.account_with_key(&target, "t", 0).await;
            for i in 0..subscriptions {
                api.post(
                    "/v1/webhooks",
                    Some(&key),
                    json!({"url": format!("{target}/t{i}"), "ordering": "fifo"}),
                )
                .await;
            }
            account
        }
    };
    burst(&api, &account, 200, 32).await;
    wait_for(
        &received,
        200 * subscriptions as u64,
        Duration::from_secs(60),
    )
    .await;
    let ordered = match delivery {
        Delivery::Unordered => "",
        Delivery::Ordered => " ordered (fifo)",
    };
    let label = format!("{}: {subscriptions}{ordered}", backend.label());
    measure_delivery(
        client,
        &service,
        &api,
        &received,
        &account,
        events,
        subscriptions,
        label,
    )
    .await
}

/// Publish `events` to `account`, whose `subscriptions` webhooks deliver to
/// `received`, and measure them end to end, until every delivery has
/// arrived.
#[allow(clippy::too_many_arguments)]
async fn measure_delivery(
    client: &reqwest::Client,
    service: &Nodes,
    api: &Arc<Api>,
    received: &Received,
    account: &str,
    events: u64,
    subscriptions: usize,
    label: String,
) -> Row {
    received.latencies_us.lock().unwrap().clear();
    let warm = received.count.load(Ordering::Relaxed);
    let cpu = service.cpu_seconds();
    let machine = MachineCpu::now();
    let database = service.begin_database_costs().await;
    let started = Instant::now();
    let (ingest, _) = burst(api, account, events, 32).await;
    let deliveries = events * subscriptions as u64;
    wait_for(received, warm + deliveries, Duration::from_secs(600)).await;
    let elapsed = started.elapsed();
    let used = service.cpu_seconds() - cpu;
    let workload = format!("{label} subscription(s), end to end, per 1,000 deliveries");
    service
        .note_database_costs(database, &workload, deliveries, elapsed)
        .await;
    if std::env::var_os("BENCH_METRICS").is_some() && service.services[0].svix_token.is_none() {
        service.print_dispatcher_metrics(client).await;
    }
    Row {
        workload: format!("{label} matching subscription(s), {events} events, end to end"),
        events_per_s: Some(events as f64 / ingest.as_secs_f64()),
        deliveries_per_s: Some(deliveries as f64 / elapsed.as_secs_f64()),
        latencies_us: latencies_of(received, "t"),
        latency_of: "publish -> delivery",
        cpu_per_1000: Some(used / deliveries as f64 * 1000.0),
        machine: Some(machine.shares_since(used)),
        peak_rss_mb: service.peak_rss_mb(),
    }
}

/// Ingest and delivery on a database that already holds `stored` events
/// (each delivered once, with its attempt): the same two measurements as
/// `ingest` and `fanout1`, to the account that holds them. Filling the
/// database is not timed but reported, with its size.
async fn with_history(
    client: &reqwest::Client,
    seconds: u64,
    stored: u64,
    backend: Backend,
) -> [Row; 2] {
    let service = Nodes::start(backend, &["--retry-schedule", "1s,5s"]);
    let (target, received) = start_receiver().await;
    let api = service.api(client);
    let account = api.account(&target, "t", 1).await;
    let quiet = api.account("http://127.0.0.1:9", "unused", 0).await;
    let filling = Instant::now();
    let chunk = 100_000;
    let mut published = 0;
    while published < stored {
        let events = chunk.min(stored - published);
        burst(&api, &account, events, 32).await;
        published += events;
        wait_for(&received, published, Duration::from_secs(600)).await;
        eprintln!(
            "{}: {published} events stored and delivered in {:.0} s",
            backend.label(),
            filling.elapsed().as_secs_f64()
        );
    }
    let size = service.database_bytes(client).await as f64 / 1e6;
    let label = format!(
        "{}, {stored} events stored ({size:.0} MB, filled in {:.0} s)",
        backend.label(),
        filling.elapsed().as_secs_f64()
    );
    burst(&api, &quiet, 500, 32).await;
    let ingest = measure_ingest(&service, &api, &quiet, 5_000 * seconds, label.clone()).await;
    let delivery = measure_delivery(
        client,
        &service,
        &api,
        &received,
        &account,
        2_000 * seconds,
        1,
        format!("{label}: 1"),
    )
    .await;
    [ingest, delivery]
}

/// Steady 1,000 events/s to one subscription for `seconds`: publish ->
/// delivery latency when nothing queues.
async fn steady(client: &reqwest::Client, seconds: u64, backend: Backend) -> Row {
    let service = Nodes::start(backend, &[]);
    let (target, received) = start_receiver().await;
    let api = service.api(client);
    let account = api.account(&target, "s", 1).await;
    let cpu = service.cpu_seconds();
    paced(&api, &account, 1000, seconds).await;
    wait_for(&received, 1000 * seconds, Duration::from_secs(60)).await;
    Row {
        workload: format!(
            "{}: steady 1,000 events/s for {seconds} s, 1 subscription",
            backend.label()
        ),
        events_per_s: Some(1000.0),
        deliveries_per_s: Some(1000.0),
        latencies_us: latencies_of(&received, "s"),
        latency_of: "publish -> delivery",
        cpu_per_1000: Some((service.cpu_seconds() - cpu) / (1000 * seconds) as f64 * 1000.0),
        machine: None,
        peak_rss_mb: service.peak_rss_mb(),
    }
}

/// The tenants workload's settings, from `BENCH_TENANTS` (accounts,
/// default 10,000) and `BENCH_TENANT_WEBHOOKS` (webhooks each, default 10).
struct Tenancy {
    accounts: usize,
    webhooks: usize,
}

/// One tenant: its account id and API key.
struct Tenant {
    account: String,
    key: String,
}

/// Create `tenancy.accounts` accounts, each with `tenancy.webhooks` webhooks
/// to `target/n<account>_<i>` that pass only events whose `user_id` is
/// `user_<i>`, 64 accounts at a time.
async fn create_tenants(api: &Arc<Api>, target: &str, tenancy: &Tenancy) -> Vec<Tenant> {
    let mut tenants = Vec::with_capacity(tenancy.accounts);
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..tenancy.accounts {
        let (api, target, webhooks) = (api.clone(), target.to_owned(), tenancy.webhooks);
        tasks.spawn(async move {
            let account = api.post("/v1/accounts", None, json!({})).await["id"]
                .as_str()
                .unwrap()
                .to_owned();
            let key = api
                .post(&format!("/v1/accounts/{account}/api-keys"), None, json!({}))
                .await["key"]
                .as_str()
                .unwrap()
                .to_owned();
            for i in 0..webhooks {
                api.post(
                    "/v1/webhooks",
                    Some(&key),
                    json!({"url": format!("{target}/n{n}_{i}"), "filter": {"user_id": format!("user_{i}")}}),
                )
                .await;
            }
            Tenant { account, key }
        });
        if tasks.len() == 64 {
            tenants.push(tasks.join_next().await.unwrap().unwrap());
        }
    }
    while let Some(tenant) = tasks.join_next().await {
        tenants.push(tenant.unwrap());
    }
    tenants
}

/// Publish `total` events from 32 connections, each for a random tenant
/// and a random one of its webhooks' users, so that exactly one webhook of
/// one account matches each event.
async fn burst_tenants(api: &Arc<Api>, tenants: &Arc<Vec<Tenant>>, webhooks: usize, total: u64) {
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for task in 0..32 {
        let mut publisher = api.publisher(&tenants[0].account, task).await;
        let (next, tenants) = (next.clone(), tenants.clone());
        tasks.push(tokio::spawn(async move {
            let mut rng = rand::rngs::StdRng::from_rng(&mut rand::rng());
            while next.fetch_add(1, Ordering::Relaxed) < total {
                let tenant = &tenants[rng.random_range(0..tenants.len())];
                let user = rng.random_range(0..webhooks);
                let body = format!(
                    r#"{{"type":"generation_complete","account_id":"{}","data":{{"type":"image","user_id":"user_{user}","credits_used":1,"generation_id":"gen_9f3a2b","output_url":"https://zsky.ai/outputs/gen_9f3a2b.png","sent_at_us":{}}}}}"#,
                    tenant.account,
                    now_us()
                );
                publisher.send(body).await;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

/// Create and delete webhooks of random tenants, `per_second` of each,
/// until `stop` is set; how many of each were made. The churned webhooks
/// match no event.
async fn churn(
    api: Arc<Api>,
    tenants: Arc<Vec<Tenant>>,
    per_second: u64,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> u64 {
    let mut ticker = tokio::time::interval(Duration::from_micros(1_000_000 / per_second));
    let mut made = 0;
    let mut previous: Option<(String, String)> = None;
    while !stop.load(Ordering::Relaxed) {
        ticker.tick().await;
        let tenant = &tenants[rand::rng().random_range(0..tenants.len())];
        let created = api
            .post(
                "/v1/webhooks",
                Some(&tenant.key),
                json!({"url": "http://127.0.0.1:9/churn", "filter": {"user_id": "nobody"}}),
            )
            .await;
        if let Some((key, id)) = previous.take() {
            let response = api
                .client
                .delete(format!("{}/v1/webhooks/{id}", api.urls[0]))
                .header("X-Api-Key", key)
                .send()
                .await
                .expect("delete a webhook");
            assert!(
                response.status().is_success(),
                "delete: {}",
                response.status()
            );
        }
        previous = Some((
            tenant.key.clone(),
            created["id"].as_str().unwrap().to_owned(),
        ));
        made += 1;
    }
    made
}

/// Many tenants: `tenancy.accounts` accounts of `tenancy.webhooks` webhooks
/// each, events for random accounts with one matching webhook each; the
/// same again with webhooks created and deleted at 100/s alongside. Two
/// rows: without churn, and with.
async fn tenants(client: &reqwest::Client, seconds: u64, backend: Backend) -> [Row; 2] {
    let tenancy = Tenancy {
        accounts: env_number("BENCH_TENANTS", 10_000) as usize,
        webhooks: env_number("BENCH_TENANT_WEBHOOKS", 10) as usize,
    };
    let service = Nodes::start(backend, &["--retry-schedule", "1s,5s", "--rate-limit", "0"]);
    let (target, received) = start_receiver().await;
    let api = service.api(client);
    let started = Instant::now();
    let tenants = Arc::new(create_tenants(&api, &target, &tenancy).await);
    let subscriptions = tenancy.accounts * tenancy.webhooks;
    println!(
        "tenants, {}: {} accounts and {subscriptions} webhooks created in {:.0} s",
        backend.label(),
        tenancy.accounts,
        started.elapsed().as_secs_f64()
    );
    service.analyze().await;
    let mut rows = Vec::new();
    for churning in [false, true] {
        received.latencies_us.lock().unwrap().clear();
        let warm = received.count.load(Ordering::Relaxed);
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let churner =
            churning.then(|| tokio::spawn(churn(api.clone(), tenants.clone(), 100, stop.clone())));
        let events = 2_000 * seconds;
        let database = service.begin_database_costs().await;
        let cpu = service.cpu_seconds();
        let machine = MachineCpu::now();
        let started = Instant::now();
        burst_tenants(&api, &tenants, tenancy.webhooks, events).await;
        let ingest = started.elapsed();
        wait_for(&received, warm + events, Duration::from_secs(600)).await;
        let elapsed = started.elapsed();
        stop.store(true, Ordering::Relaxed);
        let churned = match churner {
            Some(task) => format!(
                ", {} webhooks created and deleted alongside",
                task.await.unwrap()
            ),
            None => String::new(),
        };
        let used = service.cpu_seconds() - cpu;
        let workload = format!(
            "{}: {} tenants x {} webhooks, 1 matching per event, {events} events{churned}",
            backend.label(),
            tenancy.accounts,
            tenancy.webhooks
        );
        service
            .note_database_costs(database, &workload, events, elapsed)
            .await;
        rows.push(Row {
            workload,
            events_per_s: Some(events as f64 / ingest.as_secs_f64()),
            deliveries_per_s: Some(events as f64 / elapsed.as_secs_f64()),
            latencies_us: latencies_of(&received, "n"),
            latency_of: "publish -> delivery",
            cpu_per_1000: Some(used / events as f64 * 1000.0),
            machine: Some(machine.shares_since(used)),
            peak_rss_mb: service.peak_rss_mb(),
        });
    }
    let second = rows.pop().unwrap();
    [rows.pop().unwrap(), second]
}

/// Attempt history: an account whose ten webhooks have made
/// `2,000 × seconds × 10` attempts, then pages of it as the dashboard and
/// the API read them: a webhook's newest 50 attempts and the 50 before
/// those (by cursor), and one event's attempts. Latency is per list request.
async fn history(client: &reqwest::Client, seconds: u64, backend: Backend) -> Row {
    // The list calls come faster than an account's management rate limit.
    let service = Nodes::start(backend, &["--rate-limit", "0"]);
    let (target, received) = start_receiver().await;
    let api = service.api(client);
    let webhooks = 10;
    let (account, key) = api.account_with_key(&target, "h", webhooks).await;
    let events = 2_000 * seconds;
    burst(&api, &account, events, 32).await;
    let named = 100;
    for i in 0..named {
        let mut event = event(&account);
        event["id"] = json!(format!("hist_{i}"));
        api.post("/v1/events", None, event).await;
    }
    let attempts = (events + named) * webhooks as u64;
    wait_for(&received, attempts, Duration::from_secs(600)).await;
    // Outcomes are recorded just after the receiver has counted them.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let ids: Vec<String> = api.get("/v1/webhooks?limit=100", &key).await["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["id"].as_str().unwrap().to_owned())
        .collect();
    let mut latencies = Vec::new();
    let mut timed = async |path: String| {
        let started = Instant::now();
        let page = api.get(&path, &key).await;
        latencies.push(started.elapsed().as_micros() as u64);
        page
    };
    for round in 0..20 {
        for id in &ids {
            let first = timed(format!("/v1/webhooks/{id}/attempts?limit=50")).await;
            assert_eq!(first["data"].as_array().unwrap().len(), 50);
            let cursor = first["next_cursor"].as_str().unwrap().to_owned();
            let second = timed(format!(
                "/v1/webhooks/{id}/attempts?limit=50&cursor={cursor}"
            ))
            .await;
            assert_eq!(second["data"].as_array().unwrap().len(), 50);
        }
        for i in (round * 5)..(round * 5 + 5) {
            let page = timed(format!("/v1/events/hist_{i}/attempts")).await;
            assert_eq!(page["data"].as_array().unwrap().len(), webhooks);
        }
    }
    Row {
        workload: format!(
            "{}: attempt history, {attempts} attempts in one account: a webhook's page of 50, the next by cursor, an event's attempts",
            backend.label()
        ),
        events_per_s: None,
        deliveries_per_s: None,
        latencies_us: latencies,
        latency_of: "list request",
        cpu_per_1000: None,
        machine: None,
        peak_rss_mb: service.peak_rss_mb(),
    }
}

/// The three comparable workloads, each run on `measured` and on
/// `baseline` in turn for `rounds` rounds (`measured` first in odd rounds);
/// prints every row as it is measured, then each workload's per-round
/// ratios (`measured` over `baseline`) and their median.
async fn paired(
    client: &reqwest::Client,
    seconds: u64,
    rounds: u64,
    measured: Backend,
    baseline: Backend,
) {
    let workloads: [(&str, usize); 3] = [
        ("ingest, events/s", 0),
        ("one endpoint, deliveries/s", 1),
        ("ten endpoints, deliveries/s", 10),
    ];
    let mut rates: Vec<Vec<(f64, f64)>> = vec![Vec::new(); workloads.len()];
    for round in 1..=rounds {
        for (index, &(_, subscriptions)) in workloads.iter().enumerate() {
            let order = if round % 2 == 1 {
                [(true, measured), (false, baseline)]
            } else {
                [(false, baseline), (true, measured)]
            };
            let (mut measured_rate, mut baseline_rate) = (0.0, 0.0);
            for (is_measured, backend) in order {
                let mut row = if subscriptions == 0 {
                    ingest_only(client, seconds, backend).await
                } else {
                    fanout(client, seconds, subscriptions, backend).await
                };
                row.workload = format!("round {round}: {}", row.workload);
                row.print();
                let rate = row.deliveries_per_s.or(row.events_per_s).unwrap_or(0.0);
                if is_measured {
                    measured_rate = rate;
                } else {
                    baseline_rate = rate;
                }
            }
            rates[index].push((measured_rate, baseline_rate));
        }
    }
    println!();
    println!(
        "| paired rounds | {} | {} | ratio per round | median ratio |",
        measured.label(),
        baseline.label()
    );
    println!("| --- | --- | --- | --- | --- |");
    for ((name, _), rounds) in workloads.iter().zip(&rates) {
        let list = |pick: fn(&(f64, f64)) -> f64| {
            rounds
                .iter()
                .map(|r| format!("{:.0}", pick(r)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut ratios: Vec<f64> = rounds
            .iter()
            .map(|(ours, theirs)| ours / theirs.max(1.0))
            .collect();
        let shown = ratios
            .iter()
            .map(|r| format!("{r:.1}×"))
            .collect::<Vec<_>>()
            .join(", ");
        ratios.sort_by(f64::total_cmp);
        let middle = ratios.len() / 2;
        let median = if ratios.len().is_multiple_of(2) {
            (ratios[middle - 1] + ratios[middle]) / 2.0
        } else {
            ratios[middle]
        };
        println!(
            "| {name} | {} | {} | {shown} | {median:.2}× |",
            list(|r| r.0),
            list(|r| r.1)
        );
    }
}

/// The soak workload's settings, from `BENCH_SOAK_RATE`, `BENCH_SOAK_SECONDS`,
/// `BENCH_SOAK_RETENTION` and `BENCH_SOAK_SAMPLE`.
struct SoakSettings {
    /// Events published per second.
    rate: u64,
    /// How long publishing goes on.
    seconds: u64,
    /// The service's `--retention`, as given (`30s`, `never`).
    retention: String,
    /// Seconds between two samples.
    sample: u64,
}

impl SoakSettings {
    /// The settings from the environment, with their defaults.
    fn from_env() -> Self {
        Self {
            rate: env_number("BENCH_SOAK_RATE", 500).max(1),
            seconds: env_number("BENCH_SOAK_SECONDS", 180).max(1),
            retention: std::env::var("BENCH_SOAK_RETENTION").unwrap_or_else(|_| "30s".into()),
            sample: env_number("BENCH_SOAK_SAMPLE", 5).max(1),
        }
    }

    /// The retention in seconds, unless it is `never` (or unreadable).
    fn retention_seconds(&self) -> Option<f64> {
        humantime::parse_duration(&self.retention)
            .ok()
            .map(|d| d.as_secs_f64())
    }
}

/// One sample of the soak workload: the service's state at `elapsed_s`
/// and the latencies of the window that ended there.
struct SoakSample {
    /// Seconds since publishing started.
    elapsed_s: f64,
    /// `hookbridge_database_bytes`, in MB (MiB, as RSS).
    database_mb: f64,
    /// The service process's VmRSS, in MB.
    rss_mb: f64,
    /// p99 of the window's publish requests (client-measured), in ms.
    publish_p99_ms: Option<f64>,
    /// p99 of the window's publish -> receipt times, in ms.
    lag_p99_ms: Option<f64>,
    /// Deliveries the receiver got in the window.
    delivered: usize,
    /// `hookbridge_purged_rows_total{table="events"}` so far.
    purged_events: u64,
    /// `hookbridge_queue_depth`.
    queue_depth: u64,
}

/// The value of `series` (a metric name with its labels, as the service
/// prints them) in Prometheus text, or 0 when it is not there yet.
fn metric_value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| {
            line.strip_prefix(series)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0.0)
}

/// The p99 of `latencies_us` in ms, or `None` for an empty window.
fn p99_ms(mut latencies_us: Vec<u64>) -> Option<f64> {
    if latencies_us.is_empty() {
        return None;
    }
    latencies_us.sort_unstable();
    Some(percentile(&latencies_us, 0.99))
}

/// Take (and forget) the publish -> receipt latencies of the paths that
/// start with `prefix`, so that each sample sees only its own window.
fn take_latencies(received: &Received, prefix: &str) -> Vec<u64> {
    let mut map = received.latencies_us.lock().unwrap();
    map.iter_mut()
        .filter(|(path, _)| path.starts_with(prefix))
        .flat_map(|(_, latencies)| std::mem::take(latencies))
        .collect()
}

/// Publish `account`'s events at `rate` per second for `seconds`, each
/// request timed (from its start, just after its tick, to its 202) into
/// `latencies_us`; the number of publishes that failed.
async fn paced_timed(
    api: Arc<Api>,
    account: String,
    rate: u64,
    seconds: u64,
    latencies_us: Arc<Mutex<Vec<u64>>>,
) -> u64 {
    let mut ticker = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
    let mut tasks = tokio::task::JoinSet::new();
    let mut failed = 0;
    for _ in 0..rate * seconds {
        ticker.tick().await;
        let (api, account, latencies_us) = (api.clone(), account.clone(), latencies_us.clone());
        tasks.spawn(async move {
            let started = Instant::now();
            api.publish(&account).await;
            let took = started.elapsed().as_micros() as u64;
            latencies_us.lock().unwrap().push(took);
        });
        while let Some(done) = tasks.try_join_next() {
            failed += u64::from(done.is_err());
        }
    }
    while let Some(done) = tasks.join_next().await {
        failed += u64::from(done.is_err());
    }
    failed
}

/// The soak workload on `backend`: steady publishing to one account with
/// one webhook for the whole length, the service's database size, RSS,
/// latencies, purges and queue depth sampled as it goes. Prints the
/// samples as a Markdown table and a summary line, and plots them to
/// `docs/<file>`.
async fn soak(client: &reqwest::Client, settings: &SoakSettings, backend: Backend, file: &str) {
    let retention = settings.retention.as_str();
    let nodes = Nodes::start(backend, &["--retention", retention]);
    let service = &nodes.services[0];
    let (target, received) = start_receiver().await;
    let api = nodes.api(client);
    let account = api.account(&target, "soak", 1).await;
    let publish_latencies = Arc::new(Mutex::new(Vec::new()));
    let started = Instant::now();
    let publishing = tokio::spawn(paced_timed(
        api.clone(),
        account,
        settings.rate,
        settings.seconds,
        publish_latencies.clone(),
    ));
    let interval = Duration::from_secs(settings.sample);
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    let mut samples = Vec::new();
    for _ in 0..(settings.seconds / settings.sample).max(1) {
        ticker.tick().await;
        let metrics = service.metrics(client).await;
        let lags = take_latencies(&received, "soak");
        samples.push(SoakSample {
            elapsed_s: started.elapsed().as_secs_f64(),
            database_mb: metric_value(&metrics, "hookbridge_database_bytes") / 1_048_576.0,
            rss_mb: service.memory_kb("VmRSS:") as f64 / 1024.0,
            publish_p99_ms: p99_ms(std::mem::take(&mut *publish_latencies.lock().unwrap())),
            delivered: lags.len(),
            lag_p99_ms: p99_ms(lags),
            purged_events: metric_value(&metrics, r#"hookbridge_purged_rows_total{table="events"}"#)
                as u64,
            queue_depth: metric_value(&metrics, "hookbridge_queue_depth") as u64,
        });
    }
    let failed = publishing.await.unwrap();
    let published = settings.rate * settings.seconds;
    let deadline = Instant::now() + Duration::from_secs(60);
    while received.count.load(Ordering::Relaxed) < published && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let delivered = received.count.load(Ordering::Relaxed);

    let label = backend.label();
    let subtitle = format!(
        "{} events/s to 1 webhook for {} s, retention {retention}, sampled every {} s",
        settings.rate, settings.seconds, settings.sample
    );
    let title = format!("Hookbridge soak: {label}");
    println!("\n{title}: {subtitle}\n");
    println!(
        "| elapsed s | database MB | RSS MB | publish p99 ms | delivery lag p99 ms | delivered in window | purged events | queue depth |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    let ms = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.1}"));
    for s in &samples {
        println!(
            "| {:.0} | {:.1} | {:.1} | {} | {} | {} | {} | {} |",
            s.elapsed_s,
            s.database_mb,
            s.rss_mb,
            ms(s.publish_p99_ms),
            ms(s.lag_p99_ms),
            s.delivered,
            s.purged_events,
            s.queue_depth
        );
    }
    let third = samples.len().div_ceil(3);
    let average = |part: &[SoakSample], value: fn(&SoakSample) -> f64| {
        part.iter().map(value).sum::<f64>() / part.len().max(1) as f64
    };
    let (first, last) = (&samples[..third], &samples[samples.len() - third..]);
    let max_publish_p99 = samples
        .iter()
        .filter_map(|s| s.publish_p99_ms)
        .fold(0.0, f64::max);
    println!(
        "\nsoak summary, {label}: database MB {:.1} first third -> {:.1} last third (first sample {:.1}); RSS MB {:.1} -> {:.1} (first sample {:.1}); max publish p99 {max_publish_p99:.1} ms; {delivered} of {published} delivered, {failed} publishes failed",
        average(first, |s| s.database_mb),
        average(last, |s| s.database_mb),
        samples[0].database_mb,
        average(first, |s| s.rss_mb),
        average(last, |s| s.rss_mb),
        samples[0].rss_mb,
    );

    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("docs")
        .join(file);
    match plot_soak(
        &path,
        &title,
        &subtitle,
        &samples,
        settings.retention_seconds(),
    ) {
        Ok(()) => println!("soak plot: {}", path.display()),
        Err(error) => eprintln!("soak: could not plot {}: {error}", path.display()),
    }
}

/// Plot soak samples to an SVG at `path` under `title` and `subtitle`:
/// four stacked panels on one time axis (database size, RSS, publish p99,
/// delivery lag p99), with a dashed line where the retention is first
/// reached.
fn plot_soak(
    path: &std::path::Path,
    title: &str,
    subtitle: &str,
    samples: &[SoakSample],
    retention_s: Option<f64>,
) -> Result<(), Box<dyn std::error::Error>> {
    use plotters::prelude::*;
    use plotters::style::text_anchor::{HPos, Pos, VPos};

    type Value = fn(&SoakSample) -> Option<f64>;
    let panels: [(&str, &str, Value, RGBColor); 4] = [
        (
            "Database size on disk",
            "MB",
            |s| Some(s.database_mb),
            RGBColor(31, 119, 180),
        ),
        (
            "Service resident memory (VmRSS)",
            "MB",
            |s| Some(s.rss_mb),
            RGBColor(44, 160, 44),
        ),
        (
            "Publish latency p99 (POST /v1/events, per sample window)",
            "ms",
            |s| s.publish_p99_ms,
            RGBColor(214, 39, 40),
        ),
        (
            "Delivery lag p99 (publish -> receipt, per sample window)",
            "ms",
            |s| s.lag_p99_ms,
            RGBColor(148, 103, 189),
        ),
    ];
    let end = samples.last().map_or(1.0, |s| s.elapsed_s).max(1.0);
    let (width, height) = (900, 1100);
    let root = SVGBackend::new(path, (width, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let centred = Pos::new(HPos::Center, VPos::Top);
    let (header, root) = root.split_vertically(70);
    let middle = width as i32 / 2;
    header.draw_text(
        title,
        &("sans-serif", 26).into_font().color(&BLACK).pos(centred),
        (middle, 10),
    )?;
    header.draw_text(
        subtitle,
        &("sans-serif", 18).into_font().color(&BLACK).pos(centred),
        (middle, 42),
    )?;
    let footnote = "Each point is one sample window; the dashed line marks the retention first reached (purges may start).";
    let (root, note) = root.split_vertically(root.dim_in_pixel().1 - 26);
    note.draw_text(
        footnote,
        &("sans-serif", 15).into_font().color(&BLACK),
        (60, 4),
    )?;
    for (area, (title, unit, value, color)) in root.split_evenly((4, 1)).iter().zip(panels) {
        let points: Vec<(f64, f64)> = samples
            .iter()
            .filter_map(|s| Some((s.elapsed_s, value(s)?)))
            .collect();
        let top = points.iter().map(|p| p.1).fold(0.0, f64::max).max(0.001) * 1.15;
        let mut chart = ChartBuilder::on(area)
            .caption(title, ("sans-serif", 18))
            .margin(8)
            .margin_right(24)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..end, 0.0..top)?;
        chart
            .configure_mesh()
            .x_desc("elapsed time (s)")
            .y_desc(unit)
            .label_style(("sans-serif", 14))
            .axis_desc_style(("sans-serif", 15))
            .light_line_style(WHITE)
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| format!("{:.*}", usize::from(top < 10.0), y))
            .draw()?;
        if let Some(at) = retention_s.filter(|&at| at < end) {
            chart.draw_series(DashedLineSeries::new(
                [(at, 0.0), (at, top)],
                6,
                4,
                BLACK.mix(0.5).stroke_width(1),
            ))?;
        }
        chart.draw_series(LineSeries::new(points, color.stroke_width(2)).point_size(3))?;
    }
    root.present()?;
    Ok(())
}

#[tokio::main]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();
    let seconds = env_number("BENCH_SECONDS", 10);
    let pending = env_number("BENCH_PENDING", 1_000_000);
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "\nHookbridge load benchmark: {cores} cores, SQLite (a 202 after the log's fdatasync) and durable PostgreSQL (fsync on), release build\n"
    );
    println!(
        "| workload | events/s accepted | deliveries/s | latency ms p50 / p99 / max | CPU s per 1,000 deliveries (or events) | machine busy / service, % of all cores | peak RSS MB |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- |");

    // 1-3. Ingest only, then end to end with 1 and 10 matching subscriptions.
    if wanted("ingest") {
        ingest_only(&client, seconds, Backend::Sqlite).await.print();
    }
    if wanted("fanout1") {
        fanout(&client, seconds, 1, Backend::Sqlite).await.print();
    }
    if wanted("fanout10") {
        fanout(&client, seconds, 10, Backend::Sqlite).await.print();
    }

    // 4. Steady 1,000 events/s, one subscription: publish -> delivery latency.
    if wanted("steady") {
        steady(&client, seconds, Backend::Sqlite).await.print();
    }

    // 5. One target hangs 10 s per request; the other's latency.
    if wanted("hanging") {
        let service = Service::start(&[]);
        let (target, received) = start_receiver().await;
        received
            .hang
            .lock()
            .unwrap()
            .insert("hang0".into(), Duration::from_secs(10));
        let api = Arc::new(Api {
            client: client.clone(),
            urls: vec![service.url.clone()],
            next: AtomicU64::new(0),
            svix_token: None,
        });
        let hanging = api.account(&target, "hang", 1).await;
        let healthy = api.account(&target, "ok", 1).await;
        let rate = 500;
        let publishers = [hanging, healthy];
        let mut tasks = Vec::new();
        for account in publishers {
            let api = api.clone();
            tasks.push(tokio::spawn(async move {
                paced(&api, &account, rate, seconds).await
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        while latencies_of(&received, "ok").len() < (rate * seconds) as usize
            && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let delivered = latencies_of(&received, "ok").len();
        Row {
            workload: format!("one target hanging 10 s, other target at {rate} events/s ({delivered} of {} delivered in time)", rate * seconds),
            events_per_s: Some(2.0 * rate as f64),
            deliveries_per_s: None,
            latencies_us: latencies_of(&received, "ok"),
            latency_of: "healthy target, publish -> delivery",
            cpu_per_1000: None,
            machine: None,
            peak_rss_mb: service.memory_kb("VmHWM:") as f64 / 1024.0,
        }
        .print();
    }

    // 6. Memory with many pending deliveries: ten subscriptions to a target
    //    that is down (connection refused), a long retry schedule.
    if wanted("pending") {
        let service = Service::start(&["--retry-schedule", "1h"]);
        let api = Arc::new(Api {
            client: client.clone(),
            urls: vec![service.url.clone()],
            next: AtomicU64::new(0),
            svix_token: None,
        });
        let account = api.account("http://127.0.0.1:9", "down", 10).await;
        let events = pending / 10;
        let (ingest, _) = burst(&api, &account, events, 32).await;
        let mut samples = Vec::new();
        for _ in 0..5 {
            tokio::time::sleep(Duration::from_secs(2)).await;
            samples.push(service.memory_kb("VmRSS:") / 1024);
        }
        Row {
            workload: format!("{pending} pending deliveries, target down (RSS MB every 2 s after ingest: {samples:?})"),
            events_per_s: Some(events as f64 / ingest.as_secs_f64()),
            deliveries_per_s: None,
            latencies_us: Vec::new(),
            latency_of: "-",
            cpu_per_1000: None,
            machine: None,
            peak_rss_mb: service.memory_kb("VmHWM:") as f64 / 1024.0,
        }
        .print();
    }

    // 7. Reading a large account's attempt history.
    if wanted("history") {
        history(&client, seconds, Backend::Sqlite).await.print();
    }

    // 8. The same first three workloads on Svix, when it has been built.
    if svix_binary().is_some() && wanted("svix") {
        ingest_only(&client, seconds, Backend::Svix).await.print();
        fanout(&client, seconds, 1, Backend::Svix).await.print();
        fanout(&client, seconds, 10, Backend::Svix).await.print();
    }

    // 9. Paired rounds, only when asked for: beside Svix, or three
    //    PostgreSQL nodes beside one.
    if named("paired") {
        let (measured, baseline) = match std::env::var("BENCH_PAIRED").as_deref() {
            Ok("postgres") => (Backend::Postgres { nodes: 1 }, Backend::Svix),
            Ok("nodes") => (
                Backend::Postgres { nodes: 3 },
                Backend::Postgres { nodes: 1 },
            ),
            _ => (Backend::Sqlite, Backend::Svix),
        };
        if matches!(baseline, Backend::Svix) && svix_binary().is_none() {
            eprintln!("BENCH_ONLY=paired needs the Svix server binary (SVIX_SERVER)");
        } else {
            let rounds = env_number("BENCH_ROUNDS", 3);
            paired(&client, seconds, rounds, measured, baseline).await;
        }
    }

    // 10. The same first three workloads on a durable PostgreSQL server, with
    //    one node and with three nodes sharing it; the history on one node.
    let postgres = std::env::var("BENCH_POSTGRES").map_or(true, |v| v != "0");
    if postgres && wanted("postgres") {
        for backend in [
            Backend::Postgres { nodes: 1 },
            Backend::Postgres { nodes: 3 },
        ] {
            ingest_only(&client, seconds, backend).await.print();
            fanout(&client, seconds, 1, backend).await.print();
            fanout(&client, seconds, 10, backend).await.print();
        }
        steady(&client, seconds, Backend::Postgres { nodes: 1 })
            .await
            .print();
    }
    if postgres && (wanted("postgres") || wanted("history")) {
        history(&client, seconds, Backend::Postgres { nodes: 1 })
            .await
            .print();
    }

    // The backends the tenants, stored and fifo workloads compare: SQLite
    // unless BENCH_POSTGRES=only, and one PostgreSQL node unless
    // BENCH_POSTGRES=0.
    let mut compared = Vec::new();
    if std::env::var("BENCH_POSTGRES").map_or(true, |v| v != "only") {
        compared.push(Backend::Sqlite);
    }
    if postgres {
        compared.push(Backend::Postgres { nodes: 1 });
    }

    // 10b. Many tenants, only when asked for (creating them takes minutes):
    //     SQLite, then PostgreSQL, each beside one account with one
    //     endpoint in the same run, and the ratio of deliveries/s.
    if named("tenants") {
        for &backend in &compared {
            let mut one = fanout(&client, seconds, 1, backend).await;
            one.print();
            let mut rows = tenants(&client, seconds, backend).await;
            for row in rows.iter_mut() {
                row.print();
            }
            let ratio = |row: &Row| {
                row.deliveries_per_s.unwrap_or(0.0) / one.deliveries_per_s.unwrap_or(1.0)
            };
            println!(
                "tenants, {}: deliveries/s {:.2}x one account's one endpoint; {:.2}x with churn",
                backend.label(),
                ratio(&rows[0]),
                ratio(&rows[1])
            );
        }
    }

    // 10b'. A database with history, only when asked for: ingest and one
    //     endpoint on an empty database and then on one holding
    //     `BENCH_STORED_EVENTS` delivered events (default 1,000,000), per
    //     backend, and the ratios.
    if named("stored") {
        let stored = env_number("BENCH_STORED_EVENTS", 1_000_000);
        for &backend in &compared {
            let mut empty = [
                ingest_only(&client, seconds, backend).await,
                fanout(&client, seconds, 1, backend).await,
            ];
            let mut full = with_history(&client, seconds, stored, backend).await;
            for row in empty.iter_mut().chain(full.iter_mut()) {
                row.print();
            }
            println!(
                "stored, {}: with {stored} events stored, ingest {:.2}x and one endpoint {:.2}x an empty database's",
                backend.label(),
                full[0].events_per_s.unwrap_or(0.0) / empty[0].events_per_s.unwrap_or(1.0),
                full[1].deliveries_per_s.unwrap_or(0.0) / empty[1].deliveries_per_s.unwrap_or(1.0),
            );
        }
    }

    // 10c. Ordered delivery, only when asked for: one fifo webhook beside
    //     one ordinary webhook, per backend, and the ratio of deliveries/s.
    if named("fifo") {
        for &backend in &compared {
            let mut one = fanout(&client, seconds, 1, backend).await;
            one.print();
            let events = env_number("BENCH_FIFO_EVENTS", 2_000);
            let mut ordered = fanout_with(&client, events, 1, backend, Delivery::Ordered).await;
            ordered.print();
            println!(
                "fifo, {}: deliveries/s {:.3}x one ordinary webhook's",
                backend.label(),
                ordered.deliveries_per_s.unwrap_or(0.0) / one.deliveries_per_s.unwrap_or(1.0)
            );
        }
    }

    let database_lines = std::mem::take(&mut *DATABASE_LINES.lock().unwrap());
    if !database_lines.is_empty() {
        println!(
            "\nThe PostgreSQL server's own costs in those runs (its processes' CPU, write transactions begun, WAL written):\n"
        );
        println!(
            "| workload | database CPU s per 1,000 | write transactions per 1,000 | WAL KB per 1,000 | database, % of all cores |"
        );
        println!("| --- | --- | --- | --- | --- |");
        for line in database_lines {
            println!("{line}");
        }
    }

    // 11. A long steady run with a short retention, only when asked for:
    //    database size and RSS over time, on SQLite and on PostgreSQL.
    if named("soak") {
        let settings = SoakSettings::from_env();
        soak(&client, &settings, Backend::Sqlite, "soak-sqlite.svg").await;
        if postgres {
            soak(
                &client,
                &settings,
                Backend::Postgres { nodes: 1 },
                "soak-postgres.svg",
            )
            .await;
        }
    }
}

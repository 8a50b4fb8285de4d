//! Shared test plumbing: the real service (in-process router or the real
//! binary) on 127.0.0.1:0, a real HTTP client, and a real local receiver
//! that records every delivery.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use hookbridge::delivery::retry::RetrySchedule;
use hookbridge::{Application, Config};
use reqwest::Response;
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::postgres_server::PostgresServer;
use tokio::sync::{Notify, oneshot};

/// Which database the suite runs on: `HOOKBRIDGE_TEST_BACKEND=postgres`
/// runs every test against a real PostgreSQL server of its own; SQLite
/// otherwise. The test command runs the suite once with each.
pub fn postgres_backend() -> bool {
    std::env::var("HOOKBRIDGE_TEST_BACKEND").is_ok_and(|b| b == "postgres")
}

/// A test's database on the suite's backend, removed with it.
pub struct TestDatabase {
    /// The `--database-url` of the database.
    pub url: String,
    /// A folder the test may use; holds the SQLite file.
    pub dir: TempDir,
    /// `--encryption-key` for PostgreSQL, where it is required; with SQLite
    /// the service keeps its own key file beside the database.
    pub encryption_key: Option<String>,
    _server: Option<PostgresServer>,
}

impl TestDatabase {
    /// A new, empty database.
    pub fn new() -> Self {
        Self::create(postgres_backend())
    }

    /// A new SQLite database at `path` (in a folder the caller made),
    /// whatever the suite's backend.
    pub fn sqlite_at(path: &Path) -> Self {
        Self {
            url: format!("sqlite://{}", path.display()),
            dir: TempDir::new().unwrap(),
            encryption_key: None,
            _server: None,
        }
    }

    /// A new, empty PostgreSQL database, whatever the suite's backend.
    pub fn postgres() -> Self {
        Self::create(true)
    }

    /// The store on this database, opened directly (no service), for tests
    /// that drive it into states the API cannot reach on purpose.
    pub async fn open_store(&self) -> std::sync::Arc<dyn hookbridge::store::Store> {
        use hookbridge::store::sealing::{EncryptionKey, Sealer};
        hookbridge::store::open(
            &self.url.parse().unwrap(),
            None,
            Sealer::new(&EncryptionKey::generate(), &[]),
        )
        .await
        .expect("open the store")
    }

    /// The store, opened directly, with account `account_id` and its one
    /// webhook `subscription_id` for every event type (to a closed port:
    /// such tests drive the store, not deliveries).
    pub async fn store_with_webhook(
        &self,
        account_id: &str,
        subscription_id: &str,
    ) -> std::sync::Arc<dyn hookbridge::store::Store> {
        use hookbridge::domain::Timestamp;
        use hookbridge::store::Account;
        let store = self.open_store().await;
        let now = Timestamp::now();
        store
            .create_account(Account {
                id: account_id.into(),
                name: account_id.into(),
                created_at: now,
            })
            .await
            .unwrap();
        store
            .create_subscription(stored_subscription(account_id, subscription_id, &[], None))
            .await
            .unwrap();
        store
    }

    /// A PostgreSQL database on a server that takes TCP clients only over
    /// TLS; the URL says `sslmode=require`. Also returns the PEM file of the
    /// CA that issued the server's certificate.
    pub fn postgres_tls_only() -> (Self, PathBuf) {
        let server = PostgresServer::start_tls_only();
        let ca_file = server.ca_file();
        let database = Self {
            url: format!("{}?sslmode=require", server.url()),
            dir: TempDir::new().expect("temp dir"),
            encryption_key: Some(hookbridge::store::sealing::EncryptionKey::generate().encoded()),
            _server: Some(server),
        };
        (database, ca_file)
    }

    fn create(postgres: bool) -> Self {
        let dir = TempDir::new().expect("temp dir");
        let (url, server) = if postgres {
            let server = PostgresServer::start(false);
            (server.url(), Some(server))
        } else {
            let path = dir.path().join("hookbridge.db");
            (format!("sqlite://{}", path.display()), None)
        };
        let encryption_key = server
            .as_ref()
            .map(|_| hookbridge::store::sealing::EncryptionKey::generate().encoded());
        Self {
            url,
            dir,
            encryption_key,
            _server: server,
        }
    }
}

/// The admin key every test service uses.
pub const ADMIN_KEY: &str = "test-admin-key-0123456789abcdef";

/// A subscription to store directly: `id` of `account_id`, for `events`
/// (empty: every type), passing only events whose data matches `filter`,
/// to a closed port (such tests drive the store, not deliveries).
pub fn stored_subscription(
    account_id: &str,
    id: &str,
    events: &[&str],
    filter: Option<Value>,
) -> hookbridge::store::Subscription {
    use hookbridge::domain::{EventSelection, Filter, Source};
    hookbridge::store::Subscription {
        events: EventSelection::from_stored(events.iter().map(|e| e.to_string()).collect()),
        filter: filter.map(|f| Filter::parse(&f).expect("a valid filter")),
        ..hookbridge::store::Subscription::new(
            id.into(),
            account_id.into(),
            "http://127.0.0.1:9/never-called".into(),
            Source::Api,
        )
    }
}

/// A real HTTP client (TLS provider installed once).
pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// One account and its API key.
#[derive(Debug, Clone)]
pub struct TestAccount {
    pub id: String,
    pub key: String,
}

/// A client of a running service (in-process or the real binary).
pub struct Api {
    pub address: String,
    pub client: reqwest::Client,
}

/// The service running in-process on a random port over a temporary SQLite
/// file; it derefs to its [`Api`].
pub struct TestApp {
    api: Api,
    /// Dropping it (with the TestApp) stops the service.
    _stop: oneshot::Sender<()>,
}

impl std::ops::Deref for TestApp {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.api
    }
}

impl TestApp {
    /// Start with a fast retry schedule (three retries 200 ms apart).
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Start after `adjust` has changed the test configuration.
    pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> Self {
        let database = TestDatabase::new();
        let schedule: RetrySchedule = "200ms,200ms,200ms".parse().unwrap();
        let mut config = Config::for_tests(database.url.parse().unwrap(), ADMIN_KEY, schedule);
        config.encryption_key = database.encryption_key.as_ref().map(|k| k.parse().unwrap());
        adjust(&mut config);
        let app = Application::build(config).await.expect("build the app");
        let address = format!("http://{}", app.local_addr());
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let served = app
                .run_until(async {
                    let _ = stopped.await;
                })
                .await;
            drop(database);
            served
        });
        Self {
            api: Api {
                address,
                client: client(),
            },
            _stop: stop,
        }
    }
}

impl Api {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// A POST with the admin key.
    pub async fn admin_post(&self, path: &str, body: &Value) -> Response {
        self.admin_send(reqwest::Method::POST, path, body).await
    }

    /// A PUT with the admin key.
    pub async fn admin_put(&self, path: &str, body: &Value) -> Response {
        self.admin_send(reqwest::Method::PUT, path, body).await
    }

    /// A DELETE with the admin key.
    pub async fn admin_delete(&self, path: &str) -> Response {
        self.client
            .delete(self.url(path))
            .bearer_auth(ADMIN_KEY)
            .send()
            .await
            .expect("request")
    }

    /// A GET with the admin key.
    pub async fn admin_get(&self, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .bearer_auth(ADMIN_KEY)
            .send()
            .await
            .expect("request")
    }

    /// The Prometheus text of `GET /metrics`.
    pub async fn metrics(&self) -> String {
        self.admin_get("/metrics")
            .await
            .text()
            .await
            .expect("metrics")
    }

    /// One unlabelled counter or gauge of `GET /metrics`.
    pub async fn metric(&self, name: &str) -> f64 {
        let text = self.metrics().await;
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in\n{text}"))
    }

    async fn admin_send(&self, method: reqwest::Method, path: &str, body: &Value) -> Response {
        self.client
            .request(method, self.url(path))
            .bearer_auth(ADMIN_KEY)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    /// An unauthenticated GET, as integrations read the catalog.
    pub async fn get_public(&self, path: &str) -> Value {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("a JSON body")
    }

    /// A webhook's recorded attempts, newest first (the first page).
    pub async fn attempts(&self, account: &TestAccount, webhook_id: &str) -> Vec<Value> {
        let page: Value = self
            .get_as(account, &format!("/v1/webhooks/{webhook_id}/attempts"))
            .await
            .json()
            .await
            .unwrap();
        page["data"].as_array().cloned().unwrap_or_default()
    }

    /// A new account with one API key.
    pub async fn new_account(&self) -> TestAccount {
        let account: Value = self
            .admin_post("/v1/accounts", &json!({"name": "Test account"}))
            .await
            .json()
            .await
            .unwrap();
        let id = account["id"].as_str().unwrap().to_owned();
        let key: Value = self
            .admin_post(&format!("/v1/accounts/{id}/api-keys"), &json!({}))
            .await
            .json()
            .await
            .unwrap();
        TestAccount {
            id,
            key: key["key"].as_str().unwrap().to_owned(),
        }
    }

    /// Publish an event for `account`.
    pub async fn publish(&self, account: &TestAccount, event_type: &str, data: Value) -> Response {
        self.admin_post(
            "/v1/events",
            &json!({"type": event_type, "account_id": account.id, "data": data}),
        )
        .await
    }

    /// Publish an event that must be accepted; the 202 body.
    pub async fn publish_accepted(
        &self,
        account: &TestAccount,
        event_type: &str,
        data: Value,
    ) -> Value {
        let response = self.publish(account, event_type, data).await;
        assert_eq!(response.status(), 202, "{:?}", response.text().await);
        response.json().await.unwrap()
    }

    pub async fn get_as(&self, account: &TestAccount, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .header("X-Api-Key", &account.key)
            .send()
            .await
            .expect("request")
    }

    pub async fn post_as(&self, account: &TestAccount, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .header("X-Api-Key", &account.key)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn patch_as(&self, account: &TestAccount, path: &str, body: &Value) -> Response {
        self.client
            .patch(self.url(path))
            .header("X-Api-Key", &account.key)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn delete_as(&self, account: &TestAccount, path: &str) -> Response {
        self.client
            .delete(self.url(path))
            .header("X-Api-Key", &account.key)
            .send()
            .await
            .expect("request")
    }

    /// `PATCH` the webhook at `path` with `body`; it must succeed. Returns
    /// the updated body.
    pub async fn patch_webhook(&self, account: &TestAccount, path: &str, body: Value) -> Value {
        let response = self.patch_as(account, path, &body).await;
        assert_eq!(response.status(), 200, "{:?}", response.text().await);
        response.json().await.unwrap()
    }

    /// Register a raw webhook through `/v1/webhooks`; returns the created body.
    pub async fn create_webhook(&self, account: &TestAccount, body: Value) -> Value {
        let response = self.post_as(account, "/v1/webhooks", &body).await;
        assert_eq!(response.status(), 201, "{:?}", response.text().await);
        response.json().await.unwrap()
    }
}

impl Api {
    /// Subscribe a REST hook through `/v1/hooks`; returns the created body.
    pub async fn create_hook(&self, account: &TestAccount, body: Value) -> Value {
        let response = self.post_as(account, "/v1/hooks", &body).await;
        assert_eq!(response.status(), 201, "{:?}", response.text().await);
        response.json().await.unwrap()
    }
}

/// The JSON pointers of an error's details.
pub fn pointers(error: &Value) -> Vec<String> {
    error["details"]
        .as_array()
        .map(|details| {
            details
                .iter()
                .filter_map(|d| d["pointer"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Poll `check` until it gives a value, for state the service writes after
/// a receiver has already seen the request; panics after `within`.
pub async fn eventually<T, F, Fut>(within: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "condition not met within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Assert an error response's status and code; returns the error object.
pub async fn expect_error(response: Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status(), status);
    let body: Value = response.json().await.expect("a JSON error body");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
    body["error"].clone()
}

/// Example `generation_complete` data, as on the seed page.
pub fn generation(kind: &str) -> Value {
    json!({
        "type": kind,
        "user_id": "user_abc123",
        "credits_used": 1,
        "generation_id": "gen_9f3a2b",
        "output_url": "https://zsky.ai/outputs/gen_9f3a2b.png"
    })
}

/// One request the receiver got, and the status it answered.
#[derive(Debug, Clone)]
pub struct Received {
    pub version: axum::http::Version,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub answered: u16,
    pub at: Instant,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON delivery body")
    }
}

#[derive(Default)]
struct ReceiverState {
    received: Mutex<Vec<Received>>,
    scripted: Mutex<VecDeque<u16>>,
    default_status: AtomicU16,
    delay_ms: AtomicU64,
    retry_after_secs: AtomicU64,
    arrived: Notify,
    concurrent: AtomicU64,
    max_concurrent: AtomicU64,
}

/// A real HTTP server on 127.0.0.1:0 that records deliveries and answers
/// scripted statuses (then a default status).
pub struct Receiver {
    pub url: String,
    state: Arc<ReceiverState>,
}

async fn receive(
    State(state): State<Arc<ReceiverState>>,
    version: axum::http::Version,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    let now = state.concurrent.fetch_add(1, Ordering::SeqCst) + 1;
    state.max_concurrent.fetch_max(now, Ordering::SeqCst);
    let delay = state.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    state.concurrent.fetch_sub(1, Ordering::SeqCst);
    let status = state
        .scripted
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or_else(|| state.default_status.load(Ordering::SeqCst));
    state.received.lock().unwrap().push(Received {
        version,
        headers,
        body,
        answered: status,
        at: Instant::now(),
    });
    state.arrived.notify_waiters();
    let status = StatusCode::from_u16(status).unwrap();
    let retry_after = state.retry_after_secs.load(Ordering::SeqCst);
    if retry_after > 0 && matches!(status.as_u16(), 429 | 503) {
        let header = [(axum::http::header::RETRY_AFTER, retry_after.to_string())];
        return axum::response::IntoResponse::into_response((status, header));
    }
    axum::response::IntoResponse::into_response(status)
}

impl Receiver {
    pub async fn start() -> Self {
        let (router, state) = Self::router();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { url, state }
    }

    /// The same receiver behind TLS (HTTP/1.1), presenting the PEM
    /// `certificate` chain and its `key`.
    pub async fn start_tls(certificate: &Path, key: &Path) -> Self {
        Self::start_tls_offering(certificate, key, false).await
    }

    /// [`Receiver::start_tls`], offering HTTP/2 by ALPN when `http2`.
    pub async fn start_tls_offering(certificate: &Path, key: &Path, http2: bool) -> Self {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let _ = rustls::crypto::ring::default_provider().install_default();
        let chain = CertificateDer::pem_file_iter(certificate)
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_file(key).unwrap();
        let mut config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        if http2 {
            config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        }
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let (router, state) = Self::router();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("https://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (acceptor, router) = (acceptor.clone(), router.clone());
                tokio::spawn(async move {
                    let Ok(stream) = acceptor.accept(stream).await else {
                        return;
                    };
                    let service = hyper_util::service::TowerToHyperService::new(router);
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper_util::server::conn::auto::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    )
                    .serve_connection(io, service)
                    .await;
                });
            }
        });
        Self { url, state }
    }

    fn router() -> (axum::Router, Arc<ReceiverState>) {
        let state = Arc::new(ReceiverState::default());
        state.default_status.store(200, Ordering::SeqCst);
        let router = axum::Router::new()
            .fallback(receive)
            .with_state(state.clone());
        (router, state)
    }

    /// Answer these statuses first, in order.
    pub fn script(&self, statuses: &[u16]) {
        self.state.scripted.lock().unwrap().extend(statuses);
    }

    /// Forget the statuses not yet answered.
    pub fn clear_script(&self) {
        self.state.scripted.lock().unwrap().clear();
    }

    /// The status answered once the script is used up.
    pub fn set_default_status(&self, status: u16) {
        self.state.default_status.store(status, Ordering::SeqCst);
    }

    /// Send `Retry-After: <seconds>` with every 429 and 503.
    pub fn set_retry_after(&self, seconds: u64) {
        self.state.retry_after_secs.store(seconds, Ordering::SeqCst);
    }

    /// Wait this long before answering each request.
    pub fn set_delay(&self, delay: Duration) {
        self.state
            .delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// The most requests it was answering at one time.
    pub fn max_concurrent(&self) -> u64 {
        self.state.max_concurrent.load(Ordering::SeqCst)
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    /// Wait until `count` requests have arrived; panics after `within`.
    pub async fn wait_for(&self, count: usize, within: Duration) -> Vec<Received> {
        self.wait_until(within, |got| got.len() >= count).await
    }

    /// Wait until `done` holds for what has arrived; panics after `within`.
    pub async fn wait_until(
        &self,
        within: Duration,
        done: impl Fn(&[Received]) -> bool,
    ) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let arrived = self.state.arrived.notified();
            let got = self.received();
            if done(&got) {
                return got;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                panic!(
                    "receiver: condition not met in {within:?}; got {} requests",
                    got.len()
                );
            }
            let _ = tokio::time::timeout(left.min(Duration::from_millis(100)), arrived).await;
        }
    }

    /// Assert nothing more arrives for `quiet`, beyond `already` requests.
    pub async fn assert_quiet(&self, already: usize, quiet: Duration) {
        tokio::time::sleep(quiet).await;
        assert_eq!(self.received().len(), already, "unexpected deliveries");
    }
}

/// The real `hookbridge` binary, started on a free port.
pub struct BinaryApp {
    pub address: String,
    pub child: Child,
}

impl BinaryApp {
    /// Start `hookbridge serve` on `database` with extra arguments. Leases
    /// last 20 s (above the 10 s attempt timeout), so deliveries a killed
    /// node held are taken over within a test's patience.
    pub fn start(database: &TestDatabase, extra: &[&str]) -> Self {
        Self::spawn(database, extra, &[], "warn", Stdio::inherit())
    }

    /// Start with extra environment variables.
    pub fn start_with_env(database: &TestDatabase, env: &[(&str, &Path)]) -> Self {
        Self::spawn(database, &[], env, "warn", Stdio::inherit())
    }

    /// Start with debug logging written to `log`.
    pub fn start_logging_to(database: &TestDatabase, log: &Path) -> Self {
        let file = std::fs::File::create(log).expect("log file");
        Self::spawn(database, &[], &[], "debug", Stdio::from(file))
    }

    fn spawn(
        database: &TestDatabase,
        extra: &[&str],
        env: &[(&str, &Path)],
        level: &str,
        stderr: Stdio,
    ) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_hookbridge"))
            .arg("serve")
            .args(["--listen", "127.0.0.1:0", "--admin-key", ADMIN_KEY])
            .args(["--database-url", &database.url, "--lease", "20s"])
            .args(
                database
                    .encryption_key
                    .iter()
                    .flat_map(|key| ["--encryption-key", key.as_str()]),
            )
            .args(extra)
            .env("HOOKBRIDGE_ALLOW_PRIVATE_TARGETS", "1")
            .env("HOOKBRIDGE_LOG", level)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start the hookbridge binary");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let address = lines
            .by_ref()
            .map_while(Result::ok)
            .find_map(|line| line.split("listening on ").nth(1).map(str::to_owned))
            .expect("the listening line");
        std::thread::spawn(move || lines.for_each(drop));
        Self { address, child }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// A client of this process.
    pub fn api(&self) -> Api {
        Api {
            address: self.address.clone(),
            client: client(),
        }
    }

    /// SIGKILL: no chance to clean up.
    pub fn kill_hard(&mut self) {
        self.child.kill().expect("kill -9");
        self.child.wait().expect("reap");
    }

    /// SIGTERM, then wait for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill -TERM");
        self.child.wait().expect("wait")
    }
}

impl Drop for BinaryApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether `delivery`'s seed-style `sha256=` header is signed by `secret`.
pub fn seed_header_is_signed_by(secret: &str, delivery: &Received) -> bool {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(&delivery.body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    delivery
        .headers
        .get("x-hookbridge-signature")
        .unwrap()
        .to_str()
        .unwrap()
        == expected
}

/// Two real nodes on a PostgreSQL database of their own, with an account
/// made through the first and one webhook of it.
pub struct TwoNodes {
    pub nodes: [BinaryApp; 2],
    pub account: TestAccount,
    _database: TestDatabase,
}

impl TwoNodes {
    /// Start both nodes and create the webhook `webhook` (its body).
    pub async fn with_webhook(webhook: Value) -> Self {
        let database = TestDatabase::postgres();
        let nodes = [
            BinaryApp::start(&database, &[]),
            BinaryApp::start(&database, &[]),
        ];
        let first = nodes[0].api();
        let account = first.new_account().await;
        first.create_webhook(&account, webhook).await;
        Self {
            nodes,
            account,
            _database: database,
        }
    }

    /// Publish `count` generations, one after another, to each node in
    /// turn; their ids in publish order.
    pub async fn publish_in_turn(&self, count: usize) -> Vec<String> {
        let mut ids = Vec::new();
        for i in 0..count {
            let published = self.nodes[i % 2]
                .api()
                .publish_accepted(&self.account, "generation_complete", generation("image"))
                .await;
            ids.push(published["id"].as_str().unwrap().to_owned());
        }
        ids
    }
}

//! Assembling the service from a [`Config`]: store, catalog, admin key,
//! delivery dispatcher, retention purger and HTTP router; and running them
//! until shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::api::limits::RateLimits;
use crate::api::{self, Access, AppState, TargetRules};
use crate::catalog::Catalog;
use crate::config::{Config, DatabaseUrl};
use crate::delivery::attempt::Attempter;
use crate::delivery::breaker::{Breaker, BreakerSettings};
use crate::delivery::guard::TargetGuard;
use crate::delivery::retry::RetrySchedule;
use crate::delivery::sender::Sender;
use crate::delivery::wake::Wake;
use crate::delivery::worker::{DispatchSettings, Dispatcher};
use crate::metrics::Metrics;
use crate::retention::Purger;
use crate::server;
use crate::service::{Deliveries, Publisher};
use crate::store::capacity::StorageHealth;
use crate::store::sealing::{EncryptionKey, Sealer};
use crate::store::{self, DueWork, Store};

/// A built service, bound to its address, not yet serving.
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    dispatcher: Dispatcher,
    /// Deletes what is older than the retention; none with `never`.
    purger: Option<Purger>,
    /// Whether the database has room, probed while it has none.
    storage: Arc<StorageHealth>,
    store: Arc<dyn Store>,
    generated_admin_key: Option<String>,
    header_timeout: std::time::Duration,
}

impl Application {
    /// Open the store, settle the admin key, bind the listener.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let key = settle_encryption_key(&config)?;
        let sealer = Sealer::new(&key, &config.old_encryption_keys);
        let store = store::open(
            &config.database_url,
            config.database_ca_file.as_deref(),
            sealer,
        )
        .await
        .with_context(|| format!("opening the database {}", config.database_url))?;
        let catalog = Catalog::builtin().context("building the event catalog")?;
        catalog.load(
            &store
                .event_types()
                .await
                .context("reading the registered event types")?,
        );
        let (admin_key_hash, generated_admin_key) =
            settle_admin_key(store.as_ref(), config.admin_key.as_deref()).await?;
        let guard = TargetGuard::new(config.allow_private_targets);
        let wake = Arc::new(Wake::new());
        let rung = wake.clone();
        store.listen_for_work(Arc::new(move |work| match work {
            DueWork::Targets(targets) => rung.due_now(targets),
            DueWork::Anywhere => rung.anything(),
        }));
        let schedule = config
            .retry_schedule
            .clone()
            .unwrap_or_else(RetrySchedule::production);
        let settings = DispatchSettings {
            lease: config.lease.0,
            ..DispatchSettings::default()
        };
        let sender = Arc::new(Sender::new(
            guard,
            config.signature_header.clone(),
            settings.max_in_flight,
        )?);
        let metrics = Arc::new(Metrics::new().context("registering metrics")?);
        let breaker = Arc::new(Breaker::new(BreakerSettings {
            threshold: config.circuit_breaker_after,
            cooldown: config.circuit_breaker_cooldown,
            ..BreakerSettings::default()
        }));
        let attempter = Arc::new(Attempter::new(
            sender,
            breaker,
            metrics.clone(),
            schedule,
            config.auto_disable_after.0,
        ));
        let storage = Arc::new(StorageHealth::default());
        let dispatcher = Dispatcher::new(
            store.clone(),
            attempter.clone(),
            settings,
            wake.clone(),
            metrics.clone(),
            storage.clone(),
        );
        let purger = config.retention.0.map(|retention| {
            Purger::new(store.clone(), retention, metrics.clone(), storage.clone())
        });
        let publisher = Arc::new(Publisher::new(
            store.clone(),
            catalog.clone(),
            wake.clone(),
            metrics.clone(),
        ));
        let deliveries = Arc::new(Deliveries::new(store.clone(), attempter, wake));
        let watched_store = store.clone();
        let router = api::router(AppState {
            store,
            catalog,
            publisher,
            deliveries,
            access: Arc::new(Access {
                admin_key_hash,
                key_prefix: config.key_prefix.clone(),
                limits: RateLimits::new(config.rate_limit, config.publish_rate_limit),
            }),
            target_rules: TargetRules {
                guard,
                signature_header: config.signature_header.clone(),
            },
            metrics,
            storage: storage.clone(),
        });
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("listening on {}", config.listen))?;
        Ok(Self {
            listener,
            router,
            dispatcher,
            purger,
            storage,
            store: watched_store,
            generated_admin_key,
            header_timeout: config.header_timeout,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The admin key, when this start generated it (shown once).
    pub fn generated_admin_key(&self) -> Option<&str> {
        self.generated_admin_key.as_deref()
    }

    /// Serve until `shutdown` resolves; then stop taking requests, finish or
    /// release in-flight deliveries, and return.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let stop = CancellationToken::new();
        let dispatcher = tokio::spawn(self.dispatcher.run(stop.clone()));
        let purger = self
            .purger
            .map(|purger| tokio::spawn(purger.run(stop.clone())));
        tokio::spawn(self.storage.watch(self.store, stop.clone()));
        let stop_http = stop.clone();
        server::serve(
            self.listener,
            self.router,
            self.header_timeout,
            async move {
                shutdown.await;
                stop_http.cancel();
            },
        )
        .await;
        stop.cancel();
        if let Some(purger) = purger {
            purger.await.context("the retention purger panicked")?;
        }
        dispatcher.await.context("the delivery dispatcher panicked")
    }
}

/// The admin key hash to check against, and the key if it was generated now.
async fn settle_admin_key(
    store: &dyn Store,
    configured: Option<&str>,
) -> anyhow::Result<([u8; 32], Option<String>)> {
    if let Some(key) = configured {
        return Ok((Sha256::digest(key.as_bytes()).into(), None));
    }
    if let Some(stored) = store.admin_key_hash().await? {
        let bytes = hex::decode(&stored)
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok());
        return bytes
            .map(|hash| (hash, None))
            .context("the stored admin key hash is corrupt; set --admin-key");
    }
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    let key = format!("hbadmin_{}", URL_SAFE_NO_PAD.encode(secret));
    let hash: [u8; 32] = Sha256::digest(key.as_bytes()).into();
    store.set_admin_key_hash(hex::encode(hash)).await?;
    Ok((hash, Some(key)))
}

/// The key sealing secrets at rest: the configured one; else, with SQLite,
/// the one kept in a file beside the database (generated on first start,
/// readable by the owner only); PostgreSQL nodes must all be given the same.
fn settle_encryption_key(config: &Config) -> anyhow::Result<EncryptionKey> {
    if let Some(key) = &config.encryption_key {
        return Ok(key.clone());
    }
    let DatabaseUrl::Sqlite(database) = &config.database_url else {
        anyhow::bail!(
            "set --encryption-key (HOOKBRIDGE_ENCRYPTION_KEY), the same on every node: \
             32 bytes in base64, e.g. from `openssl rand -base64 32`"
        );
    };
    let path = crate::store::sqlite::backup::key_file_of(database);
    if let Ok(text) = std::fs::read_to_string(&path) {
        return text
            .parse()
            .map_err(|e: String| anyhow::anyhow!("{}: {e}", path.display()));
    }
    let key = EncryptionKey::generate();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(&path)
        .with_context(|| format!("creating the encryption key file {}", path.display()))?;
    std::io::Write::write_all(&mut file, format!("{}\n", key.encoded()).as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    tracing::info!(file = %path.display(), "generated the encryption key for secrets at rest; back it up apart from the database");
    Ok(key)
}

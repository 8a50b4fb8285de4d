//! The `hookbridge` command: `serve` runs the service, `backup` copies a
//! running service's SQLite database, `healthcheck` asks a local service
//! whether it is ready, `schemas export`
//! writes the catalog's JSON Schemas to `schemas/` (the built-in types, or
//! every type a running service knows, registered ones included).

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use hookbridge::catalog::{Catalog, schema_files};
use hookbridge::config::{DEFAULT_LISTEN, DatabaseUrl, LogFormat};
use hookbridge::domain::EventTypeName;
use hookbridge::{Application, Config};
use tracing_subscriber::EnvFilter;

/// mimalloc rather than the system allocator: with glibc's, allocating and
/// freeing took about a tenth of the service's CPU under load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The version `--version` prints: the crate's and the commit's.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("HOOKBRIDGE_COMMIT"),
    ")"
);

#[derive(Parser)]
#[command(
    name = "hookbridge",
    version = VERSION,
    about = "Webhooks and no-code integrations for any SaaS product"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service.
    Serve(Box<Config>),
    /// Copy a running service's SQLite database (and its key file) to
    /// FILE, consistently, without stopping it. For PostgreSQL, use
    /// pg_dump (see the README).
    Backup {
        /// The new file to write (it must not exist).
        file: PathBuf,
        /// The database to copy, as `serve` takes it.
        #[arg(
            long,
            env = "HOOKBRIDGE_DATABASE_URL",
            default_value = "sqlite://hookbridge.db"
        )]
        database_url: DatabaseUrl,
    },
    /// Exit 0 when the local service is ready (`GET /readyz` answers 200),
    /// 1 otherwise: a container's HEALTHCHECK, without curl.
    Healthcheck {
        /// The service's base URL; by default the loopback address on
        /// `HOOKBRIDGE_LISTEN`'s port.
        #[arg(long, value_name = "URL")]
        url: Option<url::Url>,
        /// The address the service listens on, as `serve` takes it.
        #[arg(long, env = "HOOKBRIDGE_LISTEN", default_value = DEFAULT_LISTEN)]
        listen: std::net::SocketAddr,
    },
    /// Work with the event catalog's JSON Schemas.
    Schemas {
        #[command(subcommand)]
        command: SchemasCommand,
    },
}

#[derive(Subcommand)]
enum SchemasCommand {
    /// Write one JSON Schema file per event type.
    Export {
        /// The folder to write into.
        #[arg(long, default_value = "schemas")]
        dir: PathBuf,
        /// A running service's base URL: export every type it knows
        /// (`GET /v1/event-types`), the producer's registered types included,
        /// instead of the built-in ones.
        #[arg(long, value_name = "URL")]
        from: Option<url::Url>,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(config) => serve(*config),
        Command::Backup { file, database_url } => backup(&database_url, &file),
        Command::Healthcheck { url, listen } => healthcheck(url, listen),
        Command::Schemas {
            command: SchemasCommand::Export { dir, from },
        } => export_schemas(&dir, from),
    }
}

fn serve(config: Config) -> anyhow::Result<()> {
    let logs = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(log_filter());
    match config.log_format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().flatten_event(true).init(),
    }
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let app = Application::build(config).await?;
        if let Some(key) = app.generated_admin_key() {
            println!("admin key (shown once; keep it safe): {key}");
        }
        println!("hookbridge listening on http://{}", app.local_addr());
        app.run_until(shutdown_signal()).await
    })?;
    tracing::info!("stopped");
    Ok(())
}

fn healthcheck(url: Option<url::Url>, listen: std::net::SocketAddr) -> anyhow::Result<()> {
    let base = match url {
        Some(url) => url,
        None => {
            let host = match listen.ip() {
                ip if ip.is_unspecified() && ip.is_ipv6() => std::net::Ipv6Addr::LOCALHOST.into(),
                ip if ip.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
                ip => ip,
            };
            let address = std::net::SocketAddr::new(host, listen.port());
            url::Url::parse(&format!("http://{address}/")).context("building the local URL")?
        }
    };
    let ready = base.join("/readyz").context("building the readiness URL")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let status = runtime.block_on(async {
        let _ = rustls::crypto::ring::default_provider().install_default();
        reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(5))
            .build()?
            .get(ready.clone())
            .send()
            .await
            .map(|response| response.status())
    });
    match status {
        Ok(status) if status.is_success() => {
            println!("{ready}: {status}");
            Ok(())
        }
        Ok(status) => anyhow::bail!("{ready} answered {status}"),
        Err(error) => anyhow::bail!("{ready} did not answer: {error}"),
    }
}

fn backup(database: &DatabaseUrl, file: &std::path::Path) -> anyhow::Result<()> {
    let DatabaseUrl::Sqlite(path) = database else {
        anyhow::bail!(
            "hookbridge backup copies SQLite databases; back up PostgreSQL with pg_dump              (see the README's Backups section), and keep the encryption key apart from it"
        );
    };
    let report = hookbridge::store::sqlite::backup::backup(path, file)
        .with_context(|| format!("backing up {database} to {}", file.display()))?;
    println!(
        "backed up {database} to {} ({} bytes)",
        report.database.display(),
        report.bytes
    );
    match report.key_file {
        Some(key) => println!(
            "copied the encryption key to {}: keep it with the backup, but apart from              anyone who should not read the signing secrets",
            key.display()
        ),
        None => println!(
            "no key file beside the database: start the copy with the same              --encryption-key (HOOKBRIDGE_ENCRYPTION_KEY) as the service"
        ),
    }
    Ok(())
}

/// `HOOKBRIDGE_LOG` (default `info`), except that the PostgreSQL driver only
/// logs warnings: its debug lines carry query parameters, which include
/// signing secrets and key hashes, and its info lines are server notices.
fn log_filter() -> EnvFilter {
    let filter =
        EnvFilter::try_from_env("HOOKBRIDGE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    match "tokio_postgres=warn".parse() {
        Ok(quiet_driver) => filter.add_directive(quiet_driver),
        Err(_) => filter,
    }
}

/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("install the SIGTERM handler");
        tokio::select! {
            _ = interrupt => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    tracing::info!("shutting down: draining deliveries");
}

fn export_schemas(dir: &PathBuf, from: Option<url::Url>) -> anyhow::Result<()> {
    let files = match from {
        None => schema_files(&Catalog::builtin()?),
        Some(base) => {
            let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            runtime.block_on(fetch_schema_files(base))?
        }
    };
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// The schema files of every type a running service lists.
async fn fetch_schema_files(base: url::Url) -> anyhow::Result<Vec<(String, String)>> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let url = base
        .join("/v1/event-types")
        .context("building the catalog URL")?;
    let body = reqwest::get(url.clone())
        .await
        .and_then(|r| r.error_for_status())
        .with_context(|| format!("fetching {url}"))?
        .bytes()
        .await
        .with_context(|| format!("reading {url}"))?;
    let listed: Vec<serde_json::Value> =
        serde_json::from_slice(&body).with_context(|| format!("{url} is not a list of types"))?;
    listed
        .into_iter()
        .map(|entry| {
            let name = entry["type"]
                .as_str()
                .with_context(|| format!("{url} listed a type without a name"))?
                .to_owned();
            EventTypeName::parse(&name)
                .with_context(|| format!("{url} listed an unusable type name {name:?}"))?;
            let text = serde_json::to_string_pretty(&entry["schema"])? + "\n";
            Ok((format!("{name}.json"), text))
        })
        .collect()
}

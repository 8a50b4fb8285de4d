//! The `hookbridge` command: `serve` runs the service, `schemas export`
//! writes the catalog's JSON Schemas to `schemas/`.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use hookbridge::catalog::{Catalog, schema_files};
use hookbridge::{Application, Config};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "hookbridge",
    version,
    about = "Webhooks and no-code integrations for any SaaS product"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service.
    Serve(Config),
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
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(config) => serve(config),
        Command::Schemas {
            command: SchemasCommand::Export { dir },
        } => export_schemas(&dir),
    }
}

fn serve(config: Config) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            EnvFilter::try_from_env("HOOKBRIDGE_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
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

fn export_schemas(dir: &PathBuf) -> anyhow::Result<()> {
    let catalog = Catalog::builtin()?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for (name, text) in schema_files(&catalog) {
        let path = dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use layercast::config::Config;
use tracing_subscriber::EnvFilter;

/// Real-time capacity planning for networks, layer by layer.
#[derive(Debug, Parser)]
#[command(name = "layercast", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server: ingest, stream, store, API, dashboard. With no configuration: embedded
    /// mode (SQLite, in-process broker, ./layercast-data).
    Serve(CommonArgs),
    /// Bring the configured database's schema up to date, then exit.
    Migrate(CommonArgs),
}

#[derive(Debug, clap::Args)]
struct CommonArgs {
    /// TOML configuration file; `LAYERCAST_*` variables and the flags below override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Address to serve on (http.listen).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Folder for embedded-mode state (data_dir).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// The built frontend (http.static_dir).
    #[arg(long)]
    static_dir: Option<PathBuf>,
}

impl CommonArgs {
    fn load(&self) -> anyhow::Result<Config> {
        let mut config = Config::load(self.config.as_deref())?;
        if let Some(listen) = self.listen {
            config.http.listen = listen;
        }
        if let Some(dir) = &self.data_dir {
            config.data_dir = dir.clone();
        }
        if let Some(dir) = &self.static_dir {
            config.http.static_dir = dir.clone();
        }
        config.validate()?;
        Ok(config)
    }
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,librdkafka=warn,rdkafka=warn")))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            let config = args.load()?;
            actix_web::rt::System::new().block_on(layercast::server::serve(config))
        }
        Command::Migrate(args) => {
            let config = args.load()?;
            let url = config.db_url()?;
            let kind = url.kind();
            layercast::store::Db::open(url, 1).context("migration failed")?;
            println!("{kind} database is up to date");
            Ok(())
        }
    }
}

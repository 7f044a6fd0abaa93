use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use layercast::config::Config;
use layercast::ingest::parse::Format;
use rust_embed::RustEmbed;
use tracing_subscriber::EnvFilter;

/// glibc's `malloc` and `free` took about a quarter of the stream thread's time in a profile
/// of `serve` under the end-to-end benchmark (every record, window and frame is a handful of
/// small allocations); with mimalloc serve's CPU per durable record fell from 5.6 to 4.1 µs
/// in back-to-back paced runs of `stream_e2e` (2026-12-07).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The dashboard as `scripts/build-frontend` left it when this binary was built: in release
/// builds the files themselves, in debug builds read from the folder at run time. Here, in the
/// binary rather than the library, so that a new frontend build recompiles only this file.
/// Built without a frontend, it is empty and `serve` says so at `/`.
#[derive(RustEmbed)]
#[folder = "../frontend/dist"]
#[allow_missing = true]
struct Dashboard;

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
    /// Read log files offline (folders recursively) and write a JSON report.
    Replay(ReplayArgs),
    /// Score one series (CSV `timestamp,value`) with the streaming anomaly detector.
    Detect(DetectArgs),
    /// Read what an S3 bucket holds now into a running deployment (a backfill), once, through
    /// the ledger its nodes share: objects already read, or being read, are left alone.
    Ingest(IngestArgs),
    /// Write simulated network logs (VPC flow, ALB, Zeek, interface counters) into a folder,
    /// with incidents whose ground truth is written beside them.
    Simulate(SimulateArgs),
    /// Manage users on the configured database.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API tokens on the configured database.
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Add a user. Without --password-stdin a random password is made and printed.
    Add {
        name: String,
        #[arg(long, value_parser = ["admin", "viewer"])]
        role: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        common: CommonArgs,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create an API token and print it (it cannot be shown again).
    Create {
        #[arg(long)]
        name: String,
        #[arg(long, value_parser = ["admin", "viewer"])]
        role: String,
        /// How long it is valid (`30d`, `12h`); default: until revoked.
        #[arg(long)]
        expires: Option<String>,
        #[command(flatten)]
        common: CommonArgs,
    },
}

/// The configured database, migrated.
fn open_db(common: &CommonArgs) -> anyhow::Result<layercast::store::Db> {
    let config = common.load()?;
    layercast::store::Db::open(config.db_url()?, 1).context("cannot open the database")
}

fn user_command(command: UserCommand) -> anyhow::Result<()> {
    use layercast::api::{auth, users};
    let UserCommand::Add {
        name,
        role,
        password_stdin,
        common,
    } = command;
    let (password, made) = if password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .context("cannot read the password from standard input")?;
        (line.trim_end_matches(['\r', '\n']).to_owned(), false)
    } else {
        let made: String = auth::secret::random_secret()?.chars().take(20).collect();
        (made, true)
    };
    let db = open_db(&common)?;
    let new = layercast_shared::NewUser {
        name,
        role: role.parse().map_err(anyhow::Error::msg)?,
        password,
    };
    let user = users::add_user(&db, &new, &auth::Principal::command_line())?;
    if made {
        println!(
            "user {} ({}) added; password: {}",
            user.name, user.role, new.password
        );
    } else {
        println!("user {} ({}) added", user.name, user.role);
    }
    Ok(())
}

fn token_command(command: TokenCommand) -> anyhow::Result<()> {
    use layercast::api::{auth, tokens};
    let TokenCommand::Create {
        name,
        role,
        expires,
        common,
    } = command;
    let db = open_db(&common)?;
    let new = layercast_shared::NewToken {
        name,
        role: role.parse().map_err(anyhow::Error::msg)?,
        expires_in: expires,
    };
    let created = tokens::create_token(&db, &new, &auth::Principal::command_line())?;
    eprintln!(
        "token {} ({}, id {}) created; it is shown once:",
        created.info.name, created.info.role, created.info.id
    );
    println!("{}", created.token);
    Ok(())
}

#[derive(Debug, clap::Args)]
struct IngestArgs {
    /// The deployment's settings (its kafka.brokers and database.url are used).
    #[arg(long)]
    config: Option<PathBuf>,
    /// What to read: s3://bucket or s3://bucket/prefix.
    #[arg(long)]
    source: String,
    /// An S3-compatible store's address (MinIO, a local server).
    #[arg(long)]
    endpoint: Option<String>,
    /// The bucket's region (default: aws-config's, AWS_REGION or the profile).
    #[arg(long)]
    region: Option<String>,
    /// Path-style addresses (endpoint/bucket/key), as most S3-compatible stores want.
    #[arg(long)]
    path_style: bool,
    #[arg(long, default_value = "auto", value_parser = format_names())]
    format: String,
    /// Read what is there now, then exit (a bucket read continuously is a [[sources]] table).
    #[arg(long)]
    once: bool,
}

#[derive(Debug, clap::Args)]
struct DetectArgs {
    /// Input CSV with `timestamp` and `value` columns.
    #[arg(long)]
    csv: PathBuf,
    /// Output CSV: timestamp,value,anomaly_score,state,alert.
    #[arg(long)]
    out: PathBuf,
    /// 0 (only extreme points alert) to 1 (milder ones do too).
    #[arg(long, default_value_t = layercast::analysis::anomaly::AnomalyConfig::default().sensitivity)]
    sensitivity: f64,
    /// Points after an alert during which scores are damped.
    #[arg(long, default_value_t = layercast::analysis::anomaly::AnomalyConfig::default().cooldown_points)]
    cooldown_points: u32,
}

#[derive(Debug, clap::Args)]
struct SimulateArgs {
    /// Folder to write into (the inbox, e.g. layercast-data/inbox).
    #[arg(long)]
    out: PathBuf,
    /// Simulated seconds per wall-clock second, or `max`.
    #[arg(long, default_value = "60")]
    speed: String,
    /// Simulated time to run (`2h`, `7d`); without it, runs until stopped.
    #[arg(long)]
    duration: Option<humantime::Duration>,
    /// Seed of the random generator: same seed, start and scenario give the same bytes.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Start of simulated time (RFC 3339); default: now.
    #[arg(long)]
    start: Option<chrono::DateTime<chrono::Utc>>,
    /// Scenario TOML file; default: the built-in one.
    #[arg(long)]
    scenario: Option<PathBuf>,
    /// Where to write the ground truth JSON; default: OUT/.ground-truth.json.
    #[arg(long)]
    truth: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct ReplayArgs {
    /// Files or folders to read.
    #[arg(long, required = true, num_args = 1..)]
    input: Vec<PathBuf>,
    /// Format of every input; `auto` detects it per file from its first lines.
    #[arg(long, default_value = "auto", value_parser = format_names())]
    format: String,
    /// Where to write the JSON report.
    #[arg(long)]
    report: PathBuf,
    /// Width of the event-time windows the detectors run over (`1m`, `5m`, `1h`).
    #[arg(long, default_value = "1m")]
    window: humantime::Duration,
    /// A series' capacity in bytes per second, for its runway: `LAYER:ENTITY=BYTES_PER_S`
    /// (e.g. `L2:fra1-spine1/et49=9e9`); repeat for several.
    #[arg(long)]
    capacity: Vec<layercast::replay::Capacity>,
    /// Alert rules to run over the windows: a JSON array of rules as `POST /api/rules` takes
    /// them; their changes are the report's `alerts`.
    #[arg(long)]
    rules: Option<PathBuf>,
}

/// `layercast ingest`: the deployment's broker and database, one bucket, once.
fn ingest(args: IngestArgs) -> anyhow::Result<()> {
    use layercast::ingest::{backfill, Bucket, Taker};
    if !args.once {
        anyhow::bail!("layercast ingest reads what a bucket holds now and exits: pass --once (a bucket read continuously is a [[sources]] table of serve's settings)");
    }
    let config = Config::load(args.config.as_deref())?;
    config.validate()?;
    if config.kafka.brokers.is_none() {
        anyhow::bail!("layercast ingest feeds a running deployment: its --config must set kafka.brokers and database.url (an embedded deployment's broker lives inside its serve process; drop files into its inbox instead)");
    }
    let source = backfill::source_config(
        &args.source,
        args.endpoint,
        args.region,
        args.path_style,
        args.format,
    )?;
    let db = layercast::store::Db::open(config.db_url()?, 2).context("cannot open the database")?;
    let started = std::time::Instant::now();
    let summary = actix_web::rt::System::new().block_on(async move {
        let broker = layercast::kafka::Broker::start(&config.kafka).await?;
        let taker = Taker {
            db,
            producer: broker
                .producer()
                .context("cannot create the Kafka producer")?,
            events_topic: config.kafka.events_topic.clone(),
            node: format!("ingest-{}", config.node_id()),
            lease_ms: i64::try_from(config.ingest.claim_lease_ms).unwrap_or(i64::MAX),
            metrics: layercast::metrics::Metrics::new(),
        };
        let bucket = Bucket::connect(source).await;
        anyhow::Ok(backfill::run(bucket, taker).await?)
    })?;
    eprintln!(
        "{} objects read ({} bytes) in {:.1} s; {} read before; {} being read by a node (it finishes them); {} failed",
        summary.read,
        summary.bytes,
        started.elapsed().as_secs_f64(),
        summary.already_done,
        summary.held,
        summary.failed.len()
    );
    if let Some((key, error)) = summary.failed.first() {
        anyhow::bail!(
            "{} objects failed (run again to resume them), the first: {key}: {error}",
            summary.failed.len()
        );
    }
    Ok(())
}

fn format_names() -> Vec<&'static str> {
    std::iter::once("auto")
        .chain(Format::ALL.iter().map(|f| f.name()))
        .collect()
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
    /// A built frontend to serve instead of the embedded one (http.static_dir).
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
            config.http.static_dir = Some(dir.clone());
        }
        config.validate()?;
        Ok(config)
    }
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("info,librdkafka=warn,rdkafka=warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            let config = args.load()?;
            actix_web::rt::System::new()
                .block_on(layercast::server::serve(config, Some(Dashboard::get)))
        }
        Command::Ingest(args) => ingest(args),
        Command::Migrate(args) => {
            let config = args.load()?;
            let url = config.db_url()?;
            let kind = url.kind();
            layercast::store::Db::open(url, 1).context("migration failed")?;
            println!("{kind} database is up to date");
            Ok(())
        }
        Command::Replay(args) => {
            let window_secs = args.window.as_secs();
            anyhow::ensure!(window_secs > 0, "--window must be at least one second");
            let rules = match &args.rules {
                None => layercast::analysis::RuleSet::default(),
                Some(path) => {
                    let text = std::fs::read_to_string(path)
                        .with_context(|| format!("cannot read {}", path.display()))?;
                    let rules: Vec<layercast::analysis::AlertRule> = serde_json::from_str(&text)
                        .with_context(|| {
                            format!("{}: not a JSON array of rules", path.display())
                        })?;
                    layercast::analysis::RuleSet::new(rules)
                        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
                }
            };
            let options = layercast::replay::ReplayOptions {
                format: Format::ALL.into_iter().find(|f| f.name() == args.format),
                window_secs,
                capacities: args.capacity,
                rules,
                ..Default::default()
            };
            let files = layercast::replay::collect_files(&args.input)?;
            let (report, failures) = layercast::replay::replay(&files, &options);
            let json = serde_json::to_vec_pretty(&report)?;
            std::fs::write(&args.report, json)
                .with_context(|| format!("cannot write {}", args.report.display()))?;
            eprintln!(
                "{} files, {} records, {} malformed lines, {} incidents, {} alert changes; report in {}",
                report.inputs.len(),
                report.records_total,
                report.errors_total,
                report.incidents.len(),
                report.alerts.len(),
                args.report.display()
            );
            if let Some(first) = failures.first() {
                for f in &failures {
                    eprintln!("error: {f}");
                }
                anyhow::bail!(
                    "{} input(s) could not be read, the first: {first}",
                    failures.len()
                );
            }
            Ok(())
        }
        Command::Detect(args) => {
            let config = layercast::analysis::anomaly::AnomalyConfig {
                sensitivity: args.sensitivity,
                cooldown_points: args.cooldown_points,
            };
            config.validate()?;
            let input = std::fs::File::open(&args.csv)
                .with_context(|| format!("cannot open {}", args.csv.display()))?;
            let output = std::fs::File::create(&args.out)
                .with_context(|| format!("cannot create {}", args.out.display()))?;
            let summary = layercast::detect::detect(
                std::io::BufReader::new(input),
                std::io::BufWriter::new(output),
                config,
            )
            .with_context(|| format!("{}", args.csv.display()))?;
            if summary.empty_values > 0 {
                eprintln!(
                    "warning: {} row(s) with an empty value, written with an empty score",
                    summary.empty_values
                );
            }
            eprintln!(
                "{} rows, {} alerts; scores in {}",
                summary.rows,
                summary.alerts,
                args.out.display()
            );
            Ok(())
        }
        Command::Simulate(args) => simulate(args),
        Command::User(command) => user_command(command),
        Command::Token(command) => token_command(command),
    }
}

fn simulate(args: SimulateArgs) -> anyhow::Result<()> {
    use layercast::simulate;
    let speed = match args.speed.as_str() {
        "max" => simulate::Speed::Max,
        n => match n.parse::<f64>() {
            Ok(x) if x.is_finite() && x > 0.0 => simulate::Speed::Times(x),
            _ => anyhow::bail!("--speed {n}: give a number above zero or `max`"),
        },
    };
    let text = match &args.scenario {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?,
        None => simulate::DEFAULT_SCENARIO.to_owned(),
    };
    let origin = args.scenario.as_ref().map_or_else(
        || "the built-in scenario".to_owned(),
        |p| p.display().to_string(),
    );
    let net = simulate::parse_scenario(&text).with_context(|| format!("in {origin}"))?;
    let duration_ms = match args.duration {
        Some(d) => Some(
            i64::try_from(std::time::Duration::from(d).as_millis())
                .context("--duration is too long")?,
        ),
        None => None,
    };
    let options = simulate::Options {
        out: args.out,
        truth: args.truth,
        speed,
        start_ms: args
            .start
            .unwrap_or_else(chrono::Utc::now)
            .timestamp_millis(),
        duration_ms,
        seed: args.seed,
    };
    let started = std::time::Instant::now();
    let summary = simulate::run(net, &options, &|| false)?;
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "{} objects, {} records, {} bytes uncompressed in {secs:.2} s ({:.0} records/s) into {}",
        summary.objects,
        summary.records,
        summary.bytes,
        summary.records as f64 / secs.max(1e-9),
        options.out.display()
    );
    Ok(())
}

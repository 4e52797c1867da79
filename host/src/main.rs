use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use spincat_host::clock::SystemClock;
use spincat_host::config::Variables;
use spincat_host::db::NativeDatabase;
use spincat_host::local_pg::LocalPostgres;
use spincat_host::manifest::Manifest;
use spincat_host::outbound::NativeHttp;
use spincat_host::server::{self, Host};
use spincat_host::{components, ensure_database, migrate, seed};

/// Spincat's native host. Configuration comes from SPIN_VARIABLE_<NAME> environment variables,
/// as under Spin.
#[derive(Parser)]
#[command(name = "spincat-host", version)]
struct Cli {
    /// A spin.toml to read instead of the one built into this binary.
    #[arg(long, global = true)]
    manifest: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve every route of spin.toml. Without SPIN_VARIABLE_DATABASE_URL, a local PostgreSQL
    /// under --dir is started (created, migrated and seeded the first time), and stopped when
    /// the host is (Ctrl-C, SIGTERM).
    Serve {
        #[arg(long, default_value = "127.0.0.1:3000")]
        listen: SocketAddr,
        /// Where the local database and generated secrets are kept between runs.
        #[arg(long, default_value = ".spincat")]
        dir: PathBuf,
        /// Delete the local database first and start from a freshly seeded one.
        #[arg(long)]
        reset: bool,
    },
    /// Apply pending migrations to SPIN_VARIABLE_DATABASE_URL.
    Migrate,
    /// Load the demo catalog and demo users into SPIN_VARIABLE_DATABASE_URL.
    Seed,
    /// Manage a throwaway PostgreSQL cluster from the machine's binaries (used by scripts/test).
    LocalPostgres {
        #[arg(long)]
        dir: PathBuf,
        #[command(subcommand)]
        action: LocalAction,
    },
}

#[derive(Subcommand)]
enum LocalAction {
    /// Start it (creating it if needed) and print its URL.
    Start,
    /// Stop it and delete its files.
    Remove,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    spincat::logging::init();
    let cli = Cli::parse();
    let manifest = match &cli.manifest {
        Some(path) => Manifest::load(path)?,
        None => Manifest::bundled(),
    };
    let mut variables = Variables::from_env(&manifest);
    match cli.command {
        Command::Serve { listen, dir, reset } => {
            let mut local = None;
            if !variables.is_set("database_url") {
                let postgres = start_local_database(&dir, reset).await?;
                variables.set("database_url", postgres.url(DATABASE));
                local = Some(postgres);
                for secret in ["jwt_secret", "job_token"] {
                    if !variables.is_set(secret) {
                        variables.set(secret, local_secret(&dir, secret)?);
                    }
                }
                print_demo_logins();
            }
            let host = Host::new(
                &manifest,
                &variables,
                &components::builtin(),
                Arc::new(SystemClock),
                Arc::new(NativeHttp::new()),
            )?;
            print_features_off(&variables).await;
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("listening on {listen}"))?;
            println!("Spincat is serving on http://{listen}");
            let served = tokio::select! {
                served = server::serve(listener, Arc::new(host)) => served,
                signal = shutdown_signal() => signal,
            };
            if let Some(postgres) = local {
                postgres.stop()?;
                println!(
                    "Stopped the local PostgreSQL (data kept in {})",
                    dir.display()
                );
            }
            served
        }
        Command::Migrate => {
            let url = database_url(&variables)?;
            let mut client = migrate::connect(&url).await?;
            let applied = migrate::migrate(&mut client, &migrate::bundled()?).await?;
            println!("applied {} migration(s) {applied:?}", applied.len());
            Ok(())
        }
        Command::LocalPostgres { dir, action } => match action {
            LocalAction::Start => {
                println!("{}", LocalPostgres::start(&dir)?.url("postgres"));
                Ok(())
            }
            LocalAction::Remove => LocalPostgres::remove(&dir),
        },
        Command::Seed => {
            let url = database_url(&variables)?;
            seed_all(&url).await?;
            print_demo_logins();
            Ok(())
        }
    }
}

fn database_url(variables: &Variables) -> anyhow::Result<String> {
    variables
        .get("database_url")
        .context("set SPIN_VARIABLE_DATABASE_URL")
}

/// The local database's name in its cluster.
const DATABASE: &str = "spincat";

/// The local cluster under `dir`, migrated, and seeded when new (seeding is idempotent).
async fn start_local_database(dir: &Path, reset: bool) -> anyhow::Result<LocalPostgres> {
    let folder = dir.join("postgres");
    if reset && folder.exists() {
        LocalPostgres::remove(&folder)?;
        println!("Deleted the local database in {}", folder.display());
    }
    let postgres = LocalPostgres::start(&folder)?;
    ensure_database(&postgres.url("postgres"), DATABASE).await?;
    let url = postgres.url(DATABASE);
    let mut client = migrate::connect(&url).await?;
    migrate::migrate(&mut client, &migrate::bundled()?).await?;
    seed_all(&url).await?;
    println!(
        "Local PostgreSQL on port {} (data in {})",
        postgres.port,
        folder.display()
    );
    Ok(postgres)
}

/// Ctrl-C or SIGTERM (what `kill`, systemd and container runtimes send).
async fn shutdown_signal() -> anyhow::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        interrupted = tokio::signal::ctrl_c() => interrupted?,
        _ = terminate.recv() => {}
    }
    Ok(())
}

async fn seed_all(url: &str) -> anyhow::Result<()> {
    let client = migrate::connect(url).await?;
    seed::seed_catalog(&client).await?;
    seed::seed_demo_users(Arc::new(NativeDatabase::connect_lazily(url, 2)?)).await
}

/// Which features are off, and the setting that turns each on; the routes that need one answer
/// 503 with its code meanwhile.
async fn print_features_off(variables: &Variables) {
    let off = spincat::features::off(variables).await;
    if off.is_empty() {
        println!("Every feature is configured.");
        return;
    }
    println!("Off until configured (their routes answer 503 with the code shown):");
    for (feature, error) in off {
        println!(
            "  {:<48} {}: SPIN_VARIABLE_{} {}",
            feature.description(),
            feature.code(),
            error.name.to_ascii_uppercase(),
            error.reason
        );
    }
}

fn print_demo_logins() {
    println!("Demo logins:");
    for login in seed::DEMO_LOGINS {
        println!(
            "  {:<14} {} / {}",
            login.role.as_str(),
            login.email,
            login.password
        );
    }
}

/// A random secret kept under .spincat/, so local sessions survive a restart.
fn local_secret(dir: &Path, name: &str) -> anyhow::Result<String> {
    let path = dir.join(name);
    if let Ok(secret) = std::fs::read_to_string(&path) {
        return Ok(secret.trim().to_owned());
    }
    let secret = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    std::fs::create_dir_all(dir)?;
    std::fs::write(&path, &secret)?;
    Ok(secret)
}

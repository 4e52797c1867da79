use std::net::SocketAddr;
use std::path::PathBuf;
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
    /// Serve every route of spin.toml. Without SPIN_VARIABLE_DATABASE_URL, a throwaway
    /// PostgreSQL under .spincat/ is started, migrated and seeded.
    Serve {
        #[arg(long, default_value = "127.0.0.1:3000")]
        listen: SocketAddr,
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

/// Where `serve` keeps its throwaway database and generated secrets.
const LOCAL_DIR: &str = ".spincat";

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
        Command::Serve { listen } => {
            if !variables.is_set("database_url") {
                let url = start_local_database().await?;
                variables.set("database_url", url);
                for secret in ["jwt_secret", "job_token"] {
                    if !variables.is_set(secret) {
                        variables.set(secret, local_secret(secret)?);
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
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("listening on {listen}"))?;
            println!("Spincat is serving on http://{listen}");
            server::serve(listener, Arc::new(host)).await
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

async fn start_local_database() -> anyhow::Result<String> {
    let postgres = LocalPostgres::start(&PathBuf::from(LOCAL_DIR).join("postgres"))?;
    ensure_database(&postgres.url("postgres"), "spincat").await?;
    let url = postgres.url("spincat");
    let mut client = migrate::connect(&url).await?;
    migrate::migrate(&mut client, &migrate::bundled()?).await?;
    seed_all(&url).await?;
    println!(
        "Local PostgreSQL on port {} (data in {LOCAL_DIR}/postgres)",
        postgres.port
    );
    Ok(url)
}

async fn seed_all(url: &str) -> anyhow::Result<()> {
    let client = migrate::connect(url).await?;
    seed::seed_catalog(&client).await?;
    seed::seed_demo_users(Arc::new(NativeDatabase::connect_lazily(url, 2)?)).await
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
fn local_secret(name: &str) -> anyhow::Result<String> {
    let path = PathBuf::from(LOCAL_DIR).join(name);
    if let Ok(secret) = std::fs::read_to_string(&path) {
        return Ok(secret.trim().to_owned());
    }
    let secret = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    std::fs::create_dir_all(LOCAL_DIR)?;
    std::fs::write(&path, &secret)?;
    Ok(secret)
}

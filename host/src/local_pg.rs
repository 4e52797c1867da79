//! A throwaway PostgreSQL cluster from the machine's own binaries, for `serve` without a
//! `database_url` and for the test suite. PostgreSQL refuses to run as root, so as root the
//! cluster is created and started as the `postgres` system user, in a folder it owns.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};

pub struct LocalPostgres {
    data: PathBuf,
    bin: PathBuf,
    pub port: u16,
    /// `name=value` server settings beyond the throwaway ones.
    settings: Vec<String>,
}

/// Settings for a cluster whose data may be lost: no fsync, the least WAL, no checkpoint in the
/// middle of a test, room for many test connections.
const THROWAWAY_SETTINGS: &[&str] = &[
    "fsync=off",
    "synchronous_commit=off",
    "full_page_writes=off",
    "wal_level=minimal",
    "max_wal_senders=0",
    "max_wal_size=4GB",
    "checkpoint_timeout=30min",
    "max_connections=400",
    "shared_buffers=256MB",
];

impl LocalPostgres {
    /// Initialises the cluster under `dir` if needed and starts it unless it is running.
    pub fn start(dir: &Path) -> anyhow::Result<Self> {
        Self::start_with(dir, &[])
    }

    /// `start`, with extra `name=value` server settings (TLS, an `hba_file`), applied when it
    /// is not already running. Files they name are best kept under `dir`: as root, `dir` is
    /// handed to the postgres user before the server starts.
    pub fn start_with(dir: &Path, settings: &[String]) -> anyhow::Result<Self> {
        let settings = settings.to_vec();
        let bin = find_binaries()?;
        let dir = usable_dir(dir)?;
        let data = dir.join("data");
        let socket = dir.join("socket");
        std::fs::create_dir_all(&socket)?;
        let port_file = dir.join("port");
        let stopped = Self {
            data,
            bin,
            port: 0,
            settings,
        };
        if stopped.is_running() {
            let port = std::fs::read_to_string(&port_file)?.trim().parse()?;
            return Ok(Self { port, ..stopped });
        }
        let Self {
            data,
            bin,
            settings,
            ..
        } = stopped;
        // Only while it is stopped: a running cluster creates and deletes files as it goes.
        if as_root() {
            run(Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&dir))?;
        }
        if !data.join("PG_VERSION").exists() {
            run(postgres_command(&bin.join("initdb"))
                .arg("-D")
                .arg(&data)
                .args([
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--no-instructions",
                ]))
            .context("initdb")?;
        }
        let port = free_port()?;
        std::fs::write(&port_file, port.to_string())?;
        let cluster = Self {
            data,
            bin,
            port,
            settings,
        };
        cluster.resume()?;
        Ok(cluster)
    }

    /// Starts the stopped cluster again on its port, as a database back from an outage.
    pub fn resume(&self) -> anyhow::Result<()> {
        let dir = self
            .data
            .parent()
            .expect("data lives in the cluster's folder");
        let mut options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            dir.join("socket").display()
        );
        let extra = self.settings.iter().map(String::as_str);
        for setting in THROWAWAY_SETTINGS.iter().copied().chain(extra) {
            options.push_str(&format!(" -c {setting}"));
        }
        run(postgres_command(&self.bin.join("pg_ctl"))
            .arg("start")
            .arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(dir.join("postgres.log"))
            .args(["-w", "-t", "60", "-o", &options]))
        .with_context(|| {
            format!(
                "starting PostgreSQL (log: {})",
                dir.join("postgres.log").display()
            )
        })
    }

    /// Stops the cluster under `dir`, if any, and deletes its files.
    pub fn remove(dir: &Path) -> anyhow::Result<()> {
        let requested = dir.to_path_buf();
        let dir = usable_dir(dir)?;
        let data = dir.join("data");
        if data.join("PG_VERSION").exists() {
            let bin = find_binaries()?;
            // Not running is fine: there is nothing to stop.
            let _ = run(postgres_command(&bin.join("pg_ctl"))
                .arg("stop")
                .arg("-D")
                .arg(&data)
                .args(["-m", "immediate", "-w"]));
        }
        std::fs::remove_dir_all(&dir)?;
        if requested.exists() {
            std::fs::remove_dir_all(&requested)?;
        }
        Ok(())
    }

    pub fn is_running(&self) -> bool {
        postgres_command(&self.bin.join("pg_ctl"))
            .arg("status")
            .arg("-D")
            .arg(&self.data)
            .output()
            .is_ok_and(|o| o.status.success())
    }

    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/{database}?sslmode=disable",
            self.port
        )
    }

    /// Stops the cluster, keeping its files. Already stopped is fine: Ctrl-C in a terminal
    /// reaches PostgreSQL too, and it shuts itself down.
    pub fn stop(&self) -> anyhow::Result<()> {
        if !self.is_running() {
            return Ok(());
        }
        run(postgres_command(&self.bin.join("pg_ctl"))
            .arg("stop")
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "fast", "-w"]))
    }
}

/// `initdb` and `pg_ctl`: from `PG_BIN`, the PATH, or Debian's versioned folders, newest first.
fn find_binaries() -> anyhow::Result<PathBuf> {
    if let Ok(dir) = std::env::var("PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let on_path = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .unwrap_or_default();
    if let Some(dir) = on_path
        .into_iter()
        .find(|d| d.join("initdb").exists() && d.join("pg_ctl").exists())
    {
        return Ok(dir);
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| entries.flatten().map(|e| e.path().join("bin")).collect())
        .unwrap_or_default();
    versions.retain(|d| d.join("initdb").exists());
    versions.sort_by_key(|d| {
        d.parent()
            .and_then(|v| v.file_name()?.to_str()?.parse::<u32>().ok())
            .unwrap_or(0)
    });
    versions.pop().context(
        "PostgreSQL's initdb was not found: install the Debian package `postgresql` (or set PG_BIN)",
    )
}

fn as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn postgres_command(program: &Path) -> Command {
    if as_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

/// As root, the `postgres` user must be able to reach the folder; a checkout under a private
/// home directory is not reachable, so the cluster then lives under the system temp folder.
fn usable_dir(dir: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let dir = dir.canonicalize()?;
    if !as_root() || reachable_by_postgres(&dir) {
        return Ok(dir);
    }
    let digest =
        hex::encode(&<sha2::Sha256 as sha2::Digest>::digest(dir.to_string_lossy().as_bytes())[..6]);
    let fallback = std::env::temp_dir().join(format!("spincat-pg-{digest}"));
    std::fs::create_dir_all(&fallback)?;
    Ok(fallback)
}

fn reachable_by_postgres(dir: &Path) -> bool {
    Command::new("runuser")
        .args(["-u", "postgres", "--", "test", "-x"])
        .arg(dir)
        .status()
        .is_ok_and(|s| s.success())
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn run(command: &mut Command) -> anyhow::Result<()> {
    let output = command
        .output()
        .with_context(|| format!("running {command:?}"))?;
    if !output.status.success() {
        bail!(
            "{command:?} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

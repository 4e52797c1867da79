//! The app under a real `spin up`, for the same black-box tests: `SPINCAT_RUNTIME=spin` and
//! `SPIN_BIN` (default: `spin` on the PATH). The manifest Spin runs is made from spin.toml at test
//! time: absolute component paths, loopback allowed outbound (the Midtrans and Kubernetes doubles
//! listen there) unless a test checks the shipped allow-list, and no cron trigger (the tests run
//! jobs through their routes, at the moments they choose).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Whether this test run drives the app under Spin rather than the native host.
pub fn enabled() -> bool {
    std::env::var("SPINCAT_RUNTIME").is_ok_and(|r| r == "spin")
}

/// For a test that cannot run under Spin: true (and says so) when it should return at once.
/// The line also goes to `$SPINCAT_SKIP_LOG`, which `scripts/test-spin` prints at the end: a
/// passing test's output is not shown.
pub fn skip(reason: &str) -> bool {
    if enabled() {
        let test = std::thread::current()
            .name()
            .unwrap_or("this test")
            .to_owned();
        let line = format!("SKIPPED under Spin: {test}: {reason}");
        println!("{line}");
        if let Ok(path) = std::env::var("SPINCAT_SKIP_LOG") {
            use std::io::Write;
            let mut log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .expect("the skip log");
            writeln!(log, "{line}").expect("the skip log");
        }
    }
    enabled()
}

/// Under Spin, why a test of the cron components cannot run here, if it cannot: `spin up` refuses
/// a cron trigger without its plugin (`scripts/test-spin` installs it from ../shared/tools/spin).
pub fn cron_plugin_missing() -> Option<&'static str> {
    if !enabled() {
        return None;
    }
    let listed = Command::new(spin_binary())
        .args(["plugins", "list", "--installed"])
        .output()
        .expect("spin plugins list");
    let installed = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .any(|line| line.starts_with("trigger-cron "));
    (!installed)
        .then_some("the cron trigger plugin is not installed (spin plugins install trigger-cron)")
}

fn spin_binary() -> String {
    std::env::var("SPIN_BIN").unwrap_or_else(|_| "spin".into())
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("the repository")
}

/// spin.toml as the tests run it, under both runtimes: loopback allowed outbound, where the
/// Midtrans and Kubernetes doubles listen.
pub fn test_manifest() -> String {
    runnable_manifest(&["http://127.0.0.1:*"], Cron::Removed)
}

/// spin.toml with only the outbound hosts it ships with: what a test of the allow-list runs.
pub fn shipped_manifest() -> String {
    runnable_manifest(&[], Cron::Removed)
}

/// The test manifest with spin.toml's cron triggers kept, every one on `expression`: what a test
/// of the schedules runs (under Spin it needs the cron trigger plugin: `cron_plugin_missing`).
pub fn scheduled_manifest(expression: &str) -> String {
    runnable_manifest(&["http://127.0.0.1:*"], Cron::Every(expression))
}

enum Cron<'a> {
    Removed,
    Every(&'a str),
}

/// spin.toml made runnable from any folder (absolute component paths, no build step), with its
/// cron triggers as `cron` says and `extra_hosts` added to every component's
/// `allowed_outbound_hosts`.
fn runnable_manifest(extra_hosts: &[&str], cron: Cron) -> String {
    let text = std::fs::read_to_string(repo().join("spin.toml")).expect("spin.toml");
    let mut manifest: toml::Table = text.parse().expect("spin.toml is TOML");
    let triggers = manifest
        .get_mut("trigger")
        .and_then(|t| t.as_table_mut())
        .expect("spin.toml has triggers");
    let mut cron_components = Vec::new();
    match cron {
        Cron::Removed => {
            let removed = triggers.remove("cron");
            cron_components.extend(
                removed
                    .iter()
                    .filter_map(|c| c.as_array())
                    .flatten()
                    .filter_map(|t| t.get("component")?.as_str().map(str::to_owned)),
            );
        }
        Cron::Every(expression) => {
            for trigger in triggers
                .get_mut("cron")
                .and_then(|c| c.as_array_mut())
                .into_iter()
                .flatten()
            {
                trigger
                    .as_table_mut()
                    .expect("a cron trigger is a table")
                    .insert("cron_expression".into(), expression.into());
            }
        }
    }
    let components = manifest
        .get_mut("component")
        .and_then(|c| c.as_table_mut())
        .expect("spin.toml has components");
    for id in &cron_components {
        components.remove(id);
    }
    for (_, component) in components.iter_mut() {
        let component = component.as_table_mut().expect("a component is a table");
        if let Some(source) = component.get("source").and_then(|s| s.as_str()) {
            let absolute = repo().join(source).display().to_string();
            component.insert("source".into(), absolute.into());
        }
        component.remove("build");
        let hosts = component
            .entry("allowed_outbound_hosts")
            .or_insert_with(|| toml::Value::Array(Vec::new()));
        if let Some(hosts) = hosts.as_array_mut() {
            hosts.extend(extra_hosts.iter().map(|h| toml::Value::from(*h)));
        }
    }
    toml::to_string(&manifest).expect("TOML")
}

/// A running `spin up`, stopped when dropped.
pub struct SpinApp {
    pub base_url: String,
    port: u16,
    _claim: PortClaim,
    variables: Vec<(String, String)>,
    child: Child,
    dir: PathBuf,
}

impl Drop for SpinApp {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!(
                "spin up's log and the component logs are kept in {}",
                self.dir.display()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl SpinApp {
    /// Starts Spin on `port` with `manifest`, `variables` (as `SPIN_VARIABLE_*`) and, when
    /// given, a runtime config (`--runtime-config-file`), and waits until it serves.
    pub async fn start(
        claim: PortClaim,
        manifest: &str,
        variables: &[(String, String)],
        runtime_config: Option<&str>,
    ) -> Self {
        let dir =
            std::env::temp_dir().join(format!("spincat-spin-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("spin.toml"), manifest).unwrap();
        if let Some(config) = runtime_config {
            std::fs::write(dir.join(RUNTIME_CONFIG), config).unwrap();
        }
        let port = claim.port;
        let child = spawn(&dir, port, variables);
        let mut app = Self {
            base_url: format!("http://127.0.0.1:{port}"),
            port,
            _claim: claim,
            variables: variables.to_vec(),
            child,
            dir,
        };
        app.wait_until_serving(0).await;
        app
    }

    /// Kills `spin up` at once, whatever it is doing (a crashed replica), and starts it again
    /// on the same port and database.
    pub async fn crash_and_restart(&mut self) {
        self.kill();
        let log_from = self.log().len();
        self.child = spawn(&self.dir, self.port, &self.variables);
        self.wait_until_serving(log_from).await;
    }

    fn kill(&mut self) {
        // `spin up` runs the trigger as a child process: stop the whole group, or the trigger
        // outlives it, holding its database connections.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
    }

    /// Until this `spin up` says it serves on its port (in its log after `log_from`) and the app
    /// answers there, whatever the answer (a test may start it on a database that is down): an
    /// answer alone could come from whatever else holds the port.
    async fn wait_until_serving(&mut self, log_from: usize) {
        let http = reqwest::Client::new();
        // The first start compiles every component; later ones load Wasmtime's cache.
        let deadline = Instant::now() + Duration::from_secs(180);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("spin up exited ({status}):\n{}", self.log());
            }
            let health = http
                .get(format!("{}/api/health", self.base_url))
                .timeout(Duration::from_secs(5))
                .send()
                .await;
            let serving = format!("Serving http://127.0.0.1:{}", self.port);
            let ours = self
                .log()
                .get(log_from..)
                .is_some_and(|log| log.contains(&serving));
            if ours && health.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("spin up did not serve within 180 s:\n{}", self.log());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("spin.log")).unwrap_or_default()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

const RUNTIME_CONFIG: &str = "runtime-config.toml";

/// `spin up` in `dir`, in a process group of its own, its output appended to `dir/spin.log`.
fn spawn(dir: &Path, port: u16, variables: &[(String, String)]) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("spin.log"))
        .unwrap();
    let mut command = Command::new(spin_binary());
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    command
        .current_dir(dir)
        .args(["up", "--from", "spin.toml", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    if dir.join(RUNTIME_CONFIG).exists() {
        command.args(["--runtime-config-file", RUNTIME_CONFIG]);
    }
    for (name, value) in variables {
        command.env(
            format!("SPIN_VARIABLE_{}", name.to_ascii_uppercase()),
            value,
        );
    }
    command
        .spawn()
        .unwrap_or_else(|e| panic!("starting {} up: {e}", spin_binary()))
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A loopback port for a `spin up`, which binds it itself, so the port is free between our
/// choosing it and Spin taking it. Claimed under a lock file for as long as this lives: no other
/// test process hands the same port to its Spin meanwhile (two Spins given one port would leave
/// one test talking to the other test's app, its database and its doubles).
pub struct PortClaim {
    pub port: u16,
    _lock: std::fs::File,
}

impl PortClaim {
    pub fn new() -> Self {
        let dir = std::env::temp_dir().join("spincat-spin-ports");
        std::fs::create_dir_all(&dir).unwrap();
        loop {
            let port = free_port();
            let lock = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(dir.join(port.to_string()))
                .unwrap();
            if lock.try_lock().is_ok() {
                return Self { port, _lock: lock };
            }
        }
    }
}

impl Default for PortClaim {
    fn default() -> Self {
        Self::new()
    }
}

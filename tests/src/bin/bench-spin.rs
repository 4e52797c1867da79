//! The Spin benchmark: for each Spin CLI given, one `spin up` of the app (spin.toml as shipped,
//! cron triggers left out) plus the hello-world component of `bench/hello-world` at `/hello`, on
//! a migrated and seeded database in a throwaway PostgreSQL under `target/spincat-bench-pg`.
//! `wrk` loads each route in turn; the requests per second of each, its ratio to hello-world's on
//! the same Spin, and every component's wasm size are printed. A route that answers anything but
//! 2xx fails the run: a fast error is not a result.
//!
//! `scripts/bench-spin [SPIN ...]` builds the wasm and runs this.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::json;
use spincat_host::local_pg::LocalPostgres;
use spincat_host::{ensure_database, migrate, seed};
use spincat_tests::spin::{self, SpinApp};

const JWT_SECRET: &str = "bench-secret-that-is-long-enough-for-hs256-signing";
/// As the figures before the real-Spin issue were measured: two threads, 16 connections.
const LOAD: [&str; 2] = ["-t2", "-c16"];
/// How long each route is measured, after a two-second warm-up.
const MEASURED_FOR: &str = "10s";

struct Route {
    label: &'static str,
    path: &'static str,
    authenticated: bool,
    /// The status every answer must have.
    status: u16,
}

/// The hello world, then three rows that split a catalog read's cost (the profile in the
/// README): one PostgreSQL statement, or one key-value read, from the smallest component, and
/// the catalog component answering without the database; then the app's routes.
const ROUTES: [Route; 8] = [
    Route {
        label: "hello-world component",
        path: "/hello",
        authenticated: false,
        status: 200,
    },
    Route {
        label: "hello-world + SELECT 1",
        path: "/hello/db",
        authenticated: false,
        status: 200,
    },
    Route {
        label: "hello-world + one key-value read",
        path: "/hello/kv",
        authenticated: false,
        status: 200,
    },
    Route {
        label: "catalog component, no query (404)",
        path: "/api/catalog/no-such-route",
        authenticated: false,
        status: 404,
    },
    Route {
        label: "GET /api/catalog/categories",
        path: "/api/catalog/categories",
        authenticated: false,
        status: 200,
    },
    Route {
        label: "GET /api/catalog/services/:slug",
        path: "/api/catalog/services/n8n",
        authenticated: false,
        status: 200,
    },
    Route {
        label: "GET /api/catalog/search?q=",
        path: "/api/catalog/search?q=postgres",
        authenticated: false,
        status: 200,
    },
    Route {
        label: "GET /api/user/wallet (signed in)",
        path: "/api/user/wallet",
        authenticated: true,
        status: 200,
    },
];

struct Measured {
    requests_per_second: f64,
    p99_ms: f64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let spins: Vec<String> = std::env::args().skip(1).collect();
    if spins.is_empty() {
        bail!("usage: bench-spin SPIN [SPIN ...]");
    }
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let postgres = LocalPostgres::start(&repo.join("target/spincat-bench-pg"))?;
    let url = postgres.url("bench_spin");
    let admin = migrate::connect(&postgres.url("postgres")).await?;
    admin
        .batch_execute("DROP DATABASE IF EXISTS bench_spin")
        .await?;
    ensure_database(&postgres.url("postgres"), "bench_spin").await?;
    let mut client = migrate::connect(&url).await?;
    migrate::migrate(&mut client, &migrate::bundled()?).await?;
    seed::seed_catalog(&client).await?;

    let manifest = bench_manifest(&repo)?;
    let address = url
        .split('@')
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .context("the database URL has a host")?
        .to_owned();
    let variables: Vec<(String, String)> = [
        ("database_url", url.clone()),
        ("database_host", address),
        ("jwt_secret", JWT_SECRET.into()),
        ("job_token", "bench-job-token".into()),
        // Every signed-in request of the run comes from one address.
        ("login_max_attempts_per_source", "1000000".into()),
    ]
    .into_iter()
    .map(|(n, v)| (n.to_owned(), v))
    .collect();

    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    for binary in &spins {
        std::env::set_var("SPIN_BIN", binary);
        let version = String::from_utf8(Command::new(binary).arg("--version").output()?.stdout)?;
        let app = SpinApp::start(spin::PortClaim::new(), &manifest, &variables, None).await;
        let token = sign_in(
            &app.base_url,
            &format!("bench-{}@example.com", uuid::Uuid::new_v4().simple()),
        )
        .await?;
        println!(
            "\n{} — wrk {} -d{MEASURED_FOR} on {cores} cores",
            version.trim(),
            LOAD.join(" ")
        );
        println!(
            "{:<36} {:>9} {:>10} {:>14}",
            "route", "req/s", "p99 ms", "vs hello-world"
        );
        let mut baseline = None;
        for route in &ROUTES {
            let header = route
                .authenticated
                .then(|| format!("Authorization: Bearer {token}"));
            answers(&app.base_url, route, &token).await?;
            let measured = load(&app.base_url, route.path, header.as_deref(), route.status)?;
            let ratio = match baseline {
                None => {
                    baseline = Some(measured.requests_per_second);
                    "100%".to_owned()
                }
                Some(hello) => format!("{:.0}%", 100.0 * measured.requests_per_second / hello),
            };
            println!(
                "{:<36} {:>9.0} {:>10.1} {:>14}",
                route.label, measured.requests_per_second, measured.p99_ms, ratio
            );
        }
        drop(app);
    }
    println!("\ncomponent sizes (wasm32-wasip1, release):");
    for (file, bytes) in component_sizes(&repo)? {
        println!("  {file:<36} {:>7.2} MB", bytes as f64 / 1e6);
    }
    postgres.stop()?;
    Ok(())
}

/// spin.toml as shipped, made runnable from anywhere, with the hello-world component at `/hello`.
fn bench_manifest(repo: &Path) -> anyhow::Result<String> {
    let mut manifest: toml::Table = spin::shipped_manifest().parse()?;
    let hello = repo
        .join("target/wasm32-wasip1/release/spincat_hello_world.wasm")
        .canonicalize()
        .context("build bench/hello-world for wasm32-wasip1 first (scripts/bench-spin does)")?;
    manifest["trigger"]["http"]
        .as_array_mut()
        .context("spin.toml has HTTP triggers")?
        .push(toml::Value::Table(toml::toml! {
            route = "/hello/..."
            component = "hello-world"
        }));
    manifest["component"]
        .as_table_mut()
        .context("spin.toml has components")?
        .insert(
            "hello-world".into(),
            toml::Value::Table(toml::toml! {
                source = (hello.display().to_string())
                allowed_outbound_hosts = ["postgres://{{ database_host }}"]
                key_value_stores = ["default"]
                [variables]
                database_url = "{{ database_url }}"
            }),
        );
    Ok(toml::to_string(&manifest)?)
}

async fn sign_in(base_url: &str, email: &str) -> anyhow::Result<String> {
    let http = reqwest::Client::new();
    let registered: serde_json::Value = http
        .post(format!("{base_url}/api/auth/register"))
        .json(&json!({"name": "Bench", "email": email, "password": "bench password 1"}))
        .send()
        .await?
        .json()
        .await?;
    registered["data"]["accessToken"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("register answered {registered}"))
}

/// The route answers as it should before it is loaded: a fast wrong answer is not a result.
async fn answers(base_url: &str, route: &Route, token: &str) -> anyhow::Result<()> {
    let mut request = reqwest::Client::new().get(format!("{base_url}{}", route.path));
    if route.authenticated {
        request = request.bearer_auth(token);
    }
    let status = request.send().await?.status().as_u16();
    if status != route.status {
        bail!("{} answered {status}, not {}", route.path, route.status);
    }
    Ok(())
}

/// A warm-up, then one measured `wrk` run against `path`, whose answers are all `status`.
fn load(base_url: &str, path: &str, header: Option<&str>, status: u16) -> anyhow::Result<Measured> {
    let url = format!("{base_url}{path}");
    let run = |duration: &str| -> anyhow::Result<String> {
        let mut command = Command::new("wrk");
        command
            .args(LOAD)
            .arg(format!("-d{duration}"))
            .arg("--latency");
        if let Some(header) = header {
            command.args(["-H", header]);
        }
        let output = command
            .arg(&url)
            .output()
            .context("running wrk (scripts/bench-spin installs it)")?;
        if !output.status.success() {
            bail!("wrk failed: {}", String::from_utf8_lossy(&output.stderr));
        }
        Ok(String::from_utf8(output.stdout)?)
    };
    run("2s")?;
    std::thread::sleep(Duration::from_millis(500));
    let report = run(MEASURED_FOR)?;
    let other = report
        .lines()
        .find(|l| l.contains("Non-2xx or 3xx responses"));
    match (other, status) {
        (Some(line), 200..=299) => bail!("{path}: {}\n{report}", line.trim()),
        (None, 300..) => bail!("{path}: answered 2xx, not {status}\n{report}"),
        _ => {}
    }
    if report.contains("Socket errors") {
        bail!("{path}: socket errors\n{report}");
    }
    let requests_per_second = report
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .context("wrk printed no Requests/sec")?
        .trim()
        .parse()?;
    let p99 = report
        .lines()
        .find_map(|l| l.trim().strip_prefix("99%"))
        .context("wrk printed no 99th percentile")?
        .trim();
    Ok(Measured {
        requests_per_second,
        p99_ms: milliseconds(p99)?,
    })
}

/// wrk's latency figures: `850.00us`, `12.34ms`, `1.20s`.
fn milliseconds(figure: &str) -> anyhow::Result<f64> {
    for (unit, factor) in [("us", 0.001), ("ms", 1.0), ("s", 1000.0)] {
        if let Some(number) = figure.strip_suffix(unit) {
            return Ok(number.parse::<f64>()? * factor);
        }
    }
    bail!("cannot read the latency {figure:?}")
}

/// Each distinct wasm file spin.toml names (the cron component's too), and the hello world's,
/// with its size.
fn component_sizes(repo: &Path) -> anyhow::Result<BTreeMap<String, u64>> {
    let manifest: toml::Table = std::fs::read_to_string(repo.join("spin.toml"))?.parse()?;
    let mut sources: Vec<PathBuf> = manifest["component"]
        .as_table()
        .context("components")?
        .values()
        .filter_map(|c| c.get("source")?.as_str().map(|s| repo.join(s)))
        .collect();
    sources.push(repo.join("target/wasm32-wasip1/release/spincat_hello_world.wasm"));
    let mut sizes = BTreeMap::new();
    for source in sources {
        let name = source
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        sizes.insert(name, std::fs::metadata(&source)?.len());
    }
    Ok(sizes)
}

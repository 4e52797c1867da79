//! The login-flood benchmark: floods the native host with logins (each an Argon2id verify) at 50
//! concurrent, while one client probes `/api/health` and an authenticated `/api/user/wallet` one
//! request after another, and prints the probes' p50 and p99 before and during the flood, the
//! flood's rate, and the process's peak memory. Throttling is lifted so every login hashes.
//!
//! `scripts/bench-login-flood [UNKNOWN_EMAIL_LOGINS [CORRECT_LOGINS]]` (default 2000 and 500).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::json;
use spincat_host::clock::SystemClock;
use spincat_host::config::Variables;
use spincat_host::local_pg::LocalPostgres;
use spincat_host::manifest::Manifest;
use spincat_host::outbound::NativeHttp;
use spincat_host::server::{self, Host};
use spincat_host::{components, ensure_database, migrate, seed};

const CONCURRENCY: usize = 50;
const PASSWORD: &str = "correct horse battery";
const TARGET_P99_MS: f64 = 50.0;
const TARGET_MEMORY_MB: f64 = 600.0;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>());
    let unknown_logins = args.next().transpose()?.unwrap_or(2_000);
    let correct_logins = args.next().transpose()?.unwrap_or(500);

    let dir =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/spincat-bench-pg");
    let postgres = LocalPostgres::start(&dir)?;
    let name = "bench_login_flood";
    let admin = migrate::connect(&postgres.url("postgres")).await?;
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .await?;
    ensure_database(&postgres.url("postgres"), name).await?;
    let url = postgres.url(name);
    let mut client = migrate::connect(&url).await?;
    migrate::migrate(&mut client, &migrate::bundled()?).await?;
    seed::seed_catalog(&client).await?;

    let manifest = Manifest::bundled();
    let mut variables = Variables::from_env(&manifest);
    for (variable, value) in [
        ("database_url", url.as_str()),
        (
            "jwt_secret",
            "bench-secret-that-is-long-enough-for-hs256-signing",
        ),
        ("job_token", "bench-job-token"),
        ("login_max_attempts", "1000000000"),
        ("login_max_attempts_per_source", "1000000000"),
    ] {
        variables.set(variable, value);
    }
    let host = Host::new(
        &manifest,
        &variables,
        &components::builtin(),
        Arc::new(SystemClock),
        Arc::new(NativeHttp::new()),
    )?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let served = tokio::spawn(server::serve(listener, Arc::new(host)));
    let http = reqwest::Client::new();

    let registered: serde_json::Value = http
        .post(format!("{base}/api/auth/register"))
        .json(&json!({"name": "Bench", "email": "bench@example.com", "password": PASSWORD}))
        .send()
        .await?
        .json()
        .await?;
    let token = registered["data"]["accessToken"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("registration failed: {registered}"))?
        .to_owned();

    println!(
        "Argon2id m={} KiB, t={}, p={}; {} cores; {CONCURRENCY} logins at once",
        spincat::auth::ARGON2_MEMORY_KIB,
        spincat::auth::ARGON2_PASSES,
        spincat::auth::ARGON2_LANES,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let quiet = Arc::new(AtomicBool::new(false));
    let idle = tokio::spawn(probe(
        http.clone(),
        base.clone(),
        token.clone(),
        quiet.clone(),
    ));
    tokio::time::sleep(Duration::from_secs(3)).await;
    quiet.store(true, Ordering::SeqCst);
    // The baseline is shown for comparison; the targets are about the flood.
    let _ = report("no load", &idle.await?, None);

    let mut met = true;
    for (what, count, email) in [
        ("unknown-email logins", unknown_logins, None),
        ("correct logins", correct_logins, Some("bench@example.com")),
    ] {
        let done = Arc::new(AtomicBool::new(false));
        let probes = tokio::spawn(probe(
            http.clone(),
            base.clone(),
            token.clone(),
            done.clone(),
        ));
        let started = Instant::now();
        let statuses: Vec<u16> = futures::stream::iter(0..count)
            .map(|i| {
                let (http, base) = (http.clone(), base.clone());
                let email = email.map_or_else(|| format!("nobody-{i}@example.com"), str::to_owned);
                async move {
                    http.post(format!("{base}/api/auth/login"))
                        .json(&json!({"email": email, "password": PASSWORD}))
                        .send()
                        .await
                        .map_or(0, |r| r.status().as_u16())
                }
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        let seconds = started.elapsed().as_secs_f64();
        done.store(true, Ordering::SeqCst);
        let expected = if email.is_some() { 200 } else { 401 };
        let wrong = statuses.iter().filter(|s| **s != expected).count();
        anyhow::ensure!(
            wrong == 0,
            "{wrong} of {count} {what} did not answer {expected}"
        );
        let flood = format!(
            "{count} {what} in {seconds:.1} s ({:.0}/s)",
            count as f64 / seconds
        );
        met &= report("during the flood", &probes.await?, Some(&flood));
    }
    let peak_mb = peak_memory_mb();
    println!(
        "peak memory of the process (host and load generator): {peak_mb:.0} MB (target under {TARGET_MEMORY_MB} MB)"
    );
    met &= peak_mb < TARGET_MEMORY_MB;
    println!(
        "{}",
        if met {
            "targets met"
        } else {
            "TARGETS NOT MET"
        }
    );

    served.abort();
    drop(client);
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .await?;
    postgres.stop()?;
    anyhow::ensure!(met, "a target was not met");
    Ok(())
}

/// Latencies in milliseconds of health and wallet probes, one after another, until `stop`.
struct Probes {
    health: Vec<f64>,
    wallet: Vec<f64>,
}

async fn probe(
    http: reqwest::Client,
    base: String,
    token: String,
    stop: Arc<AtomicBool>,
) -> Probes {
    let mut probes = Probes {
        health: Vec::new(),
        wallet: Vec::new(),
    };
    while !stop.load(Ordering::SeqCst) {
        let started = Instant::now();
        let health = http.get(format!("{base}/api/health")).send().await;
        assert!(health.is_ok_and(|r| r.status().is_success()));
        probes.health.push(started.elapsed().as_secs_f64() * 1000.0);
        let started = Instant::now();
        let wallet = http
            .get(format!("{base}/api/user/wallet"))
            .bearer_auth(&token)
            .send()
            .await;
        assert!(wallet.is_ok_and(|r| r.status().is_success()));
        probes.wallet.push(started.elapsed().as_secs_f64() * 1000.0);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    probes
}

fn percentile(samples: &[f64], p: f64) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Prints the probes; true when both p99 are within the target.
fn report(when: &str, probes: &Probes, flood: Option<&str>) -> bool {
    if let Some(flood) = flood {
        println!("{flood}");
    }
    let mut met = true;
    for (route, samples) in [
        ("/api/health", &probes.health),
        ("/api/user/wallet", &probes.wallet),
    ] {
        let p99 = percentile(samples, 0.99);
        println!(
            "  {when:<17} {route:<17} p50 {:>6.1} ms  p99 {p99:>6.1} ms  ({} probes)",
            percentile(samples, 0.50),
            samples.len()
        );
        met &= p99 < TARGET_P99_MS;
    }
    met
}

/// The process's peak resident memory (`VmHWM`), in MB.
fn peak_memory_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

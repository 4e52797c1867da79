//! The renewal benchmark: for each size, a fresh database with that many due subscriptions, one
//! renewal run through the native host over HTTP, and the rate. Prints how the time grows from
//! the smallest size to the largest, which should be linear.
//!
//! `scripts/bench-renewals [SIZE ...]` (default 10000 25000 50000 100000).

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use spincat_host::clock::SystemClock;
use spincat_host::config::Variables;
use spincat_host::local_pg::LocalPostgres;
use spincat_host::manifest::Manifest;
use spincat_host::outbound::NativeHttp;
use spincat_host::server::{self, Host};
use spincat_host::{components, ensure_database, migrate, seed};
use spincat_tests::bulk;

const JOB_TOKEN: &str = "bench-job-token";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let sizes: Vec<i64> = match std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<Vec<_>, _>>()?
    {
        sizes if !sizes.is_empty() => sizes,
        _ => vec![10_000, 25_000, 50_000, 100_000],
    };
    let dir =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/spincat-bench-pg");
    let postgres = LocalPostgres::start(&dir)?;
    let mut results = Vec::new();
    for &size in &sizes {
        let name = format!("bench_{size}");
        let admin = migrate::connect(&postgres.url("postgres")).await?;
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\""))
            .await?;
        ensure_database(&postgres.url("postgres"), &name).await?;
        let url = postgres.url(&name);
        let mut client = migrate::connect(&url).await?;
        migrate::migrate(&mut client, &migrate::bundled()?).await?;
        seed::seed_catalog(&client).await?;
        let seeding = Instant::now();
        bulk::seed_due_subscriptions(&client, "bench", size, 1_000_000, Utc::now()).await;
        client.batch_execute("ANALYZE").await?;
        eprintln!("{size}: seeded in {:.1} s", seeding.elapsed().as_secs_f64());

        let manifest = Manifest::bundled();
        let mut variables = Variables::from_env(&manifest);
        variables.set("database_url", url.clone());
        variables.set(
            "jwt_secret",
            "bench-secret-that-is-long-enough-for-hs256-signing",
        );
        variables.set("job_token", JOB_TOKEN);
        let host = Host::new(
            &manifest,
            &variables,
            &components::builtin(),
            Arc::new(SystemClock),
            Arc::new(NativeHttp::new()),
        )?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let served = tokio::spawn(server::serve(listener, Arc::new(host)));

        let started = Instant::now();
        let response = reqwest::Client::new()
            .post(format!("http://{address}/internal/jobs/renewals"))
            .bearer_auth(JOB_TOKEN)
            .send()
            .await?;
        let seconds = started.elapsed().as_secs_f64();
        let body: serde_json::Value = response.json().await?;
        served.abort();
        let renewed = body["data"]["subscriptions"]["renewed"]
            .as_i64()
            .unwrap_or(0);
        anyhow::ensure!(renewed == size, "renewed {renewed} of {size}: {body}");
        let charged: i64 = client
            .query_one(
                "SELECT count(*) FROM ledger_transfers WHERE kind = 'RENEWAL'",
                &[],
            )
            .await?
            .get(0);
        anyhow::ensure!(
            charged == size,
            "{charged} charges for {size} subscriptions"
        );
        println!(
            "{size:>7} subscriptions renewed in {seconds:>6.2} s: {:>6.0} subscriptions/s ({:.3} ms each)",
            size as f64 / seconds,
            seconds * 1000.0 / size as f64
        );
        results.push((size, seconds));
        drop(client);
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .await?;
    }
    if let (Some(first), Some(last)) = (results.first(), results.last()) {
        if last.0 > first.0 {
            println!(
                "growth: {}x the subscriptions took {:.2}x the time (linear = {:.2}x; per subscription {:.3} -> {:.3} ms)",
                last.0 / first.0,
                last.1 / first.1,
                last.0 as f64 / first.0 as f64,
                first.1 * 1000.0 / first.0 as f64,
                last.1 * 1000.0 / last.0 as f64
            );
        }
    }
    postgres.stop()?;
    Ok(())
}

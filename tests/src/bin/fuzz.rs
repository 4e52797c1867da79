//! Property-based fuzzing of the API over its own contract. The native host runs on a fresh
//! database beside the Midtrans, Kubernetes and DNS doubles (as in the tests), with one funded
//! user holding a live subscription. `schemathesis` reads `/api/openapi.json` and sends
//! generated requests, valid and invalid, with its default checks (no 5xx, every status and
//! body as documented, invalid input rejected, valid input accepted): once as the user over
//! every route but the admin ones, once as an administrator over the admin routes. Then the
//! ledger and quota checks must hold: the fuzzer may not have moved a rupiah it should not have.
//!
//! `scripts/fuzz` installs schemathesis and runs this; see there for the bounds.

use std::process::{Command, ExitCode};

use spincat_tests::{TestApp, TestUser};

const DEMO_BALANCE: i64 = 2_000_000;

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let examples = setting("FUZZ_EXAMPLES", "25");
    let seconds = setting("FUZZ_SECONDS", "150");
    let seed = setting("FUZZ_SEED", &rand_seed().to_string());

    let app = TestApp::spawn().await;
    let user = app.register("fuzz-user@spincat.test").await;
    app.fund(&user, DEMO_BALANCE).await;
    let plan = app.plan_id("ghost", "Creator").await;
    let subscribed = app.subscribe(&user, &plan).await;
    anyhow::ensure!(subscribed.status == 201, "subscribe: {:?}", subscribed.body);
    let admin = app.admin("fuzz-admin@spincat.test").await;

    let mut failed = false;
    for (name, who, filter) in [
        ("user", &user, "--exclude-path-regex"),
        ("administrator", &admin, "--include-path-regex"),
    ] {
        println!("== schemathesis as {name} (seed {seed}, {examples} examples per operation, at most {seconds} s)");
        failed |= !schemathesis(
            &app,
            who,
            name,
            &[filter, "^/api/admin/"],
            &examples,
            &seconds,
            &seed,
        )?;
    }

    let audit = app
        .get_as("/api/admin/ledger/audit", &admin.access_token)
        .await;
    let quota = app
        .get_as("/api/admin/quota/check", &admin.access_token)
        .await;
    println!("ledger audit after fuzzing: {}", audit.data());
    println!("quota check after fuzzing: {}", quota.data());
    if audit.data()["sound"] != true {
        println!("FAIL: the ledger is not sound after fuzzing");
        failed = true;
    }
    if quota.data()["consistent"] != true {
        println!("FAIL: quota drifted during fuzzing");
        failed = true;
    }
    if failed {
        println!("fuzzing found failures: reports in target/fuzz/");
        return Ok(ExitCode::FAILURE);
    }
    println!("fuzzing found no failure");
    Ok(ExitCode::SUCCESS)
}

/// One bounded run with `who`'s token; true when it found no failure.
fn schemathesis(
    app: &TestApp,
    who: &TestUser,
    name: &str,
    filter: &[&str],
    examples: &str,
    seconds: &str,
    seed: &str,
) -> anyhow::Result<bool> {
    let status = Command::new("schemathesis")
        .args(["--config-file", "api/schemathesis.toml", "run"])
        .arg(app.url("/api/openapi.json"))
        .args(filter)
        .args([
            "--header",
            &format!("Authorization: Bearer {}", who.access_token),
        ])
        .args([
            "--max-examples",
            examples,
            "--max-time",
            seconds,
            "--seed",
            seed,
        ])
        .args([
            "--report",
            "junit,pytest",
            "--report-dir",
            &format!("target/fuzz/{name}"),
        ])
        .status()?;
    Ok(status.success())
}

fn setting(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn rand_seed() -> u32 {
    uuid::Uuid::new_v4().as_u128() as u32 % 100_000
}

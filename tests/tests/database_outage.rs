//! PostgreSQL stops under load and comes back: every route answers 503 `DATABASE_UNAVAILABLE`
//! with `Retry-After` while it is gone, never a 500, and the app and the ledger recover alone.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::json;
use spincat_host::local_pg::LocalPostgres;
use spincat_host::{ensure_database, migrate, seed};
use spincat_tests::{Options, TestApp, TestResponse, TestUser};

const WORKERS: usize = 40;

/// A cluster of this test's own, so stopping it disturbs no other test; removed when dropped,
/// a failed test included.
struct OwnCluster {
    postgres: LocalPostgres,
    dir: PathBuf,
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        if let Err(error) = LocalPostgres::remove(&self.dir) {
            eprintln!("could not remove {}: {error}", self.dir.display());
        }
    }
}

async fn own_cluster() -> (OwnCluster, String) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/spincat-outage-pg")
        .join(uuid::Uuid::new_v4().simple().to_string());
    let postgres = LocalPostgres::start(&dir).unwrap();
    ensure_database(&postgres.url("postgres"), "outage")
        .await
        .unwrap();
    let url = postgres.url("outage");
    let mut client = migrate::connect(&url).await.unwrap();
    migrate::migrate(&mut client, &migrate::bundled().unwrap())
        .await
        .unwrap();
    seed::seed_catalog(&client).await.unwrap();
    (OwnCluster { postgres, dir }, url)
}

/// One money-moving or money-reading request, chosen by turn.
async fn request(app: &TestApp, admin: &TestUser, user: &TestUser, turn: usize) -> TestResponse {
    match turn % 4 {
        0 => {
            app.post_as(
                "/api/user/wallet/topup",
                &user.access_token,
                json!({"amount": 10_000}),
            )
            .await
        }
        1 => app.get_as("/api/user/wallet", &user.access_token).await,
        2 => {
            app.send(
                app.http
                    .post(app.url(&format!("/api/admin/users/{}/wallet/adjust", user.id)))
                    .bearer_auth(&admin.access_token)
                    .header("idempotency-key", format!("outage-{turn}"))
                    .json(&json!({"amount": 1_000, "reason": "outage drill"})),
            )
            .await
        }
        _ => {
            app.get_as("/api/user/wallet/transactions", &user.access_token)
                .await
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_under_load_is_503_with_retry_after_never_500() {
    let (cluster, url) = own_cluster().await;
    let app = TestApp::spawn_with(Options {
        database_url: Some(url),
        ..Options::default()
    })
    .await;
    let admin = app.admin("ops@example.com").await;
    let mut users = Vec::new();
    for n in 0..4 {
        users.push(app.register(&format!("user{n}@example.com")).await);
    }

    let stop = AtomicBool::new(false);
    let turns = AtomicUsize::new(0);
    let seen: Mutex<BTreeMap<(u16, String), usize>> = Mutex::new(BTreeMap::new());
    let missing_retry_after = AtomicUsize::new(0);
    let workers = (0..WORKERS).map(|w| {
        let (app, admin, user) = (&app, &admin, &users[w % users.len()]);
        let (stop, turns, seen, missing) = (&stop, &turns, &seen, &missing_retry_after);
        async move {
            while !stop.load(Ordering::SeqCst) {
                let turn = turns.fetch_add(1, Ordering::SeqCst);
                let answer = request(app, admin, user, turn).await;
                if answer.status == 503 && answer.header("retry-after").is_none() {
                    missing.fetch_add(1, Ordering::SeqCst);
                }
                *seen
                    .lock()
                    .unwrap()
                    .entry((answer.status, answer.error_code().to_owned()))
                    .or_default() += 1;
            }
        }
    });
    let outage = async {
        tokio::time::sleep(Duration::from_millis(700)).await;
        let postgres = &cluster.postgres;
        tokio::task::block_in_place(|| postgres.stop().unwrap());
        tokio::time::sleep(Duration::from_millis(2_500)).await;
        tokio::task::block_in_place(|| postgres.resume().unwrap());
        // Serve again for a while before the load ends.
        let mut healthy = false;
        for _ in 0..100 {
            if app.get("/api/health").await.status == 200 {
                healthy = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_millis(1_000)).await;
        stop.store(true, Ordering::SeqCst);
        healthy
    };
    let (_, healthy) = futures::join!(futures::future::join_all(workers), outage);
    let seen = seen.into_inner().unwrap();
    println!("answers under load, by status and code: {seen:?}");

    assert!(healthy, "the app recovers by itself");
    let unavailable = seen
        .get(&(503, "DATABASE_UNAVAILABLE".to_owned()))
        .copied()
        .unwrap_or(0);
    assert!(unavailable > 0, "the outage was seen: {seen:?}");
    for (status, code) in seen.keys() {
        assert!(
            matches!(*status, 200 | 201) || (*status == 503 && code == "DATABASE_UNAVAILABLE"),
            "{status} {code} under a database outage: {seen:?}"
        );
    }
    assert_eq!(missing_retry_after.load(Ordering::SeqCst), 0);

    // Money moves again, and the ledger held.
    let after = request(&app, &admin, &users[0], 0).await;
    assert_eq!(after.status, 201, "{:?}", after.body);
    app.assert_ledger_sound().await;
}

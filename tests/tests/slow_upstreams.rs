//! A hanging Midtrans or Kubernetes API costs the users who wait on it, never anyone else: no
//! database client is held while a request waits upstream, and one user's waiting requests are
//! bounded.

use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::json;
use spincat_tests::{kube, midtrans, TestApp, TestResponse, TestUser, PASSWORD};

const PILE: usize = 40;

/// The p99 of another user's health, wallet and login, in milliseconds, over 20 rounds of the
/// three one after another.
async fn probe(app: &TestApp, other: &TestUser) -> [f64; 3] {
    let mut samples = [Vec::new(), Vec::new(), Vec::new()];
    for _ in 0..20 {
        let started = Instant::now();
        assert_eq!(app.get("/api/health").await.status, 200);
        samples[0].push(started.elapsed());
        let started = Instant::now();
        assert_eq!(
            app.get_as("/api/user/wallet", &other.access_token)
                .await
                .status,
            200
        );
        samples[1].push(started.elapsed());
        let started = Instant::now();
        let login = app
            .post(
                "/api/auth/login",
                json!({"email": other.email, "password": PASSWORD}),
            )
            .await;
        assert_eq!(login.status, 200, "{:?}", login.body);
        samples[2].push(started.elapsed());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    samples.map(|mut s| {
        s.sort();
        s[(s.len() - 1) * 99 / 100].as_secs_f64() * 1000.0
    })
}

/// The probes with nothing else running, then while `pile` runs.
async fn probe_while(
    app: &TestApp,
    other: &TestUser,
    pile: impl std::future::Future<Output = Vec<TestResponse>>,
) -> (Vec<TestResponse>, Unaffected) {
    let idle = probe(app, other).await;
    let probes = async {
        // Let the pile reach the upstream first.
        tokio::time::sleep(Duration::from_millis(300)).await;
        probe(app, other).await
    };
    let (answers, loaded) = futures::join!(pile, probes);
    (answers, Unaffected { idle, loaded })
}

/// Each route's p99 with nothing else running and while another user waits upstream.
struct Unaffected {
    idle: [f64; 3],
    loaded: [f64; 3],
}

/// Waiting upstream costs the others at most 100 ms at p99 on each route. Measured against the
/// route's own idle p99: a login is Argon2 (about 20 ms natively, 150 ms in wasm under Spin).
fn assert_unaffected(p99: Unaffected) {
    for (i, route) in ["health", "wallet", "login"].iter().enumerate() {
        let (idle, loaded) = (p99.idle[i], p99.loaded[i]);
        println!(
            "{route} p99: {idle:.1} ms idle, {loaded:.1} ms while another user waits upstream"
        );
        assert!(
            loaded < idle + 100.0,
            "{route} p99 {loaded:.1} ms while another user waits upstream, {idle:.1} ms idle"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_waiting_on_a_hanging_gateway_slows_nobody_else() {
    let app = TestApp::spawn().await;
    let patient = app.register("sabar@example.com").await;
    let other = app.register("lain@example.com").await;
    // Snap answers after 3 s; the app gives up after midtrans_timeout_ms (2 s in tests).
    for _ in 0..PILE {
        app.midtrans
            .fail_next(midtrans::Fault::Delay(Duration::from_secs(3)));
    }
    let top_ups = futures::future::join_all((0..PILE).map(|_| {
        app.post_as(
            "/api/user/wallet/topup",
            &patient.access_token,
            json!({"amount": 10_000}),
        )
    }));
    let (answers, p99) = probe_while(&app, &other, top_ups).await;
    assert_unaffected(p99);

    let waited = answers
        .iter()
        .filter(|a| a.error_code() == "PAYMENT_GATEWAY_ERROR")
        .count();
    let bounced = answers
        .iter()
        .filter(|a| a.status == 429 && a.error_code() == "TOO_MANY_PENDING_REQUESTS")
        .count();
    assert_eq!(
        (waited, bounced),
        (
            spincat::upstream::CALLS_PER_USER as usize,
            PILE - spincat::upstream::CALLS_PER_USER as usize
        ),
        "{:?}",
        answers.iter().map(|a| a.status).collect::<Vec<_>>()
    );
    assert_eq!(
        app.midtrans.snap_calls() as i64,
        spincat::upstream::CALLS_PER_USER
    );
    assert!(answers
        .iter()
        .filter(|a| a.status == 429)
        .all(|a| a.header("retry-after").is_some()));
    // Every place was given back.
    assert_eq!(app.count("SELECT count(*) FROM upstream_calls").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_waiting_on_a_hanging_cluster_slows_nobody_else() {
    let app = TestApp::spawn().await;
    let patient = app.register("sabar@example.com").await;
    let other = app.register("lain@example.com").await;
    let free = app.plan_id("n8n", "Free").await;
    let created = app.subscribe(&patient, &free).await;
    let instance = created.data()["instance"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The API server answers after 2 s; the app gives up after k8s_timeout_ms (1 s in tests).
    for _ in 0..PILE {
        app.kube
            .fail_next(kube::Fault::Delay(Duration::from_secs(2)));
    }
    let path = format!("/api/user/services/instances/{instance}/logs");
    let reads =
        futures::future::join_all((0..PILE).map(|_| app.get_as(&path, &patient.access_token)));
    let (answers, p99) = probe_while(&app, &other, reads).await;
    assert_unaffected(p99);
    let bounced = answers.iter().filter(|a| a.status == 429).count();
    assert_eq!(
        bounced,
        PILE - spincat::upstream::CALLS_PER_USER as usize,
        "{:?}",
        answers.iter().map(|a| a.status).collect::<Vec<_>>()
    );
    assert!(answers.iter().all(|a| a.status != 500));
    assert_eq!(app.count("SELECT count(*) FROM upstream_calls").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_flood_does_not_starve_other_requests() {
    if spincat_tests::spin::skip("Spin runs each instance's Argon2 on its own worker threads without yielding, and nothing bounds hashing across instances yet: health and wallet p99 3.5 s during this flood (README, Under Spin)") {
        return;
    }
    let app = TestApp::spawn_with(
        spincat_tests::Options::default()
            // Every login of the flood must reach Argon2, as an attacker's with many addresses.
            .variable("login_max_attempts", "1000000")
            .variable("login_max_attempts_per_source", "1000000"),
    )
    .await;
    let other = app.register("lain@example.com").await;
    let flood = async {
        futures::stream::iter(0..150)
            .map(|i| {
                app.post(
                    "/api/auth/login",
                    json!({"email": format!("nobody{i}@example.com"), "password": PASSWORD}),
                )
            })
            .buffer_unordered(50)
            .collect::<Vec<_>>()
            .await
    };
    let probes = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut samples = Vec::new();
        for _ in 0..40 {
            let started = Instant::now();
            assert_eq!(app.get("/api/health").await.status, 200);
            assert_eq!(
                app.get_as("/api/user/wallet", &other.access_token)
                    .await
                    .status,
                200
            );
            samples.push(started.elapsed());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        samples.sort();
        samples[samples.len() * 99 / 100 - 1].as_secs_f64() * 1000.0
    };
    let (logins, p99) = futures::join!(flood, probes);
    println!("health then wallet p99 during a login flood: {p99:.1} ms");
    assert!(logins.iter().all(|l| l.status == 401));
    assert!(
        p99 < 100.0,
        "health then wallet took {p99:.1} ms at p99 during a login flood"
    );
}

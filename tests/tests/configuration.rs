//! A setting a route needs, missing or invalid, is never a 500: the route answers 503 with the
//! code of the feature that is off and the variable to set, and nothing is written. The rest of
//! the app goes on working.

use serde_json::json;
use spincat_tests::{Options, TestApp, TestResponse, JOB_TOKEN};

async fn spawn_with(settings: &[(&str, &str)]) -> TestApp {
    let options = settings
        .iter()
        .fold(Options::default(), |options, (name, value)| {
            options.variable(name, *value)
        });
    TestApp::spawn_with(options).await
}

fn assert_off(answer: &TestResponse, code: &str, variable: &str) {
    assert_eq!(answer.status, 503, "{:?}", answer.body);
    assert_eq!(answer.error_code(), code, "{:?}", answer.body);
    assert_eq!(answer.body["error"]["details"]["variable"], variable);
    let message = answer.body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(variable) && message.contains(&variable.to_ascii_uppercase()),
        "the message names the variable and its Spin environment form: {message}"
    );
}

async fn top_up(app: &TestApp) -> TestResponse {
    let user = app.register("ana@example.com").await;
    app.post_as(
        "/api/user/wallet/topup",
        &user.access_token,
        json!({ "amount": 50_000 }),
    )
    .await
}

#[tokio::test]
async fn a_top_up_without_a_payment_gateway_answers_503_and_records_nothing() {
    let app = spawn_with(&[("midtrans_server_key", "")]).await;
    assert_off(
        &top_up(&app).await,
        "PAYMENT_GATEWAY_NOT_CONFIGURED",
        "midtrans_server_key",
    );
    assert_eq!(app.count("SELECT count(*) FROM topups").await, 0);
    assert_eq!(app.midtrans.snap_calls(), 0);
    // The wallet itself still reads.
    let user = app.login("ana@example.com", spincat_tests::PASSWORD).await;
    let wallet = app.get_as("/api/user/wallet", &user.access_token).await;
    assert_eq!(wallet.status, 200, "{:?}", wallet.body);
}

#[tokio::test]
async fn an_invalid_top_up_limit_switches_payments_off() {
    for (variable, value) in [("topup_min", "ten thousand"), ("topup_max", "5000")] {
        let app = spawn_with(&[(variable, value)]).await;
        assert_off(
            &top_up(&app).await,
            "PAYMENT_GATEWAY_NOT_CONFIGURED",
            variable,
        );
        assert_eq!(app.count("SELECT count(*) FROM topups").await, 0);
    }
}

/// What a newcomer's machine has: the in-cluster address and no ServiceAccount token.
const NO_CLUSTER: [(&str, &str); 2] = [
    ("k8s_api_url", "https://kubernetes.default.svc"),
    ("k8s_token", ""),
];

#[tokio::test]
async fn nothing_is_sold_that_cannot_be_deployed() {
    for (settings, variable) in [
        (&NO_CLUSTER[..], "k8s_api_url"),
        (&[("tcp_service_type", "Ingress")][..], "tcp_service_type"),
    ] {
        let app = spawn_with(settings).await;
        let user = app.register("ana@example.com").await;
        app.fund(&user, 100_000).await;
        let plan = app.plan_id("ghost", "Creator").await;
        assert_off(
            &app.subscribe(&user, &plan).await,
            "CLUSTER_NOT_CONFIGURED",
            variable,
        );
        assert_eq!(app.balance(&user.id).await, 100_000);
        assert_eq!(app.count("SELECT count(*) FROM subscriptions").await, 0);
        assert_eq!(app.count("SELECT count(*) FROM instances").await, 0);
        assert_eq!(app.kube.request_count(), 0);
        app.assert_ledger_sound().await;
    }
}

#[tokio::test]
async fn reconcile_without_a_cluster_still_settles_top_ups() {
    let app = spawn_with(&NO_CLUSTER).await;
    let answer = top_up(&app).await;
    assert_eq!(answer.status, 201, "{:?}", answer.body);
    let order = answer.data()["orderId"].as_str().unwrap();
    app.midtrans.set_status(order, "settlement", None);
    app.pass(chrono::Duration::seconds(901)).await;

    let summary = app.run_job("reconcile").await;
    let data = summary.data();
    assert_eq!(data["topups"]["settled"], 1, "{data}");
    for part in ["instances", "upgradesResumed", "customDomains"] {
        let skipped = data[part]["skipped"].as_str().unwrap_or_default();
        assert!(skipped.contains("k8s_api_url"), "{part}: {data}");
    }
    let user = app.login("ana@example.com", spincat_tests::PASSWORD).await;
    assert_eq!(app.balance(&user.id).await, 50_000);
    app.assert_ledger_sound().await;
    let renewals = app.run_job("renewals").await;
    assert!(renewals.data()["instances"]["skipped"].is_string());
}

#[tokio::test]
async fn a_short_signing_key_switches_accounts_off() {
    let app = spawn_with(&[("jwt_secret", "too-short")]).await;
    let answer = app
        .post(
            "/api/auth/register",
            json!({ "email": "ana@example.com", "password": spincat_tests::PASSWORD, "name": "Ana" }),
        )
        .await;
    assert_off(&answer, "ACCOUNTS_NOT_CONFIGURED", "jwt_secret");
    assert_eq!(app.count("SELECT count(*) FROM users").await, 0);
}

async fn job(app: &TestApp, name: &str) -> TestResponse {
    app.send(
        app.http
            .post(app.url(&format!("/internal/jobs/{name}")))
            .bearer_auth(JOB_TOKEN),
    )
    .await
}

#[tokio::test]
async fn a_webhook_off_its_origin_stops_delivery_not_renewals() {
    let app = spawn_with(&[(
        "notification_webhook_url",
        "https://hooks.example.com/spincat",
    )])
    .await;
    assert_off(
        &job(&app, "notifications").await,
        "NOTIFICATIONS_NOT_CONFIGURED",
        "notification_webhook_origin",
    );
    app.run_job("renewals").await;
}

#[tokio::test]
async fn a_renewal_policy_out_of_range_switches_renewals_off() {
    let app = spawn_with(&[("grace_period_days", "31")]).await;
    assert_off(
        &job(&app, "renewals").await,
        "RENEWALS_NOT_CONFIGURED",
        "grace_period_days",
    );
}

#[tokio::test]
async fn a_resolver_off_its_origin_switches_custom_domains_off() {
    let app = spawn_with(&[("dns_resolver_origin", "https://dns.example.com")]).await;
    let user = app.register("ana@example.com").await;
    app.fund(&user, 100_000).await;
    let plan = app.plan_id("ghost", "Creator").await;
    let created = app.subscribe(&user, &plan).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let instance = created.data()["instance"]["id"].as_str().unwrap();
    let answer = app
        .send(
            app.http
                .put(app.url(&format!("/api/user/services/instances/{instance}")))
                .bearer_auth(&user.access_token)
                .json(&json!({ "customDomain": "blog.ana.example" })),
        )
        .await;
    assert_off(
        &answer,
        "CUSTOM_DOMAINS_NOT_CONFIGURED",
        "dns_resolver_origin",
    );
    let domains = app
        .count("SELECT count(*) FROM instances WHERE custom_domain IS NOT NULL")
        .await;
    assert_eq!(domains, 0);
    let summary = app.run_job("reconcile").await;
    assert!(summary.data()["customDomains"]["skipped"].is_string());
}

/// What `spincat-host serve` prints at start: on spin.toml's defaults, a machine with no
/// gateway, no cluster and no signing key has those three off, each with its variable.
#[tokio::test]
async fn the_defaults_say_which_features_are_off_and_why() {
    let manifest = spincat_host::manifest::Manifest::bundled();
    let mut variables = spincat_host::config::Variables::from_env(&manifest);
    for name in [
        "midtrans_server_key",
        "k8s_api_url",
        "k8s_token",
        "jwt_secret",
    ] {
        variables.set(name, "");
    }
    let off: Vec<(&str, String)> = spincat::features::off(&variables)
        .await
        .into_iter()
        .map(|(feature, error)| (feature.code(), error.name))
        .collect();
    assert_eq!(
        off,
        [
            (
                "PAYMENT_GATEWAY_NOT_CONFIGURED",
                "midtrans_server_key".into()
            ),
            ("CLUSTER_NOT_CONFIGURED", "k8s_api_url".into()),
            ("ACCOUNTS_NOT_CONFIGURED", "jwt_secret".into()),
        ]
    );
    variables.set("jwt_secret", spincat_tests::JWT_SECRET.to_owned());
    variables.set("midtrans_server_key", "SB-Mid-server-key".to_owned());
    variables.set("k8s_api_url", "http://127.0.0.1:8001".to_owned());
    assert!(spincat::features::off(&variables).await.is_empty());
}

/// Real keys must not reach the wrong Midtrans: the production switch with the sandbox's host
/// (or the reverse) is a misconfiguration, not a payment attempt.
#[tokio::test]
async fn a_production_switch_on_a_sandbox_origin_switches_payments_off() {
    let app = spawn_with(&[
        ("midtrans_is_production", "true"),
        ("midtrans_snap_origin", "https://app.sandbox.midtrans.com"),
    ])
    .await;
    assert_off(
        &top_up(&app).await,
        "PAYMENT_GATEWAY_NOT_CONFIGURED",
        "midtrans_snap_origin",
    );
    assert_eq!(app.count("SELECT count(*) FROM topups").await, 0);
}

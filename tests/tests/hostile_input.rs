//! Input an attacker chooses: control characters, extreme numbers, reused idempotency keys and
//! values meant to smuggle parameters into the Kubernetes API. Each is refused at the edge with a
//! 4xx naming the field, and changes nothing.

use serde_json::{json, Value};
use spincat_tests::{TestApp, TestResponse, TestUser};

async fn adjust(
    app: &TestApp,
    admin: &TestUser,
    user_id: &str,
    body: Value,
    key: Option<&str>,
) -> TestResponse {
    let mut request = app
        .http
        .post(app.url(&format!("/api/admin/users/{user_id}/wallet/adjust")))
        .bearer_auth(&admin.access_token)
        .json(&body);
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    app.send(request).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_characters_are_refused_with_the_field_and_never_reach_postgres() {
    let app = TestApp::spawn().await;
    let admin = app.admin("root@example.com").await;
    let users_before = app.count("SELECT count(*) FROM users").await;

    for path in [
        "/api/catalog/search?q=n8n%00",
        "/api/catalog/search?q=%01drop",
        "/api/catalog/search?tags=a%00b",
    ] {
        let answer = app.get(path).await;
        assert_eq!(answer.status, 400, "{path}: {:?}", answer.body);
        assert_eq!(answer.error_code(), "VALIDATION_ERROR", "{path}");
    }
    let search = app
        .get_as("/api/admin/users?search=%00", &admin.access_token)
        .await;
    assert_eq!(
        (search.status, search.invalid_fields()),
        (400, vec!["search".to_owned()])
    );

    let register = app
        .post(
            "/api/auth/register",
            json!({"name": "Eve\u{0}", "email": "eve@example.com", "password": "long enough"}),
        )
        .await;
    assert_eq!(register.status, 400, "{:?}", register.body);
    assert_eq!(register.invalid_fields(), vec!["name".to_owned()]);

    // Deep inside a document: jsonb cannot hold a NUL either.
    let nested = app
        .post_as(
            "/api/admin/catalog/services",
            &admin.access_token,
            json!({"slug": "x", "template": {"env": {"KEY": "v\u{0}"}}}),
        )
        .await;
    assert_eq!(nested.status, 400, "{:?}", nested.body);
    assert_eq!(nested.invalid_fields(), vec!["template.env.KEY".to_owned()]);

    let dina = app.register("dina@example.com").await;
    let reason = adjust(
        &app,
        &admin,
        &dina.id,
        json!({"amount": 1000, "reason": "bonus\u{0}"}),
        None,
    )
    .await;
    assert_eq!(
        (reason.status, reason.invalid_fields()),
        (400, vec!["reason".to_owned()])
    );
    assert_eq!(
        app.count("SELECT count(*) FROM users").await,
        users_before + 1
    );
    assert_eq!(app.count("SELECT count(*) FROM ledger_transfers").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adjustments_refuse_extreme_amounts_and_keys_reused_for_another_adjustment() {
    let app = TestApp::spawn().await;
    let admin = app.admin("root@example.com").await;
    let ana = app.register("ana@example.com").await;
    let budi = app.register("budi@example.com").await;

    for amount in [
        json!(i64::MIN),
        json!(i64::MAX),
        json!(-1_000_000_001),
        json!(0),
    ] {
        let answer = adjust(
            &app,
            &admin,
            &ana.id,
            json!({"amount": amount, "reason": "test"}),
            None,
        )
        .await;
        assert_eq!(answer.status, 400, "{amount}: {:?}", answer.body);
        assert_eq!(answer.invalid_fields(), vec!["amount".to_owned()]);
    }

    let first = json!({"amount": 25_000, "reason": "goodwill credit"});
    let answer = adjust(&app, &admin, &ana.id, first.clone(), Some("adj-1")).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let replay = adjust(&app, &admin, &ana.id, first.clone(), Some("adj-1")).await;
    assert_eq!(replay.status, 200);
    assert_eq!(replay.data()["replayed"], true);

    for (name, user, body) in [
        (
            "another amount",
            &ana.id,
            json!({"amount": 50_000, "reason": "goodwill credit"}),
        ),
        (
            "the other way",
            &ana.id,
            json!({"amount": -25_000, "reason": "goodwill credit"}),
        ),
        (
            "another reason",
            &ana.id,
            json!({"amount": 25_000, "reason": "something else"}),
        ),
        ("another user", &budi.id, first.clone()),
    ] {
        let answer = adjust(&app, &admin, user, body, Some("adj-1")).await;
        assert_eq!(
            (answer.status, answer.error_code()),
            (422, "IDEMPOTENCY_KEY_REUSED"),
            "{name}: {:?}",
            answer.body
        );
    }
    assert_eq!(app.balance(&ana.id).await, 25_000);
    assert_eq!(app.balance(&budi.id).await, 0);
    app.assert_ledger_sound().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_placed_in_kubernetes_urls_cannot_add_parameters() {
    let app = TestApp::spawn().await;
    let admin = app.admin("root@example.com").await;
    let user = app.register("citra@example.com").await;
    let free = app.plan_id("n8n", "Free").await;
    assert_eq!(app.subscribe(&user, &free).await.status, 201);
    let pods = app.get_as("/api/admin/k8s/pods", &admin.access_token).await;
    let pod = &pods.data()["items"][0];
    let (ns, name) = (
        pod["namespace"].as_str().unwrap(),
        pod["name"].as_str().unwrap(),
    );

    let smuggled = "c&follow=true&limitBytes=1";
    let path = format!(
        "/api/admin/k8s/pods/{ns}/{name}/logs?container={}",
        "c%26follow%3Dtrue%26limitBytes%3D1"
    );
    let started = std::time::Instant::now();
    let answer = app.get_as(&path, &admin.access_token).await;
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    assert!(
        (400..500).contains(&answer.status) || answer.status == 502,
        "{:?}",
        answer.body
    );
    let sent = app.kube.queries().pop().unwrap();
    assert_eq!(sent.get("container").map(String::as_str), Some(smuggled));
    assert!(!sent.contains_key("follow"), "{sent:?}");
    assert!(!sent.contains_key("limitBytes"), "{sent:?}");
    assert!(app.kube.queries().iter().all(|q| !q.contains_key("follow")));
}

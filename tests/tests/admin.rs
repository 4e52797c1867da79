//! Operators: users, wallets, quota, subscriptions and the audit log; and the role check on
//! every admin route.

use serde_json::json;
use spincat_tests::{TestApp, TestResponse, TestUser, PASSWORD};

async fn put(app: &TestApp, token: &str, path: &str, body: serde_json::Value) -> TestResponse {
    app.send(app.http.put(app.url(path)).bearer_auth(token).json(&body))
        .await
}

async fn adjust(
    app: &TestApp,
    admin: &TestUser,
    user: &TestUser,
    amount: i64,
    key: Option<&str>,
) -> TestResponse {
    let mut request = app
        .http
        .post(app.url(&format!("/api/admin/users/{}/wallet/adjust", user.id)))
        .bearer_auth(&admin.access_token)
        .json(&json!({ "amount": amount, "reason": "goodwill credit" }));
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    app.send(request).await
}

async fn audit_actions(app: &TestApp, admin: &TestUser) -> Vec<String> {
    let log = app
        .get_as("/api/admin/audit?limit=100", &admin.access_token)
        .await;
    log.data()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_admin_route_refuses_users_and_strangers() {
    let app = TestApp::spawn().await;
    let user = app.register("user@example.com").await;
    let admin = app.admin("root@example.com").await;
    let id = "00000000-0000-4000-8000-000000000000";
    for (method, pattern) in spincat_admin::ROUTES {
        let path = pattern
            .replace(":id", id)
            .replace(
                ":kind",
                if pattern.contains("/catalog/") {
                    "plans"
                } else {
                    "nodes"
                },
            )
            .replace(":namespace", "ns")
            .replace(":name", "pod");
        let request = |token: Option<&str>| {
            let mut r = app
                .http
                .request(method.parse().unwrap(), app.url(&path))
                .json(&json!({}));
            if let Some(token) = token {
                r = r.bearer_auth(token);
            }
            app.send(r)
        };
        assert_eq!(request(None).await.status, 401, "{method} {path} anonymous");
        let as_user = request(Some(&user.access_token)).await;
        assert_eq!(
            (as_user.status, as_user.error_code()),
            (403, "FORBIDDEN"),
            "{method} {path} as a user"
        );
        let as_admin = request(Some(&admin.access_token)).await;
        assert_ne!(
            as_admin.error_code(),
            "ROUTE_NOT_FOUND",
            "{method} {path} is listed but not routed"
        );
    }
    // spin.toml sends all of /api/admin/... to the admin component, which checks the role before
    // it routes: a route missing from the list is refused all the same.
    for path in ["/api/admin/not-listed", "/api/admin/users/x/y/z"] {
        assert_eq!(app.get(path).await.status, 401, "{path}");
        assert_eq!(
            app.get_as(path, &user.access_token).await.status,
            403,
            "{path}"
        );
    }
    let manifest = spincat_host::manifest::Manifest::bundled();
    let admin_routes: Vec<&str> = manifest
        .routes
        .iter()
        .filter(|r| r.component == "admin")
        .map(|r| r.route.as_str())
        .collect();
    assert_eq!(admin_routes, ["/api/admin/..."]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wallet_adjustments_go_through_the_ledger_once_and_never_below_zero() {
    let app = TestApp::spawn().await;
    let admin = app.admin("root@example.com").await;
    let user = app.register("ana@example.com").await;

    let credit = adjust(&app, &admin, &user, 75_000, Some("credit-1")).await;
    assert_eq!(credit.status, 200, "{:?}", credit.body);
    assert_eq!(credit.data()["balance"], 75_000);
    let replay = adjust(&app, &admin, &user, 75_000, Some("credit-1")).await;
    assert_eq!(
        (
            replay.data()["replayed"].clone(),
            replay.data()["balance"].clone()
        ),
        (json!(true), json!(75_000))
    );
    assert_eq!(replay.data()["transferId"], credit.data()["transferId"]);

    let too_much = adjust(&app, &admin, &user, -75_001, None).await;
    assert_eq!(
        (too_much.status, too_much.error_code()),
        (422, "INSUFFICIENT_CREDIT")
    );
    let invalid = app
        .post_as(
            &format!("/api/admin/users/{}/wallet/adjust", user.id),
            &admin.access_token,
            json!({"amount": 0, "reason": ""}),
        )
        .await;
    assert_eq!(invalid.invalid_fields(), ["amount", "reason"]);
    let nobody = app
        .post_as(
            "/api/admin/users/00000000-0000-4000-8000-000000000000/wallet/adjust",
            &admin.access_token,
            json!({"amount": 5, "reason": "test"}),
        )
        .await;
    assert_eq!(nobody.status, 404);

    // Twenty concurrent debits of 10 000 from 75 000: seven fit, none overdraws.
    let debits = (0..20).map(|_| adjust(&app, &admin, &user, -10_000, None));
    let results = futures::future::join_all(debits).await;
    let ok = results.iter().filter(|r| r.status == 200).count();
    assert_eq!(
        ok,
        7,
        "{:?}",
        results.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert!(results
        .iter()
        .all(|r| r.status == 200 || r.error_code() == "INSUFFICIENT_CREDIT"));
    assert_eq!(app.balance(&user.id).await, 5_000);

    let history = app
        .get_as(
            "/api/user/wallet/transactions?type=ADMIN_ADJUSTMENT",
            &user.access_token,
        )
        .await;
    assert_eq!(history.data()["pagination"]["total"], 8);
    let actor: String = app
        .db
        .query_one(
            "SELECT DISTINCT actor_id::text FROM ledger_transfers WHERE kind = 'ADMIN_ADJUSTMENT'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(actor, admin.id);
    assert_eq!(
        audit_actions(&app, &admin)
            .await
            .iter()
            .filter(|a| *a == "wallet.adjust")
            .count(),
        8
    );
    let audit = app
        .get_as("/api/admin/ledger/audit", &admin.access_token)
        .await;
    assert_eq!(audit.data()["sound"], true);
    app.assert_ledger_sound().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn administrators_manage_users_but_not_themselves() {
    let app = TestApp::spawn().await;
    let admin = app.admin("root@example.com").await;
    let user = app.register("budi@example.com").await;

    let detail = app
        .get_as(
            &format!("/api/admin/users/{}", user.id),
            &admin.access_token,
        )
        .await;
    assert_eq!(detail.status, 200);
    assert_eq!(detail.data()["user"]["email"], "budi@example.com");
    assert_eq!(detail.data()["wallet"]["balance"], 0);

    let promoted = put(
        &app,
        &admin.access_token,
        &format!("/api/admin/users/{}/role", user.id),
        json!({"role": "ADMINISTRATOR"}),
    )
    .await;
    assert_eq!(promoted.data()["role"], "ADMINISTRATOR");
    let bad_role = put(
        &app,
        &admin.access_token,
        &format!("/api/admin/users/{}/role", user.id),
        json!({"role": "GOD"}),
    )
    .await;
    assert_eq!(bad_role.invalid_fields(), ["role"]);
    let demote_self = put(
        &app,
        &admin.access_token,
        &format!("/api/admin/users/{}/role", admin.id),
        json!({"role": "USER"}),
    )
    .await;
    assert_eq!(
        (demote_self.status, demote_self.error_code()),
        (422, "SELF_CHANGE_FORBIDDEN")
    );
    let deactivate_self = put(
        &app,
        &admin.access_token,
        &format!("/api/admin/users/{}/active", admin.id),
        json!({"active": false}),
    )
    .await;
    assert_eq!(deactivate_self.status, 422);

    let deactivated = put(
        &app,
        &admin.access_token,
        &format!("/api/admin/users/{}/active", user.id),
        json!({"active": false}),
    )
    .await;
    assert_eq!(deactivated.status, 200);
    let refresh = app
        .post(
            "/api/auth/refresh",
            json!({"refreshToken": user.refresh_token}),
        )
        .await;
    assert_eq!(refresh.status, 401, "sessions ended: {:?}", refresh.body);
    let login = app
        .post(
            "/api/auth/login",
            json!({"email": user.email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(login.error_code(), "ACCOUNT_DISABLED");
    assert_eq!(
        app.count("SELECT count(*) FROM users").await,
        2,
        "nothing deleted"
    );
    put(
        &app,
        &admin.access_token,
        &format!("/api/admin/users/{}/active", user.id),
        json!({"active": true}),
    )
    .await;
    assert_eq!(
        app.post(
            "/api/auth/login",
            json!({"email": user.email, "password": PASSWORD})
        )
        .await
        .status,
        200
    );

    let log = app
        .get_as(
            &format!("/api/admin/audit?targetId={}", user.id),
            &admin.access_token,
        )
        .await;
    let entries = log.data()["items"].as_array().unwrap();
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["user.activate", "user.deactivate", "user.role"]);
    assert_eq!(entries[2]["before"], json!({"role": "USER"}));
    assert_eq!(entries[2]["after"], json!({"role": "ADMINISTRATOR"}));
    assert_eq!(entries[2]["actorEmail"], "root@example.com");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_is_viewed_adjusted_never_below_use_and_checked() {
    let app = TestApp::spawn().await;
    let admin = app.admin("root@example.com").await;
    let user = app.register("citra@example.com").await;
    let free = app.plan_id("n8n", "Free").await;
    app.subscribe(&user, &free).await;

    let lowered = put(
        &app,
        &admin.access_token,
        &format!("/api/admin/plans/{free}/quota"),
        json!({"total": 1}),
    )
    .await;
    assert_eq!(lowered.status, 200, "{:?}", lowered.body);
    let view = app.get_as("/api/admin/quota", &admin.access_token).await;
    let plan = view.data()["plans"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["planId"] == free.as_str())
        .unwrap()
        .clone();
    assert_eq!(
        (
            plan["total"].clone(),
            plan["used"].clone(),
            plan["available"].clone()
        ),
        (json!(1), json!(1), json!(0))
    );
    assert_eq!(
        (
            plan["liveSubscriptions"].clone(),
            plan["nearCapacity"].clone()
        ),
        (json!(1), json!(true))
    );

    let below = put(
        &app,
        &admin.access_token,
        &format!("/api/admin/plans/{free}/quota"),
        json!({"total": 0}),
    )
    .await;
    assert_eq!(
        (below.status, below.error_code()),
        (422, "QUOTA_BELOW_USED")
    );
    assert_eq!(
        app.get_as("/api/admin/quota/check", &admin.access_token)
            .await
            .data()["consistent"],
        true
    );
    app.db.execute("UPDATE plans SET quota_used = quota_used + 2, quota_total = quota_total + 2 WHERE name = 'Pro'", &[]).await.unwrap();
    let drift = app
        .get_as("/api/admin/quota/check", &admin.access_token)
        .await;
    assert_eq!(drift.data()["consistent"], false);
    assert_eq!(drift.data()["drift"][0]["recorded"], 2);
    assert_eq!(drift.data()["drift"][0]["live"], 0);
    assert!(audit_actions(&app, &admin)
        .await
        .contains(&"plan.quota".to_owned()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn administrators_list_and_force_cancel_subscriptions_with_or_without_refund() {
    let app = TestApp::spawn().await;
    let admin = app.admin("root@example.com").await;
    let user = app.register("dewi@example.com").await;
    app.fund(&user, 200_000).await;
    let mut ids = Vec::new();
    for (service, plan) in [("n8n", "Basic"), ("ghost", "Creator")] {
        let plan_id = app.plan_id(service, plan).await;
        let created = app.subscribe(&user, &plan_id).await;
        ids.push(created.data()["id"].as_str().unwrap().to_owned());
    }
    let all = app
        .get_as("/api/admin/subscriptions", &admin.access_token)
        .await;
    assert_eq!(all.data()["pagination"]["total"], 2);
    let ghost = app
        .get_as(
            &format!("/api/admin/subscriptions?service=ghost&userId={}", user.id),
            &admin.access_token,
        )
        .await;
    assert_eq!(ghost.data()["items"][0]["id"], ids[1].as_str());
    assert_eq!(ghost.data()["items"][0]["userId"], user.id.as_str());
    let detail = app
        .get_as(
            &format!("/api/admin/subscriptions/{}", ids[0]),
            &admin.access_token,
        )
        .await;
    assert_eq!(detail.data()["billingHistory"][0]["amount"], -50_000);

    let before = app.balance(&user.id).await;
    let refunded = app
        .post_as(
            &format!("/api/admin/subscriptions/{}/cancel", ids[0]),
            &admin.access_token,
            json!({}),
        )
        .await;
    assert_eq!(refunded.data()["status"], "CANCELLED");
    let refund = refunded.data()["refunded"].as_i64().unwrap();
    assert!(refund > 49_000, "nearly the whole month back: {refund}");
    assert_eq!(app.balance(&user.id).await, before + refund);
    let unrefunded = app
        .post_as(
            &format!("/api/admin/subscriptions/{}/cancel", ids[1]),
            &admin.access_token,
            json!({"refund": false}),
        )
        .await;
    assert_eq!(unrefunded.data()["refunded"], 0);
    assert_eq!(app.balance(&user.id).await, before + refund);
    assert_eq!(
        audit_actions(&app, &admin)
            .await
            .iter()
            .filter(|a| *a == "subscription.cancel")
            .count(),
        2
    );
    assert_eq!(
        app.get_as(
            "/api/admin/subscriptions?status=ACTIVE",
            &admin.access_token
        )
        .await
        .data()["pagination"]["total"],
        0
    );
    app.assert_ledger_sound().await;
    app.assert_quota_consistent().await;
}

//! Subscribing, upgrading and cancelling, with quota and money checked at every step.

use chrono::Duration;
use serde_json::json;
use spincat_tests::{TestApp, TestUser};

const SUBSCRIBE: &str = "/api/user/services/subscribe";

async fn quota_used(app: &TestApp, plan_id: &str) -> i32 {
    app.db
        .query_one(
            "SELECT quota_used FROM plans WHERE id = $1::text::uuid",
            &[&plan_id],
        )
        .await
        .unwrap()
        .get(0)
}

/// Everything a failed request must leave untouched.
async fn snapshot(app: &TestApp, user: &TestUser) -> (i64, i64, i64, i64, i64) {
    (
        app.balance(&user.id).await,
        app.count("SELECT count(*) FROM subscriptions").await,
        app.count("SELECT count(*) FROM instances").await,
        app.count("SELECT sum(quota_used)::bigint FROM plans").await,
        app.count("SELECT count(*) FROM ledger_transfers").await,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_subscribes_upgrades_and_cancels_with_money_and_quota_right_at_each_step() {
    if spincat_tests::spin::skip("needs the clock at a fixed date (April 1st, a 30-day period, for round pro-rata amounts), which a Spin process does not share") {
        return;
    }
    let app = TestApp::spawn_in_april().await;
    let user = app.register("ani@example.com").await;
    app.fund(&user, 300_000).await;
    let basic = app.plan_id("n8n", "Basic").await;
    let pro = app.plan_id("n8n", "Pro").await;

    let created = app
        .post_as(
            SUBSCRIBE,
            &user.access_token,
            json!({"planId": basic, "instanceName": "My Flows"}),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let sub = created.data();
    let id = sub["id"].as_str().unwrap().to_owned();
    assert_eq!(sub["status"], "ACTIVE");
    assert_eq!(sub["plan"]["name"], "Basic");
    assert_eq!(sub["currentPeriod"]["start"], "2027-04-01T00:00:00Z");
    assert_eq!(sub["currentPeriod"]["end"], "2027-05-01T00:00:00Z");
    assert_eq!(
        sub["instance"]["status"], "RUNNING",
        "provisioned at once on a ready cluster"
    );
    let subdomain = sub["instance"]["subdomain"].as_str().unwrap();
    let suffix = subdomain.strip_prefix("my-flows-").unwrap_or_default();
    assert!(
        suffix.len() == 12 && suffix.chars().all(|c| c.is_ascii_hexdigit()),
        "the name, then 48 random bits: {subdomain}"
    );
    assert_eq!(sub["instances"][0]["name"], "My Flows");
    assert_eq!(app.balance(&user.id).await, 250_000);
    assert_eq!(quota_used(&app, &basic).await, 1);

    let wallet = app.get_as("/api/user/wallet", &user.access_token).await;
    assert_eq!(wallet.data()["lifetimeSpend"], 50_000);
    assert_eq!(wallet.data()["upcomingRenewalsTotal"], 50_000);
    assert_eq!(
        wallet.data()["upcomingRenewals"][0]["dueAt"],
        "2027-05-01T00:00:00Z"
    );

    // 12 of 30 days gone: the 100 000 difference for the 18 days left is 60 000.
    app.advance_clock(Duration::days(12));
    let user = app.login(&user.email, spincat_tests::PASSWORD).await;
    let upgraded = app.upgrade(&user, &id, &pro).await;
    assert_eq!(upgraded.status, 200, "{:?}", upgraded.body);
    assert_eq!(upgraded.data()["oldPlan"]["name"], "Basic");
    assert_eq!(upgraded.data()["newPlan"]["name"], "Pro");
    assert_eq!(upgraded.data()["amountCharged"], 60_000);
    assert_eq!(upgraded.data()["effectiveAt"], "2027-04-13T00:00:00Z");
    assert_eq!(upgraded.data()["periodEnd"], "2027-05-01T00:00:00Z");
    assert_eq!(app.balance(&user.id).await, 190_000);
    assert_eq!(
        (quota_used(&app, &basic).await, quota_used(&app, &pro).await),
        (0, 1)
    );

    // 6 more days: 12 of 30 days left of a 150 000 month, 60 000 back.
    app.advance_clock(Duration::days(6));
    let user = app.login(&user.email, spincat_tests::PASSWORD).await;
    let cancelled = app.cancel(&user, &id, true).await;
    assert_eq!(cancelled.status, 200, "{:?}", cancelled.body);
    assert_eq!(cancelled.data()["status"], "CANCELLED");
    assert_eq!(cancelled.data()["refunded"], 60_000);
    assert_eq!(app.balance(&user.id).await, 250_000);
    assert_eq!(quota_used(&app, &pro).await, 0);
    let teardown = app
        .count("SELECT count(*) FROM instances WHERE teardown_requested_at IS NOT NULL")
        .await;
    assert_eq!(teardown, 1);

    let detail = app
        .get_as(
            &format!("/api/user/services/subscriptions/{id}"),
            &user.access_token,
        )
        .await;
    let history: Vec<(String, i64)> = detail.data()["billingHistory"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["type"].as_str().unwrap().to_owned(),
                t["amount"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        history,
        [
            ("SUBSCRIPTION".into(), -50_000),
            ("UPGRADE".into(), -60_000),
            ("REFUND".into(), 60_000)
        ]
    );
    let again = app.cancel(&user, &id, true).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.data()["refunded"], 0);
    assert_eq!(app.balance(&user.id).await, 250_000);

    // Ended subscriptions are history: subscribing again is allowed.
    let list = app
        .get_as(
            "/api/user/services/subscriptions?status=CANCELLED",
            &user.access_token,
        )
        .await;
    assert_eq!(list.data()["pagination"]["total"], 1);
    let ghost = app.plan_id("ghost", "Creator").await;
    assert_eq!(app.subscribe(&user, &ghost).await.status, 201);
    app.assert_ledger_sound().await;
    app.assert_quota_consistent().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_subscriptions_charge_nothing_take_no_quota_and_leave_no_rows() {
    let app = TestApp::spawn().await;
    let user = app.register("bayu@example.com").await;
    app.fund(&user, 40_000).await;
    let basic = app.plan_id("n8n", "Basic").await; // 50 000
    let db_basic = app.plan_id("postgresql", "Basic DB").await; // 25 000

    let before = snapshot(&app, &user).await;
    let short = app.subscribe(&user, &basic).await;
    assert_eq!(
        (short.status, short.error_code()),
        (422, "INSUFFICIENT_CREDIT")
    );
    assert_eq!(short.body["error"]["details"]["shortfall"], 10_000);
    assert!(short.body["message"].as_str().unwrap().contains("10000"));

    let unknown = app
        .subscribe(&user, "00000000-0000-4000-8000-000000000000")
        .await;
    assert_eq!(
        (unknown.status, unknown.error_code()),
        (404, "PLAN_NOT_FOUND")
    );

    app.db
        .execute("UPDATE plans SET is_active = false WHERE name = 'Pro'", &[])
        .await
        .unwrap();
    let inactive = app.subscribe(&user, &app.plan_id("n8n", "Pro").await).await;
    assert_eq!(
        (inactive.status, inactive.error_code()),
        (422, "PLAN_INACTIVE")
    );

    app.db
        .execute(
            "UPDATE plans SET quota_total = 0 WHERE name = 'Production DB'",
            &[],
        )
        .await
        .unwrap();
    let full = app
        .subscribe(&user, &app.plan_id("postgresql", "Production DB").await)
        .await;
    assert_eq!((full.status, full.error_code()), (422, "QUOTA_EXCEEDED"));

    let invalid = app
        .post_as(
            SUBSCRIBE,
            &user.access_token,
            json!({"planId": "nope", "instanceName": ""}),
        )
        .await;
    assert_eq!(invalid.invalid_fields(), ["instanceName", "planId"]);
    assert_eq!(snapshot(&app, &user).await, before);

    assert_eq!(app.subscribe(&user, &db_basic).await.status, 201);
    let duplicate = app.subscribe(&user, &db_basic).await;
    assert_eq!(
        (duplicate.status, duplicate.error_code()),
        (409, "DUPLICATE_SUBSCRIPTION")
    );
    assert!(duplicate.body["message"]
        .as_str()
        .unwrap()
        .contains("upgrade"));
    assert_eq!(app.balance(&user.id).await, 15_000);

    // A Free plan allows one instance per user; one being torn down still counts.
    let free = app.plan_id("n8n", "Free").await;
    let first = app.subscribe(&user, &free).await;
    let id = first.data()["id"].as_str().unwrap().to_owned();
    assert_eq!(app.cancel(&user, &id, true).await.status, 200);
    let limited = app.subscribe(&user, &free).await;
    assert_eq!(
        (limited.status, limited.error_code()),
        (422, "INSTANCE_LIMIT")
    );
    app.assert_ledger_sound().await;
    app.assert_quota_consistent().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrades_only_go_up_within_the_service_and_refusals_change_nothing() {
    let app = TestApp::spawn().await;
    let user = app.register("citra@example.com").await;
    app.fund(&user, 60_000).await;
    let (free, basic, pro) = (
        app.plan_id("n8n", "Free").await,
        app.plan_id("n8n", "Basic").await,
        app.plan_id("n8n", "Pro").await,
    );
    let id = app.subscribe(&user, &basic).await.data()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = snapshot(&app, &user).await;

    let down = app.upgrade(&user, &id, &free).await;
    assert_eq!(
        (down.status, down.error_code()),
        (422, "DOWNGRADE_NOT_ALLOWED")
    );
    let same = app.upgrade(&user, &id, &basic).await;
    assert_eq!((same.status, same.error_code()), (422, "SAME_PLAN"));
    let other_service = app
        .upgrade(&user, &id, &app.plan_id("ghost", "Creator").await)
        .await;
    assert_eq!(
        (other_service.status, other_service.error_code()),
        (422, "PLAN_NOT_IN_SERVICE")
    );
    let short = app.upgrade(&user, &id, &pro).await;
    assert_eq!(
        (short.status, short.error_code()),
        (422, "INSUFFICIENT_CREDIT")
    );
    app.db
        .execute(
            "UPDATE plans SET quota_total = quota_used WHERE name = 'Pro'",
            &[],
        )
        .await
        .unwrap();
    let full = app.upgrade(&user, &id, &pro).await;
    assert_eq!((full.status, full.error_code()), (422, "QUOTA_EXCEEDED"));
    assert_eq!(snapshot(&app, &user).await, before);
    let detail = app
        .get_as(
            &format!("/api/user/services/subscriptions/{id}"),
            &user.access_token,
        )
        .await;
    assert_eq!(detail.data()["plan"]["name"], "Basic");
    app.assert_ledger_sound().await;
    app.assert_quota_consistent().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_resize_undoes_the_whole_upgrade_and_the_cluster_converges_back() {
    let app = TestApp::spawn_in_april().await;
    let user = app.register("dodi@example.com").await;
    app.fund(&user, 200_000).await;
    let (basic, pro) = (
        app.plan_id("n8n", "Basic").await,
        app.plan_id("n8n", "Pro").await,
    );
    let created = app.subscribe(&user, &basic).await;
    assert_eq!(created.data()["instance"]["status"], "RUNNING");
    let id = created.data()["id"].as_str().unwrap().to_owned();
    let before = snapshot(&app, &user).await;

    // The resize gets half-way: the namespace objects take the new sizes, then the API server fails.
    app.kube.fail_after(3, 500);
    let failed = app.upgrade(&user, &id, &pro).await;
    assert_eq!(
        (failed.status, failed.error_code()),
        (502, "UPGRADE_FAILED"),
        "{:?}",
        failed.body
    );
    let (balance, subs, instances, quota, transfers) = snapshot(&app, &user).await;
    assert_eq!(
        (balance, subs, instances, quota),
        (before.0, before.1, before.2, before.3)
    );
    assert_eq!(
        transfers,
        before.4 + 2,
        "the charge and its refund, both on record"
    );
    let detail = app
        .get_as(
            &format!("/api/user/services/subscriptions/{id}"),
            &user.access_token,
        )
        .await;
    assert_eq!(detail.data()["plan"]["name"], "Basic");
    assert_eq!(detail.data()["status"], "ACTIVE");
    assert_eq!(detail.data()["priceMonthly"], 50_000);

    // The next reconcile puts the cluster back to the Basic plan's sizes.
    app.run_job("reconcile").await;
    let namespace = format!("spincat-u-{}", user.id.replace('-', ""));
    let quota_object = app
        .kube
        .object("resourcequotas", &namespace, "spincat-quota")
        .unwrap();
    assert_eq!(quota_object["spec"]["hard"]["limits.cpu"], "500m");
    let instance = detail.data()["instance"]["id"]
        .as_str()
        .unwrap()
        .replace('-', "");
    let deployment = app
        .kube
        .object("deployments", &namespace, &format!("i-{instance}"))
        .unwrap();
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"],
        "500m"
    );
    app.assert_ledger_sound().await;
    app.assert_quota_consistent().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_at_period_end_keeps_the_subscription_until_then() {
    let app = TestApp::spawn().await;
    let user = app.register("eva@example.com").await;
    app.fund(&user, 100_000).await;
    let plan = app.plan_id("ghost", "Creator").await;
    let created = app.subscribe(&user, &plan).await;
    let id = created.data()["id"].as_str().unwrap().to_owned();
    for _ in 0..2 {
        let response = app.cancel(&user, &id, false).await;
        assert_eq!(response.status, 200);
        assert_eq!(response.data()["status"], "ACTIVE");
        assert_eq!(
            response.data()["effectiveAt"],
            created.data()["currentPeriod"]["end"]
        );
        assert_eq!(response.data()["refunded"], 0);
    }
    let detail = app
        .get_as(
            &format!("/api/user/services/subscriptions/{id}"),
            &user.access_token,
        )
        .await;
    assert_eq!(detail.data()["autoRenew"], false);
    assert_eq!(detail.data()["cancelAtPeriodEnd"], true);
    assert_eq!(
        quota_used(&app, &plan).await,
        1,
        "usable until the period ends"
    );
    let wallet = app.get_as("/api/user/wallet", &user.access_token).await;
    assert_eq!(wallet.data()["upcomingRenewals"], json!([]));
    app.assert_ledger_sound().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_users_subscription_is_404_everywhere() {
    let app = TestApp::spawn().await;
    let owner = app.register("fina@example.com").await;
    let other = app.register("gani@example.com").await;
    app.fund(&owner, 100_000).await;
    app.fund(&other, 200_000).await;
    let id = app
        .subscribe(&owner, &app.plan_id("n8n", "Basic").await)
        .await
        .data()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/api/user/services/subscriptions/{id}");
    assert_eq!(app.get_as(&path, &other.access_token).await.status, 404);
    assert_eq!(
        app.upgrade(&other, &id, &app.plan_id("n8n", "Pro").await)
            .await
            .status,
        404
    );
    assert_eq!(app.cancel(&other, &id, true).await.status, 404);
    assert_eq!(
        app.get_as(
            "/api/user/services/subscriptions/not-an-id",
            &other.access_token
        )
        .await
        .status,
        404
    );
    let theirs = app
        .get_as("/api/user/services/subscriptions", &other.access_token)
        .await;
    assert_eq!(theirs.data()["pagination"]["total"], 0);
    assert_eq!(app.get(&path).await.status, 401);
    assert_eq!(app.balance(&owner.id).await, 50_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotency_key_makes_a_retried_subscribe_charge_once() {
    let app = TestApp::spawn().await;
    let user = app.register("hadi@example.com").await;
    app.fund(&user, 100_000).await;
    let plan = app.plan_id("postgresql", "Basic DB").await;
    let send = |plan: String| {
        app.send(
            app.http
                .post(app.url(SUBSCRIBE))
                .bearer_auth(&user.access_token)
                .header("idempotency-key", "sub-once")
                .json(&json!({ "planId": plan })),
        )
    };
    let results = futures::future::join_all((0..5).map(|_| send(plan.clone()))).await;
    let ids: std::collections::HashSet<_> = results
        .iter()
        .map(|r| r.data()["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        ids.len(),
        1,
        "{:?}",
        results
            .iter()
            .map(|r| (r.status, &r.body))
            .collect::<Vec<_>>()
    );
    assert_eq!(results.iter().filter(|r| r.status == 201).count(), 1);
    assert!(results.iter().all(|r| r.status == 201 || r.status == 200));
    assert_eq!(app.balance(&user.id).await, 75_000);
    let other_plan = send(app.plan_id("postgresql", "Production DB").await).await;
    assert_eq!(
        (other_plan.status, other_plan.error_code()),
        (422, "IDEMPOTENCY_KEY_REUSED")
    );
    app.assert_ledger_sound().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_subscribes_never_overdraw_or_duplicate() {
    let app = TestApp::spawn().await;
    let user = app.register("indah@example.com").await;
    // Enough for exactly one subscription to each of the three services.
    app.fund(&user, 50_000 + 75_000 + 25_000).await;
    let plans = [
        app.plan_id("n8n", "Basic").await,
        app.plan_id("ghost", "Creator").await,
        app.plan_id("postgresql", "Basic DB").await,
    ];
    let attempts = (0..50).map(|i| app.subscribe(&user, &plans[i % 3]));
    let results = futures::future::join_all(attempts).await;
    let won = results.iter().filter(|r| r.status == 201).count();
    assert!(won <= 3, "{won} subscriptions from a wallet that covers 3");
    for r in results.iter().filter(|r| r.status != 201) {
        assert!(
            ["DUPLICATE_SUBSCRIPTION", "INSUFFICIENT_CREDIT"].contains(&r.error_code()),
            "{:?}",
            r.body
        );
    }
    let per_service = app
        .count("SELECT max(n) FROM (SELECT count(*) AS n FROM subscriptions GROUP BY service_id) c")
        .await;
    assert_eq!(per_service, 1);
    let spent = app
        .count("SELECT coalesce(sum(price_monthly), 0)::bigint FROM subscriptions")
        .await;
    assert_eq!(app.balance(&user.id).await, 150_000 - spent);
    assert!(app.balance(&user.id).await >= 0);
    app.assert_ledger_sound().await;
    app.assert_quota_consistent().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_concurrent_cancellations_refund_once() {
    let app = TestApp::spawn().await;
    let user = app.register("intan@example.com").await;
    app.fund(&user, 50_000).await;
    let bought = app
        .subscribe(&user, &app.plan_id("n8n", "Basic").await)
        .await;
    let id = bought.data()["id"].as_str().unwrap().to_owned();
    let attempts = (0..20).map(|i| app.cancel(&user, &id, i % 4 != 0));
    let results = futures::future::join_all(attempts).await;
    let statuses: Vec<u16> = results.iter().map(|r| r.status).collect();
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let refunded: Vec<i64> = results
        .iter()
        .filter_map(|r| r.data()["refunded"].as_i64())
        .filter(|r| *r > 0)
        .collect();
    assert_eq!(refunded.len(), 1, "{refunded:?}");
    assert_eq!(app.balance(&user.id).await, refunded[0]);
    assert_eq!(
        app.count("SELECT count(*) FROM ledger_transfers WHERE kind = 'REFUND'")
            .await,
        1
    );
    app.assert_ledger_sound().await;
    app.assert_quota_consistent().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_users_race_for_ten_slots_and_exactly_ten_win() {
    let app = TestApp::spawn().await;
    let plan = app.plan_id("n8n", "Free").await;
    app.db
        .execute(
            "UPDATE plans SET quota_total = 10 WHERE id = $1::text::uuid",
            &[&plan],
        )
        .await
        .unwrap();
    let emails: Vec<String> = (0..200).map(|i| format!("racer{i}@example.com")).collect();
    let users = futures::future::join_all(emails.iter().map(|e| app.register_quickly(e))).await;
    let results = futures::future::join_all(users.iter().map(|u| app.subscribe(u, &plan))).await;
    let won = results.iter().filter(|r| r.status == 201).count();
    let full = results
        .iter()
        .filter(|r| r.error_code() == "QUOTA_EXCEEDED")
        .count();
    assert_eq!((won, full), (10, 190));
    assert_eq!(quota_used(&app, &plan).await, 10);
    assert_eq!(app.count("SELECT count(*) FROM instances").await, 10);
    app.assert_quota_consistent().await;
    app.assert_ledger_sound().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_upgrade_and_cancel_reach_one_consistent_outcome() {
    let app = TestApp::spawn().await;
    let (basic, pro) = (
        app.plan_id("n8n", "Basic").await,
        app.plan_id("n8n", "Pro").await,
    );
    for i in 0..8 {
        let user = app.register(&format!("duel{i}@example.com")).await;
        app.fund(&user, 300_000).await;
        let id = app.subscribe(&user, &basic).await.data()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let (up, down) = tokio::join!(app.upgrade(&user, &id, &pro), app.cancel(&user, &id, true));
        let detail = app
            .get_as(
                &format!("/api/user/services/subscriptions/{id}"),
                &user.access_token,
            )
            .await;
        let status = detail.data()["status"].as_str().unwrap().to_owned();
        let plan = detail.data()["plan"]["name"].as_str().unwrap().to_owned();
        match (up.status, down.status) {
            // Upgrade first, then the cancel refunds the new price's unused share.
            (200, 200) => assert_eq!((status.as_str(), plan.as_str()), ("CANCELLED", "Pro")),
            // Cancel first: there is nothing left to upgrade.
            (422, 200) => assert_eq!((status.as_str(), plan.as_str()), ("CANCELLED", "Basic")),
            // The cancel met the upgrade half-way and was refused.
            (200, 409) => assert_eq!((status.as_str(), plan.as_str()), ("ACTIVE", "Pro")),
            other => panic!(
                "inconsistent outcome {other:?}: {:?} / {:?}",
                up.body, down.body
            ),
        }
        let refunds = app
            .count(&format!("SELECT count(*) FROM ledger_transfers WHERE reference = '{id}' AND kind = 'REFUND'"))
            .await;
        assert_eq!(refunds, i64::from(status == "CANCELLED"));
    }
    app.assert_ledger_sound().await;
    app.assert_quota_consistent().await;
}

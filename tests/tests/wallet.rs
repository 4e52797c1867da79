//! The wallet, the ledger and Midtrans top-ups, over HTTP against the Midtrans double.

use std::time::Duration;

use serde_json::{json, Value};
use spincat::payments::{self, Applied, GatewayReport};
use spincat::ports::Database;
use spincat_tests::midtrans::{notification_for, sign, Fault, SERVER_KEY};
use spincat_tests::{Options, TestApp, TestUser};

/// Starts a top-up and returns its order id.
async fn top_up(app: &TestApp, user: &TestUser, amount: i64) -> String {
    let response = app
        .post_as(
            "/api/user/wallet/topup",
            &user.access_token,
            json!({ "amount": amount }),
        )
        .await;
    assert_eq!(response.status, 201, "{:?}", response.body);
    response.data()["orderId"].as_str().unwrap().to_owned()
}

async fn topup_status(app: &TestApp, order_id: &str) -> String {
    app.db
        .query_one(
            "SELECT status FROM topups WHERE order_id = $1",
            &[&order_id],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_top_up_flows_from_snap_to_settlement_to_balance_to_history() {
    let app = TestApp::spawn().await;
    let user = app.register("ayu@example.com").await;

    let created = app
        .post_as(
            "/api/user/wallet/topup",
            &user.access_token,
            json!({ "amount": 150_000 }),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let order = created.data();
    let order_id = order["orderId"].as_str().unwrap();
    assert!(order_id.starts_with("TOPUP-") && order_id.len() <= 50);
    assert_eq!(order["amount"], 150_000);
    assert_eq!(order["status"], "PENDING");
    assert_eq!(order["clientKey"], spincat_tests::midtrans::CLIENT_KEY);
    assert!(order["redirectUrl"]
        .as_str()
        .unwrap()
        .contains(order["token"].as_str().unwrap()));

    let snap = app.midtrans.order(order_id).unwrap().snap_request;
    assert_eq!(snap["transaction_details"]["gross_amount"], 150_000);
    assert_eq!(snap["item_details"][0]["price"], 150_000);
    assert_eq!(snap["customer_details"]["email"], "ayu@example.com");

    let pending = app
        .get_as("/api/user/wallet/transactions", &user.access_token)
        .await;
    assert_eq!(pending.data()["items"][0]["status"], "PENDING");
    assert_eq!(app.balance(&user.id).await, 0);

    let (status, _) = app
        .midtrans
        .deliver(order_id, "settlement-bank_transfer")
        .await;
    assert_eq!(status, 200);

    let wallet = app.get_as("/api/user/wallet", &user.access_token).await;
    assert_eq!(wallet.status, 200);
    assert_eq!(wallet.data()["balance"], 150_000);
    assert_eq!(wallet.data()["lifetimeTopUp"], 150_000);
    assert_eq!(wallet.data()["lifetimeSpend"], 0);

    let history = app
        .get_as("/api/user/wallet/transactions", &user.access_token)
        .await;
    let items = history.data()["items"].as_array().unwrap();
    assert_eq!(
        items.len(),
        1,
        "the settled top-up replaces its pending line: {items:?}"
    );
    assert_eq!(items[0]["type"], "TOP_UP");
    assert_eq!(items[0]["status"], "SUCCESS");
    assert_eq!(items[0]["amount"], 150_000);
    assert_eq!(items[0]["balanceBefore"], 0);
    assert_eq!(items[0]["balanceAfter"], 150_000);
    assert_eq!(items[0]["paymentMethod"], "bank_transfer");
    assert_eq!(items[0]["reference"], order_id);
    app.assert_ledger_sound().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn top_up_amounts_are_validated_and_bad_ones_change_nothing() {
    let app = TestApp::spawn_with(Options::default().variable("topup_max", "5000000")).await;
    let user = app.register("bima@example.com").await;
    for (body, message) in [
        (json!({"amount": 9_999}), "below the minimum"),
        (json!({"amount": 5_000_001}), "above the maximum"),
        (json!({"amount": 10_000.5}), "a fraction"),
        (json!({"amount": "50000"}), "a string"),
        (json!({"amount": -10_000}), "negative"),
        (json!({}), "missing"),
    ] {
        let response = app
            .post_as("/api/user/wallet/topup", &user.access_token, body)
            .await;
        assert_eq!(response.status, 400, "{message}");
        assert_eq!(response.invalid_fields(), ["amount"], "{message}");
    }
    let bad_key = app
        .send(
            app.http
                .post(app.url("/api/user/wallet/topup"))
                .bearer_auth(&user.access_token)
                .header("idempotency-key", "x".repeat(300))
                .json(&json!({"amount": 10_000})),
        )
        .await;
    assert_eq!(bad_key.invalid_fields(), ["Idempotency-Key"]);
    assert_eq!(app.count("SELECT count(*) FROM topups").await, 0);
    assert_eq!(app.midtrans.snap_calls(), 0);
    assert_eq!(
        app.post("/api/user/wallet/topup", json!({"amount": 10_000}))
            .await
            .status,
        401
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snap_failures_become_a_clear_502_and_a_failed_top_up() {
    let app = TestApp::spawn().await;
    let user = app.register("cahya@example.com").await;
    for fault in [
        Fault::Status(500),
        Fault::Status(503),
        Fault::Status(400),
        Fault::Delay(Duration::from_millis(2_500)),
    ] {
        app.midtrans.fail_next(fault.clone());
        let response = app
            .post_as(
                "/api/user/wallet/topup",
                &user.access_token,
                json!({"amount": 20_000}),
            )
            .await;
        assert_eq!(response.status, 502, "{fault:?}: {:?}", response.body);
        assert_eq!(response.error_code(), "PAYMENT_GATEWAY_ERROR", "{fault:?}");
    }
    let failed = app
        .get_as(
            "/api/user/wallet/transactions?status=FAILED",
            &user.access_token,
        )
        .await;
    assert_eq!(failed.data()["pagination"]["total"], 4);
    assert_eq!(app.balance(&user.id).await, 0);
    app.assert_ledger_sound().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_server_key_is_a_502_not_a_leak() {
    let app = TestApp::spawn_with(
        Options::default().variable("midtrans_server_key", "SB-Mid-server-wrong"),
    )
    .await;
    let user = app.register("dian@example.com").await;
    let response = app
        .post_as(
            "/api/user/wallet/topup",
            &user.access_token,
            json!({"amount": 20_000}),
        )
        .await;
    assert_eq!(response.status, 502);
    assert!(!response.body.to_string().contains("SB-Mid-server-wrong"));
    assert_eq!(
        app.count("SELECT count(*) FROM topups WHERE status = 'FAILED'")
            .await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotency_key_makes_a_retry_return_the_same_order() {
    let app = TestApp::spawn().await;
    let user = app.register("eko@example.com").await;
    let request = |key: &str, amount: i64| {
        app.send(
            app.http
                .post(app.url("/api/user/wallet/topup"))
                .bearer_auth(&user.access_token)
                .header("idempotency-key", key)
                .json(&json!({ "amount": amount })),
        )
    };
    let first = request("retry-1", 25_000).await;
    let second = request("retry-1", 25_000).await;
    assert_eq!((first.status, second.status), (201, 201));
    assert_eq!(first.data()["orderId"], second.data()["orderId"]);
    assert_eq!(first.data()["token"], second.data()["token"]);
    assert_eq!(app.midtrans.snap_calls(), 1);

    let changed = request("retry-1", 30_000).await;
    assert_eq!(changed.status, 422);
    assert_eq!(changed.error_code(), "IDEMPOTENCY_KEY_REUSED");

    let racing = futures::future::join_all((0..10).map(|_| request("race", 40_000))).await;
    let orders: std::collections::HashSet<String> = racing
        .iter()
        .filter(|r| r.status == 201)
        .map(|r| r.data()["orderId"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(orders.len(), 1, "one order for one key");
    assert!(racing
        .iter()
        .all(|r| r.status == 201 || r.error_code() == "REQUEST_IN_PROGRESS"));
    assert_eq!(app.count("SELECT count(*) FROM topups").await, 2);

    // Another user's identical key is their own.
    let other = app.register("eko2@example.com").await;
    let theirs = app
        .send(
            app.http
                .post(app.url("/api/user/wallet/topup"))
                .bearer_auth(&other.access_token)
                .header("idempotency-key", "retry-1")
                .json(&json!({ "amount": 25_000 })),
        )
        .await;
    assert_eq!(theirs.status, 201);
    assert_ne!(theirs.data()["orderId"], first.data()["orderId"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_top_ups_by_one_user_all_land_exactly_once() {
    let app = TestApp::spawn().await;
    let user = app.register("fitri@example.com").await;
    let amounts: Vec<i64> = (1..=10).map(|i| 10_000 * i).collect();
    let orders = futures::future::join_all(amounts.iter().map(|a| top_up(&app, &user, *a))).await;
    let deliveries = orders.iter().flat_map(|o| [o.clone(), o.clone()]).map(|o| {
        let midtrans = app.midtrans.clone();
        async move { midtrans.deliver(&o, "settlement-qris").await.0 }
    });
    let statuses = futures::future::join_all(deliveries).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(app.balance(&user.id).await, amounts.iter().sum::<i64>());
    assert_eq!(app.count("SELECT count(*) FROM ledger_transfers").await, 10);
    app.assert_ledger_sound().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_status_moves_the_order_as_midtrans_documents() {
    let app = TestApp::spawn().await;
    let user = app.register("gilang@example.com").await;
    // (notifications in order, final order status, credited?)
    let cases: [(&[&str], &str, bool); 9] = [
        (&["settlement-gopay"], "SETTLED", true),
        (&["capture-credit_card-accept"], "SETTLED", true),
        (&["settlement-cstore"], "SETTLED", true),
        (&["capture-credit_card-challenge"], "PENDING", false),
        (
            &[
                "capture-credit_card-challenge",
                "capture-credit_card-accept",
            ],
            "SETTLED",
            true,
        ),
        (&["pending-bank_transfer-permata"], "PENDING", false),
        (&["deny-gopay"], "FAILED", false),
        (&["cancel-gopay"], "FAILED", false),
        (
            &[
                "expire-bank_transfer-permata",
                "pending-bank_transfer-permata",
            ],
            "FAILED",
            false,
        ),
    ];
    let mut expected_balance = 0;
    for (steps, final_status, credited) in cases {
        let order_id = top_up(&app, &user, 12_345).await;
        for step in steps {
            let (status, body) = app.midtrans.deliver(&order_id, step).await;
            assert_eq!(status, 200, "{step}: {body}");
        }
        assert_eq!(
            topup_status(&app, &order_id).await,
            final_status,
            "{steps:?}"
        );
        if credited {
            expected_balance += 12_345;
        }
        assert_eq!(app.balance(&user.id).await, expected_balance, "{steps:?}");
    }
    app.assert_ledger_sound().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_and_reordered_deliveries_change_nothing_twice() {
    let app = TestApp::spawn().await;
    let user = app.register("hana@example.com").await;

    let order = top_up(&app, &user, 50_000).await;
    app.midtrans.set_status(&order, "settlement", None);
    let settlement = app.midtrans.notification(&order, "settlement-shopeepay");
    let pending = app
        .midtrans
        .notification(&order, "pending-bank_transfer-permata");
    for body in [&settlement, &settlement, &pending, &settlement] {
        let (status, _) = app.midtrans.post_notification(&order, body).await;
        assert_eq!(status, 200);
    }
    assert_eq!(topup_status(&app, &order).await, "SETTLED");
    assert_eq!(app.balance(&user.id).await, 50_000);

    // A late settlement after the order was failed: the money arrived, so it is credited.
    let late = top_up(&app, &user, 20_000).await;
    app.midtrans.deliver(&late, "expire-gopay").await;
    assert_eq!(topup_status(&app, &late).await, "FAILED");
    app.midtrans.deliver(&late, "settlement-gopay").await;
    assert_eq!(topup_status(&app, &late).await, "SETTLED");
    assert_eq!(app.balance(&user.id).await, 70_000);

    // A failure reported after settlement is stale.
    let (status, body) = app.midtrans.deliver(&order, "deny-gopay").await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["result"], "IGNORED");
    assert_eq!(topup_status(&app, &order).await, "SETTLED");
    assert_eq!(app.balance(&user.id).await, 70_000);
    app.assert_ledger_sound().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refunds_and_chargebacks_take_the_money_back_once() {
    let app = TestApp::spawn().await;
    let user = app.register("indra@example.com").await;
    let refunded = top_up(&app, &user, 30_000).await;
    let charged_back = top_up(&app, &user, 40_000).await;
    app.midtrans.deliver(&refunded, "settlement-gopay").await;
    app.midtrans
        .deliver(&charged_back, "settlement-gopay")
        .await;
    assert_eq!(app.balance(&user.id).await, 70_000);

    for _ in 0..2 {
        let (status, _) = app.midtrans.deliver(&refunded, "refund-gopay").await;
        assert_eq!(status, 200);
    }
    assert_eq!(topup_status(&app, &refunded).await, "REFUNDED");
    assert_eq!(app.balance(&user.id).await, 40_000);

    let mut chargeback = notification_for(&charged_back, 40_000, "refund-gopay");
    chargeback["transaction_status"] = json!("chargeback");
    sign(&mut chargeback, SERVER_KEY);
    app.midtrans.set_status(&charged_back, "chargeback", None);
    for _ in 0..2 {
        assert_eq!(
            app.midtrans
                .post_notification(&charged_back, &chargeback)
                .await
                .0,
            200
        );
    }
    assert_eq!(topup_status(&app, &charged_back).await, "CHARGED_BACK");
    assert_eq!(app.balance(&user.id).await, 0);

    let history = app
        .get_as(
            "/api/user/wallet/transactions?type=TOP_UP_REVERSAL",
            &user.access_token,
        )
        .await;
    assert_eq!(history.data()["pagination"]["total"], 2);
    assert_eq!(history.data()["items"][0]["amount"], -40_000);
    let wallet = app.get_as("/api/user/wallet", &user.access_token).await;
    assert_eq!(wallet.data()["lifetimeTopUp"], 0);
    app.assert_ledger_sound().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_partial_refunds_take_back_each_rupiah_once() {
    let app = TestApp::spawn().await;
    let user = app.register("kartika@example.com").await;
    let order = top_up(&app, &user, 30_000).await;
    app.midtrans.deliver(&order, "settlement-gopay").await;
    app.fund(&user, 10_000).await;

    // Through the webhook: the total Midtrans has refunded grows, and each of its notifications
    // arrives four times at once (the status API confirms each, so a round's reports agree).
    for (status, total) in [
        ("partial_refund", 10_000),
        ("partial_refund", 20_000),
        ("refund", 30_000),
    ] {
        app.midtrans.set_status(&order, status, None);
        app.midtrans
            .set_reversed_amount(&order, &format!("{total}.00"));
        let mut body = notification_for(&order, 30_000, "refund-gopay");
        body["transaction_status"] = json!(status);
        body["refund_amount"] = json!(format!("{total}.00"));
        sign(&mut body, SERVER_KEY);
        let delivered = futures::future::join_all(
            (0..4).map(|_| app.midtrans.post_notification(&order, &body)),
        )
        .await;
        assert!(
            delivered.iter().all(|(code, _)| *code == 200),
            "{delivered:?}"
        );
        assert_eq!(
            app.balance(&user.id).await,
            40_000 - total,
            "{status} {total}"
        );
    }
    assert_eq!(topup_status(&app, &order).await, "REFUNDED");

    // Reports of different totals racing, each on its own connection, straight into the
    // domain: whichever order they commit in, each rupiah goes back once.
    let second = top_up(&app, &user, 20_000).await;
    app.midtrans.deliver(&second, "settlement-gopay").await;
    let database = spincat_host::db::NativeDatabase::connect_lazily(&app.database_url, 8).unwrap();
    let race = [5_000, 12_000, 20_000, 5_000, 12_000, 20_000].map(|total| {
        let report = GatewayReport::from_json(&json!({
            "order_id": second,
            "status_code": "200",
            "gross_amount": "20000.00",
            "transaction_status": if total < 20_000 { "partial_refund" } else { "refund" },
            "refund_amount": format!("{total}.00"),
        }))
        .unwrap();
        let database = database.clone();
        let now = app.now();
        async move {
            let conn = Database::connect(&database).await.unwrap();
            payments::apply_report(conn.as_ref(), &report, now)
                .await
                .unwrap()
        }
    });
    let applied = futures::future::join_all(race).await;
    let moved: i64 = applied
        .iter()
        .filter_map(|applied| match applied {
            Applied::Reversed { amount } => Some(amount.amount()),
            _ => None,
        })
        .sum();
    assert_eq!(moved, 20_000, "{applied:?}");

    assert_eq!(app.balance(&user.id).await, 10_000);
    for (order, amount) in [(&order, 30_000), (&second, 20_000)] {
        let row = app
            .db
            .query_one(
                "SELECT p.reversed_amount, sum(t.amount)::bigint FROM topups p
                 JOIN ledger_transfers t ON t.kind = 'TOP_UP_REVERSAL' AND t.reference = p.order_id
                 WHERE p.order_id = $1 GROUP BY p.reversed_amount",
                &[order],
            )
            .await
            .unwrap();
        assert_eq!(
            (row.get::<_, i64>(0), row.get::<_, i64>(1)),
            (amount, amount)
        );
    }
    app.assert_ledger_sound().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_and_altered_notifications_are_refused_and_credit_nothing() {
    let app = TestApp::spawn().await;
    let user = app.register("joko@example.com").await;
    let order = top_up(&app, &user, 60_000).await;
    let genuine = app
        .midtrans
        .notification(&order, "settlement-bank_transfer");

    let mut forged = genuine.clone();
    forged["signature_key"] = json!("0".repeat(128));
    let mut inflated = genuine.clone();
    inflated["gross_amount"] = json!("6000000.00");
    let mut unsigned = genuine.clone();
    unsigned.as_object_mut().unwrap().remove("signature_key");
    for (name, body) in [
        ("forged", &forged),
        ("inflated", &inflated),
        ("unsigned", &unsigned),
    ] {
        let (status, response) = app.midtrans.post_notification(&order, body).await;
        assert_eq!(status, 401, "{name}: {response}");
        assert_eq!(response["error"]["code"], "INVALID_SIGNATURE", "{name}");
    }
    // Correctly signed, but for an amount the order never had.
    let mut resigned = genuine.clone();
    resigned["gross_amount"] = json!("6000000.00");
    sign(&mut resigned, SERVER_KEY);
    let (status, response) = app.midtrans.post_notification(&order, &resigned).await;
    assert_eq!(status, 400);
    assert_eq!(response["error"]["code"], "AMOUNT_MISMATCH");

    let (status, _) = app
        .midtrans
        .post_notification(&order, &json!({"order_id": order}))
        .await;
    assert_eq!(status, 400);
    assert_eq!(app.balance(&user.id).await, 0);
    assert_eq!(topup_status(&app, &order).await, "PENDING");

    let unknown = notification_for(
        "TOPUP-20261124-0123456789abcdef01234567",
        60_000,
        "settlement-bank_transfer",
    );
    let (status, response) = app.midtrans.post_notification(&order, &unknown).await;
    assert_eq!(status, 200, "signed but unknown: acknowledged and ignored");
    assert_eq!(response["data"]["result"], "IGNORED");
    app.assert_ledger_sound().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_deliveries_of_one_settlement_credit_once() {
    let app = TestApp::spawn().await;
    let user = app.register("kiki@example.com").await;
    let order = top_up(&app, &user, 77_000).await;
    app.midtrans.set_status(&order, "settlement", None);
    let body = app
        .midtrans
        .notification(&order, "settlement-bank_transfer");
    let deliveries = (0..100).map(|_| app.midtrans.post_notification(&order, &body));
    let results = futures::future::join_all(deliveries).await;
    assert!(
        results.iter().all(|(s, _)| *s == 200),
        "{:?}",
        results.iter().map(|r| r.0).collect::<Vec<_>>()
    );
    let credited = results
        .iter()
        .filter(|(_, b)| b["data"]["result"] == "CREDITED")
        .count();
    assert_eq!(credited, 1);
    assert_eq!(app.balance(&user.id).await, 77_000);
    app.assert_ledger_sound().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_status_verification_the_status_api_has_the_last_word() {
    let app =
        TestApp::spawn_with(Options::default().variable("midtrans_verify_status", "true")).await;
    let user = app.register("lala@example.com").await;

    // The notification claims settlement; Midtrans itself says the payment is still pending.
    let order = top_up(&app, &user, 45_000).await;
    app.midtrans.set_status(&order, "pending", None);
    let claim = app
        .midtrans
        .notification(&order, "settlement-bank_transfer");
    let (status, _) = app.midtrans.post_notification(&order, &claim).await;
    assert_eq!(status, 200);
    assert_eq!(app.balance(&user.id).await, 0);

    // Midtrans down while it matters: 502, so Midtrans delivers again later.
    app.midtrans.set_status(&order, "settlement", None);
    app.midtrans.fail_next(Fault::Status(503));
    assert_eq!(app.midtrans.post_notification(&order, &claim).await.0, 502);
    assert_eq!(app.midtrans.post_notification(&order, &claim).await.0, 200);
    assert_eq!(app.balance(&user.id).await, 45_000);

    // Already settled: a repeat needs no confirmation and never gets a 5xx.
    let calls = app.midtrans.status_calls();
    app.midtrans.fail_next(Fault::Status(500));
    assert_eq!(app.midtrans.post_notification(&order, &claim).await.0, 200);
    assert_eq!(app.midtrans.status_calls(), calls);
    assert_eq!(app.balance(&user.id).await, 45_000);
    app.assert_ledger_sound().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_settles_or_fails_top_ups_left_pending() {
    let app = TestApp::spawn_with(
        Options::default()
            .variable("topup_reconcile_after_seconds", "600")
            .variable("topup_order_lifetime_seconds", "3600"),
    )
    .await;
    let user = app.register("maya@example.com").await;
    let paid = top_up(&app, &user, 11_000).await;
    let expired = top_up(&app, &user, 12_000).await;
    let abandoned = top_up(&app, &user, 13_000).await;
    let waiting = top_up(&app, &user, 14_000).await;
    app.midtrans.set_status(&paid, "settlement", None);
    app.midtrans.set_status(&expired, "expire", None);
    app.midtrans.set_status(&waiting, "pending", None);

    let too_early = app.run_job("reconcile").await;
    assert_eq!(too_early.data()["topups"]["checked"], 0);

    app.pass(chrono::Duration::seconds(601)).await;
    let run = app.run_job("reconcile").await;
    assert_eq!(run.data()["topups"]["checked"], 4, "{:?}", run.body);
    assert_eq!(run.data()["topups"]["settled"], 1);
    assert_eq!(run.data()["topups"]["failed"], 1);
    assert_eq!(run.data()["topups"]["stillPending"], 2);
    assert_eq!(topup_status(&app, &paid).await, "SETTLED");
    assert_eq!(topup_status(&app, &expired).await, "FAILED");
    assert_eq!(topup_status(&app, &abandoned).await, "PENDING");

    app.pass(chrono::Duration::seconds(3600)).await;
    app.midtrans.fail_next(Fault::Status(500));
    let run = app.run_job("reconcile").await;
    assert_eq!(run.data()["topups"]["errors"], 1);
    assert_eq!(
        topup_status(&app, &abandoned).await,
        "PENDING",
        "Midtrans down: left for the next run"
    );
    let run = app.run_job("reconcile").await;
    assert_eq!(run.data()["topups"]["errors"], 0);
    assert_eq!(
        topup_status(&app, &abandoned).await,
        "FAILED",
        "never paid within its lifetime"
    );
    assert_eq!(
        topup_status(&app, &waiting).await,
        "PENDING",
        "still payable at Midtrans"
    );
    assert_eq!(app.balance(&user.id).await, 11_000);

    let anonymous = app
        .send(app.http.post(app.url("/internal/jobs/reconcile")))
        .await;
    assert_eq!(anonymous.status, 401);
    let wrong = app
        .send(
            app.http
                .post(app.url("/internal/jobs/reconcile"))
                .bearer_auth("guess"),
        )
        .await;
    assert_eq!(wrong.status, 401);
    app.assert_ledger_sound().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ledger_is_append_only() {
    let app = TestApp::spawn().await;
    let user = app.register("nina@example.com").await;
    let order = top_up(&app, &user, 10_000).await;
    app.midtrans.deliver(&order, "settlement-gopay").await;
    for sql in [
        "UPDATE ledger_entries SET amount = amount * 2",
        "DELETE FROM ledger_entries",
        "UPDATE ledger_transfers SET amount = 1",
        "DELETE FROM ledger_transfers",
        "TRUNCATE ledger_entries",
    ] {
        let error = app.db.batch_execute(sql).await.unwrap_err();
        assert!(
            error.to_string().contains("append-only")
                || format!("{error:?}").contains("append-only"),
            "{sql}: {error:?}"
        );
    }
    assert_eq!(app.balance(&user.id).await, 10_000);
    app.assert_ledger_sound().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ledger_check_catches_a_tampered_cache() {
    let app = TestApp::spawn().await;
    let user = app.register("oki@example.com").await;
    let order = top_up(&app, &user, 10_000).await;
    app.midtrans.deliver(&order, "settlement-gopay").await;
    app.db
        .execute(
            "UPDATE ledger_accounts SET balance = balance + 1 WHERE user_id IS NOT NULL",
            &[],
        )
        .await
        .unwrap();
    let db = spincat_host::db::NativeDatabase::connect_lazily(&app.database_url, 1).unwrap();
    let conn = spincat::ports::Database::connect(&db).await.unwrap();
    let report = spincat::ledger::check(conn.as_ref()).await.unwrap();
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    assert!(
        report.problems[0].contains("caches 10001"),
        "{:?}",
        report.problems
    );

    app.db
        .execute(
            "UPDATE topups SET reversed_amount = 2500 WHERE order_id = $1",
            &[&order],
        )
        .await
        .unwrap();
    let report = spincat::ledger::check(conn.as_ref()).await.unwrap();
    assert!(
        report.problems[1].contains("records 2500 reversed but its reversals sum to 0"),
        "{:?}",
        report.problems
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_gateway_can_take_a_wallet_below_zero() {
    use spincat::ledger::{self, Account, LedgerError, SystemAccount, Transfer, TransferKind};
    use spincat::money::Rupiah;

    let app = TestApp::spawn().await;
    let user = app.register("rani@example.com").await;
    app.fund(&user, 10_000).await;
    let user_id: uuid::Uuid = user.id.parse().unwrap();
    let db = spincat_host::db::NativeDatabase::connect_lazily(&app.database_url, 1).unwrap();
    let conn = spincat::ports::Database::connect(&db).await.unwrap();
    let debit = |kind: TransferKind, key: &str| Transfer {
        key: key.into(),
        kind,
        from: Account::Wallet(user_id),
        to: Account::System(SystemAccount::Refunds),
        amount: Rupiah::new(25_000),
        description: "more than the wallet holds".into(),
        reference: None,
        actor: None,
    };
    for kind in [
        TransferKind::Refund,
        TransferKind::Upgrade,
        TransferKind::Renewal,
        TransferKind::AdminAdjustment,
    ] {
        // Inside a transaction, as every caller posts: a refusal is rolled back with it.
        conn.execute("BEGIN", &[]).await.unwrap();
        let refused = ledger::post(
            conn.as_ref(),
            &debit(kind, kind.as_str()),
            chrono::Utc::now(),
        )
        .await;
        conn.execute("ROLLBACK", &[]).await.unwrap();
        assert!(
            matches!(refused, Err(LedgerError::InsufficientCredit { .. })),
            "{kind:?}: {refused:?}"
        );
    }
    assert_eq!(app.balance(&user.id).await, 10_000);
    ledger::post(
        conn.as_ref(),
        &debit(TransferKind::TopUpReversal, "chargeback"),
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    assert_eq!(
        app.balance(&user.id).await,
        -15_000,
        "a chargeback is imposed on us"
    );
    app.assert_ledger_sound().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_see_only_their_own_wallet_and_can_filter_it() {
    let app = TestApp::spawn().await;
    let owner = app.register("putri@example.com").await;
    let other = app.register("qori@example.com").await;
    let settled = top_up(&app, &owner, 10_000).await;
    top_up(&app, &owner, 20_000).await;
    app.midtrans.deliver(&settled, "settlement-gopay").await;

    let theirs = app
        .get_as("/api/user/wallet/transactions", &other.access_token)
        .await;
    assert_eq!(theirs.data()["pagination"]["total"], 0);
    assert_eq!(
        app.get_as("/api/user/wallet", &other.access_token)
            .await
            .data()["balance"],
        0
    );

    let get = |query: &str| {
        let path = format!("/api/user/wallet/transactions?{query}");
        let token = owner.access_token.clone();
        let app = &app;
        async move { app.get_as(&path, &token).await }
    };
    assert_eq!(get("").await.data()["pagination"]["total"], 2);
    assert_eq!(get("status=SUCCESS").await.data()["pagination"]["total"], 1);
    assert_eq!(get("status=PENDING").await.data()["pagination"]["total"], 1);
    assert_eq!(get("type=REFUND").await.data()["pagination"]["total"], 0);
    assert_eq!(
        get("limit=1&page=2").await.data()["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let today = chrono::Utc::now().date_naive();
    let tomorrow = today.succ_opt().unwrap();
    assert_eq!(
        get(&format!("from={today}&to={today}")).await.data()["pagination"]["total"],
        2
    );
    assert_eq!(
        get(&format!("from={tomorrow}")).await.data()["pagination"]["total"],
        0
    );

    let bad = get("type=GIFT&status=LOST&from=yesterday&to=2020-01-01").await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.invalid_fields(), ["from", "status", "type"]);
    // Filters are the documented words exactly, and an empty one is no filter to drop.
    let loose = get("status=pending&type=&to=").await;
    assert_eq!(loose.invalid_fields(), ["status", "to", "type"]);
    let inverted = get("from=2026-02-01&to=2026-01-01").await;
    assert_eq!(inverted.invalid_fields(), ["to"]);
    assert_eq!(app.get("/api/user/wallet").await.status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_captured_settlement_replayed_as_a_refund_takes_nothing_back() {
    let app = TestApp::spawn().await;
    let user = app.register("rudi@example.com").await;
    let order = top_up(&app, &user, 50_000).await;
    let (status, _) = app.midtrans.deliver(&order, "settlement-gopay").await;
    assert_eq!(status, 200);
    assert_eq!(app.balance(&user.id).await, 50_000);

    // The signature covers order_id, status_code and gross_amount only: the altered body still
    // verifies, and only the status API can tell it is a lie.
    let mut replayed = app.midtrans.notification(&order, "settlement-gopay");
    replayed["transaction_status"] = json!("refund");
    let calls = app.midtrans.status_calls();
    let (status, body) = app.midtrans.post_notification(&order, &replayed).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        app.midtrans.status_calls(),
        calls + 1,
        "confirmed with Midtrans"
    );
    assert_eq!(app.balance(&user.id).await, 50_000);
    assert_eq!(topup_status(&app, &order).await, "SETTLED");

    // The same for a failure claimed about an order that is still open.
    let pending = top_up(&app, &user, 20_000).await;
    app.midtrans.set_status(&pending, "pending", None);
    let mut claimed_failure = app.midtrans.notification(&pending, "deny-gopay");
    claimed_failure["transaction_status"] = json!("deny");
    app.midtrans
        .post_notification(&pending, &claimed_failure)
        .await;
    assert_eq!(topup_status(&app, &pending).await, "PENDING");

    // Even with confirmation of credits turned off, reversals are confirmed.
    let lenient =
        TestApp::spawn_with(Options::default().variable("midtrans_verify_status", "false")).await;
    let user = lenient.register("sari@example.com").await;
    let order = top_up(&lenient, &user, 50_000).await;
    lenient.midtrans.deliver(&order, "settlement-gopay").await;
    let mut replayed = lenient.midtrans.notification(&order, "settlement-gopay");
    replayed["transaction_status"] = json!("chargeback");
    lenient.midtrans.post_notification(&order, &replayed).await;
    assert_eq!(lenient.balance(&user.id).await, 50_000);
    app.assert_ledger_sound().await;
    lenient.assert_ledger_sound().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_in_a_form_midtrans_never_sends_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    let user = app.register("tono@example.com").await;
    let order = top_up(&app, &user, 10_000).await;
    app.midtrans.set_status(&order, "settlement", None);
    let genuine = app
        .midtrans
        .notification(&order, "settlement-bank_transfer");
    let altered = |field: &str, value: Value| {
        let mut body = genuine.clone();
        body[field] = value;
        sign(&mut body, SERVER_KEY);
        body
    };
    for (name, body) in [
        ("leading space", altered("gross_amount", json!(" 10000.00"))),
        ("no cents", altered("gross_amount", json!("10000"))),
        ("a number", {
            let mut body = altered("gross_amount", json!("10000"));
            body["gross_amount"] = json!(10000);
            body
        }),
        (
            "three decimals",
            altered("gross_amount", json!("10000.000")),
        ),
        (
            "NUL in order_id",
            altered("order_id", json!(format!("{order}\u{0}"))),
        ),
        ("not our order id", altered("order_id", json!("order-id"))),
        ("status code", altered("status_code", json!("2000"))),
    ] {
        let (status, response) = app.midtrans.post_notification(&order, &body).await;
        assert_eq!(status, 400, "{name}: {response}");
        assert_eq!(response["error"]["code"], "INVALID_NOTIFICATION", "{name}");
    }
    assert_eq!(app.balance(&user.id).await, 0);
    assert_eq!(topup_status(&app, &order).await, "PENDING");
    let (status, _) = app.midtrans.post_notification(&order, &genuine).await;
    assert_eq!(status, 200);
    assert_eq!(app.balance(&user.id).await, 10_000);
}

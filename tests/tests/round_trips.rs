//! Money writes cost at most three database round trips each (`BEGIN`, one statement, `COMMIT`),
//! counted through the database port on the native adapter, whatever the outcome: the write,
//! its idempotent replay and its refusal.

use spincat::admin::{self, Adjustment, AdminError};
use spincat::auth::{Principal, Role};
use spincat::ledger::LedgerError;
use spincat::money::Rupiah;
use spincat::payments::{self, Applied, GatewayReport};
use spincat::renewals::{self, RenewalSettings};
use spincat::subscriptions::{self, InstanceName, SubscribeRequest, SubscriptionError};
use spincat_tests::counting::CountingDatabase;
use spincat_tests::{bulk, TestApp};
use uuid::Uuid;

const MOST: usize = 3;

/// The statements sent since the last look are at most three.
fn at_most_three(counting: &CountingDatabase, write: &str) {
    let sent = counting.take_round_trips();
    println!("{write}: {sent} round trips");
    assert!(sent <= MOST, "{write}: {sent} round trips");
}

fn id(text: &str) -> Uuid {
    Uuid::parse_str(text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_is_bought_refused_and_replayed_in_three_round_trips() {
    let app = TestApp::spawn().await;
    let counting = CountingDatabase::connect_lazily(&app.database_url);
    let conn = spincat::ports::Database::connect(&counting).await.unwrap();
    let ana = app.register("ana@example.com").await;
    app.fund(&ana, 60_000).await;
    let basic = id(&app.plan_id("n8n", "Basic").await);
    let request = SubscribeRequest {
        plan_id: basic,
        instance_name: Some(InstanceName::parse("My Flows").unwrap()),
        idempotency_key: Some("first".into()),
    };
    counting.take_round_trips();

    let (bought, created) =
        subscriptions::subscribe(conn.as_ref(), id(&ana.id), &request, app.now())
            .await
            .unwrap();
    assert!(created);
    at_most_three(&counting, "subscribe");
    assert_eq!(app.balance(&ana.id).await, 10_000);
    let instance: (String, String) = app
        .db
        .query_one(
            "SELECT name, subdomain FROM instances WHERE subscription_id = $1",
            &[&bought],
        )
        .await
        .map(|row| (row.get(0), row.get(1)))
        .unwrap();
    assert_eq!(instance.0, "My Flows");
    assert!(instance.1.starts_with("my-flows-"), "{}", instance.1);

    let replay = subscriptions::subscribe(conn.as_ref(), id(&ana.id), &request, app.now())
        .await
        .unwrap();
    assert_eq!(replay, (bought, false));
    at_most_three(&counting, "subscribe, replayed");

    // Budi cannot pay for a plan; a second service's plan for Ana is refused as a duplicate.
    let budi = app.register("budi@example.com").await;
    let unpaid = SubscribeRequest {
        plan_id: basic,
        instance_name: None,
        idempotency_key: None,
    };
    let refused = subscriptions::subscribe(conn.as_ref(), id(&budi.id), &unpaid, app.now()).await;
    assert!(
        matches!(
            refused,
            Err(SubscriptionError::Ledger(
                LedgerError::InsufficientCredit { .. }
            ))
        ),
        "{refused:?}"
    );
    at_most_three(&counting, "subscribe, wallet short");
    let twice = subscriptions::subscribe(conn.as_ref(), id(&ana.id), &unpaid, app.now()).await;
    assert!(
        matches!(
            twice,
            Err(SubscriptionError::AlreadySubscribed { existing: Some(existing) }) if existing == bought
        ),
        "{twice:?}"
    );
    at_most_three(&counting, "subscribe, already subscribed");

    // The refusals changed nothing: one subscription, one slot taken, one charge.
    assert_eq!(app.count("SELECT count(*) FROM subscriptions").await, 1);
    assert_eq!(app.count("SELECT count(*) FROM instances").await, 1);
    assert_eq!(
        app.count("SELECT count(*) FROM ledger_transfers WHERE kind = 'SUBSCRIPTION'")
            .await,
        1
    );
    app.assert_quota_consistent().await;
    app.assert_ledger_sound().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wallet_adjustment_is_made_refused_and_replayed_in_three_round_trips() {
    let app = TestApp::spawn().await;
    let counting = CountingDatabase::connect_lazily(&app.database_url);
    let conn = spincat::ports::Database::connect(&counting).await.unwrap();
    let root = app.admin("root@example.com").await;
    let ana = app.register("ana@example.com").await;
    let adjustment = |amount: i64, key: &str| Adjustment {
        amount,
        reason: "goodwill".into(),
        idempotency_key: Some(key.into()),
    };
    let adjust = |adjustment: Adjustment| {
        admin::adjust_wallet(
            conn.as_ref(),
            id(&root.id),
            id(&ana.id),
            adjustment,
            app.now(),
        )
    };
    counting.take_round_trips();

    let credited = adjust(adjustment(40_000, "a")).await.unwrap();
    assert_eq!(
        (credited["balance"].as_i64(), credited["replayed"].as_bool()),
        (Some(40_000), Some(false))
    );
    at_most_three(&counting, "adjustment");

    let replayed = adjust(adjustment(40_000, "a")).await.unwrap();
    assert_eq!(replayed["transferId"], credited["transferId"]);
    assert_eq!(replayed["replayed"], true);
    at_most_three(&counting, "adjustment, replayed");

    let reused = adjust(adjustment(-1, "a")).await;
    assert!(
        matches!(reused, Err(AdminError::IdempotencyKeyReused)),
        "{reused:?}"
    );
    at_most_three(&counting, "adjustment, key reused");
    let overdrawn = adjust(adjustment(-40_001, "b")).await;
    assert!(
        matches!(
            overdrawn,
            Err(AdminError::Ledger(LedgerError::InsufficientCredit { .. }))
        ),
        "{overdrawn:?}"
    );
    at_most_three(&counting, "adjustment, wallet short");
    let nobody = admin::adjust_wallet(
        conn.as_ref(),
        id(&root.id),
        Uuid::new_v4(),
        adjustment(5, "c"),
        app.now(),
    )
    .await;
    assert!(
        matches!(nobody, Err(AdminError::UserNotFound)),
        "{nobody:?}"
    );

    assert_eq!(app.balance(&ana.id).await, 40_000);
    assert_eq!(
        app.count("SELECT count(*) FROM audit_log WHERE action = 'wallet.adjust'")
            .await,
        1
    );
    app.assert_ledger_sound().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_settlement_credits_the_wallet_once_in_three_round_trips_or_fewer() {
    let app = TestApp::spawn().await;
    let counting = CountingDatabase::connect_lazily(&app.database_url);
    let conn = spincat::ports::Database::connect(&counting).await.unwrap();
    let ana = app.register("ana@example.com").await;
    let order = app
        .post_as(
            "/api/user/wallet/topup",
            &ana.access_token,
            serde_json::json!({ "amount": 25_000 }),
        )
        .await;
    let order_id = order.data()["orderId"].as_str().unwrap().to_owned();
    let report = GatewayReport::from_json(&serde_json::json!({
        "order_id": order_id,
        "status_code": "200",
        "gross_amount": "25000.00",
        "transaction_status": "settlement",
        "payment_type": "bank_transfer",
        "transaction_id": Uuid::new_v4().to_string(),
    }))
    .unwrap();
    counting.take_round_trips();

    let applied = payments::apply_report(conn.as_ref(), &report, app.now()).await;
    assert!(matches!(applied, Ok(Applied::Credited)), "{applied:?}");
    at_most_three(&counting, "settlement");
    let again = payments::apply_report(conn.as_ref(), &report, app.now()).await;
    assert!(matches!(again, Ok(Applied::AlreadySettled)), "{again:?}");
    at_most_three(&counting, "settlement, duplicate");

    assert_eq!(app.balance(&ana.id).await, 25_000);
    assert_eq!(
        app.count("SELECT count(*) FROM notifications WHERE kind = 'TOP_UP_SETTLED'")
            .await,
        1
    );
    app.assert_ledger_sound().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_takes_the_money_back_once_in_three_round_trips_or_fewer() {
    let app = TestApp::spawn().await;
    let counting = CountingDatabase::connect_lazily(&app.database_url);
    let conn = spincat::ports::Database::connect(&counting).await.unwrap();
    let ana = app.register("ana@example.com").await;
    let order = app
        .post_as(
            "/api/user/wallet/topup",
            &ana.access_token,
            serde_json::json!({ "amount": 25_000 }),
        )
        .await;
    let order_id = order.data()["orderId"].as_str().unwrap().to_owned();
    let report = |status: &str, reversed: Option<&str>| {
        GatewayReport::from_json(&serde_json::json!({
            "order_id": order_id,
            "status_code": "200",
            "gross_amount": "25000.00",
            "transaction_status": status,
            "refund_amount": reversed,
        }))
        .unwrap()
    };
    let paid = payments::apply_report(conn.as_ref(), &report("settlement", None), app.now()).await;
    assert!(matches!(paid, Ok(Applied::Credited)), "{paid:?}");
    counting.take_round_trips();

    let partial = report("partial_refund", Some("10000.00"));
    let first = payments::apply_report(conn.as_ref(), &partial, app.now()).await;
    assert_eq!(
        first.unwrap(),
        Applied::Reversed {
            amount: Rupiah::new(10_000)
        }
    );
    at_most_three(&counting, "partial refund");
    let again = payments::apply_report(conn.as_ref(), &partial, app.now()).await;
    assert!(matches!(again, Ok(Applied::Ignored { .. })), "{again:?}");
    at_most_three(&counting, "partial refund, duplicate");
    let rest = payments::apply_report(conn.as_ref(), &report("refund", None), app.now()).await;
    assert_eq!(
        rest.unwrap(),
        Applied::Reversed {
            amount: Rupiah::new(15_000)
        }
    );
    at_most_three(&counting, "refund of the rest");

    assert_eq!(app.balance(&ana.id).await, 0);
    app.assert_ledger_sound().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancellation_refunds_the_unused_time_once_in_three_round_trips_or_fewer() {
    let app = TestApp::spawn().await;
    let counting = CountingDatabase::connect_lazily(&app.database_url);
    let conn = spincat::ports::Database::connect(&counting).await.unwrap();
    let ana = app.register("ana@example.com").await;
    app.fund(&ana, 200_000).await;
    let n8n = app
        .subscribe(&ana, &app.plan_id("n8n", "Basic").await)
        .await;
    let ghost = app
        .subscribe(&ana, &app.plan_id("ghost", "Creator").await)
        .await;
    let (n8n, ghost) = (
        id(n8n.data()["id"].as_str().unwrap()),
        id(ghost.data()["id"].as_str().unwrap()),
    );
    let before = app.balance(&ana.id).await;
    let owner = Principal {
        user_id: id(&ana.id),
        role: Role::User,
    };
    // Half-way through the month: the domain is called directly, with its own now.
    let later_on = app.now() + chrono::Duration::days(15);
    counting.take_round_trips();

    let later = subscriptions::cancel(conn.as_ref(), owner, ghost, false, true, later_on)
        .await
        .unwrap();
    assert_eq!(later["refunded"], 0);
    at_most_three(&counting, "cancel at the period's end");
    let now = subscriptions::cancel(conn.as_ref(), owner, n8n, true, true, later_on)
        .await
        .unwrap();
    let refunded = now["refunded"].as_i64().unwrap();
    assert!((20_000..30_000).contains(&refunded), "{now}");
    at_most_three(&counting, "cancel now, refunded");
    let again = subscriptions::cancel(conn.as_ref(), owner, n8n, true, true, later_on)
        .await
        .unwrap();
    assert_eq!(
        (again["status"].as_str(), again["refunded"].as_i64()),
        (Some("CANCELLED"), Some(0))
    );
    at_most_three(&counting, "cancel again");

    assert_eq!(app.balance(&ana.id).await, before + refunded);
    app.assert_quota_consistent().await;
    app.assert_ledger_sound().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewal_run_charges_each_period_in_three_round_trips() {
    let app = TestApp::spawn().await;
    let counting = CountingDatabase::connect_lazily(&app.database_url);
    let now = app.now();
    bulk::seed_due_subscriptions(&app.db, "paying", 40, 50_000, now).await;
    bulk::seed_due_subscriptions(&app.db, "short", 5, 10_000, now).await;
    let settings = RenewalSettings {
        grace_period_days: 7,
        suspension_retention_days: 14,
        low_credit_warning_days: 3,
        batch_size: 1_000,
        runners: 1,
    };
    counting.take_round_trips();

    let run = renewals::run(&counting, &settings, now).await.unwrap();
    assert_eq!(
        (run.renewed, run.in_grace, run.failed),
        (40, 5, 0),
        "{run:?}"
    );
    let sent = counting.take_round_trips();
    // Claims of up to 32 due subscriptions (45 due: two, and a last one that finds none), a
    // charge in three, a grace period started in one.
    let claims = 3;
    println!("a renewal run over 45 due subscriptions: {sent} round trips");
    assert!(sent <= claims + MOST * 40 + 5, "{sent} round trips");

    assert_eq!(
        app.count("SELECT count(*) FROM notifications WHERE kind = 'RENEWED'")
            .await,
        40
    );
    assert_eq!(
        app.count("SELECT count(*) FROM notifications WHERE kind = 'GRACE_STARTED'")
            .await,
        5
    );
    assert_eq!(
        app.count("SELECT coalesce(sum(balance), 0)::bigint FROM ledger_accounts WHERE user_id IS NOT NULL")
            .await,
        5 * 10_000,
        "the paying wallets paid one period each, the short ones nothing"
    );
    app.assert_ledger_sound().await;
}

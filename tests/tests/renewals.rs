//! Auto-renewal as time passes: a year of renewals, grace, suspension, expiry, resumption, gaps,
//! crashes and overlapping runners; the ledger checked after each. Time passes through
//! `TestApp::pass`, so these run under Spin too; the year at fixed dates needs the test clock.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{json, Value};
use spincat_tests::{bulk, Options, TestApp, TestUser, PASSWORD};

async fn at(app: &TestApp, when: DateTime<Utc>) {
    app.clock.set(when);
}

/// A user with a running n8n Basic (50 000 a month) that began at `start`.
async fn subscriber(app: &TestApp, email: &str, funds: i64) -> (TestUser, String) {
    let user = app.register(email).await;
    app.fund(&user, funds).await;
    let plan = app.plan_id("n8n", "Basic").await;
    let created = app.subscribe(&user, &plan).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    (user, created.data()["id"].as_str().unwrap().to_owned())
}

async fn renew(app: &TestApp) -> Value {
    app.run_job("renewals").await.data()["subscriptions"].clone()
}

async fn subscription(
    app: &TestApp,
    id: &str,
) -> (String, DateTime<Utc>, i32, Option<DateTime<Utc>>) {
    let row = app
        .db
        .query_one(
            "SELECT status, period_end, failed_charges, grace_ends_at FROM subscriptions WHERE id = $1::text::uuid",
            &[&id],
        )
        .await
        .unwrap();
    let end: chrono::NaiveDateTime = row.get(1);
    let grace: Option<chrono::NaiveDateTime> = row.get(3);
    (
        row.get(0),
        end.and_utc(),
        row.get(2),
        grace.map(|g| g.and_utc()),
    )
}

async fn notification_kinds(app: &TestApp, user: &TestUser) -> Vec<String> {
    let rows = app
        .db
        .query(
            "SELECT kind FROM notifications WHERE user_id = $1::text::uuid ORDER BY created_at, kind",
            &[&user.id],
        )
        .await
        .unwrap();
    rows.iter().map(|r| r.get(0)).collect()
}

async fn replicas(app: &TestApp, user: &TestUser, subscription: &str) -> Option<i64> {
    let instance: String = app
        .db
        .query_one(
            "SELECT id::text FROM instances WHERE subscription_id = $1::text::uuid",
            &[&subscription],
        )
        .await
        .unwrap()
        .get(0);
    let ns = format!("spincat-u-{}", user.id.replace('-', ""));
    app.kube
        .object(
            "deployments",
            &ns,
            &format!("i-{}", instance.replace('-', "")),
        )
        .map(|d| d["spec"]["replicas"].as_i64().unwrap())
}

/// `later` is one calendar month after `earlier`: the same time of day, 28 to 31 days on. A
/// period extended from the day it was paid, days after it fell due, would be longer.
fn assert_a_month_after(earlier: DateTime<Utc>, later: DateTime<Utc>) {
    assert!(
        (28..=31).any(|days| later - earlier == Duration::days(days)),
        "{later} is not a calendar month after {earlier}"
    );
}

fn utc(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 9, 0, 0).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_year_of_monthly_renewals_keeps_the_anchor_day_through_a_leap_february() {
    if spincat_tests::spin::skip("needs the clock at fixed dates (January 31st, a leap February), which a Spin process does not share") {
        return;
    }
    let app = TestApp::spawn().await;
    at(&app, utc(2027, 1, 31)).await;
    let (user, id) = subscriber(&app, "ani@example.com", 50_000 * 14).await;
    let expected = [
        utc(2027, 3, 31),
        utc(2027, 4, 30),
        utc(2027, 5, 31),
        utc(2027, 6, 30),
        utc(2027, 7, 31),
        utc(2027, 8, 31),
        utc(2027, 9, 30),
        utc(2027, 10, 31),
        utc(2027, 11, 30),
        utc(2027, 12, 31),
        utc(2028, 1, 31),
        utc(2028, 2, 29),
        utc(2028, 3, 31),
    ];
    assert_eq!(subscription(&app, &id).await.1, utc(2027, 2, 28));
    for end in expected {
        let due = subscription(&app, &id).await.1;
        at(&app, due + Duration::hours(1)).await;
        let run = renew(&app).await;
        assert_eq!(run["renewed"], 1, "{run}");
        assert_eq!(subscription(&app, &id).await.1, end);
        // A second run the same day charges nothing.
        assert_eq!(renew(&app).await["renewed"], 0);
    }
    assert_eq!(
        app.balance(&user.id).await,
        0,
        "fourteen months paid, one at subscribe"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM ledger_transfers WHERE kind = 'RENEWAL'")
            .await,
        13
    );
    let renewed = notification_kinds(&app, &user)
        .await
        .iter()
        .filter(|k| *k == "RENEWED")
        .count();
    assert_eq!(renewed, 13);
    app.assert_ledger_sound().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_wallet_gets_grace_then_suspension_then_expiry() {
    let app = TestApp::spawn().await;
    let (user, id) = subscriber(&app, "budi@example.com", 60_000).await;
    assert_eq!(replicas(&app, &user, &id).await, Some(1));
    let due = subscription(&app, &id).await.1;

    app.pass_until(due + Duration::hours(2)).await;
    let run = renew(&app).await;
    assert_eq!(run["inGrace"], 1, "{run}");
    let (status, end, failed, grace) = subscription(&app, &id).await;
    assert_eq!(
        (status.as_str(), failed, grace),
        ("ACTIVE", 1, Some(end + Duration::days(7)))
    );
    assert!(end < app.now(), "the period was not extended");
    assert_eq!(app.balance(&user.id).await, 10_000, "nothing charged");

    // Three days after the due date.
    app.pass(Duration::days(3) - Duration::hours(2)).await;
    assert_eq!(renew(&app).await["inGrace"], 1);
    assert_eq!(subscription(&app, &id).await.2, 2, "retried, and counted");

    // Seven days and an hour after it: grace is over.
    app.pass(Duration::days(4) + Duration::hours(1)).await;
    let run = renew(&app).await;
    assert_eq!(run["suspended"], 1, "{run}");
    assert_eq!(subscription(&app, &id).await.0, "SUSPENDED");
    assert_eq!(
        replicas(&app, &user, &id).await,
        Some(0),
        "scaled to zero, data kept"
    );
    let status: String = app
        .db
        .query_one("SELECT status FROM instances", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(status, "SUSPENDED");

    // Fourteen days of suspension later.
    app.pass(Duration::days(14) + Duration::hours(1)).await;
    let run = renew(&app).await;
    assert_eq!(run["expired"], 1, "{run}");
    assert_eq!(subscription(&app, &id).await.0, "EXPIRED");
    assert_eq!(replicas(&app, &user, &id).await, None, "resources deleted");
    assert_eq!(
        app.count("SELECT quota_used::bigint FROM plans WHERE name = 'Basic' AND tier = 'BASIC'")
            .await,
        0
    );
    assert_eq!(
        notification_kinds(&app, &user).await,
        [
            "TOP_UP_SETTLED",
            "GRACE_STARTED",
            "GRACE_REMINDER",
            "SUSPENDED",
            "EXPIRED"
        ]
    );
    app.assert_ledger_sound().await;
    app.assert_quota_consistent().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topping_up_during_grace_renews_from_the_old_period_end() {
    let app = TestApp::spawn().await;
    let (user, id) = subscriber(&app, "citra@example.com", 50_000).await;
    let due = subscription(&app, &id).await.1;
    app.pass_until(due + Duration::hours(1)).await;
    renew(&app).await;
    app.pass(Duration::days(4) - Duration::hours(1)).await;
    let user = app.login(&user.email, PASSWORD).await;
    app.fund(&user, 50_000).await;
    let old_end = subscription(&app, &id).await.1;
    let run = renew(&app).await;
    assert_eq!(run["renewed"], 1, "{run}");
    let (status, end, failed, grace) = subscription(&app, &id).await;
    assert_eq!((status.as_str(), failed, grace), ("ACTIVE", 0, None));
    assert_a_month_after(old_end, end);
    assert_eq!(app.balance(&user.id).await, 0);
    app.assert_ledger_sound().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topping_up_during_suspension_renews_and_resumes() {
    let app = TestApp::spawn_with(Options::default().variable("grace_period_days", "0")).await;
    let (user, id) = subscriber(&app, "dewi@example.com", 50_000).await;
    let due = subscription(&app, &id).await.1;
    app.pass_until(due + Duration::hours(1)).await;
    let run = renew(&app).await;
    assert_eq!(
        run["suspended"], 1,
        "grace disabled: suspended at once: {run}"
    );
    assert_eq!(replicas(&app, &user, &id).await, Some(0));

    app.pass(Duration::days(5) - Duration::hours(1)).await;
    let user = app.login(&user.email, PASSWORD).await;
    app.fund(&user, 60_000).await;
    let old_end = subscription(&app, &id).await.1;
    let run = renew(&app).await;
    assert_eq!(
        (run["renewed"].clone(), run["resumed"].clone()),
        (json!(1), json!(1)),
        "{run}"
    );
    assert_eq!(subscription(&app, &id).await.0, "ACTIVE");
    assert_a_month_after(old_end, subscription(&app, &id).await.1);
    assert_eq!(replicas(&app, &user, &id).await, Some(1));
    assert_eq!(app.balance(&user.id).await, 10_000);
    app.assert_ledger_sound().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn free_plans_renew_for_nothing_and_cancellations_end_at_the_period_end() {
    let app = TestApp::spawn().await;
    let user = app.register("eka@example.com").await;
    let free = app.plan_id("ghost", "Starter").await;
    let created = app.subscribe(&user, &free).await;
    let free_id = created.data()["id"].as_str().unwrap().to_owned();
    app.fund(&user, 25_000).await;
    let db = app.plan_id("postgresql", "Basic DB").await;
    let created = app.subscribe(&user, &db).await;
    let db_id = created.data()["id"].as_str().unwrap().to_owned();
    let cancel = app.cancel(&user, &db_id, false).await;
    assert_eq!(cancel.status, 200);

    let free_end = subscription(&app, &free_id).await.1;
    let db_end = subscription(&app, &db_id).await.1;
    app.pass_until(free_end.max(db_end) + Duration::hours(1))
        .await;
    let free_end = subscription(&app, &free_id).await.1;
    let run = renew(&app).await;
    assert_eq!(
        (run["renewed"].clone(), run["cancelled"].clone()),
        (json!(1), json!(1)),
        "{run}"
    );
    assert_a_month_after(free_end, subscription(&app, &free_id).await.1);
    assert_eq!(subscription(&app, &db_id).await.0, "CANCELLED");
    assert_eq!(app.balance(&user.id).await, 0, "no charge for either");
    assert_eq!(
        app.count("SELECT count(*) FROM instances WHERE status = 'TERMINATED'")
            .await,
        1
    );
    app.assert_ledger_sound().await;
    app.assert_quota_consistent().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missed_runs_catch_up_period_by_period_without_double_charges() {
    let app = TestApp::spawn().await;
    let (user, id) = subscriber(&app, "fajar@example.com", 50_000 * 6).await;

    // Ten days without a run after the due date: one period due, charged once.
    let due = subscription(&app, &id).await.1;
    app.pass_until(due + Duration::days(10)).await;
    let due = subscription(&app, &id).await.1;
    assert_eq!(renew(&app).await["renewed"], 1);
    let end = subscription(&app, &id).await.1;
    assert_a_month_after(due, end);

    // 97 days without a run after that: the periods from that end and one, two and three
    // months later are due (four months is at least 120 days), and each is charged once.
    app.pass_until(end + Duration::days(97)).await;
    let end = subscription(&app, &id).await.1;
    let run = renew(&app).await;
    assert_eq!(run["renewed"], 4, "{run}");
    let caught_up = subscription(&app, &id).await.1 - end;
    assert!(
        (120..=123).any(|days| caught_up == Duration::days(days)),
        "four calendar months on, not {caught_up}"
    );
    assert_eq!(app.balance(&user.id).await, 0);
    let keys = app
        .count(
            "SELECT count(DISTINCT idempotency_key) FROM ledger_transfers WHERE kind = 'RENEWAL'",
        )
        .await;
    assert_eq!(keys, 5);
    app.assert_ledger_sound().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runners_over_the_same_thousand_due_subscriptions_charge_each_once() {
    let app = TestApp::spawn().await;
    let now = app.clock_now();
    bulk::seed_due_subscriptions(&app.db, "pair", 1_000, 50_000, now).await;
    let (a, b) = tokio::join!(renew(&app), renew(&app));
    assert_eq!(
        a["renewed"].as_u64().unwrap() + b["renewed"].as_u64().unwrap(),
        1_000,
        "{a} {b}"
    );
    assert!(
        a["renewed"].as_u64().unwrap() > 0 && b["renewed"].as_u64().unwrap() > 0,
        "both shared the work: {a} {b}"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM ledger_transfers WHERE kind = 'RENEWAL'")
            .await,
        1_000
    );
    assert_eq!(
        app.count(
            "SELECT count(*) FROM ledger_accounts WHERE user_id IS NOT NULL AND balance <> 0"
        )
        .await,
        0
    );
    assert_eq!(renew(&app).await["renewed"], 0);
    app.assert_ledger_sound().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runner_killed_half_way_is_finished_by_the_next_run() {
    let mut app = TestApp::spawn().await;
    let now = app.clock_now();
    bulk::seed_due_subscriptions(&app.db, "killed", 600, 50_000, now).await;
    let cut_off = app
        .http
        .post(app.url("/internal/jobs/renewals"))
        .bearer_auth(spincat_tests::JOB_TOKEN)
        .timeout(StdDuration::from_millis(300))
        .send()
        .await;
    assert!(cut_off.is_err(), "the runner died before finishing");
    app.crash().await;
    tokio::time::sleep(StdDuration::from_millis(200)).await;
    let done = app
        .count("SELECT count(*) FROM ledger_transfers WHERE kind = 'RENEWAL'")
        .await;
    assert!(
        done > 0 && done < 600,
        "{done} renewed before the runner died"
    );
    let rest = renew(&app).await;
    assert_eq!(rest["renewed"].as_i64().unwrap(), 600 - done, "{rest}");
    assert_eq!(
        app.count("SELECT count(*) FROM ledger_transfers WHERE kind = 'RENEWAL'")
            .await,
        600
    );
    app.assert_ledger_sound().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_failing_during_suspension_is_retried_without_losing_state() {
    let app = TestApp::spawn_with(Options::default().variable("grace_period_days", "0")).await;
    let (user, id) = subscriber(&app, "gita@example.com", 50_000).await;
    let due = subscription(&app, &id).await.1;
    app.pass_until(due + Duration::hours(1)).await;
    app.kube.set_down(true);
    let run = app.run_job("renewals").await;
    assert_eq!(run.data()["subscriptions"]["suspended"], 1);
    assert_eq!(run.data()["instances"]["errors"], 1, "{}", run.body);
    assert_eq!(subscription(&app, &id).await.0, "SUSPENDED");
    app.kube.set_down(false);
    assert_eq!(
        replicas(&app, &user, &id).await,
        Some(1),
        "the cluster has not heard yet"
    );
    let run = app.run_job("renewals").await;
    assert_eq!(
        run.data()["subscriptions"]["suspended"],
        0,
        "suspended once"
    );
    assert_eq!(replicas(&app, &user, &id).await, Some(0));
    assert_eq!(
        notification_kinds(&app, &user)
            .await
            .iter()
            .filter(|k| *k == "SUSPENDED")
            .count(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_are_listed_read_warned_and_delivered_once() {
    let receiver = Receiver::start().await;
    let app = TestApp::spawn_with(
        Options::default()
            .variable("notification_webhook_url", receiver.url.clone())
            .variable("notification_webhook_origin", receiver.origin()),
    )
    .await;
    let (user, id) = subscriber(&app, "hana@example.com", 60_000).await;
    let other = app.register("ivan@example.com").await;

    // Two days before the renewal (warnings go out three days ahead) the wallet (10 000) will
    // not cover 50 000.
    let due = subscription(&app, &id).await.1;
    app.pass_until(due - Duration::days(2)).await;
    let warned: Vec<Value> = vec![
        app.run_job("notifications").await.data()["lowCreditWarnings"].clone(),
        app.run_job("notifications").await.data()["lowCreditWarnings"].clone(),
    ];
    assert_eq!(warned, [json!(1), json!(0)], "warned once");
    let user = app.login(&user.email, PASSWORD).await;
    let other = app.login(&other.email, PASSWORD).await;
    let list = app
        .get_as("/api/user/notifications", &user.access_token)
        .await;
    let kinds: Vec<&str> = list.data()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["LOW_CREDIT", "TOP_UP_SETTLED"],
        "newest first, each once"
    );
    assert_eq!(list.data()["items"][0]["subscriptionId"], id);
    assert!(list.data()["items"][0]["body"]
        .as_str()
        .unwrap()
        .contains("50000"));

    let first = list.data()["items"][0]["id"].as_str().unwrap().to_owned();
    let read = app
        .post_as(
            &format!("/api/user/notifications/{first}/read"),
            &user.access_token,
            json!({}),
        )
        .await;
    assert_eq!(read.status, 200);
    let unread = app
        .get_as("/api/user/notifications?unread=true", &user.access_token)
        .await;
    assert_eq!(unread.data()["pagination"]["total"], 1);
    let theirs = app
        .post_as(
            &format!("/api/user/notifications/{first}/read"),
            &other.access_token,
            json!({}),
        )
        .await;
    assert_eq!(theirs.status, 404);
    assert_eq!(
        app.get_as("/api/user/notifications", &other.access_token)
            .await
            .data()["pagination"]["total"],
        0
    );

    assert_eq!(receiver.received().len(), 2, "delivered to the webhook");
    receiver.fail(true);
    let due = subscription(&app, &id).await.1;
    app.pass_until(due + Duration::hours(1)).await;
    renew(&app).await;
    let run = app.run_job("notifications").await;
    assert_eq!(run.data()["deliveryFailed"], 1);
    receiver.fail(false);
    let run = app.run_job("notifications").await;
    assert_eq!(run.data()["delivered"], 1);
    let kinds: Vec<String> = receiver
        .received()
        .iter()
        .map(|n| n["kind"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kinds, ["TOP_UP_SETTLED", "LOW_CREDIT", "GRACE_STARTED"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_reach_the_webhook_through_the_shipped_allow_list() {
    // spin.toml as shipped, loopback not added: the webhook is reachable only because its
    // origin is a variable that allowed_outbound_hosts lists, as an operator would set it.
    let receiver = Receiver::start().await;
    let app = TestApp::spawn_with(Options {
        manifest: spincat_tests::spin::shipped_manifest(),
        ..Options::default()
            .variable("notification_webhook_url", receiver.url.clone())
            .variable("notification_webhook_origin", receiver.origin())
    })
    .await;
    let user = app.register("hook@example.com").await;
    // The shipped allow-list keeps the Midtrans double out, so the event is put in place.
    app.db
        .execute(
            "INSERT INTO notifications (user_id, kind, title, body, dedupe_key, created_at)
             VALUES ($1::text::uuid, 'TOP_UP_SETTLED', 'Top-up received', '50000 rupiah',
                     'test:hook', now() AT TIME ZONE 'utc')",
            &[&user.id],
        )
        .await
        .unwrap();
    let run = app.run_job("notifications").await;
    assert_eq!(
        (
            run.data()["delivered"].clone(),
            run.data()["deliveryFailed"].clone()
        ),
        (json!(1), json!(0)),
        "{:?}",
        run.body
    );
    let received = receiver.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0]["userId"], user.id.as_str());
    assert_eq!(received[0]["kind"], "TOP_UP_SETTLED");
    assert_eq!(
        app.run_job("notifications").await.data()["delivered"],
        0,
        "once"
    );
}

/// What the receiver got, and whether it refuses.
type Inbox = std::sync::Arc<std::sync::Mutex<(Vec<Value>, bool)>>;

/// An outbound webhook receiver that can be told to refuse.
struct Receiver {
    url: String,
    state: Inbox,
}

impl Receiver {
    async fn start() -> Self {
        use axum::extract::State;
        let state: Inbox = std::sync::Arc::new(std::sync::Mutex::new((Vec::new(), false)));
        let app = axum::Router::new()
            .route(
                "/hook",
                axum::routing::post(
                    |State(state): State<Inbox>, axum::Json(body): axum::Json<Value>| async move {
                        let mut state = state.lock().unwrap();
                        if state.1 {
                            return axum::http::StatusCode::SERVICE_UNAVAILABLE;
                        }
                        state.0.push(body);
                        axum::http::StatusCode::NO_CONTENT
                    },
                ),
            )
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, state }
    }

    /// What `notification_webhook_origin` is set to for it.
    fn origin(&self) -> String {
        self.url.trim_end_matches("/hook").to_owned()
    }

    fn received(&self) -> Vec<Value> {
        self.state.lock().unwrap().0.clone()
    }

    fn fail(&self, fail: bool) {
        self.state.lock().unwrap().1 = fail;
    }
}

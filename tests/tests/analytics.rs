//! Analytics against a fixture whose answers are computed by hand, with events placed on both
//! sides of a Jakarta midnight (17:00 UTC).
//!
//! - Ana, 2027-03-31 16:59:59 UTC (Jakarta: March 31, 23:59:59): tops up 100 000 and subscribes
//!   to n8n Basic for 50 000. Her period runs to April 30 16:59:59 UTC (30 days).
//! - Budi, one second later (Jakarta: April 1, 00:00:00): tops up 200 000 and subscribes to Ghost
//!   Creator for 75 000.
//! - Ana cancels at 2027-04-16 16:59:59 UTC (Jakarta: April 16): 14 of 30 days are left, so she
//!   gets 50 000 x 14 / 30 = 23 333.33, rounded to 23 333.
//!
//! So for April (Jakarta): top-ups 200 000; charges 75 000; refunds 23 333; recognised 51 667.
//! March 31 alone: top-ups 100 000, charges 50 000. New subscriptions in April: 1 (Budi's); churned:
//! 1 (Ana's); active now: 1; MRR 75 000. New users in April: 1; with a live subscription: 1;
//! holding credit: 2 (Ana 73 333, Budi 125 000; the administrator 0).

use chrono::{TimeZone, Utc};
use serde_json::{json, Value};
use spincat_tests::{TestApp, TestUser, PASSWORD};

async fn report(app: &TestApp, admin: &TestUser, path: &str) -> Value {
    let response = app
        .get_as(&format!("/api/admin/analytics/{path}"), &admin.access_token)
        .await;
    assert_eq!(response.status, 200, "{path}: {:?}", response.body);
    response.data()["report"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_matches_the_hand_computed_fixture() {
    if spincat_tests::spin::skip("needs the clock at fixed instants (events on both sides of a Jakarta midnight, checked against a fixture), which a Spin process does not share") {
        return;
    }
    let app = TestApp::spawn().await;
    app.clock
        .set(Utc.with_ymd_and_hms(2027, 3, 1, 0, 0, 0).unwrap());
    let admin = app.admin("root@example.com").await;

    app.clock
        .set(Utc.with_ymd_and_hms(2027, 3, 31, 16, 59, 59).unwrap());
    let ana = app.register("ana@example.com").await;
    app.fund(&ana, 100_000).await;
    let basic = app.plan_id("n8n", "Basic").await;
    let ana_sub = app.subscribe(&ana, &basic).await;
    let ana_sub = ana_sub.data()["id"].as_str().unwrap().to_owned();

    app.clock
        .set(Utc.with_ymd_and_hms(2027, 3, 31, 17, 0, 0).unwrap());
    let budi = app.register("budi@example.com").await;
    app.fund(&budi, 200_000).await;
    let creator = app.plan_id("ghost", "Creator").await;
    let created = app.subscribe(&budi, &creator).await;
    assert_eq!(created.status, 201);

    app.clock
        .set(Utc.with_ymd_and_hms(2027, 4, 16, 16, 59, 59).unwrap());
    let ana = app.login(&ana.email, PASSWORD).await;
    let cancelled = app.cancel(&ana, &ana_sub, true).await;
    assert_eq!(cancelled.data()["refunded"], 23_333);

    app.clock
        .set(Utc.with_ymd_and_hms(2027, 5, 1, 0, 0, 0).unwrap());
    let admin = app.login(&admin.email, PASSWORD).await;
    let april = "from=2027-04-01&to=2027-04-30";

    let month = report(&app, &admin, &format!("revenue?{april}&granularity=month")).await;
    let april_totals =
        json!({"topUps": 200_000, "charges": 75_000, "refunds": 23_333, "recognised": 51_667});
    assert_eq!(month["totals"], april_totals);
    let mut bucket = april_totals.clone();
    bucket["period"] = json!("2027-04-01");
    assert_eq!(month["buckets"], json!([bucket]));

    let days = report(&app, &admin, &format!("revenue?{april}&granularity=day")).await;
    assert_eq!(
        days["buckets"],
        json!([
            {"period": "2027-04-01", "topUps": 200_000, "charges": 75_000, "refunds": 0, "recognised": 75_000},
            {"period": "2027-04-16", "topUps": 0, "charges": 0, "refunds": 23_333, "recognised": -23_333},
        ])
    );
    let weeks = report(&app, &admin, &format!("revenue?{april}&granularity=week")).await;
    let periods: Vec<&str> = weeks["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["period"].as_str().unwrap())
        .collect();
    assert_eq!(
        periods,
        ["2027-03-29", "2027-04-12"],
        "weeks start on Monday"
    );
    assert_eq!(
        days["byService"],
        json!([
            {"service": "ghost", "topUps": 0, "charges": 75_000, "refunds": 0, "recognised": 75_000},
            {"service": "n8n", "topUps": 0, "charges": 0, "refunds": 23_333, "recognised": -23_333},
        ])
    );
    let march_31 = report(&app, &admin, "revenue?from=2027-03-31&to=2027-03-31").await;
    assert_eq!(
        march_31["totals"],
        json!({"topUps": 100_000, "charges": 50_000, "refunds": 0, "recognised": 50_000})
    );

    let subscriptions = report(&app, &admin, &format!("subscriptions?{april}")).await;
    assert_eq!(
        (
            subscriptions["active"].clone(),
            subscriptions["mrr"].clone(),
            subscriptions["new"].clone(),
            subscriptions["churned"].clone()
        ),
        (json!(1), json!(75_000), json!(1), json!(1))
    );
    assert_eq!(
        subscriptions["byPlan"],
        json!([
            {"service": "ghost", "plan": "Creator", "active": 1, "mrr": 75_000, "new": 1, "churned": 0},
            {"service": "n8n", "plan": "Basic", "active": 0, "mrr": 0, "new": 0, "churned": 1},
        ])
    );

    let users = report(&app, &admin, &format!("users?{april}")).await;
    assert_eq!(
        users,
        json!({"new": 1, "active": 1, "withBalance": 2, "total": 3})
    );
    assert_eq!(app.balance(&ana.id).await, 73_333);

    let quota = report(&app, &admin, "quota").await;
    let creator_quota = quota["plans"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["plan"] == "Creator")
        .unwrap()
        .clone();
    assert_eq!(
        (
            creator_quota["used"].clone(),
            creator_quota["utilisationPercent"].clone()
        ),
        (json!(1), json!(3))
    );

    let inverted = app
        .get_as(
            "/api/admin/analytics/revenue?from=2027-05-01&to=2027-04-01&granularity=year",
            &admin.access_token,
        )
        .await;
    assert_eq!(inverted.invalid_fields(), ["granularity", "to"]);
}

//! The cron components of spin.toml on their own: with nobody calling a job route, a top-up left
//! pending is settled and a new instance reaches RUNNING. Under Spin this is the cron trigger
//! plugin running the `reconcile` component; natively, the host's schedules.

use std::time::{Duration, Instant};

use serde_json::json;
use spincat_tests::{spin, Options, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schedules_settle_top_ups_and_run_instances_with_no_job_route_called() {
    if let Some(why) = spin::cron_plugin_missing() {
        spin::skip(why);
        return;
    }
    let app = TestApp::spawn_with(Options {
        manifest: spin::scheduled_manifest("* * * * * *"),
        ..Options::default().variable("topup_reconcile_after_seconds", "0")
    })
    .await;
    let user = app.register("jadwal@example.com").await;
    let topup = app
        .post_as(
            "/api/user/wallet/topup",
            &user.access_token,
            json!({"amount": 25_000}),
        )
        .await;
    assert_eq!(topup.status, 201, "{:?}", topup.body);
    let order = topup.data()["orderId"].as_str().unwrap().to_owned();
    // Paid at Midtrans, but the notification never arrives: only the status API knows.
    app.midtrans.set_status(&order, "settlement", None);

    app.kube
        .set_rollout_delay(Some(Duration::from_millis(1500)));
    let free = app.plan_id("n8n", "Free").await;
    let created = app.subscribe(&user, &free).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(created.data()["instance"]["status"], "PROVISIONING");

    // Read from the database, not the API: a read of the instance would move it along itself.
    let deadline = Instant::now() + Duration::from_secs(20);
    let (mut topup_status, mut instance_status) = (String::new(), String::new());
    while Instant::now() < deadline {
        topup_status = app
            .db
            .query_one("SELECT status FROM topups WHERE order_id = $1", &[&order])
            .await
            .unwrap()
            .get(0);
        instance_status = app
            .db
            .query_one("SELECT status FROM instances", &[])
            .await
            .unwrap()
            .get(0);
        if (topup_status.as_str(), instance_status.as_str()) == ("SETTLED", "RUNNING") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        (topup_status.as_str(), instance_status.as_str()),
        ("SETTLED", "RUNNING"),
        "within 20 s of ticks"
    );
    assert_eq!(app.balance(&user.id).await, 25_000, "credited once");
    app.assert_ledger_sound().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_moves_instances_on_a_machine_with_no_payment_gateway() {
    // A newcomer's `spin up` has no Midtrans keys: the job must not fail on them every minute,
    // leaving every instance where it is.
    let app = TestApp::spawn_with(Options::default().variable("midtrans_server_key", "")).await;
    let user = app.register("tanpa-midtrans@example.com").await;
    app.kube.set_rollout_delay(Some(Duration::from_millis(300)));
    let free = app.plan_id("n8n", "Free").await;
    let created = app.subscribe(&user, &free).await;
    assert_eq!(created.data()["instance"]["status"], "PROVISIONING");
    tokio::time::sleep(Duration::from_millis(400)).await;
    let run = app.run_job("reconcile").await;
    assert_eq!(run.data()["instances"]["running"], 1, "{:?}", run.body);
    assert_eq!(
        run.data()["topups"]["skipped"],
        "no payment gateway: midtrans_server_key is not set"
    );
}

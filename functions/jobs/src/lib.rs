//! The `jobs` component: `POST /internal/jobs/*`, the scheduled jobs as routes for a Kubernetes
//! CronJob (the SpinKube shim runs no cron triggers) and for tests.

use std::time::Instant;

use serde_json::json;
use spincat::auth;
use spincat::http::{ApiError, Ctx, Reply};
use spincat::kube::ClusterSettings;
use spincat::payments::{self, PaymentSettings};
use spincat::provisioning::Provisioner;
use spincat::subscriptions::{self, Upgrader};

spincat::component!(route);

/// Top-ups and instances looked at per run; the next run takes the rest.
const RECONCILE_BATCH: i64 = 200;

/// An upgrade still half-way after this long was interrupted (a live one takes seconds).
const STUCK_UPGRADE: chrono::Duration = chrono::Duration::minutes(2);

async fn route(ctx: &Ctx) -> Result<Reply, ApiError> {
    auth::authenticate_job(ctx).await?;
    match (
        ctx.request.method.as_str(),
        ctx.request.segments().as_slice(),
    ) {
        ("POST", ["internal", "jobs", "reconcile"]) => reconcile(ctx).await,
        _ => Err(ApiError::route_not_found(
            &ctx.request.method,
            &ctx.request.path,
        )),
    }
}

async fn reconcile(ctx: &Ctx) -> Result<Reply, ApiError> {
    let started = Instant::now();
    let settings = PaymentSettings::load(ctx.config()).await?;
    let conn = ctx.db().await?;
    let topups = payments::reconcile_pending(
        conn.as_ref(),
        ctx.ports.http.as_ref(),
        &settings,
        ctx.now,
        RECONCILE_BATCH,
    )
    .await?;
    let cluster = ClusterSettings::load(ctx.config()).await?;
    let provisioner = Provisioner::new(conn.as_ref(), ctx.ports.http.as_ref(), &cluster);
    let upgrader = Upgrader {
        conn: conn.as_ref(),
        resize: &provisioner,
    };
    let upgrades = subscriptions::resume_upgrades(upgrader, ctx.now, STUCK_UPGRADE).await?;
    let instances = provisioner.reconcile(ctx.now, RECONCILE_BATCH).await?;
    let summary = json!({
        "topups": topups,
        "instances": instances,
        "upgradesResumed": upgrades,
        "durationMs": started.elapsed().as_millis() as u64,
    });
    tracing::info!(%summary, "reconcile finished");
    Ok(Reply::ok("Reconciled", summary))
}

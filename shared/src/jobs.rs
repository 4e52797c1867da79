//! The scheduled jobs, as plain functions over the ports. Three thin entry points call them: the
//! `renewal` cron component under `spin up`, the internal routes `/internal/jobs/*` (a Kubernetes
//! CronJob on SpinKube), and through those routes the tests.

use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use crate::http::ApiError;
use crate::kube::ClusterSettings;
use crate::notifications;
use crate::payments::{self, PaymentSettings};
use crate::ports::Ports;
use crate::provisioning::Provisioner;
use crate::renewals::{self, RenewalSettings};
use crate::subscriptions::{self, Upgrader};

/// Top-ups and instances looked at per run; the next run takes the rest.
const RECONCILE_BATCH: i64 = 200;

/// An upgrade still half-way after this long was interrupted (a live one takes seconds).
const STUCK_UPGRADE: Duration = Duration::minutes(2);

/// Pending top-ups, provisioning and teardown, and upgrades a crash left half-way.
pub async fn reconcile(ports: &Ports, now: DateTime<Utc>) -> Result<Value, ApiError> {
    let started = Instant::now();
    let conn = ports.db.connect().await?;
    let payments = PaymentSettings::load(ports.config.as_ref()).await?;
    let topups = payments::reconcile_pending(
        conn.as_ref(),
        ports.http.as_ref(),
        &payments,
        now,
        RECONCILE_BATCH,
    )
    .await?;
    let cluster = ClusterSettings::load(ports.config.as_ref()).await?;
    let provisioner = Provisioner::new(conn.as_ref(), ports.http.as_ref(), &cluster);
    let upgrader = Upgrader {
        conn: conn.as_ref(),
        resize: &provisioner,
    };
    let upgrades = subscriptions::resume_upgrades(upgrader, now, STUCK_UPGRADE).await?;
    let instances = provisioner.reconcile(now, RECONCILE_BATCH).await?;
    let summary = json!({
        "topups": topups,
        "instances": instances,
        "upgradesResumed": upgrades,
        "durationMs": started.elapsed().as_millis() as u64,
    });
    tracing::info!(%summary, "reconcile finished");
    Ok(summary)
}

/// Renews what is due, then applies to the cluster what that changed (suspensions scale to
/// zero, resumptions back up, expiries are torn down). A cluster failure there loses nothing:
/// the instances stay marked and the next run applies them.
pub async fn renewals(ports: &Ports, now: DateTime<Utc>) -> Result<Value, ApiError> {
    let started = Instant::now();
    let settings = RenewalSettings::load(ports.config.as_ref()).await?;
    let mut summary = renewals::run(ports.db.as_ref(), &settings, now).await?;
    summary.duration_ms = started.elapsed().as_millis() as u64;
    let conn = ports.db.connect().await?;
    let cluster = ClusterSettings::load(ports.config.as_ref()).await?;
    let instances = Provisioner::new(conn.as_ref(), ports.http.as_ref(), &cluster)
        .reconcile(now, RECONCILE_BATCH)
        .await?;
    let summary = json!({ "subscriptions": summary, "instances": instances });
    tracing::info!(%summary, "renewals finished");
    Ok(summary)
}

/// Low-credit warnings, then delivery of undelivered notifications to the outbound webhook.
pub async fn notifications(ports: &Ports, now: DateTime<Utc>) -> Result<Value, ApiError> {
    let conn = ports.db.connect().await?;
    let settings = RenewalSettings::load(ports.config.as_ref()).await?;
    let warned =
        notifications::warn_low_credit(conn.as_ref(), settings.low_credit_warning_days, now)
            .await?;
    let (delivered, failed) = match &settings.notification_webhook_url {
        Some(url) => {
            notifications::deliver(
                conn.as_ref(),
                ports.http.as_ref(),
                url,
                now,
                settings.batch_size,
            )
            .await?
        }
        None => (0, 0),
    };
    let summary =
        json!({ "lowCreditWarnings": warned, "delivered": delivered, "deliveryFailed": failed });
    tracing::info!(%summary, "notifications finished");
    Ok(summary)
}

//! The scheduled jobs, as plain functions over the ports. Three thin entry points call them: the
//! cron component under `spin up` (`renewal` and `reconcile` in spin.toml), the internal routes
//! `/internal/jobs/*` (a Kubernetes CronJob on SpinKube), and through those routes the tests.

use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use crate::kube::ClusterSettings;
use crate::notifications;
use crate::payments::{self, PaymentError, PaymentSettings};
use crate::ports::{ConfigError, DbError, Ports};
use crate::provisioning::domains::DomainSettings;
use crate::provisioning::{InstanceError, Provisioner};
use crate::renewals::{self, RenewalSettings};
use crate::subscriptions::{self, SubscriptionError, Upgrader};

/// Why a job stopped before it finished; its next run starts over.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Payment(#[from] PaymentError),
    #[error(transparent)]
    Instance(#[from] InstanceError),
    #[error(transparent)]
    Subscription(#[from] SubscriptionError),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// A scheduled job, by the name its route (`/internal/jobs/<name>`) and the cron component's
/// `cron_jobs` variable give it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    Reconcile,
    Renewals,
    Notifications,
}

impl Job {
    pub fn named(name: &str) -> Option<Self> {
        match name {
            "reconcile" => Some(Self::Reconcile),
            "renewals" => Some(Self::Renewals),
            "notifications" => Some(Self::Notifications),
            _ => None,
        }
    }

    /// `cron_jobs`: job names separated by commas, run in that order.
    pub fn list(names: &str) -> Result<Vec<Self>, ConfigError> {
        names
            .split(',')
            .map(|name| {
                Self::named(name.trim()).ok_or_else(|| {
                    ConfigError::new(
                        "cron_jobs",
                        format!("{name:?} is not reconcile, renewals or notifications"),
                    )
                })
            })
            .collect()
    }

    pub async fn run(self, ports: &Ports, now: DateTime<Utc>) -> Result<Value, JobError> {
        match self {
            Self::Reconcile => reconcile(ports, now).await,
            Self::Renewals => renewals(ports, now).await,
            Self::Notifications => notifications(ports, now).await,
        }
    }
}

/// One tick of a cron component: the jobs its `cron_jobs` variable names, in order, at one
/// instant. The `renewal` and `reconcile` components of spin.toml are this function on a schedule,
/// under Spin's cron trigger and in the native host alike.
pub async fn tick(ports: &Ports) -> Result<(), JobError> {
    let jobs = Job::list(&ports.config.required("cron_jobs").await?)?;
    let now = ports.clock.now();
    for job in jobs {
        job.run(ports, now).await?;
    }
    Ok(())
}

/// Top-ups and instances looked at per run; the next run takes the rest.
const RECONCILE_BATCH: i64 = 200;

/// An upgrade still half-way after this long was interrupted (a live one takes seconds).
const STUCK_UPGRADE: Duration = Duration::minutes(2);

/// Pending top-ups, provisioning and teardown, upgrades a crash left half-way, and custom domains
/// whose TXT record may have appeared.
pub async fn reconcile(ports: &Ports, now: DateTime<Utc>) -> Result<Value, JobError> {
    let started = Instant::now();
    let conn = ports.db.connect().await?;
    // Without a gateway there are no top-ups to ask about, and the cluster's work goes on.
    let topups = match PaymentSettings::configured(ports.config.as_ref()).await? {
        Some(payments) => json!(
            payments::reconcile_pending(
                conn.as_ref(),
                ports.http.as_ref(),
                &payments,
                now,
                RECONCILE_BATCH,
            )
            .await?
        ),
        None => json!({ "skipped": "no payment gateway: midtrans_server_key is not set" }),
    };
    let cluster = ClusterSettings::load(ports.config.as_ref()).await?;
    // Without a cluster to reach there is nothing to move: the rest of the job still runs.
    let (upgrades, instances, domains) = match cluster.connection() {
        Err(off) => {
            let skipped = json!({ "skipped": format!("no cluster: {off}") });
            (skipped.clone(), skipped.clone(), skipped)
        }
        Ok(()) => {
            let provisioner = Provisioner::new(conn.as_ref(), ports.http.as_ref(), &cluster);
            let upgrader = Upgrader {
                conn: conn.as_ref(),
                resize: &provisioner,
            };
            let upgrades = subscriptions::resume_upgrades(upgrader, now, STUCK_UPGRADE).await?;
            let instances = provisioner.reconcile(now, RECONCILE_BATCH).await?;
            let domains = match DomainSettings::load(ports.config.as_ref()).await {
                Err(off) => json!({ "skipped": format!("no DNS resolver: {off}") }),
                Ok(domains) => json!(
                    provisioner
                        .verify_pending_domains(ports.http.as_ref(), &domains, now, RECONCILE_BATCH)
                        .await?
                ),
            };
            (json!(upgrades), json!(instances), domains)
        }
    };
    let summary = json!({
        "topups": topups,
        "instances": instances,
        "customDomains": domains,
        "upgradesResumed": upgrades,
        "durationMs": started.elapsed().as_millis() as u64,
    });
    tracing::info!(%summary, "reconcile finished");
    Ok(summary)
}

/// Renews what is due, then applies to the cluster what that changed (suspensions scale to
/// zero, resumptions back up, expiries are torn down). A cluster failure there loses nothing:
/// the instances stay marked and the next run applies them.
pub async fn renewals(ports: &Ports, now: DateTime<Utc>) -> Result<Value, JobError> {
    let started = Instant::now();
    let settings = RenewalSettings::load(ports.config.as_ref()).await?;
    let mut summary = renewals::run(ports.db.as_ref(), &settings, now).await?;
    summary.duration_ms = started.elapsed().as_millis() as u64;
    let conn = ports.db.connect().await?;
    let cluster = ClusterSettings::load(ports.config.as_ref()).await?;
    let instances = match cluster.connection() {
        Err(off) => json!({ "skipped": format!("no cluster: {off}") }),
        Ok(()) => json!(
            Provisioner::new(conn.as_ref(), ports.http.as_ref(), &cluster)
                .reconcile(now, RECONCILE_BATCH)
                .await?
        ),
    };
    let summary = json!({ "subscriptions": summary, "instances": instances });
    tracing::info!(%summary, "renewals finished");
    Ok(summary)
}

/// Low-credit warnings, then delivery of undelivered notifications to the outbound webhook.
pub async fn notifications(ports: &Ports, now: DateTime<Utc>) -> Result<Value, JobError> {
    let settings = RenewalSettings::load(ports.config.as_ref()).await?;
    let webhook = notifications::webhook_url(ports.config.as_ref()).await?;
    let conn = ports.db.connect().await?;
    let warned =
        notifications::warn_low_credit(conn.as_ref(), settings.low_credit_warning_days, now)
            .await?;
    let (delivered, failed) = match &webhook {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cron_jobs_name_jobs_in_order() {
        assert_eq!(
            Job::list("renewals, notifications").unwrap(),
            [Job::Renewals, Job::Notifications]
        );
        assert_eq!(Job::list("reconcile").unwrap(), [Job::Reconcile]);
        for bad in ["", "renewals,", "Reconcile", "renewals notifications"] {
            let error = Job::list(bad).unwrap_err();
            assert_eq!(error.name, "cron_jobs", "{bad:?}");
        }
    }
}

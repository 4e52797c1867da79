//! The provisioning state machine: PENDING -> PROVISIONING (manifests applied) -> RUNNING
//! (workload available), or ERROR after the timeout, which rolls everything back. Also teardown
//! of cancelled and expired instances. Each step records its result before the next starts, and
//! repeats harmlessly, so a crash or a Kubernetes error anywhere is finished by the next run.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::cluster::Cluster;
use super::context::{self, Instance};
use super::InstanceError;
use crate::kube::{ClusterSettings, Kube, KubeError};
use crate::params;
use crate::ports::db::Connection;
use crate::ports::HttpClient;
use crate::states::{InstanceStatus, State};
use crate::subscriptions::{end_with_full_refund, Resize};

pub struct Provisioner<'a> {
    pub conn: &'a dyn Connection,
    pub cluster: Cluster<'a>,
    pub settings: &'a ClusterSettings,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProvisioningSummary {
    pub checked: u32,
    pub running: u32,
    pub waiting: u32,
    pub failed: u32,
    pub torn_down: u32,
    pub errors: u32,
}

/// Where one step left an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Waiting,
    Running,
    Failed,
    TornDown,
    Unchanged,
}

impl<'a> Provisioner<'a> {
    pub fn new(
        conn: &'a dyn Connection,
        http: &'a dyn HttpClient,
        settings: &'a ClusterSettings,
    ) -> Self {
        Self {
            conn,
            cluster: Cluster {
                kube: Kube::new(http, settings),
                settings,
            },
            settings,
        }
    }

    pub async fn load(&self, id: Uuid) -> Result<Instance, InstanceError> {
        context::load(self.conn, id)
            .await?
            .ok_or(InstanceError::NotFound)
    }

    /// Moves every instance that has work to do one step along.
    pub async fn reconcile(
        &self,
        now: DateTime<Utc>,
        batch: i64,
    ) -> Result<ProvisioningSummary, InstanceError> {
        // States written out as the partial index instances_work_idx names them, for the planner.
        let rows = self
            .conn
            .query(
                "SELECT i.id FROM instances i JOIN subscriptions s ON s.id = i.subscription_id
                 WHERE (i.status IN ('PENDING', 'PROVISIONING') AND i.teardown_requested_at IS NULL)
                    OR (i.teardown_requested_at IS NOT NULL AND i.torn_down_at IS NULL)
                    OR (i.status IN ('RUNNING', 'STOPPED', 'SUSPENDED') AND i.torn_down_at IS NULL
                        AND (i.apply_pending OR i.applied_plan_id IS DISTINCT FROM s.plan_id))
                 ORDER BY i.created_at LIMIT $1",
                params![batch],
            )
            .await?;
        let mut summary = ProvisioningSummary::default();
        for row in rows.iter() {
            let id: Uuid = row.get("id")?;
            summary.checked += 1;
            match self.advance(id, now).await {
                Ok(Step::Running) => summary.running += 1,
                Ok(Step::Waiting | Step::Unchanged) => summary.waiting += 1,
                Ok(Step::Failed) => summary.failed += 1,
                Ok(Step::TornDown) => summary.torn_down += 1,
                Err(error) => {
                    tracing::warn!(instance_id = %id, error = %error, "provisioning step failed; retried next run");
                    summary.errors += 1;
                }
            }
        }
        Ok(summary)
    }

    /// The first step for a new subscription's instance, so that it need not wait for the
    /// reconcile job.
    pub async fn begin(
        &self,
        subscription_id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<(), InstanceError> {
        if let Some(instance) = context::of_subscription(self.conn, subscription_id).await? {
            self.advance(instance.id, now).await?;
        }
        Ok(())
    }

    /// One step for one instance.
    pub async fn advance(&self, id: Uuid, now: DateTime<Utc>) -> Result<Step, InstanceError> {
        let instance = self.load(id).await?;
        if instance.teardown_requested && !instance.torn_down {
            return self.tear_down(&instance, now).await;
        }
        let timed_out =
            now - instance.created_at > Duration::seconds(self.settings.provision_timeout_seconds);
        match instance.status {
            InstanceStatus::Pending => {
                if timed_out {
                    return self.fail(&instance, now).await;
                }
                self.deploy(&instance, now).await?;
                self.set_status(
                    id,
                    InstanceStatus::Pending,
                    InstanceStatus::Provisioning,
                    now,
                )
                .await?;
                self.check(&self.load(id).await?, now, false).await
            }
            InstanceStatus::Provisioning => self.check(&instance, now, timed_out).await,
            InstanceStatus::Running | InstanceStatus::Stopped | InstanceStatus::Suspended
                if instance.needs_apply() =>
            {
                self.deploy(&instance, now).await?;
                Ok(Step::Unchanged)
            }
            _ => Ok(Step::Unchanged),
        }
    }

    /// Applies every manifest and records which plan the cluster now runs. Marked pending first,
    /// so an apply cut short by an error or a crash is redone by the next run.
    pub async fn deploy(
        &self,
        instance: &Instance,
        now: DateTime<Utc>,
    ) -> Result<(), InstanceError> {
        self.conn
            .execute(
                "UPDATE instances SET apply_pending = true WHERE id = $1",
                params![instance.id],
            )
            .await?;
        let plans = context::user_plans(self.conn, instance.user_id).await?;
        if let Err(error) = self.cluster.deploy(instance, &plans).await {
            self.record_error(instance.id, &error, now).await?;
            return Err(error.into());
        }
        self.conn
            .execute(
                "UPDATE instances SET applied_plan_id = $2, apply_pending = false, last_error = NULL,
                     updated_at = $3
                 WHERE id = $1",
                params![instance.id, instance.plan_id, now],
            )
            .await?;
        Ok(())
    }

    async fn check(
        &self,
        instance: &Instance,
        now: DateTime<Utc>,
        timed_out: bool,
    ) -> Result<Step, InstanceError> {
        match self.cluster.is_available(instance).await {
            Ok(true) => {
                self.conn
                    .execute(
                        "UPDATE instances SET status = $3, ready = true, last_checked_at = $2,
                             last_error = NULL, updated_at = $2
                         WHERE id = $1 AND status = $4",
                        params![
                            instance.id,
                            now,
                            InstanceStatus::Running,
                            InstanceStatus::Provisioning
                        ],
                    )
                    .await?;
                Ok(Step::Running)
            }
            Ok(false) if timed_out => self.fail(instance, now).await,
            Ok(false) => {
                self.conn
                    .execute(
                        "UPDATE instances SET last_checked_at = $2 WHERE id = $1",
                        params![instance.id, now],
                    )
                    .await?;
                Ok(Step::Waiting)
            }
            // Applied, then lost (or never finished): apply again.
            Err(KubeError::NotFound(_)) if !timed_out => {
                self.deploy(instance, now).await?;
                Ok(Step::Waiting)
            }
            Err(KubeError::NotFound(_)) => self.fail(instance, now).await,
            Err(error) => {
                self.record_error(instance.id, &error, now).await?;
                Err(error.into())
            }
        }
    }

    /// The app never ran: it goes to ERROR and everything is given back, in one transaction:
    /// the subscription ends, its quota slot is freed and every rupiah it was charged returns.
    /// Its resources are then deleted (now, or by a later run if the cluster is down).
    async fn fail(&self, instance: &Instance, now: DateTime<Utc>) -> Result<Step, InstanceError> {
        let id = instance.id;
        let subscription_id = instance.subscription_id;
        let timeout = self.settings.provision_timeout_seconds;
        let failed = crate::transaction!(self.conn, |tx| -> Result<bool, InstanceError> {
                    let claimed = tx
                        .execute(
                            "UPDATE instances SET status = $4, ready = false,
                                 last_error = $2, teardown_requested_at = coalesce(teardown_requested_at, $3),
                                 updated_at = $3
                             WHERE id = $1 AND status = ANY($5)",
                            params![
                                id,
                                format!("not available within {timeout} seconds"),
                                now,
                                InstanceStatus::Error,
                                InstanceStatus::param(&[InstanceStatus::Pending, InstanceStatus::Provisioning])
                            ],
                        )
                        .await?;
                    if claimed == 0 {
                        return Ok(false);
                    }
                    end_with_full_refund(tx, subscription_id, "provision-failed", "App never ran: refunded", now).await?;
                    Ok(true)
                })
            .await?;
        if failed {
            tracing::warn!(instance_id = %id, "provisioning timed out; rolled back and refunded");
            // Best effort now; the reconcile job retries while resources remain.
            if let Ok(instance) = self.load(id).await {
                let _ = self.tear_down(&instance, now).await;
            }
        }
        Ok(Step::Failed)
    }

    /// Deletes the instance's resources, and the user's namespace with its last instance.
    pub async fn tear_down(
        &self,
        instance: &Instance,
        now: DateTime<Utc>,
    ) -> Result<Step, InstanceError> {
        let others: i64 = self
            .conn
            .scalar(
                "SELECT count(*) AS n FROM instances
                 WHERE user_id = $1 AND id <> $2 AND torn_down_at IS NULL
                   AND status = ANY($3)",
                params![
                    instance.user_id,
                    instance.id,
                    InstanceStatus::param(&[
                        InstanceStatus::Provisioning,
                        InstanceStatus::Running,
                        InstanceStatus::Stopped,
                        InstanceStatus::Suspended
                    ])
                ],
            )
            .await?;
        let last = others == 0;
        let removed = match self.cluster.remove(instance, last).await {
            Ok(()) if last => Ok(()),
            Ok(()) => {
                let plans = context::user_plans(self.conn, instance.user_id).await?;
                self.cluster.apply_namespace(instance, &plans).await
            }
            Err(error) => Err(error),
        };
        if let Err(error) = removed {
            self.record_error(instance.id, &error, now).await?;
            return Err(error.into());
        }
        self.conn
            .execute(
                "UPDATE instances SET torn_down_at = $2, ready = false, updated_at = $2,
                     status = CASE WHEN status = $3 THEN $3 ELSE $4 END
                 WHERE id = $1",
                params![
                    instance.id,
                    now,
                    InstanceStatus::Error,
                    InstanceStatus::Terminated
                ],
            )
            .await?;
        Ok(Step::TornDown)
    }

    /// Moves an instance from one state to the next, unless something else moved it first.
    pub(super) async fn set_status(
        &self,
        id: Uuid,
        from: InstanceStatus,
        to: InstanceStatus,
        now: DateTime<Utc>,
    ) -> Result<(), InstanceError> {
        self.conn
            .execute(
                "UPDATE instances SET status = $3, updated_at = $4 WHERE id = $1 AND status = $2",
                params![id, from, to, now],
            )
            .await?;
        Ok(())
    }

    async fn record_error(
        &self,
        id: Uuid,
        error: &KubeError,
        now: DateTime<Utc>,
    ) -> Result<(), InstanceError> {
        self.conn
            .execute(
                "UPDATE instances SET last_error = $2, last_checked_at = $3 WHERE id = $1",
                params![id, error.to_string(), now],
            )
            .await?;
        Ok(())
    }
}

/// An upgrade's resize: re-apply the workload and the namespace quota for the subscription's new
/// plan. An instance never deployed has nothing to resize; the next deploy uses the new plan.
#[cfg_attr(not(target_arch = "wasm32"), async_trait::async_trait)]
#[cfg_attr(target_arch = "wasm32", async_trait::async_trait(?Send))]
impl Resize for Provisioner<'_> {
    async fn resize(&self, subscription_id: Uuid, now: DateTime<Utc>) -> Result<(), String> {
        let instance = context::of_subscription(self.conn, subscription_id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("no instance")?;
        if !instance.is_deployed() {
            return Ok(());
        }
        self.deploy(&instance, now).await.map_err(|e| e.to_string())
    }
}

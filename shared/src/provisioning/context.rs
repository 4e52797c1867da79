//! An instance as provisioning sees it: its row, its subscription's plan and its app's template.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::render::{InstanceSpec, PlanResources};
use super::InstanceError;
use crate::catalog::DeploymentTemplate;
use crate::params;
use crate::ports::db::{Connection, Row};
use crate::states::{InstanceStatus, SubscriptionStatus};

#[derive(Debug, Clone)]
pub struct Instance {
    pub id: Uuid,
    pub user_id: Uuid,
    pub subscription_id: Uuid,
    pub status: InstanceStatus,
    pub subscription_status: SubscriptionStatus,
    pub plan_id: Uuid,
    pub applied_plan_id: Option<Uuid>,
    pub apply_pending: bool,
    pub created_at: DateTime<Utc>,
    pub teardown_requested: bool,
    pub torn_down: bool,
    pub spec: InstanceSpec,
}

impl Instance {
    /// Replicas the workload should run: none while stopped or suspended.
    pub fn desired_replicas(status: InstanceStatus) -> i32 {
        if matches!(status, InstanceStatus::Stopped | InstanceStatus::Suspended) {
            0
        } else {
            1
        }
    }

    /// The cluster may not hold what the database says: a changed plan or an unfinished apply.
    pub fn needs_apply(&self) -> bool {
        self.apply_pending || self.applied_plan_id != Some(self.plan_id)
    }

    pub fn is_deployed(&self) -> bool {
        self.applied_plan_id.is_some() && !self.torn_down
    }
}

const SELECT: &str =
    "SELECT i.id, i.user_id, i.subscription_id, i.status, i.subdomain, i.namespace,
        i.resource_name, i.env, i.restarted_at, i.created_at, i.claimed_at IS NOT NULL AS claimed,
        -- Only a proved domain reaches the cluster.
        CASE WHEN i.domain_verified_at IS NOT NULL THEN i.custom_domain END AS custom_domain,
        i.teardown_requested_at IS NOT NULL AS teardown_requested,
        i.torn_down_at IS NOT NULL AS torn_down, i.applied_plan_id, i.apply_pending,
        s.status AS subscription_status, s.plan_id, sv.slug AS app, sv.template,
        p.cpu_millicores, p.memory_mib, p.storage_gib
     FROM instances i
     JOIN subscriptions s ON s.id = i.subscription_id
     JOIN plans p ON p.id = s.plan_id
     JOIN services sv ON sv.id = s.service_id";

fn from_row(row: Row<'_>) -> Result<Instance, InstanceError> {
    let template: DeploymentTemplate = serde_json::from_value(row.get("template")?)
        .map_err(|e| InstanceError::Invariant(format!("stored template unreadable: {e}")))?;
    let env: BTreeMap<String, String> = serde_json::from_value(row.get("env")?).unwrap_or_default();
    let status: InstanceStatus = row.get("status")?;
    let gated = template.first_visitor_setup && !row.get::<bool>("claimed")?;
    Ok(Instance {
        id: row.get("id")?,
        user_id: row.get("user_id")?,
        subscription_id: row.get("subscription_id")?,
        subscription_status: row.get("subscription_status")?,
        plan_id: row.get("plan_id")?,
        applied_plan_id: row.get("applied_plan_id")?,
        apply_pending: row.get("apply_pending")?,
        created_at: row.get("created_at")?,
        teardown_requested: row.get("teardown_requested")?,
        torn_down: row.get("torn_down")?,
        spec: InstanceSpec {
            instance_id: row.get("id")?,
            user_id: row.get("user_id")?,
            app: row.get("app")?,
            namespace: row.get("namespace")?,
            name: row.get("resource_name")?,
            subdomain: row.get("subdomain")?,
            custom_domain: row.get("custom_domain")?,
            template,
            resources: PlanResources {
                cpu_millicores: row.get::<i32>("cpu_millicores")?.into(),
                memory_mib: row.get::<i32>("memory_mib")?.into(),
                storage_gib: row.get::<i32>("storage_gib")?.into(),
            },
            user_env: env,
            replicas: Instance::desired_replicas(status),
            restarted_at: row.get("restarted_at")?,
            gated,
        },
        status,
    })
}

pub async fn load(conn: &dyn Connection, id: Uuid) -> Result<Option<Instance>, InstanceError> {
    let rows = conn
        .query(&format!("{SELECT} WHERE i.id = $1"), params![id])
        .await?;
    rows.first().map(from_row).transpose()
}

/// The instance of a subscription.
pub async fn of_subscription(
    conn: &dyn Connection,
    subscription_id: Uuid,
) -> Result<Option<Instance>, InstanceError> {
    let rows = conn
        .query(
            &format!("{SELECT} WHERE i.subscription_id = $1 ORDER BY i.created_at DESC LIMIT 1"),
            params![subscription_id],
        )
        .await?;
    rows.first().map(from_row).transpose()
}

/// The resources of every live plan of a user: what their namespace quota allows.
pub async fn user_plans(
    conn: &dyn Connection,
    user_id: Uuid,
) -> Result<Vec<PlanResources>, InstanceError> {
    let rows = conn
        .query(
            "SELECT p.cpu_millicores, p.memory_mib, p.storage_gib
             FROM subscriptions s JOIN plans p ON p.id = s.plan_id
             WHERE s.user_id = $1 AND s.status = ANY($2)",
            params![user_id, SubscriptionStatus::live_param()],
        )
        .await?;
    rows.iter()
        .map(|row| {
            Ok(PlanResources {
                cpu_millicores: row.get::<i32>("cpu_millicores")?.into(),
                memory_mib: row.get::<i32>("memory_mib")?.into(),
                storage_gib: row.get::<i32>("storage_gib")?.into(),
            })
        })
        .collect()
}

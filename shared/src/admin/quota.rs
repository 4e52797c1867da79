use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use uuid::Uuid;

use super::catalog::Kind;
use super::AdminError;
use crate::audit::{record, Change};
use crate::params;
use crate::ports::db::{Connection, DbError, Param};
use crate::states::SubscriptionStatus;

/// A plan counts as near capacity from this share of its quota.
const NEAR_CAPACITY_PERCENT: i64 = 80;

/// Live subscriptions holding a slot of plan `p` (an upgrade in progress holds its old one too);
/// `$1` is the live set, `$2` the pending-upgrade state.
const LIVE_ON_PLAN: &str = "(SELECT count(*) FROM subscriptions s
     WHERE s.status = ANY($1)
       AND (s.plan_id = p.id OR (s.status = $2 AND s.previous_plan_id = p.id)))";

fn live_on_plan_params() -> [Param; 2] {
    [
        SubscriptionStatus::live_param(),
        SubscriptionStatus::PendingUpgrade.into(),
    ]
}

/// Every plan's quota: total, used, available, live subscriptions, and whether it is near full.
pub async fn quota_view(conn: &dyn Connection) -> Result<Value, DbError> {
    let rows = conn
        .query(
            &format!(
                "SELECT p.id, sv.slug AS service, p.name, p.tier, p.quota_total, p.quota_used,
                        {LIVE_ON_PLAN} AS live
                 FROM plans p JOIN services sv ON sv.id = p.service_id
                 WHERE p.deleted_at IS NULL
                 ORDER BY sv.slug, p.price_monthly"
            ),
            &live_on_plan_params(),
        )
        .await?;
    rows.iter()
        .map(|r| {
            let total = i64::from(r.get::<i32>("quota_total")?);
            let used = i64::from(r.get::<i32>("quota_used")?);
            Ok(json!({
                "planId": r.get::<Uuid>("id")?,
                "service": r.get::<String>("service")?,
                "plan": r.get::<String>("name")?,
                "tier": r.get::<String>("tier")?,
                "total": total,
                "used": used,
                "available": total - used,
                "liveSubscriptions": r.get::<i64>("live")?,
                "nearCapacity": total > 0 && used * 100 >= total * NEAR_CAPACITY_PERCENT,
            }))
        })
        .collect()
}

/// Sets a plan's quota total; never below what is in use.
pub async fn adjust_quota(
    conn: &dyn Connection,
    actor: Uuid,
    plan_id: Uuid,
    total: i32,
    now: DateTime<Utc>,
) -> Result<Value, AdminError> {
    crate::transaction!(conn, |tx| -> Result<Value, AdminError> {
            let rows = tx
                .query(
                    "SELECT quota_total, quota_used FROM plans WHERE id = $1 AND deleted_at IS NULL FOR UPDATE",
                    params![plan_id],
                )
                .await?;
            let row = rows
                .first()
                .ok_or(AdminError::NotFound(Kind::Plan))?;
            let (before, used): (i32, i32) = (row.get("quota_total")?, row.get("quota_used")?);
            if total < used {
                return Err(AdminError::QuotaBelowUsed { used });
            }
            tx.execute("UPDATE plans SET quota_total = $2, updated_at = $3 WHERE id = $1", params![plan_id, total, now])
                .await?;
            record(tx, Change {
                actor,
                action: "plan.quota",
                target_type: "plan",
                target_id: plan_id.to_string(),
                before: Some(json!({ "total": before })),
                after: Some(json!({ "total": total })),
            }, now)
            .await?;
            Ok(json!({ "planId": plan_id, "total": total, "used": used, "available": total - used }))
        })
    .await
}

/// Recomputes every plan's `used` from its live subscriptions and reports any drift.
pub async fn check_quota(conn: &dyn Connection) -> Result<Value, DbError> {
    let rows = conn
        .query(
            &format!(
                "SELECT p.id, p.name, p.quota_used, {LIVE_ON_PLAN} AS live FROM plans p
                 WHERE p.quota_used <> {LIVE_ON_PLAN}"
            ),
            &live_on_plan_params(),
        )
        .await?;
    let drift: Vec<Value> = rows
        .iter()
        .map(|r| {
            Ok(json!({
                "planId": r.get::<Uuid>("id")?,
                "plan": r.get::<String>("name")?,
                "recorded": r.get::<i32>("quota_used")?,
                "live": r.get::<i64>("live")?,
            }))
        })
        .collect::<Result<_, DbError>>()?;
    Ok(json!({ "consistent": drift.is_empty(), "drift": drift }))
}

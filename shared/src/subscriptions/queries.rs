//! Reading subscriptions as their owner sees them.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use uuid::Uuid;

use super::SubscriptionError;
use crate::http::{Page, Paging};
use crate::money::Rupiah;
use crate::params;
use crate::ports::db::{Connection, DbError, Row};
use crate::states::SubscriptionStatus;

const SUMMARY: &str = "s.id, s.status, s.auto_renew, s.cancel_at_period_end, s.price_monthly,
     s.period_start, s.period_end, s.grace_ends_at, s.created_at, s.ended_at,
     p.id AS plan_id, p.name AS plan_name, p.tier AS plan_tier,
     sv.id AS service_id, sv.slug AS service_slug, sv.name AS service_name,
     i.id AS instance_id, i.name AS instance_name, i.subdomain, i.status AS instance_status";

const FROM: &str = "subscriptions s
     JOIN plans p ON p.id = s.plan_id
     JOIN services sv ON sv.id = s.service_id
     LEFT JOIN instances i ON i.subscription_id = s.id";

fn summary(row: Row<'_>) -> Result<Value, DbError> {
    let instance_id: Option<Uuid> = row.get("instance_id")?;
    Ok(json!({
        "id": row.get::<Uuid>("id")?,
        "status": row.get::<String>("status")?,
        "autoRenew": row.get::<bool>("auto_renew")?,
        "cancelAtPeriodEnd": row.get::<bool>("cancel_at_period_end")?,
        "priceMonthly": row.get::<i64>("price_monthly")?,
        "currentPeriod": {
            "start": row.get::<DateTime<Utc>>("period_start")?,
            "end": row.get::<DateTime<Utc>>("period_end")?,
        },
        "graceEndsAt": row.get::<Option<DateTime<Utc>>>("grace_ends_at")?,
        "endedAt": row.get::<Option<DateTime<Utc>>>("ended_at")?,
        "createdAt": row.get::<DateTime<Utc>>("created_at")?,
        "plan": {
            "id": row.get::<Uuid>("plan_id")?,
            "name": row.get::<String>("plan_name")?,
            "tier": row.get::<String>("plan_tier")?,
        },
        "service": {
            "id": row.get::<Uuid>("service_id")?,
            "slug": row.get::<String>("service_slug")?,
            "name": row.get::<String>("service_name")?,
        },
        "instance": match instance_id {
            Some(id) => json!({
                "id": id,
                "name": row.get::<String>("instance_name")?,
                "subdomain": row.get::<String>("subdomain")?,
                "status": row.get::<String>("instance_status")?,
            }),
            None => Value::Null,
        },
    }))
}

/// Whose subscription this is, if it exists.
pub async fn owner(conn: &dyn Connection, id: Uuid) -> Result<Option<Uuid>, DbError> {
    let rows = conn
        .query(
            "SELECT user_id FROM subscriptions WHERE id = $1",
            params![id],
        )
        .await?;
    rows.first().map(|row| row.get("user_id")).transpose()
}

/// Which subscriptions to list: one user's (their own list) or anyone's (operators).
#[derive(Debug, Default)]
pub struct SubscriptionFilter {
    pub user_id: Option<Uuid>,
    pub status: Option<SubscriptionStatus>,
    pub service: Option<String>,
    pub plan_id: Option<Uuid>,
}

/// Subscriptions matching every given criterion, newest first.
pub async fn list(
    conn: &dyn Connection,
    filter: &SubscriptionFilter,
    paging: Paging,
) -> Result<Page<Value>, DbError> {
    let condition = "($1::uuid IS NULL OR s.user_id = $1) AND ($2::text IS NULL OR s.status = $2)
         AND ($3::text IS NULL OR sv.slug = $3) AND ($4::uuid IS NULL OR s.plan_id = $4)";
    let values = || {
        params![
            filter.user_id,
            filter.status,
            filter.service.clone(),
            filter.plan_id
        ]
        .to_vec()
    };
    let total = conn
        .scalar(
            &format!(
                "SELECT count(*) AS total FROM subscriptions s
                 JOIN services sv ON sv.id = s.service_id WHERE {condition}"
            ),
            &values(),
        )
        .await?;
    let mut page_params = values();
    page_params.extend([paging.limit.into(), paging.offset().into()]);
    let rows = conn
        .query(
            &format!(
                "SELECT {SUMMARY}, s.user_id FROM {FROM} WHERE {condition}
                 ORDER BY s.created_at DESC, s.id LIMIT $5 OFFSET $6"
            ),
            &page_params,
        )
        .await?;
    Ok(Page {
        items: rows
            .iter()
            .map(|row| {
                let mut item = summary(row)?;
                item["userId"] = serde_json::json!(row.get::<Uuid>("user_id")?);
                Ok(item)
            })
            .collect::<Result<_, DbError>>()?,
        total,
        paging,
    })
}

/// One of the user's subscriptions with its instances and billing history; 404 for anyone
/// else's, so ids cannot be probed.
pub async fn detail(
    conn: &dyn Connection,
    user_id: Uuid,
    id: Uuid,
) -> Result<Value, SubscriptionError> {
    let rows = conn
        .query(
            &format!("SELECT {SUMMARY} FROM {FROM} WHERE s.id = $1 AND s.user_id = $2"),
            params![id, user_id],
        )
        .await?;
    let mut detail = summary(rows.first().ok_or(SubscriptionError::NotFound)?)?;
    let instances = conn
        .query(
            "SELECT id, name, subdomain, status, custom_domain, created_at
             FROM instances WHERE subscription_id = $1 ORDER BY created_at",
            params![id],
        )
        .await?;
    detail["instances"] = instances
        .iter()
        .map(|row| {
            Ok(json!({
                "id": row.get::<Uuid>("id")?,
                "name": row.get::<String>("name")?,
                "subdomain": row.get::<String>("subdomain")?,
                "status": row.get::<String>("status")?,
                "customDomain": row.get::<Option<String>>("custom_domain")?,
                "createdAt": row.get::<DateTime<Utc>>("created_at")?,
            }))
        })
        .collect::<Result<Value, DbError>>()?;
    let billing = conn
        .query(
            "SELECT t.id, t.kind, e.amount, t.description, t.created_at
             FROM ledger_transfers t
             JOIN ledger_entries e ON e.transfer_id = t.id
             JOIN ledger_accounts a ON a.id = e.account_id AND a.user_id = $2
             WHERE t.reference = $1
             ORDER BY t.created_at, e.id",
            params![id.to_string(), user_id],
        )
        .await?;
    detail["billingHistory"] = billing
        .iter()
        .map(|row| {
            Ok(json!({
                "id": row.get::<Uuid>("id")?,
                "type": row.get::<String>("kind")?,
                "amount": row.get::<i64>("amount")?,
                "description": row.get::<String>("description")?,
                "createdAt": row.get::<DateTime<Utc>>("created_at")?,
            }))
        })
        .collect::<Result<Value, DbError>>()?;
    Ok(detail)
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpcomingRenewal {
    pub subscription_id: Uuid,
    pub service: String,
    pub plan: String,
    pub amount: Rupiah,
    pub due_at: DateTime<Utc>,
}

/// What the user's auto-renewing subscriptions will charge next, soonest first.
pub async fn upcoming_renewals(
    conn: &dyn Connection,
    user_id: Uuid,
) -> Result<Vec<UpcomingRenewal>, DbError> {
    let rows = conn
        .query(
            "SELECT s.id, sv.name AS service, p.name AS plan, s.price_monthly, s.period_end
             FROM subscriptions s
             JOIN plans p ON p.id = s.plan_id
             JOIN services sv ON sv.id = s.service_id
             WHERE s.user_id = $1 AND s.status = ANY($2)
               AND s.auto_renew AND NOT s.cancel_at_period_end
             ORDER BY s.period_end, s.id",
            params![user_id, SubscriptionStatus::live_param()],
        )
        .await?;
    rows.iter()
        .map(|row| {
            Ok(UpcomingRenewal {
                subscription_id: row.get("id")?,
                service: row.get("service")?,
                plan: row.get("plan")?,
                amount: row.get("price_monthly")?,
                due_at: row.get("period_end")?,
            })
        })
        .collect()
}

//! The numbers that say how the business is doing, as SQL aggregates. Days are Asia/Jakarta
//! calendar days (UTC+7, no daylight saving): instants are stored in UTC and shifted by seven
//! hours before they are cut into days, weeks (from Monday) and months.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::{json, Value};

use crate::http::{ApiError, Fields, Input};

use crate::params;
use crate::ports::db::{Connection, DbError};
use crate::states::{State, SubscriptionStatus};

/// An inclusive range of Jakarta days and how to bucket it.
pub struct Range {
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// `day`, `week` or `month`.
    pub granularity: &'static str,
}

impl Range {
    /// `from` and `to` as `YYYY-MM-DD` Jakarta days (by default the last 30 days up to today)
    /// and `granularity` (`day`, `week` or `month`; by default `day`).
    pub fn parse(mut query: Fields, now: DateTime<Utc>) -> Result<Self, ApiError> {
        let date = |v: Input<'_>| {
            NaiveDate::parse_from_str(v.text()?.trim(), "%Y-%m-%d")
                .map_err(|_| "must be a date YYYY-MM-DD".to_owned())
        };
        let today = (now + JAKARTA_OFFSET).date_naive();
        let from = query
            .optional("from", date)
            .unwrap_or(today - Duration::days(29));
        let to = query.optional("to", date).unwrap_or(today);
        if from > to {
            query.reject("to", "must not be before from");
        }
        let granularity = query
            .optional("granularity", |v| match v.text()?.trim() {
                "day" => Ok("day"),
                "week" => Ok("week"),
                "month" => Ok("month"),
                _ => Err("must be day, week or month".to_owned()),
            })
            .unwrap_or("day");
        query.finish(|| {
            Some(Range {
                from,
                to,
                granularity,
            })
        })
    }
}

/// Jakarta's distance from UTC, which the SQL below writes as `interval '7 hours'`.
const JAKARTA_OFFSET: Duration = Duration::hours(7);

/// Moves of money between wallets and the platform within the range, seen from the wallet side
/// (so a refund that came back to the platform counts against refunds).
const MOVES: &str = "SELECT t.created_at + interval '7 hours' AS local_at, t.kind, t.reference,
            e.amount AS wallet_amount
     FROM ledger_transfers t
     JOIN ledger_entries e ON e.transfer_id = t.id
     JOIN ledger_accounts a ON a.id = e.account_id AND a.user_id IS NOT NULL
     WHERE t.created_at + interval '7 hours' >= $1::date
       AND t.created_at + interval '7 hours' < $2::date + 1";

const SUMS: &str = "coalesce(sum(m.wallet_amount) FILTER (WHERE m.kind IN ('TOP_UP', 'TOP_UP_REVERSAL')), 0)::bigint AS top_ups,
     coalesce(-sum(m.wallet_amount) FILTER (WHERE m.kind IN ('SUBSCRIPTION', 'UPGRADE', 'RENEWAL')), 0)::bigint AS charges,
     coalesce(sum(m.wallet_amount) FILTER (WHERE m.kind = 'REFUND'), 0)::bigint AS refunds";

fn money(row: crate::ports::db::Row<'_>) -> Result<Value, DbError> {
    let charges: i64 = row.get("charges")?;
    let refunds: i64 = row.get("refunds")?;
    Ok(json!({
        "topUps": row.get::<i64>("top_ups")?,
        "charges": charges,
        "refunds": refunds,
        "recognised": charges - refunds,
    }))
}

/// Settled top-ups and recognised subscription revenue (charges less refunds), per bucket and
/// per service.
pub async fn revenue(conn: &dyn Connection, range: &Range) -> Result<Value, DbError> {
    let rows = conn
        .query(
            &format!(
                "SELECT to_char(date_trunc($3, m.local_at), 'YYYY-MM-DD') AS period, {SUMS}
                 FROM ({MOVES}) m GROUP BY 1 ORDER BY 1"
            ),
            params![range.from, range.to, range.granularity],
        )
        .await?;
    let mut buckets = Vec::new();
    for row in rows.iter() {
        let mut bucket = money(row)?;
        bucket["period"] = json!(row.get::<String>("period")?);
        buckets.push(bucket);
    }
    let services = conn
        .query(
            &format!(
                "SELECT sv.slug AS service, {SUMS}
                 FROM ({MOVES}) m
                 JOIN subscriptions s ON s.id::text = m.reference
                 JOIN services sv ON sv.id = s.service_id
                 GROUP BY sv.slug ORDER BY sv.slug"
            ),
            params![range.from, range.to],
        )
        .await?;
    let mut by_service = Vec::new();
    for row in services.iter() {
        let mut entry = money(row)?;
        entry["service"] = json!(row.get::<String>("service")?);
        by_service.push(entry);
    }
    let totals = conn
        .query(
            &format!("SELECT {SUMS} FROM ({MOVES}) m"),
            params![range.from, range.to],
        )
        .await?;
    let totals = match totals.first() {
        Some(row) => money(row)?,
        None => json!({}),
    };
    Ok(json!({ "buckets": buckets, "byService": by_service, "totals": totals }))
}

/// Active subscriptions and monthly recurring revenue now, and the new and churned ones within
/// the range, overall and per plan.
pub async fn subscriptions(conn: &dyn Connection, range: &Range) -> Result<Value, DbError> {
    let rows = conn
        .query(
            "SELECT sv.slug AS service, p.name AS plan,
                    count(*) FILTER (WHERE s.status = ANY($3)) AS active,
                    coalesce(sum(s.price_monthly) FILTER (WHERE s.status = ANY($3)
                                                          AND s.auto_renew AND NOT s.cancel_at_period_end), 0)::bigint AS mrr,
                    count(*) FILTER (WHERE s.created_at + interval '7 hours' >= $1::date
                                       AND s.created_at + interval '7 hours' < $2::date + 1) AS new,
                    count(*) FILTER (WHERE s.status = ANY($4)
                                       AND s.ended_at + interval '7 hours' >= $1::date
                                       AND s.ended_at + interval '7 hours' < $2::date + 1) AS churned
             FROM subscriptions s JOIN plans p ON p.id = s.plan_id JOIN services sv ON sv.id = s.service_id
             GROUP BY sv.slug, p.name ORDER BY sv.slug, p.name",
            params![
                range.from,
                range.to,
                SubscriptionStatus::param(SubscriptionStatus::PAID_UP),
                SubscriptionStatus::param(SubscriptionStatus::ENDED)
            ],
        )
        .await?;
    let mut by_plan = Vec::new();
    let (mut active, mut mrr, mut new, mut churned) = (0i64, 0i64, 0i64, 0i64);
    for row in rows.iter() {
        let (a, m, n, c): (i64, i64, i64, i64) = (
            row.get("active")?,
            row.get("mrr")?,
            row.get("new")?,
            row.get("churned")?,
        );
        active += a;
        mrr += m;
        new += n;
        churned += c;
        by_plan.push(json!({
            "service": row.get::<String>("service")?,
            "plan": row.get::<String>("plan")?,
            "active": a, "mrr": m, "new": n, "churned": c,
        }));
    }
    Ok(json!({ "active": active, "mrr": mrr, "new": new, "churned": churned, "byPlan": by_plan }))
}

/// New users within the range, users with a live subscription, and users holding credit now.
pub async fn users(conn: &dyn Connection, range: &Range) -> Result<Value, DbError> {
    let rows = conn
        .query(
            "SELECT
                 (SELECT count(*) FROM users WHERE created_at + interval '7 hours' >= $1::date
                                              AND created_at + interval '7 hours' < $2::date + 1) AS new,
                 (SELECT count(DISTINCT user_id) FROM subscriptions
                   WHERE status = ANY($3)) AS active,
                 (SELECT count(*) FROM ledger_accounts WHERE user_id IS NOT NULL AND balance > 0) AS with_balance,
                 (SELECT count(*) FROM users) AS total",
            params![range.from, range.to, SubscriptionStatus::live_param()],
        )
        .await?;
    let row = rows
        .first()
        .ok_or_else(|| DbError::Other("no user counts".into()))?;
    Ok(json!({
        "new": row.get::<i64>("new")?,
        "active": row.get::<i64>("active")?,
        "withBalance": row.get::<i64>("with_balance")?,
        "total": row.get::<i64>("total")?,
    }))
}

/// Quota utilisation per plan, in whole percent.
pub async fn quota(conn: &dyn Connection) -> Result<Value, DbError> {
    let plans = super::quota_view(conn).await?;
    let plans: Vec<Value> = plans
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|mut p| {
            let (used, total) = (
                p["used"].as_i64().unwrap_or(0),
                p["total"].as_i64().unwrap_or(0),
            );
            p["utilisationPercent"] = json!(if total > 0 { used * 100 / total } else { 0 });
            p
        })
        .collect();
    Ok(json!({ "plans": plans }))
}

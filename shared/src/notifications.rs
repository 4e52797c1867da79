//! What the platform tells users: stored once per event, listed and marked read by the user,
//! and optionally delivered to an outbound webhook.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::http::{Page, Paging};
use crate::params;
use crate::ports::db::{Connection, DbError};
use crate::ports::{Config, ConfigError, HttpClient, OutboundRequest};
use crate::states::SubscriptionStatus;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    LowCredit,
    GraceStarted,
    GraceReminder,
    Suspended,
    Expired,
    Renewed,
    TopUpSettled,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::LowCredit => "LOW_CREDIT",
            Kind::GraceStarted => "GRACE_STARTED",
            Kind::GraceReminder => "GRACE_REMINDER",
            Kind::Suspended => "SUSPENDED",
            Kind::Expired => "EXPIRED",
            Kind::Renewed => "RENEWED",
            Kind::TopUpSettled => "TOP_UP_SETTLED",
        }
    }
}

pub struct Notice<'a> {
    pub user_id: Uuid,
    pub kind: Kind,
    pub subscription_id: Option<Uuid>,
    pub title: &'a str,
    pub body: String,
    /// Names the event: a second notice with the same key is dropped.
    pub dedupe_key: String,
}

/// The notifications' columns, for a statement that records a notice as part of a larger one:
/// `INSERT` this, then a `SELECT` of the values in this order, `ON CONFLICT (dedupe_key) DO
/// NOTHING` (once per event).
pub const INSERT: &str =
    "INSERT INTO notifications (user_id, kind, subscription_id, title, body, dedupe_key, created_at)";

/// Records a notice in the caller's transaction, once per event.
pub async fn notify(
    conn: &dyn Connection,
    notice: Notice<'_>,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    conn.execute(
        &format!(
            "{INSERT} VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (dedupe_key) DO NOTHING"
        ),
        params![
            notice.user_id,
            notice.kind.as_str(),
            notice.subscription_id,
            notice.title,
            notice.body,
            notice.dedupe_key,
            now
        ],
    )
    .await?;
    Ok(())
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    pub id: Uuid,
    pub kind: String,
    pub subscription_id: Option<Uuid>,
    pub title: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
}

pub async fn list(
    conn: &dyn Connection,
    user_id: Uuid,
    unread_only: bool,
    paging: Paging,
) -> Result<Page<Notification>, DbError> {
    let condition = "user_id = $1 AND (NOT $2 OR read_at IS NULL)";
    let total = conn
        .scalar(
            &format!("SELECT count(*) AS total FROM notifications WHERE {condition}"),
            params![user_id, unread_only],
        )
        .await?;
    let rows = conn
        .query(
            &format!(
                "SELECT id, kind, subscription_id, title, body, created_at, read_at
                 FROM notifications WHERE {condition}
                 ORDER BY created_at DESC, id LIMIT $3 OFFSET $4"
            ),
            params![user_id, unread_only, paging.limit, paging.offset()],
        )
        .await?;
    let items = rows
        .iter()
        .map(|row| {
            Ok(Notification {
                id: row.get("id")?,
                kind: row.get("kind")?,
                subscription_id: row.get("subscription_id")?,
                title: row.get("title")?,
                body: row.get("body")?,
                created_at: row.get("created_at")?,
                read_at: row.get("read_at")?,
            })
        })
        .collect::<Result<_, DbError>>()?;
    Ok(Page {
        items,
        total,
        paging,
    })
}

#[derive(Debug, thiserror::Error)]
pub enum NotificationError {
    #[error("No such notification")]
    NotFound,
    #[error(transparent)]
    Db(#[from] DbError),
}

/// Marks one of the user's notifications read; anyone else's is not found.
pub async fn mark_read(
    conn: &dyn Connection,
    user_id: Uuid,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), NotificationError> {
    let marked = conn
        .execute(
            "UPDATE notifications SET read_at = coalesce(read_at, $3) WHERE id = $1 AND user_id = $2",
            params![id, user_id, now],
        )
        .await?;
    if marked == 0 {
        return Err(NotificationError::NotFound);
    }
    Ok(())
}

/// Warns users whose wallet will not cover the renewals due within `days`, once per renewal.
pub async fn warn_low_credit(
    conn: &dyn Connection,
    days: i64,
    now: DateTime<Utc>,
) -> Result<u64, DbError> {
    conn.execute(
        "WITH due AS (
             SELECT s.id, s.user_id, s.period_end, p.price_monthly,
                    sum(p.price_monthly) OVER (PARTITION BY s.user_id) AS due_total
             FROM subscriptions s JOIN plans p ON p.id = s.plan_id
             WHERE s.status = $3 AND s.auto_renew AND NOT s.cancel_at_period_end
               AND p.price_monthly > 0 AND s.period_end > $1 AND s.period_end <= $2
         )
         INSERT INTO notifications (user_id, kind, subscription_id, title, body, dedupe_key, created_at)
         SELECT due.user_id, 'LOW_CREDIT', due.id, 'Top up before your renewal',
                format('%s rupiah is due by %s and your wallet holds %s rupiah.',
                       due.due_total, to_char(due.period_end, 'YYYY-MM-DD HH24:MI UTC'), a.balance),
                'low-credit:' || due.id || ':' || extract(epoch FROM due.period_end)::bigint, $1
         FROM due JOIN ledger_accounts a ON a.user_id = due.user_id
         WHERE a.balance < due.due_total
         ON CONFLICT (dedupe_key) DO NOTHING",
        params![now, now + Duration::days(days), SubscriptionStatus::Active],
    )
    .await
}

/// What `notification_webhook_origin` holds until an operator sets it: a name that can never
/// resolve (RFC 6761), since Spin refuses an empty `allowed_outbound_hosts` entry.
const NO_WEBHOOK_ORIGIN: &str = "https://notification-webhook.invalid";

/// Where notifications are also POSTed; `None`: they are stored only.
pub async fn webhook_url(config: &dyn Config) -> Result<Option<String>, ConfigError> {
    config
        .url_on_origin(
            "notification_webhook_url",
            "notification_webhook_origin",
            NO_WEBHOOK_ORIGIN,
        )
        .await
}

/// Posts undelivered notifications to the outbound webhook; those it does not accept stay
/// undelivered for the next run.
pub async fn deliver(
    conn: &dyn Connection,
    http: &dyn HttpClient,
    url: &str,
    now: DateTime<Utc>,
    batch: i64,
) -> Result<(u32, u32), DbError> {
    let rows = conn
        .query(
            "SELECT id, user_id, kind, subscription_id, title, body, created_at
             FROM notifications WHERE delivered_at IS NULL ORDER BY created_at LIMIT $1",
            params![batch],
        )
        .await?;
    let (mut delivered, mut failed) = (0, 0);
    for row in rows.iter() {
        let id: Uuid = row.get("id")?;
        let body: Value = json!({
            "id": id,
            "userId": row.get::<Uuid>("user_id")?,
            "kind": row.get::<String>("kind")?,
            "subscriptionId": row.get::<Option<Uuid>>("subscription_id")?,
            "title": row.get::<String>("title")?,
            "body": row.get::<String>("body")?,
            "createdAt": row.get::<DateTime<Utc>>("created_at")?,
        });
        let request = OutboundRequest::new("POST", url)
            .header("content-type", "application/json")
            .header("idempotency-key", id.to_string())
            .body(body.to_string().into_bytes());
        match http.send(request).await {
            Ok(response) if (200..300).contains(&response.status) => {
                conn.execute(
                    "UPDATE notifications SET delivered_at = $2 WHERE id = $1",
                    params![id, now],
                )
                .await?;
                delivered += 1;
            }
            // The URL may carry a secret in its query: the log names only the notification.
            Ok(response) => {
                tracing::warn!(notification = %id, status = response.status, "webhook refused a notification");
                failed += 1;
            }
            Err(error) => {
                tracing::warn!(notification = %id, %error, "webhook delivery failed");
                failed += 1;
            }
        }
    }
    Ok((delivered, failed))
}

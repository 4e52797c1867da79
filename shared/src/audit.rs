//! The audit log: every administrator's change to an object, with what it was before and
//! after, written in the same transaction as the change. Admin routes and subscriptions (an
//! administrator cancelling for a user) both record here.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use crate::http::{Page, Paging};
use crate::params;
use crate::ports::db::{Connection, DbError};

/// One administrator's change to one object.
pub struct Change<'a> {
    pub actor: Uuid,
    pub action: &'a str,
    pub target_type: &'a str,
    pub target_id: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// The audit log's columns, for a statement that records a change as part of a larger one:
/// `INSERT` this, then a `SELECT` of the values in this order.
pub const INSERT: &str =
    "INSERT INTO audit_log (actor_id, action, target_type, target_id, before, after, created_at)";

pub async fn record(
    tx: &dyn Connection,
    change: Change<'_>,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    tx.execute(
        &format!("{INSERT} VALUES ($1, $2, $3, $4, $5, $6, $7)"),
        params![
            change.actor,
            change.action,
            change.target_type,
            change.target_id,
            change.before.as_ref(),
            change.after.as_ref(),
            now
        ],
    )
    .await?;
    Ok(())
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    pub id: Uuid,
    pub actor_id: Uuid,
    pub actor_email: String,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub created_at: DateTime<Utc>,
}

/// The audit log, newest first, optionally for one action or one target.
pub async fn list(
    conn: &dyn Connection,
    action: Option<&str>,
    target_id: Option<&str>,
    paging: Paging,
) -> Result<Page<Entry>, DbError> {
    let condition =
        "($1::text IS NULL OR l.action = $1) AND ($2::text IS NULL OR l.target_id = $2)";
    let total = conn
        .scalar(
            &format!("SELECT count(*) AS total FROM audit_log l WHERE {condition}"),
            params![action, target_id],
        )
        .await?;
    let rows = conn
        .query(
            &format!(
                "SELECT l.id, l.actor_id, u.email, l.action, l.target_type, l.target_id, l.before,
                        l.after, l.created_at
                 FROM audit_log l JOIN users u ON u.id = l.actor_id WHERE {condition}
                 ORDER BY l.created_at DESC, l.id LIMIT $3 OFFSET $4"
            ),
            params![action, target_id, paging.limit, paging.offset()],
        )
        .await?;
    let items = rows
        .iter()
        .map(|r| {
            Ok(Entry {
                id: r.get("id")?,
                actor_id: r.get("actor_id")?,
                actor_email: r.get("email")?,
                action: r.get("action")?,
                target_type: r.get("target_type")?,
                target_id: r.get("target_id")?,
                before: r.get("before")?,
                after: r.get("after")?,
                created_at: r.get("created_at")?,
            })
        })
        .collect::<Result<_, DbError>>()?;
    Ok(Page {
        items,
        total,
        paging,
    })
}

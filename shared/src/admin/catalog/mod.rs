//! Catalog administration: categories, services (with their deployment templates) and plans.
//! Deletes are soft; nothing live subscriptions use can be deleted or deactivated.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use uuid::Uuid;

use super::AdminError;
use crate::audit::{record, Change};
use crate::params;
use crate::ports::db::{Connection, DbError, Param};
use crate::states::SubscriptionStatus;

mod write;

pub use write::Write;

/// A catalog object administrators write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Category,
    Service,
    Plan,
}

impl Kind {
    /// The kind a path segment names: `categories`, `services`, `plans`.
    pub fn from_path(segment: &str) -> Option<Self> {
        match segment {
            "categories" => Some(Kind::Category),
            "services" => Some(Kind::Service),
            "plans" => Some(Kind::Plan),
            _ => None,
        }
    }

    fn table(self) -> &'static str {
        match self {
            Kind::Category => "categories",
            Kind::Service => "services",
            Kind::Plan => "plans",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Category => "category",
            Kind::Service => "service",
            Kind::Plan => "plan",
        }
    }

    /// Live subscriptions that depend on an object of this kind.
    fn live_subscriptions(self) -> &'static str {
        match self {
            Kind::Category => {
                "SELECT count(*) AS n FROM subscriptions s JOIN services sv ON sv.id = s.service_id
                 WHERE sv.category_id = $1 AND s.status = ANY($2)"
            }
            Kind::Service => {
                "SELECT count(*) AS n FROM subscriptions s
                 WHERE s.service_id = $1 AND s.status = ANY($2)"
            }
            Kind::Plan => {
                "SELECT count(*) AS n FROM subscriptions s
                 WHERE s.plan_id = $1 AND s.status = ANY($2)"
            }
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

fn conflict_on_slug(error: DbError, kind: Kind) -> AdminError {
    if error.is_unique_violation() {
        AdminError::SlugTaken(kind)
    } else {
        error.into()
    }
}

async fn snapshot(tx: &dyn Connection, kind: Kind, id: Uuid) -> Result<Value, AdminError> {
    let rows = tx
        .query(
            &format!(
                "SELECT to_jsonb(t) AS row FROM {} t WHERE id = $1 AND deleted_at IS NULL",
                kind.table()
            ),
            params![id],
        )
        .await?;
    let row = rows.first().ok_or(AdminError::NotFound(kind))?;
    Ok(camel_case(row.get("row")?))
}

/// A stored row as the API speaks: `price_monthly` becomes `priceMonthly`, and a `*_at`
/// column (a `timestamp` holding UTC) an RFC 3339 instant in UTC, like every other route's.
fn camel_case(row: Value) -> Value {
    let Value::Object(columns) = row else {
        return row;
    };
    let camel = |column: &str| {
        let mut words = column.split('_');
        let first = words.next().unwrap_or_default().to_owned();
        words.fold(first, |mut name, word| {
            let mut chars = word.chars();
            if let Some(c) = chars.next() {
                name.extend(c.to_uppercase());
                name.push_str(chars.as_str());
            }
            name
        })
    };
    let instant = |column: &str, value: Value| match value {
        Value::String(text) if column.ends_with("_at") => {
            match chrono::NaiveDateTime::parse_from_str(&text, "%Y-%m-%dT%H:%M:%S%.f") {
                Ok(naive) => Value::String(
                    naive
                        .and_utc()
                        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
                ),
                Err(_) => Value::String(text),
            }
        }
        other => other,
    };
    Value::Object(
        columns
            .into_iter()
            .map(|(k, v)| (camel(&k), instant(&k, v)))
            .collect(),
    )
}

/// The object as stored, locked until the transaction ends.
async fn locked_snapshot(tx: &dyn Connection, kind: Kind, id: Uuid) -> Result<Value, AdminError> {
    tx.query(
        &format!("SELECT 1 FROM {} WHERE id = $1 FOR UPDATE", kind.table()),
        params![id],
    )
    .await?;
    snapshot(tx, kind, id).await
}

async fn refuse_if_in_use(
    tx: &dyn Connection,
    kind: Kind,
    id: Uuid,
    action: &'static str,
) -> Result<(), AdminError> {
    let live: i64 = tx
        .scalar(
            kind.live_subscriptions(),
            params![id, SubscriptionStatus::live_param()],
        )
        .await?;
    if live > 0 {
        return Err(AdminError::InUse { kind, live, action });
    }
    Ok(())
}

/// One object as stored.
pub async fn read(conn: &dyn Connection, kind: Kind, id: Uuid) -> Result<Value, AdminError> {
    snapshot(conn, kind, id).await
}

/// Every object of a kind that is not deleted, active or not.
pub async fn list(conn: &dyn Connection, kind: Kind) -> Result<Vec<Value>, DbError> {
    let rows = conn
        .query(
            &format!(
                "SELECT to_jsonb(t) AS row FROM {} t WHERE deleted_at IS NULL ORDER BY sort_order, name",
                kind.table()
            ),
            &[],
        )
        .await?;
    rows.iter().map(|r| Ok(camel_case(r.get("row")?))).collect()
}

/// Inserts an object of `kind`. Returns it as stored.
pub async fn create(
    conn: &dyn Connection,
    actor: Uuid,
    kind: Kind,
    write: Write,
    now: DateTime<Utc>,
) -> Result<Value, AdminError> {
    crate::transaction!(conn, |tx| -> Result<Value, AdminError> {
        let id = Uuid::new_v4();
        let names: Vec<&str> = write.columns.iter().map(|(c, _)| *c).collect();
        let placeholders: Vec<String> = (0..names.len()).map(|i| format!("${}", i + 3)).collect();
        let sql = format!(
            "INSERT INTO {} (id, created_at, updated_at, {}) VALUES ($1, $2, $2, {})",
            kind.table(),
            names.join(", "),
            placeholders.join(", ")
        );
        let mut params: Vec<Param> = vec![id.into(), now.into()];
        params.extend(write.columns.iter().map(|(_, v)| v.clone()));
        tx.execute(&sql, &params)
            .await
            .map_err(|e| conflict_on_slug(e, kind))?;
        let after = snapshot(tx, kind, id).await?;
        record(
            tx,
            Change {
                actor,
                action: &format!("{}.create", kind.name()),
                target_type: kind.name(),
                target_id: id.to_string(),
                before: None,
                after: Some(after.clone()),
            },
            now,
        )
        .await?;
        Ok(after)
    })
    .await
}

/// Updates the given columns of an object. Deactivating something live subscriptions use is
/// refused. A plan's new price applies from each subscription's next period: renewals charge the
/// plan's price when a period begins, and the current period keeps what was paid.
pub async fn update(
    conn: &dyn Connection,
    actor: Uuid,
    kind: Kind,
    id: Uuid,
    write: Write,
    now: DateTime<Utc>,
) -> Result<Value, AdminError> {
    crate::transaction!(conn, |tx| -> Result<Value, AdminError> {
        let before = locked_snapshot(tx, kind, id).await?;
        if write.deactivates() && before["isActive"] == json!(true) {
            refuse_if_in_use(tx, kind, id, "deactivated").await?;
        }
        if !write.columns.is_empty() {
            let sets: Vec<String> = write
                .columns
                .iter()
                .enumerate()
                .map(|(i, (c, _))| format!("{c} = ${}", i + 3))
                .collect();
            let sql = format!(
                "UPDATE {} SET updated_at = $2, {} WHERE id = $1",
                kind.table(),
                sets.join(", ")
            );
            let mut params: Vec<Param> = vec![id.into(), now.into()];
            params.extend(write.columns.iter().map(|(_, v)| v.clone()));
            tx.execute(&sql, &params)
                .await
                .map_err(|e| match e.sqlstate() {
                    Some("23514") => AdminError::BreaksRule {
                        kind,
                        rule: e.to_string(),
                    },
                    _ => conflict_on_slug(e, kind),
                })?;
        }
        let after = snapshot(tx, kind, id).await?;
        record(
            tx,
            Change {
                actor,
                action: &format!("{}.update", kind.name()),
                target_type: kind.name(),
                target_id: id.to_string(),
                before: Some(before),
                after: Some(after.clone()),
            },
            now,
        )
        .await?;
        Ok(after)
    })
    .await
}

/// Soft-deletes an object nothing live uses.
pub async fn delete(
    conn: &dyn Connection,
    actor: Uuid,
    kind: Kind,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<Value, AdminError> {
    crate::transaction!(conn, |tx| -> Result<Value, AdminError> {
        let before = locked_snapshot(tx, kind, id).await?;
        refuse_if_in_use(tx, kind, id, "deleted").await?;
        tx.execute(
            &format!(
                "UPDATE {} SET deleted_at = $2, is_active = false, updated_at = $2 WHERE id = $1",
                kind.table()
            ),
            params![id, now],
        )
        .await?;
        record(
            tx,
            Change {
                actor,
                action: &format!("{}.delete", kind.name()),
                target_type: kind.name(),
                target_id: id.to_string(),
                before: Some(before),
                after: None,
            },
            now,
        )
        .await?;
        Ok(json!({ "id": id, "deleted": true }))
    })
    .await
}

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use uuid::Uuid;

use super::AdminError;
use crate::audit::{record, Change};
use crate::auth::users::{self, User};
use crate::auth::Role;
use crate::http::Paging;
use crate::ledger::{self, Account, Posted, SystemAccount, Transfer, TransferKind};
use crate::money::Rupiah;
use crate::params;
use crate::ports::db::Connection;
use crate::{subscriptions, wallet};

fn not_yourself(what: &'static str) -> AdminError {
    AdminError::NotYourself { what }
}

async fn locked_user(tx: &dyn Connection, id: Uuid) -> Result<User, AdminError> {
    tx.query("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", params![id])
        .await?;
    users::find(tx, id).await?.ok_or(AdminError::UserNotFound)
}

/// A user with their wallet, subscriptions and instances.
pub async fn user_detail(conn: &dyn Connection, id: Uuid) -> Result<Value, AdminError> {
    let user = users::find(conn, id)
        .await?
        .ok_or(AdminError::UserNotFound)?;
    let wallet = wallet::summary(conn, id).await?;
    let filter = subscriptions::SubscriptionFilter {
        user_id: Some(id),
        ..Default::default()
    };
    let subscriptions = subscriptions::list(
        conn,
        &filter,
        Paging {
            page: 1,
            limit: 100,
        },
    )
    .await?;
    Ok(json!({
        "user": user,
        "wallet": wallet,
        "subscriptions": subscriptions.items,
    }))
}

pub async fn set_role(
    conn: &dyn Connection,
    actor: Uuid,
    id: Uuid,
    role: Role,
    now: DateTime<Utc>,
) -> Result<Value, AdminError> {
    if actor == id {
        return Err(not_yourself("change the role of"));
    }
    crate::transaction!(conn, |tx| -> Result<Value, AdminError> {
        let before = locked_user(tx, id).await?;
        tx.execute(
            "UPDATE users SET role = $2, updated_at = $3 WHERE id = $1",
            params![id, role.as_str(), now],
        )
        .await?;
        record(
            tx,
            Change {
                actor,
                action: "user.role",
                target_type: "user",
                target_id: id.to_string(),
                before: Some(json!({ "role": before.role })),
                after: Some(json!({ "role": role })),
            },
            now,
        )
        .await?;
        Ok(json!({ "id": id, "role": role }))
    })
    .await
}

/// Activates or deactivates an account. Deactivating ends every session (refresh tokens are
/// revoked) and keeps all data.
pub async fn set_active(
    conn: &dyn Connection,
    actor: Uuid,
    id: Uuid,
    active: bool,
    now: DateTime<Utc>,
) -> Result<Value, AdminError> {
    if actor == id && !active {
        return Err(not_yourself("deactivate"));
    }
    crate::transaction!(conn, |tx| -> Result<Value, AdminError> {
            let before = locked_user(tx, id).await?;
            tx.execute(
                "UPDATE users SET is_active = $2, updated_at = $3 WHERE id = $1",
                params![id, active, now],
            )
            .await?;
            if !active {
                tx.execute(
                    "UPDATE refresh_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
                    params![id, now],
                )
                .await?;
            }
            record(tx, Change {
                actor,
                action: if active { "user.activate" } else { "user.deactivate" },
                target_type: "user",
                target_id: id.to_string(),
                before: Some(json!({ "isActive": before.is_active })),
                after: Some(json!({ "isActive": active })),
            }, now)
            .await?;
            Ok(json!({ "id": id, "isActive": active }))
        })
    .await
}

/// A manual correction of a wallet: positive credits it, negative debits it.
pub struct Adjustment {
    pub amount: i64,
    pub reason: String,
    /// The administrator's `Idempotency-Key`: a retry with it moves nothing twice.
    pub idempotency_key: Option<String>,
}

/// Credits or debits a wallet through the ledger as an ADMIN_ADJUSTMENT recorded with the
/// administrator's id. A debit cannot take the wallet below zero.
pub async fn adjust_wallet(
    conn: &dyn Connection,
    actor: Uuid,
    user_id: Uuid,
    adjustment: Adjustment,
    now: DateTime<Utc>,
) -> Result<Value, AdminError> {
    let key = format!(
        "admin-adjustment:{actor}:{}",
        adjustment
            .idempotency_key
            .clone()
            .unwrap_or_else(|| Uuid::new_v4().to_string())
    );
    crate::transaction!(conn, |tx| -> Result<Value, AdminError> {
            users::find(tx, user_id).await?.ok_or(AdminError::UserNotFound)?;
            let before = ledger::wallet_balance(tx, user_id).await?;
            let amount = Rupiah::new(adjustment.amount.abs());
            let (from, to) = if adjustment.amount > 0 {
                (Account::System(SystemAccount::Adjustments), Account::Wallet(user_id))
            } else {
                (Account::Wallet(user_id), Account::System(SystemAccount::Adjustments))
            };
            let transfer = Transfer {
                key: key.clone(),
                kind: TransferKind::AdminAdjustment,
                from,
                to,
                amount,
                description: adjustment.reason.clone(),
                reference: Some(user_id.to_string()),
                actor: Some(actor),
            };
            let posted = ledger::post(tx, &transfer, now).await?;
            if let Posted::Duplicate { transfer_id } = posted {
                if !same_adjustment(tx, transfer_id, user_id, &adjustment).await? {
                    return Err(AdminError::IdempotencyKeyReused);
                }
            }
            let after = ledger::wallet_balance(tx, user_id).await?;
            let replayed = matches!(posted, Posted::Duplicate { .. });
            if !replayed {
                record(tx, Change {
                    actor,
                    action: "wallet.adjust",
                    target_type: "user",
                    target_id: user_id.to_string(),
                    before: Some(json!({ "balance": before })),
                    after: Some(json!({ "balance": after, "amount": adjustment.amount, "reason": adjustment.reason })),
                }, now)
                .await?;
            }
            Ok(json!({
                "transferId": posted.transfer_id(),
                "userId": user_id,
                "amount": adjustment.amount,
                "balance": after,
                "replayed": replayed,
            }))
        })
    .await
}

/// Whether an already posted adjustment is this one (same wallet, signed amount and reason), so
/// that a retry may replay it; a key reused for anything else is refused, as for top-ups.
async fn same_adjustment(
    tx: &dyn Connection,
    transfer_id: Uuid,
    user_id: Uuid,
    adjustment: &Adjustment,
) -> Result<bool, AdminError> {
    let rows = tx
        .query(
            "SELECT CASE WHEN d.user_id = $2 THEN -t.amount ELSE t.amount END AS signed_amount,
                    t.description, (d.user_id = $2 OR c.user_id = $2) AS same_wallet
             FROM ledger_transfers t
             JOIN ledger_accounts d ON d.id = t.debit_account_id
             JOIN ledger_accounts c ON c.id = t.credit_account_id
             WHERE t.id = $1",
            params![transfer_id, user_id],
        )
        .await?;
    let Some(row) = rows.first() else {
        return Ok(false);
    };
    Ok(row.get::<Option<bool>>("same_wallet")? == Some(true)
        && row.get::<i64>("signed_amount")? == adjustment.amount
        && row.get::<String>("description")? == adjustment.reason)
}

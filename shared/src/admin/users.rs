use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use uuid::Uuid;

use super::AdminError;
use crate::audit::{self, record, Change};
use crate::auth::users::{self, User};
use crate::auth::Role;
use crate::http::Paging;
use crate::ledger::{self, Account, LedgerError, SystemAccount, Transfer, TransferKind};
use crate::money::Rupiah;
use crate::params;
use crate::ports::db::{Connection, DbError, Param, Row, RowSet};
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
/// administrator's id, and writes the audit entry, in one statement inside a transaction (three
/// round trips). A debit cannot take the wallet below zero.
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
    let amount = Rupiah::new(adjustment.amount.abs());
    let (from, to) = if adjustment.amount > 0 {
        (
            Account::System(SystemAccount::Adjustments),
            Account::Wallet(user_id),
        )
    } else {
        (
            Account::Wallet(user_id),
            Account::System(SystemAccount::Adjustments),
        )
    };
    let transfer = Transfer {
        key,
        kind: TransferKind::AdminAdjustment,
        from,
        to,
        amount,
        description: adjustment.reason.clone(),
        reference: Some(user_id.to_string()),
        actor: Some(actor),
    };
    let (posting, mut params) = ledger::posting(&transfer, now)?;
    params.extend_from_slice(params![user_id, adjustment.amount, actor]);
    let statement = format!("{posting}, {}", ADJUSTED.replace("{AUDIT}", audit::INSERT));
    crate::transaction!(conn, |tx| -> Result<Value, AdminError> {
        let mut outcome = adjusted(tx, &statement, &params).await?;
        let unseen = |row: Row<'_>| -> Result<bool, DbError> {
            Ok(row.get::<Option<Uuid>>("posted")?.is_none()
                && row.get::<Option<Uuid>>("earlier")?.is_none())
        };
        if unseen(first(&outcome)?)? {
            // The key was taken by an adjustment that committed while the statement ran, not in
            // its snapshot: run again, the statement sees it and moves nothing.
            outcome = adjusted(tx, &statement, &params).await?;
        }
        let row = first(&outcome)?;
        let balance: i64 = row.get("balance")?;
        let replayed = row.get::<Option<Uuid>>("posted")?.is_none();
        let transfer_id: Uuid = if replayed {
            let same = row.get::<Option<i64>>("earlier_amount")? == Some(adjustment.amount)
                && row.get::<Option<String>>("earlier_reason")? == Some(adjustment.reason.clone());
            if !same {
                return Err(AdminError::IdempotencyKeyReused);
            }
            row.get("earlier")?
        } else if row.get::<bool>("paid")? {
            row.get("posted")?
        } else {
            return Err(LedgerError::insufficient(Rupiah::new(balance), amount).into());
        };
        Ok(json!({
            "transferId": transfer_id,
            "userId": user_id,
            "amount": adjustment.amount,
            "balance": balance,
            "replayed": replayed,
        }))
    })
    .await
}

async fn adjusted(
    tx: &dyn Connection,
    statement: &str,
    params: &[Param],
) -> Result<RowSet, AdminError> {
    let outcome = tx.query(statement, params).await?;
    if first(&outcome)?.get::<bool>("unknown_account")? {
        return Err(AdminError::UserNotFound);
    }
    Ok(outcome)
}

fn first(outcome: &RowSet) -> Result<Row<'_>, DbError> {
    outcome
        .first()
        .ok_or_else(|| DbError::Other("adjusting yielded no row".into()))
}

/// After `ledger::posting`: the audit entry of an adjustment that moved money (`$12` the user,
/// `$13` the signed amount, `$14` the administrator), and the outcome. A key already taken
/// names an earlier adjustment: the outcome says what it moved on this wallet (its signed
/// amount and reason), so that a retry may replay it and a key reused for anything else is
/// refused, as for top-ups.
const ADJUSTED: &str = "
    wallet AS (
        SELECT balance FROM ledger_accounts WHERE user_id = $12
    ),
    after AS (
        SELECT coalesce((SELECT balance FROM ledger_credit), (SELECT balance FROM ledger_debit),
            (SELECT balance FROM wallet)) AS balance
    ),
    audit AS (
        {AUDIT} SELECT $14, 'wallet.adjust', 'user', $12::text,
            jsonb_build_object('balance', w.balance),
            jsonb_build_object('balance', a.balance, 'amount', $13::bigint, 'reason', $8::text),
            $11
        FROM ledger_paid, wallet w, after a
    ),
    earlier AS (
        SELECT t.id,
            CASE WHEN d.user_id = $12 THEN -t.amount WHEN c.user_id = $12 THEN t.amount END
                AS amount,
            t.description
        FROM ledger_transfers t
        JOIN ledger_accounts d ON d.id = t.debit_account_id
        JOIN ledger_accounts c ON c.id = t.credit_account_id
        WHERE t.idempotency_key = $1
    )
    SELECT (SELECT id FROM ledger_transfer) AS posted,
           EXISTS (SELECT 1 FROM ledger_paid) AS paid,
           (SELECT debit_account_id IS NULL OR credit_account_id IS NULL FROM ledger_parties)
               AS unknown_account,
           (SELECT balance FROM after) AS balance,
           (SELECT id FROM earlier) AS earlier,
           (SELECT amount FROM earlier) AS earlier_amount,
           (SELECT description FROM earlier) AS earlier_reason";

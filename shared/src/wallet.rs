//! A user's wallet as they see it: balance, lifetime totals and transaction history.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::http::{Page, Paging};
use crate::money::Rupiah;
use crate::params;
use crate::ports::db::{Connection, DbError};
use crate::subscriptions::{upcoming_renewals, UpcomingRenewal};

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WalletSummary {
    pub balance: Rupiah,
    pub currency: &'static str,
    /// Topped up, less what the gateway took back.
    pub lifetime_top_up: Rupiah,
    /// Spent on subscriptions, less refunds.
    pub lifetime_spend: Rupiah,
    /// What each auto-renewing subscription will charge next, and when.
    pub upcoming_renewals: Vec<UpcomingRenewal>,
    pub upcoming_renewals_total: Rupiah,
}

pub async fn summary(conn: &dyn Connection, user_id: Uuid) -> Result<WalletSummary, DbError> {
    let rows = conn
        .query(
            "SELECT a.balance,
                    coalesce(sum(e.amount) FILTER (WHERE t.kind IN ('TOP_UP', 'TOP_UP_REVERSAL')), 0)::bigint
                        AS lifetime_top_up,
                    coalesce(-sum(e.amount) FILTER (WHERE t.kind IN ('SUBSCRIPTION', 'UPGRADE', 'RENEWAL', 'REFUND')), 0)::bigint
                        AS lifetime_spend
             FROM ledger_accounts a
             LEFT JOIN ledger_entries e ON e.account_id = a.id
             LEFT JOIN ledger_transfers t ON t.id = e.transfer_id
             WHERE a.user_id = $1
             GROUP BY a.id",
            params![user_id],
        )
        .await?;
    let row = rows
        .first()
        .ok_or_else(|| DbError::Other(format!("user {user_id} has no wallet")))?;
    let upcoming = upcoming_renewals(conn, user_id).await?;
    Ok(WalletSummary {
        balance: row.get("balance")?,
        currency: "IDR",
        lifetime_top_up: row.get("lifetime_top_up")?,
        lifetime_spend: row.get("lifetime_spend")?,
        upcoming_renewals_total: Rupiah::new(upcoming.iter().map(|r| r.amount.amount()).sum()),
        upcoming_renewals: upcoming,
    })
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WalletTransaction {
    pub id: Uuid,
    #[serde(rename = "type")]
    pub kind: String,
    pub status: String,
    /// Signed: positive into the wallet, negative out of it.
    pub amount: Rupiah,
    pub balance_before: Option<Rupiah>,
    pub balance_after: Option<Rupiah>,
    pub payment_method: Option<String>,
    pub reference: Option<String>,
    pub description: String,
    pub created_at: DateTime<Utc>,
}

pub const TRANSACTION_TYPES: [&str; 7] = [
    "TOP_UP",
    "TOP_UP_REVERSAL",
    "SUBSCRIPTION",
    "UPGRADE",
    "RENEWAL",
    "REFUND",
    "ADMIN_ADJUSTMENT",
];
pub const TRANSACTION_STATUSES: [&str; 3] = ["SUCCESS", "PENDING", "FAILED"];

pub struct TransactionFilter {
    pub kind: Option<String>,
    pub status: Option<String>,
    /// Inclusive calendar days (UTC).
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    pub paging: Paging,
}

/// A user's transactions, newest first.
pub async fn transactions(
    conn: &dyn Connection,
    user_id: Uuid,
    filter: &TransactionFilter,
) -> Result<Page<WalletTransaction>, DbError> {
    let condition = "user_id = $1 AND ($2::text IS NULL OR type = $2)
         AND ($3::text IS NULL OR status = $3)
         AND ($4::date IS NULL OR created_at >= $4)
         AND ($5::date IS NULL OR created_at < $5::date + 1)";
    let total = conn
        .scalar(
            &format!("SELECT count(*) AS total FROM wallet_transactions WHERE {condition}"),
            params![
                user_id,
                filter.kind.clone(),
                filter.status.clone(),
                filter.from,
                filter.to
            ],
        )
        .await?;
    let rows = conn
        .query(
            &format!(
                "SELECT id, type, status, amount, balance_before, balance_after, payment_method,
                        reference, description, created_at
                 FROM wallet_transactions WHERE {condition}
                 ORDER BY created_at DESC, id DESC LIMIT $6 OFFSET $7"
            ),
            params![
                user_id,
                filter.kind.clone(),
                filter.status.clone(),
                filter.from,
                filter.to,
                filter.paging.limit,
                filter.paging.offset()
            ],
        )
        .await?;
    let items = rows
        .iter()
        .map(|row| {
            Ok(WalletTransaction {
                id: row.get("id")?,
                kind: row.get("type")?,
                status: row.get("status")?,
                amount: row.get("amount")?,
                balance_before: row.get::<Option<i64>>("balance_before")?.map(Rupiah::new),
                balance_after: row.get::<Option<i64>>("balance_after")?.map(Rupiah::new),
                payment_method: row.get("payment_method")?,
                reference: row.get("reference")?,
                description: row.get("description")?,
                created_at: row.get("created_at")?,
            })
        })
        .collect::<Result<_, DbError>>()?;
    Ok(Page {
        items,
        total,
        paging: filter.paging,
    })
}

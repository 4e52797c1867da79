//! Top-ups: creating the order and its Snap page, and moving an order through its states as
//! Midtrans reports on it (from notifications and from the reconcile job alike).

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::{json, Value};
use uuid::Uuid;

use super::gateway::{GatewayReport, Outcome};
use super::midtrans::{Customer, Midtrans, MidtransError};
use super::PaymentError;
use super::{OrderId, PaymentSettings};
use crate::auth::users::User;
use crate::ledger::{self, SystemAccount, TransferKind};
use crate::money::Rupiah;
use crate::notifications::Kind;
use crate::params;
use crate::ports::db::{Connection, DbError, FromRow, Row};
use crate::ports::HttpClient;
use crate::states::TopUpStatus;

pub struct TopUpRequest {
    pub amount: Rupiah,
    /// The client's `Idempotency-Key`: a retry with it gets the first order back.
    pub idempotency_key: Option<String>,
}

struct StoredTopUp {
    order_id: String,
    amount: Rupiah,
    status: TopUpStatus,
    token: Option<String>,
    redirect_url: Option<String>,
    failure_reason: Option<String>,
}

impl FromRow for StoredTopUp {
    fn from_row(row: Row<'_>) -> Result<Self, DbError> {
        Ok(Self {
            order_id: row.get("order_id")?,
            amount: row.get("amount")?,
            status: row.get("status")?,
            token: row.get("snap_token")?,
            redirect_url: row.get("redirect_url")?,
            failure_reason: row.get("failure_reason")?,
        })
    }
}

fn gateway_failed(reason: &str) -> PaymentError {
    PaymentError::GatewayRefused {
        reason: reason.to_owned(),
    }
}

/// Creates a PENDING top-up and its Snap payment page. The order is stored before Snap is called,
/// so a notification can never arrive for an order we do not know.
pub async fn create_topup(
    conn: &dyn Connection,
    http: &dyn HttpClient,
    settings: &PaymentSettings,
    user: &User,
    request: TopUpRequest,
    now: DateTime<Utc>,
) -> Result<Value, PaymentError> {
    if request.amount < settings.topup_min || request.amount > settings.topup_max {
        return Err(PaymentError::AmountOutOfRange {
            min: settings.topup_min,
            max: settings.topup_max,
        });
    }
    let order_id = OrderId::generate(now).map_err(PaymentError::Invariant)?;
    let inserted = conn
        .query(
            "INSERT INTO topups (user_id, order_id, amount, status, idempotency_key, created_at,
                                 updated_at)
             VALUES ($1, $2, $3, $6, $4, $5, $5)
             ON CONFLICT (user_id, idempotency_key) DO NOTHING
             RETURNING order_id",
            params![
                user.id,
                order_id.as_str(),
                request.amount.amount(),
                request.idempotency_key.clone(),
                now,
                TopUpStatus::Pending
            ],
        )
        .await?;
    if inserted.is_empty() {
        return replay(conn, user.id, &request, settings).await;
    }

    let customer = Customer {
        name: &user.name,
        email: &user.email,
        phone: user.phone.as_deref(),
    };
    match Midtrans::new(http, settings)
        .create_snap(order_id.as_str(), request.amount, customer)
        .await
    {
        Ok(snap) => {
            conn.execute(
                "UPDATE topups SET snap_token = $2, redirect_url = $3, updated_at = $4
                 WHERE order_id = $1",
                params![
                    order_id.as_str(),
                    snap.token.as_str(),
                    snap.redirect_url.as_str(),
                    now
                ],
            )
            .await?;
            Ok(order_json(
                order_id.as_str(),
                request.amount,
                &snap.token,
                &snap.redirect_url,
                settings,
            ))
        }
        Err(error) => {
            tracing::warn!(%order_id, %error, "Snap refused or failed a top-up");
            conn.execute(
                "UPDATE topups SET status = $4, failure_reason = $2, updated_at = $3
                 WHERE order_id = $1 AND status = $5",
                params![
                    order_id.as_str(),
                    error.to_string(),
                    now,
                    TopUpStatus::Failed,
                    TopUpStatus::Pending
                ],
            )
            .await?;
            Err(gateway_failed(&error.to_string()))
        }
    }
}

/// The answer to a retried request: the first order's, whatever became of it.
async fn replay(
    conn: &dyn Connection,
    user_id: Uuid,
    request: &TopUpRequest,
    settings: &PaymentSettings,
) -> Result<Value, PaymentError> {
    let first: StoredTopUp = conn
        .fetch_optional(
            "SELECT order_id, amount, status, snap_token, redirect_url, failure_reason
             FROM topups WHERE user_id = $1 AND idempotency_key = $2",
            params![user_id, request.idempotency_key.clone()],
        )
        .await?
        .ok_or_else(|| PaymentError::Invariant("idempotent top-up vanished".into()))?;
    if first.amount != request.amount {
        return Err(PaymentError::IdempotencyKeyReused);
    }
    match (first.token, first.redirect_url) {
        (Some(token), Some(url)) => Ok(order_json(
            &first.order_id,
            first.amount,
            &token,
            &url,
            settings,
        )),
        _ if first.status == TopUpStatus::Failed => Err(gateway_failed(
            first.failure_reason.as_deref().unwrap_or("failed"),
        )),
        _ => Err(PaymentError::RequestInProgress),
    }
}

fn order_json(
    order_id: &str,
    amount: Rupiah,
    token: &str,
    redirect_url: &str,
    settings: &PaymentSettings,
) -> Value {
    json!({
        "orderId": order_id,
        "amount": amount,
        "status": TopUpStatus::Pending,
        "token": token,
        "redirectUrl": redirect_url,
        "clientKey": settings.client_key,
        "isProduction": settings.is_production,
    })
}

/// What a report did to its order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Applied {
    Credited,
    AlreadySettled,
    StillPending,
    MarkedFailed,
    Reversed {
        amount: Rupiah,
    },
    /// Nothing to do: a stale or duplicate report, or one about an order we do not know.
    Ignored {
        reason: String,
    },
    AmountMismatch {
        expected: Rupiah,
        reported: String,
    },
}

fn ignored(reason: &str) -> Applied {
    Applied::Ignored {
        reason: reason.to_owned(),
    }
}

/// Moves an order to what Midtrans reports, once: a payment or a reversal in one statement
/// (`settle`, `reverse`), any other report with the order row locked for the decision. Money
/// moves as a ledger transfer keyed by the order, and every combination of a current state and
/// a report either changes something exactly once or changes nothing.
pub async fn apply_report(
    conn: &dyn Connection,
    report: &GatewayReport,
    now: DateTime<Utc>,
) -> Result<Applied, PaymentError> {
    let fast = match (report.outcome(), report.amount()) {
        (Outcome::Paid, Ok(amount)) => settle(conn, report, amount, now).await?,
        (Outcome::Refunded | Outcome::ChargedBack, Ok(amount)) => {
            reverse(conn, report, amount, now).await?
        }
        _ => None,
    };
    if let Some(applied) = fast {
        return Ok(applied);
    }
    crate::transaction!(conn, |tx| -> Result<Applied, PaymentError> {
        let rows = tx
            .query(
                "SELECT amount, status FROM topups WHERE order_id = $1 FOR UPDATE",
                params![report.order_id.as_str()],
            )
            .await?;
        let Some(row) = rows.first() else {
            return Ok(ignored("unknown order"));
        };
        let amount = row.get("amount")?;
        let status: TopUpStatus = row.get("status")?;
        if report.amount() != Ok(amount) {
            return Ok(Applied::AmountMismatch {
                expected: amount,
                reported: report.gross_amount.clone(),
            });
        }
        let settled = status.was_settled();
        let applied = match (report.outcome(), settled) {
            (Outcome::Paid, true) => Applied::AlreadySettled,
            (Outcome::Waiting, false) if status == TopUpStatus::Pending => {
                record(tx, report, TopUpStatus::Pending, None, now).await?;
                Applied::StillPending
            }
            (Outcome::Failed, false) if status == TopUpStatus::Pending => {
                let reason = report.transaction_status.clone();
                record(tx, report, TopUpStatus::Failed, Some(&reason), now).await?;
                Applied::MarkedFailed
            }
            (Outcome::Unrecognised, _) => ignored("unrecognised transaction status"),
            _ => ignored("stale or duplicate report"),
        };
        Ok(applied)
    })
    .await
}

async fn record(
    tx: &dyn Connection,
    report: &GatewayReport,
    status: TopUpStatus,
    failure_reason: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    tx.execute(
        "UPDATE topups SET status = $2, gateway_status = $3,
             payment_type = coalesce($4, payment_type),
             gateway_transaction_id = coalesce($5, gateway_transaction_id),
             failure_reason = coalesce($6, failure_reason),
             settled_at = CASE WHEN $8 THEN coalesce(settled_at, $7) ELSE settled_at END,
             updated_at = $7
         WHERE order_id = $1",
        params![
            report.order_id.as_str(),
            status,
            report.transaction_status.as_str(),
            report.payment_type.clone(),
            report.transaction_id.clone(),
            failure_reason,
            now,
            status == TopUpStatus::Settled
        ],
    )
    .await?;
    Ok(())
}

/// Settles a paid order in one statement, the money write of a top-up: the order marked
/// SETTLED only if it was not settled before and the report names its amount, the wallet
/// credited through the ledger under the order's key, the user notified. Concurrent reports of
/// the same payment wait on the order row, and only the first finds it unsettled. `None` when
/// the order is unknown or the amounts differ: the general path says which.
async fn settle(
    conn: &dyn Connection,
    report: &GatewayReport,
    amount: Rupiah,
    now: DateTime<Utc>,
) -> Result<Option<Applied>, PaymentError> {
    let outcome = conn
        .query(
            &SETTLE.replace("{POSTING}", ledger::POSTING),
            params![
                report.order_id.as_str(),
                amount.amount(),
                report.transaction_status.as_str(),
                report.payment_type.clone(),
                report.transaction_id.clone(),
                TopUpStatus::Pending,
                now,
                TopUpStatus::Failed,
                TopUpStatus::Settled,
                format!("midtrans:{}", report.order_id),
                TransferKind::TopUp.as_str(),
                SystemAccount::GatewayClearing.kind(),
                Kind::TopUpSettled.as_str(),
                format!("{} rupiah was added to your wallet.", amount.amount()),
                format!("top-up:{}", report.order_id)
            ],
        )
        .await?;
    let row = outcome
        .first()
        .ok_or_else(|| DbError::Other("settling yielded no row".into()))?;
    Ok(if row.get::<bool>("credited")? {
        Some(Applied::Credited)
    } else if row.get::<bool>("known")? {
        // The order was settled before, or by a concurrent report while this one waited.
        Some(Applied::AlreadySettled)
    } else {
        None
    })
}

/// `$1` the order, `$2` its amount as reported; the report's status, payment type and
/// transaction (`$3` to `$5`); the statuses (`$6`, `$8`, `$9`); the transfer (`$10` to `$12`)
/// and the notice (`$13` to `$15`).
const SETTLE: &str = "
    WITH settled AS (
        UPDATE topups SET status = $9, gateway_status = $3,
            payment_type = coalesce($4, payment_type),
            gateway_transaction_id = coalesce($5, gateway_transaction_id),
            settled_at = coalesce(settled_at, $7), updated_at = $7
        WHERE order_id = $1 AND amount = $2 AND status IN ($6, $8)
        RETURNING user_id, amount
    ),
    ledger_input AS (
        SELECT $10::text AS key, $11::text AS kind, NULL::uuid AS from_user,
            $12::text AS from_kind, s.user_id AS to_user, 'WALLET' AS to_kind, s.amount,
            'Wallet top-up' AS description, $1::text AS reference, NULL::uuid AS actor_id,
            $7::timestamp AS created_at
        FROM settled s
    ),
    {POSTING},
    notice AS (
        INSERT INTO notifications (user_id, kind, title, body, dedupe_key, created_at)
        SELECT s.user_id, $13, 'Top-up received', $14, $15, $7
        FROM settled s, ledger_paid
        ON CONFLICT (dedupe_key) DO NOTHING
    )
    SELECT EXISTS (SELECT 1 FROM ledger_paid) AS credited,
           EXISTS (SELECT 1 FROM topups WHERE order_id = $1 AND amount = $2) AS known";

/// Takes back what Midtrans refunded or charged back, in one statement. Reports carry the total
/// reversed so far, so only the part not reversed yet moves (the order row, locked, says how
/// much that is), keyed by that total: duplicates and reordering move nothing twice. The wallet
/// may go below zero here, and only here: the money has already left. `None`, as for `settle`,
/// when the order is unknown or the amounts differ.
async fn reverse(
    conn: &dyn Connection,
    report: &GatewayReport,
    amount: Rupiah,
    now: DateTime<Utc>,
) -> Result<Option<Applied>, PaymentError> {
    let Ok(total) = report.reversed_total() else {
        return Ok(Some(ignored("unreadable reversal amount")));
    };
    if total > amount || total <= Rupiah::ZERO {
        return Ok(Some(ignored("reversal amount outside the order")));
    }
    let (status, description) = if report.outcome() == Outcome::ChargedBack {
        (TopUpStatus::ChargedBack, "Top-up charged back")
    } else {
        (TopUpStatus::Refunded, "Top-up refunded")
    };
    let rows = conn
        .query(
            &REVERSE.replace("{POSTING}", ledger::POSTING),
            params![
                report.order_id.as_str(),
                total.amount(),
                amount.amount(),
                TopUpStatus::Settled,
                TopUpStatus::Refunded,
                TopUpStatus::ChargedBack,
                format!("midtrans:{}:reversed:{}", report.order_id, total.amount()),
                TransferKind::TopUpReversal.as_str(),
                SystemAccount::GatewayClearing.kind(),
                description,
                now,
                status,
                report.transaction_status.as_str(),
                report.payment_type.clone(),
                report.transaction_id.clone()
            ],
        )
        .await?;
    let row = rows
        .first()
        .ok_or_else(|| DbError::Other("reversing yielded no row".into()))?;
    let reversed: Option<i64> = row.get("reversed")?;
    let was_paid: Option<bool> = row.get("was_paid")?;
    Ok(match (reversed, was_paid) {
        (Some(due), _) => Some(Applied::Reversed {
            amount: Rupiah::new(due),
        }),
        (None, None) => None,
        // As the statement's snapshot saw the order: only a reason for moving nothing.
        (None, Some(false)) => Some(ignored("stale or duplicate report")),
        (None, Some(true)) => Some(ignored("already reversed")),
    })
}

/// `$1` the order, `$2` the total reversed so far, `$3` the order's amount; the statuses an
/// order that was paid has (`$4` to `$6`); the transfer (`$7` to `$11`); what the order
/// becomes (`$12`, with the report's status, payment type and transaction, `$13` to `$15`).
/// The lock waits for a concurrent reversal of the order and then reads the row it left;
/// `was_paid` is NULL when no order has this id and amount.
const REVERSE: &str = "
    WITH locked AS (
        SELECT order_id, user_id, $2 - reversed_amount AS due FROM topups
        WHERE order_id = $1 AND amount = $3 AND status IN ($4, $5, $6) AND reversed_amount < $2
        FOR UPDATE
    ),
    ledger_input AS (
        SELECT $7::text AS key, $8::text AS kind, l.user_id AS from_user,
            'WALLET' AS from_kind, NULL::uuid AS to_user, $9::text AS to_kind, l.due AS amount,
            $10::text AS description, l.order_id AS reference, NULL::uuid AS actor_id,
            $11::timestamp AS created_at
        FROM locked l
    ),
    {POSTING},
    reversed AS (
        UPDATE topups SET reversed_amount = $2, status = $12, gateway_status = $13,
            payment_type = coalesce($14, payment_type),
            gateway_transaction_id = coalesce($15, gateway_transaction_id), updated_at = $11
        WHERE order_id = $1 AND EXISTS (SELECT 1 FROM ledger_paid)
    )
    SELECT (SELECT amount FROM ledger_paid) AS reversed,
           (SELECT status IN ($4, $5, $6) FROM topups WHERE order_id = $1 AND amount = $3)
               AS was_paid";

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReconcileSummary {
    pub checked: u32,
    pub settled: u32,
    pub failed: u32,
    pub still_pending: u32,
    pub errors: u32,
}

/// Asks Midtrans about top-ups left PENDING longer than the configured age and settles or fails
/// them exactly as a notification would. An order Midtrans never heard of (the user closed the
/// Snap page) fails once it can no longer be paid.
pub async fn reconcile_pending(
    conn: &dyn Connection,
    http: &dyn HttpClient,
    settings: &PaymentSettings,
    now: DateTime<Utc>,
    batch: i64,
) -> Result<ReconcileSummary, PaymentError> {
    let rows = conn
        .query(
            // The state as the partial index topups_pending_idx names it, for the planner.
            "SELECT order_id, created_at FROM topups
             WHERE status = 'PENDING' AND created_at <= $1
             ORDER BY created_at LIMIT $2",
            params![
                now - Duration::seconds(settings.reconcile_after_seconds),
                batch
            ],
        )
        .await?;
    let midtrans = Midtrans::new(http, settings);
    let mut summary = ReconcileSummary::default();
    for row in rows.iter() {
        let order_id: String = row.get("order_id")?;
        let created_at: DateTime<Utc> = row.get("created_at")?;
        summary.checked += 1;
        match midtrans.status(&order_id).await {
            Ok(report) => match apply_report(conn, &report, now).await? {
                Applied::Credited | Applied::AlreadySettled => summary.settled += 1,
                Applied::MarkedFailed => summary.failed += 1,
                Applied::StillPending => summary.still_pending += 1,
                other => {
                    tracing::warn!(order_id, ?other, "reconcile could not apply a status");
                    summary.errors += 1;
                }
            },
            Err(MidtransError::NotFound)
                if created_at <= now - Duration::seconds(settings.order_lifetime_seconds) =>
            {
                conn.execute(
                    "UPDATE topups SET status = $3, failure_reason = 'never paid',
                         updated_at = $2
                     WHERE order_id = $1 AND status = $4",
                    params![
                        order_id.as_str(),
                        now,
                        TopUpStatus::Failed,
                        TopUpStatus::Pending
                    ],
                )
                .await?;
                summary.failed += 1;
            }
            Err(MidtransError::NotFound) => summary.still_pending += 1,
            Err(error) => {
                tracing::warn!(order_id, %error, "reconcile could not reach Midtrans");
                summary.errors += 1;
            }
        }
    }
    Ok(summary)
}

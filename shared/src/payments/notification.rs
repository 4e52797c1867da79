//! Midtrans HTTP notifications. Deliveries repeat and arrive out of order; each is verified, then
//! applied through the same state machine as the reconcile job.

use chrono::{DateTime, Utc};

use super::gateway::{GatewayReport, Outcome};
use super::midtrans::{Midtrans, MidtransError};
use super::signature::{notification_signature, signature_matches};
use super::topup::{apply_report, Applied};
use super::PaymentError;
use super::PaymentSettings;
use crate::money::Rupiah;
use crate::params;
use crate::ports::db::Connection;
use crate::ports::HttpClient;
use crate::states::TopUpStatus;

/// Verifies and applies one notification. A forged signature is 401 and changes nothing; a
/// signed report whose amount differs from the order is 400 and credits nothing; everything
/// else, including duplicates, stale reports and unknown orders, is handled or ignored with 200.
pub async fn receive_notification(
    conn: &dyn Connection,
    http: &dyn HttpClient,
    settings: &PaymentSettings,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<Applied, PaymentError> {
    let report = GatewayReport::parse(body).map_err(PaymentError::InvalidNotification)?;
    let expected = notification_signature(
        report.order_id.as_str(),
        &report.status_code,
        &report.gross_amount,
        &settings.server_key,
    );
    if !signature_matches(
        &expected,
        report.signature_key.as_deref().unwrap_or_default(),
    ) {
        tracing::warn!(order_id = %report.order_id, "notification with a bad signature refused");
        return Err(PaymentError::InvalidSignature);
    }
    let order = stored_order(conn, &report).await?;
    if let Some((_, amount)) = &order {
        if report.amount().ok() != Some(*amount) {
            return Err(amount_mismatch(&report, *amount));
        }
    }
    let report = match order {
        Some((status, _))
            if needs_confirmation(settings, &report) && would_move_money(status, &report) =>
        {
            confirmed(http, settings, &report).await?
        }
        _ => report,
    };
    let applied = apply_report(conn, &report, now).await?;
    if let Applied::AmountMismatch { expected, .. } = &applied {
        return Err(amount_mismatch(&report, *expected));
    }
    tracing::info!(order_id = %report.order_id, status = %report.transaction_status, ?applied, "notification applied");
    Ok(applied)
}

/// Midtrans signs `order_id`, `status_code` and `gross_amount`, not `transaction_status`: a
/// captured settlement can be replayed as a refund with its signature intact. So news that takes
/// money back or fails an order is acted on only once the status API confirms it, whatever
/// `midtrans_verify_status` says; that setting decides only for news that credits.
fn needs_confirmation(settings: &PaymentSettings, report: &GatewayReport) -> bool {
    match report.outcome() {
        Outcome::Refunded | Outcome::ChargedBack | Outcome::Failed => true,
        Outcome::Paid | Outcome::Waiting | Outcome::Unrecognised => settings.verify_status,
    }
}

fn amount_mismatch(report: &GatewayReport, expected: Rupiah) -> PaymentError {
    tracing::error!(order_id = %report.order_id, %expected, reported = report.gross_amount, "signed notification with a wrong amount");
    PaymentError::AmountMismatch {
        order_id: report.order_id.as_str().to_owned(),
    }
}

/// The order's status and amount, when it is one of ours.
async fn stored_order(
    conn: &dyn Connection,
    report: &GatewayReport,
) -> Result<Option<(TopUpStatus, Rupiah)>, PaymentError> {
    let rows = conn
        .query(
            "SELECT status, amount FROM topups WHERE order_id = $1",
            params![report.order_id.as_str()],
        )
        .await?;
    rows.first()
        .map(|row| Ok((row.get("status")?, row.get("amount")?)))
        .transpose()
}

/// Whether acting on this report could change an order in `status`; only then is it worth a
/// call to the status API. A repeat of a settled order's news answers at once, whatever
/// Midtrans's state.
fn would_move_money(status: TopUpStatus, report: &GatewayReport) -> bool {
    let open = !status.was_settled();
    match report.outcome() {
        Outcome::Paid => open,
        Outcome::Failed | Outcome::Waiting => status == TopUpStatus::Pending,
        Outcome::Refunded | Outcome::ChargedBack => !open,
        Outcome::Unrecognised => false,
    }
}

/// The status API's word on the order, which replaces the notification's.
async fn confirmed(
    http: &dyn HttpClient,
    settings: &PaymentSettings,
    notified: &GatewayReport,
) -> Result<GatewayReport, PaymentError> {
    match Midtrans::new(http, settings)
        .status(notified.order_id.as_str())
        .await
    {
        Ok(report) if report.order_id == notified.order_id => Ok(report),
        Ok(_) => Err(PaymentError::StatusUnconfirmed(
            "The status API answered about another order".into(),
        )),
        // Unconfirmed: a 5xx makes Midtrans deliver the notification again later.
        Err(MidtransError::NotFound) => Err(PaymentError::StatusUnconfirmed(
            "The status API does not know this order yet".into(),
        )),
        Err(error) => Err(PaymentError::StatusUnconfirmed(error.to_string())),
    }
}

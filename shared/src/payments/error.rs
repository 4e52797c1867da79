use crate::ledger::LedgerError;
use crate::money::Rupiah;
use crate::ports::db::DbError;

/// Why a top-up or a gateway report was refused, in the business's words.
#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    #[error("must be between {} and {} rupiah", min.amount(), max.amount())]
    AmountOutOfRange { min: Rupiah, max: Rupiah },
    #[error("This Idempotency-Key was used for a different top-up")]
    IdempotencyKeyReused,
    #[error("A top-up with this Idempotency-Key is still being created; retry shortly")]
    RequestInProgress,
    /// Snap refused or failed the order; the reason is the gateway's.
    #[error("The payment gateway could not start this top-up; nothing was charged. Try again.")]
    GatewayRefused { reason: String },
    #[error("{0}")]
    InvalidNotification(String),
    #[error("The notification signature does not match")]
    InvalidSignature,
    #[error("The notified amount differs from the order")]
    AmountMismatch { order_id: String },
    /// News that needs the status API's word could not get it; Midtrans delivers it again.
    #[error("{0}")]
    StatusUnconfirmed(String),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Db(#[from] DbError),
    /// Stored data broke one of our own invariants: a bug, never the caller's fault.
    #[error("{0}")]
    Invariant(String),
}

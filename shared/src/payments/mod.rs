//! Wallet top-ups through Midtrans Snap, and what Midtrans tells us about them afterwards.

mod error;
mod gateway;
mod midtrans;
mod notification;
mod order_id;
mod settings;
mod signature;
mod topup;

pub use error::PaymentError;
pub use gateway::{GatewayReport, Outcome};
pub use midtrans::{Customer, Midtrans, MidtransError, SnapOrder};
pub use notification::receive_notification;
pub use order_id::OrderId;
pub use settings::PaymentSettings;
pub use signature::notification_signature;
pub use topup::{
    apply_report, create_topup, reconcile_pending, Applied, ReconcileSummary, TopUpRequest,
};

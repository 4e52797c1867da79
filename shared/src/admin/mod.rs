//! What operators do: manage users and their wallets, watch quotas and subscriptions. Every
//! change is written to the audit log in the same transaction as the change itself.

pub mod analytics;
pub mod catalog;
mod error;
mod quota;
mod users;

pub use error::AdminError;
pub use quota::{adjust_quota, check_quota, quota_view};
pub use users::{adjust_wallet, set_active, set_role, user_detail, Adjustment};

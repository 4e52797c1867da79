use uuid::Uuid;

use crate::catalog::PlanTier;
use crate::ledger::LedgerError;
use crate::ports::db::DbError;

/// Why a subscription could not be opened, changed or ended, in the business's words.
#[derive(Debug, thiserror::Error)]
pub enum SubscriptionError {
    #[error("No such subscription")]
    NotFound,
    #[error("No such plan")]
    PlanNotFound,
    #[error("This plan is not on sale any more")]
    PlanNotOnSale,
    #[error("The new plan belongs to another service")]
    PlanOfAnotherService,
    #[error("This is already your plan")]
    SamePlan,
    #[error("Plans can only move up from {from}: choose a higher tier")]
    DowngradeNotAllowed { from: PlanTier },
    #[error("The {plan} plan is full right now; try another plan or later")]
    PlanFull { plan: String },
    #[error("The {plan} plan allows {allowed} instance(s) per user, and you hold {held}")]
    InstanceLimit {
        plan: String,
        allowed: i64,
        held: i64,
    },
    /// The user already has a live subscription to the service (its id, when known).
    #[error("You already subscribe to this service: upgrade that subscription instead")]
    AlreadySubscribed { existing: Option<Uuid> },
    #[error("This Idempotency-Key was used for a different subscription")]
    IdempotencyKeyReused,
    #[error("That instance name was just taken; try again")]
    SubdomainTaken,
    #[error("An upgrade of this subscription is in progress; try again once it is done")]
    UpgradeInProgress,
    #[error("Only an active subscription can change plan")]
    NotActive,
    #[error(
        "The instance could not be resized; the plan change was undone and nothing was charged"
    )]
    ResizeFailed,
    /// The wallet cannot pay, or the ledger refused the transfer.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Db(#[from] DbError),
    /// Stored data broke one of our own invariants: a bug, never the caller's fault.
    #[error("{0}")]
    Invariant(String),
}

use super::catalog::Kind;
use crate::ledger::LedgerError;
use crate::ports::db::DbError;

/// Why an operator's change was refused, in the business's words.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("No such user")]
    UserNotFound,
    #[error("Administrators cannot {what} themselves; ask another administrator")]
    NotYourself { what: &'static str },
    #[error("This Idempotency-Key was used for a different adjustment")]
    IdempotencyKeyReused,
    #[error("No such {0}")]
    NotFound(Kind),
    #[error("Another {0} already uses this slug or name")]
    SlugTaken(Kind),
    #[error("{live} live subscription(s) use this {kind}: it cannot be {action}")]
    InUse {
        kind: Kind,
        live: i64,
        action: &'static str,
    },
    /// A check constraint of the schema refused the change; `rule` is the database's words.
    #[error("The change breaks a rule of the {kind}: {rule}")]
    BreaksRule { kind: Kind, rule: String },
    #[error("{used} slots are in use: the total cannot go below that")]
    QuotaBelowUsed { used: i32 },
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Db(#[from] DbError),
}

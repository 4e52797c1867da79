//! The double-entry ledger: the one way money moves. Every movement is a transfer between two
//! accounts, posted inside the caller's database transaction so it commits or rolls back with
//! the business change it pays for. A transfer's idempotency key makes retries harmless.

mod check;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::money::Rupiah;
use crate::params;
use crate::ports::db::{Connection, DbError, Param};

pub use check::{check, LedgerReport};

/// An account of the platform itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SystemAccount {
    /// Money received by Midtrans on our behalf.
    GatewayClearing,
    Revenue,
    Refunds,
    /// The other side of administrators' manual corrections.
    Adjustments,
}

impl SystemAccount {
    pub fn kind(self) -> &'static str {
        match self {
            SystemAccount::GatewayClearing => "GATEWAY_CLEARING",
            SystemAccount::Revenue => "REVENUE",
            SystemAccount::Refunds => "REFUNDS",
            SystemAccount::Adjustments => "ADJUSTMENTS",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Account {
    /// A user's wallet, by user id.
    Wallet(Uuid),
    System(SystemAccount),
}

impl Account {
    /// How SQL finds it: a wallet by its user, a system account by its kind.
    fn lookup(self) -> (Option<Uuid>, &'static str) {
        match self {
            Account::Wallet(user_id) => (Some(user_id), "WALLET"),
            Account::System(system) => (None, system.kind()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferKind {
    TopUp,
    TopUpReversal,
    Subscription,
    Upgrade,
    Renewal,
    Refund,
    AdminAdjustment,
}

impl TransferKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TransferKind::TopUp => "TOP_UP",
            TransferKind::TopUpReversal => "TOP_UP_REVERSAL",
            TransferKind::Subscription => "SUBSCRIPTION",
            TransferKind::Upgrade => "UPGRADE",
            TransferKind::Renewal => "RENEWAL",
            TransferKind::Refund => "REFUND",
            TransferKind::AdminAdjustment => "ADMIN_ADJUSTMENT",
        }
    }
}

/// Money leaving `from` and arriving in `to`.
#[derive(Debug, Clone)]
pub struct Transfer {
    pub key: String,
    pub kind: TransferKind,
    pub from: Account,
    pub to: Account,
    /// Strictly positive.
    pub amount: Rupiah,
    pub description: String,
    pub reference: Option<String>,
    pub actor: Option<Uuid>,
}

impl Transfer {
    /// A wallet pays the platform for a subscription (`reference`: its id).
    pub fn charge(
        key: String,
        kind: TransferKind,
        user_id: Uuid,
        amount: Rupiah,
        description: String,
        reference: Uuid,
    ) -> Self {
        Self {
            key,
            kind,
            from: Account::Wallet(user_id),
            to: Account::System(SystemAccount::Revenue),
            amount,
            description,
            reference: Some(reference.to_string()),
            actor: None,
        }
    }

    /// The platform gives money back to a wallet for a subscription (`reference`: its id).
    pub fn refund(
        key: String,
        user_id: Uuid,
        amount: Rupiah,
        description: String,
        reference: Uuid,
    ) -> Self {
        Self {
            key,
            kind: TransferKind::Refund,
            from: Account::System(SystemAccount::Refunds),
            to: Account::Wallet(user_id),
            amount,
            description,
            reference: Some(reference.to_string()),
            actor: None,
        }
    }

    /// Who moved it, when that was someone other than the wallet's owner.
    pub fn by(mut self, actor: Option<Uuid>) -> Self {
        self.actor = actor;
        self
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Posted {
    /// Posted now; the wallet balance after it, when a wallet took part.
    New { transfer_id: Uuid },
    /// A transfer with this key exists already: nothing moved this time.
    Duplicate { transfer_id: Uuid },
}

impl Posted {
    pub fn transfer_id(&self) -> Uuid {
        match self {
            Posted::New { transfer_id } | Posted::Duplicate { transfer_id } => *transfer_id,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("insufficient credit: balance {balance}, short by {shortfall}")]
    InsufficientCredit { balance: Rupiah, shortfall: Rupiah },
    #[error("invalid transfer: {0}")]
    Invalid(&'static str),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl LedgerError {
    /// A wallet holding `balance` cannot pay `amount`.
    pub fn insufficient(balance: Rupiah, amount: Rupiah) -> Self {
        LedgerError::InsufficientCredit {
            balance,
            shortfall: Rupiah::new(amount.amount() - balance.amount()),
        }
    }
}

/// The CTEs that post the transfer a statement's `ledger_input` CTE yields: the transfer row,
/// the conditional debit (so two concurrent debits can never spend the same rupiah), the credit
/// and both entries. They follow `ledger_input` in a `WITH` list, so a business change and the
/// money it moves are one statement; the statement learns the outcome from `ledger_parties`
/// (a NULL account id: no such account), `ledger_transfer` (a row: the key was free) and
/// `ledger_paid` (a row: the money moved). It raises no error a caller must tell apart: under
/// Spin, an error met while a query's rows stream in comes back as text, without its SQLSTATE. Run it inside a
/// transaction and roll back when the money did not move: the transfer row stays otherwise.
///
/// `ledger_input`'s columns: `key`, `kind`, `from_user`, `from_kind`, `to_user`, `to_kind`
/// (a wallet by its user and `WALLET`, a system account by its kind and a NULL user), `amount`
/// (strictly positive), `description`, `reference`, `actor_id`, `created_at`. Only wallets keep
/// a cached balance; a system account's side always succeeds. Only the gateway can impose a
/// debit we cannot refuse (a refund or chargeback of a top-up already spent): every other kind
/// is paid from what the wallet holds.
pub const POSTING: &str = "
    ledger_parties AS (
        SELECT i.*,
            coalesce((SELECT id FROM ledger_accounts WHERE user_id = i.from_user),
                     (SELECT id FROM ledger_accounts WHERE kind = i.from_kind AND user_id IS NULL))
                AS debit_account_id,
            coalesce((SELECT id FROM ledger_accounts WHERE user_id = i.to_user),
                     (SELECT id FROM ledger_accounts WHERE kind = i.to_kind AND user_id IS NULL))
                AS credit_account_id
        FROM ledger_input i
    ),
    ledger_transfer AS (
        INSERT INTO ledger_transfers (idempotency_key, kind, debit_account_id, credit_account_id,
            amount, description, reference, actor_id, created_at)
        SELECT p.key, p.kind, p.debit_account_id, p.credit_account_id, p.amount, p.description,
            p.reference, p.actor_id, p.created_at
        FROM ledger_parties p
        WHERE p.debit_account_id IS NOT NULL AND p.credit_account_id IS NOT NULL
        ON CONFLICT (idempotency_key) DO NOTHING
        RETURNING id, kind, debit_account_id, credit_account_id, amount, created_at
    ),
    ledger_debit AS (
        UPDATE ledger_accounts a SET balance = a.balance - t.amount
        FROM ledger_transfer t
        WHERE a.id = t.debit_account_id AND a.kind = 'WALLET'
          AND (a.balance - t.amount >= 0 OR t.kind = 'TOP_UP_REVERSAL')
        RETURNING a.balance
    ),
    ledger_paid AS (
        SELECT t.*, (SELECT balance FROM ledger_debit) AS debit_after
        FROM ledger_transfer t, ledger_input i
        WHERE i.from_kind <> 'WALLET' OR EXISTS (SELECT 1 FROM ledger_debit)
    ),
    ledger_credit AS (
        UPDATE ledger_accounts a SET balance = a.balance + p.amount
        FROM ledger_paid p
        WHERE a.id = p.credit_account_id AND a.kind = 'WALLET'
        RETURNING a.balance
    ),
    ledger_entries AS (
        INSERT INTO ledger_entries (transfer_id, account_id, amount, balance_after, created_at)
        SELECT p.id, p.debit_account_id, -p.amount, p.debit_after, p.created_at FROM ledger_paid p
        UNION ALL
        SELECT p.id, p.credit_account_id, p.amount, (SELECT balance FROM ledger_credit),
            p.created_at
        FROM ledger_paid p
    )";

/// The start of a statement that posts `transfer`: `WITH ledger_input AS (...), <POSTING>`, whose
/// parameters are `$1` to `$11`, and their values. The caller adds its own CTEs (from `$12`)
/// and its final `SELECT`, so a business change and the transfer it pays for are one statement.
/// `$1` is the transfer's key; `$3` the paying wallet's user, when a wallet pays.
pub fn posting(
    transfer: &Transfer,
    now: DateTime<Utc>,
) -> Result<(String, Vec<Param>), LedgerError> {
    let (ctes, params) = posting_when(transfer, now, 1, "(VALUES (true)) AS always (go)")?;
    Ok((format!("WITH {ctes}"), params))
}

/// The CTEs that post `transfer` when `source` (a `FROM` clause over earlier CTEs, with any
/// `WHERE`) yields a row, for the middle of a `WITH` list; their parameters start at `$first`.
pub fn posting_when(
    transfer: &Transfer,
    now: DateTime<Utc>,
    first: usize,
    source: &str,
) -> Result<(String, Vec<Param>), LedgerError> {
    if transfer.amount <= Rupiah::ZERO {
        return Err(LedgerError::Invalid("the amount must be positive"));
    }
    if transfer.from == transfer.to {
        return Err(LedgerError::Invalid("an account cannot pay itself"));
    }
    let (from_user, from_kind) = transfer.from.lookup();
    let (to_user, to_kind) = transfer.to.lookup();
    let p = |n: usize| format!("${}", first + n);
    let ctes = format!(
        "ledger_input AS (
             SELECT {}::text AS key, {}::text AS kind, {}::uuid AS from_user,
                 {}::text AS from_kind, {}::uuid AS to_user, {}::text AS to_kind,
                 {}::bigint AS amount, {}::text AS description, {}::text AS reference,
                 {}::uuid AS actor_id, {}::timestamp AS created_at
             FROM {source}
         ),
         {POSTING}",
        p(0),
        p(1),
        p(2),
        p(3),
        p(4),
        p(5),
        p(6),
        p(7),
        p(8),
        p(9),
        p(10)
    );
    let params = params![
        transfer.key.as_str(),
        transfer.kind.as_str(),
        from_user,
        from_kind,
        to_user,
        to_kind,
        transfer.amount.amount(),
        transfer.description.as_str(),
        transfer.reference.clone(),
        transfer.actor,
        now
    ]
    .to_vec();
    Ok((ctes, params))
}

/// Posts a transfer in one statement (see `posting`). Call it inside a transaction: on
/// `InsufficientCredit` the caller must roll back, which also removes the transfer row this
/// inserted (it moved no balance and has no entries).
pub async fn post(
    tx: &dyn Connection,
    transfer: &Transfer,
    now: DateTime<Utc>,
) -> Result<Posted, LedgerError> {
    let (posting, params) = posting(transfer, now)?;
    let posted = tx
        .query(
            &format!(
                "{posting}
                 SELECT (SELECT id FROM ledger_transfer) AS posted,
                        EXISTS (SELECT 1 FROM ledger_paid) AS paid,
                        (SELECT debit_account_id IS NULL OR credit_account_id IS NULL
                         FROM ledger_parties) AS unknown_account,
                        (SELECT id FROM ledger_transfers WHERE idempotency_key = $1) AS existing,
                        (SELECT balance FROM ledger_accounts WHERE user_id = $3) AS balance"
            ),
            &params,
        )
        .await?;
    let row = posted
        .first()
        .ok_or(LedgerError::Invalid("posting yielded no row"))?;
    if row.get::<bool>("unknown_account")? {
        return Err(LedgerError::Invalid("no such account"));
    }
    let Some(transfer_id) = row.get::<Option<Uuid>>("posted")? else {
        // The key was taken. A transfer committed while this statement ran is not in its
        // snapshot: look again.
        let existing = match row.get::<Option<Uuid>>("existing")? {
            Some(id) => id,
            None => tx
                .scalar(
                    "SELECT id FROM ledger_transfers WHERE idempotency_key = $1",
                    params![transfer.key.as_str()],
                )
                .await
                .map_err(|_| LedgerError::Invalid("transfer vanished"))?,
        };
        return Ok(Posted::Duplicate {
            transfer_id: existing,
        });
    };
    if !row.get::<bool>("paid")? {
        let balance = Rupiah::new(row.get::<Option<i64>>("balance")?.unwrap_or_default());
        return Err(LedgerError::insufficient(balance, transfer.amount));
    }
    Ok(Posted::New { transfer_id })
}

/// A user's wallet balance.
pub async fn wallet_balance(conn: &dyn Connection, user_id: Uuid) -> Result<Rupiah, DbError> {
    let rows = conn
        .query(
            "SELECT balance FROM ledger_accounts WHERE user_id = $1",
            params![user_id],
        )
        .await?;
    match rows.first() {
        Some(row) => Ok(row.get("balance")?),
        None => Err(DbError::Other(format!("user {user_id} has no wallet"))),
    }
}

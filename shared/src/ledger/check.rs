//! The ledger check: proves that money was neither created nor lost.

use serde::Serialize;

use crate::ports::db::{Connection, DbError};

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LedgerReport {
    pub wallets_checked: i64,
    pub transfers_checked: i64,
    /// Every way the ledger is inconsistent; empty when it is sound.
    pub problems: Vec<String>,
}

impl LedgerReport {
    pub fn is_sound(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Checks that every transfer is exactly one debit and one matching credit, that every wallet's
/// cached balance equals the sum of its entries, that every wallet entry's running balance
/// follows from the ones before it, and that every top-up's reversed amount is what its
/// reversals moved.
pub async fn check(conn: &dyn Connection) -> Result<LedgerReport, DbError> {
    let mut problems = Vec::new();

    let unbalanced = conn
        .query(
            "SELECT t.id::text AS id
             FROM ledger_transfers t
             LEFT JOIN ledger_entries e ON e.transfer_id = t.id
             GROUP BY t.id
             HAVING count(e.id) <> 2
                 OR coalesce(sum(e.amount), 0) <> 0
                 OR NOT coalesce(bool_and(
                        (e.account_id = t.debit_account_id AND e.amount = -t.amount)
                     OR (e.account_id = t.credit_account_id AND e.amount = t.amount)), false)",
            &[],
        )
        .await?;
    for row in unbalanced.iter() {
        problems.push(format!(
            "transfer {} does not balance",
            row.get::<String>("id")?
        ));
    }

    let drifted = conn
        .query(
            "SELECT a.user_id::text AS user_id, a.balance,
                    coalesce(sum(e.amount), 0)::bigint AS entries
             FROM ledger_accounts a
             LEFT JOIN ledger_entries e ON e.account_id = a.id
             WHERE a.user_id IS NOT NULL
             GROUP BY a.id
             HAVING a.balance <> coalesce(sum(e.amount), 0)",
            &[],
        )
        .await?;
    for row in drifted.iter() {
        problems.push(format!(
            "wallet of user {} caches {} but its entries sum to {}",
            row.get::<String>("user_id")?,
            row.get::<i64>("balance")?,
            row.get::<i64>("entries")?
        ));
    }

    let broken: i64 = conn
        .scalar(
            "SELECT count(*) AS broken FROM (
                 SELECT e.balance_after,
                        sum(e.amount) OVER (PARTITION BY e.account_id ORDER BY e.id) AS running
                 FROM ledger_entries e
                 JOIN ledger_accounts a ON a.id = e.account_id AND a.user_id IS NOT NULL
             ) r
             WHERE r.balance_after IS DISTINCT FROM r.running",
            &[],
        )
        .await?;
    if broken > 0 {
        problems.push(format!(
            "{broken} wallet entries carry a wrong running balance"
        ));
    }

    let misreversed = conn
        .query(
            "SELECT p.order_id, p.reversed_amount, coalesce(r.total, 0)::bigint AS transfers
             FROM topups p
             LEFT JOIN (SELECT reference, sum(amount) AS total FROM ledger_transfers
                        WHERE kind = 'TOP_UP_REVERSAL' GROUP BY reference) r
                 ON r.reference = p.order_id
             WHERE p.reversed_amount <> coalesce(r.total, 0)",
            &[],
        )
        .await?;
    for row in misreversed.iter() {
        problems.push(format!(
            "top-up {} records {} reversed but its reversals sum to {}",
            row.get::<String>("order_id")?,
            row.get::<i64>("reversed_amount")?,
            row.get::<i64>("transfers")?
        ));
    }

    let counts = conn
        .query(
            "SELECT (SELECT count(*) FROM ledger_accounts WHERE user_id IS NOT NULL) AS wallets,
                    (SELECT count(*) FROM ledger_transfers) AS transfers",
            &[],
        )
        .await?;
    let counts = counts
        .first()
        .ok_or_else(|| DbError::Other("no counts".into()))?;
    Ok(LedgerReport {
        wallets_checked: counts.get("wallets")?,
        transfers_checked: counts.get("transfers")?,
        problems,
    })
}

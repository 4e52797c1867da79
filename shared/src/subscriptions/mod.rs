//! Subscriptions: buying a plan with wallet credit, moving up a tier mid-period, cancelling.
//! Every change is one database transaction that takes quota, moves money through the ledger and
//! records the subscription together, so a failure anywhere leaves nothing behind.

mod cancel;
mod error;
mod queries;
mod subdomain;
mod subscribe;
mod upgrade;

pub use cancel::cancel;
pub use error::SubscriptionError;
pub use queries::{detail, list, owner, upcoming_renewals, SubscriptionFilter, UpcomingRenewal};
pub use subdomain::InstanceName;
pub use subscribe::{subscribe, SubscribeRequest};
pub use upgrade::{resume_upgrades, upgrade, Resize, Upgrader};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::ledger::{self, Transfer};
use crate::money::Rupiah;
use crate::params;
use crate::ports::db::{Connection, DbError};
use crate::states::SubscriptionStatus;

/// What ending a subscription does besides its own row, as CTEs after one named `ended` that
/// yields the ended subscription's `id` and `plan_id`: its quota slot freed, its instance marked
/// for teardown (`$now` stands for the statement's timestamp parameter).
const ENDING: &str = "
    freed AS (
        UPDATE plans p SET quota_used = p.quota_used - 1 FROM ended e WHERE p.id = e.plan_id
    ),
    teardown AS (
        UPDATE instances i SET teardown_requested_at = coalesce(i.teardown_requested_at, $now),
            updated_at = $now
        FROM ended e WHERE i.subscription_id = e.id
    )";

/// `ENDING` for a statement whose timestamp is parameter `$n`.
pub(crate) fn ending(now_param: usize) -> String {
    ENDING.replace("$now", &format!("${now_param}"))
}

/// Ends a live subscription as cancelled or expired, in one statement: auto-renew off, its quota
/// slot freed, its instance marked for teardown.
pub async fn end_now(
    tx: &dyn Connection,
    id: Uuid,
    status: SubscriptionStatus,
    ended_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    tx.execute(
        &format!(
            "WITH ended AS (
                 UPDATE subscriptions SET status = $2, auto_renew = false, ended_at = $3,
                     updated_at = $4
                 WHERE id = $1
                 RETURNING id, plan_id
             ),
             {}
             SELECT 1",
            ending(4)
        ),
        params![id, status, ended_at, now],
    )
    .await?;
    Ok(())
}

/// Ends a live subscription now, frees its quota slot and refunds what it was charged, net of
/// refunds already made. For an app that never ran, or one an operator removes with a refund.
pub async fn end_with_full_refund(
    tx: &dyn Connection,
    subscription_id: Uuid,
    key_prefix: &str,
    description: &str,
    now: DateTime<Utc>,
) -> Result<Rupiah, SubscriptionError> {
    let rows = tx
        .query(
            "SELECT user_id, plan_id, status FROM subscriptions WHERE id = $1 FOR UPDATE",
            params![subscription_id],
        )
        .await?;
    let row = rows.first().ok_or(SubscriptionError::NotFound)?;
    let user_id: Uuid = row.get("user_id")?;
    if row.get::<SubscriptionStatus>("status")?.is_live() {
        end_now(tx, subscription_id, SubscriptionStatus::Cancelled, now, now).await?;
    }
    let net = tx
        .scalar(
            "SELECT coalesce(-sum(e.amount), 0)::bigint
             FROM ledger_transfers t
             JOIN ledger_entries e ON e.transfer_id = t.id
             JOIN ledger_accounts a ON a.id = e.account_id AND a.user_id = $2
             WHERE t.reference = $1",
            params![subscription_id.to_string(), user_id],
        )
        .await
        .map(Rupiah::new)?;
    if net > Rupiah::ZERO {
        let refund = Transfer::refund(
            format!("{key_prefix}:{subscription_id}"),
            user_id,
            net,
            description.to_owned(),
            subscription_id,
        );
        ledger::post(tx, &refund, now).await?;
    }
    Ok(net)
}

/// Takes one slot of a plan's quota, in one conditional statement so that concurrent
/// subscribers can never take more slots than there are.
async fn take_slot(
    tx: &dyn Connection,
    plan_id: Uuid,
    plan_name: &str,
) -> Result<(), SubscriptionError> {
    let taken = tx
        .execute(
            "UPDATE plans SET quota_used = quota_used + 1
             WHERE id = $1 AND quota_used < quota_total",
            params![plan_id],
        )
        .await?;
    if taken == 0 {
        return Err(SubscriptionError::PlanFull {
            plan: plan_name.to_owned(),
        });
    }
    Ok(())
}

/// Gives one slot of a plan's quota back.
async fn release_slot(tx: &dyn Connection, plan_id: Uuid) -> Result<(), DbError> {
    tx.execute(
        "UPDATE plans SET quota_used = quota_used - 1 WHERE id = $1",
        params![plan_id],
    )
    .await?;
    Ok(())
}

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use uuid::Uuid;

use super::{ending, SubscriptionError};
use crate::audit;
use crate::auth::{Principal, Role};
use crate::billing::{prorate, Period};
use crate::ledger::{self, Transfer};
use crate::money::Rupiah;
use crate::params;
use crate::ports::db::{Connection, DbError};
use crate::states::SubscriptionStatus;

/// Cancels a subscription. By default at the end of the paid period (auto-renew off; usable until
/// then). `immediate` ends it now: the unused part of the period is refunded pro rata through the
/// ledger, the quota slot is freed and the instance is marked for teardown. Cancelling what is
/// already cancelled changes nothing. An administrator may end someone's subscription without
/// the refund (`refund_unused` false); that change is written to the audit log.
pub async fn cancel(
    conn: &dyn Connection,
    by: Principal,
    subscription_id: Uuid,
    immediate: bool,
    refund_unused: bool,
    now: DateTime<Utc>,
) -> Result<Value, SubscriptionError> {
    // Read, then change only if the subscription is still as read (compare and set): the
    // refund is worked out from what was read. A concurrent change (a renewal, another cancel)
    // makes the change match nothing, and the next attempt reads it.
    for _ in 0..ATTEMPTS {
        let rows = conn
            .query(
                "SELECT user_id, status, price_monthly, period_start, period_end, anchor_day
                 FROM subscriptions WHERE id = $1 AND (user_id = $2 OR $3)",
                params![subscription_id, by.user_id, by.role == Role::Administrator],
            )
            .await?;
        let row = rows.first().ok_or(SubscriptionError::NotFound)?;
        let read = Read {
            user_id: row.get("user_id")?,
            status: row.get("status")?,
            price: row.get("price_monthly")?,
            period: Period {
                start: row.get("period_start")?,
                end: row.get("period_end")?,
                anchor_day: row.get::<i32>("anchor_day")? as u32,
            },
        };
        let answer = |status: SubscriptionStatus, effective: DateTime<Utc>, refund: Rupiah| {
            json!({
                "subscriptionId": subscription_id,
                "status": status,
                "effectiveAt": effective,
                "refunded": refund,
            })
        };
        match read.status {
            SubscriptionStatus::Cancelled | SubscriptionStatus::Expired => {
                return Ok(answer(read.status, read.period.end.min(now), Rupiah::ZERO));
            }
            SubscriptionStatus::PendingUpgrade => return Err(SubscriptionError::UpgradeInProgress),
            SubscriptionStatus::Active | SubscriptionStatus::Suspended => {}
        }
        if !immediate {
            let changed = conn
                .execute(
                    "UPDATE subscriptions SET auto_renew = false, cancel_at_period_end = true,
                         updated_at = $3
                     WHERE id = $1 AND status = $2",
                    params![subscription_id, read.status, now],
                )
                .await?;
            if changed == 1 {
                return Ok(answer(read.status, read.period.end, Rupiah::ZERO));
            }
            continue;
        }
        // A suspended subscription has not paid for the current period: nothing to refund.
        let refund = if read.status == SubscriptionStatus::Active && refund_unused {
            prorate(read.price, &read.period, now)
        } else {
            Rupiah::ZERO
        };
        if end_and_refund(conn, subscription_id, by, &read, refund, now).await? {
            return Ok(answer(SubscriptionStatus::Cancelled, now, refund));
        }
    }
    Err(SubscriptionError::Invariant(
        "the subscription kept changing while it was cancelled".into(),
    ))
}

/// How often a cancel reads again after a concurrent change.
const ATTEMPTS: usize = 5;

/// The subscription as a cancel read it.
struct Read {
    user_id: Uuid,
    status: SubscriptionStatus,
    price: Rupiah,
    period: Period,
}

/// Ends the subscription if it is still as `read`, refunds `refund` (an administrator's doing
/// recorded in the audit log), in one statement. Whether it was still as read.
async fn end_and_refund(
    conn: &dyn Connection,
    subscription_id: Uuid,
    by: Principal,
    read: &Read,
    refund: Rupiah,
    now: DateTime<Utc>,
) -> Result<bool, SubscriptionError> {
    let other = by.user_id != read.user_id;
    let transfer = Transfer::refund(
        format!("cancel:{subscription_id}"),
        read.user_id,
        // Posted only when there is something to refund; a transfer is strictly positive.
        refund.max(Rupiah::new(1)),
        "Cancelled: unused time refunded".into(),
        subscription_id,
    )
    .by(other.then_some(by.user_id));
    let mut params = params![
        subscription_id,
        read.status,
        read.price.amount(),
        read.period.end,
        now,
        SubscriptionStatus::Cancelled,
        other,
        &json!({ "status": read.status }),
        &json!({ "status": SubscriptionStatus::Cancelled, "refunded": refund }),
        refund > Rupiah::ZERO,
        by.user_id
    ]
    .to_vec();
    let (refunding, transfer_params) =
        ledger::posting_when(&transfer, now, params.len() + 1, "ended WHERE $10")?;
    params.extend(transfer_params);
    let statement = CANCEL
        .replace("{ENDING}", &ending(5))
        .replace("{REFUNDING}", &refunding)
        .replace("{AUDIT}", audit::INSERT);
    let rows = conn.query(&statement, &params).await?;
    let row = rows
        .first()
        .ok_or_else(|| DbError::Other("cancelling yielded no row".into()))?;
    Ok(row.get("ended")?)
}

/// `$1` the subscription, ended only if still as read (`$2` its status, `$3` price, `$4`
/// period end); `$5` now; `$6` the cancelled status; `$7` whether `$11`, someone other than
/// its owner, cancels it (audited, `$8` before and `$9` after); the refund, posted when `$10`,
/// from `$12` on.
const CANCEL: &str = "
    WITH ended AS (
        UPDATE subscriptions SET status = $6, auto_renew = false, ended_at = $5, updated_at = $5
        WHERE id = $1 AND status = $2 AND price_monthly = $3 AND period_end = $4
        RETURNING id, plan_id
    ),
    {ENDING},
    {REFUNDING},
    audit AS (
        {AUDIT} SELECT $11, 'subscription.cancel', 'subscription', $1::text, $8, $9, $5
        FROM ended WHERE $7
    )
    SELECT EXISTS (SELECT 1 FROM ended) AS ended";

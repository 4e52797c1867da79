use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use uuid::Uuid;

use super::{end_now, SubscriptionError};
use crate::audit::{record, Change};
use crate::auth::{Principal, Role};
use crate::billing::{prorate, Period};
use crate::ledger::{self, Transfer};
use crate::money::Rupiah;
use crate::params;
use crate::ports::db::Connection;
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
    crate::transaction!(conn, |tx| -> Result<Value, SubscriptionError> {
        let rows = tx
            .query(
                "SELECT user_id, plan_id, status, price_monthly, period_start, period_end,
                            anchor_day, cancel_at_period_end
                     FROM subscriptions WHERE id = $1 AND (user_id = $2 OR $3)
                     FOR UPDATE",
                params![subscription_id, by.user_id, by.role == Role::Administrator],
            )
            .await?;
        let row = rows.first().ok_or(SubscriptionError::NotFound)?;
        let status: SubscriptionStatus = row.get("status")?;
        let period = Period {
            start: row.get("period_start")?,
            end: row.get("period_end")?,
            anchor_day: row.get::<i32>("anchor_day")? as u32,
        };
        let answer = |status: SubscriptionStatus, effective: DateTime<Utc>, refund: Rupiah| {
            json!({
                "subscriptionId": subscription_id,
                "status": status,
                "effectiveAt": effective,
                "refunded": refund,
            })
        };
        match status {
            SubscriptionStatus::Cancelled | SubscriptionStatus::Expired => {
                return Ok(answer(status, period.end.min(now), Rupiah::ZERO));
            }
            SubscriptionStatus::PendingUpgrade => return Err(SubscriptionError::UpgradeInProgress),
            SubscriptionStatus::Active | SubscriptionStatus::Suspended => {}
        }
        if !immediate {
            tx.execute(
                "UPDATE subscriptions SET auto_renew = false, cancel_at_period_end = true,
                         updated_at = $2
                     WHERE id = $1",
                params![subscription_id, now],
            )
            .await?;
            return Ok(answer(status, period.end, Rupiah::ZERO));
        }

        let user_id: Uuid = row.get("user_id")?;
        // A suspended subscription has not paid for the current period: nothing to refund.
        let refund = if status == SubscriptionStatus::Active && refund_unused {
            prorate(row.get("price_monthly")?, &period, now)
        } else {
            Rupiah::ZERO
        };
        if refund > Rupiah::ZERO {
            let transfer = Transfer::refund(
                format!("cancel:{subscription_id}"),
                user_id,
                refund,
                "Cancelled: unused time refunded".into(),
                subscription_id,
            )
            .by((by.user_id != user_id).then_some(by.user_id));
            ledger::post(tx, &transfer, now).await?;
        }
        end_now(
            tx,
            subscription_id,
            row.get("plan_id")?,
            SubscriptionStatus::Cancelled,
            now,
            now,
        )
        .await?;
        if by.user_id != user_id {
            let change = Change {
                actor: by.user_id,
                action: "subscription.cancel",
                target_type: "subscription",
                target_id: subscription_id.to_string(),
                before: Some(json!({ "status": status })),
                after: Some(json!({ "status": SubscriptionStatus::Cancelled, "refunded": refund })),
            };
            record(tx, change, now).await?;
        }
        Ok(answer(SubscriptionStatus::Cancelled, now, refund))
    })
    .await
}

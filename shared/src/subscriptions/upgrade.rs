use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use uuid::Uuid;

use super::{release_slot, take_slot, SubscriptionError};
use crate::auth::{Principal, Role};
use crate::billing::{prorate, Period};
use crate::catalog::PlanTier;
use crate::ledger::{self, Posted, Transfer, TransferKind};
use crate::money::Rupiah;
use crate::params;
use crate::ports::db::{Connection, DbError, FromRow, Row};
use crate::ports::MaybeSend;
use crate::states::SubscriptionStatus;

/// Resizing an instance's workload to a plan: the Kubernetes side of an upgrade.
#[cfg_attr(not(target_arch = "wasm32"), async_trait::async_trait)]
#[cfg_attr(target_arch = "wasm32", async_trait::async_trait(?Send))]
pub trait Resize: MaybeSend {
    async fn resize(&self, subscription_id: Uuid, now: DateTime<Utc>) -> Result<(), String>;
}

/// Upgrades with the given resize step.
pub struct Upgrader<'a> {
    pub conn: &'a dyn Connection,
    pub resize: &'a dyn Resize,
}

#[derive(Debug, Clone)]
struct PlanInfo {
    id: Uuid,
    service_id: Uuid,
    name: String,
    tier: PlanTier,
    price: Rupiah,
    on_sale: bool,
}

impl FromRow for PlanInfo {
    fn from_row(row: Row<'_>) -> Result<Self, DbError> {
        Ok(Self {
            id: row.get("id")?,
            service_id: row.get("service_id")?,
            name: row.get("name")?,
            tier: row.get("tier")?,
            price: row.get("price_monthly")?,
            on_sale: row.get("on_sale")?,
        })
    }
}

impl PlanInfo {
    fn to_json(&self) -> Value {
        json!({ "id": self.id, "name": self.name, "tier": self.tier.as_str(), "priceMonthly": self.price })
    }
}

async fn plan(conn: &dyn Connection, id: Uuid) -> Result<Option<PlanInfo>, DbError> {
    let plan = conn
        .fetch_optional(
            "SELECT p.id, p.service_id, p.name, p.tier, p.price_monthly,
                    p.is_active AND s.is_active AND s.deleted_at IS NULL AS on_sale
             FROM plans p JOIN services s ON s.id = p.service_id
             WHERE p.id = $1 AND p.deleted_at IS NULL",
            params![id],
        )
        .await?;
    Ok(plan)
}

/// What the first phase of an upgrade did, so it can be finished or undone.
struct Pending {
    user_id: Uuid,
    old: PlanInfo,
    new: PlanInfo,
    /// The administrator who made the change for the user, if one did.
    actor: Option<Uuid>,
    /// Charged for the rest of the period (positive, taken at once), or refunded for an
    /// administrator's downgrade (negative, owed until the resize succeeds).
    difference: i64,
    change_id: Uuid,
    period_end: DateTime<Utc>,
}

/// The ledger key of one plan change, and of its undoing.
fn change_key(change_id: Uuid) -> String {
    format!("plan-change:{change_id}")
}

/// Moves a subscription to another plan of its service mid-period. Users may only go strictly
/// up a tier; administrators may also go down. The price difference for the rest of the period
/// is charged (or, down, refunded) and the period end stays. The new plan's quota slot is taken
/// at once and the old one kept until the workload is resized: if the resize fails, everything
/// is undone (money back, new slot freed, plan and price restored).
pub async fn upgrade(
    upgrader: Upgrader<'_>,
    by: Principal,
    subscription_id: Uuid,
    new_plan_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Value, SubscriptionError> {
    let conn = upgrader.conn;
    let pending = crate::transaction!(conn, |tx| -> Result<Pending, SubscriptionError> {
        begin(tx, by, subscription_id, new_plan_id, now).await
    })
    .await?;
    let pending = &pending;
    match upgrader.resize.resize(subscription_id, now).await {
        Ok(()) => {
            crate::transaction!(conn, |tx| -> Result<(), SubscriptionError> {
                complete(tx, subscription_id, pending, now).await
            })
            .await?;
            Ok(json!({
                "subscriptionId": subscription_id,
                "oldPlan": pending.old.to_json(),
                "newPlan": pending.new.to_json(),
                "amountCharged": Rupiah::new(pending.difference.max(0)),
                "amountRefunded": Rupiah::new((-pending.difference).max(0)),
                "effectiveAt": now,
                "periodEnd": pending.period_end,
            }))
        }
        Err(reason) => {
            tracing::warn!(%subscription_id, reason, "resize failed; undoing the upgrade");
            crate::transaction!(conn, |tx| -> Result<(), SubscriptionError> {
                undo(tx, subscription_id, pending, now).await
            })
            .await?;
            Err(SubscriptionError::ResizeFailed)
        }
    }
}

async fn begin(
    tx: &dyn Connection,
    by: Principal,
    subscription_id: Uuid,
    new_plan_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Pending, SubscriptionError> {
    let rows = tx
        .query(
            "SELECT user_id, plan_id, status, price_monthly, period_start, period_end, anchor_day
             FROM subscriptions WHERE id = $1 AND (user_id = $2 OR $3)
             FOR UPDATE",
            params![subscription_id, by.user_id, by.role == Role::Administrator],
        )
        .await?;
    let row = rows.first().ok_or(SubscriptionError::NotFound)?;
    let user_id: Uuid = row.get("user_id")?;
    match row.get("status")? {
        SubscriptionStatus::Active => {}
        SubscriptionStatus::PendingUpgrade => return Err(SubscriptionError::UpgradeInProgress),
        _ => return Err(SubscriptionError::NotActive),
    }
    let paid: Rupiah = row.get("price_monthly")?;
    let period = Period {
        start: row.get("period_start")?,
        end: row.get("period_end")?,
        anchor_day: row.get::<i32>("anchor_day")? as u32,
    };
    let old = plan(tx, row.get("plan_id")?)
        .await?
        .ok_or_else(|| SubscriptionError::Invariant("subscription without plan".into()))?;
    let new = plan(tx, new_plan_id)
        .await?
        .ok_or(SubscriptionError::PlanNotFound)?;
    if new.service_id != old.service_id {
        return Err(SubscriptionError::PlanOfAnotherService);
    }
    if new.id == old.id {
        return Err(SubscriptionError::SamePlan);
    }
    if !new.on_sale {
        return Err(SubscriptionError::PlanNotOnSale);
    }
    if new.tier <= old.tier && by.role != Role::Administrator {
        return Err(SubscriptionError::DowngradeNotAllowed { from: old.tier });
    }

    take_slot(tx, new.id, &new.name).await?;

    let difference = new.price.amount() - paid.amount();
    let share = prorate(Rupiah::new(difference.abs()), &period, now);
    let change_id = Uuid::new_v4();
    let owed_refund = (difference < 0 && share > Rupiah::ZERO).then_some(share);
    let actor = (by.user_id != user_id).then_some(by.user_id);
    if difference > 0 && share > Rupiah::ZERO {
        let charge = Transfer::charge(
            change_key(change_id),
            TransferKind::Upgrade,
            user_id,
            share,
            format!("Upgrade to {} for the rest of the period", new.name),
            subscription_id,
        )
        .by(actor);
        post_once(tx, &charge, now).await?;
    }
    tx.execute(
        "UPDATE subscriptions SET plan_id = $2, previous_plan_id = $3, price_monthly = $4,
             previous_price = $5, plan_change_id = $6, plan_change_refund = $7,
             plan_change_actor = $10, status = $8, updated_at = $9
         WHERE id = $1",
        params![
            subscription_id,
            new.id,
            old.id,
            new.price.amount(),
            paid.amount(),
            change_id,
            owed_refund.map(Rupiah::amount),
            SubscriptionStatus::PendingUpgrade,
            now,
            actor
        ],
    )
    .await?;
    Ok(Pending {
        user_id,
        old,
        new,
        actor,
        difference: match owed_refund {
            Some(refund) => -refund.amount(),
            None => share.amount(),
        },
        change_id,
        period_end: period.end,
    })
}

/// Upgrades a crash left half-way (PENDING_UPGRADE for longer than `stale_after`): the resize is
/// tried again, then the upgrade completed or undone exactly as if it had never stopped.
pub async fn resume_upgrades(
    upgrader: Upgrader<'_>,
    now: DateTime<Utc>,
    stale_after: chrono::Duration,
) -> Result<u32, SubscriptionError> {
    let conn = upgrader.conn;
    let stuck = conn
        .query(
            "SELECT id FROM subscriptions WHERE status = $1 AND updated_at <= $2",
            params![SubscriptionStatus::PendingUpgrade, now - stale_after],
        )
        .await?;
    let mut resumed = 0;
    for row in stuck.iter() {
        let id: Uuid = row.get("id")?;
        let Some(pending) = stored_pending(conn, id).await? else {
            continue;
        };
        let resized = upgrader.resize.resize(id, now).await;
        crate::transaction!(conn, |tx| -> Result<(), SubscriptionError> {
            match resized {
                Ok(()) => complete(tx, id, &pending, now).await,
                Err(_) => undo(tx, id, &pending, now).await,
            }
        })
        .await?;
        resumed += 1;
    }
    Ok(resumed)
}

/// What the first phase of an upgrade left, read back from the subscription and the ledger.
async fn stored_pending(
    conn: &dyn Connection,
    id: Uuid,
) -> Result<Option<Pending>, SubscriptionError> {
    let rows = conn
        .query(
            "SELECT user_id, plan_id, previous_plan_id, plan_change_id, plan_change_refund,
                    plan_change_actor, period_end
             FROM subscriptions WHERE id = $1 AND status = $2",
            params![id, SubscriptionStatus::PendingUpgrade],
        )
        .await?;
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    let (Some(new), Some(old)) = (
        plan(conn, row.get("plan_id")?).await?,
        plan(conn, row.get::<Uuid>("previous_plan_id")?).await?,
    ) else {
        return Err(SubscriptionError::Invariant(
            "pending upgrade without its plans".into(),
        ));
    };
    let change_id: Uuid = row.get("plan_change_id")?;
    let charged = conn
        .query(
            "SELECT amount FROM ledger_transfers WHERE idempotency_key = $1",
            params![change_key(change_id)],
        )
        .await?;
    let owed_refund: Option<i64> = row.get("plan_change_refund")?;
    let difference = match (charged.first(), owed_refund) {
        (Some(charge), _) => charge.get("amount")?,
        (None, Some(refund)) => -refund,
        (None, None) => 0,
    };
    let actor = row.get("plan_change_actor")?;
    Ok(Some(Pending {
        user_id: row.get("user_id")?,
        old,
        new,
        actor,
        difference,
        change_id,
        period_end: row.get("period_end")?,
    }))
}

/// The workload has the new size: release the old plan's slot and pay a downgrade's refund.
async fn complete(
    tx: &dyn Connection,
    subscription_id: Uuid,
    pending: &Pending,
    now: DateTime<Utc>,
) -> Result<(), SubscriptionError> {
    let finished = tx
        .execute(
            "UPDATE subscriptions SET status = $3, plan_change_refund = NULL,
                 plan_change_actor = NULL, updated_at = $2
             WHERE id = $1 AND status = $4",
            params![
                subscription_id,
                now,
                SubscriptionStatus::Active,
                SubscriptionStatus::PendingUpgrade
            ],
        )
        .await?;
    if finished == 0 {
        return Ok(());
    }
    release_slot(tx, pending.old.id).await?;
    if pending.difference < 0 {
        let refund = Transfer::refund(
            change_key(pending.change_id),
            pending.user_id,
            Rupiah::new(-pending.difference),
            format!("Change to {}: unused difference refunded", pending.new.name),
            subscription_id,
        )
        .by(pending.actor);
        post_once(tx, &refund, now).await?;
    }
    Ok(())
}

/// The resize failed: give the money back, free the new slot, restore plan and price.
async fn undo(
    tx: &dyn Connection,
    subscription_id: Uuid,
    pending: &Pending,
    now: DateTime<Utc>,
) -> Result<(), SubscriptionError> {
    let restored = tx
        .execute(
            "UPDATE subscriptions SET plan_id = previous_plan_id, price_monthly = previous_price,
                 plan_change_refund = NULL, plan_change_actor = NULL, status = $3,
                 updated_at = $2
             WHERE id = $1 AND status = $4",
            params![
                subscription_id,
                now,
                SubscriptionStatus::Active,
                SubscriptionStatus::PendingUpgrade
            ],
        )
        .await?;
    if restored == 0 {
        return Ok(());
    }
    release_slot(tx, pending.new.id).await?;
    // Only a charge moved money so far: a downgrade's refund was owed, never paid.
    if pending.difference > 0 {
        let reversal = Transfer::refund(
            format!("{}:undone", change_key(pending.change_id)),
            pending.user_id,
            Rupiah::new(pending.difference),
            format!("Change to {} undone", pending.new.name),
            subscription_id,
        );
        post_once(tx, &reversal, now).await?;
    }
    Ok(())
}

/// Posts a transfer whose key is new by construction. Finding it already posted would mean the
/// reply reports money that did not move, so that is an error, never a success.
async fn post_once(
    tx: &dyn Connection,
    transfer: &Transfer,
    now: DateTime<Utc>,
) -> Result<(), SubscriptionError> {
    match ledger::post(tx, transfer, now).await? {
        Posted::New { .. } => Ok(()),
        Posted::Duplicate { .. } => Err(SubscriptionError::Invariant(format!(
            "plan change transfer {} was already posted",
            transfer.key
        ))),
    }
}

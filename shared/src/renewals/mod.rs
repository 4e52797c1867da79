//! The renewal run: every due subscription renewed from its wallet exactly once per period, short
//! wallets given a grace period, the unpaid suspended and later expired, the paid resumed.
//!
//! Each subscription is handled in its own transaction, claimed with `FOR UPDATE SKIP LOCKED`,
//! so runners started together share the work and never handle one subscription twice; every
//! charge carries the key `renewal:<subscription>:<period start>`, so no period is ever charged
//! twice, whatever crashes or overlaps. A run missed for days catches up period by period.

mod settings;

use chrono::{DateTime, Duration, Utc};
use futures_util::future::join_all;
use serde::Serialize;
use uuid::Uuid;

pub use settings::RenewalSettings;

use crate::billing::Period;
use crate::ledger::{self, LedgerError, Transfer, TransferKind};
use crate::money::Rupiah;
use crate::notifications::{self, Kind, Notice};
use crate::params;
use crate::ports::db::{Connection, Database, DbError, FromRow, Row};
use crate::states::{InstanceStatus, State, SubscriptionStatus};
use crate::subscriptions::end_now;

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RenewalSummary {
    /// Periods charged (a catch-up may charge several for one subscription).
    pub renewed: u32,
    pub resumed: u32,
    pub in_grace: u32,
    pub suspended: u32,
    pub expired: u32,
    pub cancelled: u32,
    /// Subscriptions whose transaction failed; the next run tries again.
    pub failed: u32,
    pub duration_ms: u64,
}

/// What happened to one subscription.
#[derive(Debug, Default)]
struct Outcome {
    renewed: u32,
    resumed: bool,
    in_grace: bool,
    suspended: bool,
    expired: bool,
    cancelled: bool,
}

/// The subscriptions a run acts on: active ones whose period has ended, and suspended ones
/// (whose period has always ended: it was never paid), each once per run. Written so that the
/// claim walks the partial index on `period_end` instead of scanning every subscription; the
/// states are written out as that index's predicate (migrations/0004) is, for the planner to
/// match them.
const DUE: &str = "s.status IN ('ACTIVE', 'SUSPENDED') AND s.period_end <= $1
     AND s.last_renewal_run IS DISTINCT FROM $2";

struct Due {
    id: Uuid,
    user_id: Uuid,
    status: SubscriptionStatus,
    price: Rupiah,
    period: Period,
    ends: bool,
    grace_ends_at: Option<DateTime<Utc>>,
    suspended_at: Option<DateTime<Utc>>,
    service: String,
    balance: Rupiah,
}

impl FromRow for Due {
    fn from_row(row: Row<'_>) -> Result<Self, DbError> {
        Ok(Self {
            id: row.get("id")?,
            user_id: row.get("user_id")?,
            status: row.get("status")?,
            price: row.get("plan_price")?,
            period: Period {
                start: row.get("period_start")?,
                end: row.get("period_end")?,
                anchor_day: row.get::<i32>("anchor_day")? as u32,
            },
            ends: !row.get::<bool>("auto_renew")? || row.get::<bool>("cancel_at_period_end")?,
            grace_ends_at: row.get("grace_ends_at")?,
            suspended_at: row.get("suspended_at")?,
            service: row.get("service")?,
            balance: row.get("balance")?,
        })
    }
}

/// One renewal run: `settings.runners` runners, each on its own connection, until nothing is
/// left due for it. (Under Spin the database calls block, so the runners take turns.)
pub async fn run(
    db: &dyn Database,
    settings: &RenewalSettings,
    now: DateTime<Utc>,
) -> Result<RenewalSummary, DbError> {
    let run_id = Uuid::new_v4();
    let runners = (0..settings.runners).map(|_| async move {
        let conn = db.connect().await?;
        runner(conn.as_ref(), settings, run_id, now).await
    });
    let mut summary = RenewalSummary::default();
    for result in join_all(runners).await {
        let part = result?;
        summary.renewed += part.renewed;
        summary.resumed += part.resumed;
        summary.in_grace += part.in_grace;
        summary.suspended += part.suspended;
        summary.expired += part.expired;
        summary.cancelled += part.cancelled;
        summary.failed += part.failed;
    }
    Ok(summary)
}

async fn runner(
    conn: &dyn Connection,
    settings: &RenewalSettings,
    run_id: Uuid,
    now: DateTime<Utc>,
) -> Result<RenewalSummary, DbError> {
    let mut summary = RenewalSummary::default();
    loop {
        let handled = crate::transaction!(conn, |tx| -> Result<Option<Outcome>, LedgerError> {
            renew_next(tx, settings, run_id, now).await
        })
        .await;
        match handled {
            Ok(Some(outcome)) => {
                summary.renewed += outcome.renewed;
                summary.resumed += u32::from(outcome.resumed);
                summary.in_grace += u32::from(outcome.in_grace);
                summary.suspended += u32::from(outcome.suspended);
                summary.expired += u32::from(outcome.expired);
                summary.cancelled += u32::from(outcome.cancelled);
            }
            Ok(None) => break,
            Err(error) => {
                summary.failed += 1;
                tracing::warn!(error = %error, "a renewal failed; the next run retries it");
                // Step past it for this run, so one bad subscription cannot stall the others.
                skip_failed(conn, run_id, now).await?;
            }
        }
    }
    Ok(summary)
}

/// After a failed transaction, marks the first due subscription nobody holds as seen by this run.
async fn skip_failed(
    conn: &dyn Connection,
    run_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    conn.execute(
        &format!(
            "UPDATE subscriptions SET last_renewal_run = $2 WHERE id = (
                 SELECT s.id FROM subscriptions s WHERE {DUE}
                 ORDER BY s.period_end LIMIT 1 FOR UPDATE SKIP LOCKED)"
        ),
        params![now, run_id],
    )
    .await?;
    Ok(())
}

async fn renew_next(
    tx: &dyn Connection,
    settings: &RenewalSettings,
    run_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<Outcome>, LedgerError> {
    let claimed = tx
        .fetch_optional::<Due>(
            &format!(
                "UPDATE subscriptions s SET last_renewal_run = $2
                 FROM plans p, services sv, ledger_accounts a
                 WHERE s.id = (SELECT s.id FROM subscriptions s WHERE {DUE}
                               ORDER BY s.period_end LIMIT 1 FOR UPDATE SKIP LOCKED)
                   AND p.id = s.plan_id AND sv.id = s.service_id AND a.user_id = s.user_id
                 RETURNING s.id, s.user_id, s.status, p.price_monthly AS plan_price,
                           s.period_start, s.period_end, s.anchor_day, s.auto_renew,
                           s.cancel_at_period_end, s.grace_ends_at, s.suspended_at,
                           sv.name AS service, a.balance"
            ),
            params![now, run_id],
        )
        .await?;
    let Some(due) = claimed else {
        return Ok(None);
    };
    let mut outcome = Outcome::default();

    if due.status == SubscriptionStatus::Active && due.ends {
        end_now(
            tx,
            due.id,
            SubscriptionStatus::Cancelled,
            due.period.end,
            now,
        )
        .await?;
        outcome.cancelled = true;
        return Ok(Some(outcome));
    }
    if let Some(suspended_at) = due.suspended_at {
        if now >= suspended_at + Duration::days(settings.suspension_retention_days) {
            end_now(tx, due.id, SubscriptionStatus::Expired, now, now).await?;
            notice(
                tx,
                &due,
                Kind::Expired,
                "Your subscription has expired",
                format!(
                    "{} was suspended for {} days without payment: its data has been deleted.",
                    due.service, settings.suspension_retention_days
                ),
                format!("expired:{}", due.id),
                now,
            )
            .await?;
            outcome.expired = true;
            return Ok(Some(outcome));
        }
    }

    // Charge period by period until the subscription is paid up to now.
    let mut period = due.period;
    // Read with the claim; a concurrent spend makes the charge below fail and the run retry.
    let mut balance = due.balance;
    while period.end <= now && balance >= due.price {
        let next = period.next();
        if due.price > Rupiah::ZERO {
            let charge = Transfer::charge(
                format!("renewal:{}:{}", due.id, next.start.timestamp()),
                TransferKind::Renewal,
                due.user_id,
                due.price,
                format!(
                    "{} renewal until {}",
                    due.service,
                    next.end.format("%Y-%m-%d")
                ),
                due.id,
            );
            ledger::post(tx, &charge, now).await?;
            balance = balance.checked_sub(due.price).unwrap_or(Rupiah::ZERO);
        }
        notice(
            tx,
            &due,
            Kind::Renewed,
            "Subscription renewed",
            format!(
                "{} renewed until {} for {} rupiah.",
                due.service,
                next.end.format("%Y-%m-%d"),
                due.price.amount()
            ),
            format!("renewed:{}:{}", due.id, next.start.timestamp()),
            now,
        )
        .await?;
        period = next;
        outcome.renewed += 1;
    }
    if outcome.renewed > 0 {
        tx.execute(
            "UPDATE subscriptions SET period_start = $2, period_end = $3, price_monthly = $4,
                 failed_charges = 0, grace_ends_at = NULL, updated_at = $5
             WHERE id = $1",
            params![due.id, period.start, period.end, due.price.amount(), now],
        )
        .await?;
    }
    if period.end > now {
        if due.status == SubscriptionStatus::Suspended {
            resume(tx, &due, now).await?;
            outcome.resumed = true;
        }
        return Ok(Some(outcome));
    }

    // Still owing a period the wallet cannot pay.
    tx.execute(
        "UPDATE subscriptions SET failed_charges = failed_charges + 1, updated_at = $2 WHERE id = $1",
        params![due.id, now],
    )
    .await?;
    if due.status == SubscriptionStatus::Suspended {
        return Ok(Some(outcome));
    }
    let grace_ends = due
        .grace_ends_at
        .unwrap_or(period.end + Duration::days(settings.grace_period_days));
    if now < grace_ends {
        let started = due.grace_ends_at.is_none();
        if started {
            tx.execute(
                "UPDATE subscriptions SET grace_ends_at = $2 WHERE id = $1",
                params![due.id, grace_ends],
            )
            .await?;
        }
        let (kind, title, key) = if started {
            (
                Kind::GraceStarted,
                "Renewal failed: grace period started",
                format!("grace-started:{}:{}", due.id, period.end.timestamp()),
            )
        } else {
            (
                Kind::GraceReminder,
                "Reminder: your subscription will be suspended",
                format!("grace-reminder:{}:{}", due.id, now.format("%Y-%m-%d")),
            )
        };
        notice(
            tx,
            &due,
            kind,
            title,
            format!(
                "{} costs {} rupiah and your wallet holds {}. Top up before {} to keep it running.",
                due.service,
                due.price.amount(),
                balance.amount(),
                grace_ends.format("%Y-%m-%d %H:%M UTC")
            ),
            key,
            now,
        )
        .await?;
        outcome.in_grace = true;
    } else {
        suspend(tx, &due, now).await?;
        notice(
            tx,
            &due,
            Kind::Suspended,
            "Subscription suspended",
            format!(
                "{} is stopped until you top up {} rupiah; its data is kept for {} days.",
                due.service,
                due.price.amount(),
                settings.suspension_retention_days
            ),
            format!("suspended:{}:{}", due.id, period.end.timestamp()),
            now,
        )
        .await?;
        outcome.suspended = true;
    }
    Ok(Some(outcome))
}

async fn notice(
    tx: &dyn Connection,
    due: &Due,
    kind: Kind,
    title: &str,
    body: String,
    dedupe_key: String,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    notifications::notify(
        tx,
        Notice {
            user_id: due.user_id,
            kind,
            subscription_id: Some(due.id),
            title,
            body,
            dedupe_key,
        },
        now,
    )
    .await?;
    Ok(())
}

/// Stops the app (scaled to zero by the next apply) and keeps its data.
async fn suspend(tx: &dyn Connection, due: &Due, now: DateTime<Utc>) -> Result<(), DbError> {
    tx.execute(
        "UPDATE subscriptions SET status = $3, suspended_at = $2, updated_at = $2 WHERE id = $1",
        params![due.id, now, SubscriptionStatus::Suspended],
    )
    .await?;
    tx.execute(
        "UPDATE instances SET status = $3, apply_pending = true, updated_at = $2
         WHERE subscription_id = $1 AND status = ANY($4)",
        params![
            due.id,
            now,
            InstanceStatus::Suspended,
            InstanceStatus::param(&[InstanceStatus::Running, InstanceStatus::Stopped])
        ],
    )
    .await?;
    Ok(())
}

async fn resume(tx: &dyn Connection, due: &Due, now: DateTime<Utc>) -> Result<(), DbError> {
    tx.execute(
        "UPDATE subscriptions SET status = $3, suspended_at = NULL, updated_at = $2 WHERE id = $1",
        params![due.id, now, SubscriptionStatus::Active],
    )
    .await?;
    tx.execute(
        "UPDATE instances SET status = $3, apply_pending = true, updated_at = $2
         WHERE subscription_id = $1 AND status = $4",
        params![
            due.id,
            now,
            InstanceStatus::Running,
            InstanceStatus::Suspended
        ],
    )
    .await?;
    Ok(())
}

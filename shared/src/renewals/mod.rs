//! The renewal run: every due subscription renewed from its wallet exactly once per period, short
//! wallets given a grace period, the unpaid suspended and later expired, the paid resumed.
//!
//! A runner claims a batch of due subscriptions at a time with `FOR UPDATE SKIP LOCKED`, marking
//! them as seen by this run, so runners started together share the work and never handle one
//! subscription twice. Each step after that (a period charged, a grace period started, a
//! suspension, an ending) is one statement that changes the subscription only if it is still as
//! claimed, with its notice; a charge, with its money, inside `BEGIN`/`COMMIT`: three round trips.
//! Every charge carries the key `renewal:<subscription>:<period start>`, so no period is ever
//! charged twice, whatever crashes or overlaps; a crash between steps leaves a subscription paid
//! up to some period, which the next run goes on from. A run missed for days catches up period by
//! period.

mod settings;

use chrono::{DateTime, Duration, Utc};
use futures_util::future::join_all;
use serde::Serialize;
use uuid::Uuid;

pub use settings::RenewalSettings;

use crate::billing::Period;
use crate::ledger::{self, LedgerError, Transfer, TransferKind};
use crate::money::Rupiah;
use crate::notifications::{self, Kind};
use crate::params;
use crate::ports::db::{Connection, Database, DbError, FromRow, Param, Row, RowSet};
use crate::states::{InstanceStatus, State, SubscriptionStatus};
use crate::subscriptions;

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
    /// Subscriptions a step failed for; the next run goes on from the last step that succeeded.
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

/// How many due subscriptions a runner claims at a time: one claim's round trip shared by many
/// renewals, and few enough left for the next run when a runner dies holding them.
const BATCH: i64 = 32;

/// A due subscription as claimed. A step changes it only while its status, period and plan are
/// still these: a user's cancellation or upgrade in between makes the step change nothing.
struct Due {
    id: Uuid,
    user_id: Uuid,
    plan_id: Uuid,
    status: SubscriptionStatus,
    price: Rupiah,
    period: Period,
    ends: bool,
    grace_ends_at: Option<DateTime<Utc>>,
    suspended_at: Option<DateTime<Utc>>,
    service: String,
    /// The wallet as claimed: a charge it cannot pay is not tried (a concurrent spend still
    /// makes a tried charge come up short).
    balance: Rupiah,
}

impl FromRow for Due {
    fn from_row(row: Row<'_>) -> Result<Self, DbError> {
        Ok(Self {
            id: row.get("id")?,
            user_id: row.get("user_id")?,
            plan_id: row.get("plan_id")?,
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
        let batch = conn
            .fetch_all::<Due>(CLAIM, params![now, run_id, BATCH])
            .await?;
        if batch.is_empty() {
            return Ok(summary);
        }
        for due in batch {
            match renew(conn, settings, due, now).await {
                Ok(outcome) => {
                    summary.renewed += outcome.renewed;
                    summary.resumed += u32::from(outcome.resumed);
                    summary.in_grace += u32::from(outcome.in_grace);
                    summary.suspended += u32::from(outcome.suspended);
                    summary.expired += u32::from(outcome.expired);
                    summary.cancelled += u32::from(outcome.cancelled);
                }
                Err(error) => {
                    summary.failed += 1;
                    tracing::warn!(error = %error, "a renewal failed; the next run retries it");
                }
            }
        }
    }
}

/// Claims up to `$3` subscriptions due at `$1` for run `$2`: active ones whose period has ended,
/// and suspended ones (whose period has always ended: it was never paid), each once per run.
/// Written so that the claim walks the partial index on `period_end` instead of scanning every
/// subscription; the states are written out as that index's predicate (migrations/0004) is, for
/// the planner to match them.
const CLAIM: &str = "
    UPDATE subscriptions s SET last_renewal_run = $2
    FROM plans p, services sv, ledger_accounts a
    WHERE s.id = ANY (ARRAY (SELECT s.id FROM subscriptions s
                             WHERE s.status IN ('ACTIVE', 'SUSPENDED') AND s.period_end <= $1
                               AND s.last_renewal_run IS DISTINCT FROM $2
                             ORDER BY s.period_end LIMIT $3 FOR UPDATE SKIP LOCKED))
      AND p.id = s.plan_id AND sv.id = s.service_id AND a.user_id = s.user_id
    RETURNING s.id, s.user_id, s.plan_id, s.status, p.price_monthly AS plan_price,
              s.period_start, s.period_end, s.anchor_day, s.auto_renew, s.cancel_at_period_end,
              s.grace_ends_at, s.suspended_at, sv.name AS service, a.balance";

/// Takes one claimed subscription as far as it goes this run.
async fn renew(
    conn: &dyn Connection,
    settings: &RenewalSettings,
    mut due: Due,
    now: DateTime<Utc>,
) -> Result<Outcome, LedgerError> {
    let mut outcome = Outcome::default();
    if due.status == SubscriptionStatus::Active && due.ends {
        outcome.cancelled = end(
            conn,
            &due,
            SubscriptionStatus::Cancelled,
            due.period.end,
            None,
            now,
        )
        .await?;
        return Ok(outcome);
    }
    if let Some(suspended_at) = due.suspended_at {
        if now >= suspended_at + Duration::days(settings.suspension_retention_days) {
            let notice = due.notice(
                Kind::Expired,
                "Your subscription has expired",
                format!(
                    "{} was suspended for {} days without payment: its data has been deleted.",
                    due.service, settings.suspension_retention_days
                ),
                format!("expired:{}", due.id),
            );
            outcome.expired = end(
                conn,
                &due,
                SubscriptionStatus::Expired,
                now,
                Some(notice),
                now,
            )
            .await?;
            return Ok(outcome);
        }
    }

    // Charge period by period until the subscription is paid up to now.
    let balance = loop {
        if due.period.end > now {
            return Ok(outcome);
        }
        if due.balance < due.price {
            break due.balance;
        }
        match charge(conn, &due, now).await? {
            Charged::Paid => {
                outcome.renewed += 1;
                due.balance = due.balance.checked_sub(due.price).unwrap_or(Rupiah::ZERO);
                due.period = due.period.next();
                if due.status == SubscriptionStatus::Suspended && due.period.end > now {
                    due.status = SubscriptionStatus::Active;
                    outcome.resumed = true;
                }
                due.grace_ends_at = None;
            }
            Charged::Short(balance) => break balance,
            Charged::Changed => return Ok(outcome),
        }
    };

    // Still owing a period the wallet cannot pay.
    if due.status == SubscriptionStatus::Suspended {
        owe(conn, &due, None, None, false, now).await?;
        return Ok(outcome);
    }
    let grace_ends = due
        .grace_ends_at
        .unwrap_or(due.period.end + Duration::days(settings.grace_period_days));
    if now < grace_ends {
        let started = due.grace_ends_at.is_none();
        let (kind, title, key) = if started {
            (
                Kind::GraceStarted,
                "Renewal failed: grace period started",
                format!("grace-started:{}:{}", due.id, due.period.end.timestamp()),
            )
        } else {
            (
                Kind::GraceReminder,
                "Reminder: your subscription will be suspended",
                format!("grace-reminder:{}:{}", due.id, now.format("%Y-%m-%d")),
            )
        };
        let body = format!(
            "{} costs {} rupiah and your wallet holds {}. Top up before {} to keep it running.",
            due.service,
            due.price.amount(),
            balance.amount(),
            grace_ends.format("%Y-%m-%d %H:%M UTC")
        );
        let notice = due.notice(kind, title, body, key);
        outcome.in_grace = owe(conn, &due, Some(notice), Some(grace_ends), false, now).await?;
    } else {
        let notice = due.notice(
            Kind::Suspended,
            "Subscription suspended",
            format!(
                "{} is stopped until you top up {} rupiah; its data is kept for {} days.",
                due.service,
                due.price.amount(),
                settings.suspension_retention_days
            ),
            format!("suspended:{}:{}", due.id, due.period.end.timestamp()),
        );
        outcome.suspended = owe(conn, &due, Some(notice), None, true, now).await?;
    }
    Ok(outcome)
}

/// What the user is told about a step, kept once per `dedupe_key`.
struct Notice {
    kind: Kind,
    title: &'static str,
    body: String,
    dedupe_key: String,
}

impl Due {
    fn notice(&self, kind: Kind, title: &'static str, body: String, dedupe_key: String) -> Notice {
        Notice {
            kind,
            title,
            body,
            dedupe_key,
        }
    }

    /// The parameters every step's statement starts with: `$1` the subscription, changed only
    /// while `$2` its status, `$3` its period end and `$4` its plan are as claimed; `$5` now;
    /// `$6` its user; the notice, written when `$7`: `$8` kind, `$9` title, `$10` body, `$11`
    /// key.
    fn step(&self, notice: Option<Notice>, now: DateTime<Utc>) -> Vec<Param> {
        let notice = notice.as_ref();
        params![
            self.id,
            self.status,
            self.period.end,
            self.plan_id,
            now,
            self.user_id,
            notice.is_some(),
            notice.map(|n| n.kind.as_str()),
            notice.map(|n| n.title),
            notice.map(|n| n.body.as_str()),
            notice.map(|n| n.dedupe_key.as_str())
        ]
        .to_vec()
    }
}

/// The notice of a step whose changed subscription is the CTE `changed`.
fn notice_cte(changed: &str) -> String {
    format!(
        "notice AS (
             {} SELECT $6, $8, $1, $9, $10, $11, $5 FROM {changed} WHERE $7
             ON CONFLICT (dedupe_key) DO NOTHING
         )",
        notifications::INSERT
    )
}

/// How charging one period went.
enum Charged {
    /// Paid (free plans pay nothing): the period moved on.
    Paid,
    /// The wallet holds less than the price.
    Short(Rupiah),
    /// The subscription is no longer as claimed (or another run charged it): nothing changed.
    Changed,
}

/// Why a charge's transaction rolled back.
enum Unpaid {
    Short(Rupiah),
    Changed,
    Failed(LedgerError),
}

impl From<DbError> for Unpaid {
    fn from(error: DbError) -> Self {
        Unpaid::Failed(error.into())
    }
}

/// Charges the period after `due.period` and moves the subscription into it, with its notice
/// (and, when that pays it up, a suspended subscription resumed): one statement in a transaction
/// that rolls back unless the money moved.
async fn charge(
    conn: &dyn Connection,
    due: &Due,
    now: DateTime<Utc>,
) -> Result<Charged, LedgerError> {
    let next = due.period.next();
    let notice = due.notice(
        Kind::Renewed,
        "Subscription renewed",
        format!(
            "{} renewed until {} for {} rupiah.",
            due.service,
            next.end.format("%Y-%m-%d"),
            due.price.amount()
        ),
        format!("renewed:{}:{}", due.id, next.start.timestamp()),
    );
    let mut params = due.step(Some(notice), now);
    params.extend_from_slice(params![
        next.start,
        next.end,
        due.price.amount(),
        due.price > Rupiah::ZERO,
        due.status == SubscriptionStatus::Suspended && next.end > now,
        SubscriptionStatus::Active,
        InstanceStatus::Running,
        InstanceStatus::Suspended
    ]);
    let transfer = Transfer::charge(
        format!("renewal:{}:{}", due.id, next.start.timestamp()),
        TransferKind::Renewal,
        due.user_id,
        // Posted only when the plan costs something; a transfer is strictly positive.
        due.price.max(Rupiah::new(1)),
        format!(
            "{} renewal until {}",
            due.service,
            next.end.format("%Y-%m-%d")
        ),
        due.id,
    );
    let (posting, transfer_params) =
        ledger::posting_when(&transfer, now, params.len() + 1, "current WHERE $15")?;
    params.extend(transfer_params);
    let statement = CHARGE
        .replace("{POSTING}", &posting)
        .replace("{NOTICE}", &notice_cte("changed"));
    let charged = crate::transaction!(conn, |tx| -> Result<(), Unpaid> {
        let rows = tx.query(&statement, &params).await?;
        let row = rows
            .first()
            .ok_or_else(|| DbError::Other("charging yielded no row".into()))?;
        if row.get::<bool>("renewed")? {
            Ok(())
        } else if row.get::<bool>("refused")? {
            Err(Unpaid::Short(row.get("balance")?))
        } else {
            Err(Unpaid::Changed)
        }
    })
    .await;
    match charged {
        Ok(()) => Ok(Charged::Paid),
        Err(Unpaid::Short(balance)) => Ok(Charged::Short(balance)),
        Err(Unpaid::Changed) => Ok(Charged::Changed),
        Err(Unpaid::Failed(error)) => Err(error),
    }
}

/// After the step's `$1` to `$11`: the next period (`$12` start, `$13` end), `$14` its price,
/// charged when `$15`; `$16` whether it resumes a suspended subscription (`$17` active, its
/// instance from `$19` to `$18` running); the charge from `$20` on. `current` is read before
/// the money moves and `changed` after, so the period moves only with the money.
const CHARGE: &str = "
    WITH current AS (
        SELECT id FROM subscriptions
        WHERE id = $1 AND status = $2 AND period_end = $3 AND plan_id = $4
    ),
    {POSTING},
    changed AS (
        UPDATE subscriptions SET period_start = $12, period_end = $13, price_monthly = $14,
            failed_charges = 0, grace_ends_at = NULL,
            status = CASE WHEN $16 THEN $17 ELSE status END,
            suspended_at = CASE WHEN $16 THEN NULL ELSE suspended_at END, updated_at = $5
        WHERE id = $1 AND status = $2 AND period_end = $3 AND plan_id = $4
          AND (NOT $15 OR EXISTS (SELECT 1 FROM ledger_paid))
        RETURNING id
    ),
    resumed AS (
        UPDATE instances i SET status = $18, apply_pending = true, updated_at = $5
        FROM changed c WHERE $16 AND i.subscription_id = c.id AND i.status = $19
    ),
    {NOTICE}
    SELECT EXISTS (SELECT 1 FROM changed) AS renewed,
           EXISTS (SELECT 1 FROM ledger_transfer) AND NOT EXISTS (SELECT 1 FROM ledger_paid)
               AS refused,
           (SELECT balance FROM ledger_accounts WHERE user_id = $6) AS balance";

/// Records a period the wallet could not pay: a failed charge counted, the grace period's end
/// set when one starts, or the subscription suspended with its instance stopped (scaled to zero
/// by the next apply, its data kept). Whether the subscription was still as claimed.
async fn owe(
    conn: &dyn Connection,
    due: &Due,
    notice: Option<Notice>,
    grace_ends: Option<DateTime<Utc>>,
    suspend: bool,
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    let mut params = due.step(notice, now);
    params.extend_from_slice(params![
        grace_ends,
        suspend,
        SubscriptionStatus::Suspended,
        InstanceStatus::Suspended,
        InstanceStatus::param(&[InstanceStatus::Running, InstanceStatus::Stopped])
    ]);
    let rows = conn
        .query(&OWE.replace("{NOTICE}", &notice_cte("changed")), &params)
        .await?;
    changed(&rows)
}

/// After the step's `$1` to `$11`: `$12` the grace period's end, if one starts; suspended when
/// `$13` (`$14` the status, its instance `$15` from one of `$16`).
const OWE: &str = "
    WITH changed AS (
        UPDATE subscriptions SET failed_charges = failed_charges + 1,
            grace_ends_at = coalesce(grace_ends_at, $12),
            status = CASE WHEN $13 THEN $14 ELSE status END,
            suspended_at = CASE WHEN $13 THEN $5 ELSE suspended_at END, updated_at = $5
        WHERE id = $1 AND status = $2 AND period_end = $3 AND plan_id = $4
        RETURNING id
    ),
    stopped AS (
        UPDATE instances i SET status = $15, apply_pending = true, updated_at = $5
        FROM changed c WHERE $13 AND i.subscription_id = c.id AND i.status = ANY ($16)
    ),
    {NOTICE}
    SELECT EXISTS (SELECT 1 FROM changed) AS changed";

/// Ends the subscription as `status` at `ended_at` (its quota slot freed, its instance marked for
/// teardown), with its notice. Whether the subscription was still as claimed.
async fn end(
    conn: &dyn Connection,
    due: &Due,
    status: SubscriptionStatus,
    ended_at: DateTime<Utc>,
    notice: Option<Notice>,
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    let mut params = due.step(notice, now);
    params.extend_from_slice(params![status, ended_at]);
    let statement = END
        .replace("{ENDING}", &subscriptions::ending(5))
        .replace("{NOTICE}", &notice_cte("ended"));
    let rows = conn.query(&statement, &params).await?;
    changed(&rows)
}

/// After the step's `$1` to `$11`: `$12` the status it ends in, `$13` when.
const END: &str = "
    WITH ended AS (
        UPDATE subscriptions SET status = $12, auto_renew = false, ended_at = $13, updated_at = $5
        WHERE id = $1 AND status = $2 AND period_end = $3 AND plan_id = $4
        RETURNING id, plan_id
    ),
    {ENDING},
    {NOTICE}
    SELECT EXISTS (SELECT 1 FROM ended) AS changed";

/// Whether a step's statement found the subscription as claimed.
fn changed(rows: &RowSet) -> Result<bool, DbError> {
    let row = rows
        .first()
        .ok_or_else(|| DbError::Other("a renewal step yielded no row".into()))?;
    row.get("changed")
}

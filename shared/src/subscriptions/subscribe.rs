use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::subdomain::{random_suffix, subdomain_base, InstanceName};
use super::SubscriptionError;
use crate::billing::Period;
use crate::kube::names;
use crate::ledger::{self, LedgerError, SystemAccount, TransferKind};
use crate::money::Rupiah;
use crate::params;
use crate::ports::db::{Connection, DbError};
use crate::states::{InstanceStatus, SubscriptionStatus};

pub struct SubscribeRequest {
    pub plan_id: Uuid,
    pub instance_name: Option<InstanceName>,
    /// The client's `Idempotency-Key`: a retry with it gets the first subscription back.
    pub idempotency_key: Option<String>,
}

/// Subscribes a user to a plan: checks the plan, takes a quota slot, charges the first month,
/// and creates the subscription and its PENDING instance, in one statement inside a transaction
/// (three round trips in all). Returns the subscription id and whether it was created now (false
/// for an idempotent replay).
pub async fn subscribe(
    conn: &dyn Connection,
    user_id: Uuid,
    request: &SubscribeRequest,
    now: DateTime<Utc>,
) -> Result<(Uuid, bool), SubscriptionError> {
    let subscription_id = Uuid::new_v4();
    let opened = crate::transaction!(conn, |tx| -> Result<Option<Uuid>, NotOpened> {
        open(tx, user_id, subscription_id, request, now).await
    })
    .await;
    match opened {
        Ok(None) => Ok((subscription_id, true)),
        Ok(Some(earlier)) => Ok((earlier, false)),
        // A retry of this request, if the key now names a subscription, else a real duplicate.
        Err(NotOpened::Conflict) => match by_idempotency_key(conn, user_id, request).await? {
            Some(id) => Ok((id, false)),
            None => Err(SubscriptionError::AlreadySubscribed { existing: None }),
        },
        Err(NotOpened::Refused(error)) => Err(error),
    }
}

/// Why a subscription was not opened.
enum NotOpened {
    /// A request with the same Idempotency-Key, or another subscription to the same service,
    /// committed while this one ran.
    Conflict,
    Refused(SubscriptionError),
}

impl<E: Into<SubscriptionError>> From<E> for NotOpened {
    fn from(error: E) -> Self {
        NotOpened::Refused(error.into())
    }
}

async fn by_idempotency_key(
    conn: &dyn Connection,
    user_id: Uuid,
    request: &SubscribeRequest,
) -> Result<Option<Uuid>, SubscriptionError> {
    let Some(key) = &request.idempotency_key else {
        return Ok(None);
    };
    let rows = conn
        .query(
            "SELECT id, plan_id FROM subscriptions WHERE user_id = $1 AND idempotency_key = $2",
            params![user_id, key.as_str()],
        )
        .await?;
    let earlier = match rows.first() {
        Some(row) => Some((row.get("id")?, row.get("plan_id")?)),
        None => None,
    };
    replayed(earlier, request)
}

/// The subscription an earlier request with this Idempotency-Key opened (its id and plan), if
/// it was for this plan.
fn replayed(
    earlier: Option<(Uuid, Uuid)>,
    request: &SubscribeRequest,
) -> Result<Option<Uuid>, SubscriptionError> {
    match earlier {
        Some((_, plan_id)) if plan_id != request.plan_id => {
            Err(SubscriptionError::IdempotencyKeyReused)
        }
        earlier => Ok(earlier.map(|(id, _)| id)),
    }
}

/// Each step runs only when the ones before it succeeded (`allowed`, then `slot`, then the
/// payment, then the subscription and its instance), and the outcome row says which one
/// stopped it; a stop after the slot was taken (the wallet could not pay) is undone by the
/// caller's rollback. A concurrent subscribe to the same service or a concurrent retry (a unique
/// constraint of the subscription) and a subdomain taken (the instance's) insert nothing rather
/// than fail: under Spin, an error met while a query's rows stream in is text, without the
/// constraint's name. The default instance is named after its service, whose slug is a
/// DNS label already (migration 0002), cut as `InstanceName::slug` cuts.
const OPEN: &str = "
    WITH replay AS (
        SELECT id, plan_id FROM subscriptions WHERE user_id = $2 AND idempotency_key = $9
    ),
    offer AS (
        SELECT p.service_id, s.slug, p.name, p.price_monthly, p.max_instances_per_user,
               p.is_active AND s.is_active AND s.is_public AND s.deleted_at IS NULL AS on_sale
        FROM plans p JOIN services s ON s.id = p.service_id
        WHERE p.id = $3 AND p.deleted_at IS NULL
    ),
    live AS (
        SELECT sub.id FROM subscriptions sub JOIN offer o ON o.service_id = sub.service_id
        WHERE sub.user_id = $2 AND sub.status = ANY($15)
        LIMIT 1
    ),
    held AS (
        SELECT count(*) AS instances
        FROM instances i JOIN subscriptions s ON s.id = i.subscription_id
        WHERE i.user_id = $2 AND s.plan_id = $3 AND i.status <> $16
    ),
    allowed AS (
        SELECT o.* FROM offer o, held h
        WHERE o.on_sale AND h.instances < o.max_instances_per_user
          AND NOT EXISTS (SELECT 1 FROM replay) AND NOT EXISTS (SELECT 1 FROM live)
    ),
    slot AS (
        UPDATE plans p SET quota_used = p.quota_used + 1
        FROM allowed
        WHERE p.id = $3 AND p.quota_used < p.quota_total
        RETURNING p.id
    ),
    ledger_input AS (
        SELECT $4::text AS key, $5::text AS kind, $2::uuid AS from_user, 'WALLET' AS from_kind,
            NULL::uuid AS to_user, $6::text AS to_kind, a.price_monthly AS amount,
            a.slug || ' ' || a.name || ' plan, first month' AS description,
            $7::text AS reference, NULL::uuid AS actor_id, $8::timestamp AS created_at
        FROM allowed a, slot
        WHERE a.price_monthly > 0
    ),
    {POSTING},
    subscription AS (
        INSERT INTO subscriptions (id, user_id, service_id, plan_id, status, price_monthly,
            period_start, period_end, anchor_day, idempotency_key, created_at, updated_at)
        SELECT $1, $2, a.service_id, $3, $10, a.price_monthly, $8, $11, $12, $9, $8, $8
        FROM allowed a, slot
        WHERE a.price_monthly = 0 OR EXISTS (SELECT 1 FROM ledger_paid)
        ON CONFLICT DO NOTHING
        RETURNING id
    ),
    instance AS (
        INSERT INTO instances (id, subscription_id, user_id, name, subdomain, status, namespace,
            resource_name, created_at, updated_at)
        SELECT $13, s.id, $2, coalesce($14, a.slug),
            coalesce($17, rtrim(left(a.slug, 40), '-')) || '-' || $18,
            $19, $20, $21, $8, $8
        FROM subscription s, allowed a
        ON CONFLICT DO NOTHING
        RETURNING id
    )
    SELECT (SELECT id FROM replay) AS replayed,
           (SELECT plan_id FROM replay) AS replayed_plan,
           (SELECT on_sale FROM offer) AS on_sale,
           (SELECT id FROM live) AS live,
           (SELECT name FROM offer) AS plan_name,
           (SELECT max_instances_per_user FROM offer) AS allowed_instances,
           (SELECT instances FROM held) AS held,
           EXISTS (SELECT 1 FROM slot) AS slot_taken,
           (SELECT price_monthly FROM offer) AS price,
           (SELECT balance FROM ledger_accounts WHERE user_id = $2) AS balance,
           EXISTS (SELECT 1 FROM ledger_paid) AS paid,
           EXISTS (SELECT 1 FROM subscription) AS recorded,
           EXISTS (SELECT 1 FROM instance) AS opened";

/// Opens the subscription, or says why not: `Some(id)` is the subscription an earlier request
/// with this Idempotency-Key opened.
async fn open(
    tx: &dyn Connection,
    user_id: Uuid,
    subscription_id: Uuid,
    request: &SubscribeRequest,
    now: DateTime<Utc>,
) -> Result<Option<Uuid>, NotOpened> {
    let period = Period::first(now);
    let instance_id = Uuid::new_v4();
    let outcome = tx
        .query(
            &OPEN.replace("{POSTING}", ledger::POSTING),
            params![
                subscription_id,
                user_id,
                request.plan_id,
                format!("subscribe:{subscription_id}"),
                TransferKind::Subscription.as_str(),
                SystemAccount::Revenue.kind(),
                subscription_id.to_string(),
                now,
                request.idempotency_key.clone(),
                SubscriptionStatus::Active,
                period.end,
                period.anchor_day as i32,
                instance_id,
                request.instance_name.as_ref().map(InstanceName::as_str),
                SubscriptionStatus::live_param(),
                InstanceStatus::Terminated,
                request.instance_name.as_ref().map(subdomain_base),
                random_suffix()?,
                InstanceStatus::Pending,
                names::namespace(user_id),
                names::resource(instance_id)
            ],
        )
        .await?;
    let row = outcome
        .first()
        .ok_or_else(|| DbError::Other("subscribing yielded no row".into()))?;
    if row.get::<bool>("opened")? {
        return Ok(None);
    }
    let earlier = row
        .get::<Option<Uuid>>("replayed")?
        .zip(row.get::<Option<Uuid>>("replayed_plan")?);
    if let Some(id) = replayed(earlier, request)? {
        return Ok(Some(id));
    }
    let refusal = match row.get::<Option<bool>>("on_sale")? {
        None => SubscriptionError::PlanNotFound,
        Some(false) => SubscriptionError::PlanNotOnSale,
        Some(true) => {
            let plan: String = row.get("plan_name")?;
            let allowed = i64::from(row.get::<i32>("allowed_instances")?);
            let held: i64 = row.get("held")?;
            if let Some(existing) = row.get::<Option<Uuid>>("live")? {
                SubscriptionError::AlreadySubscribed {
                    existing: Some(existing),
                }
            } else if held >= allowed {
                SubscriptionError::InstanceLimit {
                    plan,
                    allowed,
                    held,
                }
            } else if !row.get::<bool>("slot_taken")? {
                SubscriptionError::PlanFull { plan }
            } else if row.get::<bool>("recorded")? {
                SubscriptionError::SubdomainTaken
            } else if row.get::<bool>("paid")? || row.get::<i64>("price")? == 0 {
                // Paid for, but a unique constraint refused the subscription: a concurrent
                // request with this Idempotency-Key, or one to the same service, committed first.
                return Err(NotOpened::Conflict);
            } else {
                let balance = Rupiah::new(row.get::<Option<i64>>("balance")?.unwrap_or_default());
                LedgerError::insufficient(balance, row.get("price")?).into()
            }
        }
    };
    Err(NotOpened::Refused(refusal))
}

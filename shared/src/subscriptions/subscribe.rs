use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::subdomain::{new_subdomain, InstanceName};
use super::{take_slot, SubscriptionError};
use crate::billing::Period;
use crate::kube::names;
use crate::ledger::{self, Transfer, TransferKind};
use crate::money::Rupiah;
use crate::params;
use crate::ports::db::Connection;
use crate::states::{InstanceStatus, SubscriptionStatus};

pub struct SubscribeRequest {
    pub plan_id: Uuid,
    pub instance_name: Option<InstanceName>,
    /// The client's `Idempotency-Key`: a retry with it gets the first subscription back.
    pub idempotency_key: Option<String>,
}

/// The plan being bought, as the subscription needs it.
struct Offer {
    service_id: Uuid,
    service_slug: String,
    plan_name: String,
    price: Rupiah,
    max_instances_per_user: i64,
}

/// Subscribes a user to a plan: checks the plan, takes a quota slot, charges the first month,
/// and creates the subscription and its PENDING instance, all in one transaction. Returns the
/// subscription id and whether it was created now (false for an idempotent replay).
pub async fn subscribe(
    conn: &dyn Connection,
    user_id: Uuid,
    request: &SubscribeRequest,
    now: DateTime<Utc>,
) -> Result<(Uuid, bool), SubscriptionError> {
    if let Some(existing) = by_idempotency_key(conn, user_id, request).await? {
        return Ok((existing, false));
    }
    let subscription_id = Uuid::new_v4();
    let created = crate::transaction!(conn, |tx| -> Result<(), NotOpened> {
        open(tx, user_id, subscription_id, request, now).await
    })
    .await;
    match created {
        Ok(()) => Ok((subscription_id, true)),
        // A retry of this request committed first.
        Err(NotOpened::Replayed) => match by_idempotency_key(conn, user_id, request).await? {
            Some(id) => Ok((id, false)),
            None => Err(SubscriptionError::Invariant(
                "idempotent subscription vanished".into(),
            )),
        },
        // Postgres may report the one-live-subscription index before the idempotency key's:
        // a retry of this request, if the key now names a subscription, else a real duplicate.
        Err(NotOpened::Refused(duplicate @ SubscriptionError::AlreadySubscribed { .. })) => {
            match by_idempotency_key(conn, user_id, request).await? {
                Some(id) => Ok((id, false)),
                None => Err(duplicate),
            }
        }
        Err(NotOpened::Refused(error)) => Err(error),
    }
}

/// Why a subscription was not opened.
enum NotOpened {
    /// A request with the same Idempotency-Key opened it first.
    Replayed,
    Refused(SubscriptionError),
}

impl<E: Into<SubscriptionError>> From<E> for NotOpened {
    fn from(error: E) -> Self {
        NotOpened::Refused(error.into())
    }
}

/// The unique constraints (migrations/0004) a concurrent subscribe can trip.
const IDEMPOTENCY_KEY_CONSTRAINT: &str = "subscriptions_user_id_idempotency_key_key";
const ONE_LIVE_CONSTRAINT: &str = "subscriptions_one_live_per_service";

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
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    let plan_id: Uuid = row.get("plan_id")?;
    if plan_id != request.plan_id {
        return Err(SubscriptionError::IdempotencyKeyReused);
    }
    Ok(Some(row.get("id")?))
}

async fn open(
    tx: &dyn Connection,
    user_id: Uuid,
    subscription_id: Uuid,
    request: &SubscribeRequest,
    now: DateTime<Utc>,
) -> Result<(), NotOpened> {
    let offer = offer(tx, request.plan_id).await?;
    refuse_duplicate(tx, user_id, &offer).await?;

    let held: i64 = tx
        .scalar(
            "SELECT count(*) FROM instances i JOIN subscriptions s ON s.id = i.subscription_id
             WHERE i.user_id = $1 AND s.plan_id = $2 AND i.status <> $3",
            params![user_id, request.plan_id, InstanceStatus::Terminated],
        )
        .await?;
    if held >= offer.max_instances_per_user {
        // A concurrent subscribe to the same service may have just committed: say so.
        refuse_duplicate(tx, user_id, &offer).await?;
        return Err(NotOpened::Refused(SubscriptionError::InstanceLimit {
            plan: offer.plan_name,
            allowed: offer.max_instances_per_user,
            held,
        }));
    }

    take_slot(tx, request.plan_id, &offer.plan_name).await?;

    if offer.price > Rupiah::ZERO {
        let charge = Transfer::charge(
            format!("subscribe:{subscription_id}"),
            TransferKind::Subscription,
            user_id,
            offer.price,
            format!(
                "{} {} plan, first month",
                offer.service_slug, offer.plan_name
            ),
            subscription_id,
        );
        ledger::post(tx, &charge, now).await?;
    }

    let period = Period::first(now);
    let inserted = tx
        .execute(
            "INSERT INTO subscriptions (id, user_id, service_id, plan_id, status, price_monthly,
                 period_start, period_end, anchor_day, idempotency_key, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $11, $5, $6, $7, $8, $9, $10, $10)",
            params![
                subscription_id,
                user_id,
                offer.service_id,
                request.plan_id,
                offer.price.amount(),
                period.start,
                period.end,
                period.anchor_day as i32,
                request.idempotency_key.clone(),
                now,
                SubscriptionStatus::Active
            ],
        )
        .await;
    if let Err(error) = inserted {
        return Err(match error.constraint() {
            Some(IDEMPOTENCY_KEY_CONSTRAINT) => NotOpened::Replayed,
            Some(ONE_LIVE_CONSTRAINT) => {
                NotOpened::Refused(SubscriptionError::AlreadySubscribed { existing: None })
            }
            _ => error.into(),
        });
    }

    let name = request
        .instance_name
        .clone()
        .unwrap_or_else(|| InstanceName::parse(&offer.service_slug).expect("slugs are names"));
    let instance_id = Uuid::new_v4();
    let subdomain = new_subdomain(&name.slug())?;
    tx.execute(
        "INSERT INTO instances (id, subscription_id, user_id, name, subdomain, status, namespace,
             resource_name, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $9, $6, $7, $8, $8)",
        params![
            instance_id,
            subscription_id,
            user_id,
            name.as_str(),
            subdomain.as_str(),
            names::namespace(user_id),
            names::resource(instance_id),
            now,
            InstanceStatus::Pending
        ],
    )
    .await
    .map_err(|e| {
        if e.is_unique_violation() {
            SubscriptionError::SubdomainTaken
        } else {
            e.into()
        }
    })?;
    Ok(())
}

async fn offer(tx: &dyn Connection, plan_id: Uuid) -> Result<Offer, SubscriptionError> {
    let rows = tx
        .query(
            "SELECT p.service_id, s.slug, p.name, p.price_monthly, p.max_instances_per_user,
                    p.is_active AND s.is_active AND s.is_public AND s.deleted_at IS NULL AS on_sale
             FROM plans p JOIN services s ON s.id = p.service_id
             WHERE p.id = $1 AND p.deleted_at IS NULL",
            params![plan_id],
        )
        .await?;
    let row = rows.first().ok_or(SubscriptionError::PlanNotFound)?;
    if !row.get::<bool>("on_sale")? {
        return Err(SubscriptionError::PlanNotOnSale);
    }
    Ok(Offer {
        service_id: row.get("service_id")?,
        service_slug: row.get("slug")?,
        plan_name: row.get("name")?,
        price: row.get("price_monthly")?,
        max_instances_per_user: i64::from(row.get::<i32>("max_instances_per_user")?),
    })
}

async fn refuse_duplicate(
    tx: &dyn Connection,
    user_id: Uuid,
    offer: &Offer,
) -> Result<(), NotOpened> {
    let live = tx
        .query(
            "SELECT id FROM subscriptions
             WHERE user_id = $1 AND service_id = $2 AND status = ANY($3)",
            params![user_id, offer.service_id, SubscriptionStatus::live_param()],
        )
        .await?;
    match live.first() {
        Some(row) => Err(NotOpened::Refused(SubscriptionError::AlreadySubscribed {
            existing: Some(row.get("id")?),
        })),
        None => Ok(()),
    }
}

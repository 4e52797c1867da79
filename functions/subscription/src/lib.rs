//! The `subscription` component: `/api/user/services/subscribe` and
//! `/api/user/services/subscriptions/*`, each user's own subscriptions only.

use spincat::auth::{self, Principal};
use spincat::http::{ApiError, Ctx, Paging, Reply};
use spincat::ports::db::Connection;
use spincat::subscriptions::Resize;
use spincat::subscriptions::{self, InstanceName, SubscribeRequest, Upgrader};
use uuid::Uuid;

spincat::component!(route);

const STATUSES: [&str; 5] = [
    "ACTIVE",
    "PENDING_UPGRADE",
    "SUSPENDED",
    "CANCELLED",
    "EXPIRED",
];

async fn route(ctx: &Ctx) -> Result<Reply, ApiError> {
    let principal = auth::authenticate(ctx).await?;
    match (
        ctx.request.method.as_str(),
        ctx.request.segments().as_slice(),
    ) {
        ("POST", ["api", "user", "services", "subscribe"]) => subscribe(ctx, principal).await,
        ("GET", ["api", "user", "services", "subscriptions"]) => list(ctx, principal).await,
        ("GET", ["api", "user", "services", "subscriptions", id]) => {
            detail(ctx, principal, id).await
        }
        ("PUT", ["api", "user", "services", "subscriptions", id, "upgrade"]) => {
            upgrade(ctx, principal, id).await
        }
        ("DELETE", ["api", "user", "services", "subscriptions", id]) => {
            cancel(ctx, principal, id).await
        }
        _ => Err(ApiError::route_not_found(
            &ctx.request.method,
            &ctx.request.path,
        )),
    }
}

/// A malformed id names no subscription: 404, like any id that is not yours.
fn subscription_id(id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id)
        .map_err(|_| ApiError::not_found("SUBSCRIPTION_NOT_FOUND", "No such subscription"))
}

fn uuid_field(text: &str) -> Result<Uuid, String> {
    Uuid::parse_str(text.trim()).map_err(|_| "must be an id".into())
}

async fn subscribe(ctx: &Ctx, principal: Principal) -> Result<Reply, ApiError> {
    let mut fields = ctx.json()?;
    let plan_id = fields.required("planId", |v| uuid_field(v.text()?));
    let instance_name = fields.optional("instanceName", |v| InstanceName::parse(v.text()?));
    let idempotency_key = ctx.idempotency_key()?;
    let request = fields.finish(|| {
        Some(SubscribeRequest {
            plan_id: plan_id?,
            instance_name,
            idempotency_key,
        })
    })?;
    let conn = ctx.db().await?;
    let (id, created) =
        subscriptions::subscribe(conn.as_ref(), principal.user_id, &request, ctx.now).await?;
    let detail = subscriptions::detail(conn.as_ref(), principal.user_id, id).await?;
    Ok(if created {
        Reply::created("Subscribed: your instance is being prepared", detail)
    } else {
        Reply::ok("Already subscribed with this Idempotency-Key", detail)
    })
}

async fn list(ctx: &Ctx, principal: Principal) -> Result<Reply, ApiError> {
    let mut query = ctx.query();
    let status = query.optional("status", |v| {
        let status = v.text()?.trim().to_ascii_uppercase();
        if STATUSES.contains(&status.as_str()) {
            Ok(status)
        } else {
            Err(format!("must be one of {}", STATUSES.join(", ")))
        }
    });
    let paging = Paging::from_query(&mut query);
    query.finish(|| Some(()))?;
    let conn = ctx.db().await?;
    let page =
        subscriptions::list(conn.as_ref(), principal.user_id, status.as_deref(), paging).await?;
    Ok(Reply::ok("Your subscriptions", page.to_json()))
}

async fn detail(ctx: &Ctx, principal: Principal, id: &str) -> Result<Reply, ApiError> {
    let id = subscription_id(id)?;
    let conn = ctx.db().await?;
    let detail = subscriptions::detail(conn.as_ref(), principal.user_id, id).await?;
    Ok(Reply::ok("Subscription", detail))
}

async fn upgrade(ctx: &Ctx, principal: Principal, id: &str) -> Result<Reply, ApiError> {
    let id = subscription_id(id)?;
    let mut fields = ctx.json()?;
    let new_plan = fields.required("newPlanId", |v| uuid_field(v.text()?));
    let new_plan = fields.finish(|| new_plan)?;
    let conn = ctx.db().await?;
    let resize = UndeployedOnly {
        conn: conn.as_ref(),
    };
    let upgrader = Upgrader {
        conn: conn.as_ref(),
        resize: &resize,
    };
    let result = subscriptions::upgrade(upgrader, principal, id, new_plan, ctx.now).await?;
    Ok(Reply::ok("Plan changed", result))
}

async fn cancel(ctx: &Ctx, principal: Principal, id: &str) -> Result<Reply, ApiError> {
    let id = subscription_id(id)?;
    let mut query = ctx.query();
    let immediate = query
        .optional("immediate", |v| v.boolean())
        .unwrap_or(false);
    query.finish(|| Some(()))?;
    let conn = ctx.db().await?;
    let result = subscriptions::cancel(conn.as_ref(), principal, id, immediate, ctx.now).await?;
    Ok(Reply::ok("Subscription cancelled", result))
}

/// Until provisioning deploys instances, an instance that was never deployed has nothing to
/// resize; anything else cannot be resized yet and the upgrade is undone.
struct UndeployedOnly<'a> {
    conn: &'a dyn Connection,
}

#[cfg_attr(not(target_arch = "wasm32"), async_trait::async_trait)]
#[cfg_attr(target_arch = "wasm32", async_trait::async_trait(?Send))]
impl Resize for UndeployedOnly<'_> {
    async fn resize(&self, subscription_id: Uuid, _plan_id: Uuid) -> Result<(), String> {
        let deployed = self
            .conn
            .query(
                "SELECT 1 FROM instances WHERE subscription_id = $1 AND status <> 'PENDING'",
                spincat::params![subscription_id],
            )
            .await
            .map_err(|e| e.to_string())?;
        if deployed.is_empty() {
            Ok(())
        } else {
            Err("deployed instances cannot be resized yet".into())
        }
    }
}

//! The `subscription` component: `/api/user/services/subscribe` and
//! `/api/user/services/subscriptions/*`, each user's own subscriptions only.

use spincat::auth::{self, Principal};
use spincat::http::{ApiError, Ctx, Paging, Reply};
use spincat::kube::ClusterSettings;
use spincat::ports::db::Connection;
use spincat::provisioning::Provisioner;
use spincat::subscriptions::{
    self, InstanceName, SubscribeRequest, SubscriptionError, SubscriptionFilter, Upgrader,
};
use spincat::upstream;
use uuid::Uuid;

spincat::component!(route, ROUTES);

/// What `route` matches.
const ROUTES: spincat::http::Routes = &[
    ("POST", "/api/user/services/subscribe"),
    ("GET", "/api/user/services/subscriptions"),
    ("GET", "/api/user/services/subscriptions/:id"),
    ("PUT", "/api/user/services/subscriptions/:id/upgrade"),
    ("DELETE", "/api/user/services/subscriptions/:id"),
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
    Uuid::parse_str(id).map_err(|_| SubscriptionError::NotFound.into())
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
    // Nothing is sold that cannot be deployed.
    ClusterSettings::load(ctx.config()).await?.connection()?;
    let conn = ctx.db().await?;
    let (id, created) =
        subscriptions::subscribe(conn.as_ref(), principal.user_id, &request, ctx.now).await?;
    if created {
        start_provisioning(ctx, conn.as_ref(), principal.user_id, id).await;
    }
    let detail = subscriptions::detail(conn.as_ref(), principal.user_id, id).await?;
    Ok(if created {
        Reply::created("Subscribed: your instance is being prepared", detail)
    } else {
        Reply::ok("Already subscribed with this Idempotency-Key", detail)
    })
}

async fn list(ctx: &Ctx, principal: Principal) -> Result<Reply, ApiError> {
    let mut query = ctx.query();
    let status = query.optional("status", |v| v.state());
    let paging = Paging::from_query(&mut query);
    query.finish(|| Some(()))?;
    let conn = ctx.db().await?;
    let filter = SubscriptionFilter {
        user_id: Some(principal.user_id),
        status,
        ..Default::default()
    };
    let page = subscriptions::list(conn.as_ref(), &filter, paging).await?;
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
    let cluster = ClusterSettings::load(ctx.config()).await?;
    cluster.connection()?;
    let conn = ctx.db().await?;
    let provisioner = Provisioner::new(conn.as_ref(), ctx.ports.http.as_ref(), &cluster);
    let upgrader = Upgrader {
        conn: conn.as_ref(),
        resize: &provisioner,
    };
    let upgrade = subscriptions::upgrade(upgrader, principal, id, new_plan, ctx.now);
    let result = upstream::bounded(conn.as_ref(), principal.user_id, ctx.now, upgrade).await?;
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
    let result =
        subscriptions::cancel(conn.as_ref(), principal, id, immediate, true, ctx.now).await?;
    Ok(Reply::ok("Subscription cancelled", result))
}

/// Takes the new instance's first provisioning step right away. Best effort: if the cluster is
/// unreachable, or the user already has as many requests waiting on it as they may, the instance
/// stays PENDING and the reconcile job carries on.
async fn start_provisioning(
    ctx: &Ctx,
    conn: &dyn Connection,
    user_id: Uuid,
    subscription_id: Uuid,
) {
    let step = async {
        let cluster = ClusterSettings::load(ctx.config()).await?;
        Provisioner::new(conn, ctx.ports.http.as_ref(), &cluster)
            .begin(subscription_id, ctx.now)
            .await?;
        Ok::<_, ApiError>(())
    };
    let step = upstream::bounded(conn, user_id, ctx.now, step);
    if let Err(error) = step.await {
        tracing::warn!(%subscription_id, error = %error.message, "provisioning will be retried by the reconcile job");
    }
}

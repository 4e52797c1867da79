//! The `admin` component: `/api/admin/*`, for administrators only.

use serde_json::json;
use spincat::admin::analytics::{self, Range};
use spincat::admin::catalog::{self, Kind, Write};
use spincat::admin::{self, Adjustment, AdminError};
use spincat::audit;
use spincat::auth::{self, users, Role};
use spincat::http::{ApiError, Ctx, Page, Paging, Reply};
use spincat::kube::{views, ClusterSettings, Kube};
use spincat::ledger;
use spincat::subscriptions::{self, SubscriptionError, SubscriptionFilter};
use uuid::Uuid;

spincat::component!(route, ROUTES, kv = spincat::spin::SpinStore::default());

/// Every admin route, for the role checks that must cover them all (and 405s).
pub const ROUTES: spincat::http::Routes = &[
    ("GET", "/api/admin/users"),
    ("GET", "/api/admin/users/:id"),
    ("PUT", "/api/admin/users/:id/role"),
    ("PUT", "/api/admin/users/:id/active"),
    ("POST", "/api/admin/users/:id/wallet/adjust"),
    ("GET", "/api/admin/ledger/audit"),
    ("GET", "/api/admin/audit"),
    ("GET", "/api/admin/quota"),
    ("GET", "/api/admin/quota/check"),
    ("PUT", "/api/admin/plans/:id/quota"),
    ("GET", "/api/admin/subscriptions"),
    ("GET", "/api/admin/subscriptions/:id"),
    ("POST", "/api/admin/subscriptions/:id/cancel"),
    ("GET", "/api/admin/catalog/:kind"),
    ("POST", "/api/admin/catalog/:kind"),
    ("GET", "/api/admin/catalog/:kind/:id"),
    ("PUT", "/api/admin/catalog/:kind/:id"),
    ("DELETE", "/api/admin/catalog/:kind/:id"),
    ("GET", "/api/admin/analytics/revenue"),
    ("GET", "/api/admin/analytics/quota"),
    ("GET", "/api/admin/analytics/subscriptions"),
    ("GET", "/api/admin/analytics/users"),
    ("GET", "/api/admin/k8s/:kind"),
    ("GET", "/api/admin/k8s/pods/:namespace/:name/logs"),
];

async fn route(ctx: &Ctx) -> Result<Reply, ApiError> {
    let reply = answer(ctx).await?;
    if ctx.request.method != "GET" {
        // A write here may change what the public catalog shows (a service, a plan, a quota):
        // no kept catalog answer survives one.
        spincat::catalog::cache::retire(ctx.ports.kv.as_ref()).await;
    }
    Ok(reply)
}

async fn answer(ctx: &Ctx) -> Result<Reply, ApiError> {
    let admin = auth::authenticate_admin(ctx).await?;
    let now = ctx.now;
    match (
        ctx.request.method.as_str(),
        ctx.request.segments().as_slice(),
    ) {
        ("GET", ["api", "admin", "users"]) => list_users(ctx).await,
        ("GET", ["api", "admin", "users", id]) => {
            let conn = ctx.db().await?;
            let detail = admin::user_detail(conn.as_ref(), user_id(id)?).await?;
            Ok(Reply::ok("User", detail))
        }
        ("PUT", ["api", "admin", "users", id, "role"]) => {
            let mut fields = ctx.json()?;
            let role = fields.required("role", |v| v.text()?.parse::<Role>());
            let role = fields.finish(|| role)?;
            let conn = ctx.db().await?;
            let changed =
                admin::set_role(conn.as_ref(), admin.user_id, user_id(id)?, role, now).await?;
            Ok(Reply::ok("Role changed", changed))
        }
        ("PUT", ["api", "admin", "users", id, "active"]) => {
            let mut fields = ctx.json()?;
            let active = fields.required("active", |v| v.boolean());
            let active = fields.finish(|| active)?;
            let conn = ctx.db().await?;
            let changed =
                admin::set_active(conn.as_ref(), admin.user_id, user_id(id)?, active, now).await?;
            Ok(Reply::ok("Account updated", changed))
        }
        ("POST", ["api", "admin", "users", id, "wallet", "adjust"]) => {
            adjust_wallet(ctx, admin.user_id, user_id(id)?).await
        }
        ("GET", ["api", "admin", "ledger", "audit"]) => {
            let conn = ctx.db().await?;
            let report = ledger::check(conn.as_ref()).await?;
            Ok(Reply::ok(
                "Ledger audit",
                json!({ "sound": report.is_sound(), "report": report }),
            ))
        }
        ("GET", ["api", "admin", "audit"]) => audit_log(ctx).await,
        ("GET", ["api", "admin", "quota"]) => {
            let conn = ctx.db().await?;
            let plans = admin::quota_view(conn.as_ref()).await?;
            Ok(Reply::ok("Quota", json!({ "plans": plans })))
        }
        ("GET", ["api", "admin", "quota", "check"]) => {
            let conn = ctx.db().await?;
            Ok(Reply::ok(
                "Quota check",
                admin::check_quota(conn.as_ref()).await?,
            ))
        }
        ("PUT", ["api", "admin", "plans", id, "quota"]) => {
            let mut fields = ctx.json()?;
            let total = fields.required("total", |v| match v.integer()? {
                n @ 0..=1_000_000 => Ok(n as i32),
                _ => Err("must be between 0 and 1000000".into()),
            });
            let total = fields.finish(|| total)?;
            let plan = catalog_id(Kind::Plan, id)?;
            let conn = ctx.db().await?;
            let changed =
                admin::adjust_quota(conn.as_ref(), admin.user_id, plan, total, now).await?;
            Ok(Reply::ok("Quota changed", changed))
        }
        ("GET", ["api", "admin", "subscriptions"]) => list_subscriptions(ctx).await,
        ("GET", ["api", "admin", "subscriptions", id]) => {
            let id = subscription_id(id)?;
            let conn = ctx.db().await?;
            let owner = subscriptions::owner(conn.as_ref(), id)
                .await?
                .ok_or(SubscriptionError::NotFound)?;
            let detail = subscriptions::detail(conn.as_ref(), owner, id).await?;
            Ok(Reply::ok("Subscription", detail))
        }
        ("POST", ["api", "admin", "subscriptions", id, "cancel"]) => {
            let mut fields = ctx.optional_json()?;
            let refund = fields.optional("refund", |v| v.boolean()).unwrap_or(true);
            fields.finish(|| Some(()))?;
            let conn = ctx.db().await?;
            let id = subscription_id(id)?;
            let cancelled =
                subscriptions::cancel(conn.as_ref(), admin, id, true, refund, now).await?;
            Ok(Reply::ok("Subscription cancelled", cancelled))
        }
        ("GET", ["api", "admin", "catalog", kind]) => {
            let kind = catalog_kind(kind)?;
            let mut query = ctx.query();
            let paging = Paging::from_query(&mut query);
            query.finish(|| Some(()))?;
            let conn = ctx.db().await?;
            let all = catalog::list(conn.as_ref(), kind).await?;
            Ok(Reply::ok("Catalog", Page::of_all(all, paging).to_json()))
        }
        ("POST", ["api", "admin", "catalog", kind]) => {
            let kind = catalog_kind(kind)?;
            let write = Write::parse(ctx.json()?, kind, true)?;
            let conn = ctx.db().await?;
            let created = catalog::create(conn.as_ref(), admin.user_id, kind, write, now).await?;
            Ok(Reply::created("Created", created))
        }
        ("GET", ["api", "admin", "catalog", kind, id]) => {
            let kind = catalog_kind(kind)?;
            let id = catalog_id(kind, id)?;
            let conn = ctx.db().await?;
            Ok(Reply::ok(
                "Catalog",
                catalog::read(conn.as_ref(), kind, id).await?,
            ))
        }
        ("PUT", ["api", "admin", "catalog", kind, id]) => {
            let kind = catalog_kind(kind)?;
            let id = catalog_id(kind, id)?;
            let write = Write::parse(ctx.json()?, kind, false)?;
            let conn = ctx.db().await?;
            let updated =
                catalog::update(conn.as_ref(), admin.user_id, kind, id, write, now).await?;
            Ok(Reply::ok("Updated", updated))
        }
        ("DELETE", ["api", "admin", "catalog", kind, id]) => {
            let kind = catalog_kind(kind)?;
            let id = catalog_id(kind, id)?;
            let conn = ctx.db().await?;
            Ok(Reply::ok(
                "Deleted",
                catalog::delete(conn.as_ref(), admin.user_id, kind, id, now).await?,
            ))
        }
        ("GET", ["api", "admin", "analytics", report]) => analytics(ctx, report).await,
        ("GET", ["api", "admin", "k8s", "pods", namespace, name, "logs"]) => {
            pod_logs(ctx, namespace, name).await
        }
        ("GET", ["api", "admin", "k8s", kind]) => cluster_view(ctx, kind).await,
        _ => Err(ApiError::route_not_found(
            &ctx.request.method,
            &ctx.request.path,
        )),
    }
}

async fn audit_log(ctx: &Ctx) -> Result<Reply, ApiError> {
    let mut query = ctx.query();
    let action = query.optional("action", |v| Ok(v.text()?.to_owned()));
    let target = query.optional("targetId", |v| Ok(v.text()?.to_owned()));
    let paging = Paging::from_query(&mut query);
    query.finish(|| Some(()))?;
    let conn = ctx.db().await?;
    let page = audit::list(conn.as_ref(), action.as_deref(), target.as_deref(), paging).await?;
    Ok(Reply::ok("Audit log", page.to_json()))
}

async fn list_users(ctx: &Ctx) -> Result<Reply, ApiError> {
    let mut query = ctx.query();
    let search = query.optional("search", |v| Ok(v.text()?.trim().to_owned()));
    let paging = Paging::from_query(&mut query);
    query.finish(|| Some(()))?;
    let conn = ctx.db().await?;
    let page = users::list(conn.as_ref(), search.as_deref(), paging).await?;
    Ok(Reply::ok("Users", page.to_json()))
}

async fn cluster_view(ctx: &Ctx, kind: &str) -> Result<Reply, ApiError> {
    let mut query = ctx.query();
    let namespace = query.optional("namespace", |v| Ok(v.text()?.trim().to_owned()));
    let paging = Paging::from_query(&mut query);
    query.finish(|| Some(()))?;
    let settings = ClusterSettings::load(ctx.config()).await?;
    let kube = Kube::new(ctx.ports.http.as_ref(), &settings);
    let items = views::summary(&kube, kind, namespace.as_deref())
        .await?
        .ok_or_else(|| ApiError::route_not_found(&ctx.request.method, &ctx.request.path))?;
    Ok(Reply::ok("Cluster", Page::of_all(items, paging).to_json()))
}

async fn pod_logs(ctx: &Ctx, namespace: &str, name: &str) -> Result<Reply, ApiError> {
    let mut query = ctx.query();
    let lines = query
        .optional("lines", |v| match v.integer()? {
            n @ 1..=5_000 => Ok(n as u32),
            _ => Err("must be between 1 and 5000".into()),
        })
        .unwrap_or(200);
    let container = query.optional("container", |v| Ok(v.text()?.to_owned()));
    query.finish(|| Some(()))?;
    let settings = ClusterSettings::load(ctx.config()).await?;
    let kube = Kube::new(ctx.ports.http.as_ref(), &settings);
    let text = kube
        .logs(namespace, name, container.as_deref(), lines, None)
        .await
        .map_err(|e| match e {
            spincat::kube::KubeError::NotFound(_) => {
                ApiError::not_found("POD_NOT_FOUND", "No such pod")
            }
            other => other.into(),
        })?;
    Ok(Reply::ok(
        "Pod logs",
        json!({ "lines": text.lines().collect::<Vec<_>>() }),
    ))
}

fn user_id(id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id).map_err(|_| AdminError::UserNotFound.into())
}

fn subscription_id(id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id).map_err(|_| SubscriptionError::NotFound.into())
}

async fn adjust_wallet(ctx: &Ctx, actor: Uuid, user: Uuid) -> Result<Reply, ApiError> {
    let mut fields = ctx.json()?;
    let amount = fields.required("amount", |v| match v.integer()? {
        0 => Err("must not be zero".into()),
        n if n.unsigned_abs() > 1_000_000_000 => {
            Err("must be at most 1000000000 either way".into())
        }
        n => Ok(n),
    });
    let reason = fields.required("reason", |v| {
        let reason = spincat::exact::unpadded(v.text()?)?;
        match reason.chars().count() {
            3..=500 => Ok(reason.to_owned()),
            _ => Err("must say why, in 3 to 500 characters".into()),
        }
    });
    let idempotency_key = ctx.idempotency_key()?;
    let adjustment = fields.finish(|| {
        Some(Adjustment {
            amount: amount?,
            reason: reason?,
            idempotency_key,
        })
    })?;
    let conn = ctx.db().await?;
    let result = admin::adjust_wallet(conn.as_ref(), actor, user, adjustment, ctx.now).await?;
    Ok(Reply::ok("Wallet adjusted", result))
}

async fn list_subscriptions(ctx: &Ctx) -> Result<Reply, ApiError> {
    let mut query = ctx.query();
    let status = query.optional("status", |v| v.state());
    let service = query.optional("service", |v| Ok(v.text()?.trim().to_lowercase()));
    let plan_id = query.optional("planId", |v| {
        Uuid::parse_str(v.text()?).map_err(|_| "must be an id".into())
    });
    let user_id = query.optional("userId", |v| {
        Uuid::parse_str(v.text()?).map_err(|_| "must be an id".into())
    });
    let paging = Paging::from_query(&mut query);
    let filter = query.finish(|| {
        Some(SubscriptionFilter {
            user_id,
            status,
            service,
            plan_id,
        })
    })?;
    let conn = ctx.db().await?;
    let page = subscriptions::list(conn.as_ref(), &filter, paging).await?;
    Ok(Reply::ok("Subscriptions", page.to_json()))
}

fn catalog_kind(kind: &str) -> Result<Kind, ApiError> {
    Kind::from_path(kind).ok_or_else(|| {
        ApiError::not_found("ROUTE_NOT_FOUND", format!("No catalog objects {kind:?}"))
    })
}

/// A malformed id names no object: 404, like an unknown one.
fn catalog_id(kind: Kind, id: &str) -> Result<Uuid, AdminError> {
    Uuid::parse_str(id).map_err(|_| AdminError::NotFound(kind))
}

async fn analytics(ctx: &Ctx, report: &str) -> Result<Reply, ApiError> {
    let range = Range::parse(ctx.query(), ctx.now)?;
    let conn = ctx.db().await?;
    let data = match report {
        "revenue" => analytics::revenue(conn.as_ref(), &range).await?,
        "quota" => analytics::quota(conn.as_ref()).await?,
        "subscriptions" => analytics::subscriptions(conn.as_ref(), &range).await?,
        "users" => analytics::users(conn.as_ref(), &range).await?,
        _ => {
            return Err(ApiError::route_not_found(
                &ctx.request.method,
                &ctx.request.path,
            ))
        }
    };
    Ok(Reply::ok(
        "Analytics",
        json!({ "from": range.from, "to": range.to, "report": data }),
    ))
}

//! The `admin` component: `/api/admin/*`, for administrators only.

use serde_json::json;
use spincat::auth::{self, users};
use spincat::http::{ApiError, Ctx, Paging, Reply};
use spincat::kube::{views, ClusterSettings, Kube};
use spincat::provisioning::cluster_error;

spincat::component!(route);

async fn route(ctx: &Ctx) -> Result<Reply, ApiError> {
    auth::authenticate_admin(ctx).await?;
    match (
        ctx.request.method.as_str(),
        ctx.request.segments().as_slice(),
    ) {
        ("GET", ["api", "admin", "users"]) => list_users(ctx).await,
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
    query.finish(|| Some(()))?;
    let settings = ClusterSettings::load(ctx.config()).await?;
    let kube = Kube::new(ctx.ports.http.as_ref(), &settings);
    let items = views::summary(&kube, kind, namespace.as_deref())
        .await
        .map_err(cluster_error)?
        .ok_or_else(|| ApiError::route_not_found(&ctx.request.method, &ctx.request.path))?;
    Ok(Reply::ok("Cluster", json!({ "items": items })))
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
            other => cluster_error(other),
        })?;
    Ok(Reply::ok(
        "Pod logs",
        json!({ "lines": text.lines().collect::<Vec<_>>() }),
    ))
}

//! The `instance` component: `/api/user/services/instances/*`, each user's own instances only.

use std::collections::BTreeMap;

use serde_json::Value;
use spincat::auth::{self, Principal};
use spincat::http::{ApiError, Ctx, Paging, Reply};
use spincat::kube::ClusterSettings;
use spincat::provisioning::domains::{CustomDomain, DomainSettings};
use spincat::provisioning::{InstanceChange, InstanceError, InstanceFilter, Provisioner};
use spincat::subscriptions::InstanceName;
use spincat::upstream;
use uuid::Uuid;

spincat::component!(route, ROUTES);

/// What `route` matches.
const ROUTES: spincat::http::Routes = &[
    ("GET", "/api/user/services/instances"),
    ("GET", "/api/user/services/instances/:id"),
    ("PUT", "/api/user/services/instances/:id"),
    ("POST", "/api/user/services/instances/:id/domain/verify"),
    ("POST", "/api/user/services/instances/:id/start"),
    ("POST", "/api/user/services/instances/:id/stop"),
    ("POST", "/api/user/services/instances/:id/restart"),
    ("POST", "/api/user/services/instances/:id/claim"),
    ("GET", "/api/user/services/instances/:id/logs"),
    ("GET", "/api/user/services/instances/:id/credentials"),
];

async fn route(ctx: &Ctx) -> Result<Reply, ApiError> {
    let principal = auth::authenticate(ctx).await?;
    let conn = ctx.db().await?;
    let cluster = ClusterSettings::load(ctx.config()).await?;
    let provisioner = Provisioner::new(conn.as_ref(), ctx.ports.http.as_ref(), &cluster);
    let user = principal.user_id;
    let now = ctx.now;
    let (method, segments) = (ctx.request.method.as_str(), ctx.request.segments());
    if let ("GET", ["api", "user", "services", "instances"]) = (method, segments.as_slice()) {
        return list(ctx, &provisioner, principal).await;
    }
    // Every other route reads or changes the instance in the cluster.
    let action = async {
        Ok(match (method, segments.as_slice()) {
            ("GET", ["api", "user", "services", "instances", id]) => {
                provisioner.detail(user, instance_id(id)?, now).await?
            }
            ("PUT", ["api", "user", "services", "instances", id]) => {
                let change = change(ctx)?;
                let domains = DomainSettings::load(ctx.config()).await?;
                provisioner
                    .update(&domains, user, instance_id(id)?, change, now)
                    .await?
            }
            ("POST", ["api", "user", "services", "instances", id, "domain", "verify"]) => {
                let domains = DomainSettings::load(ctx.config()).await?;
                provisioner
                    .verify(
                        ctx.ports.http.as_ref(),
                        &domains,
                        user,
                        instance_id(id)?,
                        now,
                    )
                    .await?
            }
            ("POST", ["api", "user", "services", "instances", id, "start"]) => {
                provisioner.start(user, instance_id(id)?, now).await?
            }
            ("POST", ["api", "user", "services", "instances", id, "stop"]) => {
                provisioner.stop(user, instance_id(id)?, now).await?
            }
            ("POST", ["api", "user", "services", "instances", id, "restart"]) => {
                provisioner.restart(user, instance_id(id)?, now).await?
            }
            ("POST", ["api", "user", "services", "instances", id, "claim"]) => {
                provisioner.claim(user, instance_id(id)?, now).await?
            }
            ("GET", ["api", "user", "services", "instances", id, "logs"]) => {
                let mut query = ctx.query();
                let lines = query
                    .optional("lines", |v| bounded(v.integer()?, 1, 5_000))
                    .unwrap_or(200);
                let since = query.optional("since", |v| bounded(v.integer()?, 1, 7 * 86_400));
                query.finish(|| Some(()))?;
                provisioner
                    .logs(user, instance_id(id)?, lines, since)
                    .await?
            }
            ("GET", ["api", "user", "services", "instances", id, "credentials"]) => {
                provisioner.credentials(user, instance_id(id)?).await?
            }
            _ => return Err(ApiError::route_not_found(method, &ctx.request.path)),
        })
    };
    let data = upstream::bounded(conn.as_ref(), user, now, action).await?;
    Ok(Reply::ok("Instance", data))
}

async fn list(
    ctx: &Ctx,
    provisioner: &Provisioner<'_>,
    principal: Principal,
) -> Result<Reply, ApiError> {
    let mut query = ctx.query();
    let status = query.optional("status", |v| v.state());
    let service = query.optional("service", |v| Ok(v.text()?.trim().to_lowercase()));
    let paging = Paging::from_query(&mut query);
    let filter = query.finish(|| {
        Some(InstanceFilter {
            status,
            service,
            paging,
        })
    })?;
    let page = provisioner.list(principal.user_id, &filter).await?;
    Ok(Reply::ok("Your instances", page.to_json()))
}

/// A malformed id names no instance: 404, like any id that is not yours.
fn instance_id(id: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(id).map_err(|_| InstanceError::NotFound.into())
}

fn bounded(value: i64, min: i64, max: i64) -> Result<u32, String> {
    if (min..=max).contains(&value) {
        Ok(value as u32)
    } else {
        Err(format!("must be between {min} and {max}"))
    }
}

fn change(ctx: &Ctx) -> Result<InstanceChange, ApiError> {
    let mut fields = ctx.json()?;
    let name = fields.optional("name", |v| InstanceName::parse(v.text()?));
    let custom_domain = fields.nullable("customDomain", |v| CustomDomain::parse(v.text()?));
    let env = fields.optional("env", |v| match v.json() {
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) if s.len() <= 4_096 => Ok((k.clone(), s.clone())),
                _ => Err(format!("{k} must be a string of at most 4096 characters")),
            })
            .collect::<Result<BTreeMap<_, _>, _>>(),
        _ => Err("must be an object of strings".into()),
    });
    fields.finish(|| {
        Some(InstanceChange {
            name,
            custom_domain,
            env,
        })
    })
}

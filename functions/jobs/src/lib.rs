//! The `jobs` component: `POST /internal/jobs/*`, the scheduled jobs as routes for a Kubernetes
//! CronJob (the SpinKube shim runs no cron triggers) and for tests.

use spincat::auth;
use spincat::http::{ApiError, Ctx, Reply};
use spincat::jobs;

spincat::component!(route);

async fn route(ctx: &Ctx) -> Result<Reply, ApiError> {
    auth::authenticate_job(ctx).await?;
    let (ports, now) = (&ctx.ports, ctx.now);
    let summary = match (
        ctx.request.method.as_str(),
        ctx.request.segments().as_slice(),
    ) {
        ("POST", ["internal", "jobs", "reconcile"]) => jobs::reconcile(ports, now).await?,
        ("POST", ["internal", "jobs", "renewals"]) => jobs::renewals(ports, now).await?,
        ("POST", ["internal", "jobs", "notifications"]) => jobs::notifications(ports, now).await?,
        _ => {
            return Err(ApiError::route_not_found(
                &ctx.request.method,
                &ctx.request.path,
            ))
        }
    };
    Ok(Reply::ok("Job finished", summary))
}

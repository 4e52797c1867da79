//! The `jobs` component: `POST /internal/jobs/*`, the scheduled jobs as routes for a Kubernetes
//! CronJob (the SpinKube shim runs no cron triggers) and for tests.

use spincat::auth;
use spincat::http::{ApiError, Ctx, Reply};
use spincat::jobs::Job;

spincat::component!(route, ROUTES);

/// What `route` matches.
const ROUTES: spincat::http::Routes = &[("POST", "/internal/jobs/:name")];

async fn route(ctx: &Ctx) -> Result<Reply, ApiError> {
    auth::authenticate_job(ctx).await?;
    let job = match (
        ctx.request.method.as_str(),
        ctx.request.segments().as_slice(),
    ) {
        ("POST", ["internal", "jobs", name]) => Job::named(name),
        _ => None,
    };
    let Some(job) = job else {
        return Err(ApiError::route_not_found(
            &ctx.request.method,
            &ctx.request.path,
        ));
    };
    let summary = job.run(&ctx.ports, ctx.now).await?;
    Ok(Reply::ok("Job finished", summary))
}

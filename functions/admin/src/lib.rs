//! The `admin` component: `/api/admin/*`, for administrators only.

use spincat::auth::{self, users};
use spincat::http::{ApiError, Ctx, Paging, Reply};

spincat::component!(route);

async fn route(ctx: &Ctx) -> Result<Reply, ApiError> {
    auth::authenticate_admin(ctx).await?;
    match (
        ctx.request.method.as_str(),
        ctx.request.segments().as_slice(),
    ) {
        ("GET", ["api", "admin", "users"]) => list_users(ctx).await,
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

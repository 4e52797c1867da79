//! The `notifications` component: `/api/user/notifications/*`, each user's own only.

use serde_json::json;
use spincat::auth;
use spincat::http::{ApiError, Ctx, Paging, Reply};
use spincat::notifications::{self, NotificationError};
use uuid::Uuid;

spincat::component!(route, ROUTES);

/// What `route` matches.
const ROUTES: spincat::http::Routes = &[
    ("GET", "/api/user/notifications"),
    ("POST", "/api/user/notifications/:id/read"),
];

async fn route(ctx: &Ctx) -> Result<Reply, ApiError> {
    let principal = auth::authenticate(ctx).await?;
    let conn = ctx.db().await?;
    match (
        ctx.request.method.as_str(),
        ctx.request.segments().as_slice(),
    ) {
        ("GET", ["api", "user", "notifications"]) => {
            let mut query = ctx.query();
            let unread = query.optional("unread", |v| v.boolean()).unwrap_or(false);
            let paging = Paging::from_query(&mut query);
            query.finish(|| Some(()))?;
            let page =
                notifications::list(conn.as_ref(), principal.user_id, unread, paging).await?;
            Ok(Reply::ok("Your notifications", page.to_json()))
        }
        ("POST", ["api", "user", "notifications", id, "read"]) => {
            let id = Uuid::parse_str(id).map_err(|_| NotificationError::NotFound)?;
            notifications::mark_read(conn.as_ref(), principal.user_id, id, ctx.now).await?;
            Ok(Reply::ok("Marked read", json!({ "id": id, "read": true })))
        }
        _ => Err(ApiError::route_not_found(
            &ctx.request.method,
            &ctx.request.path,
        )),
    }
}

//! The `midtrans-webhook` component: `POST /api/webhooks/midtrans/notification`.

use serde_json::json;
use spincat::http::{ApiError, Ctx, Reply};
use spincat::payments::{self, PaymentSettings};

spincat::component!(route, ROUTES);

/// What `route` matches.
const ROUTES: spincat::http::Routes = &[("POST", "/api/webhooks/midtrans/notification")];

async fn route(ctx: &Ctx) -> Result<Reply, ApiError> {
    match (
        ctx.request.method.as_str(),
        ctx.request.segments().as_slice(),
    ) {
        ("POST", ["api", "webhooks", "midtrans", "notification"]) => notification(ctx).await,
        _ => Err(ApiError::route_not_found(
            &ctx.request.method,
            &ctx.request.path,
        )),
    }
}

async fn notification(ctx: &Ctx) -> Result<Reply, ApiError> {
    let settings = PaymentSettings::load(ctx.config()).await?;
    let conn = ctx.db().await?;
    let applied = payments::receive_notification(
        conn.as_ref(),
        ctx.ports.http.as_ref(),
        &settings,
        &ctx.request.body,
        ctx.now,
    )
    .await?;
    Ok(Reply::ok("Notification received", json!(applied)))
}

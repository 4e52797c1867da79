//! The `wallet` component: `/api/user/wallet/*`, each user's own wallet only.

use chrono::NaiveDate;
use serde_json::json;
use spincat::auth::{self, users};
use spincat::http::{ApiError, Ctx, Paging, Reply};
use spincat::money::Rupiah;
use spincat::payments::{self, PaymentSettings, TopUpRequest};
use spincat::upstream;
use spincat::wallet::{self, TransactionFilter, TRANSACTION_STATUSES, TRANSACTION_TYPES};

spincat::component!(route, ROUTES);

/// What `route` matches.
const ROUTES: spincat::http::Routes = &[
    ("GET", "/api/user/wallet"),
    ("POST", "/api/user/wallet/topup"),
    ("GET", "/api/user/wallet/transactions"),
];

async fn route(ctx: &Ctx) -> Result<Reply, ApiError> {
    match (
        ctx.request.method.as_str(),
        ctx.request.segments().as_slice(),
    ) {
        ("GET", ["api", "user", "wallet"]) => summary(ctx).await,
        ("POST", ["api", "user", "wallet", "topup"]) => top_up(ctx).await,
        ("GET", ["api", "user", "wallet", "transactions"]) => transactions(ctx).await,
        _ => Err(ApiError::route_not_found(
            &ctx.request.method,
            &ctx.request.path,
        )),
    }
}

async fn summary(ctx: &Ctx) -> Result<Reply, ApiError> {
    let principal = auth::authenticate(ctx).await?;
    let conn = ctx.db().await?;
    let summary = wallet::summary(conn.as_ref(), principal.user_id).await?;
    Ok(Reply::ok("Your wallet", json!(summary)))
}

async fn top_up(ctx: &Ctx) -> Result<Reply, ApiError> {
    let principal = auth::authenticate(ctx).await?;
    let mut fields = ctx.json()?;
    let amount = fields.required("amount", |v| v.integer().map(Rupiah::new));
    let idempotency_key = ctx.idempotency_key()?;
    let request = fields.finish(|| {
        Some(TopUpRequest {
            amount: amount?,
            idempotency_key,
        })
    })?;
    let settings = PaymentSettings::load(ctx.config()).await?;
    let conn = ctx.db().await?;
    let user = users::active(conn.as_ref(), principal.user_id).await?;
    let create = payments::create_topup(
        conn.as_ref(),
        ctx.ports.http.as_ref(),
        &settings,
        &user,
        request,
        ctx.now,
    );
    let order = upstream::bounded(conn.as_ref(), user.id, ctx.now, create).await?;
    Ok(Reply::created(
        "Top-up created: complete the payment",
        order,
    ))
}

async fn transactions(ctx: &Ctx) -> Result<Reply, ApiError> {
    let principal = auth::authenticate(ctx).await?;
    let mut query = ctx.query();
    let kind = query.optional("type", |v| v.one_of(&TRANSACTION_TYPES));
    let status = query.optional("status", |v| v.one_of(&TRANSACTION_STATUSES));
    let from = query.optional("from", |v| date(v.text()?));
    let to = query.optional("to", |v| date(v.text()?));
    if let (Some(from), Some(to)) = (from, to) {
        if from > to {
            query.reject("to", "must not be before from");
        }
    }
    let paging = Paging::from_query(&mut query);
    let filter = query.finish(|| {
        Some(TransactionFilter {
            kind,
            status,
            from,
            to,
            paging,
        })
    })?;
    let conn = ctx.db().await?;
    let page = wallet::transactions(conn.as_ref(), principal.user_id, &filter).await?;
    Ok(Reply::ok("Your transactions", page.to_json()))
}

fn date(value: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d")
        .map_err(|_| "must be a date YYYY-MM-DD".into())
}

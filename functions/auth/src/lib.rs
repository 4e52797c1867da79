//! The `auth` component: `/api/auth/*`.

use serde_json::json;
use spincat::auth::{
    self, users, AuthSettings, Email, Password, PersonName, Phone, RefreshToken, Registration,
    SourceAddress,
};
use spincat::http::{ApiError, Ctx, Reply};

spincat::component!(route, ROUTES, passwords = spincat::ports::InlinePasswords);

/// What `route` matches.
const ROUTES: spincat::http::Routes = &[
    ("POST", "/api/auth/register"),
    ("POST", "/api/auth/login"),
    ("POST", "/api/auth/refresh"),
    ("POST", "/api/auth/logout"),
    ("GET", "/api/auth/me"),
];

async fn route(ctx: &Ctx) -> Result<Reply, ApiError> {
    match (
        ctx.request.method.as_str(),
        ctx.request.segments().as_slice(),
    ) {
        ("POST", ["api", "auth", "register"]) => register(ctx).await,
        ("POST", ["api", "auth", "login"]) => login(ctx).await,
        ("POST", ["api", "auth", "refresh"]) => refresh(ctx).await,
        ("POST", ["api", "auth", "logout"]) => logout(ctx).await,
        ("GET", ["api", "auth", "me"]) => me(ctx).await,
        _ => Err(ApiError::route_not_found(
            &ctx.request.method,
            &ctx.request.path,
        )),
    }
}

async fn register(ctx: &Ctx) -> Result<Reply, ApiError> {
    let mut fields = ctx.json()?;
    let name = fields.required("name", |v| PersonName::parse(v.text()?));
    let email = fields.required("email", |v| Email::parse(v.text()?));
    let password = fields.required("password", |v| Password::parse(v.text()?));
    let phone = fields.optional("phone", |v| Phone::parse(v.text()?));
    let registration = fields.finish(|| {
        Some(Registration {
            name: name?,
            email: email?,
            password: password?,
            phone,
        })
    })?;
    let settings = AuthSettings::load(ctx.config()).await?;
    let conn = ctx.db().await?;
    let passwords = ctx.ports.passwords.as_ref();
    let session =
        auth::register(conn.as_ref(), passwords, &settings, registration, ctx.now).await?;
    Ok(Reply::created("Account created", session.to_json()))
}

async fn login(ctx: &Ctx) -> Result<Reply, ApiError> {
    let mut fields = ctx.json()?;
    let email = fields.required("email", |v| Email::parse(v.text()?));
    let password = fields.required("password", |v| non_empty(v.text()?));
    let (email, password) = fields.finish(|| Some((email?, password?)))?;
    let settings = AuthSettings::load(ctx.config()).await?;
    let source = SourceAddress::parse(ctx.request.last_header(&settings.client_address_header));
    let conn = ctx.db().await?;
    let session = auth::log_in(
        conn.as_ref(),
        ctx.ports.passwords.as_ref(),
        &settings,
        &email,
        &password,
        &source,
        ctx.now,
    )
    .await?;
    Ok(Reply::ok("Signed in", session.to_json()))
}

async fn refresh(ctx: &Ctx) -> Result<Reply, ApiError> {
    let token = refresh_token_field(ctx)?;
    let settings = AuthSettings::load(ctx.config()).await?;
    let conn = ctx.db().await?;
    let session = auth::refresh(conn.as_ref(), &settings, &token, ctx.now).await?;
    Ok(Reply::ok("Session refreshed", session.to_json()))
}

async fn logout(ctx: &Ctx) -> Result<Reply, ApiError> {
    let token = refresh_token_field(ctx)?;
    let conn = ctx.db().await?;
    auth::log_out(conn.as_ref(), &token, ctx.now).await?;
    Ok(Reply::ok("Signed out", json!(null)))
}

async fn me(ctx: &Ctx) -> Result<Reply, ApiError> {
    let principal = auth::authenticate(ctx).await?;
    let conn = ctx.db().await?;
    let user = users::active(conn.as_ref(), principal.user_id).await?;
    Ok(Reply::ok("Your account", json!(user)))
}

fn refresh_token_field(ctx: &Ctx) -> Result<RefreshToken, ApiError> {
    let mut fields = ctx.json()?;
    let token = fields.required("refreshToken", |v| RefreshToken::from_client(v.text()?));
    fields.finish(|| token)
}

fn non_empty(text: &str) -> Result<String, String> {
    if text.is_empty() {
        return Err("must not be empty".into());
    }
    Ok(text.to_owned())
}

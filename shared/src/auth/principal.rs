use uuid::Uuid;

use super::session::account_disabled;
use super::{AccessToken, AuthSettings, Role, TokenError};
use crate::http::{ApiError, Ctx};
use crate::params;

/// The authenticated caller of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Principal {
    pub user_id: Uuid,
    pub role: Role,
}

/// The caller named by a valid `Authorization: Bearer` access token, or 401, as the account
/// stands now: a deactivated account (403 `ACCOUNT_DISABLED`) or a changed role takes effect on
/// the next request, not when the token expires. That costs one indexed read per request; no
/// cache, as Spin instances share no memory.
pub async fn authenticate(ctx: &Ctx) -> Result<Principal, ApiError> {
    let header = ctx.request.header("authorization").ok_or_else(|| {
        ApiError::unauthorized(
            "UNAUTHENTICATED",
            "Sign in: this route needs an access token",
        )
    })?;
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .ok_or_else(|| {
            ApiError::unauthorized(
                "INVALID_TOKEN",
                "Use the Authorization: Bearer <token> scheme",
            )
        })?;
    let settings = AuthSettings::load(ctx.config()).await?;
    let claimed =
        AccessToken::verify(token.trim(), &settings.jwt_secret, ctx.now).map_err(|e| match e {
            TokenError::Expired => ApiError::unauthorized("TOKEN_EXPIRED", e.to_string()),
            TokenError::Invalid => ApiError::unauthorized("INVALID_TOKEN", e.to_string()),
        })?;
    let account = ctx
        .db()
        .await?
        .query(
            "SELECT role, is_active FROM users WHERE id = $1",
            params![claimed.user_id],
        )
        .await?;
    let Some(account) = account.first() else {
        return Err(ApiError::unauthorized(
            "INVALID_TOKEN",
            "The account of this token no longer exists",
        ));
    };
    if !account.get::<bool>("is_active")? {
        return Err(account_disabled());
    }
    let role = account
        .get::<String>("role")?
        .parse()
        .map_err(ApiError::internal)?;
    Ok(Principal {
        user_id: claimed.user_id,
        role,
    })
}

/// An authenticated administrator, or 401 / 403.
pub async fn authenticate_admin(ctx: &Ctx) -> Result<Principal, ApiError> {
    let principal = authenticate(ctx).await?;
    if principal.role != Role::Administrator {
        return Err(ApiError::forbidden(
            "FORBIDDEN",
            "This route is for administrators",
        ));
    }
    Ok(principal)
}

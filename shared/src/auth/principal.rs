use uuid::Uuid;

use super::{AccessToken, AuthSettings, Role, TokenError};
use crate::http::{ApiError, Ctx};

/// The authenticated caller of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Principal {
    pub user_id: Uuid,
    pub role: Role,
}

/// The caller named by a valid `Authorization: Bearer` access token, or 401.
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
    AccessToken::verify(token.trim(), &settings.jwt_secret, ctx.now).map_err(|e| match e {
        TokenError::Expired => ApiError::unauthorized("TOKEN_EXPIRED", e.to_string()),
        TokenError::Invalid => ApiError::unauthorized("INVALID_TOKEN", e.to_string()),
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

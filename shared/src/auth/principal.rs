use uuid::Uuid;

use super::{AccessToken, AuthError, AuthSettings, Role};
use crate::http::Ctx;
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
pub async fn authenticate(ctx: &Ctx) -> Result<Principal, AuthError> {
    let header = ctx
        .request
        .header("authorization")
        .ok_or(AuthError::SignInRequired)?;
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .ok_or(AuthError::NotBearer)?;
    let settings = AuthSettings::load(ctx.config()).await?;
    let claimed = AccessToken::verify(token.trim(), &settings.jwt_secret, ctx.now)?;
    let account = ctx
        .ports
        .db
        .connect()
        .await?
        .query(
            "SELECT role, is_active FROM users WHERE id = $1",
            params![claimed.user_id],
        )
        .await?;
    let Some(account) = account.first() else {
        return Err(AuthError::AccountGone);
    };
    if !account.get::<bool>("is_active")? {
        return Err(AuthError::AccountDisabled);
    }
    let role = account
        .get::<String>("role")?
        .parse()
        .map_err(AuthError::Invariant)?;
    Ok(Principal {
        user_id: claimed.user_id,
        role,
    })
}

/// An authenticated administrator, or 401 / 403.
pub async fn authenticate_admin(ctx: &Ctx) -> Result<Principal, AuthError> {
    let principal = authenticate(ctx).await?;
    if principal.role != Role::Administrator {
        return Err(AuthError::NotAdministrator);
    }
    Ok(principal)
}

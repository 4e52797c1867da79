use super::TokenError;
use crate::ports::db::DbError;
use crate::ports::ConfigError;

/// Why someone could not register, sign in or prove who they are.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("An account with this email already exists")]
    EmailTaken,
    #[error("Email or password is incorrect")]
    InvalidCredentials,
    #[error("This account has been deactivated")]
    AccountDisabled,
    #[error("Too many attempts; try again in {retry_after_seconds} seconds")]
    TooManyAttempts { retry_after_seconds: u64 },
    #[error("This refresh token was already used; every session from it has been ended")]
    RefreshTokenReused,
    #[error("The refresh token is invalid, expired or revoked")]
    InvalidRefreshToken,
    #[error("Sign in: this route needs an access token")]
    SignInRequired,
    #[error("Use the Authorization: Bearer <token> scheme")]
    NotBearer,
    #[error(transparent)]
    AccessToken(#[from] TokenError),
    #[error("The account of this token no longer exists")]
    AccountGone,
    #[error("This route is for administrators")]
    NotAdministrator,
    #[error("Internal jobs need the job token")]
    JobTokenRequired,
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Db(#[from] DbError),
    /// Hashing, randomness or signing failed, or stored data broke an invariant: ours to fix.
    #[error("{0}")]
    Invariant(String),
}

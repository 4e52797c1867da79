//! Signing up, signing in, keeping a session alive and ending it.

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};
use uuid::Uuid;

use super::throttle::{self, Attempt, SourceAddress};
use super::users::{self, NewUser, User};
use super::AuthError;
use super::{
    AccessToken, AuthSettings, Email, Password, PasswordHash, PersonName, Phone, Principal,
    RefreshToken, Role,
};
use crate::params;
use crate::ports::db::{Connection, DbError};
use crate::ports::Passwords;

pub struct Registration {
    pub name: PersonName,
    pub email: Email,
    pub password: Password,
    pub phone: Option<Phone>,
}

/// What a client holds after signing in.
pub struct Session {
    pub user: User,
    pub access_token: String,
    pub refresh_token: RefreshToken,
    pub expires_in: i64,
}

impl Session {
    pub fn to_json(&self) -> Value {
        json!({
            "user": self.user,
            "accessToken": self.access_token,
            "refreshToken": self.refresh_token.as_str(),
            "tokenType": "Bearer",
            "expiresIn": self.expires_in,
        })
    }
}

pub async fn register(
    conn: &dyn Connection,
    passwords: &dyn Passwords,
    settings: &AuthSettings,
    registration: Registration,
    now: DateTime<Utc>,
) -> Result<Session, AuthError> {
    let hash = passwords
        .hash(&registration.password)
        .await
        .map_err(AuthError::Invariant)?;
    let new_user = NewUser {
        name: &registration.name,
        email: &registration.email,
        phone: registration.phone.as_ref(),
        password_hash: &hash,
        role: Role::User,
    };
    let user = users::insert(conn, new_user, now)
        .await?
        .ok_or(AuthError::EmailTaken)?;
    start_session(conn, settings, user, Uuid::new_v4(), now).await
}

/// The same answer for an unknown email and a wrong password, after the same amount of work,
/// and the same throttling for both (see `throttle`).
pub async fn log_in(
    conn: &dyn Connection,
    passwords: &dyn Passwords,
    settings: &AuthSettings,
    email: &Email,
    password: &str,
    source: &SourceAddress,
    now: DateTime<Utc>,
) -> Result<Session, AuthError> {
    if let Attempt::ThrottledFor(wait) =
        throttle::count_attempt(conn, settings, email, source, now).await?
    {
        return Err(AuthError::TooManyAttempts {
            retry_after_seconds: wait.num_seconds().max(1) as u64,
        });
    }
    let Some((user, hash)) = users::find_with_password(conn, email).await? else {
        passwords.verify(&PasswordHash::dummy(), password).await;
        return Err(AuthError::InvalidCredentials);
    };
    if !passwords.verify(&hash, password).await {
        return Err(AuthError::InvalidCredentials);
    }
    throttle::succeeded(conn, email, source).await?;
    if !user.is_active {
        return Err(AuthError::AccountDisabled);
    }
    start_session(conn, settings, user, Uuid::new_v4(), now).await
}

/// What presenting a refresh token turned out to be.
enum Presented {
    Fresh(Session),
    Reused,
    UserDisabled,
    Invalid,
}

/// Trades a refresh token for a new session in the same family. The old token is spent in the
/// same statement that checks it, so two concurrent refreshes cannot both succeed; the loser
/// looks like a replay and ends the family, as a stolen token would. The new token is stored in
/// the same transaction, so the loser's revocation (which waits for it) ends it too.
pub async fn refresh(
    conn: &dyn Connection,
    settings: &AuthSettings,
    token: &RefreshToken,
    now: DateTime<Utc>,
) -> Result<Session, AuthError> {
    let digest = token.digest();
    let presented = crate::transaction!(conn, |tx| -> Result<Presented, AuthError> {
        let spent = tx
            .query(
                "UPDATE refresh_tokens SET rotated_at = $2
                     WHERE token_digest = $1 AND rotated_at IS NULL AND revoked_at IS NULL
                       AND expires_at > $2
                     RETURNING user_id, family_id",
                params![digest.as_str(), now],
            )
            .await?;
        if let Some(row) = spent.first() {
            let family_id: Uuid = row.get("family_id")?;
            return Ok(match users::find(tx, row.get("user_id")?).await? {
                Some(user) if user.is_active => {
                    Presented::Fresh(start_session(tx, settings, user, family_id, now).await?)
                }
                _ => {
                    revoke_family(tx, family_id, now).await?;
                    Presented::UserDisabled
                }
            });
        }
        let known = tx
            .query(
                "SELECT family_id, rotated_at FROM refresh_tokens WHERE token_digest = $1",
                params![digest.as_str()],
            )
            .await?;
        match known.first() {
            Some(row) if row.get::<Option<DateTime<Utc>>>("rotated_at")?.is_some() => {
                revoke_family(tx, row.get("family_id")?, now).await?;
                Ok(Presented::Reused)
            }
            _ => Ok(Presented::Invalid),
        }
    })
    .await?;
    match presented {
        Presented::Fresh(session) => Ok(session),
        Presented::Reused => Err(AuthError::RefreshTokenReused),
        Presented::UserDisabled => Err(AuthError::AccountDisabled),
        Presented::Invalid => Err(AuthError::InvalidRefreshToken),
    }
}

/// Ends the session family of this refresh token. Unknown tokens are ignored, so logging out
/// twice, or with a stale token, is harmless and reveals nothing.
pub async fn log_out(
    conn: &dyn Connection,
    token: &RefreshToken,
    now: DateTime<Utc>,
) -> Result<(), AuthError> {
    conn.execute(
        "UPDATE refresh_tokens SET revoked_at = $2
         WHERE revoked_at IS NULL
           AND family_id = (SELECT family_id FROM refresh_tokens WHERE token_digest = $1)",
        params![token.digest(), now],
    )
    .await?;
    Ok(())
}

async fn revoke_family(
    conn: &dyn Connection,
    family_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    conn.execute(
        "UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL",
        params![family_id, now],
    )
    .await?;
    Ok(())
}

async fn start_session(
    conn: &dyn Connection,
    settings: &AuthSettings,
    user: User,
    family_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Session, AuthError> {
    let refresh_token = RefreshToken::generate().map_err(AuthError::Invariant)?;
    conn.execute(
        "INSERT INTO refresh_tokens (user_id, family_id, token_digest, issued_at, expires_at)
         VALUES ($1, $2, $3, $4, $5)",
        params![
            user.id,
            family_id,
            refresh_token.digest(),
            now,
            now + Duration::seconds(settings.refresh_token_ttl_seconds)
        ],
    )
    .await?;
    let principal = Principal {
        user_id: user.id,
        role: user.role,
    };
    let access_token = AccessToken::issue(
        &principal,
        &settings.jwt_secret,
        now,
        settings.access_token_ttl_seconds,
    )
    .map_err(AuthError::Invariant)?;
    Ok(Session {
        user,
        access_token,
        refresh_token,
        expires_in: settings.access_token_ttl_seconds,
    })
}

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Principal, Role};

pub const ISSUER: &str = "spincat";

/// Clock skew tolerated on `iat`, for tokens issued by a replica whose clock runs ahead.
const MAX_SKEW_SECONDS: i64 = 60;

/// Exactly the claims we issue: a token with others (an audience, a not-before) is not ours.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Claims {
    sub: String,
    role: String,
    iat: i64,
    exp: i64,
    iss: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the access token has expired")]
    Expired,
    #[error("the access token is invalid")]
    Invalid,
}

/// A signed JWT (HS256) naming a user and their role.
pub struct AccessToken;

impl AccessToken {
    pub fn issue(
        principal: &Principal,
        secret: &[u8],
        now: DateTime<Utc>,
        ttl_seconds: i64,
    ) -> Result<String, String> {
        let claims = Claims {
            sub: principal.user_id.to_string(),
            role: principal.role.as_str().to_owned(),
            iat: now.timestamp(),
            exp: now.timestamp() + ttl_seconds,
            iss: ISSUER.to_owned(),
        };
        let claims = serde_json::to_vec(&claims).map_err(|e| e.to_string())?;
        Ok(super::hs256::sign(&claims, secret))
    }

    /// Checks the signature with the algorithm pinned to HS256 (so `alg: none` or a switched
    /// algorithm is refused), the issuer, and every claim; expiry is judged by our clock, with
    /// no leeway, so tests that move time see tokens expire.
    pub fn verify(token: &str, secret: &[u8], now: DateTime<Utc>) -> Result<Principal, TokenError> {
        let claims = super::hs256::verify(token, secret).ok_or(TokenError::Invalid)?;
        let claims: Claims = serde_json::from_slice(&claims).map_err(|_| TokenError::Invalid)?;
        if claims.iss != ISSUER
            || claims.iat > now.timestamp() + MAX_SKEW_SECONDS
            || claims.exp <= claims.iat
        {
            return Err(TokenError::Invalid);
        }
        if claims.exp <= now.timestamp() {
            return Err(TokenError::Expired);
        }
        Ok(Principal {
            user_id: Uuid::parse_str(&claims.sub).map_err(|_| TokenError::Invalid)?,
            role: claims
                .role
                .parse::<Role>()
                .map_err(|_| TokenError::Invalid)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    const SECRET: &[u8] = b"a-test-secret-that-is-long-enough-for-hs256";

    fn principal() -> Principal {
        Principal {
            user_id: Uuid::new_v4(),
            role: Role::User,
        }
    }

    #[test]
    fn round_trips_until_expiry() {
        let now = Utc::now();
        let p = principal();
        let token = AccessToken::issue(&p, SECRET, now, 900).unwrap();
        assert_eq!(AccessToken::verify(&token, SECRET, now).unwrap(), p);
        let later = now + chrono::Duration::seconds(900);
        assert_eq!(
            AccessToken::verify(&token, SECRET, later),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn refuses_other_keys_and_unsigned_tokens() {
        let now = Utc::now();
        let token = AccessToken::issue(&principal(), SECRET, now, 900).unwrap();
        assert_eq!(
            AccessToken::verify(&token, b"another-secret-that-is-long-enough-too", now),
            Err(TokenError::Invalid)
        );
        let payload = token.split('.').nth(1).unwrap();
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let unsigned = format!("{header}.{payload}.");
        assert_eq!(
            AccessToken::verify(&unsigned, SECRET, now),
            Err(TokenError::Invalid)
        );
    }

    /// A token signed with the same secret under another HMAC algorithm is refused: the
    /// algorithm is pinned, and the backend knows no other.
    #[test]
    fn refuses_other_algorithms_with_the_same_secret() {
        use hmac::{Hmac, Mac};
        let now = Utc::now();
        let token = AccessToken::issue(&principal(), SECRET, now, 900).unwrap();
        let payload = token.split('.').nth(1).unwrap();
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS512","typ":"JWT"}"#);
        let mut mac = Hmac::<sha2::Sha512>::new_from_slice(SECRET).unwrap();
        mac.update(format!("{header}.{payload}").as_bytes());
        let tag = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        assert_eq!(
            AccessToken::verify(&format!("{header}.{payload}.{tag}"), SECRET, now),
            Err(TokenError::Invalid)
        );
        let mut tampered = token.clone();
        tampered.pop();
        tampered.push(if token.ends_with('A') { 'B' } else { 'A' });
        assert_eq!(
            AccessToken::verify(&tampered, SECRET, now),
            Err(TokenError::Invalid)
        );
    }
}

//! Login throttling after OWASP ASVS 2.2.1: failures are counted per email and source address,
//! so guessing slows the guesser and never locks out the owner signing in from another address;
//! an unknown email is counted exactly like a known one, so a refusal says nothing about who has
//! an account. A wider limit per source address over every email stops one address from trying
//! many accounts.

use chrono::{DateTime, Duration, Utc};

use super::{AuthSettings, Email};
use crate::params;
use crate::ports::db::{Connection, DbError};

/// Where a login comes from: the client's IP address, as the runtime (or a trusted proxy in
/// front of it) reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceAddress(String);

impl SourceAddress {
    /// The address in a `host:port`, `[v6]:port` or bare form; the port is dropped, so every
    /// connection from one host counts as one source.
    pub fn parse(reported: Option<&str>) -> Self {
        let reported = reported.unwrap_or_default().trim();
        let host = match reported.parse::<std::net::SocketAddr>() {
            Ok(socket) => socket.ip().to_string(),
            Err(_) => reported.to_owned(),
        };
        Self(if host.is_empty() {
            "unknown".into()
        } else {
            host
        })
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whether a login attempt may go ahead now.
pub enum Attempt {
    Allowed,
    ThrottledFor(Duration),
}

/// The key of the per-source count: no email is empty.
const ANY_EMAIL: &str = "";

/// Counts an attempt before the password is checked, for this email from this source and for
/// this source over all emails, each in one conditional statement, so concurrent guesses cannot
/// slip past a limit. A success takes the attempt back (`succeeded`).
pub async fn count_attempt(
    conn: &dyn Connection,
    settings: &AuthSettings,
    email: &Email,
    source: &SourceAddress,
    now: DateTime<Utc>,
) -> Result<Attempt, DbError> {
    let window = Duration::seconds(settings.login_lockout_seconds);
    for (key, limit) in [
        (email.as_str(), settings.login_max_attempts),
        (ANY_EMAIL, settings.login_max_attempts_per_source),
    ] {
        if let Attempt::ThrottledFor(wait) = count(conn, key, source, limit, window, now).await? {
            return Ok(Attempt::ThrottledFor(wait));
        }
    }
    Ok(Attempt::Allowed)
}

async fn count(
    conn: &dyn Connection,
    email: &str,
    source: &SourceAddress,
    limit: i32,
    window: Duration,
    now: DateTime<Utc>,
) -> Result<Attempt, DbError> {
    let window_start = now - window;
    let counted = conn
        .query(
            "INSERT INTO login_failures AS f (email, source, failures, last_failed_at)
             VALUES ($1, $2, 1, $3)
             ON CONFLICT (email, source) DO UPDATE SET
                 failures = CASE WHEN f.last_failed_at <= $4 THEN 1 ELSE f.failures + 1 END,
                 last_failed_at = $3
             WHERE NOT (f.failures >= $5 AND f.last_failed_at > $4)
             RETURNING failures",
            params![email, source.as_str(), now, window_start, limit],
        )
        .await?;
    if !counted.is_empty() {
        return Ok(Attempt::Allowed);
    }
    let rows = conn
        .query(
            "SELECT last_failed_at FROM login_failures WHERE email = $1 AND source = $2",
            params![email, source.as_str()],
        )
        .await?;
    let last: DateTime<Utc> = match rows.first() {
        Some(row) => row.get("last_failed_at")?,
        None => now,
    };
    Ok(Attempt::ThrottledFor(
        (last + window - now).max(Duration::seconds(1)),
    ))
}

/// The attempt was the owner's: it no longer counts against this email or this source.
pub async fn succeeded(
    conn: &dyn Connection,
    email: &Email,
    source: &SourceAddress,
) -> Result<(), DbError> {
    conn.execute(
        "DELETE FROM login_failures WHERE email = $1 AND source = $2",
        params![email.as_str(), source.as_str()],
    )
    .await?;
    conn.execute(
        "UPDATE login_failures SET failures = greatest(failures - 1, 0)
         WHERE email = $1 AND source = $2",
        params![ANY_EMAIL, source.as_str()],
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_is_its_host_without_the_port() {
        for (reported, host) in [
            (Some("127.0.0.2:51234"), "127.0.0.2"),
            (Some("[::1]:8080"), "::1"),
            (Some("203.0.113.7"), "203.0.113.7"),
            (Some(" "), "unknown"),
            (None, "unknown"),
        ] {
            assert_eq!(
                SourceAddress::parse(reported).as_str(),
                host,
                "{reported:?}"
            );
        }
    }
}

//! A bound on how many of one user's requests may wait on an upstream (Midtrans, Kubernetes) at
//! once. Nothing holds a database client while it waits (see `ports::OnDemand`), so a hanging
//! upstream costs other users nothing; this keeps one user from piling up requests, upstream
//! connections and work without end. Kept in the database: replicas share no memory.

use std::future::Future;

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use crate::http::ApiError;
use crate::params;
use crate::ports::{Connection, DbError};

/// Requests of one user that may wait on an upstream at once.
pub const CALLS_PER_USER: i64 = 10;

/// Longer than any upstream timeout: a claim a crashed request left behind frees itself then.
const LEASE_SECONDS: i64 = 120;

/// The user has as many requests waiting on an upstream as they may.
#[derive(Debug, thiserror::Error)]
#[error(
    "You already have {CALLS_PER_USER} requests waiting on the payment gateway or the cluster; \
     try again when they have finished"
)]
pub struct Busy;

/// Runs `call` if the user has a free place among their upstream calls, else refuses with
/// [`Busy`] without running it.
pub async fn bounded<T, E: Into<ApiError>>(
    conn: &dyn Connection,
    user_id: Uuid,
    now: DateTime<Utc>,
    call: impl Future<Output = Result<T, E>>,
) -> Result<T, ApiError> {
    let claim = claim(conn, user_id, now).await?.ok_or(Busy)?;
    let result = call.await.map_err(Into::into);
    // A claim that cannot be released now expires by itself.
    if let Err(error) = conn
        .execute("DELETE FROM upstream_calls WHERE id = $1", params![claim])
        .await
    {
        tracing::warn!(%error, "an upstream claim was left to expire");
    }
    result
}

/// A place among the user's upstream calls, taken under the user's row lock so that concurrent
/// claims count each other.
async fn claim(
    conn: &dyn Connection,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<Uuid>, DbError> {
    crate::transaction!(conn, |tx| -> Result<Option<Uuid>, DbError> {
        tx.query(
            "SELECT id FROM users WHERE id = $1 FOR NO KEY UPDATE",
            params![user_id],
        )
        .await?;
        tx.execute(
            "DELETE FROM upstream_calls WHERE user_id = $1 AND expires_at <= $2",
            params![user_id, now],
        )
        .await?;
        let taken = tx
            .query(
                "INSERT INTO upstream_calls (user_id, expires_at)
                     SELECT $1, $2
                     WHERE (SELECT count(*) FROM upstream_calls WHERE user_id = $1) < $3
                     RETURNING id",
                params![
                    user_id,
                    now + Duration::seconds(LEASE_SECONDS),
                    CALLS_PER_USER
                ],
            )
            .await?;
        taken.first().map(|row| row.get("id")).transpose()
    })
    .await
}

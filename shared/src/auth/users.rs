//! The `users` table.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::{AuthError, Email, PasswordHash, PersonName, Phone, Role};
use crate::http::{Page, Paging};
use crate::params;
use crate::ports::db::{contains_pattern, Connection, DbError, FromRow, Row};

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub phone: Option<String>,
    pub role: Role,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
}

impl FromRow for User {
    fn from_row(row: Row<'_>) -> Result<Self, DbError> {
        Ok(Self {
            id: row.get("id")?,
            email: row.get("email")?,
            name: row.get("name")?,
            phone: row.get("phone")?,
            role: row
                .get::<String>("role")?
                .parse()
                .map_err(DbError::ValueConversionFailed)?,
            is_active: row.get("is_active")?,
            created_at: row.get("created_at")?,
        })
    }
}

const COLUMNS: &str = "id, email, name, phone, role, is_active, created_at";

pub struct NewUser<'a> {
    pub name: &'a PersonName,
    pub email: &'a Email,
    pub phone: Option<&'a Phone>,
    pub password_hash: &'a PasswordHash,
    pub role: Role,
}

/// Inserts a user; `None` when the email is already taken.
pub async fn insert(
    conn: &dyn Connection,
    user: NewUser<'_>,
    now: DateTime<Utc>,
) -> Result<Option<User>, DbError> {
    let sql = format!(
        "INSERT INTO users (email, name, phone, password_hash, role, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $6)
         ON CONFLICT (email) DO NOTHING
         RETURNING {COLUMNS}"
    );
    let rows = conn
        .query(
            &sql,
            params![
                user.email.as_str(),
                user.name.as_str(),
                user.phone.map(Phone::as_str),
                user.password_hash.as_str(),
                user.role.as_str(),
                now
            ],
        )
        .await?;
    rows.first().map(User::from_row).transpose()
}

pub async fn find(conn: &dyn Connection, id: Uuid) -> Result<Option<User>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE id = $1");
    conn.fetch_optional(&sql, params![id]).await
}

/// The signed-in user's account as it stands now: deactivated or deleted since the token was
/// issued is refused.
pub async fn active(conn: &dyn Connection, id: Uuid) -> Result<User, AuthError> {
    match find(conn, id).await? {
        Some(user) if user.is_active => Ok(user),
        Some(_) => Err(AuthError::AccountDisabled),
        None => Err(AuthError::AccountGone),
    }
}

pub async fn find_with_password(
    conn: &dyn Connection,
    email: &Email,
) -> Result<Option<(User, PasswordHash)>, DbError> {
    let sql = format!("SELECT {COLUMNS}, password_hash FROM users WHERE email = $1");
    let rows = conn.query(&sql, params![email.as_str()]).await?;
    rows.first()
        .map(|row| {
            Ok((
                User::from_row(row)?,
                PasswordHash::from_stored(row.get("password_hash")?),
            ))
        })
        .transpose()
}

/// Users whose name or email contains `search`, newest first.
pub async fn list(
    conn: &dyn Connection,
    search: Option<&str>,
    paging: Paging,
) -> Result<Page<User>, DbError> {
    let pattern = search.map(contains_pattern);
    let condition = "($1::text IS NULL OR email ILIKE $1 OR name ILIKE $1)";
    let total = conn
        .scalar(
            &format!("SELECT count(*) AS total FROM users WHERE {condition}"),
            params![pattern.clone()],
        )
        .await?;
    let rows = conn
        .query(
            &format!(
                "SELECT {COLUMNS} FROM users WHERE {condition}
                 ORDER BY created_at DESC, id LIMIT $2 OFFSET $3"
            ),
            params![pattern, paging.limit, paging.offset()],
        )
        .await?;
    Ok(Page {
        items: rows.iter().map(User::from_row).collect::<Result<_, _>>()?,
        total,
        paging,
    })
}

//! Demo data for local runs: the catalog, one administrator and a few users. Never part of the
//! migrations, so production databases get none of it.

use std::sync::Arc;

use chrono::Utc;
use spincat::auth::users::{self, NewUser};
use spincat::auth::{Email, Password, PasswordHash, PersonName, Role};
use spincat::ports::Database;
use tokio_postgres::Client;

pub const CATALOG_SQL: &str = include_str!("../seed/catalog.sql");

pub struct DemoLogin {
    pub email: &'static str,
    pub password: &'static str,
    pub role: Role,
}

pub const DEMO_LOGINS: &[DemoLogin] = &[
    DemoLogin {
        email: "admin@spincat.local",
        password: "spincat-admin",
        role: Role::Administrator,
    },
    DemoLogin {
        email: "ana@spincat.local",
        password: "spincat-demo",
        role: Role::User,
    },
    DemoLogin {
        email: "budi@spincat.local",
        password: "spincat-demo",
        role: Role::User,
    },
];

pub async fn seed_catalog(client: &Client) -> anyhow::Result<()> {
    client.batch_execute(CATALOG_SQL).await?;
    Ok(())
}

/// Creates the demo accounts that do not exist yet, through the same code as registration.
pub async fn seed_demo_users(db: Arc<dyn Database>) -> anyhow::Result<()> {
    let conn = db.connect().await?;
    for login in DEMO_LOGINS {
        let name = login.email.split('@').next().unwrap_or("demo");
        let user = NewUser {
            name: &PersonName::parse(name).map_err(anyhow::Error::msg)?,
            email: &Email::parse(login.email).map_err(anyhow::Error::msg)?,
            phone: None,
            password_hash: &PasswordHash::new(
                &Password::parse(login.password).map_err(anyhow::Error::msg)?,
            )
            .map_err(anyhow::Error::msg)?,
            role: login.role,
        };
        users::insert(conn.as_ref(), user, Utc::now()).await?;
    }
    Ok(())
}

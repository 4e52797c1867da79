//! The migrator: plain numbered SQL files (`migrations/NNNN_name.sql`) applied in order, each in
//! its own transaction, recorded with a checksum. An applied file that has since changed, or
//! disappeared, stops the migrator before it touches anything.

use anyhow::{bail, Context};
use include_dir::{include_dir, Dir};
use sha2::{Digest, Sha256};
use tokio_postgres::Client;

static MIGRATIONS: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/../migrations");

/// Taken for the whole run, so two migrators (two replicas starting) never interleave.
const LOCK_KEY: i64 = 0x0053_5049_4e43_4154;

#[derive(Debug, Clone)]
pub struct Migration {
    pub version: i32,
    pub name: String,
    pub sql: String,
}

impl Migration {
    pub fn checksum(&self) -> String {
        hex::encode(Sha256::digest(self.sql.as_bytes()))
    }
}

/// The migrations compiled into this binary, in order.
pub fn bundled() -> anyhow::Result<Vec<Migration>> {
    let mut migrations = MIGRATIONS
        .files()
        .filter(|f| f.path().extension().is_some_and(|e| e == "sql"))
        .map(|file| {
            let name = file
                .path()
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let version = name
                .split_once('_')
                .and_then(|(n, _)| n.parse().ok())
                .with_context(|| format!("migration {name} must be named NNNN_description.sql"))?;
            let sql = file
                .contents_utf8()
                .with_context(|| format!("migration {name} is not UTF-8"))?
                .to_owned();
            Ok(Migration { version, name, sql })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    migrations.sort_by_key(|m| m.version);
    if let Some(pair) = migrations.windows(2).find(|w| w[0].version == w[1].version) {
        bail!(
            "migrations {} and {} share a number",
            pair[0].name,
            pair[1].name
        );
    }
    Ok(migrations)
}

/// Applies what is not applied yet; returns the names applied now.
pub async fn migrate(client: &mut Client, migrations: &[Migration]) -> anyhow::Result<Vec<String>> {
    client
        .execute("SELECT pg_advisory_lock($1)", &[&LOCK_KEY])
        .await?;
    let result = apply(client, migrations).await;
    client
        .execute("SELECT pg_advisory_unlock($1)", &[&LOCK_KEY])
        .await?;
    result
}

async fn apply(client: &mut Client, migrations: &[Migration]) -> anyhow::Result<Vec<String>> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 version    integer PRIMARY KEY,
                 name       text NOT NULL,
                 checksum   text NOT NULL,
                 applied_at timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
             )",
        )
        .await?;
    let applied = client
        .query(
            "SELECT version, name, checksum FROM schema_migrations ORDER BY version",
            &[],
        )
        .await?;
    for row in &applied {
        let (version, name, checksum): (i32, String, String) = (row.get(0), row.get(1), row.get(2));
        match migrations.iter().find(|m| m.version == version) {
            None => bail!("applied migration {name} is missing from this build; refusing to run"),
            Some(m) if m.checksum() != checksum => bail!(
                "migration {name} was changed after it was applied (checksum {} now, {checksum} \
                 when applied); add a new migration instead of editing an applied one",
                m.checksum()
            ),
            Some(_) => {}
        }
    }
    let mut newly_applied = Vec::new();
    for migration in migrations {
        if applied
            .iter()
            .any(|row| row.get::<_, i32>(0) == migration.version)
        {
            continue;
        }
        let tx = client.transaction().await?;
        tx.batch_execute(&migration.sql)
            .await
            .with_context(|| format!("applying {}", migration.name))?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
            &[&migration.version, &migration.name, &migration.checksum()],
        )
        .await?;
        tx.commit().await?;
        newly_applied.push(migration.name.clone());
    }
    Ok(newly_applied)
}

/// A plain client for administrative work (migrations, seeding, creating databases), over TLS
/// as the URL's `sslmode` says.
pub async fn connect(url: &str) -> anyhow::Result<Client> {
    let (config, tls) = crate::pg_tls::connection(url)?;
    let (client, connection) = config
        .connect(tls)
        .await
        .with_context(|| format!("connecting to {}", redact(url)))?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "database connection closed");
        }
    });
    Ok(client)
}

/// The URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

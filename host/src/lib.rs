//! The native host: serves every route of spin.toml over real HTTP with native adapters, so
//! Spincat runs and is tested on a machine without the Spin CLI. Production runs under Spin.

pub mod allowed_hosts;
pub mod clock;
pub mod components;
pub mod config;
pub mod db;
pub mod kv;
pub mod local_pg;
pub mod manifest;
pub mod migrate;
pub mod outbound;
pub mod passwords;
pub mod pg_tls;
pub mod routes;
pub mod seed;
pub mod server;

/// Creates `name` on the server of `admin_url` unless it exists.
pub async fn ensure_database(admin_url: &str, name: &str) -> anyhow::Result<()> {
    let client = migrate::connect(admin_url).await?;
    let exists = client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await?
        .is_some();
    if !exists {
        client
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .await?;
    }
    Ok(())
}

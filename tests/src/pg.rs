//! One PostgreSQL cluster per test run (nextest runs each test in its own process, so the first
//! process to arrive starts it under a file lock and the rest reuse it), and one migrated, seeded
//! template database per set of migrations, cloned for every test.

use std::path::PathBuf;
use std::sync::OnceLock;

use sha2::{Digest, Sha256};
use spincat_host::local_pg::LocalPostgres;
use spincat_host::{migrate, seed};

struct Cluster {
    postgres: LocalPostgres,
    template: String,
}

static CLUSTER: OnceLock<Cluster> = OnceLock::new();

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// The template's name changes with the migrations and the seed, so a stale one is never used.
fn template_name() -> String {
    let mut digest = Sha256::new();
    for migration in migrate::bundled().expect("migrations load") {
        digest.update(migration.checksum());
    }
    digest.update(seed::CATALOG_SQL);
    format!("template_{}", &hex::encode(digest.finalize())[..16])
}

fn cluster() -> &'static Cluster {
    CLUSTER.get_or_init(|| {
        // Set-up is synchronous and may run inside a test's runtime: do it on a thread of its own.
        std::thread::spawn(|| {
            let target = target_dir();
            std::fs::create_dir_all(&target).unwrap();
            let lock = std::fs::File::create(target.join("spincat-test-pg.lock")).unwrap();
            lock.lock().expect("the test cluster lock");
            let postgres = LocalPostgres::start(&target.join("spincat-test-pg"))
                .expect("the test PostgreSQL cluster starts");
            let template = template_name();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(prepare_template(&postgres, &template));
            drop(lock);
            Cluster { postgres, template }
        })
        .join()
        .expect("test cluster set-up")
    })
}

async fn prepare_template(postgres: &LocalPostgres, template: &str) {
    let admin = migrate::connect(&postgres.url("postgres")).await.unwrap();
    let exists = admin
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&template])
        .await
        .unwrap()
        .is_some();
    if exists {
        return;
    }
    let building = format!("{template}_building");
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS \"{building}\""))
        .await
        .unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE \"{building}\""))
        .await
        .unwrap();
    {
        let mut client = migrate::connect(&postgres.url(&building)).await.unwrap();
        migrate::migrate(&mut client, &migrate::bundled().unwrap())
            .await
            .expect("migrations apply");
        seed::seed_catalog(&client)
            .await
            .expect("the catalog seeds");
    }
    // Renamed only when complete, so a crashed set-up never leaves a half-built template.
    rename_when_free(&admin, &building, template).await;
}

/// Renames or clones a database, waiting out the moment a just-closed connection still holds it.
async fn retry_busy(admin: &tokio_postgres::Client, sql: &str) {
    for attempt in 0.. {
        match admin.batch_execute(sql).await {
            Ok(()) => return,
            Err(e) if attempt < 50 && e.to_string().contains("being accessed by other users") => {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(e) => panic!("{sql}: {e}"),
        }
    }
}

async fn rename_when_free(admin: &tokio_postgres::Client, from: &str, to: &str) {
    retry_busy(
        admin,
        &format!("ALTER DATABASE \"{from}\" RENAME TO \"{to}\""),
    )
    .await;
}

/// A new database with the schema and the seeded catalog, for one test.
pub async fn fresh_database() -> String {
    let cluster = cluster();
    let name = format!("test_{}", uuid::Uuid::new_v4().simple());
    let admin = migrate::connect(&cluster.postgres.url("postgres"))
        .await
        .unwrap();
    retry_busy(
        &admin,
        &format!(
            "CREATE DATABASE \"{name}\" TEMPLATE \"{}\"",
            cluster.template
        ),
    )
    .await;
    cluster.postgres.url(&name)
}

/// An empty database (no migrations), for tests of the migrator itself.
pub async fn empty_database() -> String {
    let cluster = cluster();
    let name = format!("empty_{}", uuid::Uuid::new_v4().simple());
    let admin = migrate::connect(&cluster.postgres.url("postgres"))
        .await
        .unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE \"{name}\""))
        .await
        .unwrap();
    cluster.postgres.url(&name)
}

//! The migrator, and the native database adapter's fidelity to Spin's Postgres host.

use std::sync::Arc;

use spincat::params;
use spincat::ports::db::{Database, DbError};
use spincat::states::{InstanceStatus, State, SubscriptionStatus, TopUpStatus};
use spincat_host::db::NativeDatabase;
use spincat_host::migrate::{self, Migration};
use spincat_tests::pg;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_apply_once_and_in_order() {
    let url = pg::empty_database().await;
    let mut client = migrate::connect(&url).await.unwrap();
    let bundled = migrate::bundled().unwrap();
    let applied = migrate::migrate(&mut client, &bundled).await.unwrap();
    assert_eq!(
        applied,
        bundled.iter().map(|m| m.name.clone()).collect::<Vec<_>>()
    );
    assert!(applied[0].starts_with("0001_"));
    assert_eq!(
        migrate::migrate(&mut client, &bundled).await.unwrap(),
        Vec::<String>::new()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_migrator_refuses_an_edited_or_missing_migration() {
    let url = pg::empty_database().await;
    let mut client = migrate::connect(&url).await.unwrap();
    let bundled = migrate::bundled().unwrap();
    migrate::migrate(&mut client, &bundled).await.unwrap();

    let mut edited = bundled.clone();
    edited[0].sql.push_str("\n-- a harmless-looking edit\n");
    edited.push(Migration {
        version: 9999,
        name: "9999_later.sql".into(),
        sql: "CREATE TABLE later (id int)".into(),
    });
    let error = migrate::migrate(&mut client, &edited).await.unwrap_err();
    assert!(
        error
            .to_string()
            .contains("was changed after it was applied"),
        "{error}"
    );
    let later_exists: bool = client
        .query_one("SELECT to_regclass('later') IS NOT NULL", &[])
        .await
        .unwrap()
        .get(0);
    assert!(!later_exists, "nothing ran after the refusal");

    let error = migrate::migrate(&mut client, &bundled[1..])
        .await
        .unwrap_err();
    assert!(error.to_string().contains("missing"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_migration_leaves_nothing_half_applied() {
    let url = pg::empty_database().await;
    let mut client = migrate::connect(&url).await.unwrap();
    let broken = vec![Migration {
        version: 1,
        name: "0001_broken.sql".into(),
        sql: "CREATE TABLE half (id int); SELECT no_such_function();".into(),
    }];
    assert!(migrate::migrate(&mut client, &broken).await.is_err());
    let half_exists: bool = client
        .query_one("SELECT to_regclass('half') IS NOT NULL", &[])
        .await
        .unwrap()
        .get(0);
    assert!(!half_exists);
    let recorded: i64 = client
        .query_one("SELECT count(*) FROM schema_migrations", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(recorded, 0);
}

/// Spin's host reads `timestamptz` as a naive timestamp and fails; so must we, or code that
/// works in tests would break under Spin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_native_adapter_fails_where_spin_fails() {
    let url = pg::fresh_database().await;
    let db: Arc<dyn Database> = Arc::new(NativeDatabase::connect_lazily(&url, 2).unwrap());
    let conn = db.connect().await.unwrap();

    let error = conn.query("SELECT now() AS at", &[]).await.unwrap_err();
    assert!(
        matches!(error, DbError::ValueConversionFailed(_)),
        "{error:?}"
    );

    let error = conn
        .query(
            "SELECT id FROM users WHERE id = $1",
            params!["not-a-uuid-param"],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(error, DbError::QueryFailed { code: None, .. }),
        "{error:?}"
    );

    let error = conn
        .execute(
            "INSERT INTO categories (slug, name, created_at, updated_at) VALUES ('cms', 'Dup', $1, $1)",
            params![chrono::Utc::now()],
        )
        .await
        .unwrap_err();
    assert!(error.is_unique_violation(), "{error:?}");
    assert_eq!(
        error.constraint(),
        Some("categories_slug_key"),
        "a violation names its constraint, as Spin's host does (db-error extras)"
    );

    let rows = conn
        .query(
            "SELECT 42::bigint AS n, 'x'::text AS s, NULL::int AS nothing, ARRAY['a','b'] AS tags,
                    '{\"k\": 1}'::jsonb AS doc, 1.50::numeric AS price, (now() AT TIME ZONE 'utc') AS at",
            &[],
        )
        .await
        .unwrap();
    let row = rows.first().unwrap();
    assert_eq!(row.get::<i64>("n").unwrap(), 42);
    assert!(row.get::<i32>("n").is_err(), "no silent narrowing");
    assert_eq!(row.get::<Option<i32>>("nothing").unwrap(), None);
    assert_eq!(row.get::<Vec<String>>("tags").unwrap(), ["a", "b"]);
    assert_eq!(row.get::<serde_json::Value>("doc").unwrap()["k"], 1);
    assert_eq!(
        rows.rows[0][5],
        spincat::ports::db::DbValue::Decimal("1.50".into())
    );
    assert!(row.get::<chrono::DateTime<chrono::Utc>>("at").is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_transaction_rolls_back() {
    let url = pg::fresh_database().await;
    let db = NativeDatabase::connect_lazily(&url, 2).unwrap();
    let conn = db.connect().await.unwrap();
    let result: Result<(), DbError> = conn
        .transaction(|tx| {
            Box::pin(async move {
                tx.execute("UPDATE plans SET quota_used = 1", &[]).await?;
                tx.execute("UPDATE plans SET quota_used = quota_total + 1", &[])
                    .await?;
                Ok(())
            })
        })
        .await;
    assert!(result.unwrap_err().is_check_violation());
    let rows = conn
        .query("SELECT sum(quota_used)::bigint AS used FROM plans", &[])
        .await
        .unwrap();
    assert_eq!(rows.first().unwrap().get::<i64>("used").unwrap(), 0);
}

/// Spin 4.0.0 to 4.0.2's synchronous `query` never returns when a statement yields no row
/// (upstream issue 3671): every query goes out wrapped to yield a marker row. Under Spin 4.0.2
/// these would hang without it; each gets two seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_that_match_no_row_answer_at_once() {
    let app = spincat_tests::TestApp::spawn().await;
    app.register("ada@example.com").await;
    let within = std::time::Duration::from_secs(2);
    let service = app
        .send(
            app.http
                .get(app.url("/api/catalog/services/no-such-app"))
                .timeout(within),
        )
        .await;
    assert_eq!(service.status, 404);
    let unknown = app
        .send(
            app.http
                .post(app.url("/api/auth/login"))
                .json(&serde_json::json!({"email": "nobody@example.com", "password": "whatever it is"}))
                .timeout(within),
        )
        .await;
    assert_eq!(unknown.status, 401);
    let again = app
        .send(
            app.http
                .post(app.url("/api/auth/register"))
                .json(&serde_json::json!({"name": "Ada", "email": "ada@example.com", "password": spincat_tests::PASSWORD}))
                .timeout(within),
        )
        .await;
    assert_eq!(again.status, 409);
}

/// The words a CHECK constraint allows in `table.status`.
async fn allowed_statuses(client: &tokio_postgres::Client, table: &str) -> Vec<String> {
    let definition: String = client
        .query_one(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint
             WHERE conrelid = $1::text::regclass AND contype = 'c'
               AND pg_get_constraintdef(oid) LIKE '%(status %'",
            &[&table],
        )
        .await
        .unwrap()
        .get(0);
    let mut words: Vec<String> = definition
        .split('\'')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect();
    words.sort();
    words
}

fn sorted<S: State>() -> Vec<String> {
    let mut words: Vec<String> = S::ALL.iter().map(|s| s.as_str().to_owned()).collect();
    words.sort();
    words
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_state_machine_has_the_states_the_schema_allows() {
    let url = pg::empty_database().await;
    let mut client = migrate::connect(&url).await.unwrap();
    migrate::migrate(&mut client, &migrate::bundled().unwrap())
        .await
        .unwrap();
    assert_eq!(
        allowed_statuses(&client, "subscriptions").await,
        sorted::<SubscriptionStatus>()
    );
    assert_eq!(
        allowed_statuses(&client, "instances").await,
        sorted::<InstanceStatus>()
    );
    assert_eq!(
        allowed_statuses(&client, "topups").await,
        sorted::<TopUpStatus>()
    );
}

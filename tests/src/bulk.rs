//! Many due subscriptions at once, written straight to the database (through the same tables and
//! ledger rules the API uses), for the concurrency tests and the renewal benchmark.

use chrono::{DateTime, Duration, Months, Utc};
use tokio_postgres::Client;

/// Creates `count` users `<prefix><n>@example.com` (no password: they never sign in) and funds
/// each wallet with `balance` through a ledger transfer.
pub async fn seed_funded_users(
    db: &Client,
    prefix: &str,
    count: i64,
    balance: i64,
    now: DateTime<Utc>,
) {
    let now = now.naive_utc();
    db.execute(
        "INSERT INTO users (email, name, password_hash, created_at, updated_at)
         SELECT $1 || g || '@example.com', 'Bulk ' || g, 'not-a-login', $3, $3
         FROM generate_series(1::bigint, $2) g",
        &[&prefix, &count, &now],
    )
    .await
    .unwrap();
    db.execute(
        "WITH wallets AS (
             SELECT a.id, a.user_id FROM ledger_accounts a JOIN users u ON u.id = a.user_id
             WHERE u.email LIKE $1 || '%'
         ), transfers AS (
             INSERT INTO ledger_transfers (idempotency_key, kind, debit_account_id,
                 credit_account_id, amount, description, created_at)
             SELECT 'bulk-funding:' || w.user_id, 'ADMIN_ADJUSTMENT',
                    (SELECT id FROM ledger_accounts WHERE kind = 'ADJUSTMENTS'), w.id, $2,
                    'Funding for a bulk test', $3
             FROM wallets w
             RETURNING id, debit_account_id, credit_account_id, amount
         )
         INSERT INTO ledger_entries (transfer_id, account_id, amount, balance_after, created_at)
         SELECT id, debit_account_id, -amount, NULL, $3 FROM transfers
         UNION ALL
         SELECT id, credit_account_id, amount, amount, $3 FROM transfers",
        &[&prefix, &balance, &now],
    )
    .await
    .unwrap();
    db.execute(
        "UPDATE ledger_accounts a SET balance = balance + $2
         FROM users u WHERE u.id = a.user_id AND u.email LIKE $1 || '%'",
        &[&prefix, &balance],
    )
    .await
    .unwrap();
}

/// Creates `count` funded users (`seed_funded_users`), and gives each an active subscription to
/// n8n Basic whose month ended an hour before `now`.
pub async fn seed_due_subscriptions(
    db: &Client,
    prefix: &str,
    count: i64,
    balance: i64,
    now: DateTime<Utc>,
) {
    seed_funded_users(db, prefix, count, balance, now).await;
    let now = now.naive_utc();
    let end = now - Duration::hours(1);
    let start = end.checked_sub_months(Months::new(1)).unwrap();
    db.execute(
        "UPDATE plans SET quota_total = quota_total + $1
         WHERE name = 'Basic' AND service_id = (SELECT id FROM services WHERE slug = 'n8n')",
        &[&(count as i32)],
    )
    .await
    .unwrap();
    db.execute(
        "WITH plan AS (
             SELECT p.id, p.service_id, p.price_monthly FROM plans p JOIN services s ON s.id = p.service_id
             WHERE s.slug = 'n8n' AND p.name = 'Basic'
         ), created AS (
             INSERT INTO subscriptions (id, user_id, service_id, plan_id, status, price_monthly,
                 period_start, period_end, anchor_day, created_at, updated_at)
             SELECT gen_random_uuid(), u.id, plan.service_id, plan.id, 'ACTIVE', plan.price_monthly,
                    $2, $3, extract(day FROM $2::timestamp)::int, $2, $2
             FROM users u, plan WHERE u.email LIKE $1 || '%'
             RETURNING plan_id
         )
         UPDATE plans SET quota_used = quota_used + (SELECT count(*) FROM created)
         WHERE id = (SELECT id FROM plan)",
        &[&prefix, &start, &end],
    )
    .await
    .unwrap();
}

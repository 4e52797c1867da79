//! The test harness: a throwaway PostgreSQL cluster shared by the whole run, a fresh database
//! per test cloned from a migrated and seeded template, and the native host serving spin.toml
//! on a loopback port with a clock the test controls.

pub mod bulk;
pub mod contract;
pub mod counting;
pub mod crd;
pub mod dns;
pub mod ingress;
pub mod kube;
pub mod midtrans;
pub mod pg;
pub mod spin;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{Duration, Utc};
use serde_json::{json, Value};
use spincat_host::clock::ManualClock;
use spincat_host::config::Variables;
use spincat_host::manifest::Manifest;
use spincat_host::outbound::NativeHttp;
use spincat_host::server::{self, Handler, Host};
use tokio::task::JoinHandle;

use crate::dns::DnsDouble;
use crate::kube::KubeDouble;
use crate::midtrans::MidtransDouble;

pub const JWT_SECRET: &str = "test-jwt-secret-that-is-long-enough-for-hs256-signing";
pub const ALLOWED_ORIGIN: &str = "https://app.spincat.test";
pub const PASSWORD: &str = "correct horse battery";
pub const JOB_TOKEN: &str = "test-job-token";

pub struct TestApp {
    pub base_url: String,
    pub http: reqwest::Client,
    pub clock: Arc<ManualClock>,
    /// A direct connection to this test's database, for arranging and checking state.
    pub db: tokio_postgres::Client,
    pub database_url: String,
    pub midtrans: MidtransDouble,
    pub kube: KubeDouble,
    pub dns: DnsDouble,
    runtime: Runtime,
}

/// What serves the app: the native host in this process, or a `spin up` (see `spin`).
enum Runtime {
    Native(JoinHandle<()>),
    /// Held until the test ends: dropping it stops spin up.
    Spin(spin::SpinApp),
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Runtime::Native(server) = &self.runtime {
            server.abort();
        }
    }
}

/// What a test heard back.
#[derive(Debug)]
pub struct TestResponse {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    /// The JSON body; `Null` when there is none or it is not JSON (see `bytes`).
    pub body: Value,
    pub bytes: Vec<u8>,
}

impl TestResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn data(&self) -> &Value {
        &self.body["data"]
    }

    pub fn error_code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_default()
    }

    /// The fields named in a `VALIDATION_ERROR`, sorted.
    pub fn invalid_fields(&self) -> Vec<String> {
        let mut fields: Vec<String> = self.body["error"]["details"]["fields"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|f| f["field"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        fields.sort();
        fields
    }
}

/// The spincat-host the suite was built with, beside the test binary (target/debug/deps/..).
pub fn host_binary() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().join("spincat-host")
}

/// A user signed up through the API.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: String,
    pub email: String,
    pub access_token: String,
    pub refresh_token: String,
}

pub struct Options {
    /// The database to serve; a fresh one on the shared test cluster when `None`.
    pub database_url: Option<String>,
    /// spin.toml as this test runs it (see `spin`).
    pub manifest: String,
    pub handlers: BTreeMap<String, Handler>,
    pub variables: Vec<(String, String)>,
    /// Spin's runtime config (`spin up --runtime-config-file`); the native host has none.
    pub runtime_config: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            database_url: None,
            manifest: spin::test_manifest(),
            handlers: spincat_host::components::builtin(),
            variables: Vec::new(),
            runtime_config: None,
        }
    }
}

impl Options {
    pub fn variable(mut self, name: &str, value: impl Into<String>) -> Self {
        self.variables.push((name.to_owned(), value.into()));
        self
    }
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(Options::default()).await
    }

    /// With the clock at the start of a 30-day period (April 1st, 2027), so pro-rata amounts come
    /// out round.
    pub async fn spawn_in_april() -> Self {
        let app = Self::spawn().await;
        app.clock
            .set(chrono::TimeZone::with_ymd_and_hms(&Utc, 2027, 4, 1, 0, 0, 0).unwrap());
        app
    }

    pub async fn spawn_with(options: Options) -> Self {
        let database_url = match options.database_url.clone() {
            Some(url) => url,
            None => pg::fresh_database().await,
        };
        let midtrans = MidtransDouble::start().await;
        let kube = KubeDouble::start().await;
        let dns = DnsDouble::start().await;
        // Natively the host serves a listener of ours; a Spin binds the port it is given itself.
        let (listener, claim) = if spin::enabled() {
            (None, Some(spin::PortClaim::new()))
        } else {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            (Some(listener), None)
        };
        let port = match (&listener, &claim) {
            (Some(listener), _) => listener.local_addr().unwrap().port(),
            (None, claim) => claim.as_ref().expect("a port for Spin").port,
        };
        let base_url = format!("http://127.0.0.1:{port}");
        let mut settings: Vec<(String, String)> = [
            ("database_url", database_url.clone()),
            ("jwt_secret", JWT_SECRET.into()),
            ("job_token", JOB_TOKEN.into()),
            ("cors_origins", ALLOWED_ORIGIN.into()),
            ("midtrans_server_key", midtrans::SERVER_KEY.into()),
            ("midtrans_client_key", midtrans::CLIENT_KEY.into()),
            ("midtrans_snap_origin", midtrans.url.clone()),
            ("midtrans_api_origin", midtrans.url.clone()),
            ("midtrans_timeout_ms", "2000".into()),
            ("k8s_api_url", kube.url.clone()),
            ("k8s_token", kube::TOKEN.into()),
            ("k8s_timeout_ms", "1000".into()),
            ("base_domain", "apps.spincat.test".into()),
            ("dns_resolver_url", dns.url.clone()),
            ("dns_resolver_origin", dns.origin.clone()),
            (
                "midtrans_notification_url",
                format!("{base_url}/api/webhooks/midtrans/notification"),
            ),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .chain(options.variables.iter().cloned())
        .collect();
        let clock = Arc::new(ManualClock::starting_at(Utc::now()));
        let runtime = if let Some(claim) = claim {
            let address = database_url
                .split('@')
                .nth(1)
                .and_then(|rest| rest.split('/').next())
                .expect("a database URL with a host")
                .to_owned();
            settings.push(("database_host".into(), address));
            Runtime::Spin(
                spin::SpinApp::start(
                    claim,
                    &options.manifest,
                    &settings,
                    options.runtime_config.as_deref(),
                )
                .await,
            )
        } else {
            let manifest = Manifest::parse(&options.manifest).expect("the manifest parses");
            let mut variables = Variables::from_env(&manifest);
            for (name, value) in &settings {
                variables.set(name, value.clone());
            }
            let host = Host::new(
                &manifest,
                &variables,
                &options.handlers,
                clock.clone(),
                Arc::new(NativeHttp::new()),
            )
            .expect("the host starts");
            let listener = listener.expect("a listener for the native host");
            Runtime::Native(tokio::spawn(async move {
                server::serve(listener, Arc::new(host))
                    .await
                    .expect("the server runs");
            }))
        };
        let db = spincat_host::migrate::connect(&database_url).await.unwrap();
        Self {
            base_url,
            http: reqwest::Client::new(),
            clock,
            db,
            database_url,
            midtrans,
            kube,
            dns,
            runtime,
        }
    }

    /// The app dies where it stands, as a crashed replica, and comes back on the same database.
    /// Under Spin, `spin up` is killed and started again. The native host has nothing to kill:
    /// a request whose client is gone is dropped at once, mid-way like a crash.
    pub async fn crash(&mut self) {
        if let Runtime::Spin(spin) = &mut self.runtime {
            spin.crash_and_restart().await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Sends a request and checks its answer against the API contract (`contract`).
    pub async fn send(&self, request: reqwest::RequestBuilder) -> TestResponse {
        let (client, request) = request.build_split();
        let request = request.expect("a well-formed request");
        let (method, path) = (
            request.method().to_string(),
            request.url().path().to_owned(),
        );
        let response = client
            .execute(request)
            .await
            .expect("the request reaches the host");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap().to_vec();
        let is_json = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_none_or(|t| t.starts_with("application/json"));
        let body = if bytes.is_empty() || !is_json {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                panic!("not JSON ({status}): {}", String::from_utf8_lossy(&bytes))
            })
        };
        if let Some(violation) = contract::contract().violation(&method, &path, status, &body) {
            panic!("the answer breaks api/openapi.json: {violation}");
        }
        TestResponse {
            status,
            headers,
            body,
            bytes,
        }
    }

    pub async fn get(&self, path: &str) -> TestResponse {
        self.send(self.http.get(self.url(path))).await
    }

    /// A revalidation: `GET path` with `If-None-Match: etags`.
    pub async fn get_if_none_match(&self, path: &str, etags: &str) -> TestResponse {
        self.send(self.http.get(self.url(path)).header("if-none-match", etags))
            .await
    }

    pub async fn get_as(&self, path: &str, token: &str) -> TestResponse {
        self.send(self.http.get(self.url(path)).bearer_auth(token))
            .await
    }

    pub async fn post(&self, path: &str, body: Value) -> TestResponse {
        self.send(self.http.post(self.url(path)).json(&body)).await
    }

    pub async fn register(&self, email: &str) -> TestUser {
        let response = self
            .post(
                "/api/auth/register",
                json!({ "name": "Test User", "email": email, "password": PASSWORD }),
            )
            .await;
        assert_eq!(response.status, 201, "{:?}", response.body);
        user_from_session(response.data())
    }

    /// A user created directly in the database with a pre-computed password hash and a signed
    /// token, for tests that need hundreds of users without hundreds of Argon2 hashes.
    pub async fn register_quickly(&self, email: &str) -> TestUser {
        static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let hash = HASH.get_or_init(|| {
            let password = spincat::auth::Password::parse(PASSWORD).unwrap();
            spincat::auth::PasswordHash::new(&password)
                .unwrap()
                .as_str()
                .to_owned()
        });
        let row = self
            .db
            .query_one(
                "INSERT INTO users (email, name, password_hash, created_at, updated_at)
                 VALUES ($1, 'Quick User', $2, now() AT TIME ZONE 'utc', now() AT TIME ZONE 'utc')
                 RETURNING id::text",
                &[&email, hash],
            )
            .await
            .unwrap();
        let id: String = row.get(0);
        TestUser {
            access_token: self.access_token(&id, spincat::auth::Role::User),
            id,
            email: email.to_owned(),
            refresh_token: String::new(),
        }
    }

    /// A fresh access token signed at the app's now, as a sign-in would issue: for tests that
    /// move the clock further than a token lives.
    pub fn access_token(&self, user_id: &str, role: spincat::auth::Role) -> String {
        let principal = spincat::auth::Principal {
            user_id: user_id.parse().unwrap(),
            role,
        };
        spincat::auth::AccessToken::issue(&principal, JWT_SECRET.as_bytes(), self.now(), 900)
            .unwrap()
    }

    /// A registered user promoted to administrator, signed in again for a token with the role.
    pub async fn admin(&self, email: &str) -> TestUser {
        let user = self.register(email).await;
        self.db
            .execute(
                "UPDATE users SET role = 'ADMINISTRATOR' WHERE email = $1",
                &[&user.email],
            )
            .await
            .unwrap();
        self.login(email, PASSWORD).await
    }

    pub async fn login(&self, email: &str, password: &str) -> TestUser {
        let response = self
            .post(
                "/api/auth/login",
                json!({ "email": email, "password": password }),
            )
            .await;
        assert_eq!(response.status, 200, "{:?}", response.body);
        user_from_session(response.data())
    }

    pub fn clock_now(&self) -> chrono::DateTime<Utc> {
        spincat::ports::Clock::now(self.clock.as_ref())
    }

    pub fn advance_clock(&self, by: Duration) {
        self.clock.advance(by);
    }

    /// The app's now: the test clock natively, the system's under Spin.
    pub fn now(&self) -> chrono::DateTime<Utc> {
        if spin::enabled() {
            Utc::now()
        } else {
            self.clock_now()
        }
    }

    /// Lets `by` pass for the app. Natively the test clock moves on. Under Spin, whose clock is
    /// the system's, every instant the app has stored moves back by `by` instead, which the app
    /// cannot tell from time passing, but for instants written into text (idempotency and dedupe
    /// keys): a test must not pass by exactly a period it has already been charged for. The
    /// append-only ledger keeps its times: they are history, and no rule reads them. A
    /// subscription's anchor day follows its period end.
    pub async fn pass(&self, by: Duration) {
        if !spin::enabled() {
            self.clock.advance(by);
            return;
        }
        let columns = self
            .db
            .query(
                "SELECT c.table_name::text, string_agg(c.column_name::text, ',')
                 FROM information_schema.columns c
                 JOIN information_schema.tables t
                   ON t.table_schema = c.table_schema AND t.table_name = c.table_name
                 WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'
                   AND c.data_type = 'timestamp without time zone'
                   AND c.table_name NOT IN ('ledger_transfers', 'ledger_entries')
                 GROUP BY c.table_name",
                &[],
            )
            .await
            .unwrap();
        let seconds = by.num_microseconds().expect("a passable duration") as f64 / 1e6;
        for row in columns {
            let (table, columns): (String, String) = (row.get(0), row.get(1));
            let moves: Vec<String> = columns
                .split(',')
                .map(|c| format!("{c} = {c} - make_interval(secs => $1)"))
                .collect();
            let sql = format!("UPDATE {table} SET {}", moves.join(", "));
            self.db.execute(&sql, &[&seconds]).await.unwrap();
        }
        // The day of the month periods end on moves with them.
        self.db
            .execute(
                "UPDATE subscriptions SET anchor_day = extract(day FROM period_end)",
                &[],
            )
            .await
            .unwrap();
    }

    /// Lets time pass until the app's now is `when`; see `pass`.
    pub async fn pass_until(&self, when: chrono::DateTime<Utc>) {
        self.pass(when - self.now()).await;
    }

    /// A JSON request of any method, signed in with `token`.
    pub async fn send_as(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Value,
    ) -> TestResponse {
        self.send(
            self.http
                .request(method.parse().expect("an HTTP method"), self.url(path))
                .bearer_auth(token)
                .json(&body),
        )
        .await
    }

    pub async fn post_as(&self, path: &str, token: &str, body: Value) -> TestResponse {
        self.send(
            self.http
                .post(self.url(path))
                .bearer_auth(token)
                .json(&body),
        )
        .await
    }

    pub async fn subscribe(&self, user: &TestUser, plan_id: &str) -> TestResponse {
        let body = json!({ "planId": plan_id });
        self.post_as("/api/user/services/subscribe", &user.access_token, body)
            .await
    }

    pub async fn upgrade(
        &self,
        user: &TestUser,
        subscription: &str,
        plan_id: &str,
    ) -> TestResponse {
        let path = format!("/api/user/services/subscriptions/{subscription}/upgrade");
        self.send(
            self.http
                .put(self.url(&path))
                .bearer_auth(&user.access_token)
                .json(&json!({ "newPlanId": plan_id })),
        )
        .await
    }

    pub async fn cancel(
        &self,
        user: &TestUser,
        subscription: &str,
        immediate: bool,
    ) -> TestResponse {
        let path = format!("/api/user/services/subscriptions/{subscription}?immediate={immediate}");
        self.send(
            self.http
                .delete(self.url(&path))
                .bearer_auth(&user.access_token),
        )
        .await
    }

    /// Runs an internal job as the Kubernetes CronJob would.
    pub async fn run_job(&self, job: &str) -> TestResponse {
        let response = self
            .send(
                self.http
                    .post(self.url(&format!("/internal/jobs/{job}")))
                    .bearer_auth(JOB_TOKEN),
            )
            .await;
        assert_eq!(response.status, 200, "{job}: {:?}", response.body);
        response
    }

    /// The ledger check: every transfer balances and every wallet equals the sum of its entries.
    pub async fn assert_ledger_sound(&self) {
        let db = spincat_host::db::NativeDatabase::connect_lazily(&self.database_url, 1).unwrap();
        let conn = spincat::ports::Database::connect(&db).await.unwrap();
        let report = spincat::ledger::check(conn.as_ref()).await.unwrap();
        assert!(report.is_sound(), "ledger problems: {:?}", report.problems);
    }

    /// A user's cached wallet balance.
    pub async fn balance(&self, user_id: &str) -> i64 {
        self.db
            .query_one(
                "SELECT balance FROM ledger_accounts WHERE user_id = $1::text::uuid",
                &[&user_id],
            )
            .await
            .unwrap()
            .get(0)
    }

    /// Credits a wallet the way a user does: a top-up, paid at Midtrans, notified.
    pub async fn fund(&self, user: &TestUser, amount: i64) {
        let response = self
            .post_as(
                "/api/user/wallet/topup",
                &user.access_token,
                json!({ "amount": amount }),
            )
            .await;
        assert_eq!(response.status, 201, "{:?}", response.body);
        let order_id = response.data()["orderId"].as_str().unwrap().to_owned();
        let (status, body) = self
            .midtrans
            .deliver(&order_id, "settlement-bank_transfer")
            .await;
        assert_eq!(status, 200, "{body}");
    }

    /// The id of a seeded plan, by service slug and plan name.
    pub async fn plan_id(&self, service: &str, plan: &str) -> String {
        self.db
            .query_one(
                "SELECT p.id::text FROM plans p JOIN services s ON s.id = p.service_id
                 WHERE s.slug = $1 AND p.name = $2",
                &[&service, &plan],
            )
            .await
            .unwrap()
            .get(0)
    }

    /// Every plan's `quota_used` equals the live subscriptions holding one of its slots (an
    /// upgrade in progress holds its old plan's slot too).
    pub async fn assert_quota_consistent(&self) {
        let rows = self
            .db
            .query(
                "SELECT p.name, p.quota_used::bigint, (
                     SELECT count(*) FROM subscriptions s
                     WHERE s.status = ANY($1)
                       AND (s.plan_id = p.id
                            OR (s.status = 'PENDING_UPGRADE' AND s.previous_plan_id = p.id))
                 ) FROM plans p",
                &[&live_statuses()],
            )
            .await
            .unwrap();
        for row in rows {
            let (name, used, live): (String, i64, i64) = (row.get(0), row.get(1), row.get(2));
            assert_eq!(
                used, live,
                "plan {name}: quota_used {used}, live subscriptions {live}"
            );
        }
    }

    pub async fn count(&self, sql: &str) -> i64 {
        self.db.query_one(sql, &[]).await.unwrap().get(0)
    }
}

/// The subscription states that hold a quota slot, as the app defines them: a `text[]` for
/// `status = ANY($n)`.
pub fn live_statuses() -> Vec<&'static str> {
    use spincat::states::State;
    spincat::states::SubscriptionStatus::LIVE
        .iter()
        .map(|s| s.as_str())
        .collect()
}

pub fn user_from_session(data: &Value) -> TestUser {
    TestUser {
        id: data["user"]["id"].as_str().unwrap().to_owned(),
        email: data["user"]["email"].as_str().unwrap().to_owned(),
        access_token: data["accessToken"].as_str().unwrap().to_owned(),
        refresh_token: data["refreshToken"].as_str().unwrap().to_owned(),
    }
}

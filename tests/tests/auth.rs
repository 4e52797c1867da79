//! Sign-up, sign-in, sessions and token validation, over HTTP.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::Duration;
use serde_json::{json, Value};
use spincat_tests::{Options, TestApp, PASSWORD};

async fn users(app: &TestApp) -> i64 {
    app.count("SELECT count(*) FROM users").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_user_registers_and_sees_their_account() {
    let app = TestApp::spawn().await;
    let response = app
        .post(
            "/api/auth/register",
            json!({"name": "Ana Wijaya", "email": "Ana@Example.COM", "password": PASSWORD, "phone": "+62 812-3456-7890"}),
        )
        .await;
    assert_eq!(response.status, 201, "{:?}", response.body);
    assert_eq!(response.body["success"], true);
    assert_eq!(response.body["statusCode"], 201);
    let data = response.data();
    assert_eq!(data["user"]["email"], "ana@example.com");
    assert_eq!(data["user"]["name"], "Ana Wijaya");
    assert_eq!(data["user"]["role"], "USER");
    assert_eq!(data["tokenType"], "Bearer");
    assert_eq!(data["expiresIn"], 900);
    assert!(data["user"].get("passwordHash").is_none());

    let me = app
        .get_as("/api/auth/me", data["accessToken"].as_str().unwrap())
        .await;
    assert_eq!(me.status, 200);
    assert_eq!(me.data()["email"], "ana@example.com");
    assert_eq!(me.data()["phone"], "+62 812-3456-7890");

    let stored: String = app
        .db
        .query_one("SELECT password_hash FROM users", &[])
        .await
        .unwrap()
        .get(0);
    assert!(
        stored.starts_with("$argon2id$"),
        "stored as Argon2id: {stored}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_names_every_bad_field_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let response = app
        .post(
            "/api/auth/register",
            json!({"name": "  ", "email": "not-an-email", "password": "short", "phone": "call me"}),
        )
        .await;
    assert_eq!(response.status, 400);
    assert_eq!(response.error_code(), "VALIDATION_ERROR");
    assert_eq!(
        response.invalid_fields(),
        ["email", "name", "password", "phone"]
    );

    let missing = app.post("/api/auth/register", json!({"email": 42})).await;
    assert_eq!(missing.status, 400);
    assert_eq!(missing.invalid_fields(), ["email", "name", "password"]);

    // Taken exactly as given: padding is refused, not trimmed, and an unknown field (a typo)
    // is named rather than ignored.
    let padded = app
        .post(
            "/api/auth/register",
            json!({"name": " Ana ", "email": " ana@example.com", "password": PASSWORD, "phon": "1234567"}),
        )
        .await;
    assert_eq!(padded.invalid_fields(), ["email", "name", "phon"]);
    assert_eq!(users(&app).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_email_can_hold_one_account_whatever_its_case() {
    let app = TestApp::spawn().await;
    app.register("budi@example.com").await;
    let again = app
        .post(
            "/api/auth/register",
            json!({"name": "Budi", "email": "BUDI@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(again.status, 409);
    assert_eq!(again.error_code(), "EMAIL_TAKEN");
    assert_eq!(users(&app).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_registrations_of_one_email_create_one_account() {
    let app = TestApp::spawn().await;
    let attempts = (0..8).map(|_| {
        app.post(
            "/api/auth/register",
            json!({"name": "Racer", "email": "race@example.com", "password": PASSWORD}),
        )
    });
    let statuses: Vec<u16> = futures::future::join_all(attempts)
        .await
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 409),
        "{statuses:?}"
    );
    assert_eq!(users(&app).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_does_not_reveal_whether_an_email_exists() {
    let app = TestApp::spawn().await;
    app.register("citra@example.com").await;
    let wrong_password = app
        .post(
            "/api/auth/login",
            json!({"email": "citra@example.com", "password": "wrong password"}),
        )
        .await;
    let unknown_email = app
        .post(
            "/api/auth/login",
            json!({"email": "nobody@example.com", "password": PASSWORD}),
        )
        .await;
    for response in [&wrong_password, &unknown_email] {
        assert_eq!(response.status, 401);
        assert_eq!(response.error_code(), "INVALID_CREDENTIALS");
    }
    assert_eq!(
        wrong_password.body["message"],
        unknown_email.body["message"]
    );

    let ok = app.login("CITRA@example.com", PASSWORD).await;
    assert_eq!(ok.email, "citra@example.com");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failed_logins_are_slowed_down_until_the_window_passes() {
    let app = TestApp::spawn_with(Options::default().variable("login_max_attempts", "3")).await;
    app.register("dewi@example.com").await;
    let attempt = |password: &'static str| {
        app.post(
            "/api/auth/login",
            json!({"email": "dewi@example.com", "password": password}),
        )
    };
    for _ in 0..3 {
        assert_eq!(attempt("wrong password").await.status, 401);
    }
    let locked = attempt("wrong password").await;
    assert_eq!(locked.status, 429);
    assert_eq!(locked.error_code(), "TOO_MANY_ATTEMPTS");
    let retry_after: i64 = locked.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry_after), "{retry_after}");
    // Even the right password waits: otherwise the lock only slows down wrong guesses.
    assert_eq!(attempt(PASSWORD).await.status, 429);

    app.pass(Duration::seconds(901)).await;
    assert_eq!(attempt(PASSWORD).await.status, 200);
    // A success clears the count.
    for _ in 0..3 {
        assert_eq!(attempt("wrong password").await.status, 401);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_guesses_cannot_exceed_the_attempt_limit() {
    let app = TestApp::spawn_with(Options::default().variable("login_max_attempts", "3")).await;
    app.register("eka@example.com").await;
    let guesses = (0..12).map(|i| {
        app.post(
            "/api/auth/login",
            json!({"email": "eka@example.com", "password": format!("guess number {i}")}),
        )
    });
    let responses = futures::future::join_all(guesses).await;
    let checked = responses.iter().filter(|r| r.status == 401).count();
    let refused = responses.iter().filter(|r| r.status == 429).count();
    assert_eq!((checked, refused), (3, 9));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deactivated_user_cannot_log_in_or_refresh() {
    let app = TestApp::spawn().await;
    let user = app.register("fajar@example.com").await;
    app.db
        .execute("UPDATE users SET is_active = false", &[])
        .await
        .unwrap();
    let login = app
        .post(
            "/api/auth/login",
            json!({"email": "fajar@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(login.status, 403);
    assert_eq!(login.error_code(), "ACCOUNT_DISABLED");
    let refresh = app
        .post(
            "/api/auth/refresh",
            json!({"refreshToken": user.refresh_token}),
        )
        .await;
    assert_eq!(refresh.status, 403);
    assert_eq!(refresh.error_code(), "ACCOUNT_DISABLED");
    let me = app.get_as("/api/auth/me", &user.access_token).await;
    assert_eq!(me.status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_rotates_and_a_reused_token_ends_the_whole_family() {
    let app = TestApp::spawn().await;
    let user = app.register("gita@example.com").await;
    let first = app
        .post(
            "/api/auth/refresh",
            json!({"refreshToken": user.refresh_token}),
        )
        .await;
    assert_eq!(first.status, 200, "{:?}", first.body);
    let rotated = first.data()["refreshToken"].as_str().unwrap().to_owned();
    assert_ne!(rotated, user.refresh_token);
    assert_eq!(
        app.get_as(
            "/api/auth/me",
            first.data()["accessToken"].as_str().unwrap()
        )
        .await
        .status,
        200
    );

    // The old token again: someone has a copy. Both it and its successor stop working.
    let replay = app
        .post(
            "/api/auth/refresh",
            json!({"refreshToken": user.refresh_token}),
        )
        .await;
    assert_eq!(replay.status, 401);
    assert_eq!(replay.error_code(), "REFRESH_TOKEN_REUSED");
    let successor = app
        .post("/api/auth/refresh", json!({"refreshToken": rotated}))
        .await;
    assert_eq!(successor.status, 401);
    assert_eq!(successor.error_code(), "INVALID_REFRESH_TOKEN");

    // Other sessions of the same user are other families and live on.
    let other = app.login("gita@example.com", PASSWORD).await;
    let other_refresh = app
        .post(
            "/api/auth/refresh",
            json!({"refreshToken": other.refresh_token}),
        )
        .await;
    assert_eq!(other_refresh.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_refreshes_of_one_token_never_both_succeed() {
    let app = TestApp::spawn().await;
    let user = app.register("hadi@example.com").await;
    let body = json!({"refreshToken": user.refresh_token});
    let (a, b) = tokio::join!(
        app.post("/api/auth/refresh", body.clone()),
        app.post("/api/auth/refresh", body.clone())
    );
    let successes = [a.status, b.status].iter().filter(|s| **s == 200).count();
    assert!(successes <= 1, "{} {}", a.status, b.status);
    assert_eq!(
        app.count(
            "SELECT count(*) FROM refresh_tokens WHERE rotated_at IS NULL AND revoked_at IS NULL"
        )
        .await,
        0,
        "the family was ended, as for a replay"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_tokens_expire_and_unknown_ones_are_refused() {
    let app = TestApp::spawn().await;
    let user = app.register("indah@example.com").await;
    let unknown = app
        .post(
            "/api/auth/refresh",
            json!({"refreshToken": "not-a-token-we-issued"}),
        )
        .await;
    assert_eq!(unknown.status, 401);
    assert_eq!(unknown.error_code(), "INVALID_REFRESH_TOKEN");

    app.pass(Duration::days(31)).await;
    let expired = app
        .post(
            "/api/auth/refresh",
            json!({"refreshToken": user.refresh_token}),
        )
        .await;
    assert_eq!(expired.status, 401);
    assert_eq!(expired.error_code(), "INVALID_REFRESH_TOKEN");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_ends_the_session_and_can_be_repeated() {
    let app = TestApp::spawn().await;
    let user = app.register("joko@example.com").await;
    let body = json!({"refreshToken": user.refresh_token});
    assert_eq!(app.post("/api/auth/logout", body.clone()).await.status, 200);
    assert_eq!(app.post("/api/auth/logout", body.clone()).await.status, 200);
    let refresh = app.post("/api/auth/refresh", body).await;
    assert_eq!(refresh.status, 401);
    let missing = app.post("/api/auth/logout", json!({})).await;
    assert_eq!(missing.status, 400);
    assert_eq!(missing.invalid_fields(), ["refreshToken"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_tokens_expire_by_the_clock() {
    // Two seconds of life, and real time passing, so it runs the same under Spin: a token is
    // not stored, so no row can be moved instead. Three seconds later it is refused, so the
    // check allows less than a second of leeway.
    let app =
        TestApp::spawn_with(Options::default().variable("access_token_ttl_seconds", "2")).await;
    let user = app.register("kartika@example.com").await;
    assert_eq!(
        app.get_as("/api/auth/me", &user.access_token).await.status,
        200
    );
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let expired = app.get_as("/api/auth/me", &user.access_token).await;
    assert_eq!(expired.status, 401);
    assert_eq!(expired.error_code(), "TOKEN_EXPIRED");
}

fn forge(
    token: &str,
    edit_header: impl FnOnce(&mut Value),
    edit_claims: impl FnOnce(&mut Value),
) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let decode = |part: &str| -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    };
    let (mut header, mut claims) = (decode(parts[0]), decode(parts[1]));
    edit_header(&mut header);
    edit_claims(&mut claims);
    let encode = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    format!("{}.{}.{}", encode(&header), encode(&claims), parts[2])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_unsigned_and_foreign_tokens_are_refused() {
    let app = TestApp::spawn().await;
    let user = app.register("lina@example.com").await;
    let token = user.access_token.clone();

    let promoted = forge(&token, |_| {}, |c| c["role"] = json!("ADMINISTRATOR"));
    let extended = forge(&token, |_| {}, |c| c["exp"] = json!(4_000_000_000u64));
    let unsigned = {
        let forged = forge(&token, |h| h["alg"] = json!("none"), |_| {});
        let mut parts: Vec<&str> = forged.split('.').collect();
        parts[2] = "";
        parts.join(".")
    };
    let other_algorithm = forge(&token, |h| h["alg"] = json!("HS512"), |_| {});
    let foreign = {
        use independent_jwt::sign_hs256;
        sign_hs256(
            &json!({"sub": user.id, "role": "USER", "iat": 1, "exp": 4_000_000_000u64, "iss": "spincat"}),
            b"some-other-secret-that-is-long-enough-to-use",
        )
    };
    let wrong_issuer = {
        use independent_jwt::sign_hs256;
        sign_hs256(
            &json!({"sub": user.id, "role": "USER", "iat": 1, "exp": 4_000_000_000u64, "iss": "someone-else"}),
            spincat_tests::JWT_SECRET.as_bytes(),
        )
    };
    for (name, bad) in [
        ("promoted", promoted),
        ("extended", extended),
        ("alg none", unsigned),
        ("HS512 header", other_algorithm),
        ("foreign key", foreign),
        ("wrong issuer", wrong_issuer),
        ("garbage", "not.a.jwt".to_owned()),
    ] {
        let response = app.get_as("/api/auth/me", &bad).await;
        assert_eq!(response.status, 401, "{name}: {:?}", response.body);
        assert_eq!(response.error_code(), "INVALID_TOKEN", "{name}");
    }

    let no_token = app.get("/api/auth/me").await;
    assert_eq!(no_token.status, 401);
    assert_eq!(no_token.error_code(), "UNAUTHENTICATED");
    let basic = app
        .send(
            app.http
                .get(app.url("/api/auth/me"))
                .header("authorization", "Basic dXNlcjpwYXNz"),
        )
        .await;
    assert_eq!(basic.status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_routes_need_an_administrator() {
    let app = TestApp::spawn().await;
    let user = app.register("mira@example.com").await;
    let admin = app.admin("root@example.com").await;

    let anonymous = app.get("/api/admin/users").await;
    assert_eq!(anonymous.status, 401);
    let as_user = app.get_as("/api/admin/users", &user.access_token).await;
    assert_eq!(as_user.status, 403);
    assert_eq!(as_user.error_code(), "FORBIDDEN");
    let as_admin = app
        .get_as("/api/admin/users?search=mira", &admin.access_token)
        .await;
    assert_eq!(as_admin.status, 200, "{:?}", as_admin.body);
    assert_eq!(as_admin.data()["pagination"]["total"], 1);
    assert_eq!(as_admin.data()["items"][0]["email"], "mira@example.com");
}

/// HS256 signing done here, independently of the code under test, for tokens it never issued.
mod independent_jwt {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use hmac::{Hmac, Mac};
    use sha2::Sha256;

    pub fn sign_hs256(claims: &serde_json::Value, key: &[u8]) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signing_input = format!("{header}.{payload}");
        let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
        mac.update(signing_input.as_bytes());
        let signature = mac.finalize().into_bytes();
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }
}

/// A client whose requests come from `ip` (any address of the loopback range works on Linux).
fn client_from(ip: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(std::net::IpAddr::from(ip))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attacker_cannot_lock_out_the_owner_nor_tell_who_has_an_account() {
    let app = TestApp::spawn_with(
        Options::default()
            .variable("login_max_attempts", "5")
            .variable("login_max_attempts_per_source", "12"),
    )
    .await;
    app.admin("root@example.com").await;
    let attacker = client_from([127, 0, 0, 2]);
    let owner = client_from([127, 0, 0, 3]);
    let login = |client: &reqwest::Client, email: &str, password: &str| {
        app.send(
            client
                .post(app.url("/api/auth/login"))
                // A forged address of its own changes nothing: the runtime's value comes last.
                .header("spin-client-addr", "198.51.100.1:1")
                .json(&json!({ "email": email, "password": password })),
        )
    };

    for email in ["root@example.com", "nobody@example.com"] {
        for _ in 0..5 {
            let answer = login(&attacker, email, "wrong guess").await;
            assert_eq!(answer.error_code(), "INVALID_CREDENTIALS", "{email}");
        }
        let throttled = login(&attacker, email, PASSWORD).await;
        assert_eq!(
            (throttled.status, throttled.error_code()),
            (429, "TOO_MANY_ATTEMPTS"),
            "{email}: a known and an unknown email are throttled alike"
        );
        assert!(throttled.header("retry-after").is_some());
    }

    let signed_in = login(&owner, "root@example.com", PASSWORD).await;
    assert_eq!(
        signed_in.status, 200,
        "the owner, elsewhere: {:?}",
        signed_in.body
    );

    // One address trying many accounts meets the wider limit.
    for email in ["a@example.com", "b@example.com"] {
        assert_eq!(login(&attacker, email, "wrong guess").await.status, 401);
    }
    assert_eq!(
        login(&attacker, "c@example.com", "wrong guess")
            .await
            .status,
        429
    );
    assert_eq!(
        login(&owner, "c@example.com", "wrong guess").await.status,
        401
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deactivation_and_role_changes_take_effect_on_the_next_request() {
    let app = TestApp::spawn().await;
    let admin = app.admin("kepala@example.com").await;
    let user = app.register("mantan@example.com").await;
    let deputy = app.admin("wakil@example.com").await;
    let set = |path: String, body: Value| {
        app.send(
            app.http
                .put(app.url(&path))
                .bearer_auth(&admin.access_token)
                .json(&body),
        )
    };

    // Deactivated: the token the user already holds stops working everywhere at once.
    assert_eq!(
        app.get_as("/api/user/wallet", &user.access_token)
            .await
            .status,
        200
    );
    let off = set(
        format!("/api/admin/users/{}/active", user.id),
        json!({"active": false}),
    )
    .await;
    assert_eq!(off.status, 200, "{:?}", off.body);
    for path in [
        "/api/user/wallet",
        "/api/auth/me",
        "/api/user/notifications",
        "/api/user/services/subscriptions",
    ] {
        let refused = app.get_as(path, &user.access_token).await;
        assert_eq!(
            (refused.status, refused.error_code()),
            (403, "ACCOUNT_DISABLED"),
            "{path}"
        );
    }

    // Demoted: the administrator's token, still within its 15 minutes, no longer opens admin routes.
    assert_eq!(
        app.get_as("/api/admin/users", &deputy.access_token)
            .await
            .status,
        200
    );
    let demoted = set(
        format!("/api/admin/users/{}/role", deputy.id),
        json!({"role": "USER"}),
    )
    .await;
    assert_eq!(demoted.status, 200, "{:?}", demoted.body);
    let refused = app.get_as("/api/admin/users", &deputy.access_token).await;
    assert_eq!((refused.status, refused.error_code()), (403, "FORBIDDEN"));
    let adjust = app
        .post_as(
            &format!("/api/admin/users/{}/wallet/adjust", deputy.id),
            &deputy.access_token,
            json!({"amount": 1_000_000, "reason": "one last favour"}),
        )
        .await;
    assert_eq!(adjust.status, 403, "no money from a revoked role");
    assert_eq!(app.balance(&deputy.id).await, 0);
}

use spincat_tests::{Options, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reports_a_reachable_database() {
    let app = TestApp::spawn().await;
    let response = app.get("/api/health").await;
    assert_eq!(response.status, 200, "{:?}", response.body);
    assert_eq!(response.body["success"], true);
    assert_eq!(response.data()["database"], "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reports_an_unreachable_database_as_503() {
    let app = TestApp::spawn_with(Options::default().variable(
        "database_url",
        "postgres://postgres@127.0.0.1:1/nowhere?sslmode=disable",
    ))
    .await;
    let response = app.get("/api/health").await;
    assert_eq!(response.status, 503);
    assert_eq!(response.error_code(), "DATABASE_UNAVAILABLE");
}

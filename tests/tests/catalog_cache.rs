//! Catalog answers are kept in Spin's key-value store: a read costs no database round trip, an
//! administrator's edit shows at once (its ETag with it), and quota is late by seconds at most.

use serde_json::{json, Value};
use spincat::catalog::cache::FRESH_FOR;
use spincat_tests::{TestApp, TestResponse, TestUser};

const GHOST: &str = "/api/catalog/services/ghost";
const CMS: &str = "/api/catalog/categories/cms/services";
const SEARCH: &str = "/api/catalog/search?q=ghost";

async fn edit(app: &TestApp, admin: &TestUser, method: &str, path: &str, body: Value) {
    let path = format!("/api/admin/{path}");
    let response = app.send_as(method, &path, &admin.access_token, body).await;
    assert_eq!(response.status, 200, "{method} {path}: {:?}", response.body);
}

async fn id_of(app: &TestApp, sql: &str) -> String {
    app.db.query_one(sql, &[]).await.unwrap().get(0)
}

fn names(response: &TestResponse) -> Vec<String> {
    assert_eq!(response.status, 200, "{:?}", response.body);
    response.data()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_owned())
        .collect()
}

fn etag(response: &TestResponse) -> String {
    response.header("etag").expect("an ETag").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_answer_changes_as_soon_as_an_administrator_edits_the_catalog() {
    let app = TestApp::spawn().await;
    let admin = app.admin("operator@example.com").await;
    let ghost = id_of(&app, "SELECT id::text FROM services WHERE slug = 'ghost'").await;
    let first = app.get(GHOST).await;
    assert_eq!(first.data()["name"], "Ghost");
    let first_tags = [
        etag(&first),
        etag(&app.get(CMS).await),
        etag(&app.get(SEARCH).await),
    ];

    // Changed behind the app's back, the catalog still answers from what it kept: proof that a
    // read no longer reaches the database.
    app.db
        .execute(
            "UPDATE services SET name = 'Ghost (direct)' WHERE slug = 'ghost'",
            &[],
        )
        .await
        .unwrap();
    let kept = app.get(GHOST).await;
    assert_eq!(kept.data()["name"], "Ghost");
    assert_eq!(etag(&kept), first_tags[0]);
    assert_eq!(
        app.get_if_none_match(GHOST, &first_tags[0]).await.status,
        304
    );

    edit(
        &app,
        &admin,
        "PUT",
        &format!("catalog/services/{ghost}"),
        json!({"name": "Ghost CMS"}),
    )
    .await;

    let edited = app.get_if_none_match(GHOST, &first_tags[0]).await;
    assert_eq!(edited.status, 200, "the old ETag no longer matches");
    assert_eq!(edited.data()["name"], "Ghost CMS");
    let in_category = app.get(CMS).await;
    assert_eq!(names(&in_category), ["Ghost CMS"]);
    let found = app.get(SEARCH).await;
    assert_eq!(names(&found), ["Ghost CMS"]);
    let new_tags = [etag(&edited), etag(&in_category), etag(&found)];
    for (old, new) in first_tags.iter().zip(&new_tags) {
        assert_ne!(old, new);
    }
    assert_eq!(app.get_if_none_match(GHOST, &new_tags[0]).await.status, 304);

    // Hiding a service takes it out of every kept answer at once too.
    edit(
        &app,
        &admin,
        "PUT",
        &format!("catalog/services/{ghost}"),
        json!({"isActive": false}),
    )
    .await;
    assert_eq!(app.get(GHOST).await.status, 404);
    assert_eq!(names(&app.get(CMS).await), Vec::<String>::new());
    assert_eq!(names(&app.get(SEARCH).await), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_an_administrator_sets_shows_at_once_and_quota_subscribers_take_within_seconds() {
    let app = TestApp::spawn().await;
    let admin = app.admin("operator@example.com").await;
    let creator = id_of(&app, "SELECT id::text FROM plans WHERE name = 'Creator'").await;
    let available = |response: TestResponse| {
        let plans = response.data()["plans"].as_array().unwrap().clone();
        let creator = plans.iter().find(|p| p["name"] == "Creator").unwrap();
        creator["availableQuota"].as_i64().unwrap()
    };
    assert_eq!(available(app.get(GHOST).await), 30);

    edit(
        &app,
        &admin,
        "PUT",
        &format!("plans/{creator}/quota"),
        json!({"total": 7}),
    )
    .await;
    assert_eq!(available(app.get(GHOST).await), 7);

    let user = app.register("reader@example.com").await;
    app.fund(&user, 1_000_000).await;
    let subscribed = app.subscribe(&user, &creator).await;
    assert_eq!(subscribed.status, 201, "{:?}", subscribed.body);
    // A subscription does not retire kept answers (it would empty the cache at every sale):
    // the slot it took shows once the kept answer is older than FRESH_FOR.
    app.pass(FRESH_FOR).await;
    if spincat_tests::spin::enabled() {
        // Spin's clock is the system's, and passing time there moves only what the database
        // holds.
        tokio::time::sleep(FRESH_FOR.to_std().unwrap()).await;
    }
    assert_eq!(available(app.get(GHOST).await), 6);
}

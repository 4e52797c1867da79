//! The public catalog over HTTP, on the seeded demo data.

use serde_json::{json, Value};
use spincat::catalog::DeploymentTemplate;
use spincat_tests::TestApp;

fn slugs(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["slug"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn categories_come_with_their_service_counts() {
    let app = TestApp::spawn().await;
    let response = app.get("/api/catalog/categories").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.data()["pagination"]["total"], 3);
    let categories: Vec<(String, i64)> = response.data()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["slug"].as_str().unwrap().to_owned(),
                c["serviceCount"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        categories,
        [
            ("development-tools".into(), 1),
            ("cms".into(), 1),
            ("databases".into(), 1)
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_has_the_seven_plans_of_the_brief() {
    let app = TestApp::spawn().await;
    let rows = app
        .db
        .query(
            "SELECT s.slug, p.name, p.tier, p.price_monthly, p.cpu_millicores, p.memory_mib,
                    p.storage_gib, p.quota_total, p.max_instances_per_user, p.is_popular
             FROM plans p JOIN services s ON s.id = p.service_id ORDER BY s.slug, p.price_monthly",
            &[],
        )
        .await
        .unwrap();
    let plans: Vec<String> = rows
        .iter()
        .map(|r| {
            format!(
                "{} {} {} {} {}m/{}Mi/{}Gi quota {} max {}{}",
                r.get::<_, String>(0),
                r.get::<_, String>(1),
                r.get::<_, String>(2),
                r.get::<_, i64>(3),
                r.get::<_, i32>(4),
                r.get::<_, i32>(5),
                r.get::<_, i32>(6),
                r.get::<_, i32>(7),
                r.get::<_, i32>(8),
                if r.get::<_, bool>(9) { " popular" } else { "" }
            )
        })
        .collect();
    assert_eq!(
        plans,
        [
            "ghost Starter FREE 0 150m/512Mi/5Gi quota 15 max 1",
            "ghost Creator BASIC 75000 300m/1024Mi/10Gi quota 30 max 1 popular",
            "n8n Free FREE 0 200m/256Mi/2Gi quota 10 max 1",
            "n8n Basic BASIC 50000 500m/512Mi/5Gi quota 50 max 1 popular",
            "n8n Pro PRO 150000 1000m/1024Mi/10Gi quota 25 max 3",
            "postgresql Basic DB BASIC 25000 100m/256Mi/10Gi quota 100 max 2 popular",
            "postgresql Production DB PRO 100000 500m/1024Mi/50Gi quota 50 max 5",
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_templates_are_valid_deployment_templates() {
    let app = TestApp::spawn().await;
    let rows = app
        .db
        .query(
            "SELECT slug, template::text FROM services ORDER BY slug",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 3);
    for row in rows {
        let slug: String = row.get(0);
        let template: DeploymentTemplate = serde_json::from_str(&row.get::<_, String>(1))
            .unwrap_or_else(|e| panic!("{slug}: {e}"));
        assert_eq!(
            template.problems(),
            Vec::<(String, String)>::new(),
            "{slug}"
        );
        let (port, mount) = (template.port, template.data_mount_path.as_str());
        match slug.as_str() {
            "n8n" => {
                assert_eq!((port, mount), (5678, "/home/node/.n8n"));
                assert!(template.env.iter().any(|e| e.name == "N8N_ENCRYPTION_KEY"));
            }
            "ghost" => {
                assert_eq!((port, mount), (2368, "/var/lib/ghost/content"));
                assert_eq!(template.companions[0].image, "mysql:8.0");
            }
            "postgresql" => {
                assert_eq!(port, 5432);
                assert_eq!(template.protocol, spincat::catalog::Protocol::Tcp);
                let pgdata = template.env.iter().find(|e| e.name == "PGDATA").unwrap();
                assert!(
                    pgdata.value.starts_with(&format!("{mount}/")),
                    "PGDATA in a subdirectory"
                );
            }
            other => panic!("unexpected service {other}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_of_a_category_page_and_filter() {
    let app = TestApp::spawn().await;
    let dev = app
        .get("/api/catalog/categories/development-tools/services")
        .await;
    assert_eq!(dev.status, 200, "{:?}", dev.body);
    assert_eq!(slugs(dev.data()), ["n8n"]);
    assert_eq!(dev.data()["items"][0]["startingPrice"], 0);
    assert_eq!(
        dev.data()["items"][0]["category"]["slug"],
        "development-tools"
    );
    assert_eq!(dev.data()["pagination"]["total"], 1);

    let not_featured = app
        .get("/api/catalog/categories/databases/services?featured=true")
        .await;
    assert_eq!(slugs(not_featured.data()), Vec::<String>::new());
    assert_eq!(not_featured.data()["pagination"]["total"], 0);

    let beyond = app
        .get("/api/catalog/categories/cms/services?page=2&limit=1")
        .await;
    assert_eq!(beyond.status, 200);
    assert_eq!(slugs(beyond.data()), Vec::<String>::new());
    assert_eq!(beyond.data()["pagination"]["total"], 1);
    assert_eq!(beyond.data()["pagination"]["page"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_out_of_bounds_is_a_validation_error() {
    let app = TestApp::spawn().await;
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("page=0", "page"),
        ("page=abc", "page"),
        ("featured=maybe", "featured"),
    ] {
        let response = app
            .get(&format!("/api/catalog/categories/cms/services?{query}"))
            .await;
        assert_eq!(response.status, 400, "{query}");
        assert_eq!(response.invalid_fields(), [field], "{query}");
    }
    let max = app
        .get("/api/catalog/categories/cms/services?limit=100")
        .await;
    assert_eq!(max.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_slugs_are_404() {
    let app = TestApp::spawn().await;
    let category = app.get("/api/catalog/categories/nope/services").await;
    assert_eq!(category.status, 404);
    assert_eq!(category.error_code(), "CATEGORY_NOT_FOUND");
    let service = app.get("/api/catalog/services/nope").await;
    assert_eq!(service.status, 404);
    assert_eq!(service.error_code(), "SERVICE_NOT_FOUND");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_shows_its_active_plans_with_available_quota() {
    let app = TestApp::spawn().await;
    app.db
        .batch_execute(
            "UPDATE plans SET quota_used = 7 WHERE name = 'Basic' AND tier = 'BASIC';
             UPDATE plans SET is_active = false WHERE name = 'Pro';",
        )
        .await
        .unwrap();
    let response = app.get("/api/catalog/services/n8n").await;
    assert_eq!(response.status, 200, "{:?}", response.body);
    let data = response.data();
    assert_eq!(data["name"], "n8n");
    assert_eq!(data["category"]["slug"], "development-tools");
    assert!(
        data.get("template").is_none(),
        "deployment internals stay private"
    );
    let plans: Vec<(String, i64, i64)> = data["plans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["priceMonthly"].as_i64().unwrap(),
                p["availableQuota"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        plans,
        [("Free".into(), 0, 10), ("Basic".into(), 50_000, 43)]
    );
    assert_eq!(data["plans"][1]["resources"]["memoryMib"], 512);
    assert_eq!(data["plans"][1]["currency"], "IDR");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inactive_private_and_deleted_services_are_hidden_everywhere() {
    for hide in [
        "UPDATE services SET is_active = false WHERE slug = 'ghost'",
        "UPDATE services SET is_public = false WHERE slug = 'ghost'",
        "UPDATE services SET deleted_at = now() WHERE slug = 'ghost'",
    ] {
        // A new app each time: one would keep its first answers (catalog_cache.rs).
        let app = TestApp::spawn().await;
        app.db.batch_execute(hide).await.unwrap();
        assert_eq!(
            app.get("/api/catalog/services/ghost").await.status,
            404,
            "{hide}"
        );
        let cms = app.get("/api/catalog/categories/cms/services").await;
        assert_eq!(slugs(cms.data()), Vec::<String>::new(), "{hide}");
        let categories = app.get("/api/catalog/categories").await;
        assert_eq!(categories.data()["items"][1]["serviceCount"], 0, "{hide}");
        let search = app.get("/api/catalog/search?q=ghost").await;
        assert_eq!(slugs(search.data()), Vec::<String>::new(), "{hide}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_by_text_category_tags_and_price() {
    let app = TestApp::spawn().await;
    let search = |query: &'static str| app.get_search(query);
    assert_eq!(search("q=workflow").await, ["n8n"]);
    assert_eq!(
        search("q=NEWSLETTER").await,
        ["ghost"],
        "matches tags, any case"
    );
    assert_eq!(search("q=relational").await, ["postgresql"]);
    assert_eq!(
        search("q=%25").await,
        Vec::<String>::new(),
        "a literal %, not a wildcard"
    );
    assert_eq!(search("category=databases").await, ["postgresql"]);
    assert_eq!(search("tags=blog,cms").await, ["ghost"]);
    assert_eq!(
        search("tags=blog,sql").await,
        Vec::<String>::new(),
        "all tags must match"
    );
    assert_eq!(search("minPrice=100000").await, ["n8n", "postgresql"]);
    assert_eq!(search("maxPrice=0").await, ["ghost", "n8n"]);
    assert_eq!(search("minPrice=60000&maxPrice=80000").await, ["ghost"]);
    assert_eq!(search("").await, ["ghost", "n8n", "postgresql"]);

    let inverted = app.get("/api/catalog/search?minPrice=5&maxPrice=1").await;
    assert_eq!(inverted.status, 400);
    assert_eq!(inverted.invalid_fields(), ["maxPrice"]);
    let negative = app.get("/api/catalog/search?minPrice=-1&maxPrice=x").await;
    assert_eq!(negative.invalid_fields(), ["maxPrice", "minPrice"]);
}

trait Search {
    async fn get_search(&self, query: &str) -> Vec<String>;
}

impl Search for TestApp {
    async fn get_search(&self, query: &str) -> Vec<String> {
        let response = self.get(&format!("/api/catalog/search?{query}")).await;
        assert_eq!(response.status, 200, "{query}: {:?}", response.body);
        let mut found = slugs(response.data());
        found.sort();
        found
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etags_let_clients_revalidate_and_change_with_the_data() {
    let app = TestApp::spawn().await;
    let first = app.get("/api/catalog/services/ghost").await;
    let etag = first.header("etag").expect("an ETag").to_owned();
    assert_eq!(first.header("cache-control"), Some("public, max-age=60"));

    let revalidated = app
        .get_if_none_match("/api/catalog/services/ghost", &etag)
        .await;
    assert_eq!(revalidated.status, 304);
    assert_eq!(revalidated.body, Value::Null);
    assert_eq!(revalidated.header("etag"), Some(etag.as_str()));
    let weak = app
        .get_if_none_match(
            "/api/catalog/services/ghost",
            &format!("\"other\", W/{etag}"),
        )
        .await;
    assert_eq!(weak.status, 304);

    // An operator's change (here, to a plan's quota) is a new representation.
    let admin = app.admin("operator@example.com").await;
    let creator: String = app
        .db
        .query_one("SELECT id::text FROM plans WHERE name = 'Creator'", &[])
        .await
        .unwrap()
        .get(0);
    let quota = format!("/api/admin/plans/{creator}/quota");
    let changed = app
        .send_as("PUT", &quota, &admin.access_token, json!({"total": 29}))
        .await;
    assert_eq!(changed.status, 200, "{:?}", changed.body);
    let changed = app
        .get_if_none_match("/api/catalog/services/ghost", &etag)
        .await;
    assert_eq!(changed.status, 200);
    assert_ne!(changed.header("etag"), Some(etag.as_str()));

    for path in [
        "/api/catalog/categories",
        "/api/catalog/search?q=db",
        "/api/catalog/categories/cms/services",
    ] {
        assert!(app.get(path).await.header("etag").is_some(), "{path}");
    }
    let not_found = app.get("/api/catalog/services/nope").await;
    assert!(not_found.header("etag").is_none());
    assert_eq!(not_found.header("cache-control"), Some("no-store"));
}

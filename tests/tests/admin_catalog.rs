//! Catalog administration: categories, services with validated templates, and plans.

use chrono::Duration;
use serde_json::{json, Value};
use spincat_tests::{TestApp, TestResponse, TestUser};

async fn write(
    app: &TestApp,
    admin: &TestUser,
    method: &str,
    path: &str,
    body: Value,
) -> TestResponse {
    let path = format!("/api/admin/catalog/{path}");
    app.send_as(method, &path, &admin.access_token, body).await
}

fn template() -> Value {
    json!({
        "image": "gitea/gitea:1.22.3",
        "port": 3000,
        "protocol": "http",
        "dataMountPath": "/data",
        "env": [{"name": "GITEA__server__ROOT_URL", "value": "{{publicUrl}}"}],
        "healthCheck": {"type": "http", "path": "/api/healthz"},
        "runAsUser": 1000
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_build_a_new_app_into_the_catalog() {
    let app = TestApp::spawn().await;
    let admin = app.admin("root@example.com").await;
    let before = app
        .get("/api/catalog/categories")
        .await
        .header("etag")
        .unwrap()
        .to_owned();

    let category = write(
        &app,
        &admin,
        "POST",
        "categories",
        json!({"slug": "git", "name": "Git hosting"}),
    )
    .await;
    assert_eq!(category.status, 201, "{:?}", category.body);
    let category_id = category.data()["id"].as_str().unwrap().to_owned();
    let taken = write(
        &app,
        &admin,
        "POST",
        "categories",
        json!({"slug": "git", "name": "Again"}),
    )
    .await;
    assert_eq!((taken.status, taken.error_code()), (409, "SLUG_TAKEN"));
    let bad = write(
        &app,
        &admin,
        "POST",
        "categories",
        json!({"slug": "Not A Slug"}),
    )
    .await;
    assert_eq!(bad.invalid_fields(), ["name", "slug"]);
    let after = app.get("/api/catalog/categories").await;
    assert_ne!(
        after.header("etag").unwrap(),
        before,
        "writes change the ETag"
    );
    assert!(after.data()["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["slug"] == "git"));

    let mut broken = template();
    broken["image"] = json!("Not An Image");
    broken["env"][0]["value"] = json!("{{secret:missing}}");
    let refused = write(&app, &admin, "POST", "services", json!({
        "categoryId": category_id, "slug": "gitea", "name": "Gitea", "version": "1.22.3", "template": broken
    })).await;
    assert_eq!(refused.status, 400);
    let message = refused.body["error"]["details"]["fields"][0]["message"]
        .as_str()
        .unwrap();
    assert!(
        message.contains("template.image") && message.contains("unknown placeholder"),
        "{message}"
    );

    let service = write(
        &app,
        &admin,
        "POST",
        "services",
        json!({
            "categoryId": category_id, "slug": "gitea", "name": "Gitea", "version": "1.22.3",
            "template": template(), "tags": ["Git", "code"], "shortDescription": "Self-hosted Git"
        }),
    )
    .await;
    assert_eq!(service.status, 201, "{:?}", service.body);
    let service_id = service.data()["id"].as_str().unwrap().to_owned();
    let plan = write(
        &app,
        &admin,
        "POST",
        "plans",
        json!({
            "serviceId": service_id, "name": "Team", "tier": "BASIC", "priceMonthly": 40_000,
            "cpuMillicores": 300, "memoryMib": 512, "storageGib": 10, "quotaTotal": 20,
            "maxInstancesPerUser": 2, "features": ["Unlimited repositories"]
        }),
    )
    .await;
    assert_eq!(plan.status, 201, "{:?}", plan.body);

    let public = app.get("/api/catalog/services/gitea").await;
    assert_eq!(public.status, 200);
    assert_eq!(public.data()["tags"], json!(["git", "code"]));
    assert_eq!(public.data()["plans"][0]["tier"], "BASIC");
    assert_eq!(public.data()["plans"][0]["availableQuota"], 20);

    // A user can buy it at once.
    let user = app.register("buyer@example.com").await;
    app.fund(&user, 40_000).await;
    let plan_id = plan.data()["id"].as_str().unwrap();
    let bought = app.subscribe(&user, plan_id).await;
    assert_eq!(bought.status, 201, "{:?}", bought.body);

    let log = app
        .get_as("/api/admin/audit?limit=100", &admin.access_token)
        .await;
    let actions: Vec<&str> = log.data()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["plan.create", "service.create", "category.create"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_live_subscriptions_use_cannot_be_deleted_or_deactivated() {
    let app = TestApp::spawn().await;
    let admin = app.admin("root@example.com").await;
    let user = app.register("ana@example.com").await;
    app.fund(&user, 100_000).await;
    let plan = app.plan_id("ghost", "Creator").await;
    let sub = app.subscribe(&user, &plan).await;
    let sub_id = sub.data()["id"].as_str().unwrap().to_owned();
    let service: String = app
        .db
        .query_one("SELECT id::text FROM services WHERE slug = 'ghost'", &[])
        .await
        .unwrap()
        .get(0);
    let category: String = app
        .db
        .query_one("SELECT id::text FROM categories WHERE slug = 'cms'", &[])
        .await
        .unwrap()
        .get(0);

    for (path, method, body) in [
        (format!("plans/{plan}"), "DELETE", json!({})),
        (format!("plans/{plan}"), "PUT", json!({"isActive": false})),
        (format!("services/{service}"), "DELETE", json!({})),
        (
            format!("services/{service}"),
            "PUT",
            json!({"isActive": false}),
        ),
        (format!("categories/{category}"), "DELETE", json!({})),
    ] {
        let refused = write(&app, &admin, method, &path, body).await;
        assert_eq!(
            (refused.status, refused.error_code()),
            (409, "IN_USE"),
            "{method} {path}"
        );
        assert_eq!(refused.body["error"]["details"]["liveSubscriptions"], 1);
    }
    let cancel = app
        .post_as(
            &format!("/api/admin/subscriptions/{sub_id}/cancel"),
            &admin.access_token,
            json!({}),
        )
        .await;
    assert_eq!(cancel.status, 200);
    assert_eq!(
        write(&app, &admin, "DELETE", &format!("plans/{plan}"), json!({}))
            .await
            .status,
        200
    );
    let public = app.get("/api/catalog/services/ghost").await;
    assert!(
        public.data()["plans"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["name"] != "Creator"),
        "deleted plans are hidden"
    );
    assert_eq!(
        write(&app, &admin, "GET", &format!("plans/{plan}"), json!({}))
            .await
            .status,
        404
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_price_applies_from_the_next_period_only() {
    let app = TestApp::spawn().await;
    let admin = app.admin("root@example.com").await;
    let user = app.register("budi@example.com").await;
    app.fund(&user, 200_000).await;
    let plan = app.plan_id("n8n", "Basic").await;
    let sub = app.subscribe(&user, &plan).await;
    let sub_id = sub.data()["id"].as_str().unwrap().to_owned();

    let raised = write(
        &app,
        &admin,
        "PUT",
        &format!("plans/{plan}"),
        json!({"priceMonthly": 60_000}),
    )
    .await;
    assert_eq!(raised.data()["priceMonthly"], 60_000);
    let snake: Vec<&String> = raised
        .data()
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| k.contains('_'))
        .collect();
    assert!(snake.is_empty(), "camelCase like every route: {snake:?}");
    let detail = app
        .get_as(
            &format!("/api/user/services/subscriptions/{sub_id}"),
            &user.access_token,
        )
        .await;
    assert_eq!(
        detail.data()["priceMonthly"],
        50_000,
        "the current period keeps its price"
    );

    let end: chrono::NaiveDateTime = app
        .db
        .query_one(
            "SELECT period_end FROM subscriptions WHERE id = $1::text::uuid",
            &[&sub_id],
        )
        .await
        .unwrap()
        .get(0);
    app.pass_until(end.and_utc() + Duration::hours(1)).await;
    app.run_job("renewals").await;
    let charged: i64 = app
        .db
        .query_one(
            "SELECT amount FROM ledger_transfers WHERE kind = 'RENEWAL'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(charged, 60_000, "the next period pays the new price");
    assert_eq!(app.balance(&user.id).await, 200_000 - 50_000 - 60_000);
    let admin = app.login(&admin.email, spincat_tests::PASSWORD).await;
    let log = app
        .get_as(
            &format!("/api/admin/audit?targetId={plan}"),
            &admin.access_token,
        )
        .await;
    assert_eq!(log.data()["items"][0]["before"]["priceMonthly"], 50_000);
    assert_eq!(log.data()["items"][0]["after"]["priceMonthly"], 60_000);
    app.assert_ledger_sound().await;
}

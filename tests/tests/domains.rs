//! Host names are owned: a custom domain reaches an Ingress only after its owner published the
//! challenge as a TXT record, belongs to one live instance at most, and never is a name the
//! platform keeps. The database decides before the cluster hears of it.

use serde_json::{json, Value};
use spincat_tests::{dns, kube, Options, TestApp, TestResponse, TestUser};

struct Tenant {
    user: TestUser,
    instance: String,
    namespace: String,
    resource: String,
}

async fn tenant(app: &TestApp, email: &str) -> Tenant {
    let user = app.register(email).await;
    app.fund(&user, 100_000).await;
    let plan = app.plan_id("ghost", "Creator").await;
    let created = app.subscribe(&user, &plan).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let instance = created.data()["instance"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    Tenant {
        namespace: format!("spincat-u-{}", user.id.replace('-', "")),
        resource: format!("i-{}", instance.replace('-', "")),
        user,
        instance,
    }
}

async fn set_domain(app: &TestApp, tenant: &Tenant, domain: Value) -> TestResponse {
    app.send(
        app.http
            .put(app.url(&format!("/api/user/services/instances/{}", tenant.instance)))
            .bearer_auth(&tenant.user.access_token)
            .json(&json!({ "customDomain": domain })),
    )
    .await
}

async fn verify(app: &TestApp, tenant: &Tenant) -> TestResponse {
    app.post_as(
        &format!(
            "/api/user/services/instances/{}/domain/verify",
            tenant.instance
        ),
        &tenant.user.access_token,
        json!({}),
    )
    .await
}

/// One value of the tenant's instance row, as `expression` over its columns computes it.
async fn stored<T>(app: &TestApp, tenant: &Tenant, expression: &str) -> T
where
    T: for<'a> tokio_postgres::types::FromSql<'a>,
{
    app.db
        .query_one(
            &format!("SELECT {expression} FROM instances WHERE id = $1::text::uuid"),
            &[&tenant.instance],
        )
        .await
        .unwrap()
        .get(0)
}

/// Publishes the TXT record the answer asks for.
fn publish(app: &TestApp, answer: &TestResponse) {
    let record = &answer.data()["customDomain"]["verification"];
    app.dns.publish_txt(
        record["name"].as_str().unwrap(),
        record["value"].as_str().unwrap(),
    );
}

/// The host names the tenant's Ingress routes.
fn ingress_hosts(app: &TestApp, tenant: &Tenant) -> Vec<String> {
    app.kube
        .object("ingresses", &tenant.namespace, &tenant.resource)
        .expect("the instance's Ingress")["spec"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["host"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_domain_is_attached_only_once_its_owner_proves_control() {
    let app = TestApp::spawn().await;
    let ana = tenant(&app, "ana@example.com").await;
    let default_hosts = ingress_hosts(&app, &ana);

    let requested = set_domain(&app, &ana, json!("Blog.Example.com")).await;
    assert_eq!(requested.status, 200, "{:?}", requested.body);
    let domain = &requested.data()["customDomain"];
    assert_eq!(domain["name"], "blog.example.com");
    assert_eq!(domain["status"], "PENDING_VERIFICATION");
    assert_eq!(
        domain["verification"]["name"],
        "_spincat-challenge.blog.example.com"
    );
    assert_eq!(domain["verification"]["type"], "TXT");
    assert!(domain["verification"]["value"]
        .as_str()
        .unwrap()
        .starts_with("spincat-verify="));
    assert_eq!(ingress_hosts(&app, &ana), default_hosts, "not before proof");
    assert_eq!(requested.data()["urls"].as_array().unwrap().len(), 1);

    // Nothing published yet: refused with what to publish, and nothing changes.
    let early = verify(&app, &ana).await;
    assert_eq!(
        (early.status, early.error_code()),
        (422, "DOMAIN_NOT_VERIFIED"),
        "{:?}",
        early.body
    );
    assert_eq!(
        early.body["error"]["details"]["expected"],
        domain["verification"]
    );
    // A record with another token proves nothing either.
    app.dns.publish_txt(
        "_spincat-challenge.blog.example.com",
        "spincat-verify=someone-elses-token",
    );
    assert_eq!(verify(&app, &ana).await.status, 422);
    assert_eq!(ingress_hosts(&app, &ana), default_hosts);

    publish(&app, &requested);
    let verified = verify(&app, &ana).await;
    assert_eq!(verified.status, 200, "{:?}", verified.body);
    assert_eq!(verified.data()["customDomain"]["status"], "VERIFIED");
    assert!(verified.data()["customDomain"]["verification"].is_null());
    assert_eq!(
        verified.data()["urls"][1],
        "https://blog.example.com",
        "{:?}",
        verified.body
    );
    assert_eq!(
        ingress_hosts(&app, &ana),
        [default_hosts[0].as_str(), "blog.example.com"]
    );
    assert_eq!(
        verify(&app, &ana).await.status,
        200,
        "verifying again is harmless"
    );

    // Cleared: the database first, then the Ingress drops it.
    let cleared = set_domain(&app, &ana, Value::Null).await;
    assert_eq!(cleared.status, 200);
    assert!(cleared.data()["customDomain"].is_null());
    assert_eq!(ingress_hosts(&app, &ana), default_hosts);
    let after = verify(&app, &ana).await;
    assert_eq!(
        (after.status, after.error_code()),
        (422, "NO_CUSTOM_DOMAIN")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_domain_belongs_to_one_live_instance_and_the_first_to_prove_it_wins() {
    let app = TestApp::spawn().await;
    let (ana, budi) = (
        tenant(&app, "ana@example.com").await,
        tenant(&app, "budi@example.com").await,
    );
    // Both may ask while neither has proved anything: asking reserves nothing.
    let ana_asks = set_domain(&app, &ana, json!("shop.example.com")).await;
    let budi_asks = set_domain(&app, &budi, json!("SHOP.example.com")).await;
    assert_eq!((ana_asks.status, budi_asks.status), (200, 200));
    // Budi controls the zone too (both records are there); Ana proves it first.
    publish(&app, &ana_asks);
    publish(&app, &budi_asks);
    assert_eq!(verify(&app, &ana).await.status, 200);
    let late = verify(&app, &budi).await;
    assert_eq!(
        (late.status, late.error_code()),
        (409, "DOMAIN_TAKEN"),
        "{:?}",
        late.body
    );
    assert!(!ingress_hosts(&app, &budi).contains(&"shop.example.com".to_owned()));
    let asked_again = set_domain(&app, &budi, json!("shop.example.com")).await;
    assert_eq!(asked_again.error_code(), "DOMAIN_TAKEN");

    // Once Ana's instance is gone the name is free, and Budi's published record takes it at
    // the next run.
    let subscription: String = stored(&app, &ana, "subscription_id::text").await;
    assert_eq!(app.cancel(&ana.user, &subscription, true).await.status, 200);
    let run = app.run_job("reconcile").await;
    assert_eq!(run.data()["instances"]["tornDown"], 1, "{:?}", run.body);
    assert_eq!(run.data()["customDomains"]["verified"], 1, "{:?}", run.body);
    assert!(ingress_hosts(&app, &budi).contains(&"shop.example.com".to_owned()));
    let detail = set_domain(&app, &budi, json!("shop.example.com")).await;
    assert_eq!(
        detail.data()["customDomain"]["status"],
        "VERIFIED",
        "unchanged by asking again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_platforms_own_names_cannot_be_taken() {
    let app = TestApp::spawn_with(
        Options::default().variable("platform_domains", "api.spincat-console.test"),
    )
    .await;
    let (ana, budi) = (
        tenant(&app, "ana@example.com").await,
        tenant(&app, "budi@example.com").await,
    );
    let budis_host: String = stored(&app, &budi, "subdomain || '.apps.spincat.test'").await;
    for taken in [
        budis_host.as_str(),
        "apps.spincat.test",
        "anything.apps.spincat.test",
        "api.spincat.test",
        "www.spincat.test",
        "api.spincat-console.test",
        "eu.api.spincat-console.test",
    ] {
        let refused = set_domain(&app, &ana, json!(taken)).await;
        assert_eq!(
            (refused.status, refused.error_code()),
            (422, "DOMAIN_RESERVED"),
            "{taken}: {:?}",
            refused.body
        );
        assert_eq!(refused.body["error"]["details"]["field"], "customDomain");
    }
    let nothing: Option<String> = stored(&app, &ana, "custom_domain").await;
    assert_eq!(nothing, None, "a refusal changes nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reconcile_job_attaches_a_domain_once_its_record_appears() {
    let app = TestApp::spawn().await;
    let ana = tenant(&app, "ana@example.com").await;
    let requested = set_domain(&app, &ana, json!("later.example.com")).await;
    let run = app.run_job("reconcile").await;
    assert_eq!(run.data()["customDomains"]["verified"], 0);
    publish(&app, &requested);
    let run = app.run_job("reconcile").await;
    assert_eq!(run.data()["customDomains"]["verified"], 1, "{:?}", run.body);
    assert!(ingress_hosts(&app, &ana).contains(&"later.example.com".to_owned()));
    assert!(app
        .dns
        .queries()
        .iter()
        .all(|q| q == "_spincat-challenge.later.example.com"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_half_way_leave_no_ingress_carrying_a_domain_the_database_does_not() {
    let app = TestApp::spawn().await;
    let ana = tenant(&app, "ana@example.com").await;
    let default_hosts = ingress_hosts(&app, &ana);
    let requested = set_domain(&app, &ana, json!("flaky.example.com")).await;
    publish(&app, &requested);

    // The resolver is down: 502, nothing recorded.
    app.dns.fail_next(dns::Fault::Status(503));
    let down = verify(&app, &ana).await;
    assert_eq!(
        (down.status, down.error_code()),
        (502, "DNS_RESOLVER_ERROR")
    );
    let verified: bool = stored(&app, &ana, "domain_verified_at IS NOT NULL").await;
    assert!(!verified);

    // Proved, but the API server refuses the Ingress: recorded, and the next run applies it.
    app.kube.fail_next(kube::Fault::Status(500));
    assert_eq!(verify(&app, &ana).await.status, 502);
    assert_eq!(ingress_hosts(&app, &ana), default_hosts);
    app.run_job("reconcile").await;
    assert!(ingress_hosts(&app, &ana).contains(&"flaky.example.com".to_owned()));

    // Cleared while the API server refuses: the database lets go at once, the next run takes it
    // off the Ingress.
    app.kube.fail_next(kube::Fault::Status(500));
    let cleared = set_domain(&app, &ana, Value::Null).await;
    assert_eq!(cleared.status, 502, "{:?}", cleared.body);
    let kept: Option<String> = stored(&app, &ana, "custom_domain").await;
    assert_eq!(kept, None);
    app.run_job("reconcile").await;
    assert_eq!(ingress_hosts(&app, &ana), default_hosts);
}

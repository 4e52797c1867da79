//! Apps that hand their owner account to the first visitor (n8n, Ghost) are closed until their
//! owner claims them: their Ingress asks for basic-auth credentials only the owner sees. A real
//! nginx, configured from that Ingress as ingress-nginx would, refuses an anonymous setup request.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde_json::{json, Value};
use spincat_tests::ingress::Nginx;
use spincat_tests::{TestApp, TestUser};

/// n8n's first-visitor setup, as the app under the Ingress: whoever posts here becomes owner.
async fn n8n_double() -> (String, Arc<AtomicUsize>) {
    let owners = Arc::new(AtomicUsize::new(0));
    let counted = owners.clone();
    let app = axum::Router::new().route(
        "/rest/owner/setup",
        axum::routing::post(move || {
            let owners = counted.clone();
            async move {
                owners.fetch_add(1, Ordering::SeqCst);
                axum::Json(json!({"data": {"role": "global:owner"}}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (address, owners)
}

struct Deployed {
    user: TestUser,
    instance: String,
    namespace: String,
    resource: String,
    host: String,
}

async fn deploy(app: &TestApp, email: &str, service: &str, plan: &str) -> Deployed {
    let user = app.register(email).await;
    app.fund(&user, 100_000).await;
    let created = app
        .subscribe(&user, &app.plan_id(service, plan).await)
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let instance = created.data()["instance"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let host = format!(
        "{}.apps.spincat.test",
        created.data()["instance"]["subdomain"].as_str().unwrap()
    );
    Deployed {
        namespace: format!("spincat-u-{}", user.id.replace('-', "")),
        resource: format!("i-{}", instance.replace('-', "")),
        user,
        instance,
        host,
    }
}

impl Deployed {
    fn path(&self, action: &str) -> String {
        format!("/api/user/services/instances/{}{action}", self.instance)
    }

    /// nginx as ingress-nginx configures it from this instance's Ingress now.
    async fn ingress(&self, app: &TestApp, backend: &str) -> Nginx {
        let ingress = app
            .kube
            .object("ingresses", &self.namespace, &self.resource)
            .expect("the instance's Ingress");
        Nginx::serve(
            &ingress,
            |name| app.kube.object("secrets", &self.namespace, name),
            backend,
        )
        .await
    }
}

/// An owner-setup request to `host` through `nginx`, with basic-auth credentials or none.
async fn set_up_owner(nginx: &Nginx, host: &str, credentials: Option<(&str, &str)>) -> u16 {
    let mut request = reqwest::Client::new()
        .post(format!("{}/rest/owner/setup", nginx.url))
        .header("host", host)
        .json(&json!({"email": "me@example.com", "password": "Taken0ver!"}));
    if let Some((user, password)) = credentials {
        request = request.basic_auth(user, Some(password));
    }
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_app_answers_nobody_but_its_owner_until_claimed() {
    let app = TestApp::spawn().await;
    let (backend, owners) = n8n_double().await;
    let ana = deploy(&app, "ana@example.com", "n8n", "Basic").await;
    let detail = app.get_as(&ana.path(""), &ana.user.access_token).await;
    assert_eq!(detail.data()["gated"], true);
    let credentials = app
        .get_as(&ana.path("/credentials"), &ana.user.access_token)
        .await;
    assert_eq!(credentials.status, 200, "{:?}", credentials.body);
    let gate = credentials.data()["gate"].clone();
    assert_eq!(gate["username"], "owner");
    let password = gate["password"].as_str().unwrap().to_owned();
    assert_eq!(password.len(), 24);

    let nginx = ana.ingress(&app, &backend).await;
    assert_eq!(
        set_up_owner(&nginx, &ana.host, None).await,
        401,
        "anonymous"
    );
    assert_eq!(
        set_up_owner(&nginx, &ana.host, Some(("owner", "guess"))).await,
        401
    );
    assert_eq!(owners.load(Ordering::SeqCst), 0, "nobody reached the app");
    assert_eq!(
        set_up_owner(&nginx, &ana.host, Some(("owner", &password))).await,
        200,
        "the owner, with the gate's credentials"
    );
    assert_eq!(owners.load(Ordering::SeqCst), 1);
    drop(nginx);

    // Claimed: the gate opens and its credentials are gone.
    let claimed = app
        .post_as(&ana.path("/claim"), &ana.user.access_token, json!({}))
        .await;
    assert_eq!(claimed.status, 200, "{:?}", claimed.body);
    assert_eq!(claimed.data()["gated"], false);
    assert!(app
        .kube
        .object("secrets", &ana.namespace, &format!("{}-gate", ana.resource))
        .is_none());
    let credentials = app
        .get_as(&ana.path("/credentials"), &ana.user.access_token)
        .await;
    assert_eq!(credentials.data()["gate"], Value::Null);
    let nginx = ana.ingress(&app, &backend).await;
    assert_eq!(
        set_up_owner(&nginx, &ana.host, None).await,
        200,
        "public now"
    );
    let again = app
        .post_as(&ana.path("/claim"), &ana.user.access_token, json!({}))
        .await;
    assert_eq!(again.status, 200, "claiming again changes nothing");

    // Nobody else can claim it, or read its gate.
    let budi = app.register("budi@example.com").await;
    let theirs = app
        .post_as(&ana.path("/claim"), &budi.access_token, json!({}))
        .await;
    assert_eq!(theirs.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_apps_with_a_first_visitor_setup_start_behind_the_gate() {
    let app = TestApp::spawn().await;
    let ghost = deploy(&app, "ana@example.com", "ghost", "Creator").await;
    let ingress = app
        .kube
        .object("ingresses", &ghost.namespace, &ghost.resource)
        .unwrap();
    assert_eq!(
        ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/auth-type"],
        "basic"
    );
    let database = deploy(&app, "budi@example.com", "postgresql", "Basic DB").await;
    let detail = app
        .get_as(&database.path(""), &database.user.access_token)
        .await;
    assert_eq!(detail.data()["gated"], false, "its password is its gate");
    assert!(app
        .kube
        .object(
            "secrets",
            &database.namespace,
            &format!("{}-gate", database.resource)
        )
        .is_none());
}

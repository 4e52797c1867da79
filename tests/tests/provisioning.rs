//! Instances on Kubernetes, against the API server double: the journey from subscribe to
//! teardown, timeouts, outages, crashes between steps, and ownership.

use std::time::Duration;

use serde_json::{json, Value};
use spincat_tests::kube::Fault;
use spincat_tests::{TestApp, TestResponse, TestUser};

fn namespace_of(user: &TestUser) -> String {
    format!("spincat-u-{}", user.id.replace('-', ""))
}

fn resource_of(instance_id: &str) -> String {
    format!("i-{}", instance_id.replace('-', ""))
}

async fn subscribe(app: &TestApp, user: &TestUser, service: &str, plan: &str) -> TestResponse {
    let response = app.subscribe(user, &app.plan_id(service, plan).await).await;
    assert_eq!(response.status, 201, "{:?}", response.body);
    response
}

fn instance_path(id: &str, action: &str) -> String {
    format!("/api/user/services/instances/{id}{action}")
}

async fn act(app: &TestApp, user: &TestUser, id: &str, action: &str) -> TestResponse {
    app.post_as(&instance_path(id, action), &user.access_token, json!({}))
        .await
}

/// The instance's default host: its subdomain, which carries a random suffix, under the base
/// domain.
async fn host_of(app: &TestApp, id: &str) -> String {
    app.db
        .query_one(
            "SELECT subdomain || '.apps.spincat.test' FROM instances WHERE id = $1::text::uuid",
            &[&id],
        )
        .await
        .unwrap()
        .get(0)
}

async fn instance_status(app: &TestApp, id: &str) -> String {
    app.db
        .query_one(
            "SELECT status FROM instances WHERE id = $1::text::uuid",
            &[&id],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_runs_stops_starts_upgrades_and_cancels_down_to_nothing() {
    let app = TestApp::spawn().await;
    app.kube.set_rollout_delay(Some(Duration::from_millis(300)));
    let user = app.register("ana@example.com").await;
    app.fund(&user, 500_000).await;
    let created = subscribe(&app, &user, "n8n", "Basic").await;
    let subscription = created.data()["id"].as_str().unwrap().to_owned();
    let id = created.data()["instance"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(created.data()["instance"]["status"], "PROVISIONING");
    let (ns, name) = (namespace_of(&user), resource_of(&id));

    // Every object of the design, with the plan's sizes.
    let namespace = app
        .kube
        .object("namespaces", "", &ns)
        .expect("the user's namespace");
    assert_eq!(
        namespace["metadata"]["labels"]["spincat.dev/user-id"],
        user.id
    );
    let quota = app
        .kube
        .object("resourcequotas", &ns, "spincat-quota")
        .unwrap();
    assert_eq!(quota["spec"]["hard"]["limits.cpu"], "500m");
    assert_eq!(quota["spec"]["hard"]["limits.memory"], "512Mi");
    assert_eq!(quota["spec"]["hard"]["requests.storage"], "5Gi");
    assert!(app
        .kube
        .object("limitranges", &ns, "spincat-limits")
        .is_some());
    let policy = app
        .kube
        .object("networkpolicies", &ns, "spincat-ingress-only")
        .unwrap();
    assert_eq!(
        policy["spec"]["ingress"][0]["from"][0]["namespaceSelector"]["matchLabels"]
            ["kubernetes.io/metadata.name"],
        "ingress-nginx"
    );
    let secret = app
        .kube
        .object("secrets", &ns, &format!("{name}-credentials"))
        .unwrap();
    assert_eq!(
        secret["data"]["encryptionKey"].as_str().unwrap().len(),
        44,
        "32 characters, base64"
    );
    let deployment = app.kube.object("deployments", &ns, &name).unwrap();
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["image"], "docker.n8n.io/n8nio/n8n:1.80.0");
    assert_eq!(
        container["resources"]["limits"],
        json!({"cpu": "500m", "memory": "512Mi"})
    );
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        deployment["metadata"]["managedFields"][0]["manager"],
        "spincat"
    );
    assert_eq!(
        app.kube
            .object("persistentvolumeclaims", &ns, &name)
            .unwrap()["spec"]["resources"]["requests"]["storage"],
        "5Gi"
    );
    let ingress = app.kube.object("ingresses", &ns, &name).unwrap();
    let host = host_of(&app, &id).await;
    assert!(host.starts_with("n8n-"), "{host}");
    assert_eq!(ingress["spec"]["rules"][0]["host"], host.as_str());
    assert_eq!(
        ingress["metadata"]["annotations"]["cert-manager.io/cluster-issuer"],
        "letsencrypt"
    );
    let config = app.kube.object("configmaps", &ns, &name).unwrap();
    assert_eq!(config["data"]["WEBHOOK_URL"], format!("https://{host}/"));

    // Not available yet: the job leaves it provisioning; once it is, a read moves it on.
    let run = app.run_job("reconcile").await;
    assert_eq!(run.data()["instances"]["waiting"], 1, "{:?}", run.body);
    tokio::time::sleep(Duration::from_millis(350)).await;
    let detail = app
        .get_as(&instance_path(&id, ""), &user.access_token)
        .await;
    assert_eq!(detail.data()["status"], "RUNNING", "{:?}", detail.body);
    assert_eq!(detail.data()["urls"], json!([format!("https://{host}")]));
    assert_eq!(detail.data()["health"]["ready"], true);

    let stopped = act(&app, &user, &id, "/stop").await;
    assert_eq!(
        (stopped.status, stopped.data()["status"].clone()),
        (200, json!("STOPPED"))
    );
    assert_eq!(
        app.kube.object("deployments", &ns, &name).unwrap()["spec"]["replicas"],
        0
    );
    let again = act(&app, &user, &id, "/stop").await;
    assert_eq!(
        (again.status, again.error_code()),
        (409, "INVALID_INSTANCE_STATE")
    );
    assert_eq!(act(&app, &user, &id, "/restart").await.status, 409);
    assert_eq!(
        act(&app, &user, &id, "/start").await.data()["status"],
        "RUNNING"
    );
    assert_eq!(
        app.kube.object("deployments", &ns, &name).unwrap()["spec"]["replicas"],
        1
    );

    let restarted = act(&app, &user, &id, "/restart").await;
    assert_eq!(restarted.status, 200, "{:?}", restarted.body);
    let annotations = &app.kube.object("deployments", &ns, &name).unwrap()["spec"]["template"]
        ["metadata"]["annotations"];
    assert!(annotations["spincat.dev/restarted-at"].is_string());

    let logs = app
        .get_as(
            &format!("{}?lines=5", instance_path(&id, "/logs")),
            &user.access_token,
        )
        .await;
    assert_eq!(logs.data()["lines"].as_array().unwrap().len(), 5);

    let pro = app.plan_id("n8n", "Pro").await;
    let upgraded = app.upgrade(&user, &subscription, &pro).await;
    assert_eq!(upgraded.status, 200, "{:?}", upgraded.body);
    let resized = app.kube.object("deployments", &ns, &name).unwrap();
    assert_eq!(
        resized["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"],
        "1024Mi"
    );
    assert_eq!(
        app.kube
            .object("resourcequotas", &ns, "spincat-quota")
            .unwrap()["spec"]["hard"]["limits.cpu"],
        "1000m"
    );

    let cancelled = app.cancel(&user, &subscription, true).await;
    assert_eq!(cancelled.status, 200);
    let run = app.run_job("reconcile").await;
    assert_eq!(run.data()["instances"]["tornDown"], 1, "{:?}", run.body);
    assert_eq!(instance_status(&app, &id).await, "TERMINATED");
    assert!(
        app.kube.object("namespaces", "", &ns).is_none(),
        "the last instance takes the namespace with it"
    );
    assert_eq!(app.kube.object_count(), 0);
    app.assert_ledger_sound().await;
    app.assert_quota_consistent().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tcp_database_gets_a_service_of_the_configured_type_and_credentials_from_its_secret() {
    let app = TestApp::spawn().await;
    let user = app.register("budi@example.com").await;
    app.fund(&user, 100_000).await;
    let created = subscribe(&app, &user, "postgresql", "Basic DB").await;
    let id = created.data()["instance"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (ns, name) = (namespace_of(&user), resource_of(&id));
    assert_eq!(instance_status(&app, &id).await, "RUNNING");

    assert!(
        app.kube.object("ingresses", &ns, &name).is_none(),
        "TCP apps get no Ingress"
    );
    let service = app.kube.object("services", &ns, &name).unwrap();
    assert_eq!(service["spec"]["type"], "LoadBalancer");
    assert_eq!(service["spec"]["ports"][0]["port"], 5432);
    let set = app.kube.object("statefulsets", &ns, &name).unwrap();
    let env = set["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .unwrap()
        .clone();
    assert!(env
        .iter()
        .any(|e| e["name"] == "POSTGRES_PASSWORD" && e["value"] == "$(SPINCAT_SECRET_PASSWORD)"));
    assert!(app
        .kube
        .object("networkpolicies", &ns, &format!("{name}-tcp"))
        .is_some());

    let credentials = app
        .get_as(&instance_path(&id, "/credentials"), &user.access_token)
        .await;
    assert_eq!(credentials.status, 200, "{:?}", credentials.body);
    let password = credentials.data()["credentials"]["password"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(password.len(), 24);
    assert_eq!(credentials.data()["port"], 5432);
    assert_eq!(
        credentials.data()["host"],
        host_of(&app, &id).await.as_str()
    );

    // The credential lives only in the cluster: nothing in our database holds it.
    let dump = app
        .db
        .query_one(
            "SELECT (SELECT string_agg(t::text, '') FROM instances t) || (SELECT string_agg(t::text, '') FROM subscriptions t)",
            &[],
        )
        .await
        .unwrap();
    assert!(!dump.get::<_, String>(0).contains(&password));

    // Applying again keeps the credentials it generated the first time.
    app.db
        .execute("UPDATE instances SET apply_pending = true", &[])
        .await
        .unwrap();
    app.run_job("reconcile").await;
    let again = app
        .get_as(&instance_path(&id, "/credentials"), &user.access_token)
        .await;
    assert_eq!(again.data()["credentials"]["password"], password.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_that_never_becomes_available_is_rolled_back_and_refunded() {
    let app = TestApp::spawn().await;
    if !spincat_tests::spin::enabled() {
        // Stopped, so the second of margin below does not depend on how busy the machine is.
        app.clock.set(app.clock_now());
    }
    app.kube.set_rollout_delay(None);
    let user = app.register("citra@example.com").await;
    app.fund(&user, 100_000).await;
    let created = subscribe(&app, &user, "ghost", "Creator").await;
    let id = created.data()["instance"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let subscription = created.data()["id"].as_str().unwrap().to_owned();
    assert_eq!(app.balance(&user.id).await, 25_000);

    app.pass(chrono::Duration::seconds(298)).await;
    let user = app.login(&user.email, spincat_tests::PASSWORD).await;
    app.run_job("reconcile").await;
    assert_eq!(instance_status(&app, &id).await, "PROVISIONING");

    app.pass(chrono::Duration::seconds(3)).await;
    let run = app.run_job("reconcile").await;
    assert_eq!(run.data()["instances"]["failed"], 1, "{:?}", run.body);
    assert_eq!(instance_status(&app, &id).await, "ERROR");
    assert_eq!(
        app.balance(&user.id).await,
        100_000,
        "nothing is charged for an app that never ran"
    );
    let detail = app
        .get_as(
            &format!("/api/user/services/subscriptions/{subscription}"),
            &user.access_token,
        )
        .await;
    assert_eq!(detail.data()["status"], "CANCELLED");
    assert_eq!(app.kube.object_count(), 0, "its resources are gone");
    let error = app
        .get_as(&instance_path(&id, ""), &user.access_token)
        .await;
    assert!(error.data()["health"]["lastError"]
        .as_str()
        .unwrap()
        .contains("300 seconds"));

    // Running the job again changes nothing.
    app.run_job("reconcile").await;
    assert_eq!(app.balance(&user.id).await, 100_000);
    app.assert_ledger_sound().await;
    app.assert_quota_consistent().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_down_during_subscribe_is_finished_by_the_reconcile_job() {
    let app = TestApp::spawn().await;
    let user = app.register("dewi@example.com").await;
    app.fund(&user, 100_000).await;
    app.kube.set_down(true);
    let created = subscribe(&app, &user, "n8n", "Basic").await;
    let id = created.data()["instance"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(created.data()["instance"]["status"], "PENDING");
    let run = app.run_job("reconcile").await;
    assert_eq!(run.data()["instances"]["errors"], 1);
    assert_eq!(instance_status(&app, &id).await, "PENDING");
    let stop = act(&app, &user, &id, "/stop").await;
    assert_eq!(stop.status, 409, "a pending instance cannot be stopped");

    app.kube.set_down(false);
    let run = app.run_job("reconcile").await;
    assert_eq!(run.data()["instances"]["running"], 1, "{:?}", run.body);
    assert_eq!(instance_status(&app, &id).await, "RUNNING");
    assert_eq!(app.balance(&user.id).await, 50_000);
    app.assert_ledger_sound().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_between_any_two_steps_is_finished_by_the_next_run_without_duplicates() {
    let app = TestApp::spawn().await;
    // A clean deploy, to count its calls and record what it leaves behind.
    let reference = app.register("reference@example.com").await;
    app.fund(&reference, 100_000).await;
    let before = app.kube.request_count();
    subscribe(&app, &reference, "ghost", "Creator").await;
    let steps = app.kube.request_count() - before;
    let expected: Vec<String> = app
        .kube
        .requests()
        .iter()
        .skip(before)
        .filter(|(method, _)| method == "PATCH")
        .map(|(_, path)| path.split('/').rev().nth(1).unwrap().to_owned())
        .collect();
    assert!(steps >= 10, "{steps} calls");

    for crash_at in 0..steps {
        let user = app.register(&format!("crash{crash_at}@example.com")).await;
        app.fund(&user, 100_000).await;
        app.kube.fail_after(crash_at, 500);
        let created = subscribe(&app, &user, "ghost", "Creator").await;
        let id = created.data()["instance"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let ns = namespace_of(&user);
        let secret_name = format!("{}-credentials", resource_of(&id));
        let first_secret = app
            .kube
            .object("secrets", &ns, &secret_name)
            .map(|s| s["data"].clone());
        assert_ne!(
            instance_status(&app, &id).await,
            "RUNNING",
            "the failure at call {crash_at} interrupted it"
        );

        app.run_job("reconcile").await;
        assert_eq!(
            instance_status(&app, &id).await,
            "RUNNING",
            "crash at call {crash_at}"
        );
        let kinds: Vec<String> = [
            "configmaps",
            "persistentvolumeclaims",
            "statefulsets",
            "services",
            "ingresses",
            "secrets",
            "resourcequotas",
            "limitranges",
            "networkpolicies",
            "rolebindings",
        ]
        .iter()
        .flat_map(|plural| {
            app.kube
                .names(plural, Some(&ns))
                .into_iter()
                .map(move |_| plural.to_string())
        })
        .collect();
        assert_eq!(
            kinds.len(),
            expected.len() - 1,
            "crash at {crash_at}: {kinds:?} vs {expected:?}"
        );
        if let Some(data) = first_secret {
            assert_eq!(
                app.kube.object("secrets", &ns, &secret_name).unwrap()["data"],
                data,
                "credentials made once"
            );
        }
    }
    let subscriptions = app.count("SELECT count(*) FROM subscriptions").await;
    assert_eq!(
        app.count("SELECT count(*) FROM instances").await,
        subscriptions
    );
    assert_eq!(
        app.count("SELECT count(*) FROM instances WHERE status <> 'RUNNING'")
            .await,
        0
    );
    app.assert_ledger_sound().await;
    app.assert_quota_consistent().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_can_be_renamed_given_a_domain_and_allowed_variables() {
    let app = TestApp::spawn().await;
    let user = app.register("eka@example.com").await;
    app.fund(&user, 100_000).await;
    let created = subscribe(&app, &user, "ghost", "Creator").await;
    let id = created.data()["instance"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (ns, name) = (namespace_of(&user), resource_of(&id));
    let put = |body: Value| {
        app.send(
            app.http
                .put(app.url(&instance_path(&id, "")))
                .bearer_auth(&user.access_token)
                .json(&body),
        )
    };
    let digest = |app: &TestApp| {
        app.kube.object("statefulsets", &ns, &name).unwrap()["spec"]["template"]["metadata"]
            ["annotations"]["spincat.dev/env-digest"]
            .clone()
    };
    let before = digest(&app);

    let updated = put(json!({"name": "Team Blog", "customDomain": "Blog.Example.com", "env": {"mail__from": "hi@example.com"}})).await;
    assert_eq!(updated.status, 200, "{:?}", updated.body);
    assert_eq!(updated.data()["name"], "Team Blog");
    assert_eq!(updated.data()["customDomain"]["name"], "blog.example.com");
    assert_eq!(
        updated.data()["customDomain"]["status"],
        "PENDING_VERIFICATION"
    );
    let record = updated.data()["customDomain"]["verification"].clone();
    app.dns.publish_txt(
        record["name"].as_str().unwrap(),
        record["value"].as_str().unwrap(),
    );
    let verified = act(&app, &user, &id, "/domain/verify").await;
    assert_eq!(verified.status, 200, "{:?}", verified.body);
    let ingress = app.kube.object("ingresses", &ns, &name).unwrap();
    assert_eq!(ingress["spec"]["rules"][1]["host"], "blog.example.com");
    assert_eq!(
        ingress["spec"]["tls"][0]["hosts"],
        json!([host_of(&app, &id).await, "blog.example.com"])
    );
    assert_eq!(
        app.kube.object("configmaps", &ns, &name).unwrap()["data"]["mail__from"],
        "hi@example.com"
    );
    assert_ne!(
        digest(&app),
        before,
        "a changed environment restarts the pods"
    );

    let refused = put(json!({"env": {"NODE_ENV": "development"}})).await;
    assert_eq!(refused.invalid_fields(), ["env"]);
    let bad_domain = put(json!({"customDomain": "not a domain"})).await;
    assert_eq!(bad_domain.invalid_fields(), ["customDomain"]);
    let cleared = put(json!({"customDomain": null})).await;
    assert_eq!(cleared.data()["customDomain"], Value::Null);
    assert_eq!(
        app.kube.object("ingresses", &ns, &name).unwrap()["spec"]["rules"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // The cluster refuses: nothing changes in the database either.
    app.kube.fail_next(Fault::Status(500));
    let failed = put(json!({"name": "Renamed"})).await;
    assert_eq!((failed.status, failed.error_code()), (502, "CLUSTER_ERROR"));
    assert!(
        !failed.body.to_string().contains("injected failure"),
        "the API server's own words stay in the log: {:?}",
        failed.body
    );
    let detail = app
        .get_as(&instance_path(&id, ""), &user.access_token)
        .await;
    assert_eq!(detail.data()["name"], "Team Blog");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_users_instance_is_404_on_every_route() {
    let app = TestApp::spawn().await;
    let owner = app.register("fina@example.com").await;
    let other = app.register("gani@example.com").await;
    app.fund(&owner, 100_000).await;
    let id = subscribe(&app, &owner, "n8n", "Basic").await.data()["instance"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (method, action) in [
        ("GET", ""),
        ("GET", "/logs"),
        ("GET", "/credentials"),
        ("POST", "/stop"),
        ("POST", "/start"),
        ("POST", "/restart"),
        ("PUT", ""),
    ] {
        let request = app
            .http
            .request(
                method.parse().unwrap(),
                app.url(&instance_path(&id, action)),
            )
            .bearer_auth(&other.access_token)
            .json(&json!({"name": "mine now"}));
        let response = app.send(request).await;
        assert_eq!(
            (response.status, response.error_code()),
            (404, "INSTANCE_NOT_FOUND"),
            "{method} {action}"
        );
    }
    let theirs = app
        .get_as("/api/user/services/instances", &other.access_token)
        .await;
    assert_eq!(theirs.data()["pagination"]["total"], 0);
    let mine = app
        .get_as(
            "/api/user/services/instances?status=RUNNING&service=n8n",
            &owner.access_token,
        )
        .await;
    assert_eq!(mine.data()["pagination"]["total"], 1);
    assert_eq!(app.get(&instance_path(&id, "")).await.status, 401);
    assert_eq!(instance_status(&app, &id).await, "RUNNING");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn administrators_see_the_cluster_and_users_do_not() {
    let app = TestApp::spawn().await;
    let user = app.register("hani@example.com").await;
    let admin = app.admin("root@example.com").await;
    app.fund(&user, 100_000).await;
    let id = subscribe(&app, &user, "n8n", "Basic").await.data()["instance"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ns = namespace_of(&user);
    let view = |path: String| {
        let token = admin.access_token.clone();
        let app = &app;
        async move { app.get_as(&path, &token).await }
    };
    let nodes = view("/api/admin/k8s/nodes".into()).await;
    assert_eq!(nodes.status, 200, "{:?}", nodes.body);
    assert_eq!(nodes.data()["items"][0]["ready"], true);
    let namespaces = view("/api/admin/k8s/namespaces".into()).await;
    assert_eq!(namespaces.data()["items"][0]["userId"], user.id);
    let pods = view(format!("/api/admin/k8s/pods?namespace={ns}")).await;
    let pod = pods.data()["items"][0]["name"].as_str().unwrap().to_owned();
    assert!(pod.starts_with(&resource_of(&id)));
    assert_eq!(pods.data()["items"][0]["phase"], "Running");
    assert_eq!(
        view("/api/admin/k8s/deployments".into()).await.data()["items"][0]["ready"],
        1
    );
    assert_eq!(
        view("/api/admin/k8s/services".into()).await.data()["items"][0]["type"],
        "ClusterIP"
    );
    assert_eq!(
        view("/api/admin/k8s/ingresses".into()).await.data()["items"][0]["hosts"][0],
        host_of(&app, &id).await.as_str()
    );
    let logs = view(format!("/api/admin/k8s/pods/{ns}/{pod}/logs?lines=3")).await;
    assert_eq!(logs.data()["lines"].as_array().unwrap().len(), 3);
    assert_eq!(
        view(format!("/api/admin/k8s/pods/{ns}/nope/logs"))
            .await
            .status,
        404
    );
    assert_eq!(
        view("/api/admin/k8s/secrets".into()).await.status,
        404,
        "no view of secrets"
    );
    assert_eq!(
        app.get_as("/api/admin/k8s/nodes", &user.access_token)
            .await
            .status,
        403
    );
    app.kube.set_down(true);
    let down = view("/api/admin/k8s/nodes".into()).await;
    assert_eq!((down.status, down.error_code()), (502, "CLUSTER_ERROR"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_cut_off_half_way_is_finished_by_the_reconcile_job() {
    let mut app = TestApp::spawn().await;
    let user = app.register("ida@example.com").await;
    app.fund(&user, 500_000).await;
    let created = subscribe(&app, &user, "n8n", "Basic").await;
    let subscription = created.data()["id"].as_str().unwrap().to_owned();
    let pro = app.plan_id("n8n", "Pro").await;

    // The resize stalls at the API server and the client gives up: the host drops the request
    // between the upgrade's two phases, as a crashed replica would.
    app.kube.fail_next(Fault::Delay(Duration::from_millis(700)));
    let cut_off = app
        .http
        .put(app.url(&format!(
            "/api/user/services/subscriptions/{subscription}/upgrade"
        )))
        .bearer_auth(&user.access_token)
        .json(&json!({ "newPlanId": pro }))
        .timeout(Duration::from_millis(150))
        .send()
        .await;
    assert!(cut_off.is_err(), "the client gave up");
    app.crash().await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let status: String = app
        .db
        .query_one(
            "SELECT status FROM subscriptions WHERE id = $1::text::uuid",
            &[&subscription],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        status, "PENDING_UPGRADE",
        "left half-way, holding both quota slots"
    );
    app.assert_quota_consistent().await;

    let early = app.run_job("reconcile").await;
    assert_eq!(
        early.data()["upgradesResumed"],
        0,
        "a live upgrade is left alone"
    );
    app.pass(chrono::Duration::minutes(3)).await;
    let run = app.run_job("reconcile").await;
    assert_eq!(run.data()["upgradesResumed"], 1, "{:?}", run.body);
    let user = app.login(&user.email, spincat_tests::PASSWORD).await;
    let detail = app
        .get_as(
            &format!("/api/user/services/subscriptions/{subscription}"),
            &user.access_token,
        )
        .await;
    assert_eq!(
        (
            detail.data()["status"].as_str(),
            detail.data()["plan"]["name"].as_str()
        ),
        (Some("ACTIVE"), Some("Pro"))
    );
    let charged = app
        .count(&format!("SELECT count(*) FROM ledger_transfers WHERE reference = '{subscription}' AND kind = 'UPGRADE'"))
        .await;
    assert_eq!(charged, 1, "charged once");
    app.assert_quota_consistent().await;
    app.assert_ledger_sound().await;
}

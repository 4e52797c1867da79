//! `deploy/`, what a cluster operator applies, checked against the app it deploys: every object
//! is valid for its kind, the SpinApp gives spin.toml what it needs with secrets only from
//! Secrets, the scheduled jobs reach real job routes, and the provisioner's role allows exactly
//! what provisioning does against the API server double enforcing it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::LazyLock;

use k8s_openapi::api::admissionregistration::v1::{
    ValidatingAdmissionPolicy, ValidatingAdmissionPolicyBinding,
};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{EnvVar, Namespace, Secret, ServiceAccount};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use spincat_host::manifest::Manifest;
use spincat_tests::crd;
use spincat_tests::kube::Access;
use spincat_tests::{TestApp, JOB_TOKEN};

const NAMESPACE: &str = "spincat";

fn deploy_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

fn yaml_files() -> BTreeSet<String> {
    std::fs::read_dir(deploy_dir())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".yaml"))
        .collect()
}

fn documents(file: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(deploy_dir().join(file)).unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .map(|doc| Value::deserialize(doc).unwrap_or_else(|e| panic!("{file}: {e}")))
        .filter(|doc| !doc.is_null())
        .collect()
}

/// Every Kubernetes object in deploy/, the Secret example included, read once.
fn objects() -> &'static [Value] {
    static OBJECTS: LazyLock<Vec<Value>> = LazyLock::new(|| {
        yaml_files()
            .iter()
            .filter(|file| *file != "kustomization.yaml")
            .flat_map(|file| documents(file))
            .collect()
    });
    &OBJECTS
}

fn object(kind: &str, name: &str) -> Value {
    objects()
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("deploy/ has no {kind} {name}"))
}

/// A list of strings in a manifest, as a set.
fn names(list: &Value) -> BTreeSet<String> {
    serde_json::from_value(list.clone()).unwrap_or_else(|e| panic!("{list}: {e}"))
}

/// The part of Spin's runtime config deploy/ uses.
#[derive(Deserialize)]
struct RuntimeConfig {
    client_tls: Vec<ClientTls>,
}

#[derive(Deserialize)]
struct ClientTls {
    component_ids: BTreeSet<String>,
    hosts: Vec<String>,
    ca_use_webpki_roots: bool,
    ca_roots_file: PathBuf,
}

fn typed<T: DeserializeOwned>(object: &Value) -> T {
    serde_json::from_value(object.clone())
        .unwrap_or_else(|e| panic!("{} {}: {e}", object["kind"], object["metadata"]["name"]))
}

/// `object` is a valid `K` down to its last field: it deserializes, and nothing is lost on the
/// way back (k8s-openapi drops fields its type does not have, as the API server's strict field
/// validation refuses them).
fn valid<K: DeserializeOwned + serde::Serialize>(object: &Value) {
    let back = serde_json::to_value(typed::<K>(object)).unwrap();
    assert_eq!(
        &back, object,
        "{} {}: a field its type does not have, or a value of the wrong shape",
        object["kind"], object["metadata"]["name"]
    );
}

fn spin_app() -> Value {
    object("SpinApp", "spincat")
}

/// The SpinApp's binding of one variable.
fn binding(name: &str) -> Option<Value> {
    spin_app()["spec"]["variables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == name)
        .cloned()
}

/// The value a variable has on the cluster: the SpinApp's, else spin.toml's default.
fn setting(name: &str) -> String {
    match binding(name) {
        Some(bound) => bound["value"].as_str().unwrap().to_owned(),
        None => Manifest::bundled().variables[name].default.clone().unwrap(),
    }
}

/// The value a Secret of deploy/ would hold under `key`.
fn secret_value(name: &str, key: &str) -> Option<String> {
    let secret: Secret = typed(&object("Secret", name));
    if secret.type_.as_deref() == Some("kubernetes.io/service-account-token") {
        // The token controller fills in the token of the annotated ServiceAccount.
        let account =
            &secret.metadata.annotations.unwrap_or_default()["kubernetes.io/service-account.name"];
        // ... and that ServiceAccount is in deploy/ too (`object` panics otherwise).
        object("ServiceAccount", account);
        return (key == "token").then(|| "a token".into());
    }
    secret.string_data.unwrap_or_default().get(key).cloned()
}

/// Every access one RBAC rule allows.
fn grants(rule: &PolicyRule) -> Vec<Access> {
    let mut all = Vec::new();
    for group in rule.api_groups.iter().flatten() {
        for resource in rule.resources.iter().flatten() {
            for verb in &rule.verbs {
                all.push(Access {
                    group: group.clone(),
                    resource: resource.clone(),
                    verb: verb.clone(),
                });
            }
        }
    }
    all
}

fn secret_ref(env: &[EnvVar], name: &str) -> Value {
    let var = env
        .iter()
        .find(|e| e.name == name)
        .unwrap_or_else(|| panic!("no {name}"));
    serde_json::to_value(&var.value_from.as_ref().unwrap().secret_key_ref).unwrap()
}

/// The CRD of `kind` from the minimum Spin operator release (tests/fixtures, with its source).
fn spin_operator_crd(kind: &str) -> Value {
    let file = format!(
        "{}/fixtures/spin-operator-v0.6.1/core.spinkube.dev_{}s.yaml",
        env!("CARGO_MANIFEST_DIR"),
        kind.to_ascii_lowercase()
    );
    let crd: Value = serde_yaml::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(crd["spec"]["names"]["kind"], kind);
    crd
}

#[test]
fn every_manifest_is_a_valid_object_of_its_kind_and_kustomize_applies_them_all() {
    for object in objects().iter().cloned() {
        let (kind, name) = (
            object["kind"].as_str().unwrap(),
            &object["metadata"]["name"],
        );
        let cluster_scoped = matches!(
            kind,
            "Namespace"
                | "ClusterRole"
                | "ClusterRoleBinding"
                | "ValidatingAdmissionPolicy"
                | "ValidatingAdmissionPolicyBinding"
        );
        assert_eq!(
            object["metadata"]["namespace"].as_str(),
            (!cluster_scoped).then_some(NAMESPACE),
            "{kind} {name}"
        );
        match kind {
            "Namespace" => valid::<Namespace>(&object),
            "ServiceAccount" => valid::<ServiceAccount>(&object),
            "Secret" => valid::<Secret>(&object),
            "ClusterRole" => valid::<ClusterRole>(&object),
            "ClusterRoleBinding" => valid::<ClusterRoleBinding>(&object),
            "ValidatingAdmissionPolicy" => valid::<ValidatingAdmissionPolicy>(&object),
            "ValidatingAdmissionPolicyBinding" => {
                valid::<ValidatingAdmissionPolicyBinding>(&object)
            }
            "Job" => valid::<Job>(&object),
            "CronJob" => valid::<CronJob>(&object),
            "Ingress" => valid::<Ingress>(&object),
            "SpinApp" | "SpinAppExecutor" => {
                let (group, version) = object["apiVersion"]
                    .as_str()
                    .unwrap()
                    .split_once('/')
                    .unwrap();
                assert_eq!(group, "core.spinkube.dev");
                let crd = spin_operator_crd(kind);
                let violations = crd::violations(crd::schema(&crd, version), &object);
                assert!(violations.is_empty(), "{kind} {name}: {violations:#?}");
            }
            other => panic!("{other} {name}: not a kind this test knows"),
        }
    }
    // The example Secret is filled in and applied by hand; everything else by `kubectl apply -k`.
    let listed = names(&documents("kustomization.yaml")[0]["resources"]);
    let mut expected = yaml_files();
    expected.remove("kustomization.yaml");
    expected.remove("secrets.example.yaml");
    assert_eq!(listed, expected);
}

#[test]
fn the_spin_app_binds_what_spin_toml_needs_and_secrets_only_from_secrets() {
    let manifest = Manifest::bundled();
    let bound: Vec<Value> = spin_app()["spec"]["variables"].as_array().unwrap().clone();
    let names: BTreeSet<&str> = bound.iter().map(|v| v["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), bound.len(), "a variable bound twice");
    for name in &names {
        assert!(
            manifest.variables.contains_key(*name),
            "{name} is not in spin.toml"
        );
    }
    for (name, variable) in &manifest.variables {
        if variable.required {
            assert!(names.contains(name.as_str()), "required {name} is unbound");
        }
        if variable.secret {
            let bound = binding(name).unwrap_or_else(|| panic!("secret {name} is unbound"));
            assert!(bound.get("value").is_none(), "{name} inline");
            let reference = &bound["valueFrom"]["secretKeyRef"];
            let (secret, key) = (
                reference["name"].as_str().unwrap(),
                reference["key"].as_str().unwrap(),
            );
            assert!(
                secret_value(secret, key).is_some(),
                "{name}: Secret {secret} has no {key}"
            );
        }
    }
    // Spin lets the components reach the database that database_url names, and no other.
    let url = secret_value("spincat", "database_url").unwrap();
    let authority = url.split('@').nth(1).unwrap().split('/').next().unwrap();
    assert_eq!(setting("database_host"), authority);
}

#[test]
fn the_spin_app_runs_every_http_component_and_trusts_the_cluster_ca_where_it_calls_it() {
    let manifest = Manifest::bundled();
    let app = spin_app();
    let components = names(&app["spec"]["components"]);
    let http: BTreeSet<String> = manifest
        .routes
        .iter()
        .map(|r| r.component.clone())
        .collect();
    assert_eq!(components, http, "the shim runs HTTP components only");

    let config_secret = app["spec"]["runtimeConfig"]["loadFromSecret"]
        .as_str()
        .unwrap();
    let config: RuntimeConfig =
        toml::from_str(&secret_value(config_secret, "runtime-config.toml").unwrap()).unwrap();
    let [tls] = config.client_tls.as_slice() else {
        panic!("one client_tls entry, for the API server");
    };
    let calling_the_cluster: BTreeSet<String> = components
        .iter()
        .filter(|c| {
            manifest.components[*c]
                .allowed_outbound_hosts
                .iter()
                .any(|h| h == "{{ k8s_api_url }}")
        })
        .cloned()
        .collect();
    assert_eq!(tls.component_ids, calling_the_cluster);
    let api_host = setting("k8s_api_url")
        .strip_prefix("https://")
        .unwrap()
        .to_owned();
    assert_eq!(
        tls.hosts,
        vec![api_host],
        "Spin takes host names, without a port"
    );
    assert!(
        !tls.ca_use_webpki_roots,
        "the cluster's CA, not public roots"
    );

    // The CA file is the cluster's own, from the ConfigMap every namespace has.
    let ca_file = &tls.ca_roots_file;
    let mount = app["spec"]["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| ca_file.parent() == Some(m["mountPath"].as_str().unwrap().as_ref()))
        .expect("the CA file is on a mounted volume")
        .clone();
    let volume = app["spec"]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == mount["name"])
        .unwrap()
        .clone();
    assert_eq!(volume["configMap"]["name"], "kube-root-ca.crt");
    assert_eq!(ca_file.file_name().unwrap(), "ca.crt");
}

/// The runtime config every SpinApp pod starts with, and the README's example, as the file
/// `spin up --runtime-config-file` reads, with the CA file at a path this machine has.
fn runnable_runtime_configs() -> Vec<(&'static str, String)> {
    let deployed = secret_value(
        spin_app()["spec"]["runtimeConfig"]["loadFromSecret"]
            .as_str()
            .unwrap(),
        "runtime-config.toml",
    )
    .unwrap();
    let readme = std::fs::read_to_string(deploy_dir().join("../README.md")).unwrap();
    let example = readme
        .split("```toml\n")
        .skip(1)
        .filter_map(|block| block.split("```").next())
        .find(|block| block.contains("[[client_tls]]"))
        .expect("the README shows the client_tls runtime config")
        .to_owned();
    [
        ("deploy/runtime-config.yaml", deployed),
        ("README.md", example),
    ]
    .into_iter()
    .map(|(source, text)| {
        let mut config: toml::Table = text.parse().unwrap();
        for tls in config["client_tls"].as_array_mut().unwrap() {
            tls.as_table_mut().unwrap().insert(
                "ca_roots_file".into(),
                "/etc/ssl/certs/ca-certificates.crt".into(),
            );
        }
        (source, toml::to_string(&config).unwrap())
    })
    .collect()
}

/// Spin checks its runtime config when it starts, and a SpinApp pod whose config it refuses
/// never serves: each runtime config is given to a real `spin up`, which must answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spin_starts_with_the_runtime_config_deploy_and_the_readme_give_it() {
    if !spincat_tests::spin::enabled() {
        println!(
            "SKIPPED: a runtime config is read by Spin only: this runs under scripts/test-spin"
        );
        return;
    }
    for (source, config) in runnable_runtime_configs() {
        let options = spincat_tests::Options {
            runtime_config: Some(config),
            ..Default::default()
        };
        let app = TestApp::spawn_with(options).await;
        let health = app.get("/api/health").await;
        assert_eq!(health.status, 200, "{source}: {:?}", health.body);
    }
}

/// The schema check refuses what the API server would: a misspelt field, a wrong type, a
/// missing required field.
#[test]
fn the_crd_check_refuses_what_the_api_server_would() {
    let crd = spin_operator_crd("SpinApp");
    let schema = crd::schema(&crd, "v1alpha1");
    let mut app = spin_app();
    app["spec"]["replica"] = json!(2);
    app["spec"]["replicas"] = json!("two");
    app["spec"].as_object_mut().unwrap().remove("image");
    let mut found = crd::violations(schema, &app);
    found.sort();
    assert_eq!(
        found,
        [
            ".spec.image: is required",
            ".spec.replica: unknown field",
            ".spec.replicas: must be an integer, not \"two\"",
        ]
    );
}

/// The operator's admission webhook looks the executor up in the SpinApp's namespace.
#[test]
fn the_spin_apps_executor_is_deployed_beside_it() {
    let app = spin_app();
    let executor = object("SpinAppExecutor", app["spec"]["executor"].as_str().unwrap());
    assert_eq!(
        executor["metadata"]["namespace"],
        app["metadata"]["namespace"]
    );
    assert_eq!(executor["spec"]["createDeployment"], true);
    assert_eq!(
        executor["spec"]["deploymentConfig"]["runtimeClassName"],
        "wasmtime-spin-v2"
    );
}

/// `runAsNonRoot` with an image whose USER is a name (curlimages/curl's `curl_user`) makes the
/// kubelet refuse to start the container: it can verify only a numeric user.
#[test]
fn every_pod_runs_as_a_numeric_non_root_user() {
    let pods: Vec<(String, Value)> = objects()
        .iter()
        .filter_map(|o| {
            let pod = match o["kind"].as_str()? {
                "Job" => &o["spec"]["template"]["spec"],
                "CronJob" => &o["spec"]["jobTemplate"]["spec"]["template"]["spec"],
                _ => return None,
            };
            Some((o["metadata"]["name"].as_str()?.to_owned(), pod.clone()))
        })
        .collect();
    assert!(pods.len() >= 4, "the migrate Job and three CronJobs");
    for (name, pod) in pods {
        for container in pod["containers"].as_array().unwrap() {
            let setting = |key: &str| {
                let own = &container["securityContext"][key];
                if own.is_null() {
                    pod["securityContext"][key].clone()
                } else {
                    own.clone()
                }
            };
            assert_eq!(setting("runAsNonRoot"), true, "{name}");
            let user = setting("runAsUser").as_u64();
            assert!(
                user.is_some_and(|uid| uid > 0),
                "{name}: runAsUser must be a non-zero number, is {:?}",
                setting("runAsUser")
            );
        }
    }
}

/// The official Midtrans clients confirm every notification with the status API; so do we,
/// unless an operator turns it off.
#[test]
fn notifications_are_confirmed_by_default() {
    let manifest = Manifest::bundled();
    assert_eq!(
        manifest.variables["midtrans_verify_status"]
            .default
            .as_deref(),
        Some("true")
    );
    assert_eq!(setting("midtrans_verify_status"), "true");
}

#[test]
fn the_public_ingress_serves_only_the_api_from_the_spin_apps_service() {
    let ingress: Ingress = typed(&object("Ingress", "spincat"));
    let spec = ingress.spec.unwrap();
    let rules = spec.rules.unwrap();
    let hosts: Vec<String> = rules.iter().filter_map(|r| r.host.clone()).collect();
    assert_eq!(
        spec.tls.unwrap()[0].hosts.as_ref(),
        Some(&hosts),
        "TLS for every host"
    );
    for path in rules
        .iter()
        .flat_map(|r| r.http.as_ref().unwrap().paths.clone())
    {
        assert_eq!(
            path.path.as_deref(),
            Some("/api"),
            "/internal stays private"
        );
        assert_eq!(path.path_type, "Prefix");
        let service = path.backend.service.unwrap();
        // SpinKube serves a SpinApp through a Service of its name on port 80.
        assert_eq!(service.name, "spincat");
        assert_eq!(service.port.unwrap().number, Some(80));
    }
    // The Midtrans notification URL the app sends is this Ingress.
    let notify = setting("midtrans_notification_url");
    assert_eq!(
        notify,
        format!("https://{}/api/webhooks/midtrans/notification", hosts[0])
    );
}

#[test]
fn the_migrate_job_migrates_the_database_the_app_uses() {
    let job: Job = typed(&object("Job", "spincat-migrate"));
    let container = &job.spec.unwrap().template.spec.unwrap().containers[0];
    assert_eq!(container.args, Some(vec!["migrate".to_owned()]));
    assert_eq!(
        secret_ref(
            container.env.as_ref().unwrap(),
            "SPIN_VARIABLE_DATABASE_URL"
        ),
        binding("database_url").unwrap()["valueFrom"]["secretKeyRef"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cron_jobs_run_every_job_through_the_service_with_the_job_token() {
    let app = TestApp::spawn().await;
    let service = format!("http://spincat.{NAMESPACE}.svc.cluster.local");
    let mut scheduled = BTreeSet::new();
    for object in objects().iter().filter(|o| o["kind"] == "CronJob") {
        let cron: CronJob = typed(object);
        let job = cron.spec.job_template.spec.unwrap();
        let container = &job.template.spec.unwrap().containers[0];
        assert_eq!(
            secret_ref(container.env.as_ref().unwrap(), "JOB_TOKEN"),
            binding("job_token").unwrap()["valueFrom"]["secretKeyRef"]
        );
        let script = container.command.as_ref().unwrap().join(" ");
        assert!(
            script.contains("-X POST -H \"Authorization: Bearer $JOB_TOKEN\""),
            "{script}"
        );
        let url = script
            .split_whitespace()
            .find(|word| word.starts_with("http"))
            .unwrap();
        let path = url
            .strip_prefix(&service)
            .unwrap_or_else(|| panic!("{url}"));
        let run = app
            .send(app.http.post(app.url(path)).bearer_auth(JOB_TOKEN))
            .await;
        assert_eq!(run.status, 200, "{path}: {:?}", run.body);
        scheduled.insert(path.to_owned());
    }
    assert_eq!(
        scheduled,
        BTreeSet::from(
            ["reconcile", "renewals", "notifications"].map(|j| format!("/internal/jobs/{j}"))
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_provisioners_role_allows_what_provisioning_does_and_nothing_more() {
    let role: ClusterRole = typed(&object("ClusterRole", "spincat-provisioner"));
    let binding: ClusterRoleBinding = typed(&object("ClusterRoleBinding", "spincat-provisioner"));
    assert_eq!(binding.role_ref.name, "spincat-provisioner");
    let subject = &binding.subjects.unwrap()[0];
    assert_eq!(
        (subject.kind.as_str(), subject.name.as_str()),
        ("ServiceAccount", "spincat-provisioner")
    );
    let rules = role.rules.unwrap();
    let tenant: ClusterRole = typed(&object("ClusterRole", "spincat-tenant-secrets"));
    let tenant_rules = tenant.rules.unwrap();
    let bind = rules
        .iter()
        .find(|r| r.verbs == ["bind"])
        .expect("the provisioner may bind its Secrets role");
    assert_eq!(
        bind.resource_names.as_deref(),
        Some(&["spincat-tenant-secrets".to_owned()][..]),
        "and no other role"
    );
    assert!(
        rules
            .iter()
            .all(|r| !r.resources.iter().flatten().any(|x| x == "secrets")),
        "Secrets are not granted cluster-wide"
    );
    let app = TestApp::spawn().await;
    app.kube.authorize_with(
        rules.clone(),
        BTreeMap::from([("spincat-tenant-secrets".to_owned(), tenant_rules.clone())]),
    );

    // Everything the app does to the cluster: both workload kinds, every instance action, an
    // upgrade, the admin views, and teardown down to the namespace.
    let user = app.register("sari@example.com").await;
    let admin = app.admin("root@example.com").await;
    app.fund(&user, 1_000_000).await;
    let mut instances = BTreeMap::new();
    for (service, plan) in [("n8n", "Basic"), ("postgresql", "Basic DB")] {
        let created = app
            .subscribe(&user, &app.plan_id(service, plan).await)
            .await;
        assert_eq!(created.status, 201, "{:?}", created.body);
        instances.insert(service, created.data().clone());
    }
    app.run_job("reconcile").await;
    let n8n = instances["n8n"]["instance"]["id"].as_str().unwrap();
    let database = instances["postgresql"]["instance"]["id"].as_str().unwrap();
    let instance = |id: &str, action: &str| format!("/api/user/services/instances/{id}{action}");
    let detail = app.get_as(&instance(n8n, ""), &user.access_token).await;
    assert_eq!(detail.data()["status"], "RUNNING", "{:?}", detail.body);
    for (id, action) in [
        (n8n, "/stop"),
        (n8n, "/start"),
        (n8n, "/restart"),
        (database, "/stop"),
        (database, "/start"),
    ] {
        let acted = app
            .post_as(&instance(id, action), &user.access_token, json!({}))
            .await;
        assert_eq!(acted.status, 200, "{action}: {:?}", acted.body);
    }
    for path in [
        instance(n8n, "/logs?lines=5"),
        instance(database, "/credentials"),
    ] {
        let read = app.get_as(&path, &user.access_token).await;
        assert_eq!(read.status, 200, "{path}: {:?}", read.body);
    }
    let pro = app.plan_id("n8n", "Pro").await;
    let subscription = instances["n8n"]["id"].as_str().unwrap();
    let upgraded = app.upgrade(&user, subscription, &pro).await;
    assert_eq!(upgraded.status, 200, "{:?}", upgraded.body);
    let namespace = format!("spincat-u-{}", user.id.replace('-', ""));
    for view in [
        "nodes",
        "namespaces",
        "pods",
        "deployments",
        "services",
        "ingresses",
    ] {
        let read = app
            .get_as(&format!("/api/admin/k8s/{view}"), &admin.access_token)
            .await;
        assert_eq!(read.status, 200, "{view}: {:?}", read.body);
    }
    let pods = app
        .get_as(
            &format!("/api/admin/k8s/pods?namespace={namespace}"),
            &admin.access_token,
        )
        .await;
    let pod = pods.data()["items"][0]["name"].as_str().unwrap();
    let logs = app
        .get_as(
            &format!("/api/admin/k8s/pods/{namespace}/{pod}/logs?lines=3"),
            &admin.access_token,
        )
        .await;
    assert_eq!(logs.status, 200, "{:?}", logs.body);
    for created in instances.values() {
        let cancelled = app
            .cancel(&user, created["id"].as_str().unwrap(), true)
            .await;
        assert_eq!(cancelled.status, 200, "{:?}", cancelled.body);
    }
    let run = app.run_job("reconcile").await;
    assert_eq!(run.data()["instances"]["tornDown"], 2, "{:?}", run.body);
    assert_eq!(app.kube.object_count(), 0, "everything is gone");

    // Secrets outside Spincat's namespaces stay out of reach, in its own namespaces they are not.
    let api = reqwest::Client::new();
    let read = |namespace: &str| {
        api.get(format!(
            "{}/api/v1/namespaces/{namespace}/secrets/credentials",
            app.kube.url
        ))
        .bearer_auth(spincat_tests::kube::TOKEN)
        .send()
    };
    let kube_system = read("kube-system").await.unwrap();
    assert_eq!(kube_system.status(), 403);
    let body: Value = kube_system.json().await.unwrap();
    assert_eq!(body["reason"], "Forbidden");
    let other = app.register("tono@example.com").await;
    app.fund(&other, 1_000_000).await;
    let created = app
        .subscribe(&other, &app.plan_id("postgresql", "Basic DB").await)
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let own = format!("spincat-u-{}", other.id.replace('-', ""));
    assert_eq!(
        read(&own).await.unwrap().status(),
        404,
        "allowed, and absent"
    );

    let used = app.kube.accesses();
    let granted: BTreeSet<Access> = rules.iter().chain(&tenant_rules).flat_map(grants).collect();
    let refused: Vec<&Access> = used.difference(&granted).collect();
    assert!(refused.is_empty(), "the role lacks {refused:?}");
    let unused: Vec<&Access> = granted.difference(&used).collect();
    assert!(
        unused.is_empty(),
        "the role grants more than is used: {unused:?}"
    );
}

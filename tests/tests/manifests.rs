//! The rendered manifests of the three seeded apps, compared with reviewed snapshots in
//! tests/snapshots (`UPDATE_SNAPSHOTS=1` rewrites them after a deliberate change), and each one
//! read back into its k8s-openapi type.

use std::collections::BTreeMap;
use std::path::PathBuf;

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{
    ConfigMap, LimitRange, Namespace, PersistentVolumeClaim, ResourceQuota, Secret, Service,
};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use spincat::catalog::DeploymentTemplate;
use spincat::kube::ClusterSettings;
use spincat::provisioning::render::{self, InstanceSpec, PlanResources};
use spincat_tests::TestApp;
use uuid::Uuid;

fn cluster() -> ClusterSettings {
    ClusterSettings {
        api_url: "https://kubernetes.default.svc".into(),
        token: String::new(),
        base_domain: "apps.spincat.io".into(),
        ingress_class: "nginx".into(),
        cluster_issuer: "letsencrypt-prod".into(),
        storage_class: Some("standard".into()),
        tcp_service_type: "LoadBalancer".into(),
        ingress_namespace: "ingress-nginx".into(),
        provision_timeout_seconds: 300,
        request_timeout: std::time::Duration::from_secs(10),
    }
}

fn round_trip<K: Serialize + DeserializeOwned>(object: &Value) {
    let typed: K = serde_json::from_value(object.clone()).unwrap_or_else(|e| {
        panic!(
            "{} is not a valid {}: {e}",
            object["metadata"]["name"],
            std::any::type_name::<K>()
        )
    });
    assert_eq!(&serde_json::to_value(typed).unwrap(), object, "lossless");
}

fn check_type(object: &Value) {
    match object["kind"].as_str().unwrap() {
        "Namespace" => round_trip::<Namespace>(object),
        "ResourceQuota" => round_trip::<ResourceQuota>(object),
        "LimitRange" => round_trip::<LimitRange>(object),
        "NetworkPolicy" => round_trip::<NetworkPolicy>(object),
        "Secret" => round_trip::<Secret>(object),
        "ConfigMap" => round_trip::<ConfigMap>(object),
        "PersistentVolumeClaim" => round_trip::<PersistentVolumeClaim>(object),
        "Deployment" => round_trip::<Deployment>(object),
        "StatefulSet" => round_trip::<StatefulSet>(object),
        "Service" => round_trip::<Service>(object),
        "Ingress" => round_trip::<Ingress>(object),
        "RoleBinding" => round_trip::<k8s_openapi::api::rbac::v1::RoleBinding>(object),
        other => panic!("unexpected kind {other}"),
    }
}

fn json<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeded_apps_render_the_reviewed_manifests() {
    let app = TestApp::spawn().await;
    let rows = app
        .db
        .query(
            "SELECT s.slug, s.template::text, p.cpu_millicores, p.memory_mib, p.storage_gib
             FROM services s JOIN LATERAL (
                 SELECT * FROM plans WHERE service_id = s.id ORDER BY price_monthly DESC LIMIT 1
             ) p ON true ORDER BY s.slug",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 3);
    let cluster = cluster();
    let user_id = Uuid::from_u128(0x1111_2222_3333_4444_5555_6666_7777_8888);
    for (n, row) in rows.iter().enumerate() {
        let slug: String = row.get(0);
        let template: DeploymentTemplate = serde_json::from_str(&row.get::<_, String>(1)).unwrap();
        let resources = PlanResources {
            cpu_millicores: row.get::<_, i32>(2).into(),
            memory_mib: row.get::<_, i32>(3).into(),
            storage_gib: row.get::<_, i32>(4).into(),
        };
        let instance_id = Uuid::from_u128(0xaaaa_0000_0000_0000_0000_0000_0000_0000 + n as u128);
        let spec = InstanceSpec {
            instance_id,
            user_id,
            app: slug.clone(),
            namespace: spincat::kube::names::namespace(user_id),
            name: spincat::kube::names::resource(instance_id),
            subdomain: format!("my-{slug}"),
            custom_domain: (slug == "ghost").then(|| "blog.example.com".to_owned()),
            template: template.clone(),
            resources,
            user_env: BTreeMap::from([("TZ".to_owned(), "Asia/Jakarta".to_owned())]),
            replicas: 1,
            restarted_at: None,
            // As a new instance is: an app with a first-visitor setup starts behind its gate.
            gated: template.first_visitor_setup,
        };
        let namespace = render::user_namespace(user_id, &[resources], &cluster);
        let manifests = render::instance(&spec, &cluster);
        let secrets = template
            .secrets
            .iter()
            .map(|s| (s.name.clone(), format!("<{}>", s.name)))
            .collect();
        let mut objects = vec![
            json(&namespace.namespace),
            json(&namespace.secrets_access),
            json(&namespace.quota),
            json(&namespace.limits),
            json(&namespace.policy),
            json(&render::credentials(&spec, secrets)),
        ];
        if spec.gated {
            objects.push(json(&render::gate(
                &spec,
                "<password>",
                "<sha512-crypt hash>",
            )));
        }
        objects.extend([
            json(&manifests.config_map),
            json(&manifests.volume),
            json(&manifests.workload),
            json(&manifests.service),
        ]);
        objects.extend(manifests.ingress.iter().map(json));
        objects.extend(manifests.tcp_policy.iter().map(json));
        for object in &objects {
            check_type(object);
            let name = object["metadata"]["name"].as_str().unwrap();
            assert!(name.len() <= 63, "{name}");
        }

        let rendered = serde_json::to_string_pretty(&objects).unwrap() + "\n";
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("snapshots/{slug}.json"));
        if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
            std::fs::write(&path, &rendered).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
            panic!(
                "no snapshot {}: run with UPDATE_SNAPSHOTS=1 and review it",
                path.display()
            )
        });
        assert!(rendered == expected, "{slug}: manifests differ from {}; if intended, run with UPDATE_SNAPSHOTS=1 and review the diff", path.display());
    }
}

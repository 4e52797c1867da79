//! From (service template, plan, instance, user) to Kubernetes manifests. Pure: the same input
//! always renders the same objects, which is what makes every apply a safe retry.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::catalog::{DeploymentTemplate, HealthCheck, Protocol, WorkloadKind};
use crate::kube::kind;
use crate::kube::names::{self, ENV_DIGEST, RESTARTED_AT};
use crate::kube::{ClusterSettings, Manifest};

/// A plan's share of the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PlanResources {
    pub cpu_millicores: i64,
    pub memory_mib: i64,
    pub storage_gib: i64,
}

impl PlanResources {
    pub fn plus(self, other: PlanResources) -> PlanResources {
        PlanResources {
            cpu_millicores: self.cpu_millicores + other.cpu_millicores,
            memory_mib: self.memory_mib + other.memory_mib,
            storage_gib: self.storage_gib + other.storage_gib,
        }
    }
}

/// Everything one instance is rendered from.
#[derive(Debug, Clone)]
pub struct InstanceSpec {
    pub instance_id: Uuid,
    pub user_id: Uuid,
    pub app: String,
    pub namespace: String,
    pub name: String,
    pub subdomain: String,
    pub custom_domain: Option<String>,
    pub template: DeploymentTemplate,
    pub resources: PlanResources,
    /// Values the user set for the variables the template lets them set.
    pub user_env: BTreeMap<String, String>,
    pub replicas: i32,
    pub restarted_at: Option<DateTime<Utc>>,
    /// Behind the gate: an app with a first-visitor setup whose owner has not claimed it yet.
    pub gated: bool,
}

/// The per-instance objects, in the order they are applied.
#[derive(Debug, Clone)]
pub struct InstanceManifests {
    pub config_map: Manifest,
    pub volume: Manifest,
    /// A Deployment or a StatefulSet, as the template says.
    pub workload: Manifest,
    pub service: Manifest,
    pub ingress: Option<Manifest>,
    /// Admits outside TCP clients to a TCP app; HTTP apps are reached through the Ingress only.
    pub tcp_policy: Option<Manifest>,
}

pub fn host(spec: &InstanceSpec, cluster: &ClusterSettings) -> String {
    format!("{}.{}", spec.subdomain, cluster.base_domain)
}

pub fn public_url(spec: &InstanceSpec, cluster: &ClusterSettings) -> String {
    match spec.template.protocol {
        Protocol::Http => format!("https://{}", host(spec, cluster)),
        Protocol::Tcp => format!("{}:{}", host(spec, cluster), spec.template.port),
    }
}

fn meta(name: &str, namespace: &str, labels: &BTreeMap<String, String>) -> Value {
    json!({ "name": name, "namespace": namespace, "labels": labels })
}

/// Requests and limits alike: a container gets exactly its share.
fn resources(cpu_millicores: i64, memory_mib: i64) -> Value {
    let amounts =
        json!({ "cpu": format!("{cpu_millicores}m"), "memory": format!("{memory_mib}Mi") });
    json!({ "requests": amounts, "limits": amounts })
}

/// The secret environment variable holding a generated credential.
fn secret_env_name(secret: &str) -> String {
    let upper: String = secret
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("SPINCAT_SECRET_{upper}")
}

/// Fills `{{subdomain}}`, `{{host}}` and `{{publicUrl}}`, and turns `{{secret:name}}` into a
/// reference Kubernetes expands from the secret variable, so no credential is ever rendered.
fn fill(value: &str, spec: &InstanceSpec, cluster: &ClusterSettings) -> String {
    let mut out = value
        .replace("{{subdomain}}", &spec.subdomain)
        .replace("{{host}}", &host(spec, cluster))
        .replace("{{publicUrl}}", &public_url(spec, cluster));
    for secret in &spec.template.secrets {
        out = out.replace(
            &format!("{{{{secret:{}}}}}", secret.name),
            &format!("$({})", secret_env_name(&secret.name)),
        );
    }
    out
}

/// Environment of a container: credentials from the Secret first (so later values can refer to
/// them), then the template's values that refer to a credential; plain values come from the
/// ConfigMap.
fn secret_env(
    spec: &InstanceSpec,
    vars: &[crate::catalog::TemplateEnvVar],
    cluster: &ClusterSettings,
) -> Vec<Value> {
    let secret_name = names::secret(&spec.name);
    let mut env: Vec<Value> = spec
        .template
        .secrets
        .iter()
        .map(|s| {
            json!({
                "name": secret_env_name(&s.name),
                "valueFrom": {
                    "secretKeyRef": { "name": secret_name, "key": s.name, "optional": false },
                },
            })
        })
        .collect();
    env.extend(
        vars.iter()
            .filter(|v| v.value.contains("{{secret:"))
            .map(|v| plain_var(v, spec, cluster)),
    );
    env
}

fn plain_var(
    var: &crate::catalog::TemplateEnvVar,
    spec: &InstanceSpec,
    cluster: &ClusterSettings,
) -> Value {
    json!({ "name": var.name, "value": fill(&var.value, spec, cluster) })
}

/// The main container's plain variables, with the user's own on top.
fn plain_env(spec: &InstanceSpec, cluster: &ClusterSettings) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> = spec
        .template
        .env
        .iter()
        .filter(|v| !v.value.contains("{{secret:"))
        .map(|v| (v.name.clone(), fill(&v.value, spec, cluster)))
        .collect();
    for (name, value) in &spec.user_env {
        if spec.template.user_env.contains(name) {
            env.insert(name.clone(), value.clone());
        }
    }
    env
}

fn probe(check: &HealthCheck, port: u16, initial_delay: i32) -> Value {
    let mut probe = json!({
        "initialDelaySeconds": initial_delay,
        "periodSeconds": 10,
        "timeoutSeconds": 5,
        "failureThreshold": 6,
    });
    let (action, how) = match check {
        HealthCheck::Http { path } => ("httpGet", json!({ "path": path, "port": port })),
        HealthCheck::Exec { command } => ("exec", json!({ "command": command })),
        HealthCheck::Tcp => ("tcpSocket", json!({ "port": port })),
    };
    probe[action] = how;
    probe
}

fn container_security(run_as_user: Option<i64>) -> Value {
    json!({
        "allowPrivilegeEscalation": false,
        "runAsUser": run_as_user,
        "runAsNonRoot": run_as_user.map(|uid| uid != 0),
        "capabilities": { "drop": ["ALL"] },
    })
}

pub fn config_map(spec: &InstanceSpec, cluster: &ClusterSettings) -> Manifest {
    let labels = names::instance_labels(spec.user_id, spec.instance_id, &spec.app);
    Manifest::new(
        &kind::CONFIG_MAP,
        meta(&spec.name, &spec.namespace, &labels),
        json!({ "data": plain_env(spec, cluster) }),
    )
}

/// What the browser shows at the gate.
const GATE_REALM: &str = "Not claimed yet: sign in with the gate credentials Spincat shows you";

/// The gate's user name, the same for every instance.
pub const GATE_USER: &str = "owner";

/// The gate's basic-auth credentials, in the Secret ingress-nginx reads (`auth`, an htpasswd
/// line with a SHA-512 crypt hash) beside the password the credentials endpoint shows.
pub fn gate(spec: &InstanceSpec, password: &str, hash: &str) -> Manifest {
    let values = BTreeMap::from([
        ("auth".to_owned(), format!("{GATE_USER}:{hash}")),
        ("password".to_owned(), password.to_owned()),
    ]);
    secret(spec, &names::gate_secret(&spec.name), values)
}

/// The credentials Secret. Rendered with freshly generated values, and applied only while it
/// does not exist, so credentials are made once and live only in the cluster.
pub fn credentials(spec: &InstanceSpec, values: BTreeMap<String, String>) -> Manifest {
    secret(spec, &names::secret(&spec.name), values)
}

fn secret(spec: &InstanceSpec, name: &str, values: BTreeMap<String, String>) -> Manifest {
    let labels = names::instance_labels(spec.user_id, spec.instance_id, &spec.app);
    Manifest::new(
        &kind::SECRET,
        meta(name, &spec.namespace, &labels),
        json!({ "stringData": values, "type": "Opaque" }),
    )
}

fn volume_mount(mount_path: &str, sub_path: &str) -> Value {
    json!([{ "name": "data", "mountPath": mount_path, "subPath": sub_path }])
}

pub fn instance(spec: &InstanceSpec, cluster: &ClusterSettings) -> InstanceManifests {
    let labels = names::instance_labels(spec.user_id, spec.instance_id, &spec.app);
    let selector = json!({
        "matchLabels": { names::INSTANCE_LABEL: spec.instance_id.to_string() },
    });
    let template = &spec.template;
    let metadata = || meta(&spec.name, &spec.namespace, &labels);

    let volume = Manifest::new(
        &kind::PERSISTENT_VOLUME_CLAIM,
        metadata(),
        json!({
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": cluster.storage_class,
                "resources": {
                    "requests": { "storage": format!("{}Gi", spec.resources.storage_gib) },
                },
            },
        }),
    );

    // The pod gets the plan's resources; with companions, the app takes half and the
    // companions share the rest.
    let share = if template.companions.is_empty() { 1 } else { 2 };
    let app_cpu = spec.resources.cpu_millicores / share;
    let app_memory = spec.resources.memory_mib / share;
    let companions = template.companions.len().max(1) as i64;
    let companion_cpu = (spec.resources.cpu_millicores - app_cpu) / companions;
    let companion_memory = (spec.resources.memory_mib - app_memory) / companions;

    let mut containers = vec![json!({
        "name": "app",
        "image": template.image,
        "ports": [{ "containerPort": template.port, "name": "app" }],
        "env": secret_env(spec, &template.env, cluster),
        "envFrom": [{ "configMapRef": { "name": spec.name, "optional": false } }],
        "resources": resources(app_cpu, app_memory),
        "readinessProbe": probe(&template.health_check, template.port, 5),
        "livenessProbe": probe(&template.health_check, template.port, 60),
        "securityContext": container_security(template.run_as_user),
        "volumeMounts": volume_mount(&template.data_mount_path, "app"),
    })];
    for companion in &template.companions {
        let mut env = secret_env(spec, &companion.env, cluster);
        env.extend(
            companion
                .env
                .iter()
                .filter(|v| !v.value.contains("{{secret:"))
                .map(|v| plain_var(v, spec, cluster)),
        );
        containers.push(json!({
            "name": companion.name,
            "image": companion.image,
            "ports": companion.port.map(|port| json!([{ "containerPort": port }])),
            "env": env,
            "resources": resources(companion_cpu, companion_memory),
            "securityContext": container_security(companion.run_as_user),
            "volumeMounts": volume_mount(&companion.data_mount_path, &companion.name),
        }));
    }

    let mut annotations = BTreeMap::from([(ENV_DIGEST.to_owned(), env_digest(spec, cluster))]);
    if let Some(at) = spec.restarted_at {
        annotations.insert(
            RESTARTED_AT.to_owned(),
            at.to_rfc3339_opts(SecondsFormat::Secs, true),
        );
    }
    let pod = json!({
        "metadata": { "labels": labels, "annotations": annotations },
        "spec": {
            "containers": containers,
            "automountServiceAccountToken": false,
            "enableServiceLinks": false,
            "securityContext": {
                "fsGroup": template.fs_group,
                "seccompProfile": { "type": "RuntimeDefault" },
            },
            "volumes": [{
                "name": "data",
                "persistentVolumeClaim": { "claimName": spec.name, "readOnly": false },
            }],
        },
    });
    let workload = match template.workload {
        WorkloadKind::Deployment => Manifest::new(
            &kind::DEPLOYMENT,
            metadata(),
            json!({
                "spec": {
                    "replicas": spec.replicas,
                    "selector": selector,
                    // The volume is ReadWriteOnce: the old pod must let go before the new one
                    // starts.
                    "strategy": { "type": "Recreate" },
                    "template": pod,
                },
            }),
        ),
        WorkloadKind::StatefulSet => Manifest::new(
            &kind::STATEFUL_SET,
            metadata(),
            json!({
                "spec": {
                    "replicas": spec.replicas,
                    "selector": selector,
                    "serviceName": spec.name,
                    "template": pod,
                },
            }),
        ),
    };

    let service = Manifest::new(
        &kind::SERVICE,
        metadata(),
        json!({
            "spec": {
                "type": match template.protocol {
                    Protocol::Http => "ClusterIP",
                    Protocol::Tcp => &cluster.tcp_service_type,
                },
                "selector": selector["matchLabels"],
                "ports": [{
                    "name": "app",
                    "port": template.port,
                    "targetPort": template.port,
                    "protocol": "TCP",
                }],
            },
        }),
    );

    let ingress = (template.protocol == Protocol::Http).then(|| {
        let hosts: Vec<String> = std::iter::once(host(spec, cluster))
            .chain(spec.custom_domain.clone())
            .collect();
        let backend = json!({
            "service": { "name": spec.name, "port": { "number": template.port } },
        });
        let mut annotations = BTreeMap::from([(
            "cert-manager.io/cluster-issuer".to_owned(),
            cluster.cluster_issuer.clone(),
        )]);
        if spec.gated {
            annotations.extend(
                [
                    ("auth-type", "basic".to_owned()),
                    ("auth-secret", names::gate_secret(&spec.name)),
                    ("auth-realm", GATE_REALM.to_owned()),
                ]
                .map(|(key, value)| (format!("nginx.ingress.kubernetes.io/{key}"), value)),
            );
        }
        let mut metadata = metadata();
        metadata["annotations"] = json!(annotations);
        let rules: Vec<Value> = hosts
            .iter()
            .map(|host| {
                json!({
                    "host": host,
                    "http": {
                        "paths": [{ "path": "/", "pathType": "Prefix", "backend": backend }],
                    },
                })
            })
            .collect();
        Manifest::new(
            &kind::INGRESS,
            metadata,
            json!({
                "spec": {
                    "ingressClassName": cluster.ingress_class,
                    "tls": [{ "hosts": hosts, "secretName": names::tls_secret(&spec.name) }],
                    "rules": rules,
                },
            }),
        )
    });

    let tcp_policy = (template.protocol == Protocol::Tcp).then(|| {
        Manifest::new(
            &kind::NETWORK_POLICY,
            meta(&format!("{}-tcp", spec.name), &spec.namespace, &labels),
            json!({
                "spec": {
                    "podSelector": selector,
                    "policyTypes": ["Ingress"],
                    "ingress": [{
                        "from": [{ "ipBlock": { "cidr": "0.0.0.0/0" } }],
                        "ports": [{ "port": template.port, "protocol": "TCP" }],
                    }],
                },
            }),
        )
    });

    InstanceManifests {
        config_map: config_map(spec, cluster),
        volume,
        workload,
        service,
        ingress,
        tcp_policy,
    }
}

/// Changes when the environment changes, so the pods restart and read it.
fn env_digest(spec: &InstanceSpec, cluster: &ClusterSettings) -> String {
    let env = serde_json::to_string(&plain_env(spec, cluster)).unwrap_or_default();
    hex::encode(&Sha256::digest(env.as_bytes())[..8])
}

/// The objects every user namespace has: the namespace, the provisioner's access to its Secrets,
/// a quota equal to the sum of the user's plans, default container limits, and a policy that
/// admits only the ingress controller.
pub struct NamespaceManifests {
    pub namespace: Manifest,
    pub secrets_access: Manifest,
    pub quota: Manifest,
    pub limits: Manifest,
    pub policy: Manifest,
}

pub fn user_namespace(
    user_id: Uuid,
    plans: &[PlanResources],
    cluster: &ClusterSettings,
) -> NamespaceManifests {
    let name = names::namespace(user_id);
    let labels = names::namespace_labels(user_id);
    let total = plans
        .iter()
        .fold(PlanResources::default(), |a, b| a.plus(*b));
    let cpu = format!("{}m", total.cpu_millicores);
    let memory = format!("{}Mi", total.memory_mib);
    let defaults = json!({ "cpu": "100m", "memory": "128Mi" });
    NamespaceManifests {
        namespace: Manifest::new(
            &kind::NAMESPACE,
            json!({ "name": name, "labels": labels }),
            json!({}),
        ),
        secrets_access: Manifest::new(
            &kind::ROLE_BINDING,
            meta(names::PROVISIONER, &name, &labels),
            json!({
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": names::TENANT_SECRETS_ROLE,
                },
                "subjects": [{
                    "kind": "ServiceAccount",
                    "name": names::PROVISIONER,
                    "namespace": names::PLATFORM_NAMESPACE,
                }],
            }),
        ),
        quota: Manifest::new(
            &kind::RESOURCE_QUOTA,
            meta("spincat-quota", &name, &labels),
            json!({
                "spec": {
                    "hard": {
                        "requests.cpu": cpu,
                        "limits.cpu": cpu,
                        "requests.memory": memory,
                        "limits.memory": memory,
                        "requests.storage": format!("{}Gi", total.storage_gib),
                        "persistentvolumeclaims": plans.len().to_string(),
                    },
                },
            }),
        ),
        limits: Manifest::new(
            &kind::LIMIT_RANGE,
            meta("spincat-limits", &name, &labels),
            json!({
                "spec": {
                    "limits": [{
                        "type": "Container",
                        "default": defaults,
                        "defaultRequest": defaults,
                    }],
                },
            }),
        ),
        policy: Manifest::new(
            &kind::NETWORK_POLICY,
            meta("spincat-ingress-only", &name, &labels),
            json!({
                "spec": {
                    "podSelector": {},
                    "policyTypes": ["Ingress"],
                    "ingress": [{
                        "from": [{
                            "namespaceSelector": {
                                "matchLabels": {
                                    "kubernetes.io/metadata.name": cluster.ingress_namespace,
                                },
                            },
                        }],
                    }],
                },
            }),
        ),
    }
}

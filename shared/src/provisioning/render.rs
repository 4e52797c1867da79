//! From (service template, plan, instance, user) to Kubernetes manifests. Pure: the same input
//! always renders the same objects, which is what makes every apply a safe retry.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, StatefulSet, StatefulSetSpec,
};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMap, ConfigMapEnvSource, Container, ContainerPort, EnvFromSource, EnvVar,
    EnvVarSource, ExecAction, HTTPGetAction, LimitRange, LimitRangeItem, LimitRangeSpec, Namespace,
    PersistentVolumeClaim, PersistentVolumeClaimSpec, PersistentVolumeClaimVolumeSource,
    PodSecurityContext, PodSpec, PodTemplateSpec, Probe, ResourceQuota, ResourceQuotaSpec,
    ResourceRequirements, SeccompProfile, Secret, SecretKeySelector, SecurityContext, Service,
    ServicePort, ServiceSpec, TCPSocketAction, Volume, VolumeMount, VolumeResourceRequirements,
};
use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, IPBlock, Ingress, IngressBackend, IngressRule,
    IngressServiceBackend, IngressSpec, IngressTLS, NetworkPolicy, NetworkPolicyIngressRule,
    NetworkPolicyPeer, NetworkPolicyPort, NetworkPolicySpec, ServiceBackendPort,
};
use k8s_openapi::api::rbac::v1::{RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::catalog::{DeploymentTemplate, HealthCheck, Protocol, WorkloadKind};
use crate::kube::names::{self, ENV_DIGEST, RESTARTED_AT};
use crate::kube::ClusterSettings;

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
    pub config_map: ConfigMap,
    pub volume: PersistentVolumeClaim,
    pub workload: Workload,
    pub service: Service,
    pub ingress: Option<Ingress>,
    /// Admits outside TCP clients to a TCP app; HTTP apps are reached through the Ingress only.
    pub tcp_policy: Option<NetworkPolicy>,
}

#[derive(Debug, Clone)]
pub enum Workload {
    Deployment(Box<Deployment>),
    StatefulSet(Box<StatefulSet>),
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

fn meta(name: &str, namespace: &str, labels: &BTreeMap<String, String>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: Some(namespace.to_owned()),
        labels: Some(labels.clone()),
        ..Default::default()
    }
}

fn quantity(value: String) -> Quantity {
    Quantity(value)
}

fn resources(cpu_millicores: i64, memory_mib: i64) -> ResourceRequirements {
    let amounts = BTreeMap::from([
        ("cpu".to_owned(), quantity(format!("{cpu_millicores}m"))),
        ("memory".to_owned(), quantity(format!("{memory_mib}Mi"))),
    ]);
    ResourceRequirements {
        requests: Some(amounts.clone()),
        limits: Some(amounts),
        ..Default::default()
    }
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
) -> Vec<EnvVar> {
    let secret_name = names::secret(&spec.name);
    let mut env: Vec<EnvVar> = spec
        .template
        .secrets
        .iter()
        .map(|s| EnvVar {
            name: secret_env_name(&s.name),
            value_from: Some(EnvVarSource {
                secret_key_ref: Some(SecretKeySelector {
                    name: secret_name.clone(),
                    key: s.name.clone(),
                    optional: Some(false),
                }),
                ..Default::default()
            }),
            ..Default::default()
        })
        .collect();
    env.extend(
        vars.iter()
            .filter(|v| v.value.contains("{{secret:"))
            .map(|v| EnvVar {
                name: v.name.clone(),
                value: Some(fill(&v.value, spec, cluster)),
                ..Default::default()
            }),
    );
    env
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

fn probe(check: &HealthCheck, port: u16, initial_delay: i32) -> Probe {
    let mut probe = Probe {
        initial_delay_seconds: Some(initial_delay),
        period_seconds: Some(10),
        timeout_seconds: Some(5),
        failure_threshold: Some(6),
        ..Default::default()
    };
    match check {
        HealthCheck::Http { path } => {
            probe.http_get = Some(HTTPGetAction {
                path: Some(path.clone()),
                port: IntOrString::Int(port.into()),
                ..Default::default()
            })
        }
        HealthCheck::Exec { command } => {
            probe.exec = Some(ExecAction {
                command: Some(command.clone()),
            })
        }
        HealthCheck::Tcp => {
            probe.tcp_socket = Some(TCPSocketAction {
                port: IntOrString::Int(port.into()),
                ..Default::default()
            })
        }
    }
    probe
}

fn container_security(run_as_user: Option<i64>) -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        run_as_user,
        run_as_non_root: run_as_user.map(|uid| uid != 0),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".into()]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub fn config_map(spec: &InstanceSpec, cluster: &ClusterSettings) -> ConfigMap {
    let labels = names::instance_labels(spec.user_id, spec.instance_id, &spec.app);
    ConfigMap {
        metadata: meta(&spec.name, &spec.namespace, &labels),
        data: Some(plain_env(spec, cluster)),
        ..Default::default()
    }
}

/// The credentials Secret. Rendered with freshly generated values, and applied only while it
/// does not exist, so credentials are made once and live only in the cluster.
/// What the browser shows at the gate.
const GATE_REALM: &str = "Not claimed yet: sign in with the gate credentials Spincat shows you";

/// The gate's user name, the same for every instance.
pub const GATE_USER: &str = "owner";

/// The gate's basic-auth credentials, in the Secret ingress-nginx reads (`auth`, an htpasswd
/// line with a SHA-512 crypt hash) beside the password the credentials endpoint shows.
pub fn gate(spec: &InstanceSpec, password: &str, hash: &str) -> Secret {
    let labels = names::instance_labels(spec.user_id, spec.instance_id, &spec.app);
    Secret {
        metadata: meta(&names::gate_secret(&spec.name), &spec.namespace, &labels),
        string_data: Some(BTreeMap::from([
            ("auth".to_owned(), format!("{GATE_USER}:{hash}")),
            ("password".to_owned(), password.to_owned()),
        ])),
        type_: Some("Opaque".into()),
        ..Default::default()
    }
}

pub fn credentials(spec: &InstanceSpec, values: BTreeMap<String, String>) -> Secret {
    let labels = names::instance_labels(spec.user_id, spec.instance_id, &spec.app);
    Secret {
        metadata: meta(&names::secret(&spec.name), &spec.namespace, &labels),
        string_data: Some(values),
        type_: Some("Opaque".into()),
        ..Default::default()
    }
}

pub fn instance(spec: &InstanceSpec, cluster: &ClusterSettings) -> InstanceManifests {
    let labels = names::instance_labels(spec.user_id, spec.instance_id, &spec.app);
    let selector = LabelSelector {
        match_labels: Some(BTreeMap::from([(
            names::INSTANCE_LABEL.to_owned(),
            spec.instance_id.to_string(),
        )])),
        ..Default::default()
    };
    let template = &spec.template;

    let volume = PersistentVolumeClaim {
        metadata: meta(&spec.name, &spec.namespace, &labels),
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".into()]),
            storage_class_name: cluster.storage_class.clone(),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([(
                    "storage".to_owned(),
                    quantity(format!("{}Gi", spec.resources.storage_gib)),
                )])),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };

    // The pod gets the plan's resources; with companions, the app takes half and the
    // companions share the rest.
    let share = if template.companions.is_empty() { 1 } else { 2 };
    let app_cpu = spec.resources.cpu_millicores / share;
    let app_memory = spec.resources.memory_mib / share;
    let companions = template.companions.len().max(1) as i64;
    let companion_cpu = (spec.resources.cpu_millicores - app_cpu) / companions;
    let companion_memory = (spec.resources.memory_mib - app_memory) / companions;

    let mut containers = vec![Container {
        name: "app".into(),
        image: Some(template.image.clone()),
        ports: Some(vec![ContainerPort {
            container_port: template.port.into(),
            name: Some("app".into()),
            ..Default::default()
        }]),
        env: Some(secret_env(spec, &template.env, cluster)),
        env_from: Some(vec![EnvFromSource {
            config_map_ref: Some(ConfigMapEnvSource {
                name: spec.name.clone(),
                optional: Some(false),
            }),
            ..Default::default()
        }]),
        resources: Some(resources(app_cpu, app_memory)),
        readiness_probe: Some(probe(&template.health_check, template.port, 5)),
        liveness_probe: Some(probe(&template.health_check, template.port, 60)),
        security_context: Some(container_security(template.run_as_user)),
        volume_mounts: Some(vec![VolumeMount {
            name: "data".into(),
            mount_path: template.data_mount_path.clone(),
            sub_path: Some("app".into()),
            ..Default::default()
        }]),
        ..Default::default()
    }];
    for companion in &template.companions {
        containers.push(Container {
            name: companion.name.clone(),
            image: Some(companion.image.clone()),
            ports: companion.port.map(|p| {
                vec![ContainerPort {
                    container_port: p.into(),
                    ..Default::default()
                }]
            }),
            env: Some({
                let mut env = secret_env(spec, &companion.env, cluster);
                env.extend(
                    companion
                        .env
                        .iter()
                        .filter(|v| !v.value.contains("{{secret:"))
                        .map(|v| EnvVar {
                            name: v.name.clone(),
                            value: Some(fill(&v.value, spec, cluster)),
                            ..Default::default()
                        }),
                );
                env
            }),
            resources: Some(resources(companion_cpu, companion_memory)),
            security_context: Some(container_security(companion.run_as_user)),
            volume_mounts: Some(vec![VolumeMount {
                name: "data".into(),
                mount_path: companion.data_mount_path.clone(),
                sub_path: Some(companion.name.clone()),
                ..Default::default()
            }]),
            ..Default::default()
        });
    }

    let mut annotations = BTreeMap::from([(ENV_DIGEST.to_owned(), env_digest(spec, cluster))]);
    if let Some(at) = spec.restarted_at {
        annotations.insert(
            RESTARTED_AT.to_owned(),
            at.to_rfc3339_opts(SecondsFormat::Secs, true),
        );
    }
    let pod = PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(labels.clone()),
            annotations: Some(annotations),
            ..Default::default()
        }),
        spec: Some(PodSpec {
            containers,
            automount_service_account_token: Some(false),
            enable_service_links: Some(false),
            security_context: Some(PodSecurityContext {
                fs_group: template.fs_group,
                seccomp_profile: Some(SeccompProfile {
                    type_: "RuntimeDefault".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            volumes: Some(vec![Volume {
                name: "data".into(),
                persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                    claim_name: spec.name.clone(),
                    read_only: Some(false),
                }),
                ..Default::default()
            }]),
            ..Default::default()
        }),
    };
    let workload = match template.workload {
        WorkloadKind::Deployment => Workload::Deployment(Box::new(Deployment {
            metadata: meta(&spec.name, &spec.namespace, &labels),
            spec: DeploymentSpec {
                replicas: Some(spec.replicas),
                selector: selector.clone(),
                // The volume is ReadWriteOnce: the old pod must let go before the new one starts.
                strategy: Some(DeploymentStrategy {
                    type_: Some("Recreate".into()),
                    ..Default::default()
                }),
                template: pod,
                ..Default::default()
            },
            ..Default::default()
        })),
        WorkloadKind::StatefulSet => Workload::StatefulSet(Box::new(StatefulSet {
            metadata: meta(&spec.name, &spec.namespace, &labels),
            spec: StatefulSetSpec {
                replicas: Some(spec.replicas),
                selector: selector.clone(),
                service_name: Some(spec.name.clone()),
                template: pod,
                ..Default::default()
            },
            ..Default::default()
        })),
    };

    let service = Service {
        metadata: meta(&spec.name, &spec.namespace, &labels),
        spec: Some(ServiceSpec {
            type_: Some(match template.protocol {
                Protocol::Http => "ClusterIP".into(),
                Protocol::Tcp => cluster.tcp_service_type.clone(),
            }),
            selector: selector.match_labels.clone(),
            ports: Some(vec![ServicePort {
                name: Some("app".into()),
                port: template.port.into(),
                target_port: Some(IntOrString::Int(template.port.into())),
                protocol: Some("TCP".into()),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    };

    let ingress = (template.protocol == Protocol::Http).then(|| {
        let hosts: Vec<String> = std::iter::once(host(spec, cluster))
            .chain(spec.custom_domain.clone())
            .collect();
        let backend = IngressBackend {
            service: Some(IngressServiceBackend {
                name: spec.name.clone(),
                port: Some(ServiceBackendPort {
                    number: Some(template.port.into()),
                    ..Default::default()
                }),
            }),
            ..Default::default()
        };
        let mut metadata = meta(&spec.name, &spec.namespace, &labels);
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
        metadata.annotations = Some(annotations);
        Ingress {
            metadata,
            spec: Some(IngressSpec {
                ingress_class_name: Some(cluster.ingress_class.clone()),
                tls: Some(vec![IngressTLS {
                    hosts: Some(hosts.clone()),
                    secret_name: Some(names::tls_secret(&spec.name)),
                }]),
                rules: Some(
                    hosts
                        .into_iter()
                        .map(|host| IngressRule {
                            host: Some(host),
                            http: Some(HTTPIngressRuleValue {
                                paths: vec![HTTPIngressPath {
                                    path: Some("/".into()),
                                    path_type: "Prefix".into(),
                                    backend: backend.clone(),
                                }],
                            }),
                        })
                        .collect(),
                ),
                ..Default::default()
            }),
            ..Default::default()
        }
    });

    let tcp_policy = (template.protocol == Protocol::Tcp).then(|| NetworkPolicy {
        metadata: meta(&format!("{}-tcp", spec.name), &spec.namespace, &labels),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(selector.clone()),
            policy_types: Some(vec!["Ingress".into()]),
            ingress: Some(vec![NetworkPolicyIngressRule {
                from: Some(vec![NetworkPolicyPeer {
                    ip_block: Some(IPBlock {
                        cidr: "0.0.0.0/0".into(),
                        ..Default::default()
                    }),
                    ..Default::default()
                }]),
                ports: Some(vec![NetworkPolicyPort {
                    port: Some(IntOrString::Int(template.port.into())),
                    protocol: Some("TCP".into()),
                    ..Default::default()
                }]),
            }]),
            ..Default::default()
        }),
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
    pub namespace: Namespace,
    pub secrets_access: RoleBinding,
    pub quota: ResourceQuota,
    pub limits: LimitRange,
    pub policy: NetworkPolicy,
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
    let cpu = quantity(format!("{}m", total.cpu_millicores));
    let memory = quantity(format!("{}Mi", total.memory_mib));
    let hard = BTreeMap::from([
        ("requests.cpu".to_owned(), cpu.clone()),
        ("limits.cpu".to_owned(), cpu),
        ("requests.memory".to_owned(), memory.clone()),
        ("limits.memory".to_owned(), memory),
        (
            "requests.storage".to_owned(),
            quantity(format!("{}Gi", total.storage_gib)),
        ),
        (
            "persistentvolumeclaims".to_owned(),
            quantity(plans.len().to_string()),
        ),
    ]);
    let defaults = BTreeMap::from([
        ("cpu".to_owned(), quantity("100m".into())),
        ("memory".to_owned(), quantity("128Mi".into())),
    ]);
    NamespaceManifests {
        namespace: Namespace {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some(labels.clone()),
                ..Default::default()
            },
            ..Default::default()
        },
        secrets_access: RoleBinding {
            metadata: meta(names::PROVISIONER, &name, &labels),
            role_ref: RoleRef {
                api_group: Some("rbac.authorization.k8s.io".into()),
                kind: "ClusterRole".into(),
                name: names::TENANT_SECRETS_ROLE.into(),
            },
            subjects: Some(vec![Subject {
                kind: "ServiceAccount".into(),
                name: names::PROVISIONER.into(),
                namespace: Some(names::PLATFORM_NAMESPACE.into()),
                ..Default::default()
            }]),
        },
        quota: ResourceQuota {
            metadata: meta("spincat-quota", &name, &labels),
            spec: Some(ResourceQuotaSpec {
                hard: Some(hard),
                ..Default::default()
            }),
            ..Default::default()
        },
        limits: LimitRange {
            metadata: meta("spincat-limits", &name, &labels),
            spec: Some(LimitRangeSpec {
                limits: vec![LimitRangeItem {
                    type_: "Container".into(),
                    default: Some(defaults.clone()),
                    default_request: Some(defaults),
                    ..Default::default()
                }],
            }),
        },
        policy: NetworkPolicy {
            metadata: meta("spincat-ingress-only", &name, &labels),
            spec: Some(NetworkPolicySpec {
                pod_selector: Some(LabelSelector::default()),
                policy_types: Some(vec!["Ingress".into()]),
                ingress: Some(vec![NetworkPolicyIngressRule {
                    from: Some(vec![NetworkPolicyPeer {
                        namespace_selector: Some(LabelSelector {
                            match_labels: Some(BTreeMap::from([(
                                "kubernetes.io/metadata.name".to_owned(),
                                cluster.ingress_namespace.clone(),
                            )])),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }]),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
        },
    }
}

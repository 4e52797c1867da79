//! A Kubernetes API server double on loopback for the resources provisioning touches. It speaks
//! the real paths and verbs (`/api/v1/...`, `/apis/<group>/<version>/...`), does server-side
//! apply (create or update under a field manager, with uid, resourceVersion and generation),
//! answers errors as `Status` objects (404, 409, 422, 401, 403, 5xx), lists by label selector,
//! serves the scale subresource and pod logs, and reports a workload available after a delay the
//! test controls (or never). Deleting a namespace removes what is in it. Faults can be injected:
//! a failing or stalled call, the n-th call from now, or the whole server down. Given a
//! ClusterRole, it authorizes every request as RBAC does (403 `Forbidden` otherwise).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use k8s_openapi::api::rbac::v1::PolicyRule;
use serde_json::{json, Value};

pub const TOKEN: &str = "test-cluster-token";

#[derive(Debug, Clone)]
pub enum Fault {
    Status(u16),
    Delay(Duration),
}

/// (plural, namespace or "", name)
type Key = (String, String, String);

struct Stored {
    object: Value,
    /// When the current generation of a workload becomes available; `None`: never.
    ready_at: Option<Instant>,
}

#[derive(Default)]
struct Inner {
    objects: BTreeMap<Key, Stored>,
    resource_version: u64,
    faults: VecDeque<Fault>,
    /// Calls to let through before the next scheduled failure, and its status.
    fail_after: Option<(usize, u16)>,
    down: bool,
    rollout_delay: Option<Duration>,
    requests: Vec<(String, String)>,
    queries: Vec<BTreeMap<String, String>>,
    /// The rules of the role requests are authorized against; `None`: everything is allowed.
    rules: Option<Vec<PolicyRule>>,
    /// ClusterRoles bound per namespace: their rules apply in a namespace holding a RoleBinding
    /// of them to the provisioner.
    bindable: BTreeMap<String, Vec<PolicyRule>>,
    checked: BTreeSet<Access>,
}

/// What RBAC authorizes a request as.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Access {
    pub group: String,
    /// `deployments`, or `deployments/scale` for a subresource.
    pub resource: String,
    pub verb: String,
}

impl Access {
    fn allowed_by(&self, rules: &[PolicyRule]) -> bool {
        let has = |list: &Option<Vec<String>>, item: &str| {
            list.iter().flatten().any(|x| x == item || x == "*")
        };
        rules.iter().any(|rule| {
            has(&rule.api_groups, &self.group)
                && has(&rule.resources, &self.resource)
                && rule.verbs.iter().any(|v| v == &self.verb || v == "*")
        })
    }
}

#[derive(Clone)]
pub struct KubeDouble {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

fn kind_of(plural: &str) -> Option<(&'static str, &'static str, bool)> {
    // (kind, apiVersion, namespaced)
    Some(match plural {
        "namespaces" => ("Namespace", "v1", false),
        "nodes" => ("Node", "v1", false),
        "resourcequotas" => ("ResourceQuota", "v1", true),
        "limitranges" => ("LimitRange", "v1", true),
        "secrets" => ("Secret", "v1", true),
        "configmaps" => ("ConfigMap", "v1", true),
        "persistentvolumeclaims" => ("PersistentVolumeClaim", "v1", true),
        "services" => ("Service", "v1", true),
        "pods" => ("Pod", "v1", true),
        "deployments" => ("Deployment", "apps/v1", true),
        "statefulsets" => ("StatefulSet", "apps/v1", true),
        "ingresses" => ("Ingress", "networking.k8s.io/v1", true),
        "networkpolicies" => ("NetworkPolicy", "networking.k8s.io/v1", true),
        "rolebindings" => ("RoleBinding", "rbac.authorization.k8s.io/v1", true),
        _ => return None,
    })
}

fn status(code: u16, reason: &str, message: String) -> Response {
    let body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code,
    });
    (StatusCode::from_u16(code).unwrap(), Json(body)).into_response()
}

fn not_found(plural: &str, name: &str) -> Response {
    status(404, "NotFound", format!("{plural} \"{name}\" not found"))
}

fn is_dns_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// `key=value,other=value` and bare `key` (exists).
fn matches_selector(labels: &Value, selector: &str) -> bool {
    selector
        .split(',')
        .filter(|s| !s.is_empty())
        .all(|term| match term.split_once('=') {
            Some((k, v)) => labels[k.trim()].as_str() == Some(v.trim().trim_start_matches('=')),
            None => labels.get(term.trim()).is_some(),
        })
}

/// Where a request points.
struct Target {
    group: String,
    plural: String,
    namespace: Option<String>,
    name: Option<String>,
    sub: Option<String>,
}

fn locate(path: &str) -> Option<Target> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, rest) = match segments.as_slice() {
        ["api", "v1", rest @ ..] => ("", rest),
        ["apis", group, _version, rest @ ..] => (*group, rest),
        _ => return None,
    };
    let own = |s: &str| Some(s.to_owned());
    match rest {
        ["namespaces", ns, plural, tail @ ..] => Some(Target {
            group: group.to_owned(),
            plural: plural.to_string(),
            namespace: own(ns),
            name: tail.first().and_then(|n| own(n)),
            sub: tail.get(1).and_then(|s| own(s)),
        }),
        [plural, tail @ ..] => Some(Target {
            group: group.to_owned(),
            plural: plural.to_string(),
            namespace: None,
            name: tail.first().and_then(|n| own(n)),
            sub: tail.get(1).and_then(|s| own(s)),
        }),
        [] => None,
    }
}

impl KubeDouble {
    pub async fn start() -> Self {
        let double = Self {
            url: String::new(),
            inner: Arc::new(Mutex::new(Inner {
                rollout_delay: Some(Duration::ZERO),
                ..Default::default()
            })),
        };
        let app = Router::new().fallback(handle).with_state(double.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, ..double }
    }

    pub fn fail_next(&self, fault: Fault) {
        self.inner.lock().unwrap().faults.push_back(fault);
    }

    /// Lets `calls` requests through, then fails the next one with `code`.
    pub fn fail_after(&self, calls: usize, code: u16) {
        self.inner.lock().unwrap().fail_after = Some((calls, code));
    }

    /// The whole API server unreachable (every call 503) or back.
    pub fn set_down(&self, down: bool) {
        self.inner.lock().unwrap().down = down;
    }

    /// How long a workload takes to become available after a change; `None`: never.
    pub fn set_rollout_delay(&self, delay: Option<Duration>) {
        self.inner.lock().unwrap().rollout_delay = delay;
    }

    /// How many requests have been served (including refused ones).
    pub fn request_count(&self) -> usize {
        self.inner.lock().unwrap().requests.len()
    }

    /// The query parameters of each request served, as the API server would parse them.
    pub fn queries(&self) -> Vec<BTreeMap<String, String>> {
        self.inner.lock().unwrap().queries.clone()
    }

    pub fn requests(&self) -> Vec<(String, String)> {
        self.inner.lock().unwrap().requests.clone()
    }

    /// A stored object, as the API server would return it.
    pub fn object(&self, plural: &str, namespace: &str, name: &str) -> Option<Value> {
        let inner = self.inner.lock().unwrap();
        inner
            .objects
            .get(&(plural.into(), namespace.into(), name.into()))
            .map(|s| with_status(plural, s))
    }

    /// Names of stored objects of a kind, in one namespace or all.
    pub fn names(&self, plural: &str, namespace: Option<&str>) -> Vec<String> {
        let inner = self.inner.lock().unwrap();
        inner
            .objects
            .keys()
            .filter(|(p, ns, _)| p == plural && namespace.is_none_or(|n| n == ns))
            .map(|(_, _, name)| name.clone())
            .collect()
    }

    pub fn object_count(&self) -> usize {
        self.inner.lock().unwrap().objects.len()
    }

    /// From now on, authorize every request as RBAC would for the provisioner's ServiceAccount,
    /// bound cluster-wide to a ClusterRole with `rules`, and in each namespace to the roles of
    /// `bindable` its RoleBindings there name.
    pub fn authorize_with(
        &self,
        rules: Vec<PolicyRule>,
        bindable: BTreeMap<String, Vec<PolicyRule>>,
    ) {
        let mut inner = self.inner.lock().unwrap();
        inner.rules = Some(rules);
        inner.bindable = bindable;
    }

    /// Every access a request has been authorized as (or refused), allowed or not.
    pub fn accesses(&self) -> BTreeSet<Access> {
        self.inner.lock().unwrap().checked.clone()
    }
}

/// The rules the provisioner holds in `namespace` through RoleBindings stored there.
fn bound_in(inner: &Inner, namespace: &str) -> Vec<PolicyRule> {
    inner
        .objects
        .iter()
        .filter(|((plural, ns, _), _)| plural == "rolebindings" && ns == namespace)
        .map(|(_, stored)| &stored.object)
        .filter(|binding| {
            binding["roleRef"]["kind"] == "ClusterRole"
                && binding["subjects"].as_array().is_some_and(|subjects| {
                    subjects.iter().any(|s| {
                        s["kind"] == "ServiceAccount"
                            && s["name"] == "spincat-provisioner"
                            && s["namespace"] == "spincat"
                    })
                })
        })
        .filter_map(|binding| inner.bindable.get(binding["roleRef"]["name"].as_str()?))
        .flatten()
        .cloned()
        .collect()
}

/// A workload's status as its controller would report it now.
fn with_status(plural: &str, stored: &Stored) -> Value {
    let mut object = stored.object.clone();
    if !matches!(plural, "deployments" | "statefulsets") {
        return object;
    }
    let generation = object["metadata"]["generation"].as_i64().unwrap_or(1);
    let replicas = object["spec"]["replicas"].as_i64().unwrap_or(1);
    let ready = replicas == 0 || stored.ready_at.is_some_and(|at| Instant::now() >= at);
    let available = if ready { replicas } else { 0 };
    object["status"] = if plural == "deployments" {
        json!({
            "observedGeneration": generation, "replicas": replicas, "updatedReplicas": replicas,
            "readyReplicas": available, "availableReplicas": available,
            "unavailableReplicas": replicas - available,
        })
    } else {
        let revision = format!(
            "{}-{generation}",
            object["metadata"]["name"].as_str().unwrap_or("")
        );
        json!({
            "observedGeneration": generation, "replicas": replicas, "updatedReplicas": replicas,
            "readyReplicas": available, "availableReplicas": available,
            "currentRevision": if ready { revision.clone() } else { "previous".into() },
            "updateRevision": revision,
        })
    };
    object
}

/// The pods the workloads would be running.
fn pods(inner: &Inner) -> Vec<(String, Value)> {
    inner
        .objects
        .iter()
        .filter(|((plural, _, _), _)| plural == "deployments" || plural == "statefulsets")
        .filter(|(_, s)| s.object["spec"]["replicas"].as_i64().unwrap_or(1) > 0)
        .map(|((plural, ns, name), stored)| {
            let ready = stored.ready_at.is_some_and(|at| Instant::now() >= at);
            let generation = stored.object["metadata"]["generation"].as_i64().unwrap_or(1);
            let pod = if plural == "statefulsets" { format!("{name}-0") } else { format!("{name}-{generation:05x}") };
            let labels = stored.object["spec"]["template"]["metadata"]["labels"].clone();
            (
                ns.clone(),
                json!({
                    "kind": "Pod", "apiVersion": "v1",
                    "metadata": { "name": pod, "namespace": ns, "labels": labels },
                    "spec": { "nodeName": "node-a", "containers": stored.object["spec"]["template"]["spec"]["containers"] },
                    "status": {
                        "phase": if ready { "Running" } else { "Pending" },
                        "containerStatuses": [{ "name": "app", "ready": ready, "restartCount": 0 }],
                    },
                }),
            )
        })
        .collect()
}

async fn handle(
    State(double): State<KubeDouble>,
    method: Method,
    uri: Uri,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fault = {
        let mut inner = double.inner.lock().unwrap();
        inner
            .requests
            .push((method.to_string(), uri.path().to_owned()));
        inner.queries.push(query.clone());
        let scheduled = match inner.fail_after.as_mut() {
            Some((0, code)) => {
                let code = *code;
                inner.fail_after = None;
                Some(Fault::Status(code))
            }
            Some((calls, _)) => {
                *calls -= 1;
                None
            }
            None => None,
        };
        if inner.down {
            Some(Fault::Status(503))
        } else {
            scheduled.or_else(|| inner.faults.pop_front())
        }
    };
    match fault {
        Some(Fault::Status(code)) => {
            let reason = match code {
                403 => "Forbidden",
                409 => "Conflict",
                422 => "Invalid",
                503 => "ServiceUnavailable",
                _ => "InternalError",
            };
            return status(code, reason, format!("injected failure {code}"));
        }
        Some(Fault::Delay(delay)) => tokio::time::sleep(delay).await,
        None => {}
    }
    if headers.get("authorization").and_then(|v| v.to_str().ok())
        != Some(&format!("Bearer {TOKEN}"))
    {
        return status(401, "Unauthorized", "Unauthorized".into());
    }
    let Some(Target {
        group,
        plural,
        namespace,
        name,
        sub,
    }) = locate(uri.path())
    else {
        return status(
            404,
            "NotFound",
            "the server could not find the requested resource".into(),
        );
    };
    let Some((kind, api_version, namespaced)) = kind_of(&plural) else {
        return status(
            404,
            "NotFound",
            "the server could not find the requested resource".into(),
        );
    };
    let ns = namespace.clone().unwrap_or_default();
    let mut inner = double.inner.lock().unwrap();
    let verb = match (method.as_str(), name.is_some()) {
        ("GET", true) => "get",
        ("GET", false) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        (other, _) => other,
    };
    let resource = match &sub {
        Some(sub) => format!("{plural}/{sub}"),
        None => plural.clone(),
    };
    let mut needed = vec![Access {
        group: group.clone(),
        resource: resource.clone(),
        verb: verb.to_owned(),
    }];
    // An apply that creates the object is authorized as a create as well.
    let creates = verb == "patch"
        && sub.is_none()
        && name.as_ref().is_some_and(|name| {
            !inner
                .objects
                .contains_key(&(plural.clone(), ns.clone(), name.clone()))
        });
    if creates {
        needed.push(Access {
            group: group.clone(),
            resource: resource.clone(),
            verb: "create".into(),
        });
    }
    // RBAC lets a RoleBinding be written only by whoever may `bind` the role it names.
    if plural == "rolebindings" && matches!(verb, "create" | "patch" | "update") {
        needed.push(Access {
            group: "rbac.authorization.k8s.io".into(),
            resource: "clusterroles".into(),
            verb: "bind".into(),
        });
    }
    inner.checked.extend(needed.iter().cloned());
    if let Some(cluster_rules) = &inner.rules {
        let mut rules = cluster_rules.clone();
        rules.extend(bound_in(&inner, &ns));
        if let Some(refused) = needed.iter().find(|access| !access.allowed_by(&rules)) {
            let scope = match &namespace {
                Some(ns) => format!(" in the namespace \"{ns}\""),
                None => " at the cluster scope".into(),
            };
            return status(
                403,
                "Forbidden",
                format!(
                    "{plural}{} \"{}\" is forbidden: User \"system:serviceaccount:spincat:spincat-provisioner\" cannot {} resource \"{resource}\" in API group \"{group}\"{scope}",
                    if group.is_empty() { String::new() } else { format!(".{group}") },
                    name.as_deref().unwrap_or(""),
                    refused.verb
                ),
            );
        }
    }
    match (method.as_str(), name, sub.as_deref()) {
        ("GET", None, None) => {
            let selector = query.get("labelSelector").cloned().unwrap_or_default();
            let items: Vec<Value> =
                if plural == "pods" {
                    pods(&inner)
                        .into_iter()
                        .filter(|(pod_ns, _)| namespace.is_none() || pod_ns == &ns)
                        .map(|(_, pod)| pod)
                        .filter(|pod| matches_selector(&pod["metadata"]["labels"], &selector))
                        .collect()
                } else if plural == "nodes" {
                    ["node-a", "node-b"].iter().map(|n| json!({
                    "kind": "Node", "apiVersion": "v1",
                    "metadata": { "name": n, "labels": { "kubernetes.io/hostname": n } },
                    "status": {
                        "capacity": { "cpu": "4", "memory": "16Gi" },
                        "allocatable": { "cpu": "3800m", "memory": "15Gi" },
                        "conditions": [{ "type": "Ready", "status": "True" }],
                        "nodeInfo": { "kubeletVersion": "v1.33.2" },
                    },
                })).collect()
                } else {
                    inner
                        .objects
                        .iter()
                        .filter(|((p, o_ns, _), _)| {
                            p == &plural && (namespace.is_none() || o_ns == &ns)
                        })
                        .map(|(_, s)| with_status(&plural, s))
                        .filter(|o| matches_selector(&o["metadata"]["labels"], &selector))
                        .collect()
                };
            inner.resource_version += 1;
            let list = json!({
                "kind": format!("{kind}List"), "apiVersion": api_version,
                "metadata": { "resourceVersion": inner.resource_version.to_string() },
                "items": items,
            });
            Json(list).into_response()
        }
        ("GET", Some(name), None) => {
            if plural == "pods" {
                return match pods(&inner)
                    .into_iter()
                    .find(|(p_ns, p)| p_ns == &ns && p["metadata"]["name"] == name)
                {
                    Some((_, pod)) => Json(pod).into_response(),
                    None => not_found(&plural, &name),
                };
            }
            match inner.objects.get(&(plural.clone(), ns, name.clone())) {
                Some(stored) => Json(with_status(&plural, stored)).into_response(),
                None => not_found(&plural, &name),
            }
        }
        ("GET", Some(name), Some("log")) => {
            let all = pods(&inner);
            let Some((_, pod)) = all
                .iter()
                .find(|(p_ns, p)| p_ns == &ns && p["metadata"]["name"] == name)
            else {
                return not_found("pods", &name);
            };
            if let Some(container) = query.get("container") {
                let known = pod["spec"]["containers"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|c| c["name"] == container.as_str());
                if !known {
                    return status(
                        400,
                        "BadRequest",
                        format!("container {container} is not valid for pod {name}"),
                    );
                }
            }
            let tail: usize = query
                .get("tailLines")
                .and_then(|t| t.parse().ok())
                .unwrap_or(1000);
            let lines: Vec<String> = (1..=50).map(|i| format!("{name} log line {i}")).collect();
            let start = lines.len().saturating_sub(tail);
            (StatusCode::OK, lines[start..].join("\n") + "\n").into_response()
        }
        ("PATCH", Some(name), None) => {
            if headers.get("content-type").and_then(|v| v.to_str().ok())
                != Some("application/apply-patch+yaml")
            {
                return status(
                    415,
                    "UnsupportedMediaType",
                    "the body of the request was in an unknown format".into(),
                );
            }
            let Some(manager) = query.get("fieldManager").cloned() else {
                return status(422, "Invalid", "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch".into());
            };
            let Ok(mut applied) = serde_json::from_slice::<Value>(&body) else {
                return status(400, "BadRequest", "error decoding YAML".into());
            };
            if applied["metadata"]["name"].as_str() != Some(name.as_str()) {
                return status(
                    400,
                    "BadRequest",
                    format!(
                        "the name of the object ({}) does not match the name on the URL ({name})",
                        applied["metadata"]["name"]
                    ),
                );
            }
            if applied["kind"] != kind || applied["apiVersion"] != api_version {
                return status(
                    400,
                    "BadRequest",
                    format!("the kind {} does not match {kind}", applied["kind"]),
                );
            }
            if !is_dns_label(&name) {
                return status(422, "Invalid", format!("{kind} \"{name}\" is invalid: metadata.name: Invalid value: must be a lowercase RFC 1123 label"));
            }
            if namespaced
                && !inner
                    .objects
                    .contains_key(&("namespaces".into(), String::new(), ns.clone()))
            {
                return not_found("namespaces", &ns);
            }
            if kind == "Secret" {
                if let Some(Value::Object(string_data)) =
                    applied.as_object_mut().and_then(|o| o.remove("stringData"))
                {
                    let data: serde_json::Map<String, Value> = string_data
                        .into_iter()
                        .map(|(k, v)| (k, json!(STANDARD.encode(v.as_str().unwrap_or_default()))))
                        .collect();
                    applied["data"] = Value::Object(data);
                }
            }
            inner.resource_version += 1;
            let version = inner.resource_version.to_string();
            let delay = inner.rollout_delay;
            let key = (plural.clone(), ns.clone(), name.clone());
            let previous = inner.objects.remove(&key);
            let (generation, uid, created, ready_at) = match &previous {
                Some(old) => {
                    let changed = old.object["spec"] != applied["spec"];
                    let generation = old.object["metadata"]["generation"].as_i64().unwrap_or(1)
                        + i64::from(changed);
                    (
                        generation,
                        old.object["metadata"]["uid"].clone(),
                        old.object["metadata"]["creationTimestamp"].clone(),
                        if changed {
                            delay.map(|d| Instant::now() + d)
                        } else {
                            old.ready_at
                        },
                    )
                }
                None => (
                    1,
                    json!(uuid::Uuid::new_v4()),
                    json!(chrono::Utc::now().to_rfc3339()),
                    delay.map(|d| Instant::now() + d),
                ),
            };
            let meta = &mut applied["metadata"];
            meta["uid"] = uid;
            meta["creationTimestamp"] = created;
            meta["resourceVersion"] = json!(version);
            meta["generation"] = json!(generation);
            meta["managedFields"] =
                json!([{ "manager": manager, "operation": "Apply", "apiVersion": api_version }]);
            if namespaced {
                meta["namespace"] = json!(ns);
            }
            if kind == "Namespace" {
                applied["status"] = json!({ "phase": "Active" });
            }
            let stored = Stored {
                object: applied,
                ready_at,
            };
            let answer = with_status(&plural, &stored);
            inner.objects.insert(key, stored);
            let code = if previous.is_some() {
                StatusCode::OK
            } else {
                StatusCode::CREATED
            };
            (code, Json(answer)).into_response()
        }
        ("PATCH", Some(name), Some("scale")) => {
            let key = (plural.clone(), ns.clone(), name.clone());
            let delay = inner.rollout_delay;
            let Some(stored) = inner.objects.get_mut(&key) else {
                return not_found(&plural, &name);
            };
            let Ok(patch) = serde_json::from_slice::<Value>(&body) else {
                return status(400, "BadRequest", "error decoding patch".into());
            };
            let Some(replicas) = patch["spec"]["replicas"].as_i64().filter(|r| *r >= 0) else {
                return status(
                    422,
                    "Invalid",
                    "spec.replicas: Invalid value: must be greater than or equal to 0".into(),
                );
            };
            if stored.object["spec"]["replicas"].as_i64() != Some(replicas) {
                stored.object["spec"]["replicas"] = json!(replicas);
                let generation = stored.object["metadata"]["generation"]
                    .as_i64()
                    .unwrap_or(1)
                    + 1;
                stored.object["metadata"]["generation"] = json!(generation);
                stored.ready_at = delay.map(|d| Instant::now() + d);
            }
            Json(json!({ "kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": { "name": name, "namespace": ns }, "spec": { "replicas": replicas } })).into_response()
        }
        ("DELETE", Some(name), None) => {
            let key = (plural.clone(), ns.clone(), name.clone());
            if inner.objects.remove(&key).is_none() {
                return not_found(&plural, &name);
            }
            if plural == "namespaces" {
                inner.objects.retain(|(_, o_ns, _), _| o_ns != &name);
            }
            Json(json!({ "kind": "Status", "apiVersion": "v1", "status": "Success", "details": { "name": name, "kind": plural } })).into_response()
        }
        _ => status(
            405,
            "MethodNotAllowed",
            format!("{method} is not supported here"),
        ),
    }
}

//! The kinds of object Spincat touches, and the objects it sends. Written out by hand rather
//! than taken from `k8s-openapi`: its typed objects brought a serializer for every field of
//! every kind, and a time-zone library, into each component that talks to the cluster (about
//! 0.5 MB of wasm each). The manifests' shape is checked against `k8s-openapi` in the tests
//! (tests/tests/manifests.rs reads every rendered object back into its typed kind).

use serde::Serialize;
use serde_json::{Map, Value};

/// A kind of object: where its collection lives in the API.
#[derive(Debug, PartialEq, Eq)]
pub struct Kind {
    pub api_version: &'static str,
    pub kind: &'static str,
    /// The collection's path segment.
    pub plural: &'static str,
    pub namespaced: bool,
}

const fn kind(
    api_version: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
) -> Kind {
    Kind {
        api_version,
        kind,
        plural,
        namespaced,
    }
}

pub const NAMESPACE: Kind = kind("v1", "Namespace", "namespaces", false);
pub const NODE: Kind = kind("v1", "Node", "nodes", false);
pub const POD: Kind = kind("v1", "Pod", "pods", true);
pub const SERVICE: Kind = kind("v1", "Service", "services", true);
pub const SECRET: Kind = kind("v1", "Secret", "secrets", true);
pub const CONFIG_MAP: Kind = kind("v1", "ConfigMap", "configmaps", true);
pub const PERSISTENT_VOLUME_CLAIM: Kind = kind(
    "v1",
    "PersistentVolumeClaim",
    "persistentvolumeclaims",
    true,
);
pub const RESOURCE_QUOTA: Kind = kind("v1", "ResourceQuota", "resourcequotas", true);
pub const LIMIT_RANGE: Kind = kind("v1", "LimitRange", "limitranges", true);
pub const DEPLOYMENT: Kind = kind("apps/v1", "Deployment", "deployments", true);
pub const STATEFUL_SET: Kind = kind("apps/v1", "StatefulSet", "statefulsets", true);
pub const INGRESS: Kind = kind("networking.k8s.io/v1", "Ingress", "ingresses", true);
pub const NETWORK_POLICY: Kind = kind(
    "networking.k8s.io/v1",
    "NetworkPolicy",
    "networkpolicies",
    true,
);
pub const ROLE_BINDING: Kind = kind(
    "rbac.authorization.k8s.io/v1",
    "RoleBinding",
    "rolebindings",
    true,
);

impl Kind {
    /// `/api/v1` for the core group, `/apis/<group>/<version>` for the others.
    pub fn group_path(&self) -> String {
        if self.api_version.contains('/') {
            format!("/apis/{}", self.api_version)
        } else {
            format!("/api/{}", self.api_version)
        }
    }
}

/// An object to apply: its kind, name and namespace, and its body as the API takes it.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct Manifest {
    #[serde(skip)]
    pub kind: &'static Kind,
    #[serde(skip)]
    pub name: String,
    #[serde(skip)]
    pub namespace: Option<String>,
    body: Value,
}

impl Manifest {
    /// `fields` (spec, data, ...) with `apiVersion`, `kind` and `metadata` added. A null field is
    /// left out, as an unset optional field is: to server-side apply, null would mean "remove".
    pub fn new(kind: &'static Kind, metadata: Value, fields: Value) -> Self {
        let mut body = Map::new();
        body.insert("apiVersion".into(), kind.api_version.into());
        body.insert("kind".into(), kind.kind.into());
        if let Value::Object(fields) = fields {
            body.extend(fields);
        }
        let name = metadata["name"].as_str().unwrap_or_default().to_owned();
        let namespace = metadata["namespace"].as_str().map(str::to_owned);
        body.insert("metadata".into(), metadata);
        Self {
            kind,
            name,
            namespace: namespace.filter(|_| kind.namespaced),
            body: without_nulls(Value::Object(body)),
        }
    }

    pub fn body(&self) -> &Value {
        &self.body
    }
}

fn without_nulls(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(without_nulls).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_manifest_carries_its_kind_and_leaves_unset_fields_out() {
        let manifest = Manifest::new(
            &DEPLOYMENT,
            json!({"name": "app", "namespace": "ns"}),
            json!({"spec": {"replicas": 1, "selector": null, "template": {"spec": {"a": [{"b": null}]}}}}),
        );
        assert_eq!(
            serde_json::to_value(&manifest).unwrap(),
            json!({
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "app", "namespace": "ns"},
                "spec": {"replicas": 1, "template": {"spec": {"a": [{}]}}},
            })
        );
        assert_eq!(
            (manifest.name.as_str(), manifest.namespace.as_deref()),
            ("app", Some("ns"))
        );
        let namespace = Manifest::new(
            &NAMESPACE,
            json!({"name": "u", "namespace": "x"}),
            json!({}),
        );
        assert_eq!(
            namespace.namespace, None,
            "a cluster-wide object has no namespace"
        );
        assert_eq!(NETWORK_POLICY.group_path(), "/apis/networking.k8s.io/v1");
        assert_eq!(SECRET.group_path(), "/api/v1");
    }
}

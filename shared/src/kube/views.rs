//! What operators see of the cluster: summaries of the objects, not the raw API. Each summary
//! picks its fields from the object as the server sent it; a field the server left out is null.

use serde_json::{json, Value};

use super::kind::{self, Kind};
use super::{Kube, KubeError};

/// A summary list of one kind of object, in a namespace or across the cluster.
pub async fn summary(
    kube: &Kube<'_>,
    kind: &str,
    namespace: Option<&str>,
) -> Result<Option<Vec<Value>>, KubeError> {
    let (kind, selector, summarize): (&Kind, _, fn(&Value) -> Value) = match kind {
        "nodes" => (&kind::NODE, None, node),
        "namespaces" => (
            &kind::NAMESPACE,
            Some("app.kubernetes.io/managed-by=spincat"),
            user_namespace,
        ),
        "pods" => (&kind::POD, None, pod),
        "deployments" => (&kind::DEPLOYMENT, None, deployment),
        "services" => (&kind::SERVICE, None, service),
        "ingresses" => (&kind::INGRESS, None, ingress),
        _ => return Ok(None),
    };
    let objects: Vec<Value> = kube.list(kind, namespace, selector).await?;
    Ok(Some(objects.iter().map(summarize).collect()))
}

/// The value at a JSON pointer, or null.
fn at(object: &Value, pointer: &str) -> Value {
    object.pointer(pointer).cloned().unwrap_or(Value::Null)
}

fn items<'a>(object: &'a Value, pointer: &str) -> &'a [Value] {
    object
        .pointer(pointer)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn node(node: &Value) -> Value {
    let ready = items(node, "/status/conditions")
        .iter()
        .any(|c| c["type"] == "Ready" && c["status"] == "True");
    json!({
        "name": at(node, "/metadata/name"),
        "ready": ready,
        "capacity": at(node, "/status/capacity"),
        "allocatable": at(node, "/status/allocatable"),
        "kubeletVersion": at(node, "/status/nodeInfo/kubeletVersion"),
    })
}

fn user_namespace(ns: &Value) -> Value {
    json!({
        "name": at(ns, "/metadata/name"),
        "phase": at(ns, "/status/phase"),
        "userId": at(ns, "/metadata/labels/spincat.dev~1user-id"),
        "createdAt": at(ns, "/metadata/creationTimestamp"),
    })
}

fn pod(pod: &Value) -> Value {
    let containers = items(pod, "/status/containerStatuses");
    json!({
        "namespace": at(pod, "/metadata/namespace"),
        "name": at(pod, "/metadata/name"),
        "phase": at(pod, "/status/phase"),
        "ready": !containers.is_empty() && containers.iter().all(|c| c["ready"] == true),
        "restarts": containers.iter().filter_map(|c| c["restartCount"].as_i64()).sum::<i64>(),
        "node": at(pod, "/spec/nodeName"),
    })
}

fn deployment(d: &Value) -> Value {
    json!({
        "namespace": at(d, "/metadata/namespace"),
        "name": at(d, "/metadata/name"),
        "replicas": at(d, "/spec/replicas"),
        "ready": d.pointer("/status/readyReplicas").cloned().unwrap_or(json!(0)),
        "available": d.pointer("/status/availableReplicas").cloned().unwrap_or(json!(0)),
        "image": at(d, "/spec/template/spec/containers/0/image"),
    })
}

fn service(s: &Value) -> Value {
    let ports: Vec<Value> = items(s, "/spec/ports")
        .iter()
        .map(|p| at(p, "/port"))
        .collect();
    json!({
        "namespace": at(s, "/metadata/namespace"),
        "name": at(s, "/metadata/name"),
        "type": at(s, "/spec/type"),
        "clusterIp": at(s, "/spec/clusterIP"),
        "ports": ports,
    })
}

fn ingress(i: &Value) -> Value {
    let hosts: Vec<Value> = items(i, "/spec/rules")
        .iter()
        .map(|r| at(r, "/host"))
        .collect();
    json!({
        "namespace": at(i, "/metadata/namespace"),
        "name": at(i, "/metadata/name"),
        "hosts": hosts,
    })
}

//! What operators see of the cluster: summaries of the objects, not the raw API.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod, Service};
use k8s_openapi::api::networking::v1::Ingress;
use serde_json::{json, Value};

use super::{Kube, KubeError};

/// A summary list of one kind of object, in a namespace or across the cluster.
pub async fn summary(
    kube: &Kube<'_>,
    kind: &str,
    namespace: Option<&str>,
) -> Result<Option<Vec<Value>>, KubeError> {
    Ok(Some(match kind {
        "nodes" => kube.list::<Node>(None, None).await?.iter().map(node).collect(),
        "namespaces" => kube
            .list::<Namespace>(None, Some("app.kubernetes.io/managed-by=spincat"))
            .await?
            .iter()
            .map(|ns| {
                json!({
                    "name": ns.metadata.name,
                    "phase": ns.status.as_ref().and_then(|s| s.phase.clone()),
                    "userId": ns.metadata.labels.as_ref().and_then(|l| l.get("spincat.dev/user-id")),
                    "createdAt": ns.metadata.creation_timestamp,
                })
            })
            .collect(),
        "pods" => kube.list::<Pod>(namespace, None).await?.iter().map(pod).collect(),
        "deployments" => kube
            .list::<Deployment>(namespace, None)
            .await?
            .iter()
            .map(|d| {
                let status = d.status.clone().unwrap_or_default();
                json!({
                    "namespace": d.metadata.namespace,
                    "name": d.metadata.name,
                    "replicas": d.spec.replicas,
                    "ready": status.ready_replicas.unwrap_or(0),
                    "available": status.available_replicas.unwrap_or(0),
                    "image": d.spec.template.spec.as_ref().and_then(|s| s.containers.first()).and_then(|c| c.image.clone()),
                })
            })
            .collect(),
        "services" => kube
            .list::<Service>(namespace, None)
            .await?
            .iter()
            .map(|s| {
                let spec = s.spec.clone().unwrap_or_default();
                json!({
                    "namespace": s.metadata.namespace,
                    "name": s.metadata.name,
                    "type": spec.type_,
                    "clusterIp": spec.cluster_ip,
                    "ports": spec.ports.unwrap_or_default().iter().map(|p| p.port).collect::<Vec<_>>(),
                })
            })
            .collect(),
        "ingresses" => kube
            .list::<Ingress>(namespace, None)
            .await?
            .iter()
            .map(|i| {
                let hosts: Vec<Option<String>> = i
                    .spec
                    .as_ref()
                    .and_then(|s| s.rules.clone())
                    .unwrap_or_default()
                    .into_iter()
                    .map(|r| r.host)
                    .collect();
                json!({ "namespace": i.metadata.namespace, "name": i.metadata.name, "hosts": hosts })
            })
            .collect(),
        _ => return Ok(None),
    }))
}

fn node(node: &Node) -> Value {
    let status = node.status.clone().unwrap_or_default();
    let ready = status
        .conditions
        .unwrap_or_default()
        .iter()
        .any(|c| c.type_ == "Ready" && c.status == "True");
    json!({
        "name": node.metadata.name,
        "ready": ready,
        "capacity": status.capacity,
        "allocatable": status.allocatable,
        "kubeletVersion": status.node_info.map(|i| i.kubelet_version),
    })
}

fn pod(pod: &Pod) -> Value {
    let status = pod.status.clone().unwrap_or_default();
    let containers = status.container_statuses.unwrap_or_default();
    json!({
        "namespace": pod.metadata.namespace,
        "name": pod.metadata.name,
        "phase": status.phase,
        "ready": !containers.is_empty() && containers.iter().all(|c| c.ready),
        "restarts": containers.iter().map(|c| c.restart_count).sum::<i32>(),
        "node": pod.spec.as_ref().and_then(|s| s.node_name.clone()),
    })
}

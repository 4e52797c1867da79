//! Kubernetes names and labels of what Spincat provisions, derived from ids: DNS-safe and at
//! most 63 characters. Subscriptions name an instance's objects when they create it;
//! provisioning creates them.

use std::collections::BTreeMap;

use uuid::Uuid;

pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub const USER_LABEL: &str = "spincat.dev/user-id";
pub const INSTANCE_LABEL: &str = "spincat.dev/instance-id";
pub const RESTARTED_AT: &str = "spincat.dev/restarted-at";
pub const ENV_DIGEST: &str = "spincat.dev/env-digest";

/// Where deploy/ runs the app, and the ServiceAccount it talks to the API server as.
pub const PLATFORM_NAMESPACE: &str = "spincat";
pub const PROVISIONER: &str = "spincat-provisioner";
/// The ClusterRole (deploy/rbac.yaml) the provisioner holds in each user namespace only: Secrets
/// are granted per namespace, never cluster-wide.
pub const TENANT_SECRETS_ROLE: &str = "spincat-tenant-secrets";

pub fn namespace(user_id: Uuid) -> String {
    format!("spincat-u-{}", user_id.simple())
}

pub fn resource(instance_id: Uuid) -> String {
    format!("i-{}", instance_id.simple())
}

pub fn secret(resource: &str) -> String {
    format!("{resource}-credentials")
}

pub fn tls_secret(resource: &str) -> String {
    format!("{resource}-tls")
}

/// The basic-auth credentials of an instance's gate (see `render::gate`).
pub fn gate_secret(resource: &str) -> String {
    format!("{resource}-gate")
}

pub fn namespace_labels(user_id: Uuid) -> BTreeMap<String, String> {
    BTreeMap::from([
        (MANAGED_BY.to_owned(), "spincat".to_owned()),
        (USER_LABEL.to_owned(), user_id.to_string()),
    ])
}

pub fn instance_labels(user_id: Uuid, instance_id: Uuid, app: &str) -> BTreeMap<String, String> {
    let mut labels = namespace_labels(user_id);
    labels.insert(INSTANCE_LABEL.to_owned(), instance_id.to_string());
    labels.insert("app.kubernetes.io/name".to_owned(), app.to_owned());
    labels
}

/// The label selector that finds one instance's objects.
pub fn instance_selector(instance_id: Uuid) -> String {
    format!("{INSTANCE_LABEL}={instance_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_dns_labels_within_63_characters() {
        let id = Uuid::new_v4();
        for name in [
            namespace(id),
            resource(id),
            secret(&resource(id)),
            tls_secret(&resource(id)),
            gate_secret(&resource(id)),
        ] {
            assert!(name.len() <= 63, "{name}");
            assert!(name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'));
            assert!(!name.starts_with('-') && !name.ends_with('-'));
        }
    }
}

//! What to deploy for a catalog service: data, not code. The renderer turns a template, a plan
//! and an instance into Kubernetes manifests.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeploymentTemplate {
    pub image: String,
    pub port: u16,
    pub protocol: Protocol,
    #[serde(default)]
    pub workload: WorkloadKind,
    /// Where the plan's persistent volume is mounted in the main container.
    pub data_mount_path: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
    /// Credentials generated once per instance and kept in its Kubernetes Secret.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<SecretSpec>,
    pub health_check: HealthCheck,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as_user: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fs_group: Option<i64>,
    /// Extra containers in the same pod, e.g. MySQL next to Ghost.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub companions: Vec<Companion>,
    /// Environment variables a user may set on their instance.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub user_env: Vec<String>,
    /// The app hands its owner account to whoever opens it first (n8n, Ghost): it stays behind
    /// basic authentication at the ingress until its owner has set it up and claims it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub first_visitor_setup: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// Served through the Ingress at `<subdomain>.<base domain>`.
    Http,
    /// Exposed as a Service of the configured type; no Ingress.
    Tcp,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum WorkloadKind {
    #[default]
    Deployment,
    StatefulSet,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvVar {
    pub name: String,
    /// May hold placeholders: `{{subdomain}}`, `{{host}}`, `{{publicUrl}}`, `{{secret:NAME}}`.
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretSpec {
    pub name: String,
    pub length: u16,
    /// Shown to the user by the credentials endpoint.
    #[serde(default)]
    pub exposed: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum HealthCheck {
    Http { path: String },
    Exec { command: Vec<String> },
    Tcp,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Companion {
    pub name: String,
    pub image: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Mounted from the same volume, under its own sub-path.
    pub data_mount_path: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as_user: Option<i64>,
}

const PLACEHOLDERS: [&str; 3] = ["subdomain", "host", "publicUrl"];

impl DeploymentTemplate {
    /// Every problem with the template, as `(field, message)`; empty when it can be deployed.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        let mut problem = |field: &str, message: String| problems.push((field.to_owned(), message));
        if !is_image_reference(&self.image) {
            problem(
                "image",
                format!("{:?} is not an image reference", self.image),
            );
        }
        if self.port == 0 {
            problem("port", "must be between 1 and 65535".into());
        }
        if !self.data_mount_path.starts_with('/') {
            problem("dataMountPath", "must be an absolute path".into());
        }
        if let HealthCheck::Http { path } = &self.health_check {
            if !path.starts_with('/') {
                problem("healthCheck.path", "must start with /".into());
            }
        }
        let env = self
            .env
            .iter()
            .chain(self.companions.iter().flat_map(|c| &c.env));
        for var in env {
            for placeholder in placeholders(&var.value) {
                let known = match placeholder.strip_prefix("secret:") {
                    Some(name) => self.secrets.iter().any(|s| s.name == name),
                    None => PLACEHOLDERS.contains(&placeholder),
                };
                if !known {
                    problem(
                        &format!("env.{}", var.name),
                        format!("unknown placeholder {{{{{placeholder}}}}}"),
                    );
                }
            }
        }
        for companion in &self.companions {
            if !is_image_reference(&companion.image) {
                problem(
                    &format!("companions.{}.image", companion.name),
                    format!("{:?} is not an image reference", companion.image),
                );
            }
        }
        problems
    }
}

/// The names inside `{{...}}` in a value.
pub fn placeholders(value: &str) -> impl Iterator<Item = &str> {
    value
        .split("{{")
        .skip(1)
        .filter_map(|rest| rest.split_once("}}").map(|(name, _)| name.trim()))
}

/// `[registry/]repository[:tag][@digest]`, lower-case repository path.
fn is_image_reference(image: &str) -> bool {
    let (name, _digest) = image.split_once('@').unwrap_or((image, ""));
    let repository = match name.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => {
            if tag.is_empty() || tag.len() > 128 {
                return false;
            }
            repo
        }
        _ => name,
    };
    !repository.is_empty()
        && !repository.starts_with('/')
        && !repository.ends_with('/')
        && repository
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-/:".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references() {
        for ok in [
            "postgres:16-alpine",
            "docker.n8n.io/n8nio/n8n:1.80.0",
            "ghost",
            "localhost:5000/app:v1",
        ] {
            assert!(is_image_reference(ok), "{ok}");
        }
        for bad in ["", "Ghost:5", "ghost:", "/ghost", "ghost latest"] {
            assert!(!is_image_reference(bad), "{bad}");
        }
    }

    #[test]
    fn finds_placeholders() {
        let found: Vec<_> = placeholders("https://{{host}}/x?{{ secret:key }}").collect();
        assert_eq!(found, ["host", "secret:key"]);
    }
}

use crate::ports::{Config, ConfigError};

/// Where and how instances are deployed (design section 8).
#[derive(Debug, Clone)]
pub struct ClusterSettings {
    pub api_url: String,
    pub token: String,
    pub base_domain: String,
    pub ingress_class: String,
    pub cluster_issuer: String,
    /// Empty: the cluster's default storage class.
    pub storage_class: Option<String>,
    /// How TCP apps (PostgreSQL) are exposed: `LoadBalancer` or `NodePort`.
    pub tcp_service_type: String,
    /// The namespace of the ingress controller, the only one admitted to user namespaces.
    pub ingress_namespace: String,
    pub provision_timeout_seconds: i64,
    pub request_timeout: std::time::Duration,
}

/// Where the API server is from inside a cluster.
const IN_CLUSTER: &str = "https://kubernetes.default.svc";

impl ClusterSettings {
    /// Whether these settings can reach a cluster at all. The in-cluster address without a
    /// ServiceAccount token cannot (every call would be refused), and outside a cluster it does
    /// not resolve: the default a newcomer's machine has.
    pub fn connection(&self) -> Result<(), ConfigError> {
        if self.api_url == IN_CLUSTER && self.token.is_empty() {
            return Err(ConfigError::new(
                "k8s_api_url",
                "is the in-cluster address and no k8s_token is set: point it at your cluster \
                 (kubectl proxy: http://127.0.0.1:8001), or set k8s_token in the cluster",
            ));
        }
        Ok(())
    }

    pub async fn load(config: &dyn Config) -> Result<Self, ConfigError> {
        let text = |name: &'static str, default: &'static str| async move {
            Ok::<_, ConfigError>(
                config
                    .get(name)
                    .await?
                    .filter(|v| !v.trim().is_empty())
                    .unwrap_or_else(|| default.to_owned()),
            )
        };
        let tcp_service_type = text("tcp_service_type", "LoadBalancer").await?;
        if !["LoadBalancer", "NodePort", "ClusterIP"].contains(&tcp_service_type.as_str()) {
            return Err(ConfigError::new(
                "tcp_service_type",
                "must be LoadBalancer, NodePort or ClusterIP",
            ));
        }
        Ok(Self {
            api_url: text("k8s_api_url", IN_CLUSTER)
                .await?
                .trim_end_matches('/')
                .to_owned(),
            // Empty: no Authorization header (kubectl proxy, or no cluster at all locally).
            token: config.get("k8s_token").await?.unwrap_or_default(),
            base_domain: text("base_domain", "apps.spincat.local").await?,
            ingress_class: text("ingress_class", "nginx").await?,
            cluster_issuer: text("cluster_issuer", "letsencrypt").await?,
            storage_class: config
                .get("storage_class")
                .await?
                .filter(|v| !v.trim().is_empty()),
            tcp_service_type,
            ingress_namespace: text("ingress_namespace", "ingress-nginx").await?,
            provision_timeout_seconds: config.parsed_or("provision_timeout_seconds", 300).await?,
            request_timeout: std::time::Duration::from_millis(
                config.parsed_or("k8s_timeout_ms", 10_000).await?,
            ),
        })
    }
}

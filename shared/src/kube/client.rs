use k8s_openapi::{ClusterResourceScope, NamespaceResourceScope, Resource};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

use super::{ClusterSettings, KubeError};
use crate::ports::{HttpClient, OutboundError, OutboundRequest};

/// Our name in `managedFields`: every object we apply is owned by it.
pub const FIELD_MANAGER: &str = "spincat";

pub struct Kube<'a> {
    http: &'a dyn HttpClient,
    settings: &'a ClusterSettings,
}

/// Where a kind of resource lives in the API.
pub trait Located: Resource {
    fn collection(api_url: &str, namespace: Option<&str>) -> String {
        let base = if Self::GROUP.is_empty() {
            format!("{api_url}/api/{}", Self::VERSION)
        } else {
            format!("{api_url}/apis/{}/{}", Self::GROUP, Self::VERSION)
        };
        match namespace {
            Some(ns) => format!("{base}/namespaces/{ns}/{}", Self::URL_PATH_SEGMENT),
            None => format!("{base}/{}", Self::URL_PATH_SEGMENT),
        }
    }
}

impl<K: Resource> Located for K {}

/// Namespaced or cluster-wide, known from the type.
pub trait Scoped {
    const NAMESPACED: bool;
}

impl Scoped for NamespaceResourceScope {
    const NAMESPACED: bool = true;
}

impl Scoped for ClusterResourceScope {
    const NAMESPACED: bool = false;
}

impl<'a> Kube<'a> {
    pub fn new(http: &'a dyn HttpClient, settings: &'a ClusterSettings) -> Self {
        Self { http, settings }
    }

    fn url<K: Resource>(&self, namespace: Option<&str>, name: Option<&str>) -> String
    where
        K::Scope: Scoped,
    {
        let namespace = namespace.filter(|_| K::Scope::NAMESPACED);
        let collection = K::collection(&self.settings.api_url, namespace);
        match name {
            Some(name) => format!("{collection}/{name}"),
            None => collection,
        }
    }

    async fn send(
        &self,
        method: &str,
        url: String,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<Vec<u8>, KubeError> {
        let mut request = OutboundRequest::new(method, url);
        if !self.settings.token.is_empty() {
            request = request.header("authorization", format!("Bearer {}", self.settings.token));
        }
        let request = request
            .header("accept", "application/json")
            .header("content-type", content_type)
            .body(body)
            .timeout(self.settings.request_timeout);
        let response = self.http.send(request).await.map_err(|e| match e {
            OutboundError::Timeout => KubeError::Unavailable("timed out".into()),
            other => KubeError::Unavailable(other.to_string()),
        })?;
        if (200..300).contains(&response.status) {
            Ok(response.body)
        } else {
            Err(KubeError::from_response(response.status, &response.body))
        }
    }

    fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, KubeError> {
        serde_json::from_slice(bytes).map_err(|e| KubeError::Other {
            status: 200,
            message: format!("unreadable body: {e}"),
        })
    }

    /// Server-side apply: creates the object or brings our fields of it to `object`, as one
    /// idempotent upsert that can be repeated after any failure.
    pub async fn apply<K>(&self, object: &K) -> Result<K, KubeError>
    where
        K: Resource
            + k8s_openapi::Metadata<Ty = k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>
            + Serialize
            + DeserializeOwned,
        K::Scope: Scoped,
    {
        let meta = object.metadata();
        let name = meta
            .name
            .as_deref()
            .ok_or(KubeError::Invalid("no name".into()))?;
        let url = format!(
            "{}?fieldManager={FIELD_MANAGER}&force=true",
            self.url::<K>(meta.namespace.as_deref(), Some(name))
        );
        let body = serde_json::to_vec(object).map_err(|e| KubeError::Invalid(e.to_string()))?;
        let answer = self
            .send("PATCH", url, "application/apply-patch+yaml", body)
            .await?;
        Self::parse(&answer)
    }

    pub async fn get<K>(&self, namespace: Option<&str>, name: &str) -> Result<K, KubeError>
    where
        K: Resource + DeserializeOwned,
        K::Scope: Scoped,
    {
        let answer = self
            .send(
                "GET",
                self.url::<K>(namespace, Some(name)),
                "application/json",
                Vec::new(),
            )
            .await?;
        Self::parse(&answer)
    }

    /// Objects of a kind, in one namespace or all, matching an equality label selector.
    pub async fn list<K>(
        &self,
        namespace: Option<&str>,
        label_selector: Option<&str>,
    ) -> Result<Vec<K>, KubeError>
    where
        K: Resource + DeserializeOwned,
        K::Scope: Scoped,
    {
        let mut url = self.url::<K>(namespace, None);
        if let Some(selector) = label_selector {
            let encoded: String = form_urlencoded::byte_serialize(selector.as_bytes()).collect();
            url.push_str(&format!("?labelSelector={encoded}"));
        }
        let answer = self
            .send("GET", url, "application/json", Vec::new())
            .await?;
        let list: Value = Self::parse(&answer)?;
        let items = list["items"].as_array().cloned().unwrap_or_default();
        items
            .into_iter()
            .map(|item| serde_json::from_value(item).map_err(|e| KubeError::Invalid(e.to_string())))
            .collect()
    }

    /// Deletes an object; one that is already gone is fine. Dependents go in the background.
    pub async fn delete<K>(&self, namespace: Option<&str>, name: &str) -> Result<(), KubeError>
    where
        K: Resource,
        K::Scope: Scoped,
    {
        let body =
            json!({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"});
        match self
            .send(
                "DELETE",
                self.url::<K>(namespace, Some(name)),
                "application/json",
                body.to_string().into_bytes(),
            )
            .await
        {
            Ok(_) | Err(KubeError::NotFound(_)) => Ok(()),
            Err(other) => Err(other),
        }
    }

    /// Sets replicas through the scale subresource.
    pub async fn scale<K>(
        &self,
        namespace: &str,
        name: &str,
        replicas: i32,
    ) -> Result<(), KubeError>
    where
        K: Resource,
        K::Scope: Scoped,
    {
        let url = format!("{}/scale", self.url::<K>(Some(namespace), Some(name)));
        let body = json!({ "spec": { "replicas": replicas } });
        self.send(
            "PATCH",
            url,
            "application/merge-patch+json",
            body.to_string().into_bytes(),
        )
        .await?;
        Ok(())
    }

    /// The last lines of a pod container's log.
    pub async fn logs(
        &self,
        namespace: &str,
        pod: &str,
        container: Option<&str>,
        tail_lines: u32,
        since_seconds: Option<u32>,
    ) -> Result<String, KubeError> {
        let mut url = format!(
            "{}/{pod}/log?tailLines={tail_lines}",
            k8s_openapi::api::core::v1::Pod::collection(&self.settings.api_url, Some(namespace))
        );
        if let Some(container) = container {
            url.push_str(&format!("&container={container}"));
        }
        if let Some(since) = since_seconds {
            url.push_str(&format!("&sinceSeconds={since}"));
        }
        let answer = self
            .send("GET", url, "application/json", Vec::new())
            .await?;
        Ok(String::from_utf8_lossy(&answer).into_owned())
    }
}

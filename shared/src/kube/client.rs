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
            Some(ns) => format!(
                "{base}/namespaces/{}/{}",
                path_segment(ns),
                Self::URL_PATH_SEGMENT
            ),
            None => format!("{base}/{}", Self::URL_PATH_SEGMENT),
        }
    }
}

/// A value (a namespace, a name) as one path segment of an API URL: everything but RFC 3986's
/// unreserved characters is percent-encoded, and so are the dots of `.` and `..`, so no value can
/// end its segment, climb the path or start a query.
fn path_segment(value: &str) -> String {
    let all_dots = value.bytes().all(|b| b == b'.');
    value
        .bytes()
        .map(|b| match b {
            b'.' if all_dots => "%2E".to_owned(),
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Query parameters, each name and value form-encoded.
fn query(pairs: &[(&str, &str)]) -> String {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs {
        serializer.append_pair(name, value);
    }
    serializer.finish()
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
            Some(name) => format!("{collection}/{}", path_segment(name)),
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
        self.settings
            .connection()
            .map_err(|e| KubeError::NotConfigured {
                variable: e.name,
                reason: e.reason,
            })?;
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
            "{}?{}",
            self.url::<K>(meta.namespace.as_deref(), Some(name)),
            query(&[("fieldManager", FIELD_MANAGER), ("force", "true")])
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
            url = format!("{url}?{}", query(&[("labelSelector", selector)]));
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

    /// The last lines of a pod container's log. Never `follow`: a stream would hold the
    /// request open.
    pub async fn logs(
        &self,
        namespace: &str,
        pod: &str,
        container: Option<&str>,
        tail_lines: u32,
        since_seconds: Option<u32>,
    ) -> Result<String, KubeError> {
        let tail_lines = tail_lines.to_string();
        let since_seconds = since_seconds.map(|s| s.to_string());
        let mut parameters = vec![("tailLines", tail_lines.as_str())];
        parameters.extend(container.map(|c| ("container", c)));
        parameters.extend(since_seconds.as_deref().map(|s| ("sinceSeconds", s)));
        let url = format!(
            "{}/log?{}",
            self.url::<k8s_openapi::api::core::v1::Pod>(Some(namespace), Some(pod)),
            query(&parameters)
        );
        let answer = self
            .send("GET", url, "application/json", Vec::new())
            .await?;
        Ok(String::from_utf8_lossy(&answer).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_cannot_leave_their_place_in_the_url() {
        assert_eq!(path_segment("spincat-u-1"), "spincat-u-1");
        assert_eq!(path_segment("a/b?c=d&e"), "a%2Fb%3Fc%3Dd%26e");
        assert_eq!(path_segment(".."), "%2E%2E");
        assert_eq!(path_segment("node.example"), "node.example");
        assert_eq!(
            query(&[("container", "c&follow=true&limitBytes=1")]),
            "container=c%26follow%3Dtrue%26limitBytes%3D1"
        );
    }
}

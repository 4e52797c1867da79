use serde::de::DeserializeOwned;
use serde_json::json;

use super::kind::{self, Kind, Manifest};
use super::{ClusterSettings, KubeError};
use crate::ports::{HttpClient, OutboundError, OutboundRequest};

/// Our name in `managedFields`: every object we apply is owned by it.
pub const FIELD_MANAGER: &str = "spincat";

pub struct Kube<'a> {
    http: &'a dyn HttpClient,
    settings: &'a ClusterSettings,
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

impl<'a> Kube<'a> {
    pub fn new(http: &'a dyn HttpClient, settings: &'a ClusterSettings) -> Self {
        Self { http, settings }
    }

    /// The collection of `kind` (in `namespace`, when the kind lives in one), or one object in it.
    fn url(&self, kind: &Kind, namespace: Option<&str>, name: Option<&str>) -> String {
        let base = format!("{}{}", self.settings.api_url, kind.group_path());
        let collection = match namespace.filter(|_| kind.namespaced) {
            Some(ns) => format!("{base}/namespaces/{}/{}", path_segment(ns), kind.plural),
            None => format!("{base}/{}", kind.plural),
        };
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
    /// idempotent upsert that can be repeated after any failure. The object the server answers
    /// with is not read: nothing we decide depends on it.
    pub async fn apply(&self, object: &Manifest) -> Result<(), KubeError> {
        if object.name.is_empty() {
            return Err(KubeError::Invalid("no name".into()));
        }
        let url = format!(
            "{}?{}",
            self.url(object.kind, object.namespace.as_deref(), Some(&object.name)),
            query(&[("fieldManager", FIELD_MANAGER), ("force", "true")])
        );
        let body = object.body().to_string().into_bytes();
        self.send("PATCH", url, "application/apply-patch+yaml", body)
            .await
            .map(drop)
    }

    /// An object of `kind`, read as `T`: the fields of it we use (`super::objects`).
    pub async fn get<T: DeserializeOwned>(
        &self,
        kind: &Kind,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<T, KubeError> {
        let answer = self
            .send(
                "GET",
                self.url(kind, namespace, Some(name)),
                "application/json",
                Vec::new(),
            )
            .await?;
        Self::parse(&answer)
    }

    /// Objects of `kind`, each read as `T`, in one namespace or all, matching an equality
    /// label selector.
    pub async fn list<T: DeserializeOwned>(
        &self,
        kind: &Kind,
        namespace: Option<&str>,
        label_selector: Option<&str>,
    ) -> Result<Vec<T>, KubeError> {
        let mut url = self.url(kind, namespace, None);
        if let Some(selector) = label_selector {
            url = format!("{url}?{}", query(&[("labelSelector", selector)]));
        }
        let answer = self
            .send("GET", url, "application/json", Vec::new())
            .await?;
        #[derive(serde::Deserialize)]
        struct List<T> {
            items: Option<Vec<T>>,
        }
        Self::parse::<List<T>>(&answer).map(|list| list.items.unwrap_or_default())
    }

    /// Deletes an object; one that is already gone is fine. Dependents go in the background.
    pub async fn delete(
        &self,
        kind: &Kind,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<(), KubeError> {
        let body =
            json!({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"});
        match self
            .send(
                "DELETE",
                self.url(kind, namespace, Some(name)),
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
    pub async fn scale(
        &self,
        kind: &Kind,
        namespace: &str,
        name: &str,
        replicas: i32,
    ) -> Result<(), KubeError> {
        let url = format!("{}/scale", self.url(kind, Some(namespace), Some(name)));
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
            self.url(&kind::POD, Some(namespace), Some(pod)),
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

use spincat::ports::{HttpClient, OutboundError, OutboundRequest, OutboundResponse};

/// Outbound HTTP over reqwest, with the request's own timeout.
pub struct NativeHttp {
    client: reqwest::Client,
}

impl NativeHttp {
    pub fn new() -> Self {
        Self {
            client: reqwest::Client::builder()
                .build()
                .expect("an HTTP client with default settings"),
        }
    }
}

impl Default for NativeHttp {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait::async_trait]
impl HttpClient for NativeHttp {
    async fn send(&self, request: OutboundRequest) -> Result<OutboundResponse, OutboundError> {
        let method = reqwest::Method::from_bytes(request.method.as_bytes())
            .map_err(|e| OutboundError::Other(e.to_string()))?;
        let mut builder = self
            .client
            .request(method, &request.url)
            .timeout(request.timeout)
            .body(request.body);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        let classify = |e: reqwest::Error| {
            if e.is_timeout() {
                OutboundError::Timeout
            } else if e.is_connect() {
                OutboundError::Connect(e.to_string())
            } else {
                OutboundError::Other(e.to_string())
            }
        };
        let response = builder.send().await.map_err(classify)?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = response.bytes().await.map_err(classify)?.to_vec();
        Ok(OutboundResponse {
            status,
            headers,
            body,
        })
    }
}

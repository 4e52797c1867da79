use spin_sdk::http::{self as spin_http, Method};

use crate::ports::{HttpClient, OutboundError, OutboundRequest, OutboundResponse};

pub struct SpinHttp;

fn method(name: &str) -> Method {
    match name {
        "GET" => Method::Get,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "PATCH" => Method::Patch,
        "DELETE" => Method::Delete,
        "HEAD" => Method::Head,
        "OPTIONS" => Method::Options,
        other => Method::Other(other.to_owned()),
    }
}

#[async_trait::async_trait(?Send)]
impl HttpClient for SpinHttp {
    /// Spin applies its own outbound timeouts; `request.timeout` is honoured natively only.
    async fn send(&self, request: OutboundRequest) -> Result<OutboundResponse, OutboundError> {
        let mut builder = spin_http::Request::builder();
        builder.method(method(&request.method)).uri(&request.url);
        for (name, value) in &request.headers {
            builder.header(name, value);
        }
        let outgoing = builder.body(request.body).build();
        let response: spin_http::Response =
            spin_http::send(outgoing).await.map_err(|e| match e {
                spin_http::SendError::Http(code) => {
                    let text = format!("{code:?}");
                    if text.contains("Timeout") {
                        OutboundError::Timeout
                    } else if text.contains("Denied") || text.contains("NotPermitted") {
                        OutboundError::NotAllowed(text)
                    } else {
                        OutboundError::Connect(text)
                    }
                }
                other => OutboundError::Other(other.to_string()),
            })?;
        Ok(OutboundResponse {
            status: *response.status(),
            headers: response
                .headers()
                .map(|(n, v)| {
                    (
                        n.to_ascii_lowercase(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body: response.into_body(),
        })
    }
}

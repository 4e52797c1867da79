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

/// Resolves at a monotonic-clock instant, through a WASI pollable that Spin's executor waits on
/// beside the request's own; dropping it cancels the pollable.
struct Timer {
    deadline: u64,
    waiting: Option<spin_executor::CancelOnDropToken>,
}

impl Timer {
    fn after(duration: std::time::Duration) -> Self {
        let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        Self {
            deadline: wasi::clocks::monotonic_clock::now().saturating_add(nanos),
            waiting: None,
        }
    }
}

impl std::future::Future for Timer {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        context: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        use wasi::clocks::monotonic_clock;
        if monotonic_clock::now() >= self.deadline {
            return std::task::Poll::Ready(());
        }
        let pollable = monotonic_clock::subscribe_instant(self.deadline);
        let token = spin_executor::push_waker_and_get_token(pollable, context.waker().clone());
        self.waiting = Some(token.into());
        std::task::Poll::Pending
    }
}

#[async_trait::async_trait(?Send)]
impl HttpClient for SpinHttp {
    /// The whole exchange, response body included, must finish within `request.timeout`, as
    /// natively; the call is dropped (and cancelled) when it does not.
    async fn send(&self, request: OutboundRequest) -> Result<OutboundResponse, OutboundError> {
        let timeout = request.timeout;
        let exchange = std::pin::pin!(exchange(request));
        let timer = Timer::after(timeout);
        match futures_util::future::select(exchange, timer).await {
            futures_util::future::Either::Left((result, _)) => result,
            futures_util::future::Either::Right(_) => Err(OutboundError::Timeout),
        }
    }
}

async fn exchange(request: OutboundRequest) -> Result<OutboundResponse, OutboundError> {
    {
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

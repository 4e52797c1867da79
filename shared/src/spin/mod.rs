//! The Spin adapters of the ports, and the bridge from a Spin HTTP request to a Spincat
//! handler. Only compiled for wasm32; the native adapters live in the `spincat-host` crate.

mod config;
mod db;
mod kv;

pub use kv::SpinStore;
mod outbound;

use std::sync::Arc;

use spin_sdk::http as spin_http;

use crate::http::{Request, Response};
use crate::ports::{Clock, NoPasswords, NoStore, OnDemand, Ports};

struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now()
    }
}

/// The Spin adapters, without password hashing or the key-value store: a component that uses
/// them sets them (see `spincat::component!`).
// `Ports` holds `Arc`s for the multi-threaded native host; a Spin component has one thread.
#[allow(clippy::arc_with_non_send_sync)]
pub fn ports() -> Ports {
    Ports {
        db: Arc::new(OnDemand::over(Arc::new(db::SpinDatabase))),
        kv: Arc::new(NoStore),
        http: Arc::new(outbound::SpinHttp),
        config: Arc::new(config::SpinVariables),
        clock: Arc::new(SystemClock),
        passwords: Arc::new(NoPasswords),
    }
}

/// Runs a component's handler on a Spin request.
pub async fn serve(
    request: spin_http::Request,
    handle: impl AsyncFnOnce(Request, &Ports) -> Response,
    ports: Ports,
) -> spin_http::Response {
    crate::logging::init();
    let method = request.method().to_string();
    let mut incoming = Request::new(&method, request.path());
    incoming.query = request.query().to_owned();
    incoming.headers = request
        .headers()
        .map(|(name, value)| {
            (
                name.to_ascii_lowercase(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    incoming.body = request.into_body();
    let response = handle(incoming, &ports).await;
    let mut builder = spin_http::Response::builder();
    builder.status(response.status);
    for (name, value) in response.headers {
        builder.header(name, value);
    }
    builder.body(response.body).build()
}

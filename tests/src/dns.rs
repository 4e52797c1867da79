//! A double of a DNS-over-HTTPS resolver's JSON API, as Cloudflare's (`/dns-query`) answers it
//! (the schema Google's follows too): `GET ?name=&type=` with `accept: application/dns-json`;
//! `Status` 0 with the records, or 3 (NXDOMAIN) for a name with none; names with their trailing
//! dot; TXT data as quoted character-strings, a long value split into 255-character parts; 400
//! for a request it cannot read. Faults can be injected.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this HTTP status.
    Status(u16),
    /// Answer only after this long.
    Delay(Duration),
}

#[derive(Default)]
struct Inner {
    /// TXT values by name, lower-case, without the trailing dot.
    txt: BTreeMap<String, Vec<String>>,
    faults: VecDeque<Fault>,
    queries: Vec<String>,
}

#[derive(Clone)]
pub struct DnsDouble {
    /// The resolver's URL, `/dns-query` included.
    pub url: String,
    /// Its origin, for `dns_resolver_origin`.
    pub origin: String,
    inner: Arc<Mutex<Inner>>,
}

impl DnsDouble {
    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = Router::new()
            .route("/dns-query", get(resolve))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            url: format!("{origin}/dns-query"),
            origin,
            inner,
        }
    }

    /// Publishes a TXT record (another value beside any already there).
    pub fn publish_txt(&self, name: &str, value: &str) {
        self.inner
            .lock()
            .unwrap()
            .txt
            .entry(name.trim_end_matches('.').to_ascii_lowercase())
            .or_default()
            .push(value.to_owned());
    }

    pub fn fail_next(&self, fault: Fault) {
        self.inner.lock().unwrap().faults.push_back(fault);
    }

    /// The names asked about, in order.
    pub fn queries(&self) -> Vec<String> {
        self.inner.lock().unwrap().queries.clone()
    }
}

/// A TXT value as DNS JSON writes it: quoted 255-character strings, `"` and `\` escaped.
fn character_strings(value: &str) -> String {
    let escaped: Vec<String> = value
        .as_bytes()
        .chunks(255)
        .map(|part| {
            let part = String::from_utf8_lossy(part)
                .replace('\\', "\\\\")
                .replace('"', "\\\"");
            format!("\"{part}\"")
        })
        .collect();
    escaped.join(" ")
}

async fn resolve(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    let fault = inner.lock().unwrap().faults.pop_front();
    match fault {
        Some(Fault::Status(status)) => {
            return StatusCode::from_u16(status).unwrap().into_response()
        }
        Some(Fault::Delay(delay)) => tokio::time::sleep(delay).await,
        None => {}
    }
    let json_accepted = headers
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/dns-json"));
    let Some(name) = query.get("name").filter(|_| json_accepted) else {
        return (StatusCode::BAD_REQUEST, "Invalid DNS request").into_response();
    };
    let kind = query.get("type").map(String::as_str).unwrap_or("A");
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let mut inner = inner.lock().unwrap();
    inner.queries.push(name.clone());
    let question = json!([{ "name": format!("{name}."), "type": 16 }]);
    let records = match kind {
        "TXT" | "16" => inner.txt.get(&name).cloned().unwrap_or_default(),
        _ => Vec::new(),
    };
    let mut body = json!({
        "Status": if records.is_empty() { 3 } else { 0 },
        "TC": false, "RD": true, "RA": true, "AD": false, "CD": false,
        "Question": question,
    });
    if !records.is_empty() {
        body["Answer"] = Value::Array(
            records
                .iter()
                .map(|value| {
                    json!({
                        "name": format!("{name}."),
                        "type": 16,
                        "TTL": 300,
                        "data": character_strings(value),
                    })
                })
                .collect(),
        );
    }
    Json(body).into_response()
}

//! A Midtrans double on loopback that speaks the documented API: Snap transaction creation
//! (`POST /snap/v1/transactions`) and the status API (`GET /v2/{order_id}/status`), with Basic
//! auth from the server key, Midtrans's error bodies, and notifications signed as Midtrans signs
//! them (bodies from tests/fixtures/midtrans: Midtrans's documented examples). Tests can make it fail, stall, or deliver
//! notifications twice and out of order.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};
use spincat::payments::notification_signature;

pub const SERVER_KEY: &str = "SB-Mid-server-double-0123456789abcdef";
pub const CLIENT_KEY: &str = "SB-Mid-client-double-0123456789abcdef";

/// What the next calls should suffer, in order.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this HTTP status and a Midtrans-shaped error body.
    Status(u16),
    /// Answer only after this long.
    Delay(Duration),
}

#[derive(Debug, Clone)]
pub struct Order {
    pub gross_amount: i64,
    /// `None` until a payment is started: the status API does not know it yet.
    pub transaction_status: Option<String>,
    pub fraud_status: Option<String>,
    /// For a refund or chargeback: the total reversed, as Midtrans writes it (`"5000.00"`).
    pub reversed_amount: Option<String>,
    pub notification_url: Option<String>,
    pub snap_request: Value,
}

#[derive(Default)]
struct Inner {
    orders: HashMap<String, Order>,
    faults: VecDeque<Fault>,
    snap_calls: u32,
    status_calls: u32,
}

#[derive(Clone)]
pub struct MidtransDouble {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
    http: reqwest::Client,
}

fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/midtrans")
}

/// A notification body from the fixtures, as Midtrans documents it for that status.
pub fn fixture(name: &str) -> Value {
    let path = fixtures_dir().join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "fixture {} (../shared beside the repo): {e}",
            path.display()
        )
    });
    serde_json::from_str(&text).unwrap()
}

/// Signs a notification body in place, as Midtrans does, over its exact strings.
pub fn sign(body: &mut Value, server_key: &str) {
    let signature = notification_signature(
        body["order_id"].as_str().unwrap(),
        body["status_code"].as_str().unwrap(),
        body["gross_amount"].as_str().unwrap(),
        server_key,
    );
    body["signature_key"] = json!(signature);
}

fn authorised(headers: &HeaderMap) -> bool {
    let expected = format!("Basic {}", STANDARD.encode(format!("{SERVER_KEY}:")));
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(expected.as_str())
}

fn unauthorised_snap() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({"error_messages": [
            "Access denied due to unauthorized transaction, please check client or server key",
            "Visit https://snap-docs.midtrans.com/#request-headers for more details"
        ]})),
    )
        .into_response()
}

fn fault_response(status: u16) -> Response {
    let code = StatusCode::from_u16(status).unwrap();
    let body = if status >= 500 {
        json!({"status_code": status.to_string(), "status_message": "Sorry. Our system is recovering from unexpected issues. Please retry.", "error_messages": ["An unexpected error occurred"]})
    } else {
        json!({"status_code": status.to_string(), "error_messages": ["Injected failure"]})
    };
    (code, Json(body)).into_response()
}

impl MidtransDouble {
    pub async fn start() -> Self {
        let double = Self {
            url: String::new(),
            inner: Arc::new(Mutex::new(Inner::default())),
            http: reqwest::Client::new(),
        };
        let app = Router::new()
            .route("/snap/v1/transactions", post(snap))
            .route("/v2/{order_id}/status", get(status))
            .with_state(double.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, ..double }
    }

    pub fn fail_next(&self, fault: Fault) {
        self.inner.lock().unwrap().faults.push_back(fault);
    }

    pub fn snap_calls(&self) -> u32 {
        self.inner.lock().unwrap().snap_calls
    }

    pub fn status_calls(&self) -> u32 {
        self.inner.lock().unwrap().status_calls
    }

    pub fn order(&self, order_id: &str) -> Option<Order> {
        self.inner.lock().unwrap().orders.get(order_id).cloned()
    }

    /// Moves an order to a status on Midtrans's side (the user paid, it expired, ...).
    pub fn set_status(&self, order_id: &str, transaction_status: &str, fraud_status: Option<&str>) {
        let mut inner = self.inner.lock().unwrap();
        let order = inner
            .orders
            .get_mut(order_id)
            .expect("an order the double created");
        order.transaction_status = Some(transaction_status.to_owned());
        order.fraud_status = fraud_status.map(str::to_owned);
    }

    /// Records on Midtrans's side how much of an order has been refunded or charged back.
    pub fn set_reversed_amount(&self, order_id: &str, amount: &str) {
        let mut inner = self.inner.lock().unwrap();
        let order = inner.orders.get_mut(order_id).expect("a known order");
        order.reversed_amount = Some(amount.to_owned());
    }

    /// A signed notification for an order, built on the fixture `name`.
    pub fn notification(&self, order_id: &str, name: &str) -> Value {
        let amount = self.order(order_id).expect("a known order").gross_amount;
        notification_for(order_id, amount, name)
    }

    /// Sets the order's status from the fixture and delivers its notification to the URL the
    /// order was created with, as Midtrans would; returns our HTTP status.
    pub async fn deliver(&self, order_id: &str, name: &str) -> (u16, Value) {
        let body = self.notification(order_id, name);
        self.set_status(
            order_id,
            body["transaction_status"].as_str().unwrap(),
            body["fraud_status"].as_str(),
        );
        if let Some(amount) = body["refund_amount"].as_str() {
            self.set_reversed_amount(order_id, amount);
        }
        self.post_notification(order_id, &body).await
    }

    /// Delivers a body as it is (forged, altered, replayed) to the order's notification URL.
    pub async fn post_notification(&self, order_id: &str, body: &Value) -> (u16, Value) {
        let url = self
            .order(order_id)
            .and_then(|o| o.notification_url)
            .expect("the order was created with X-Override-Notification");
        let response = self.http.post(url).json(body).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn suffer(&self) -> Option<Response> {
        let fault = self.inner.lock().unwrap().faults.pop_front();
        match fault {
            Some(Fault::Status(status)) => Some(fault_response(status)),
            Some(Fault::Delay(delay)) => {
                tokio::time::sleep(delay).await;
                None
            }
            None => None,
        }
    }
}

pub fn notification_for(order_id: &str, amount: i64, name: &str) -> Value {
    let mut body = fixture(name);
    body["order_id"] = json!(order_id);
    body["gross_amount"] = json!(format!("{amount}.00"));
    if body.get("refund_amount").is_some() {
        body["refund_amount"] = json!(format!("{amount}.00"));
        for refund in body["refunds"].as_array_mut().into_iter().flatten() {
            refund["refund_amount"] = json!(format!("{amount}.00"));
        }
    }
    sign(&mut body, SERVER_KEY);
    body
}

async fn snap(
    State(double): State<MidtransDouble>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    double.inner.lock().unwrap().snap_calls += 1;
    if let Some(fault) = double.suffer().await {
        return fault;
    }
    if !authorised(&headers) {
        return unauthorised_snap();
    }
    let order_id = body["transaction_details"]["order_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let gross = body["transaction_details"]["gross_amount"].as_i64();
    let items: Option<i64> = body["item_details"].as_array().map(|items| {
        items
            .iter()
            .map(|i| i["price"].as_i64().unwrap_or(0) * i["quantity"].as_i64().unwrap_or(0))
            .sum()
    });
    let mut problems = Vec::new();
    if order_id.is_empty() || order_id.len() > 50 {
        problems.push("transaction_details.order_id is required and at most 50 characters");
    }
    match gross {
        Some(g) if g >= 1 => {
            if items.is_some_and(|sum| sum != g) {
                problems.push(
                    "transaction_details.gross_amount is not equal to the sum of item_details",
                );
            }
        }
        _ => problems.push("transaction_details.gross_amount must be a whole number of at least 1"),
    }
    let mut inner = double.inner.lock().unwrap();
    if inner.orders.contains_key(&order_id) {
        problems.push("transaction_details.order_id sudah digunakan");
    }
    if !problems.is_empty() {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error_messages": problems })),
        )
            .into_response();
    }
    let token = uuid::Uuid::new_v4().to_string();
    inner.orders.insert(
        order_id,
        Order {
            gross_amount: gross.unwrap(),
            transaction_status: None,
            fraud_status: None,
            reversed_amount: None,
            notification_url: headers
                .get("x-override-notification")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            snap_request: body,
        },
    );
    (
        StatusCode::CREATED,
        Json(json!({
            "token": token,
            "redirect_url": format!("https://app.sandbox.midtrans.com/snap/v4/redirection/{token}"),
        })),
    )
        .into_response()
}

async fn status(
    State(double): State<MidtransDouble>,
    headers: HeaderMap,
    Path(order_id): Path<String>,
) -> Response {
    double.inner.lock().unwrap().status_calls += 1;
    if let Some(fault) = double.suffer().await {
        return fault;
    }
    if !authorised(&headers) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"status_code": "401", "status_message": "Access denied due to unauthorized transaction, please check client or server key"})),
        )
            .into_response();
    }
    let order = double.order(&order_id);
    let Some((order, status)) = order.and_then(|o| o.transaction_status.clone().map(|s| (o, s)))
    else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"status_code": "404", "status_message": "Transaction doesn't exist.", "id": uuid::Uuid::new_v4()})),
        )
            .into_response();
    };
    let status_code = match (status.as_str(), order.fraud_status.as_deref()) {
        ("capture", Some("challenge")) | ("pending", _) => "201",
        ("deny" | "cancel" | "expire" | "failure", _) => "202",
        _ => "200",
    };
    let mut body = json!({
        "status_code": status_code,
        "status_message": "Success, transaction is found",
        "transaction_id": uuid::Uuid::new_v4(),
        "order_id": order_id,
        "gross_amount": format!("{}.00", order.gross_amount),
        "currency": "IDR",
        "payment_type": "bank_transfer",
        "transaction_time": "2026-11-24 10:00:00",
        "transaction_status": status,
        "fraud_status": order.fraud_status.clone().unwrap_or_else(|| "accept".into()),
    });
    let reversed = order
        .reversed_amount
        .clone()
        .unwrap_or_else(|| format!("{}.00", order.gross_amount));
    match status.as_str() {
        "refund" | "partial_refund" => body["refund_amount"] = json!(reversed),
        "chargeback" | "partial_chargeback" => body["chargeback_amount"] = json!(reversed),
        _ => {}
    }
    sign(&mut body, SERVER_KEY);
    (StatusCode::OK, Json(body)).into_response()
}

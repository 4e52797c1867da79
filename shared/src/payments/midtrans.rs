//! The Midtrans APIs we call: Snap (create a payment page) and the status API.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};

use super::gateway::GatewayReport;
use super::PaymentSettings;
use crate::money::Rupiah;
use crate::ports::{HttpClient, OutboundError, OutboundRequest, OutboundResponse};

pub struct Midtrans<'a> {
    http: &'a dyn HttpClient,
    settings: &'a PaymentSettings,
}

/// A Snap payment page for an order.
#[derive(Debug, Clone)]
pub struct SnapOrder {
    pub token: String,
    pub redirect_url: String,
}

/// Who pays, as Snap shows them on its page.
pub struct Customer<'a> {
    pub name: &'a str,
    pub email: &'a str,
    pub phone: Option<&'a str>,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum MidtransError {
    /// Midtrans answered and refused (4xx), with its `error_messages`.
    #[error("Midtrans refused the request ({status}): {}", messages.join("; "))]
    Rejected { status: u16, messages: Vec<String> },
    /// The status API does not know the order (no payment was ever started for it).
    #[error("Midtrans does not know this order")]
    NotFound,
    /// No usable answer: 5xx, timeout, connection refused, or a body we cannot read.
    #[error("Midtrans is unavailable: {0}")]
    Unavailable(String),
}

impl<'a> Midtrans<'a> {
    pub fn new(http: &'a dyn HttpClient, settings: &'a PaymentSettings) -> Self {
        Self { http, settings }
    }

    fn request(&self, method: &str, url: String) -> OutboundRequest {
        let credentials = STANDARD.encode(format!("{}:", self.settings.server_key));
        OutboundRequest::new(method, url)
            .header("authorization", format!("Basic {credentials}"))
            .header("accept", "application/json")
            .header("content-type", "application/json")
            .timeout(self.settings.timeout)
    }

    async fn send(&self, request: OutboundRequest) -> Result<(u16, Value), MidtransError> {
        let response: OutboundResponse = self.http.send(request).await.map_err(|e| match e {
            OutboundError::Timeout => MidtransError::Unavailable("timed out".into()),
            other => MidtransError::Unavailable(other.to_string()),
        })?;
        let body: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
        Ok((response.status, body))
    }

    pub async fn create_snap(
        &self,
        order_id: &str,
        amount: Rupiah,
        customer: Customer<'_>,
    ) -> Result<SnapOrder, MidtransError> {
        let mut callbacks = serde_json::Map::new();
        for (name, url) in [
            ("finish", &self.settings.finish_url),
            ("unfinish", &self.settings.unfinish_url),
            ("error", &self.settings.error_url),
        ] {
            if let Some(url) = url {
                callbacks.insert(name.into(), json!(url));
            }
        }
        let body = json!({
            "transaction_details": { "order_id": order_id, "gross_amount": amount.amount() },
            "item_details": [{
                "id": "wallet-topup",
                "price": amount.amount(),
                "quantity": 1,
                "name": "Spincat wallet top-up",
            }],
            "customer_details": {
                "first_name": customer.name,
                "email": customer.email,
                "phone": customer.phone,
            },
            "callbacks": callbacks,
        });
        let mut request = self
            .request(
                "POST",
                format!("{}/snap/v1/transactions", self.settings.snap_url),
            )
            .body(body.to_string().into_bytes());
        if let Some(url) = &self.settings.notification_url {
            request = request.header("x-override-notification", url.clone());
        }
        let (status, body) = self.send(request).await?;
        match status {
            200 | 201 => match (body["token"].as_str(), body["redirect_url"].as_str()) {
                (Some(token), Some(redirect_url)) => Ok(SnapOrder {
                    token: token.to_owned(),
                    redirect_url: redirect_url.to_owned(),
                }),
                _ => Err(MidtransError::Unavailable(format!(
                    "unexpected Snap answer {body}"
                ))),
            },
            400..=499 => Err(MidtransError::Rejected {
                status,
                messages: error_messages(&body),
            }),
            _ => Err(MidtransError::Unavailable(format!("HTTP {status}"))),
        }
    }

    /// The current status of an order. The status API answers an unknown order with HTTP 404, or
    /// on some versions HTTP 200 carrying `"status_code": "404"`; both mean `NotFound`.
    pub async fn status(&self, order_id: &str) -> Result<GatewayReport, MidtransError> {
        let url = format!("{}/v2/{order_id}/status", self.settings.api_url);
        let (status, body) = self.send(self.request("GET", url)).await?;
        if status == 404 || body["status_code"] == "404" {
            return Err(MidtransError::NotFound);
        }
        match status {
            200..=299 => GatewayReport::from_json(&body).map_err(MidtransError::Unavailable),
            400..=499 => Err(MidtransError::Rejected {
                status,
                messages: error_messages(&body),
            }),
            _ => Err(MidtransError::Unavailable(format!("HTTP {status}"))),
        }
    }
}

fn error_messages(body: &Value) -> Vec<String> {
    match &body["error_messages"] {
        Value::Array(messages) => messages
            .iter()
            .filter_map(|m| m.as_str().map(str::to_owned))
            .collect(),
        _ => body["status_message"]
            .as_str()
            .map(|m| vec![m.to_owned()])
            .unwrap_or_default(),
    }
}

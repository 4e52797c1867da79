//! What Midtrans reports about an order, from a notification or the status API (same shape).
//! Midtrans adds fields over time, so only what we act on is read, leniently.

use serde_json::Value;

use super::OrderId;
use crate::money::Rupiah;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayReport {
    pub order_id: OrderId,
    pub status_code: String,
    /// The exact string received (`"154600.00"`): it is what the signature covers.
    pub gross_amount: String,
    pub signature_key: Option<String>,
    pub transaction_status: String,
    pub fraud_status: Option<String>,
    pub payment_type: Option<String>,
    pub transaction_id: Option<String>,
    /// For refunds and chargebacks: how much has been reversed in total so far.
    pub reversed_amount: Option<String>,
}

/// What a report means for the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// `settlement`, or `capture` with fraud `accept`: the money is ours.
    Paid,
    /// `pending`, or `capture` with fraud `challenge`: wait.
    Waiting,
    /// `deny`, `cancel`, `expire`, `failure`.
    Failed,
    Refunded,
    ChargedBack,
    /// A status we do not know: ignored, and logged.
    Unrecognised,
}

impl GatewayReport {
    pub fn parse(body: &[u8]) -> Result<Self, String> {
        let value: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
        Self::from_json(&value)
    }

    pub fn from_json(value: &Value) -> Result<Self, String> {
        let text = |name: &str| -> Option<String> {
            match value.get(name)? {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            }
        };
        let required = |name: &str| text(name).ok_or_else(|| format!("{name} is missing"));
        let status_code = required("status_code")?;
        if status_code.len() != 3 || !status_code.bytes().all(|b| b.is_ascii_digit()) {
            return Err("status_code must be three digits".into());
        }
        let gross_amount = required("gross_amount")?;
        whole_rupiah(&gross_amount).map_err(|e| format!("gross_amount: {e}"))?;
        Ok(Self {
            order_id: OrderId::parse(&required("order_id")?)?,
            status_code,
            gross_amount,
            signature_key: text("signature_key"),
            transaction_status: required("transaction_status")?,
            fraud_status: text("fraud_status"),
            payment_type: text("payment_type"),
            transaction_id: text("transaction_id"),
            reversed_amount: text("refund_amount").or_else(|| text("chargeback_amount")),
        })
    }

    pub fn outcome(&self) -> Outcome {
        match (
            self.transaction_status.as_str(),
            self.fraud_status.as_deref(),
        ) {
            ("settlement", _) => Outcome::Paid,
            // Convenience stores send capture without a fraud status.
            ("capture", Some("accept") | None) => Outcome::Paid,
            ("capture", Some("challenge")) | ("pending", _) => Outcome::Waiting,
            ("capture", Some(_)) => Outcome::Failed,
            ("deny" | "cancel" | "expire" | "failure", _) => Outcome::Failed,
            ("refund" | "partial_refund", _) => Outcome::Refunded,
            ("chargeback" | "partial_chargeback", _) => Outcome::ChargedBack,
            _ => Outcome::Unrecognised,
        }
    }

    pub fn amount(&self) -> Result<Rupiah, String> {
        whole_rupiah(&self.gross_amount)
    }

    /// The total reversed so far; a full reversal without an amount reverses everything.
    pub fn reversed_total(&self) -> Result<Rupiah, String> {
        whole_rupiah(
            self.reversed_amount
                .as_deref()
                .unwrap_or(&self.gross_amount),
        )
    }
}

/// An amount exactly as Midtrans writes one (`"154600.00"`: digits, a dot, two digits) as whole
/// rupiah. Any other form, a fraction of a rupiah included, is refused, never rounded or trimmed.
pub fn whole_rupiah(text: &str) -> Result<Rupiah, String> {
    let well_formed = text.split_once('.').filter(|(whole, cents)| {
        !whole.is_empty() && whole.bytes().all(|b| b.is_ascii_digit()) && *cents == "00"
    });
    let Some((whole, _)) = well_formed else {
        return Err(format!(
            "{text:?} is not a whole rupiah amount written as 123.00"
        ));
    };
    whole
        .parse::<i64>()
        .map(Rupiah::new)
        .map_err(|_| format!("{text:?} is out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_whole_rupiah_exactly() {
        assert_eq!(whole_rupiah("154600.00"), Ok(Rupiah::new(154_600)));
        for bad in [
            "10000",
            " 10000.00",
            "10000.00 ",
            "+10000.00",
            "10000.0",
            "10000.000",
            ".00",
            "100.50",
            "-5.00",
            "",
            "1e5",
            "12,000.00",
            "99999999999999999999",
        ] {
            assert!(whole_rupiah(bad).is_err(), "{bad}");
        }
    }

    fn report(status: &str, fraud: Option<&str>) -> GatewayReport {
        GatewayReport {
            order_id: OrderId::parse("TOPUP-20261124-0123456789abcdef01234567").unwrap(),
            status_code: "200".into(),
            gross_amount: "1.00".into(),
            signature_key: None,
            transaction_status: status.into(),
            fraud_status: fraud.map(Into::into),
            payment_type: None,
            transaction_id: None,
            reversed_amount: None,
        }
    }

    #[test]
    fn statuses_mean_what_midtrans_documents() {
        use Outcome::*;
        for (status, fraud, outcome) in [
            ("settlement", None, Paid),
            ("capture", Some("accept"), Paid),
            ("capture", Some("challenge"), Waiting),
            ("capture", Some("deny"), Failed),
            ("pending", None, Waiting),
            ("deny", None, Failed),
            ("cancel", None, Failed),
            ("expire", Some("accept"), Failed),
            ("failure", None, Failed),
            ("refund", None, Refunded),
            ("partial_refund", None, Refunded),
            ("chargeback", None, ChargedBack),
            ("authorize", None, Unrecognised),
        ] {
            assert_eq!(
                report(status, fraud).outcome(),
                outcome,
                "{status} {fraud:?}"
            );
        }
    }
}

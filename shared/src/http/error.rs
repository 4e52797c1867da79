use serde::Serialize;
use serde_json::{json, Value};

use crate::ledger::LedgerError;
use crate::ports::{ConfigError, DbError, OutboundError};

/// One invalid input field, as listed in a `VALIDATION_ERROR`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// A failed request: an HTTP status, a stable machine-readable code and a message for people.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    pub details: Option<Value>,
    pub retry_after_seconds: Option<u64>,
    /// The methods the path does serve, for a 405's `Allow` header.
    pub allow: Option<String>,
}

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: None,
            retry_after_seconds: None,
            allow: None,
        }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn validation(errors: Vec<FieldError>) -> Self {
        let message = match errors.as_slice() {
            [one] => format!("{}: {}", one.field, one.message),
            _ => format!("{} fields are invalid", errors.len()),
        };
        Self::new(400, "VALIDATION_ERROR", message).with_details(json!({ "fields": errors }))
    }

    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self::validation(vec![FieldError {
            field: field.to_owned(),
            message: message.into(),
        }])
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(400, code, message)
    }

    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(401, code, message)
    }

    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(403, code, message)
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(404, code, message)
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(409, code, message)
    }

    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(422, code, message)
    }

    pub fn too_many_attempts(retry_after_seconds: u64) -> Self {
        let mut error = Self::new(
            429,
            "TOO_MANY_ATTEMPTS",
            format!("Too many attempts; try again in {retry_after_seconds} seconds"),
        );
        error.retry_after_seconds = Some(retry_after_seconds);
        error
    }

    pub fn route_not_found(method: &str, path: &str) -> Self {
        Self::not_found("ROUTE_NOT_FOUND", format!("No route for {method} {path}"))
    }

    pub fn method_not_allowed(method: &str, path: &str, allowed: &[&str]) -> Self {
        let allow = allowed.join(", ");
        let mut error = Self::new(
            405,
            "METHOD_NOT_ALLOWED",
            format!("{path} answers {allow}, not {method}"),
        );
        error.allow = Some(allow);
        error
    }

    /// An unexpected failure. The cause is logged; the caller learns nothing about internals.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(500, "INTERNAL_ERROR", "Something went wrong on our side")
    }

    /// The database does not answer: every route says so the same way, and when to retry. The
    /// cause is logged.
    pub fn database_unavailable(cause: impl std::fmt::Display) -> Self {
        tracing::warn!(error = %cause, "database unavailable");
        let mut error = Self::new(
            503,
            "DATABASE_UNAVAILABLE",
            "The database is not answering right now; try again shortly",
        );
        error.retry_after_seconds = Some(5);
        error
    }

    pub fn bad_gateway(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(502, code, message)
    }
}

impl From<DbError> for ApiError {
    fn from(error: DbError) -> Self {
        if error.is_unavailable() {
            return Self::database_unavailable(error);
        }
        Self::internal(error)
    }
}

/// A debit the wallet could not cover is the caller's to fix (top up); anything else the ledger
/// refuses is a bug of ours.
impl From<LedgerError> for ApiError {
    fn from(error: LedgerError) -> Self {
        match error {
            LedgerError::InsufficientCredit { balance, shortfall } => ApiError::unprocessable(
                "INSUFFICIENT_CREDIT",
                format!(
                    "The wallet is short by {} rupiah: top up first",
                    shortfall.amount()
                ),
            )
            .with_details(json!({ "balance": balance, "shortfall": shortfall })),
            LedgerError::Db(e) => e.into(),
            other => ApiError::internal(other),
        }
    }
}

/// A setting the request needs is missing or invalid: 503 with its feature's stable code and a
/// message naming the variable to set. Nothing has been written by then: settings are read
/// before anything changes.
impl From<ConfigError> for ApiError {
    fn from(error: ConfigError) -> Self {
        let feature = error.feature();
        tracing::warn!(variable = %error.name, reason = %error.reason, "{} is not configured", feature.description());
        Self::new(
            503,
            feature.code(),
            format!(
                "{} is not available here: the setting {} {} (SPIN_VARIABLE_{})",
                feature.description(),
                error.name,
                error.reason,
                error.name.to_ascii_uppercase()
            ),
        )
        .with_details(json!({ "variable": error.name }))
    }
}

impl From<OutboundError> for ApiError {
    fn from(error: OutboundError) -> Self {
        Self::internal(error)
    }
}

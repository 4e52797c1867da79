use serde_json::Value;

/// What went wrong talking to the API server. `Unavailable` is worth retrying later.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KubeError {
    #[error("not found: {0}")]
    NotFound(String),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("invalid: {0}")]
    Invalid(String),
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    #[error("the API server is unavailable: {0}")]
    Unavailable(String),
    #[error("unexpected answer {status}: {message}")]
    Other { status: u16, message: String },
    /// No call was made: the settings cannot reach a cluster (`ClusterSettings::connection`).
    #[error("{variable} {reason}")]
    NotConfigured { variable: String, reason: String },
}

impl KubeError {
    /// From an error response: the API server answers with a `Status` object whose `message`
    /// says what happened.
    pub fn from_response(status: u16, body: &[u8]) -> Self {
        let message = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_owned))
            .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(200).collect());
        match status {
            404 => KubeError::NotFound(message),
            409 => KubeError::Conflict(message),
            403 => KubeError::Forbidden(message),
            401 => KubeError::Unauthorized(message),
            400 | 422 => KubeError::Invalid(message),
            429 | 500..=599 => KubeError::Unavailable(format!("{status}: {message}")),
            _ => KubeError::Other { status, message },
        }
    }
}

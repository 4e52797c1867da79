use crate::ports::{Config, ConfigError};

/// Auth configuration, read and checked once per request from the Spin variables.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    pub jwt_secret: Vec<u8>,
    pub access_token_ttl_seconds: i64,
    pub refresh_token_ttl_seconds: i64,
    /// Failed logins allowed for one email from one source address within the window before
    /// further attempts from there get 429.
    pub login_max_attempts: i32,
    /// Failed logins allowed from one source address over every email within the window.
    pub login_max_attempts_per_source: i32,
    pub login_lockout_seconds: i64,
    /// The request header that carries the client's address: Spin's own `spin-client-addr`, or
    /// the header a trusted proxy in front of the app sets (`x-real-ip` behind ingress-nginx).
    pub client_address_header: String,
}

impl AuthSettings {
    /// HS256 is only as strong as its key; refuse to sign with a guessable one.
    const MIN_SECRET_BYTES: usize = 32;

    pub async fn load(config: &dyn Config) -> Result<Self, ConfigError> {
        let jwt_secret = config.required("jwt_secret").await?.into_bytes();
        if jwt_secret.len() < Self::MIN_SECRET_BYTES {
            return Err(ConfigError::new(
                "jwt_secret",
                format!("must be at least {} bytes", Self::MIN_SECRET_BYTES),
            ));
        }
        let settings = Self {
            jwt_secret,
            access_token_ttl_seconds: config.parsed_or("access_token_ttl_seconds", 900).await?,
            refresh_token_ttl_seconds: config
                .parsed_or("refresh_token_ttl_seconds", 30 * 24 * 3600)
                .await?,
            login_max_attempts: config.parsed_or("login_max_attempts", 5).await?,
            login_max_attempts_per_source: config
                .parsed_or("login_max_attempts_per_source", 100)
                .await?,
            login_lockout_seconds: config.parsed_or("login_lockout_seconds", 900).await?,
            client_address_header: config
                .get("client_address_header")
                .await?
                .map(|h| h.trim().to_ascii_lowercase())
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "spin-client-addr".into()),
        };
        for (name, value) in [
            (
                "access_token_ttl_seconds",
                settings.access_token_ttl_seconds,
            ),
            (
                "refresh_token_ttl_seconds",
                settings.refresh_token_ttl_seconds,
            ),
            ("login_max_attempts", settings.login_max_attempts.into()),
            (
                "login_max_attempts_per_source",
                settings.login_max_attempts_per_source.into(),
            ),
            ("login_lockout_seconds", settings.login_lockout_seconds),
        ] {
            if value <= 0 {
                return Err(ConfigError::new(name, "must be positive"));
            }
        }
        Ok(settings)
    }
}

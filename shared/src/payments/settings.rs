use crate::money::Rupiah;
use crate::ports::{Config, ConfigError};

/// Midtrans and top-up configuration (design section 8).
#[derive(Debug, Clone)]
pub struct PaymentSettings {
    pub server_key: String,
    pub client_key: String,
    pub is_production: bool,
    pub snap_url: String,
    pub api_url: String,
    /// Confirm news that credits with the status API too (news that takes money back or fails
    /// an order is always confirmed), as Midtrans's official clients do.
    pub verify_status: bool,
    pub notification_url: Option<String>,
    pub finish_url: Option<String>,
    pub unfinish_url: Option<String>,
    pub error_url: Option<String>,
    pub topup_min: Rupiah,
    pub topup_max: Rupiah,
    /// How long a top-up may stay PENDING before the reconcile job asks Midtrans about it.
    pub reconcile_after_seconds: i64,
    /// How long an unpaid order can still be paid (Snap's default token lifetime is a day);
    /// an order Midtrans has never heard of after this is failed.
    pub order_lifetime_seconds: i64,
    /// How long to wait for Midtrans before giving up on a call.
    pub timeout: std::time::Duration,
}

/// One of Midtrans's two APIs: the variable holding its origin (templated into spin.toml's
/// `allowed_outbound_hosts`, so an operator changes it without a new image) and its hosts.
struct Endpoint {
    variable: &'static str,
    sandbox: &'static str,
    production: &'static str,
}

const SNAP: Endpoint = Endpoint {
    variable: "midtrans_snap_origin",
    sandbox: "https://app.sandbox.midtrans.com",
    production: "https://app.midtrans.com",
};

const API: Endpoint = Endpoint {
    variable: "midtrans_api_origin",
    sandbox: "https://api.sandbox.midtrans.com",
    production: "https://api.midtrans.com",
};

/// The endpoint's origin, refusing the other environment's: a production switch left on the
/// sandbox host (or the reverse) would take real keys to the wrong Midtrans. Any other origin
/// (a double, an egress proxy) is taken as given.
async fn origin(
    config: &dyn Config,
    endpoint: &Endpoint,
    is_production: bool,
) -> Result<String, ConfigError> {
    let value = config
        .get(endpoint.variable)
        .await?
        .map(|v| v.trim().trim_end_matches('/').to_owned())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| endpoint.sandbox.to_owned());
    let is_origin = value.split_once("://").is_some_and(|(scheme, authority)| {
        matches!(scheme, "http" | "https") && !authority.is_empty() && !authority.contains('/')
    });
    if !is_origin {
        return Err(ConfigError::new(
            endpoint.variable,
            "must be an origin: scheme://host[:port], no path",
        ));
    }
    let (wanted, wrong) = if is_production {
        (endpoint.production, endpoint.sandbox)
    } else {
        (endpoint.sandbox, endpoint.production)
    };
    if value == wrong {
        return Err(ConfigError::new(
            endpoint.variable,
            format!(
                "is {value}, but midtrans_is_production is {is_production}: set it to {wanted}"
            ),
        ));
    }
    Ok(value)
}

/// Midtrans refuses top-ups below this; so do we, whatever the configuration says.
const ABSOLUTE_MIN: i64 = 10_000;

impl PaymentSettings {
    /// The settings, or `None` when no Midtrans server key is set: then there is no gateway,
    /// and no top-up can have been made through it.
    pub async fn configured(config: &dyn Config) -> Result<Option<Self>, ConfigError> {
        match config.get("midtrans_server_key").await? {
            Some(key) if !key.trim().is_empty() => Self::load(config).await.map(Some),
            _ => Ok(None),
        }
    }

    pub async fn load(config: &dyn Config) -> Result<Self, ConfigError> {
        let is_production = config.parsed_or("midtrans_is_production", false).await?;
        let optional = |value: Option<String>| value.filter(|v| !v.trim().is_empty());
        let settings = Self {
            server_key: config.required("midtrans_server_key").await?,
            client_key: config.get("midtrans_client_key").await?.unwrap_or_default(),
            is_production,
            snap_url: origin(config, &SNAP, is_production).await?,
            api_url: origin(config, &API, is_production).await?,
            verify_status: config.parsed_or("midtrans_verify_status", true).await?,
            notification_url: optional(config.get("midtrans_notification_url").await?),
            finish_url: optional(config.get("midtrans_finish_url").await?),
            unfinish_url: optional(config.get("midtrans_unfinish_url").await?),
            error_url: optional(config.get("midtrans_error_url").await?),
            topup_min: Rupiah::new(config.parsed_or("topup_min", ABSOLUTE_MIN).await?),
            topup_max: Rupiah::new(config.parsed_or("topup_max", 10_000_000).await?),
            reconcile_after_seconds: config
                .parsed_or("topup_reconcile_after_seconds", 900)
                .await?,
            order_lifetime_seconds: config
                .parsed_or("topup_order_lifetime_seconds", 86_400)
                .await?,
            timeout: std::time::Duration::from_millis(
                config.parsed_or("midtrans_timeout_ms", 10_000).await?,
            ),
        };
        if settings.topup_min.amount() < ABSOLUTE_MIN {
            return Err(ConfigError::new(
                "topup_min",
                format!("must be at least {ABSOLUTE_MIN}"),
            ));
        }
        if settings.topup_max < settings.topup_min {
            return Err(ConfigError::new("topup_max", "must not be below topup_min"));
        }
        Ok(settings)
    }
}

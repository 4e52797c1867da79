use crate::ports::{Config, ConfigError};

/// Renewal policy (design section 5).
#[derive(Debug, Clone)]
pub struct RenewalSettings {
    /// Days a short wallet gets before suspension; 0 suspends at once.
    pub grace_period_days: i64,
    /// Days a suspended subscription is kept before it expires.
    pub suspension_retention_days: i64,
    /// How many days ahead a low-credit warning goes out.
    pub low_credit_warning_days: i64,
    pub batch_size: i64,
    /// Runners in one run, each on its own connection; SKIP LOCKED shares the work between them.
    pub runners: usize,
    /// Where notifications are also POSTed; `None`: stored only.
    pub notification_webhook_url: Option<String>,
}

/// What `notification_webhook_origin` holds until an operator sets it: a name that can never
/// resolve (RFC 6761), since Spin refuses an empty `allowed_outbound_hosts` entry.
const NO_WEBHOOK_ORIGIN: &str = "https://notification-webhook.invalid";

/// `url` checked against `origin`, the entry spin.toml gives `allowed_outbound_hosts` for it:
/// Spin refuses a path there, so the origin is a variable of its own, and a URL it does not
/// cover would only fail at delivery, as a refused host.
fn webhook_url(url: Option<String>, origin: Option<String>) -> Result<Option<String>, ConfigError> {
    let Some(url) = url.map(|u| u.trim().to_owned()).filter(|u| !u.is_empty()) else {
        return Ok(None);
    };
    let (scheme, rest) = url
        .split_once("://")
        .filter(|(scheme, _)| matches!(*scheme, "http" | "https"))
        .ok_or_else(|| {
            ConfigError::new(
                "notification_webhook_url",
                "must be an http:// or https:// URL",
            )
        })?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() {
        return Err(ConfigError::new("notification_webhook_url", "has no host"));
    }
    let expected = format!("{scheme}://{authority}");
    let origin = origin.unwrap_or_default();
    let origin = origin.trim().trim_end_matches('/');
    if !origin.eq_ignore_ascii_case(&expected) {
        let reason = if origin.is_empty() || origin == NO_WEBHOOK_ORIGIN {
            format!("is not set: set it to {expected}, the origin of notification_webhook_url")
        } else {
            format!("is {origin}, but notification_webhook_url is on {expected}")
        };
        return Err(ConfigError::new("notification_webhook_origin", reason));
    }
    Ok(Some(url))
}

impl RenewalSettings {
    pub async fn load(config: &dyn Config) -> Result<Self, ConfigError> {
        let settings = Self {
            grace_period_days: config.parsed_or("grace_period_days", 7).await?,
            suspension_retention_days: config.parsed_or("suspension_retention_days", 14).await?,
            low_credit_warning_days: config.parsed_or("low_credit_warning_days", 3).await?,
            batch_size: config.parsed_or("renewal_batch_size", 1_000).await?,
            runners: config.parsed_or("renewal_runners", 4).await?,
            notification_webhook_url: webhook_url(
                config.get("notification_webhook_url").await?,
                config.get("notification_webhook_origin").await?,
            )?,
        };
        if !(0..=30).contains(&settings.grace_period_days) {
            return Err(ConfigError::new(
                "grace_period_days",
                "must be 0 (disabled) to 30",
            ));
        }
        if settings.suspension_retention_days < 0 || settings.low_credit_warning_days < 0 {
            return Err(ConfigError::new(
                "suspension_retention_days",
                "must not be negative",
            ));
        }
        if !(1..=32).contains(&settings.runners) {
            return Err(ConfigError::new("renewal_runners", "must be 1 to 32"));
        }
        if settings.batch_size < 1 {
            return Err(ConfigError::new("renewal_batch_size", "must be positive"));
        }
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(url: &str, origin: &str) -> Result<Option<String>, String> {
        webhook_url(Some(url.into()), Some(origin.into())).map_err(|e| e.to_string())
    }

    #[test]
    fn a_webhook_url_must_be_on_the_origin_allowed_for_it() {
        let url = "https://hooks.example.com/spincat?team=ops";
        assert_eq!(
            check(url, "https://hooks.example.com"),
            Ok(Some(url.into()))
        );
        assert_eq!(
            check(url, "HTTPS://Hooks.Example.com/"),
            Ok(Some(url.into()))
        );
        assert_eq!(
            check("", NO_WEBHOOK_ORIGIN),
            Ok(None),
            "no webhook, nothing to allow"
        );
        for (url, origin, problem) in [
            (
                url,
                NO_WEBHOOK_ORIGIN,
                "set it to https://hooks.example.com",
            ),
            (url, "", "set it to https://hooks.example.com"),
            (
                url,
                "https://other.example.com",
                "is https://other.example.com, but",
            ),
            (
                "http://hooks.example.com:8080/x",
                "http://hooks.example.com",
                "on http://hooks.example.com:8080",
            ),
            (
                "ftp://hooks.example.com/x",
                "ftp://hooks.example.com",
                "http:// or https://",
            ),
            ("https:///x", "https://", "has no host"),
        ] {
            let error = check(url, origin).unwrap_err();
            assert!(error.contains(problem), "{url} on {origin}: {error}");
        }
    }
}

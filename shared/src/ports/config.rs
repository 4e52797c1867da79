use super::MaybeSend;

#[derive(Debug, thiserror::Error)]
#[error("configuration variable `{name}`: {reason}")]
pub struct ConfigError {
    pub name: String,
    pub reason: String,
}

impl ConfigError {
    pub fn new(name: &str, reason: impl Into<String>) -> Self {
        Self {
            name: name.to_owned(),
            reason: reason.into(),
        }
    }

    /// What the setting belongs to, so a request that needs it can say which feature is off.
    pub fn feature(&self) -> Feature {
        Feature::of(&self.name)
    }
}

/// The parts of the platform a missing or invalid setting can switch off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    Payments,
    Cluster,
    CustomDomains,
    Notifications,
    Renewals,
    Accounts,
    Jobs,
    Database,
    Other,
}

impl Feature {
    pub fn of(variable: &str) -> Self {
        const CLUSTER: [&str; 7] = [
            "base_domain",
            "ingress_class",
            "ingress_namespace",
            "cluster_issuer",
            "storage_class",
            "tcp_service_type",
            "provision_timeout_seconds",
        ];
        const ACCOUNTS: [&str; 3] = [
            "jwt_secret",
            "access_token_ttl_seconds",
            "client_address_header",
        ];
        match variable {
            v if v.starts_with("midtrans_") || v.starts_with("topup_") => Self::Payments,
            v if v.starts_with("k8s_") || CLUSTER.contains(&v) => Self::Cluster,
            v if v.starts_with("dns_") || v == "platform_domains" => Self::CustomDomains,
            v if v.starts_with("notification_webhook_") => Self::Notifications,
            v if v.starts_with("renewal_")
                || matches!(
                    v,
                    "grace_period_days" | "suspension_retention_days" | "low_credit_warning_days"
                ) =>
            {
                Self::Renewals
            }
            v if ACCOUNTS.contains(&v)
                || v.starts_with("refresh_token_")
                || v.starts_with("login_") =>
            {
                Self::Accounts
            }
            "job_token" | "cron_jobs" => Self::Jobs,
            "database_url" | "database_host" => Self::Database,
            _ => Self::Other,
        }
    }

    /// The stable code a request needing it answers with while it is off.
    pub fn code(self) -> &'static str {
        match self {
            Self::Payments => "PAYMENT_GATEWAY_NOT_CONFIGURED",
            Self::Cluster => "CLUSTER_NOT_CONFIGURED",
            Self::CustomDomains => "CUSTOM_DOMAINS_NOT_CONFIGURED",
            Self::Notifications => "NOTIFICATIONS_NOT_CONFIGURED",
            Self::Renewals => "RENEWALS_NOT_CONFIGURED",
            Self::Accounts => "ACCOUNTS_NOT_CONFIGURED",
            Self::Jobs => "JOBS_NOT_CONFIGURED",
            Self::Database => "DATABASE_NOT_CONFIGURED",
            Self::Other => "NOT_CONFIGURED",
        }
    }

    /// For people: what is unavailable.
    pub fn description(self) -> &'static str {
        match self {
            Self::Payments => "Topping up through Midtrans",
            Self::Cluster => "Deploying and operating instances on Kubernetes",
            Self::CustomDomains => "Verifying custom domains",
            Self::Notifications => "Delivering notifications to the webhook",
            Self::Renewals => "Renewing subscriptions",
            Self::Accounts => "Signing in",
            Self::Jobs => "Running the scheduled jobs",
            Self::Database => "Reaching the database",
            Self::Other => "This feature",
        }
    }
}

/// Spin variables by name (design section 8). `Ok(None)` means the variable is not set.
#[cfg_attr(not(target_arch = "wasm32"), async_trait::async_trait)]
#[cfg_attr(target_arch = "wasm32", async_trait::async_trait(?Send))]
pub trait Config: MaybeSend {
    async fn get(&self, name: &str) -> Result<Option<String>, ConfigError>;
}

impl dyn Config + '_ {
    /// A variable that must be set and non-empty.
    pub async fn required(&self, name: &str) -> Result<String, ConfigError> {
        match self.get(name).await? {
            Some(value) if !value.is_empty() => Ok(value),
            _ => Err(ConfigError::new(name, "is required but not set")),
        }
    }

    /// A variable parsed into `T`, or `default` when unset or empty.
    pub async fn parsed_or<T: std::str::FromStr>(
        &self,
        name: &str,
        default: T,
    ) -> Result<T, ConfigError> {
        match self.get(name).await? {
            Some(value) if !value.trim().is_empty() => value
                .trim()
                .parse()
                .map_err(|_| ConfigError::new(name, format!("cannot parse {value:?}"))),
            _ => Ok(default),
        }
    }

    /// The URL in variable `url` when set, checked against variable `origin`: the
    /// `scheme://host[:port]` spin.toml templates into `allowed_outbound_hosts` for it, where
    /// Spin takes no path. A URL its origin does not cover would only fail when called, as a
    /// refused host; `placeholder` is the origin's default, a name that never resolves.
    pub async fn url_on_origin(
        &self,
        url: &str,
        origin: &str,
        placeholder: &str,
    ) -> Result<Option<String>, ConfigError> {
        let Some(value) = self
            .get(url)
            .await?
            .map(|u| u.trim().to_owned())
            .filter(|u| !u.is_empty())
        else {
            return Ok(None);
        };
        let (scheme, rest) = value
            .split_once("://")
            .filter(|(scheme, _)| matches!(*scheme, "http" | "https"))
            .ok_or_else(|| ConfigError::new(url, "must be an http:// or https:// URL"))?;
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if authority.is_empty() {
            return Err(ConfigError::new(url, "has no host"));
        }
        let expected = format!("{scheme}://{authority}");
        let declared = self.get(origin).await?.unwrap_or_default();
        let declared = declared.trim().trim_end_matches('/');
        if !declared.eq_ignore_ascii_case(&expected) {
            let reason = if declared.is_empty() || declared == placeholder {
                format!("is not set: set it to {expected}, the origin of {url}")
            } else {
                format!("is {declared}, but {url} is on {expected}")
            };
            return Err(ConfigError::new(origin, reason));
        }
        Ok(Some(value))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::future::Future;

    use super::*;

    struct Variables(BTreeMap<&'static str, &'static str>);

    #[async_trait::async_trait]
    impl Config for Variables {
        async fn get(&self, name: &str) -> Result<Option<String>, ConfigError> {
            Ok(self.0.get(name).map(|v| v.to_string()))
        }
    }

    /// Runs a future that never waits, as every in-memory lookup here.
    fn at_once<F: Future>(future: F) -> F::Output {
        let mut future = std::pin::pin!(future);
        let mut context = std::task::Context::from_waker(std::task::Waker::noop());
        match future.as_mut().poll(&mut context) {
            std::task::Poll::Ready(output) => output,
            std::task::Poll::Pending => unreachable!("an in-memory lookup waited"),
        }
    }

    const PLACEHOLDER: &str = "https://placeholder.invalid";

    fn check(url: &'static str, origin: &'static str) -> Result<Option<String>, String> {
        let config = Variables(BTreeMap::from([("hook_url", url), ("hook_origin", origin)]));
        let config: &dyn Config = &config;
        at_once(config.url_on_origin("hook_url", "hook_origin", PLACEHOLDER))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_url_must_be_on_the_origin_allowed_for_it() {
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
            check("", PLACEHOLDER),
            Ok(None),
            "nothing to call, nothing to allow"
        );
        for (url, origin, problem) in [
            (
                url,
                PLACEHOLDER,
                "hook_origin`: is not set: set it to https://hooks.example.com",
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
                "hook_url`: must be an http:// or https:// URL",
            ),
            ("https:///x", "https://", "has no host"),
        ] {
            let error = check(url, origin).unwrap_err();
            assert!(error.contains(problem), "{url} on {origin}: {error}");
        }
    }
}

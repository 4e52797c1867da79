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

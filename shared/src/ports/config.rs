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
}

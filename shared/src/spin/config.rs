use crate::ports::{Config, ConfigError};

pub struct SpinVariables;

#[async_trait::async_trait(?Send)]
impl Config for SpinVariables {
    async fn get(&self, name: &str) -> Result<Option<String>, ConfigError> {
        match spin_sdk::variables::get(name) {
            Ok(value) => Ok(Some(value)),
            Err(spin_sdk::variables::Error::Undefined(_)) => Ok(None),
            Err(e) => Err(ConfigError::new(name, e.to_string())),
        }
    }
}

//! Spin variables natively: `SPIN_VARIABLE_<NAME>` from the environment, exactly as Spin's
//! environment provider reads them, over the defaults in spin.toml; each component sees only the
//! variables its `[component.<id>.variables]` table declares.

use std::collections::BTreeMap;

use anyhow::{anyhow, bail};
use spincat::ports::{Config, ConfigError};

use crate::manifest::{Component, Manifest};

/// Application variables with their values.
#[derive(Debug, Clone)]
pub struct Variables {
    declared: BTreeMap<String, crate::manifest::Variable>,
    values: BTreeMap<String, String>,
}

impl Variables {
    pub fn from_env(manifest: &Manifest) -> Self {
        let values = manifest
            .variables
            .keys()
            .filter_map(|name| {
                std::env::var(format!("SPIN_VARIABLE_{}", name.to_uppercase()))
                    .ok()
                    .map(|value| (name.clone(), value))
            })
            .collect();
        Self {
            declared: manifest.variables.clone(),
            values,
        }
    }

    /// Sets a value, as an environment variable would.
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        self.values.insert(name.to_owned(), value.into());
    }

    pub fn get(&self, name: &str) -> Option<String> {
        self.values
            .get(name)
            .cloned()
            .or_else(|| self.declared.get(name)?.default.clone())
    }

    pub fn is_set(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// Spin refuses to start while a required variable has no value; so do we.
    pub fn check_required(&self) -> anyhow::Result<()> {
        let missing: Vec<_> = self
            .declared
            .iter()
            .filter(|(name, v)| v.required && self.get(name).is_none())
            .map(|(name, _)| format!("SPIN_VARIABLE_{}", name.to_uppercase()))
            .collect();
        if !missing.is_empty() {
            bail!("required variables are not set: {}", missing.join(", "));
        }
        Ok(())
    }

    /// Expands `{{ name }}` references to application variables.
    pub fn expand(&self, template: &str) -> anyhow::Result<String> {
        let mut out = String::new();
        let mut rest = template;
        while let Some(start) = rest.find("{{") {
            let end = rest[start..]
                .find("}}")
                .ok_or_else(|| anyhow!("unclosed {{{{ in {template:?}"))?;
            let name = rest[start + 2..start + end].trim();
            if !self.declared.contains_key(name) {
                bail!("{template:?} refers to undeclared variable {name}");
            }
            out.push_str(&rest[..start]);
            out.push_str(&self.get(name).unwrap_or_default());
            rest = &rest[start + end + 2..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// Every application variable, as the operator set it: what `serve` checks the features against.
#[async_trait::async_trait]
impl Config for Variables {
    async fn get(&self, name: &str) -> Result<Option<String>, ConfigError> {
        Ok(Variables::get(self, name))
    }
}

/// What one component sees through the configuration port.
#[derive(Debug, Clone)]
pub struct ComponentConfig {
    values: BTreeMap<String, String>,
}

impl ComponentConfig {
    pub fn resolve(component: &Component, variables: &Variables) -> anyhow::Result<Self> {
        let values = component
            .variables
            .iter()
            .map(|(name, template)| Ok((name.clone(), variables.expand(template)?)))
            .collect::<anyhow::Result<_>>()?;
        Ok(Self { values })
    }

    pub fn value(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }
}

#[async_trait::async_trait]
impl Config for ComponentConfig {
    async fn get(&self, name: &str) -> Result<Option<String>, ConfigError> {
        Ok(self.values.get(name).cloned())
    }
}

//! spin.toml, read the way Spin reads it: the single source of truth for which route reaches
//! which component and which variables each component may see.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct RawManifest {
    spin_manifest_version: u32,
    #[serde(default)]
    variables: BTreeMap<String, Variable>,
    #[serde(default)]
    trigger: RawTriggers,
    #[serde(default)]
    component: BTreeMap<String, Component>,
}

#[derive(Debug, Default, Deserialize)]
struct RawTriggers {
    #[serde(default)]
    http: Vec<HttpTrigger>,
    #[serde(default)]
    cron: Vec<CronTrigger>,
}

/// A component Spin's cron trigger plugin runs on a schedule; the native host runs it on the
/// same schedule (`Host::run_schedules`).
#[derive(Debug, Clone, Deserialize)]
pub struct CronTrigger {
    pub component: String,
    pub cron_expression: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Variable {
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub secret: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct HttpTrigger {
    pub route: String,
    pub component: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Component {
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    #[serde(default)]
    pub allowed_outbound_hosts: Vec<String>,
    #[serde(default)]
    pub key_value_stores: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Manifest {
    pub variables: BTreeMap<String, Variable>,
    pub routes: Vec<HttpTrigger>,
    pub schedules: Vec<CronTrigger>,
    pub components: BTreeMap<String, Component>,
}

impl Manifest {
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::parse(&text)
    }

    /// The repository's own spin.toml, compiled in so the binary runs from anywhere.
    pub fn bundled() -> Self {
        Self::parse(include_str!("../../spin.toml")).expect("the bundled spin.toml is valid")
    }

    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let raw: RawManifest = toml::from_str(text).context("parsing spin.toml")?;
        if raw.spin_manifest_version != 2 {
            bail!("only spin_manifest_version = 2 is supported");
        }
        for trigger in &raw.trigger.http {
            if !raw.component.contains_key(&trigger.component) {
                bail!(
                    "route {} names unknown component {}",
                    trigger.route,
                    trigger.component
                );
            }
        }
        Ok(Self {
            variables: raw.variables,
            routes: raw.trigger.http,
            schedules: raw.trigger.cron,
            components: raw.component,
        })
    }
}

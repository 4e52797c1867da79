//! Which features the settings leave off, for an operator to read when the app starts. Each
//! route that needs one of them answers 503 with its code while it is off (`ApiError` from a
//! `ConfigError`); this is the same verdict, ahead of time.

use crate::auth::AuthSettings;
use crate::kube::ClusterSettings;
use crate::notifications;
use crate::payments::PaymentSettings;
use crate::ports::{Config, ConfigError, Feature};
use crate::provisioning::domains::DomainSettings;
use crate::renewals::RenewalSettings;

/// Every feature that is off, with the setting that switches it off.
pub async fn off(config: &dyn Config) -> Vec<(Feature, ConfigError)> {
    let mut off = Vec::new();
    match PaymentSettings::configured(config).await {
        Ok(Some(_)) => {}
        Ok(None) => off.push(ConfigError::new("midtrans_server_key", "is not set")),
        Err(error) => off.push(error),
    }
    match ClusterSettings::load(config).await {
        Ok(cluster) => off.extend(cluster.connection().err()),
        Err(error) => off.push(error),
    }
    off.extend(AuthSettings::load(config).await.err());
    off.extend(RenewalSettings::load(config).await.err());
    off.extend(DomainSettings::load(config).await.err());
    off.extend(notifications::webhook_url(config).await.err());
    off.into_iter().map(|e| (e.feature(), e)).collect()
}

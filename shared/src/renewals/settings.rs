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
}

impl RenewalSettings {
    pub async fn load(config: &dyn Config) -> Result<Self, ConfigError> {
        let settings = Self {
            grace_period_days: config.parsed_or("grace_period_days", 7).await?,
            suspension_retention_days: config.parsed_or("suspension_retention_days", 14).await?,
            low_credit_warning_days: config.parsed_or("low_credit_warning_days", 3).await?,
            batch_size: config.parsed_or("renewal_batch_size", 1_000).await?,
            runners: config.parsed_or("renewal_runners", 4).await?,
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

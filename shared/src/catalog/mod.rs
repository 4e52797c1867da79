//! The public catalog: categories, services (apps) and the plans they are sold in.

mod browse;
pub mod cache;
mod error;
mod plan;
mod template;

pub use browse::{
    categories, search, service_detail, services_in_category, CategoryFilter, SearchQuery,
};
pub use error::CatalogError;
pub use plan::PlanTier;
pub use template::{
    Companion, DeploymentTemplate, EnvVar as TemplateEnvVar, HealthCheck, Protocol, SecretSpec,
    WorkloadKind,
};

//! A small Kubernetes API client over the outbound-HTTP port: server-side apply, get, list by
//! label, delete, the scale subresource and pod logs, with the API server's `Status` errors
//! mapped to typed errors. Bodies are `k8s-openapi` types.

mod client;
mod error;
pub mod names;
mod rollout;
mod settings;
pub mod views;

pub use client::{Kube, FIELD_MANAGER};
pub use error::KubeError;
pub use rollout::{rollout_complete, Rollout};
pub use settings::ClusterSettings;

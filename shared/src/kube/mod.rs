//! A small Kubernetes API client over the outbound-HTTP port: server-side apply, get, list by
//! label, delete, the scale subresource and pod logs, with the API server's `Status` errors
//! mapped to typed errors. What we send is a `Manifest` of a `Kind` (`kind`); what we read back, the
//! few fields of it we use (`objects`).

mod client;
mod error;
pub mod kind;
pub mod names;
pub mod objects;
mod rollout;
mod settings;
pub mod views;

pub use client::{Kube, FIELD_MANAGER};
pub use error::KubeError;
pub use kind::{Kind, Manifest};
pub use rollout::{rollout_complete, Rollout};
pub use settings::ClusterSettings;

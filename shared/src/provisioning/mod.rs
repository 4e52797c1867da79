//! Provisioning: turning a subscription into a running, isolated deployment of its app, and
//! operating and removing it. Asynchronous, like the Open Service Broker's operations: the
//! reconcile job (and reads) move instances along; every step is an idempotent upsert, so a
//! failure between any two steps is finished by the next run.

mod cluster;
mod context;
pub mod domains;
mod error;
mod instances;
mod lifecycle;
pub mod render;

pub use error::InstanceError;
pub use instances::{InstanceChange, InstanceFilter};
pub use lifecycle::{Provisioner, ProvisioningSummary, Step};

//! The six ports through which the domain reaches the outside world. Each has a Spin adapter
//! (`crate::spin`, wasm32 only) and a native adapter (the `spincat-host` crate), so the same
//! handlers run under Spin, in the native host and in the tests.

mod clock;
mod config;
pub mod db;
pub mod kv;
mod on_demand;
pub mod outbound;
mod passwords;

use std::sync::Arc;

pub use clock::Clock;
pub use config::{Config, ConfigError, Feature};
pub use db::{Connection, Database, DbError};
pub use kv::{KeyValue, KvError, NoStore};
pub use on_demand::OnDemand;
pub use outbound::{HttpClient, OutboundError, OutboundRequest, OutboundResponse};
pub use passwords::{InlinePasswords, NoPasswords, Passwords};

/// Natively, handlers run on a multi-threaded runtime, so ports must be shareable across threads;
/// a Spin component is single-threaded and its host handles are not `Send`.
#[cfg(not(target_arch = "wasm32"))]
pub trait MaybeSend: Send + Sync {}
#[cfg(not(target_arch = "wasm32"))]
impl<T: Send + Sync + ?Sized> MaybeSend for T {}
#[cfg(target_arch = "wasm32")]
pub trait MaybeSend {}
#[cfg(target_arch = "wasm32")]
impl<T: ?Sized> MaybeSend for T {}

/// A boxed future, `Send` natively (see `MaybeSend`).
#[cfg(not(target_arch = "wasm32"))]
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;
#[cfg(target_arch = "wasm32")]
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + 'a>>;

/// Everything a handler may touch besides its request.
#[derive(Clone)]
pub struct Ports {
    pub db: Arc<dyn Database>,
    pub kv: Arc<dyn KeyValue>,
    pub http: Arc<dyn HttpClient>,
    pub config: Arc<dyn Config>,
    pub clock: Arc<dyn Clock>,
    pub passwords: Arc<dyn Passwords>,
}

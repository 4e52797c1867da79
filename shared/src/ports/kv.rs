//! The key-value port, shaped like Spin's `key-value` interface: the app's one store (`default`),
//! bytes by key. Only components that declare the store (`key_value_stores` in spin.toml) may
//! open it; natively too.

use super::MaybeSend;

#[derive(Debug, Clone, thiserror::Error)]
pub enum KvError {
    /// The component does not declare the store.
    #[error("access denied to the key-value store")]
    AccessDenied,
    #[error("key-value store: {0}")]
    Other(String),
}

#[cfg_attr(not(target_arch = "wasm32"), async_trait::async_trait)]
#[cfg_attr(target_arch = "wasm32", async_trait::async_trait(?Send))]
pub trait KeyValue: MaybeSend {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError>;
    async fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError>;
}

/// The store as a component that does not declare it sees it: every call refused, as Spin
/// refuses it.
pub struct NoStore;

#[cfg_attr(not(target_arch = "wasm32"), async_trait::async_trait)]
#[cfg_attr(target_arch = "wasm32", async_trait::async_trait(?Send))]
impl KeyValue for NoStore {
    async fn get(&self, _key: &str) -> Result<Option<Vec<u8>>, KvError> {
        Err(KvError::AccessDenied)
    }

    async fn set(&self, _key: &str, _value: &[u8]) -> Result<(), KvError> {
        Err(KvError::AccessDenied)
    }
}

//! Spin's default key-value store, natively: one in-memory table for the whole app (as `spin up`
//! keeps one store per app), open only to the components that declare it (the others get
//! `spincat::ports::NoStore`), as Spin allows.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use spincat::ports::{KeyValue, KvError};

/// The app's one store, shared by every component that declares it.
#[derive(Clone, Default)]
pub struct MemoryStore {
    entries: Arc<Mutex<HashMap<String, Vec<u8>>>>,
}

#[async_trait::async_trait]
impl KeyValue for MemoryStore {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        Ok(self
            .entries
            .lock()
            .expect("no panics holding it")
            .get(key)
            .cloned())
    }

    async fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
        self.entries
            .lock()
            .expect("no panics holding it")
            .insert(key.to_owned(), value.to_vec());
        Ok(())
    }
}

use std::cell::RefCell;

use spin_sdk::key_value::{Error, Store};

use crate::ports::kv::{KeyValue, KvError};

/// Spin's default store, opened on first use: a request that never touches it pays nothing.
#[derive(Default)]
pub struct SpinStore {
    store: RefCell<Option<Store>>,
}

impl SpinStore {
    fn with<T>(&self, use_it: impl FnOnce(&Store) -> Result<T, Error>) -> Result<T, KvError> {
        let mut store = self.store.borrow_mut();
        if store.is_none() {
            *store = Some(Store::open_default().map_err(kv_error)?);
        }
        use_it(store.as_ref().expect("opened above")).map_err(kv_error)
    }
}

#[async_trait::async_trait(?Send)]
impl KeyValue for SpinStore {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.with(|store| store.get(key))
    }

    async fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
        self.with(|store| store.set(key, value))
    }
}

fn kv_error(error: Error) -> KvError {
    match error {
        Error::AccessDenied => KvError::AccessDenied,
        other => KvError::Other(format!("{other:?}")),
    }
}

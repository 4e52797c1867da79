//! The native database port, counting what it sends: every `query` and `execute` is one round
//! trip to PostgreSQL (`BEGIN` and `COMMIT` included), as it is under Spin.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use spincat::ports::db::{Connection, Database, DbError, Param, RowSet};
use spincat_host::db::NativeDatabase;

#[derive(Clone)]
pub struct CountingDatabase {
    inner: NativeDatabase,
    sent: Arc<AtomicUsize>,
}

impl CountingDatabase {
    pub fn connect_lazily(url: &str) -> Self {
        Self {
            inner: NativeDatabase::connect_lazily(url, 4).expect("a database URL"),
            sent: Arc::default(),
        }
    }

    /// How many statements went to the database since the last call, and starts counting anew.
    pub fn take_round_trips(&self) -> usize {
        self.sent.swap(0, Ordering::SeqCst)
    }
}

#[async_trait::async_trait]
impl Database for CountingDatabase {
    async fn connect(&self) -> Result<Box<dyn Connection>, DbError> {
        Ok(Box::new(Counting {
            inner: self.inner.connect().await?,
            sent: self.sent.clone(),
        }))
    }
}

struct Counting {
    inner: Box<dyn Connection>,
    sent: Arc<AtomicUsize>,
}

#[async_trait::async_trait]
impl Connection for Counting {
    async fn query(&self, sql: &str, params: &[Param]) -> Result<RowSet, DbError> {
        self.sent.fetch_add(1, Ordering::SeqCst);
        self.inner.query(sql, params).await
    }

    async fn execute(&self, sql: &str, params: &[Param]) -> Result<u64, DbError> {
        self.sent.fetch_add(1, Ordering::SeqCst);
        self.inner.execute(sql, params).await
    }
}

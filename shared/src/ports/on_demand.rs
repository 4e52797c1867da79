//! Connections that hold a database client only while they use one.

use std::sync::{Arc, Mutex};

use super::db::{Connection, Database, DbError, Param, RowSet};

/// A database whose connections take a pooled client for one statement, or from `BEGIN` to
/// `COMMIT`/`ROLLBACK`, and give it back at once. A handler may then keep its connection across
/// a call to Midtrans or Kubernetes without keeping a client from every other request, which a
/// slow upstream would otherwise turn into a pool exhausted for everyone. Wraps the runtime's
/// pool, natively and under Spin alike.
pub struct OnDemand(Arc<dyn Database>);

impl OnDemand {
    pub fn over(pool: Arc<dyn Database>) -> Self {
        Self(pool)
    }
}

#[cfg_attr(not(target_arch = "wasm32"), async_trait::async_trait)]
#[cfg_attr(target_arch = "wasm32", async_trait::async_trait(?Send))]
impl Database for OnDemand {
    async fn connect(&self) -> Result<Box<dyn Connection>, DbError> {
        Ok(Box::new(OnDemandConnection {
            pool: self.0.clone(),
            held: Mutex::new(None),
        }))
    }
}

struct OnDemandConnection {
    pool: Arc<dyn Database>,
    /// The client of an open transaction.
    held: Mutex<Option<Box<dyn Connection>>>,
}

/// What a statement does to the client it runs on. Only `transaction()` sends these, as these
/// exact words.
enum Holding {
    Take,
    Keep,
    GiveBack,
}

fn holding(sql: &str, in_transaction: bool) -> Holding {
    match sql {
        "BEGIN" => Holding::Take,
        "COMMIT" | "ROLLBACK" => Holding::GiveBack,
        _ if in_transaction => Holding::Keep,
        _ => Holding::GiveBack,
    }
}

impl OnDemandConnection {
    async fn client(&self) -> Result<(Box<dyn Connection>, bool), DbError> {
        let held = self.held.lock().expect("not poisoned").take();
        match held {
            Some(client) => Ok((client, true)),
            None => Ok((self.pool.connect().await?, false)),
        }
    }

    /// Keeps the client for the rest of the transaction, or lets it go back to the pool.
    fn after(&self, sql: &str, client: Box<dyn Connection>, in_transaction: bool) {
        if matches!(holding(sql, in_transaction), Holding::Take | Holding::Keep) {
            *self.held.lock().expect("not poisoned") = Some(client);
        }
    }
}

#[cfg_attr(not(target_arch = "wasm32"), async_trait::async_trait)]
#[cfg_attr(target_arch = "wasm32", async_trait::async_trait(?Send))]
impl Connection for OnDemandConnection {
    async fn query(&self, sql: &str, params: &[Param]) -> Result<RowSet, DbError> {
        let (client, in_transaction) = self.client().await?;
        let result = client.query(sql, params).await;
        self.after(sql, client, in_transaction);
        result
    }

    async fn execute(&self, sql: &str, params: &[Param]) -> Result<u64, DbError> {
        let (client, in_transaction) = self.client().await?;
        let result = client.execute(sql, params).await;
        // A failed BEGIN opened nothing; a failed statement inside a transaction still awaits
        // its ROLLBACK on the same client.
        if result.is_ok() || in_transaction {
            self.after(sql, client, in_transaction);
        }
        result
    }
}

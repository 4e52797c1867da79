//! Password hashing natively: on tokio's blocking threads, a bounded number at once.

use std::sync::Arc;

use spincat::auth::{Password, PasswordHash};
use spincat::ports::Passwords;
use tokio::sync::Semaphore;

pub struct BlockingPasswords {
    at_once: Arc<Semaphore>,
}

impl BlockingPasswords {
    /// At most one hash per core: more would only queue inside the kernel and hold more
    /// memory (19 MiB each), while requests that hash nothing keep the async threads.
    pub fn per_core() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            at_once: Arc::new(Semaphore::new(cores)),
        }
    }

    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> T {
        let _turn = self
            .at_once
            .acquire()
            .await
            .expect("the semaphore is never closed");
        tokio::task::spawn_blocking(work)
            .await
            .expect("password hashing does not panic")
    }
}

#[async_trait::async_trait]
impl Passwords for BlockingPasswords {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, String> {
        let password = password.clone();
        self.run(move || PasswordHash::new(&password)).await
    }

    async fn verify(&self, hash: &PasswordHash, candidate: &str) -> bool {
        let (hash, candidate) = (hash.clone(), candidate.to_owned());
        self.run(move || hash.verify(&candidate)).await
    }
}

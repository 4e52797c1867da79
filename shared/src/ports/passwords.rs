//! Where password hashing runs.

use crate::password::{Password, PasswordHash};

use super::MaybeSend;

/// Argon2 is slow on purpose. On a server that runs many requests on a few threads, a burst of
/// logins would hold every thread and stall every other request, and each hash in flight holds
/// its 19 MiB: so the native host hashes on blocking threads, a few at once. A Spin instance
/// serves one request and has no such runtime to starve, so there it runs inline.
#[cfg_attr(not(target_arch = "wasm32"), async_trait::async_trait)]
#[cfg_attr(target_arch = "wasm32", async_trait::async_trait(?Send))]
pub trait Passwords: MaybeSend {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, String>;
    /// Constant time inside Argon2; a malformed stored hash never matches.
    async fn verify(&self, hash: &PasswordHash, candidate: &str) -> bool;
}

/// Hashing right where it is asked for.
pub struct InlinePasswords;

#[cfg_attr(not(target_arch = "wasm32"), async_trait::async_trait)]
#[cfg_attr(target_arch = "wasm32", async_trait::async_trait(?Send))]
impl Passwords for InlinePasswords {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, String> {
        PasswordHash::new(password)
    }

    async fn verify(&self, hash: &PasswordHash, candidate: &str) -> bool {
        hash.verify(candidate)
    }
}

/// The passwords of a component that has no route taking one: Argon2 stays out of its wasm.
/// Asked anyway, it hashes nothing and matches nothing.
pub struct NoPasswords;

#[cfg_attr(not(target_arch = "wasm32"), async_trait::async_trait)]
#[cfg_attr(target_arch = "wasm32", async_trait::async_trait(?Send))]
impl Passwords for NoPasswords {
    async fn hash(&self, _: &Password) -> Result<PasswordHash, String> {
        Err("this component hashes no passwords".into())
    }

    async fn verify(&self, _: &PasswordHash, _: &str) -> bool {
        false
    }
}

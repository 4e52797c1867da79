//! Passwords and their Argon2id hashes: the values accounts keep and the ports hash.

use argon2::password_hash::{PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// Argon2id at OWASP's minimum (Password Storage Cheat Sheet): 19 MiB of memory, two passes, one
/// lane. Each hash costs that memory and tens of milliseconds of one core, which is why only a
/// few run at once (see `ports::Passwords`). Stored hashes carry their own parameters, so
/// raising these later still verifies the old ones.
pub const ARGON2_MEMORY_KIB: u32 = 19 * 1024;
pub const ARGON2_PASSES: u32 = 2;
pub const ARGON2_LANES: u32 = 1;

fn argon2() -> Argon2<'static> {
    let params = Params::new(ARGON2_MEMORY_KIB, ARGON2_PASSES, ARGON2_LANES, None)
        .expect("OWASP's parameters are valid Argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// A password as typed at registration: 8 to 128 characters. The upper bound keeps hashing cheap
/// enough that a long password is not a way to burn our CPU.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub const MIN_CHARS: usize = 8;
    pub const MAX_CHARS: usize = 128;

    pub fn parse(input: &str) -> Result<Self, String> {
        let chars = input.chars().count();
        if chars < Self::MIN_CHARS {
            return Err(format!("must be at least {} characters", Self::MIN_CHARS));
        }
        if chars > Self::MAX_CHARS {
            return Err(format!("must be at most {} characters", Self::MAX_CHARS));
        }
        Ok(Self(input.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// An Argon2id hash in PHC string form, the only form in which a password is ever stored.
#[derive(Debug, Clone)]
pub struct PasswordHash(String);

/// A real hash of a password nobody knows, verified against when an email is unknown, so a
/// login for an unknown email takes as long as one with a wrong password.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c3BpbmNhdGR1bW15c2FsdA$Qx3m9Yt8V3l2b6S0N3yHqk3Kc7gqS3qk0l9wzT1yJ8o";

impl PasswordHash {
    pub fn new(password: &Password) -> Result<Self, String> {
        let mut salt = [0u8; 16];
        getrandom::fill(&mut salt).map_err(|e| e.to_string())?;
        let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
        argon2()
            .hash_password(password.as_str().as_bytes(), &salt)
            .map(|hash| Self(hash.to_string()))
            .map_err(|e| e.to_string())
    }

    pub fn from_stored(phc: String) -> Self {
        Self(phc)
    }

    pub fn dummy() -> Self {
        Self(DUMMY_HASH.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Constant-time comparison inside argon2; a malformed stored hash never matches.
    pub fn verify(&self, candidate: &str) -> bool {
        argon2::password_hash::PasswordHash::new(&self.0).is_ok_and(|parsed| {
            argon2()
                .verify_password(candidate.as_bytes(), &parsed)
                .is_ok()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_only_the_right_password() {
        let hash = PasswordHash::new(&Password::parse("correct horse").unwrap()).unwrap();
        assert!(hash.as_str().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(hash.verify("correct horse"));
        assert!(!hash.verify("correct horse "));
    }

    #[test]
    fn dummy_hash_is_a_well_formed_argon2id_hash() {
        assert!(argon2::password_hash::PasswordHash::new(DUMMY_HASH).is_ok());
        assert!(!PasswordHash::dummy().verify("anything"));
    }

    #[test]
    fn length_bounds() {
        assert!(Password::parse("1234567").is_err());
        assert!(Password::parse("12345678").is_ok());
        assert!(Password::parse(&"x".repeat(129)).is_err());
    }
}

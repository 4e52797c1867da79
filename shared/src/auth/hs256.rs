//! The one algorithm access tokens use, as jsonwebtoken's crypto backend: HMAC-SHA256 from
//! `hmac` and `sha2`. jsonwebtoken's own `rust_crypto` backend would bring RSA (with
//! RUSTSEC-2023-0071), ECDSA and Ed25519 into every component that reads a token, for nothing:
//! every other algorithm is refused here, before any key is used.

use std::sync::Once;

use hmac::{Hmac, Mac};
use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{ErrorKind, Result};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, EncodingKey};
use sha2::Sha256;
use signature::{Signer, Verifier};

static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: signer,
    verifier_factory: verifier,
    // JWKs and PEM keys are never read.
    key_utils: KeyUtils::new_unimplemented(),
};

/// Makes HS256 jsonwebtoken's backend for this process (or component instance); idempotent.
pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Set only here, so it cannot already hold another provider.
        let _ = PROVIDER.install_default();
    });
}

struct HmacSha256(Hmac<Sha256>);

impl HmacSha256 {
    fn new(algorithm: &Algorithm, family: AlgorithmFamily, secret: &[u8]) -> Result<Self> {
        if *algorithm != Algorithm::HS256 || family != AlgorithmFamily::Hmac {
            return Err(ErrorKind::InvalidAlgorithm.into());
        }
        Hmac::new_from_slice(secret)
            .map(Self)
            .map_err(|_| ErrorKind::InvalidKeyFormat.into())
    }

    fn mac(&self, message: &[u8]) -> Hmac<Sha256> {
        let mut mac = self.0.clone();
        mac.update(message);
        mac
    }
}

fn signer(algorithm: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>> {
    Ok(Box::new(HmacSha256::new(
        algorithm,
        key.family(),
        key.as_bytes(),
    )?))
}

fn verifier(algorithm: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>> {
    Ok(Box::new(HmacSha256::new(
        algorithm,
        key.family(),
        key.try_get_as_bytes()?,
    )?))
}

impl Signer<Vec<u8>> for HmacSha256 {
    fn try_sign(&self, message: &[u8]) -> std::result::Result<Vec<u8>, signature::Error> {
        Ok(self.mac(message).finalize().into_bytes().to_vec())
    }
}

impl Verifier<Vec<u8>> for HmacSha256 {
    /// In constant time (`verify_slice`).
    fn verify(&self, message: &[u8], tag: &Vec<u8>) -> std::result::Result<(), signature::Error> {
        self.mac(message)
            .verify_slice(tag)
            .map_err(signature::Error::from_source)
    }
}

impl JwtSigner for HmacSha256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

impl JwtVerifier for HmacSha256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::HS256
    }
}

//! Access tokens as compact JWS (RFC 7515) signed with HMAC-SHA256 (RFC 7518 section 3.2), the
//! one algorithm we issue and accept. A few lines over `hmac`, `sha2` and `base64` rather than
//! jsonwebtoken: its algorithm-generic machinery (and its `rust_crypto` backend's RSA, with
//! RUSTSEC-2023-0071, ECDSA and Ed25519) cost every component that reads a token wasm size for
//! algorithms that are refused anyway.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

/// The header of a token we accept: HS256 and nothing else (no `kid`, no `crit`, no key
/// material a forger could point us at).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    alg: String,
    #[allow(dead_code)] // Read only to be allowed.
    typ: Option<String>,
}

fn mac(secret: &[u8], signing_input: &str) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(signing_input.as_bytes());
    mac
}

/// `claims` (JSON) as a signed token.
pub fn sign(claims: &[u8], secret: &[u8]) -> String {
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(HEADER),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let tag = mac(secret, &signing_input).finalize().into_bytes();
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(tag))
}

/// The claims (JSON) of a token whose header names HS256 and whose signature verifies (in
/// constant time); `None` for anything else.
pub fn verify(token: &str, secret: &[u8]) -> Option<Vec<u8>> {
    let (signing_input, tag) = token.rsplit_once('.')?;
    let (header, claims) = signing_input.split_once('.')?;
    if claims.contains('.') {
        return None;
    }
    let header: Header = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).ok()?).ok()?;
    if header.alg != "HS256" {
        return None;
    }
    let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
    mac(secret, signing_input).verify_slice(&tag).ok()?;
    URL_SAFE_NO_PAD.decode(claims).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7515 appendix A.1's example, whose header differs from ours only in layout.
    #[test]
    fn verifies_the_rfc_7515_example_and_refuses_it_altered() {
        let key = URL_SAFE_NO_PAD
            .decode("AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow")
            .unwrap();
        let token = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let claims = verify(token, &key).unwrap();
        assert!(String::from_utf8(claims)
            .unwrap()
            .contains(r#""iss":"joe""#));
        assert_eq!(verify(&format!("{token}A"), &key), None);
        assert_eq!(verify(&format!("{token}.x"), &key), None);
        assert_eq!(verify(token, b"another key"), None);
    }

    #[test]
    fn round_trips_and_refuses_foreign_headers() {
        let token = sign(br#"{"sub":"a"}"#, b"k");
        assert_eq!(verify(&token, b"k").unwrap(), br#"{"sub":"a"}"#);
        let claims = token.split('.').nth(1).unwrap();
        for header in [
            r#"{"alg":"none"}"#,
            r#"{"alg":"HS512","typ":"JWT"}"#,
            r#"{"alg":"HS256","kid":"../../key"}"#,
            r#"{"alg":"HS256","crit":["exp"]}"#,
        ] {
            let input = format!("{}.{claims}", URL_SAFE_NO_PAD.encode(header));
            let tag = URL_SAFE_NO_PAD.encode(mac(b"k", &input).finalize().into_bytes());
            assert_eq!(verify(&format!("{input}.{tag}"), b"k"), None, "{header}");
        }
    }
}

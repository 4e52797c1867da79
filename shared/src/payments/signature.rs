use sha2::{Digest, Sha512};
use subtle::ConstantTimeEq;

/// `SHA512(order_id + status_code + gross_amount + server_key)`, lower-case hex, over the exact
/// strings Midtrans sent (`100000.00` and `100000` sign differently).
pub fn notification_signature(
    order_id: &str,
    status_code: &str,
    gross_amount: &str,
    server_key: &str,
) -> String {
    let mut digest = Sha512::new();
    digest.update(order_id.as_bytes());
    digest.update(status_code.as_bytes());
    digest.update(gross_amount.as_bytes());
    digest.update(server_key.as_bytes());
    hex::encode(digest.finalize())
}

/// Compares in constant time, so the comparison leaks nothing about how much of a forged
/// signature was right.
pub fn signature_matches(expected: &str, received: &str) -> bool {
    let received = received.trim().to_ascii_lowercase();
    expected.len() == received.len() && bool::from(expected.as_bytes().ct_eq(received.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The known vector of ../shared/fixtures/midtrans/README.md.
    #[test]
    fn matches_the_documented_vector() {
        let signature = notification_signature(
            "1111",
            "200",
            "100000.00",
            "askvnoibnosifnboseofinbofinfgbiufglnbfg",
        );
        assert_eq!(
            signature,
            "edc076b21793ebe3e17926350f5b8ae67d902fe657b3d0aa31b932d5c127e2375d308a2bc94f3265ac2d80a1f181a79b997ac178a236fcff35af263fc4d4c231"
        );
        assert!(signature_matches(&signature, &signature.to_uppercase()));
        let unpadded = notification_signature(
            "1111",
            "200",
            "100000",
            "askvnoibnosifnboseofinbofinfgbiufglnbfg",
        );
        assert!(!signature_matches(&signature, &unpadded));
        assert!(!signature_matches(&signature, ""));
    }
}

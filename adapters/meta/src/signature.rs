//! Webhook signatures: `X-Hub-Signature-256: sha256=<hex>` over the raw body (README §5.2).

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The header Meta puts the signature in.
pub const SIGNATURE_HEADER: &str = "X-Hub-Signature-256";

/// The prefix of the header value, before the hex digest.
const PREFIX: &str = "sha256=";

/// HMAC-SHA256 of the raw body keyed by the app secret.
fn mac(app_secret: &[u8], raw_body: &[u8]) -> [u8; 32] {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(app_secret).expect("HMAC accepts keys of any length");
    mac.update(raw_body);
    mac.finalize().into_bytes().into()
}

/// The header value Meta would send for this body: `sha256=<lowercase hex>`.
pub fn sign(app_secret: &[u8], raw_body: &[u8]) -> String {
    format!("{PREFIX}{}", hex::encode(mac(app_secret, raw_body)))
}

/// Checks the header value against the raw body in constant time; missing or malformed is false.
///
/// Call it on the exact received bytes, before any JSON parsing (README §5.2).
pub fn verify_signature(app_secret: &[u8], raw_body: &[u8], header_value: Option<&str>) -> bool {
    let Some(header_value) = header_value else {
        return false;
    };
    let Some(hex_digest) = header_value.trim().strip_prefix(PREFIX) else {
        return false;
    };
    // Decoding first means the comparison is over fixed-size bytes, and upper-case hex is accepted.
    let Ok(claimed) = hex::decode(hex_digest) else {
        return false;
    };
    if claimed.len() != 32 {
        return false;
    }
    let expected = mac(app_secret, raw_body);
    expected.ct_eq(claimed.as_slice()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"app-secret";
    const BODY: &[u8] = br#"{"object":"whatsapp_business_account","entry":[]}"#;

    #[test]
    fn sign_matches_a_known_vector() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn a_correct_signature_verifies() {
        let header = sign(SECRET, BODY);
        assert!(verify_signature(SECRET, BODY, Some(&header)));
        assert!(verify_signature(
            SECRET,
            BODY,
            Some(&header.to_uppercase().replace("SHA256=", "sha256="))
        ));
    }

    #[test]
    fn wrong_or_malformed_signatures_are_rejected() {
        let good = sign(SECRET, BODY);
        let hex_only = good.strip_prefix("sha256=").unwrap();
        assert!(!verify_signature(SECRET, BODY, None));
        assert!(!verify_signature(SECRET, BODY, Some("")));
        assert!(!verify_signature(SECRET, BODY, Some(hex_only)));
        assert!(!verify_signature(SECRET, BODY, Some("sha256=")));
        assert!(!verify_signature(SECRET, BODY, Some("sha256=zz")));
        assert!(!verify_signature(
            SECRET,
            BODY,
            Some(&good[..good.len() - 2])
        ));
        assert!(!verify_signature(SECRET, BODY, Some(&format!("{good}00"))));
        assert!(!verify_signature(
            SECRET,
            BODY,
            Some(&format!("sha1={hex_only}"))
        ));
        assert!(!verify_signature(b"other-secret", BODY, Some(&good)));
        // One changed byte of the body, e.g. after re-serialization.
        assert!(!verify_signature(
            SECRET,
            br#"{"object":"whatsapp_business_account","entry":[ ]}"#,
            Some(&good)
        ));
    }
}

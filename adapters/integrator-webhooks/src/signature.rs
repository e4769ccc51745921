//! The signature integrators verify: HMAC-SHA256 with the endpoint's signing secret over
//! `{delivery id}.{timestamp}.{raw body}`, hex-encoded, sent as `v1=<hex>` in
//! `Parley-Signature` (space-separated, one per secret, while a rotation lasts).
//! Signing the id and timestamp with the body lets receivers reject replays of old deliveries.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header carrying the delivery id (the same on every attempt).
pub const DELIVERY_ID_HEADER: &str = "Parley-Delivery-Id";
/// The header carrying the attempt's time, in seconds since the Unix epoch.
pub const TIMESTAMP_HEADER: &str = "Parley-Timestamp";
/// The header carrying the signatures.
pub const SIGNATURE_HEADER: &str = "Parley-Signature";
/// The header naming the event type.
pub const EVENT_TYPE_HEADER: &str = "Parley-Event-Type";

/// The `v1=<hex>` signature of one delivery attempt with one secret.
pub fn sign(secret: &str, delivery_id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(delivery_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// The `Parley-Signature` value: one signature per secret, space-separated.
pub fn signature_header(
    secrets: &[String],
    delivery_id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    secrets
        .iter()
        .map(|secret| sign(secret, delivery_id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether `header` holds a valid signature by `secret` (what a receiver does; used by tests
/// and the README's example). Compares in constant time.
pub fn verify(secret: &str, delivery_id: &str, timestamp: i64, body: &[u8], header: &str) -> bool {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(delivery_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    header.split_whitespace().any(|candidate| {
        candidate
            .strip_prefix("v1=")
            .and_then(|hex_digest| hex::decode(hex_digest).ok())
            .is_some_and(|digest| mac.clone().verify_slice(&digest).is_ok())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_with_its_secret_id_timestamp_and_body() {
        let header = sign("whsec_a", "d1", 1_700_000_000, b"{}");
        assert!(verify("whsec_a", "d1", 1_700_000_000, b"{}", &header));
        assert!(!verify("whsec_b", "d1", 1_700_000_000, b"{}", &header));
        assert!(!verify("whsec_a", "d2", 1_700_000_000, b"{}", &header));
        assert!(!verify("whsec_a", "d1", 1_700_000_001, b"{}", &header));
        assert!(!verify("whsec_a", "d1", 1_700_000_000, b"{ }", &header));
    }

    #[test]
    fn during_a_rotation_either_secret_verifies() {
        let secrets = vec!["whsec_new".to_string(), "whsec_old".to_string()];
        let header = signature_header(&secrets, "d1", 5, b"x");
        assert!(verify("whsec_new", "d1", 5, b"x", &header));
        assert!(verify("whsec_old", "d1", 5, b"x", &header));
        assert!(!verify("whsec_other", "d1", 5, b"x", &header));
    }

    #[test]
    fn the_scheme_matches_a_known_vector() {
        // python3 -c "import hmac,hashlib;print(hmac.new(b'k',b'id.1.body',hashlib.sha256).hexdigest())"
        assert_eq!(
            sign("k", "id", 1, b"body"),
            "v1=1451ecae866e39747cfe52a1c414b5d8758bfc636a288ae1f0160d12eac5572d"
        );
    }
}

//! Encryption at rest for secrets (Meta access tokens): XChaCha20-Poly1305 with a 256-bit key
//! from `PARLEY_SECRET_KEY`, a random 192-bit nonce per secret. Sealed form: `v1:<base64(nonce‖ciphertext)>`.

use application::{SecretBox, SecretBoxError};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use domain::SealedSecret;

const PREFIX: &str = "v1:";
const NONCE_LEN: usize = 24;

/// Why `PARLEY_SECRET_KEY` cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("PARLEY_SECRET_KEY must be 32 bytes, base64- or hex-encoded")]
pub struct SecretKeyError;

/// The secret box over one key.
pub struct AeadSecretBox {
    cipher: XChaCha20Poly1305,
}

impl AeadSecretBox {
    /// Reads a 32-byte key given as base64 or hex.
    pub fn from_encoded_key(encoded: &str) -> Result<Self, SecretKeyError> {
        let encoded = encoded.trim();
        let key = BASE64
            .decode(encoded)
            .ok()
            .filter(|k| k.len() == 32)
            .or_else(|| hex::decode(encoded).ok().filter(|k| k.len() == 32))
            .ok_or(SecretKeyError)?;
        let cipher = XChaCha20Poly1305::new_from_slice(&key).map_err(|_| SecretKeyError)?;
        Ok(Self { cipher })
    }

    /// A new random key, base64-encoded.
    pub fn generate_key() -> String {
        BASE64.encode(XChaCha20Poly1305::generate_key(&mut OsRng))
    }
}

impl SecretBox for AeadSecretBox {
    fn seal(&self, plaintext: &str) -> SealedSecret {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let ciphertext = self
            .cipher
            .encrypt(&nonce, plaintext.as_bytes())
            .expect("XChaCha20-Poly1305 encryption does not fail for in-memory input");
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&ciphertext);
        SealedSecret(format!("{PREFIX}{}", BASE64.encode(sealed)))
    }

    fn open(&self, sealed: &SealedSecret) -> Result<String, SecretBoxError> {
        let encoded = sealed
            .0
            .strip_prefix(PREFIX)
            .ok_or(SecretBoxError::Undecryptable)?;
        let bytes = BASE64
            .decode(encoded)
            .map_err(|_| SecretBoxError::Undecryptable)?;
        if bytes.len() < NONCE_LEN {
            return Err(SecretBoxError::Undecryptable);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let plaintext = self
            .cipher
            .decrypt(XNonce::from_slice(nonce), ciphertext)
            .map_err(|_| SecretBoxError::Undecryptable)?;
        String::from_utf8(plaintext).map_err(|_| SecretBoxError::Undecryptable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_without_keeping_the_clear_text() {
        let secrets = AeadSecretBox::from_encoded_key(&AeadSecretBox::generate_key()).unwrap();
        let sealed = secrets.seal("EAAG-meta-token");
        assert!(!sealed.0.contains("EAAG"));
        assert_ne!(sealed, secrets.seal("EAAG-meta-token"), "nonces are fresh");
        assert_eq!(secrets.open(&sealed).unwrap(), "EAAG-meta-token");
    }

    #[test]
    fn another_key_cannot_open() {
        let one = AeadSecretBox::from_encoded_key(&AeadSecretBox::generate_key()).unwrap();
        let other = AeadSecretBox::from_encoded_key(&AeadSecretBox::generate_key()).unwrap();
        assert!(other.open(&one.seal("secret")).is_err());
    }

    #[test]
    fn keys_must_be_32_bytes() {
        assert!(AeadSecretBox::from_encoded_key("c2hvcnQ=").is_err());
        assert!(AeadSecretBox::from_encoded_key(&"ab".repeat(32)).is_ok());
    }
}

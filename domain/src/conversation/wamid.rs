//! Meta's id of a WhatsApp message (a "wamid").

use serde::{Deserialize, Serialize};
use std::fmt;

/// The longest wamid Meta documents.
pub const MAX_WAMID_LEN: usize = 128;

/// Meta's id of a message, e.g. `wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=`.
/// Opaque to us: 1 to 128 characters without whitespace; it cannot hold anything else.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Wamid(String);

/// Why a string is not a wamid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a WhatsApp message id (1 to 128 characters, no whitespace)")]
pub struct InvalidWamid(pub String);

impl Wamid {
    /// Accepts 1 to [`MAX_WAMID_LEN`] characters, none of them whitespace or control characters.
    pub fn parse(raw: impl Into<String>) -> Result<Self, InvalidWamid> {
        let raw = raw.into();
        let valid = !raw.is_empty()
            && raw.chars().count() <= MAX_WAMID_LEN
            && !raw.chars().any(|c| c.is_whitespace() || c.is_control());
        if valid {
            Ok(Self(raw))
        } else {
            Err(InvalidWamid(raw))
        }
    }

    /// The id as Meta wrote it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Wamid {
    type Error = InvalidWamid;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(value)
    }
}

impl From<Wamid> for String {
    fn from(value: Wamid) -> Self {
        value.0
    }
}

impl fmt::Display for Wamid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_meta_ids_up_to_128_characters() {
        assert!(
            Wamid::parse("wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=").is_ok()
        );
        assert!(Wamid::parse("x".repeat(128)).is_ok());
    }

    #[test]
    fn rejects_empty_long_or_spaced_ids() {
        for bad in [
            String::new(),
            "x".repeat(129),
            "wamid. x".into(),
            "wamid\n".into(),
        ] {
            assert!(Wamid::parse(bad.clone()).is_err(), "{bad:?}");
        }
        assert!(serde_json::from_str::<Wamid>("\"\"").is_err());
    }
}

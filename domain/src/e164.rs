//! An E.164 phone number: `+`, a non-zero country-code digit, 7 to 15 digits in all.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A phone number in E.164 form; it cannot hold anything else.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct E164(String);

/// Why a string is not an E.164 phone number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "'{0}' is not an E.164 phone number (expected + followed by 7 to 15 digits, e.g. +14155550123)"
)]
pub struct InvalidE164(pub String);

impl E164 {
    /// Parses `+` followed by 7 to 15 digits, the first not zero. No spaces or punctuation.
    pub fn parse(raw: &str) -> Result<Self, InvalidE164> {
        let digits = raw
            .strip_prefix('+')
            .ok_or_else(|| InvalidE164(raw.to_string()))?;
        let valid = (7..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        if valid {
            Ok(Self(raw.to_string()))
        } else {
            Err(InvalidE164(raw.to_string()))
        }
    }

    /// The number as WhatsApp identifies its user: the digits without the `+`.
    pub fn wa_id(&self) -> &str {
        &self.0[1..]
    }

    /// The number as written, with its `+`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for E164 {
    type Error = InvalidE164;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<E164> for String {
    fn from(value: E164) -> Self {
        value.0
    }
}

impl fmt::Display for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_international_numbers() {
        for ok in [
            "+14155550123",
            "+5511987654321",
            "+4915112345678",
            "+1234567",
        ] {
            let parsed = E164::parse(ok).unwrap();
            assert_eq!(parsed.as_str(), ok);
        }
        assert_eq!(E164::parse("+14155550123").unwrap().wa_id(), "14155550123");
    }

    #[test]
    fn rejects_anything_else() {
        for bad in [
            "",
            "+",
            "14155550123",
            "+0123456789",
            "+1 415 555 0123",
            "+1-415-555-0123",
            "+123456",
            "+1234567890123456",
            "+1415555012a",
            "++14155550123",
        ] {
            assert!(E164::parse(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn deserializing_validates() {
        assert!(serde_json::from_str::<E164>("\"+14155550123\"").is_ok());
        assert!(serde_json::from_str::<E164>("\"4155550123\"").is_err());
    }
}

//! A number's health as Meta rates it: quality and messaging-limit tier.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Meta's quality rating of a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum QualityRating {
    Green,
    Yellow,
    Red,
    /// `NA` or `UNKNOWN`: not rated yet.
    Unknown,
}

impl QualityRating {
    /// The wire form: `GREEN`, `YELLOW`, `RED` or `UNKNOWN`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Green => "GREEN",
            Self::Yellow => "YELLOW",
            Self::Red => "RED",
            Self::Unknown => "UNKNOWN",
        }
    }
}

impl fmt::Display for QualityRating {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for QualityRating {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_uppercase().as_str() {
            "GREEN" | "HIGH" => Ok(Self::Green),
            "YELLOW" | "MEDIUM" => Ok(Self::Yellow),
            "RED" | "LOW" => Ok(Self::Red),
            "NA" | "UNKNOWN" => Ok(Self::Unknown),
            other => Err(format!(
                "'{other}' is not a quality rating (GREEN, YELLOW, RED, UNKNOWN)"
            )),
        }
    }
}

/// How many unique customers a number may start conversations with in 24 hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MessagingLimitTier {
    #[serde(rename = "TIER_50")]
    Tier50,
    #[serde(rename = "TIER_250")]
    Tier250,
    #[serde(rename = "TIER_1K")]
    Tier1K,
    #[serde(rename = "TIER_2K")]
    Tier2K,
    #[serde(rename = "TIER_10K")]
    Tier10K,
    #[serde(rename = "TIER_100K")]
    Tier100K,
    #[serde(rename = "TIER_UNLIMITED")]
    Unlimited,
    /// `TIER_NOT_SET`: Meta has not assigned one.
    #[serde(rename = "TIER_NOT_SET")]
    NotSet,
}

impl MessagingLimitTier {
    const ALL: [MessagingLimitTier; 8] = [
        Self::Tier50,
        Self::Tier250,
        Self::Tier1K,
        Self::Tier2K,
        Self::Tier10K,
        Self::Tier100K,
        Self::Unlimited,
        Self::NotSet,
    ];

    /// Meta's name, e.g. `TIER_2K`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tier50 => "TIER_50",
            Self::Tier250 => "TIER_250",
            Self::Tier1K => "TIER_1K",
            Self::Tier2K => "TIER_2K",
            Self::Tier10K => "TIER_10K",
            Self::Tier100K => "TIER_100K",
            Self::Unlimited => "TIER_UNLIMITED",
            Self::NotSet => "TIER_NOT_SET",
        }
    }

    /// Unique business-initiated recipients allowed per rolling 24 h; `None` when unlimited.
    /// An unset tier counts as the entry tier (250), the safe assumption.
    pub fn daily_recipients(self) -> Option<u32> {
        match self {
            Self::Tier50 => Some(50),
            Self::Tier250 | Self::NotSet => Some(250),
            Self::Tier1K => Some(1_000),
            Self::Tier2K => Some(2_000),
            Self::Tier10K => Some(10_000),
            Self::Tier100K => Some(100_000),
            Self::Unlimited => None,
        }
    }
}

impl fmt::Display for MessagingLimitTier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MessagingLimitTier {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let upper = s.to_ascii_uppercase();
        Self::ALL
            .into_iter()
            .find(|tier| tier.as_str() == upper)
            .ok_or_else(|| {
                format!("'{s}' is not a messaging-limit tier (TIER_250 … TIER_UNLIMITED)")
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_and_ratings_read_metas_names() {
        assert_eq!("TIER_2K".parse(), Ok(MessagingLimitTier::Tier2K));
        assert_eq!("tier_unlimited".parse(), Ok(MessagingLimitTier::Unlimited));
        assert!("TIER_3K".parse::<MessagingLimitTier>().is_err());
        assert_eq!(MessagingLimitTier::Tier10K.daily_recipients(), Some(10_000));
        assert_eq!(MessagingLimitTier::Unlimited.daily_recipients(), None);
        assert_eq!("NA".parse(), Ok(QualityRating::Unknown));
        assert_eq!("RED".parse(), Ok(QualityRating::Red));
        assert!("PURPLE".parse::<QualityRating>().is_err());
        assert_eq!(
            serde_json::to_value(MessagingLimitTier::Tier100K).unwrap(),
            serde_json::json!("TIER_100K")
        );
    }
}

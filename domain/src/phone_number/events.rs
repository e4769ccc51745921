//! What has happened to a phone number.

use super::health::{MessagingLimitTier, QualityRating};
use crate::{SealedSecret, WorkspaceId, E164, EVENT_VERSION_1};
use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The number's verification status as the External API reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PhoneNumberStatus {
    Verified,
    Unverified,
    Pending,
}

impl PhoneNumberStatus {
    /// The wire form: `VERIFIED`, `UNVERIFIED` or `PENDING`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Verified => "VERIFIED",
            Self::Unverified => "UNVERIFIED",
            Self::Pending => "PENDING",
        }
    }
}

impl fmt::Display for PhoneNumberStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PhoneNumberStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "VERIFIED" => Ok(Self::Verified),
            "UNVERIFIED" => Ok(Self::Unverified),
            "PENDING" => Ok(Self::Pending),
            other => Err(format!(
                "'{other}' is not one of VERIFIED, UNVERIFIED, PENDING"
            )),
        }
    }
}

/// Events of the PhoneNumber aggregate. The access token only ever appears sealed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum PhoneNumberEvent {
    PhoneNumberRegistered {
        workspace_id: WorkspaceId,
        phone_number_id: String,
        waba_id: String,
        waba_name: Option<String>,
        display_phone_number: E164,
        display_name: Option<String>,
        verified_name: Option<String>,
        status: PhoneNumberStatus,
        access_token: Option<SealedSecret>,
        at: DateTime<Utc>,
    },
    /// Only the fields that changed are present.
    PhoneNumberDetailsChanged {
        waba_name: Option<String>,
        display_phone_number: Option<E164>,
        display_name: Option<String>,
        verified_name: Option<String>,
        at: DateTime<Utc>,
    },
    PhoneNumberStatusChanged {
        status: PhoneNumberStatus,
        at: DateTime<Utc>,
    },
    PhoneNumberAccessTokenReplaced {
        access_token: SealedSecret,
        at: DateTime<Utc>,
    },
    PhoneNumberRemoved {
        at: DateTime<Utc>,
    },
    /// Meta rated the number's quality.
    PhoneNumberQualityRated {
        rating: QualityRating,
        previous: Option<QualityRating>,
        at: DateTime<Utc>,
    },
    /// Meta moved the number to another messaging-limit tier.
    PhoneNumberMessagingLimitChanged {
        tier: MessagingLimitTier,
        previous: Option<MessagingLimitTier>,
        at: DateTime<Utc>,
    },
    PhoneNumberVerificationCodeRequested {
        method: String,
        at: DateTime<Utc>,
    },
    /// The registration code was accepted; the number is verified.
    PhoneNumberCodeVerified {
        at: DateTime<Utc>,
    },
    /// The business profile was changed on Meta (the fields sent, with their values).
    PhoneNumberBusinessProfileUpdated {
        changes: serde_json::Value,
        at: DateTime<Utc>,
    },
    /// Meta reported an account event (restriction, violation, ban, …) for the number's WABA.
    PhoneNumberAccountUpdated {
        event: String,
        detail: serde_json::Value,
        at: DateTime<Utc>,
    },
}

impl PhoneNumberEvent {
    /// When the event happened.
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            Self::PhoneNumberRegistered { at, .. }
            | Self::PhoneNumberDetailsChanged { at, .. }
            | Self::PhoneNumberStatusChanged { at, .. }
            | Self::PhoneNumberAccessTokenReplaced { at, .. }
            | Self::PhoneNumberRemoved { at }
            | Self::PhoneNumberQualityRated { at, .. }
            | Self::PhoneNumberMessagingLimitChanged { at, .. }
            | Self::PhoneNumberVerificationCodeRequested { at, .. }
            | Self::PhoneNumberCodeVerified { at }
            | Self::PhoneNumberBusinessProfileUpdated { at, .. }
            | Self::PhoneNumberAccountUpdated { at, .. } => *at,
        }
    }
}

impl DomainEvent for PhoneNumberEvent {
    fn event_type(&self) -> String {
        let name = match self {
            Self::PhoneNumberRegistered { .. } => "PhoneNumberRegistered",
            Self::PhoneNumberDetailsChanged { .. } => "PhoneNumberDetailsChanged",
            Self::PhoneNumberStatusChanged { .. } => "PhoneNumberStatusChanged",
            Self::PhoneNumberAccessTokenReplaced { .. } => "PhoneNumberAccessTokenReplaced",
            Self::PhoneNumberRemoved { .. } => "PhoneNumberRemoved",
            Self::PhoneNumberQualityRated { .. } => "PhoneNumberQualityRated",
            Self::PhoneNumberMessagingLimitChanged { .. } => "PhoneNumberMessagingLimitChanged",
            Self::PhoneNumberVerificationCodeRequested { .. } => {
                "PhoneNumberVerificationCodeRequested"
            }
            Self::PhoneNumberCodeVerified { .. } => "PhoneNumberCodeVerified",
            Self::PhoneNumberBusinessProfileUpdated { .. } => "PhoneNumberBusinessProfileUpdated",
            Self::PhoneNumberAccountUpdated { .. } => "PhoneNumberAccountUpdated",
        };
        name.to_string()
    }

    fn event_version(&self) -> String {
        EVENT_VERSION_1.to_string()
    }
}

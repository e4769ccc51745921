//! What can be asked of a phone number.

use super::events::PhoneNumberStatus;
use super::health::{MessagingLimitTier, QualityRating};
use crate::{SealedSecret, E164};

/// A number being registered with Parley.
#[derive(Debug, Clone, PartialEq)]
pub struct PhoneNumberRegistration {
    /// Meta's phone_number_id.
    pub phone_number_id: String,
    pub waba_id: String,
    pub waba_name: Option<String>,
    pub display_phone_number: E164,
    pub display_name: Option<String>,
    pub verified_name: Option<String>,
    pub status: PhoneNumberStatus,
    pub access_token: Option<SealedSecret>,
}

/// A partial update; `None` leaves a field as it is.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PhoneNumberChanges {
    pub waba_name: Option<String>,
    pub display_phone_number: Option<E164>,
    pub display_name: Option<String>,
    pub verified_name: Option<String>,
    pub status: Option<PhoneNumberStatus>,
    pub access_token: Option<SealedSecret>,
}

/// Commands on a phone number, wrapped in [`crate::Issued`].
#[derive(Debug, Clone, PartialEq)]
pub enum PhoneNumberCommand {
    RegisterPhoneNumber(PhoneNumberRegistration),
    UpdatePhoneNumber(PhoneNumberChanges),
    RemovePhoneNumber,
    /// Meta's view of the number's health changed (webhook or a fetch); `None` is unknown.
    RecordHealth {
        quality_rating: Option<QualityRating>,
        messaging_limit: Option<MessagingLimitTier>,
    },
    /// Meta sent a registration code by `method` (`SMS` or `VOICE`).
    RecordCodeRequested {
        method: String,
    },
    /// Meta accepted the registration code: the number is verified.
    RecordCodeVerified,
    /// The business profile was changed on Meta; the fields that were sent, with their values.
    RecordBusinessProfileUpdated {
        changes: serde_json::Value,
    },
    /// An `account_update` webhook for the number's WABA.
    RecordAccountUpdate {
        event: String,
        detail: serde_json::Value,
    },
}

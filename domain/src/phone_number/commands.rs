//! What can be asked of a phone number.

use super::events::PhoneNumberStatus;
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
}

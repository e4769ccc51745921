//! The PhoneNumber aggregate: a WhatsApp business phone number of the workspace, with its Meta ids
//! and its (encrypted) Meta access token.

mod aggregate;
mod commands;
mod events;
mod health;

pub use aggregate::{PhoneNumber, PhoneNumberError, PhoneNumberState};
pub use commands::{PhoneNumberChanges, PhoneNumberCommand, PhoneNumberRegistration};
pub use events::{PhoneNumberEvent, PhoneNumberStatus};
pub use health::{MessagingLimitTier, QualityRating};

use uuid::Uuid;

/// Namespace for phone-number ids: UUIDv5 of Meta's phone_number_id, which is globally unique,
/// so a number registered twice collides on the event key.
const PHONE_NUMBER_ID_NAMESPACE: Uuid = Uuid::from_u128(0x5c0f_3a1e_7b7e_4f0a_9d55_c0a7_ac70_0002);

/// The deterministic id of the phone number Meta knows as `meta_phone_number_id`.
pub fn phone_number_id(meta_phone_number_id: &str) -> Uuid {
    Uuid::new_v5(&PHONE_NUMBER_ID_NAMESPACE, meta_phone_number_id.as_bytes())
}

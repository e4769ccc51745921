//! The Contact aggregate: a customer's WhatsApp number on one of the workspace's business phone
//! numbers (its "account"), with tags, groups, custom fields, consent and block state.

mod aggregate;
mod commands;
mod events;

pub use aggregate::{Contact, ContactError, ContactState};
pub use commands::{ContactCommand, ContactUpdate, NewContact};
pub use events::ContactEvent;

use uuid::Uuid;

/// Namespace for contact ids: a contact is UUIDv5(account, E.164), so creating the same contact
/// twice collides on the event key instead of needing a lookup table.
const CONTACT_ID_NAMESPACE: Uuid = Uuid::from_u128(0x5c0f_3a1e_7b7e_4f0a_9d55_c0a7_ac70_0001);

/// The deterministic id of the contact with this phone on this account.
pub fn contact_id(account_id: Uuid, phone: &crate::E164) -> Uuid {
    let mut name = account_id.as_bytes().to_vec();
    name.extend_from_slice(phone.as_str().as_bytes());
    Uuid::new_v5(&CONTACT_ID_NAMESPACE, &name)
}

/// Trims, drops empty labels and duplicates, keeping first-seen order (tags and groups).
pub fn normalize_labels<I: IntoIterator<Item = String>>(labels: I) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for label in labels {
        let label = label.trim().to_string();
        if !label.is_empty() && !out.contains(&label) {
            out.push(label);
        }
    }
    out
}

//! What can be asked of a contact.

use crate::E164;
use std::collections::BTreeMap;
use uuid::Uuid;

/// The fields of a contact being created.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NewContact {
    /// The business phone number (our phone-number id) this contact belongs to.
    pub account_id: Uuid,
    pub phone: Option<E164>,
    pub name: String,
    pub email: Option<String>,
    pub company: Option<String>,
    pub tags: Vec<String>,
    pub groups: Vec<String>,
    pub is_opted_in: bool,
    pub custom_fields: BTreeMap<String, String>,
    pub notes: Option<String>,
}

/// A partial update: `None` leaves a field as it is. Tags and groups replace the current lists;
/// custom fields merge, and a `None` value removes that field.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ContactUpdate {
    pub name: Option<String>,
    pub email: Option<String>,
    pub company: Option<String>,
    pub notes: Option<String>,
    pub tags: Option<Vec<String>>,
    pub groups: Option<Vec<String>>,
    pub is_opted_in: Option<bool>,
    pub is_blocked: Option<bool>,
    pub custom_fields: Option<BTreeMap<String, Option<String>>>,
}

/// Commands on a contact. Each is wrapped in [`crate::Issued`] with its workspace and time.
#[derive(Debug, Clone, PartialEq)]
pub enum ContactCommand {
    CreateContact(NewContact),
    UpdateContact(ContactUpdate),
    AddTags(Vec<String>),
    RemoveTags(Vec<String>),
    AddGroups(Vec<String>),
    RemoveGroups(Vec<String>),
    /// Renames one group on this contact (a no-op where the contact is not in it).
    RenameGroup {
        from: String,
        to: String,
    },
    OptIn,
    OptOut,
    Block,
    Unblock,
    DeleteContact,
}

//! The GraphQL object and input types, and their conversions from the read models.

use crate::error::{internal, validation, Result};
use async_graphql::{ComplexObject, Context, Enum, InputObject, SimpleObject, ID};
use chrono::{DateTime, Utc};
use projections::contacts::{ContactView, GroupCount, GroupSummary};
use projections::phone_numbers::PhoneNumberView;
use std::collections::BTreeMap;
use uuid::Uuid;

/// A number's verification status.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "domain::phone_number::PhoneNumberStatus")]
pub enum PhoneNumberStatus {
    Verified,
    Unverified,
    Pending,
}

/// A WhatsApp business phone number of the workspace. The Meta access token is never exposed,
/// only whether one is set.
#[derive(SimpleObject, Debug)]
#[graphql(complex)]
pub struct PhoneNumber {
    /// Our id (the `accountId` of contacts).
    pub id: ID,
    /// Meta's phone-number id.
    pub phone_number_id: String,
    pub waba_id: String,
    pub waba_name: Option<String>,
    /// E.164, e.g. `+15550100001`.
    pub display_phone_number: String,
    pub display_name: Option<String>,
    pub verified_name: Option<String>,
    pub status: PhoneNumberStatus,
    pub has_access_token: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl TryFrom<PhoneNumberView> for PhoneNumber {
    type Error = async_graphql::Error;
    fn try_from(view: PhoneNumberView) -> Result<Self> {
        let status: domain::phone_number::PhoneNumberStatus =
            view.status.parse().map_err(internal)?;
        Ok(Self {
            id: ID(view.id.to_string()),
            phone_number_id: view.phone_number_id,
            waba_id: view.waba_id,
            waba_name: view.waba_name,
            display_phone_number: view.display_phone_number,
            display_name: view.display_name,
            verified_name: view.verified_name,
            status: status.into(),
            has_access_token: view.has_access_token,
            created_at: view.created_at,
            updated_at: view.updated_at,
        })
    }
}

/// One custom field of a contact.
#[derive(SimpleObject, Debug, Clone)]
pub struct CustomField {
    pub key: String,
    pub value: String,
}

/// A contact of one of the workspace's phone numbers.
#[derive(SimpleObject, Debug)]
pub struct Contact {
    pub id: ID,
    /// The phone number (our id) the contact belongs to.
    pub account_id: ID,
    /// E.164.
    pub phone: String,
    /// The WhatsApp id (the phone's digits).
    pub wa_id: String,
    pub name: String,
    pub email: Option<String>,
    pub company: Option<String>,
    pub tags: Vec<String>,
    pub groups: Vec<String>,
    pub is_opted_in: bool,
    pub opt_in_date: Option<DateTime<Utc>>,
    pub opt_out_date: Option<DateTime<Utc>>,
    pub is_blocked: bool,
    /// Sorted by key.
    pub custom_fields: Vec<CustomField>,
    pub notes: Option<String>,
    pub last_message_sent_at: Option<DateTime<Utc>>,
    pub last_message_received_at: Option<DateTime<Utc>>,
    pub messages_sent_count: i64,
    pub messages_received_count: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<ContactView> for Contact {
    fn from(view: ContactView) -> Self {
        Self {
            id: ID(view.id.to_string()),
            account_id: ID(view.account_id.to_string()),
            phone: view.phone,
            wa_id: view.wa_id,
            name: view.name,
            email: view.email,
            company: view.company,
            tags: view.tags,
            groups: view.groups,
            is_opted_in: view.is_opted_in,
            opt_in_date: view.opt_in_date,
            opt_out_date: view.opt_out_date,
            is_blocked: view.is_blocked,
            custom_fields: view
                .custom_fields
                .into_iter()
                .map(|(key, value)| CustomField { key, value })
                .collect(),
            notes: view.notes,
            last_message_sent_at: view.last_message_sent_at,
            last_message_received_at: view.last_message_received_at,
            messages_sent_count: view.messages_sent_count,
            messages_received_count: view.messages_received_count,
            created_at: view.created_at,
            updated_at: view.updated_at,
        }
    }
}

/// A contact in a page of contacts.
#[derive(SimpleObject, Debug)]
pub struct ContactEdge {
    /// Pass as `after` to continue after this contact.
    pub cursor: String,
    pub node: Contact,
}

/// Where a page of a connection ends.
#[derive(SimpleObject, Debug)]
pub struct PageInfo {
    pub has_next_page: bool,
    /// The cursor of the page's last edge; null when the page is empty.
    pub end_cursor: Option<String>,
}

/// A page of contacts, sorted by name then id.
#[derive(SimpleObject, Debug)]
pub struct ContactConnection {
    pub edges: Vec<ContactEdge>,
    pub page_info: PageInfo,
    /// How many contacts match the filters in all pages.
    pub total_count: i64,
}

/// A group (derived from contacts) with its counts.
#[derive(SimpleObject, Debug, Clone)]
pub struct Group {
    pub name: String,
    pub total_count: i64,
    pub opted_in_count: i64,
}

impl From<GroupCount> for Group {
    fn from(group: GroupCount) -> Self {
        Self {
            name: group.name,
            total_count: group.total_count,
            opted_in_count: group.opted_in_count,
        }
    }
}

/// Totals over an account's contacts.
#[derive(SimpleObject, Debug)]
pub struct GroupsSummary {
    pub total_contacts: i64,
    pub opted_in_contacts: i64,
    pub group_count: i64,
}

impl From<GroupSummary> for GroupsSummary {
    fn from(summary: GroupSummary) -> Self {
        Self {
            total_contacts: summary.total_contacts,
            opted_in_contacts: summary.opted_in_contacts,
            group_count: summary.group_count,
        }
    }
}

/// An account's groups, sorted by name, and totals.
#[derive(SimpleObject, Debug)]
pub struct GroupList {
    pub groups: Vec<Group>,
    pub summary: GroupsSummary,
}

/// The tags and groups in use on an account, sorted.
#[derive(SimpleObject, Debug)]
pub struct AvailableLabels {
    pub tags: Vec<String>,
    pub groups: Vec<String>,
}

// ---- inputs ----

/// A custom field to set; on update a null value removes the field.
#[derive(InputObject, Debug, Clone)]
pub struct CustomFieldInput {
    pub key: String,
    pub value: Option<String>,
}

/// Custom fields of a new contact: every value must be set.
pub fn new_custom_fields(fields: Vec<CustomFieldInput>) -> Result<BTreeMap<String, String>> {
    fields
        .into_iter()
        .map(|field| match field.value {
            Some(value) => Ok((field.key, value)),
            None => Err(validation(format!(
                "customFields: value of '{}' must not be null on a new contact",
                field.key
            ))),
        })
        .collect()
}

/// Custom-field changes: merged, a null value removes the field.
pub fn custom_field_changes(fields: Vec<CustomFieldInput>) -> BTreeMap<String, Option<String>> {
    fields.into_iter().map(|f| (f.key, f.value)).collect()
}

/// A number to register.
#[derive(InputObject, Debug)]
pub struct RegisterPhoneNumberInput {
    /// Meta's phone-number id.
    pub phone_number_id: String,
    pub waba_id: String,
    pub waba_name: Option<String>,
    /// E.164.
    pub display_phone_number: String,
    pub display_name: Option<String>,
    pub verified_name: Option<String>,
    /// UNVERIFIED when not given.
    pub status: Option<PhoneNumberStatus>,
    /// Meta's access token; stored encrypted, never returned.
    pub access_token: Option<String>,
}

/// Changes to a registered number; absent fields stay as they are.
#[derive(InputObject, Debug, Default)]
pub struct UpdatePhoneNumberInput {
    pub waba_name: Option<String>,
    pub display_phone_number: Option<String>,
    pub display_name: Option<String>,
    pub verified_name: Option<String>,
    pub status: Option<PhoneNumberStatus>,
    pub access_token: Option<String>,
}

/// A contact to create.
#[derive(InputObject, Debug)]
pub struct CreateContactInput {
    /// The phone number (our id) to add the contact to.
    pub account_id: ID,
    pub phone: String,
    pub name: String,
    pub email: Option<String>,
    pub company: Option<String>,
    #[graphql(default)]
    pub tags: Vec<String>,
    #[graphql(default)]
    pub groups: Vec<String>,
    #[graphql(default = true)]
    pub is_opted_in: bool,
    #[graphql(default)]
    pub custom_fields: Vec<CustomFieldInput>,
    pub notes: Option<String>,
}

/// A partial update of a contact: absent fields stay; tags and groups replace the lists;
/// custom fields merge (a null value removes the field).
#[derive(InputObject, Debug, Default)]
pub struct UpdateContactInput {
    pub name: Option<String>,
    pub email: Option<String>,
    pub company: Option<String>,
    pub notes: Option<String>,
    pub tags: Option<Vec<String>>,
    pub groups: Option<Vec<String>>,
    pub is_opted_in: Option<bool>,
    pub is_blocked: Option<bool>,
    pub custom_fields: Option<Vec<CustomFieldInput>>,
}

/// One row of an import.
#[derive(InputObject, Debug)]
pub struct ImportContactRow {
    pub phone: String,
    pub name: String,
    pub email: Option<String>,
    pub company: Option<String>,
    #[graphql(default)]
    pub tags: Vec<String>,
    #[graphql(default)]
    pub groups: Vec<String>,
    #[graphql(default = true)]
    pub is_opted_in: bool,
    #[graphql(default)]
    pub custom_fields: Vec<CustomFieldInput>,
    pub notes: Option<String>,
}

/// Contacts to import (at most 1000).
#[derive(InputObject, Debug)]
pub struct ImportContactsInput {
    pub account_id: ID,
    pub contacts: Vec<ImportContactRow>,
    /// Added to every row's own tags.
    #[graphql(default)]
    pub default_tags: Vec<String>,
    /// Added to every row's own groups.
    #[graphql(default)]
    pub default_groups: Vec<String>,
    /// Existing phones are skipped (true) or reported as failed (false).
    #[graphql(default = true)]
    pub skip_duplicates: bool,
}

/// What a bulk update does to each contact.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(name = "BulkAction")]
pub enum BulkActionKind {
    /// Needs `tags`.
    AddTags,
    /// Needs `tags`.
    RemoveTags,
    /// Needs `groups`.
    AddGroups,
    /// Needs `groups`.
    RemoveGroups,
    OptIn,
    OptOut,
    Block,
    Unblock,
}

/// A bulk update of contacts (at most 500 ids).
#[derive(InputObject, Debug)]
pub struct BulkUpdateContactsInput {
    pub contact_ids: Vec<ID>,
    pub action: BulkActionKind,
    pub tags: Option<Vec<String>>,
    pub groups: Option<Vec<String>>,
}

// ---- mutation results ----

/// How an import row ended.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum ImportRowStatus {
    Created,
    /// The phone already had a contact on the account.
    Skipped,
    Failed,
}

/// One row's result, in the order of the input.
#[derive(SimpleObject, Debug)]
#[graphql(complex)]
pub struct ImportRowResult {
    pub phone: String,
    pub name: String,
    pub status: ImportRowStatus,
    /// True when the row created a contact.
    pub success: bool,
    /// The created (or, when skipped, the existing) contact's id.
    pub contact_id: Option<ID>,
    /// Why the row was skipped or failed.
    pub error: Option<String>,
}

#[ComplexObject]
impl ImportRowResult {
    /// The created or existing contact, read back.
    async fn contact(&self, ctx: &Context<'_>) -> Result<Option<Contact>> {
        let Some(id) = &self.contact_id else {
            return Ok(None);
        };
        let id = Uuid::parse_str(id).map_err(internal)?;
        crate::read::contact_opt(ctx, id).await
    }
}

/// Counts of an import.
#[derive(SimpleObject, Debug, Default)]
pub struct ImportSummary {
    pub total: i32,
    pub created: i32,
    pub skipped: i32,
    pub failed: i32,
}

/// What an import did, row by row.
#[derive(SimpleObject, Debug)]
pub struct ImportContactsResult {
    pub summary: ImportSummary,
    pub results: Vec<ImportRowResult>,
}

/// What a bulk update did.
#[derive(SimpleObject, Debug)]
#[graphql(complex)]
pub struct BulkUpdateResult {
    pub action: BulkActionKind,
    /// Contacts found (unknown, deleted or foreign ids are not matched).
    pub matched: i32,
    /// Contacts actually changed.
    pub modified: i32,
    #[graphql(skip)]
    pub ids: Vec<Uuid>,
}

#[ComplexObject]
impl BulkUpdateResult {
    /// The matched contacts, read back after the change.
    async fn contacts(&self, ctx: &Context<'_>) -> Result<Vec<Contact>> {
        let mut contacts = Vec::new();
        for id in &self.ids {
            if let Some(contact) = crate::read::contact_opt(ctx, *id).await? {
                contacts.push(contact);
            }
        }
        Ok(contacts)
    }
}

/// What a bulk delete did.
#[derive(SimpleObject, Debug)]
pub struct BulkDeleteResult {
    /// Contacts found and deleted.
    pub deleted: i32,
}

/// What a group rename or delete did.
#[derive(SimpleObject, Debug)]
#[graphql(complex)]
pub struct GroupChangeResult {
    /// Contacts that had the group.
    pub matched: i32,
    /// Contacts changed.
    pub modified: i32,
    #[graphql(skip)]
    pub account_id: Uuid,
    #[graphql(skip)]
    pub group_name: Option<String>,
}

#[ComplexObject]
impl GroupChangeResult {
    /// The group under its new name, read back (null after a delete, or when no contact has it).
    async fn group(&self, ctx: &Context<'_>) -> Result<Option<Group>> {
        let Some(name) = &self.group_name else {
            return Ok(None);
        };
        let list = crate::read::groups(ctx, self.account_id).await?;
        Ok(list.groups.into_iter().find(|g| &g.name == name))
    }

    /// The account's groups after the change.
    async fn groups(&self, ctx: &Context<'_>) -> Result<GroupList> {
        crate::read::groups(ctx, self.account_id).await
    }
}

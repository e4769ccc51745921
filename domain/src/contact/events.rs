//! What has happened to a contact. Every event carries the time it happened.

use crate::{WorkspaceId, E164, EVENT_VERSION_1};
use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use uuid::Uuid;

/// Events of the Contact aggregate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ContactEvent {
    ContactCreated {
        workspace_id: WorkspaceId,
        account_id: Uuid,
        phone: E164,
        name: String,
        email: Option<String>,
        company: Option<String>,
        tags: Vec<String>,
        groups: Vec<String>,
        is_opted_in: bool,
        custom_fields: BTreeMap<String, String>,
        notes: Option<String>,
        at: DateTime<Utc>,
    },
    /// Only the fields that changed are present.
    ContactDetailsChanged {
        name: Option<String>,
        email: Option<String>,
        company: Option<String>,
        notes: Option<String>,
        at: DateTime<Utc>,
    },
    /// The full tag list after the change.
    ContactTagsChanged {
        tags: Vec<String>,
        at: DateTime<Utc>,
    },
    /// The full group list after the change.
    ContactGroupsChanged {
        groups: Vec<String>,
        at: DateTime<Utc>,
    },
    ContactCustomFieldsChanged {
        set: BTreeMap<String, String>,
        removed: Vec<String>,
        at: DateTime<Utc>,
    },
    ContactOptedIn {
        at: DateTime<Utc>,
    },
    ContactOptedOut {
        at: DateTime<Utc>,
    },
    ContactBlocked {
        at: DateTime<Utc>,
    },
    ContactUnblocked {
        at: DateTime<Utc>,
    },
    ContactDeleted {
        at: DateTime<Utc>,
    },
}

impl ContactEvent {
    /// When the event happened.
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            Self::ContactCreated { at, .. }
            | Self::ContactDetailsChanged { at, .. }
            | Self::ContactTagsChanged { at, .. }
            | Self::ContactGroupsChanged { at, .. }
            | Self::ContactCustomFieldsChanged { at, .. }
            | Self::ContactOptedIn { at }
            | Self::ContactOptedOut { at }
            | Self::ContactBlocked { at }
            | Self::ContactUnblocked { at }
            | Self::ContactDeleted { at } => *at,
        }
    }
}

impl DomainEvent for ContactEvent {
    fn event_type(&self) -> String {
        let name = match self {
            Self::ContactCreated { .. } => "ContactCreated",
            Self::ContactDetailsChanged { .. } => "ContactDetailsChanged",
            Self::ContactTagsChanged { .. } => "ContactTagsChanged",
            Self::ContactGroupsChanged { .. } => "ContactGroupsChanged",
            Self::ContactCustomFieldsChanged { .. } => "ContactCustomFieldsChanged",
            Self::ContactOptedIn { .. } => "ContactOptedIn",
            Self::ContactOptedOut { .. } => "ContactOptedOut",
            Self::ContactBlocked { .. } => "ContactBlocked",
            Self::ContactUnblocked { .. } => "ContactUnblocked",
            Self::ContactDeleted { .. } => "ContactDeleted",
        };
        name.to_string()
    }

    fn event_version(&self) -> String {
        EVENT_VERSION_1.to_string()
    }
}

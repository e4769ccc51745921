//! What has happened to a template.
//!
//! The events that need Meta carry everything the outbox needs to call it, so a job is derived
//! from the event alone: [`TemplateEvent::TemplateSubmitted`] (create, or edit when Meta already
//! has the template), [`TemplateEvent::TemplateComponentsUpdated`] with `sent_to_meta` (edit),
//! [`TemplateEvent::TemplateDeleted`] with a `meta_template_id` (delete).

use super::components::TemplateComponent;
use super::status::{TemplateCategory, TemplateStatus};
use super::variables::TemplateVariable;
use crate::{WorkspaceId, EVENT_VERSION_1};
use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// Events of the Template aggregate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TemplateEvent {
    /// A draft was written in Parley (status `DRAFT`).
    TemplateCreated {
        /// The owner.
        workspace_id: WorkspaceId,
        /// The number it was created through.
        phone_number_id: Option<Uuid>,
        /// Meta's WhatsApp Business Account id.
        waba_id: String,
        /// Its name.
        name: String,
        /// Its language.
        language: String,
        /// Its category.
        category: TemplateCategory,
        /// Its components.
        components: Vec<TemplateComponent>,
        /// Its explicit variable metadata.
        variables: Vec<TemplateVariable>,
        /// When.
        at: DateTime<Utc>,
    },
    /// Submitted for review (status `PENDING`). The outbox sends `request`: to
    /// `POST /{waba_id}/message_templates` when `meta_template_id` is `None`, else to
    /// `POST /{meta_template_id}`.
    TemplateSubmitted {
        /// The number whose token calls Meta.
        phone_number_id: Option<Uuid>,
        /// Meta's WhatsApp Business Account id.
        waba_id: String,
        /// Its name.
        name: String,
        /// Its language.
        language: String,
        /// Meta's id, when Meta already has the template (a resubmission is an edit).
        meta_template_id: Option<String>,
        /// Meta's request body (creation or edit, examples included).
        request: Value,
        /// When.
        at: DateTime<Utc>,
    },
    /// Meta accepted the creation request.
    TemplateSubmissionAccepted {
        /// Meta's id of the template.
        meta_template_id: String,
        /// Meta's status (usually `PENDING`).
        status: TemplateStatus,
        /// Meta's category (it may have changed it).
        category: TemplateCategory,
        /// When.
        at: DateTime<Utc>,
    },
    /// Meta refused the creation or edit request (status `REJECTED`).
    TemplateSubmissionFailed {
        /// Meta's message.
        reason: String,
        /// Meta's error code.
        code: Option<i64>,
        /// When.
        at: DateTime<Utc>,
    },
    /// The components (and variables) were replaced. With `sent_to_meta` the outbox sends
    /// `request` to `POST /{meta_template_id}` and the status is `PENDING`; otherwise the
    /// template is a `DRAFT` again.
    TemplateComponentsUpdated {
        /// The new components.
        components: Vec<TemplateComponent>,
        /// The variable metadata now.
        variables: Vec<TemplateVariable>,
        /// Whether Meta is asked to edit its copy.
        sent_to_meta: bool,
        /// Meta's id, when sent.
        meta_template_id: Option<String>,
        /// The number whose token calls Meta.
        phone_number_id: Option<Uuid>,
        /// Meta's WhatsApp Business Account id.
        waba_id: String,
        /// Meta's edit body, when sent.
        request: Option<Value>,
        /// When.
        at: DateTime<Utc>,
    },
    /// Deleted. With a `meta_template_id` the outbox deletes it on Meta
    /// (`DELETE /{waba_id}/message_templates?name={name}&hsm_id={meta_template_id}`).
    TemplateDeleted {
        /// Meta's id, when Meta still has the template.
        meta_template_id: Option<String>,
        /// The number whose token calls Meta.
        phone_number_id: Option<Uuid>,
        /// Meta's WhatsApp Business Account id.
        waba_id: String,
        /// Its name.
        name: String,
        /// Its language.
        language: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// Meta changed the status (a status webhook).
    TemplateStatusChanged {
        /// The new status.
        status: TemplateStatus,
        /// The one before.
        previous: TemplateStatus,
        /// Meta's reason, if any.
        reason: Option<String>,
        /// Meta's id, when this webhook told it to Parley (first or changed).
        meta_template_id: Option<String>,
        /// When.
        at: DateTime<Utc>,
    },
    /// Meta rated the template's quality.
    TemplateQualityChanged {
        /// `GREEN`, `YELLOW`, `RED` or `UNKNOWN`.
        score: String,
        /// The one before.
        previous: Option<String>,
        /// When.
        at: DateTime<Utc>,
    },
    /// Meta moved the template to another category.
    TemplateCategoryChanged {
        /// The new category.
        category: TemplateCategory,
        /// The one before.
        previous: TemplateCategory,
        /// When.
        at: DateTime<Utc>,
    },
    /// A template Meta has was taken over into Parley.
    TemplateImported {
        /// The owner.
        workspace_id: WorkspaceId,
        /// The number the sync ran through.
        phone_number_id: Option<Uuid>,
        /// Meta's WhatsApp Business Account id.
        waba_id: String,
        /// Its name.
        name: String,
        /// Its language.
        language: String,
        /// Its category.
        category: TemplateCategory,
        /// Meta's status.
        status: TemplateStatus,
        /// Its components.
        components: Vec<TemplateComponent>,
        /// Meta's id.
        meta_template_id: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// A sync found Meta's copy different; only the fields that differ are present.
    TemplateSyncedFromMeta {
        /// Meta's id, if it differs.
        meta_template_id: Option<String>,
        /// The category, if it differs.
        category: Option<TemplateCategory>,
        /// The status, if it differs.
        status: Option<TemplateStatus>,
        /// The components, if they differ.
        components: Option<Vec<TemplateComponent>>,
        /// The variable metadata, if some no longer fit the new components.
        variables: Option<Vec<TemplateVariable>>,
        /// When.
        at: DateTime<Utc>,
    },
}

impl TemplateEvent {
    /// When the event happened.
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            Self::TemplateCreated { at, .. }
            | Self::TemplateSubmitted { at, .. }
            | Self::TemplateSubmissionAccepted { at, .. }
            | Self::TemplateSubmissionFailed { at, .. }
            | Self::TemplateComponentsUpdated { at, .. }
            | Self::TemplateDeleted { at, .. }
            | Self::TemplateStatusChanged { at, .. }
            | Self::TemplateQualityChanged { at, .. }
            | Self::TemplateCategoryChanged { at, .. }
            | Self::TemplateImported { at, .. }
            | Self::TemplateSyncedFromMeta { at, .. } => *at,
        }
    }
}

impl DomainEvent for TemplateEvent {
    fn event_type(&self) -> String {
        let name = match self {
            Self::TemplateCreated { .. } => "TemplateCreated",
            Self::TemplateSubmitted { .. } => "TemplateSubmitted",
            Self::TemplateSubmissionAccepted { .. } => "TemplateSubmissionAccepted",
            Self::TemplateSubmissionFailed { .. } => "TemplateSubmissionFailed",
            Self::TemplateComponentsUpdated { .. } => "TemplateComponentsUpdated",
            Self::TemplateDeleted { .. } => "TemplateDeleted",
            Self::TemplateStatusChanged { .. } => "TemplateStatusChanged",
            Self::TemplateQualityChanged { .. } => "TemplateQualityChanged",
            Self::TemplateCategoryChanged { .. } => "TemplateCategoryChanged",
            Self::TemplateImported { .. } => "TemplateImported",
            Self::TemplateSyncedFromMeta { .. } => "TemplateSyncedFromMeta",
        };
        name.to_string()
    }

    fn event_version(&self) -> String {
        EVENT_VERSION_1.to_string()
    }
}

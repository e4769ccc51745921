//! What can be asked of a template.

use super::components::TemplateComponent;
use super::status::{TemplateCategory, TemplateStatus};
use super::variables::TemplateVariable;
use uuid::Uuid;

/// A template being written in Parley.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateDraft {
    /// The PhoneNumber aggregate it is created through (its WABA owns the template).
    pub phone_number_id: Option<Uuid>,
    /// Meta's WhatsApp Business Account id.
    pub waba_id: String,
    /// `^[a-z][a-z0-9_]*$`, at most 512 characters.
    pub name: String,
    /// Meta's language code, e.g. `en_US`.
    pub language: String,
    /// What it is for.
    pub category: TemplateCategory,
    /// Its components (exactly one BODY).
    pub components: Vec<TemplateComponent>,
    /// Metadata about its variables; placeholders without any get implicit metadata.
    pub variables: Vec<TemplateVariable>,
}

/// Commands on a template, wrapped in [`crate::Issued`].
#[derive(Debug, Clone, PartialEq)]
pub enum TemplateCommand {
    /// Creates a draft (also over a deleted template of the same id).
    CreateTemplate(TemplateDraft),
    /// Submits a `DRAFT` or `REJECTED` template for Meta's review; the outbox creates it on
    /// Meta (or edits it there, when Meta already has it).
    SubmitTemplate,
    /// Meta accepted the creation request: its id, status and (possibly changed) category.
    RecordSubmissionAccepted {
        /// Meta's id of the template.
        meta_template_id: String,
        /// Meta's status, usually `PENDING`; an unknown value leaves it `PENDING`.
        status: String,
        /// Meta's category; an unknown value leaves the category as it was.
        category: String,
    },
    /// Meta refused the creation or edit request for good: the template is `REJECTED`.
    RecordSubmissionFailed {
        /// Meta's message.
        reason: String,
        /// Meta's error code.
        code: Option<i64>,
    },
    /// Replaces the components (and the variables, if given; otherwise the variables that no
    /// longer fit are dropped). A template Meta has is edited there and reviewed again.
    UpdateComponents {
        /// The new components.
        components: Vec<TemplateComponent>,
        /// The new variable metadata, or `None` to keep what still fits.
        variables: Option<Vec<TemplateVariable>>,
    },
    /// Deletes the template (on Meta too, through the outbox, when Meta has it).
    DeleteTemplate,
    /// Meta's `message_template_status_update` webhook.
    RecordMetaStatus {
        /// The new status (never `DRAFT`).
        status: TemplateStatus,
        /// Meta's reason (`NONE` counts as none).
        reason: Option<String>,
        /// Meta's id of the template, when the webhook carried it.
        meta_template_id: Option<String>,
    },
    /// Meta's `message_template_quality_update` webhook (`GREEN`, `YELLOW`, `RED`, `UNKNOWN`).
    RecordQualityScore {
        /// The new score.
        score: String,
    },
    /// Meta's `template_category_update` webhook.
    RecordCategoryChange {
        /// The new category.
        category: TemplateCategory,
    },
    /// A template as Meta lists it: imported when Parley lacks it, brought up to date when it
    /// differs, left alone when equal.
    ImportFromMeta {
        /// The number the sync ran through.
        phone_number_id: Option<Uuid>,
        /// Meta's id of the template.
        meta_template_id: String,
        /// Meta's WhatsApp Business Account id.
        waba_id: String,
        /// Its name.
        name: String,
        /// Its language.
        language: String,
        /// Meta's category (`MARKETING`, `UTILITY`, `AUTHENTICATION`, in any case).
        category: String,
        /// Meta's status (never `DRAFT`).
        status: TemplateStatus,
        /// Meta's components.
        components: Vec<TemplateComponent>,
    },
}

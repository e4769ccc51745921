//! Typed views of the management webhook fields (README §5.7): template status, quality and
//! category, phone-number quality, and account updates. They concern the WABA named by the
//! entry's `id`; [`WebhookDelivery::management_updates`] yields each with it.
//!
//! [`Change::parse`] still returns these fields as [`ChangeValue::Other`](super::ChangeValue),
//! so code matching on it is unaffected; ask [`Change::management`] for the typed view.

use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use super::{string_or_integer, Change, WebhookDelivery};

/// Field name of template review outcomes (approved, rejected, paused, disabled, …).
pub const TEMPLATE_STATUS_FIELD: &str = "message_template_status_update";
/// Field name of template quality-score changes.
pub const TEMPLATE_QUALITY_FIELD: &str = "message_template_quality_update";
/// Field name of template re-categorizations by Meta.
pub const TEMPLATE_CATEGORY_FIELD: &str = "template_category_update";
/// Field name of a number's messaging-limit or throughput changes.
pub const PHONE_NUMBER_QUALITY_FIELD: &str = "phone_number_quality_update";
/// Field name of WABA-level events (violations, restrictions, bans, …).
pub const ACCOUNT_UPDATE_FIELD: &str = "account_update";

/// A typed management change. Every enum-like value stays an open string (README §8).
#[derive(Debug, Clone, PartialEq)]
pub enum ManagementUpdate {
    /// `message_template_status_update`.
    TemplateStatus(TemplateStatusUpdate),
    /// `message_template_quality_update`.
    TemplateQuality(TemplateQualityUpdate),
    /// `template_category_update`.
    TemplateCategory(TemplateCategoryUpdate),
    /// `phone_number_quality_update`.
    PhoneNumberQuality(PhoneNumberQualityUpdate),
    /// `account_update`.
    Account(AccountUpdate),
}

impl ManagementUpdate {
    /// Parses a change's value by its field; `None` for a field that is not a typed management field.
    pub fn parse(
        field: &str,
        value: &Value,
    ) -> Option<Result<ManagementUpdate, serde_json::Error>> {
        let parsed = match field {
            TEMPLATE_STATUS_FIELD => {
                TemplateStatusUpdate::deserialize(value).map(ManagementUpdate::TemplateStatus)
            }
            TEMPLATE_QUALITY_FIELD => {
                TemplateQualityUpdate::deserialize(value).map(ManagementUpdate::TemplateQuality)
            }
            TEMPLATE_CATEGORY_FIELD => {
                TemplateCategoryUpdate::deserialize(value).map(ManagementUpdate::TemplateCategory)
            }
            PHONE_NUMBER_QUALITY_FIELD => PhoneNumberQualityUpdate::deserialize(value)
                .map(ManagementUpdate::PhoneNumberQuality),
            ACCOUNT_UPDATE_FIELD => {
                AccountUpdate::deserialize(value).map(ManagementUpdate::Account)
            }
            _ => return None,
        };
        Some(parsed)
    }

    /// The webhook field this update came in.
    pub fn field(&self) -> &'static str {
        match self {
            ManagementUpdate::TemplateStatus(_) => TEMPLATE_STATUS_FIELD,
            ManagementUpdate::TemplateQuality(_) => TEMPLATE_QUALITY_FIELD,
            ManagementUpdate::TemplateCategory(_) => TEMPLATE_CATEGORY_FIELD,
            ManagementUpdate::PhoneNumberQuality(_) => PHONE_NUMBER_QUALITY_FIELD,
            ManagementUpdate::Account(_) => ACCOUNT_UPDATE_FIELD,
        }
    }

    /// Meta's template id, for the three template fields.
    pub fn message_template_id(&self) -> Option<&str> {
        match self {
            ManagementUpdate::TemplateStatus(update) => Some(&update.message_template_id),
            ManagementUpdate::TemplateQuality(update) => Some(&update.message_template_id),
            ManagementUpdate::TemplateCategory(update) => Some(&update.message_template_id),
            ManagementUpdate::PhoneNumberQuality(_) | ManagementUpdate::Account(_) => None,
        }
    }
}

/// `message_template_status_update`: a template's review or enforcement outcome (D-tplwh).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TemplateStatusUpdate {
    /// The new status: `APPROVED`, `REJECTED`, `PAUSED`, `DISABLED`, `PENDING_DELETION`, …
    pub event: String,
    /// Meta's template id; Meta sends an integer here, kept as the string the API uses.
    #[serde(deserialize_with = "string_or_integer")]
    pub message_template_id: String,
    /// `message_template_name`.
    #[serde(rename = "message_template_name")]
    pub name: String,
    /// `message_template_language`, e.g. `en_US`.
    #[serde(rename = "message_template_language")]
    pub language: String,
    /// `NONE`, `INVALID_FORMAT`, `PROMOTIONAL`, …; null when scheduled for deletion.
    #[serde(default)]
    pub reason: Option<String>,
    /// `message_template_category`, when Meta gives it.
    #[serde(default, rename = "message_template_category")]
    pub category: Option<String>,
    /// Why a template was paused or unpaused.
    #[serde(default)]
    pub other_info: Option<TemplateOtherInfo>,
    /// Meta's explanation of a rejection.
    #[serde(default)]
    pub rejection_info: Option<TemplateRejectionInfo>,
    /// `{disable_date}` on templates scheduled to be disabled; kept raw.
    #[serde(default)]
    pub disable_info: Option<Value>,
}

/// `other_info` of a template status update.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TemplateOtherInfo {
    /// `FIRST_PAUSE`, `SECOND_PAUSE`, `RATE_LIMITING_PAUSE`, `UNPAUSE` or `DISABLED`.
    #[serde(default)]
    pub title: Option<String>,
    /// Meta's explanation.
    #[serde(default)]
    pub description: Option<String>,
}

/// `rejection_info` of a template status update.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TemplateRejectionInfo {
    /// Why the template was rejected, in words.
    #[serde(default)]
    pub reason: Option<String>,
    /// What to change.
    #[serde(default)]
    pub recommendation: Option<String>,
}

/// `message_template_quality_update`: a template's quality score changed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TemplateQualityUpdate {
    /// `GREEN`, `YELLOW`, `RED` or `UNKNOWN`; optional in case Meta leaves it out for a first score.
    #[serde(default)]
    pub previous_quality_score: Option<String>,
    /// `GREEN`, `YELLOW`, `RED` or `UNKNOWN`.
    pub new_quality_score: String,
    /// Meta's template id (an integer on the wire).
    #[serde(deserialize_with = "string_or_integer")]
    pub message_template_id: String,
    /// `message_template_name`.
    #[serde(rename = "message_template_name")]
    pub name: String,
    /// `message_template_language`.
    #[serde(rename = "message_template_language")]
    pub language: String,
}

/// `template_category_update`: Meta moved a template to another category.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TemplateCategoryUpdate {
    /// Meta's template id (an integer on the wire).
    #[serde(deserialize_with = "string_or_integer")]
    pub message_template_id: String,
    /// `message_template_name`.
    #[serde(rename = "message_template_name")]
    pub name: String,
    /// `message_template_language`.
    #[serde(rename = "message_template_language")]
    pub language: String,
    /// The category now in force: `MARKETING`, `UTILITY` or `AUTHENTICATION`.
    pub new_category: String,
    /// The category before, when Meta gives it.
    #[serde(default)]
    pub previous_category: Option<String>,
}

/// `phone_number_quality_update`: a number's messaging limit or throughput changed (D-qualitywh).
///
/// Meta names the number only by `display_phone_number`, not by its phone-number id.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PhoneNumberQualityUpdate {
    /// The number as shown to users, e.g. `15550783881`.
    pub display_phone_number: String,
    /// `ONBOARDING`, `THROUGHPUT_UPGRADE`, or older `FLAGGED`, `UNFLAGGED`, `UPGRADE`, `DOWNGRADE`.
    pub event: String,
    /// `TIER_50` … `TIER_UNLIMITED`; scheduled for removal by Meta in Feb 2026.
    #[serde(default)]
    pub current_limit: Option<String>,
    /// The limit before; likewise scheduled for removal.
    #[serde(default)]
    pub old_limit: Option<String>,
    /// The portfolio-level limit replacing `current_limit`; a string or a number on the wire.
    #[serde(default, deserialize_with = "optional_string_or_integer")]
    pub max_daily_conversations_per_business: Option<String>,
}

/// `account_update`: a WABA-level event (D-acctwh). Only `event` is typed; the rest varies by event.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AccountUpdate {
    /// `ACCOUNT_VIOLATION`, `DISABLED_UPDATE`, `ACCOUNT_RESTRICTION`, `VERIFIED_ACCOUNT`, …
    pub event: String,
    /// Every other field of the value, e.g. `ban_info`, `violation_info`, `restriction_info`.
    #[serde(flatten)]
    pub details: Map<String, Value>,
}

/// One typed management change with the WABA it concerns.
#[derive(Debug)]
pub struct ManagementChange<'a> {
    /// The entry's `id`: the WABA the change is about.
    pub waba_id: &'a str,
    /// The entry's `time`, in Unix seconds.
    pub time: Option<i64>,
    /// The change's field.
    pub field: &'a str,
    /// The typed value, or why it could not be read.
    pub update: Result<ManagementUpdate, serde_json::Error>,
}

impl Change {
    /// The typed view of a management field; `None` for `messages` and for fields not typed here.
    pub fn management(&self) -> Option<Result<ManagementUpdate, serde_json::Error>> {
        ManagementUpdate::parse(&self.field, &self.value)
    }
}

impl WebhookDelivery {
    /// Every management change with its WABA id, in delivery order; other fields are skipped.
    pub fn management_updates(&self) -> impl Iterator<Item = ManagementChange<'_>> {
        self.entry.iter().flat_map(|entry| {
            entry.changes.iter().filter_map(move |change| {
                Some(ManagementChange {
                    waba_id: &entry.id,
                    time: entry.time,
                    field: &change.field,
                    update: change.management()?,
                })
            })
        })
    }
}

/// Like [`string_or_integer`], for a field Meta may leave out or send as null.
fn optional_string_or_integer<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        Integer(i64),
    }
    Ok(match Option::<Raw>::deserialize(deserializer)? {
        Some(Raw::Text(text)) => Some(text),
        Some(Raw::Integer(number)) => Some(number.to_string()),
        None => None,
    })
}

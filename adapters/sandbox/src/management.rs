//! Meta's management webhooks (README §5.7): template status, quality and category updates,
//! phone-number quality updates and account updates, in the shapes of the fixtures; and the
//! control requests that trigger them (`POST /_sandbox/template-status`, …).
//!
//! They are signed and retried like status webhooks, carry an integer `entry[].time`, have the
//! WABA id as `entry[].id`, and are recorded in `GET /_sandbox/messages` (`management`).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::ControlError;
use crate::numbers::{MESSAGING_LIMIT_TIERS, QUALITY_RATINGS};
use crate::records::{DeliveryOutcome, ManagementWebhook};
use crate::state::SandboxState;
use crate::templates::{SandboxTemplate, TEMPLATE_CATEGORIES, TEMPLATE_STATUSES};
use crate::webhooks::{post_signed, Envelope};

/// Template quality scores (`message_template_quality_update`).
pub const QUALITY_SCORES: [&str; 4] = ["GREEN", "YELLOW", "RED", "UNKNOWN"];

/// `event`s of `phone_number_quality_update`, current and older (README §5.7).
pub const PHONE_QUALITY_EVENTS: [&str; 6] = [
    "ONBOARDING",
    "THROUGHPUT_UPGRADE",
    "FLAGGED",
    "UNFLAGGED",
    "UPGRADE",
    "DOWNGRADE",
];

/// `value` of `message_template_status_update`, fields in the order of the fixtures.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct TemplateStatusValue {
    pub event: String,
    /// An integer, as Meta sends it.
    pub message_template_id: u64,
    pub message_template_name: String,
    pub message_template_language: String,
    /// `null` when absent, as Meta sends it for templates scheduled for deletion.
    pub reason: Option<String>,
    pub message_template_category: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejection_info: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disable_info: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub other_info: Option<Value>,
}

impl TemplateStatusValue {
    /// The value for `template` with `event` and `reason` and no extra info.
    pub(crate) fn new(template: &SandboxTemplate, event: &str, reason: Option<String>) -> Self {
        Self {
            event: event.to_string(),
            message_template_id: template.numeric_id(),
            message_template_name: template.name.clone(),
            message_template_language: template.language.clone(),
            reason,
            message_template_category: template.category.clone(),
            rejection_info: None,
            disable_info: None,
            other_info: None,
        }
    }
}

/// `value` of `message_template_quality_update` (`webhook_template_quality_update.json`).
#[derive(Debug, Serialize)]
struct TemplateQualityValue {
    previous_quality_score: String,
    new_quality_score: String,
    message_template_id: u64,
    message_template_name: String,
    message_template_language: String,
}

/// `value` of `template_category_update` (`webhook_template_category_update.json`).
#[derive(Debug, Serialize)]
struct TemplateCategoryValue {
    message_template_id: u64,
    message_template_name: String,
    message_template_language: String,
    new_category: String,
}

/// `value` of `phone_number_quality_update` (`webhook_phone_number_quality_update.json`, plus
/// `max_daily_conversations_per_business` and `old_limit` from Meta's docs).
#[derive(Debug, Serialize)]
struct PhoneQualityValue {
    display_phone_number: String,
    event: String,
    current_limit: String,
    max_daily_conversations_per_business: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    old_limit: Option<String>,
}

/// `value` of `account_update`: the `event`, then whatever the request carried.
#[derive(Debug, Serialize)]
struct AccountUpdateValue<'a> {
    event: &'a str,
    #[serde(flatten)]
    rest: &'a Map<String, Value>,
}

/// Which template a control request is about: `template_id`, or `name` and `language` in
/// `waba_id` (the configured WABA when absent).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TemplateRef {
    /// The WABA of a template named by `name` and `language`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waba_id: Option<String>,
    /// The template id (the `id` of its creation answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_id: Option<String>,
    /// The template name, with `language`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The language code, with `name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
}

impl TemplateRef {
    /// The template with this id.
    pub fn id(template_id: impl Into<String>) -> Self {
        Self {
            template_id: Some(template_id.into()),
            ..Self::default()
        }
    }

    /// The template with this name and language in the configured WABA.
    pub fn named(name: impl Into<String>, language: impl Into<String>) -> Self {
        Self {
            name: Some(name.into()),
            language: Some(language.into()),
            ..Self::default()
        }
    }
}

/// `POST /_sandbox/template-status`: sets a template's status and sends the status webhook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplateStatusRequest {
    /// The template.
    #[serde(flatten)]
    pub template: TemplateRef,
    /// One of Meta's statuses (`APPROVED`, `REJECTED`, `PAUSED`, `DISABLED`, `FLAGGED`, …);
    /// `REINSTATED` makes the template `APPROVED` again.
    pub event: String,
    /// `reason`; `NONE` when absent (`INVALID_FORMAT` for `REJECTED`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `rejection_info` (`{reason, recommendation}`), sent as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejection_info: Option<Value>,
    /// `disable_info` (`{disable_date}`), sent as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_info: Option<Value>,
    /// `other_info` (`{title, description}`, e.g. `FIRST_PAUSE`), sent as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other_info: Option<Value>,
}

/// `POST /_sandbox/template-quality`: changes a template's quality score and says so.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplateQualityRequest {
    /// The template.
    #[serde(flatten)]
    pub template: TemplateRef,
    /// `GREEN`, `YELLOW`, `RED` or `UNKNOWN`.
    pub new_quality_score: String,
    /// The score before; the template's current score when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_quality_score: Option<String>,
}

/// `POST /_sandbox/template-category`: recategorises a template and says so.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplateCategoryRequest {
    /// The template.
    #[serde(flatten)]
    pub template: TemplateRef,
    /// `AUTHENTICATION`, `MARKETING` or `UTILITY`.
    pub new_category: String,
}

/// `POST /_sandbox/phone-quality`: changes a number's quality or tier and sends
/// `phone_number_quality_update`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PhoneQualityRequest {
    /// The number; the first configured display number's id when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number_id: Option<String>,
    /// `ONBOARDING`, `THROUGHPUT_UPGRADE`, `FLAGGED`, `UNFLAGGED`, `UPGRADE` or `DOWNGRADE`.
    pub event: String,
    /// The new messaging-limit tier; the number's current one when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_limit: Option<String>,
    /// `old_limit`, sent only when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_limit: Option<String>,
    /// `max_daily_conversations_per_business`; `current_limit` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_daily_conversations_per_business: Option<String>,
    /// The new quality rating (`GREEN`, `YELLOW`, `RED`, …), kept for `GET /{phone-number-id}`;
    /// Meta's webhook does not carry it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality_rating: Option<String>,
}

/// `POST /_sandbox/account-update`: sends `account_update` with `event` and the other keys as
/// given (`ban_info`, `violation_info`, `restriction_info`, `phone_number`, …).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AccountUpdateRequest {
    /// `entry[].id`; the configured WABA when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waba_id: Option<String>,
    /// `ACCOUNT_VIOLATION`, `DISABLED_UPDATE`, `ACCOUNT_RESTRICTION`, …
    pub event: String,
    /// The rest of `value`, sent unchanged after `event`.
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

fn one_of(name: &str, value: &str, allowed: &[&str]) -> Result<(), ControlError> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(ControlError::Invalid(format!(
            "`{name}` must be one of {} - got `{value}`",
            allowed.join(", ")
        )))
    }
}

impl SandboxState {
    /// Delivers a management change for `waba_id`, signed and retried, and records it.
    pub(crate) async fn deliver_management<V: Serialize>(
        &self,
        waba_id: String,
        field: &str,
        value: &V,
    ) -> DeliveryOutcome {
        let time = chrono::Utc::now().timestamp();
        let body = Envelope::new(waba_id.clone(), field, Some(time), value).to_bytes();
        let outcome = match self.config().webhook_url {
            Some(url) => post_signed(self, &url, body).await,
            None => DeliveryOutcome {
                delivered: false,
                status: None,
            },
        };
        self.record_management(ManagementWebhook {
            field: field.to_string(),
            waba_id,
            value: serde_json::to_value(value).unwrap_or(Value::Null),
            delivered: outcome.delivered,
            status: outcome.status,
            at: chrono::Utc::now(),
        });
        outcome
    }

    /// The template a control request names.
    fn resolve_template(&self, reference: &TemplateRef) -> Result<SandboxTemplate, ControlError> {
        let found = match (&reference.template_id, &reference.name, &reference.language) {
            (Some(id), _, _) => self
                .template(id)
                .filter(|t| reference.waba_id.as_ref().is_none_or(|w| *w == t.waba_id)),
            (None, Some(name), Some(language)) => {
                let waba_id = reference
                    .waba_id
                    .clone()
                    .unwrap_or_else(|| self.config().waba_id);
                self.templates().find(&waba_id, name, language).cloned()
            }
            _ => {
                return Err(ControlError::Invalid(
                    "name the template by `template_id`, or by `name` and `language`".to_string(),
                ))
            }
        };
        found.ok_or_else(|| ControlError::Invalid(format!("no such template: {reference:?}")))
    }

    /// `POST /_sandbox/template-status`.
    pub async fn set_template_status(
        &self,
        request: TemplateStatusRequest,
    ) -> Result<DeliveryOutcome, ControlError> {
        one_of("event", &request.event, &TEMPLATE_STATUSES)?;
        let template = self.resolve_template(&request.template)?;
        let status = match request.event.as_str() {
            "REINSTATED" => "APPROVED",
            event => event,
        }
        .to_string();
        let template = self
            .update_template(&template.id, |t| t.status = status)
            .ok_or_else(|| ControlError::Invalid("the template was just deleted".to_string()))?;
        let default_reason = if request.event == "REJECTED" {
            "INVALID_FORMAT"
        } else {
            "NONE"
        };
        let value = TemplateStatusValue {
            rejection_info: request.rejection_info,
            disable_info: request.disable_info,
            other_info: request.other_info,
            ..TemplateStatusValue::new(
                &template,
                &request.event,
                Some(request.reason.unwrap_or_else(|| default_reason.to_string())),
            )
        };
        Ok(self
            .deliver_management(
                template.waba_id.clone(),
                "message_template_status_update",
                &value,
            )
            .await)
    }

    /// `POST /_sandbox/template-quality`.
    pub async fn set_template_quality(
        &self,
        request: TemplateQualityRequest,
    ) -> Result<DeliveryOutcome, ControlError> {
        one_of(
            "new_quality_score",
            &request.new_quality_score,
            &QUALITY_SCORES,
        )?;
        let template = self.resolve_template(&request.template)?;
        let previous = request
            .previous_quality_score
            .unwrap_or_else(|| template.quality_score.clone());
        let new = request.new_quality_score.clone();
        let template = self
            .update_template(&template.id, |t| t.quality_score = new)
            .ok_or_else(|| ControlError::Invalid("the template was just deleted".to_string()))?;
        let value = TemplateQualityValue {
            previous_quality_score: previous,
            new_quality_score: request.new_quality_score,
            message_template_id: template.numeric_id(),
            message_template_name: template.name.clone(),
            message_template_language: template.language.clone(),
        };
        Ok(self
            .deliver_management(
                template.waba_id.clone(),
                "message_template_quality_update",
                &value,
            )
            .await)
    }

    /// `POST /_sandbox/template-category`.
    pub async fn set_template_category(
        &self,
        request: TemplateCategoryRequest,
    ) -> Result<DeliveryOutcome, ControlError> {
        one_of("new_category", &request.new_category, &TEMPLATE_CATEGORIES)?;
        let template = self.resolve_template(&request.template)?;
        let new = request.new_category.clone();
        let template = self
            .update_template(&template.id, |t| {
                if t.category != new {
                    t.previous_category = Some(std::mem::replace(&mut t.category, new));
                }
            })
            .ok_or_else(|| ControlError::Invalid("the template was just deleted".to_string()))?;
        let value = TemplateCategoryValue {
            message_template_id: template.numeric_id(),
            message_template_name: template.name.clone(),
            message_template_language: template.language.clone(),
            new_category: request.new_category,
        };
        Ok(self
            .deliver_management(template.waba_id.clone(), "template_category_update", &value)
            .await)
    }

    /// `POST /_sandbox/phone-quality`.
    pub async fn set_phone_quality(
        &self,
        request: PhoneQualityRequest,
    ) -> Result<DeliveryOutcome, ControlError> {
        one_of("event", &request.event, &PHONE_QUALITY_EVENTS)?;
        for (name, value) in [
            ("current_limit", &request.current_limit),
            ("old_limit", &request.old_limit),
            (
                "max_daily_conversations_per_business",
                &request.max_daily_conversations_per_business,
            ),
        ] {
            if let Some(value) = value {
                one_of(name, value, &MESSAGING_LIMIT_TIERS)?;
            }
        }
        if let Some(rating) = &request.quality_rating {
            one_of("quality_rating", rating, &QUALITY_RATINGS)?;
        }
        let config = self.config();
        let phone_number_id = request
            .phone_number_id
            .clone()
            .or_else(|| config.display_phone_numbers.keys().next().cloned())
            .ok_or_else(|| {
                ControlError::Invalid(
                    "`phone_number_id` is required (no display numbers are configured)".to_string(),
                )
            })?;
        let number = self.update_phone_number(&phone_number_id, |n| {
            if let Some(limit) = &request.current_limit {
                n.messaging_limit_tier = limit.clone();
            }
            if let Some(rating) = &request.quality_rating {
                n.quality_rating = rating.clone();
            }
            if request.event == "THROUGHPUT_UPGRADE" {
                n.throughput_level = "HIGH".to_string();
            }
        });
        let current_limit = number.messaging_limit_tier.clone();
        let value = PhoneQualityValue {
            display_phone_number: config.display_phone_number(&phone_number_id).to_string(),
            event: request.event,
            max_daily_conversations_per_business: request
                .max_daily_conversations_per_business
                .unwrap_or_else(|| current_limit.clone()),
            current_limit,
            old_limit: request.old_limit,
        };
        Ok(self
            .deliver_management(
                config.waba_id_of(&phone_number_id).to_string(),
                "phone_number_quality_update",
                &value,
            )
            .await)
    }

    /// `POST /_sandbox/account-update`.
    pub async fn account_update(
        &self,
        request: AccountUpdateRequest,
    ) -> Result<DeliveryOutcome, ControlError> {
        if request.event.is_empty() {
            return Err(ControlError::Invalid("`event` is required".to_string()));
        }
        let waba_id = request
            .waba_id
            .clone()
            .unwrap_or_else(|| self.config().waba_id);
        let value = AccountUpdateValue {
            event: &request.event,
            rest: &request.rest,
        };
        Ok(self
            .deliver_management(waba_id, "account_update", &value)
            .await)
    }
}

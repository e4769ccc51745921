//! Webhook payloads (README §5.3–§5.7): the envelope, a typed view of the `messages` field and,
//! through [`Change::management`], of the management fields (`webhook/management.rs`).
//!
//! Every struct tolerates unknown fields, since Meta adds fields and values often (README §8).
//! Each change's `value` stays raw in the envelope and is parsed on demand, so one odd
//! change cannot make a whole delivery (up to 1000 updates) unreadable.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::error::{classify_code, RetryClass};

mod management;

pub use management::{
    AccountUpdate, ManagementChange, ManagementUpdate, PhoneNumberQualityUpdate,
    TemplateCategoryUpdate, TemplateOtherInfo, TemplateQualityUpdate, TemplateRejectionInfo,
    TemplateStatusUpdate, ACCOUNT_UPDATE_FIELD, PHONE_NUMBER_QUALITY_FIELD,
    TEMPLATE_CATEGORY_FIELD, TEMPLATE_QUALITY_FIELD, TEMPLATE_STATUS_FIELD,
};

/// One webhook POST body: `{"object", "entry": [...]}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct WebhookDelivery {
    /// `whatsapp_business_account` for WhatsApp.
    pub object: String,
    /// One item per WABA the delivery covers.
    #[serde(default)]
    pub entry: Vec<Entry>,
}

impl WebhookDelivery {
    /// Parses a raw body; verify its signature first (README §5.2).
    pub fn from_slice(raw_body: &[u8]) -> Result<WebhookDelivery, serde_json::Error> {
        serde_json::from_slice(raw_body)
    }

    /// Every change as `(entry id, field, value)`, in delivery order.
    pub fn changes(&self) -> impl Iterator<Item = (&str, &str, &Value)> {
        self.entry.iter().flat_map(|entry| {
            entry
                .changes
                .iter()
                .map(move |change| (entry.id.as_str(), change.field.as_str(), &change.value))
        })
    }
}

/// One `entry[]`: the changes of one WABA.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Entry {
    /// The WABA id.
    pub id: String,
    /// Unix seconds; only management fields carry it.
    #[serde(default)]
    pub time: Option<i64>,
    /// The changes, each tagged with its subscribed field.
    #[serde(default)]
    pub changes: Vec<Change>,
}

/// One `changes[]` item: a field name and its raw value.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Change {
    /// The subscribed field, e.g. `messages` or `message_template_status_update`.
    pub field: String,
    /// The field's payload, kept raw until [`Change::parse`].
    #[serde(default)]
    pub value: Value,
}

impl Change {
    /// The typed view for `messages`; every other field comes back raw with its name (see
    /// [`Change::management`] for the typed management fields).
    pub fn parse(&self) -> Result<ChangeValue, serde_json::Error> {
        if self.field == MESSAGES_FIELD {
            MessagesValue::from_value(&self.value).map(ChangeValue::Messages)
        } else {
            Ok(ChangeValue::Other {
                field: self.field.clone(),
                value: self.value.clone(),
            })
        }
    }
}

/// The field name of incoming messages, statuses and message errors.
pub const MESSAGES_FIELD: &str = "messages";

/// A change's value, typed when Parley needs it typed.
#[derive(Debug, Clone, PartialEq)]
pub enum ChangeValue {
    /// Field `messages`: incoming messages, statuses of sent ones, or errors.
    Messages(MessagesValue),
    /// Any other field (template status/quality/category, phone number quality/name,
    /// account updates, ...), kept raw; [`Change::management`] types the management ones.
    Other {
        /// The field name.
        field: String,
        /// The raw value.
        value: Value,
    },
}

/// The `value` of a `messages` change (README §5.3).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct MessagesValue {
    /// Always `whatsapp`.
    #[serde(default)]
    pub messaging_product: String,
    /// The business number the change is about; route on its `phone_number_id`.
    pub metadata: Metadata,
    /// Senders' profiles; absent on statuses, errors and system messages.
    #[serde(default)]
    pub contacts: Vec<Contact>,
    /// Incoming messages, kept raw for the domain; see [`MessagesValue::inbound_messages`].
    #[serde(default)]
    pub messages: Vec<Value>,
    /// Status updates of messages the business sent.
    #[serde(default)]
    pub statuses: Vec<StatusUpdate>,
    /// System, app or account errors not tied to one message (README §5.6).
    #[serde(default)]
    pub errors: Vec<MetaWebhookError>,
}

impl MessagesValue {
    /// Parses the raw value of a `messages` change.
    pub fn from_value(value: &Value) -> Result<MessagesValue, serde_json::Error> {
        MessagesValue::deserialize(value)
    }

    /// The common fields of each incoming message, with the sender's profile name.
    ///
    /// A message missing `from`, `id`, `timestamp` or `type` yields an error instead of being
    /// skipped, so the caller decides what to do with it.
    pub fn inbound_messages(
        &self,
    ) -> impl Iterator<Item = Result<InboundMessage<'_>, MessageShapeError>> {
        self.messages
            .iter()
            .enumerate()
            .map(|(index, raw)| InboundMessage::read(index, raw, self))
    }

    /// The profile name in `contacts` for this `wa_id`, if any and not empty.
    pub fn profile_name(&self, wa_id: &str) -> Option<&str> {
        // wa_id can be "" for username users (README §5.3); "" must not match "".
        if wa_id.is_empty() {
            return None;
        }
        self.contacts
            .iter()
            .find(|contact| contact.wa_id == wa_id)
            .and_then(|contact| contact.profile.as_ref()?.name.as_deref())
            .filter(|name| !name.is_empty())
    }
}

/// `metadata`: which business number received or sent.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Metadata {
    /// The number as shown to users; not for routing.
    #[serde(default)]
    pub display_phone_number: String,
    /// The Graph id of the number; the routing key.
    pub phone_number_id: String,
}

/// One `contacts[]` item: a user's profile.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Contact {
    /// The user's WhatsApp profile.
    #[serde(default)]
    pub profile: Option<Profile>,
    /// The user's WhatsApp id; may be "" for users who adopted usernames.
    #[serde(default)]
    pub wa_id: String,
    /// Business-scoped user id (BSUID), rolling out in 2026.
    #[serde(default)]
    pub user_id: Option<String>,
}

/// `contacts[].profile`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Profile {
    /// The name the user set in WhatsApp.
    #[serde(default)]
    pub name: Option<String>,
    /// The user's WhatsApp username, when they have one.
    #[serde(default)]
    pub username: Option<String>,
}

/// One `statuses[]` item: a delivery update for a message the business sent (README §5.5).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct StatusUpdate {
    /// The wamid of the sent message.
    pub id: String,
    /// `sent`, `delivered`, `read`, `failed`, `played`, or a value Meta adds later.
    pub status: String,
    /// Unix seconds as a string; see [`StatusUpdate::timestamp_secs`].
    #[serde(deserialize_with = "string_or_integer")]
    pub timestamp: String,
    /// The user's phone number, or the group id for group sends.
    #[serde(default)]
    pub recipient_id: String,
    /// `group` for group sends.
    #[serde(default)]
    pub recipient_type: Option<String>,
    /// The caller's tracking string from the send, echoed back.
    #[serde(default)]
    pub biz_opaque_callback_data: Option<String>,
    /// Why the message failed, on `failed` statuses.
    #[serde(default)]
    pub errors: Vec<MetaWebhookError>,
    /// Conversation info; only on some statuses and omitted from v24.0 outside free windows.
    #[serde(default)]
    pub conversation: Option<Value>,
    /// Pricing info; only on `sent` and one of `delivered`/`read`.
    #[serde(default)]
    pub pricing: Option<Value>,
}

impl StatusUpdate {
    /// The timestamp as Unix seconds; `None` if Meta sent something unparsable.
    pub fn timestamp_secs(&self) -> Option<i64> {
        parse_timestamp(&self.timestamp)
    }
}

/// One error in a webhook: in `value.errors`, `messages[].errors` or `statuses[].errors`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MetaWebhookError {
    /// Meta's error code (README §6.2).
    pub code: i64,
    /// Short title, e.g. "Re-engagement message".
    #[serde(default)]
    pub title: Option<String>,
    /// Usually the same as `title`.
    #[serde(default)]
    pub message: Option<String>,
    /// `{"details": ...}`, the explanation to show.
    #[serde(default)]
    pub error_data: Option<WebhookErrorData>,
    /// Link to Meta's error-code page.
    #[serde(default)]
    pub href: Option<String>,
}

impl MetaWebhookError {
    /// `error_data.details`, if present.
    pub fn details(&self) -> Option<&str> {
        self.error_data.as_ref()?.details.as_deref()
    }

    /// Whether resending the message may succeed; undocumented codes count as permanent.
    pub fn retry_class(&self) -> RetryClass {
        classify_code(self.code).unwrap_or(RetryClass::Permanent)
    }
}

/// `error_data` of a webhook error.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WebhookErrorData {
    /// Meta's detailed explanation.
    #[serde(default)]
    pub details: Option<String>,
}

/// The fields every incoming message has, read from its raw object (README §5.4).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InboundMessage<'a> {
    /// The sender's WhatsApp id.
    pub from: &'a str,
    /// The message's wamid; deduplicate on it (README §5.8).
    pub id: &'a str,
    /// When the user sent it, in Unix seconds.
    pub timestamp: i64,
    /// `type`: `text`, `image`, `interactive`, `button`, `unsupported`, ...
    pub kind: &'a str,
    /// `context.id`: the wamid this message replies to or was tapped on.
    pub context_id: Option<&'a str>,
    /// The sender's profile name, from `contacts` matched on `wa_id == from`.
    pub profile_name: Option<&'a str>,
    /// The whole message object, for the type-specific payload.
    pub raw: &'a Value,
}

impl<'a> InboundMessage<'a> {
    /// Reads the common fields of `messages[index]`.
    fn read(
        index: usize,
        raw: &'a Value,
        value: &'a MessagesValue,
    ) -> Result<InboundMessage<'a>, MessageShapeError> {
        let field = |name: &'static str| {
            raw.get(name)
                .and_then(Value::as_str)
                .ok_or(MessageShapeError { index, field: name })
        };
        let from = field("from")?;
        // The timestamp is documented as a string; accept an integer too.
        let timestamp = match raw.get("timestamp") {
            Some(Value::String(text)) => parse_timestamp(text),
            Some(Value::Number(number)) => number.as_i64(),
            _ => None,
        }
        .ok_or(MessageShapeError {
            index,
            field: "timestamp",
        })?;
        Ok(InboundMessage {
            from,
            id: field("id")?,
            timestamp,
            kind: field("type")?,
            context_id: raw
                .get("context")
                .and_then(|c| c.get("id"))
                .and_then(Value::as_str),
            profile_name: value.profile_name(from),
            raw,
        })
    }
}

/// An incoming message lacks one of the fields every message has.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("webhook message #{index} has no valid {field:?}")]
pub struct MessageShapeError {
    /// Position in `messages[]`.
    pub index: usize,
    /// The missing or malformed field.
    pub field: &'static str,
}

/// Parses a webhook timestamp (a string of Unix seconds).
pub fn parse_timestamp(text: &str) -> Option<i64> {
    text.trim().parse().ok()
}

/// Accepts a timestamp as a string (documented) or an integer (seen in third-party payloads).
fn string_or_integer<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        Integer(i64),
    }
    Ok(match Raw::deserialize(deserializer)? {
        Raw::Text(text) => text,
        Raw::Integer(number) => number.to_string(),
    })
}

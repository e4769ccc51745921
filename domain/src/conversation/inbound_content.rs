//! What a customer sent: the body of one inbound WhatsApp message, for every message type Meta's
//! `messages` webhook carries.
//!
//! The JSON form is ours (`{"type":"text","body":"hi"}`), flatter than Meta's; [`InboundContent::from_meta`]
//! builds it from one element of Meta's `value.messages[]`. A type Meta adds later becomes
//! [`InboundContent::Unsupported`] rather than an error, so no customer message is ever dropped.

use super::Wamid;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The body of an inbound message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InboundContent {
    /// A text message (Meta `text.body`).
    Text {
        /// The text.
        body: String,
    },
    /// An image (Meta `image`).
    Image(InboundMedia),
    /// A video (Meta `video`).
    Video(InboundMedia),
    /// An audio clip or voice note (Meta `audio`; `voice: true` marks a voice note).
    Audio(InboundMedia),
    /// A document (Meta `document`).
    Document(InboundMedia),
    /// A sticker (Meta `sticker`).
    Sticker(InboundMedia),
    /// A shared location (Meta `location`).
    Location(InboundLocation),
    /// Shared contact cards (Meta `contacts`), kept as Meta's JSON.
    Contacts {
        /// The cards.
        contacts: Vec<Value>,
    },
    /// A tap on one of our reply buttons (Meta `interactive.button_reply`).
    ButtonReply(InteractiveReply),
    /// A choice from one of our lists (Meta `interactive.list_reply`).
    ListReply(InteractiveReply),
    /// A submitted WhatsApp Flow (Meta `interactive.nfm_reply`).
    FlowReply(FlowReply),
    /// A tap on a template's quick-reply button (Meta type `button`).
    Button(QuickReplyButton),
    /// A reaction to a message (Meta `reaction`); an empty emoji means the reaction was removed.
    Reaction(InboundReaction),
    /// An order from a catalog (Meta `order`).
    Order(Order),
    /// A notice from WhatsApp about the customer, e.g. a changed number (Meta `system`).
    System {
        /// Meta's human-readable text.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        body: Option<String>,
        /// Meta's `system.type`, e.g. `user_changed_number` or `customer_identity_changed`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        system_type: Option<String>,
        /// The customer's new wa_id, for a changed number (Meta `wa_id`, formerly `new_wa_id`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        wa_id: Option<String>,
    },
    /// A message Meta cannot show (type `unsupported`), or of a type Parley does not model yet.
    Unsupported {
        /// Meta's `type` (for an unknown interactive reply, `interactive/<its type>`).
        meta_type: String,
        /// Meta's `errors` array as given (e.g. code 131051), or null.
        #[serde(default)]
        errors: Value,
    },
}

/// Received media: Meta's media id (to download it) and what Meta says about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboundMedia {
    /// Meta's media id; the media API turns it into a download URL.
    pub id: String,
    /// The media's MIME type, e.g. `image/jpeg`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// The media's SHA-256, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// The caption (images, videos, documents).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
    /// The file name (documents).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// Whether an audio is a voice note recorded in WhatsApp.
    #[serde(default)]
    pub voice: bool,
    /// Whether a sticker is animated.
    #[serde(default)]
    pub animated: bool,
}

/// A received location pin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboundLocation {
    /// Degrees.
    pub latitude: f64,
    /// Degrees.
    pub longitude: f64,
    /// The place's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The place's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// A URL for the place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// The button or row the customer picked: the id and title we sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InteractiveReply {
    /// The button's or row's id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// The row's description (list replies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A submitted WhatsApp Flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowReply {
    /// Meta's `name` (`flow`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Meta's `body` (e.g. `Sent`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// The flow's answers, a JSON document as a string (as Meta sends it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_json: Option<String>,
}

/// A template quick-reply tap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuickReplyButton {
    /// The payload the template's button was sent with.
    pub payload: String,
    /// The button's text.
    pub text: String,
}

/// A customer's reaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboundReaction {
    /// The wamid of the message reacted to (it may be one Parley never saw).
    pub message_id: Wamid,
    /// The emoji; empty when the reaction was removed.
    #[serde(default)]
    pub emoji: String,
}

/// An order placed from a catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    /// The catalog's id.
    pub catalog_id: String,
    /// The customer's note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Meta's `product_items` (`product_retailer_id`, `quantity`, `item_price`, `currency`) as given.
    #[serde(default)]
    pub product_items: Value,
}

/// Why a webhook message object could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed inbound message: {0}")]
pub struct MalformedInbound(pub String);

impl MalformedInbound {
    /// The stable machine code: `malformed_inbound`.
    pub fn code(&self) -> &'static str {
        "malformed_inbound"
    }
}

impl InboundContent {
    /// Reads the content of one element of Meta's `value.messages[]` (its `type` and the payload
    /// under that type). The envelope fields (`from`, `id`, `timestamp`, `context`) are the caller's.
    /// Unknown types become [`InboundContent::Unsupported`]; a known type with a missing required
    /// field is an error.
    pub fn from_meta(message: &Value) -> Result<Self, MalformedInbound> {
        let kind = message
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| MalformedInbound("no 'type'".into()))?;
        let content = match kind {
            "text" => Self::Text {
                body: payload::<TextPayload>(message, "text")?.body,
            },
            "image" => Self::Image(payload(message, "image")?),
            "video" => Self::Video(payload(message, "video")?),
            "audio" => Self::Audio(payload(message, "audio")?),
            "document" => Self::Document(payload(message, "document")?),
            "sticker" => Self::Sticker(payload(message, "sticker")?),
            "location" => Self::Location(payload(message, "location")?),
            "contacts" => Self::Contacts {
                contacts: payload(message, "contacts")?,
            },
            "reaction" => Self::Reaction(payload(message, "reaction")?),
            "button" => Self::Button(payload(message, "button")?),
            "order" => Self::Order(payload(message, "order")?),
            "interactive" => Self::from_interactive(message)?,
            "system" => {
                let system: SystemPayload = payload(message, "system")?;
                Self::System {
                    body: system.body,
                    system_type: system.kind,
                    wa_id: system.wa_id.or(system.new_wa_id),
                }
            }
            other => Self::Unsupported {
                meta_type: other.to_string(),
                errors: message.get("errors").cloned().unwrap_or(Value::Null),
            },
        };
        Ok(content)
    }

    fn from_interactive(message: &Value) -> Result<Self, MalformedInbound> {
        let interactive = message
            .get("interactive")
            .ok_or_else(|| MalformedInbound("no 'interactive'".into()))?;
        let kind = interactive
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| MalformedInbound("no 'interactive.type'".into()))?;
        Ok(match kind {
            "button_reply" => Self::ButtonReply(payload(interactive, "button_reply")?),
            "list_reply" => Self::ListReply(payload(interactive, "list_reply")?),
            "nfm_reply" => Self::FlowReply(payload(interactive, "nfm_reply")?),
            other => Self::Unsupported {
                meta_type: format!("interactive/{other}"),
                errors: message.get("errors").cloned().unwrap_or(Value::Null),
            },
        })
    }

    /// Our short type: `text`, `image`, …, `button_reply`, `list_reply`, `flow_reply`, `button`,
    /// `reaction`, `order`, `system` or `unsupported`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Text { .. } => "text",
            Self::Image(_) => "image",
            Self::Video(_) => "video",
            Self::Audio(_) => "audio",
            Self::Document(_) => "document",
            Self::Sticker(_) => "sticker",
            Self::Location(_) => "location",
            Self::Contacts { .. } => "contacts",
            Self::ButtonReply(_) => "button_reply",
            Self::ListReply(_) => "list_reply",
            Self::FlowReply(_) => "flow_reply",
            Self::Button(_) => "button",
            Self::Reaction(_) => "reaction",
            Self::Order(_) => "order",
            Self::System { .. } => "system",
            Self::Unsupported { .. } => "unsupported",
        }
    }
}

#[derive(Deserialize)]
struct TextPayload {
    body: String,
}

#[derive(Deserialize)]
struct SystemPayload {
    #[serde(default)]
    body: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    wa_id: Option<String>,
    #[serde(default)]
    new_wa_id: Option<String>,
}

/// Reads `object[key]` as `T`.
fn payload<T: serde::de::DeserializeOwned>(
    object: &Value,
    key: &str,
) -> Result<T, MalformedInbound> {
    let value = object
        .get(key)
        .ok_or_else(|| MalformedInbound(format!("no '{key}'")))?;
    serde_json::from_value(value.clone()).map_err(|e| MalformedInbound(format!("{key}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_types_are_kept_as_unsupported() {
        let content =
            InboundContent::from_meta(&json!({"type": "request_welcome", "id": "w"})).unwrap();
        assert_eq!(
            content,
            InboundContent::Unsupported {
                meta_type: "request_welcome".into(),
                errors: Value::Null
            }
        );
        let content = InboundContent::from_meta(
            &json!({"type": "interactive", "interactive": {"type": "call_permission_reply"}}),
        )
        .unwrap();
        assert_eq!(content.kind(), "unsupported");
    }

    #[test]
    fn system_and_flow_messages_are_read() {
        let content = InboundContent::from_meta(&json!({
            "type": "system",
            "system": {"body": "NAME changed from 1 to 2", "new_wa_id": "16505550000", "type": "user_changed_number"}
        }))
        .unwrap();
        assert_eq!(
            content,
            InboundContent::System {
                body: Some("NAME changed from 1 to 2".into()),
                system_type: Some("user_changed_number".into()),
                wa_id: Some("16505550000".into()),
            }
        );
        let flow = InboundContent::from_meta(&json!({
            "type": "interactive",
            "interactive": {"type": "nfm_reply", "nfm_reply": {"name": "flow", "body": "Sent", "response_json": "{\"a\":1}"}}
        }))
        .unwrap();
        assert_eq!(flow.kind(), "flow_reply");
    }

    #[test]
    fn missing_required_fields_are_malformed() {
        for bad in [
            json!({"id": "x"}),
            json!({"type": "text"}),
            json!({"type": "text", "text": {}}),
            json!({"type": "image", "image": {"mime_type": "image/png"}}),
            json!({"type": "reaction", "reaction": {"message_id": "", "emoji": "x"}}),
            json!({"type": "interactive", "interactive": {}}),
        ] {
            let error = InboundContent::from_meta(&bad).unwrap_err();
            assert_eq!(error.code(), "malformed_inbound", "{bad}");
        }
    }

    #[test]
    fn our_json_round_trips() {
        let content = InboundContent::Audio(InboundMedia {
            id: "1".into(),
            mime_type: Some("audio/ogg".into()),
            sha256: None,
            caption: None,
            filename: None,
            voice: true,
            animated: false,
        });
        let value = serde_json::to_value(&content).unwrap();
        assert_eq!(
            value,
            json!({"type": "audio", "id": "1", "mime_type": "audio/ogg", "voice": true, "animated": false})
        );
        assert_eq!(
            serde_json::from_value::<InboundContent>(value).unwrap(),
            content
        );
    }
}

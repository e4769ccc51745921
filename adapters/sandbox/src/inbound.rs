//! Webhooks the sandbox sends on a customer's behalf (inbound messages, README §5.4) or on Meta's
//! (any other field, given raw).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::error::ControlError;
use crate::ids::{self, wa_id_of, Direction};
use crate::records::{DeliveryOutcome, InboundRecord};
use crate::state::{MediaItem, SandboxState};
use crate::webhooks::{post_signed, Contact, Envelope, MessagesValue, Metadata, Profile};

/// The profile name used when an inbound request gives none (Meta always sends one).
pub const DEFAULT_PROFILE_NAME: &str = "Sandbox Customer";

/// Bytes served for inbound media the caller did not upload, so Parley can still download it.
const PLACEHOLDER_MEDIA: &[u8] = b"parley sandbox placeholder media";

/// A customer message to deliver to Parley (`POST /_sandbox/inbound`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboundRequest {
    /// The business phone number id the customer writes to.
    pub phone_number_id: String,
    /// `metadata.display_phone_number`; the configured one when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_phone_number: Option<String>,
    /// The customer's wa_id (digits; other characters are dropped).
    pub from: String,
    /// `contacts[0].profile.name`; [`DEFAULT_PROFILE_NAME`] when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_name: Option<String>,
    /// The message as in Meta's webhook, at least `type` and its object; the sandbox sets
    /// `from` and fills `id` (a new wamid) and `timestamp` (now) unless given.
    pub message: Value,
}

impl InboundRequest {
    /// A text message from `from` to `phone_number_id`.
    pub fn text(
        phone_number_id: impl Into<String>,
        from: impl Into<String>,
        body: impl Into<String>,
    ) -> Self {
        Self::new(
            phone_number_id,
            from,
            serde_json::json!({"type": "text", "text": {"body": body.into()}}),
        )
    }

    /// Any message object, as in Meta's webhook.
    pub fn new(
        phone_number_id: impl Into<String>,
        from: impl Into<String>,
        message: Value,
    ) -> Self {
        Self {
            phone_number_id: phone_number_id.into(),
            display_phone_number: None,
            from: from.into(),
            profile_name: None,
            message,
        }
    }
}

/// The answer of `POST /_sandbox/inbound`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboundOutcome {
    /// The inbound message's wamid.
    pub wamid: String,
    /// Whether Parley answered 2xx.
    pub delivered: bool,
    /// Parley's last HTTP status; `null` if it never answered or no webhook URL is set.
    pub status: Option<u16>,
}

/// Any webhook change to deliver as is (`POST /_sandbox/webhook`), e.g. a template status update.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawWebhook {
    /// `changes[0].field`, e.g. `message_template_status_update`.
    pub field: String,
    /// `changes[0].value`, sent unchanged.
    pub value: Value,
}

/// One inbound `messages[]` object: Meta's leading fields, then the caller's.
#[derive(Serialize)]
struct InboundMessage<'a> {
    from: &'a str,
    id: &'a str,
    timestamp: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(flatten)]
    rest: &'a Map<String, Value>,
}

impl SandboxState {
    /// Delivers a customer message to Parley as a signed `messages` webhook and waits for its answer.
    pub async fn deliver_inbound(
        &self,
        request: InboundRequest,
    ) -> Result<InboundOutcome, ControlError> {
        let from = wa_id_of(&request.from);
        if from.is_empty() {
            return Err(ControlError::Invalid(
                "`from` must be a phone number".to_string(),
            ));
        }
        if request.phone_number_id.is_empty() {
            return Err(ControlError::Invalid(
                "`phone_number_id` is required".to_string(),
            ));
        }
        let Value::Object(mut rest) = request.message else {
            return Err(ControlError::Invalid(
                "`message` must be a JSON object".to_string(),
            ));
        };
        let kind = match rest.remove("type") {
            Some(Value::String(kind)) if !kind.is_empty() => kind,
            _ => {
                return Err(ControlError::Invalid(
                    "`message.type` is required".to_string(),
                ))
            }
        };
        rest.remove("from");
        let wamid = match rest.remove("id") {
            Some(Value::String(id)) => id,
            _ => ids::wamid(&from, Direction::Incoming),
        };
        let timestamp = match rest.remove("timestamp") {
            Some(Value::String(ts)) => ts,
            Some(Value::Number(ts)) => ts.to_string(),
            _ => chrono::Utc::now().timestamp().to_string(),
        };
        if is_media(&kind) {
            self.fill_media(&request.phone_number_id, &kind, &mut rest)?;
        } else if kind != "unsupported" && !rest.contains_key(&kind) {
            return Err(ControlError::Invalid(format!(
                "`message.{kind}` is required for type {kind}"
            )));
        }

        let outcome = match self.webhook_target(&request.phone_number_id) {
            None => DeliveryOutcome {
                delivered: false,
                status: None,
            },
            Some((url, waba_id, configured_display)) => {
                let message = InboundMessage {
                    from: &from,
                    id: &wamid,
                    timestamp: &timestamp,
                    kind: &kind,
                    rest: &rest,
                };
                let value = MessagesValue {
                    messaging_product: "whatsapp",
                    metadata: Metadata {
                        display_phone_number: request
                            .display_phone_number
                            .unwrap_or(configured_display),
                        phone_number_id: request.phone_number_id.clone(),
                    },
                    contacts: Some(vec![Contact {
                        profile: Profile {
                            name: request
                                .profile_name
                                .unwrap_or_else(|| DEFAULT_PROFILE_NAME.to_string()),
                        },
                        wa_id: from.clone(),
                    }]),
                    messages: Some(vec![message]),
                    statuses: None,
                };
                let body = Envelope::new(waba_id, "messages", None, value).to_bytes();
                let outcome = post_signed(self, &url, body.clone()).await;
                if self.config().faults.duplicate_webhooks {
                    // Meta redelivers inbound messages too; Parley must dedupe on `messages[].id`.
                    post_signed(self, &url, body).await;
                }
                outcome
            }
        };
        self.record_inbound(InboundRecord {
            wamid: wamid.clone(),
            phone_number_id: request.phone_number_id,
            from,
            kind,
            delivered: outcome.delivered,
            status: outcome.status,
            at: chrono::Utc::now(),
        });
        Ok(InboundOutcome {
            wamid,
            delivered: outcome.delivered,
            status: outcome.status,
        })
    }

    /// Delivers any webhook change, signed, in Meta's envelope (with `entry[].time` as Meta
    /// sends it for non-`messages` fields).
    pub async fn deliver_raw(&self, webhook: RawWebhook) -> Result<DeliveryOutcome, ControlError> {
        if webhook.field.is_empty() {
            return Err(ControlError::Invalid("`field` is required".to_string()));
        }
        let config = self.config();
        let Some(url) = config.webhook_url else {
            return Ok(DeliveryOutcome {
                delivered: false,
                status: None,
            });
        };
        let time = (webhook.field != "messages").then(|| chrono::Utc::now().timestamp());
        let body = Envelope::new(config.waba_id, &webhook.field, time, webhook.value).to_bytes();
        Ok(post_signed(self, &url, body).await)
    }

    /// Fills what Meta always sends with inbound media (`id`, `mime_type`, `sha256`, …) and makes
    /// the id downloadable, so a short request like `{"type":"image","image":{}}` is realistic.
    fn fill_media(
        &self,
        phone_number_id: &str,
        kind: &str,
        rest: &mut Map<String, Value>,
    ) -> Result<(), ControlError> {
        let object = rest
            .entry(kind.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        let Value::Object(media) = object else {
            return Err(ControlError::Invalid(format!(
                "`message.{kind}` must be an object"
            )));
        };
        let (default_mime, extra): (&str, Option<(&str, Value)>) = match kind {
            "image" => ("image/jpeg", None),
            "video" => ("video/mp4", None),
            "audio" => (
                "audio/ogg; codecs=opus",
                Some(("voice", Value::Bool(false))),
            ),
            "document" => (
                "application/pdf",
                Some(("filename", Value::from("document.pdf"))),
            ),
            _ => ("image/webp", Some(("animated", Value::Bool(false)))),
        };
        let mime_type = media
            .entry("mime_type")
            .or_insert_with(|| Value::from(default_mime))
            .as_str()
            .unwrap_or(default_mime)
            .to_string();
        media
            .entry("sha256")
            .or_insert_with(|| Value::from(STANDARD.encode(Sha256::digest(PLACEHOLDER_MEDIA))));
        if let Some((key, value)) = extra {
            media.entry(key).or_insert(value);
        }
        let id = match media.get("id").and_then(Value::as_str) {
            Some(id) => id.to_string(),
            None => {
                let id = ids::media_id();
                media.insert("id".to_string(), Value::from(id.clone()));
                id
            }
        };
        if self.media(&id).is_none() {
            self.store_media(
                MediaItem {
                    id,
                    phone_number_id: phone_number_id.to_string(),
                    mime_type,
                    sha256_hex: hex::encode(Sha256::digest(PLACEHOLDER_MEDIA)),
                    filename: None,
                    bytes: PLACEHOLDER_MEDIA.into(),
                },
                false,
            );
        }
        Ok(())
    }
}

fn is_media(kind: &str) -> bool {
    matches!(kind, "image" | "video" | "audio" | "document" | "sticker")
}

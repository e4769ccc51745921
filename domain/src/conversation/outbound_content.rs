//! What a business sends: the body of one outbound WhatsApp message.
//!
//! The serde representation IS the type-specific part of Meta's send body
//! (`POST /{phone-number-id}/messages`): `serde_json::to_value(&content)` gives e.g.
//! `{"type":"text","text":{"body":"hola"}}`, and the Meta adapter only adds the envelope
//! (`messaging_product`, `to`, `context`, `biz_opaque_callback_data`). Events store it the same way.

use super::content_error::{check_max, check_text, ContentError};
use super::interactive::InteractiveMessage;
use super::Wamid;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Meta's limit on a text message body.
const MAX_TEXT_BODY: usize = 4096;
/// Meta's limit on a media caption.
const MAX_CAPTION: usize = 1024;
/// Meta's limit on a template name.
const MAX_TEMPLATE_NAME: usize = 512;

/// The body of an outbound message, one variant per Meta message `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutboundContent {
    /// `{"type":"text","text":{"body","preview_url"?}}`.
    Text {
        /// The text.
        text: TextMessage,
    },
    /// `{"type":"image","image":{"id"|"link","caption"?}}`.
    Image {
        /// The image.
        image: MediaMessage,
    },
    /// `{"type":"video","video":{"id"|"link","caption"?}}`.
    Video {
        /// The video.
        video: MediaMessage,
    },
    /// `{"type":"audio","audio":{"id"|"link"}}` (no caption).
    Audio {
        /// The audio.
        audio: MediaMessage,
    },
    /// `{"type":"document","document":{"id"|"link","caption"?,"filename"?}}`.
    Document {
        /// The document.
        document: MediaMessage,
    },
    /// `{"type":"sticker","sticker":{"id"|"link"}}` (no caption).
    Sticker {
        /// The sticker.
        sticker: MediaMessage,
    },
    /// `{"type":"template","template":{"name","language":{"code"},"components"?}}`: the only kind
    /// allowed outside the customer-service window.
    Template {
        /// The template and its parameters.
        template: TemplateMessage,
    },
    /// `{"type":"interactive","interactive":{"type":"button"|"list"|…,…}}`.
    Interactive {
        /// The interactive message.
        interactive: InteractiveMessage,
    },
    /// `{"type":"reaction","reaction":{"message_id","emoji"}}`; an empty emoji removes a reaction.
    Reaction {
        /// The reaction.
        reaction: ReactionMessage,
    },
    /// `{"type":"location","location":{"latitude","longitude","name"?,"address"?}}`.
    Location {
        /// The location.
        location: LocationMessage,
    },
    /// `{"type":"contacts","contacts":[…]}`; each contact card is kept as Meta's JSON.
    Contacts {
        /// The contact cards (`name`, `phones`, `emails`, …).
        contacts: Vec<Value>,
    },
}

/// A text message body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextMessage {
    /// The text, 1 to 4096 characters.
    pub body: String,
    /// Whether WhatsApp previews the first http(s) URL in the body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview_url: Option<bool>,
}

/// A media attachment: exactly one of an uploaded media `id` or an http(s) `link`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MediaMessage {
    /// Meta's id of media uploaded through the media API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// A public http(s) URL Meta fetches the media from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// Up to 1024 characters; not on audio or stickers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
    /// The file name the customer sees; documents only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
}

/// A template send: which approved template, in which language, with which parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplateMessage {
    /// The template's name.
    pub name: String,
    /// The template's language.
    pub language: TemplateLanguage,
    /// Header, body and button parameters, kept as Meta's JSON (`{"type":"body","parameters":[…]}`);
    /// the Template aggregate, not this one, knows which a template needs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<Value>,
}

/// A template's language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateLanguage {
    /// Language and locale code, e.g. `en_US`.
    pub code: String,
    /// Meta's legacy language policy (`deterministic`), when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
}

/// A reaction to a message of the conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReactionMessage {
    /// The wamid of the message reacted to.
    pub message_id: Wamid,
    /// The emoji; empty removes the business's reaction.
    pub emoji: String,
}

/// A location pin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocationMessage {
    /// Degrees, -90 to 90.
    pub latitude: f64,
    /// Degrees, -180 to 180.
    pub longitude: f64,
    /// The place's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The place's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

impl OutboundContent {
    /// A text message with no URL preview.
    pub fn text(body: impl Into<String>) -> Self {
        Self::Text {
            text: TextMessage {
                body: body.into(),
                preview_url: None,
            },
        }
    }

    /// Meta's message type: `text`, `image`, `video`, `audio`, `document`, `sticker`, `template`,
    /// `interactive`, `reaction`, `location` or `contacts`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Text { .. } => "text",
            Self::Image { .. } => "image",
            Self::Video { .. } => "video",
            Self::Audio { .. } => "audio",
            Self::Document { .. } => "document",
            Self::Sticker { .. } => "sticker",
            Self::Template { .. } => "template",
            Self::Interactive { .. } => "interactive",
            Self::Reaction { .. } => "reaction",
            Self::Location { .. } => "location",
            Self::Contacts { .. } => "contacts",
        }
    }

    /// Whether this is a template: the only kind Meta delivers outside the customer-service window.
    pub fn is_template(&self) -> bool {
        matches!(self, Self::Template { .. })
    }

    /// The wamid a reaction targets; `None` for every other kind.
    pub fn reaction_target(&self) -> Option<&Wamid> {
        match self {
            Self::Reaction { reaction } => Some(&reaction.message_id),
            _ => None,
        }
    }

    /// Checks Meta's documented limits, so that a message Meta would refuse is refused before it is
    /// queued rather than failing later in the outbox.
    pub fn validate(&self) -> Result<(), ContentError> {
        match self {
            Self::Text { text } => check_text("text.body", &text.body, MAX_TEXT_BODY),
            Self::Image { image } => image.validate("image"),
            Self::Video { video } => video.validate("video"),
            Self::Audio { audio } => audio.validate("audio"),
            Self::Document { document } => document.validate("document"),
            Self::Sticker { sticker } => sticker.validate("sticker"),
            Self::Template { template } => template.validate(),
            Self::Interactive { interactive } => interactive.validate(),
            // An empty emoji is Meta's way to remove a reaction; the target is checked by the aggregate.
            Self::Reaction { .. } => Ok(()),
            Self::Location { location } => location.validate(),
            Self::Contacts { contacts } => {
                if contacts.is_empty() || !contacts.iter().all(Value::is_object) {
                    return Err(ContentError::Contacts);
                }
                Ok(())
            }
        }
    }
}

impl MediaMessage {
    /// Checks the rules for media of `kind` (`image`, `video`, `audio`, `document`, `sticker`).
    pub(super) fn validate(&self, kind: &'static str) -> Result<(), ContentError> {
        self.validate_source(kind)?;
        if let Some(caption) = &self.caption {
            if matches!(kind, "audio" | "sticker") {
                return Err(ContentError::CaptionNotAllowed { kind });
            }
            check_max("caption", caption, MAX_CAPTION)?;
        }
        if self.filename.is_some() && kind != "document" {
            return Err(ContentError::FilenameNotAllowed { kind });
        }
        Ok(())
    }

    /// Exactly one of a non-empty `id` or an http(s) `link`.
    pub(super) fn validate_source(&self, kind: &'static str) -> Result<(), ContentError> {
        match (&self.id, &self.link) {
            (Some(id), None) if !id.trim().is_empty() => Ok(()),
            (None, Some(link)) if is_http_url(link) => Ok(()),
            (None, Some(_)) => Err(ContentError::MediaLink { kind }),
            _ => Err(ContentError::MediaSource { kind }),
        }
    }
}

/// `http://` or `https://` (any case) followed by a host, and no whitespace anywhere.
fn is_http_url(link: &str) -> bool {
    let lower = link.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"));
    matches!(rest, Some(rest) if !rest.is_empty() && !rest.starts_with('/'))
        && !link.chars().any(char::is_whitespace)
}

impl TemplateMessage {
    fn validate(&self) -> Result<(), ContentError> {
        check_text("template.name", &self.name, MAX_TEMPLATE_NAME)?;
        if self.language.code.trim().is_empty() {
            return Err(ContentError::Empty {
                field: "template.language.code",
            });
        }
        Ok(())
    }
}

impl LocationMessage {
    fn validate(&self) -> Result<(), ContentError> {
        // Comparisons with NaN are false, so a NaN coordinate is refused too.
        let latitude_ok = (-90.0..=90.0).contains(&self.latitude);
        let longitude_ok = (-180.0..=180.0).contains(&self.longitude);
        if latitude_ok && longitude_ok {
            Ok(())
        } else {
            Err(ContentError::Coordinates)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn media(id: Option<&str>, link: Option<&str>) -> MediaMessage {
        MediaMessage {
            id: id.map(Into::into),
            link: link.map(Into::into),
            ..Default::default()
        }
    }

    #[test]
    fn text_serializes_as_metas_fragment() {
        let content = OutboundContent::Text {
            text: TextMessage {
                body: "hola".into(),
                preview_url: Some(true),
            },
        };
        assert_eq!(
            serde_json::to_value(&content).unwrap(),
            json!({"type": "text", "text": {"body": "hola", "preview_url": true}})
        );
        assert_eq!(
            serde_json::to_value(OutboundContent::text("hi")).unwrap(),
            json!({"type": "text", "text": {"body": "hi"}})
        );
    }

    #[test]
    fn text_length_is_counted_in_characters() {
        assert!(OutboundContent::text("é".repeat(4096)).validate().is_ok());
        assert_eq!(
            OutboundContent::text("a".repeat(4097)).validate(),
            Err(ContentError::TooLong {
                field: "text.body",
                max: 4096
            })
        );
        assert_eq!(
            OutboundContent::text("  ").validate().unwrap_err().code(),
            "content_empty"
        );
    }

    #[test]
    fn media_needs_exactly_one_of_id_or_link() {
        let image = |m| OutboundContent::Image { image: m };
        assert!(image(media(Some("123"), None)).validate().is_ok());
        assert!(image(media(None, Some("https://example.com/a.png")))
            .validate()
            .is_ok());
        assert!(image(media(None, Some("HTTP://example.com/a.png")))
            .validate()
            .is_ok());
        for bad in [
            media(None, None),
            media(Some("123"), Some("https://example.com/a.png")),
            media(Some(" "), None),
        ] {
            assert_eq!(
                image(bad).validate(),
                Err(ContentError::MediaSource { kind: "image" })
            );
        }
        for bad_link in [
            "ftp://example.com/a.png",
            "example.com/a.png",
            "https://",
            "https://a b",
        ] {
            assert_eq!(
                image(media(None, Some(bad_link)))
                    .validate()
                    .unwrap_err()
                    .code(),
                "media_link_invalid",
                "{bad_link}"
            );
        }
    }

    #[test]
    fn captions_are_limited_and_not_on_audio_or_stickers() {
        let captioned = |caption: &str| MediaMessage {
            caption: Some(caption.into()),
            ..media(Some("1"), None)
        };
        assert!(OutboundContent::Video {
            video: captioned(&"c".repeat(1024))
        }
        .validate()
        .is_ok());
        assert_eq!(
            OutboundContent::Image {
                image: captioned(&"c".repeat(1025))
            }
            .validate(),
            Err(ContentError::TooLong {
                field: "caption",
                max: 1024
            })
        );
        assert_eq!(
            OutboundContent::Audio {
                audio: captioned("hi")
            }
            .validate()
            .unwrap_err()
            .code(),
            "caption_not_allowed"
        );
        assert_eq!(
            OutboundContent::Sticker {
                sticker: captioned("hi")
            }
            .validate(),
            Err(ContentError::CaptionNotAllowed { kind: "sticker" })
        );
    }

    #[test]
    fn only_documents_carry_a_filename() {
        let named = MediaMessage {
            filename: Some("a.pdf".into()),
            ..media(Some("1"), None)
        };
        assert!(OutboundContent::Document {
            document: named.clone()
        }
        .validate()
        .is_ok());
        assert_eq!(
            OutboundContent::Image { image: named }
                .validate()
                .unwrap_err()
                .code(),
            "filename_not_allowed"
        );
    }

    #[test]
    fn locations_must_be_on_earth() {
        let at = |latitude, longitude| OutboundContent::Location {
            location: LocationMessage {
                latitude,
                longitude,
                name: None,
                address: None,
            },
        };
        assert!(at(-90.0, 180.0).validate().is_ok());
        for (lat, lon) in [(90.1, 0.0), (0.0, -180.5), (f64::NAN, 0.0)] {
            assert_eq!(at(lat, lon).validate(), Err(ContentError::Coordinates));
        }
    }

    #[test]
    fn templates_need_a_name_and_language() {
        let template = |name: &str, code: &str| OutboundContent::Template {
            template: TemplateMessage {
                name: name.into(),
                language: TemplateLanguage {
                    code: code.into(),
                    policy: None,
                },
                components: vec![],
            },
        };
        assert!(template("hello_world", "en_US").validate().is_ok());
        assert!(template("hello_world", "en_US").is_template());
        assert_eq!(
            serde_json::to_value(template("hello_world", "en_US")).unwrap(),
            json!({"type": "template", "template": {"name": "hello_world", "language": {"code": "en_US"}}})
        );
        assert_eq!(
            template("", "en").validate().unwrap_err().code(),
            "content_empty"
        );
        assert_eq!(
            template("a", " ").validate().unwrap_err().code(),
            "content_empty"
        );
        assert_eq!(
            template(&"a".repeat(513), "en")
                .validate()
                .unwrap_err()
                .code(),
            "content_too_long"
        );
    }

    #[test]
    fn contacts_need_at_least_one_card() {
        assert_eq!(
            OutboundContent::Contacts { contacts: vec![] }.validate(),
            Err(ContentError::Contacts)
        );
        assert_eq!(
            OutboundContent::Contacts {
                contacts: vec![json!("x")]
            }
            .validate(),
            Err(ContentError::Contacts)
        );
    }

    #[test]
    fn kinds_are_metas_types() {
        let reaction = OutboundContent::Reaction {
            reaction: ReactionMessage {
                message_id: Wamid::parse("wamid.A").unwrap(),
                emoji: String::new(),
            },
        };
        assert_eq!(reaction.kind(), "reaction");
        assert!(!reaction.is_template());
        assert_eq!(reaction.reaction_target().unwrap().as_str(), "wamid.A");
        assert!(
            reaction.validate().is_ok(),
            "an empty emoji removes a reaction"
        );
        assert_eq!(OutboundContent::text("x").kind(), "text");
    }
}

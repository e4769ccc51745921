//! Interactive messages: reply buttons and lists, typed so Meta's limits can be checked, and every
//! other interactive type (`cta_url`, `flow`, `product`, …) kept as Meta's JSON.

use super::content_error::{check_max, check_text, ContentError};
use super::outbound_content::MediaMessage;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use std::collections::HashSet;

const MAX_BUTTONS: usize = 3;
const MAX_BUTTON_TITLE: usize = 20;
const MAX_BUTTON_ID: usize = 256;
const MAX_BUTTONS_BODY: usize = 1024;
/// Meta's list page says 4096 while the OpenAPI `BodyObject` says 1024; the list page is the specific,
/// newer source, and refusing a message Meta accepts would be worse than a late failure.
const MAX_LIST_BODY: usize = 4096;
const MAX_HEADER_TEXT: usize = 60;
const MAX_FOOTER: usize = 60;
const MAX_LIST_BUTTON: usize = 20;
const MAX_SECTIONS: usize = 10;
const MAX_ROWS: usize = 10;
const MAX_SECTION_TITLE: usize = 24;
const MAX_ROW_TITLE: usize = 24;
const MAX_ROW_DESCRIPTION: usize = 72;
const MAX_ROW_ID: usize = 200;

/// The `interactive` object of a send body. Its JSON is Meta's, `type` included:
/// `{"type":"button",…}`, `{"type":"list",…}` or any other type as given.
#[derive(Debug, Clone, PartialEq)]
pub enum InteractiveMessage {
    /// `type: "button"`: up to three quick-reply buttons.
    Button(ReplyButtonsMessage),
    /// `type: "list"`: a menu of up to ten rows.
    List(ListMessage),
    /// Any other interactive type (`cta_url`, `flow`, `product`, `product_list`, `catalog_message`,
    /// …), kept as Meta's JSON object with its `type`. Passed through unchecked: Meta adds types often.
    Other(Value),
}

/// A reply-buttons message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplyButtonsMessage {
    /// Text (≤ 60), image, video or document header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<InteractiveHeader>,
    /// The body, 1 to 1024 characters.
    pub body: InteractiveText,
    /// The footer, up to 60 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub footer: Option<InteractiveText>,
    /// The buttons.
    pub action: ReplyButtonsAction,
}

/// The `action` of a reply-buttons message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyButtonsAction {
    /// 1 to 3 buttons, with unique titles and ids.
    pub buttons: Vec<ReplyButton>,
}

/// One button: `{"type":"reply","reply":{"id","title"}}` (`reply` is the only button type).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ReplyButton {
    /// A quick-reply button.
    Reply {
        /// Its id and title.
        reply: ReplyButtonBody,
    },
}

/// A reply button's id (sent back when tapped) and title.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyButtonBody {
    /// Up to 256 characters; comes back in the customer's `button_reply`.
    pub id: String,
    /// Up to 20 characters.
    pub title: String,
}

/// A list message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListMessage {
    /// Text header only (≤ 60).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<InteractiveHeader>,
    /// The body, 1 to 4096 characters.
    pub body: InteractiveText,
    /// The footer, up to 60 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub footer: Option<InteractiveText>,
    /// The menu.
    pub action: ListAction,
}

/// The `action` of a list message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListAction {
    /// The label of the button that opens the list, up to 20 characters.
    pub button: String,
    /// 1 to 10 sections holding 1 to 10 rows in all.
    pub sections: Vec<ListSection>,
}

/// A section of a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListSection {
    /// Up to 24 characters; required when the list has several sections.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// At least one row.
    pub rows: Vec<ListRow>,
}

/// A row of a list section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListRow {
    /// Up to 200 characters, unique in the list; comes back in the customer's `list_reply`.
    pub id: String,
    /// Up to 24 characters.
    pub title: String,
    /// Up to 72 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// `{"text": …}`: an interactive body or footer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InteractiveText {
    /// The text.
    pub text: String,
}

/// An interactive header: `{"type":"text","text"}` or `{"type":"image","image":{…}}` (video, document).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InteractiveHeader {
    /// A text header, up to 60 characters.
    Text {
        /// The text.
        text: String,
    },
    /// An image header (reply buttons only).
    Image {
        /// The image (id or link, no caption).
        image: MediaMessage,
    },
    /// A video header (reply buttons only).
    Video {
        /// The video (id or link, no caption).
        video: MediaMessage,
    },
    /// A document header (reply buttons only).
    Document {
        /// The document (id or link, optional filename, no caption).
        document: MediaMessage,
    },
}

/// Borrowing twin of the typed variants, so serializing adds the `type` tag without cloning.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum TypedRef<'a> {
    Button(&'a ReplyButtonsMessage),
    List(&'a ListMessage),
}

impl Serialize for InteractiveMessage {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Button(message) => TypedRef::Button(message).serialize(serializer),
            Self::List(message) => TypedRef::List(message).serialize(serializer),
            Self::Other(value) => value.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for InteractiveMessage {
    /// Routes on `type`. A malformed `button` or `list` is an error rather than falling back to
    /// [`InteractiveMessage::Other`], so its limits cannot be dodged.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        let kind = value.get("type").and_then(Value::as_str).map(str::to_owned);
        match kind.as_deref() {
            Some("button") => serde_json::from_value(value)
                .map(Self::Button)
                .map_err(D::Error::custom),
            Some("list") => serde_json::from_value(value)
                .map(Self::List)
                .map_err(D::Error::custom),
            Some(_) => Ok(Self::Other(value)),
            None => Err(D::Error::custom("interactive message without a 'type'")),
        }
    }
}

impl InteractiveMessage {
    /// Meta's interactive type: `button`, `list`, or the `type` of another kind.
    pub fn kind(&self) -> Option<&str> {
        match self {
            Self::Button(_) => Some("button"),
            Self::List(_) => Some("list"),
            Self::Other(value) => value.get("type").and_then(Value::as_str),
        }
    }

    /// Checks Meta's limits for reply buttons and lists; other types only need a `type`.
    pub(super) fn validate(&self) -> Result<(), ContentError> {
        match self {
            Self::Button(message) => message.validate(),
            Self::List(message) => message.validate(),
            // `button`/`list` here would serialize as one and read back as the typed variant.
            Self::Other(value) => match value.get("type").and_then(Value::as_str) {
                Some(kind) if value.is_object() && !matches!(kind, "" | "button" | "list") => {
                    Ok(())
                }
                _ => Err(ContentError::InteractiveType),
            },
        }
    }
}

impl ReplyButtonsMessage {
    fn validate(&self) -> Result<(), ContentError> {
        if let Some(header) = &self.header {
            header.validate()?;
        }
        check_text("interactive.body.text", &self.body.text, MAX_BUTTONS_BODY)?;
        if let Some(footer) = &self.footer {
            check_max("interactive.footer.text", &footer.text, MAX_FOOTER)?;
        }
        let buttons = &self.action.buttons;
        if buttons.is_empty() || buttons.len() > MAX_BUTTONS {
            return Err(ContentError::ButtonCount(buttons.len()));
        }
        let mut titles = HashSet::new();
        let mut ids = HashSet::new();
        for ReplyButton::Reply { reply } in buttons {
            check_text("button title", &reply.title, MAX_BUTTON_TITLE)?;
            check_text("button id", &reply.id, MAX_BUTTON_ID)?;
            if !titles.insert(reply.title.as_str()) {
                return Err(ContentError::DuplicateButtonTitle(reply.title.clone()));
            }
            if !ids.insert(reply.id.as_str()) {
                return Err(ContentError::DuplicateButtonId(reply.id.clone()));
            }
        }
        Ok(())
    }
}

impl ListMessage {
    fn validate(&self) -> Result<(), ContentError> {
        match &self.header {
            None => {}
            Some(InteractiveHeader::Text { text }) => {
                check_text("interactive.header.text", text, MAX_HEADER_TEXT)?
            }
            Some(other) => return Err(ContentError::HeaderNotAllowed(other.kind())),
        }
        check_text("interactive.body.text", &self.body.text, MAX_LIST_BODY)?;
        if let Some(footer) = &self.footer {
            check_max("interactive.footer.text", &footer.text, MAX_FOOTER)?;
        }
        check_text("list button", &self.action.button, MAX_LIST_BUTTON)?;
        let sections = &self.action.sections;
        if sections.is_empty() || sections.len() > MAX_SECTIONS {
            return Err(ContentError::SectionCount(sections.len()));
        }
        let rows: usize = sections.iter().map(|s| s.rows.len()).sum();
        if rows == 0 || rows > MAX_ROWS || sections.iter().any(|s| s.rows.is_empty()) {
            return Err(ContentError::RowCount(rows));
        }
        let mut ids = HashSet::new();
        for section in sections {
            match &section.title {
                Some(title) => check_max("section title", title, MAX_SECTION_TITLE)?,
                None if sections.len() > 1 => return Err(ContentError::SectionTitleRequired),
                None => {}
            }
            for row in &section.rows {
                check_text("row id", &row.id, MAX_ROW_ID)?;
                check_text("row title", &row.title, MAX_ROW_TITLE)?;
                if let Some(description) = &row.description {
                    check_max("row description", description, MAX_ROW_DESCRIPTION)?;
                }
                if !ids.insert(row.id.as_str()) {
                    return Err(ContentError::DuplicateRowId(row.id.clone()));
                }
            }
        }
        Ok(())
    }
}

impl InteractiveHeader {
    /// `text`, `image`, `video` or `document`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Text { .. } => "text",
            Self::Image { .. } => "image",
            Self::Video { .. } => "video",
            Self::Document { .. } => "document",
        }
    }

    fn validate(&self) -> Result<(), ContentError> {
        let (kind, media) = match self {
            Self::Text { text } => {
                return check_text("interactive.header.text", text, MAX_HEADER_TEXT)
            }
            Self::Image { image } => ("image", image),
            Self::Video { video } => ("video", video),
            Self::Document { document } => ("document", document),
        };
        if media.caption.is_some() {
            return Err(ContentError::CaptionNotAllowed { kind });
        }
        // A document header may name its file; the media rules say which kinds may.
        media.validate(kind)
    }
}

#[cfg(test)]
mod tests {
    use super::super::OutboundContent;
    use super::*;
    use serde_json::json;

    fn buttons(titles: &[&str]) -> OutboundContent {
        OutboundContent::Interactive {
            interactive: InteractiveMessage::Button(ReplyButtonsMessage {
                header: None,
                body: InteractiveText {
                    text: "Pick one".into(),
                },
                footer: None,
                action: ReplyButtonsAction {
                    buttons: titles
                        .iter()
                        .enumerate()
                        .map(|(i, title)| ReplyButton::Reply {
                            reply: ReplyButtonBody {
                                id: format!("b{i}"),
                                title: title.to_string(),
                            },
                        })
                        .collect(),
                },
            }),
        }
    }

    fn list(sections: Vec<ListSection>) -> ListMessage {
        ListMessage {
            header: None,
            body: InteractiveText {
                text: "Choose".into(),
            },
            footer: None,
            action: ListAction {
                button: "Options".into(),
                sections,
            },
        }
    }

    fn rows(prefix: &str, n: usize) -> Vec<ListRow> {
        (0..n)
            .map(|i| ListRow {
                id: format!("{prefix}{i}"),
                title: format!("Row {i}"),
                description: None,
            })
            .collect()
    }

    fn section(title: Option<&str>, rows: Vec<ListRow>) -> ListSection {
        ListSection {
            title: title.map(Into::into),
            rows,
        }
    }

    fn check(message: ListMessage) -> Result<(), ContentError> {
        OutboundContent::Interactive {
            interactive: InteractiveMessage::List(message),
        }
        .validate()
    }

    #[test]
    fn reply_buttons_are_one_to_three_with_unique_short_titles() {
        assert!(buttons(&["Yes", "No", "Maybe"]).validate().is_ok());
        assert_eq!(buttons(&[]).validate(), Err(ContentError::ButtonCount(0)));
        assert_eq!(
            buttons(&["a", "b", "c", "d"]).validate(),
            Err(ContentError::ButtonCount(4))
        );
        assert_eq!(
            buttons(&["Yes", "Yes"]).validate().unwrap_err().code(),
            "duplicate_button_title"
        );
        assert!(buttons(&[&"t".repeat(20)]).validate().is_ok());
        assert_eq!(
            buttons(&[&"t".repeat(21)]).validate(),
            Err(ContentError::TooLong {
                field: "button title",
                max: 20
            })
        );
    }

    #[test]
    fn reply_button_ids_bodies_and_footers_are_limited() {
        let mut content = buttons(&["Yes", "No"]);
        let OutboundContent::Interactive {
            interactive: InteractiveMessage::Button(message),
        } = &mut content
        else {
            unreachable!()
        };
        message.footer = Some(InteractiveText {
            text: "f".repeat(61),
        });
        assert_eq!(content.validate().unwrap_err().code(), "content_too_long");
        let OutboundContent::Interactive {
            interactive: InteractiveMessage::Button(message),
        } = &mut content
        else {
            unreachable!()
        };
        message.footer = None;
        message.body.text = "b".repeat(1025);
        assert_eq!(
            content.validate(),
            Err(ContentError::TooLong {
                field: "interactive.body.text",
                max: 1024
            })
        );
        let OutboundContent::Interactive {
            interactive: InteractiveMessage::Button(message),
        } = &mut content
        else {
            unreachable!()
        };
        message.body.text = "ok".into();
        let ReplyButton::Reply { reply } = &mut message.action.buttons[1];
        reply.id = "i".repeat(257);
        assert_eq!(content.validate().unwrap_err().code(), "content_too_long");
        let OutboundContent::Interactive {
            interactive: InteractiveMessage::Button(message),
        } = &mut content
        else {
            unreachable!()
        };
        let ReplyButton::Reply { reply } = &mut message.action.buttons[1];
        reply.id = "b0".into();
        assert_eq!(
            content.validate(),
            Err(ContentError::DuplicateButtonId("b0".into()))
        );
    }

    #[test]
    fn header_media_follows_media_rules_without_captions() {
        let mut message = match buttons(&["Yes"]) {
            OutboundContent::Interactive {
                interactive: InteractiveMessage::Button(message),
            } => message,
            _ => unreachable!(),
        };
        message.header = Some(InteractiveHeader::Image {
            image: MediaMessage {
                link: Some("https://example.com/a.png".into()),
                caption: Some("no".into()),
                ..Default::default()
            },
        });
        let content = |m: &ReplyButtonsMessage| OutboundContent::Interactive {
            interactive: InteractiveMessage::Button(m.clone()),
        };
        assert_eq!(
            content(&message).validate(),
            Err(ContentError::CaptionNotAllowed { kind: "image" })
        );
        message.header = Some(InteractiveHeader::Document {
            document: MediaMessage {
                id: Some("1".into()),
                filename: Some("menu.pdf".into()),
                ..Default::default()
            },
        });
        assert!(content(&message).validate().is_ok());
        message.header = Some(InteractiveHeader::Text {
            text: "h".repeat(61),
        });
        assert_eq!(
            content(&message).validate().unwrap_err().code(),
            "content_too_long"
        );
    }

    #[test]
    fn lists_hold_up_to_ten_rows_across_up_to_ten_sections() {
        assert!(check(list(vec![section(None, rows("a", 10))])).is_ok());
        assert!(check(list(vec![
            section(Some("A"), rows("a", 5)),
            section(Some("B"), rows("b", 5))
        ]))
        .is_ok());
        assert_eq!(
            check(list(vec![
                section(Some("A"), rows("a", 6)),
                section(Some("B"), rows("b", 5))
            ])),
            Err(ContentError::RowCount(11))
        );
        assert_eq!(check(list(vec![])), Err(ContentError::SectionCount(0)));
        let eleven = (0..11)
            .map(|i| section(Some("S"), rows(&format!("s{i}-"), 1)))
            .collect();
        assert_eq!(check(list(eleven)), Err(ContentError::SectionCount(11)));
        assert_eq!(
            check(list(vec![
                section(Some("A"), rows("a", 1)),
                section(Some("B"), vec![])
            ])),
            Err(ContentError::RowCount(1))
        );
        assert_eq!(
            check(list(vec![
                section(Some("A"), rows("a", 1)),
                section(None, rows("b", 1))
            ])),
            Err(ContentError::SectionTitleRequired)
        );
        assert_eq!(
            check(list(vec![
                section(Some("A"), rows("a", 1)),
                section(Some("B"), rows("a", 1))
            ])),
            Err(ContentError::DuplicateRowId("a0".into()))
        );
    }

    #[test]
    fn list_rows_titles_descriptions_ids_and_button_are_limited() {
        let with_row = |row: ListRow| check(list(vec![section(None, vec![row])]));
        let row = || ListRow {
            id: "r".into(),
            title: "t".repeat(24),
            description: Some("d".repeat(72)),
        };
        assert!(with_row(row()).is_ok());
        assert_eq!(
            with_row(ListRow {
                title: "t".repeat(25),
                ..row()
            }),
            Err(ContentError::TooLong {
                field: "row title",
                max: 24
            })
        );
        assert_eq!(
            with_row(ListRow {
                description: Some("d".repeat(73)),
                ..row()
            }),
            Err(ContentError::TooLong {
                field: "row description",
                max: 72
            })
        );
        assert!(with_row(ListRow {
            id: "i".repeat(200),
            ..row()
        })
        .is_ok());
        assert_eq!(
            with_row(ListRow {
                id: "i".repeat(201),
                ..row()
            }),
            Err(ContentError::TooLong {
                field: "row id",
                max: 200
            })
        );
        let mut message = list(vec![section(None, rows("a", 1))]);
        message.action.button = "b".repeat(21);
        assert_eq!(
            check(message),
            Err(ContentError::TooLong {
                field: "list button",
                max: 20
            })
        );
        let mut message = list(vec![section(Some(&"s".repeat(25)), rows("a", 1))]);
        assert_eq!(
            check(message.clone()).unwrap_err().code(),
            "content_too_long"
        );
        message.action.sections[0].title = None;
        message.header = Some(InteractiveHeader::Image {
            image: MediaMessage {
                id: Some("1".into()),
                ..Default::default()
            },
        });
        assert_eq!(check(message), Err(ContentError::HeaderNotAllowed("image")));
    }

    #[test]
    fn other_interactive_types_pass_through_with_their_type() {
        let cta = json!({
            "type": "cta_url",
            "body": {"text": "See our site"},
            "action": {"name": "cta_url", "parameters": {"display_text": "Open", "url": "https://example.com"}}
        });
        let message: InteractiveMessage = serde_json::from_value(cta.clone()).unwrap();
        assert_eq!(message, InteractiveMessage::Other(cta.clone()));
        assert_eq!(message.kind(), Some("cta_url"));
        assert_eq!(serde_json::to_value(&message).unwrap(), cta);
        let content = OutboundContent::Interactive {
            interactive: message,
        };
        assert!(content.validate().is_ok());
        let disguised = OutboundContent::Interactive {
            interactive: InteractiveMessage::Other(json!({"type": "button"})),
        };
        assert_eq!(disguised.validate(), Err(ContentError::InteractiveType));
    }

    #[test]
    fn a_malformed_button_message_does_not_fall_back_to_other() {
        let bad = json!({"type": "button", "body": {"text": "x"}});
        assert!(serde_json::from_value::<InteractiveMessage>(bad).is_err());
        assert!(serde_json::from_value::<InteractiveMessage>(json!({"body": {}})).is_err());
    }
}

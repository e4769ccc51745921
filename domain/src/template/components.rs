//! A template's components, typed, in Meta's JSON shape.
//!
//! `serde_json::to_value(&component)` is exactly what Meta's template API takes and returns
//! (`{"type":"BODY","text":"Hi {{1}}","example":{"body_text":[["Ann"]]}}`). Reading accepts the
//! component, header-format and button types in any case (`"body"`) and writes them upper-case;
//! every key Parley does not model (an `example`, an OTP button's `otp_type`, a whole
//! `CAROUSEL`) is kept as it came, so a template read from Meta is written back unchanged.

use super::status::TemplateCategory;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use std::fmt;

/// Meta's limit on a BODY text.
pub const MAX_BODY: usize = 1024;
/// Meta's limit on a TEXT header.
pub const MAX_HEADER: usize = 60;
/// Meta's limit on a FOOTER.
pub const MAX_FOOTER: usize = 60;
/// The limit on a button's label.
pub const MAX_BUTTON_TEXT: usize = 25;
/// Most buttons a template may have.
pub const MAX_BUTTONS: usize = 10;
const MAX_URL_BUTTONS: usize = 2;
const MAX_URL: usize = 2000;
const MAX_PHONE: usize = 20;
/// Highest placeholder position Parley accepts (far above what fits in 1024 characters).
const MAX_POSITION: u32 = 1000;

/// One component of a template.
#[derive(Debug, Clone, PartialEq)]
pub enum TemplateComponent {
    /// `{"type":"HEADER","format":…}`.
    Header(HeaderComponent),
    /// `{"type":"BODY","text":…}`.
    Body(BodyComponent),
    /// `{"type":"FOOTER","text":…}`.
    Footer(FooterComponent),
    /// `{"type":"BUTTONS","buttons":[…]}`.
    Buttons(ButtonsComponent),
    /// Any other type (`CAROUSEL`, `LIMITED_TIME_OFFER`, …), kept as Meta's JSON.
    Other(OtherComponent),
}

/// A header: text (with at most one variable) or media.
#[derive(Debug, Clone, PartialEq)]
pub struct HeaderComponent {
    /// `TEXT`, `IMAGE`, `VIDEO`, …
    pub format: HeaderFormat,
    /// The text of a `TEXT` header.
    pub text: Option<String>,
    /// Meta's `example` (`header_text`, `header_handle`), as given.
    pub example: Option<Value>,
    /// Keys Parley does not model.
    pub extra: Map<String, Value>,
}

/// The body: the message text with positional variables `{{1}}`, `{{2}}`, …
#[derive(Debug, Clone, PartialEq)]
pub struct BodyComponent {
    /// The text; only authentication templates (whose body Meta writes) have none.
    pub text: Option<String>,
    /// Meta's `example` (`body_text`), as given.
    pub example: Option<Value>,
    /// Keys Parley does not model (`add_security_recommendation`, …).
    pub extra: Map<String, Value>,
}

/// The footer: a short fixed text.
#[derive(Debug, Clone, PartialEq)]
pub struct FooterComponent {
    /// The text; authentication templates have none (`code_expiration_minutes` instead).
    pub text: Option<String>,
    /// Keys Parley does not model.
    pub extra: Map<String, Value>,
}

/// The buttons.
#[derive(Debug, Clone, PartialEq)]
pub struct ButtonsComponent {
    /// In Meta's order; a send addresses them by `index` in this list.
    pub buttons: Vec<TemplateButton>,
    /// Keys Parley does not model.
    pub extra: Map<String, Value>,
}

/// A component type Parley does not model, kept whole.
#[derive(Debug, Clone, PartialEq)]
pub struct OtherComponent {
    /// Meta's type, upper-case (`CAROUSEL`).
    pub kind: String,
    /// Every other key, as given.
    pub fields: Map<String, Value>,
}

/// A header's format.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HeaderFormat {
    /// A text header (at most one variable).
    Text,
    /// An image, given at send time.
    Image,
    /// A video, given at send time.
    Video,
    /// A GIF, given at send time (sent as a video).
    Gif,
    /// A document, given at send time.
    Document,
    /// A location, given at send time.
    Location,
    /// A catalog product.
    Product,
    /// A format Parley does not know, upper-case.
    Other(String),
}

/// One button of a `BUTTONS` component.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateButton {
    /// `QUICK_REPLY`, `URL`, …
    pub kind: ButtonKind,
    /// The label.
    pub text: Option<String>,
    /// A `URL` button's address; may end in `{{1}}`, filled at send time.
    pub url: Option<String>,
    /// A `PHONE_NUMBER` button's number.
    pub phone_number: Option<String>,
    /// Meta's `example`, as given (a URL button's sample URL, a `COPY_CODE` sample code).
    pub example: Option<Value>,
    /// Keys Parley does not model (`otp_type`, `flow_id`, …).
    pub extra: Map<String, Value>,
}

/// A button's type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ButtonKind {
    /// Sends its label back as a reply.
    QuickReply,
    /// Opens a URL (static, or with one variable at the end).
    Url,
    /// Calls a number.
    PhoneNumber,
    /// Copies a code (the code is given at send time).
    CopyCode,
    /// An authentication template's one-time-password button.
    Otp,
    /// Opens a WhatsApp Flow.
    Flow,
    /// A multi-product message.
    Mpm,
    /// Opens the catalog.
    Catalog,
    /// Starts a WhatsApp call.
    VoiceCall,
    /// A type Parley does not know, upper-case.
    Other(String),
}

macro_rules! wire_enum {
    ($ty:ident { $($variant:ident => $wire:literal),* $(,)? }) => {
        impl $ty {
            /// Meta's upper-case name.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $wire,)*
                    Self::Other(other) => other,
                }
            }

            /// Meta's name in any case; an unknown one is kept (upper-cased).
            pub fn parse(raw: &str) -> Self {
                let upper = raw.trim().to_ascii_uppercase();
                match upper.as_str() {
                    $($wire => Self::$variant,)*
                    _ => Self::Other(upper),
                }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                Ok(Self::parse(&String::deserialize(deserializer)?))
            }
        }
    };
}

wire_enum!(HeaderFormat {
    Text => "TEXT",
    Image => "IMAGE",
    Video => "VIDEO",
    Gif => "GIF",
    Document => "DOCUMENT",
    Location => "LOCATION",
    Product => "PRODUCT",
});

wire_enum!(ButtonKind {
    QuickReply => "QUICK_REPLY",
    Url => "URL",
    PhoneNumber => "PHONE_NUMBER",
    CopyCode => "COPY_CODE",
    Otp => "OTP",
    Flow => "FLOW",
    Mpm => "MPM",
    Catalog => "CATALOG",
    VoiceCall => "VOICE_CALL",
});

impl HeaderFormat {
    /// The parameter type a send gives for this header (`image`, `video`, `document`,
    /// `location`); `None` for text, product and unknown formats.
    pub fn media_parameter(&self) -> Option<&'static str> {
        match self {
            Self::Image => Some("image"),
            Self::Video | Self::Gif => Some("video"),
            Self::Document => Some("document"),
            Self::Location => Some("location"),
            _ => None,
        }
    }
}

impl ButtonKind {
    /// The `sub_type` a send uses for this button (`quick_reply`, `url`, …); an OTP button is
    /// addressed as `url`.
    pub fn sub_type(&self) -> String {
        match self {
            Self::Otp => "url".to_string(),
            other => other.as_str().to_ascii_lowercase(),
        }
    }
}

// ---- construction ----

impl TemplateComponent {
    /// A `BODY` with this text.
    pub fn body(text: impl Into<String>) -> Self {
        Self::Body(BodyComponent {
            text: Some(text.into()),
            example: None,
            extra: Map::new(),
        })
    }

    /// A `TEXT` header.
    pub fn text_header(text: impl Into<String>) -> Self {
        Self::Header(HeaderComponent {
            format: HeaderFormat::Text,
            text: Some(text.into()),
            example: None,
            extra: Map::new(),
        })
    }

    /// A `FOOTER` with this text.
    pub fn footer(text: impl Into<String>) -> Self {
        Self::Footer(FooterComponent {
            text: Some(text.into()),
            extra: Map::new(),
        })
    }

    /// A `BUTTONS` component.
    pub fn buttons(buttons: Vec<TemplateButton>) -> Self {
        Self::Buttons(ButtonsComponent {
            buttons,
            extra: Map::new(),
        })
    }

    /// Meta's type: `HEADER`, `BODY`, `FOOTER`, `BUTTONS` or the other type's name.
    pub fn kind(&self) -> &str {
        match self {
            Self::Header(_) => "HEADER",
            Self::Body(_) => "BODY",
            Self::Footer(_) => "FOOTER",
            Self::Buttons(_) => "BUTTONS",
            Self::Other(other) => &other.kind,
        }
    }

    /// The component's text, if it has one.
    pub fn text(&self) -> Option<&str> {
        match self {
            Self::Header(h) => h.text.as_deref(),
            Self::Body(b) => b.text.as_deref(),
            Self::Footer(f) => f.text.as_deref(),
            Self::Buttons(_) | Self::Other(_) => None,
        }
    }
}

impl TemplateButton {
    fn new(kind: ButtonKind, text: impl Into<String>) -> Self {
        Self {
            kind,
            text: Some(text.into()),
            url: None,
            phone_number: None,
            example: None,
            extra: Map::new(),
        }
    }

    /// A `QUICK_REPLY` button.
    pub fn quick_reply(text: impl Into<String>) -> Self {
        Self::new(ButtonKind::QuickReply, text)
    }

    /// A `URL` button (the URL may end in `{{1}}`).
    pub fn url(text: impl Into<String>, url: impl Into<String>) -> Self {
        Self {
            url: Some(url.into()),
            ..Self::new(ButtonKind::Url, text)
        }
    }

    /// A `PHONE_NUMBER` button.
    pub fn phone_number(text: impl Into<String>, phone_number: impl Into<String>) -> Self {
        Self {
            phone_number: Some(phone_number.into()),
            ..Self::new(ButtonKind::PhoneNumber, text)
        }
    }

    /// A `COPY_CODE` button with a sample code.
    pub fn copy_code(example: impl Into<String>) -> Self {
        Self {
            kind: ButtonKind::CopyCode,
            text: None,
            url: None,
            phone_number: None,
            example: Some(Value::String(example.into())),
            extra: Map::new(),
        }
    }

    /// Whether a send must give this button a parameter: a URL with a variable, a copy code,
    /// a one-time password.
    pub fn needs_parameter(&self) -> bool {
        match self.kind {
            ButtonKind::Url => self.url.as_deref().is_some_and(|u| u.contains("{{")),
            ButtonKind::CopyCode | ButtonKind::Otp => true,
            _ => false,
        }
    }

    /// Whether a send may give this button a parameter at all (a quick reply's payload, a
    /// flow's action, … may be given; a phone number or a static URL takes none).
    pub fn takes_parameter(&self) -> bool {
        match self.kind {
            ButtonKind::PhoneNumber | ButtonKind::VoiceCall => false,
            ButtonKind::Url => self.needs_parameter(),
            _ => true,
        }
    }
}

// ---- Meta's JSON ----

fn take_string(map: &mut Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match map.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("'{key}' must be a string")),
    }
}

fn take_example(map: &mut Map<String, Value>) -> Option<Value> {
    map.remove("example").filter(|v| !v.is_null())
}

fn take_type(map: &mut Map<String, Value>, what: &str) -> Result<String, String> {
    match take_string(map, "type")? {
        Some(kind) if !kind.trim().is_empty() => Ok(kind.trim().to_ascii_uppercase()),
        _ => Err(format!("{what} needs a 'type'")),
    }
}

fn put(map: &mut Map<String, Value>, key: &str, value: &Option<String>) {
    if let Some(value) = value {
        map.insert(key.to_string(), Value::String(value.clone()));
    }
}

impl TemplateComponent {
    /// Reads Meta's JSON object; the error says what is wrong.
    pub fn from_json(mut map: Map<String, Value>) -> Result<Self, String> {
        let kind = take_type(&mut map, "a component")?;
        Ok(match kind.as_str() {
            "HEADER" => {
                let text = take_string(&mut map, "text")?;
                let format = match take_string(&mut map, "format")? {
                    Some(format) => HeaderFormat::parse(&format),
                    None if text.is_some() => HeaderFormat::Text,
                    None => return Err("a HEADER needs a 'format' (TEXT, IMAGE, …)".into()),
                };
                Self::Header(HeaderComponent {
                    format,
                    text,
                    example: take_example(&mut map),
                    extra: map,
                })
            }
            "BODY" => Self::Body(BodyComponent {
                text: take_string(&mut map, "text")?,
                example: take_example(&mut map),
                extra: map,
            }),
            "FOOTER" => Self::Footer(FooterComponent {
                text: take_string(&mut map, "text")?,
                extra: map,
            }),
            "BUTTONS" => {
                let buttons = match map.remove("buttons") {
                    Some(Value::Array(buttons)) => buttons
                        .into_iter()
                        .enumerate()
                        .map(|(i, button)| match button {
                            Value::Object(button) => TemplateButton::from_json(button)
                                .map_err(|e| format!("buttons[{i}]: {e}")),
                            _ => Err(format!("buttons[{i}] must be an object")),
                        })
                        .collect::<Result<Vec<_>, _>>()?,
                    _ => return Err("BUTTONS needs a 'buttons' array".into()),
                };
                Self::Buttons(ButtonsComponent {
                    buttons,
                    extra: map,
                })
            }
            _ => Self::Other(OtherComponent { kind, fields: map }),
        })
    }

    /// Meta's JSON object.
    pub fn to_json(&self) -> Map<String, Value> {
        let (kind, mut map) = match self {
            Self::Header(h) => {
                let mut map = h.extra.clone();
                map.insert("format".into(), Value::String(h.format.as_str().into()));
                put(&mut map, "text", &h.text);
                if let Some(example) = &h.example {
                    map.insert("example".into(), example.clone());
                }
                ("HEADER", map)
            }
            Self::Body(b) => {
                let mut map = b.extra.clone();
                put(&mut map, "text", &b.text);
                if let Some(example) = &b.example {
                    map.insert("example".into(), example.clone());
                }
                ("BODY", map)
            }
            Self::Footer(f) => {
                let mut map = f.extra.clone();
                put(&mut map, "text", &f.text);
                ("FOOTER", map)
            }
            Self::Buttons(b) => {
                let mut map = b.extra.clone();
                map.insert(
                    "buttons".into(),
                    Value::Array(
                        b.buttons
                            .iter()
                            .map(|button| Value::Object(button.to_json()))
                            .collect(),
                    ),
                );
                ("BUTTONS", map)
            }
            Self::Other(o) => (o.kind.as_str(), o.fields.clone()),
        };
        map.insert("type".into(), Value::String(kind.to_string()));
        map
    }
}

impl TemplateButton {
    /// Reads Meta's JSON object of one button.
    pub fn from_json(mut map: Map<String, Value>) -> Result<Self, String> {
        let kind = ButtonKind::parse(&take_type(&mut map, "a button")?);
        Ok(Self {
            kind,
            text: take_string(&mut map, "text")?,
            url: take_string(&mut map, "url")?,
            phone_number: take_string(&mut map, "phone_number")?,
            example: take_example(&mut map),
            extra: map,
        })
    }

    /// Meta's JSON object of the button.
    pub fn to_json(&self) -> Map<String, Value> {
        let mut map = self.extra.clone();
        map.insert("type".into(), Value::String(self.kind.as_str().into()));
        put(&mut map, "text", &self.text);
        put(&mut map, "url", &self.url);
        put(&mut map, "phone_number", &self.phone_number);
        if let Some(example) = &self.example {
            map.insert("example".into(), example.clone());
        }
        map
    }
}

impl Serialize for TemplateComponent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for TemplateComponent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = Map::<String, Value>::deserialize(deserializer)?;
        Self::from_json(map).map_err(D::Error::custom)
    }
}

impl Serialize for TemplateButton {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for TemplateButton {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = Map::<String, Value>::deserialize(deserializer)?;
        Self::from_json(map).map_err(D::Error::custom)
    }
}

// ---- placeholders ----

/// The distinct positions of the `{{n}}` placeholders in `text`, ascending. Named placeholders
/// (`{{customer_name}}`) are refused: Parley's templates are positional, and variables are named
/// through their metadata instead. A lone `{{` with no closing `}}` is plain text.
pub fn placeholders(text: &str) -> Result<Vec<u32>, String> {
    let mut positions = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        let inner = &after[..end];
        rest = &after[end + 2..];
        let position = if !inner.is_empty()
            && inner.bytes().all(|b| b.is_ascii_digit())
            && !inner.starts_with('0')
        {
            inner.parse::<u32>().ok().filter(|p| *p <= MAX_POSITION)
        } else {
            None
        };
        match position {
            Some(position) => positions.push(position),
            None => {
                let named = inner
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                    && inner.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                return Err(if named {
                    format!(
                        "named parameter {{{{{inner}}}}} is not supported: use positional {{{{1}}}}, {{{{2}}}}, … and name them in variables"
                    )
                } else {
                    format!("'{{{{{inner}}}}}' is not a placeholder: use {{{{1}}}}, {{{{2}}}}, …")
                });
            }
        }
    }
    positions.sort_unstable();
    positions.dedup();
    Ok(positions)
}

/// [`placeholders`], which must moreover run `{{1}}` to `{{n}}` without gaps.
fn contiguous_placeholders(text: &str) -> Result<Vec<u32>, String> {
    let positions = placeholders(text)?;
    if positions
        .iter()
        .zip(1..)
        .any(|(p, expected)| *p != expected)
    {
        let found: Vec<String> = positions.iter().map(|p| format!("{{{{{p}}}}}")).collect();
        return Err(format!(
            "variables must be numbered {{{{1}}}} to {{{{{}}}}} without gaps; found {}",
            positions.len(),
            found.join(", ")
        ));
    }
    Ok(positions)
}

/// The placeholders a template's components have, as a send must fill them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placeholders {
    /// Positions in the `TEXT` header (`[]` or `[1]`).
    pub header: Vec<u32>,
    /// Positions in the body, `1..=n`.
    pub body: Vec<u32>,
}

impl Placeholders {
    /// The placeholders of `components`. A body without text (an authentication template's,
    /// which Meta writes) has one: the code.
    pub fn of(components: &[TemplateComponent]) -> Self {
        let mut found = Self::default();
        for component in components {
            match component {
                TemplateComponent::Header(h) if h.format == HeaderFormat::Text => {
                    found.header = h
                        .text
                        .as_deref()
                        .map(|t| placeholders(t).unwrap_or_default())
                        .unwrap_or_default();
                }
                TemplateComponent::Body(b) => {
                    found.body = match b.text.as_deref() {
                        Some(text) => placeholders(text).unwrap_or_default(),
                        None => vec![1],
                    };
                }
                _ => {}
            }
        }
        found
    }
}

// ---- validation ----

/// How strictly components are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rules {
    /// Components written in Parley: Meta's documented rules and limits.
    Create,
    /// Components Meta already has (imports): only what Parley's own logic relies on
    /// (one BODY, at most one of each other, positional variables without gaps).
    Import,
}

fn count_chars(text: &str) -> usize {
    text.chars().count()
}

/// Checks `components` (of a template in `category`); the error is the reason, naming the
/// component.
pub fn validate_components(
    components: &[TemplateComponent],
    category: TemplateCategory,
    rules: Rules,
) -> Result<(), String> {
    let strict = rules == Rules::Create;
    let authentication = category == TemplateCategory::Authentication;
    let mut seen: Vec<&str> = Vec::new();
    for (i, component) in components.iter().enumerate() {
        let kind = component.kind();
        let at = format!("components[{i}] ({kind})");
        if matches!(kind, "HEADER" | "BODY" | "FOOTER" | "BUTTONS") {
            if seen.contains(&kind) {
                return Err(format!("{at}: a template has at most one {kind}"));
            }
            seen.push(kind);
        }
        match component {
            TemplateComponent::Header(h) => {
                validate_header(h, strict).map_err(|e| format!("{at}: {e}"))?
            }
            TemplateComponent::Body(b) => match b.text.as_deref() {
                Some(text) => {
                    contiguous_placeholders(text).map_err(|e| format!("{at}: {e}"))?;
                    if strict && text.trim().is_empty() {
                        return Err(format!("{at}: text must not be empty"));
                    }
                    if strict && count_chars(text) > MAX_BODY {
                        return Err(format!(
                            "{at}: text has {} characters; at most {MAX_BODY}",
                            count_chars(text)
                        ));
                    }
                }
                None if strict && !authentication => {
                    return Err(format!("{at}: needs a text"));
                }
                None => {}
            },
            TemplateComponent::Footer(f) => match f.text.as_deref() {
                Some(text) if strict => {
                    if text.trim().is_empty() {
                        return Err(format!("{at}: text must not be empty"));
                    }
                    if count_chars(text) > MAX_FOOTER {
                        return Err(format!(
                            "{at}: text has {} characters; at most {MAX_FOOTER}",
                            count_chars(text)
                        ));
                    }
                    if !placeholders(text)
                        .map_err(|e| format!("{at}: {e}"))?
                        .is_empty()
                    {
                        return Err(format!("{at}: a footer cannot have variables"));
                    }
                }
                None if strict && !authentication => {
                    return Err(format!("{at}: needs a text"));
                }
                _ => {}
            },
            TemplateComponent::Buttons(b) => {
                validate_buttons(&b.buttons, strict).map_err(|e| format!("{at}: {e}"))?
            }
            TemplateComponent::Other(_) => {}
        }
    }
    if !seen.contains(&"BODY") {
        return Err("components: a template needs exactly one BODY".into());
    }
    Ok(())
}

fn validate_header(h: &HeaderComponent, strict: bool) -> Result<(), String> {
    if h.format == HeaderFormat::Text {
        match h.text.as_deref() {
            Some(text) => {
                let positions = contiguous_placeholders(text)?;
                if positions.len() > 1 {
                    return Err("a TEXT header has at most one variable, {{1}}".into());
                }
                if strict && text.trim().is_empty() {
                    return Err("text must not be empty".into());
                }
                if strict && count_chars(text) > MAX_HEADER {
                    return Err(format!(
                        "text has {} characters; at most {MAX_HEADER}",
                        count_chars(text)
                    ));
                }
            }
            None if strict => return Err("a TEXT header needs a text".into()),
            None => {}
        }
    } else if strict {
        if h.text.is_some() {
            return Err(format!("only a TEXT header has a text, not {}", h.format));
        }
        let needs_handle = matches!(
            h.format,
            HeaderFormat::Image | HeaderFormat::Video | HeaderFormat::Gif | HeaderFormat::Document
        );
        let has_handle = h
            .example
            .as_ref()
            .and_then(|e| e.get("header_handle"))
            .is_some_and(|handle| !handle.is_null());
        if needs_handle && !has_handle {
            return Err(format!(
                "a {} header needs example.header_handle (a sample uploaded with Meta's Resumable Upload API)",
                h.format
            ));
        }
    }
    Ok(())
}

fn validate_buttons(buttons: &[TemplateButton], strict: bool) -> Result<(), String> {
    if strict && !(1..=MAX_BUTTONS).contains(&buttons.len()) {
        return Err(format!(
            "has {} buttons; 1 to {MAX_BUTTONS} are allowed",
            buttons.len()
        ));
    }
    let count = |kind: ButtonKind| buttons.iter().filter(|b| b.kind == kind).count();
    if strict {
        for (kind, max) in [
            (ButtonKind::Url, MAX_URL_BUTTONS),
            (ButtonKind::PhoneNumber, 1),
            (ButtonKind::CopyCode, 1),
        ] {
            if count(kind.clone()) > max {
                return Err(format!("at most {max} {kind} button(s)"));
            }
        }
    }
    for (i, button) in buttons.iter().enumerate() {
        let at = format!("buttons[{i}] ({})", button.kind);
        if let Some(url) = &button.url {
            let positions = contiguous_placeholders(url).map_err(|e| format!("{at}: {e}"))?;
            if positions.len() > 1 {
                return Err(format!("{at}: a URL has at most one variable, {{{{1}}}}"));
            }
        }
        if !strict {
            continue;
        }
        if let Some(text) = &button.text {
            if text.trim().is_empty() {
                return Err(format!("{at}: text must not be empty"));
            }
            if count_chars(text) > MAX_BUTTON_TEXT {
                return Err(format!(
                    "{at}: text has {} characters; at most {MAX_BUTTON_TEXT}",
                    count_chars(text)
                ));
            }
            if text.contains("{{") {
                return Err(format!("{at}: a button's text cannot have variables"));
            }
        }
        match button.kind {
            ButtonKind::QuickReply | ButtonKind::Url | ButtonKind::PhoneNumber
                if button.text.is_none() =>
            {
                return Err(format!("{at}: needs a text"));
            }
            ButtonKind::Url => {
                let url = button.url.as_deref().unwrap_or_default();
                let lower = url.to_ascii_lowercase();
                if !(lower.starts_with("https://") || lower.starts_with("http://"))
                    || url.chars().any(char::is_whitespace)
                    || count_chars(url) > MAX_URL
                {
                    return Err(format!(
                        "{at}: needs an http(s) 'url' of at most {MAX_URL} characters"
                    ));
                }
                if url.contains("{{") && !url.ends_with("{{1}}") {
                    return Err(format!(
                        "{at}: the URL's variable {{{{1}}}} must come at its end"
                    ));
                }
            }
            ButtonKind::PhoneNumber => {
                let phone = button.phone_number.as_deref().unwrap_or_default();
                let digits = phone.strip_prefix('+').unwrap_or(phone);
                if digits.is_empty()
                    || digits.len() > MAX_PHONE
                    || !digits.bytes().all(|b| b.is_ascii_digit())
                {
                    return Err(format!(
                        "{at}: needs a 'phone_number' of digits (with country code)"
                    ));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

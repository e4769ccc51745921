//! Validation of the body of `POST /{phone_number_id}/messages` (README §1): which call it is,
//! and the checks Meta answers synchronously with code 100.
//!
//! The checks are Meta's documented required fields and length limits. They stay shallow on
//! purpose (no template or media look-ups): the sandbox should refuse what Meta certainly
//! refuses, and accept everything Parley may legitimately send.

use serde_json::Value;

use crate::ids::wa_id_of;
use crate::state::json_text;

/// Meta's message types (README §1.1).
pub const MESSAGE_TYPES: [&str; 11] = [
    "text",
    "image",
    "audio",
    "document",
    "video",
    "sticker",
    "location",
    "contacts",
    "interactive",
    "template",
    "reaction",
];

const MEDIA_TYPES: [&str; 5] = ["image", "audio", "document", "video", "sticker"];

/// What a body to the messages endpoint asks for.
#[derive(Debug, PartialEq)]
pub(crate) enum Call {
    /// A send, validated.
    Send(ValidSend),
    /// A mark-as-read, optionally with a typing indicator.
    MarkRead {
        message_id: String,
        typing_indicator: bool,
    },
}

/// The parts of a valid send the sandbox needs.
#[derive(Debug, PartialEq)]
pub(crate) struct ValidSend {
    pub to: String,
    pub wa_id: String,
    pub kind: String,
    pub biz_opaque_callback_data: Option<String>,
}

/// Classifies and validates a body; the error is the `error_data.details` of a code-100 answer.
pub(crate) fn classify(body: &Value) -> Result<Call, String> {
    let Value::Object(fields) = body else {
        return Err("The request body must be a JSON object.".to_string());
    };
    match fields.get("messaging_product") {
        None => return Err("The parameter messaging_product is required.".to_string()),
        Some(Value::String(p)) if p == "whatsapp" => {}
        Some(other) => {
            return Err(format!(
                "Param messaging_product must be one of {{WHATSAPP}} - got {other}."
            ))
        }
    }

    // Meta tells a mark-read from a send by `status: "read"` (README §1.4).
    if let Some(status) = fields.get("status") {
        if status != "read" {
            return Err(format!(
                "Param status must be one of {{READ}} - got {status}."
            ));
        }
        let message_id = required_str(body, &["message_id"])?;
        return Ok(Call::MarkRead {
            message_id: message_id.to_string(),
            typing_indicator: fields.get("typing_indicator").is_some(),
        });
    }

    let to = match fields.get("to") {
        None | Some(Value::Null) => return Err("The parameter to is required.".to_string()),
        // Meta accepts `to` as a JSON number too (README §1.1, RUBY recordings).
        Some(v @ (Value::String(_) | Value::Number(_))) => json_text(v),
        Some(_) => return Err("Param to must be a string.".to_string()),
    };
    let group = match fields.get("recipient_type") {
        None => false,
        Some(Value::String(t)) if t == "individual" => false,
        Some(Value::String(t)) if t == "group" => true,
        Some(other) => {
            return Err(format!(
                "Param recipient_type must be one of {{INDIVIDUAL, GROUP}} - got {other}."
            ))
        }
    };
    let wa_id = if group {
        to.trim().to_string()
    } else {
        wa_id_of(&to)
    };
    if wa_id.is_empty() {
        return Err(format!(
            "Invalid parameter to: {to:?} is not a phone number."
        ));
    }

    let kind = match fields.get("type") {
        None => return Err("The parameter type is required.".to_string()),
        Some(Value::String(t)) if MESSAGE_TYPES.contains(&t.as_str()) => t.clone(),
        Some(other) => {
            return Err(format!(
                "Param type must be one of {{AUDIO, CONTACTS, DOCUMENT, IMAGE, INTERACTIVE, LOCATION, REACTION, STICKER, TEMPLATE, TEXT, VIDEO}} - got {other}."
            ))
        }
    };
    let Some(object) = fields.get(&kind).filter(|v| !v.is_null()) else {
        return Err(format!("The parameter {kind} is required."));
    };
    validate_object(&kind, object)?;

    let biz_opaque_callback_data = match fields.get("biz_opaque_callback_data") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.chars().count() <= 512 => Some(s.clone()),
        Some(Value::String(_)) => {
            return Err(
                "Param biz_opaque_callback_data must be at most 512 characters long.".to_string(),
            )
        }
        Some(_) => return Err("Param biz_opaque_callback_data must be a string.".to_string()),
    };
    if let Some(context) = fields.get("context") {
        required_str(context, &["message_id"])
            .map_err(|_| "The parameter context['message_id'] is required.".to_string())?;
    }

    Ok(Call::Send(ValidSend {
        to,
        wa_id,
        kind,
        biz_opaque_callback_data,
    }))
}

/// The per-type checks: required fields and Meta's documented length limits.
fn validate_object(kind: &str, object: &Value) -> Result<(), String> {
    match kind {
        "text" => {
            let body =
                required_str(object, &["body"]).map_err(|_| param_required("text", "body"))?;
            max_chars("text['body']", body, 4096)
        }
        media if MEDIA_TYPES.contains(&media) => {
            let has = |key: &str| {
                object
                    .get(key)
                    .and_then(Value::as_str)
                    .is_some_and(|s| !s.is_empty())
            };
            if !has("id") && !has("link") {
                return Err(format!(
                    "The parameter {media}['id'] or {media}['link'] is required."
                ));
            }
            match object.get("caption").and_then(Value::as_str) {
                Some(_) if matches!(media, "audio" | "sticker") => Err(format!(
                    "Param {media}['caption'] is not supported for {media} messages."
                )),
                Some(caption) => max_chars(&format!("{media}['caption']"), caption, 1024),
                None => Ok(()),
            }
        }
        "location" => {
            for key in ["latitude", "longitude"] {
                match object.get(key) {
                    Some(Value::Number(_)) => {}
                    Some(Value::String(s)) if s.parse::<f64>().is_ok() => {}
                    _ => return Err(param_required("location", key)),
                }
            }
            Ok(())
        }
        "contacts" => match object {
            Value::Array(items) if !items.is_empty() => Ok(()),
            _ => Err("Param contacts must be a non-empty array.".to_string()),
        },
        "reaction" => {
            required_str(object, &["message_id"])
                .map_err(|_| param_required("reaction", "message_id"))?;
            match object.get("emoji") {
                Some(Value::String(_)) => Ok(()),
                _ => Err(param_required("reaction", "emoji")),
            }
        }
        "interactive" => {
            required_str(object, &["type"]).map_err(|_| param_required("interactive", "type"))?;
            match object.get("action") {
                Some(Value::Object(_)) => Ok(()),
                _ => Err(param_required("interactive", "action")),
            }
        }
        "template" => {
            required_str(object, &["name"]).map_err(|_| param_required("template", "name"))?;
            required_str(object, &["language", "code"]).map_err(|_| {
                "The parameter template['language']['code'] is required.".to_string()
            })?;
            Ok(())
        }
        _ => Ok(()),
    }
}

/// A non-empty string at `path`, or an error naming it.
fn required_str<'a>(value: &'a Value, path: &[&str]) -> Result<&'a str, String> {
    let mut current = value;
    for key in path {
        current = current
            .get(key)
            .ok_or_else(|| format!("The parameter {} is required.", path.join(".")))?;
    }
    match current.as_str() {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(format!("The parameter {} is required.", path.join("."))),
    }
}

fn param_required(object: &str, key: &str) -> String {
    format!("The parameter {object}['{key}'] is required.")
}

fn max_chars(name: &str, value: &str, max: usize) -> Result<(), String> {
    if value.chars().count() > max {
        Err(format!(
            "Param {name} must be at most {max} characters long."
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn details(body: Value) -> String {
        classify(&body).expect_err("should be refused")
    }

    #[test]
    fn accepts_a_numeric_to() {
        let call = classify(&json!({"messaging_product":"whatsapp","to":13437772910u64,"type":"text","text":{"body":"hola"}}))
            .unwrap();
        let Call::Send(send) = call else {
            panic!("not a send")
        };
        assert_eq!(send.to, "13437772910");
        assert_eq!(send.wa_id, "13437772910");
    }

    #[test]
    fn refuses_what_meta_refuses() {
        assert!(details(json!({"to":"1","type":"text","text":{"body":"x"}}))
            .contains("messaging_product"));
        assert!(details(
            json!({"messaging_product":"sms","to":"1","type":"text","text":{"body":"x"}})
        )
        .contains("messaging_product"));
        assert!(
            details(json!({"messaging_product":"whatsapp","type":"text","text":{"body":"x"}}))
                .contains("to")
        );
        assert!(
            details(json!({"messaging_product":"whatsapp","to":"1","type":"fax"})).contains("type")
        );
        assert!(
            details(json!({"messaging_product":"whatsapp","to":"1","type":"image"}))
                .contains("image")
        );
        assert!(details(
            json!({"messaging_product":"whatsapp","to":"1","type":"image","image":{}})
        )
        .contains("link"));
        let long = "x".repeat(4097);
        assert!(details(
            json!({"messaging_product":"whatsapp","to":"1","type":"text","text":{"body":long}})
        )
        .contains("4096"));
        assert!(details(
            json!({"messaging_product":"whatsapp","to":"+","type":"text","text":{"body":"x"}})
        )
        .contains("phone number"));
    }

    #[test]
    fn tells_mark_read_from_send() {
        let call = classify(&json!({"messaging_product":"whatsapp","status":"read","message_id":"wamid.X","typing_indicator":{"type":"text"}})).unwrap();
        assert_eq!(
            call,
            Call::MarkRead {
                message_id: "wamid.X".into(),
                typing_indicator: true
            }
        );
    }
}

//! Phone numbers (README §4): quality rating, messaging-limit tier and throughput (changed by
//! `POST /_sandbox/phone-quality`), registration (request and verify a code, register with a
//! PIN) and the business profile with Meta's field limits.
//!
//! The sandbox knows every phone number id it is asked about: a number's state is created with
//! defaults (GREEN, `TIER_250`, `STANDARD`, the profile of `business_profile_response.json`)
//! the first time it is needed.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::meta_error::{GraphFailure, PIN_MISMATCH_CODE, VERIFY_CODE_ERROR_CODE};
use crate::state::SandboxState;
use crate::templates::field_list;

/// The verification code every `request_code` "sends": the sandbox texts nobody, so
/// `verify_code` accepts exactly this code.
pub const SANDBOX_VERIFICATION_CODE: &str = "123456";

/// The `verified_name` of every sandbox number.
pub const DEFAULT_VERIFIED_NAME: &str = "Sandbox Business";

/// Meta's messaging-limit tiers (README §4, §5.7).
pub const MESSAGING_LIMIT_TIERS: [&str; 8] = [
    "TIER_50",
    "TIER_250",
    "TIER_1K",
    "TIER_2K",
    "TIER_10K",
    "TIER_100K",
    "TIER_UNLIMITED",
    "TIER_NOT_SET",
];

/// Meta's quality ratings of a phone number.
pub const QUALITY_RATINGS: [&str; 5] = ["GREEN", "YELLOW", "RED", "NA", "UNKNOWN"];

/// One phone number as the sandbox keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SandboxPhoneNumber {
    /// `GREEN`, `YELLOW`, `RED`, …
    pub quality_rating: String,
    /// `TIER_250`, `TIER_2K`, …
    pub messaging_limit_tier: String,
    /// `STANDARD`, or `HIGH` after a `THROUGHPUT_UPGRADE`.
    pub throughput_level: String,
    /// Whether `request_code` was called since the last successful verification.
    pub code_requested: bool,
    /// `code_verification_status`: `VERIFIED` after a successful `verify_code`.
    pub code_verification_status: String,
    /// Whether `register` was called (and `deregister` not since).
    pub registered: bool,
    /// The two-step verification PIN set by the first `register`.
    pub pin: Option<String>,
    /// The business profile.
    pub profile: BusinessProfile,
}

impl Default for SandboxPhoneNumber {
    fn default() -> Self {
        Self {
            quality_rating: "GREEN".to_string(),
            messaging_limit_tier: "TIER_250".to_string(),
            throughput_level: "STANDARD".to_string(),
            code_requested: false,
            code_verification_status: "NOT_VERIFIED".to_string(),
            registered: false,
            pin: None,
            profile: BusinessProfile::default(),
        }
    }
}

/// A WhatsApp business profile, fields in Meta's order; unset fields are left out of answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BusinessProfile {
    /// 1–139 characters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub about: Option<String>,
    /// At most 256 characters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// At most 512 characters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// At most 128 characters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Set from a `profile_picture_handle`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile_picture_url: Option<String>,
    /// At most two http(s) URLs of at most 256 characters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub websites: Option<Vec<String>>,
    /// `EDU`, `RETAIL`, … (kept open, as Meta returns values such as `UNDEFINED`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vertical: Option<String>,
}

impl Default for BusinessProfile {
    /// The values of `business_profile_response.json`.
    fn default() -> Self {
        Self {
            about: Some("A very cool business".to_string()),
            address: Some("123, Main Street, New York, NY, 10001".to_string()),
            description: Some("This is a description".to_string()),
            email: Some("testing@gmail.com".to_string()),
            profile_picture_url: None,
            websites: Some(vec!["https://www.google.com/".to_string()]),
            vertical: Some("EDU".to_string()),
        }
    }
}

impl BusinessProfile {
    /// `{"data": [{..., "messaging_product": "whatsapp"}]}`, reduced to `fields` when given.
    pub(crate) fn graph_json(&self, fields: Option<&str>) -> Value {
        let Ok(Value::Object(mut all)) = serde_json::to_value(self) else {
            return Value::Null;
        };
        if let Some(fields) = fields.map(field_list).filter(|f| !f.is_empty()) {
            all.retain(|key, _| fields.contains(&key.as_str()));
        }
        all.insert("messaging_product".to_string(), Value::from("whatsapp"));
        serde_json::json!({ "data": [all] })
    }

    /// Applies a `POST /{phone-number-id}/whatsapp_business_profile` body after checking every
    /// field; the error is the `details` of a code 100 naming the field. An empty string clears
    /// an optional field.
    pub(crate) fn apply(&mut self, params: &Map<String, Value>) -> Result<(), String> {
        match params.get("messaging_product").and_then(Value::as_str) {
            Some("whatsapp") => {}
            Some(other) => {
                return Err(format!(
                    "Param messaging_product must be one of {{WHATSAPP}} - got \"{other}\"."
                ))
            }
            None => return Err("The parameter messaging_product is required.".to_string()),
        }
        let mut next = self.clone();
        if let Some(about) = text(params, "about")? {
            let length = about.chars().count();
            if !(1..=139).contains(&length) {
                return Err(format!(
                    "Param about must be between 1 and 139 characters long - got {length}."
                ));
            }
            next.about = Some(about);
        }
        for (key, max, slot) in [
            ("address", 256, &mut next.address),
            ("description", 512, &mut next.description),
            ("email", 128, &mut next.email),
            ("vertical", 64, &mut next.vertical),
        ] {
            if let Some(value) = text(params, key)? {
                if value.chars().count() > max {
                    return Err(format!(
                        "Param {key} must be at most {max} characters long."
                    ));
                }
                *slot = (!value.is_empty()).then_some(value);
            }
        }
        if let Some(email) = &next.email {
            if params.contains_key("email") && !looks_like_email(email) {
                return Err(format!(
                    "Param email is not a valid email address - got \"{email}\"."
                ));
            }
        }
        if let Some(websites) = params.get("websites") {
            next.websites = websites_of(websites)?;
        }
        if let Some(handle) = text(params, "profile_picture_handle")? {
            if handle.is_empty() {
                return Err("Param profile_picture_handle must not be empty.".to_string());
            }
            let safe: String = handle
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .take(64)
                .collect();
            next.profile_picture_url =
                Some(format!("https://pps.whatsapp.net/v/sandbox/{safe}.jpg"));
        }
        *self = next;
        Ok(())
    }
}

/// An optional string parameter; other JSON types are refused.
fn text(params: &Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match params.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("Param {key} must be a string.")),
    }
}

fn looks_like_email(email: &str) -> bool {
    email.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && domain.contains('.') && !domain.ends_with('.')
    })
}

/// `websites`: an array (or, from a form, its JSON text) of at most two http(s) URLs.
fn websites_of(value: &Value) -> Result<Option<Vec<String>>, String> {
    let parsed;
    let value = match value {
        Value::String(s) => {
            parsed =
                serde_json::from_str::<Value>(s).unwrap_or_else(|_| Value::from(vec![s.clone()]));
            &parsed
        }
        other => other,
    };
    let Value::Array(items) = value else {
        return Err("Param websites must be an array of URLs.".to_string());
    };
    if items.len() > 2 {
        return Err(format!(
            "Param websites must contain at most 2 URLs - got {}.",
            items.len()
        ));
    }
    let mut websites = Vec::with_capacity(items.len());
    for item in items {
        let Some(url) = item.as_str() else {
            return Err("Param websites must be an array of URLs.".to_string());
        };
        if url.chars().count() > 256 {
            return Err("Param websites[] must be at most 256 characters long.".to_string());
        }
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(format!(
                "Param websites[] must start with http:// or https:// - got \"{url}\"."
            ));
        }
        websites.push(url.to_string());
    }
    Ok((!websites.is_empty()).then_some(websites))
}

/// The state of every phone number the sandbox was asked about.
#[derive(Default)]
pub(crate) struct Numbers {
    by_id: HashMap<String, SandboxPhoneNumber>,
}

impl Numbers {
    /// A number's state, created with defaults on first use.
    pub(crate) fn entry(&mut self, phone_number_id: &str) -> &mut SandboxPhoneNumber {
        self.by_id.entry(phone_number_id.to_string()).or_default()
    }

    fn get(&self, phone_number_id: &str) -> Option<&SandboxPhoneNumber> {
        self.by_id.get(phone_number_id)
    }
}

/// A parameter as text, whether it came as a JSON string or number.
fn param_text(params: &Map<String, Value>, key: &str) -> Option<String> {
    match params.get(key)? {
        Value::String(s) => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl SandboxState {
    /// A phone number's state (defaults if it was never touched).
    pub fn phone_number(&self, phone_number_id: &str) -> SandboxPhoneNumber {
        self.numbers()
            .get(phone_number_id)
            .cloned()
            .unwrap_or_default()
    }

    /// Changes a phone number's state under the lock and returns it afterwards.
    pub(crate) fn update_phone_number(
        &self,
        phone_number_id: &str,
        change: impl FnOnce(&mut SandboxPhoneNumber),
    ) -> SandboxPhoneNumber {
        let mut numbers = self.numbers();
        let number = numbers.entry(phone_number_id);
        change(number);
        number.clone()
    }

    /// `GET /{phone-number-id}`: the fields of `phone_number_with_throughput_response.json`
    /// plus `messaging_limit_tier`, reduced to `fields` (and `id`) when given.
    pub(crate) fn phone_number_json(&self, phone_number_id: &str, fields: Option<&str>) -> Value {
        #[derive(Serialize)]
        struct Out<'a> {
            verified_name: &'a str,
            code_verification_status: &'a str,
            display_phone_number: &'a str,
            quality_rating: &'a str,
            platform_type: &'a str,
            throughput: Throughput<'a>,
            messaging_limit_tier: &'a str,
            id: &'a str,
        }
        #[derive(Serialize)]
        struct Throughput<'a> {
            level: &'a str,
        }
        let display = self
            .config()
            .display_phone_number(phone_number_id)
            .to_string();
        let number = self.phone_number(phone_number_id);
        let out = Out {
            verified_name: DEFAULT_VERIFIED_NAME,
            code_verification_status: &number.code_verification_status,
            display_phone_number: &display,
            quality_rating: &number.quality_rating,
            platform_type: "CLOUD_API",
            throughput: Throughput {
                level: &number.throughput_level,
            },
            messaging_limit_tier: &number.messaging_limit_tier,
            id: phone_number_id,
        };
        let Ok(Value::Object(mut all)) = serde_json::to_value(out) else {
            return Value::Null;
        };
        if let Some(fields) = fields.map(field_list).filter(|f| !f.is_empty()) {
            all.retain(|key, _| key == "id" || fields.contains(&key.as_str()));
        }
        Value::Object(all)
    }

    /// `POST /{phone-number-id}/request_code`: `code_method` `SMS` or `VOICE` and a `language`.
    pub(crate) fn request_code(
        &self,
        phone_number_id: &str,
        params: &Map<String, Value>,
    ) -> Result<(), GraphFailure> {
        match param_text(params, "code_method") {
            Some(method)
                if method.eq_ignore_ascii_case("SMS") || method.eq_ignore_ascii_case("VOICE") => {}
            Some(method) => {
                return Err(GraphFailure::invalid_parameter(format!(
                    "Param code_method must be one of {{SMS, VOICE}} - got \"{method}\"."
                )))
            }
            None => {
                return Err(GraphFailure::invalid_parameter(
                    "The parameter code_method is required.",
                ))
            }
        }
        match param_text(params, "language") {
            Some(language) if !language.is_empty() => {}
            _ => {
                return Err(GraphFailure::invalid_parameter(
                    "The parameter language is required.",
                ))
            }
        }
        self.update_phone_number(phone_number_id, |n| n.code_requested = true);
        Ok(())
    }

    /// `POST /{phone-number-id}/verify_code`: succeeds once for [`SANDBOX_VERIFICATION_CODE`]
    /// after a `request_code`; anything else is Meta's 136025 (`error_136025_verify_code.json`).
    pub(crate) fn verify_code(
        &self,
        phone_number_id: &str,
        params: &Map<String, Value>,
    ) -> Result<(), GraphFailure> {
        let Some(code) = param_text(params, "code").filter(|c| !c.is_empty()) else {
            return Err(GraphFailure::invalid_parameter(
                "The parameter code is required.",
            ));
        };
        let mut numbers = self.numbers();
        let number = numbers.entry(phone_number_id);
        if !number.code_requested {
            return Err(verify_error(
                "No verification code was requested for this number. Request a code first.",
            ));
        }
        if code != SANDBOX_VERIFICATION_CODE {
            return Err(verify_error("The code you entered is incorrect."));
        }
        number.code_requested = false;
        number.code_verification_status = "VERIFIED".to_string();
        Ok(())
    }

    /// `POST /{phone-number-id}/register`: `messaging_product` and a 6-digit `pin`; the first
    /// PIN becomes the two-step PIN, later ones must match it (Meta's 133005).
    pub(crate) fn register(
        &self,
        phone_number_id: &str,
        params: &Map<String, Value>,
    ) -> Result<(), GraphFailure> {
        match param_text(params, "messaging_product").as_deref() {
            Some("whatsapp") => {}
            Some(other) => {
                return Err(GraphFailure::invalid_parameter(format!(
                    "Param messaging_product must be one of {{WHATSAPP}} - got \"{other}\"."
                )))
            }
            None => {
                return Err(GraphFailure::invalid_parameter(
                    "The parameter messaging_product is required.",
                ))
            }
        }
        let pin = match param_text(params, "pin") {
            Some(pin) if pin.len() == 6 && pin.chars().all(|c| c.is_ascii_digit()) => pin,
            Some(_) => {
                return Err(GraphFailure::invalid_parameter(
                    "Param pin must be a 6-digit number.",
                ))
            }
            None => {
                return Err(GraphFailure::invalid_parameter(
                    "The parameter pin is required.",
                ))
            }
        };
        if let Some(region) = param_text(params, "data_localization_region") {
            if region.len() != 2 || !region.chars().all(|c| c.is_ascii_uppercase()) {
                return Err(GraphFailure::invalid_parameter(format!(
                    "Param data_localization_region must be a 2-letter ISO country code - got \"{region}\"."
                )));
            }
        }
        let mut numbers = self.numbers();
        let number = numbers.entry(phone_number_id);
        match &number.pin {
            Some(existing) if *existing != pin => Err(GraphFailure::from_code(PIN_MISMATCH_CODE)),
            _ => {
                number.pin = Some(pin);
                number.registered = true;
                Ok(())
            }
        }
    }

    /// `POST /{phone-number-id}/deregister`.
    pub(crate) fn deregister(&self, phone_number_id: &str) {
        self.update_phone_number(phone_number_id, |n| n.registered = false);
    }

    /// `POST /{phone-number-id}/whatsapp_business_profile`.
    pub(crate) fn update_business_profile(
        &self,
        phone_number_id: &str,
        params: &Map<String, Value>,
    ) -> Result<(), GraphFailure> {
        let mut numbers = self.numbers();
        numbers
            .entry(phone_number_id)
            .profile
            .apply(params)
            .map_err(GraphFailure::invalid_parameter)
    }
}

/// Meta's 136025 in the shape of `error_136025_verify_code.json`.
fn verify_error(user_msg: &str) -> GraphFailure {
    GraphFailure::user_error(
        VERIFY_CODE_ERROR_CODE,
        2388093,
        "Verify code error",
        "Couldn't verify code",
        user_msg,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn apply(body: Value) -> Result<BusinessProfile, String> {
        let mut profile = BusinessProfile::default();
        profile.apply(body.as_object().unwrap()).map(|_| profile)
    }

    #[test]
    fn profile_limits_name_the_field() {
        let bad = |field: &str, value: Value| {
            let mut body = json!({"messaging_product": "whatsapp"});
            body[field] = value;
            let error = apply(body).unwrap_err();
            assert!(error.contains(field), "{field}: {error}");
        };
        bad("about", json!(""));
        bad("about", json!("a".repeat(140)));
        bad("address", json!("a".repeat(257)));
        bad("description", json!("a".repeat(513)));
        bad("email", json!(format!("{}@x.com", "a".repeat(125))));
        bad("email", json!("not-an-email"));
        bad(
            "websites",
            json!(["https://a.com", "https://b.com", "https://c.com"]),
        );
        bad("websites", json!(["ftp://a.com"]));
        bad("websites", json!([format!("https://{}", "a".repeat(250))]));
        assert!(apply(json!({"about": "x"}))
            .unwrap_err()
            .contains("messaging_product"));
    }

    #[test]
    fn a_valid_update_replaces_only_given_fields() {
        let profile = apply(json!({"messaging_product": "whatsapp", "about": "New", "websites": "[\"http://a.com\"]", "address": ""})).unwrap();
        assert_eq!(profile.about.as_deref(), Some("New"));
        assert_eq!(profile.websites, Some(vec!["http://a.com".to_string()]));
        assert_eq!(profile.address, None);
        assert_eq!(profile.vertical.as_deref(), Some("EDU"));
    }
}

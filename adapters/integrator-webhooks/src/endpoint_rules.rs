//! What an endpoint registration must satisfy, for REST and GraphQL alike: a URL the address
//! policy allows, known event types, a short description, and custom headers that are valid
//! HTTP and do not replace the ones Parley sets.

use crate::address_policy::AddressPolicy;
use application::integrator_events::{is_integrator_event_type, INTEGRATOR_EVENT_TYPES};
use reqwest::header::{HeaderName, HeaderValue};
use std::collections::BTreeMap;

/// Longest URL accepted.
pub const MAX_URL_LEN: usize = 2048;
/// Longest description accepted.
pub const MAX_DESCRIPTION_LEN: usize = 500;
/// Most custom headers per endpoint.
pub const MAX_CUSTOM_HEADERS: usize = 20;
/// Longest custom header value.
pub const MAX_HEADER_VALUE_LEN: usize = 1024;

/// Headers Parley sets itself or that belong to the connection (besides every `Parley-…`).
const RESERVED_HEADERS: [&str; 6] = [
    "content-type",
    "content-length",
    "host",
    "user-agent",
    "transfer-encoding",
    "connection",
];

/// Why an endpoint's settings are refused; the message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidEndpoint {
    #[error("url: {0}")]
    Url(String),
    #[error("events: unknown event type '{0}'; known: {known}", known = INTEGRATOR_EVENT_TYPES.join(", "))]
    UnknownEventType(String),
    #[error("description: at most {MAX_DESCRIPTION_LEN} characters, no NUL")]
    Description,
    #[error("headers: at most {MAX_CUSTOM_HEADERS}")]
    TooManyHeaders,
    #[error("headers: '{0}' is not a valid header name")]
    HeaderName(String),
    #[error("headers: '{0}' is set by Parley and cannot be replaced")]
    ReservedHeader(String),
    #[error("headers: the value of '{0}' is not a valid header value (at most {MAX_HEADER_VALUE_LEN} visible characters)")]
    HeaderValue(String),
}

/// The URL, trimmed, if the policy allows it.
pub fn check_url(policy: &AddressPolicy, url: &str) -> Result<String, InvalidEndpoint> {
    let url = url.trim();
    if url.len() > MAX_URL_LEN {
        return Err(InvalidEndpoint::Url(format!(
            "at most {MAX_URL_LEN} characters"
        )));
    }
    policy
        .check_url(url)
        .map_err(|refused| InvalidEndpoint::Url(refused.to_string()))?;
    Ok(url.to_string())
}

/// The event types, deduplicated, if all are known.
pub fn check_events(events: Vec<String>) -> Result<Vec<String>, InvalidEndpoint> {
    let mut checked: Vec<String> = Vec::new();
    for event in events {
        if !is_integrator_event_type(&event) {
            return Err(InvalidEndpoint::UnknownEventType(event));
        }
        if !checked.contains(&event) {
            checked.push(event);
        }
    }
    Ok(checked)
}

/// The description, if short enough and storable.
pub fn check_description(description: String) -> Result<String, InvalidEndpoint> {
    if description.chars().count() > MAX_DESCRIPTION_LEN || description.contains('\0') {
        return Err(InvalidEndpoint::Description);
    }
    Ok(description)
}

/// The custom headers with lower-case names, if valid and not reserved.
pub fn check_headers(
    headers: BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, InvalidEndpoint> {
    if headers.len() > MAX_CUSTOM_HEADERS {
        return Err(InvalidEndpoint::TooManyHeaders);
    }
    let mut checked = BTreeMap::new();
    for (name, value) in headers {
        if HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(InvalidEndpoint::HeaderName(name));
        }
        let lower = name.to_ascii_lowercase();
        if RESERVED_HEADERS.contains(&lower.as_str()) || lower.starts_with("parley-") {
            return Err(InvalidEndpoint::ReservedHeader(name));
        }
        if value.len() > MAX_HEADER_VALUE_LEN || HeaderValue::from_str(&value).is_err() {
            return Err(InvalidEndpoint::HeaderValue(name));
        }
        checked.insert(lower, value);
    }
    Ok(checked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parley_s_own_headers_cannot_be_replaced() {
        for name in [
            "Parley-Signature",
            "parley-delivery-id",
            "Content-Type",
            "Host",
        ] {
            let headers = BTreeMap::from([(name.to_string(), "x".to_string())]);
            assert_eq!(
                check_headers(headers),
                Err(InvalidEndpoint::ReservedHeader(name.to_string()))
            );
        }
        let fine = BTreeMap::from([("X-Tenant".to_string(), "acme".to_string())]);
        assert_eq!(
            check_headers(fine)
                .unwrap()
                .get("x-tenant")
                .map(String::as_str),
            Some("acme")
        );
    }

    #[test]
    fn event_types_must_be_known_and_are_deduplicated() {
        assert_eq!(
            check_events(vec!["message.status".into(), "message.status".into()]),
            Ok(vec!["message.status".to_string()])
        );
        assert_eq!(
            check_events(vec!["message.sent".into()]),
            Err(InvalidEndpoint::UnknownEventType("message.sent".into()))
        );
    }
}

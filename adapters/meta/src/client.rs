//! The Graph API client: sending messages, read receipts and media upload; the management
//! endpoints (templates, registration, business profile, number health) are in `client/management.rs`.
//!
//! The client never retries: the caller (throttler, outbox) decides from
//! [`GraphError::retry_class`], because sends are not idempotent (README §6.2).

use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{multipart, RequestBuilder, Url};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::{GraphError, MetaApiError};

mod management;

pub use management::MAX_TEMPLATE_PAGES;

/// Meta's production Graph API host.
pub const DEFAULT_BASE_URL: &str = "https://graph.facebook.com";

/// The Graph API version Parley is written against (README: OAS v23.0).
pub const DEFAULT_VERSION: &str = "v23.0";

/// How much of an unexpected body to keep in an error, in characters.
const BODY_EXCERPT_CHARS: usize = 512;

/// Where and how to reach the Graph API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphConfig {
    /// Scheme and host, optionally with a path prefix, e.g. `https://graph.facebook.com`.
    pub base_url: String,
    /// Graph API version path segment, e.g. `v23.0`.
    pub version: String,
    /// Whole-request timeout, from connecting to reading the body.
    pub timeout: Duration,
}

impl Default for GraphConfig {
    /// Meta's production host and [`DEFAULT_VERSION`], with a 30 s timeout.
    fn default() -> Self {
        GraphConfig {
            base_url: DEFAULT_BASE_URL.to_owned(),
            version: DEFAULT_VERSION.to_owned(),
            timeout: Duration::from_secs(30),
        }
    }
}

/// Why a [`GraphClient`] could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `base_url` is not an absolute http(s) URL.
    #[error("invalid Graph API base URL {url:?}: {reason}")]
    InvalidBaseUrl {
        /// The rejected value.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `version` is empty or not a single path segment.
    #[error("invalid Graph API version {0:?}")]
    InvalidVersion(String),
    /// The HTTP client (TLS setup) could not be built.
    #[error("could not build the HTTP client: {0}")]
    Client(String),
}

/// Meta's answer to an accepted send (HTTP 200). Acceptance is not delivery (README §1.3).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "SendResponseWire")]
pub struct SendAccepted {
    /// The new message's id, `messages[0].id`; statuses in webhooks refer to it.
    pub wamid: String,
    /// Meta's normalized recipient id, `contacts[0].wa_id`; empty if Meta gave none.
    pub wa_id: String,
    /// `accepted`, `held_for_quality_assessment` or `paused`; Meta only sends it sometimes.
    pub message_status: Option<String>,
}

/// Wire shape of the send response.
#[derive(Deserialize)]
struct SendResponseWire {
    #[serde(default)]
    contacts: Vec<SendContactWire>,
    #[serde(default)]
    messages: Vec<SendMessageWire>,
}

/// One `contacts[]` item of the send response.
#[derive(Deserialize)]
struct SendContactWire {
    #[serde(default)]
    wa_id: String,
}

/// One `messages[]` item of the send response.
#[derive(Deserialize)]
struct SendMessageWire {
    id: String,
    message_status: Option<String>,
}

impl TryFrom<SendResponseWire> for SendAccepted {
    type Error = String;

    fn try_from(wire: SendResponseWire) -> Result<Self, Self::Error> {
        let message = wire
            .messages
            .into_iter()
            .next()
            .ok_or("the send response has no messages[0]")?;
        let wa_id = wire
            .contacts
            .into_iter()
            .next()
            .map(|c| c.wa_id)
            .unwrap_or_default();
        Ok(SendAccepted {
            wamid: message.id,
            // Meta's own examples carry a trailing space in wa_id (README §1.3).
            wa_id: wa_id.trim().to_owned(),
            message_status: message.message_status,
        })
    }
}

/// Wire shape of `{"success": true}`; `false` is refused so callers never mistake it for success.
#[derive(Deserialize)]
#[serde(try_from = "SuccessWireRaw")]
struct SuccessWire;

/// The raw `{"success": bool}` before the check.
#[derive(Deserialize)]
struct SuccessWireRaw {
    success: bool,
}

impl TryFrom<SuccessWireRaw> for SuccessWire {
    type Error = &'static str;

    fn try_from(raw: SuccessWireRaw) -> Result<Self, Self::Error> {
        if raw.success {
            Ok(SuccessWire)
        } else {
            Err("Meta answered success: false")
        }
    }
}

/// Wire shape of the media upload response.
#[derive(Deserialize)]
struct MediaUploadWire {
    id: String,
}

/// A client for Meta's Graph API. Cheap to clone; holds no token.
#[derive(Debug, Clone)]
pub struct GraphClient {
    http: reqwest::Client,
    /// `{base_url}/{version}`, already validated as a base URL.
    versioned_base: Url,
}

impl GraphClient {
    /// Builds a client; fails on a malformed base URL or version.
    pub fn new(config: GraphConfig) -> Result<GraphClient, ConfigError> {
        let invalid_url = |reason: &str| ConfigError::InvalidBaseUrl {
            url: config.base_url.clone(),
            reason: reason.to_owned(),
        };
        let mut versioned_base =
            Url::parse(&config.base_url).map_err(|e| invalid_url(&e.to_string()))?;
        if !matches!(versioned_base.scheme(), "http" | "https") {
            return Err(invalid_url("the scheme must be http or https"));
        }
        if versioned_base.query().is_some() || versioned_base.fragment().is_some() {
            return Err(invalid_url("a query or fragment is not allowed"));
        }
        if config.version.is_empty() || config.version.contains('/') {
            return Err(ConfigError::InvalidVersion(config.version));
        }
        versioned_base
            .path_segments_mut()
            .map_err(|()| invalid_url("the URL cannot be a base"))?
            .pop_if_empty()
            .push(&config.version);
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .build()
            .map_err(|e| ConfigError::Client(error_chain(&e)))?;
        Ok(GraphClient {
            http,
            versioned_base,
        })
    }

    /// Sends a message: `POST /{phone_number_id}/messages` with the caller's full send body.
    pub async fn send_message(
        &self,
        phone_number_id: &str,
        token: &str,
        body: &Value,
    ) -> Result<SendAccepted, GraphError> {
        let request = self
            .http
            .post(self.url(&[phone_number_id, "messages"]))
            .bearer_auth(token)
            .json(body);
        self.execute("send_message", request).await
    }

    /// Marks an incoming message (and the ones before it) as read (README §1.4).
    pub async fn mark_read(
        &self,
        phone_number_id: &str,
        token: &str,
        wamid: &str,
    ) -> Result<(), GraphError> {
        let body = json!({
            "messaging_product": "whatsapp",
            "status": "read",
            "message_id": wamid,
        });
        self.post_status("mark_read", phone_number_id, token, &body)
            .await
    }

    /// Marks an incoming message read and shows a typing indicator for up to 25 s (README §1.4).
    pub async fn mark_read_with_typing(
        &self,
        phone_number_id: &str,
        token: &str,
        wamid: &str,
    ) -> Result<(), GraphError> {
        let body = json!({
            "messaging_product": "whatsapp",
            "status": "read",
            "message_id": wamid,
            "typing_indicator": { "type": "text" },
        });
        self.post_status("mark_read_with_typing", phone_number_id, token, &body)
            .await
    }

    /// Uploads media for later sends (`POST /{phone_number_id}/media`); returns the media id.
    ///
    /// The id stays valid for 30 days (README §2). Size and type limits are the caller's to check.
    pub async fn upload_media(
        &self,
        phone_number_id: &str,
        token: &str,
        bytes: Vec<u8>,
        mime_type: &str,
        filename: &str,
    ) -> Result<String, GraphError> {
        let file = multipart::Part::bytes(bytes)
            .file_name(filename.to_owned())
            .mime_str(mime_type)
            .map_err(|e| GraphError::InvalidRequest(format!("MIME type {mime_type:?}: {e}")))?;
        // D-media lists `type` next to `file`; sending both matches Meta's curl example.
        let form = multipart::Form::new()
            .text("messaging_product", "whatsapp")
            .text("type", mime_type.to_owned())
            .part("file", file);
        let request = self
            .http
            .post(self.url(&[phone_number_id, "media"]))
            .bearer_auth(token)
            .multipart(form);
        let uploaded: MediaUploadWire = self.execute("upload_media", request).await?;
        Ok(uploaded.id)
    }

    /// Posts a `{"success": true}`-answered body to `/{phone_number_id}/messages`.
    async fn post_status(
        &self,
        operation: &'static str,
        phone_number_id: &str,
        token: &str,
        body: &Value,
    ) -> Result<(), GraphError> {
        self.post_success(operation, &[phone_number_id, "messages"], token, body)
            .await
    }

    /// Posts a JSON body to `/{segments...}` and expects `{"success": true}`.
    async fn post_success(
        &self,
        operation: &'static str,
        segments: &[&str],
        token: &str,
        body: &Value,
    ) -> Result<(), GraphError> {
        let request = self
            .http
            .post(self.url(segments))
            .bearer_auth(token)
            .json(body);
        let SuccessWire = self.execute(operation, request).await?;
        Ok(())
    }

    /// `{base_url}/{version}/{segments...}`, each segment percent-encoded.
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.versioned_base.clone();
        url.path_segments_mut()
            .expect("checked to be a base URL in GraphClient::new")
            .extend(segments);
        url
    }

    /// Sends a request and decodes a 2xx body as `T`, or maps the failure to a [`GraphError`].
    ///
    /// Every endpoint (templates, phone numbers, ...) goes through here, so new ones only
    /// need a URL, a body and a response type.
    async fn execute<T: DeserializeOwned>(
        &self,
        operation: &'static str,
        request: RequestBuilder,
    ) -> Result<T, GraphError> {
        let response = request.send().await.map_err(transport_error)?;
        let status = response.status();
        let retry_after_hint = retry_hint(response.headers());
        let body = response.bytes().await.map_err(transport_error)?;

        if status.is_success() {
            tracing::debug!(
                operation,
                status = status.as_u16(),
                "Graph API call succeeded"
            );
            return serde_json::from_slice(&body).map_err(|e| GraphError::Decode {
                status: status.as_u16(),
                reason: e.to_string(),
                body_excerpt: excerpt(&body),
            });
        }
        match MetaApiError::from_body(status.as_u16(), &body, retry_after_hint) {
            Some(error) => {
                tracing::debug!(
                    operation,
                    status = status.as_u16(),
                    code = error.code,
                    subcode = error.error_subcode,
                    fbtrace_id = error.fbtrace_id.as_deref(),
                    "Graph API call failed with Meta's error object"
                );
                Err(GraphError::Meta(error))
            }
            None => {
                tracing::debug!(operation, status = status.as_u16(), "Graph API call failed");
                Err(GraphError::Http {
                    status: status.as_u16(),
                    body_excerpt: excerpt(&body),
                })
            }
        }
    }
}

/// Maps a reqwest failure; a connect failure (even a connect timeout) means nothing was sent.
fn transport_error(error: reqwest::Error) -> GraphError {
    if error.is_connect() {
        GraphError::Connect(error_chain(&error))
    } else if error.is_timeout() {
        GraphError::Timeout
    } else if error.is_builder() {
        GraphError::InvalidRequest(error_chain(&error))
    } else {
        GraphError::Transport(error_chain(&error))
    }
}

/// An error with its sources, since reqwest's own message hides the cause.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The first [`BODY_EXCERPT_CHARS`] characters of a body, lossily decoded.
fn excerpt(body: &[u8]) -> String {
    String::from_utf8_lossy(body)
        .chars()
        .take(BODY_EXCERPT_CHARS)
        .collect()
}

/// A wait suggested by the response: `Retry-After` (seconds) or the largest
/// `estimated_time_to_regain_access` (minutes) in `X-Business-Use-Case-Usage`.
fn retry_hint(headers: &HeaderMap) -> Option<Duration> {
    let retry_after = headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    // Shape: {"<business id>": [{"call_count": .., "estimated_time_to_regain_access": minutes}]}.
    let usage_minutes = headers
        .get("x-business-use-case-usage")
        .and_then(|v| serde_json::from_slice::<Value>(v.as_bytes()).ok())
        .and_then(|usage| {
            usage
                .as_object()?
                .values()
                .filter_map(Value::as_array)
                .flatten()
                .filter_map(|u| u.get("estimated_time_to_regain_access")?.as_u64())
                .max()
        })
        .filter(|minutes| *minutes > 0)
        .map(|minutes| Duration::from_secs(minutes * 60));
    retry_after.max(usage_minutes).filter(|d| !d.is_zero())
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn urls_are_versioned_and_keep_a_base_path() {
        let client = GraphClient::new(GraphConfig {
            base_url: "http://127.0.0.1:9/graph/".to_owned(),
            version: "v23.0".to_owned(),
            timeout: Duration::from_secs(1),
        })
        .unwrap();
        assert_eq!(
            client.url(&["123", "messages"]).as_str(),
            "http://127.0.0.1:9/graph/v23.0/123/messages"
        );
        // A hostile id cannot climb out of its path segment.
        assert_eq!(
            client.url(&["../x?y", "media"]).as_str(),
            "http://127.0.0.1:9/graph/v23.0/..%2Fx%3Fy/media"
        );
    }

    #[test]
    fn bad_configs_are_refused() {
        let config = |base: &str, version: &str| GraphConfig {
            base_url: base.to_owned(),
            version: version.to_owned(),
            timeout: Duration::from_secs(1),
        };
        assert!(matches!(
            GraphClient::new(config("graph.facebook.com", "v23.0")),
            Err(ConfigError::InvalidBaseUrl { .. })
        ));
        assert!(matches!(
            GraphClient::new(config("ftp://graph.facebook.com", "v23.0")),
            Err(ConfigError::InvalidBaseUrl { .. })
        ));
        assert!(matches!(
            GraphClient::new(config("https://graph.facebook.com", "")),
            Err(ConfigError::InvalidVersion(_))
        ));
        assert!(matches!(
            GraphClient::new(config("https://graph.facebook.com", "v23.0/x")),
            Err(ConfigError::InvalidVersion(_))
        ));
        assert!(GraphClient::new(GraphConfig::default()).is_ok());
    }

    #[test]
    fn retry_hint_reads_both_headers() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_hint(&headers), None);
        headers.insert(
            "x-business-use-case-usage",
            HeaderValue::from_static(
                r#"{"102290129340398":[{"type":"whatsapp","call_count":100,"total_cputime":1,"total_time":1,"estimated_time_to_regain_access":3}]}"#,
            ),
        );
        assert_eq!(retry_hint(&headers), Some(Duration::from_secs(180)));
        headers.insert(
            reqwest::header::RETRY_AFTER,
            HeaderValue::from_static("600"),
        );
        assert_eq!(retry_hint(&headers), Some(Duration::from_secs(600)));
        headers.insert(
            reqwest::header::RETRY_AFTER,
            HeaderValue::from_static("garbage"),
        );
        assert_eq!(retry_hint(&headers), Some(Duration::from_secs(180)));
    }

    #[test]
    fn zero_regain_time_is_no_hint() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-business-use-case-usage",
            HeaderValue::from_static(r#"{"1":[{"estimated_time_to_regain_access":0}]}"#),
        );
        assert_eq!(retry_hint(&headers), None);
    }
}

//! Meta's error object, the client's error type and the retry classification of both.

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

/// Error code for "throughput limit reached": the number's messages-per-second cap (README §6.2, §7).
pub const THROUGHPUT_CODE: i64 = 130429;

/// Error code for "pair rate limit": too many messages to the same recipient (README §6.2, §7).
pub const PAIR_RATE_CODE: i64 = 131056;

/// Error code 100 ("invalid parameter") comes with this subcode when a template does not exist
/// (README §3, "Delete").
pub const TEMPLATE_NOT_FOUND_SUBCODE: i64 = 2593002;

/// Error code of a failed `request_code`: the registration code could not be sent (README §4).
pub const REQUEST_CODE_ERROR_CODE: i64 = 136024;

/// Error code of a failed `verify_code`, e.g. a wrong code (README §4).
pub const VERIFY_CODE_ERROR_CODE: i64 = 136025;

/// Whether a failed call is worth making again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryClass {
    /// Try again later; `after` is the earliest sensible delay when Meta or its docs give one.
    Retryable {
        /// Minimum wait before the next attempt; `None` leaves the delay to the caller's backoff.
        after: Option<Duration>,
    },
    /// The same request will fail the same way; do not retry it.
    Permanent,
}

impl RetryClass {
    /// True for [`RetryClass::Retryable`].
    pub fn is_retryable(&self) -> bool {
        matches!(self, RetryClass::Retryable { .. })
    }
}

/// Retry class of a documented Meta error code, or `None` for a code the README does not list.
///
/// Works for synchronous Graph errors and for the `errors[]` of webhooks alike. The source of
/// truth is README §6.2 (Meta's "Error codes" page, D-errors); each arm says why.
pub fn classify_code(code: i64) -> Option<RetryClass> {
    const RETRY: RetryClass = RetryClass::Retryable { after: None };
    const HOUR: u64 = 3600;
    let class = match code {
        // Transient trouble on Meta's side: 1 "possible server error", 2 "temporary due to
        // downtime or overload", 131000 "unknown error, try again", 131016 "service temporarily
        // unavailable", 133004 "server temporarily unavailable".
        1 | 2 | 131000 | 131016 | 133004 => RETRY,
        // Rate limits, all "retry later or slower": 4 app call limit, 80007 WABA limit,
        // 130429 the number's throughput, 131056 the pair rate (other recipients unaffected),
        // 132069 flow throttled (10 messages per flow per hour).
        4 | 80007 | THROUGHPUT_CODE | PAIR_RATE_CODE | 132069 => RETRY,
        // Maintenance mode during a throughput upgrade, which lasts up to 1 min (§7).
        131057 => RETRY,
        // Per-user marketing limit: Meta says wait at least 24 h before resending.
        131049 => RetryClass::Retryable {
            after: Some(Duration::from_secs(24 * HOUR)),
        },
        // Number recently deleted: retry after 5 min.
        133015 => RetryClass::Retryable {
            after: Some(Duration::from_secs(5 * 60)),
        },
        // Register/deregister attempt limit: the number is blocked for 72 h.
        133016 => RetryClass::Retryable {
            after: Some(Duration::from_secs(72 * HOUR)),
        },
        // Auth and permissions: 0 and 190 need a new token, 10 and 200-299 a granted
        // permission; 3 is Graph's generic "capability" error (not in the README's table).
        0 | 3 | 10 | 190 | 200..=299 => RetryClass::Permanent,
        // 33 number deleted / object does not exist, 100 invalid parameter, 368 WABA
        // restricted for policy violation.
        33 | 100 | 368 => RetryClass::Permanent,
        // 130403 business blocked the user, 130472 user in a marketing experiment, 130497
        // country not allowed.
        130403 | 130472 | 130497 => RetryClass::Permanent,
        // 131047 is the closed 24 h window: send a template instead. 131048 (spam rate limit)
        // is a quality problem with no documented wait; resending feeds the spam signal.
        // 131050 the user stopped marketing ("do not retry"). The rest need a fixed request,
        // account or media: permission, parameters, sender = recipient, undeliverable,
        // locked account, display name, billing, registration, unsupported type, media,
        // marketing disabled, template-classification enforcement.
        131005 | 131008 | 131009 | 131021 | 131026 | 131031 | 131037 | 131042 | 131045 | 131047
        | 131048 | 131050 | 131051 | 131052 | 131053 | 131063 | 131064 => RetryClass::Permanent,
        // Template errors (parameter mismatch, missing, paused, disabled, ...); 132069 is
        // matched above.
        132000..=132999 => RetryClass::Permanent,
        // Registration errors (PIN, verification, not registered); 133004/133015/133016 above.
        133000..=133999 => RetryClass::Permanent,
        // 135000 generic user error, 137000 identity key hash mismatch.
        135000 | 137000 => RetryClass::Permanent,
        _ => return None,
    };
    Some(class)
}

/// Meta's error object from a failed Graph call (`{"error": {...}}`), with the HTTP status.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct MetaApiError {
    /// HTTP status of the response; informative only, since Meta's meaning is in `code`.
    pub http_status: u16,
    /// Meta's error code, the field to act on (README §6.1).
    pub code: i64,
    /// Documented as deprecated since v16.0, yet still returned by live v20 calls.
    pub error_subcode: Option<i64>,
    /// Meta's `type`, e.g. `OAuthException` or `GraphMethodException`.
    pub kind: Option<String>,
    /// Meta's `message`, usually "(#code) title"; titles are slated for deprecation.
    pub message: String,
    /// A title meant for the end user, when Meta gives one.
    pub error_user_title: Option<String>,
    /// A message meant for the end user, when Meta gives one.
    pub error_user_msg: Option<String>,
    /// Meta's `error_data`, usually `{"messaging_product", "details"}`; see [`MetaApiError::details`].
    pub error_data: Option<Value>,
    /// Graph's generic "the request should be retried" flag, when present.
    pub is_transient: Option<bool>,
    /// Meta's trace id, to quote in support tickets.
    pub fbtrace_id: Option<String>,
    /// Wait suggested by the response headers (`Retry-After` or `X-Business-Use-Case-Usage`).
    pub retry_after_hint: Option<Duration>,
}

impl std::fmt::Display for MetaApiError {
    /// "Meta API error CODE (HTTP STATUS): message (details)"; the details are the useful part.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Meta API error {} (HTTP {}): {}",
            self.code, self.http_status, self.message
        )?;
        if let Some(details) = self.details() {
            write!(f, " ({details})")?;
        }
        Ok(())
    }
}

impl MetaApiError {
    /// The human-readable `error_data.details`, which Meta says to base handling on.
    pub fn details(&self) -> Option<&str> {
        self.error_data.as_ref()?.get("details")?.as_str()
    }

    /// Retry class: the documented code first, then `is_transient`, then the HTTP status.
    pub fn retry_class(&self) -> RetryClass {
        let class = classify_code(self.code).unwrap_or_else(|| {
            // An undocumented code: trust Graph's own flag, then the HTTP status.
            let transient = self.is_transient == Some(true);
            if transient || self.http_status >= 500 || self.http_status == 429 {
                RetryClass::Retryable { after: None }
            } else {
                RetryClass::Permanent
            }
        });
        match class {
            // A header hint can only lengthen the documented wait (None < Some).
            RetryClass::Retryable { after } => RetryClass::Retryable {
                after: after.max(self.retry_after_hint),
            },
            RetryClass::Permanent => RetryClass::Permanent,
        }
    }

    /// Parses Meta's `{"error": {...}}` body; `None` when the body is not that shape.
    pub fn from_body(
        http_status: u16,
        body: &[u8],
        retry_after_hint: Option<Duration>,
    ) -> Option<MetaApiError> {
        let envelope: ErrorEnvelope = serde_json::from_slice(body).ok()?;
        let raw = envelope.error;
        Some(MetaApiError {
            http_status,
            code: raw.code,
            error_subcode: raw.error_subcode,
            kind: raw.kind,
            message: raw.message.unwrap_or_default(),
            error_user_title: raw.error_user_title,
            error_user_msg: raw.error_user_msg,
            error_data: raw.error_data,
            is_transient: raw.is_transient,
            fbtrace_id: raw.fbtrace_id,
            retry_after_hint,
        })
    }
}

/// Wire shape of Meta's error body; `code` is the only field it must have.
#[derive(Deserialize)]
struct ErrorEnvelope {
    error: RawError,
}

/// Wire shape of the object inside `{"error": ...}`.
#[derive(Deserialize)]
struct RawError {
    code: i64,
    message: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    error_subcode: Option<i64>,
    error_user_title: Option<String>,
    error_user_msg: Option<String>,
    error_data: Option<Value>,
    is_transient: Option<bool>,
    fbtrace_id: Option<String>,
}

/// Why a Graph API call failed.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// Meta answered with its error object.
    #[error(transparent)]
    Meta(#[from] MetaApiError),
    /// No complete answer within the configured timeout; the request may have been processed.
    #[error("the Graph API call timed out")]
    Timeout,
    /// No connection could be made, so the request was never sent.
    #[error("could not connect to the Graph API: {0}")]
    Connect(String),
    /// The connection failed after the request was sent; it may have been processed.
    #[error("Graph API transport failure: {0}")]
    Transport(String),
    /// A non-success status whose body is not Meta's error object (e.g. a proxy's HTML page).
    #[error("Graph API answered HTTP {status}: {body_excerpt}")]
    Http {
        /// HTTP status code.
        status: u16,
        /// The start of the body, for diagnosis.
        body_excerpt: String,
    },
    /// A success status whose body is not the expected shape.
    #[error("unexpected Graph API response (HTTP {status}): {reason}")]
    Decode {
        /// HTTP status code.
        status: u16,
        /// What was wrong with the body.
        reason: String,
        /// The start of the body, for diagnosis.
        body_excerpt: String,
    },
    /// The request could not be built from the caller's input (e.g. a malformed MIME type).
    #[error("invalid Graph API request: {0}")]
    InvalidRequest(String),
}

impl GraphError {
    /// Whether to try the call again, and how soon.
    ///
    /// Timeouts and transport failures count as retryable, but sends are not idempotent
    /// (README §6.2): a retry after one can duplicate a message. Connect errors are safe.
    pub fn retry_class(&self) -> RetryClass {
        match self {
            GraphError::Meta(error) => error.retry_class(),
            GraphError::Timeout | GraphError::Connect(_) | GraphError::Transport(_) => {
                RetryClass::Retryable { after: None }
            }
            GraphError::Http { status, .. } if *status >= 500 || *status == 429 => {
                RetryClass::Retryable { after: None }
            }
            GraphError::Http { .. } => RetryClass::Permanent,
            // A 2xx we cannot read may still mean "accepted"; resending could duplicate it.
            GraphError::Decode { .. } => RetryClass::Permanent,
            GraphError::InvalidRequest(_) => RetryClass::Permanent,
        }
    }

    /// Meta's error code, when Meta answered with its error object.
    pub fn meta_code(&self) -> Option<i64> {
        match self {
            GraphError::Meta(error) => Some(error.code),
            _ => None,
        }
    }

    /// True when the number's throughput (messages per second) was exceeded: code 130429.
    pub fn is_throughput(&self) -> bool {
        self.meta_code() == Some(THROUGHPUT_CODE)
    }

    /// True when the per-recipient pair rate was exceeded: code 131056.
    pub fn is_pair_rate(&self) -> bool {
        self.meta_code() == Some(PAIR_RATE_CODE)
    }

    /// Meta's `error_subcode`, when Meta answered with its error object and gave one.
    pub fn meta_subcode(&self) -> Option<i64> {
        match self {
            GraphError::Meta(error) => error.error_subcode,
            _ => None,
        }
    }

    /// True when the template named in the call does not exist: code 100, subcode 2593002.
    pub fn is_template_not_found(&self) -> bool {
        self.meta_code() == Some(100) && self.meta_subcode() == Some(TEMPLATE_NOT_FOUND_SUBCODE)
    }

    /// True when Meta refused the registration code in `verify_code`: code 136025.
    pub fn is_verify_code_error(&self) -> bool {
        self.meta_code() == Some(VERIFY_CODE_ERROR_CODE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RETRY: Option<RetryClass> = Some(RetryClass::Retryable { after: None });
    const PERMANENT: Option<RetryClass> = Some(RetryClass::Permanent);

    #[test]
    fn documented_codes_follow_the_readme_table() {
        let hours = |h: u64| {
            Some(RetryClass::Retryable {
                after: Some(Duration::from_secs(h * 3600)),
            })
        };
        let cases = [
            (0, PERMANENT),
            (1, RETRY),
            (2, RETRY),
            (3, PERMANENT),
            (4, RETRY),
            (10, PERMANENT),
            (200, PERMANENT),
            (299, PERMANENT),
            (33, PERMANENT),
            (100, PERMANENT),
            (190, PERMANENT),
            (368, PERMANENT),
            (80007, RETRY),
            (130403, PERMANENT),
            (130429, RETRY),
            (130472, PERMANENT),
            (130497, PERMANENT),
            (131000, RETRY),
            (131005, PERMANENT),
            (131008, PERMANENT),
            (131009, PERMANENT),
            (131016, RETRY),
            (131021, PERMANENT),
            (131026, PERMANENT),
            (131031, PERMANENT),
            (131037, PERMANENT),
            (131042, PERMANENT),
            (131045, PERMANENT),
            (131047, PERMANENT),
            (131048, PERMANENT),
            (131049, hours(24)),
            (131050, PERMANENT),
            (131051, PERMANENT),
            (131052, PERMANENT),
            (131053, PERMANENT),
            (131056, RETRY),
            (131057, RETRY),
            (131063, PERMANENT),
            (131064, PERMANENT),
            (132000, PERMANENT),
            (132001, PERMANENT),
            (132005, PERMANENT),
            (132007, PERMANENT),
            (132012, PERMANENT),
            (132015, PERMANENT),
            (132016, PERMANENT),
            (132068, PERMANENT),
            (132069, RETRY),
            (133000, PERMANENT),
            (133004, RETRY),
            (133005, PERMANENT),
            (133006, PERMANENT),
            (133008, PERMANENT),
            (133009, PERMANENT),
            (133010, PERMANENT),
            (
                133015,
                Some(RetryClass::Retryable {
                    after: Some(Duration::from_secs(300)),
                }),
            ),
            (133016, hours(72)),
            (135000, PERMANENT),
            (137000, PERMANENT),
            (136024, None),
            (999_999, None),
        ];
        for (code, expected) in cases {
            assert_eq!(classify_code(code), expected, "code {code}");
        }
    }

    fn api_error(code: i64, http_status: u16, is_transient: Option<bool>) -> MetaApiError {
        MetaApiError {
            http_status,
            code,
            error_subcode: None,
            kind: None,
            message: String::new(),
            error_user_title: None,
            error_user_msg: None,
            error_data: None,
            is_transient,
            fbtrace_id: None,
            retry_after_hint: None,
        }
    }

    #[test]
    fn undocumented_codes_fall_back_to_is_transient_then_http_status() {
        let retry = RetryClass::Retryable { after: None };
        assert_eq!(
            api_error(555, 400, None).retry_class(),
            RetryClass::Permanent
        );
        assert_eq!(
            api_error(555, 400, Some(false)).retry_class(),
            RetryClass::Permanent
        );
        assert_eq!(api_error(555, 400, Some(true)).retry_class(), retry);
        assert_eq!(api_error(555, 503, None).retry_class(), retry);
        assert_eq!(api_error(555, 429, None).retry_class(), retry);
        // A documented code wins over the HTTP status.
        assert_eq!(
            api_error(100, 500, None).retry_class(),
            RetryClass::Permanent
        );
    }

    #[test]
    fn header_hints_only_lengthen_retryable_waits() {
        let mut error = api_error(4, 429, Some(true));
        error.retry_after_hint = Some(Duration::from_secs(120));
        assert_eq!(
            error.retry_class(),
            RetryClass::Retryable {
                after: Some(Duration::from_secs(120))
            }
        );
        let mut error = api_error(131049, 400, None);
        error.retry_after_hint = Some(Duration::from_secs(120));
        assert_eq!(
            error.retry_class(),
            RetryClass::Retryable {
                after: Some(Duration::from_secs(24 * 3600))
            }
        );
        let mut error = api_error(100, 400, None);
        error.retry_after_hint = Some(Duration::from_secs(120));
        assert_eq!(error.retry_class(), RetryClass::Permanent);
    }

    #[test]
    fn transport_failures_are_classified() {
        let retry = RetryClass::Retryable { after: None };
        assert_eq!(GraphError::Timeout.retry_class(), retry);
        assert_eq!(GraphError::Connect("refused".into()).retry_class(), retry);
        assert_eq!(GraphError::Transport("reset".into()).retry_class(), retry);
        let http = |status| GraphError::Http {
            status,
            body_excerpt: String::new(),
        };
        assert_eq!(http(502).retry_class(), retry);
        assert_eq!(http(429).retry_class(), retry);
        assert_eq!(http(404).retry_class(), RetryClass::Permanent);
        let decode = GraphError::Decode {
            status: 200,
            reason: String::new(),
            body_excerpt: String::new(),
        };
        assert_eq!(decode.retry_class(), RetryClass::Permanent);
        assert!(!GraphError::Timeout.is_throughput());
        assert!(GraphError::Meta(api_error(130429, 400, None)).is_throughput());
        assert!(GraphError::Meta(api_error(131056, 400, None)).is_pair_rate());
        assert!(!GraphError::Meta(api_error(131056, 400, None)).is_throughput());
    }

    #[test]
    fn non_meta_bodies_are_not_parsed_as_meta_errors() {
        assert!(MetaApiError::from_body(502, b"<html>Bad gateway</html>", None).is_none());
        assert!(MetaApiError::from_body(400, br#"{"error":"nope"}"#, None).is_none());
        assert!(
            MetaApiError::from_body(400, br#"{"error":{"message":"no code"}}"#, None).is_none()
        );
        let parsed = MetaApiError::from_body(400, br#"{"error":{"code":100}}"#, None).unwrap();
        assert_eq!(parsed.code, 100);
        assert_eq!(parsed.message, "");
    }
}

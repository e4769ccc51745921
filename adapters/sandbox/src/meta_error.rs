//! Meta's error object (README §6.1) and the titles of the codes the sandbox can produce.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use crate::ids;

/// Meta's throughput error code: too many messages per second from one number.
pub const THROUGHPUT_CODE: u32 = 130429;
/// Meta's pair-rate error code: too many messages to one recipient.
pub const PAIR_RATE_CODE: u32 = 131056;
/// Meta's invalid-parameter error code.
pub const INVALID_PARAMETER_CODE: u32 = 100;
/// Meta's invalid-token error code.
pub const INVALID_TOKEN_CODE: u32 = 190;
/// Meta's error code for a template send whose body parameters do not match the template.
pub const TEMPLATE_PARAM_COUNT_CODE: u32 = 132000;
/// Meta's error code for a template that does not exist in that language or is not approved.
pub const TEMPLATE_UNAVAILABLE_CODE: u32 = 132001;
/// Meta's error code for a send of a paused template.
pub const TEMPLATE_PAUSED_CODE: u32 = 132015;
/// Meta's error code for a send of a disabled template.
pub const TEMPLATE_DISABLED_CODE: u32 = 132016;
/// Meta's error code for a wrong registration PIN.
pub const PIN_MISMATCH_CODE: u32 = 133005;
/// Meta's error code for a wrong (or unrequested) verification code.
pub const VERIFY_CODE_ERROR_CODE: u32 = 136025;

/// `href` of errors in webhooks, as in Meta's status fixtures.
pub(crate) const ERROR_CODES_HREF: &str =
    "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/";

/// The body of a Graph API error response: `{"error": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GraphErrorBody {
    /// The error object.
    pub error: GraphError,
}

/// Meta's error object, field for field (`error_subcode` and `error_data` are optional).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GraphError {
    /// `"(#code) title"`, or Meta's fixed text for auth errors.
    pub message: String,
    /// `OAuthException` (or `GraphMethodException` for unknown objects).
    #[serde(rename = "type")]
    pub kind: String,
    /// Meta's error code.
    pub code: u32,
    /// Meta's subcode, when Meta sends one for this code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_subcode: Option<u32>,
    /// The WhatsApp-specific details.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_data: Option<GraphErrorData>,
    /// Whether retrying the same request may succeed (Graph's generic retry hint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_transient: Option<bool>,
    /// The title Meta shows users, on management errors (`error_user_title`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_user_title: Option<String>,
    /// The explanation Meta shows users, on management errors (`error_user_msg`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_user_msg: Option<String>,
    /// A random trace id, as Meta returns one with every error.
    pub fbtrace_id: String,
}

/// `error_data` of a Graph error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GraphErrorData {
    /// Always `whatsapp`.
    pub messaging_product: String,
    /// The human-readable reason.
    pub details: String,
}

/// A Graph API error with the HTTP status it is answered with.
#[derive(Debug, Clone)]
pub struct GraphFailure {
    /// The HTTP status of the answer.
    pub status: StatusCode,
    /// The error object, boxed so that `Result<_, GraphFailure>` stays small on the happy path.
    pub error: Box<GraphError>,
}

impl GraphFailure {
    /// Code 100 with the fixture's `(#100) Invalid parameter` message and specific `details`.
    ///
    /// Meta's wording for a missing parameter varies; one message with precise `details` keeps
    /// the shape of the recorded `error_100_mark_read_outgoing_message.json` for every code-100 case.
    pub fn invalid_parameter(details: impl Into<String>) -> Self {
        Self::whatsapp(
            INVALID_PARAMETER_CODE,
            "Invalid parameter",
            None,
            details.into(),
        )
    }

    /// Code 190 as Meta's `error_190_invalid_oauth_token.json`, with HTTP 401.
    ///
    /// The fixture's subcode 463 means "session expired", which would mislead Parley about why the
    /// token was refused, so it is left out (Meta documents the subcode as optional).
    pub fn invalid_token() -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            error: Box::new(GraphError {
                message: "Invalid OAuth access token".to_string(),
                kind: "OAuthException".to_string(),
                code: INVALID_TOKEN_CODE,
                error_subcode: None,
                error_data: None,
                is_transient: None,
                error_user_title: None,
                error_user_msg: None,
                fbtrace_id: ids::fbtrace_id(),
            }),
        }
    }

    /// Code 100/33 as `error_100_33_object_does_not_exist.json`: an unknown id or path.
    pub fn unknown_object(id: &str) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            error: Box::new(GraphError {
                message: format!(
                    "Unsupported request. Object with ID '{id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api"
                ),
                kind: "GraphMethodException".to_string(),
                code: INVALID_PARAMETER_CODE,
                error_subcode: Some(33),
                error_data: None,
                is_transient: None,
                error_user_title: None,
                error_user_msg: None,
                fbtrace_id: ids::fbtrace_id(),
            }),
        }
    }

    /// Any WhatsApp code with its catalog title and details (as injected by the fault switches).
    pub fn from_code(code: u32) -> Self {
        let info = describe(code);
        let subcode = (code == THROUGHPUT_CODE).then_some(2494055);
        Self::whatsapp(code, info.title, subcode, info.details.to_string())
    }

    /// Any WhatsApp code with its catalog title and specific `details`.
    pub fn with_details(code: u32, details: impl Into<String>) -> Self {
        Self::whatsapp(code, describe(code).title, None, details.into())
    }

    /// Code 100/2593002 exactly as `error_100_2593002_template_not_found.json`.
    pub fn template_not_found(name: &str) -> Self {
        Self::user_error(
            INVALID_PARAMETER_CODE,
            2593002,
            "Invalid parameter",
            "Message Template Not Found",
            format!("The message template {name} wasn't found for this account."),
        )
    }

    /// A management error in the shape of Meta's recorded ones (template not found, request and
    /// verify code): no `error_data`, but `is_transient` and the user-facing title and message.
    pub fn user_error(
        code: u32,
        subcode: u32,
        message: impl Into<String>,
        user_title: impl Into<String>,
        user_msg: impl Into<String>,
    ) -> Self {
        Self {
            status: http_status_for(code),
            error: Box::new(GraphError {
                message: message.into(),
                kind: "OAuthException".to_string(),
                code,
                error_subcode: Some(subcode),
                error_data: None,
                is_transient: Some(false),
                error_user_title: Some(user_title.into()),
                error_user_msg: Some(user_msg.into()),
                fbtrace_id: ids::fbtrace_id(),
            }),
        }
    }

    fn whatsapp(code: u32, title: &str, subcode: Option<u32>, details: String) -> Self {
        Self {
            status: http_status_for(code),
            error: Box::new(GraphError {
                message: format!("(#{code}) {title}"),
                kind: "OAuthException".to_string(),
                code,
                error_subcode: subcode,
                error_data: Some(GraphErrorData {
                    messaging_product: "whatsapp".to_string(),
                    details,
                }),
                is_transient: None,
                error_user_title: None,
                error_user_msg: None,
                fbtrace_id: ids::fbtrace_id(),
            }),
        }
    }
}

impl IntoResponse for GraphFailure {
    fn into_response(self) -> Response {
        (self.status, Json(GraphErrorBody { error: *self.error })).into_response()
    }
}

/// The HTTP status Meta answers a code with.
///
/// Live recordings show 400 for WhatsApp codes, 130429 included (README §6.1); tokens get 401 and
/// Meta's own server-side codes 500, so a client that looks at the status first still behaves.
pub fn http_status_for(code: u32) -> StatusCode {
    match code {
        0 | INVALID_TOKEN_CODE => StatusCode::UNAUTHORIZED,
        10 | 200..=299 | 131005 => StatusCode::FORBIDDEN,
        1 | 2 | 131000 | 131016 | 133004 => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    }
}

/// Title and details Meta gives a code (README §6.2 and the failed-status fixtures).
#[derive(Debug, Clone, Copy)]
pub struct ErrorInfo {
    /// The short title (`errors[].title`, and the text after `(#code)` in `message`).
    pub title: &'static str,
    /// The longer explanation (`error_data.details`).
    pub details: &'static str,
}

/// The title and details of a Meta error code; unknown codes get a generic sandbox text.
pub fn describe(code: u32) -> ErrorInfo {
    let (title, details) = match code {
        0 => ("AuthException", "We were unable to authenticate the app user."),
        1 => ("API Unknown", "Invalid request or possible server error."),
        2 => ("API Service", "Temporary due to downtime or due to being overloaded."),
        4 => ("API Too Many Calls", "The app has reached its API call rate limit."),
        10 => ("API Permission Denied", "Permission is either not granted or has been removed."),
        100 => ("Invalid parameter", "The request included one or more unsupported or misspelled parameters."),
        190 => ("Access token has expired", "Your access token has expired."),
        368 => ("Temporarily blocked for policies violations", "The WhatsApp Business Account associated with the app has been restricted or disabled for violating a platform policy."),
        80007 => ("Rate limit issues", "The WhatsApp Business Account has reached its rate limit."),
        130429 => ("Rate limit hit", "Cloud API message throughput has been reached."),
        130472 => ("User's number is part of an experiment", "Failed to send message because this user's phone number is part of an experiment"),
        130497 => ("Business account is restricted from messaging users in this country", "The business is not allowed to send messages to users in this country."),
        131000 => ("Something went wrong", "Message failed to send due to an unknown error."),
        131005 => ("Access denied", "Permission is either not granted or has been removed."),
        131008 => ("Required parameter is missing", "The request is missing a required parameter."),
        131009 => ("Parameter value is not valid", "One or more parameter values are invalid."),
        131016 => ("Service unavailable", "A service is temporarily unavailable."),
        131021 => ("Recipient cannot be sender", "Sender and recipient phone number is the same."),
        131026 => ("Message undeliverable", "Unable to deliver message. The recipient may not be a WhatsApp user, may not have accepted the terms of service, or may use an outdated client."),
        131031 => ("Account has been locked", "The business account was locked, or the two-step verification PIN was incorrect."),
        131037 => ("WhatsApp provided number needs display name approval before message can be sent.", "The 555 business number needs an approved display name before it can send messages."),
        131042 => ("Business eligibility payment issue", "Message failed to send because there were one or more errors related to your payment method."),
        131045 => ("Incorrect certificate", "Message failed to send due to a phone number registration error."),
        131047 => ("Re-engagement message", "Message failed to send because more than 24 hours have passed since the customer last replied to this number."),
        131048 => ("Spam rate limit hit", "Message failed to send because there are restrictions on how many messages can be sent from this phone number. This may be because too many previous messages were blocked or flagged as spam."),
        131049 => ("This message was not delivered to maintain healthy ecosystem engagement.", "In order to maintain a healthy ecosystem engagement, the message failed to be delivered."),
        131050 => ("Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on WhatsApp from your business.", "The recipient has opted out of marketing messages from this business."),
        131051 => ("Unsupported message type", "Message type is not currently supported."),
        131052 => ("Media download error", "Unable to download the media sent by the user."),
        131053 => ("Media upload error", "Unable to upload the media used in the message."),
        131056 => ("(Business Account, Consumer Account) pair rate limit hit", "Message failed to send because there were too many messages sent from this phone number to the same phone number in a short period of time."),
        131057 => ("Account in maintenance mode", "Business Account is in maintenance mode."),
        132000 => ("Number of parameters does not match the expected number of params", "The number of variable parameter values does not match the number of variables in the template."),
        132001 => ("Template name does not exist in the translation", "The template does not exist in the specified language or has not been approved."),
        132005 => ("Translated text too long", "Translated text is too long."),
        132007 => ("Template Format Character Policy Violated", "Template content violates a WhatsApp policy."),
        132012 => ("Parameter format does not match format in the created template", "Variable parameter values are formatted incorrectly."),
        132015 => ("Template is Paused", "The template is paused due to low quality."),
        132016 => ("Template is Disabled", "The template has been paused too many times due to low quality and is now permanently disabled."),
        133005 => ("Two step verification PIN Mismatch", "The two-step verification PIN is incorrect."),
        133010 => ("Phone number not registered", "The phone number is not registered on the WhatsApp Business Platform."),
        136024 => ("Request code error", "The verification code could not be sent."),
        136025 => ("Verify code error", "The code entered is incorrect."),
        137000 => ("Identity key hash mismatch", "The recipient's identity key hash does not match the one supplied."),
        _ => ("Sandbox injected error", "The sandbox was configured to fail this recipient with this code."),
    };
    ErrorInfo { title, details }
}

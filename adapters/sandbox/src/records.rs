//! What the sandbox records and reports through the control API; shared with [`crate::SandboxClient`].

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One send the sandbox accepted, in acceptance order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SentMessage {
    /// The wamid the sandbox answered with.
    pub wamid: String,
    /// The phone number id from the URL.
    pub phone_number_id: String,
    /// `to` as sent (a JSON number is turned into its digits).
    pub to: String,
    /// `to` reduced to digits, as the `wa_id` of the response.
    pub wa_id: String,
    /// The message type (`text`, `template`, …).
    #[serde(rename = "type")]
    pub kind: String,
    /// The tracking string, when the send had one.
    pub biz_opaque_callback_data: Option<String>,
    /// When the sandbox accepted it.
    pub accepted_at: DateTime<Utc>,
    /// The full request body.
    pub body: serde_json::Value,
}

/// One call to the messages endpoint that got an error, with Meta's code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rejection {
    /// The phone number id from the URL.
    pub phone_number_id: String,
    /// `to`, when the body had one.
    pub to: Option<String>,
    /// `type`, when the body had one (`null` for mark-read calls).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Meta's error code (100, 130429, 131056, …).
    pub code: u32,
    /// The HTTP status answered.
    pub http_status: u16,
    /// `error.message`.
    pub message: String,
    /// `error.error_data.details`, when present.
    pub details: Option<String>,
    /// When it was refused.
    pub rejected_at: DateTime<Utc>,
    /// The request body (`null` when it was not JSON).
    pub body: serde_json::Value,
}

/// One accepted mark-as-read (or typing-indicator) call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MarkRead {
    /// The phone number id from the URL.
    pub phone_number_id: String,
    /// The incoming wamid marked read.
    pub message_id: String,
    /// Whether a typing indicator was asked for too.
    pub typing_indicator: bool,
    /// When the call was answered.
    pub read_at: DateTime<Utc>,
}

/// One inbound message the sandbox delivered (or tried to) to Parley.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboundRecord {
    /// The wamid of the inbound message.
    pub wamid: String,
    /// The business phone number id it was addressed to.
    pub phone_number_id: String,
    /// The customer's wa_id.
    pub from: String,
    /// The message type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Whether Parley answered 2xx.
    pub delivered: bool,
    /// Parley's last HTTP status, if it answered at all.
    pub status: Option<u16>,
    /// When the delivery finished.
    pub at: DateTime<Utc>,
}

/// The answer of `GET /_sandbox/messages`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MessagesReport {
    /// Accepted sends, in acceptance order.
    pub messages: Vec<SentMessage>,
    /// Refused calls to the messages endpoint, in order (also `GET /_sandbox/rejections`).
    pub rejections: Vec<Rejection>,
    /// Accepted mark-read calls, in order.
    pub reads: Vec<MarkRead>,
    /// Inbound messages delivered through `POST /_sandbox/inbound`, in order.
    pub inbound: Vec<InboundRecord>,
    /// Management webhooks (template reviews and the `/_sandbox/template-*`, `phone-quality` and
    /// `account-update` controls) delivered or tried, in order.
    #[serde(default)]
    pub management: Vec<ManagementWebhook>,
}

/// One management webhook the sandbox delivered (or tried to) to Parley.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManagementWebhook {
    /// `changes[0].field`, e.g. `message_template_status_update`.
    pub field: String,
    /// `entry[0].id`.
    pub waba_id: String,
    /// `changes[0].value`.
    pub value: serde_json::Value,
    /// Whether Parley answered 2xx.
    pub delivered: bool,
    /// Parley's last HTTP status, if it answered at all.
    pub status: Option<u16>,
    /// When the delivery finished.
    pub at: DateTime<Utc>,
}

/// The answer of `GET /_sandbox/stats`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Sends accepted.
    pub accepted: u64,
    /// Calls refused, all codes together.
    pub rejected_total: u64,
    /// Calls refused, by Meta error code (JSON keys are the codes as strings).
    pub rejected: BTreeMap<u32, u64>,
    /// Mark-read calls accepted.
    pub mark_reads: u64,
    /// Media uploads accepted.
    pub media_uploads: u64,
    /// Webhooks Parley acknowledged with 2xx (statuses, inbound and raw ones; duplicates count).
    pub webhooks_delivered: u64,
    /// Webhooks given up on after every retry.
    pub webhooks_failed: u64,
    /// Single POST attempts that failed (non-2xx or unreachable), retried or not.
    pub webhook_attempts_failed: u64,
    /// Status webhooks and template reviews scheduled but not yet finished; 0 once everything
    /// has been delivered.
    pub webhooks_pending: u64,
    /// The highest number of accepted sends within any 1-second window (all phone numbers).
    pub max_accepted_in_any_second: u64,
    /// Distinct recipients of accepted template sends in the trailing 24 hours, by sending phone
    /// number id: what Meta's messaging-limit tiers cap (the sandbox counts every template send,
    /// as it does not track customer-service windows).
    #[serde(default)]
    pub unique_template_recipients_24h: BTreeMap<String, u64>,
    /// Templates created (`POST /{waba-id}/message_templates` accepted).
    #[serde(default)]
    pub template_submissions: u64,
    /// Template edits accepted (`POST /{template-id}`), each a new submission for review.
    #[serde(default)]
    pub template_edits: u64,
}

/// The answer of `POST /_sandbox/webhook` and the outcome of any single webhook delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryOutcome {
    /// Whether Parley answered 2xx (after retries).
    pub delivered: bool,
    /// Parley's last HTTP status; `null` if it never answered or no webhook URL is set.
    pub status: Option<u16>,
}

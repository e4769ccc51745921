//! Meta's webhook envelope (README §5.3), its signature (§5.2), delivery with retries, and the
//! sent → delivered → read schedule of an accepted send (§5.5).

use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::Bytes;
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;

use crate::config::StatusDelays;
use crate::meta_error::{describe, ERROR_CODES_HREF};
use crate::records::DeliveryOutcome;
use crate::state::SandboxState;
use crate::status_batches::{post_status, BatchTarget};

/// The header Meta signs webhooks in.
pub const SIGNATURE_HEADER: &str = "X-Hub-Signature-256";

/// `sha256=<hex HMAC-SHA256(app_secret, body)>`, the value of [`SIGNATURE_HEADER`].
pub fn signature(app_secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(app_secret.as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// `{"object": "whatsapp_business_account", "entry": [...]}`; fields in Meta's order.
#[derive(Debug, Serialize)]
pub(crate) struct Envelope<V> {
    pub object: &'static str,
    pub entry: [Entry<V>; 1],
}

/// One `entry[]`: the WABA id and one change.
#[derive(Debug, Serialize)]
pub(crate) struct Entry<V> {
    pub id: String,
    /// Only on non-`messages` fields, where Meta sends an integer `time` (README §5.3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<i64>,
    pub changes: [Change<V>; 1],
}

/// One `changes[]`: `value` then `field`, as in the fixtures.
#[derive(Debug, Serialize)]
pub(crate) struct Change<V> {
    pub value: V,
    pub field: String,
}

impl<V: Serialize> Envelope<V> {
    /// An envelope holding one change.
    pub fn new(waba_id: String, field: &str, time: Option<i64>, value: V) -> Self {
        Self {
            object: "whatsapp_business_account",
            entry: [Entry {
                id: waba_id,
                time,
                changes: [Change {
                    value,
                    field: field.to_string(),
                }],
            }],
        }
    }

    /// The exact bytes that are signed and posted.
    pub fn to_bytes(&self) -> Bytes {
        Bytes::from(serde_json::to_vec(self).expect("webhook envelopes always serialize"))
    }
}

/// `value` of a `messages` change.
#[derive(Debug, Serialize)]
pub(crate) struct MessagesValue<M> {
    pub messaging_product: &'static str,
    pub metadata: Metadata,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contacts: Option<Vec<Contact>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub messages: Option<Vec<M>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statuses: Option<Vec<Status>>,
}

/// `metadata` of a `messages` change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Metadata {
    pub display_phone_number: String,
    pub phone_number_id: String,
}

/// `contacts[]` of an inbound message.
#[derive(Debug, Serialize)]
pub(crate) struct Contact {
    pub profile: Profile,
    pub wa_id: String,
}

/// `contacts[].profile`.
#[derive(Debug, Serialize)]
pub(crate) struct Profile {
    pub name: String,
}

/// One `statuses[]` entry, fields in the order of `webhook_status_sent.json`.
#[derive(Debug, Serialize)]
pub(crate) struct Status {
    pub id: String,
    pub status: &'static str,
    pub timestamp: String,
    pub recipient_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub biz_opaque_callback_data: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversation: Option<ConversationOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pricing: Option<Pricing>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<WebhookError>>,
}

/// `statuses[].conversation`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ConversationOut {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiration_timestamp: Option<String>,
    pub origin: Origin,
}

/// `conversation.origin`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Origin {
    #[serde(rename = "type")]
    pub kind: String,
}

/// `statuses[].pricing` with per-message pricing (`PMP`, the model since July 2025).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Pricing {
    pub billable: bool,
    pub pricing_model: &'static str,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub category: String,
}

/// `errors[]` of a failed status.
#[derive(Debug, Serialize)]
pub(crate) struct WebhookError {
    pub code: u32,
    pub title: String,
    pub message: String,
    pub error_data: WebhookErrorData,
    pub href: &'static str,
}

/// `errors[].error_data`.
#[derive(Debug, Serialize)]
pub(crate) struct WebhookErrorData {
    pub details: String,
}

/// Everything needed to deliver the statuses of one accepted send, captured at acceptance so
/// that a later config change does not alter a message already in flight.
#[derive(Debug)]
pub(crate) struct StatusPlan {
    pub url: String,
    pub waba_id: String,
    pub metadata: Metadata,
    pub wamid: String,
    pub recipient_id: String,
    pub biz_opaque_callback_data: Option<String>,
    pub conversation: ConversationOut,
    pub pricing: Pricing,
    /// Wall-clock acceptance time in milliseconds, for the statuses' `timestamp`.
    pub accepted_ms: i64,
    /// Monotonic acceptance time, for the schedule.
    pub accepted_at: tokio::time::Instant,
    pub delays: StatusDelays,
    pub out_of_order: bool,
    pub duplicate: bool,
    /// Set when the recipient fails asynchronously: one `failed` status replaces the three.
    pub failure_code: Option<u32>,
    /// At most this many statuses per POST (1: each on its own).
    pub batch_max: usize,
}

/// Which status a scheduled webhook carries.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Sent,
    Delivered,
    Read,
    Failed(u32),
}

impl StatusPlan {
    /// The statuses in arrival order with their arrival delay and true delay (for `timestamp`).
    fn schedule(&self) -> Vec<(Duration, Duration, Kind)> {
        let d = self.delays;
        if let Some(code) = self.failure_code {
            return vec![(d.sent, d.sent, Kind::Failed(code))];
        }
        let mut true_order = [
            (d.sent, Kind::Sent),
            (d.delivered.max(d.sent), Kind::Delivered),
            (d.read.max(d.delivered).max(d.sent), Kind::Read),
        ];
        let arrivals: Vec<Duration> = true_order.iter().map(|(at, _)| *at).collect();
        if self.out_of_order {
            // Arrival slots stay where they are; the statuses are dealt into them backwards,
            // so `read` arrives first while every `timestamp` still tells the true order.
            true_order.reverse();
        }
        arrivals
            .into_iter()
            .zip(true_order)
            .map(|(arrival, (happened, kind))| (arrival, happened, kind))
            .collect()
    }

    /// One status of this send.
    fn status(&self, kind: Kind, happened_after: Duration) -> Status {
        let timestamp = ((self.accepted_ms + happened_after.as_millis() as i64) / 1000).to_string();
        // Meta puts `conversation` and `pricing` on `sent` and on one of `delivered`/`read`
        // (README §5.5); the sandbox picks `delivered`, and never puts them on `failed`.
        let (name, billing, errors) = match kind {
            Kind::Sent => ("sent", true, None),
            Kind::Delivered => ("delivered", true, None),
            Kind::Read => ("read", false, None),
            Kind::Failed(code) => {
                let info = describe(code);
                let error = WebhookError {
                    code,
                    title: info.title.to_string(),
                    message: info.title.to_string(),
                    error_data: WebhookErrorData {
                        details: info.details.to_string(),
                    },
                    href: ERROR_CODES_HREF,
                };
                ("failed", false, Some(vec![error]))
            }
        };
        let conversation = billing.then(|| {
            let mut c = self.conversation.clone();
            // Only Meta's `sent` carries the expiration (status fixtures).
            if !matches!(kind, Kind::Sent) {
                c.expiration_timestamp = None;
            }
            c
        });
        Status {
            id: self.wamid.clone(),
            status: name,
            timestamp,
            recipient_id: self.recipient_id.clone(),
            biz_opaque_callback_data: self.biz_opaque_callback_data.clone(),
            conversation,
            pricing: billing.then(|| self.pricing.clone()),
            errors,
        }
    }

    /// The webhook body of one status on its own.
    fn body(&self, status: Status) -> Bytes {
        let value = MessagesValue::<()> {
            messaging_product: "whatsapp",
            metadata: self.metadata.clone(),
            contacts: None,
            messages: None,
            statuses: Some(vec![status]),
        };
        Envelope::new(self.waba_id.clone(), "messages", None, value).to_bytes()
    }

    fn batch_target(&self) -> BatchTarget {
        BatchTarget {
            url: self.url.clone(),
            waba_id: self.waba_id.clone(),
            metadata: self.metadata.clone(),
        }
    }

    /// How many POSTs this plan makes, for the pending gauge.
    pub fn post_count(&self) -> u64 {
        let statuses = if self.failure_code.is_some() { 1 } else { 3 };
        if self.duplicate {
            statuses * 2
        } else {
            statuses
        }
    }
}

/// Delivers the statuses of one send; runs in its own task so the send's answer never waits.
///
/// The statuses of one message are posted one after the other (each after its predecessor's
/// retries), so their arrival order is exactly the planned one.
pub(crate) async fn run_status_plan(state: SandboxState, plan: StatusPlan) {
    let mut remaining = plan.post_count();
    for (arrival, happened, kind) in plan.schedule() {
        tokio::time::sleep_until(plan.accepted_at + arrival).await;
        if state.is_closed() {
            break;
        }
        let copies = if plan.duplicate { 2 } else { 1 };
        for _ in 0..copies {
            let status = plan.status(kind, happened);
            if plan.batch_max > 1 {
                post_status(&state, plan.batch_target(), status, plan.batch_max).await;
            } else {
                post_signed(&state, &plan.url, plan.body(status)).await;
            }
            state.counters().pending.fetch_sub(1, Ordering::Relaxed);
            remaining -= 1;
        }
    }
    state
        .counters()
        .pending
        .fetch_sub(remaining, Ordering::Relaxed);
}

/// POSTs a signed body to Parley, retrying with doubling backoff on non-2xx or no answer.
pub(crate) async fn post_signed(state: &SandboxState, url: &str, body: Bytes) -> DeliveryOutcome {
    post_signed_updates(state, url, body, 1).await
}

/// [`post_signed`] for a body carrying `updates` updates (statuses), each counted as delivered
/// or failed.
pub(crate) async fn post_signed_updates(
    state: &SandboxState,
    url: &str,
    body: Bytes,
    updates: u64,
) -> DeliveryOutcome {
    let policy = state.delivery_policy();
    let signature = signature(state.app_secret(), &body);
    let mut last_status = None;
    let mut backoff = policy.initial_backoff;
    for attempt in 1..=policy.attempts.max(1) {
        let result = {
            // The permit bounds concurrent POSTs only, never the waits between them.
            let _permit = state.delivery_permits().acquire().await;
            let sent = state
                .http()
                .post(url)
                .header("content-type", "application/json")
                .header(SIGNATURE_HEADER, &signature)
                .header("user-agent", "facebookexternalua")
                .body(body.clone())
                .send()
                .await;
            match sent {
                Ok(response) => {
                    let status = response.status();
                    // Reading the body lets the connection go back to the pool.
                    let _ = response.bytes().await;
                    Ok(status)
                }
                Err(e) => Err(e),
            }
        };
        match result {
            Ok(status) if status.is_success() => {
                state
                    .counters()
                    .delivered
                    .fetch_add(updates, Ordering::Relaxed);
                return DeliveryOutcome {
                    delivered: true,
                    status: Some(status.as_u16()),
                };
            }
            Ok(status) => {
                tracing::debug!(%url, %status, attempt, "webhook refused");
                last_status = Some(status.as_u16());
            }
            Err(error) => {
                tracing::debug!(%url, %error, attempt, "webhook not delivered");
            }
        }
        state
            .counters()
            .attempts_failed
            .fetch_add(1, Ordering::Relaxed);
        if attempt < policy.attempts && !state.is_closed() {
            tokio::time::sleep(backoff).await;
            backoff *= 2;
        }
    }
    state
        .counters()
        .failed
        .fetch_add(updates, Ordering::Relaxed);
    tracing::warn!(%url, "webhook given up after retries");
    DeliveryOutcome {
        delivered: false,
        status: last_status,
    }
}

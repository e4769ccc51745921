//! The sandbox's memory: what it accepted and refused, the rate windows, uploaded media, the live
//! configuration and the counters.
//!
//! Everything a send touches sits behind one mutex, taken once per send for a few map look-ups
//! and pushes: at thousands of sends per second on two cores that is cheaper and simpler than
//! finer locks. Webhook counters are atomics because delivery tasks update them constantly.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use chrono::Utc;
use tokio::sync::Semaphore;

use crate::config::{DeliveryPolicy, RuntimeConfig, SandboxConfig};
use crate::error::SandboxError;
use crate::ids::{self, Direction};
use crate::meta_error::{GraphFailure, PAIR_RATE_CODE, THROUGHPUT_CODE};
use crate::numbers::Numbers;
use crate::records::{
    InboundRecord, ManagementWebhook, MarkRead, MessagesReport, Rejection, SentMessage, Stats,
};
use crate::status_batches::StatusBatches;
use crate::templates::Templates;
use crate::webhooks::{ConversationOut, Metadata, Origin, Pricing, StatusPlan};

/// The shared state of one sandbox; cheap to clone, every clone sees the same sandbox.
#[derive(Clone)]
pub struct SandboxState {
    shared: Arc<Shared>,
}

struct Shared {
    app_secret: String,
    access_token: Option<String>,
    delivery: DeliveryPolicy,
    /// One client for every webhook, so connections to Parley are pooled and reused.
    http: reqwest::Client,
    permits: Semaphore,
    /// Statuses waiting for a batched POST (when `status_batch_max` > 1).
    status_batches: StatusBatches,
    counters: Counters,
    closed: AtomicBool,
    data: Mutex<Data>,
    /// Templates have their own lock: only template sends and management calls take it.
    templates: Mutex<Templates>,
    /// Phone numbers' quality, registration and profile; only Graph management calls take it.
    numbers: Mutex<Numbers>,
}

/// Webhook counters, updated by delivery tasks without taking the state lock.
#[derive(Default)]
pub(crate) struct Counters {
    pub delivered: AtomicU64,
    pub failed: AtomicU64,
    pub attempts_failed: AtomicU64,
    pub pending: AtomicU64,
}

#[derive(Default)]
struct Data {
    config: RuntimeConfig,
    messages: Vec<SentMessage>,
    /// Acceptance instants as offsets from `epoch`, parallel to `messages`, for the per-second maximum.
    accepted_offsets: Vec<Duration>,
    /// Every wamid the sandbox issued, so a mark-read of one can be refused as Meta does.
    outgoing: HashSet<String>,
    rejections: Vec<Rejection>,
    reads: Vec<MarkRead>,
    inbound: Vec<InboundRecord>,
    management: Vec<ManagementWebhook>,
    media: HashMap<String, MediaItem>,
    /// Ids of deleted media, so that `GET /{id}` keeps answering "does not exist" for them.
    deleted_media: HashSet<String>,
    /// Last acceptance of a template send per (phone number id → wa_id), for the 24-hour
    /// unique-recipient figure.
    template_recipients: HashMap<String, HashMap<String, Instant>>,
    /// Acceptance instants of the last second, per phone number id.
    throughput: HashMap<String, VecDeque<Instant>>,
    /// Acceptance instants within the pair-rate window, per (phone number id, wa_id).
    pairs: HashMap<(String, String), VecDeque<Instant>>,
    /// Open conversations per (phone number id, wa_id, category), as Meta bills them.
    conversations: HashMap<(String, String, String), Conversation>,
    accepted: u64,
    rejected: BTreeMap<u32, u64>,
    mark_reads: u64,
    media_uploads: u64,
    epoch: Option<Instant>,
}

struct Conversation {
    id: String,
    expires_at: i64,
}

/// An uploaded (or placeholder inbound) media file.
#[derive(Debug, Clone)]
pub struct MediaItem {
    /// The media id.
    pub id: String,
    /// The phone number id it was uploaded to.
    pub phone_number_id: String,
    /// Its MIME type.
    pub mime_type: String,
    /// Hex SHA-256 of the bytes, as Meta's media URL response gives it.
    pub sha256_hex: String,
    /// The file name, when the upload had one.
    pub filename: Option<String>,
    /// The bytes.
    pub bytes: Bytes,
}

/// A validated send, ready for admission.
#[derive(Debug)]
pub(crate) struct SendRequest {
    pub phone_number_id: String,
    pub to: String,
    pub wa_id: String,
    pub kind: String,
    pub biz_opaque_callback_data: Option<String>,
    pub body: serde_json::Value,
}

/// What admission hands back for the response and the status webhooks.
pub(crate) struct Admitted {
    pub wamid: String,
    pub plan: Option<StatusPlan>,
}

impl SandboxState {
    /// A fresh sandbox state from its configuration.
    pub fn new(config: SandboxConfig) -> Result<Self, SandboxError> {
        let http = reqwest::Client::builder()
            .timeout(config.delivery.timeout)
            .pool_max_idle_per_host(config.delivery.concurrency)
            .build()
            .map_err(SandboxError::HttpClient)?;
        let mut runtime = config.runtime();
        runtime.normalize();
        Ok(Self {
            shared: Arc::new(Shared {
                app_secret: config.app_secret,
                access_token: config.access_token,
                delivery: config.delivery,
                http,
                permits: Semaphore::new(config.delivery.concurrency.max(1)),
                status_batches: StatusBatches::default(),
                counters: Counters::default(),
                closed: AtomicBool::new(false),
                data: Mutex::new(Data {
                    config: runtime,
                    epoch: Some(Instant::now()),
                    ..Data::default()
                }),
                templates: Mutex::new(Templates::default()),
                numbers: Mutex::new(Numbers::default()),
            }),
        })
    }

    fn data(&self) -> MutexGuard<'_, Data> {
        // A panic while holding the lock leaves plain data behind, still usable: keep serving.
        self.shared
            .data
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The templates, locked.
    pub(crate) fn templates(&self) -> MutexGuard<'_, Templates> {
        self.shared
            .templates
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The phone numbers' state, locked.
    pub(crate) fn numbers(&self) -> MutexGuard<'_, Numbers> {
        self.shared
            .numbers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn app_secret(&self) -> &str {
        &self.shared.app_secret
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.shared.http
    }

    pub(crate) fn delivery_policy(&self) -> DeliveryPolicy {
        self.shared.delivery
    }

    pub(crate) fn delivery_permits(&self) -> &Semaphore {
        &self.shared.permits
    }

    pub(crate) fn status_batches(&self) -> &StatusBatches {
        &self.shared.status_batches
    }

    pub(crate) fn counters(&self) -> &Counters {
        &self.shared.counters
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Relaxed)
    }

    /// Stops pending webhook deliveries (called when the server shuts down).
    pub fn close(&self) {
        self.shared.closed.store(true, Ordering::Relaxed);
    }

    /// Whether a bearer token is accepted: any non-empty one, or exactly the configured one.
    pub(crate) fn token_accepted(&self, token: &str) -> bool {
        match &self.shared.access_token {
            Some(expected) => token == expected,
            None => !token.is_empty(),
        }
    }

    /// The live configuration.
    pub fn config(&self) -> RuntimeConfig {
        self.data().config.clone()
    }

    /// Applies a partial JSON update (see [`RuntimeConfig::merged`]) and returns the result.
    pub fn update_config(&self, update: &serde_json::Value) -> Result<RuntimeConfig, String> {
        let mut data = self.data();
        let merged = data.config.merged(update)?;
        data.config = merged.clone();
        Ok(merged)
    }

    /// Replaces the live configuration.
    pub fn set_config(&self, mut config: RuntimeConfig) {
        config.normalize();
        self.data().config = config;
    }

    /// The WABA a phone number id belongs to.
    pub(crate) fn waba_id_of(&self, phone_number_id: &str) -> String {
        self.data().config.waba_id_of(phone_number_id).to_string()
    }

    /// Whether `id` is a WABA id the sandbox knows of (configured, or holding templates).
    pub(crate) fn is_known_waba(&self, id: &str) -> bool {
        let configured = {
            let data = self.data();
            data.config.waba_id == id || data.config.phone_number_wabas.values().any(|w| w == id)
        };
        configured || self.templates().knows_waba(id)
    }

    /// The added latency of Graph API answers.
    pub(crate) fn response_delay(&self) -> Duration {
        Duration::from_millis(self.data().config.faults.response_delay_ms)
    }

    /// The webhook URL, WABA id and display number for a phone number id, if webhooks are on.
    pub(crate) fn webhook_target(&self, phone_number_id: &str) -> Option<(String, String, String)> {
        let data = self.data();
        let url = data.config.webhook_url.clone()?;
        Some((
            url,
            data.config.waba_id_of(phone_number_id).to_string(),
            data.config
                .display_phone_number(phone_number_id)
                .to_string(),
        ))
    }

    /// Checks the rate limits and failure switches, then records the send, all under one lock.
    pub(crate) fn admit(&self, request: SendRequest) -> Result<Admitted, GraphFailure> {
        let mut guard = self.data();
        let data = &mut *guard;
        let now = Instant::now();
        // Copied out so the checks below can borrow the windows mutably.
        let throughput_limit = data.config.faults.throughput_limit_mps;
        let pair_rate = data.config.faults.pair_rate;
        let sync_failure = data
            .config
            .faults
            .fail_recipients
            .get(&request.wa_id)
            .copied();

        if let Some(limit) = throughput_limit {
            let window = data
                .throughput
                .entry(request.phone_number_id.clone())
                .or_default();
            expire(window, now, Duration::from_secs(1));
            if window.len() >= limit as usize {
                return Err(reject(
                    data,
                    request,
                    GraphFailure::from_code(THROUGHPUT_CODE),
                ));
            }
        }
        let pair_key = (request.phone_number_id.clone(), request.wa_id.clone());
        if let Some(pair) = pair_rate {
            let window = data.pairs.entry(pair_key.clone()).or_default();
            expire(
                window,
                now,
                Duration::from_secs(pair.per_seconds.max(1) as u64),
            );
            if window.len() >= pair.max as usize {
                return Err(reject(
                    data,
                    request,
                    GraphFailure::from_code(PAIR_RATE_CODE),
                ));
            }
        }
        if let Some(code) = sync_failure {
            return Err(reject(data, request, GraphFailure::from_code(code)));
        }

        // Accepted: only now do the windows count it, so refused attempts never use up quota
        // and the per-second maximum can never exceed the configured limit.
        if throughput_limit.is_some() {
            if let Some(window) = data.throughput.get_mut(&request.phone_number_id) {
                window.push_back(now);
            }
        }
        if pair_rate.is_some() {
            if let Some(window) = data.pairs.get_mut(&pair_key) {
                window.push_back(now);
            }
        }

        let wamid = ids::wamid(&request.wa_id, Direction::Outgoing);
        let accepted_at = Utc::now();
        let plan = data.config.webhook_url.clone().map(|url| {
            let failure_code = data
                .config
                .faults
                .fail_recipients_async
                .get(&request.wa_id)
                .copied();
            let (category, pricing) =
                pricing_for(&request.kind, &data.config.faults.template_category);
            let conversation = conversation_for(
                &mut data.conversations,
                (
                    request.phone_number_id.clone(),
                    request.wa_id.clone(),
                    category.clone(),
                ),
                accepted_at.timestamp(),
            );
            StatusPlan {
                url,
                waba_id: data.config.waba_id_of(&request.phone_number_id).to_string(),
                metadata: Metadata {
                    display_phone_number: data
                        .config
                        .display_phone_number(&request.phone_number_id)
                        .to_string(),
                    phone_number_id: request.phone_number_id.clone(),
                },
                wamid: wamid.clone(),
                recipient_id: request.wa_id.clone(),
                biz_opaque_callback_data: request.biz_opaque_callback_data.clone(),
                conversation,
                pricing,
                accepted_ms: accepted_at.timestamp_millis(),
                accepted_at: tokio::time::Instant::from_std(now),
                delays: data.config.status_delays,
                out_of_order: data.config.faults.out_of_order_statuses,
                duplicate: data.config.faults.duplicate_webhooks,
                failure_code,
                batch_max: data.config.status_batch_max.max(1) as usize,
            }
        });

        let epoch = *data.epoch.get_or_insert(now);
        data.accepted_offsets
            .push(now.saturating_duration_since(epoch));
        data.outgoing.insert(wamid.clone());
        data.accepted += 1;
        if request.kind == "template" {
            data.template_recipients
                .entry(request.phone_number_id.clone())
                .or_default()
                .insert(request.wa_id.clone(), now);
        }
        data.messages.push(SentMessage {
            wamid: wamid.clone(),
            phone_number_id: request.phone_number_id,
            to: request.to,
            wa_id: request.wa_id,
            kind: request.kind,
            biz_opaque_callback_data: request.biz_opaque_callback_data,
            accepted_at,
            body: request.body,
        });
        if let Some(plan) = &plan {
            self.counters()
                .pending
                .fetch_add(plan.post_count(), Ordering::Relaxed);
        }
        Ok(Admitted { wamid, plan })
    }

    /// Records a refused call to the messages endpoint and passes the failure through.
    pub(crate) fn record_rejection(
        &self,
        phone_number_id: &str,
        body: serde_json::Value,
        failure: GraphFailure,
    ) -> GraphFailure {
        let mut data = self.data();
        let request = SendRequest {
            phone_number_id: phone_number_id.to_string(),
            to: body.get("to").map(json_text).unwrap_or_default(),
            wa_id: String::new(),
            kind: body
                .get("type")
                .and_then(|t| t.as_str())
                .unwrap_or_default()
                .to_string(),
            biz_opaque_callback_data: None,
            body,
        };
        reject(&mut data, request, failure)
    }

    /// Accepts a mark-read, unless the wamid is one the sandbox issued (Meta refuses outgoing ids).
    pub(crate) fn mark_read(
        &self,
        phone_number_id: &str,
        message_id: &str,
        typing_indicator: bool,
        body: serde_json::Value,
    ) -> Result<(), GraphFailure> {
        let mut data = self.data();
        if data.outgoing.contains(message_id) {
            let failure = GraphFailure::invalid_parameter(format!(
                "Message supplied to mark message as read API with message ID: {message_id} is outgoing. Please use an incoming message ID."
            ));
            let request = SendRequest {
                phone_number_id: phone_number_id.to_string(),
                to: String::new(),
                wa_id: String::new(),
                kind: String::new(),
                biz_opaque_callback_data: None,
                body,
            };
            return Err(reject(&mut data, request, failure));
        }
        data.mark_reads += 1;
        data.reads.push(MarkRead {
            phone_number_id: phone_number_id.to_string(),
            message_id: message_id.to_string(),
            typing_indicator,
            read_at: Utc::now(),
        });
        Ok(())
    }

    /// Stores an uploaded media file.
    pub(crate) fn store_media(&self, item: MediaItem, count_upload: bool) {
        let mut data = self.data();
        if count_upload {
            data.media_uploads += 1;
        }
        data.media.insert(item.id.clone(), item);
    }

    /// A stored media file.
    pub fn media(&self, id: &str) -> Option<MediaItem> {
        self.data().media.get(id).cloned()
    }

    /// Deletes a stored media file; false if there was none.
    pub(crate) fn delete_media(&self, id: &str) -> bool {
        let mut data = self.data();
        let deleted = data.media.remove(id).is_some();
        if deleted {
            data.deleted_media.insert(id.to_string());
        }
        deleted
    }

    /// Whether `id` names a media file that was deleted.
    pub(crate) fn media_was_deleted(&self, id: &str) -> bool {
        self.data().deleted_media.contains(id)
    }

    /// Records an inbound delivery.
    pub(crate) fn record_inbound(&self, record: InboundRecord) {
        self.data().inbound.push(record);
    }

    /// Records a management webhook delivery.
    pub(crate) fn record_management(&self, record: ManagementWebhook) {
        self.data().management.push(record);
    }

    /// Everything recorded, in order.
    pub fn messages(&self) -> MessagesReport {
        let data = self.data();
        MessagesReport {
            messages: data.messages.clone(),
            rejections: data.rejections.clone(),
            reads: data.reads.clone(),
            inbound: data.inbound.clone(),
            management: data.management.clone(),
        }
    }

    /// The refused calls, in order.
    pub fn rejections(&self) -> Vec<Rejection> {
        self.data().rejections.clone()
    }

    /// Forgets every record, rate window and counter (configuration, media, templates and
    /// phone numbers stay).
    pub fn clear(&self) {
        let mut data = self.data();
        let config = std::mem::take(&mut data.config);
        let media = std::mem::take(&mut data.media);
        let deleted_media = std::mem::take(&mut data.deleted_media);
        *data = Data {
            config,
            media,
            deleted_media,
            epoch: Some(Instant::now()),
            ..Data::default()
        };
        drop(data);
        let mut templates = self.templates();
        templates.created = 0;
        templates.edited = 0;
        drop(templates);
        let counters = self.counters();
        counters.delivered.store(0, Ordering::Relaxed);
        counters.failed.store(0, Ordering::Relaxed);
        counters.attempts_failed.store(0, Ordering::Relaxed);
        // `pending` is left alone: it tracks tasks still running, which a clear does not stop.
    }

    /// The counters.
    pub fn stats(&self) -> Stats {
        let (template_submissions, template_edits) = {
            let templates = self.templates();
            (templates.created, templates.edited)
        };
        let data = self.data();
        let counters = self.counters();
        let now = Instant::now();
        let day = Duration::from_secs(86_400);
        let unique_template_recipients_24h = data
            .template_recipients
            .iter()
            .map(|(number, recipients)| {
                let recent = recipients
                    .values()
                    .filter(|at| now.duration_since(**at) < day)
                    .count();
                (number.clone(), recent as u64)
            })
            .filter(|(_, recent)| *recent > 0)
            .collect();
        Stats {
            accepted: data.accepted,
            rejected_total: data.rejected.values().sum(),
            rejected: data.rejected.clone(),
            mark_reads: data.mark_reads,
            media_uploads: data.media_uploads,
            webhooks_delivered: counters.delivered.load(Ordering::Relaxed),
            webhooks_failed: counters.failed.load(Ordering::Relaxed),
            webhook_attempts_failed: counters.attempts_failed.load(Ordering::Relaxed),
            webhooks_pending: counters.pending.load(Ordering::Relaxed),
            max_accepted_in_any_second: max_in_any_second(&data.accepted_offsets),
            unique_template_recipients_24h,
            template_submissions,
            template_edits,
        }
    }
}

/// Drops instants older than `window` from the front.
fn expire(window: &mut VecDeque<Instant>, now: Instant, span: Duration) {
    while let Some(&oldest) = window.front() {
        if now.duration_since(oldest) >= span {
            window.pop_front();
        } else {
            break;
        }
    }
}

/// Records a refusal and returns the failure for the answer.
fn reject(data: &mut Data, request: SendRequest, failure: GraphFailure) -> GraphFailure {
    *data.rejected.entry(failure.error.code).or_default() += 1;
    let non_empty = |s: String| (!s.is_empty()).then_some(s);
    data.rejections.push(Rejection {
        phone_number_id: request.phone_number_id,
        to: non_empty(request.to),
        kind: non_empty(request.kind),
        code: failure.error.code,
        http_status: failure.status.as_u16(),
        message: failure.error.message.clone(),
        details: failure.error.error_data.as_ref().map(|d| d.details.clone()),
        rejected_at: Utc::now(),
        body: request.body,
    });
    failure
}

/// `to` as text whether it was sent as a string or a number.
pub(crate) fn json_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The category and pricing of a send: templates are billed, free-form replies are free
/// customer-service messages (README §5.5, D-pricing).
fn pricing_for(kind: &str, template_category: &str) -> (String, Pricing) {
    if kind == "template" {
        let category = template_category.to_string();
        (
            category.clone(),
            Pricing {
                billable: true,
                pricing_model: "PMP",
                kind: "regular",
                category,
            },
        )
    } else {
        (
            "service".to_string(),
            Pricing {
                billable: false,
                pricing_model: "PMP",
                kind: "free_customer_service",
                category: "service".to_string(),
            },
        )
    }
}

/// The open conversation for this key, or a new 24-hour one, as Meta reuses conversation ids.
fn conversation_for(
    conversations: &mut HashMap<(String, String, String), Conversation>,
    key: (String, String, String),
    now_secs: i64,
) -> ConversationOut {
    let category = key.2.clone();
    let conversation = conversations.entry(key).or_insert_with(|| Conversation {
        id: ids::conversation_id(),
        expires_at: now_secs + 86_400,
    });
    if conversation.expires_at <= now_secs {
        *conversation = Conversation {
            id: ids::conversation_id(),
            expires_at: now_secs + 86_400,
        };
    }
    ConversationOut {
        id: conversation.id.clone(),
        expiration_timestamp: Some(conversation.expires_at.to_string()),
        origin: Origin { kind: category },
    }
}

/// The most offsets within any span shorter than one second (offsets are in order).
fn max_in_any_second(offsets: &[Duration]) -> u64 {
    let mut best = 0;
    let mut start = 0;
    for (end, &at) in offsets.iter().enumerate() {
        while at - offsets[start] >= Duration::from_secs(1) {
            start += 1;
        }
        best = best.max(end - start + 1);
    }
    best as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_in_any_second_uses_a_sliding_window() {
        let ms = |v: &[u64]| {
            v.iter()
                .map(|&m| Duration::from_millis(m))
                .collect::<Vec<_>>()
        };
        assert_eq!(max_in_any_second(&[]), 0);
        assert_eq!(max_in_any_second(&ms(&[0, 10, 20])), 3);
        // 900..1800 holds four, although no calendar second holds more than two.
        assert_eq!(max_in_any_second(&ms(&[0, 900, 1000, 1700, 1800, 2900])), 4);
        assert_eq!(max_in_any_second(&ms(&[0, 1000, 2000])), 1);
    }
}

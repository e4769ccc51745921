//! What the sandbox is started with ([`SandboxConfig`]) and the switches that can be changed
//! while it runs ([`RuntimeConfig`], served as `GET/PUT /_sandbox/config`).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The WABA id put in `entry[].id` when none is configured.
pub const DEFAULT_WABA_ID: &str = "200000000000001";

/// The `metadata.display_phone_number` used for a phone number id with no configured display number.
pub const DEFAULT_DISPLAY_PHONE_NUMBER: &str = "15550100001";

/// The app secret used when none is configured; only for local runs, never a real secret.
pub const DEFAULT_APP_SECRET: &str = "sandbox-app-secret";

/// How long a template review takes when none is configured, in milliseconds.
pub const DEFAULT_TEMPLATE_REVIEW_DELAY_MS: u64 = 200;

/// Everything the sandbox is started with.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Parley's `POST /webhook`; with none, nothing is delivered (sends are still accepted).
    pub webhook_url: Option<String>,
    /// Key of the `X-Hub-Signature-256` HMAC, as Meta's app secret.
    pub app_secret: String,
    /// When set, only this bearer token is accepted; otherwise any non-empty one is.
    pub access_token: Option<String>,
    /// The WABA id put in `entry[].id` of every webhook.
    pub waba_id: String,
    /// Display numbers by phone number id, for `metadata.display_phone_number`.
    pub display_phone_numbers: BTreeMap<String, String>,
    /// When `sent`, `delivered` and `read` are delivered, counted from acceptance.
    pub status_delays: StatusDelays,
    /// The fault-injection switches the sandbox starts with.
    pub faults: Faults,
    /// How webhooks are retried and how many are in flight at once.
    pub delivery: DeliveryPolicy,
    /// WABA ids by phone number id, for numbers outside [`SandboxConfig::waba_id`].
    pub phone_number_wabas: BTreeMap<String, String>,
    /// What the review of a submitted template decides.
    pub template_review: TemplateReview,
    /// How long the review of a submitted template takes.
    pub template_review_delay: Duration,
    /// At most this many statuses per webhook POST (see [`RuntimeConfig::status_batch_max`]).
    pub status_batch_max: u32,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            webhook_url: None,
            app_secret: DEFAULT_APP_SECRET.to_string(),
            access_token: None,
            waba_id: DEFAULT_WABA_ID.to_string(),
            display_phone_numbers: BTreeMap::new(),
            status_delays: StatusDelays::default(),
            faults: Faults::default(),
            delivery: DeliveryPolicy::default(),
            phone_number_wabas: BTreeMap::new(),
            template_review: TemplateReview::default(),
            template_review_delay: Duration::from_millis(DEFAULT_TEMPLATE_REVIEW_DELAY_MS),
            status_batch_max: 1,
        }
    }
}

impl SandboxConfig {
    /// A default configuration delivering webhooks to `webhook_url`, signed with `app_secret`.
    pub fn new(webhook_url: impl Into<String>, app_secret: impl Into<String>) -> Self {
        Self {
            webhook_url: Some(webhook_url.into()),
            app_secret: app_secret.into(),
            ..Self::default()
        }
    }

    /// The part of this configuration that `PUT /_sandbox/config` can change later.
    pub fn runtime(&self) -> RuntimeConfig {
        RuntimeConfig {
            webhook_url: self.webhook_url.clone(),
            waba_id: self.waba_id.clone(),
            display_phone_numbers: self.display_phone_numbers.clone(),
            status_delays: self.status_delays,
            faults: self.faults.clone(),
            phone_number_wabas: self.phone_number_wabas.clone(),
            template_review: self.template_review,
            template_review_delay_ms: self.template_review_delay.as_millis() as u64,
            status_batch_max: self.status_batch_max,
        }
    }
}

/// Delays from acceptance to each status webhook; zero is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "StatusDelaysMs", into = "StatusDelaysMs")]
pub struct StatusDelays {
    /// Delay of the `sent` status (also of `failed` for asynchronous failures).
    pub sent: Duration,
    /// Delay of the `delivered` status.
    pub delivered: Duration,
    /// Delay of the `read` status.
    pub read: Duration,
}

impl Default for StatusDelays {
    fn default() -> Self {
        Self {
            sent: Duration::from_millis(50),
            delivered: Duration::from_millis(100),
            read: Duration::from_millis(150),
        }
    }
}

impl StatusDelays {
    /// All three statuses right after acceptance, for tests that do not care about timing.
    pub const ZERO: StatusDelays = StatusDelays {
        sent: Duration::ZERO,
        delivered: Duration::ZERO,
        read: Duration::ZERO,
    };
}

/// The JSON form of [`StatusDelays`]: whole milliseconds, so that the control API stays plain JSON.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct StatusDelaysMs {
    sent_ms: u64,
    delivered_ms: u64,
    read_ms: u64,
}

impl From<StatusDelaysMs> for StatusDelays {
    fn from(ms: StatusDelaysMs) -> Self {
        Self {
            sent: Duration::from_millis(ms.sent_ms),
            delivered: Duration::from_millis(ms.delivered_ms),
            read: Duration::from_millis(ms.read_ms),
        }
    }
}

impl From<StatusDelays> for StatusDelaysMs {
    fn from(d: StatusDelays) -> Self {
        Self {
            sent_ms: d.sent.as_millis() as u64,
            delivered_ms: d.delivered.as_millis() as u64,
            read_ms: d.read.as_millis() as u64,
        }
    }
}

/// The fault-injection switches; all off by default so that benchmarks measure Parley alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// Accepted sends per phone number in any 1-second window; above it Meta's 130429.
    pub throughput_limit_mps: Option<u32>,
    /// Accepted sends per (phone number, recipient) in a window; above it Meta's 131056.
    pub pair_rate: Option<PairRate>,
    /// Recipients (wa_id digits) whose sends fail synchronously with this Meta error code.
    pub fail_recipients: BTreeMap<String, u32>,
    /// Recipients whose sends are accepted, then get a `failed` status with this code.
    pub fail_recipients_async: BTreeMap<String, u32>,
    /// Every status webhook is delivered twice, as Meta's retries sometimes do.
    pub duplicate_webhooks: bool,
    /// Status webhooks arrive as read, delivered, sent (timestamps keep the true order).
    pub out_of_order_statuses: bool,
    /// Added latency before every Graph API answer, in milliseconds.
    pub response_delay_ms: u64,
    /// `pricing.category` and `conversation.origin.type` of template sends.
    pub template_category: String,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            throughput_limit_mps: None,
            pair_rate: None,
            fail_recipients: BTreeMap::new(),
            fail_recipients_async: BTreeMap::new(),
            duplicate_webhooks: false,
            out_of_order_statuses: false,
            response_delay_ms: 0,
            template_category: "utility".to_string(),
        }
    }
}

/// At most `max` accepted sends to one recipient per `per_seconds` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairRate {
    /// Sends allowed in the window.
    pub max: u32,
    /// Window length in seconds.
    pub per_seconds: u32,
}

/// How webhook deliveries are retried and bounded.
#[derive(Debug, Clone, Copy)]
pub struct DeliveryPolicy {
    /// Tries per webhook, the first included; a webhook that fails them all is counted as failed.
    pub attempts: u32,
    /// Wait before the first retry; it doubles after each failed try.
    pub initial_backoff: Duration,
    /// Timeout of one POST to Parley.
    pub timeout: Duration,
    /// POSTs in flight at once, so that a burst of sends does not open thousands of connections.
    pub concurrency: usize,
}

impl Default for DeliveryPolicy {
    fn default() -> Self {
        Self {
            attempts: 4,
            initial_backoff: Duration::from_millis(250),
            timeout: Duration::from_secs(10),
            concurrency: 64,
        }
    }
}

/// The most updates Meta puts in one webhook POST.
pub const MAX_STATUS_BATCH: u32 = 1000;

/// The live configuration, read and changed through `GET/PUT /_sandbox/config`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuntimeConfig {
    /// Parley's webhook URL; `null` stops deliveries.
    pub webhook_url: Option<String>,
    /// The WABA id put in `entry[].id`.
    pub waba_id: String,
    /// Display numbers by phone number id.
    #[serde(default)]
    pub display_phone_numbers: BTreeMap<String, String>,
    /// Delays of the status webhooks, as `{"sent_ms","delivered_ms","read_ms"}`.
    pub status_delays: StatusDelays,
    /// The injection switches, flattened into the same JSON object.
    #[serde(flatten)]
    pub faults: Faults,
    /// WABA ids by phone number id; numbers not listed belong to `waba_id`.
    #[serde(default)]
    pub phone_number_wabas: BTreeMap<String, String>,
    /// What template reviews decide: `approve`, `reject` or `manual` (stays `PENDING`).
    #[serde(default)]
    pub template_review: TemplateReview,
    /// How long a template review takes, in milliseconds.
    #[serde(default = "default_template_review_delay_ms")]
    pub template_review_delay_ms: u64,
    /// At most this many statuses in one webhook POST. Meta batches up to 1000 updates per POST
    /// when it has many to deliver ("not guaranteed"); with more than 1, statuses that fall due
    /// while the sandbox's status POSTs are all in flight share the next one. 1 (the default)
    /// posts every status on its own, which keeps counts of POSTs predictable in tests.
    #[serde(default = "one")]
    pub status_batch_max: u32,
}

fn one() -> u32 {
    1
}

fn default_template_review_delay_ms() -> u64 {
    DEFAULT_TEMPLATE_REVIEW_DELAY_MS
}

/// What the sandbox's review of a submitted (created or edited) template decides.
///
/// A template whose name starts with `reject_` is rejected whatever the policy, so that a test
/// can exercise both outcomes without changing the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TemplateReview {
    /// `APPROVED` after the review delay.
    #[default]
    Approve,
    /// `REJECTED` (reason `INVALID_FORMAT`) after the review delay.
    Reject,
    /// Stays `PENDING` until `POST /_sandbox/template-status` decides.
    Manual,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        SandboxConfig::default().runtime()
    }
}

impl RuntimeConfig {
    /// The display number for a phone number id, or the default one.
    pub fn display_phone_number(&self, phone_number_id: &str) -> &str {
        self.display_phone_numbers
            .get(phone_number_id)
            .map(String::as_str)
            .unwrap_or(DEFAULT_DISPLAY_PHONE_NUMBER)
    }

    /// The WABA a phone number id belongs to.
    pub fn waba_id_of(&self, phone_number_id: &str) -> &str {
        self.phone_number_wabas
            .get(phone_number_id)
            .map(String::as_str)
            .unwrap_or(&self.waba_id)
    }

    /// Applies a partial JSON update: present keys replace, `null` clears, unknown keys are refused.
    ///
    /// A merge rather than a replacement, so that `{"throughput_limit_mps": 10}` does not reset
    /// every other switch; unknown keys are refused because a misspelt switch would otherwise be
    /// silently ignored and the test relying on it would pass for the wrong reason.
    pub fn merged(&self, update: &serde_json::Value) -> Result<RuntimeConfig, String> {
        let serde_json::Value::Object(changes) = update else {
            return Err("the configuration must be a JSON object".to_string());
        };
        let mut current = match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(map)) => map,
            _ => return Err("the current configuration cannot be serialized".to_string()),
        };
        for (key, value) in changes {
            if !current.contains_key(key) {
                return Err(format!("unknown configuration key `{key}`"));
            }
            current.insert(key.clone(), value.clone());
        }
        let mut merged: RuntimeConfig = serde_json::from_value(serde_json::Value::Object(current))
            .map_err(|e| format!("invalid configuration: {e}"))?;
        merged.normalize();
        if let Some(pair) = merged.faults.pair_rate {
            if pair.per_seconds == 0 {
                return Err("pair_rate.per_seconds must be at least 1".to_string());
            }
        }
        if !(1..=MAX_STATUS_BATCH).contains(&merged.status_batch_max) {
            return Err(format!(
                "status_batch_max must be between 1 and {MAX_STATUS_BATCH} (Meta's most per POST)"
            ));
        }
        Ok(merged)
    }

    /// Reduces recipient keys to digits, the form sends are matched on (`+1 555…` and `1555…` alike).
    pub(crate) fn normalize(&mut self) {
        self.faults.fail_recipients = normalize_keys(&self.faults.fail_recipients);
        self.faults.fail_recipients_async = normalize_keys(&self.faults.fail_recipients_async);
    }
}

fn normalize_keys(map: &BTreeMap<String, u32>) -> BTreeMap<String, u32> {
    map.iter()
        .map(|(k, v)| (crate::ids::wa_id_of(k), *v))
        .collect()
}

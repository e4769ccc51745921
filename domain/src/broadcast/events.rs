//! What has happened to a broadcast.

use crate::{WorkspaceId, E164, EVENT_VERSION_1};
use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

/// Where a broadcast is in its life (the seed's statuses plus `paused`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BroadcastStatus {
    Draft,
    Scheduled,
    Sending,
    Paused,
    Completed,
    Failed,
    Cancelled,
}

impl BroadcastStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [BroadcastStatus; 7] = [
        Self::Draft,
        Self::Scheduled,
        Self::Sending,
        Self::Paused,
        Self::Completed,
        Self::Failed,
        Self::Cancelled,
    ];

    /// The wire form: `draft`, `scheduled`, `sending`, `paused`, `completed`, `failed`, `cancelled`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Scheduled => "scheduled",
            Self::Sending => "sending",
            Self::Paused => "paused",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for BroadcastStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BroadcastStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| {
                format!("'{s}' is not one of draft, scheduled, sending, paused, completed, failed, cancelled")
            })
    }
}

/// The template a broadcast sends, as the caller named it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BroadcastTemplate {
    pub name: String,
    pub language: String,
    /// Parameters every recipient gets (Meta's component JSON), e.g. a media header.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<Value>,
}

/// One recipient, with the variables their message is personalised with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BroadcastRecipient {
    pub phone: E164,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Keyed by position (`"1"`) or variable name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub variables: BTreeMap<String, String>,
}

/// Why a recipient of the frozen audience gets no message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SkipReason {
    /// The contact opted out of messages from this number.
    OptedOut,
    /// The business blocked the contact.
    Blocked,
    /// The recipient's variables do not fit the template.
    InvalidVariables { detail: String },
}

impl SkipReason {
    /// The machine code: `OPTED_OUT`, `BLOCKED` or `INVALID_VARIABLES`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::OptedOut => "OPTED_OUT",
            Self::Blocked => "BLOCKED",
            Self::InvalidVariables { .. } => "INVALID_VARIABLES",
        }
    }

    /// A sentence for people.
    pub fn describe(&self) -> String {
        match self {
            Self::OptedOut => "skipped: the contact opted out".into(),
            Self::Blocked => "skipped: the contact is blocked".into(),
            Self::InvalidVariables { detail } => format!("skipped: {detail}"),
        }
    }
}

/// A recipient left out when sending started, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedRecipient {
    pub phone: E164,
    pub reason: SkipReason,
}

/// The approved template as it was when sending started: everything needed to build each
/// recipient's message, so the sends never depend on the template changing later.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplateSnapshot {
    /// The Template aggregate's id.
    pub template_id: Uuid,
    pub name: String,
    pub language: String,
    /// The template's components (Meta's JSON).
    pub components: Vec<Value>,
    /// The template's variable metadata (the Template aggregate's JSON).
    pub variables: Vec<Value>,
}

/// What started the sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StartTrigger {
    /// A caller asked to send now.
    Manual,
    /// The scheduler, at the scheduled time.
    Schedule,
}

/// Why a broadcast was paused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PauseReason {
    /// A caller paused it.
    Manual,
    /// Meta rated the sending number's quality RED.
    QualityRed,
    /// The template stopped being sendable (paused or disabled by Meta).
    TemplateUnavailable { status: String },
}

impl PauseReason {
    /// A sentence for people.
    pub fn describe(&self) -> String {
        match self {
            Self::Manual => "paused by a user".into(),
            Self::QualityRed => "paused because Meta rated the phone number's quality RED".into(),
            Self::TemplateUnavailable { status } => {
                format!("paused because Meta set the template to {status}")
            }
        }
    }
}

/// The funnel when sending finished (folded from the recipients' message events).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BroadcastCounts {
    pub total: u32,
    pub sent: u32,
    pub delivered: u32,
    pub read: u32,
    pub failed: u32,
    pub skipped: u32,
}

/// Events of the Broadcast aggregate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum BroadcastEvent {
    BroadcastCreated {
        workspace_id: WorkspaceId,
        /// Parley's id of the sending number.
        phone_number_id: Uuid,
        name: String,
        description: Option<String>,
        template: BroadcastTemplate,
        at: DateTime<Utc>,
    },
    /// New recipients (duplicates were left out by the aggregate).
    BroadcastRecipientsAdded {
        recipients: Vec<BroadcastRecipient>,
        at: DateTime<Utc>,
    },
    /// Recipients taken out (only phones that were in).
    BroadcastRecipientsRemoved {
        phones: Vec<E164>,
        at: DateTime<Utc>,
    },
    BroadcastScheduled {
        scheduled_at: DateTime<Utc>,
        at: DateTime<Utc>,
    },
    /// Back to draft.
    BroadcastScheduleCancelled {
        at: DateTime<Utc>,
    },
    /// Its time came but it could not start (e.g. its template is no longer approved): back to
    /// draft, with the reason for people.
    BroadcastScheduledStartRefused {
        reason: String,
        at: DateTime<Utc>,
    },
    /// The audience is frozen: every recipient not skipped gets one message.
    BroadcastStarted {
        template: TemplateSnapshot,
        skipped: Vec<SkippedRecipient>,
        /// Recipients who will be sent a message.
        audience: u32,
        trigger: StartTrigger,
        at: DateTime<Utc>,
    },
    BroadcastPaused {
        reason: PauseReason,
        at: DateTime<Utc>,
    },
    BroadcastResumed {
        at: DateTime<Utc>,
    },
    /// The recipients whose message failed get a new one (sending round `round`).
    BroadcastFailedRecipientsRetried {
        round: u32,
        phones: Vec<E164>,
        at: DateTime<Utc>,
    },
    /// Every recipient's message is final (sent, delivered, read or failed) or skipped.
    BroadcastCompleted {
        /// `completed`, or `failed` when not one message was sent.
        status: BroadcastStatus,
        counts: BroadcastCounts,
        at: DateTime<Utc>,
    },
    BroadcastCancelled {
        at: DateTime<Utc>,
    },
    BroadcastDeleted {
        at: DateTime<Utc>,
    },
}

impl BroadcastEvent {
    /// When the event happened.
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            Self::BroadcastCreated { at, .. }
            | Self::BroadcastRecipientsAdded { at, .. }
            | Self::BroadcastRecipientsRemoved { at, .. }
            | Self::BroadcastScheduled { at, .. }
            | Self::BroadcastScheduleCancelled { at }
            | Self::BroadcastScheduledStartRefused { at, .. }
            | Self::BroadcastStarted { at, .. }
            | Self::BroadcastPaused { at, .. }
            | Self::BroadcastResumed { at }
            | Self::BroadcastFailedRecipientsRetried { at, .. }
            | Self::BroadcastCompleted { at, .. }
            | Self::BroadcastCancelled { at }
            | Self::BroadcastDeleted { at } => *at,
        }
    }
}

impl DomainEvent for BroadcastEvent {
    fn event_type(&self) -> String {
        let name = match self {
            Self::BroadcastCreated { .. } => "BroadcastCreated",
            Self::BroadcastRecipientsAdded { .. } => "BroadcastRecipientsAdded",
            Self::BroadcastRecipientsRemoved { .. } => "BroadcastRecipientsRemoved",
            Self::BroadcastScheduled { .. } => "BroadcastScheduled",
            Self::BroadcastScheduleCancelled { .. } => "BroadcastScheduleCancelled",
            Self::BroadcastScheduledStartRefused { .. } => "BroadcastScheduledStartRefused",
            Self::BroadcastStarted { .. } => "BroadcastStarted",
            Self::BroadcastPaused { .. } => "BroadcastPaused",
            Self::BroadcastResumed { .. } => "BroadcastResumed",
            Self::BroadcastFailedRecipientsRetried { .. } => "BroadcastFailedRecipientsRetried",
            Self::BroadcastCompleted { .. } => "BroadcastCompleted",
            Self::BroadcastCancelled { .. } => "BroadcastCancelled",
            Self::BroadcastDeleted { .. } => "BroadcastDeleted",
        };
        name.to_string()
    }

    fn event_version(&self) -> String {
        EVENT_VERSION_1.to_string()
    }
}

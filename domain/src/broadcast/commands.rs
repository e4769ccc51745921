//! What can be asked of a broadcast.

use super::events::{
    BroadcastCounts, BroadcastRecipient, BroadcastTemplate, PauseReason, SkippedRecipient,
    StartTrigger, TemplateSnapshot,
};
use crate::E164;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// A new broadcast, created as a draft.
#[derive(Debug, Clone, PartialEq)]
pub struct BroadcastDraft {
    pub phone_number_id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub template: BroadcastTemplate,
    pub recipients: Vec<BroadcastRecipient>,
}

/// Commands on a broadcast, wrapped in [`crate::Issued`].
#[derive(Debug, Clone, PartialEq)]
pub enum BroadcastCommand {
    CreateBroadcast(BroadcastDraft),
    /// Adds recipients to a draft; phones already in are skipped.
    AddRecipients(Vec<BroadcastRecipient>),
    /// Removes recipients from a draft.
    RemoveRecipients(Vec<E164>),
    /// Schedules a draft for a future time (at most 30 days ahead).
    Schedule {
        scheduled_at: DateTime<Utc>,
    },
    /// Returns a scheduled broadcast to draft.
    CancelSchedule,
    /// Returns a scheduled broadcast that could not start at its time to draft, saying why.
    RefuseScheduledStart {
        reason: String,
    },
    /// Freezes the audience and starts sending. The application checked the template and the
    /// recipients' standing and passes what it found.
    Start {
        template: TemplateSnapshot,
        skipped: Vec<SkippedRecipient>,
        trigger: StartTrigger,
    },
    Pause(PauseReason),
    Resume,
    /// Sends a new message to these recipients, whose last one failed.
    RetryFailed(Vec<E164>),
    /// Records that every recipient is final, with the funnel at that moment.
    Complete(BroadcastCounts),
    Cancel,
    Delete,
}

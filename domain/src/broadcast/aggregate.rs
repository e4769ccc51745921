//! The broadcast's state and rules.

use super::commands::{BroadcastCommand, BroadcastDraft};
use super::events::{
    BroadcastEvent, BroadcastRecipient, BroadcastStatus, BroadcastTemplate, PauseReason,
    SkippedRecipient,
};
use super::MAX_RECIPIENTS_PER_ADD;
use crate::{Issued, WorkspaceId, E164};
use chrono::{DateTime, Duration, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use uuid::Uuid;

/// How far ahead a broadcast may be scheduled (seed 001).
pub const MAX_SCHEDULE_AHEAD_DAYS: i64 = 30;
const MAX_NAME: usize = 256;
const MAX_DESCRIPTION: usize = 1024;
const MAX_RECIPIENT_NAME: usize = 256;
const MAX_VARIABLE: usize = 1024;

/// Why a broadcast command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BroadcastError {
    #[error("broadcast not found")]
    NotFound,
    #[error("broadcast already exists")]
    AlreadyExists,
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("cannot {action} a broadcast that is {status}")]
    WrongStatus {
        action: &'static str,
        status: BroadcastStatus,
    },
    #[error("the broadcast has no recipients")]
    NoRecipients,
}

/// A broadcast's state. Recipients are kept as bare numbers (their names and variables live in
/// the events and read models), so a broadcast of 100,000 stays small to load and snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BroadcastState {
    pub workspace_id: WorkspaceId,
    pub phone_number_id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub template: BroadcastTemplate,
    pub status: BroadcastStatus,
    /// E.164 digits of every recipient.
    pub recipients: HashSet<u64>,
    /// E.164 digits of the recipients skipped when sending started.
    pub skipped: HashSet<u64>,
    /// The current sending round: 0, then one more per retry of the failed.
    pub round: u32,
    pub scheduled_at: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub pause_reason: Option<PauseReason>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl BroadcastState {
    /// How many recipients the broadcast has.
    pub fn recipient_count(&self) -> usize {
        self.recipients.len()
    }

    /// Whether `phone` is a recipient who was not skipped.
    pub fn is_in_audience(&self, phone: &E164) -> bool {
        let key = phone_key(phone);
        self.recipients.contains(&key) && !self.skipped.contains(&key)
    }
}

/// The Broadcast aggregate: absent until created; a deleted broadcast stays deleted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Broadcast {
    pub state: Option<BroadcastState>,
    pub deleted: bool,
}

/// A phone as a number: E.164 has at most 15 digits, so it fits a u64.
fn phone_key(phone: &E164) -> u64 {
    phone.wa_id().parse().unwrap_or(0)
}

fn invalid(field: &'static str, reason: impl Into<String>) -> BroadcastError {
    BroadcastError::Invalid {
        field,
        reason: reason.into(),
    }
}

fn check_length(field: &'static str, value: &str, max: usize) -> Result<(), BroadcastError> {
    if value.trim().is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if value.chars().count() > max {
        return Err(invalid(field, format!("at most {max} characters")));
    }
    Ok(())
}

fn check_template(template: &BroadcastTemplate) -> Result<(), BroadcastError> {
    check_length("template.name", &template.name, 512)?;
    check_length("template.language", &template.language, 16)?;
    if template.components.iter().any(|c| !c.is_object()) {
        return Err(invalid(
            "template.components",
            "each component must be an object",
        ));
    }
    Ok(())
}

fn check_recipient(recipient: &BroadcastRecipient) -> Result<(), BroadcastError> {
    if let Some(name) = &recipient.name {
        if name.chars().count() > MAX_RECIPIENT_NAME {
            return Err(invalid(
                "recipients.name",
                format!("at most {MAX_RECIPIENT_NAME} characters"),
            ));
        }
    }
    for (key, value) in &recipient.variables {
        if key.trim().is_empty() {
            return Err(invalid("recipients.variables", "keys must not be empty"));
        }
        if value.chars().count() > MAX_VARIABLE {
            return Err(invalid(
                "recipients.variables",
                format!("values are at most {MAX_VARIABLE} characters"),
            ));
        }
    }
    Ok(())
}

impl Aggregate for Broadcast {
    const TYPE: &'static str = "broadcast";
    type Command = Issued<BroadcastCommand>;
    type Event = BroadcastEvent;
    type Error = BroadcastError;
    type Services = ();

    async fn handle(
        &mut self,
        issued: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let Issued {
            workspace_id,
            at,
            command,
        } = issued;
        let events = match command {
            BroadcastCommand::CreateBroadcast(draft) => self.create(workspace_id, draft, at)?,
            command => self.owned_by(workspace_id)?.decide(command, at)?,
        };
        for event in events {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            BroadcastEvent::BroadcastCreated {
                workspace_id,
                phone_number_id,
                name,
                description,
                template,
                at,
            } => {
                self.state = Some(BroadcastState {
                    workspace_id,
                    phone_number_id,
                    name,
                    description,
                    template,
                    status: BroadcastStatus::Draft,
                    recipients: HashSet::new(),
                    skipped: HashSet::new(),
                    round: 0,
                    scheduled_at: None,
                    started_at: None,
                    completed_at: None,
                    pause_reason: None,
                    created_at: at,
                    updated_at: at,
                })
            }
            BroadcastEvent::BroadcastDeleted { .. } => {
                self.state = None;
                self.deleted = true;
            }
            event => {
                if let Some(state) = self.state.as_mut() {
                    state.apply_change(event);
                }
            }
        }
    }
}

impl Broadcast {
    fn owned_by(&self, workspace: WorkspaceId) -> Result<&BroadcastState, BroadcastError> {
        match &self.state {
            Some(state) if state.workspace_id == workspace => Ok(state),
            _ => Err(BroadcastError::NotFound),
        }
    }

    fn create(
        &self,
        workspace_id: WorkspaceId,
        draft: BroadcastDraft,
        at: DateTime<Utc>,
    ) -> Result<Vec<BroadcastEvent>, BroadcastError> {
        if self.state.is_some() || self.deleted {
            return Err(BroadcastError::AlreadyExists);
        }
        check_length("name", &draft.name, MAX_NAME)?;
        if let Some(description) = &draft.description {
            if description.chars().count() > MAX_DESCRIPTION {
                return Err(invalid(
                    "description",
                    format!("at most {MAX_DESCRIPTION} characters"),
                ));
            }
        }
        check_template(&draft.template)?;
        let recipients = new_recipients(&HashSet::new(), draft.recipients)?;
        let mut events = vec![BroadcastEvent::BroadcastCreated {
            workspace_id,
            phone_number_id: draft.phone_number_id,
            name: draft.name,
            description: draft.description,
            template: draft.template,
            at,
        }];
        if !recipients.is_empty() {
            events.push(BroadcastEvent::BroadcastRecipientsAdded { recipients, at });
        }
        Ok(events)
    }
}

/// The recipients of `batch` not yet in `existing` (nor earlier in the batch), checked.
fn new_recipients(
    existing: &HashSet<u64>,
    batch: Vec<BroadcastRecipient>,
) -> Result<Vec<BroadcastRecipient>, BroadcastError> {
    if batch.len() > MAX_RECIPIENTS_PER_ADD {
        return Err(invalid(
            "recipients",
            format!("at most {MAX_RECIPIENTS_PER_ADD} per request"),
        ));
    }
    let mut seen = HashSet::with_capacity(batch.len());
    let mut fresh = Vec::with_capacity(batch.len());
    for recipient in batch {
        check_recipient(&recipient)?;
        let key = phone_key(&recipient.phone);
        if !existing.contains(&key) && seen.insert(key) {
            fresh.push(recipient);
        }
    }
    Ok(fresh)
}

impl BroadcastState {
    fn wrong(&self, action: &'static str) -> BroadcastError {
        BroadcastError::WrongStatus {
            action,
            status: self.status,
        }
    }

    fn decide(
        &self,
        command: BroadcastCommand,
        at: DateTime<Utc>,
    ) -> Result<Vec<BroadcastEvent>, BroadcastError> {
        use BroadcastStatus::*;
        let event = match command {
            BroadcastCommand::CreateBroadcast(_) => return Err(BroadcastError::AlreadyExists),
            BroadcastCommand::AddRecipients(batch) => {
                if self.status != Draft {
                    return Err(self.wrong("add recipients to"));
                }
                if batch.is_empty() {
                    return Err(invalid("recipients", "must not be empty"));
                }
                let recipients = new_recipients(&self.recipients, batch)?;
                if recipients.is_empty() {
                    return Ok(vec![]);
                }
                BroadcastEvent::BroadcastRecipientsAdded { recipients, at }
            }
            BroadcastCommand::RemoveRecipients(phones) => {
                if self.status != Draft {
                    return Err(self.wrong("remove recipients from"));
                }
                let mut seen = HashSet::new();
                let phones: Vec<E164> = phones
                    .into_iter()
                    .filter(|p| {
                        let key = phone_key(p);
                        self.recipients.contains(&key) && seen.insert(key)
                    })
                    .collect();
                if phones.is_empty() {
                    return Ok(vec![]);
                }
                BroadcastEvent::BroadcastRecipientsRemoved { phones, at }
            }
            BroadcastCommand::Schedule { scheduled_at } => {
                if self.status != Draft {
                    return Err(self.wrong("schedule"));
                }
                if self.recipients.is_empty() {
                    return Err(BroadcastError::NoRecipients);
                }
                if scheduled_at <= at {
                    return Err(invalid("scheduledAt", "must be in the future"));
                }
                if scheduled_at > at + Duration::days(MAX_SCHEDULE_AHEAD_DAYS) {
                    return Err(invalid(
                        "scheduledAt",
                        format!("at most {MAX_SCHEDULE_AHEAD_DAYS} days ahead"),
                    ));
                }
                BroadcastEvent::BroadcastScheduled { scheduled_at, at }
            }
            BroadcastCommand::CancelSchedule => {
                if self.status != Scheduled {
                    return Err(self.wrong("cancel the schedule of"));
                }
                BroadcastEvent::BroadcastScheduleCancelled { at }
            }
            BroadcastCommand::RefuseScheduledStart { reason } => {
                if self.status != Scheduled {
                    return Err(self.wrong("refuse the start of"));
                }
                BroadcastEvent::BroadcastScheduledStartRefused { reason, at }
            }
            BroadcastCommand::Start {
                template,
                skipped,
                trigger,
            } => {
                if !matches!(self.status, Draft | Scheduled) {
                    return Err(self.wrong("send"));
                }
                if self.recipients.is_empty() {
                    return Err(BroadcastError::NoRecipients);
                }
                let mut seen = HashSet::new();
                let skipped: Vec<SkippedRecipient> = skipped
                    .into_iter()
                    .filter(|s| {
                        let key = phone_key(&s.phone);
                        self.recipients.contains(&key) && seen.insert(key)
                    })
                    .collect();
                let audience = (self.recipients.len() - skipped.len()) as u32;
                BroadcastEvent::BroadcastStarted {
                    template,
                    skipped,
                    audience,
                    trigger,
                    at,
                }
            }
            BroadcastCommand::Pause(reason) => match self.status {
                Sending => BroadcastEvent::BroadcastPaused { reason, at },
                Paused => return Ok(vec![]),
                _ => return Err(self.wrong("pause")),
            },
            BroadcastCommand::Resume => match self.status {
                Paused => BroadcastEvent::BroadcastResumed { at },
                Sending => return Ok(vec![]),
                _ => return Err(self.wrong("resume")),
            },
            BroadcastCommand::RetryFailed(phones) => {
                if !matches!(self.status, Sending | Paused | Completed | Failed) {
                    return Err(self.wrong("retry the failed recipients of"));
                }
                let mut seen = HashSet::new();
                let phones: Vec<E164> = phones
                    .into_iter()
                    .filter(|p| self.is_in_audience(p) && seen.insert(phone_key(p)))
                    .collect();
                if phones.is_empty() {
                    return Ok(vec![]);
                }
                BroadcastEvent::BroadcastFailedRecipientsRetried {
                    round: self.round + 1,
                    phones,
                    at,
                }
            }
            BroadcastCommand::Complete(counts) => match self.status {
                Sending | Paused => {
                    let status = if counts.sent == 0 && counts.failed > 0 {
                        Failed
                    } else {
                        Completed
                    };
                    BroadcastEvent::BroadcastCompleted { status, counts, at }
                }
                Completed | Failed => return Ok(vec![]),
                _ => return Err(self.wrong("complete")),
            },
            BroadcastCommand::Cancel => match self.status {
                Scheduled | Sending | Paused => BroadcastEvent::BroadcastCancelled { at },
                Cancelled => return Ok(vec![]),
                _ => return Err(self.wrong("cancel")),
            },
            BroadcastCommand::Delete => match self.status {
                Draft | Cancelled => BroadcastEvent::BroadcastDeleted { at },
                _ => return Err(self.wrong("delete")),
            },
        };
        Ok(vec![event])
    }

    fn apply_change(&mut self, event: BroadcastEvent) {
        self.updated_at = event.at();
        match event {
            BroadcastEvent::BroadcastRecipientsAdded { recipients, .. } => {
                self.recipients
                    .extend(recipients.iter().map(|r| phone_key(&r.phone)));
            }
            BroadcastEvent::BroadcastRecipientsRemoved { phones, .. } => {
                for phone in &phones {
                    self.recipients.remove(&phone_key(phone));
                }
            }
            BroadcastEvent::BroadcastScheduled { scheduled_at, .. } => {
                self.status = BroadcastStatus::Scheduled;
                self.scheduled_at = Some(scheduled_at);
            }
            BroadcastEvent::BroadcastScheduleCancelled { .. }
            | BroadcastEvent::BroadcastScheduledStartRefused { .. } => {
                self.status = BroadcastStatus::Draft;
                self.scheduled_at = None;
            }
            BroadcastEvent::BroadcastStarted { skipped, at, .. } => {
                self.status = BroadcastStatus::Sending;
                self.skipped = skipped.iter().map(|s| phone_key(&s.phone)).collect();
                self.started_at = Some(at);
            }
            BroadcastEvent::BroadcastPaused { reason, .. } => {
                self.status = BroadcastStatus::Paused;
                self.pause_reason = Some(reason);
            }
            BroadcastEvent::BroadcastResumed { .. } => {
                self.status = BroadcastStatus::Sending;
                self.pause_reason = None;
            }
            BroadcastEvent::BroadcastFailedRecipientsRetried { round, .. } => {
                self.round = round;
                self.completed_at = None;
                if matches!(
                    self.status,
                    BroadcastStatus::Completed | BroadcastStatus::Failed
                ) {
                    self.status = BroadcastStatus::Sending;
                }
            }
            BroadcastEvent::BroadcastCompleted { status, at, .. } => {
                self.status = status;
                self.completed_at = Some(at);
                self.pause_reason = None;
            }
            BroadcastEvent::BroadcastCancelled { .. } => {
                self.status = BroadcastStatus::Cancelled;
                self.scheduled_at = None;
            }
            BroadcastEvent::BroadcastCreated { .. } | BroadcastEvent::BroadcastDeleted { .. } => {}
        }
    }
}

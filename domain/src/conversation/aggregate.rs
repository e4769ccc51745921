//! The conversation's state and rules.

use super::commands::{ConversationCommand, RecipientStanding};
use super::events::{ConversationEvent, ReplyTarget};
use super::{
    is_valid_wa_id, AiAgent, AiAgentChangedBy, ContentError, CustomerServiceWindow, DeliveryTrack,
    InboundContent, LeadFields, LeadQualification, MessageId, MetaFailure, OutboundContent,
    ReportedStatus, Wamid, MAX_AI_AGENT_REASON,
};
use crate::{Issued, WorkspaceId};
use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::BTreeMap;
use uuid::Uuid;

/// Why a conversation command was refused. Each variant has a stable machine [`code`](Self::code).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConversationError {
    /// No such conversation, or it belongs to another workspace.
    #[error("conversation not found")]
    NotFound,
    /// The customer's wa_id is not 6 to 15 digits.
    #[error("'{0}' is not a WhatsApp id (6 to 15 digits, no +)")]
    InvalidCustomerWaId(String),
    /// The command names another phone number or customer than the conversation it was sent to
    /// (the application derived the wrong conversation id).
    #[error("the phone number or customer does not match this conversation")]
    ConversationMismatch,
    /// A message with this id was already queued or received.
    #[error("message {0} already exists in this conversation")]
    DuplicateMessage(MessageId),
    /// The message body breaks one of Meta's rules.
    #[error(transparent)]
    InvalidContent(#[from] ContentError),
    /// The business blocked this contact.
    #[error("the recipient is blocked")]
    RecipientBlocked,
    /// The contact opted out of business messages.
    #[error("the recipient opted out of messages")]
    RecipientOptedOut,
    /// A free-form message outside the customer-service window.
    #[error(
        "the customer-service window is closed (no customer message in the last 24 hours): only templates can be sent"
    )]
    WindowClosed,
    /// `reply_to` names no message of this conversation.
    #[error("message {0} to reply to is not in this conversation")]
    UnknownReplyTarget(MessageId),
    /// `reply_to` names an outbound message Meta has not accepted yet, so it has no wamid to quote.
    #[error("message {0} to reply to has not been sent yet")]
    ReplyTargetNotSent(MessageId),
    /// A reaction to a wamid that is no message of this conversation.
    #[error("message {0} to react to is not in this conversation")]
    UnknownReactionTarget(Wamid),
    /// No outbound message of this conversation has this id.
    #[error("no outbound message {0} in this conversation")]
    UnknownMessage(MessageId),
    /// The message already has another wamid, or the wamid belongs to another message.
    #[error("message {message_id} cannot be named {wamid}: one of them is already taken")]
    WamidConflict {
        /// The message.
        message_id: MessageId,
        /// The wamid offered for it.
        wamid: Wamid,
    },
    /// Another input is invalid.
    #[error("{field}: {reason}")]
    Invalid {
        /// The input's name.
        field: &'static str,
        /// Why.
        reason: String,
    },
}

impl ConversationError {
    /// The stable machine code, e.g. `window_closed`; content errors report their own code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::InvalidCustomerWaId(_) => "invalid_wa_id",
            Self::ConversationMismatch => "conversation_mismatch",
            Self::DuplicateMessage(_) => "duplicate_message",
            Self::InvalidContent(error) => error.code(),
            Self::RecipientBlocked => "recipient_blocked",
            Self::RecipientOptedOut => "recipient_opted_out",
            Self::WindowClosed => "window_closed",
            Self::UnknownReplyTarget(_) => "unknown_reply_target",
            Self::ReplyTargetNotSent(_) => "reply_target_not_sent",
            Self::UnknownReactionTarget(_) => "unknown_reaction_target",
            Self::UnknownMessage(_) => "unknown_message",
            Self::WamidConflict { .. } => "wamid_conflict",
            Self::Invalid { .. } => "invalid_input",
        }
    }
}

/// Which way a message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From the customer.
    Inbound,
    /// From the business.
    Outbound,
}

/// What the aggregate keeps of one message: enough for its rules (reply targets, status merging),
/// not the content, which the read models hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageState {
    /// Which way it went.
    pub direction: Direction,
    /// Meta's id: known for every inbound message, and for an outbound one once Meta accepted it.
    pub wamid: Option<Wamid>,
    /// When it was queued (outbound) or sent by the customer (inbound).
    pub at: DateTime<Utc>,
    /// Delivery status and its timestamps; outbound messages only.
    pub delivery: Option<DeliveryTrack>,
}

/// A status reported for a wamid that no message had yet, waiting for the acceptance naming it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldStatus {
    /// The wamid reported on.
    pub wamid: Wamid,
    /// Our id of the message, when Meta echoed it.
    #[serde(default)]
    pub message_id: Option<MessageId>,
    /// What Meta reported.
    pub status: ReportedStatus,
    /// When it happened (Meta's timestamp).
    pub at: DateTime<Utc>,
}

/// The most recent inbound message, which a read receipt names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LatestInbound {
    /// Our id of it.
    pub message_id: MessageId,
    /// Its wamid.
    pub wamid: Wamid,
    /// When the customer sent it.
    pub sent_at: DateTime<Utc>,
}

/// A conversation's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationState {
    /// The owning workspace.
    pub workspace_id: WorkspaceId,
    /// Our phone-number id (the PhoneNumber aggregate's id).
    pub phone_number_id: Uuid,
    /// The customer's WhatsApp id, digits.
    pub customer_wa_id: String,
    /// The customer's latest WhatsApp profile name.
    pub customer_profile_name: Option<String>,
    /// Every message, by our id.
    pub messages: BTreeMap<MessageId, MessageState>,
    /// Our id of every message with a wamid, by wamid.
    pub message_by_wamid: BTreeMap<Wamid, MessageId>,
    /// Inbound messages since the last read receipt.
    pub unread_count: u32,
    /// The customer-service window; `None` until the customer first writes.
    pub window: Option<CustomerServiceWindow>,
    /// The latest inbound message by the customer's clock.
    pub latest_inbound: Option<LatestInbound>,
    /// The AI-agent flag.
    pub ai_agent: AiAgent,
    /// The lead-qualification fields.
    pub lead_qualification: LeadQualification,
    /// Statuses waiting for their message's acceptance, in arrival order.
    pub held_statuses: Vec<HeldStatus>,
    /// When the conversation started.
    pub started_at: DateTime<Utc>,
    /// When anything last changed.
    pub updated_at: DateTime<Utc>,
}

/// The Conversation aggregate: absent until its first message (either way).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    /// The state; `None` before the conversation started.
    pub state: Option<ConversationState>,
}

impl Aggregate for Conversation {
    const TYPE: &'static str = "conversation";
    type Command = Issued<ConversationCommand>;
    type Event = ConversationEvent;
    type Error = ConversationError;
    type Services = ();

    async fn handle(
        &mut self,
        issued: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        // Every event is decided before any is written, so a refusal leaves nothing half-done.
        let events = self.decide(issued)?;
        for event in events {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            ConversationEvent::ConversationStarted {
                workspace_id,
                phone_number_id,
                customer_wa_id,
                at,
            } => {
                self.state = Some(ConversationState {
                    workspace_id,
                    phone_number_id,
                    customer_wa_id,
                    customer_profile_name: None,
                    messages: BTreeMap::new(),
                    message_by_wamid: BTreeMap::new(),
                    unread_count: 0,
                    window: None,
                    latest_inbound: None,
                    ai_agent: AiAgent::default(),
                    lead_qualification: LeadQualification::default(),
                    held_statuses: Vec::new(),
                    started_at: at,
                    updated_at: at,
                })
            }
            event => {
                if let Some(state) = self.state.as_mut() {
                    state.apply_change(event);
                }
            }
        }
    }
}

impl Conversation {
    /// The events `issued` leads to, or why it is refused.
    fn decide(
        &self,
        issued: Issued<ConversationCommand>,
    ) -> Result<Vec<ConversationEvent>, ConversationError> {
        let Issued {
            workspace_id,
            at,
            command,
        } = issued;
        match command {
            ConversationCommand::QueueMessage {
                message_id,
                content,
                reply_to,
                recipient,
                phone_number_id,
                customer_wa_id,
            } => {
                let (started, state) =
                    self.open(workspace_id, phone_number_id, customer_wa_id, at)?;
                let queued = state.queue_message(message_id, content, reply_to, recipient, at)?;
                Ok(started.into_iter().chain([queued]).collect())
            }
            ConversationCommand::ReceiveInboundMessage {
                wamid,
                phone_number_id,
                customer_wa_id,
                profile_name,
                content,
                sent_at,
                context_wamid,
            } => {
                let (started, state) =
                    self.open(workspace_id, phone_number_id, customer_wa_id, at)?;
                // A redelivered webhook changes nothing, not even a start.
                Ok(
                    match state.receive(wamid, profile_name, content, sent_at, context_wamid, at) {
                        Some(received) => started.into_iter().chain([received]).collect(),
                        None => vec![],
                    },
                )
            }
            ConversationCommand::RecordBroadcastSend {
                message_id,
                broadcast_id,
                content,
                phone_number_id,
                customer_wa_id,
                outcome,
            } => {
                let (started, state) =
                    self.open(workspace_id, phone_number_id, customer_wa_id, at)?;
                let recorded =
                    state.record_broadcast_send(message_id, broadcast_id, content, outcome, at)?;
                if recorded.is_empty() {
                    return Ok(vec![]);
                }
                Ok(started.into_iter().chain(recorded).collect())
            }
            ConversationCommand::HoldEarlyDeliveryStatus {
                phone_number_id,
                customer_wa_id,
                wamid,
                message_id,
                status,
                at: reported_at,
            } => {
                let (started, state) =
                    self.open(workspace_id, phone_number_id, customer_wa_id, at)?;
                let held = state.record_status(wamid, Some(message_id), status, reported_at);
                if held.is_empty() {
                    return Ok(vec![]);
                }
                Ok(started.into_iter().chain(held).collect())
            }
            other => self.owned_by(workspace_id)?.decide(other, at),
        }
    }

    /// The live state if it belongs to `workspace`; another workspace's conversation does not exist for it.
    fn owned_by(&self, workspace: WorkspaceId) -> Result<&ConversationState, ConversationError> {
        match &self.state {
            Some(state) if state.workspace_id == workspace => Ok(state),
            _ => Err(ConversationError::NotFound),
        }
    }

    /// The state a message lands in: the existing conversation, or a new one together with the
    /// event that starts it.
    fn open(
        &self,
        workspace_id: WorkspaceId,
        phone_number_id: Uuid,
        customer_wa_id: String,
        at: DateTime<Utc>,
    ) -> Result<(Option<ConversationEvent>, Cow<'_, ConversationState>), ConversationError> {
        if self.state.is_some() {
            let state = self.owned_by(workspace_id)?;
            if state.phone_number_id != phone_number_id || state.customer_wa_id != customer_wa_id {
                return Err(ConversationError::ConversationMismatch);
            }
            return Ok((None, Cow::Borrowed(state)));
        }
        if !is_valid_wa_id(&customer_wa_id) {
            return Err(ConversationError::InvalidCustomerWaId(customer_wa_id));
        }
        let started = ConversationEvent::ConversationStarted {
            workspace_id,
            phone_number_id,
            customer_wa_id,
            at,
        };
        // The rules then run against the state the start event creates, through the same `apply`.
        let mut fresh = Conversation::default();
        fresh.apply(started.clone());
        let state = fresh.state.expect("ConversationStarted creates the state");
        Ok((Some(started), Cow::Owned(state)))
    }
}

impl ConversationState {
    /// Whether a free-form message may be sent at `t`; never before the customer's first message.
    pub fn window_open_at(&self, t: DateTime<Utc>) -> bool {
        self.window.is_some_and(|window| window.is_open_at(t))
    }

    /// The message and its delivery track, if `message_id` is an outbound message here.
    fn outbound(
        &self,
        message_id: MessageId,
    ) -> Result<(&MessageState, &DeliveryTrack), ConversationError> {
        self.messages
            .get(&message_id)
            .and_then(|message| Some((message, message.delivery.as_ref()?)))
            .ok_or(ConversationError::UnknownMessage(message_id))
    }

    /// The events of a command other than the two that may start the conversation.
    fn decide(
        &self,
        command: ConversationCommand,
        at: DateTime<Utc>,
    ) -> Result<Vec<ConversationEvent>, ConversationError> {
        match command {
            ConversationCommand::QueueMessage { .. }
            | ConversationCommand::ReceiveInboundMessage { .. }
            | ConversationCommand::RecordBroadcastSend { .. }
            | ConversationCommand::HoldEarlyDeliveryStatus { .. } => {
                unreachable!("handled by Conversation::decide")
            }
            ConversationCommand::RecordSendAccepted { message_id, wamid } => {
                self.record_accepted(message_id, wamid, at)
            }
            ConversationCommand::RecordSendFailed {
                message_id,
                failure,
            } => self.record_send_failed(message_id, failure, at),
            ConversationCommand::RecordDeliveryStatus {
                wamid,
                message_id,
                status,
                at: reported_at,
            } => Ok(self.record_status(wamid, message_id, status, reported_at)),
            ConversationCommand::MarkRead => Ok(self.mark_read(at)),
            ConversationCommand::SetAiAgent {
                enabled,
                changed_by,
                reason,
            } => self.set_ai_agent(enabled, changed_by, reason, at),
            ConversationCommand::UpdateLeadQualification(update) => {
                self.update_lead_qualification(update, at)
            }
        }
    }

    fn queue_message(
        &self,
        message_id: MessageId,
        content: OutboundContent,
        reply_to: Option<MessageId>,
        recipient: RecipientStanding,
        at: DateTime<Utc>,
    ) -> Result<ConversationEvent, ConversationError> {
        if self.messages.contains_key(&message_id) {
            return Err(ConversationError::DuplicateMessage(message_id));
        }
        content.validate()?;
        // Every message queued here is business-initiated as far as consent goes.
        if recipient.blocked {
            return Err(ConversationError::RecipientBlocked);
        }
        if recipient.opted_out {
            return Err(ConversationError::RecipientOptedOut);
        }
        if !content.is_template() && !self.window_open_at(at) {
            return Err(ConversationError::WindowClosed);
        }
        let reply_to = match reply_to {
            Some(target) => Some(self.reply_target(target)?),
            None => None,
        };
        if let Some(target) = content.reaction_target() {
            if !self.message_by_wamid.contains_key(target) {
                return Err(ConversationError::UnknownReactionTarget(target.clone()));
            }
        }
        Ok(ConversationEvent::MessageQueued {
            message_id,
            content,
            reply_to,
            phone_number_id: self.phone_number_id,
            customer_wa_id: self.customer_wa_id.clone(),
            broadcast_id: None,
            at,
        })
    }

    /// A broadcast's message, recorded after the call to Meta: queued (never by this
    /// conversation's outbox job) and at once accepted or failed. Consent and the template were
    /// checked when the broadcast started; templates need no open window.
    fn record_broadcast_send(
        &self,
        message_id: MessageId,
        broadcast_id: Uuid,
        content: OutboundContent,
        outcome: Result<Wamid, MetaFailure>,
        at: DateTime<Utc>,
    ) -> Result<Vec<ConversationEvent>, ConversationError> {
        if self.messages.contains_key(&message_id) {
            // Recorded already (a job repeated after a restart): Meta's first answer stands.
            return Ok(vec![]);
        }
        if !content.is_template() {
            return Err(ConversationError::InvalidContent(
                super::ContentError::TemplateRequired,
            ));
        }
        let queued = ConversationEvent::MessageQueued {
            message_id,
            content,
            reply_to: None,
            phone_number_id: self.phone_number_id,
            customer_wa_id: self.customer_wa_id.clone(),
            broadcast_id: Some(broadcast_id),
            at,
        };
        let mut with_message = self.clone();
        with_message.apply_change(queued.clone());
        let outcome_events = match outcome {
            Ok(wamid) => with_message.record_accepted(message_id, wamid, at)?,
            Err(failure) => with_message.record_send_failed(message_id, failure, at)?,
        };
        Ok(std::iter::once(queued).chain(outcome_events).collect())
    }

    /// A message of this conversation that can be quoted: Meta quotes by wamid.
    fn reply_target(&self, message_id: MessageId) -> Result<ReplyTarget, ConversationError> {
        let message = self
            .messages
            .get(&message_id)
            .ok_or(ConversationError::UnknownReplyTarget(message_id))?;
        let wamid = message
            .wamid
            .clone()
            .ok_or(ConversationError::ReplyTargetNotSent(message_id))?;
        Ok(ReplyTarget { message_id, wamid })
    }

    /// The event recording an inbound message; `None` for a wamid already recorded.
    fn receive(
        &self,
        wamid: Wamid,
        profile_name: Option<String>,
        content: InboundContent,
        sent_at: DateTime<Utc>,
        context_wamid: Option<Wamid>,
        at: DateTime<Utc>,
    ) -> Option<ConversationEvent> {
        let message_id = MessageId::for_inbound(&wamid);
        if self.message_by_wamid.contains_key(&wamid) || self.messages.contains_key(&message_id) {
            return None;
        }
        Some(ConversationEvent::InboundMessageReceived {
            message_id,
            wamid,
            profile_name,
            content,
            sent_at,
            context_wamid,
            at,
        })
    }

    fn record_accepted(
        &self,
        message_id: MessageId,
        wamid: Wamid,
        at: DateTime<Utc>,
    ) -> Result<Vec<ConversationEvent>, ConversationError> {
        let (message, _) = self.outbound(message_id)?;
        match &message.wamid {
            Some(known) if *known == wamid => return Ok(vec![]),
            Some(_) => return Err(ConversationError::WamidConflict { message_id, wamid }),
            None => {}
        }
        if self.message_by_wamid.contains_key(&wamid) {
            return Err(ConversationError::WamidConflict { message_id, wamid });
        }
        Ok(self.accept(message_id, wamid, at, None))
    }

    /// Acceptance of `message_id` as `wamid`, followed by the events of the statuses held for that
    /// wamid (and of `reported`, a status arriving now), oldest first, merged by the delivery rule.
    fn accept(
        &self,
        message_id: MessageId,
        wamid: Wamid,
        at: DateTime<Utc>,
        reported: Option<HeldStatus>,
    ) -> Vec<ConversationEvent> {
        let mut track = self.messages[&message_id]
            .delivery
            .clone()
            .expect("only outbound messages are accepted");
        track.record(&ReportedStatus::Sent, at);
        let mut pending: Vec<HeldStatus> = self
            .held_statuses
            .iter()
            .filter(|held| held.wamid == wamid)
            .cloned()
            .chain(reported)
            .collect();
        // Meta's timestamps are whole seconds: on a tie, the earlier stage first, so a delivery and
        // a read reported in the same second are both kept.
        pending.sort_by_key(|held| (held.at, stage(&held.status)));
        let mut events = vec![ConversationEvent::MessageAcceptedByMeta {
            message_id,
            wamid: wamid.clone(),
            at,
        }];
        for held in pending {
            events.extend(status_event(
                &mut track,
                message_id,
                &wamid,
                held.status,
                held.at,
            ));
        }
        events
    }

    fn record_send_failed(
        &self,
        message_id: MessageId,
        failure: MetaFailure,
        at: DateTime<Utc>,
    ) -> Result<Vec<ConversationEvent>, ConversationError> {
        let (message, track) = self.outbound(message_id)?;
        if !track.is_news(&ReportedStatus::Failed(failure.clone())) {
            return Ok(vec![]);
        }
        Ok(vec![ConversationEvent::MessageFailed {
            message_id,
            wamid: message.wamid.clone(),
            failure,
            at,
        }])
    }

    /// A status webhook: merged into its message, or held until the message is known by its wamid.
    fn record_status(
        &self,
        wamid: Wamid,
        message_id: Option<MessageId>,
        status: ReportedStatus,
        at: DateTime<Utc>,
    ) -> Vec<ConversationEvent> {
        if let Some(&known) = self.message_by_wamid.get(&wamid) {
            // Meta reports statuses for outbound messages only; one naming an inbound wamid is ignored.
            let Some(track) = self.messages[&known].delivery.as_ref() else {
                return vec![];
            };
            let mut track = track.clone();
            return status_event(&mut track, known, &wamid, status, at)
                .into_iter()
                .collect();
        }
        if let Some(id) = message_id {
            let unaccepted = self
                .messages
                .get(&id)
                .is_some_and(|m| m.delivery.is_some() && m.wamid.is_none());
            if unaccepted {
                // Our id came back in biz_opaque_callback_data before the outbox recorded Meta's
                // answer: Meta has the message under this wamid, so record the acceptance now.
                let reported = HeldStatus {
                    wamid: wamid.clone(),
                    message_id: Some(id),
                    status,
                    at,
                };
                return self.accept(id, wamid, at, Some(reported));
            }
        }
        let already_held = self
            .held_statuses
            .iter()
            .any(|held| held.wamid == wamid && held.status.status() == status.status());
        if already_held {
            return vec![];
        }
        vec![ConversationEvent::DeliveryStatusHeld {
            wamid,
            message_id,
            status,
            at,
        }]
    }

    fn mark_read(&self, at: DateTime<Utc>) -> Vec<ConversationEvent> {
        match &self.latest_inbound {
            Some(latest) if self.unread_count > 0 => vec![ConversationEvent::ReadReceiptQueued {
                message_id: latest.message_id,
                wamid: latest.wamid.clone(),
                phone_number_id: self.phone_number_id,
                at,
            }],
            _ => vec![],
        }
    }

    fn set_ai_agent(
        &self,
        enabled: bool,
        changed_by: AiAgentChangedBy,
        reason: Option<String>,
        at: DateTime<Utc>,
    ) -> Result<Vec<ConversationEvent>, ConversationError> {
        if matches!(&reason, Some(r) if r.chars().count() > MAX_AI_AGENT_REASON) {
            return Err(ConversationError::Invalid {
                field: "reason",
                reason: format!("at most {MAX_AI_AGENT_REASON} characters"),
            });
        }
        if self.ai_agent.is_ai_agent_on == enabled {
            return Ok(vec![]);
        }
        Ok(vec![ConversationEvent::AiAgentChanged {
            enabled,
            changed_by,
            reason,
            at,
        }])
    }

    fn update_lead_qualification(
        &self,
        update: LeadFields,
        at: DateTime<Utc>,
    ) -> Result<Vec<ConversationEvent>, ConversationError> {
        update
            .validate()
            .map_err(|(field, reason)| ConversationError::Invalid { field, reason })?;
        let changes = self.lead_qualification.changes(update);
        if changes.is_empty() {
            return Ok(vec![]);
        }
        Ok(vec![ConversationEvent::LeadQualificationUpdated {
            changes,
            at,
        }])
    }

    /// Folds an event (anything but the start) into the state.
    pub fn apply_change(&mut self, event: ConversationEvent) {
        // Status events carry Meta's timestamps, which may be older than what we already know.
        self.updated_at = self.updated_at.max(event.at());
        match event {
            ConversationEvent::ConversationStarted { .. } => {}
            ConversationEvent::MessageQueued { message_id, at, .. } => {
                self.messages.insert(
                    message_id,
                    MessageState {
                        direction: Direction::Outbound,
                        wamid: None,
                        at,
                        delivery: Some(DeliveryTrack::queued(at)),
                    },
                );
            }
            ConversationEvent::MessageAcceptedByMeta {
                message_id,
                wamid,
                at,
            } => {
                if let Some(message) = self.messages.get_mut(&message_id) {
                    message.wamid = Some(wamid.clone());
                    if let Some(track) = message.delivery.as_mut() {
                        track.record(&ReportedStatus::Sent, at);
                    }
                }
                // The held statuses for this wamid were turned into events right after this one.
                self.held_statuses.retain(|held| held.wamid != wamid);
                self.message_by_wamid.insert(wamid, message_id);
            }
            ConversationEvent::MessageDelivered { message_id, at, .. } => {
                self.record_delivery(message_id, &ReportedStatus::Delivered, at)
            }
            ConversationEvent::MessageRead { message_id, at, .. } => {
                self.record_delivery(message_id, &ReportedStatus::Read, at)
            }
            ConversationEvent::MessageFailed {
                message_id,
                failure,
                at,
                ..
            } => self.record_delivery(message_id, &ReportedStatus::Failed(failure), at),
            ConversationEvent::DeliveryStatusHeld {
                wamid,
                message_id,
                status,
                at,
            } => self.held_statuses.push(HeldStatus {
                wamid,
                message_id,
                status,
                at,
            }),
            ConversationEvent::InboundMessageReceived {
                message_id,
                wamid,
                profile_name,
                sent_at,
                ..
            } => {
                self.messages.insert(
                    message_id,
                    MessageState {
                        direction: Direction::Inbound,
                        wamid: Some(wamid.clone()),
                        at: sent_at,
                        delivery: None,
                    },
                );
                self.message_by_wamid.insert(wamid.clone(), message_id);
                self.unread_count = self.unread_count.saturating_add(1);
                // Webhooks may arrive out of order: the window runs from the latest message sent.
                let last_inbound_at = match self.window {
                    Some(window) => window.last_inbound_at.max(sent_at),
                    None => sent_at,
                };
                self.window = Some(CustomerServiceWindow { last_inbound_at });
                if self
                    .latest_inbound
                    .as_ref()
                    .is_none_or(|latest| sent_at >= latest.sent_at)
                {
                    self.latest_inbound = Some(LatestInbound {
                        message_id,
                        wamid,
                        sent_at,
                    });
                }
                if profile_name.is_some() {
                    self.customer_profile_name = profile_name;
                }
            }
            ConversationEvent::ReadReceiptQueued { .. } => self.unread_count = 0,
            ConversationEvent::AiAgentChanged {
                enabled,
                changed_by,
                at,
                ..
            } => self.ai_agent.apply(enabled, changed_by, at),
            ConversationEvent::LeadQualificationUpdated { changes, at } => {
                self.lead_qualification.apply(changes, at)
            }
        }
    }

    fn record_delivery(
        &mut self,
        message_id: MessageId,
        report: &ReportedStatus,
        at: DateTime<Utc>,
    ) {
        if let Some(track) = self
            .messages
            .get_mut(&message_id)
            .and_then(|message| message.delivery.as_mut())
        {
            track.record(report, at);
        }
    }
}

/// The event a status report leads to, if it is news for `track` (which is updated, so that the
/// next report in a batch is judged against it).
fn status_event(
    track: &mut DeliveryTrack,
    message_id: MessageId,
    wamid: &Wamid,
    report: ReportedStatus,
    at: DateTime<Utc>,
) -> Option<ConversationEvent> {
    // `sent` is what the acceptance records; a sent report for a known wamid adds nothing.
    if report == ReportedStatus::Sent || !track.record(&report, at) {
        return None;
    }
    let wamid = wamid.clone();
    Some(match report {
        ReportedStatus::Sent => unreachable!("returned above"),
        ReportedStatus::Delivered => ConversationEvent::MessageDelivered {
            message_id,
            wamid,
            at,
        },
        ReportedStatus::Read => ConversationEvent::MessageRead {
            message_id,
            wamid,
            at,
        },
        ReportedStatus::Failed(failure) => ConversationEvent::MessageFailed {
            message_id,
            wamid: Some(wamid),
            failure,
            at,
        },
    })
}

/// Orders reports of the same second: sent, delivered, failed, read.
fn stage(report: &ReportedStatus) -> u8 {
    match report {
        ReportedStatus::Sent => 0,
        ReportedStatus::Delivered => 1,
        ReportedStatus::Failed(_) => 2,
        ReportedStatus::Read => 3,
    }
}

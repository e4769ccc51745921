//! What has happened in a conversation. Every event carries the time it happened (`at`).

use super::{
    AiAgentChangedBy, InboundContent, LeadFields, MessageId, MetaFailure, OutboundContent,
    ReportedStatus, Wamid,
};
use crate::{WorkspaceId, EVENT_VERSION_1};
use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The message an outbound message quotes: our id and the wamid Meta needs in `context.message_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyTarget {
    /// Our id of the quoted message.
    pub message_id: MessageId,
    /// Meta's id of the quoted message.
    pub wamid: Wamid,
}

/// Events of the Conversation aggregate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ConversationEvent {
    /// The conversation's first event: whose it is and between whom.
    ConversationStarted {
        /// The owning workspace.
        workspace_id: WorkspaceId,
        /// Our phone-number id (the PhoneNumber aggregate's id).
        phone_number_id: Uuid,
        /// The customer's WhatsApp id, digits.
        customer_wa_id: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// An outbound message was queued; the outbox turns this event into one send job. It carries
    /// the phone number and recipient so the job needs nothing else from the read models.
    MessageQueued {
        /// Our id of the message.
        message_id: MessageId,
        /// What to send (Meta's send-body fragment).
        content: OutboundContent,
        /// The quoted message, if any.
        reply_to: Option<ReplyTarget>,
        /// Our phone-number id to send from.
        phone_number_id: Uuid,
        /// The recipient's WhatsApp id (`to`).
        customer_wa_id: String,
        /// The broadcast this message is part of; such a message is sent by the broadcast's
        /// outbox jobs, never by this event's.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        broadcast_id: Option<Uuid>,
        /// When it was queued.
        at: DateTime<Utc>,
    },
    /// Meta accepted the message and named it; its status is now `sent`.
    MessageAcceptedByMeta {
        /// Our id of the message.
        message_id: MessageId,
        /// Meta's id of it.
        wamid: Wamid,
        /// When Meta accepted it.
        at: DateTime<Utc>,
    },
    /// Meta reported the message delivered.
    MessageDelivered {
        /// Our id of the message.
        message_id: MessageId,
        /// Meta's id of it.
        wamid: Wamid,
        /// When it was delivered (Meta's timestamp).
        at: DateTime<Utc>,
    },
    /// Meta reported the message read.
    MessageRead {
        /// Our id of the message.
        message_id: MessageId,
        /// Meta's id of it.
        wamid: Wamid,
        /// When it was read (Meta's timestamp).
        at: DateTime<Utc>,
    },
    /// Meta refused the send, or reported the message failed.
    MessageFailed {
        /// Our id of the message.
        message_id: MessageId,
        /// Meta's id of it; absent when the send itself was refused.
        wamid: Option<Wamid>,
        /// Meta's error.
        failure: MetaFailure,
        /// When it failed.
        at: DateTime<Utc>,
    },
    /// Meta reported a status for a wamid no message of this conversation has yet; it is applied
    /// when the acceptance naming that wamid is recorded.
    DeliveryStatusHeld {
        /// The wamid reported on.
        wamid: Wamid,
        /// Our id of the message, when Meta echoed it (`biz_opaque_callback_data`): proof that
        /// Meta accepted that message, so a send repeated after a crash can be skipped.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message_id: Option<MessageId>,
        /// What Meta reported.
        status: ReportedStatus,
        /// When it happened (Meta's timestamp).
        at: DateTime<Utc>,
    },
    /// The customer sent a message; the customer-service window opens or extends.
    InboundMessageReceived {
        /// Our id of the message (derived from the wamid).
        message_id: MessageId,
        /// Meta's id of it.
        wamid: Wamid,
        /// The sender's WhatsApp profile name.
        profile_name: Option<String>,
        /// What was sent.
        content: InboundContent,
        /// When the customer sent it (Meta's timestamp).
        sent_at: DateTime<Utc>,
        /// The wamid of the message it replies to.
        context_wamid: Option<Wamid>,
        /// When Parley recorded it.
        at: DateTime<Utc>,
    },
    /// A read receipt for an inbound message was queued for Meta; the unread count is reset.
    ReadReceiptQueued {
        /// Our id of the inbound message marked read.
        message_id: MessageId,
        /// Its wamid (Meta's mark-read `message_id`).
        wamid: Wamid,
        /// Our phone-number id to send the receipt from.
        phone_number_id: Uuid,
        /// When.
        at: DateTime<Utc>,
    },
    /// The AI agent was switched on or off.
    AiAgentChanged {
        /// On or off now.
        enabled: bool,
        /// Who switched it.
        changed_by: AiAgentChangedBy,
        /// Why.
        reason: Option<String>,
        /// When.
        at: DateTime<Utc>,
    },
    /// Lead-qualification fields changed.
    LeadQualificationUpdated {
        /// Only the fields that changed, with their new values.
        changes: LeadFields,
        /// When.
        at: DateTime<Utc>,
    },
}

impl ConversationEvent {
    /// When the event happened.
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            Self::ConversationStarted { at, .. }
            | Self::MessageQueued { at, .. }
            | Self::MessageAcceptedByMeta { at, .. }
            | Self::MessageDelivered { at, .. }
            | Self::MessageRead { at, .. }
            | Self::MessageFailed { at, .. }
            | Self::DeliveryStatusHeld { at, .. }
            | Self::InboundMessageReceived { at, .. }
            | Self::ReadReceiptQueued { at, .. }
            | Self::AiAgentChanged { at, .. }
            | Self::LeadQualificationUpdated { at, .. } => *at,
        }
    }
}

impl DomainEvent for ConversationEvent {
    fn event_type(&self) -> String {
        let name = match self {
            Self::ConversationStarted { .. } => "ConversationStarted",
            Self::MessageQueued { .. } => "MessageQueued",
            Self::MessageAcceptedByMeta { .. } => "MessageAcceptedByMeta",
            Self::MessageDelivered { .. } => "MessageDelivered",
            Self::MessageRead { .. } => "MessageRead",
            Self::MessageFailed { .. } => "MessageFailed",
            Self::DeliveryStatusHeld { .. } => "DeliveryStatusHeld",
            Self::InboundMessageReceived { .. } => "InboundMessageReceived",
            Self::ReadReceiptQueued { .. } => "ReadReceiptQueued",
            Self::AiAgentChanged { .. } => "AiAgentChanged",
            Self::LeadQualificationUpdated { .. } => "LeadQualificationUpdated",
        };
        name.to_string()
    }

    fn event_version(&self) -> String {
        EVENT_VERSION_1.to_string()
    }
}

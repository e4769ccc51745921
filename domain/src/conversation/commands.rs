//! What can be asked of a conversation. Each command is wrapped in [`crate::Issued`] with its
//! workspace and the time it was issued.

use super::{
    AiAgentChangedBy, InboundContent, LeadFields, MessageId, MetaFailure, OutboundContent,
    ReportedStatus, Wamid,
};
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// What the application knows about the recipient from the Contact aggregate when queueing a
/// message (the conversation does not own consent; it enforces it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RecipientStanding {
    /// The contact opted out of business messages.
    pub opted_out: bool,
    /// The business blocked the contact.
    pub blocked: bool,
}

/// Commands on a conversation.
#[derive(Debug, Clone, PartialEq)]
pub enum ConversationCommand {
    /// Queue an outbound message for the outbox to send. Starts the conversation if needed.
    QueueMessage {
        /// Our id for the message, chosen by the application (travels to Meta as
        /// `biz_opaque_callback_data`).
        message_id: MessageId,
        /// What to send.
        content: OutboundContent,
        /// A message of this conversation to quote.
        reply_to: Option<MessageId>,
        /// The recipient's consent and block state, from the contact.
        recipient: RecipientStanding,
        /// Our phone-number id (the PhoneNumber aggregate's id).
        phone_number_id: Uuid,
        /// The customer's WhatsApp id: digits as Meta gives them, e.g. `16505551234`.
        customer_wa_id: String,
    },
    /// Meta accepted a queued message and named it `wamid`.
    RecordSendAccepted {
        /// The message sent.
        message_id: MessageId,
        /// Meta's id for it.
        wamid: Wamid,
    },
    /// Meta refused a queued message (the outbox gives up on it).
    RecordSendFailed {
        /// The message.
        message_id: MessageId,
        /// Meta's error.
        failure: MetaFailure,
    },
    /// Meta reported a status for an outbound message (a status webhook).
    RecordDeliveryStatus {
        /// The message's wamid.
        wamid: Wamid,
        /// Our message id, from `biz_opaque_callback_data`, when present.
        message_id: Option<MessageId>,
        /// What Meta reported.
        status: ReportedStatus,
        /// When it happened, by Meta's `timestamp`.
        at: DateTime<Utc>,
    },
    /// The customer sent a message (a `messages` webhook). Starts the conversation if needed.
    ReceiveInboundMessage {
        /// Meta's id of the message.
        wamid: Wamid,
        /// Our phone-number id (the PhoneNumber aggregate's id) that received it.
        phone_number_id: Uuid,
        /// The sender's WhatsApp id (`from`), digits.
        customer_wa_id: String,
        /// The sender's WhatsApp profile name (`contacts[].profile.name`).
        profile_name: Option<String>,
        /// What was sent.
        content: InboundContent,
        /// When the customer sent it (Meta's `timestamp`).
        sent_at: DateTime<Utc>,
        /// The wamid of the message it replies to (`context.id`).
        context_wamid: Option<Wamid>,
    },
    /// Mark the conversation read: queues a read receipt to Meta for the latest inbound message
    /// (which marks the earlier ones read too) and resets the unread count.
    MarkRead,
    /// Switch the AI agent on or off.
    SetAiAgent {
        /// On or off.
        enabled: bool,
        /// Who switches it.
        changed_by: AiAgentChangedBy,
        /// Why, up to 500 characters.
        reason: Option<String>,
    },
    /// Update some lead-qualification fields; fields left `None` keep their value.
    UpdateLeadQualification(LeadFields),
    /// A broadcast's outbox job called Meta for this customer: records the message with Meta's
    /// answer (accepted with a wamid, or failed for good). Starts the conversation if needed;
    /// recording the same message again changes nothing.
    RecordBroadcastSend {
        /// The broadcast's deterministic id for this recipient's message.
        message_id: MessageId,
        /// The broadcast sending it.
        broadcast_id: Uuid,
        /// The template message sent.
        content: OutboundContent,
        /// Our phone-number id it was sent from.
        phone_number_id: Uuid,
        /// The recipient's WhatsApp id, digits.
        customer_wa_id: String,
        /// Meta's wamid, or why Meta refused it for good.
        outcome: Result<Wamid, MetaFailure>,
    },
    /// A status naming our message (by `biz_opaque_callback_data`) arrived before the
    /// conversation existed (a broadcast send not yet recorded): starts it and holds the status.
    HoldEarlyDeliveryStatus {
        /// Our phone-number id the status came for.
        phone_number_id: Uuid,
        /// The recipient's WhatsApp id, digits.
        customer_wa_id: String,
        /// The message's wamid.
        wamid: Wamid,
        /// Our id of the message, echoed by Meta.
        message_id: MessageId,
        /// What Meta reported.
        status: ReportedStatus,
        /// When it happened, by Meta's `timestamp`.
        at: DateTime<Utc>,
    },
}

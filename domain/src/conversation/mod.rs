//! The Conversation aggregate: everything exchanged between one of the workspace's business phone
//! numbers and one customer (a WhatsApp user, named by Meta's `wa_id`): outbound messages and their
//! delivery, inbound messages, the customer-service window, the unread count, the AI-agent flag and the
//! lead-qualification fields.
//!
//! The value objects it uses live one per module: [`MessageId`], [`Wamid`], [`OutboundContent`] (whose
//! JSON is Meta's send body), [`InboundContent`], [`DeliveryStatus`], [`CustomerServiceWindow`],
//! [`MetaFailure`], [`AiAgent`] and [`LeadQualification`].

#![deny(missing_docs)]

mod aggregate;
mod ai_agent;
mod commands;
mod content_error;
mod delivery_status;
mod events;
mod inbound_content;
mod interactive;
mod lead_qualification;
mod message_id;
mod meta_failure;
mod outbound_content;
mod wamid;
mod window;

#[cfg(test)]
mod tests;

pub use aggregate::{
    Conversation, ConversationError, ConversationState, Direction, HeldStatus, LatestInbound,
    MessageState,
};
pub use ai_agent::{AiAgent, AiAgentChangedBy, MAX_AI_AGENT_REASON};
pub use commands::{ConversationCommand, RecipientStanding};
pub use content_error::ContentError;
pub use delivery_status::{DeliveryStatus, DeliveryTrack, ReportedStatus};
pub use events::{ConversationEvent, ReplyTarget};
pub use inbound_content::{
    FlowReply, InboundContent, InboundLocation, InboundMedia, InboundReaction, InteractiveReply,
    MalformedInbound, Order, QuickReplyButton,
};
pub use interactive::{
    InteractiveHeader, InteractiveMessage, InteractiveText, ListAction, ListMessage, ListRow,
    ListSection, ReplyButton, ReplyButtonBody, ReplyButtonsAction, ReplyButtonsMessage,
};
pub use lead_qualification::{LeadFields, LeadQualification, LeadStatus};
pub use message_id::MessageId;
pub use meta_failure::MetaFailure;
pub use outbound_content::{
    LocationMessage, MediaMessage, OutboundContent, ReactionMessage, TemplateLanguage,
    TemplateMessage, TextMessage,
};
pub use wamid::{InvalidWamid, Wamid, MAX_WAMID_LEN};
pub use window::{CustomerServiceWindow, CUSTOMER_SERVICE_WINDOW_HOURS};

use uuid::Uuid;

/// Namespace for conversation ids: a conversation is UUIDv5(phone number, customer wa_id), so the
/// first inbound message and the first outbound template for the same pair land on the same aggregate
/// (and starting it twice collides on the event key) without a lookup table.
const CONVERSATION_ID_NAMESPACE: Uuid = Uuid::from_u128(0x5c0f_3a1e_7b7e_4f0a_9d55_c0a7_ac70_c001);

/// The deterministic id of the conversation between our phone number `phone_number_id` (the
/// PhoneNumber aggregate's id, not Meta's) and the customer Meta knows as `customer_wa_id`.
pub fn conversation_id(phone_number_id: Uuid, customer_wa_id: &str) -> Uuid {
    let mut name = phone_number_id.as_bytes().to_vec();
    name.extend_from_slice(customer_wa_id.as_bytes());
    Uuid::new_v5(&CONVERSATION_ID_NAMESPACE, &name)
}

/// Whether `wa_id` is a customer's WhatsApp id as Meta gives it: 6 to 15 ASCII digits, no `+`.
pub fn is_valid_wa_id(wa_id: &str) -> bool {
    (6..=15).contains(&wa_id.len()) && wa_id.bytes().all(|b| b.is_ascii_digit())
}

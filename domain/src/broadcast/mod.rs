//! The Broadcast aggregate: one template sent to many recipients, each with their own variables.
//!
//! The aggregate owns the lifecycle (draft → scheduled → sending ⇄ paused → completed/failed,
//! cancelled) and the audience (deduplicated while a draft, frozen when sending starts). What
//! happens to each recipient's message lives in that recipient's conversation; the broadcast's
//! counts are folded from those events.

mod aggregate;
mod audience;
mod commands;
mod events;
mod message;
#[cfg(test)]
mod tests;

pub use aggregate::{Broadcast, BroadcastError, BroadcastState, MAX_SCHEDULE_AHEAD_DAYS};
pub use audience::{AudienceMember, RecipientList};
pub use commands::{BroadcastCommand, BroadcastDraft};
pub use events::{
    BroadcastCounts, BroadcastEvent, BroadcastRecipient, BroadcastStatus, BroadcastTemplate,
    PauseReason, SkipReason, SkippedRecipient, StartTrigger, TemplateSnapshot,
};
pub use message::recipient_message;

use crate::conversation::MessageId;
use crate::E164;
use uuid::Uuid;

const BROADCAST_MESSAGE_NAMESPACE: Uuid =
    Uuid::from_u128(0x5c0f_3a1e_7b7e_4f0a_9d55_c0a7_ac70_b001);

/// The id of the message a broadcast sends to `phone` in sending round `round` (0 for the first
/// send, then one more per "retry the failed"): deterministic, so a send repeated after a
/// restart is recognised as the same message.
pub fn broadcast_message_id(broadcast_id: Uuid, phone: &E164, round: u32) -> MessageId {
    let name = format!("{broadcast_id}/{}/{round}", phone.as_str());
    MessageId(Uuid::new_v5(&BROADCAST_MESSAGE_NAMESPACE, name.as_bytes()))
}

/// Most recipients one call may add (seed 001).
pub const MAX_RECIPIENTS_PER_ADD: usize = 1000;

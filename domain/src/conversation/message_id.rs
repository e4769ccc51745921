//! Parley's own id of a message in a conversation.

use super::Wamid;
use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

/// Namespace for the ids of inbound messages, derived from Meta's wamid so that a webhook delivered
/// twice names the same message.
const INBOUND_MESSAGE_ID_NAMESPACE: Uuid =
    Uuid::from_u128(0x5c0f_3a1e_7b7e_4f0a_9d55_c0a7_ac70_c002);

/// Parley's id of one message, outbound or inbound. The application picks it for an outbound message
/// when queueing it (it travels to Meta in `biz_opaque_callback_data` so statuses can be matched);
/// an inbound message's id is derived from its wamid ([`MessageId::for_inbound`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MessageId(pub Uuid);

impl MessageId {
    /// The id of the inbound message Meta identifies as `wamid` (UUIDv5 of the wamid).
    pub fn for_inbound(wamid: &Wamid) -> Self {
        Self(Uuid::new_v5(
            &INBOUND_MESSAGE_ID_NAMESPACE,
            wamid.as_str().as_bytes(),
        ))
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

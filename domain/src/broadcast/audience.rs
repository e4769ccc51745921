//! A broadcast's recipient list folded from its events: who is in it, in the order they were
//! added, with their variables. Sending starts from this, not from a read model, so the audience
//! frozen at the start is exactly what the log says.

use super::events::BroadcastEvent;
use crate::E164;
use std::collections::{BTreeMap, HashMap};

/// A recipient's phone and template variables.
pub type AudienceMember = (E164, BTreeMap<String, String>);

/// The recipients of a broadcast, folded one event at a time (a broadcast of 100,000 recipients
/// has about a hundred events of a thousand each; they need not all be in memory at once).
#[derive(Debug, Default)]
pub struct RecipientList {
    /// In the order added; a removed (or re-added) recipient leaves an empty slot behind.
    slots: Vec<Option<AudienceMember>>,
    /// Each current recipient's slot.
    slot_of: HashMap<E164, usize>,
}

impl RecipientList {
    /// Folds one event of the broadcast; events other than additions and removals change nothing.
    pub fn apply(&mut self, event: BroadcastEvent) {
        match event {
            BroadcastEvent::BroadcastRecipientsAdded { recipients, .. } => {
                for recipient in recipients {
                    let slot = self.slots.len();
                    if let Some(previous) = self.slot_of.insert(recipient.phone.clone(), slot) {
                        self.slots[previous] = None;
                    }
                    self.slots
                        .push(Some((recipient.phone, recipient.variables)));
                }
            }
            BroadcastEvent::BroadcastRecipientsRemoved { phones, .. } => {
                for phone in phones {
                    if let Some(slot) = self.slot_of.remove(&phone) {
                        self.slots[slot] = None;
                    }
                }
            }
            _ => {}
        }
    }

    /// The event types [`RecipientList::apply`] folds (the others need not be read).
    pub const EVENT_TYPES: [&'static str; 2] =
        ["BroadcastRecipientsAdded", "BroadcastRecipientsRemoved"];

    /// The recipients, in the order they were (last) added.
    pub fn into_members(self) -> Vec<AudienceMember> {
        self.slots.into_iter().flatten().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broadcast::BroadcastRecipient;
    use chrono::Utc;

    fn phone(n: u32) -> E164 {
        E164::parse(&format!("+1555000{n:04}")).unwrap()
    }

    fn added(numbers: &[u32]) -> BroadcastEvent {
        BroadcastEvent::BroadcastRecipientsAdded {
            recipients: numbers
                .iter()
                .map(|n| BroadcastRecipient {
                    phone: phone(*n),
                    name: None,
                    variables: BTreeMap::from([("1".to_string(), format!("v{n}"))]),
                })
                .collect(),
            at: Utc::now(),
        }
    }

    fn removed(numbers: &[u32]) -> BroadcastEvent {
        BroadcastEvent::BroadcastRecipientsRemoved {
            phones: numbers.iter().map(|n| phone(*n)).collect(),
            at: Utc::now(),
        }
    }

    #[test]
    fn removed_recipients_leave_and_re_added_ones_move_to_the_end() {
        let mut list = RecipientList::default();
        list.apply(added(&[1, 2, 3]));
        list.apply(removed(&[2, 9]));
        list.apply(added(&[4, 1]));
        let phones: Vec<E164> = list.into_members().into_iter().map(|m| m.0).collect();
        assert_eq!(phones, vec![phone(3), phone(4), phone(1)]);
    }
}

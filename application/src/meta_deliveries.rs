//! Meta webhook deliveries as the use cases see them: the correlation id that names a stored
//! delivery (and a part of it), and the rule that makes management updates safe to apply again.
//!
//! Inbound messages and statuses are idempotent by themselves (a conversation knows its wamids,
//! and a status never goes backwards). Management updates are not: a template status or a
//! number's quality is "set to this value", so applying an old delivery again (a replay, or a
//! sweep after a crash) would undo what later deliveries set, and an `account_update` is a fact
//! that would be recorded twice. Every event remembers which delivery part caused it (its
//! correlation id), so an update is skipped when its aggregate already holds an event of the
//! same part or of a later one.

use crate::error::from_aggregate_error;
use crate::AppError;
use cqrs_es::{Aggregate, EventStore};

const PREFIX: &str = "meta-webhook:";

/// The correlation id of everything stored delivery `delivery_id` causes.
pub fn meta_delivery_correlation(delivery_id: i64) -> String {
    format!("{PREFIX}{delivery_id}")
}

/// The correlation id of part `part` (the change's index in the delivery) of the delivery
/// `delivery_correlation` names. Management updates carry it, so that the part that caused an
/// event can be told from the delivery's other parts.
pub fn meta_delivery_part_correlation(delivery_correlation: &str, part: usize) -> String {
    format!("{delivery_correlation}#{part}")
}

/// Where a delivery part stands in arrival order: the delivery's id, then the part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct DeliveryPart {
    pub delivery_id: i64,
    pub part: usize,
}

impl DeliveryPart {
    /// The part a correlation id names; `None` for anything not caused by a stored delivery
    /// (an API request, the CLI, a test), to which the rule does not apply.
    pub fn of(correlation_id: &str) -> Option<Self> {
        let rest = correlation_id.strip_prefix(PREFIX)?;
        let (delivery, part) = match rest.split_once('#') {
            Some((delivery, part)) => (delivery, part.parse().ok()?),
            None => (rest, 0),
        };
        Some(Self {
            delivery_id: delivery.parse().ok()?,
            part,
        })
    }
}

/// Whether aggregate `id` already holds an event caused by delivery part `part` or by one that
/// arrived after it: applying `part` now would repeat or undo what is there.
pub(crate) async fn superseded<A, S>(
    store: &S,
    id: &str,
    part: DeliveryPart,
) -> Result<bool, AppError>
where
    A: Aggregate,
    A::Error: Into<AppError>,
    S: EventStore<A>,
{
    let events = store.load_events(id).await.map_err(from_aggregate_error)?;
    Ok(events.iter().any(|event| {
        event
            .metadata
            .get("correlation_id")
            .and_then(|correlation| DeliveryPart::of(correlation))
            .is_some_and(|applied| applied >= part)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn correlation_ids_name_deliveries_and_their_parts_in_arrival_order() {
        let delivery = meta_delivery_correlation(17);
        assert_eq!(
            DeliveryPart::of(&delivery),
            Some(DeliveryPart {
                delivery_id: 17,
                part: 0
            })
        );
        let second = DeliveryPart::of(&meta_delivery_part_correlation(&delivery, 2)).unwrap();
        assert_eq!(second.part, 2);
        assert!(second < DeliveryPart::of("meta-webhook:18#0").unwrap());
        assert!(second > DeliveryPart::of("meta-webhook:17#1").unwrap());
        assert_eq!(DeliveryPart::of("cli-3f2a"), None);
        assert_eq!(DeliveryPart::of("meta-webhook:x"), None);
    }
}

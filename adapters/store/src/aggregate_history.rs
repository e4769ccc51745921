//! An aggregate's past, read from the event log and folded with the aggregate's own `apply`:
//! its state at a version or a time (`parley events show`), and its events as one workspace
//! may see them (GraphQL `eventHistory`).
//!
//! Stored events are read the way postgres-es loads them for a command: each row becomes a
//! `SerializedEvent`, passes through the same upcasters ([`upcasters`]), then deserializes into
//! the aggregate's event type. Snapshots are not used: a fold from the first event is the
//! definition the snapshots only shortcut.

use chrono::{DateTime, Utc};
use cqrs_es::persist::{EventUpcaster, PersistenceError, SerializedEvent};
use cqrs_es::{Aggregate, EventEnvelope};
use domain::broadcast::Broadcast;
use domain::contact::Contact;
use domain::conversation::Conversation;
use domain::phone_number::PhoneNumber;
use domain::template::Template;
use domain::WorkspaceId;
use projections::log::{events_of, StoredEvent};
use serde::Serialize;
use serde_json::Value;
use tokio_postgres::GenericClient;

/// The aggregate types stored in `events.aggregate_type`.
pub const AGGREGATE_TYPES: [&str; 5] = [
    Contact::TYPE,
    PhoneNumber::TYPE,
    Conversation::TYPE,
    Broadcast::TYPE,
    Template::TYPE,
];

/// What a sealed secret (a Meta access token's ciphertext) is shown as. The ciphertext is
/// useless without the key, but an audit view has no use for it and should not spread it.
pub const SEALED: &str = "[sealed]";

/// The upcasters every reader of stored events applies, oldest version first: the event
/// stores ([`crate::PgInfrastructure`]) and the folds here, so a command and an audit see an
/// old event alike. None yet: every event is at version 1.
pub fn upcasters() -> Vec<Box<dyn EventUpcaster>> {
    Vec::new()
}

/// Which point of an aggregate's history to fold up to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PointInHistory {
    /// After its last event.
    Latest,
    /// After the event with this sequence (versions start at 1).
    Version(u64),
    /// After the last event recorded at or before this time (`events.recorded_at`).
    Time(DateTime<Utc>),
}

/// An aggregate's state at a point of its history.
#[derive(Debug, Clone, Serialize)]
pub struct StateAt {
    pub aggregate_type: String,
    pub aggregate_id: String,
    /// The sequence of the last event folded: the version this state is.
    pub version: i64,
    /// When that event was recorded.
    pub recorded_at: DateTime<Utc>,
    /// How many events were folded (1 through `version`).
    pub events_folded: usize,
    /// The aggregate's last version, for comparison.
    pub latest_version: i64,
    /// The aggregate's state as it serializes, sealed secrets hidden.
    pub state: Value,
}

/// One event of an aggregate's history, as shown to a workspace.
#[derive(Debug, Clone)]
pub struct HistoryEvent {
    /// The stored event (its payload as stored).
    pub stored: StoredEvent,
    /// The payload as JSON, sealed secrets hidden.
    pub payload: Value,
    /// The metadata as JSON: `actor`, `correlation_id`, `time`.
    pub metadata: Value,
}

impl HistoryEvent {
    /// Who caused it (`token:<id>`, `cli`, `meta`, `outbox`, `scheduler`), if recorded.
    pub fn actor(&self) -> Option<&str> {
        self.metadata.get("actor").and_then(Value::as_str)
    }

    /// The request it came from (the caller's `X-Request-Id`, `meta-webhook:<delivery>`, …),
    /// if recorded.
    pub fn correlation_id(&self) -> Option<&str> {
        self.metadata.get("correlation_id").and_then(Value::as_str)
    }
}

/// A page of the events a workspace may see of one aggregate, oldest first.
#[derive(Debug, Clone)]
pub struct HistoryPage {
    pub events: Vec<HistoryEvent>,
    /// Whether visible events follow the page.
    pub has_next_page: bool,
    /// How many events of the aggregate the workspace may see in all.
    pub total: usize,
}

/// Why an aggregate's history could not be given.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("unknown aggregate type '{given}'; known types: {}", AGGREGATE_TYPES.join(", "))]
    UnknownAggregateType { given: String },
    /// No events at all (or, for a workspace, none it may see).
    #[error("no events for {aggregate_type} {aggregate_id}")]
    NoEvents {
        aggregate_type: String,
        aggregate_id: String,
    },
    #[error("versions start at 1 (the aggregate's first event)")]
    VersionZero,
    #[error("{aggregate_type} {aggregate_id} has no version {asked}: its last version is {last}")]
    VersionBeyondLast {
        aggregate_type: String,
        aggregate_id: String,
        asked: u64,
        last: i64,
    },
    #[error(
        "{aggregate_type} {aggregate_id} did not exist yet at {}: its first event was recorded at {}",
        rfc3339(.at),
        rfc3339(.first)
    )]
    BeforeFirstEvent {
        aggregate_type: String,
        aggregate_id: String,
        at: DateTime<Utc>,
        first: DateTime<Utc>,
    },
    #[error("event {sequence} ({event_type}, version {event_version}) cannot be read: {source}")]
    Unreadable {
        sequence: i64,
        event_type: String,
        event_version: String,
        source: PersistenceError,
    },
    #[error("the event log cannot be read: {0}")]
    Database(#[from] tokio_postgres::Error),
}

/// An aggregate as the history folds it.
trait Audited: Aggregate {
    /// The workspace owning the aggregate in this state; `None` before it exists or once it is
    /// gone.
    fn owner(&self) -> Option<WorkspaceId>;
}

impl Audited for Contact {
    fn owner(&self) -> Option<WorkspaceId> {
        self.state.as_ref().map(|state| state.workspace_id)
    }
}

impl Audited for PhoneNumber {
    fn owner(&self) -> Option<WorkspaceId> {
        self.state.as_ref().map(|state| state.workspace_id)
    }
}

impl Audited for Conversation {
    fn owner(&self) -> Option<WorkspaceId> {
        self.state.as_ref().map(|state| state.workspace_id)
    }
}

impl Audited for Broadcast {
    fn owner(&self) -> Option<WorkspaceId> {
        self.state.as_ref().map(|state| state.workspace_id)
    }
}

impl Audited for Template {
    fn owner(&self) -> Option<WorkspaceId> {
        self.state.as_ref().map(|state| state.workspace_id)
    }
}

/// Checks `aggregate_type` against the known types, before anything is read.
pub fn check_aggregate_type(aggregate_type: &str) -> Result<(), HistoryError> {
    if AGGREGATE_TYPES.contains(&aggregate_type) {
        Ok(())
    } else {
        Err(HistoryError::UnknownAggregateType {
            given: aggregate_type.to_string(),
        })
    }
}

/// The aggregate's state at `point`, folded from its events.
pub async fn state_at(
    client: &impl GenericClient,
    aggregate_type: &str,
    aggregate_id: &str,
    point: PointInHistory,
) -> Result<StateAt, HistoryError> {
    check_aggregate_type(aggregate_type)?;
    if point == PointInHistory::Version(0) {
        return Err(HistoryError::VersionZero);
    }
    let events = events_of(client, aggregate_type, aggregate_id).await?;
    let (Some(first), Some(last)) = (events.first(), events.last()) else {
        return Err(no_events(aggregate_type, aggregate_id));
    };
    let folded = match point {
        PointInHistory::Latest => events.len(),
        PointInHistory::Version(version) => {
            if version > last.sequence as u64 {
                return Err(HistoryError::VersionBeyondLast {
                    aggregate_type: aggregate_type.to_string(),
                    aggregate_id: aggregate_id.to_string(),
                    asked: version,
                    last: last.sequence,
                });
            }
            events
                .iter()
                .take_while(|e| e.sequence as u64 <= version)
                .count()
        }
        // A prefix: the state at a time holds every event recorded by then, and no event whose
        // predecessor came later (clocks may step back; sequence order is the truth).
        PointInHistory::Time(at) => match events.iter().take_while(|e| e.recorded_at <= at).count()
        {
            0 => {
                return Err(HistoryError::BeforeFirstEvent {
                    aggregate_type: aggregate_type.to_string(),
                    aggregate_id: aggregate_id.to_string(),
                    at,
                    first: first.recorded_at,
                })
            }
            n => n,
        },
    };
    let prefix = &events[..folded];
    let mut state = match aggregate_type {
        Contact::TYPE => state_json::<Contact>(prefix)?,
        PhoneNumber::TYPE => state_json::<PhoneNumber>(prefix)?,
        Conversation::TYPE => state_json::<Conversation>(prefix)?,
        Broadcast::TYPE => state_json::<Broadcast>(prefix)?,
        Template::TYPE => state_json::<Template>(prefix)?,
        other => unreachable!("{other} passed check_aggregate_type"),
    };
    hide_sealed_secrets(&mut state);
    let reached = &prefix[folded - 1];
    Ok(StateAt {
        aggregate_type: aggregate_type.to_string(),
        aggregate_id: aggregate_id.to_string(),
        version: reached.sequence,
        recorded_at: reached.recorded_at,
        events_folded: folded,
        latest_version: last.sequence,
        state,
    })
}

/// The events of one aggregate that `workspace` may see, oldest first: `first` of them after
/// sequence `after` (from the start when `None`).
///
/// Event metadata does not name a workspace, and read models only know who owns an aggregate
/// now (a removed number's row is gone; a number registered again by another workspace keeps
/// its id, and so do its contacts and conversations). The owner is in the events themselves:
/// the aggregate is folded, and each event belongs to the workspace that owned the aggregate
/// once it was applied (or just before, for the event that ended it). Another workspace's
/// aggregate, or an unknown one, has no events here ([`HistoryError::NoEvents`]).
pub async fn history_in_workspace(
    client: &impl GenericClient,
    workspace: WorkspaceId,
    aggregate_type: &str,
    aggregate_id: &str,
    after: Option<i64>,
    first: usize,
) -> Result<HistoryPage, HistoryError> {
    check_aggregate_type(aggregate_type)?;
    let events = events_of(client, aggregate_type, aggregate_id).await?;
    let owners = match aggregate_type {
        Contact::TYPE => owners::<Contact>(&events)?,
        PhoneNumber::TYPE => owners::<PhoneNumber>(&events)?,
        Conversation::TYPE => owners::<Conversation>(&events)?,
        Broadcast::TYPE => owners::<Broadcast>(&events)?,
        Template::TYPE => owners::<Template>(&events)?,
        other => unreachable!("{other} passed check_aggregate_type"),
    };
    let visible: Vec<StoredEvent> = events
        .into_iter()
        .zip(owners)
        .filter(|(_, owner)| *owner == Some(workspace))
        .map(|(event, _)| event)
        .collect();
    if visible.is_empty() {
        return Err(no_events(aggregate_type, aggregate_id));
    }
    let total = visible.len();
    let mut page = visible
        .into_iter()
        .filter(|event| after.is_none_or(|after| event.sequence > after))
        .take(first + 1)
        .map(|stored| {
            let mut payload = stored.payload::<Value>().unwrap_or(Value::Null);
            hide_sealed_secrets(&mut payload);
            HistoryEvent {
                metadata: stored.metadata(),
                payload,
                stored,
            }
        })
        .collect::<Vec<_>>();
    let has_next_page = page.len() > first;
    page.truncate(first);
    Ok(HistoryPage {
        events: page,
        has_next_page,
        total,
    })
}

/// A time as `--at-time` takes it, so an operator can paste it back.
fn rfc3339(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn no_events(aggregate_type: &str, aggregate_id: &str) -> HistoryError {
    HistoryError::NoEvents {
        aggregate_type: aggregate_type.to_string(),
        aggregate_id: aggregate_id.to_string(),
    }
}

/// Deserializes a stored event as postgres-es does: upcast, then into the aggregate's event.
pub(crate) fn envelope<A: Aggregate>(
    stored: &StoredEvent,
    upcasters: &[Box<dyn EventUpcaster>],
) -> Result<EventEnvelope<A>, HistoryError> {
    let unreadable = |source: PersistenceError| HistoryError::Unreadable {
        sequence: stored.sequence,
        event_type: stored.event_type.clone(),
        event_version: stored.event_version.clone(),
        source,
    };
    let payload = stored
        .payload::<Value>()
        .map_err(|e| unreadable(e.into()))?;
    let serialized = SerializedEvent::new(
        stored.aggregate_id.clone(),
        stored.sequence as usize,
        stored.aggregate_type.clone(),
        stored.event_type.clone(),
        stored.event_version.clone(),
        payload,
        stored.metadata(),
    );
    let upcast = upcasters.iter().fold(serialized, |event, upcaster| {
        if upcaster.can_upcast(&event.event_type, &event.event_version) {
            upcaster.upcast(event)
        } else {
            event
        }
    });
    EventEnvelope::try_from(upcast).map_err(unreadable)
}

/// The state after folding `events` into a new aggregate, as JSON.
fn state_json<A: Audited>(events: &[StoredEvent]) -> Result<Value, HistoryError> {
    let upcasters = upcasters();
    let mut aggregate = A::default();
    for stored in events {
        aggregate.apply(envelope::<A>(stored, &upcasters)?.payload);
    }
    // The domain's states are plain data; one that cannot serialize is a bug worth a panic.
    Ok(serde_json::to_value(&aggregate).expect("aggregate state serializes to JSON"))
}

/// The owner of each event: the aggregate's owner once it was applied, else just before.
fn owners<A: Audited>(events: &[StoredEvent]) -> Result<Vec<Option<WorkspaceId>>, HistoryError> {
    let upcasters = upcasters();
    let mut aggregate = A::default();
    let mut owners = Vec::with_capacity(events.len());
    for stored in events {
        let before = aggregate.owner();
        aggregate.apply(envelope::<A>(stored, &upcasters)?.payload);
        owners.push(aggregate.owner().or(before));
    }
    Ok(owners)
}

/// Replaces every `access_token` string (a sealed secret in phone-number events and state)
/// with [`SEALED`].
fn hide_sealed_secrets(value: &mut Value) {
    match value {
        Value::Object(fields) => {
            for (key, field) in fields.iter_mut() {
                if key == "access_token" && field.is_string() {
                    *field = Value::String(SEALED.to_string());
                } else {
                    hide_sealed_secrets(field);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(hide_sealed_secrets),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sealed_secrets_are_hidden_at_any_depth() {
        let mut value = json!({
            "PhoneNumberRegistered": {"access_token": "c2VhbGVk", "waba_id": "1"},
            "list": [{"access_token": "x"}, {"access_token": null}],
        });
        hide_sealed_secrets(&mut value);
        assert_eq!(
            value,
            json!({
                "PhoneNumberRegistered": {"access_token": SEALED, "waba_id": "1"},
                "list": [{"access_token": SEALED}, {"access_token": null}],
            })
        );
    }

    #[test]
    fn an_unknown_aggregate_type_names_the_known_ones() {
        let error = check_aggregate_type("Contact").unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown aggregate type 'Contact'; known types: contact, phone_number, conversation, broadcast, template"
        );
        for known in AGGREGATE_TYPES {
            check_aggregate_type(known).unwrap();
        }
    }
}

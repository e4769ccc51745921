//! Executes one command on one aggregate through a cqrs-es event store.
//!
//! This is cqrs-es's `CqrsFramework::execute_with_metadata` without its in-process query dispatch
//! (read models are built by the projector from the log, never from that dispatch), and returning
//! what was committed so callers can wait for read models and count what changed.

use crate::error::from_aggregate_error;
use crate::{AppError, EventKey};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, AggregateContext, AggregateError, EventStore};
use std::collections::HashMap;

/// Locks striping the aggregates of this process; two aggregates may share one (rarely).
const AGGREGATE_LOCK_STRIPES: usize = 1024;

static AGGREGATE_LOCKS: std::sync::LazyLock<Vec<tokio::sync::Mutex<()>>> =
    std::sync::LazyLock::new(|| {
        (0..AGGREGATE_LOCK_STRIPES)
            .map(|_| tokio::sync::Mutex::new(()))
            .collect()
    });

fn aggregate_lock(aggregate_type: &str, aggregate_id: &str) -> &'static tokio::sync::Mutex<()> {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (aggregate_type, aggregate_id).hash(&mut hasher);
    &AGGREGATE_LOCKS[hasher.finish() as usize % AGGREGATE_LOCK_STRIPES]
}

/// How often a command is retried when another writer committed to the same aggregate first.
const CONFLICT_RETRIES: usize = 5;

/// What a command committed.
#[derive(Debug, Clone, Default)]
pub struct Committed {
    /// The keys of the events appended, in order; empty when the command changed nothing.
    pub events: Vec<EventKey>,
}

impl Committed {
    /// Whether the command changed anything.
    pub fn changed(&self) -> bool {
        !self.events.is_empty()
    }
}

/// Runs commands against an aggregate type.
pub struct CommandBus;

impl CommandBus {
    /// Loads the aggregate, lets it decide, appends its events with the request's metadata in one
    /// transaction. On an optimistic-concurrency conflict the whole cycle is retried: the aggregate
    /// decides again on the newer state.
    pub async fn execute<A, S>(
        store: &S,
        services: &A::Services,
        aggregate_id: &str,
        command: A::Command,
        metadata: HashMap<String, String>,
    ) -> Result<Committed, AppError>
    where
        A: Aggregate,
        A::Command: Clone,
        A::Error: Into<AppError>,
        S: EventStore<A>,
    {
        // Commands on one aggregate in this process take turns, so they do not race each other
        // into optimistic-concurrency conflicts (a send's outcome and its status webhooks often
        // arrive together); writers in other processes are still caught by the event key.
        let _turn = aggregate_lock(A::TYPE, aggregate_id).lock().await;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut loaded = store
                .load_aggregate(aggregate_id)
                .await
                .map_err(from_aggregate_error)?;
            let sink: EventSink<A> = EventSink::default();
            loaded
                .aggregate()
                .handle(command.clone(), services, &sink)
                .await
                .map_err(|e| e.into())?;
            let events = sink.collect().await;
            if events.is_empty() {
                return Ok(Committed::default());
            }
            // PostgreSQL cannot store NUL in text or jsonb. The surfaces refuse it at the edge;
            // this catches any path that slipped through (a WebSocket query, a webhook), as a
            // clear validation error rather than a failed insert.
            if events.iter().any(carries_nul) {
                return Err(AppError::Validation(
                    "text must not contain NUL (\\u0000) characters".into(),
                ));
            }
            match store.commit(events, loaded, metadata.clone()).await {
                Ok(committed) => {
                    let events = committed
                        .iter()
                        .map(|e| EventKey {
                            aggregate_type: A::TYPE,
                            aggregate_id: e.aggregate_id.clone(),
                            sequence: e.sequence,
                        })
                        .collect();
                    return Ok(Committed { events });
                }
                Err(AggregateError::AggregateConflict) if attempt < CONFLICT_RETRIES => continue,
                Err(error) => return Err(from_aggregate_error(error)),
            }
        }
    }
}

/// Whether the event, as stored, would hold a NUL character.
fn carries_nul<E: serde::Serialize>(event: &E) -> bool {
    serde_json::to_value(event).is_ok_and(|value| contains_nul(&value))
}

/// Whether any string (or key) in `value` holds a NUL character, which PostgreSQL text and
/// jsonb cannot store.
pub fn contains_nul(value: &serde_json::Value) -> bool {
    use serde_json::Value;
    match value {
        Value::String(text) => text.contains('\0'),
        Value::Array(items) => items.iter().any(contains_nul),
        Value::Object(fields) => fields
            .iter()
            .any(|(key, value)| key.contains('\0') || contains_nul(value)),
        _ => false,
    }
}

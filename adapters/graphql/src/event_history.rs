//! `eventHistory`: an aggregate's events for dashboards (who did what, when, from which
//! request), scoped to the caller's workspace.
//!
//! The scope comes from the events themselves, not from metadata (which names no workspace) or
//! read models (which know only today's owner): see [`store::aggregate_history::history_in_workspace`].

use crate::cursor;
use crate::error::{internal, not_found, validation, Result};
use crate::query::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};
use crate::read::{self, env};
use crate::types::PageInfo;
use async_graphql::types::Json;
use async_graphql::{Context, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use serde_json::Value;
use store::aggregate_history::{self, HistoryError, HistoryEvent};

/// The event-history query (merged into [`crate::QueryRoot`]).
pub struct EventHistoryQuery;

/// One event of an aggregate, as stored.
#[derive(SimpleObject, Debug)]
pub struct AggregateEvent {
    /// Its place in the aggregate's history: the aggregate's version once it was applied.
    pub sequence: i64,
    /// What happened, e.g. `ContactCreated`.
    pub event_type: String,
    /// The version of the event's shape.
    pub event_version: String,
    /// The event as stored (sealed secrets shown as `[sealed]`).
    pub payload: Json<Value>,
    /// When it was committed to the log (the writing transaction's time).
    pub recorded_at: DateTime<Utc>,
    /// Who caused it: `token:<id>`, `cli`, `meta`, `outbox` or `scheduler`.
    pub actor: Option<String>,
    /// The request it came from: the caller's `X-Request-Id` (or the one generated for it),
    /// or `meta-webhook:<delivery>` for Meta's webhooks.
    pub correlation_id: Option<String>,
    /// All its metadata (`actor`, `correlation_id`, `time`: when the command was issued).
    pub metadata: Json<Value>,
}

impl From<HistoryEvent> for AggregateEvent {
    fn from(event: HistoryEvent) -> Self {
        Self {
            actor: event.actor().map(str::to_string),
            correlation_id: event.correlation_id().map(str::to_string),
            sequence: event.stored.sequence,
            event_type: event.stored.event_type,
            event_version: event.stored.event_version,
            recorded_at: event.stored.recorded_at,
            payload: Json(event.payload),
            metadata: Json(event.metadata),
        }
    }
}

/// An event and its cursor.
#[derive(SimpleObject, Debug)]
pub struct EventEdge {
    pub cursor: String,
    pub node: AggregateEvent,
}

/// A page of an aggregate's events, oldest first.
#[derive(SimpleObject, Debug)]
pub struct EventConnection {
    pub edges: Vec<EventEdge>,
    pub page_info: PageInfo,
    /// How many events of the aggregate the workspace may see.
    pub total_count: i64,
}

#[Object]
impl EventHistoryQuery {
    /// An aggregate's events, oldest first, with who caused each and from which request. Only
    /// events from while the caller's workspace owned the aggregate are shown; another
    /// workspace's aggregate is NOT_FOUND.
    async fn event_history(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "contact, phone_number, conversation, broadcast or template (as in `parley events`)."
        )]
        aggregate_type: String,
        aggregate_id: ID,
        #[graphql(desc = "Page size, 1 to 1000 (default 50).")] first: Option<i32>,
        #[graphql(desc = "The `endCursor` of the previous page.")] after: Option<String>,
    ) -> Result<EventConnection> {
        let (state, caller) = env(ctx)?;
        let first = first.unwrap_or(DEFAULT_PAGE_SIZE);
        if !(1..=MAX_PAGE_SIZE).contains(&first) {
            return Err(validation(format!(
                "first must be between 1 and {MAX_PAGE_SIZE}"
            )));
        }
        let after = match after.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
            None => None,
            Some(raw) => Some(
                cursor::decode_position(raw)
                    .ok_or_else(|| validation("after is not a valid cursor"))?,
            ),
        };
        let client = read::client(state).await?;
        let page = aggregate_history::history_in_workspace(
            &**client,
            caller.workspace_id,
            aggregate_type.trim(),
            aggregate_id.trim(),
            after,
            first as usize,
        )
        .await
        .map_err(|error| match error {
            HistoryError::UnknownAggregateType { .. } => validation(error.to_string()),
            HistoryError::NoEvents { .. } => not_found("aggregate"),
            other => internal(other),
        })?;
        let edges: Vec<EventEdge> = page
            .events
            .into_iter()
            .map(|event| EventEdge {
                cursor: cursor::encode_position(event.stored.sequence),
                node: AggregateEvent::from(event),
            })
            .collect();
        Ok(EventConnection {
            page_info: PageInfo {
                has_next_page: page.has_next_page,
                end_cursor: edges.last().map(|e| e.cursor.clone()),
            },
            edges,
            total_count: page.total as i64,
        })
    }
}

//! Subscriptions over WebSocket (`GET /graphql` with `Upgrade: websocket`, graphql-ws
//! protocols), authenticated by the token in `connection_init`'s payload.
//!
//! `broadcastProgress` re-reads one broadcast's row of the `broadcasts` read model whenever a
//! projection checkpoint moves (or every few seconds) and reports it when it changed.
//!
//! The message subscriptions tail the event log behind the `conversations` projection's checkpoint:
//! on every checkpoint move it reads the conversation events folded since its cursor, in
//! commit-safe order, and reports the status rows those events wrote (`message_status_history`,
//! keyed by message and event sequence) for the caller's workspace. The cursor is a log
//! position, not a time, so no change is skipped, whatever times Meta's reports carry.

use crate::broadcasts::Broadcast;
use crate::conversation_types::{Message, MessageStatus};
use crate::conversations::resolve_phone_number;
use crate::error::{internal, not_found, parse_id, Result};
use crate::read::env;
use api::AppState;
use application::{Actor, RequestContext};
use async_graphql::{Context, Data, SimpleObject, Subscription, ID};
use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use domain::conversation::{Conversation, ConversationEvent, MetaFailure};
use domain::WorkspaceId;
use futures::{Stream, StreamExt};
use projections::broadcasts::BroadcastView;
use projections::log::{settled_after, Position};
use projections::messages::MessageStatus as StoredStatus;
use serde_json::Value;
use std::collections::VecDeque;
use std::time::Duration;
use tokio::sync::watch;
use uuid::Uuid;

/// Re-check interval in case a checkpoint notification is missed.
const POLL: Duration = Duration::from_secs(2);
/// Wait after a failed read before retrying.
const RETRY: Duration = Duration::from_secs(1);
/// Events read from the log per query.
const BATCH: i64 = 500;
/// The projection that writes `messages` and `message_status_history`.
const PROJECTION: &str = "conversations";

/// Subscriptions (WebSocket on `/graphql`; see the SDL description).
pub struct SubscriptionRoot;

/// A status change of a message: a new outbound message (QUEUED) or a delivery report.
#[derive(SimpleObject, Debug)]
pub struct MessageStatusUpdate {
    pub message_id: ID,
    pub conversation_id: ID,
    /// Our id of the business number.
    pub phone_number_id: ID,
    /// The status this change reported (a FAILED after delivery leaves `message.status`
    /// DELIVERED).
    pub status: MessageStatus,
    /// When it happened (Meta's time for delivery reports).
    pub at: DateTime<Utc>,
    /// Meta's error, for FAILED.
    pub error_code: Option<i64>,
    pub error_title: Option<String>,
    pub error_message: Option<String>,
    pub error_details: Option<String>,
    /// The message as it is now (it may be past this change already).
    pub message: Message,
}

/// Subscriptions, over WebSocket on the same path: `GET /graphql` with `Upgrade: websocket`
/// and the `graphql-transport-ws` (or legacy `graphql-ws`) subprotocol. Authenticate in the
/// `connection_init` payload with `{"Authorization": "Bearer wat_…"}` or `{"token": "wat_…"}`;
/// a missing or invalid token closes the connection. Events are of the caller's workspace
/// only, and start when the subscription does.
#[Subscription]
impl SubscriptionRoot {
    /// New inbound messages.
    async fn message_received(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only messages to this business number (our id or Meta's).")]
        phone_number_id: Option<ID>,
    ) -> Result<impl Stream<Item = Message>> {
        let phone = match phone_number_id {
            Some(raw) => Some(resolve_phone_number(ctx, &raw).await?),
            None => None,
        };
        let (state, caller) = env(ctx)?;
        let tail = Tail::start(state, caller.workspace_id).await?;
        let load = Loader::new(state, caller.workspace_id);
        Ok(tail
            .changes()
            .filter(move |change| {
                futures::future::ready(
                    change.status == StoredStatus::Received
                        && phone.is_none_or(|p| p == change.phone_number_id),
                )
            })
            .filter_map(move |change| {
                let load = load.clone();
                async move { load.message(change.message_id).await }
            }))
    }

    /// Status changes of outbound messages, each reported once, in order: QUEUED (a new
    /// message), SENT, DELIVERED, READ, FAILED.
    async fn message_status_changed(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this conversation's messages.")] conversation_id: Option<ID>,
    ) -> Result<impl Stream<Item = MessageStatusUpdate>> {
        let conversation = match conversation_id {
            Some(raw) => Some(parse_id(&raw, "conversation")?),
            None => None,
        };
        let (state, caller) = env(ctx)?;
        let tail = Tail::start(state, caller.workspace_id).await?;
        let load = Loader::new(state, caller.workspace_id);
        Ok(tail
            .changes()
            .filter(move |change| {
                futures::future::ready(
                    change.status != StoredStatus::Received
                        && conversation.is_none_or(|c| c == change.conversation_id),
                )
            })
            .filter_map(move |change| {
                let load = load.clone();
                async move {
                    let message = load.message(change.message_id).await?;
                    let failure = change.failure;
                    Some(MessageStatusUpdate {
                        message_id: ID(change.message_id.to_string()),
                        conversation_id: ID(change.conversation_id.to_string()),
                        phone_number_id: ID(change.phone_number_id.to_string()),
                        status: change.status.into(),
                        at: change.at,
                        error_code: failure.as_ref().map(|f| f.code),
                        error_title: failure.as_ref().map(|f| f.title.clone()),
                        error_message: failure.as_ref().and_then(|f| f.message.clone()),
                        error_details: failure.and_then(|f| f.details),
                        message,
                    })
                }
            }))
    }

    /// One broadcast's progress: the broadcast as it is now, then again each time its status
    /// or counts change (recipients' statuses from Meta, pause, completion). Ends if the
    /// broadcast is deleted. NOT_FOUND for a broadcast that is not the workspace's.
    async fn broadcast_progress(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> Result<impl Stream<Item = Broadcast>> {
        let id = parse_id(&id, "broadcast")?;
        let (state, caller) = env(ctx)?;
        let progress = Progress {
            pool: state.queries.clone(),
            workspace: caller.workspace_id,
            broadcast_id: id,
            moved: state.app.infra.watch.checkpoint_notifications(),
            last: None,
        };
        let first = progress.read().await.map_err(internal)?;
        if first.is_none() {
            return Err(not_found("broadcast"));
        }
        Ok(futures::stream::unfold(
            progress,
            |mut progress| async move {
                let view = progress.next().await?;
                Some((Broadcast(view), progress))
            },
        ))
    }
}

/// Follows one broadcast's row of the broadcasts read model.
struct Progress {
    pool: deadpool_postgres::Pool,
    workspace: WorkspaceId,
    broadcast_id: Uuid,
    moved: watch::Receiver<u64>,
    /// What was reported last.
    last: Option<BroadcastView>,
}

impl Progress {
    async fn read(&self) -> std::result::Result<Option<BroadcastView>, String> {
        let client = self.pool.get().await.map_err(|e| e.to_string())?;
        projections::broadcasts::get_broadcast(&**client, self.workspace, self.broadcast_id)
            .await
            .map_err(|e| e.to_string())
    }

    /// The broadcast once it differs from what was reported last; `None` once it is gone.
    async fn next(&mut self) -> Option<BroadcastView> {
        loop {
            self.moved.borrow_and_update();
            match self.read().await {
                Ok(None) => return None,
                Ok(Some(view)) if self.last.as_ref() != Some(&view) => {
                    self.last = Some(view.clone());
                    return Some(view);
                }
                Ok(Some(_)) => {
                    tokio::select! {
                        changed = self.moved.changed() => {
                            if changed.is_err() {
                                tokio::time::sleep(POLL).await;
                            }
                        }
                        _ = tokio::time::sleep(POLL) => {}
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "graphql subscription: reading a broadcast failed; retrying");
                    tokio::time::sleep(RETRY).await;
                }
            }
        }
    }
}

/// One status row written by a conversation event.
#[derive(Debug, Clone)]
struct Change {
    message_id: Uuid,
    conversation_id: Uuid,
    phone_number_id: Uuid,
    status: StoredStatus,
    at: DateTime<Utc>,
    failure: Option<MetaFailure>,
}

/// Reads a changed message back for a subscriber.
#[derive(Clone)]
struct Loader {
    pool: deadpool_postgres::Pool,
    workspace: WorkspaceId,
}

impl Loader {
    fn new(state: &AppState, workspace: WorkspaceId) -> Self {
        Self {
            pool: state.queries.clone(),
            workspace,
        }
    }

    /// The message with its history, retrying while the database fails; `None` only if the
    /// workspace has no such message.
    async fn message(&self, id: Uuid) -> Option<Message> {
        loop {
            let result = async {
                let client = self.pool.get().await.map_err(|e| e.to_string())?;
                projections::messages::get_message(&**client, self.workspace, id)
                    .await
                    .map_err(|e| e.to_string())
            }
            .await;
            match result {
                Ok(detail) => {
                    return detail.map(|detail| Message {
                        view: detail.message,
                        history: Some(detail.history),
                    })
                }
                Err(error) => {
                    tracing::warn!(%error, "graphql subscription: reading a message failed; retrying");
                    tokio::time::sleep(RETRY).await;
                }
            }
        }
    }
}

/// A workspace's message status changes, from a log position on.
struct Tail {
    pool: deadpool_postgres::Pool,
    workspace: WorkspaceId,
    /// The last log position whose changes were read.
    cursor: Position,
    moved: watch::Receiver<u64>,
    pending: VecDeque<Change>,
}

impl Tail {
    /// Starts at the projection's current checkpoint: only later changes are reported.
    async fn start(state: &AppState, workspace: WorkspaceId) -> Result<Self> {
        let moved = state.app.infra.watch.checkpoint_notifications();
        let client = state.queries.get().await.map_err(internal)?;
        let cursor = checkpoint(&**client).await.map_err(internal)?;
        Ok(Self {
            pool: state.queries.clone(),
            workspace,
            cursor,
            moved,
            pending: VecDeque::new(),
        })
    }

    /// The changes, endlessly (until the subscriber goes away).
    fn changes(self) -> impl Stream<Item = Change> + Send + 'static {
        futures::stream::unfold(self, |mut tail| async move {
            let change = tail.next().await;
            Some((change, tail))
        })
    }

    async fn next(&mut self) -> Change {
        loop {
            if let Some(change) = self.pending.pop_front() {
                return change;
            }
            match self.read().await {
                Ok(true) => {}
                Ok(false) => {
                    tokio::select! {
                        changed = self.moved.changed() => {
                            if changed.is_err() {
                                tokio::time::sleep(POLL).await;
                            }
                        }
                        _ = tokio::time::sleep(POLL) => {}
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "graphql subscription: reading changes failed; retrying");
                    tokio::time::sleep(RETRY).await;
                }
            }
        }
    }

    /// Reads the next folded events after the cursor into `pending`; false when the
    /// projection has folded nothing new.
    async fn read(&mut self) -> std::result::Result<bool, String> {
        self.moved.borrow_and_update();
        let client = self.pool.get().await.map_err(|e| e.to_string())?;
        let folded = checkpoint(&**client).await.map_err(|e| e.to_string())?;
        if folded <= self.cursor {
            return Ok(false);
        }
        let events = settled_after(&**client, self.cursor, BATCH, Some(&[Conversation::TYPE]))
            .await
            .map_err(|e| e.to_string())?;
        let read: Vec<_> = events
            .iter()
            .take_while(|event| event.position <= folded)
            .collect();
        // Every event up to the checkpoint is settled, so a short read got all of them.
        let next_cursor = if read.len() < events.len() || events.len() < BATCH as usize {
            folded
        } else {
            read.last().map_or(folded, |event| event.position)
        };
        let mut ids = Vec::new();
        let mut sequences = Vec::new();
        for event in read
            .iter()
            .filter(|e| e.aggregate_type == Conversation::TYPE)
        {
            match event.payload::<ConversationEvent>() {
                Ok(payload) => {
                    if let Some(id) = status_row_of(&payload) {
                        ids.push(id);
                        sequences.push(event.sequence);
                    }
                }
                Err(error) => tracing::warn!(
                    %error,
                    aggregate_id = %event.aggregate_id,
                    sequence = event.sequence,
                    "graphql subscription: unreadable conversation event skipped"
                ),
            }
        }
        if !ids.is_empty() {
            let rows = client
                .query(
                    "SELECT h.message_id, h.conversation_id, c.phone_number_id, h.status, h.at, \
                            h.error_code, h.error_title, h.error_message, h.error_details \
                     FROM UNNEST($2::uuid[], $3::bigint[]) WITH ORDINALITY AS k(message_id, sequence, n) \
                     JOIN message_status_history h \
                       ON h.message_id = k.message_id AND h.sequence = k.sequence \
                     JOIN conversations c ON c.id = h.conversation_id \
                     WHERE h.workspace_id = $1 \
                     ORDER BY k.n",
                    &[&self.workspace.0, &ids, &sequences],
                )
                .await
                .map_err(|e| e.to_string())?;
            self.pending.extend(rows.iter().map(|row| Change {
                message_id: row.get("message_id"),
                conversation_id: row.get("conversation_id"),
                phone_number_id: row.get("phone_number_id"),
                status: StoredStatus::parse(row.get("status")).unwrap_or(StoredStatus::Received),
                at: row.get("at"),
                failure: row.get::<_, Option<i64>>("error_code").map(|code| {
                    MetaFailure {
                        code,
                        title: row
                            .get::<_, Option<String>>("error_title")
                            .unwrap_or_default(),
                        message: row.get("error_message"),
                        details: row.get("error_details"),
                    }
                }),
            }));
        }
        self.cursor = next_cursor;
        Ok(true)
    }
}

/// The message whose status row an event writes, if it writes one.
fn status_row_of(event: &ConversationEvent) -> Option<Uuid> {
    match event {
        ConversationEvent::MessageQueued { message_id, .. }
        | ConversationEvent::MessageAcceptedByMeta { message_id, .. }
        | ConversationEvent::MessageDelivered { message_id, .. }
        | ConversationEvent::MessageRead { message_id, .. }
        | ConversationEvent::MessageFailed { message_id, .. }
        | ConversationEvent::InboundMessageReceived { message_id, .. } => Some(message_id.0),
        _ => None,
    }
}

/// How far the conversations projection has folded the log.
async fn checkpoint(
    client: &impl tokio_postgres::GenericClient,
) -> std::result::Result<Position, tokio_postgres::Error> {
    let row = client
        .query_opt(
            "SELECT tx_id::text, position FROM projection_checkpoints WHERE name = $1",
            &[&PROJECTION],
        )
        .await?;
    Ok(row.map_or(Position::default(), |row| Position {
        tx_id: row.get::<_, &str>(0).parse().unwrap_or_default(),
        global_position: row.get(1),
    }))
}

/// The token in a `connection_init` payload: `Authorization: Bearer …`, `token` or
/// `X-API-Key` (keys in any case), at the top level or under `headers`.
fn payload_token(payload: &Value) -> Option<String> {
    fn find(object: &serde_json::Map<String, Value>) -> Option<String> {
        object.iter().find_map(|(key, value)| {
            let value = value.as_str()?.trim();
            let token = match key.to_ascii_lowercase().as_str() {
                "authorization" => value
                    .strip_prefix("Bearer ")
                    .or_else(|| value.strip_prefix("bearer "))?,
                "token" | "x-api-key" => value,
                _ => return None,
            };
            Some(token.trim().to_string()).filter(|t| !t.is_empty())
        })
    }
    let object = payload.as_object()?;
    find(object).or_else(|| object.get("headers")?.as_object().and_then(find))
}

/// Authenticates a WebSocket connection from its `connection_init` payload; the caller becomes
/// the connection's data.
pub async fn connection_init(state: AppState, payload: Value) -> async_graphql::Result<Data> {
    let token = payload_token(&payload).ok_or_else(|| {
        async_graphql::Error::new(
            "Missing API token: send {\"Authorization\": \"Bearer <token>\"} or {\"token\": \"<token>\"} in connection_init's payload",
        )
    })?;
    let identity = state
        .tenancy
        .authenticate(&token)
        .await
        .map_err(|error| {
            tracing::error!(%error, "token lookup failed");
            async_graphql::Error::new("Authentication is temporarily unavailable")
        })?
        .ok_or_else(|| async_graphql::Error::new("Invalid API token"))?;
    let mut data = Data::default();
    data.insert(RequestContext {
        workspace_id: identity.workspace_id,
        actor: Actor::Token(identity.token_id),
        correlation_id: Uuid::new_v4().to_string(),
    });
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tokens_are_found_in_the_usual_payload_shapes() {
        for payload in [
            json!({"Authorization": "Bearer wat_x"}),
            json!({"authorization": "bearer wat_x"}),
            json!({"token": "wat_x"}),
            json!({"headers": {"X-API-Key": " wat_x "}}),
        ] {
            assert_eq!(
                payload_token(&payload).as_deref(),
                Some("wat_x"),
                "{payload}"
            );
        }
        for payload in [
            json!(null),
            json!({}),
            json!({"Authorization": "wat_x"}),
            json!({"token": ""}),
        ] {
            assert_eq!(payload_token(&payload), None, "{payload}");
        }
    }
}

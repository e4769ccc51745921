//! Queries over the messages of the conversations read model (folded by
//! [`crate::conversations::ConversationsProjection`]): a conversation's messages, one message with
//! its status history, and histories in bulk.

use crate::conversations::{failure_from_row, parse_delivery_status, parse_direction};
use chrono::{DateTime, Utc};
use domain::conversation::{DeliveryStatus, Direction, MetaFailure};
use domain::WorkspaceId;
use serde_json::Value;
use std::collections::HashMap;
use std::fmt;
use tokio_postgres::{GenericClient, Row};
use uuid::Uuid;

/// Where a message stands: an outbound message's delivery status, or `Received` for every
/// inbound one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageStatus {
    /// An inbound message.
    Received,
    /// An outbound message's status (the domain's merge rule).
    Delivery(DeliveryStatus),
}

impl MessageStatus {
    /// The wire form: `received`, `queued`, `sent`, `delivered`, `read` or `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Received => "received",
            Self::Delivery(status) => status.as_str(),
        }
    }

    /// Reads a stored status (`received` or a delivery status).
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "received" => Some(Self::Received),
            other => parse_delivery_status(other).map(Self::Delivery),
        }
    }
}

impl fmt::Display for MessageStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A message as the read model holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageView {
    /// Our id of the message.
    pub message_id: Uuid,
    /// The conversation it belongs to.
    pub conversation_id: Uuid,
    /// Which way it went.
    pub direction: Direction,
    /// Meta's id: every inbound message's, an outbound one's once Meta accepted it.
    pub wamid: Option<String>,
    /// Our kind: Meta's type for outbound (`text`, `template`, …), ours for inbound
    /// (`text`, `button_reply`, …; see `InboundContent::kind`).
    pub kind: String,
    /// The content as the event holds it: `OutboundContent` (Meta's send fragment) or
    /// `InboundContent` JSON.
    pub content: Value,
    /// The text it carries, if any (body, caption, interactive body, reply title, …).
    pub text: Option<String>,
    /// Outbound: our id of the message it quotes.
    pub reply_to_message_id: Option<Uuid>,
    /// The wamid it quotes (outbound) or replies to (inbound `context.id`).
    pub context_wamid: Option<String>,
    /// Where it stands (the domain's rule for outbound messages).
    pub status: MessageStatus,
    /// Meta's failure, kept even when a delivery outranks it.
    pub failure: Option<MetaFailure>,
    /// When it was queued (outbound) or sent by the customer (inbound): its place in the chat.
    pub created_at: DateTime<Utc>,
    /// Inbound: when Parley recorded it.
    pub received_at: Option<DateTime<Utc>>,
    /// Outbound: when Meta accepted it.
    pub sent_at: Option<DateTime<Utc>>,
    /// Outbound: when Meta reported it delivered.
    pub delivered_at: Option<DateTime<Utc>>,
    /// Outbound: when Meta reported it read.
    pub read_at: Option<DateTime<Utc>>,
    /// Outbound: when it failed (even if a delivery outranks the failure).
    pub failed_at: Option<DateTime<Utc>>,
    /// When anything about it last changed.
    pub updated_at: DateTime<Utc>,
}

impl MessageView {
    /// When the message reached its current status (seed 000's status `timestamp`).
    pub fn status_at(&self) -> DateTime<Utc> {
        let at = match self.status {
            MessageStatus::Received => self.received_at,
            MessageStatus::Delivery(DeliveryStatus::Queued) => None,
            MessageStatus::Delivery(DeliveryStatus::Sent) => self.sent_at,
            MessageStatus::Delivery(DeliveryStatus::Delivered) => self.delivered_at,
            MessageStatus::Delivery(DeliveryStatus::Read) => self.read_at,
            MessageStatus::Delivery(DeliveryStatus::Failed) => self.failed_at,
        };
        at.unwrap_or(self.created_at)
    }

    fn from_row(row: &Row) -> Self {
        Self {
            message_id: row.get("message_id"),
            conversation_id: row.get("conversation_id"),
            direction: parse_direction(row.get("direction")),
            wamid: row.get("wamid"),
            kind: row.get("kind"),
            content: row.get("content"),
            text: row.get("text"),
            reply_to_message_id: row.get("reply_to_message_id"),
            context_wamid: row.get("context_wamid"),
            status: MessageStatus::parse(row.get("status"))
                .unwrap_or(MessageStatus::Delivery(DeliveryStatus::Queued)),
            failure: failure_from_row(row, "failure_"),
            created_at: row.get("created_at"),
            received_at: row.get("received_at"),
            sent_at: row.get("sent_at"),
            delivered_at: row.get("delivered_at"),
            read_at: row.get("read_at"),
            failed_at: row.get("failed_at"),
            updated_at: row.get("updated_at"),
        }
    }
}

const VIEW_COLUMNS: &str = "message_id, conversation_id, direction, wamid, kind, content, text, \
                            reply_to_message_id, context_wamid, status, failure_code, failure_title, \
                            failure_message, failure_details, created_at, received_at, sent_at, \
                            delivered_at, read_at, failed_at, updated_at";

/// One status event of a message: what was reported and when, in event order. A report that
/// did not change the status (a failure after delivery) is here too.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusChange {
    /// The conversation event's sequence number: the order of the changes.
    pub sequence: i64,
    /// The status reported (`received` for an inbound message's arrival).
    pub status: MessageStatus,
    /// When it happened (Meta's timestamp for delivery reports).
    pub at: DateTime<Utc>,
    /// Meta's error, for `failed`.
    pub failure: Option<MetaFailure>,
}

impl StatusChange {
    fn from_row(row: &Row) -> Self {
        Self {
            sequence: row.get("sequence"),
            status: MessageStatus::parse(row.get("status"))
                .unwrap_or(MessageStatus::Delivery(DeliveryStatus::Queued)),
            at: row.get("at"),
            failure: failure_from_row(row, "error_"),
        }
    }
}

/// A message with its status history, oldest change first.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageDetail {
    /// The message.
    pub message: MessageView,
    /// Its status changes, in event order.
    pub history: Vec<StatusChange>,
}

/// The order a conversation's messages are listed in (by `created_at`, then id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageOrder {
    /// Chat order.
    OldestFirst,
    /// Latest first (an inbox's first page).
    NewestFirst,
}

/// Where a page of messages starts: an offset (seed 000's `page`), or after a
/// (created_at, message_id) key in the listing's order.
#[derive(Debug, Clone)]
pub enum MessagePageStart {
    /// Skip this many messages.
    Skip(i64),
    /// Start after the message with this sort key.
    After {
        /// Its `created_at`.
        created_at: DateTime<Utc>,
        /// Its id.
        message_id: Uuid,
    },
}

/// One page of a conversation's messages and how many it has in all.
#[derive(Debug, Clone)]
pub struct MessagePage {
    /// The page, in the order asked for.
    pub messages: Vec<MessageView>,
    /// How many messages the conversation has.
    pub total: i64,
}

/// A conversation's messages, one page at a time; `None` if the conversation does not exist
/// or is another workspace's.
pub async fn list_messages(
    client: &impl GenericClient,
    workspace: WorkspaceId,
    conversation_id: Uuid,
    order: MessageOrder,
    start: &MessagePageStart,
    limit: i64,
) -> Result<Option<MessagePage>, tokio_postgres::Error> {
    let Some(row) = client
        .query_opt(
            "SELECT (SELECT count(*) FROM messages m WHERE m.workspace_id = $1 AND m.conversation_id = $2) \
             FROM conversations WHERE workspace_id = $1 AND id = $2",
            &[&workspace.0, &conversation_id],
        )
        .await?
    else {
        return Ok(None);
    };
    let total: i64 = row.get(0);
    let (skip, after_at, after_id) = match start {
        MessagePageStart::Skip(skip) => (*skip, None, None),
        MessagePageStart::After {
            created_at,
            message_id,
        } => (0, Some(*created_at), Some(*message_id)),
    };
    let (comparison, direction) = match order {
        MessageOrder::OldestFirst => (">", "ASC"),
        MessageOrder::NewestFirst => ("<", "DESC"),
    };
    let rows = client
        .query(
            &format!(
                "SELECT {VIEW_COLUMNS} FROM messages \
                 WHERE workspace_id = $1 AND conversation_id = $2 \
                   AND ($3::timestamptz IS NULL OR (created_at, message_id) {comparison} ($3, $4::uuid)) \
                 ORDER BY created_at {direction}, message_id {direction} OFFSET $5 LIMIT $6"
            ),
            &[
                &workspace.0,
                &conversation_id,
                &after_at,
                &after_id,
                &skip,
                &limit,
            ],
        )
        .await?;
    Ok(Some(MessagePage {
        messages: rows.iter().map(MessageView::from_row).collect(),
        total,
    }))
}

/// One message of the workspace with its status history; `None` if it does not exist or is
/// another workspace's.
pub async fn get_message(
    client: &impl GenericClient,
    workspace: WorkspaceId,
    message_id: Uuid,
) -> Result<Option<MessageDetail>, tokio_postgres::Error> {
    let Some(row) = client
        .query_opt(
            &format!(
                "SELECT {VIEW_COLUMNS} FROM messages WHERE workspace_id = $1 AND message_id = $2"
            ),
            &[&workspace.0, &message_id],
        )
        .await?
    else {
        return Ok(None);
    };
    let message = MessageView::from_row(&row);
    let history = message_status_history(client, workspace, &[message_id])
        .await?
        .remove(&message_id)
        .unwrap_or_default();
    Ok(Some(MessageDetail { message, history }))
}

/// The status histories of the workspace's messages among `message_ids`, each oldest change
/// first; ids of other workspaces' or unknown messages are absent from the map.
pub async fn message_status_history(
    client: &impl GenericClient,
    workspace: WorkspaceId,
    message_ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<StatusChange>>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT message_id, sequence, status, at, error_code, error_title, error_message, error_details \
             FROM message_status_history WHERE workspace_id = $1 AND message_id = ANY($2) \
             ORDER BY message_id, sequence",
            &[&workspace.0, &message_ids],
        )
        .await?;
    let mut histories: HashMap<Uuid, Vec<StatusChange>> = HashMap::new();
    for row in &rows {
        histories
            .entry(row.get("message_id"))
            .or_default()
            .push(StatusChange::from_row(row));
    }
    Ok(histories)
}

//! The conversations read model: one row per conversation (list fields, the customer-service
//! window, unread count, AI agent, lead qualification), one per message (content and delivery
//! status) and one per status event of a message. Folded from conversation events alone, with the
//! domain's own rules for delivery status, the AI agent and lead fields; the queries for the
//! conversation list live here, those for messages in [`crate::messages`].

use crate::log::StoredEvent;
use crate::runner::{Projection, ProjectorError, RebuildOrder};
use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use domain::conversation::{
    AiAgent, AiAgentChangedBy, Conversation, ConversationEvent, CustomerServiceWindow,
    DeliveryStatus, DeliveryTrack, Direction, InboundContent, InteractiveMessage, LeadFields,
    LeadQualification, LeadStatus, MetaFailure, OutboundContent, ReportedStatus,
};
use domain::WorkspaceId;
use futures::future::BoxFuture;
use serde_json::Value;
use std::collections::HashMap;
use tokio_postgres::types::ToSql;
use tokio_postgres::{GenericClient, Row, Transaction};
use uuid::Uuid;

/// How much of a message's text the conversation list previews, in characters.
pub const PREVIEW_CHARS: usize = 100;

/// Folds conversation events into `conversations`, `messages` and `message_status_history`.
pub struct ConversationsProjection;

impl Projection for ConversationsProjection {
    fn name(&self) -> &'static str {
        "conversations"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["conversations", "messages", "message_status_history"]
    }

    fn aggregate_types(&self) -> Option<&'static [&'static str]> {
        Some(&[Conversation::TYPE])
    }

    /// Every row depends on one conversation's events only.
    fn rebuild_order(&self) -> RebuildOrder {
        RebuildOrder::ByAggregate
    }

    fn apply<'a>(
        &'a self,
        tx: &'a Transaction<'a>,
        events: &'a [StoredEvent],
    ) -> BoxFuture<'a, Result<(), ProjectorError>> {
        Box::pin(async move {
            let mut ours: Vec<(Uuid, i64, ConversationEvent)> = Vec::new();
            for event in events
                .iter()
                .filter(|e| e.aggregate_type == Conversation::TYPE)
            {
                let id = Uuid::parse_str(&event.aggregate_id)
                    .map_err(|e| ProjectorError::unreadable(event, e))?;
                let payload = event
                    .payload()
                    .map_err(|e| ProjectorError::unreadable(event, e))?;
                ours.push((id, event.sequence, payload));
            }
            if ours.is_empty() {
                return Ok(());
            }
            // Load, once per batch, every row the batch changes that an earlier batch wrote.
            let mut conversation_ids: Vec<Uuid> = ours.iter().map(|(id, _, _)| *id).collect();
            conversation_ids.sort_unstable();
            conversation_ids.dedup();
            let mut message_ids: Vec<Uuid> = ours
                .iter()
                .filter_map(|(_, _, event)| status_target(event))
                .collect();
            message_ids.sort_unstable();
            message_ids.dedup();
            let mut fold = Fold {
                conversations: load_conversations(tx, &conversation_ids).await?,
                messages: load_messages(tx, &message_ids).await?,
                history: Vec::new(),
            };
            for (id, sequence, event) in ours {
                fold.apply(id, sequence, event);
            }
            write_conversations(tx, &fold.conversations).await?;
            write_messages(tx, &fold.messages).await?;
            write_history(tx, &fold.history).await
        })
    }
}

/// The message a status event is about (one that may already be stored).
fn status_target(event: &ConversationEvent) -> Option<Uuid> {
    match event {
        ConversationEvent::MessageAcceptedByMeta { message_id, .. }
        | ConversationEvent::MessageDelivered { message_id, .. }
        | ConversationEvent::MessageRead { message_id, .. }
        | ConversationEvent::MessageFailed { message_id, .. } => Some(message_id.0),
        _ => None,
    }
}

/// A conversation row being folded.
#[derive(Debug, Clone, PartialEq)]
struct ConversationRow {
    id: Uuid,
    workspace_id: Uuid,
    phone_number_id: Uuid,
    customer_wa_id: String,
    customer_profile_name: Option<String>,
    started_at: DateTime<Utc>,
    last_message_at: DateTime<Utc>,
    last_message_id: Option<Uuid>,
    last_message_direction: Option<Direction>,
    last_message_kind: Option<String>,
    last_message_preview: Option<String>,
    last_inbound_at: Option<DateTime<Utc>>,
    unread_count: i32,
    inbound_count: i64,
    outbound_count: i64,
    ai_agent: AiAgent,
    lead: LeadQualification,
    updated_at: DateTime<Utc>,
}

impl ConversationRow {
    /// Makes `message` the last one if it is the latest by its own time; on a tie the later
    /// event wins, so a refold picks the same one.
    fn note_message(
        &mut self,
        message_id: Uuid,
        at: DateTime<Utc>,
        direction: Direction,
        kind: &str,
        text: Option<&str>,
    ) {
        if self.last_message_id.is_some() && at < self.last_message_at {
            return;
        }
        self.last_message_at = at;
        self.last_message_id = Some(message_id);
        self.last_message_direction = Some(direction);
        self.last_message_kind = Some(kind.to_string());
        self.last_message_preview = text.map(preview);
    }
}

/// What only a message first seen in this batch carries: a stored row keeps its content.
#[derive(Debug, Clone, PartialEq)]
struct NewMessage {
    kind: &'static str,
    content: Value,
    text: Option<String>,
    reply_to_message_id: Option<Uuid>,
    context_wamid: Option<String>,
}

/// A message row being folded.
#[derive(Debug, Clone, PartialEq)]
struct MessageRow {
    message_id: Uuid,
    conversation_id: Uuid,
    workspace_id: Uuid,
    direction: Direction,
    wamid: Option<String>,
    /// `Some` for a row to insert, `None` for a stored row to update.
    new: Option<NewMessage>,
    /// The delivery track of an outbound message, folded with the aggregate's own merge rule.
    track: Option<DeliveryTrack>,
    created_at: DateTime<Utc>,
    received_at: Option<DateTime<Utc>>,
    updated_at: DateTime<Utc>,
}

impl MessageRow {
    fn status(&self) -> &'static str {
        match &self.track {
            Some(track) => track.status.as_str(),
            None => RECEIVED,
        }
    }
}

/// The status of every inbound message.
const RECEIVED: &str = "received";

/// One status event of a message.
#[derive(Debug, Clone, PartialEq)]
struct HistoryRow {
    message_id: Uuid,
    sequence: i64,
    conversation_id: Uuid,
    workspace_id: Uuid,
    status: &'static str,
    at: DateTime<Utc>,
    failure: Option<MetaFailure>,
}

/// The rows a batch changes: loaded from the tables, folded in memory, written back at once.
#[derive(Debug, Default)]
struct Fold {
    conversations: HashMap<Uuid, ConversationRow>,
    messages: HashMap<Uuid, MessageRow>,
    history: Vec<HistoryRow>,
}

impl Fold {
    /// Folds one event of conversation `id`, the `sequence`th of its history.
    fn apply(&mut self, id: Uuid, sequence: i64, event: ConversationEvent) {
        if let ConversationEvent::ConversationStarted {
            workspace_id,
            phone_number_id,
            customer_wa_id,
            at,
        } = event
        {
            self.conversations.insert(
                id,
                ConversationRow {
                    id,
                    workspace_id: workspace_id.0,
                    phone_number_id,
                    customer_wa_id,
                    customer_profile_name: None,
                    started_at: at,
                    last_message_at: at,
                    last_message_id: None,
                    last_message_direction: None,
                    last_message_kind: None,
                    last_message_preview: None,
                    last_inbound_at: None,
                    unread_count: 0,
                    inbound_count: 0,
                    outbound_count: 0,
                    ai_agent: AiAgent::default(),
                    lead: LeadQualification::default(),
                    updated_at: at,
                },
            );
            return;
        }
        // Like the aggregate, nothing happens to a conversation that never started.
        let Some(conversation) = self.conversations.get_mut(&id) else {
            return;
        };
        // Status events carry Meta's timestamps, which may be older than what is known.
        conversation.updated_at = conversation.updated_at.max(event.at());
        let workspace_id = conversation.workspace_id;
        match event {
            ConversationEvent::ConversationStarted { .. } => unreachable!("handled above"),
            ConversationEvent::MessageQueued {
                message_id,
                content,
                reply_to,
                at,
                ..
            } => {
                let text = outbound_text(&content);
                conversation.outbound_count += 1;
                conversation.note_message(
                    message_id.0,
                    at,
                    Direction::Outbound,
                    content.kind(),
                    text.as_deref(),
                );
                self.messages.insert(
                    message_id.0,
                    MessageRow {
                        message_id: message_id.0,
                        conversation_id: id,
                        workspace_id,
                        direction: Direction::Outbound,
                        wamid: None,
                        new: Some(NewMessage {
                            kind: content.kind(),
                            content: serde_json::to_value(&content)
                                .expect("outbound content serializes"),
                            text,
                            reply_to_message_id: reply_to.as_ref().map(|r| r.message_id.0),
                            context_wamid: reply_to.map(|r| r.wamid.as_str().to_string()),
                        }),
                        track: Some(DeliveryTrack::queued(at)),
                        created_at: at,
                        received_at: None,
                        updated_at: at,
                    },
                );
                self.history.push(HistoryRow {
                    message_id: message_id.0,
                    sequence,
                    conversation_id: id,
                    workspace_id,
                    status: DeliveryStatus::Queued.as_str(),
                    at,
                    failure: None,
                });
            }
            ConversationEvent::MessageAcceptedByMeta {
                message_id,
                wamid,
                at,
            } => {
                if let Some(message) = self.outbound(id, message_id.0) {
                    message.wamid = Some(wamid.as_str().to_string());
                }
                self.record_status(id, sequence, message_id.0, ReportedStatus::Sent, at);
            }
            ConversationEvent::MessageDelivered { message_id, at, .. } => {
                self.record_status(id, sequence, message_id.0, ReportedStatus::Delivered, at)
            }
            ConversationEvent::MessageRead { message_id, at, .. } => {
                self.record_status(id, sequence, message_id.0, ReportedStatus::Read, at)
            }
            ConversationEvent::MessageFailed {
                message_id,
                failure,
                at,
                ..
            } => self.record_status(
                id,
                sequence,
                message_id.0,
                ReportedStatus::Failed(failure),
                at,
            ),
            // No row until the message is known: the aggregate re-emits held statuses as status
            // events right after the acceptance that names their wamid.
            ConversationEvent::DeliveryStatusHeld { .. } => {}
            ConversationEvent::InboundMessageReceived {
                message_id,
                wamid,
                profile_name,
                content,
                sent_at,
                context_wamid,
                at,
            } => {
                let text = inbound_text(&content);
                conversation.inbound_count += 1;
                conversation.unread_count = conversation.unread_count.saturating_add(1);
                // Webhooks may arrive out of order: the window runs from the latest message sent.
                conversation.last_inbound_at = Some(match conversation.last_inbound_at {
                    Some(last) => last.max(sent_at),
                    None => sent_at,
                });
                if profile_name.is_some() {
                    conversation.customer_profile_name = profile_name;
                }
                conversation.note_message(
                    message_id.0,
                    sent_at,
                    Direction::Inbound,
                    content.kind(),
                    text.as_deref(),
                );
                self.messages.insert(
                    message_id.0,
                    MessageRow {
                        message_id: message_id.0,
                        conversation_id: id,
                        workspace_id,
                        direction: Direction::Inbound,
                        wamid: Some(wamid.as_str().to_string()),
                        new: Some(NewMessage {
                            kind: content.kind(),
                            content: serde_json::to_value(&content)
                                .expect("inbound content serializes"),
                            text,
                            reply_to_message_id: None,
                            context_wamid: context_wamid.map(|w| w.as_str().to_string()),
                        }),
                        track: None,
                        created_at: sent_at,
                        received_at: Some(at),
                        updated_at: at,
                    },
                );
                self.history.push(HistoryRow {
                    message_id: message_id.0,
                    sequence,
                    conversation_id: id,
                    workspace_id,
                    status: RECEIVED,
                    at,
                    failure: None,
                });
            }
            ConversationEvent::ReadReceiptQueued { .. } => conversation.unread_count = 0,
            ConversationEvent::AiAgentChanged {
                enabled,
                changed_by,
                at,
                ..
            } => conversation.ai_agent.apply(enabled, changed_by, at),
            ConversationEvent::LeadQualificationUpdated { changes, at } => {
                conversation.lead.apply(changes, at)
            }
        }
    }

    /// The outbound message `message_id` of conversation `id`, if it is known.
    fn outbound(&mut self, id: Uuid, message_id: Uuid) -> Option<&mut MessageRow> {
        self.messages
            .get_mut(&message_id)
            .filter(|m| m.conversation_id == id && m.track.is_some())
    }

    /// Merges a status into its message by the domain's rule and records it in the history,
    /// whether or not it changed the status (a failure after delivery keeps `delivered`).
    fn record_status(
        &mut self,
        id: Uuid,
        sequence: i64,
        message_id: Uuid,
        report: ReportedStatus,
        at: DateTime<Utc>,
    ) {
        let Some(message) = self.outbound(id, message_id) else {
            return;
        };
        let track = message
            .track
            .as_mut()
            .expect("outbound messages have a track");
        track.record(&report, at);
        message.updated_at = message.updated_at.max(at);
        let workspace_id = message.workspace_id;
        let failure = match &report {
            ReportedStatus::Failed(failure) => Some(failure.clone()),
            _ => None,
        };
        self.history.push(HistoryRow {
            message_id,
            sequence,
            conversation_id: id,
            workspace_id,
            status: report.status().as_str(),
            at,
            failure,
        });
    }
}

/// The first [`PREVIEW_CHARS`] characters of `text`.
fn preview(text: &str) -> String {
    text.chars().take(PREVIEW_CHARS).collect()
}

/// `text` unless it is empty.
fn non_empty(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_string())
}

/// The text an outbound message carries, if any: its body, caption, interactive body, reaction
/// emoji or place name. Templates carry parameters, not text.
fn outbound_text(content: &OutboundContent) -> Option<String> {
    match content {
        OutboundContent::Text { text } => non_empty(&text.body),
        OutboundContent::Image { image: media }
        | OutboundContent::Video { video: media }
        | OutboundContent::Audio { audio: media }
        | OutboundContent::Document { document: media }
        | OutboundContent::Sticker { sticker: media } => {
            media.caption.as_deref().and_then(non_empty)
        }
        OutboundContent::Template { .. } | OutboundContent::Contacts { .. } => None,
        OutboundContent::Interactive { interactive } => match interactive {
            InteractiveMessage::Button(message) => non_empty(&message.body.text),
            InteractiveMessage::List(message) => non_empty(&message.body.text),
            InteractiveMessage::Other(value) => value
                .pointer("/body/text")
                .and_then(Value::as_str)
                .and_then(non_empty),
        },
        OutboundContent::Reaction { reaction } => non_empty(&reaction.emoji),
        OutboundContent::Location { location } => location
            .name
            .as_deref()
            .or(location.address.as_deref())
            .and_then(non_empty),
    }
}

/// The text an inbound message carries, if any: its body, caption, the reply picked, reaction
/// emoji, place name, order note or WhatsApp's notice.
fn inbound_text(content: &InboundContent) -> Option<String> {
    match content {
        InboundContent::Text { body } => non_empty(body),
        InboundContent::Image(media)
        | InboundContent::Video(media)
        | InboundContent::Audio(media)
        | InboundContent::Document(media)
        | InboundContent::Sticker(media) => media.caption.as_deref().and_then(non_empty),
        InboundContent::Location(location) => location
            .name
            .as_deref()
            .or(location.address.as_deref())
            .and_then(non_empty),
        InboundContent::Contacts { .. } | InboundContent::Unsupported { .. } => None,
        InboundContent::ButtonReply(reply) | InboundContent::ListReply(reply) => {
            non_empty(&reply.title)
        }
        InboundContent::FlowReply(flow) => flow.body.as_deref().and_then(non_empty),
        InboundContent::Button(button) => non_empty(&button.text),
        InboundContent::Reaction(reaction) => non_empty(&reaction.emoji),
        InboundContent::Order(order) => order.text.as_deref().and_then(non_empty),
        InboundContent::System { body, .. } => body.as_deref().and_then(non_empty),
    }
}

/// The wire form of a direction: `inbound` or `outbound`.
pub(crate) fn direction_str(direction: Direction) -> &'static str {
    match direction {
        Direction::Inbound => "inbound",
        Direction::Outbound => "outbound",
    }
}

/// Reads a stored direction.
pub(crate) fn parse_direction(text: &str) -> Direction {
    match text {
        "inbound" => Direction::Inbound,
        _ => Direction::Outbound,
    }
}

/// Reads a stored delivery status.
pub(crate) fn parse_delivery_status(text: &str) -> Option<DeliveryStatus> {
    [
        DeliveryStatus::Queued,
        DeliveryStatus::Sent,
        DeliveryStatus::Delivered,
        DeliveryStatus::Read,
        DeliveryStatus::Failed,
    ]
    .into_iter()
    .find(|status| status.as_str() == text)
}

fn parse_changed_by(text: &str) -> Option<AiAgentChangedBy> {
    [
        AiAgentChangedBy::User,
        AiAgentChangedBy::Api,
        AiAgentChangedBy::Auto,
        AiAgentChangedBy::Default,
    ]
    .into_iter()
    .find(|by| by.as_str() == text)
}

/// Reads a failure from columns named `{prefix}code`, `{prefix}title`, `{prefix}message`,
/// `{prefix}details`; `None` when there is no code.
pub(crate) fn failure_from_row(row: &Row, prefix: &str) -> Option<MetaFailure> {
    let code: Option<i64> = row.get(format!("{prefix}code").as_str());
    code.map(|code| MetaFailure {
        code,
        title: row
            .get::<_, Option<String>>(format!("{prefix}title").as_str())
            .unwrap_or_default(),
        message: row.get(format!("{prefix}message").as_str()),
        details: row.get(format!("{prefix}details").as_str()),
    })
}

/// The AI-agent columns as the domain's value.
fn ai_agent_from_row(row: &Row) -> AiAgent {
    AiAgent {
        is_ai_agent_on: row.get("is_ai_agent_on"),
        ai_agent_enabled_at: row.get("ai_agent_enabled_at"),
        ai_agent_enabled_by: row
            .get::<_, Option<&str>>("ai_agent_enabled_by")
            .and_then(parse_changed_by),
        ai_agent_last_toggled_at: row.get("ai_agent_last_toggled_at"),
    }
}

/// The lead columns as the domain's value.
fn lead_from_row(row: &Row) -> LeadQualification {
    LeadQualification {
        fields: LeadFields {
            lead_status: row
                .get::<_, Option<&str>>("lead_status")
                .and_then(|s| s.parse().ok()),
            lead_score: row
                .get::<_, Option<i16>>("lead_score")
                .and_then(|s| u8::try_from(s).ok()),
            lead_company: row.get("lead_company"),
            lead_name: row.get("lead_name"),
            lead_notes: row.get("lead_notes"),
            lead_source: row.get("lead_source"),
            lead_budget: row.get("lead_budget"),
            lead_timeline: row.get("lead_timeline"),
            lead_industry: row.get("lead_industry"),
            lead_job_title: row.get("lead_job_title"),
            lead_location: row.get("lead_location"),
            lead_qualification_date: row.get("lead_qualification_date"),
            raw_data: row.get("raw_data"),
            processed_data: row.get("processed_data"),
            source_api: row.get("source_api"),
            external_id: row.get("external_id"),
        },
        lead_last_updated: row.get("lead_last_updated"),
        raw_data_stored_at: row.get("raw_data_stored_at"),
    }
}

/// The columns of `conversations` with their types, in the order [`write_conversations`] binds them.
const CONVERSATION_COLUMNS: &[(&str, &str)] = &[
    ("id", "uuid"),
    ("workspace_id", "uuid"),
    ("phone_number_id", "uuid"),
    ("customer_wa_id", "text"),
    ("customer_profile_name", "text"),
    ("started_at", "timestamptz"),
    ("last_message_at", "timestamptz"),
    ("last_message_id", "uuid"),
    ("last_message_direction", "text"),
    ("last_message_kind", "text"),
    ("last_message_preview", "text"),
    ("last_inbound_at", "timestamptz"),
    ("unread_count", "integer"),
    ("inbound_count", "bigint"),
    ("outbound_count", "bigint"),
    ("is_ai_agent_on", "boolean"),
    ("ai_agent_enabled_at", "timestamptz"),
    ("ai_agent_enabled_by", "text"),
    ("ai_agent_last_toggled_at", "timestamptz"),
    ("lead_status", "text"),
    ("lead_score", "smallint"),
    ("lead_company", "text"),
    ("lead_name", "text"),
    ("lead_notes", "text"),
    ("lead_source", "text"),
    ("lead_budget", "text"),
    ("lead_timeline", "text"),
    ("lead_industry", "text"),
    ("lead_job_title", "text"),
    ("lead_location", "text"),
    ("lead_qualification_date", "timestamptz"),
    ("raw_data", "jsonb"),
    ("processed_data", "jsonb"),
    ("source_api", "text"),
    ("external_id", "text"),
    ("lead_last_updated", "timestamptz"),
    ("raw_data_stored_at", "timestamptz"),
    ("updated_at", "timestamptz"),
];

fn column_list(columns: &[(&str, &str)]) -> String {
    columns
        .iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `UNNEST($1::t1[], $2::t2[], …) AS r(c1, c2, …)` over `columns`.
fn unnest(columns: &[(&str, &str)]) -> String {
    let arrays: Vec<String> = columns
        .iter()
        .enumerate()
        .map(|(i, (_, ty))| format!("${}::{ty}[]", i + 1))
        .collect();
    format!(
        "UNNEST({}) AS r({})",
        arrays.join(", "),
        column_list(columns)
    )
}

async fn load_conversations(
    tx: &Transaction<'_>,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, ConversationRow>, ProjectorError> {
    let sql = format!(
        "SELECT {} FROM conversations WHERE id = ANY($1)",
        column_list(CONVERSATION_COLUMNS)
    );
    let rows = tx.query(&sql, &[&ids]).await?;
    let mut conversations = HashMap::with_capacity(ids.len());
    for row in rows {
        let id: Uuid = row.get("id");
        conversations.insert(
            id,
            ConversationRow {
                id,
                workspace_id: row.get("workspace_id"),
                phone_number_id: row.get("phone_number_id"),
                customer_wa_id: row.get("customer_wa_id"),
                customer_profile_name: row.get("customer_profile_name"),
                started_at: row.get("started_at"),
                last_message_at: row.get("last_message_at"),
                last_message_id: row.get("last_message_id"),
                last_message_direction: row
                    .get::<_, Option<&str>>("last_message_direction")
                    .map(parse_direction),
                last_message_kind: row.get("last_message_kind"),
                last_message_preview: row.get("last_message_preview"),
                last_inbound_at: row.get("last_inbound_at"),
                unread_count: row.get("unread_count"),
                inbound_count: row.get("inbound_count"),
                outbound_count: row.get("outbound_count"),
                ai_agent: ai_agent_from_row(&row),
                lead: lead_from_row(&row),
                updated_at: row.get("updated_at"),
            },
        );
    }
    Ok(conversations)
}

async fn write_conversations(
    tx: &Transaction<'_>,
    conversations: &HashMap<Uuid, ConversationRow>,
) -> Result<(), ProjectorError> {
    if conversations.is_empty() {
        return Ok(());
    }
    let rows: Vec<&ConversationRow> = conversations.values().collect();
    // One typed array per column, sent in binary.
    let id: Vec<Uuid> = rows.iter().map(|c| c.id).collect();
    let workspace_id: Vec<Uuid> = rows.iter().map(|c| c.workspace_id).collect();
    let phone_number_id: Vec<Uuid> = rows.iter().map(|c| c.phone_number_id).collect();
    let customer_wa_id: Vec<&str> = rows.iter().map(|c| c.customer_wa_id.as_str()).collect();
    let profile_name: Vec<Option<&str>> = rows
        .iter()
        .map(|c| c.customer_profile_name.as_deref())
        .collect();
    let started_at: Vec<DateTime<Utc>> = rows.iter().map(|c| c.started_at).collect();
    let last_message_at: Vec<DateTime<Utc>> = rows.iter().map(|c| c.last_message_at).collect();
    let last_message_id: Vec<Option<Uuid>> = rows.iter().map(|c| c.last_message_id).collect();
    let last_direction: Vec<Option<&str>> = rows
        .iter()
        .map(|c| c.last_message_direction.map(direction_str))
        .collect();
    let last_kind: Vec<Option<&str>> = rows
        .iter()
        .map(|c| c.last_message_kind.as_deref())
        .collect();
    let last_preview: Vec<Option<&str>> = rows
        .iter()
        .map(|c| c.last_message_preview.as_deref())
        .collect();
    let last_inbound_at: Vec<Option<DateTime<Utc>>> =
        rows.iter().map(|c| c.last_inbound_at).collect();
    let unread: Vec<i32> = rows.iter().map(|c| c.unread_count).collect();
    let inbound: Vec<i64> = rows.iter().map(|c| c.inbound_count).collect();
    let outbound: Vec<i64> = rows.iter().map(|c| c.outbound_count).collect();
    let ai_on: Vec<bool> = rows.iter().map(|c| c.ai_agent.is_ai_agent_on).collect();
    let ai_enabled_at: Vec<Option<DateTime<Utc>>> = rows
        .iter()
        .map(|c| c.ai_agent.ai_agent_enabled_at)
        .collect();
    let ai_enabled_by: Vec<Option<&str>> = rows
        .iter()
        .map(|c| c.ai_agent.ai_agent_enabled_by.map(AiAgentChangedBy::as_str))
        .collect();
    let ai_toggled_at: Vec<Option<DateTime<Utc>>> = rows
        .iter()
        .map(|c| c.ai_agent.ai_agent_last_toggled_at)
        .collect();
    let fields: Vec<&LeadFields> = rows.iter().map(|c| &c.lead.fields).collect();
    let lead_status: Vec<Option<&str>> = fields
        .iter()
        .map(|f| f.lead_status.map(LeadStatus::as_str))
        .collect();
    let lead_score: Vec<Option<i16>> = fields.iter().map(|f| f.lead_score.map(i16::from)).collect();
    let text = |get: fn(&LeadFields) -> &Option<String>| -> Vec<Option<&str>> {
        fields.iter().map(|f| get(f).as_deref()).collect()
    };
    let lead_company = text(|f| &f.lead_company);
    let lead_name = text(|f| &f.lead_name);
    let lead_notes = text(|f| &f.lead_notes);
    let lead_source = text(|f| &f.lead_source);
    let lead_budget = text(|f| &f.lead_budget);
    let lead_timeline = text(|f| &f.lead_timeline);
    let lead_industry = text(|f| &f.lead_industry);
    let lead_job_title = text(|f| &f.lead_job_title);
    let lead_location = text(|f| &f.lead_location);
    let qualification_date: Vec<Option<DateTime<Utc>>> =
        fields.iter().map(|f| f.lead_qualification_date).collect();
    let raw_data: Vec<Option<&Value>> = fields.iter().map(|f| f.raw_data.as_ref()).collect();
    let processed_data: Vec<Option<&Value>> =
        fields.iter().map(|f| f.processed_data.as_ref()).collect();
    let source_api = text(|f| &f.source_api);
    let external_id = text(|f| &f.external_id);
    let lead_last_updated: Vec<Option<DateTime<Utc>>> =
        rows.iter().map(|c| c.lead.lead_last_updated).collect();
    let raw_data_stored_at: Vec<Option<DateTime<Utc>>> =
        rows.iter().map(|c| c.lead.raw_data_stored_at).collect();
    let updated_at: Vec<DateTime<Utc>> = rows.iter().map(|c| c.updated_at).collect();
    // In CONVERSATION_COLUMNS order.
    let params: [&(dyn ToSql + Sync); 38] = [
        &id,
        &workspace_id,
        &phone_number_id,
        &customer_wa_id,
        &profile_name,
        &started_at,
        &last_message_at,
        &last_message_id,
        &last_direction,
        &last_kind,
        &last_preview,
        &last_inbound_at,
        &unread,
        &inbound,
        &outbound,
        &ai_on,
        &ai_enabled_at,
        &ai_enabled_by,
        &ai_toggled_at,
        &lead_status,
        &lead_score,
        &lead_company,
        &lead_name,
        &lead_notes,
        &lead_source,
        &lead_budget,
        &lead_timeline,
        &lead_industry,
        &lead_job_title,
        &lead_location,
        &qualification_date,
        &raw_data,
        &processed_data,
        &source_api,
        &external_id,
        &lead_last_updated,
        &raw_data_stored_at,
        &updated_at,
    ];
    let updates: Vec<String> = CONVERSATION_COLUMNS[1..]
        .iter()
        .map(|(name, _)| format!("{name} = EXCLUDED.{name}"))
        .collect();
    let sql = format!(
        "INSERT INTO conversations ({columns}) SELECT {columns} FROM {unnest} \
         ON CONFLICT (id) DO UPDATE SET {updates}",
        columns = column_list(CONVERSATION_COLUMNS),
        unnest = unnest(CONVERSATION_COLUMNS),
        updates = updates.join(", "),
    );
    tx.execute(&sql, &params).await?;
    Ok(())
}

/// The columns of a new `messages` row, in the order [`write_messages`] binds them.
const MESSAGE_INSERT_COLUMNS: &[(&str, &str)] = &[
    ("message_id", "uuid"),
    ("conversation_id", "uuid"),
    ("workspace_id", "uuid"),
    ("direction", "text"),
    ("wamid", "text"),
    ("kind", "text"),
    ("content", "jsonb"),
    ("text", "text"),
    ("reply_to_message_id", "uuid"),
    ("context_wamid", "text"),
    ("status", "text"),
    ("failure_code", "bigint"),
    ("failure_title", "text"),
    ("failure_message", "text"),
    ("failure_details", "text"),
    ("created_at", "timestamptz"),
    ("received_at", "timestamptz"),
    ("sent_at", "timestamptz"),
    ("delivered_at", "timestamptz"),
    ("read_at", "timestamptz"),
    ("failed_at", "timestamptz"),
    ("updated_at", "timestamptz"),
];

/// The columns a status event changes on a stored message (after `message_id`).
const MESSAGE_UPDATE_COLUMNS: &[(&str, &str)] = &[
    ("message_id", "uuid"),
    ("wamid", "text"),
    ("status", "text"),
    ("failure_code", "bigint"),
    ("failure_title", "text"),
    ("failure_message", "text"),
    ("failure_details", "text"),
    ("sent_at", "timestamptz"),
    ("delivered_at", "timestamptz"),
    ("read_at", "timestamptz"),
    ("failed_at", "timestamptz"),
    ("updated_at", "timestamptz"),
];

/// The stored messages a batch's status events are about (without their content).
async fn load_messages(
    tx: &Transaction<'_>,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, MessageRow>, ProjectorError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = tx
        .query(
            "SELECT message_id, conversation_id, workspace_id, direction, wamid, status, \
                    failure_code, failure_title, failure_message, failure_details, \
                    created_at, received_at, sent_at, delivered_at, read_at, failed_at, updated_at \
             FROM messages WHERE message_id = ANY($1)",
            &[&ids],
        )
        .await?;
    let mut messages = HashMap::with_capacity(rows.len());
    for row in rows {
        let message_id: Uuid = row.get("message_id");
        let direction = parse_direction(row.get("direction"));
        let created_at: DateTime<Utc> = row.get("created_at");
        let track = match direction {
            Direction::Inbound => None,
            Direction::Outbound => Some(DeliveryTrack {
                status: parse_delivery_status(row.get("status")).unwrap_or(DeliveryStatus::Queued),
                queued_at: created_at,
                sent_at: row.get("sent_at"),
                delivered_at: row.get("delivered_at"),
                read_at: row.get("read_at"),
                failed_at: row.get("failed_at"),
                failure: failure_from_row(&row, "failure_"),
            }),
        };
        messages.insert(
            message_id,
            MessageRow {
                message_id,
                conversation_id: row.get("conversation_id"),
                workspace_id: row.get("workspace_id"),
                direction,
                wamid: row.get("wamid"),
                new: None,
                track,
                created_at,
                received_at: row.get("received_at"),
                updated_at: row.get("updated_at"),
            },
        );
    }
    Ok(messages)
}

/// A column of `rows` as a typed array.
fn column<'a, T>(rows: &[&'a MessageRow], get: impl Fn(&'a MessageRow) -> T) -> Vec<T> {
    rows.iter().map(|m| get(m)).collect()
}

fn new_of(message: &MessageRow) -> &NewMessage {
    message
        .new
        .as_ref()
        .expect("only new messages are inserted")
}

fn track_of(message: &MessageRow) -> Option<&DeliveryTrack> {
    message.track.as_ref()
}

fn failure_of(message: &MessageRow) -> Option<&MetaFailure> {
    track_of(message)?.failure.as_ref()
}

async fn write_messages(
    tx: &Transaction<'_>,
    messages: &HashMap<Uuid, MessageRow>,
) -> Result<(), ProjectorError> {
    let (inserts, updates): (Vec<&MessageRow>, Vec<&MessageRow>) =
        messages.values().partition(|m| m.new.is_some());
    if !inserts.is_empty() {
        let rows = &inserts;
        let message_id = column(rows, |m| m.message_id);
        let conversation_id = column(rows, |m| m.conversation_id);
        let workspace_id = column(rows, |m| m.workspace_id);
        let direction = column(rows, |m| direction_str(m.direction));
        let wamid = column(rows, |m| m.wamid.as_deref());
        let kind = column(rows, |m| new_of(m).kind);
        let content = column(rows, |m| &new_of(m).content);
        let text = column(rows, |m| new_of(m).text.as_deref());
        let reply_to = column(rows, |m| new_of(m).reply_to_message_id);
        let context_wamid = column(rows, |m| new_of(m).context_wamid.as_deref());
        let status = column(rows, |m| m.status());
        let failure_code = column(rows, |m| failure_of(m).map(|f| f.code));
        let failure_title = column(rows, |m| failure_of(m).map(|f| f.title.as_str()));
        let failure_message = column(rows, |m| failure_of(m).and_then(|f| f.message.as_deref()));
        let failure_details = column(rows, |m| failure_of(m).and_then(|f| f.details.as_deref()));
        let created_at = column(rows, |m| m.created_at);
        let received_at = column(rows, |m| m.received_at);
        let sent_at = column(rows, |m| track_of(m).and_then(|t| t.sent_at));
        let delivered_at = column(rows, |m| track_of(m).and_then(|t| t.delivered_at));
        let read_at = column(rows, |m| track_of(m).and_then(|t| t.read_at));
        let failed_at = column(rows, |m| track_of(m).and_then(|t| t.failed_at));
        let updated_at = column(rows, |m| m.updated_at);
        // In MESSAGE_INSERT_COLUMNS order.
        let params: [&(dyn ToSql + Sync); 22] = [
            &message_id,
            &conversation_id,
            &workspace_id,
            &direction,
            &wamid,
            &kind,
            &content,
            &text,
            &reply_to,
            &context_wamid,
            &status,
            &failure_code,
            &failure_title,
            &failure_message,
            &failure_details,
            &created_at,
            &received_at,
            &sent_at,
            &delivered_at,
            &read_at,
            &failed_at,
            &updated_at,
        ];
        let sql = format!(
            "INSERT INTO messages ({columns}) SELECT {columns} FROM {unnest}",
            columns = column_list(MESSAGE_INSERT_COLUMNS),
            unnest = unnest(MESSAGE_INSERT_COLUMNS),
        );
        tx.execute(&sql, &params).await?;
    }
    if !updates.is_empty() {
        let rows = &updates;
        let message_id = column(rows, |m| m.message_id);
        let wamid = column(rows, |m| m.wamid.as_deref());
        let status = column(rows, |m| m.status());
        let failure_code = column(rows, |m| failure_of(m).map(|f| f.code));
        let failure_title = column(rows, |m| failure_of(m).map(|f| f.title.as_str()));
        let failure_message = column(rows, |m| failure_of(m).and_then(|f| f.message.as_deref()));
        let failure_details = column(rows, |m| failure_of(m).and_then(|f| f.details.as_deref()));
        let sent_at = column(rows, |m| track_of(m).and_then(|t| t.sent_at));
        let delivered_at = column(rows, |m| track_of(m).and_then(|t| t.delivered_at));
        let read_at = column(rows, |m| track_of(m).and_then(|t| t.read_at));
        let failed_at = column(rows, |m| track_of(m).and_then(|t| t.failed_at));
        let updated_at = column(rows, |m| m.updated_at);
        // In MESSAGE_UPDATE_COLUMNS order.
        let params: [&(dyn ToSql + Sync); 12] = [
            &message_id,
            &wamid,
            &status,
            &failure_code,
            &failure_title,
            &failure_message,
            &failure_details,
            &sent_at,
            &delivered_at,
            &read_at,
            &failed_at,
            &updated_at,
        ];
        let sets: Vec<String> = MESSAGE_UPDATE_COLUMNS[1..]
            .iter()
            .map(|(name, _)| format!("{name} = r.{name}"))
            .collect();
        let sql = format!(
            "UPDATE messages m SET {sets} FROM {unnest} WHERE m.message_id = r.message_id",
            sets = sets.join(", "),
            unnest = unnest(MESSAGE_UPDATE_COLUMNS),
        );
        tx.execute(&sql, &params).await?;
    }
    Ok(())
}

async fn write_history(tx: &Transaction<'_>, history: &[HistoryRow]) -> Result<(), ProjectorError> {
    if history.is_empty() {
        return Ok(());
    }
    let message_id: Vec<Uuid> = history.iter().map(|h| h.message_id).collect();
    let sequence: Vec<i64> = history.iter().map(|h| h.sequence).collect();
    let conversation_id: Vec<Uuid> = history.iter().map(|h| h.conversation_id).collect();
    let workspace_id: Vec<Uuid> = history.iter().map(|h| h.workspace_id).collect();
    let status: Vec<&str> = history.iter().map(|h| h.status).collect();
    let at: Vec<DateTime<Utc>> = history.iter().map(|h| h.at).collect();
    let code: Vec<Option<i64>> = history
        .iter()
        .map(|h| h.failure.as_ref().map(|f| f.code))
        .collect();
    let title: Vec<Option<&str>> = history
        .iter()
        .map(|h| h.failure.as_ref().map(|f| f.title.as_str()))
        .collect();
    let message: Vec<Option<&str>> = history
        .iter()
        .map(|h| h.failure.as_ref().and_then(|f| f.message.as_deref()))
        .collect();
    let details: Vec<Option<&str>> = history
        .iter()
        .map(|h| h.failure.as_ref().and_then(|f| f.details.as_deref()))
        .collect();
    tx.execute(
        "INSERT INTO message_status_history (message_id, sequence, conversation_id, workspace_id, status, at, \
                                             error_code, error_title, error_message, error_details) \
         SELECT * FROM UNNEST($1::uuid[], $2::bigint[], $3::uuid[], $4::uuid[], $5::text[], $6::timestamptz[], \
                              $7::bigint[], $8::text[], $9::text[], $10::text[])",
        &[
            &message_id,
            &sequence,
            &conversation_id,
            &workspace_id,
            &status,
            &at,
            &code,
            &title,
            &message,
            &details,
        ],
    )
    .await?;
    Ok(())
}

/// A conversation as the read model holds it, with the business number's display form and the
/// customer's contact name when those read models know them.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationView {
    /// The conversation's id (UUIDv5 of our phone number and the customer's wa_id).
    pub id: Uuid,
    /// Our id of the business phone number.
    pub phone_number_id: Uuid,
    /// The business number as displayed (`+15550100001`), from the phone-numbers read model.
    pub business_phone_number: Option<String>,
    /// The customer's WhatsApp id, digits (the phone is `+` and these digits).
    pub customer_wa_id: String,
    /// The customer's latest WhatsApp profile name.
    pub customer_profile_name: Option<String>,
    /// The name of the business's contact for this customer, if there is one.
    pub contact_name: Option<String>,
    /// When the conversation's first event was recorded.
    pub started_at: DateTime<Utc>,
    /// The latest message's time (queued, or sent by the customer); `started_at` before any.
    pub last_message_at: DateTime<Utc>,
    /// Our id of the latest message.
    pub last_message_id: Option<Uuid>,
    /// Which way the latest message went.
    pub last_message_direction: Option<Direction>,
    /// The latest message's kind (`text`, `template`, `image`, …).
    pub last_message_kind: Option<String>,
    /// The first [`PREVIEW_CHARS`] characters of the latest message's text, if it has text.
    pub last_message_preview: Option<String>,
    /// When the customer last wrote (their clock); `None` if they never did.
    pub last_inbound_at: Option<DateTime<Utc>>,
    /// Inbound messages since the last read receipt.
    pub unread_count: i32,
    /// Messages from the customer.
    pub inbound_count: i64,
    /// Messages from the business.
    pub outbound_count: i64,
    /// The AI-agent fields, named as seed 000 names them.
    pub ai_agent: AiAgent,
    /// The lead-qualification fields, named as seed 000 names them.
    pub lead_qualification: LeadQualification,
    /// When anything last changed (the latest event time).
    pub updated_at: DateTime<Utc>,
}

impl ConversationView {
    /// The customer-service window, if the customer ever wrote.
    pub fn window(&self) -> Option<CustomerServiceWindow> {
        self.last_inbound_at
            .map(|last_inbound_at| CustomerServiceWindow { last_inbound_at })
    }

    /// When the customer-service window closes (24 hours after the customer last wrote).
    pub fn window_closes_at(&self) -> Option<DateTime<Utc>> {
        self.window().map(|window| window.closes_at())
    }

    /// Whether free-form messages may be sent at `now`.
    pub fn window_open_at(&self, now: DateTime<Utc>) -> bool {
        self.window().is_some_and(|window| window.is_open_at(now))
    }

    /// Every message of the conversation, both ways.
    pub fn message_count(&self) -> i64 {
        self.inbound_count + self.outbound_count
    }

    fn from_row(row: &Row) -> Self {
        Self {
            id: row.get("id"),
            phone_number_id: row.get("phone_number_id"),
            business_phone_number: row.get("business_phone_number"),
            customer_wa_id: row.get("customer_wa_id"),
            customer_profile_name: row.get("customer_profile_name"),
            contact_name: row.get("contact_name"),
            started_at: row.get("started_at"),
            last_message_at: row.get("last_message_at"),
            last_message_id: row.get("last_message_id"),
            last_message_direction: row
                .get::<_, Option<&str>>("last_message_direction")
                .map(parse_direction),
            last_message_kind: row.get("last_message_kind"),
            last_message_preview: row.get("last_message_preview"),
            last_inbound_at: row.get("last_inbound_at"),
            unread_count: row.get("unread_count"),
            inbound_count: row.get("inbound_count"),
            outbound_count: row.get("outbound_count"),
            ai_agent: ai_agent_from_row(row),
            lead_qualification: lead_from_row(row),
            updated_at: row.get("updated_at"),
        }
    }
}

/// The view's columns over `conversations c`, `phone_numbers p` and `contacts k`.
fn view_select() -> String {
    let columns: Vec<String> = CONVERSATION_COLUMNS
        .iter()
        .map(|(name, _)| format!("c.{name}"))
        .collect();
    format!(
        "SELECT {}, p.display_phone_number AS business_phone_number, k.name AS contact_name \
         FROM conversations c \
         LEFT JOIN phone_numbers p ON p.id = c.phone_number_id AND p.workspace_id = c.workspace_id \
         LEFT JOIN contacts k ON k.account_id = c.phone_number_id AND k.phone = '+' || c.customer_wa_id \
                             AND k.workspace_id = c.workspace_id",
        columns.join(", ")
    )
}

/// Filters of the conversation list (seed 000's `phoneNumberId`, and the inbox's own).
#[derive(Debug, Clone, Default)]
pub struct ConversationFilter {
    /// Only this business number's conversations (our id).
    pub phone_number_id: Option<Uuid>,
    /// Only conversations with unread inbound messages.
    pub unread_only: bool,
    /// Only conversations whose AI agent is on (`true`) or off (`false`).
    pub ai_agent_on: Option<bool>,
    /// Only conversations whose lead has this status.
    pub lead_status: Option<LeadStatus>,
    /// Case-insensitive substring of the customer's number, profile or contact name, or the
    /// lead's name or company.
    pub search: Option<String>,
}

/// Where a page of conversations starts: an offset (seed 000's `page`), or after a
/// (last_message_at, id) key for keyset pagination.
#[derive(Debug, Clone)]
pub enum ConversationPageStart {
    /// Skip this many matches.
    Skip(i64),
    /// Start after the conversation with this sort key.
    After {
        /// Its `last_message_at`.
        last_message_at: DateTime<Utc>,
        /// Its id.
        id: Uuid,
    },
}

/// One page of conversations and how many match in all.
#[derive(Debug, Clone)]
pub struct ConversationPage {
    /// The page, in list order.
    pub conversations: Vec<ConversationView>,
    /// How many conversations match the filter in all.
    pub total: i64,
}

/// `%text%` for ILIKE, with the pattern characters in `text` escaped.
pub(crate) fn like_pattern(text: &str) -> String {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// Lists the workspace's conversations, most recent message first (then by id, descending, so
/// the order is total and a keyset cursor is stable), filtered, one page at a time.
pub async fn list_conversations(
    client: &impl GenericClient,
    workspace: WorkspaceId,
    filter: &ConversationFilter,
    start: &ConversationPageStart,
    limit: i64,
) -> Result<ConversationPage, tokio_postgres::Error> {
    let search = filter
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(like_pattern);
    let lead_status = filter.lead_status.map(LeadStatus::as_str);
    let conditions = "c.workspace_id = $1 \
        AND ($2::uuid IS NULL OR c.phone_number_id = $2) \
        AND (NOT $3::boolean OR c.unread_count > 0) \
        AND ($4::boolean IS NULL OR c.is_ai_agent_on = $4) \
        AND ($5::text IS NULL OR c.lead_status = $5) \
        AND ($6::text IS NULL OR ('+' || c.customer_wa_id) ILIKE $6 OR c.customer_profile_name ILIKE $6 \
             OR k.name ILIKE $6 OR c.lead_name ILIKE $6 OR c.lead_company ILIKE $6)";
    let select = view_select();
    let total: i64 = client
        .query_one(
            &format!("SELECT count(*) FROM ({select} WHERE {conditions}) matching"),
            &[
                &workspace.0,
                &filter.phone_number_id,
                &filter.unread_only,
                &filter.ai_agent_on,
                &lead_status,
                &search,
            ],
        )
        .await?
        .get(0);
    let (skip, after_at, after_id) = match start {
        ConversationPageStart::Skip(skip) => (*skip, None, None),
        ConversationPageStart::After {
            last_message_at,
            id,
        } => (0, Some(*last_message_at), Some(*id)),
    };
    let rows = client
        .query(
            &format!(
                "{select} WHERE {conditions} \
                 AND ($7::timestamptz IS NULL OR (c.last_message_at, c.id) < ($7, $8::uuid)) \
                 ORDER BY c.last_message_at DESC, c.id DESC OFFSET $9 LIMIT $10"
            ),
            &[
                &workspace.0,
                &filter.phone_number_id,
                &filter.unread_only,
                &filter.ai_agent_on,
                &lead_status,
                &search,
                &after_at,
                &after_id,
                &skip,
                &limit,
            ],
        )
        .await?;
    Ok(ConversationPage {
        conversations: rows.iter().map(ConversationView::from_row).collect(),
        total,
    })
}

/// One conversation of the workspace; `None` if it does not exist or is another workspace's.
pub async fn get_conversation(
    client: &impl GenericClient,
    workspace: WorkspaceId,
    id: Uuid,
) -> Result<Option<ConversationView>, tokio_postgres::Error> {
    let row = client
        .query_opt(
            &format!("{} WHERE c.workspace_id = $1 AND c.id = $2", view_select()),
            &[&workspace.0, &id],
        )
        .await?;
    Ok(row.as_ref().map(ConversationView::from_row))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;
    use domain::conversation::{
        InboundMedia, MessageId, ReplyTarget, TemplateLanguage, TemplateMessage, Wamid,
    };
    use serde_json::json;

    const CONVERSATION: Uuid = Uuid::from_u128(10);
    const WORKSPACE: Uuid = Uuid::from_u128(1);
    const PHONE: Uuid = Uuid::from_u128(2);

    fn t(minutes: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-01T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
            + TimeDelta::minutes(minutes)
    }

    fn msg(n: u128) -> MessageId {
        MessageId(Uuid::from_u128(100 + n))
    }

    fn wamid(raw: &str) -> Wamid {
        Wamid::parse(raw).unwrap()
    }

    fn started(at: DateTime<Utc>) -> ConversationEvent {
        ConversationEvent::ConversationStarted {
            workspace_id: WorkspaceId(WORKSPACE),
            phone_number_id: PHONE,
            customer_wa_id: "16505551234".into(),
            at,
        }
    }

    fn queued(n: u128, body: &str, at: DateTime<Utc>) -> ConversationEvent {
        ConversationEvent::MessageQueued {
            message_id: msg(n),
            content: OutboundContent::text(body),
            reply_to: None,
            phone_number_id: PHONE,
            customer_wa_id: "16505551234".into(),
            broadcast_id: None,
            at,
        }
    }

    fn received(raw: &str, body: &str, sent_at: DateTime<Utc>) -> ConversationEvent {
        ConversationEvent::InboundMessageReceived {
            message_id: MessageId::for_inbound(&wamid(raw)),
            wamid: wamid(raw),
            profile_name: Some("Sheena".into()),
            content: InboundContent::Text { body: body.into() },
            sent_at,
            context_wamid: None,
            at: sent_at + TimeDelta::seconds(2),
        }
    }

    fn failure() -> MetaFailure {
        MetaFailure {
            code: 131049,
            title: "Not delivered".into(),
            message: None,
            details: Some("ecosystem".into()),
        }
    }

    /// Folds `events` (sequences from 1) into a fresh fold.
    fn fold(events: Vec<ConversationEvent>) -> Fold {
        let mut fold = Fold::default();
        for (i, event) in events.into_iter().enumerate() {
            fold.apply(CONVERSATION, i as i64 + 1, event);
        }
        fold
    }

    fn statuses(fold: &Fold, message: MessageId) -> Vec<&'static str> {
        fold.history
            .iter()
            .filter(|h| h.message_id == message.0)
            .map(|h| h.status)
            .collect()
    }

    #[test]
    fn unread_count_window_and_last_message_follow_inbound_and_reads() {
        let mut f = fold(vec![
            started(t(0)),
            received("wamid.A", "hello", t(0)),
            received("wamid.B", "are you there?", t(5)),
            // A late webhook for an earlier message: counted, but neither the last message
            // nor the window moves back.
            received("wamid.C", "first!", t(-3)),
        ]);
        let c = &f.conversations[&CONVERSATION];
        assert_eq!(
            (c.unread_count, c.inbound_count, c.outbound_count),
            (3, 3, 0)
        );
        assert_eq!(c.last_inbound_at, Some(t(5)));
        assert_eq!(c.last_message_at, t(5));
        assert_eq!(c.last_message_preview.as_deref(), Some("are you there?"));
        assert_eq!(c.last_message_direction, Some(Direction::Inbound));
        assert_eq!(c.customer_profile_name.as_deref(), Some("Sheena"));
        f.apply(
            CONVERSATION,
            5,
            ConversationEvent::ReadReceiptQueued {
                message_id: MessageId::for_inbound(&wamid("wamid.B")),
                wamid: wamid("wamid.B"),
                phone_number_id: PHONE,
                at: t(6),
            },
        );
        f.apply(CONVERSATION, 6, queued(1, &"x".repeat(300), t(7)));
        let c = &f.conversations[&CONVERSATION];
        assert_eq!(c.unread_count, 0);
        assert_eq!(c.last_message_id, Some(msg(1).0));
        assert_eq!(c.last_message_direction, Some(Direction::Outbound));
        assert_eq!(
            c.last_message_preview.as_ref().map(|p| p.chars().count()),
            Some(PREVIEW_CHARS)
        );
        assert_eq!(c.updated_at, t(7));
    }

    #[test]
    fn the_first_message_sets_last_message_at_even_if_older_than_the_start() {
        // The customer's clock says they wrote before Parley recorded the start.
        let f = fold(vec![started(t(1)), received("wamid.A", "hi", t(0))]);
        assert_eq!(f.conversations[&CONVERSATION].last_message_at, t(0));
    }

    #[test]
    fn status_progresses_and_a_failure_after_delivery_keeps_delivered() {
        let f = fold(vec![
            started(t(0)),
            queued(1, "hi", t(0)),
            ConversationEvent::MessageAcceptedByMeta {
                message_id: msg(1),
                wamid: wamid("wamid.OUT"),
                at: t(1),
            },
            ConversationEvent::MessageDelivered {
                message_id: msg(1),
                wamid: wamid("wamid.OUT"),
                at: t(2),
            },
            ConversationEvent::MessageFailed {
                message_id: msg(1),
                wamid: Some(wamid("wamid.OUT")),
                failure: failure(),
                at: t(3),
            },
        ]);
        let m = &f.messages[&msg(1).0];
        assert_eq!(m.status(), "delivered");
        assert_eq!(m.wamid.as_deref(), Some("wamid.OUT"));
        let track = m.track.as_ref().unwrap();
        assert_eq!(
            (track.sent_at, track.delivered_at, track.failed_at),
            (Some(t(1)), Some(t(2)), Some(t(3)))
        );
        assert_eq!(track.failure, Some(failure()));
        assert_eq!(
            statuses(&f, msg(1)),
            vec!["queued", "sent", "delivered", "failed"]
        );
        let failed = f.history.last().unwrap();
        assert_eq!(
            (failed.sequence, failed.failure.clone()),
            (5, Some(failure()))
        );
    }

    #[test]
    fn a_refused_send_fails_and_a_later_delivery_lifts_it() {
        let mut f = fold(vec![
            started(t(0)),
            queued(1, "hi", t(0)),
            ConversationEvent::MessageFailed {
                message_id: msg(1),
                wamid: None,
                failure: failure(),
                at: t(1),
            },
        ]);
        assert_eq!(f.messages[&msg(1).0].status(), "failed");
        f.apply(
            CONVERSATION,
            4,
            ConversationEvent::MessageRead {
                message_id: msg(1),
                wamid: wamid("wamid.OUT"),
                at: t(2),
            },
        );
        assert_eq!(f.messages[&msg(1).0].status(), "read");
    }

    #[test]
    fn held_statuses_leave_no_row_until_the_acceptance() {
        let f = fold(vec![
            started(t(0)),
            queued(1, "hi", t(0)),
            ConversationEvent::DeliveryStatusHeld {
                wamid: wamid("wamid.OUT"),
                message_id: None,
                status: ReportedStatus::Read,
                at: t(2),
            },
        ]);
        assert_eq!(statuses(&f, msg(1)), vec!["queued"]);
        assert_eq!(f.messages[&msg(1).0].status(), "queued");
        assert_eq!(f.conversations[&CONVERSATION].updated_at, t(2));
    }

    #[test]
    fn a_stored_message_is_updated_not_reinserted() {
        // As a later batch sees it: the message row loaded without its content.
        let mut f = fold(vec![started(t(0)), queued(1, "hi", t(0))]);
        let stored = f.messages.get_mut(&msg(1).0).unwrap();
        stored.new = None;
        f.history.clear();
        f.apply(
            CONVERSATION,
            3,
            ConversationEvent::MessageAcceptedByMeta {
                message_id: msg(1),
                wamid: wamid("wamid.OUT"),
                at: t(1),
            },
        );
        let m = &f.messages[&msg(1).0];
        assert!(m.new.is_none());
        assert_eq!((m.status(), m.updated_at), ("sent", t(1)));
        assert_eq!(statuses(&f, msg(1)), vec!["sent"]);
    }

    #[test]
    fn events_of_a_conversation_never_started_are_ignored() {
        let f = fold(vec![queued(1, "hi", t(0))]);
        assert!(f.conversations.is_empty() && f.messages.is_empty() && f.history.is_empty());
    }

    #[test]
    fn ai_agent_and_lead_fields_use_the_domain_rules() {
        let f = fold(vec![
            started(t(0)),
            ConversationEvent::AiAgentChanged {
                enabled: true,
                changed_by: AiAgentChangedBy::Api,
                reason: None,
                at: t(1),
            },
            ConversationEvent::AiAgentChanged {
                enabled: false,
                changed_by: AiAgentChangedBy::User,
                reason: Some("human takes over".into()),
                at: t(2),
            },
            ConversationEvent::LeadQualificationUpdated {
                changes: LeadFields {
                    lead_status: Some(LeadStatus::Hot),
                    lead_score: Some(88),
                    raw_data: Some(json!({"crm_id": "CRM_789"})),
                    ..Default::default()
                },
                at: t(3),
            },
            ConversationEvent::LeadQualificationUpdated {
                changes: LeadFields {
                    lead_name: Some("Michael".into()),
                    ..Default::default()
                },
                at: t(4),
            },
        ]);
        let c = &f.conversations[&CONVERSATION];
        assert_eq!(
            c.ai_agent,
            AiAgent {
                is_ai_agent_on: false,
                ai_agent_enabled_at: Some(t(1)),
                ai_agent_enabled_by: Some(AiAgentChangedBy::Api),
                ai_agent_last_toggled_at: Some(t(2)),
            }
        );
        assert_eq!(c.lead.fields.lead_status, Some(LeadStatus::Hot));
        assert_eq!(c.lead.fields.lead_score, Some(88));
        assert_eq!(c.lead.fields.lead_name.as_deref(), Some("Michael"));
        assert_eq!(c.lead.lead_last_updated, Some(t(4)));
        assert_eq!(c.lead.raw_data_stored_at, Some(t(3)));
    }

    #[test]
    fn content_is_kept_as_the_event_holds_it() {
        let template = OutboundContent::Template {
            template: TemplateMessage {
                name: "order_update".into(),
                language: TemplateLanguage {
                    code: "en_US".into(),
                    policy: None,
                },
                components: vec![],
            },
        };
        let f = fold(vec![
            started(t(0)),
            ConversationEvent::MessageQueued {
                message_id: msg(1),
                content: template.clone(),
                reply_to: Some(ReplyTarget {
                    message_id: msg(9),
                    wamid: wamid("wamid.Q"),
                }),
                phone_number_id: PHONE,
                customer_wa_id: "16505551234".into(),
                broadcast_id: None,
                at: t(1),
            },
            ConversationEvent::InboundMessageReceived {
                message_id: MessageId::for_inbound(&wamid("wamid.IMG")),
                wamid: wamid("wamid.IMG"),
                profile_name: None,
                content: InboundContent::Image(InboundMedia {
                    id: "m1".into(),
                    mime_type: Some("image/jpeg".into()),
                    sha256: None,
                    caption: Some("look".into()),
                    filename: None,
                    voice: false,
                    animated: false,
                }),
                sent_at: t(2),
                context_wamid: Some(wamid("wamid.OUT")),
                at: t(2),
            },
        ]);
        let out = f.messages[&msg(1).0].new.clone().unwrap();
        assert_eq!(out.kind, "template");
        assert_eq!(out.content, serde_json::to_value(&template).unwrap());
        assert_eq!(out.text, None);
        assert_eq!(out.reply_to_message_id, Some(msg(9).0));
        assert_eq!(out.context_wamid.as_deref(), Some("wamid.Q"));
        let image = &f.messages[&MessageId::for_inbound(&wamid("wamid.IMG")).0];
        assert_eq!(image.status(), "received");
        let new = image.new.clone().unwrap();
        assert_eq!((new.kind, new.text.as_deref()), ("image", Some("look")));
        assert_eq!(new.content["mime_type"], "image/jpeg");
        assert_eq!(new.context_wamid.as_deref(), Some("wamid.OUT"));
        let c = &f.conversations[&CONVERSATION];
        assert_eq!(c.last_message_kind.as_deref(), Some("image"));
        assert_eq!(c.customer_profile_name, None);
    }
}

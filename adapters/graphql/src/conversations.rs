//! Conversations and messages: their queries and mutations (merged into the roots in `lib.rs`).

use crate::conversation_types::*;
use crate::error::{internal, parse_id, OrGraphql, Result};
use crate::read::{self, env, record};
use application::{AppError, ErrorCode, OutboundMessage, PhoneNumberRef, QueuedMessage};
use async_graphql::{Context, Object, ID};
use domain::conversation::{AiAgentChangedBy, MessageId, OutboundContent};
use projections::conversations::{ConversationFilter, ConversationPageStart};
use serde_json::{json, Value};
use uuid::Uuid;

/// The workspace's number named by our id or Meta's id (NOT_FOUND otherwise).
pub async fn resolve_phone_number(ctx: &Context<'_>, raw: &str) -> Result<Uuid> {
    let (state, caller) = env(ctx)?;
    let (id, _) = state
        .app
        .resolve_phone_number(caller, &PhoneNumberRef::parse(raw))
        .await
        .gql()?;
    Ok(id)
}

/// Conversation and message queries.
pub struct ConversationQuery;

#[Object]
impl ConversationQuery {
    /// A page of the workspace's conversations, latest message first, filtered.
    #[allow(clippy::too_many_arguments)]
    async fn conversations(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this business number's (our id or Meta's id).")]
        phone_number_id: Option<ID>,
        #[graphql(desc = "true: only conversations with unread inbound messages.")] unread: Option<
            bool,
        >,
        #[graphql(desc = "Only conversations whose AI agent is on (true) or off (false).")]
        ai_agent_on: Option<bool>,
        #[graphql(desc = "Only conversations whose lead has this status.")] lead_status: Option<
            LeadStatus,
        >,
        #[graphql(
            desc = "Case-insensitive substring of the customer's number, profile or contact name, or the lead's name or company."
        )]
        search: Option<String>,
        #[graphql(desc = "Page size, 1 to 1000 (default 50).")] first: Option<i32>,
        #[graphql(desc = "The `endCursor` of the previous page.")] after: Option<String>,
    ) -> Result<ConversationConnection> {
        let limit = page_size(first)?;
        let start = match after_key(after)? {
            None => ConversationPageStart::Skip(0),
            Some((last_message_at, id)) => ConversationPageStart::After {
                last_message_at,
                id,
            },
        };
        let phone_number_id = match phone_number_id {
            Some(raw) => Some(resolve_phone_number(ctx, &raw).await?),
            None => None,
        };
        let filter = ConversationFilter {
            phone_number_id,
            unread_only: unread == Some(true),
            ai_agent_on,
            lead_status: lead_status.map(Into::into),
            search: search.filter(|s| !s.trim().is_empty()),
        };
        let (state, caller) = env(ctx)?;
        let client = read::client(state).await?;
        let page = projections::conversations::list_conversations(
            &**client,
            caller.workspace_id,
            &filter,
            &start,
            limit + 1,
        )
        .await
        .map_err(internal)?;
        let now = application::Infrastructure::clock(&state.app.infra).now();
        let has_next_page = page.conversations.len() as i64 > limit;
        let edges: Vec<ConversationEdge> = page
            .conversations
            .into_iter()
            .take(limit as usize)
            .map(|view| ConversationEdge {
                cursor: crate::cursor::encode_time(view.last_message_at, view.id),
                node: Conversation::new(view, now),
            })
            .collect();
        Ok(ConversationConnection {
            page_info: crate::types::PageInfo {
                has_next_page,
                end_cursor: edges.last().map(|e| e.cursor.clone()),
            },
            edges,
            total_count: page.total,
        })
    }

    /// One conversation of the workspace (NOT_FOUND otherwise).
    async fn conversation(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Conversation>> {
        let id = parse_id(&id, "conversation")?;
        conversation(ctx, id).await.map(Some)
    }

    /// One message of the workspace, with its status history (NOT_FOUND otherwise).
    async fn message(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Message>> {
        let id = parse_id(&id, "message")?;
        message_opt(ctx, id)
            .await?
            .ok_or_else(|| crate::error::not_found("message"))
            .map(Some)
    }
}

/// Conversation and message mutations.
pub struct ConversationMutation;

/// Meta's message fragment as the domain's content; a shape Meta would not take is
/// INVALID_CONTENT.
fn outbound_content(content: Value) -> Result<OutboundContent> {
    serde_json::from_value(content).map_err(|error| {
        crate::error::app_error(AppError::Refused {
            code: ErrorCode::InvalidContent,
            message: format!("content is not a message Meta accepts: {error}"),
        })
    })
}

/// The quoted message; an id that cannot be ours names no message of the conversation.
fn reply_to(raw: Option<ID>) -> Result<Option<MessageId>> {
    match raw.as_ref().map(|id| id.trim()).filter(|r| !r.is_empty()) {
        None => Ok(None),
        Some(raw) => Uuid::parse_str(raw)
            .map(|id| Some(MessageId(id)))
            .map_err(|_| {
                crate::error::app_error(AppError::Refused {
                    code: ErrorCode::UnknownReplyTarget,
                    message: format!(
                        "replyToMessageId {raw} is not a message of this conversation"
                    ),
                })
            }),
    }
}

/// Queues a message and reads it back (built from what was queued if the read model lags).
async fn send(
    ctx: &Context<'_>,
    phone_number_id: &str,
    to: String,
    content: OutboundContent,
    reply_to: Option<MessageId>,
) -> Result<Message> {
    let (state, caller) = env(ctx)?;
    let message = OutboundMessage {
        phone_number: PhoneNumberRef::parse(phone_number_id),
        to,
        content: content.clone(),
        reply_to,
    };
    let queued = state.app.send_message(caller, message).await.gql()?;
    record(ctx, queued.freshness);
    match message_opt(ctx, queued.message_id.0).await? {
        Some(message) => Ok(message),
        None => Ok(just_queued(queued, content, reply_to)),
    }
}

/// A message as queued, for when the read model has not folded it yet.
fn just_queued(
    queued: QueuedMessage,
    content: OutboundContent,
    reply_to: Option<MessageId>,
) -> Message {
    use projections::messages::{MessageStatus, MessageView};
    let text = match &content {
        OutboundContent::Text { text } => Some(text.body.clone()),
        _ => None,
    };
    Message {
        view: MessageView {
            message_id: queued.message_id.0,
            conversation_id: queued.conversation_id,
            direction: domain::conversation::Direction::Outbound,
            wamid: None,
            kind: content.kind().to_string(),
            content: serde_json::to_value(&content).unwrap_or(Value::Null),
            text,
            reply_to_message_id: reply_to.map(|r| r.0),
            context_wamid: None,
            status: MessageStatus::Delivery(domain::conversation::DeliveryStatus::Queued),
            failure: None,
            created_at: queued.queued_at,
            received_at: None,
            sent_at: None,
            delivered_at: None,
            read_at: None,
            failed_at: None,
            updated_at: queued.queued_at,
        },
        history: None,
    }
}

#[Object]
impl ConversationMutation {
    /// Queues a message to a customer and returns it (QUEUED; follow it with
    /// `messageStatusChanged`). Refusals carry WINDOW_CLOSED, RECIPIENT_OPTED_OUT,
    /// RECIPIENT_BLOCKED, UNKNOWN_REPLY_TARGET or INVALID_CONTENT.
    async fn send_message(&self, ctx: &Context<'_>, input: SendMessageInput) -> Result<Message> {
        let content = outbound_content(input.content.0)?;
        let reply_to = reply_to(input.reply_to_message_id)?;
        send(ctx, &input.phone_number_id, input.to, content, reply_to).await
    }

    /// Queues a free-form text message (only inside the customer-service window).
    async fn send_text(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Our id or Meta's id of the business number.")] phone_number_id: ID,
        #[graphql(desc = "The customer: E.164 or Meta's digits-only form.")] to: String,
        #[graphql(desc = "The body, up to 4096 characters.")] text: String,
        #[graphql(desc = "Our id of a message of the conversation to quote.")]
        reply_to_message_id: Option<ID>,
    ) -> Result<Message> {
        let content = outbound_content(json!({ "type": "text", "text": { "body": text } }))?;
        let reply_to = reply_to(reply_to_message_id)?;
        send(ctx, &phone_number_id, to, content, reply_to).await
    }

    /// Marks the conversation read: clears its unread count and sends Meta a read receipt for
    /// the latest inbound message.
    async fn mark_conversation_read(&self, ctx: &Context<'_>, id: ID) -> Result<Conversation> {
        let (state, caller) = env(ctx)?;
        let id = parse_id(&id, "conversation")?;
        let freshness = state.app.mark_conversation_read(caller, id).await.gql()?;
        record(ctx, freshness);
        conversation(ctx, id).await
    }

    /// Turns the conversation's AI agent on or off (recorded as changed by USER).
    async fn set_ai_agent(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The conversation.")] conversation_id: ID,
        #[graphql(desc = "On (true) or off (false).")] enabled: bool,
        #[graphql(desc = "Why, up to 500 characters.")] reason: Option<String>,
    ) -> Result<Conversation> {
        let (state, caller) = env(ctx)?;
        let id = parse_id(&conversation_id, "conversation")?;
        let reason = reason.filter(|r| !r.trim().is_empty());
        let freshness = state
            .app
            .set_ai_agent(caller, id, enabled, AiAgentChangedBy::User, reason)
            .await
            .gql()?;
        record(ctx, freshness);
        conversation(ctx, id).await
    }

    /// Changes the given lead-qualification fields of a conversation (absent fields stay).
    async fn update_lead_qualification(
        &self,
        ctx: &Context<'_>,
        conversation_id: ID,
        input: LeadQualificationInput,
    ) -> Result<Conversation> {
        let (state, caller) = env(ctx)?;
        let id = parse_id(&conversation_id, "conversation")?;
        let fields = input.into_fields()?;
        let freshness = state
            .app
            .update_lead_qualification(caller, id, fields)
            .await
            .gql()?;
        record(ctx, freshness);
        conversation(ctx, id).await
    }
}

//! The GraphQL types of conversations and messages, over the conversations read model.

use crate::error::{internal, validation, Result};
use crate::read::{self, env};
use crate::types::PageInfo;
use application::Infrastructure;
use async_graphql::{ComplexObject, Context, Enum, InputObject, Json, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use domain::conversation::{DeliveryStatus, LeadFields};
use projections::conversations::ConversationView;
use projections::messages::{MessageView, StatusChange};
use serde_json::Value;
use uuid::Uuid;

/// Which way a message went.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "domain::conversation::Direction")]
pub enum MessageDirection {
    /// From the customer.
    Inbound,
    /// From the business.
    Outbound,
}

/// Where a message stands: an outbound message's delivery status, or RECEIVED for every
/// inbound one.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum MessageStatus {
    /// Outbound: queued in Parley, not yet accepted by Meta.
    Queued,
    /// Outbound: accepted by Meta.
    Sent,
    /// Outbound: delivered to the customer's device.
    Delivered,
    /// Outbound: read by the customer.
    Read,
    /// Outbound: refused by Meta or not deliverable (and not known to be delivered).
    Failed,
    /// Inbound: received from the customer.
    Received,
}

impl From<projections::messages::MessageStatus> for MessageStatus {
    fn from(status: projections::messages::MessageStatus) -> Self {
        use projections::messages::MessageStatus as Read;
        match status {
            Read::Received => Self::Received,
            Read::Delivery(DeliveryStatus::Queued) => Self::Queued,
            Read::Delivery(DeliveryStatus::Sent) => Self::Sent,
            Read::Delivery(DeliveryStatus::Delivered) => Self::Delivered,
            Read::Delivery(DeliveryStatus::Read) => Self::Read,
            Read::Delivery(DeliveryStatus::Failed) => Self::Failed,
        }
    }
}

/// The order of a conversation's messages (by time, then id).
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "projections::messages::MessageOrder")]
pub enum MessageOrder {
    /// Chat order.
    OldestFirst,
    /// Latest first.
    NewestFirst,
}

/// Who or what last switched an AI agent on.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "domain::conversation::AiAgentChangedBy")]
pub enum AiAgentChangedBy {
    /// A person, from a dashboard (every GraphQL change).
    User,
    /// An integrator, through the REST API.
    Api,
    /// Parley itself, by an automatic rule.
    Auto,
    /// The workspace default applied to a new conversation.
    Default,
}

/// Where a lead stands.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "domain::conversation::LeadStatus")]
pub enum LeadStatus {
    NewLead,
    Contacted,
    Interested,
    InProgress,
    Qualified,
    Hot,
    Warm,
    Cold,
    Lost,
    Won,
    Disqualified,
}

/// Why Meta did not send or deliver a message.
#[derive(SimpleObject, Debug, Clone)]
pub struct MessageFailure {
    /// Meta's error code, e.g. 131047 (the window was closed).
    pub code: i64,
    /// Meta's short title.
    pub title: String,
    pub message: Option<String>,
    /// Meta's `error_data.details`.
    pub details: Option<String>,
}

impl From<domain::conversation::MetaFailure> for MessageFailure {
    fn from(failure: domain::conversation::MetaFailure) -> Self {
        Self {
            code: failure.code,
            title: failure.title,
            message: failure.message,
            details: failure.details,
        }
    }
}

/// One status event of a message, in event order. A report that did not change the status
/// (a failure after delivery) is listed too.
#[derive(SimpleObject, Debug, Clone)]
pub struct MessageStatusChange {
    /// The status reported (RECEIVED for an inbound message's arrival).
    pub status: MessageStatus,
    /// When it happened (Meta's time for delivery reports).
    pub at: DateTime<Utc>,
    /// Meta's error code, for FAILED.
    pub error_code: Option<i64>,
    pub error_title: Option<String>,
    pub error_message: Option<String>,
    pub error_details: Option<String>,
}

impl From<StatusChange> for MessageStatusChange {
    fn from(change: StatusChange) -> Self {
        let failure = change.failure;
        Self {
            status: change.status.into(),
            at: change.at,
            error_code: failure.as_ref().map(|f| f.code),
            error_title: failure.as_ref().map(|f| f.title.clone()),
            error_message: failure.as_ref().and_then(|f| f.message.clone()),
            error_details: failure.and_then(|f| f.details),
        }
    }
}

/// A message of a conversation (read model row and, once loaded, its status history).
#[derive(Debug, Clone)]
pub struct Message {
    pub view: MessageView,
    /// Its status history, when already loaded (otherwise read on demand).
    pub history: Option<Vec<StatusChange>>,
}

/// A message of a conversation, either way.
#[Object]
impl Message {
    /// Our id of the message.
    async fn id(&self) -> ID {
        ID(self.view.message_id.to_string())
    }

    async fn conversation_id(&self) -> ID {
        ID(self.view.conversation_id.to_string())
    }

    async fn direction(&self) -> MessageDirection {
        self.view.direction.into()
    }

    /// Meta's type for outbound messages (`text`, `template`, …); ours for inbound ones
    /// (`text`, `image`, `button_reply`, …).
    async fn kind(&self) -> &str {
        &self.view.kind
    }

    /// Outbound: Meta's message fragment as sent (e.g. `{"type":"text","text":{"body":"hi"}}`);
    /// inbound: the content Parley read from Meta's webhook.
    async fn content(&self) -> Json<&Value> {
        Json(&self.view.content)
    }

    /// The text it carries, if any (body, caption, interactive body, reply title, …).
    async fn text(&self) -> Option<&str> {
        self.view.text.as_deref()
    }

    /// Meta's id: every inbound message's, an outbound one's once Meta accepted it.
    async fn wamid(&self) -> Option<&str> {
        self.view.wamid.as_deref()
    }

    async fn status(&self) -> MessageStatus {
        self.view.status.into()
    }

    /// When the message reached its current status.
    async fn status_at(&self) -> DateTime<Utc> {
        self.view.status_at()
    }

    /// Meta's failure, kept even when a later delivery outranks it.
    async fn failure(&self) -> Option<MessageFailure> {
        self.view.failure.clone().map(Into::into)
    }

    /// Outbound: our id of the message it quotes.
    async fn reply_to_message_id(&self) -> Option<ID> {
        self.view.reply_to_message_id.map(|id| ID(id.to_string()))
    }

    /// The wamid it quotes (outbound) or replies to (inbound).
    async fn context_wamid(&self) -> Option<&str> {
        self.view.context_wamid.as_deref()
    }

    /// The message it quotes or replies to, if Parley has it.
    async fn reply_to(&self, ctx: &Context<'_>) -> Result<Option<Message>> {
        let id = match (self.view.reply_to_message_id, &self.view.context_wamid) {
            (Some(id), _) => Some(id),
            (None, Some(wamid)) => message_id_by_wamid(ctx, wamid).await?,
            (None, None) => None,
        };
        match id {
            Some(id) => message_opt(ctx, id).await,
            None => Ok(None),
        }
    }

    /// Its status changes, oldest first: QUEUED→SENT→DELIVERED→READ for a message sent and read.
    async fn status_history(&self, ctx: &Context<'_>) -> Result<Vec<MessageStatusChange>> {
        let history = match &self.history {
            Some(history) => history.clone(),
            None => {
                let (state, caller) = env(ctx)?;
                let client = read::client(state).await?;
                let id = self.view.message_id;
                projections::messages::message_status_history(&**client, caller.workspace_id, &[id])
                    .await
                    .map_err(internal)?
                    .remove(&id)
                    .unwrap_or_default()
            }
        };
        Ok(history.into_iter().map(Into::into).collect())
    }

    /// When it was queued (outbound) or sent by the customer (inbound): its place in the chat.
    async fn created_at(&self) -> DateTime<Utc> {
        self.view.created_at
    }

    /// Inbound: when Parley recorded it.
    async fn received_at(&self) -> Option<DateTime<Utc>> {
        self.view.received_at
    }

    /// Outbound: when Meta accepted it.
    async fn sent_at(&self) -> Option<DateTime<Utc>> {
        self.view.sent_at
    }

    async fn delivered_at(&self) -> Option<DateTime<Utc>> {
        self.view.delivered_at
    }

    async fn read_at(&self) -> Option<DateTime<Utc>> {
        self.view.read_at
    }

    async fn failed_at(&self) -> Option<DateTime<Utc>> {
        self.view.failed_at
    }

    /// When anything about it last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.view.updated_at
    }
}

/// The workspace's message with its history, if any.
pub async fn message_opt(ctx: &Context<'_>, id: Uuid) -> Result<Option<Message>> {
    let (state, caller) = env(ctx)?;
    let client = read::client(state).await?;
    let detail = projections::messages::get_message(&**client, caller.workspace_id, id)
        .await
        .map_err(internal)?;
    Ok(detail.map(|detail| Message {
        view: detail.message,
        history: Some(detail.history),
    }))
}

/// Our id of the workspace's message with Meta's id `wamid`, if Parley has it.
async fn message_id_by_wamid(ctx: &Context<'_>, wamid: &str) -> Result<Option<Uuid>> {
    let (state, caller) = env(ctx)?;
    let client = read::client(state).await?;
    let row = client
        .query_opt(
            "SELECT message_id FROM messages WHERE workspace_id = $1 AND wamid = $2",
            &[&caller.workspace_id.0, &wamid],
        )
        .await
        .map_err(internal)?;
    Ok(row.map(|row| row.get(0)))
}

/// A message in a page of messages.
#[derive(SimpleObject, Debug)]
pub struct MessageEdge {
    /// Pass as `after` to continue after this message.
    pub cursor: String,
    pub node: Message,
}

/// A page of a conversation's messages.
#[derive(SimpleObject, Debug)]
pub struct MessageConnection {
    pub edges: Vec<MessageEdge>,
    pub page_info: PageInfo,
    /// How many messages the conversation has.
    pub total_count: i64,
}

/// The customer of a conversation.
#[derive(SimpleObject, Debug)]
pub struct Customer {
    /// WhatsApp's id: the phone's digits.
    pub wa_id: String,
    /// E.164.
    pub phone: String,
    /// The latest WhatsApp profile name.
    pub profile_name: Option<String>,
    /// The name of the business's contact for this customer, if there is one.
    pub contact_name: Option<String>,
}

/// The latest message of a conversation, as the list previews it.
#[derive(SimpleObject, Debug)]
pub struct LastMessage {
    pub id: ID,
    pub direction: MessageDirection,
    pub kind: Option<String>,
    /// The start of its text (100 characters), if it has text.
    pub text: Option<String>,
    pub at: DateTime<Utc>,
}

/// The customer-service window: free-form messages may be sent until 24 hours after the
/// customer last wrote; templates any time.
#[derive(SimpleObject, Debug)]
pub struct ConversationWindow {
    /// Whether free-form messages may be sent now.
    pub open: bool,
    /// When it closes (or closed); null if the customer never wrote.
    pub closes_at: Option<DateTime<Utc>>,
    /// When the customer last wrote (their clock).
    pub last_inbound_at: Option<DateTime<Utc>>,
}

/// A conversation's AI agent.
#[derive(SimpleObject, Debug)]
pub struct AiAgent {
    /// Whether it currently answers in this conversation.
    pub enabled: bool,
    /// When it was last switched on (kept after it is switched off).
    pub enabled_at: Option<DateTime<Utc>>,
    /// Who last switched it on.
    pub enabled_by: Option<AiAgentChangedBy>,
    /// When it was last switched either way.
    pub last_toggled_at: Option<DateTime<Utc>>,
}

/// A conversation's lead-qualification fields.
#[derive(SimpleObject, Debug)]
pub struct LeadQualification {
    pub lead_status: Option<LeadStatus>,
    /// 0 to 100.
    pub lead_score: Option<i32>,
    pub lead_company: Option<String>,
    pub lead_name: Option<String>,
    pub lead_notes: Option<String>,
    pub lead_source: Option<String>,
    pub lead_budget: Option<String>,
    pub lead_timeline: Option<String>,
    pub lead_industry: Option<String>,
    pub lead_job_title: Option<String>,
    pub lead_location: Option<String>,
    pub lead_qualification_date: Option<DateTime<Utc>>,
    /// Raw data from the external system (a JSON object).
    pub raw_data: Option<Json<Value>>,
    /// Processed data (a JSON object).
    pub processed_data: Option<Json<Value>>,
    pub source_api: Option<String>,
    pub external_id: Option<String>,
    /// When any lead field last changed.
    pub lead_last_updated: Option<DateTime<Utc>>,
    /// When rawData, processedData or sourceApi last changed.
    pub raw_data_stored_at: Option<DateTime<Utc>>,
}

impl From<domain::conversation::LeadQualification> for LeadQualification {
    fn from(lead: domain::conversation::LeadQualification) -> Self {
        let f = lead.fields;
        Self {
            lead_status: f.lead_status.map(Into::into),
            lead_score: f.lead_score.map(i32::from),
            lead_company: f.lead_company,
            lead_name: f.lead_name,
            lead_notes: f.lead_notes,
            lead_source: f.lead_source,
            lead_budget: f.lead_budget,
            lead_timeline: f.lead_timeline,
            lead_industry: f.lead_industry,
            lead_job_title: f.lead_job_title,
            lead_location: f.lead_location,
            lead_qualification_date: f.lead_qualification_date,
            raw_data: f.raw_data.map(Json),
            processed_data: f.processed_data.map(Json),
            source_api: f.source_api,
            external_id: f.external_id,
            lead_last_updated: lead.lead_last_updated,
            raw_data_stored_at: lead.raw_data_stored_at,
        }
    }
}

/// A conversation between one of the workspace's numbers and one customer.
#[derive(SimpleObject, Debug)]
#[graphql(complex)]
pub struct Conversation {
    pub id: ID,
    /// Our id of the business number.
    pub phone_number_id: ID,
    /// The business number as displayed (E.164).
    pub business_phone_number: Option<String>,
    pub customer: Customer,
    /// When the conversation's first event was recorded.
    pub started_at: DateTime<Utc>,
    /// The latest message's time; startedAt before any. The list's sort key.
    pub last_message_at: DateTime<Utc>,
    /// The latest message; null before any.
    pub last_message: Option<LastMessage>,
    /// Inbound messages since the last markConversationRead.
    pub unread_count: i32,
    pub inbound_count: i64,
    pub outbound_count: i64,
    pub window: ConversationWindow,
    pub ai_agent: AiAgent,
    pub lead_qualification: LeadQualification,
    /// When anything last changed.
    pub updated_at: DateTime<Utc>,
}

impl Conversation {
    /// The conversation as of `now` (for the window).
    pub fn new(view: ConversationView, now: DateTime<Utc>) -> Self {
        let window = ConversationWindow {
            open: view.window_open_at(now),
            closes_at: view.window_closes_at(),
            last_inbound_at: view.last_inbound_at,
        };
        let last_message = match (view.last_message_id, view.last_message_direction) {
            (Some(id), Some(direction)) => Some(LastMessage {
                id: ID(id.to_string()),
                direction: direction.into(),
                kind: view.last_message_kind,
                text: view.last_message_preview,
                at: view.last_message_at,
            }),
            _ => None,
        };
        let ai = view.ai_agent;
        Self {
            id: ID(view.id.to_string()),
            phone_number_id: ID(view.phone_number_id.to_string()),
            business_phone_number: view.business_phone_number,
            customer: Customer {
                phone: format!("+{}", view.customer_wa_id),
                wa_id: view.customer_wa_id,
                profile_name: view.customer_profile_name,
                contact_name: view.contact_name,
            },
            started_at: view.started_at,
            last_message_at: view.last_message_at,
            last_message,
            unread_count: view.unread_count,
            inbound_count: view.inbound_count,
            outbound_count: view.outbound_count,
            window,
            ai_agent: AiAgent {
                enabled: ai.is_ai_agent_on,
                enabled_at: ai.ai_agent_enabled_at,
                enabled_by: ai.ai_agent_enabled_by.map(Into::into),
                last_toggled_at: ai.ai_agent_last_toggled_at,
            },
            lead_qualification: view.lead_qualification.into(),
            updated_at: view.updated_at,
        }
    }

    fn uuid(&self) -> Result<Uuid> {
        Uuid::parse_str(&self.id).map_err(internal)
    }
}

#[ComplexObject]
impl Conversation {
    /// The conversation's messages, a page at a time (chat order by default).
    async fn messages(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 1 to 1000 (default 50).")] first: Option<i32>,
        #[graphql(desc = "The `endCursor` of the previous page.")] after: Option<String>,
        #[graphql(desc = "OLDEST_FIRST (chat order) by default.")] order: Option<MessageOrder>,
    ) -> Result<MessageConnection> {
        let order = order.unwrap_or(MessageOrder::OldestFirst);
        messages_page(ctx, self.uuid()?, first, after, order).await
    }
}

/// A conversation in a page of conversations.
#[derive(SimpleObject, Debug)]
pub struct ConversationEdge {
    /// Pass as `after` to continue after this conversation.
    pub cursor: String,
    pub node: Conversation,
}

/// A page of conversations, latest message first.
#[derive(SimpleObject, Debug)]
pub struct ConversationConnection {
    pub edges: Vec<ConversationEdge>,
    pub page_info: PageInfo,
    /// How many conversations match the filters in all pages.
    pub total_count: i64,
}

/// The workspace's conversation, if any.
pub async fn conversation_opt(ctx: &Context<'_>, id: Uuid) -> Result<Option<Conversation>> {
    let (state, caller) = env(ctx)?;
    let client = read::client(state).await?;
    let view = projections::conversations::get_conversation(&**client, caller.workspace_id, id)
        .await
        .map_err(internal)?;
    let now = state.app.infra.clock().now();
    Ok(view.map(|view| Conversation::new(view, now)))
}

/// The workspace's conversation, or NOT_FOUND.
pub async fn conversation(ctx: &Context<'_>, id: Uuid) -> Result<Conversation> {
    conversation_opt(ctx, id)
        .await?
        .ok_or_else(|| crate::error::not_found("conversation"))
}

/// Checks a page size (DEFAULT_PAGE_SIZE when not given).
pub fn page_size(first: Option<i32>) -> Result<i64> {
    use crate::query::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};
    let first = first.unwrap_or(DEFAULT_PAGE_SIZE);
    if !(1..=MAX_PAGE_SIZE).contains(&first) {
        return Err(validation(format!(
            "first must be between 1 and {MAX_PAGE_SIZE}"
        )));
    }
    Ok(i64::from(first))
}

/// The (time, id) key an `after` cursor stands for; None for the first page.
pub fn after_key(after: Option<String>) -> Result<Option<(DateTime<Utc>, Uuid)>> {
    match after.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
        None => Ok(None),
        Some(raw) => crate::cursor::decode_time(raw)
            .map(Some)
            .ok_or_else(|| validation("after is not a valid cursor")),
    }
}

/// A page of the workspace's conversation's messages; histories are loaded in one query when
/// the selection asks for them.
pub async fn messages_page(
    ctx: &Context<'_>,
    conversation_id: Uuid,
    first: Option<i32>,
    after: Option<String>,
    order: MessageOrder,
) -> Result<MessageConnection> {
    use projections::messages::MessagePageStart;
    let limit = page_size(first)?;
    let start = match after_key(after)? {
        None => MessagePageStart::Skip(0),
        Some((created_at, message_id)) => MessagePageStart::After {
            created_at,
            message_id,
        },
    };
    let (state, caller) = env(ctx)?;
    let client = read::client(state).await?;
    let page = projections::messages::list_messages(
        &**client,
        caller.workspace_id,
        conversation_id,
        order.into(),
        &start,
        limit + 1,
    )
    .await
    .map_err(internal)?
    .ok_or_else(|| crate::error::not_found("conversation"))?;
    let has_next_page = page.messages.len() as i64 > limit;
    let views: Vec<MessageView> = page.messages.into_iter().take(limit as usize).collect();
    let wants_history = ctx
        .look_ahead()
        .field("edges")
        .field("node")
        .field("statusHistory")
        .exists();
    let mut histories = if wants_history && !views.is_empty() {
        let ids: Vec<Uuid> = views.iter().map(|v| v.message_id).collect();
        Some(
            projections::messages::message_status_history(&**client, caller.workspace_id, &ids)
                .await
                .map_err(internal)?,
        )
    } else {
        None
    };
    let edges: Vec<MessageEdge> = views
        .into_iter()
        .map(|view| MessageEdge {
            cursor: crate::cursor::encode_time(view.created_at, view.message_id),
            node: Message {
                history: histories
                    .as_mut()
                    .map(|h| h.remove(&view.message_id).unwrap_or_default()),
                view,
            },
        })
        .collect();
    Ok(MessageConnection {
        page_info: PageInfo {
            has_next_page,
            end_cursor: edges.last().map(|e| e.cursor.clone()),
        },
        edges,
        total_count: page.total,
    })
}

// ---- inputs ----

/// A message to send. Outside the customer-service window only templates go out
/// (WINDOW_CLOSED otherwise).
#[derive(InputObject, Debug)]
pub struct SendMessageInput {
    /// The business number to send from: our id or Meta's phone-number id.
    pub phone_number_id: ID,
    /// The customer: E.164 (`+14155550123`) or Meta's digits-only form.
    pub to: String,
    /// Meta's message fragment, e.g. `{"type":"text","text":{"body":"hi"}}` or a template.
    pub content: Json<Value>,
    /// Our id of a message of the conversation to quote.
    pub reply_to_message_id: Option<ID>,
}

/// Lead fields to change; absent fields stay as they are.
#[derive(InputObject, Debug, Default)]
pub struct LeadQualificationInput {
    pub lead_status: Option<LeadStatus>,
    /// 0 to 100.
    pub lead_score: Option<i32>,
    /// Up to 255 characters (as the other text fields but notes).
    pub lead_company: Option<String>,
    pub lead_name: Option<String>,
    /// Up to 1000 characters.
    pub lead_notes: Option<String>,
    pub lead_source: Option<String>,
    pub lead_budget: Option<String>,
    pub lead_timeline: Option<String>,
    pub lead_industry: Option<String>,
    pub lead_job_title: Option<String>,
    pub lead_location: Option<String>,
    pub lead_qualification_date: Option<DateTime<Utc>>,
    /// A JSON object.
    pub raw_data: Option<Json<Value>>,
    /// A JSON object.
    pub processed_data: Option<Json<Value>>,
    pub source_api: Option<String>,
    pub external_id: Option<String>,
}

impl LeadQualificationInput {
    /// The domain's partial update (the aggregate checks lengths and shapes).
    pub fn into_fields(self) -> Result<LeadFields> {
        let lead_score = match self.lead_score {
            None => None,
            Some(score) => Some(
                u8::try_from(score)
                    .ok()
                    .filter(|s| *s <= 100)
                    .ok_or_else(|| validation("leadScore must be between 0 and 100"))?,
            ),
        };
        Ok(LeadFields {
            lead_status: self.lead_status.map(Into::into),
            lead_score,
            lead_company: self.lead_company,
            lead_name: self.lead_name,
            lead_notes: self.lead_notes,
            lead_source: self.lead_source,
            lead_budget: self.lead_budget,
            lead_timeline: self.lead_timeline,
            lead_industry: self.lead_industry,
            lead_job_title: self.lead_job_title,
            lead_location: self.lead_location,
            lead_qualification_date: self.lead_qualification_date,
            raw_data: self.raw_data.map(|j| j.0),
            processed_data: self.processed_data.map(|j| j.0),
            source_api: self.source_api,
            external_id: self.external_id,
        })
    }
}

//! The template-analytics read model (seed 003): what became of each template message we sent
//! (`template_messages`: sends, delivered, read, failed per template) and which buttons customers
//! tapped in reply (`template_button_clicks`: per template and button, per customer).
//!
//! Folded in log order from two aggregates. The PhoneNumber's registration says which WABA a
//! number is on, and the Conversation's start says whose a conversation is: together they name a
//! template send by its Template aggregate id (workspace, WABA, name, language). The
//! Conversation's `MessageQueued` of a template adds a send, its status events move it (a status
//! only climbs: queued < sent < failed < delivered < read), and a customer's quick-reply, button
//! or list reply whose context names one of our messages is a click. A click is attributed to
//! the template message whose wamid it replies to; one that arrives before that wamid is known is
//! attributed when the acceptance naming it is folded.
//!
//! Each batch is written phase by phase (numbers, conversations, sends, statuses, clicks), each
//! phase one statement: every dependency between events points from an earlier phase to a later
//! one, so the phases keep the log's meaning.

use crate::log::StoredEvent;
use crate::runner::{Projection, ProjectorError, RebuildOrder};
use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use domain::conversation::{Conversation, ConversationEvent, InboundContent, OutboundContent};
use domain::phone_number::{PhoneNumber, PhoneNumberEvent};
use domain::template::template_id;
use domain::WorkspaceId;
use futures::future::BoxFuture;
use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use tokio_postgres::{GenericClient, Row, Transaction};
use uuid::Uuid;

/// Folds template sends, their statuses and customers' button replies into
/// `template_messages` and `template_button_clicks`.
pub struct TemplateAnalyticsProjection;

/// The conversation events this read model folds (the others are not decoded).
const CONVERSATION_EVENTS: &[&str] = &[
    "ConversationStarted",
    "MessageQueued",
    "MessageAcceptedByMeta",
    "MessageDelivered",
    "MessageRead",
    "MessageFailed",
    "InboundMessageReceived",
];

impl Projection for TemplateAnalyticsProjection {
    fn name(&self) -> &'static str {
        "template_analytics"
    }

    fn tables(&self) -> &'static [&'static str] {
        &[
            "template_analytics_numbers",
            "template_analytics_conversations",
            "template_messages",
            "template_button_clicks",
        ]
    }

    fn aggregate_types(&self) -> Option<&'static [&'static str]> {
        Some(&[PhoneNumber::TYPE, Conversation::TYPE])
    }

    /// Sends need their number's WABA and clicks need the message they reply to: log order.
    fn rebuild_order(&self) -> RebuildOrder {
        RebuildOrder::Log
    }

    fn apply<'a>(
        &'a self,
        tx: &'a Transaction<'a>,
        events: &'a [StoredEvent],
    ) -> BoxFuture<'a, Result<(), ProjectorError>> {
        Box::pin(async move {
            let mut batch = Batch::default();
            for event in events {
                if event.aggregate_type == PhoneNumber::TYPE
                    && event.event_type == "PhoneNumberRegistered"
                {
                    let id = Uuid::parse_str(&event.aggregate_id)
                        .map_err(|e| ProjectorError::unreadable(event, e))?;
                    let payload: PhoneNumberEvent = event
                        .payload()
                        .map_err(|e| ProjectorError::unreadable(event, e))?;
                    batch.note_number(id, payload);
                } else if event.aggregate_type == Conversation::TYPE
                    && CONVERSATION_EVENTS.contains(&event.event_type.as_str())
                {
                    let id = Uuid::parse_str(&event.aggregate_id)
                        .map_err(|e| ProjectorError::unreadable(event, e))?;
                    let payload: ConversationEvent = event
                        .payload()
                        .map_err(|e| ProjectorError::unreadable(event, e))?;
                    batch.note_conversation(id, payload);
                }
            }
            batch.write(tx).await
        })
    }
}

/// How far a template message got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TemplateMessageStatus {
    /// Queued in Parley, not yet answered by Meta.
    Queued,
    /// Accepted by Meta.
    Sent,
    /// Refused by Meta, or reported failed (and not delivered).
    Failed,
    /// Delivered to the customer's phone.
    Delivered,
    /// Read by the customer.
    Read,
}

impl TemplateMessageStatus {
    /// Every status, by rank.
    pub const ALL: [Self; 5] = [
        Self::Queued,
        Self::Sent,
        Self::Failed,
        Self::Delivered,
        Self::Read,
    ];

    /// The stored form: `queued`, `sent`, `failed`, `delivered` or `read`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Delivered => "delivered",
            Self::Read => "read",
        }
    }

    /// How far the status is; a message's status never moves to a lower rank (a failure
    /// reported after delivery does not undo the delivery).
    pub fn rank(self) -> i16 {
        match self {
            Self::Queued => 0,
            Self::Sent => 1,
            Self::Failed => 2,
            Self::Delivered => 3,
            Self::Read => 4,
        }
    }
}

impl fmt::Display for TemplateMessageStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TemplateMessageStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| format!("'{s}' is not one of queued, sent, failed, delivered, read"))
    }
}

/// Which kind of reply a click was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClickKind {
    /// A tap on a template's quick-reply button (Meta type `button`).
    QuickReply,
    /// A tap on an interactive message's reply button.
    ButtonReply,
    /// A choice from an interactive list.
    ListReply,
}

impl ClickKind {
    /// The stored form: `quick_reply`, `button_reply` or `list_reply`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::QuickReply => "quick_reply",
            Self::ButtonReply => "button_reply",
            Self::ListReply => "list_reply",
        }
    }
}

impl FromStr for ClickKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Self::QuickReply, Self::ButtonReply, Self::ListReply]
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| format!("'{s}' is not one of quick_reply, button_reply, list_reply"))
    }
}

/// The button a reply names: its kind, id (a quick reply's payload, a button's or row's id) and
/// text; `None` for replies that are not button taps.
pub fn clicked_button(content: &InboundContent) -> Option<(ClickKind, &str, &str)> {
    match content {
        InboundContent::Button(button) => Some((
            ClickKind::QuickReply,
            button.payload.as_str(),
            button.text.as_str(),
        )),
        InboundContent::ButtonReply(reply) => Some((
            ClickKind::ButtonReply,
            reply.id.as_str(),
            reply.title.as_str(),
        )),
        InboundContent::ListReply(reply) => Some((
            ClickKind::ListReply,
            reply.id.as_str(),
            reply.title.as_str(),
        )),
        _ => None,
    }
}

/// A template message queued in a batch.
#[derive(Debug, Clone, PartialEq)]
struct Send {
    message_id: Uuid,
    conversation_id: Uuid,
    broadcast_id: Option<Uuid>,
    customer_wa_id: String,
    name: String,
    language: String,
    at: DateTime<Utc>,
}

/// What a batch's status events did to one message, merged in log order.
#[derive(Debug, Clone, PartialEq)]
struct Progress {
    status: TemplateMessageStatus,
    wamid: Option<String>,
    last_at: DateTime<Utc>,
}

/// A button reply in a batch.
#[derive(Debug, Clone, PartialEq)]
struct Click {
    message_id: Uuid,
    conversation_id: Uuid,
    context_wamid: String,
    kind: ClickKind,
    button_id: String,
    button_text: String,
    at: DateTime<Utc>,
}

/// One batch's changes, by phase.
#[derive(Debug, Default)]
struct Batch {
    numbers: Vec<(Uuid, String)>,
    conversations: Vec<(Uuid, WorkspaceId, Uuid, String)>,
    sends: Vec<Send>,
    progress: HashMap<Uuid, Progress>,
    clicks: Vec<Click>,
}

impl Batch {
    fn note_number(&mut self, id: Uuid, event: PhoneNumberEvent) {
        if let PhoneNumberEvent::PhoneNumberRegistered { waba_id, .. } = event {
            self.numbers.push((id, waba_id));
        }
    }

    fn note_conversation(&mut self, conversation_id: Uuid, event: ConversationEvent) {
        let (message_id, status, wamid, at) = match event {
            ConversationEvent::ConversationStarted {
                workspace_id,
                phone_number_id,
                customer_wa_id,
                ..
            } => {
                self.conversations.push((
                    conversation_id,
                    workspace_id,
                    phone_number_id,
                    customer_wa_id,
                ));
                return;
            }
            ConversationEvent::MessageQueued {
                message_id,
                content: OutboundContent::Template { template },
                customer_wa_id,
                broadcast_id,
                at,
                ..
            } => {
                self.sends.push(Send {
                    message_id: message_id.0,
                    conversation_id,
                    broadcast_id,
                    customer_wa_id,
                    name: template.name,
                    language: template.language.code,
                    at,
                });
                return;
            }
            ConversationEvent::InboundMessageReceived {
                message_id,
                content,
                sent_at,
                context_wamid: Some(context),
                ..
            } => {
                if let Some((kind, id, text)) = clicked_button(&content) {
                    self.clicks.push(Click {
                        message_id: message_id.0,
                        conversation_id,
                        context_wamid: context.as_str().to_string(),
                        kind,
                        button_id: id.to_string(),
                        button_text: text.to_string(),
                        at: sent_at,
                    });
                }
                return;
            }
            ConversationEvent::MessageAcceptedByMeta {
                message_id,
                wamid,
                at,
            } => (message_id, TemplateMessageStatus::Sent, Some(wamid), at),
            ConversationEvent::MessageDelivered {
                message_id,
                wamid,
                at,
            } => (
                message_id,
                TemplateMessageStatus::Delivered,
                Some(wamid),
                at,
            ),
            ConversationEvent::MessageRead {
                message_id,
                wamid,
                at,
            } => (message_id, TemplateMessageStatus::Read, Some(wamid), at),
            ConversationEvent::MessageFailed {
                message_id,
                wamid,
                at,
                ..
            } => (message_id, TemplateMessageStatus::Failed, wamid, at),
            _ => return,
        };
        let progress = self.progress.entry(message_id.0).or_insert(Progress {
            status,
            wamid: None,
            last_at: at,
        });
        if status.rank() > progress.status.rank() {
            progress.status = status;
        }
        if progress.wamid.is_none() {
            progress.wamid = wamid.map(|w| w.as_str().to_string());
        }
        progress.last_at = progress.last_at.max(at);
    }

    async fn write(self, tx: &Transaction<'_>) -> Result<(), ProjectorError> {
        write_numbers(tx, &self.numbers).await?;
        write_conversations(tx, &self.conversations).await?;
        write_sends(tx, &self.sends).await?;
        write_progress(tx, &self.progress).await?;
        write_clicks(tx, &self.clicks).await
    }
}

async fn write_numbers(
    tx: &Transaction<'_>,
    numbers: &[(Uuid, String)],
) -> Result<(), ProjectorError> {
    if numbers.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = numbers.iter().map(|(id, _)| *id).collect();
    let wabas: Vec<&str> = numbers.iter().map(|(_, waba)| waba.as_str()).collect();
    tx.execute(
        "INSERT INTO template_analytics_numbers (phone_number_id, waba_id) \
         SELECT * FROM UNNEST($1::uuid[], $2::text[]) \
         ON CONFLICT (phone_number_id) DO UPDATE SET waba_id = EXCLUDED.waba_id",
        &[&ids, &wabas],
    )
    .await?;
    Ok(())
}

async fn write_conversations(
    tx: &Transaction<'_>,
    conversations: &[(Uuid, WorkspaceId, Uuid, String)],
) -> Result<(), ProjectorError> {
    if conversations.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = conversations.iter().map(|c| c.0).collect();
    let workspaces: Vec<Uuid> = conversations.iter().map(|c| c.1 .0).collect();
    let numbers: Vec<Uuid> = conversations.iter().map(|c| c.2).collect();
    let customers: Vec<&str> = conversations.iter().map(|c| c.3.as_str()).collect();
    tx.execute(
        "INSERT INTO template_analytics_conversations \
             (conversation_id, workspace_id, phone_number_id, customer_wa_id) \
         SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::text[]) \
         ON CONFLICT (conversation_id) DO NOTHING",
        &[&ids, &workspaces, &numbers, &customers],
    )
    .await?;
    Ok(())
}

async fn write_sends(tx: &Transaction<'_>, sends: &[Send]) -> Result<(), ProjectorError> {
    if sends.is_empty() {
        return Ok(());
    }
    let mut conversation_ids: Vec<Uuid> = sends.iter().map(|s| s.conversation_id).collect();
    conversation_ids.sort_unstable();
    conversation_ids.dedup();
    // Whose each conversation is, and the WABA its number is on.
    let owners: HashMap<Uuid, (WorkspaceId, String)> = tx
        .query(
            "SELECT c.conversation_id, c.workspace_id, n.waba_id \
             FROM template_analytics_conversations c \
             JOIN template_analytics_numbers n ON n.phone_number_id = c.phone_number_id \
             WHERE c.conversation_id = ANY($1)",
            &[&conversation_ids],
        )
        .await?
        .iter()
        .map(|row| (row.get(0), (WorkspaceId(row.get(1)), row.get(2))))
        .collect();
    let mut message_id = Vec::new();
    let mut workspace = Vec::new();
    let mut template = Vec::new();
    let mut name = Vec::new();
    let mut language = Vec::new();
    let mut conversation = Vec::new();
    let mut broadcast = Vec::new();
    let mut customer = Vec::new();
    let mut at = Vec::new();
    for send in sends {
        let Some((owner, waba)) = owners.get(&send.conversation_id) else {
            tracing::warn!(
                conversation_id = %send.conversation_id,
                message_id = %send.message_id,
                "template analytics: a template send in a conversation of unknown number; not counted"
            );
            continue;
        };
        message_id.push(send.message_id);
        workspace.push(owner.0);
        template.push(template_id(*owner, waba, &send.name, &send.language));
        name.push(send.name.as_str());
        language.push(send.language.as_str());
        conversation.push(send.conversation_id);
        broadcast.push(send.broadcast_id);
        customer.push(send.customer_wa_id.as_str());
        at.push(send.at);
    }
    tx.execute(
        "INSERT INTO template_messages (message_id, workspace_id, template_id, template_name, \
             template_language, conversation_id, broadcast_id, customer_wa_id, status, status_rank, \
             queued_at, updated_at) \
         SELECT u.message_id, u.workspace_id, u.template_id, u.name, u.language, u.conversation_id, \
                u.broadcast_id, u.customer, 'queued', 0, u.at, u.at \
         FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::uuid[], \
                     $7::uuid[], $8::text[], $9::timestamptz[]) \
              AS u(message_id, workspace_id, template_id, name, language, conversation_id, \
                   broadcast_id, customer, at) \
         ON CONFLICT (message_id) DO NOTHING",
        &[
            &message_id,
            &workspace,
            &template,
            &name,
            &language,
            &conversation,
            &broadcast,
            &customer,
            &at,
        ],
    )
    .await?;
    Ok(())
}

async fn write_progress(
    tx: &Transaction<'_>,
    progress: &HashMap<Uuid, Progress>,
) -> Result<(), ProjectorError> {
    if progress.is_empty() {
        return Ok(());
    }
    let message_id: Vec<Uuid> = progress.keys().copied().collect();
    let status: Vec<&str> = message_id
        .iter()
        .map(|id| progress[id].status.as_str())
        .collect();
    let rank: Vec<i16> = message_id
        .iter()
        .map(|id| progress[id].status.rank())
        .collect();
    let wamid: Vec<Option<&str>> = message_id
        .iter()
        .map(|id| progress[id].wamid.as_deref())
        .collect();
    let at: Vec<DateTime<Utc>> = message_id.iter().map(|id| progress[id].last_at).collect();
    // Most status events are of messages that are no template's: one index probe each.
    let named: Vec<String> = tx
        .query(
            "UPDATE template_messages m SET \
                 status = CASE WHEN u.rank > m.status_rank THEN u.status ELSE m.status END, \
                 status_rank = GREATEST(m.status_rank, u.rank), \
                 wamid = COALESCE(m.wamid, u.wamid), \
                 updated_at = GREATEST(m.updated_at, u.at) \
             FROM UNNEST($1::uuid[], $2::text[], $3::smallint[], $4::text[], $5::timestamptz[]) \
                  AS u(message_id, status, rank, wamid, at) \
             WHERE m.message_id = u.message_id \
             RETURNING m.wamid",
            &[&message_id, &status, &rank, &wamid, &at],
        )
        .await?
        .iter()
        .filter_map(|row| row.get::<_, Option<String>>(0))
        .collect();
    if named.is_empty() {
        return Ok(());
    }
    // Clicks that arrived before the wamid they reply to was known.
    tx.execute(
        "UPDATE template_button_clicks c SET template_message_id = m.message_id, \
             template_id = m.template_id, template_name = m.template_name, \
             template_language = m.template_language \
         FROM template_messages m \
         WHERE c.template_id IS NULL AND c.context_wamid = ANY($1::text[]) \
           AND m.wamid = c.context_wamid AND m.conversation_id = c.conversation_id",
        &[&named],
    )
    .await?;
    Ok(())
}

async fn write_clicks(tx: &Transaction<'_>, clicks: &[Click]) -> Result<(), ProjectorError> {
    if clicks.is_empty() {
        return Ok(());
    }
    let message_id: Vec<Uuid> = clicks.iter().map(|c| c.message_id).collect();
    let conversation: Vec<Uuid> = clicks.iter().map(|c| c.conversation_id).collect();
    let context: Vec<&str> = clicks.iter().map(|c| c.context_wamid.as_str()).collect();
    let kind: Vec<&str> = clicks.iter().map(|c| c.kind.as_str()).collect();
    let button_id: Vec<&str> = clicks.iter().map(|c| c.button_id.as_str()).collect();
    let button_text: Vec<&str> = clicks.iter().map(|c| c.button_text.as_str()).collect();
    let at: Vec<DateTime<Utc>> = clicks.iter().map(|c| c.at).collect();
    tx.execute(
        "INSERT INTO template_button_clicks (message_id, workspace_id, conversation_id, \
             phone_number_id, customer_wa_id, context_wamid, template_message_id, template_id, \
             template_name, template_language, kind, button_id, button_text, clicked_at) \
         SELECT u.message_id, c.workspace_id, u.conversation_id, c.phone_number_id, \
                c.customer_wa_id, u.context, m.message_id, m.template_id, m.template_name, \
                m.template_language, u.kind, u.button_id, u.button_text, u.at \
         FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], \
                     $7::timestamptz[]) \
              AS u(message_id, conversation_id, context, kind, button_id, button_text, at) \
         JOIN template_analytics_conversations c ON c.conversation_id = u.conversation_id \
         LEFT JOIN LATERAL ( \
             SELECT t.message_id, t.template_id, t.template_name, t.template_language \
             FROM template_messages t \
             WHERE t.wamid = u.context AND t.conversation_id = u.conversation_id \
             ORDER BY t.queued_at LIMIT 1 \
         ) m ON true \
         ON CONFLICT (message_id) DO NOTHING",
        &[
            &message_id,
            &conversation,
            &context,
            &kind,
            &button_id,
            &button_text,
            &at,
        ],
    )
    .await?;
    Ok(())
}

// ---- queries ----

/// A template's messages by how far they got (each message counted once, at its status now).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TemplateSendStats {
    /// Not answered by Meta yet.
    pub queued: i64,
    /// Accepted by Meta, not delivered yet.
    pub sent: i64,
    /// Failed.
    pub failed: i64,
    /// Delivered, not read yet.
    pub delivered: i64,
    /// Read.
    pub read: i64,
}

impl TemplateSendStats {
    /// Every message sent with the template.
    pub fn sends(&self) -> i64 {
        self.queued + self.sent + self.failed + self.delivered + self.read
    }

    /// Messages that reached the customer's phone: delivered or read.
    pub fn delivered_total(&self) -> i64 {
        self.delivered + self.read
    }
}

/// The workspace's messages sent with the template, by status.
pub async fn send_stats(
    client: &impl GenericClient,
    workspace: WorkspaceId,
    template_id: Uuid,
) -> Result<TemplateSendStats, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT status, count(*) FROM template_messages \
             WHERE template_id = $2 AND workspace_id = $1 GROUP BY status",
            &[&workspace.0, &template_id],
        )
        .await?;
    let mut stats = TemplateSendStats::default();
    for row in rows {
        let count: i64 = row.get(1);
        match row.get::<_, &str>(0).parse() {
            Ok(TemplateMessageStatus::Queued) => stats.queued = count,
            Ok(TemplateMessageStatus::Sent) => stats.sent = count,
            Ok(TemplateMessageStatus::Failed) => stats.failed = count,
            Ok(TemplateMessageStatus::Delivered) => stats.delivered = count,
            Ok(TemplateMessageStatus::Read) => stats.read = count,
            Err(error) => tracing::warn!(%error, "template analytics: unknown stored status"),
        }
    }
    Ok(stats)
}

/// Clicks on one button of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ButtonStats {
    /// The quick reply's payload (the button's id in an interactive reply).
    pub button_id: String,
    /// The button's text.
    pub button_text: String,
    /// Every click.
    pub total_clicks: i64,
    /// Customers who clicked it.
    pub unique_clicks: i64,
}

/// Clicks on a template's buttons, per button (most clicked first), and how many customers
/// clicked any of them.
pub async fn button_stats(
    client: &impl GenericClient,
    workspace: WorkspaceId,
    template_id: Uuid,
) -> Result<(Vec<ButtonStats>, i64), tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT button_id, min(button_text), count(*), count(DISTINCT customer_wa_id) \
             FROM template_button_clicks WHERE template_id = $2 AND workspace_id = $1 \
             GROUP BY button_id ORDER BY count(*) DESC, button_id",
            &[&workspace.0, &template_id],
        )
        .await?;
    let buttons = rows
        .iter()
        .map(|row| ButtonStats {
            button_id: row.get(0),
            button_text: row.get(1),
            total_clicks: row.get(2),
            unique_clicks: row.get(3),
        })
        .collect();
    let clickers: i64 = client
        .query_one(
            "SELECT count(DISTINCT customer_wa_id) FROM template_button_clicks \
             WHERE template_id = $2 AND workspace_id = $1",
            &[&workspace.0, &template_id],
        )
        .await?
        .get(0);
    Ok((buttons, clickers))
}

/// A customer's button reply as the read model holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct ButtonClickView {
    /// Our id of the customer's reply.
    pub message_id: Uuid,
    /// The conversation it arrived in.
    pub conversation_id: Uuid,
    /// Our id of the business number.
    pub phone_number_id: Uuid,
    /// The customer's WhatsApp id (digits).
    pub customer_wa_id: String,
    /// The wamid of the message replied to.
    pub context_wamid: String,
    /// Our id of the template message replied to, if it was one.
    pub template_message_id: Option<Uuid>,
    /// That message's Template aggregate.
    pub template_id: Option<Uuid>,
    /// That template's name.
    pub template_name: Option<String>,
    /// That template's language.
    pub template_language: Option<String>,
    /// Which kind of reply.
    pub kind: ClickKind,
    /// The button's id (a quick reply's payload).
    pub button_id: String,
    /// The button's text.
    pub button_text: String,
    /// When the customer tapped it (Meta's time).
    pub clicked_at: DateTime<Utc>,
}

impl ButtonClickView {
    fn from_row(row: &Row) -> Self {
        Self {
            message_id: row.get("message_id"),
            conversation_id: row.get("conversation_id"),
            phone_number_id: row.get("phone_number_id"),
            customer_wa_id: row.get("customer_wa_id"),
            context_wamid: row.get("context_wamid"),
            template_message_id: row.get("template_message_id"),
            template_id: row.get("template_id"),
            template_name: row.get("template_name"),
            template_language: row.get("template_language"),
            kind: row
                .get::<_, &str>("kind")
                .parse()
                .unwrap_or(ClickKind::ButtonReply),
            button_id: row.get("button_id"),
            button_text: row.get("button_text"),
            clicked_at: row.get("clicked_at"),
        }
    }
}

/// Which clicks to list.
#[derive(Debug, Clone, Default)]
pub struct ClickFilter {
    /// Only clicks on this template's messages.
    pub template_id: Option<Uuid>,
    /// Only this customer's (WhatsApp id, digits).
    pub customer_wa_id: Option<String>,
    /// Only clicks to this business number (our id).
    pub phone_number_id: Option<Uuid>,
}

/// The workspace's button clicks, latest first (then by id, descending), filtered, after the
/// (clicked_at, message_id) of the previous page's last click; with how many match in all.
pub async fn list_clicks(
    client: &impl GenericClient,
    workspace: WorkspaceId,
    filter: &ClickFilter,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<(Vec<ButtonClickView>, i64), tokio_postgres::Error> {
    let conditions = "workspace_id = $1 AND ($2::uuid IS NULL OR template_id = $2) \
                      AND ($3::text IS NULL OR customer_wa_id = $3) \
                      AND ($4::uuid IS NULL OR phone_number_id = $4)";
    let total: i64 = client
        .query_one(
            &format!("SELECT count(*) FROM template_button_clicks WHERE {conditions}"),
            &[
                &workspace.0,
                &filter.template_id,
                &filter.customer_wa_id,
                &filter.phone_number_id,
            ],
        )
        .await?
        .get(0);
    let (after_at, after_id) = match after {
        Some((at, id)) => (Some(at), Some(id)),
        None => (None, None),
    };
    let rows = client
        .query(
            &format!(
                "SELECT message_id, conversation_id, phone_number_id, customer_wa_id, \
                        context_wamid, template_message_id, template_id, template_name, \
                        template_language, kind, button_id, button_text, clicked_at \
                 FROM template_button_clicks WHERE {conditions} \
                   AND ($5::timestamptz IS NULL OR (clicked_at, message_id) < ($5, $6::uuid)) \
                 ORDER BY clicked_at DESC, message_id DESC LIMIT $7"
            ),
            &[
                &workspace.0,
                &filter.template_id,
                &filter.customer_wa_id,
                &filter.phone_number_id,
                &after_at,
                &after_id,
                &limit.max(0),
            ],
        )
        .await?;
    Ok((rows.iter().map(ButtonClickView::from_row).collect(), total))
}

/// One button a customer clicked, with how often.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerButtonStats {
    /// The template whose message the button was on, if it was a template message.
    pub template_id: Option<Uuid>,
    /// That template's name.
    pub template_name: Option<String>,
    /// The button's id (a quick reply's payload).
    pub button_id: String,
    /// The button's text.
    pub button_text: String,
    /// How often the customer clicked it.
    pub clicks: i64,
    /// When they last did.
    pub last_clicked_at: DateTime<Utc>,
}

/// The buttons a customer of the workspace clicked (optionally on one business number), the
/// latest clicked first.
pub async fn customer_button_stats(
    client: &impl GenericClient,
    workspace: WorkspaceId,
    customer_wa_id: &str,
    phone_number_id: Option<Uuid>,
) -> Result<Vec<CustomerButtonStats>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT template_id, template_name, button_id, min(button_text), count(*), \
                    max(clicked_at) \
             FROM template_button_clicks \
             WHERE workspace_id = $1 AND customer_wa_id = $2 \
               AND ($3::uuid IS NULL OR phone_number_id = $3) \
             GROUP BY template_id, template_name, button_id \
             ORDER BY max(clicked_at) DESC, button_id",
            &[&workspace.0, &customer_wa_id, &phone_number_id],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| CustomerButtonStats {
            template_id: row.get(0),
            template_name: row.get(1),
            button_id: row.get(2),
            button_text: row.get(3),
            clicks: row.get(4),
            last_clicked_at: row.get(5),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::conversation::{InteractiveReply, MessageId, QuickReplyButton, Wamid};

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_790_000_000 + seconds, 0).unwrap()
    }

    fn wamid(raw: &str) -> Wamid {
        Wamid::parse(raw).unwrap()
    }

    #[test]
    fn statuses_round_trip_and_rank_as_the_funnel() {
        for status in TemplateMessageStatus::ALL {
            assert_eq!(status.as_str().parse(), Ok(status));
        }
        let ranks: Vec<i16> = TemplateMessageStatus::ALL
            .iter()
            .map(|s| s.rank())
            .collect();
        assert_eq!(ranks, [0, 1, 2, 3, 4]);
        assert!("pending".parse::<TemplateMessageStatus>().is_err());
    }

    #[test]
    fn only_button_and_list_replies_are_clicks() {
        let quick = InboundContent::Button(QuickReplyButton {
            payload: "YES_PLEASE".into(),
            text: "Yes please".into(),
        });
        assert_eq!(
            clicked_button(&quick),
            Some((ClickKind::QuickReply, "YES_PLEASE", "Yes please"))
        );
        let list = InboundContent::ListReply(InteractiveReply {
            id: "row-2".into(),
            title: "Tuesday".into(),
            description: None,
        });
        assert_eq!(
            clicked_button(&list),
            Some((ClickKind::ListReply, "row-2", "Tuesday"))
        );
        let text = InboundContent::Text { body: "yes".into() };
        assert_eq!(clicked_button(&text), None);
        for kind in [
            ClickKind::QuickReply,
            ClickKind::ButtonReply,
            ClickKind::ListReply,
        ] {
            assert_eq!(kind.as_str().parse(), Ok(kind));
        }
    }

    #[test]
    fn a_batch_merges_each_message_s_statuses_to_the_furthest() {
        let mut batch = Batch::default();
        let conversation = Uuid::new_v4();
        let message = MessageId(Uuid::new_v4());
        let w = wamid("wamid.HBgLMTQxNTU1NTAxMDEVAgARGBI");
        batch.note_conversation(
            conversation,
            ConversationEvent::MessageRead {
                message_id: message,
                wamid: w.clone(),
                at: at(3),
            },
        );
        batch.note_conversation(
            conversation,
            ConversationEvent::MessageAcceptedByMeta {
                message_id: message,
                wamid: w.clone(),
                at: at(1),
            },
        );
        batch.note_conversation(
            conversation,
            ConversationEvent::MessageFailed {
                message_id: message,
                wamid: Some(w.clone()),
                failure: domain::conversation::MetaFailure {
                    code: 131026,
                    title: "Undeliverable".into(),
                    message: None,
                    details: None,
                },
                at: at(4),
            },
        );
        let progress = &batch.progress[&message.0];
        assert_eq!(progress.status, TemplateMessageStatus::Read);
        assert_eq!(progress.wamid.as_deref(), Some(w.as_str()));
        assert_eq!(progress.last_at, at(4));
    }

    #[test]
    fn a_reply_without_context_is_no_click() {
        let mut batch = Batch::default();
        let reply = |context_wamid: Option<Wamid>| ConversationEvent::InboundMessageReceived {
            message_id: MessageId(Uuid::new_v4()),
            wamid: wamid("wamid.HBgLMTQxNTU1NTAxMDEVAgASGBI"),
            profile_name: None,
            content: InboundContent::ButtonReply(InteractiveReply {
                id: "later".into(),
                title: "Later".into(),
                description: None,
            }),
            sent_at: at(5),
            context_wamid,
            at: at(6),
        };
        batch.note_conversation(Uuid::new_v4(), reply(None));
        assert!(batch.clicks.is_empty());
        batch.note_conversation(
            Uuid::new_v4(),
            reply(Some(wamid("wamid.HBgLMTQxNTU1NTAxMDEVAgARGBI"))),
        );
        assert_eq!(batch.clicks.len(), 1);
        assert_eq!(batch.clicks[0].button_text, "Later");
        assert_eq!(batch.clicks[0].at, at(5), "Meta's time of the tap");
    }
}

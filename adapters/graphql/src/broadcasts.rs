//! Broadcasts over GraphQL: the list (status filter, cursor pagination) and one broadcast with
//! its counts and funnel, its recipients (status filter, cursor pagination), and a mutation per
//! broadcast command. Live progress is the `broadcastProgress` subscription (`subscription.rs`).

use crate::conversation_types::{after_key, page_size};
use crate::conversations::resolve_phone_number;
use crate::error::{internal, not_found, parse_id, validation, OrGraphql, Result};
use crate::read::{self, env, record};
use crate::types::PageInfo;
use application::{BroadcastInput, PhoneNumberRef};
use async_graphql::{Context, Enum, InputObject, Json, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use domain::broadcast::{
    BroadcastCommand, BroadcastRecipient as DomainRecipient, BroadcastState, BroadcastTemplate,
    PauseReason, StartTrigger, MAX_RECIPIENTS_PER_ADD,
};
use domain::E164;
use projections::broadcasts::{BroadcastView, RecipientView};
use serde_json::Value;
use uuid::Uuid;

/// Where a broadcast is in its life.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "domain::broadcast::BroadcastStatus")]
pub enum BroadcastStatus {
    /// Being prepared: recipients can be added and removed.
    Draft,
    /// Waiting for its time (`scheduledAt`).
    Scheduled,
    /// Sending: the audience is frozen.
    Sending,
    /// Sending stopped until resumed (see `pauseReason`).
    Paused,
    /// Every recipient's message is final.
    Completed,
    Failed,
    Cancelled,
}

/// Where a recipient stands.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(
    name = "BroadcastRecipientStatus",
    remote = "projections::broadcasts::RecipientStatus"
)]
pub enum RecipientStatus {
    /// Not sent yet.
    Pending,
    /// Accepted by Meta.
    Sent,
    /// Refused by Meta or reported failed.
    Failed,
    /// Reached the recipient's phone.
    Delivered,
    /// Read.
    Read,
    /// Left out when sending started (opted out, blocked, variables that do not fit).
    Skipped,
}

/// Recipients by where they stand now: each recipient is counted once.
#[derive(SimpleObject, Debug, Clone, Copy, PartialEq, Eq)]
pub struct BroadcastCounts {
    pub total: i64,
    pub pending: i64,
    /// Accepted by Meta, not delivered yet.
    pub sent: i64,
    /// Delivered, not read yet.
    pub delivered: i64,
    pub read: i64,
    pub failed: i64,
    pub skipped: i64,
}

/// How far the recipients' messages got: a read message counts as sent and delivered too.
#[derive(SimpleObject, Debug, Clone, Copy, PartialEq, Eq)]
pub struct BroadcastFunnel {
    pub total: i64,
    /// Accepted by Meta (sent, delivered or read).
    pub sent: i64,
    /// Reached the phone (delivered or read).
    pub delivered: i64,
    pub read: i64,
    pub failed: i64,
    pub skipped: i64,
}

/// The template a broadcast sends, as its creator named it.
#[derive(SimpleObject, Debug, Clone)]
pub struct BroadcastTemplateRef {
    pub name: String,
    pub language: String,
    /// Parameters every recipient gets (Meta's component JSON), e.g. a media header.
    pub components: Vec<Json<Value>>,
}

/// A broadcast of the workspace.
pub struct Broadcast(pub BroadcastView);

#[Object]
impl Broadcast {
    async fn id(&self) -> ID {
        ID(self.0.broadcast_id.to_string())
    }

    /// Our id of the number it sends from.
    async fn phone_number_id(&self) -> ID {
        ID(self.0.phone_number_id.to_string())
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }

    async fn template(&self) -> BroadcastTemplateRef {
        let template = &self.0.template;
        BroadcastTemplateRef {
            name: template.name.clone(),
            language: template.language.clone(),
            components: template.components.iter().cloned().map(Json).collect(),
        }
    }

    /// The template (Parley's id) sending started with; null before the start.
    async fn template_id(&self) -> Option<ID> {
        self.0.template_id.map(|id| ID(id.to_string()))
    }

    async fn status(&self) -> BroadcastStatus {
        self.0.status.into()
    }

    /// Why it is paused, as a sentence; null unless paused.
    async fn pause_reason(&self) -> Option<&str> {
        self.0.pause_reason.as_deref()
    }

    /// Why it is paused, as a code: MANUAL, QUALITY_RED or TEMPLATE_UNAVAILABLE.
    async fn pause_code(&self) -> Option<&str> {
        self.0.pause_code.as_deref()
    }

    /// Why its scheduled start was refused (it went back to draft); null once scheduled again.
    async fn start_refusal(&self) -> Option<&str> {
        self.0.start_refusal.as_deref()
    }

    /// The sending round: 0, then one more per retry of the failed.
    async fn round(&self) -> i32 {
        self.0.round
    }

    async fn recipient_count(&self) -> i64 {
        self.0.recipient_count
    }

    /// Recipients by where they stand now.
    async fn counts(&self) -> BroadcastCounts {
        counts(&self.0)
    }

    /// How far the recipients' messages got.
    async fn funnel(&self) -> BroadcastFunnel {
        funnel(&self.0)
    }

    async fn scheduled_at(&self) -> Option<DateTime<Utc>> {
        self.0.scheduled_at
    }

    async fn started_at(&self) -> Option<DateTime<Utc>> {
        self.0.started_at
    }

    /// When every recipient's message was final.
    async fn completed_at(&self) -> Option<DateTime<Utc>> {
        self.0.completed_at
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// The latest change, of the broadcast or of one of its recipients' messages.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.last_event_at
    }

    /// A page of its recipients, in the order they were added.
    async fn recipients(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only recipients who stand here.")] status: Option<RecipientStatus>,
        #[graphql(desc = "Page size, 1 to 1000 (default 50).")] first: Option<i32>,
        #[graphql(desc = "The `endCursor` of the previous page.")] after: Option<String>,
    ) -> Result<BroadcastRecipientConnection> {
        let limit = page_size(first)?;
        let after = match after.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
            None => None,
            Some(raw) => Some(
                crate::cursor::decode_position(raw)
                    .ok_or_else(|| validation("after is not a valid cursor"))?,
            ),
        };
        let status = status.map(projections::broadcasts::RecipientStatus::from);
        let (state, caller) = env(ctx)?;
        let client = read::client(state).await?;
        let (rows, total_count) = projections::broadcasts::list_recipients_after(
            &**client,
            caller.workspace_id,
            self.0.broadcast_id,
            status.map(|s| s.as_str()),
            after,
            limit + 1,
        )
        .await
        .map_err(internal)?;
        let has_next_page = rows.len() as i64 > limit;
        let edges: Vec<BroadcastRecipientEdge> = rows
            .into_iter()
            .take(limit as usize)
            .map(|view| BroadcastRecipientEdge {
                cursor: crate::cursor::encode_position(view.position),
                node: view.into(),
            })
            .collect();
        Ok(BroadcastRecipientConnection {
            page_info: PageInfo {
                has_next_page,
                end_cursor: edges.last().map(|e| e.cursor.clone()),
            },
            edges,
            total_count,
        })
    }
}

/// The broadcast's recipients by current status.
pub fn counts(view: &BroadcastView) -> BroadcastCounts {
    let counts = view.counts();
    BroadcastCounts {
        total: counts.total,
        pending: counts.pending,
        sent: counts.sent,
        delivered: counts.delivered,
        read: counts.read,
        failed: counts.failed,
        skipped: counts.skipped,
    }
}

/// The broadcast's funnel.
pub fn funnel(view: &BroadcastView) -> BroadcastFunnel {
    let counts = view.counts();
    BroadcastFunnel {
        total: counts.total,
        sent: counts.sent_total(),
        delivered: counts.delivered_total(),
        read: counts.read,
        failed: counts.failed,
        skipped: counts.skipped,
    }
}

/// One of a recipient's variables.
#[derive(SimpleObject, InputObject, Debug, Clone)]
#[graphql(input_name = "RecipientVariableInput")]
pub struct RecipientVariable {
    /// A position (`"1"`) or a variable's name.
    pub key: String,
    pub value: String,
}

/// A recipient of a broadcast.
#[derive(SimpleObject, Debug, Clone)]
pub struct BroadcastRecipient {
    /// E.164.
    pub phone: String,
    pub name: Option<String>,
    /// Sorted by key.
    pub variables: Vec<RecipientVariable>,
    pub status: RecipientStatus,
    /// Our id of the current round's message.
    pub message_id: Option<ID>,
    /// Meta's id of it, once accepted.
    pub wamid: Option<String>,
    /// Meta's code and title of the failure, or why the recipient was skipped.
    pub error: Option<String>,
    pub error_code: Option<i64>,
    /// OPTED_OUT, BLOCKED or INVALID_VARIABLES.
    pub skip_reason: Option<String>,
    pub round: i32,
    pub sent_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub read_at: Option<DateTime<Utc>>,
    pub failed_at: Option<DateTime<Utc>>,
}

impl From<RecipientView> for BroadcastRecipient {
    fn from(view: RecipientView) -> Self {
        Self {
            phone: view.phone,
            name: view.name,
            variables: view
                .variables
                .into_iter()
                .map(|(key, value)| RecipientVariable { key, value })
                .collect(),
            status: view.status.into(),
            message_id: view.message_id.map(|id| ID(id.to_string())),
            wamid: view.wamid,
            error: view.error,
            error_code: view.error_code,
            skip_reason: view.skip_reason,
            round: view.round,
            sent_at: view.sent_at,
            delivered_at: view.delivered_at,
            read_at: view.read_at,
            failed_at: view.failed_at,
        }
    }
}

/// A recipient in a page of recipients.
#[derive(SimpleObject, Debug)]
pub struct BroadcastRecipientEdge {
    /// Pass as `after` to continue after this recipient.
    pub cursor: String,
    pub node: BroadcastRecipient,
}

/// A page of a broadcast's recipients, in the order they were added.
#[derive(SimpleObject, Debug)]
pub struct BroadcastRecipientConnection {
    pub edges: Vec<BroadcastRecipientEdge>,
    pub page_info: PageInfo,
    /// How many recipients match the filter in all pages.
    pub total_count: i64,
}

/// A broadcast in a page of broadcasts.
pub struct BroadcastEdge {
    cursor: String,
    node: Broadcast,
}

#[Object]
impl BroadcastEdge {
    /// Pass as `after` to continue after this broadcast.
    async fn cursor(&self) -> &str {
        &self.cursor
    }

    async fn node(&self) -> &Broadcast {
        &self.node
    }
}

/// A page of broadcasts, newest first.
#[derive(SimpleObject)]
pub struct BroadcastConnection {
    pub edges: Vec<BroadcastEdge>,
    pub page_info: PageInfo,
    /// How many broadcasts match the filters in all pages.
    pub total_count: i64,
}

// ---- inputs and results ----

/// A recipient to add.
#[derive(InputObject, Debug, Clone)]
pub struct BroadcastRecipientInput {
    /// E.164.
    pub phone: String,
    pub name: Option<String>,
    /// Their message's variables, by position (`"1"`) or name.
    #[graphql(default)]
    pub variables: Vec<RecipientVariable>,
}

fn recipients_from(input: Vec<BroadcastRecipientInput>) -> Result<Vec<DomainRecipient>> {
    input
        .into_iter()
        .enumerate()
        .map(|(i, recipient)| {
            let phone = E164::parse(recipient.phone.trim()).map_err(|e| {
                crate::error::app_error(application::AppError::InvalidPhoneNumber(format!(
                    "recipients[{i}].phone: {e}"
                )))
            })?;
            Ok(DomainRecipient {
                phone,
                name: recipient.name,
                variables: recipient
                    .variables
                    .into_iter()
                    .map(|v| (v.key, v.value))
                    .collect(),
            })
        })
        .collect()
}

/// The template a broadcast sends.
#[derive(InputObject, Debug)]
pub struct BroadcastTemplateInput {
    pub name: String,
    /// e.g. `en_US`.
    pub language: String,
    /// Parameters every recipient gets (Meta's component JSON), e.g. a media header.
    #[graphql(default)]
    pub components: Vec<Json<Value>>,
}

/// A broadcast to create (as a draft).
#[derive(InputObject, Debug)]
pub struct CreateBroadcastInput {
    /// Our id or Meta's id of the business number to send from.
    pub phone_number_id: ID,
    pub name: String,
    pub description: Option<String>,
    pub template: BroadcastTemplateInput,
    /// Its first recipients (up to 1000; add more with `addBroadcastRecipients`).
    #[graphql(default)]
    pub recipients: Vec<BroadcastRecipientInput>,
}

/// What adding recipients did.
#[derive(SimpleObject)]
pub struct AddBroadcastRecipientsResult {
    pub added: i32,
    /// Phones that were recipients already.
    pub duplicates: i32,
    pub total_recipients: i32,
    pub broadcast: Broadcast,
}

/// What removing recipients did.
#[derive(SimpleObject)]
pub struct RemoveBroadcastRecipientsResult {
    pub removed: i32,
    pub total_recipients: i32,
    pub broadcast: Broadcast,
}

/// A recipient left out when sending started.
#[derive(SimpleObject, Debug, Clone)]
pub struct SkippedRecipient {
    /// E.164.
    pub phone: String,
    /// OPTED_OUT, BLOCKED or INVALID_VARIABLES.
    pub reason: String,
    /// Why, as a sentence.
    pub detail: String,
}

/// What starting a broadcast found.
#[derive(SimpleObject)]
pub struct SendBroadcastResult {
    /// Recipients who will get the message.
    pub audience: i32,
    pub skipped: Vec<SkippedRecipient>,
    /// The broadcast as it is now (sending goes on; follow it with `broadcastProgress`).
    pub broadcast: Broadcast,
}

/// What retrying the failed did.
#[derive(SimpleObject)]
pub struct RetryFailedResult {
    /// Recipients who get a new message.
    pub retried: i32,
    pub broadcast: Broadcast,
}

fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// The workspace's broadcast as the read model has it, if there.
async fn broadcast_opt(ctx: &Context<'_>, id: Uuid) -> Result<Option<Broadcast>> {
    let (state, caller) = env(ctx)?;
    let client = read::client(state).await?;
    Ok(
        projections::broadcasts::get_broadcast(&**client, caller.workspace_id, id)
            .await
            .map_err(internal)?
            .map(Broadcast),
    )
}

/// The workspace's broadcast, or NOT_FOUND.
async fn broadcast(ctx: &Context<'_>, id: Uuid) -> Result<Broadcast> {
    broadcast_opt(ctx, id)
        .await?
        .ok_or_else(|| not_found("broadcast"))
}

/// A draft just created, as the aggregate has it, for when the read model has not folded it yet
/// (the answer is marked stale): a draft's recipients are all pending.
fn just_created(id: Uuid, state: BroadcastState) -> BroadcastView {
    let total = state.recipient_count() as i64;
    BroadcastView {
        broadcast_id: id,
        workspace_id: state.workspace_id,
        phone_number_id: state.phone_number_id,
        name: state.name,
        description: state.description,
        template: state.template,
        template_id: None,
        status: state.status,
        recipient_count: total,
        pending_count: total,
        sent_count: 0,
        delivered_count: 0,
        read_count: 0,
        failed_count: 0,
        skipped_count: 0,
        pause_reason: state.pause_reason.as_ref().map(PauseReason::describe),
        pause_code: None,
        start_refusal: None,
        round: i32::try_from(state.round).unwrap_or(i32::MAX),
        scheduled_at: state.scheduled_at,
        started_at: state.started_at,
        completed_at: state.completed_at,
        created_at: state.created_at,
        updated_at: state.updated_at,
        last_event_at: state.updated_at,
    }
}

/// Broadcast queries.
pub struct BroadcastQuery;

#[Object]
impl BroadcastQuery {
    /// A page of the workspace's broadcasts, newest first, filtered.
    async fn broadcasts(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this number's (our id or Meta's id).")] phone_number_id: Option<ID>,
        status: Option<BroadcastStatus>,
        #[graphql(desc = "Page size, 1 to 1000 (default 50).")] first: Option<i32>,
        #[graphql(desc = "The `endCursor` of the previous page.")] after: Option<String>,
    ) -> Result<BroadcastConnection> {
        let limit = page_size(first)?;
        let after = after_key(after)?;
        let number = match phone_number_id {
            Some(raw) => Some(resolve_phone_number(ctx, &raw).await?),
            None => None,
        };
        let status = status.map(domain::broadcast::BroadcastStatus::from);
        let (state, caller) = env(ctx)?;
        let client = read::client(state).await?;
        let (views, total_count) = projections::broadcasts::list_broadcasts_after(
            &**client,
            caller.workspace_id,
            number,
            status.map(|s| s.as_str()),
            after,
            limit + 1,
        )
        .await
        .map_err(internal)?;
        let has_next_page = views.len() as i64 > limit;
        let edges: Vec<BroadcastEdge> = views
            .into_iter()
            .take(limit as usize)
            .map(|view| BroadcastEdge {
                cursor: crate::cursor::encode_time(view.created_at, view.broadcast_id),
                node: Broadcast(view),
            })
            .collect();
        Ok(BroadcastConnection {
            page_info: PageInfo {
                has_next_page,
                end_cursor: edges.last().map(|e| e.cursor.clone()),
            },
            edges,
            total_count,
        })
    }

    /// One broadcast of the workspace (NOT_FOUND otherwise).
    async fn broadcast(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Broadcast>> {
        let id = parse_id(&id, "broadcast")?;
        broadcast(ctx, id).await.map(Some)
    }
}

/// Broadcast mutations.
pub struct BroadcastMutation;

impl BroadcastMutation {
    /// Runs a lifecycle command and reads the broadcast back.
    async fn change(
        &self,
        ctx: &Context<'_>,
        id: &ID,
        command: BroadcastCommand,
    ) -> Result<Broadcast> {
        let (state, caller) = env(ctx)?;
        let id = parse_id(id, "broadcast")?;
        let freshness = state
            .app
            .change_broadcast(caller, id, command)
            .await
            .gql()?;
        record(ctx, freshness);
        broadcast(ctx, id).await
    }
}

#[Object]
impl BroadcastMutation {
    /// Creates a draft broadcast of an approved template, with its first recipients.
    async fn create_broadcast(
        &self,
        ctx: &Context<'_>,
        input: CreateBroadcastInput,
    ) -> Result<Broadcast> {
        let (state, caller) = env(ctx)?;
        let recipients = recipients_from(input.recipients)?;
        let changed = state
            .app
            .create_broadcast(
                caller,
                BroadcastInput {
                    phone_number: PhoneNumberRef::parse(&input.phone_number_id),
                    name: input.name,
                    description: input.description,
                    template: BroadcastTemplate {
                        name: input.template.name,
                        language: input.template.language,
                        components: input.template.components.into_iter().map(|c| c.0).collect(),
                    },
                    recipients,
                },
            )
            .await
            .gql()?;
        record(ctx, changed.freshness);
        let id = changed.broadcast_id;
        Ok(match broadcast_opt(ctx, id).await? {
            Some(found) => found,
            None => Broadcast(just_created(id, changed.state)),
        })
    }

    /// Adds up to 1000 recipients to a draft; phones already in are counted as duplicates.
    async fn add_broadcast_recipients(
        &self,
        ctx: &Context<'_>,
        id: ID,
        recipients: Vec<BroadcastRecipientInput>,
    ) -> Result<AddBroadcastRecipientsResult> {
        let (state, caller) = env(ctx)?;
        let id = parse_id(&id, "broadcast")?;
        if recipients.is_empty() {
            return Err(validation("recipients must not be empty"));
        }
        if recipients.len() > MAX_RECIPIENTS_PER_ADD {
            return Err(validation(format!(
                "at most {MAX_RECIPIENTS_PER_ADD} recipients per request"
            )));
        }
        let recipients = recipients_from(recipients)?;
        let (added, freshness) = state
            .app
            .add_broadcast_recipients(caller, id, recipients)
            .await
            .gql()?;
        record(ctx, freshness);
        Ok(AddBroadcastRecipientsResult {
            added: count(added.added),
            duplicates: count(added.duplicates),
            total_recipients: count(added.total),
            broadcast: broadcast(ctx, id).await?,
        })
    }

    /// Removes recipients (by phone, E.164) from a draft.
    async fn remove_broadcast_recipients(
        &self,
        ctx: &Context<'_>,
        id: ID,
        phones: Vec<String>,
    ) -> Result<RemoveBroadcastRecipientsResult> {
        let (state, caller) = env(ctx)?;
        let id = parse_id(&id, "broadcast")?;
        if phones.is_empty() {
            return Err(validation("phones must not be empty"));
        }
        let phones = phones
            .iter()
            .enumerate()
            .map(|(i, phone)| {
                E164::parse(phone.trim()).map_err(|e| {
                    crate::error::app_error(application::AppError::InvalidPhoneNumber(format!(
                        "phones[{i}]: {e}"
                    )))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let (removed, freshness) = state
            .app
            .remove_broadcast_recipients(caller, id, phones)
            .await
            .gql()?;
        record(ctx, freshness);
        Ok(RemoveBroadcastRecipientsResult {
            removed: count(removed.removed),
            total_recipients: count(removed.total),
            broadcast: broadcast(ctx, id).await?,
        })
    }

    /// Deletes a draft or cancelled broadcast; returns its id.
    async fn delete_broadcast(&self, ctx: &Context<'_>, id: ID) -> Result<ID> {
        let (state, caller) = env(ctx)?;
        let uuid = parse_id(&id, "broadcast")?;
        let freshness = state
            .app
            .change_broadcast(caller, uuid, BroadcastCommand::Delete)
            .await
            .gql()?;
        record(ctx, freshness);
        Ok(ID(uuid.to_string()))
    }

    /// Schedules a draft to start at `scheduledAt` (in the future, at most 30 days ahead).
    async fn schedule_broadcast(
        &self,
        ctx: &Context<'_>,
        id: ID,
        scheduled_at: DateTime<Utc>,
    ) -> Result<Broadcast> {
        let (state, caller) = env(ctx)?;
        let id = parse_id(&id, "broadcast")?;
        let changed = state
            .app
            .schedule_broadcast(caller, id, scheduled_at)
            .await
            .gql()?;
        record(ctx, changed.freshness);
        broadcast(ctx, id).await
    }

    /// Takes a scheduled broadcast back to draft.
    async fn cancel_broadcast_schedule(&self, ctx: &Context<'_>, id: ID) -> Result<Broadcast> {
        self.change(ctx, &id, BroadcastCommand::CancelSchedule)
            .await
    }

    /// Starts sending now: the template must be approved; opted-out, blocked and
    /// badly-personalised recipients are skipped; the audience is frozen. Answers at once.
    async fn send_broadcast(&self, ctx: &Context<'_>, id: ID) -> Result<SendBroadcastResult> {
        let (state, caller) = env(ctx)?;
        let id = parse_id(&id, "broadcast")?;
        let started = state
            .app
            .start_broadcast(caller, id, StartTrigger::Manual)
            .await
            .gql()?;
        record(ctx, started.freshness);
        Ok(SendBroadcastResult {
            audience: count(started.audience),
            skipped: started
                .skipped
                .iter()
                .map(|s| SkippedRecipient {
                    phone: s.phone.as_str().to_string(),
                    reason: s.reason.code().to_string(),
                    detail: s.reason.describe(),
                })
                .collect(),
            broadcast: broadcast(ctx, id).await?,
        })
    }

    /// Stops sending until resumed; sends already under way still go.
    async fn pause_broadcast(&self, ctx: &Context<'_>, id: ID) -> Result<Broadcast> {
        self.change(ctx, &id, BroadcastCommand::Pause(PauseReason::Manual))
            .await
    }

    /// Resumes a paused broadcast.
    async fn resume_broadcast(&self, ctx: &Context<'_>, id: ID) -> Result<Broadcast> {
        self.change(ctx, &id, BroadcastCommand::Resume).await
    }

    /// Stops a scheduled, sending or paused broadcast for good.
    async fn cancel_broadcast(&self, ctx: &Context<'_>, id: ID) -> Result<Broadcast> {
        self.change(ctx, &id, BroadcastCommand::Cancel).await
    }

    /// Sends a new message to every recipient whose message failed.
    async fn retry_failed_broadcast_recipients(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> Result<RetryFailedResult> {
        let (state, caller) = env(ctx)?;
        let id = parse_id(&id, "broadcast")?;
        let (retried, freshness) = state
            .app
            .retry_failed_broadcast_recipients(caller, id)
            .await
            .gql()?;
        record(ctx, freshness);
        Ok(RetryFailedResult {
            retried: count(retried),
            broadcast: broadcast(ctx, id).await?,
        })
    }
}

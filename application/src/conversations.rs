//! Conversation use cases: sending messages, marking read, the AI-agent flag and lead fields for
//! callers; inbound messages and delivery statuses from Meta's webhooks; send outcomes from the
//! outbox worker.

use crate::{
    Actor, AppError, Application, CommandBus, Committed, Freshness, Infrastructure, RequestContext,
};
use chrono::{DateTime, Utc};
use cqrs_es::{AggregateContext, EventStore};
use domain::contact::{contact_id, Contact};
use domain::conversation::{
    conversation_id, AiAgentChangedBy, Conversation, ConversationCommand, InboundContent,
    LeadFields, MessageId, MetaFailure, OutboundContent, RecipientStanding, ReportedStatus, Wamid,
};
use domain::phone_number::{phone_number_id, PhoneNumber, PhoneNumberState};
use domain::{Issued, WorkspaceId, E164};
use uuid::Uuid;

/// How a caller names one of the workspace's business numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhoneNumberRef {
    /// Parley's id of the number.
    Id(Uuid),
    /// Meta's `phone_number_id`.
    MetaId(String),
}

impl PhoneNumberRef {
    /// Reads either form: a UUID is Parley's id, anything else Meta's id.
    pub fn parse(raw: &str) -> Self {
        let raw = raw.trim();
        match Uuid::parse_str(raw) {
            Ok(id) => Self::Id(id),
            Err(_) => Self::MetaId(raw.to_string()),
        }
    }

    /// Parley's id of the number (derived from Meta's id when given that).
    pub fn id(&self) -> Uuid {
        match self {
            Self::Id(id) => *id,
            Self::MetaId(meta_id) => phone_number_id(meta_id),
        }
    }
}

/// A message a caller asks to send.
#[derive(Debug, Clone)]
pub struct OutboundMessage {
    pub phone_number: PhoneNumberRef,
    /// The customer: E.164 (`+14155550123`) or Meta's digits-only form.
    pub to: String,
    pub content: OutboundContent,
    pub reply_to: Option<MessageId>,
}

/// A message accepted for sending: durable and queued for the outbox.
#[derive(Debug, Clone)]
pub struct QueuedMessage {
    pub message_id: MessageId,
    pub conversation_id: Uuid,
    pub phone_number_id: Uuid,
    pub customer_wa_id: String,
    pub queued_at: DateTime<Utc>,
    pub freshness: Freshness,
}

/// An inbound customer message, as Meta's webhook reported it.
#[derive(Debug, Clone)]
pub struct InboundFromMeta {
    pub wamid: Wamid,
    pub customer_wa_id: String,
    pub profile_name: Option<String>,
    pub content: InboundContent,
    pub sent_at: DateTime<Utc>,
    pub context_wamid: Option<Wamid>,
}

/// A delivery status, as Meta's webhook reported it.
#[derive(Debug, Clone)]
pub struct StatusFromMeta {
    pub wamid: Wamid,
    pub recipient_wa_id: String,
    /// Our message id, echoed from `biz_opaque_callback_data` when it parses as one.
    pub message_id: Option<MessageId>,
    pub status: ReportedStatus,
    pub at: DateTime<Utc>,
}

/// What the webhook's phone number resolved to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Routed {
    /// Applied to this conversation (possibly changing nothing: a redelivery).
    Conversation(Uuid),
    /// No registered number has that Meta id; the delivery is kept raw, nothing else changes.
    UnknownPhoneNumber,
}

/// The customer's wa_id (Meta's digits-only form) from what a caller typed.
pub fn customer_wa_id(to: &str) -> Result<String, AppError> {
    let to = to.trim();
    let e164 = if to.starts_with('+') {
        E164::parse(to)?
    } else {
        E164::parse(&format!("+{to}"))?
    };
    Ok(e164.wa_id().to_string())
}

impl<I: Infrastructure> Application<I> {
    /// The phone number's state if it is registered (to any workspace).
    async fn phone_number_state(&self, id: Uuid) -> Result<Option<PhoneNumberState>, AppError> {
        let mut loaded = self
            .infra
            .phone_number_store()
            .load_aggregate(&id.to_string())
            .await
            .map_err(AppError::internal)?;
        let number: &mut PhoneNumber = loaded.aggregate();
        Ok(number.state.take())
    }

    /// The workspace's number named by `reference`; another workspace's is not found.
    pub async fn resolve_phone_number(
        &self,
        context: &RequestContext,
        reference: &PhoneNumberRef,
    ) -> Result<(Uuid, PhoneNumberState), AppError> {
        let id = reference.id();
        match self.phone_number_state(id).await? {
            Some(state) if state.workspace_id == context.workspace_id => Ok((id, state)),
            _ => Err(AppError::NotFound("phone number")),
        }
    }

    /// Whether the customer, as a contact of this number, opted out or is blocked.
    async fn recipient_standing(
        &self,
        phone_number: Uuid,
        wa_id: &str,
    ) -> Result<RecipientStanding, AppError> {
        let phone = E164::parse(&format!("+{wa_id}"))?;
        let mut loaded = self
            .infra
            .contact_store()
            .load_aggregate(&contact_id(phone_number, &phone).to_string())
            .await
            .map_err(AppError::internal)?;
        let contact: &mut Contact = loaded.aggregate();
        Ok(match &contact.state {
            Some(state) => RecipientStanding {
                opted_out: !state.is_opted_in,
                blocked: state.is_blocked,
            },
            None => RecipientStanding::default(),
        })
    }

    async fn conversation_command(
        &self,
        workspace_id: WorkspaceId,
        metadata_context: &RequestContext,
        id: Uuid,
        command: ConversationCommand,
    ) -> Result<Committed, AppError> {
        let at = self.infra.clock().now();
        let issued = Issued {
            workspace_id,
            at,
            command,
        };
        CommandBus::execute::<Conversation, _>(
            self.infra.conversation_store(),
            &(),
            &id.to_string(),
            issued,
            metadata_context.event_metadata(at),
        )
        .await
    }

    /// Queues a message to a customer. The conversation decides (window, opt-out, block,
    /// reply target, content); once this returns, the message is durable and the outbox
    /// will send it.
    pub async fn send_message(
        &self,
        context: &RequestContext,
        message: OutboundMessage,
    ) -> Result<QueuedMessage, AppError> {
        let wa_id = customer_wa_id(&message.to)?;
        let (phone_number_id, number) = self
            .resolve_phone_number(context, &message.phone_number)
            .await?;
        // A template message is checked against the stored template before Meta sees it.
        let content = self
            .checked_content(context.workspace_id, &number.waba_id, message.content)
            .await?;
        let recipient = self.recipient_standing(phone_number_id, &wa_id).await?;
        let conversation_id = conversation_id(phone_number_id, &wa_id);
        let message_id = MessageId(Uuid::new_v4());
        let committed = self
            .conversation_command(
                context.workspace_id,
                context,
                conversation_id,
                ConversationCommand::QueueMessage {
                    message_id,
                    content,
                    reply_to: message.reply_to,
                    recipient,
                    phone_number_id,
                    customer_wa_id: wa_id.clone(),
                },
            )
            .await?;
        let freshness = self.infra.wait_for_read_models(&committed.events).await?;
        Ok(QueuedMessage {
            message_id,
            conversation_id,
            phone_number_id,
            customer_wa_id: wa_id,
            queued_at: self.infra.clock().now(),
            freshness,
        })
    }

    /// Marks the conversation's latest inbound message read (the read receipt goes to Meta
    /// through the outbox) and clears its unread count.
    pub async fn mark_conversation_read(
        &self,
        context: &RequestContext,
        conversation_id: Uuid,
    ) -> Result<Freshness, AppError> {
        let committed = self
            .conversation_command(
                context.workspace_id,
                context,
                conversation_id,
                ConversationCommand::MarkRead,
            )
            .await?;
        self.infra.wait_for_read_models(&committed.events).await
    }

    /// Turns the conversation's AI agent on or off.
    pub async fn set_ai_agent(
        &self,
        context: &RequestContext,
        conversation_id: Uuid,
        enabled: bool,
        changed_by: AiAgentChangedBy,
        reason: Option<String>,
    ) -> Result<Freshness, AppError> {
        let committed = self
            .conversation_command(
                context.workspace_id,
                context,
                conversation_id,
                ConversationCommand::SetAiAgent {
                    enabled,
                    changed_by,
                    reason,
                },
            )
            .await?;
        self.infra.wait_for_read_models(&committed.events).await
    }

    /// Updates the conversation's lead-qualification fields (only those given).
    pub async fn update_lead_qualification(
        &self,
        context: &RequestContext,
        conversation_id: Uuid,
        fields: LeadFields,
    ) -> Result<Freshness, AppError> {
        let committed = self
            .conversation_command(
                context.workspace_id,
                context,
                conversation_id,
                ConversationCommand::UpdateLeadQualification(fields),
            )
            .await?;
        self.infra.wait_for_read_models(&committed.events).await
    }

    /// The id and workspace of the registered number Meta calls `meta_phone_number_id` (read
    /// again at most every two seconds: see [`crate::webhook_routing`]).
    async fn number_for_meta_id(
        &self,
        meta_phone_number_id: &str,
    ) -> Result<Option<(Uuid, WorkspaceId)>, AppError> {
        let id = phone_number_id(meta_phone_number_id);
        if let Some(workspace) = self.webhook_routes.recent(id) {
            return Ok(Some((id, workspace)));
        }
        let Some(state) = self.phone_number_state(id).await? else {
            return Ok(None);
        };
        self.webhook_routes.remember(id, state.workspace_id);
        Ok(Some((id, state.workspace_id)))
    }

    /// Records an inbound customer message from Meta's webhook; a redelivery changes nothing.
    pub async fn receive_inbound_message(
        &self,
        correlation_id: &str,
        meta_phone_number_id: &str,
        inbound: InboundFromMeta,
    ) -> Result<Routed, AppError> {
        let Some((phone_number_id, workspace_id)) =
            self.number_for_meta_id(meta_phone_number_id).await?
        else {
            return Ok(Routed::UnknownPhoneNumber);
        };
        let conversation_id = conversation_id(phone_number_id, &inbound.customer_wa_id);
        let context = system_context(workspace_id, Actor::Meta, correlation_id);
        self.conversation_command(
            workspace_id,
            &context,
            conversation_id,
            ConversationCommand::ReceiveInboundMessage {
                wamid: inbound.wamid,
                phone_number_id,
                customer_wa_id: inbound.customer_wa_id,
                profile_name: inbound.profile_name,
                content: inbound.content,
                sent_at: inbound.sent_at,
                context_wamid: inbound.context_wamid,
            },
        )
        .await?;
        Ok(Routed::Conversation(conversation_id))
    }

    /// Records a delivery status from Meta's webhook; stale and repeated statuses change nothing,
    /// and a status for a message not known yet is held until it is.
    pub async fn record_delivery_status(
        &self,
        correlation_id: &str,
        meta_phone_number_id: &str,
        status: StatusFromMeta,
    ) -> Result<Routed, AppError> {
        let Some((phone_number_id, workspace_id)) =
            self.number_for_meta_id(meta_phone_number_id).await?
        else {
            return Ok(Routed::UnknownPhoneNumber);
        };
        let conversation_id = conversation_id(phone_number_id, &status.recipient_wa_id);
        let context = system_context(workspace_id, Actor::Meta, correlation_id);
        let result = self
            .conversation_command(
                workspace_id,
                &context,
                conversation_id,
                ConversationCommand::RecordDeliveryStatus {
                    wamid: status.wamid.clone(),
                    message_id: status.message_id,
                    status: status.status.clone(),
                    at: status.at,
                },
            )
            .await;
        match result {
            Ok(_) => Ok(Routed::Conversation(conversation_id)),
            // Our id came back, but the conversation does not exist yet: a broadcast's send
            // whose outcome is not recorded yet. Hold the status in a new conversation.
            Err(AppError::NotFound(_)) if status.message_id.is_some() => {
                let message_id = status.message_id.expect("checked above");
                self.conversation_command(
                    workspace_id,
                    &context,
                    conversation_id,
                    ConversationCommand::HoldEarlyDeliveryStatus {
                        phone_number_id,
                        customer_wa_id: status.recipient_wa_id,
                        wamid: status.wamid,
                        message_id,
                        status: status.status,
                        at: status.at,
                    },
                )
                .await?;
                Ok(Routed::Conversation(conversation_id))
            }
            // A status for a conversation Parley never had (a message sent outside Parley):
            // kept raw in the webhook log, nothing to apply it to.
            Err(AppError::NotFound(_)) => Ok(Routed::Conversation(conversation_id)),
            Err(error) => Err(error),
        }
    }

    /// The conversation's workspace and whether the message already has a wamid (Meta
    /// accepted it); `None` when there is no such outbound message.
    async fn outbound_message(
        &self,
        conversation_id: Uuid,
        message_id: MessageId,
    ) -> Result<Option<(WorkspaceId, bool)>, AppError> {
        let mut loaded = self
            .infra
            .conversation_store()
            .load_aggregate(&conversation_id.to_string())
            .await
            .map_err(AppError::internal)?;
        let conversation: &mut Conversation = loaded.aggregate();
        Ok(conversation.state.as_ref().and_then(|state| {
            state
                .messages
                .get(&message_id)
                .map(|message| (state.workspace_id, message.wamid.is_some()))
        }))
    }

    /// Records what Meta answered to a send: accepted with its wamid, or failed for good.
    pub async fn record_send_outcome(
        &self,
        conversation_id: Uuid,
        message_id: MessageId,
        outcome: Result<Wamid, MetaFailure>,
    ) -> Result<(), AppError> {
        let Some((workspace_id, _)) = self.outbound_message(conversation_id, message_id).await?
        else {
            return Err(AppError::NotFound("message"));
        };
        let context = system_context(workspace_id, Actor::Outbox, &message_id.0.to_string());
        let command = match outcome {
            Ok(wamid) => ConversationCommand::RecordSendAccepted { message_id, wamid },
            Err(failure) => ConversationCommand::RecordSendFailed {
                message_id,
                failure,
            },
        };
        self.conversation_command(workspace_id, &context, conversation_id, command)
            .await?;
        Ok(())
    }

    /// Whether Meta already accepted the message (a status webhook or an earlier attempt told
    /// us its wamid): lets the outbox skip a resend after a crash.
    pub async fn message_was_accepted(
        &self,
        conversation_id: Uuid,
        message_id: MessageId,
    ) -> Result<bool, AppError> {
        Ok(self
            .outbound_message(conversation_id, message_id)
            .await?
            .is_some_and(|(_, accepted)| accepted))
    }

    /// Records a broadcast's message to one recipient with Meta's answer, in the recipient's
    /// conversation; recording it again changes nothing.
    pub async fn record_broadcast_send(
        &self,
        workspace_id: WorkspaceId,
        send: BroadcastSendOutcome,
    ) -> Result<(), AppError> {
        let context = system_context(workspace_id, Actor::Outbox, &send.message_id.0.to_string());
        let conversation_id = conversation_id(send.phone_number_id, &send.customer_wa_id);
        self.conversation_command(
            workspace_id,
            &context,
            conversation_id,
            ConversationCommand::RecordBroadcastSend {
                message_id: send.message_id,
                broadcast_id: send.broadcast_id,
                content: send.content,
                phone_number_id: send.phone_number_id,
                customer_wa_id: send.customer_wa_id,
                outcome: send.outcome,
            },
        )
        .await?;
        Ok(())
    }

    /// What an earlier attempt of a broadcast's send left behind: the message recorded, or a
    /// status naming our id held (Meta accepted it; the crash came before the recording).
    pub async fn broadcast_send_trace(
        &self,
        conversation_id: Uuid,
        message_id: MessageId,
    ) -> Result<SendTrace, AppError> {
        let mut loaded = self
            .infra
            .conversation_store()
            .load_aggregate(&conversation_id.to_string())
            .await
            .map_err(AppError::internal)?;
        let conversation: &mut Conversation = loaded.aggregate();
        let Some(state) = conversation.state.as_ref() else {
            return Ok(SendTrace::None);
        };
        if state.messages.contains_key(&message_id) {
            return Ok(SendTrace::Recorded);
        }
        Ok(state
            .held_statuses
            .iter()
            .find(|held| held.message_id == Some(message_id))
            .map_or(SendTrace::None, |held| {
                SendTrace::AcceptedAs(held.wamid.clone())
            }))
    }

    /// The Meta id and the opened access token of a registered number, for the outbox.
    pub async fn meta_credentials(
        &self,
        phone_number_id: Uuid,
    ) -> Result<Option<MetaCredentials>, AppError> {
        let Some(state) = self.phone_number_state(phone_number_id).await? else {
            return Ok(None);
        };
        let access_token = match &state.access_token {
            Some(sealed) => Some(
                self.infra
                    .secrets()
                    .open(sealed)
                    .map_err(AppError::internal)?,
            ),
            None => None,
        };
        Ok(Some(MetaCredentials {
            workspace_id: state.workspace_id,
            meta_phone_number_id: state.phone_number_id,
            access_token,
        }))
    }
}

/// What an earlier attempt of a send left behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendTrace {
    /// Nothing: send it.
    None,
    /// The message and Meta's answer are recorded: nothing to do.
    Recorded,
    /// Meta accepted it under this wamid (a status said so) but the answer was not recorded.
    AcceptedAs(Wamid),
}

/// A broadcast's send to one recipient, with Meta's answer.
#[derive(Debug, Clone)]
pub struct BroadcastSendOutcome {
    pub broadcast_id: Uuid,
    pub message_id: MessageId,
    pub phone_number_id: Uuid,
    pub customer_wa_id: String,
    pub content: OutboundContent,
    pub outcome: Result<Wamid, MetaFailure>,
}

/// What the outbox needs to call Meta for a number. `Debug` leaves the token out.
#[derive(Clone)]
pub struct MetaCredentials {
    /// The workspace that owns the number.
    pub workspace_id: WorkspaceId,
    pub meta_phone_number_id: String,
    pub access_token: Option<String>,
}

impl std::fmt::Debug for MetaCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetaCredentials")
            .field("workspace_id", &self.workspace_id)
            .field("meta_phone_number_id", &self.meta_phone_number_id)
            .field("has_access_token", &self.access_token.is_some())
            .finish()
    }
}

fn system_context(workspace_id: WorkspaceId, actor: Actor, correlation_id: &str) -> RequestContext {
    RequestContext {
        workspace_id,
        actor,
        correlation_id: correlation_id.to_string(),
    }
}

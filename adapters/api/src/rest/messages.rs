//! `/api/v2/external/messages/*` and `/api/v2/external/conversations/*` exactly as seed 000
//! describes them, plus `send-template` and `send-interactive` in the same style.

use crate::extract::{parse_id, Body, Caller, Params, PathParam};
use crate::state::AppState;
use crate::surface::{respond, ApiError, ExternalV2};
use application::{Freshness, OutboundMessage, PhoneNumberRef, QueuedMessage, RequestContext};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Utc;
use domain::conversation::{AiAgentChangedBy, LeadFields, MessageId, OutboundContent};
use domain::WorkspaceId;
use projections::conversations::{
    self as read, ConversationFilter, ConversationPageStart, ConversationView,
};
use projections::messages::{self, MessageOrder, MessagePageStart, MessageView};
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

type Error = ApiError<ExternalV2>;

/// Seed 000's page size bounds.
const DEFAULT_LIMIT: i64 = 20;
const MAX_LIMIT: i64 = 100;

/// The conversation as seed 000's send response nests it (snake_case AI-agent and lead fields).
fn conversation_details(view: &ConversationView) -> Value {
    let lead = &view.lead_qualification;
    let fields = &lead.fields;
    let raw =
        fields.raw_data.is_some() || fields.processed_data.is_some() || fields.source_api.is_some();
    json!({
        "id": view.id,
        "is_ai_agent_on": view.ai_agent.is_ai_agent_on,
        "ai_agent_enabled_at": view.ai_agent.ai_agent_enabled_at,
        "ai_agent_enabled_by": view.ai_agent.ai_agent_enabled_by,
        "ai_agent_last_toggled_at": view.ai_agent.ai_agent_last_toggled_at,
        "lead_status": fields.lead_status,
        "lead_score": fields.lead_score,
        "lead_company": fields.lead_company,
        "lead_notes": fields.lead_notes,
        "lead_name": fields.lead_name,
        "lead_source": fields.lead_source,
        "lead_budget": fields.lead_budget,
        "lead_timeline": fields.lead_timeline,
        "lead_industry": fields.lead_industry,
        "lead_job_title": fields.lead_job_title,
        "lead_location": fields.lead_location,
        "lead_qualification_date": fields.lead_qualification_date,
        "lead_last_updated": lead.lead_last_updated,
        "leadQualification": raw.then(|| json!({
            "raw_data": fields.raw_data,
            "processed_data": fields.processed_data,
            "source_api": fields.source_api,
            "stored_at": lead.raw_data_stored_at,
        })),
    })
}

/// Seed 000's `ExternalConversation`.
fn external_conversation(view: &ConversationView) -> Value {
    let preview = view.last_message_preview.clone().or_else(|| {
        view.last_message_kind
            .as_ref()
            .map(|kind| format!("[{kind}]"))
    });
    json!({
        "id": view.id,
        "customerPhone": format!("+{}", view.customer_wa_id),
        "customerName": view.contact_name.clone().or_else(|| view.customer_profile_name.clone()),
        "lastMessageAt": view.last_message_at,
        "lastMessagePreview": preview,
        "unreadCount": view.unread_count,
        "phoneNumber": view.business_phone_number,
        "is_ai_agent_on": view.ai_agent.is_ai_agent_on,
        "ai_agent_enabled_at": view.ai_agent.ai_agent_enabled_at,
        "ai_agent_enabled_by": view.ai_agent.ai_agent_enabled_by,
        "ai_agent_last_toggled_at": view.ai_agent.ai_agent_last_toggled_at,
    })
}

/// Seed 000's `ExternalMessage`.
fn external_message(view: &MessageView) -> Value {
    let content = view
        .text
        .clone()
        .unwrap_or_else(|| format!("[{}]", view.kind));
    json!({
        "id": view.message_id,
        "conversationId": view.conversation_id,
        "direction": match view.direction {
            domain::conversation::Direction::Inbound => "inbound",
            domain::conversation::Direction::Outbound => "outbound",
        },
        "content": content,
        "messageType": view.kind,
        // The spec's four words, plus `queued` (before Meta accepted it) and `received` (inbound).
        "status": view.status.as_str(),
        "timestamp": view.created_at,
        "whatsappMessageId": view.wamid,
    })
}

/// Seed 000's `lead_qualification` object on sends (a subset of the lead fields).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendLeadQualification {
    lead_status: Option<String>,
    lead_score: Option<f64>,
    lead_company: Option<String>,
}

impl SendLeadQualification {
    fn into_fields(self) -> Result<LeadFields, Error> {
        leads_from_json(json!({
            "lead_status": self.lead_status,
            "lead_score": self.lead_score,
            "lead_company": self.lead_company,
        }))
    }
}

/// Lead fields from seed 000's JSON (nulls dropped), validated by the domain's own types.
fn leads_from_json(value: Value) -> Result<LeadFields, Error> {
    let mut value = value;
    if let Value::Object(fields) = &mut value {
        fields.retain(|_, v| !v.is_null());
        // A whole-number float (85.0) is a score; a fraction is refused by the type below.
        if let Some(score) = fields.get("lead_score").and_then(Value::as_f64) {
            if score.fract() == 0.0 && (0.0..=255.0).contains(&score) {
                fields.insert("lead_score".into(), json!(score as u64));
            }
        }
    }
    serde_json::from_value(value)
        .map_err(|e| ApiError::validation(format!("Invalid lead qualification: {e}")))
}

/// The body of every send endpoint: the recipient part they share, and the content fields of
/// which each endpoint takes its own (the others are refused as unknown).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SendRequest {
    phone_number_id: String,
    to: String,
    reply_to_message_id: Option<String>,
    #[serde(rename = "ai_agent_enabled")]
    ai_agent_enabled: Option<bool>,
    #[serde(rename = "lead_qualification")]
    lead_qualification: Option<SendLeadQualification>,
    /// `send`: the text.
    message: Option<String>,
    /// `send-media`: an uploaded file, its kind, caption and file name.
    media_id: Option<String>,
    media_type: Option<String>,
    caption: Option<String>,
    filename: Option<String>,
    /// `send-template`: Meta's template object.
    template: Option<Value>,
    /// `send-interactive`: Meta's interactive object.
    interactive: Option<Value>,
}

impl SendRequest {
    /// Refuses the content fields of other endpoints (`allowed` are this one's).
    fn only(&self, allowed: &[&str]) -> Result<(), Error> {
        let given = [
            ("message", self.message.is_some()),
            ("mediaId", self.media_id.is_some()),
            ("mediaType", self.media_type.is_some()),
            ("caption", self.caption.is_some()),
            ("filename", self.filename.is_some()),
            ("template", self.template.is_some()),
            ("interactive", self.interactive.is_some()),
        ];
        match given
            .iter()
            .find(|(name, present)| *present && !allowed.contains(name))
        {
            Some((name, _)) => Err(ApiError::validation(format!(
                "Invalid request body: unknown field `{name}` for this endpoint"
            ))),
            None => Ok(()),
        }
    }
}

/// A required content field.
fn required<T>(field: Option<T>, name: &str) -> Result<T, Error> {
    field.ok_or_else(|| {
        ApiError::validation(format!("Invalid request body: missing field `{name}`"))
    })
}

fn content_from(value: Value) -> Result<OutboundContent, Error> {
    serde_json::from_value(value).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_CONTENT",
            format!("Invalid message content: {e}"),
        )
    })
}

/// `POST /api/v2/external/messages/send`: a text message.
pub async fn send_text(
    State(state): State<AppState>,
    Caller(caller, ..): Caller<ExternalV2>,
    Body(mut body, ..): Body<ExternalV2, SendRequest>,
) -> Result<Response, Error> {
    body.only(&["message"])?;
    let text = required(body.message.take(), "message")?;
    let content = content_from(json!({"type": "text", "text": {"body": text}}))?;
    send(&state, &caller, body, content).await
}

/// `POST /api/v2/external/messages/send-media`: an uploaded media file.
pub async fn send_media(
    State(state): State<AppState>,
    Caller(caller, ..): Caller<ExternalV2>,
    Body(mut body, ..): Body<ExternalV2, SendRequest>,
) -> Result<Response, Error> {
    body.only(&["mediaId", "mediaType", "caption", "filename"])?;
    let media_id = required(body.media_id.take(), "mediaId")?;
    let media_type = required(body.media_type.take(), "mediaType")?;
    if !["image", "document", "audio", "video"].contains(&media_type.as_str()) {
        return Err(ApiError::validation(
            "mediaType must be one of image, document, audio, video",
        ));
    }
    let meta_media_id = crate::rest::media::meta_media_id(&state, &caller, &media_id)
        .await?
        .ok_or_else(|| ApiError::not_found("Media"))?;
    let mut media = json!({ "id": meta_media_id });
    if let Some(caption) = body.caption.take() {
        media["caption"] = json!(caption);
    }
    if let Some(filename) = body.filename.take() {
        media["filename"] = json!(filename);
    }
    let content = content_from(json!({ "type": media_type, media_type.clone(): media }))?;
    send(&state, &caller, body, content).await
}

/// `POST /api/v2/external/messages/send-template`: a template, as in Meta's send body.
pub async fn send_template(
    State(state): State<AppState>,
    Caller(caller, ..): Caller<ExternalV2>,
    Body(mut body, ..): Body<ExternalV2, SendRequest>,
) -> Result<Response, Error> {
    body.only(&["template"])?;
    let template = required(body.template.take(), "template")?;
    let content = content_from(json!({"type": "template", "template": template}))?;
    send(&state, &caller, body, content).await
}

/// `POST /api/v2/external/messages/send-interactive`: buttons or a list, as in Meta's send body.
pub async fn send_interactive(
    State(state): State<AppState>,
    Caller(caller, ..): Caller<ExternalV2>,
    Body(mut body, ..): Body<ExternalV2, SendRequest>,
) -> Result<Response, Error> {
    body.only(&["interactive"])?;
    let interactive = required(body.interactive.take(), "interactive")?;
    let content = content_from(json!({"type": "interactive", "interactive": interactive}))?;
    send(&state, &caller, body, content).await
}

/// A `phoneNumberId` in the body that names no number of the workspace is bad input (400, as
/// seed 000 documents for sends), not a missing resource of the path (404).
fn unknown_sender_is_bad_input(error: application::AppError) -> Error {
    match error {
        application::AppError::NotFound("phone number") => {
            ApiError::validation("phoneNumberId: no phone number of this workspace has this id")
        }
        other => other.into(),
    }
}

/// Queues the message, applies the optional AI-agent override and lead data to its
/// conversation, and answers seed 000's `ExternalSendMessageResponse`.
async fn send(
    state: &AppState,
    caller: &RequestContext,
    recipient: SendRequest,
    content: OutboundContent,
) -> Result<Response, Error> {
    let reply_to = match recipient.reply_to_message_id.as_deref() {
        Some(raw) => Some(MessageId(Uuid::parse_str(raw.trim()).map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "UNKNOWN_REPLY_TARGET",
                format!("replyToMessageId '{raw}' is not a message of this conversation"),
            )
        })?)),
        None => None,
    };
    let lead = recipient
        .lead_qualification
        .map(SendLeadQualification::into_fields)
        .transpose()?;
    let queued: QueuedMessage = state
        .app
        .send_message(
            caller,
            OutboundMessage {
                phone_number: PhoneNumberRef::parse(&recipient.phone_number_id),
                to: recipient.to,
                content,
                reply_to,
            },
        )
        .await
        .map_err(unknown_sender_is_bad_input)?;
    let mut freshness = queued.freshness;
    if let Some(enabled) = recipient.ai_agent_enabled {
        let applied = state
            .app
            .set_ai_agent(
                caller,
                queued.conversation_id,
                enabled,
                AiAgentChangedBy::Api,
                None,
            )
            .await?;
        freshness = worst(freshness, applied);
    }
    if let Some(fields) = lead.filter(|f| !f.is_empty()) {
        let applied = state
            .app
            .update_lead_qualification(caller, queued.conversation_id, fields)
            .await?;
        freshness = worst(freshness, applied);
    }
    let client = state.queries.get().await?;
    let conversation =
        read::get_conversation(&**client, caller.workspace_id, queued.conversation_id).await?;
    let message =
        messages::get_message(&**client, caller.workspace_id, queued.message_id.0).await?;
    let data = json!({
        "messageId": queued.message_id.0,
        "whatsappMessageId": message.as_ref().and_then(|m| m.message.wamid.clone()),
        "status": message
            .as_ref()
            .map(|m| m.message.status.as_str())
            .unwrap_or("queued"),
        "timestamp": queued.queued_at,
        "conversationId": queued.conversation_id,
        "to": format!("+{}", queued.customer_wa_id),
        "from": conversation.as_ref().and_then(|c| c.business_phone_number.clone()),
        "aiAgentOverride": recipient.ai_agent_enabled.is_some(),
        "conversation": conversation.as_ref().map(conversation_details),
    });
    Ok(respond(
        StatusCode::OK,
        json!({ "success": true, "data": data }),
        freshness,
    ))
}

fn worst(a: Freshness, b: Freshness) -> Freshness {
    if a == Freshness::Stale || b == Freshness::Stale {
        Freshness::Stale
    } else {
        Freshness::Fresh
    }
}

/// `GET /api/v2/external/messages/{messageId}/status`
pub async fn status(
    State(state): State<AppState>,
    Caller(caller, ..): Caller<ExternalV2>,
    id: PathParam<ExternalV2>,
) -> Result<Response, Error> {
    let raw = id.0.as_deref().unwrap_or_default();
    let id = Uuid::parse_str(raw.trim())
        .map_err(|_| ApiError::validation(format!("'{raw}' is not a message id")))?;
    let client = state.queries.get().await?;
    let detail = messages::get_message(&**client, caller.workspace_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Message"))?;
    let message = &detail.message;
    Ok(respond(
        StatusCode::OK,
        json!({ "success": true, "data": {
            "messageId": message.message_id,
            "whatsappMessageId": message.wamid,
            "status": message.status.as_str(),
            "timestamp": message.status_at(),
            "error": message.failure.as_ref().map(|f| json!({
                "code": f.code, "title": f.title, "details": f.details,
            })),
        }}),
        Freshness::Fresh,
    ))
}

/// Query of the two paged lists. Unknown parameters are ignored (cache busters and the like;
/// seed 000 documents no 400 for these lists).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PageQuery {
    page: Option<i64>,
    limit: Option<i64>,
    phone_number_id: Option<String>,
}

fn page_and_limit(query: &PageQuery) -> Result<(i64, i64), Error> {
    let page = query.page.unwrap_or(1);
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if page < 1 {
        return Err(ApiError::validation("page must be 1 or more"));
    }
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::validation(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        )));
    }
    Ok((page, limit))
}

fn page_meta(page: i64, limit: i64, total: i64) -> Value {
    json!({
        "page": page,
        "limit": limit,
        "total": total,
        "totalPages": (total + limit - 1) / limit,
    })
}

/// `GET /api/v2/external/conversations`: most recent first.
pub async fn list_conversations(
    State(state): State<AppState>,
    Caller(caller, ..): Caller<ExternalV2>,
    Params(query, ..): Params<ExternalV2, PageQuery>,
) -> Result<Response, Error> {
    let (page, limit) = page_and_limit(&query)?;
    let filter = ConversationFilter {
        // An unknown number simply matches nothing.
        phone_number_id: query
            .phone_number_id
            .as_deref()
            .map(|raw| PhoneNumberRef::parse(raw).id()),
        ..Default::default()
    };
    let client = state.queries.get().await?;
    let found = read::list_conversations(
        &**client,
        caller.workspace_id,
        &filter,
        &ConversationPageStart::Skip((page - 1).saturating_mul(limit)),
        limit,
    )
    .await?;
    let data: Vec<Value> = found
        .conversations
        .iter()
        .map(external_conversation)
        .collect();
    Ok(respond(
        StatusCode::OK,
        json!({ "success": true, "data": data, "meta": page_meta(page, limit, found.total) }),
        Freshness::Fresh,
    ))
}

/// The workspace's conversation with this path id, or 404.
async fn conversation(
    state: &AppState,
    workspace: WorkspaceId,
    id: &PathParam<ExternalV2>,
) -> Result<ConversationView, Error> {
    let id = parse_id::<ExternalV2>(id.0.as_deref().unwrap_or_default(), "Conversation")?;
    let client = state.queries.get().await?;
    read::get_conversation(&**client, workspace, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Conversation"))
}

/// `GET /api/v2/external/conversations/{conversationId}/messages`: newest first.
pub async fn list_messages(
    State(state): State<AppState>,
    Caller(caller, ..): Caller<ExternalV2>,
    id: PathParam<ExternalV2>,
    Params(query, ..): Params<ExternalV2, PageQuery>,
) -> Result<Response, Error> {
    let (page, limit) = page_and_limit(&query)?;
    if query.phone_number_id.is_some() {
        return Err(ApiError::validation(
            "Unknown query parameter phoneNumberId",
        ));
    }
    let conversation = conversation(&state, caller.workspace_id, &id).await?;
    let client = state.queries.get().await?;
    let found = messages::list_messages(
        &**client,
        caller.workspace_id,
        conversation.id,
        MessageOrder::NewestFirst,
        &MessagePageStart::Skip((page - 1).saturating_mul(limit)),
        limit,
    )
    .await?
    .ok_or_else(|| ApiError::not_found("Conversation"))?;
    let data: Vec<Value> = found.messages.iter().map(external_message).collect();
    Ok(respond(
        StatusCode::OK,
        json!({ "success": true, "data": data, "meta": page_meta(page, limit, found.total) }),
        Freshness::Fresh,
    ))
}

fn ai_agent_status(view: &ConversationView) -> Value {
    json!({
        "conversationId": view.id,
        "is_ai_agent_on": view.ai_agent.is_ai_agent_on,
        "ai_agent_enabled_at": view.ai_agent.ai_agent_enabled_at,
        "ai_agent_enabled_by": view.ai_agent.ai_agent_enabled_by,
        "ai_agent_last_toggled_at": view.ai_agent.ai_agent_last_toggled_at,
    })
}

/// `GET /api/v2/external/conversations/{conversationId}/ai-agent`
pub async fn get_ai_agent(
    State(state): State<AppState>,
    Caller(caller, ..): Caller<ExternalV2>,
    id: PathParam<ExternalV2>,
) -> Result<Response, Error> {
    let view = conversation(&state, caller.workspace_id, &id).await?;
    Ok(respond(
        StatusCode::OK,
        json!({ "success": true, "data": ai_agent_status(&view) }),
        Freshness::Fresh,
    ))
}

/// Body of `PATCH …/ai-agent` (seed 000's `AIAgentToggleRequest`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToggleAiAgent {
    enabled: bool,
    reason: Option<String>,
}

/// `PATCH /api/v2/external/conversations/{conversationId}/ai-agent`
pub async fn toggle_ai_agent(
    State(state): State<AppState>,
    Caller(caller, ..): Caller<ExternalV2>,
    id: PathParam<ExternalV2>,
    Body(body, ..): Body<ExternalV2, ToggleAiAgent>,
) -> Result<Response, Error> {
    let before = conversation(&state, caller.workspace_id, &id).await?;
    let freshness = state
        .app
        .set_ai_agent(
            &caller,
            before.id,
            body.enabled,
            AiAgentChangedBy::Api,
            body.reason,
        )
        .await?;
    let after = conversation(&state, caller.workspace_id, &id).await?;
    Ok(respond(
        StatusCode::OK,
        json!({ "success": true, "data": {
            "conversationId": after.id,
            "previousStatus": before.ai_agent.is_ai_agent_on,
            "newStatus": after.ai_agent.is_ai_agent_on,
            "enabledBy": "api",
            "toggledAt": after.ai_agent.ai_agent_last_toggled_at.unwrap_or_else(Utc::now),
        }}),
        freshness,
    ))
}

/// `PATCH /api/v2/external/conversations/{conversationId}/lead-qualification`
pub async fn update_lead_qualification(
    State(state): State<AppState>,
    Caller(caller, ..): Caller<ExternalV2>,
    id: PathParam<ExternalV2>,
    Body(body, ..): Body<ExternalV2, Value>,
) -> Result<Response, Error> {
    if !body.is_object() {
        return Err(ApiError::validation(
            "The body must be a JSON object of lead fields",
        ));
    }
    let fields = leads_from_json(body)?;
    if fields.is_empty() {
        return Err(ApiError::validation("Give at least one lead field"));
    }
    let view = conversation(&state, caller.workspace_id, &id).await?;
    let freshness = state
        .app
        .update_lead_qualification(&caller, view.id, fields)
        .await?;
    let after = conversation(&state, caller.workspace_id, &id).await?;
    Ok(respond(
        StatusCode::OK,
        json!({
            "success": true,
            "data": {
                "conversation": conversation_details(&after),
                "updatedAt": after.lead_qualification.lead_last_updated,
            },
            "message": "Lead qualification updated successfully",
        }),
        freshness,
    ))
}

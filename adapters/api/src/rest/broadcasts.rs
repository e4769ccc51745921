//! `/v1/whatsapp/broadcasts…` and `/v1/whatsapp/bulk`: the broadcasts and bulk-send API of
//! seed 001, wire-compatible, plus pause, resume, cancel and "retry the failed" in the same style.
//! `accountId` is our phone-number id and must belong to the caller's workspace.

use crate::extract::{path_id, Body, Caller, Params, PathParam};
use crate::rest::contacts::{account_error, account_id};
use crate::state::AppState;
use crate::surface::{respond, ApiError, WhatsAppV1};
use application::{BroadcastInput, Freshness, PhoneNumberRef};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use domain::broadcast::{
    BroadcastCommand, BroadcastRecipient, BroadcastStatus, BroadcastTemplate, PauseReason,
    StartTrigger, MAX_RECIPIENTS_PER_ADD,
};
use domain::{WorkspaceId, E164};
use projections::broadcasts::{self, BroadcastView, RecipientView};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use uuid::Uuid;

type Error = ApiError<WhatsAppV1>;

const DEFAULT_LIMIT: i64 = 50;
const DEFAULT_RECIPIENT_LIMIT: i64 = 100;
const MAX_LIMIT: i64 = 1000;
/// Most recipients one bulk request may name (seed 001).
pub const MAX_BULK_RECIPIENTS: usize = 100;

/// A broadcast in the seed's shape, with Parley's extra fields (`accountId`, `pendingCount`,
/// `skippedCount`, `pauseReason`, `startRefusal`). Counts are a funnel: a read message counts as sent and
/// delivered too.
pub fn broadcast_json(view: &BroadcastView) -> Value {
    let sent = view.sent_count + view.delivered_count + view.read_count;
    json!({
        "id": view.broadcast_id,
        "accountId": view.phone_number_id,
        "name": view.name,
        "description": view.description,
        "template": view.template,
        "status": view.status,
        "recipientCount": view.recipient_count,
        "scheduledAt": view.scheduled_at,
        "startedAt": view.started_at,
        "completedAt": view.completed_at,
        "sentCount": sent,
        "deliveredCount": view.delivered_count + view.read_count,
        "readCount": view.read_count,
        "failedCount": view.failed_count,
        "pendingCount": view.pending_count,
        "skippedCount": view.skipped_count,
        "pauseReason": view.pause_reason,
        "startRefusal": view.start_refusal,
        "createdAt": view.created_at,
        "updatedAt": view.updated_at,
    })
}

fn recipient_json(view: &RecipientView) -> Value {
    json!({
        "phone": view.phone,
        "name": view.name,
        "variables": view.variables,
        "status": view.status,
        "messageId": view.message_id,
        "error": view.error,
        "sentAt": view.sent_at,
        "deliveredAt": view.delivered_at,
        "readAt": view.read_at,
    })
}

async fn broadcast_view(
    state: &AppState,
    workspace: WorkspaceId,
    id: Uuid,
) -> Result<BroadcastView, Error> {
    let client = state.queries.get().await?;
    broadcasts::get_broadcast(&**client, workspace, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Broadcast"))
}

fn page(limit: Option<i64>, skip: Option<i64>, default: i64) -> Result<(i64, i64), Error> {
    let limit = limit.unwrap_or(default);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::validation(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        )));
    }
    let skip = skip.unwrap_or(0);
    if skip < 0 {
        return Err(ApiError::validation("skip must not be negative"));
    }
    Ok((limit, skip))
}

/// A recipient as the seed sends it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RecipientInput {
    phone: String,
    name: Option<String>,
    #[serde(default)]
    variables: BTreeMap<String, String>,
}

fn recipients_from(input: Vec<RecipientInput>) -> Result<Vec<BroadcastRecipient>, Error> {
    input
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            let phone = E164::parse(r.phone.trim()).map_err(|e| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "INVALID_PHONE_NUMBER",
                    format!("recipients[{i}].phone: {e}"),
                )
            })?;
            Ok(BroadcastRecipient {
                phone,
                name: r.name,
                variables: r.variables,
            })
        })
        .collect()
}

/// The template part of a broadcast or bulk request.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TemplateInput {
    name: String,
    language: String,
    #[serde(default)]
    components: Vec<Value>,
}

impl From<TemplateInput> for BroadcastTemplate {
    fn from(t: TemplateInput) -> Self {
        BroadcastTemplate {
            name: t.name,
            language: t.language,
            components: t.components,
        }
    }
}

/// Query of `GET /v1/whatsapp/broadcasts`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListQuery {
    account_id: Option<String>,
    status: Option<String>,
    limit: Option<i64>,
    skip: Option<i64>,
}

/// `GET /v1/whatsapp/broadcasts`: newest first, without recipients.
pub async fn list(
    State(state): State<AppState>,
    Caller(caller, ..): Caller<WhatsAppV1>,
    Params(query, ..): Params<WhatsAppV1, ListQuery>,
) -> Result<Response, Error> {
    let account = account_id(query.account_id.as_deref().unwrap_or_default())?;
    let status = match query.status.as_deref() {
        None | Some("") => None,
        Some(raw) => Some(
            raw.parse::<BroadcastStatus>()
                .map_err(|e| ApiError::validation(format!("status: {e}")))?,
        ),
    };
    let (limit, skip) = page(query.limit, query.skip, DEFAULT_LIMIT)?;
    state.app.ensure_account(&caller, account).await?;
    let client = state.queries.get().await?;
    let (views, total) = broadcasts::list_broadcasts(
        &**client,
        caller.workspace_id,
        Some(account),
        status.map(BroadcastStatus::as_str),
        limit,
        skip,
    )
    .await?;
    let listed: Vec<Value> = views.iter().map(broadcast_json).collect();
    let has_more = skip + (listed.len() as i64) < total;
    Ok(respond(
        StatusCode::OK,
        json!({
            "success": true,
            "broadcasts": listed,
            "pagination": { "total": total, "limit": limit, "skip": skip, "hasMore": has_more },
        }),
        Freshness::Fresh,
    ))
}

/// Body of `POST /v1/whatsapp/broadcasts`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateRequest {
    account_id: String,
    name: String,
    description: Option<String>,
    template: TemplateInput,
    #[serde(default)]
    recipients: Vec<RecipientInput>,
}

/// `POST /v1/whatsapp/broadcasts`: a draft, with its first recipients if given.
pub async fn create(
    State(state): State<AppState>,
    Caller(caller, ..): Caller<WhatsAppV1>,
    Body(body, ..): Body<WhatsAppV1, CreateRequest>,
) -> Result<Response, Error> {
    let account = account_id(&body.account_id)?;
    let recipients = recipients_from(body.recipients)?;
    let changed = state
        .app
        .create_broadcast(
            &caller,
            BroadcastInput {
                phone_number: PhoneNumberRef::Id(account),
                name: body.name,
                description: body.description,
                template: body.template.into(),
                recipients,
            },
        )
        .await
        .map_err(account_error)?;
    let view = broadcast_view(&state, caller.workspace_id, changed.broadcast_id).await;
    let broadcast = match view {
        Ok(view) => broadcast_json(&view),
        // The read model lags (the answer says so): answer from the aggregate.
        Err(_) => json!({
            "id": changed.broadcast_id,
            "accountId": changed.state.phone_number_id,
            "name": changed.state.name,
            "description": changed.state.description,
            "template": changed.state.template,
            "status": changed.state.status,
            "recipientCount": changed.state.recipient_count(),
            "createdAt": changed.state.created_at,
        }),
    };
    Ok(respond(
        StatusCode::OK,
        json!({ "success": true, "broadcast": broadcast }),
        changed.freshness,
    ))
}

/// `GET /v1/whatsapp/broadcasts/{broadcastId}`
pub async fn get(
    State(state): State<AppState>,
    Caller(caller, ..): Caller<WhatsAppV1>,
    id: PathParam<WhatsAppV1>,
) -> Result<Response, Error> {
    let id = path_id(&id, "Broadcast")?;
    let view = broadcast_view(&state, caller.workspace_id, id).await?;
    Ok(respond(
        StatusCode::OK,
        json!({ "success": true, "broadcast": broadcast_json(&view) }),
        Freshness::Fresh,
    ))
}

/// `DELETE /v1/whatsapp/broadcasts/{broadcastId}`: drafts and cancelled broadcasts only.
pub async fn delete(
    State(state): State<AppState>,
    Caller(caller, ..): Caller<WhatsAppV1>,
    id: PathParam<WhatsAppV1>,
) -> Result<Response, Error> {
    let id = path_id(&id, "Broadcast")?;
    let freshness = state
        .app
        .change_broadcast(&caller, id, BroadcastCommand::Delete)
        .await?;
    Ok(respond(
        StatusCode::OK,
        json!({ "success": true, "message": "Broadcast deleted successfully" }),
        freshness,
    ))
}

/// `POST /v1/whatsapp/broadcasts/{broadcastId}/send`: starts sending and answers at once with
/// the counts at that moment (sending goes on through the outbox).
pub async fn send(
    State(state): State<AppState>,
    Caller(caller, ..): Caller<WhatsAppV1>,
    id: PathParam<WhatsAppV1>,
) -> Result<Response, Error> {
    let id = path_id(&id, "Broadcast")?;
    let started = state
        .app
        .start_broadcast(&caller, id, StartTrigger::Manual)
        .await?;
    let view = broadcast_view(&state, caller.workspace_id, id).await?;
    let json = broadcast_json(&view);
    Ok(respond(
        StatusCode::OK,
        json!({
            "success": true,
            "status": view.status,
            "sent": json["sentCount"],
            "failed": view.failed_count,
            "skipped": started.skipped.len(),
            "total": view.recipient_count,
        }),
        started.freshness,
    ))
}

/// Body of `POST /v1/whatsapp/broadcasts/{broadcastId}/schedule`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleRequest {
    scheduled_at: String,
}

/// `POST /v1/whatsapp/broadcasts/{broadcastId}/schedule`
pub async fn schedule(
    State(state): State<AppState>,
    Caller(caller, ..): Caller<WhatsAppV1>,
    id: PathParam<WhatsAppV1>,
    Body(body, ..): Body<WhatsAppV1, ScheduleRequest>,
) -> Result<Response, Error> {
    let id = path_id(&id, "Broadcast")?;
    let scheduled_at = DateTime::parse_from_rfc3339(body.scheduled_at.trim())
        .map_err(|_| ApiError::validation("scheduledAt must be an ISO 8601 date-time"))?
        .with_timezone(&Utc);
    let changed = state
        .app
        .schedule_broadcast(&caller, id, scheduled_at)
        .await?;
    Ok(respond(
        StatusCode::OK,
        json!({
            "success": true,
            "broadcast": {
                "id": id,
                "status": changed.state.status,
                "scheduledAt": changed.state.scheduled_at,
            },
        }),
        changed.freshness,
    ))
}

/// `DELETE /v1/whatsapp/broadcasts/{broadcastId}/schedule`: back to draft.
pub async fn cancel_schedule(
    State(state): State<AppState>,
    Caller(caller, ..): Caller<WhatsAppV1>,
    id: PathParam<WhatsAppV1>,
) -> Result<Response, Error> {
    let id = path_id(&id, "Broadcast")?;
    let freshness = state
        .app
        .change_broadcast(&caller, id, BroadcastCommand::CancelSchedule)
        .await?;
    Ok(respond(
        StatusCode::OK,
        json!({
            "success": true,
            "broadcast": { "id": id, "status": "draft" },
            "message": "Broadcast returned to draft status",
        }),
        freshness,
    ))
}

/// `POST /v1/whatsapp/broadcasts/{broadcastId}/{pause|resume|cancel}`.
async fn lifecycle(
    state: AppState,
    caller: application::RequestContext,
    id: PathParam<WhatsAppV1>,
    command: BroadcastCommand,
) -> Result<Response, Error> {
    let id = path_id(&id, "Broadcast")?;
    let freshness = state.app.change_broadcast(&caller, id, command).await?;
    let view = broadcast_view(&state, caller.workspace_id, id).await?;
    Ok(respond(
        StatusCode::OK,
        json!({ "success": true, "broadcast": broadcast_json(&view) }),
        freshness,
    ))
}

/// `POST /v1/whatsapp/broadcasts/{broadcastId}/pause`: stops sending; already claimed sends go.
pub async fn pause(
    State(state): State<AppState>,
    Caller(caller, ..): Caller<WhatsAppV1>,
    id: PathParam<WhatsAppV1>,
) -> Result<Response, Error> {
    lifecycle(
        state,
        caller,
        id,
        BroadcastCommand::Pause(PauseReason::Manual),
    )
    .await
}

/// `POST /v1/whatsapp/broadcasts/{broadcastId}/resume`
pub async fn resume(
    State(state): State<AppState>,
    Caller(caller, ..): Caller<WhatsAppV1>,
    id: PathParam<WhatsAppV1>,
) -> Result<Response, Error> {
    lifecycle(state, caller, id, BroadcastCommand::Resume).await
}

/// `POST /v1/whatsapp/broadcasts/{broadcastId}/cancel`: stops a scheduled, sending or paused
/// broadcast for good (it can then be deleted).
pub async fn cancel(
    State(state): State<AppState>,
    Caller(caller, ..): Caller<WhatsAppV1>,
    id: PathParam<WhatsAppV1>,
) -> Result<Response, Error> {
    lifecycle(state, caller, id, BroadcastCommand::Cancel).await
}

/// `POST /v1/whatsapp/broadcasts/{broadcastId}/retry-failed`: a new message to every recipient
/// whose message failed.
pub async fn retry_failed(
    State(state): State<AppState>,
    Caller(caller, ..): Caller<WhatsAppV1>,
    id: PathParam<WhatsAppV1>,
) -> Result<Response, Error> {
    let id = path_id(&id, "Broadcast")?;
    let (retried, freshness) = state
        .app
        .retry_failed_broadcast_recipients(&caller, id)
        .await?;
    let view = broadcast_view(&state, caller.workspace_id, id).await?;
    Ok(respond(
        StatusCode::OK,
        json!({ "success": true, "retried": retried, "broadcast": broadcast_json(&view) }),
        freshness,
    ))
}

/// Query of `GET /v1/whatsapp/broadcasts/{broadcastId}/recipients`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecipientsQuery {
    status: Option<String>,
    limit: Option<i64>,
    skip: Option<i64>,
}

const RECIPIENT_STATUSES: [&str; 6] = ["pending", "sent", "delivered", "read", "failed", "skipped"];

/// `GET /v1/whatsapp/broadcasts/{broadcastId}/recipients`
pub async fn recipients(
    State(state): State<AppState>,
    Caller(caller, ..): Caller<WhatsAppV1>,
    id: PathParam<WhatsAppV1>,
    Params(query, ..): Params<WhatsAppV1, RecipientsQuery>,
) -> Result<Response, Error> {
    let id = path_id(&id, "Broadcast")?;
    let status = match query.status.as_deref() {
        None | Some("") => None,
        Some(s) if RECIPIENT_STATUSES.contains(&s) => Some(s),
        Some(other) => {
            return Err(ApiError::validation(format!(
                "status must be one of {}, not '{other}'",
                RECIPIENT_STATUSES.join(", ")
            )))
        }
    };
    let (limit, skip) = page(query.limit, query.skip, DEFAULT_RECIPIENT_LIMIT)?;
    let view = broadcast_view(&state, caller.workspace_id, id).await?;
    let client = state.queries.get().await?;
    let (rows, total) =
        broadcasts::list_recipients(&**client, caller.workspace_id, id, status, limit, skip)
            .await?;
    let listed: Vec<Value> = rows.iter().map(recipient_json).collect();
    let has_more = skip + (listed.len() as i64) < total;
    Ok(respond(
        StatusCode::OK,
        json!({
            "success": true,
            "recipients": listed,
            "pagination": { "total": total, "limit": limit, "skip": skip, "hasMore": has_more },
            "summary": {
                "total": view.recipient_count,
                "pending": view.pending_count,
                "sent": view.sent_count,
                "delivered": view.delivered_count,
                "read": view.read_count,
                "failed": view.failed_count,
                "skipped": view.skipped_count,
            },
        }),
        Freshness::Fresh,
    ))
}

/// Body of `PATCH /v1/whatsapp/broadcasts/{broadcastId}/recipients`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddRecipientsRequest {
    recipients: Vec<RecipientInput>,
}

/// `PATCH /v1/whatsapp/broadcasts/{broadcastId}/recipients`: up to 1000 per call.
pub async fn add_recipients(
    State(state): State<AppState>,
    Caller(caller, ..): Caller<WhatsAppV1>,
    id: PathParam<WhatsAppV1>,
    Body(body, ..): Body<WhatsAppV1, AddRecipientsRequest>,
) -> Result<Response, Error> {
    let id = path_id(&id, "Broadcast")?;
    if body.recipients.is_empty() {
        return Err(ApiError::validation("recipients must not be empty"));
    }
    if body.recipients.len() > MAX_RECIPIENTS_PER_ADD {
        return Err(ApiError::validation(format!(
            "at most {MAX_RECIPIENTS_PER_ADD} recipients per request"
        )));
    }
    let recipients = recipients_from(body.recipients)?;
    let (added, freshness) = state
        .app
        .add_broadcast_recipients(&caller, id, recipients)
        .await?;
    Ok(respond(
        StatusCode::OK,
        json!({
            "success": true,
            "added": added.added,
            "duplicates": added.duplicates,
            "totalRecipients": added.total,
        }),
        freshness,
    ))
}

/// Body of `DELETE /v1/whatsapp/broadcasts/{broadcastId}/recipients`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoveRecipientsRequest {
    phones: Vec<String>,
}

/// `DELETE /v1/whatsapp/broadcasts/{broadcastId}/recipients`
pub async fn remove_recipients(
    State(state): State<AppState>,
    Caller(caller, ..): Caller<WhatsAppV1>,
    id: PathParam<WhatsAppV1>,
    Body(body, ..): Body<WhatsAppV1, RemoveRecipientsRequest>,
) -> Result<Response, Error> {
    let id = path_id(&id, "Broadcast")?;
    if body.phones.is_empty() {
        return Err(ApiError::validation("phones must not be empty"));
    }
    let phones = body
        .phones
        .iter()
        .enumerate()
        .map(|(i, p)| {
            E164::parse(p.trim()).map_err(|e| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "INVALID_PHONE_NUMBER",
                    format!("phones[{i}]: {e}"),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let (removed, freshness) = state
        .app
        .remove_broadcast_recipients(&caller, id, phones)
        .await?;
    Ok(respond(
        StatusCode::OK,
        json!({
            "success": true,
            "removed": removed.removed,
            "totalRecipients": removed.total,
        }),
        freshness,
    ))
}

/// Body of `POST /v1/whatsapp/bulk`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkRequest {
    account_id: String,
    recipients: Vec<RecipientInput>,
    template: TemplateInput,
}

/// `POST /v1/whatsapp/bulk`: one template to up to 100 recipients, each result reported. Each
/// message is queued durably in its conversation (checked against the template first) and sent
/// by the outbox; `messageId` is Parley's id of the queued message.
pub async fn bulk(
    State(state): State<AppState>,
    Caller(caller, ..): Caller<WhatsAppV1>,
    Body(body, ..): Body<WhatsAppV1, BulkRequest>,
) -> Result<Response, Error> {
    let account = account_id(&body.account_id)?;
    if body.recipients.is_empty() {
        return Err(ApiError::validation("recipients must not be empty"));
    }
    if body.recipients.len() > MAX_BULK_RECIPIENTS {
        return Err(ApiError::validation(format!(
            "at most {MAX_BULK_RECIPIENTS} recipients per request"
        )));
    }
    state.app.ensure_account(&caller, account).await?;
    let template: BroadcastTemplate = body.template.into();
    let mut results = Vec::with_capacity(body.recipients.len());
    let (mut sent, mut failed) = (0, 0);
    for recipient in body.recipients {
        let outcome = state
            .app
            .send_bulk_template(
                &caller,
                PhoneNumberRef::Id(account),
                &recipient.phone,
                &template,
                &recipient.variables,
            )
            .await;
        match outcome {
            Ok(message_id) => {
                sent += 1;
                results.push(json!({
                    "phone": recipient.phone, "success": true, "messageId": message_id.0,
                }));
            }
            Err(error) if error.is_refusal() => {
                failed += 1;
                results.push(json!({
                    "phone": recipient.phone, "success": false, "error": error.to_string(),
                }));
            }
            Err(error) => return Err(error.into()),
        }
    }
    Ok(respond(
        StatusCode::OK,
        json!({
            "success": failed == 0,
            "summary": { "total": sent + failed, "sent": sent, "failed": failed },
            "results": results,
        }),
        Freshness::Fresh,
    ))
}

//! `/api/v2/external/webhooks…`: integrators' webhook endpoints (register, list, change,
//! remove, rotate the signing secret, pause and resume), each endpoint's delivery log, and
//! replay. Parley's own resources in the External API v2 style (documented in
//! `schema/openapi.json`); seed 002's hooks add/list/remove in spirit.

use crate::extract::{parse_id, Body, Caller, OptionalBody, Params, PathParam};
use crate::state::AppState;
use crate::surface::{respond, ApiError, ExternalV2};
use application::Freshness;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use integrator_webhooks::{endpoint_rules, InvalidEndpoint};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;
use store::webhook_deliveries::{
    AttemptSummary, DeliveryStoreError, DeliverySummary, ReplaySelection, REPLAY_SELECTION_HELP,
};
use store::webhook_endpoints::{Endpoint, EndpointChanges, EndpointInput, EndpointStoreError};
use uuid::Uuid;

type Error = ApiError<ExternalV2>;

/// How long the previous secret keeps signing after a rotation, unless asked otherwise.
const DEFAULT_ROTATION_OVERLAP: Duration = Duration::from_secs(24 * 60 * 60);
/// The longest overlap a rotation may ask for.
const MAX_ROTATION_OVERLAP: Duration = Duration::from_secs(7 * 24 * 60 * 60);
/// Deliveries per page of the log, by default and at most.
const DEFAULT_PAGE: i64 = 50;
const MAX_PAGE: i64 = 200;

impl From<EndpointStoreError> for Error {
    fn from(error: EndpointStoreError) -> Self {
        application::AppError::internal(error).into()
    }
}

impl From<DeliveryStoreError> for Error {
    fn from(error: DeliveryStoreError) -> Self {
        application::AppError::internal(error).into()
    }
}

/// An endpoint as the API shows it (never its secrets).
fn endpoint_json(endpoint: &Endpoint) -> Value {
    json!({
        "id": endpoint.id,
        "url": endpoint.url,
        "description": endpoint.description,
        "events": endpoint.event_types,
        "active": endpoint.active,
        "status": endpoint.status(),
        "headers": endpoint.custom_headers,
        "pausedAt": endpoint.paused_at,
        "pausedReason": endpoint.paused_reason,
        "failingSince": endpoint.failing_since,
        "previousSecretExpiresAt": endpoint.rotation_ends_at(),
        "createdAt": endpoint.created_at,
        "updatedAt": endpoint.updated_at,
    })
}

fn delivery_json(delivery: &DeliverySummary) -> Value {
    json!({
        "id": delivery.id,
        "webhookId": delivery.endpoint_id,
        "eventId": delivery.event_id,
        "eventType": delivery.event_type,
        "status": delivery.state,
        "attempts": delivery.attempts,
        "nextAttemptAt": delivery.next_attempt_at,
        "lastAttemptAt": delivery.last_attempt_at,
        "lastStatusCode": delivery.last_status_code,
        "lastError": delivery.last_error,
        "deliveredAt": delivery.delivered_at,
        "deadAt": delivery.dead_at,
        "createdAt": delivery.created_at,
    })
}

fn attempt_json(attempt: &AttemptSummary) -> Value {
    json!({
        "attempt": attempt.attempt,
        "attemptedAt": attempt.attempted_at,
        "statusCode": attempt.status_code,
        "latencyMs": attempt.latency_ms,
        "error": attempt.error,
    })
}

fn ok(status: StatusCode, data: Value) -> Response {
    respond(
        status,
        json!({ "success": true, "data": data }),
        Freshness::Fresh,
    )
}

impl From<InvalidEndpoint> for Error {
    fn from(invalid: InvalidEndpoint) -> Self {
        ApiError::validation(invalid.to_string())
    }
}

fn checked_url(state: &AppState, url: &str) -> Result<String, Error> {
    Ok(endpoint_rules::check_url(
        &state.webhook_sender.policy(),
        url,
    )?)
}

/// Body of `POST /api/v2/external/webhooks`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateRequest {
    url: String,
    #[serde(default)]
    description: String,
    /// Empty or absent: every event type.
    #[serde(default)]
    events: Vec<String>,
    active: Option<bool>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

/// `POST /api/v2/external/webhooks`: registers an endpoint; 201 with it and its signing
/// secret, which is never shown again.
pub async fn create(
    State(state): State<AppState>,
    Caller(caller, ..): Caller<ExternalV2>,
    Body(body, ..): Body<ExternalV2, CreateRequest>,
) -> Result<Response, Error> {
    let input = EndpointInput {
        url: checked_url(&state, &body.url)?,
        description: endpoint_rules::check_description(body.description)?,
        event_types: endpoint_rules::check_events(body.events)?,
        active: body.active.unwrap_or(true),
        custom_headers: endpoint_rules::check_headers(body.headers)?,
    };
    let (endpoint, secret) = state
        .webhook_endpoints
        .create(caller.workspace_id, &input)
        .await?;
    Ok(ok(
        StatusCode::CREATED,
        json!({ "webhook": endpoint_json(&endpoint), "signingSecret": secret }),
    ))
}

/// `GET /api/v2/external/webhooks`
pub async fn list(
    State(state): State<AppState>,
    Caller(caller, ..): Caller<ExternalV2>,
) -> Result<Response, Error> {
    let endpoints = state.webhook_endpoints.list(caller.workspace_id).await?;
    let endpoints: Vec<Value> = endpoints.iter().map(endpoint_json).collect();
    Ok(ok(StatusCode::OK, json!({ "webhooks": endpoints })))
}

fn endpoint_id(raw: &PathParam<ExternalV2>) -> Result<Uuid, Error> {
    parse_id(raw.0.as_deref().unwrap_or_default(), "Webhook")
}

/// 404 unless the workspace has this endpoint.
async fn require_endpoint(
    state: &AppState,
    workspace: domain::WorkspaceId,
    id: Uuid,
) -> Result<(), Error> {
    match state.webhook_endpoints.get(workspace, id).await? {
        Some(_) => Ok(()),
        None => Err(ApiError::not_found("Webhook")),
    }
}

fn found(endpoint: Option<Endpoint>) -> Result<Response, Error> {
    let endpoint = endpoint.ok_or_else(|| ApiError::not_found("Webhook"))?;
    Ok(ok(
        StatusCode::OK,
        json!({ "webhook": endpoint_json(&endpoint) }),
    ))
}

/// `GET /api/v2/external/webhooks/{webhookId}`
pub async fn get(
    State(state): State<AppState>,
    Caller(caller, ..): Caller<ExternalV2>,
    id: PathParam<ExternalV2>,
) -> Result<Response, Error> {
    let id = endpoint_id(&id)?;
    found(state.webhook_endpoints.get(caller.workspace_id, id).await?)
}

/// Body of `PATCH /api/v2/external/webhooks/{webhookId}`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateRequest {
    url: Option<String>,
    description: Option<String>,
    events: Option<Vec<String>>,
    active: Option<bool>,
    headers: Option<BTreeMap<String, String>>,
}

/// `PATCH /api/v2/external/webhooks/{webhookId}`
pub async fn update(
    State(state): State<AppState>,
    Caller(caller, ..): Caller<ExternalV2>,
    id: PathParam<ExternalV2>,
    Body(body, ..): Body<ExternalV2, UpdateRequest>,
) -> Result<Response, Error> {
    let id = endpoint_id(&id)?;
    let changes = EndpointChanges {
        url: body.url.map(|u| checked_url(&state, &u)).transpose()?,
        description: body
            .description
            .map(endpoint_rules::check_description)
            .transpose()?,
        event_types: body.events.map(endpoint_rules::check_events).transpose()?,
        active: body.active,
        custom_headers: body
            .headers
            .map(endpoint_rules::check_headers)
            .transpose()?,
    };
    found(
        state
            .webhook_endpoints
            .update(caller.workspace_id, id, &changes)
            .await?,
    )
}

/// `DELETE /api/v2/external/webhooks/{webhookId}`: removes it with its delivery log.
pub async fn delete(
    State(state): State<AppState>,
    Caller(caller, ..): Caller<ExternalV2>,
    id: PathParam<ExternalV2>,
) -> Result<Response, Error> {
    let id = endpoint_id(&id)?;
    if !state
        .webhook_endpoints
        .delete(caller.workspace_id, id)
        .await?
    {
        return Err(ApiError::not_found("Webhook"));
    }
    Ok(respond(
        StatusCode::OK,
        json!({ "success": true, "message": "Webhook removed", "data": { "id": id } }),
        Freshness::Fresh,
    ))
}

/// Body of `POST /api/v2/external/webhooks/{webhookId}/rotate-secret`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RotateRequest {
    /// How long the previous secret keeps signing (default a day, at most a week).
    overlap_seconds: Option<u64>,
}

/// `POST /api/v2/external/webhooks/{webhookId}/rotate-secret`: a new signing secret, shown
/// this once; both sign until the overlap ends.
pub async fn rotate_secret(
    State(state): State<AppState>,
    Caller(caller, ..): Caller<ExternalV2>,
    id: PathParam<ExternalV2>,
    OptionalBody(body, ..): OptionalBody<ExternalV2, RotateRequest>,
) -> Result<Response, Error> {
    let id = endpoint_id(&id)?;
    let overlap = body
        .overlap_seconds
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_ROTATION_OVERLAP);
    if overlap > MAX_ROTATION_OVERLAP {
        return Err(ApiError::validation(format!(
            "overlapSeconds: at most {}",
            MAX_ROTATION_OVERLAP.as_secs()
        )));
    }
    let (endpoint, secret) = state
        .webhook_endpoints
        .rotate_secret(caller.workspace_id, id, overlap)
        .await?
        .ok_or_else(|| ApiError::not_found("Webhook"))?;
    Ok(ok(
        StatusCode::OK,
        json!({ "webhook": endpoint_json(&endpoint), "signingSecret": secret }),
    ))
}

/// `POST /api/v2/external/webhooks/{webhookId}/pause`
pub async fn pause(
    State(state): State<AppState>,
    Caller(caller, ..): Caller<ExternalV2>,
    id: PathParam<ExternalV2>,
) -> Result<Response, Error> {
    let id = endpoint_id(&id)?;
    found(
        state
            .webhook_endpoints
            .pause(caller.workspace_id, id, "paused through the API")
            .await?,
    )
}

/// `POST /api/v2/external/webhooks/{webhookId}/resume`: deliveries that waited are due now.
pub async fn resume(
    State(state): State<AppState>,
    Caller(caller, ..): Caller<ExternalV2>,
    id: PathParam<ExternalV2>,
) -> Result<Response, Error> {
    let id = endpoint_id(&id)?;
    found(
        state
            .webhook_endpoints
            .resume(caller.workspace_id, id)
            .await?,
    )
}

/// Query of `GET /api/v2/external/webhooks/{webhookId}/deliveries`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveriesQuery {
    /// `pending`, `delivered` or `dead`.
    status: Option<String>,
    limit: Option<i64>,
    /// The `nextCursor` of the previous page.
    cursor: Option<String>,
}

/// `GET /api/v2/external/webhooks/{webhookId}/deliveries`: the delivery log, newest first.
pub async fn deliveries(
    State(state): State<AppState>,
    Caller(caller, ..): Caller<ExternalV2>,
    id: PathParam<ExternalV2>,
    Params(query, ..): Params<ExternalV2, DeliveriesQuery>,
) -> Result<Response, Error> {
    let id = endpoint_id(&id)?;
    if let Some(status) = &query.status {
        if !matches!(status.as_str(), "pending" | "delivered" | "dead") {
            return Err(ApiError::validation(
                "status: one of pending, delivered, dead",
            ));
        }
    }
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::validation(format!(
            "limit: between 1 and {MAX_PAGE}"
        )));
    }
    let before = query
        .cursor
        .as_deref()
        .map(|c| {
            c.parse::<i64>()
                .map_err(|_| ApiError::validation("cursor: not a cursor of this list"))
        })
        .transpose()?;
    require_endpoint(&state, caller.workspace_id, id).await?;
    let page = state
        .webhook_deliveries
        .list(
            caller.workspace_id.0,
            id,
            query.status.as_deref(),
            before,
            limit + 1,
        )
        .await?;
    let has_more = page.len() as i64 > limit;
    let page = &page[..page.len().min(limit as usize)];
    let next_cursor = has_more
        .then(|| page.last().map(|d| d.event_position.to_string()))
        .flatten();
    let counts = state.webhook_deliveries.counts(id).await?;
    let items: Vec<Value> = page.iter().map(delivery_json).collect();
    Ok(respond(
        StatusCode::OK,
        json!({
            "success": true,
            "data": { "deliveries": items, "counts": counts },
            "meta": { "hasMore": has_more, "nextCursor": next_cursor },
        }),
        Freshness::Fresh,
    ))
}

/// `GET /api/v2/external/webhooks/{webhookId}/deliveries/{deliveryId}`: one delivery with
/// every attempt.
pub async fn delivery(
    State(state): State<AppState>,
    Caller(caller, ..): Caller<ExternalV2>,
    ids: Result<Path<(String, String)>, PathRejection>,
) -> Result<Response, Error> {
    let Ok(Path((endpoint, delivery))) = ids else {
        return Err(ApiError::not_found("Delivery"));
    };
    let endpoint = parse_id(&endpoint, "Webhook")?;
    let delivery = parse_id(&delivery, "Delivery")?;
    let (summary, attempts) = state
        .webhook_deliveries
        .get(caller.workspace_id.0, endpoint, delivery)
        .await?
        .ok_or_else(|| ApiError::not_found("Delivery"))?;
    let attempts: Vec<Value> = attempts.iter().map(attempt_json).collect();
    let mut data = delivery_json(&summary);
    data["attemptLog"] = Value::Array(attempts);
    Ok(ok(StatusCode::OK, json!({ "delivery": data })))
}

/// Body of `POST /api/v2/external/webhooks/{webhookId}/replay`: exactly one selection.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReplayRequest {
    /// One delivery.
    delivery_id: Option<String>,
    /// Every delivery created in `[from, to)`.
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    /// Every dead-lettered delivery.
    dead_letter: Option<bool>,
}

/// `POST /api/v2/external/webhooks/{webhookId}/replay`: sends the selected deliveries again
/// (same delivery ids, a fresh retry period).
pub async fn replay(
    State(state): State<AppState>,
    Caller(caller, ..): Caller<ExternalV2>,
    id: PathParam<ExternalV2>,
    Body(body, ..): Body<ExternalV2, ReplayRequest>,
) -> Result<Response, Error> {
    let id = endpoint_id(&id)?;
    let delivery = body
        .delivery_id
        .map(|raw| parse_id(&raw, "Delivery"))
        .transpose()?;
    let selection = ReplaySelection::from_fields(
        delivery,
        body.from,
        body.to,
        body.dead_letter.unwrap_or(false),
    )
    .ok_or_else(|| ApiError::validation(REPLAY_SELECTION_HELP))?;
    require_endpoint(&state, caller.workspace_id, id).await?;
    let replayed = state
        .webhook_deliveries
        .replay(caller.workspace_id.0, id, &selection)
        .await?;
    if replayed == 0 {
        if let ReplaySelection::One(_) = selection {
            return Err(ApiError::not_found("Delivery"));
        }
    }
    Ok(ok(StatusCode::OK, json!({ "replayed": replayed })))
}

//! `/api/v2/external/phone-numbers`: the list exactly as seed 000's `ExternalPhoneNumber`, plus
//! registration, update and removal in the same style (documented in `schema/openapi.json`).

use crate::extract::{path_id, Body, Caller, PathParam};
use crate::state::AppState;
use crate::surface::{respond, ApiError, ExternalV2};
use application::{PhoneNumberChangesInput, PhoneNumberInput};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use domain::phone_number::PhoneNumberStatus;
use domain::WorkspaceId;
use projections::phone_numbers::{self, PhoneNumberView};
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

type Error = ApiError<ExternalV2>;

/// The seed's `ExternalPhoneNumber` shape.
pub fn external_phone_number(view: &PhoneNumberView) -> Value {
    json!({
        "id": view.id,
        "phoneNumberId": view.phone_number_id,
        "phoneNumber": view.display_phone_number,
        "displayName": view.display_name,
        "verifiedName": view.verified_name,
        "status": view.status,
        "whatsappAccount": {
            "id": view.waba_id,
            "wabaName": view.waba_name,
            // Registered and not removed; account-level restrictions arrive with account_update webhooks.
            "status": "ACTIVE",
        },
        "hasAccessToken": view.has_access_token,
        "createdAt": view.created_at,
        "updatedAt": view.updated_at,
    })
}

fn parse_status(raw: Option<String>) -> Result<Option<PhoneNumberStatus>, Error> {
    raw.map(|s| {
        s.parse()
            .map_err(|e: String| ApiError::validation(format!("status: {e}")))
    })
    .transpose()
}

/// `GET /api/v2/external/phone-numbers`
pub async fn list(
    State(state): State<AppState>,
    Caller(caller, ..): Caller<ExternalV2>,
) -> Result<Response, Error> {
    let client = state.queries.get().await?;
    let numbers = phone_numbers::list(&**client, caller.workspace_id).await?;
    let numbers: Vec<Value> = numbers.iter().map(external_phone_number).collect();
    Ok(respond(
        StatusCode::OK,
        json!({ "success": true, "data": { "phoneNumbers": numbers } }),
        application::Freshness::Fresh,
    ))
}

async fn one(
    state: &AppState,
    workspace: WorkspaceId,
    id: Uuid,
    freshness: application::Freshness,
    status: StatusCode,
) -> Result<Response, Error> {
    let client = state.queries.get().await?;
    let view = phone_numbers::get(&**client, workspace, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Phone number"))?;
    Ok(respond(
        status,
        json!({ "success": true, "data": { "phoneNumber": external_phone_number(&view) } }),
        freshness,
    ))
}

/// `GET /api/v2/external/phone-numbers/{id}`
pub async fn get(
    State(state): State<AppState>,
    Caller(caller, ..): Caller<ExternalV2>,
    id: PathParam<ExternalV2>,
) -> Result<Response, Error> {
    let id = path_id(&id, "Phone number")?;
    one(
        &state,
        caller.workspace_id,
        id,
        application::Freshness::Fresh,
        StatusCode::OK,
    )
    .await
}

/// Body of `POST /api/v2/external/phone-numbers`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegisterRequest {
    phone_number_id: String,
    waba_id: String,
    waba_name: Option<String>,
    phone_number: String,
    display_name: Option<String>,
    verified_name: Option<String>,
    status: Option<String>,
    access_token: Option<String>,
}

/// `POST /api/v2/external/phone-numbers`: registers a number; 201 with it.
pub async fn register(
    State(state): State<AppState>,
    Caller(caller, ..): Caller<ExternalV2>,
    Body(body, ..): Body<ExternalV2, RegisterRequest>,
) -> Result<Response, Error> {
    let input = PhoneNumberInput {
        phone_number_id: body.phone_number_id,
        waba_id: body.waba_id,
        waba_name: body.waba_name,
        display_phone_number: body.phone_number,
        display_name: body.display_name,
        verified_name: body.verified_name,
        status: parse_status(body.status)?,
        access_token: body.access_token,
    };
    let (id, freshness) = state.app.register_phone_number(&caller, input).await?;
    one(
        &state,
        caller.workspace_id,
        id,
        freshness,
        StatusCode::CREATED,
    )
    .await
}

/// Body of `PATCH /api/v2/external/phone-numbers/{id}`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateRequest {
    waba_name: Option<String>,
    phone_number: Option<String>,
    display_name: Option<String>,
    verified_name: Option<String>,
    status: Option<String>,
    access_token: Option<String>,
}

/// `PATCH /api/v2/external/phone-numbers/{id}`
pub async fn update(
    State(state): State<AppState>,
    Caller(caller, ..): Caller<ExternalV2>,
    id: PathParam<ExternalV2>,
    Body(body, ..): Body<ExternalV2, UpdateRequest>,
) -> Result<Response, Error> {
    let id = path_id(&id, "Phone number")?;
    let input = PhoneNumberChangesInput {
        waba_name: body.waba_name,
        display_phone_number: body.phone_number,
        display_name: body.display_name,
        verified_name: body.verified_name,
        status: parse_status(body.status)?,
        access_token: body.access_token,
    };
    let freshness = state.app.update_phone_number(&caller, id, input).await?;
    one(&state, caller.workspace_id, id, freshness, StatusCode::OK).await
}

/// `DELETE /api/v2/external/phone-numbers/{id}`
pub async fn remove(
    State(state): State<AppState>,
    Caller(caller, ..): Caller<ExternalV2>,
    id: PathParam<ExternalV2>,
) -> Result<Response, Error> {
    let id = path_id(&id, "Phone number")?;
    let freshness = state.app.remove_phone_number(&caller, id).await?;
    Ok(respond(
        StatusCode::OK,
        json!({ "success": true, "message": "Phone number removed", "data": { "id": id } }),
        freshness,
    ))
}

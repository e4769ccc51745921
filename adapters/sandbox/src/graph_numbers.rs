//! The phone-number endpoints of the Graph API (README §4): the number itself, registration and
//! the business profile.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::Json;
use serde_json::{json, Value};

use crate::graph::{authorize, params, response_delay};
use crate::meta_error::GraphFailure;
use crate::state::SandboxState;

/// Whether `GET /{id}` should answer as a phone number: any all-digit id that is not a WABA the
/// sandbox knows or a media file or template it deleted (live ones are answered before this).
pub(crate) fn is_phone_number_id(state: &SandboxState, id: &str) -> bool {
    !id.is_empty()
        && id.chars().all(|c| c.is_ascii_digit())
        && !state.media_was_deleted(id)
        && !state.templates().was_deleted(id)
        && !state.is_known_waba(id)
}

fn success() -> Json<Value> {
    Json(json!({"success": true}))
}

/// `POST /{version}/{phone_number_id}/request_code`: JSON or form `code_method`, `language`.
pub(crate) async fn post_request_code(
    State(state): State<SandboxState>,
    Path((_version, phone_number_id)): Path<(String, String)>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, GraphFailure> {
    response_delay(&state).await;
    authorize(&state, &headers)?;
    let params = params(&query, &headers, &body)?;
    state.request_code(&phone_number_id, &params)?;
    Ok(success())
}

/// `POST /{version}/{phone_number_id}/verify_code`: `code` (always `123456` in the sandbox).
pub(crate) async fn post_verify_code(
    State(state): State<SandboxState>,
    Path((_version, phone_number_id)): Path<(String, String)>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, GraphFailure> {
    response_delay(&state).await;
    authorize(&state, &headers)?;
    let params = params(&query, &headers, &body)?;
    state.verify_code(&phone_number_id, &params)?;
    Ok(success())
}

/// `POST /{version}/{phone_number_id}/register`: `messaging_product`, a 6-digit `pin`.
pub(crate) async fn post_register(
    State(state): State<SandboxState>,
    Path((_version, phone_number_id)): Path<(String, String)>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, GraphFailure> {
    response_delay(&state).await;
    authorize(&state, &headers)?;
    let params = params(&query, &headers, &body)?;
    state.register(&phone_number_id, &params)?;
    Ok(success())
}

/// `POST /{version}/{phone_number_id}/deregister`.
pub(crate) async fn post_deregister(
    State(state): State<SandboxState>,
    Path((_version, phone_number_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>, GraphFailure> {
    response_delay(&state).await;
    authorize(&state, &headers)?;
    state.deregister(&phone_number_id);
    Ok(success())
}

/// `GET /{version}/{phone_number_id}/whatsapp_business_profile[?fields=…]`.
pub(crate) async fn get_business_profile(
    State(state): State<SandboxState>,
    Path((_version, phone_number_id)): Path<(String, String)>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Result<Json<Value>, GraphFailure> {
    response_delay(&state).await;
    authorize(&state, &headers)?;
    let profile = state.phone_number(&phone_number_id).profile;
    Ok(Json(
        profile.graph_json(query.get("fields").map(String::as_str)),
    ))
}

/// `POST /{version}/{phone_number_id}/whatsapp_business_profile`.
pub(crate) async fn post_business_profile(
    State(state): State<SandboxState>,
    Path((_version, phone_number_id)): Path<(String, String)>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, GraphFailure> {
    response_delay(&state).await;
    authorize(&state, &headers)?;
    let params = params(&query, &headers, &body)?;
    state.update_business_profile(&phone_number_id, &params)?;
    Ok(success())
}

//! The sandbox's own endpoints under `/_sandbox/`: inspect what was sent, inject customers'
//! messages and faults. No authentication: the sandbox is a local test double.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::config::RuntimeConfig;
use crate::error::ControlError;
use crate::inbound::{InboundOutcome, InboundRequest, RawWebhook};
use crate::management::{
    AccountUpdateRequest, PhoneQualityRequest, TemplateCategoryRequest, TemplateQualityRequest,
    TemplateStatusRequest,
};
use crate::records::{DeliveryOutcome, MessagesReport, Rejection, Stats};
use crate::state::SandboxState;
use crate::templates::SandboxTemplate;

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": self.to_string()})),
        )
            .into_response()
    }
}

/// `GET /_sandbox/messages`: accepted sends, rejections, mark-reads and inbound deliveries.
pub(crate) async fn list_messages(State(state): State<SandboxState>) -> Json<MessagesReport> {
    Json(state.messages())
}

/// `DELETE /_sandbox/messages`: forgets every record, window and counter; config and media stay.
pub(crate) async fn clear_messages(State(state): State<SandboxState>) -> StatusCode {
    state.clear();
    StatusCode::NO_CONTENT
}

/// `GET /_sandbox/rejections`: the refused calls alone.
pub(crate) async fn list_rejections(State(state): State<SandboxState>) -> Json<Vec<Rejection>> {
    Json(state.rejections())
}

/// `POST /_sandbox/inbound`: delivers a customer message to Parley.
pub(crate) async fn post_inbound(
    State(state): State<SandboxState>,
    body: axum::body::Bytes,
) -> Result<Json<InboundOutcome>, ControlError> {
    let request: InboundRequest = parse(&body)?;
    Ok(Json(state.deliver_inbound(request).await?))
}

/// `POST /_sandbox/webhook`: delivers any `{field, value}` change to Parley.
pub(crate) async fn post_raw_webhook(
    State(state): State<SandboxState>,
    body: axum::body::Bytes,
) -> Result<Json<DeliveryOutcome>, ControlError> {
    let webhook: RawWebhook = parse(&body)?;
    Ok(Json(state.deliver_raw(webhook).await?))
}

/// `GET /_sandbox/templates`: every template of every WABA, in creation order.
pub(crate) async fn list_templates(
    State(state): State<SandboxState>,
) -> Json<Vec<SandboxTemplate>> {
    Json(state.all_templates())
}

/// `POST /_sandbox/template-status`: sets a template's status, sends `message_template_status_update`.
pub(crate) async fn post_template_status(
    State(state): State<SandboxState>,
    body: axum::body::Bytes,
) -> Result<Json<DeliveryOutcome>, ControlError> {
    let request: TemplateStatusRequest = parse(&body)?;
    Ok(Json(state.set_template_status(request).await?))
}

/// `POST /_sandbox/template-quality`: sends `message_template_quality_update`.
pub(crate) async fn post_template_quality(
    State(state): State<SandboxState>,
    body: axum::body::Bytes,
) -> Result<Json<DeliveryOutcome>, ControlError> {
    let request: TemplateQualityRequest = parse(&body)?;
    Ok(Json(state.set_template_quality(request).await?))
}

/// `POST /_sandbox/template-category`: sends `template_category_update`.
pub(crate) async fn post_template_category(
    State(state): State<SandboxState>,
    body: axum::body::Bytes,
) -> Result<Json<DeliveryOutcome>, ControlError> {
    let request: TemplateCategoryRequest = parse(&body)?;
    Ok(Json(state.set_template_category(request).await?))
}

/// `POST /_sandbox/phone-quality`: changes a number's quality or tier, sends
/// `phone_number_quality_update`.
pub(crate) async fn post_phone_quality(
    State(state): State<SandboxState>,
    body: axum::body::Bytes,
) -> Result<Json<DeliveryOutcome>, ControlError> {
    let request: PhoneQualityRequest = parse(&body)?;
    Ok(Json(state.set_phone_quality(request).await?))
}

/// `POST /_sandbox/account-update`: sends `account_update`.
pub(crate) async fn post_account_update(
    State(state): State<SandboxState>,
    body: axum::body::Bytes,
) -> Result<Json<DeliveryOutcome>, ControlError> {
    let request: AccountUpdateRequest = parse(&body)?;
    Ok(Json(state.account_update(request).await?))
}

/// `GET /_sandbox/config`.
pub(crate) async fn get_config(State(state): State<SandboxState>) -> Json<RuntimeConfig> {
    Json(state.config())
}

/// `PUT /_sandbox/config`: a partial update; present keys replace, `null` clears.
pub(crate) async fn put_config(
    State(state): State<SandboxState>,
    body: axum::body::Bytes,
) -> Result<Json<RuntimeConfig>, ControlError> {
    let update: Value = parse(&body)?;
    state
        .update_config(&update)
        .map(Json)
        .map_err(ControlError::Invalid)
}

/// `GET /_sandbox/stats`.
pub(crate) async fn get_stats(State(state): State<SandboxState>) -> Json<Stats> {
    Json(state.stats())
}

/// `GET /_sandbox/healthz`: 200 once the sandbox listens, for scripts waiting on it.
pub(crate) async fn healthz() -> &'static str {
    "ok"
}

/// Parses a JSON body into a control error rather than axum's plain-text rejection.
fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ControlError> {
    serde_json::from_slice(body)
        .map_err(|e| ControlError::Invalid(format!("invalid JSON body: {e}")))
}

//! `POST /api/v2/external/webhook/test`, as seed 000 specifies: sends a signed sample event of
//! the asked type to the URL and reports what the receiver answered. The sample is signed with
//! the secrets of the workspace's endpoint registered for that URL; for a URL not registered
//! (yet), with a one-off secret returned in the answer so the receiver's check can be tried.

use crate::extract::{Body, Caller};
use crate::state::AppState;
use crate::surface::{respond, ApiError, ExternalV2};
use application::integrator_events::{DerivedEvent, INTEGRATOR_EVENT_VERSION};
use application::Freshness;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{SecondsFormat, Utc};
use integrator_webhooks::SignedRequest;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use uuid::Uuid;

type Error = ApiError<ExternalV2>;

/// The event types the seed lets a test simulate.
const TESTABLE: [&str; 4] = [
    "message.received",
    "message.status",
    "conversation.created",
    "conversation.updated",
];

/// Body of `POST /api/v2/external/webhook/test`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TestRequest {
    webhook_url: String,
    /// Absent means `message.received`; anything but one of [`TESTABLE`] (null too) is 400.
    #[serde(default, deserialize_with = "present")]
    event_type: Option<Value>,
}

/// Keeps an explicit `null` apart from an absent field (`Some(Value::Null)`).
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

/// A sample event of `event_type`, shaped as the real ones, marked `"test": true`.
fn sample(event_type: &'static str, workspace: Uuid) -> Value {
    let conversation = Uuid::new_v4();
    let data = match event_type {
        "message.received" => json!({
            "message_id": Uuid::new_v4(),
            "wamid": "wamid.TEST",
            "from": "15550000000",
            "profile_name": "Test Customer",
            "content": { "type": "text", "body": "This is a test message from Parley" },
            "sent_at": Utc::now(),
            "context_wamid": null,
        }),
        "message.status" => json!({
            "message_id": Uuid::new_v4(),
            "wamid": "wamid.TEST",
            "status": "delivered",
        }),
        "conversation.created" => json!({ "customer_wa_id": "15550000000" }),
        _ => json!({ "lead_qualification": { "status": "qualified" } }),
    };
    let mut fields = Map::new();
    fields.insert("conversation_id".into(), json!(conversation));
    fields.insert("whatsapp_account_id".into(), Value::Null);
    fields.insert("test".into(), json!(true));
    fields.insert("data".into(), data);
    let event = DerivedEvent {
        event_type,
        workspace_id: workspace,
        ordering_key: conversation.to_string(),
        occurred_at: Utc::now(),
        fields,
    };
    event.payload(Uuid::new_v4())
}

/// `POST /api/v2/external/webhook/test`
pub async fn test(
    State(state): State<AppState>,
    Caller(caller, ..): Caller<ExternalV2>,
    Body(body, ..): Body<ExternalV2, TestRequest>,
) -> Result<Response, Error> {
    let url = body.webhook_url.trim().to_string();
    state
        .webhook_sender
        .policy()
        .check_url(&url)
        .map_err(|refused| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "INVALID_WEBHOOK_URL",
                format!("webhookUrl: {refused}"),
            )
        })?;
    let requested = match &body.event_type {
        None => Some("message.received"),
        Some(value) => value.as_str(),
    };
    let event_type = TESTABLE
        .iter()
        .find(|t| Some(**t) == requested)
        .copied()
        .ok_or_else(|| {
            ApiError::validation(format!("eventType: one of {}", TESTABLE.join(", ")))
        })?;
    let endpoint = state
        .webhook_endpoints
        .find_by_url(caller.workspace_id, &url)
        .await
        .map_err(application::AppError::internal)?;
    let (secrets, one_off, headers) = match &endpoint {
        Some(endpoint) => (
            state
                .webhook_endpoints
                .signing_secrets(endpoint.id)
                .await
                .map_err(application::AppError::internal)?,
            None,
            endpoint.custom_headers.clone(),
        ),
        None => {
            let secret = store::webhook_endpoints::generate_signing_secret();
            (vec![secret.clone()], Some(secret), BTreeMap::new())
        }
    };
    let payload = sample(event_type, caller.workspace_id.0);
    let body_bytes = serde_json::to_vec(&payload).unwrap_or_default();
    let delivery_id = Uuid::new_v4().to_string();
    let outcome = state
        .webhook_sender
        .send(&SignedRequest {
            url: &url,
            delivery_id: &delivery_id,
            event_type,
            body: &body_bytes,
            secrets: &secrets,
            custom_headers: &headers,
        })
        .await;
    let mut data = json!({
        "webhookUrl": url,
        "eventType": event_type,
        "sentAt": outcome.sent_at.to_rfc3339_opts(SecondsFormat::Millis, true),
        "responseTime": (outcome.latency.as_secs_f64() * 1_000_000.0).round() / 1000.0,
        "delivered": outcome.is_success(),
        "deliveryId": delivery_id,
        "version": INTEGRATOR_EVENT_VERSION,
        "signedWith": if endpoint.is_some() { "endpoint" } else { "one-off secret" },
    });
    if let Some(status) = outcome.status {
        data["responseStatus"] = json!(status);
    }
    if let Some(error) = outcome.error {
        data["error"] = json!(error);
    }
    if let Some(secret) = one_off {
        data["signingSecret"] = json!(secret);
    }
    Ok(respond(
        StatusCode::OK,
        json!({ "success": true, "data": data }),
        Freshness::Fresh,
    ))
}

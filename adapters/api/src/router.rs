//! The HTTP router: REST routes, health, the OpenAPI document, rate limits, request ids and the
//! body limit.

use crate::rate_limit::{self, RateLimiter};
use crate::request_id::assign_request_id;
use crate::rest::{
    broadcasts, contacts, events, groups, health, media, messages, phone_numbers, templates,
    webhook_test, webhooks,
};
use crate::state::AppState;
use crate::surface::{ApiError, ExternalV2, WhatsAppV1};
use crate::webhook;
use axum::extract::DefaultBodyLimit;
use axum::http::{header, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

/// Request bodies above this are refused with 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The OpenAPI document of every REST path Parley serves.
pub const OPENAPI: &str = include_str!("../../../schema/openapi.json");

/// The REST routes and liveness, with shared layers. GraphQL is merged in by the binary.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { (StatusCode::OK, "ok") }))
        .route("/webhook", get(webhook::verify).post(webhook::receive))
        .route(
            "/api/v2/openapi.json",
            get(|| async { ([(header::CONTENT_TYPE, "application/json")], OPENAPI) }),
        )
        .route("/api/v2/external/health", get(health::health))
        .route(
            "/api/v2/external/rate-limit-test",
            get(health::rate_limit_test),
        )
        .route(
            "/api/v2/external/phone-numbers",
            get(phone_numbers::list).post(phone_numbers::register),
        )
        .route(
            "/api/v2/external/phone-numbers/{id}",
            get(phone_numbers::get)
                .patch(phone_numbers::update)
                .delete(phone_numbers::remove),
        )
        .route(
            "/api/v2/external/messages/send",
            axum::routing::post(messages::send_text),
        )
        .route(
            "/api/v2/external/messages/send-media",
            axum::routing::post(messages::send_media),
        )
        .route(
            "/api/v2/external/messages/send-template",
            axum::routing::post(messages::send_template),
        )
        .route(
            "/api/v2/external/messages/send-interactive",
            axum::routing::post(messages::send_interactive),
        )
        .route(
            "/api/v2/external/messages/{messageId}/status",
            get(messages::status),
        )
        .route(
            "/api/v2/external/conversations",
            get(messages::list_conversations),
        )
        .route(
            "/api/v2/external/conversations/{conversationId}/messages",
            get(messages::list_messages),
        )
        .route(
            "/api/v2/external/conversations/{conversationId}/ai-agent",
            get(messages::get_ai_agent).patch(messages::toggle_ai_agent),
        )
        .route(
            "/api/v2/external/conversations/{conversationId}/lead-qualification",
            axum::routing::patch(messages::update_lead_qualification),
        )
        .route(
            "/api/v2/external/media/upload",
            axum::routing::post(media::upload)
                .layer(DefaultBodyLimit::max(media::MAX_UPLOAD_BYTES)),
        )
        .route("/api/v2/external/webhook/test", post(webhook_test::test))
        .route("/api/v2/external/events", get(events::list))
        .route(
            "/api/v2/external/webhooks",
            get(webhooks::list).post(webhooks::create),
        )
        .route(
            "/api/v2/external/webhooks/{webhookId}",
            get(webhooks::get)
                .patch(webhooks::update)
                .delete(webhooks::delete),
        )
        .route(
            "/api/v2/external/webhooks/{webhookId}/rotate-secret",
            post(webhooks::rotate_secret),
        )
        .route(
            "/api/v2/external/webhooks/{webhookId}/pause",
            post(webhooks::pause),
        )
        .route(
            "/api/v2/external/webhooks/{webhookId}/resume",
            post(webhooks::resume),
        )
        .route(
            "/api/v2/external/webhooks/{webhookId}/deliveries",
            get(webhooks::deliveries),
        )
        .route(
            "/api/v2/external/webhooks/{webhookId}/deliveries/{deliveryId}",
            get(webhooks::delivery),
        )
        .route(
            "/api/v2/external/webhooks/{webhookId}/replay",
            post(webhooks::replay),
        )
        .route(
            "/v1/whatsapp/contacts",
            get(contacts::list).post(contacts::create),
        )
        .route(
            "/v1/whatsapp/contacts/import",
            axum::routing::post(contacts::import),
        )
        .route(
            "/v1/whatsapp/contacts/bulk",
            axum::routing::post(contacts::bulk_update).delete(contacts::bulk_delete),
        )
        .route(
            "/v1/whatsapp/contacts/{contactId}",
            get(contacts::get)
                .put(contacts::update)
                .delete(contacts::delete),
        )
        .route(
            "/v1/whatsapp/groups",
            get(groups::list)
                .post(groups::rename)
                .delete(groups::delete),
        )
        .route(
            "/v1/whatsapp/templates",
            get(templates::list).post(templates::create),
        )
        .route("/v1/whatsapp/templates/sync", post(templates::sync))
        .route(
            "/v1/whatsapp/templates/{templateName}",
            get(templates::get)
                .patch(templates::update)
                .delete(templates::delete),
        )
        .route(
            "/v1/whatsapp/templates/{templateName}/submit",
            post(templates::submit),
        )
        .route(
            "/v1/whatsapp/business-profile",
            get(templates::business_profile).post(templates::update_business_profile),
        )
        .route(
            "/v1/whatsapp/phone-numbers/{phoneNumberId}/request-code",
            post(templates::request_code),
        )
        .route(
            "/v1/whatsapp/phone-numbers/{phoneNumberId}/verify",
            post(templates::verify_code),
        )
        .route("/v1/whatsapp/bulk", post(broadcasts::bulk))
        .route(
            "/v1/whatsapp/broadcasts",
            get(broadcasts::list).post(broadcasts::create),
        )
        .route(
            "/v1/whatsapp/broadcasts/{broadcastId}",
            get(broadcasts::get).delete(broadcasts::delete),
        )
        .route(
            "/v1/whatsapp/broadcasts/{broadcastId}/send",
            post(broadcasts::send),
        )
        .route(
            "/v1/whatsapp/broadcasts/{broadcastId}/schedule",
            post(broadcasts::schedule).delete(broadcasts::cancel_schedule),
        )
        .route(
            "/v1/whatsapp/broadcasts/{broadcastId}/recipients",
            get(broadcasts::recipients)
                .patch(broadcasts::add_recipients)
                .delete(broadcasts::remove_recipients),
        )
        .route(
            "/v1/whatsapp/broadcasts/{broadcastId}/pause",
            post(broadcasts::pause),
        )
        .route(
            "/v1/whatsapp/broadcasts/{broadcastId}/resume",
            post(broadcasts::resume),
        )
        .route(
            "/v1/whatsapp/broadcasts/{broadcastId}/cancel",
            post(broadcasts::cancel),
        )
        .route(
            "/v1/whatsapp/broadcasts/{broadcastId}/retry-failed",
            post(broadcasts::retry_failed),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // Keep this layer after every route: a router layer wraps only the routes added before
        // it (and the fallbacks). It limits `/api/v2/external/…` and `/v1/whatsapp/…` only.
        .layer(axum::middleware::from_fn_with_state(
            RateLimiter::new(state.clone()),
            rate_limit::enforce,
        ))
        .with_state(state)
}

/// Layers every route (REST and GraphQL) shares: request ids and the body limit.
pub fn with_common_layers(router: Router) -> Router {
    router
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(assign_request_id))
}

async fn not_found(uri: Uri) -> Response {
    let message = format!("No route for {}", uri.path());
    error_in_surface_of(&uri, StatusCode::NOT_FOUND, "NOT_FOUND", message)
}

async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    let message = format!("{method} is not allowed on {}", uri.path());
    error_in_surface_of(
        &uri,
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        message,
    )
}

/// An error in the envelope of the surface the path belongs to.
fn error_in_surface_of(
    uri: &Uri,
    status: StatusCode,
    code: &'static str,
    message: String,
) -> Response {
    if uri.path().starts_with("/v1/") {
        ApiError::<WhatsAppV1>::new(status, code, message).into_response()
    } else {
        ApiError::<ExternalV2>::new(status, code, message).into_response()
    }
}

//! Meta's webhook at `/webhook`: the subscription handshake (GET) and deliveries (POST).
//!
//! A delivery is verified on its raw bytes (HMAC-SHA256 with the app secret, compared in
//! constant time), stored durably, answered 200, and then applied. A crash between storing and
//! applying is repaired by [`process_leftovers`]; applying twice changes nothing.

use crate::state::AppState;
use crate::surface::{ApiError, ExternalV2};
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use meta::ingest::apply_delivery;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;
use store::meta_webhooks::{MetaWebhookLog, StoredDelivery};
use store::ParleyApp;

/// The secrets Meta's webhook is checked with.
#[derive(Clone, Default)]
pub struct MetaWebhookSettings {
    /// The app secret deliveries are signed with; without it every delivery is refused.
    pub app_secret: Option<Arc<Vec<u8>>>,
    /// The token Meta echoes in the subscription handshake.
    pub verify_token: Option<String>,
}

impl std::fmt::Debug for MetaWebhookSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetaWebhookSettings")
            .field("app_secret", &self.app_secret.as_ref().map(|_| "<set>"))
            .field("verify_token", &self.verify_token.as_ref().map(|_| "<set>"))
            .finish()
    }
}

/// The handshake's query parameters.
#[derive(Debug, Deserialize)]
pub struct Handshake {
    #[serde(rename = "hub.mode")]
    mode: Option<String>,
    #[serde(rename = "hub.verify_token")]
    verify_token: Option<String>,
    #[serde(rename = "hub.challenge")]
    challenge: Option<String>,
}

/// `GET /webhook`: echoes `hub.challenge` when the mode is `subscribe` and the token matches.
pub async fn verify(State(state): State<AppState>, Query(handshake): Query<Handshake>) -> Response {
    let expected = state.meta_webhooks.verify_token.as_deref();
    let matches = match (expected, handshake.verify_token.as_deref()) {
        (Some(expected), Some(given)) => {
            use subtle::ConstantTimeEq;
            bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
        }
        _ => false,
    };
    match (handshake.mode.as_deref(), matches, handshake.challenge) {
        (Some("subscribe"), true, Some(challenge)) => (StatusCode::OK, challenge).into_response(),
        _ => ApiError::<ExternalV2>::new(
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            "Webhook verification failed",
        )
        .into_response(),
    }
}

/// `POST /webhook`: verifies, stores, answers, then applies the delivery.
pub async fn receive(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let signature = headers
        .get(meta::SIGNATURE_HEADER)
        .and_then(|value| value.to_str().ok());
    let verified = state
        .meta_webhooks
        .app_secret
        .as_ref()
        .is_some_and(|secret| meta::verify_signature(secret, &body, signature));
    if !verified {
        return ApiError::<ExternalV2>::new(
            StatusCode::UNAUTHORIZED,
            "INVALID_SIGNATURE",
            "Missing or invalid X-Hub-Signature-256",
        )
        .into_response();
    }
    let (id, new) = match state.webhook_log.record(&body).await {
        Ok(recorded) => recorded,
        Err(error) => {
            tracing::error!(%error, "webhook: delivery could not be stored");
            // Not 200: Meta retries, so nothing is lost.
            return ApiError::<ExternalV2>::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "UNAVAILABLE",
                "The delivery could not be stored; retry",
            )
            .into_response();
        }
    };
    if new {
        let (app, log) = (state.app.clone(), state.webhook_log.clone());
        tokio::spawn(async move {
            process(
                &app,
                &log,
                StoredDelivery {
                    id,
                    body: body.to_vec(),
                },
            )
            .await;
        });
    }
    (StatusCode::OK, "EVENT_RECEIVED").into_response()
}

/// Applies one stored delivery and records the outcome; on an infrastructure failure the
/// delivery stays unprocessed for [`process_leftovers`].
pub async fn process(app: &ParleyApp, log: &MetaWebhookLog, delivery: StoredDelivery) {
    let correlation = format!("meta-webhook:{}", delivery.id);
    match apply_delivery(app, &delivery.body, &correlation).await {
        Ok(outcome) => {
            if !outcome.rejected.is_empty() || !outcome.unknown_phone_numbers.is_empty() {
                tracing::warn!(
                    delivery = delivery.id,
                    ?outcome,
                    "webhook: parts not applied"
                );
            }
            let outcome = serde_json::to_value(&outcome).unwrap_or_default();
            if let Err(error) = log.mark_processed(delivery.id, &outcome).await {
                tracing::error!(delivery = delivery.id, %error, "webhook: outcome not recorded");
            }
        }
        Err(meta::ingest::IngestError::Unreadable(reason)) => {
            let outcome = serde_json::json!({ "unreadable": reason });
            let _ = log.mark_processed(delivery.id, &outcome).await;
        }
        Err(error) => {
            tracing::error!(delivery = delivery.id, %error, "webhook: processing failed; will retry")
        }
    }
}

/// Processes deliveries left unprocessed (by a crash or a failure) until `stop` resolves.
pub async fn process_leftovers(
    app: Arc<ParleyApp>,
    log: MetaWebhookLog,
    stop: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stop);
    loop {
        drain_leftovers(&app, &log, Duration::from_secs(5)).await;
        tokio::select! {
            _ = &mut stop => return,
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
        }
    }
}

/// Processes every delivery received at least `min_age` ago and still unprocessed, several at a
/// time, until none is left. After a crash there may be thousands (every delivery whose
/// processing the crash cut short), and the outbox needs their statuses promptly: a status
/// naming our message id proves Meta accepted it, so the job must not send it again.
pub async fn drain_leftovers(app: &ParleyApp, log: &MetaWebhookLog, min_age: Duration) {
    use futures::StreamExt;
    const BATCH: i64 = 200;
    let mut first_before = None;
    loop {
        let deliveries = match log.unprocessed(min_age, BATCH).await {
            Ok(deliveries) => deliveries,
            Err(error) => {
                tracing::error!(%error, "webhook: cannot read unprocessed deliveries");
                return;
            }
        };
        // A batch that starts where the last one did made no progress (the database fails):
        // leave the rest to the next round.
        let first = deliveries.first().map(|d| d.id);
        if first.is_none() || first == first_before {
            return;
        }
        first_before = first;
        let full = deliveries.len() as i64 == BATCH;
        futures::stream::iter(deliveries)
            .for_each_concurrent(16, |delivery| process(app, log, delivery))
            .await;
        if !full {
            return;
        }
    }
}

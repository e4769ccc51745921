//! Meta's webhook at `/webhook`: the subscription handshake (GET) and deliveries (POST).
//!
//! A delivery is verified on its raw bytes (HMAC-SHA256 with the app secret, compared in
//! constant time), stored durably, answered 200, and then applied. A crash between storing and
//! applying is repaired by [`WebhookApplier`]'s sweep; applying twice changes nothing.

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
use tokio::sync::Semaphore;

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

/// `POST /webhook`: verifies, stores, answers, then has the delivery applied.
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
        state.webhook_applier.apply_soon(StoredDelivery {
            id,
            body: body.to_vec(),
        });
    }
    (StatusCode::OK, "EVENT_RECEIVED").into_response()
}

/// How many deliveries are applied at once. Applying takes database connections from the pools
/// the outbox also needs; a burst of statuses (three per message a broadcast sends) beyond this
/// waits in the log, where it costs no memory and no connection, instead of crowding out the
/// sends that produce them.
const APPLY_CONCURRENCY: usize = 8;

/// How often deliveries still unprocessed are looked for, and how old they must be: younger ones
/// may still be in the hands of the task that received them.
const SWEEP_PERIOD: Duration = Duration::from_secs(1);

/// Applies stored deliveries, a bounded number at a time: at once when a slot is free, else
/// by the sweep over the log (which also repairs what a crash or a failure left unprocessed).
#[derive(Clone)]
pub struct WebhookApplier {
    app: Arc<ParleyApp>,
    log: MetaWebhookLog,
    slots: Arc<Semaphore>,
}

impl WebhookApplier {
    /// Applies deliveries of `log` to `app`.
    pub fn new(app: Arc<ParleyApp>, log: MetaWebhookLog) -> Self {
        Self {
            app,
            log,
            slots: Arc::new(Semaphore::new(APPLY_CONCURRENCY)),
        }
    }

    /// Applies a delivery just stored, in the background, if a slot is free; otherwise it
    /// stays in the log for the sweep.
    pub fn apply_soon(&self, delivery: StoredDelivery) {
        let Ok(slot) = self.slots.clone().try_acquire_owned() else {
            return;
        };
        let this = self.clone();
        tokio::spawn(async move {
            this.apply(delivery).await;
            drop(slot);
        });
    }

    /// Sweeps the log every [`SWEEP_PERIOD`] until `stop` resolves.
    pub async fn run_sweeps(self, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            self.drain(SWEEP_PERIOD).await;
            tokio::select! {
                _ = &mut stop => return,
                _ = tokio::time::sleep(SWEEP_PERIOD) => {}
            }
        }
    }

    /// Applies, in the order they arrived, every delivery received at least `min_age` ago and
    /// still unprocessed, until none is left. After a crash there may be thousands (every
    /// delivery whose processing the crash cut short), and the outbox needs their statuses
    /// promptly: a status naming our message id proves Meta accepted it, so the job must not
    /// send it again.
    pub async fn drain(&self, min_age: Duration) {
        use futures::StreamExt;
        const BATCH: i64 = 200;
        let mut first_before = None;
        loop {
            let deliveries = match self.log.unprocessed(min_age, BATCH).await {
                Ok(deliveries) => deliveries,
                Err(error) => {
                    tracing::error!(%error, "webhook: cannot read unprocessed deliveries");
                    return;
                }
            };
            // A batch that starts where the last one did made no progress (the database
            // fails): leave the rest to the next sweep.
            let first = deliveries.first().map(|d| d.id);
            if first.is_none() || first == first_before {
                return;
            }
            first_before = first;
            let full = deliveries.len() as i64 == BATCH;
            futures::stream::iter(deliveries)
                .for_each_concurrent(APPLY_CONCURRENCY, |delivery| async {
                    let Ok(_slot) = self.slots.acquire().await else {
                        return;
                    };
                    self.apply(delivery).await;
                })
                .await;
            if !full {
                return;
            }
        }
    }

    /// Applies one stored delivery and records the outcome; on an infrastructure failure the
    /// delivery stays unprocessed for the sweep.
    async fn apply(&self, delivery: StoredDelivery) {
        let correlation = application::meta_delivery_correlation(delivery.id);
        match apply_delivery(&self.app, &delivery.body, &correlation).await {
            Ok(outcome) => {
                if !outcome.rejected.is_empty() || !outcome.unknown_phone_numbers.is_empty() {
                    tracing::warn!(
                        delivery = delivery.id,
                        ?outcome,
                        "webhook: parts not applied"
                    );
                }
                let outcome = serde_json::to_value(&outcome).unwrap_or_default();
                if let Err(error) = self.log.mark_processed(delivery.id, &outcome).await {
                    tracing::error!(delivery = delivery.id, %error, "webhook: outcome not recorded");
                }
            }
            Err(meta::ingest::IngestError::Unreadable(reason)) => {
                let outcome = serde_json::json!({ "unreadable": reason });
                let _ = self.log.mark_processed(delivery.id, &outcome).await;
            }
            Err(error) => {
                tracing::error!(delivery = delivery.id, %error, "webhook: processing failed; will retry")
            }
        }
    }
}

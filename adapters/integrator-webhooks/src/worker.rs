//! The delivery worker: claims due deliveries, POSTs each signed, and records the outcome
//! (delivered; retry later; dead letter; the endpoint paused). Several workers (in several
//! `parley serve` processes) share the work through the claim's `SKIP LOCKED`.

use crate::retry_policy::DeliveryPolicy;
use crate::sender::{SignedRequest, WebhookSender};
use chrono::Utc;
use std::future::Future;
use std::sync::Arc;
use store::webhook_deliveries::{AttemptRecord, ClaimedDelivery, WebhookDeliveries};
use store::webhook_endpoints::WebhookEndpoints;
use tokio::sync::Semaphore;

/// What the worker needs.
#[derive(Clone)]
pub struct DeliveryWorker {
    pub deliveries: WebhookDeliveries,
    pub endpoints: WebhookEndpoints,
    pub sender: WebhookSender,
    pub policy: DeliveryPolicy,
}

impl DeliveryWorker {
    /// Delivers until `stop` completes; in-flight requests are finished first.
    pub async fn run(self, stop: impl Future<Output = ()> + Send) {
        let permits = Arc::new(Semaphore::new(self.policy.concurrency.max(1)));
        tokio::pin!(stop);
        loop {
            tokio::select! {
                biased;
                _ = &mut stop => break,
                _ = std::future::ready(()) => {}
            }
            let free = permits.available_permits();
            let claimed = if free == 0 {
                Vec::new()
            } else {
                match self
                    .deliveries
                    .claim_due(free as i64, self.policy.lease)
                    .await
                {
                    Ok(claimed) => claimed,
                    Err(error) => {
                        tracing::warn!(%error, "webhook deliveries: claim failed");
                        Vec::new()
                    }
                }
            };
            let idle = claimed.is_empty();
            for delivery in claimed {
                let permit = permits
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("the semaphore is never closed");
                let worker = self.clone();
                tokio::spawn(async move {
                    worker.deliver(delivery).await;
                    drop(permit);
                });
            }
            if idle {
                tokio::select! {
                    _ = &mut stop => break,
                    _ = tokio::time::sleep(self.policy.poll) => {}
                }
            }
        }
        // Wait for the requests in flight.
        let _ = permits
            .acquire_many(self.policy.concurrency.max(1) as u32)
            .await;
    }

    /// One attempt of one delivery, recorded.
    pub async fn deliver(&self, delivery: ClaimedDelivery) {
        let secrets = match self.endpoints.signing_secrets(delivery.endpoint_id).await {
            Ok(secrets) if !secrets.is_empty() => secrets,
            Ok(_) => return, // The endpoint was deleted meanwhile, with its deliveries.
            Err(error) => {
                tracing::warn!(%error, endpoint = %delivery.endpoint_id, "webhook deliveries: no signing secret");
                return;
            }
        };
        let body = serde_json::to_vec(&delivery.payload).unwrap_or_default();
        let delivery_id = delivery.id.to_string();
        let outcome = self
            .sender
            .send(&SignedRequest {
                url: &delivery.url,
                delivery_id: &delivery_id,
                event_type: &delivery.event_type,
                body: &body,
                secrets: &secrets,
                custom_headers: &delivery.custom_headers,
            })
            .await;
        let attempt = AttemptRecord {
            attempted_at: outcome.sent_at,
            status_code: outcome.status,
            latency: outcome.latency,
            error: outcome.error.clone(),
        };
        let recorded = if outcome.is_success() {
            self.deliveries.record_success(&delivery, &attempt).await
        } else {
            let after =
                self.policy
                    .after_failure(delivery.attempt, delivery.retrying_since, Utc::now());
            match self
                .deliveries
                .record_failure(&delivery, &attempt, after, self.policy.pause_after)
                .await
            {
                Ok(true) => {
                    tracing::warn!(endpoint = %delivery.endpoint_id, "webhook endpoint paused: it has failed for too long");
                    Ok(())
                }
                Ok(false) => Ok(()),
                Err(error) => Err(error),
            }
        };
        if let Err(error) = recorded {
            // The lease runs out and the delivery is attempted again: at least once.
            tracing::warn!(%error, delivery = %delivery.id, "webhook deliveries: outcome not recorded");
        }
    }
}

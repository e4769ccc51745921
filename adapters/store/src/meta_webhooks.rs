//! The raw log of Meta's webhook deliveries: stored before Meta is answered, processed after,
//! kept for replay.

use crate::redoable::execute_redoable;
use application::AppError;
use sha2::{Digest, Sha256};

/// `meta_webhook_deliveries` on the query pool.
#[derive(Clone)]
pub struct MetaWebhookLog {
    pool: deadpool_postgres::Pool,
}

/// A stored delivery.
#[derive(Debug, Clone)]
pub struct StoredDelivery {
    pub id: i64,
    pub body: Vec<u8>,
}

impl MetaWebhookLog {
    /// The log on `pool`.
    pub fn new(pool: deadpool_postgres::Pool) -> Self {
        Self { pool }
    }

    /// Stores a delivery durably; returns its id and whether it is new (an identical body
    /// delivered again is counted, not stored twice).
    pub async fn record(&self, body: &[u8]) -> Result<(i64, bool), AppError> {
        let digest = Sha256::digest(body).to_vec();
        let client = self.pool.get().await.map_err(AppError::internal)?;
        let row = client
            .query_one(
                "INSERT INTO meta_webhook_deliveries (body_sha256, body) VALUES ($1, $2) \
                 ON CONFLICT (body_sha256) DO UPDATE SET redeliveries = meta_webhook_deliveries.redeliveries + 1 \
                 RETURNING id, redeliveries = 0",
                &[&digest, &body],
            )
            .await
            .map_err(AppError::internal)?;
        Ok((row.get(0), row.get(1)))
    }

    /// Records what processing a delivery did.
    pub async fn mark_processed(
        &self,
        id: i64,
        outcome: &serde_json::Value,
    ) -> Result<(), AppError> {
        // Losing this in a database crash only means applying the delivery again, which
        // changes nothing.
        execute_redoable(
            &self.pool,
            "UPDATE meta_webhook_deliveries SET processed_at = now(), outcome = $2 WHERE id = $1",
            &[&id, outcome],
        )
        .await
    }

    /// Deliveries stored at least `min_age` ago and never processed (the process died between
    /// storing and processing them), oldest first.
    pub async fn unprocessed(
        &self,
        min_age: std::time::Duration,
        limit: i64,
    ) -> Result<Vec<StoredDelivery>, AppError> {
        let client = self.pool.get().await.map_err(AppError::internal)?;
        let rows = client
            .query(
                "SELECT id, body FROM meta_webhook_deliveries \
                 WHERE processed_at IS NULL AND received_at < now() - $1::bigint * interval '1 millisecond' \
                 ORDER BY id LIMIT $2",
                &[&(min_age.as_millis() as i64), &limit],
            )
            .await
            .map_err(AppError::internal)?;
        Ok(rows
            .iter()
            .map(|row| StoredDelivery {
                id: row.get(0),
                body: row.get(1),
            })
            .collect())
    }
}

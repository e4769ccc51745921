//! The raw log of Meta's webhook deliveries: stored before Meta is answered, processed after,
//! kept for replay.

use crate::redoable::execute_redoable;
use application::AppError;
use chrono::{DateTime, Utc};
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

/// Which stored deliveries to read again (for a replay).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliverySelection {
    /// The delivery with this id.
    One(i64),
    /// Deliveries first received at or after `from` and before `to` (open-ended without it).
    ReceivedBetween {
        from: DateTime<Utc>,
        to: Option<DateTime<Utc>>,
    },
    /// Every stored delivery.
    All,
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

    /// The selected deliveries with ids above `after_id`, in arrival order, at most `limit`.
    pub async fn selected(
        &self,
        selection: DeliverySelection,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<StoredDelivery>, AppError> {
        let (id, from, to) = match selection {
            DeliverySelection::One(id) => (Some(id), None, None),
            DeliverySelection::ReceivedBetween { from, to } => (None, Some(from), to),
            DeliverySelection::All => (None, None, None),
        };
        let client = self.pool.get().await.map_err(AppError::internal)?;
        let rows = client
            .query(
                "SELECT id, body FROM meta_webhook_deliveries \
                 WHERE id > $1 AND ($2::bigint IS NULL OR id = $2) \
                   AND ($3::timestamptz IS NULL OR received_at >= $3) \
                   AND ($4::timestamptz IS NULL OR received_at < $4) \
                 ORDER BY id LIMIT $5",
                &[&after_id, &id, &from, &to, &limit],
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

    /// The event log's last global position (0 when empty), to count what is written after it.
    pub async fn last_event_position(&self) -> Result<i64, AppError> {
        let client = self.pool.get().await.map_err(AppError::internal)?;
        let row = client
            .query_one("SELECT coalesce(max(global_position), 0) FROM events", &[])
            .await
            .map_err(AppError::internal)?;
        Ok(row.get(0))
    }

    /// How many events after global position `after` the given deliveries caused (by their
    /// correlation ids, `meta-webhook:<id>` and its parts `meta-webhook:<id>#<n>`).
    pub async fn events_caused_after(
        &self,
        after: i64,
        delivery_ids: &[i64],
    ) -> Result<i64, AppError> {
        let correlations: Vec<String> = delivery_ids
            .iter()
            .map(|id| application::meta_delivery_correlation(*id))
            .collect();
        let client = self.pool.get().await.map_err(AppError::internal)?;
        let row = client
            .query_one(
                "SELECT count(*) FROM events WHERE global_position > $1 \
                   AND split_part(metadata->>'correlation_id', '#', 1) = ANY($2::text[])",
                &[&after, &correlations],
            )
            .await
            .map_err(AppError::internal)?;
        Ok(row.get(0))
    }
}

//! Deliveries of integrator events to webhook endpoints: claiming due ones in order, recording
//! attempts, the per-endpoint delivery log, and replay. The rows are created by the
//! `integrator_events` projection, one per endpoint and event.
//!
//! Order: a delivery is due only when no earlier pending delivery with the same ordering key
//! (its conversation, contact, …) exists for that endpoint, so an endpoint sees one
//! conversation's events in order even across retries. A dead delivery no longer holds the
//! ones after it back.

use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio_postgres::Row;
use uuid::Uuid;

/// Why a delivery operation failed.
#[derive(Debug, thiserror::Error)]
#[error("database: {0}")]
pub struct DeliveryStoreError(String);

impl From<tokio_postgres::Error> for DeliveryStoreError {
    fn from(error: tokio_postgres::Error) -> Self {
        Self(application::error::with_causes(&error))
    }
}

impl From<deadpool_postgres::PoolError> for DeliveryStoreError {
    fn from(error: deadpool_postgres::PoolError) -> Self {
        Self(error.to_string())
    }
}

/// A delivery claimed for one attempt, with all it needs.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    pub id: Uuid,
    pub endpoint_id: Uuid,
    /// This attempt's number (1 for the first).
    pub attempt: i32,
    /// When its current retry period began.
    pub retrying_since: DateTime<Utc>,
    pub url: String,
    pub custom_headers: BTreeMap<String, String>,
    pub event_type: String,
    /// The integrator event, as sent.
    pub payload: Value,
}

/// What one attempt did.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptRecord {
    pub attempted_at: DateTime<Utc>,
    /// The receiver's HTTP status, when it answered.
    pub status_code: Option<u16>,
    pub latency: Duration,
    /// Why it failed (connection, timeout, non-2xx), if it did.
    pub error: Option<String>,
}

/// After a failed attempt: try again at a time, or give up.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AfterFailure {
    RetryAt(DateTime<Utc>),
    DeadLetter,
}

/// A delivery as the delivery log shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliverySummary {
    pub id: Uuid,
    pub endpoint_id: Uuid,
    pub event_id: Uuid,
    pub event_type: String,
    pub event_position: i64,
    pub state: String,
    pub attempts: i32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub dead_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// One attempt of the delivery log.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptSummary {
    pub attempt: i32,
    pub attempted_at: DateTime<Utc>,
    pub status_code: Option<i32>,
    pub latency_ms: f64,
    pub error: Option<String>,
}

/// Which deliveries a replay takes.
#[derive(Debug, Clone, PartialEq)]
pub enum ReplaySelection {
    /// One delivery of the endpoint.
    One(Uuid),
    /// Every delivery of the endpoint created in `[from, to)`.
    Between(DateTime<Utc>, DateTime<Utc>),
    /// Every dead delivery of the endpoint.
    DeadLetters,
}

impl ReplaySelection {
    /// The selection a caller's fields make: exactly one of a delivery id; a time range (from
    /// before to); every dead letter. `None` for any other combination.
    pub fn from_fields(
        delivery: Option<Uuid>,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        dead_letter: bool,
    ) -> Option<Self> {
        match (delivery, from, to, dead_letter) {
            (Some(delivery), None, None, false) => Some(Self::One(delivery)),
            (None, Some(from), Some(to), false) if from < to => Some(Self::Between(from, to)),
            (None, None, None, true) => Some(Self::DeadLetters),
            _ => None,
        }
    }
}

/// What a caller must give to choose a replay, for its error message.
pub const REPLAY_SELECTION_HELP: &str =
    "give exactly one of: deliveryId; from and to (from before to); deadLetter: true";

const SUMMARY_COLUMNS: &str = "d.id, d.endpoint_id, e.id AS event_id, e.event_type, \
     d.event_position, d.state, d.attempts, \
     CASE WHEN d.state = 'pending' THEN d.next_attempt_at END AS next_attempt_at, \
     d.last_attempt_at, d.last_status_code, d.last_error, d.delivered_at, d.dead_at, d.created_at";

fn summary_from(row: &Row) -> DeliverySummary {
    DeliverySummary {
        id: row.get("id"),
        endpoint_id: row.get("endpoint_id"),
        event_id: row.get("event_id"),
        event_type: row.get("event_type"),
        event_position: row.get("event_position"),
        state: row.get("state"),
        attempts: row.get("attempts"),
        next_attempt_at: row.get("next_attempt_at"),
        last_attempt_at: row.get("last_attempt_at"),
        last_status_code: row.get("last_status_code"),
        last_error: row.get("last_error"),
        delivered_at: row.get("delivered_at"),
        dead_at: row.get("dead_at"),
        created_at: row.get("created_at"),
    }
}

/// Delivery storage over the query pool.
#[derive(Clone)]
pub struct WebhookDeliveries {
    pool: deadpool_postgres::Pool,
}

impl WebhookDeliveries {
    /// Deliveries in `pool`.
    pub fn new(pool: deadpool_postgres::Pool) -> Self {
        Self { pool }
    }

    /// Claims up to `limit` due deliveries for one attempt each, holding them for `lease`
    /// (after a crash, another worker takes them once the lease ends: at least once).
    pub async fn claim_due(
        &self,
        limit: i64,
        lease: Duration,
    ) -> Result<Vec<ClaimedDelivery>, DeliveryStoreError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "WITH due AS ( \
                   SELECT d.id FROM webhook_deliveries d \
                   JOIN webhook_endpoints ep ON ep.id = d.endpoint_id \
                   WHERE d.state = 'pending' AND d.next_attempt_at <= now() \
                     AND (d.lease_until IS NULL OR d.lease_until < now()) \
                     AND ep.active AND ep.paused_at IS NULL \
                     AND NOT EXISTS ( \
                       SELECT 1 FROM webhook_deliveries earlier \
                       WHERE earlier.endpoint_id = d.endpoint_id \
                         AND earlier.ordering_key = d.ordering_key \
                         AND earlier.state = 'pending' \
                         AND earlier.event_position < d.event_position) \
                   ORDER BY d.next_attempt_at, d.event_position \
                   LIMIT $1 \
                   FOR UPDATE OF d SKIP LOCKED) \
                 UPDATE webhook_deliveries d SET \
                   lease_until = now() + make_interval(secs => $2), \
                   attempts = d.attempts + 1, \
                   retrying_since = COALESCE(d.retrying_since, now()) \
                 FROM due, integrator_events e, webhook_endpoints ep \
                 WHERE d.id = due.id AND e.position = d.event_position AND ep.id = d.endpoint_id \
                 RETURNING d.id, d.endpoint_id, d.attempts, d.retrying_since, ep.url, \
                   ep.custom_headers, e.event_type, e.payload",
                &[&limit, &lease.as_secs_f64()],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| {
                let headers: Value = row.get("custom_headers");
                ClaimedDelivery {
                    id: row.get("id"),
                    endpoint_id: row.get("endpoint_id"),
                    attempt: row.get("attempts"),
                    retrying_since: row.get("retrying_since"),
                    url: row.get("url"),
                    custom_headers: serde_json::from_value(headers).unwrap_or_default(),
                    event_type: row.get("event_type"),
                    payload: row.get("payload"),
                }
            })
            .collect())
    }

    /// Records a successful attempt: the delivery is done and the endpoint healthy again.
    pub async fn record_success(
        &self,
        delivery: &ClaimedDelivery,
        attempt: &AttemptRecord,
    ) -> Result<(), DeliveryStoreError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        insert_attempt(&tx, delivery, attempt).await?;
        tx.execute(
            "UPDATE webhook_deliveries SET state = 'delivered', delivered_at = $2, \
             lease_until = NULL, last_attempt_at = $2, last_status_code = $3, last_error = NULL \
             WHERE id = $1",
            &[
                &delivery.id,
                &attempt.attempted_at,
                &attempt.status_code.map(i32::from),
            ],
        )
        .await?;
        tx.execute(
            "UPDATE webhook_endpoints SET failing_since = NULL \
             WHERE id = $1 AND failing_since IS NOT NULL",
            &[&delivery.endpoint_id],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records a failed attempt, schedules the next or dead-letters the delivery, and pauses
    /// the endpoint once it has failed without a success for `pause_after`. Returns whether
    /// this paused the endpoint.
    pub async fn record_failure(
        &self,
        delivery: &ClaimedDelivery,
        attempt: &AttemptRecord,
        after: AfterFailure,
        pause_after: Duration,
    ) -> Result<bool, DeliveryStoreError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        insert_attempt(&tx, delivery, attempt).await?;
        let (state, next) = match after {
            AfterFailure::RetryAt(at) => ("pending", at),
            AfterFailure::DeadLetter => ("dead", attempt.attempted_at),
        };
        tx.execute(
            "UPDATE webhook_deliveries SET state = $2, next_attempt_at = $3, lease_until = NULL, \
             last_attempt_at = $4, last_status_code = $5, last_error = $6, \
             dead_at = CASE WHEN $2::text = 'dead' THEN $4::timestamptz END \
             WHERE id = $1",
            &[
                &delivery.id,
                &state,
                &next,
                &attempt.attempted_at,
                &attempt.status_code.map(i32::from),
                &attempt.error,
            ],
        )
        .await?;
        let paused = tx
            .query_opt(
                "UPDATE webhook_endpoints SET failing_since = COALESCE(failing_since, $2), \
                 paused_at = CASE WHEN paused_at IS NULL \
                   AND COALESCE(failing_since, $2) <= $2 - make_interval(secs => $3) \
                   THEN $2 ELSE paused_at END, \
                 paused_reason = CASE WHEN paused_at IS NULL \
                   AND COALESCE(failing_since, $2) <= $2 - make_interval(secs => $3) \
                   THEN 'every attempt has failed since ' || \
                        to_char(COALESCE(failing_since, $2) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') \
                   ELSE paused_reason END \
                 WHERE id = $1 \
                 RETURNING paused_at = $2",
                &[
                    &delivery.endpoint_id,
                    &attempt.attempted_at,
                    &pause_after.as_secs_f64(),
                ],
            )
            .await?
            .map(|row| row.get::<_, Option<bool>>(0) == Some(true))
            .unwrap_or(false);
        tx.commit().await?;
        Ok(paused)
    }

    /// The endpoint's deliveries, newest first, optionally in one state, before a position.
    pub async fn list(
        &self,
        workspace: Uuid,
        endpoint: Uuid,
        state: Option<&str>,
        before_position: Option<i64>,
        limit: i64,
    ) -> Result<Vec<DeliverySummary>, DeliveryStoreError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {SUMMARY_COLUMNS} FROM webhook_deliveries d \
                     JOIN webhook_endpoints ep ON ep.id = d.endpoint_id \
                     JOIN integrator_events e ON e.position = d.event_position \
                     WHERE ep.workspace_id = $1 AND d.endpoint_id = $2 \
                       AND ($3::text IS NULL OR d.state = $3) \
                       AND ($4::bigint IS NULL OR d.event_position < $4) \
                     ORDER BY d.event_position DESC LIMIT $5"
                ),
                &[&workspace, &endpoint, &state, &before_position, &limit],
            )
            .await?;
        Ok(rows.iter().map(summary_from).collect())
    }

    /// One delivery of the workspace's endpoint, with its attempts (oldest first).
    pub async fn get(
        &self,
        workspace: Uuid,
        endpoint: Uuid,
        delivery: Uuid,
    ) -> Result<Option<(DeliverySummary, Vec<AttemptSummary>)>, DeliveryStoreError> {
        let client = self.pool.get().await?;
        let Some(row) = client
            .query_opt(
                &format!(
                    "SELECT {SUMMARY_COLUMNS} FROM webhook_deliveries d \
                     JOIN webhook_endpoints ep ON ep.id = d.endpoint_id \
                     JOIN integrator_events e ON e.position = d.event_position \
                     WHERE ep.workspace_id = $1 AND d.endpoint_id = $2 AND d.id = $3"
                ),
                &[&workspace, &endpoint, &delivery],
            )
            .await?
        else {
            return Ok(None);
        };
        let attempts = client
            .query(
                "SELECT attempt, attempted_at, status_code, latency_ms, error \
                 FROM webhook_delivery_attempts WHERE delivery_id = $1 ORDER BY attempt",
                &[&delivery],
            )
            .await?
            .iter()
            .map(|row| AttemptSummary {
                attempt: row.get(0),
                attempted_at: row.get(1),
                status_code: row.get(2),
                latency_ms: row.get(3),
                error: row.get(4),
            })
            .collect();
        Ok(Some((summary_from(&row), attempts)))
    }

    /// Makes the selected deliveries of the workspace's endpoint pending and due now, with a
    /// fresh retry period and the same delivery ids; returns how many.
    pub async fn replay(
        &self,
        workspace: Uuid,
        endpoint: Uuid,
        selection: &ReplaySelection,
    ) -> Result<u64, DeliveryStoreError> {
        let (one, from, to, dead_only) = match selection {
            ReplaySelection::One(id) => (Some(*id), None, None, false),
            ReplaySelection::Between(from, to) => (None, Some(*from), Some(*to), false),
            ReplaySelection::DeadLetters => (None, None, None, true),
        };
        let client = self.pool.get().await?;
        let replayed = client
            .execute(
                "UPDATE webhook_deliveries d SET state = 'pending', next_attempt_at = now(), \
                 lease_until = NULL, retrying_since = NULL, dead_at = NULL \
                 FROM webhook_endpoints ep \
                 WHERE ep.id = d.endpoint_id AND ep.workspace_id = $1 AND d.endpoint_id = $2 \
                   AND ($3::uuid IS NULL OR d.id = $3) \
                   AND ($4::timestamptz IS NULL OR d.created_at >= $4) \
                   AND ($5::timestamptz IS NULL OR d.created_at < $5) \
                   AND (NOT $6 OR d.state = 'dead') \
                   AND (d.state <> 'pending' OR d.lease_until IS NULL OR d.lease_until < now())",
                &[&workspace, &endpoint, &one, &from, &to, &dead_only],
            )
            .await?;
        Ok(replayed)
    }

    /// How many of the endpoint's deliveries are in each state.
    pub async fn counts(
        &self,
        endpoint: Uuid,
    ) -> Result<BTreeMap<String, i64>, DeliveryStoreError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT state, count(*) FROM webhook_deliveries WHERE endpoint_id = $1 GROUP BY state",
                &[&endpoint],
            )
            .await?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }
}

async fn insert_attempt(
    tx: &tokio_postgres::Transaction<'_>,
    delivery: &ClaimedDelivery,
    attempt: &AttemptRecord,
) -> Result<(), DeliveryStoreError> {
    tx.execute(
        "INSERT INTO webhook_delivery_attempts \
         (delivery_id, attempt, attempted_at, status_code, latency_ms, error) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (delivery_id, attempt) DO NOTHING",
        &[
            &delivery.id,
            &delivery.attempt,
            &attempt.attempted_at,
            &attempt.status_code.map(i32::from),
            &(attempt.latency.as_secs_f64() * 1000.0),
            &attempt.error,
        ],
    )
    .await?;
    Ok(())
}

//! The integrator event stream: a workspace's integrator events after a cursor, in the order
//! the `integrator_events` projection stored them (the log's commit order). Positions are only
//! ever appended by that one projector, so a reader that continues from the last position it
//! saw misses nothing.

use serde_json::Value;

/// Why the stream could not be read.
#[derive(Debug, thiserror::Error)]
#[error("database: {0}")]
pub struct EventStreamError(String);

impl From<tokio_postgres::Error> for EventStreamError {
    fn from(error: tokio_postgres::Error) -> Self {
        Self(application::error::with_causes(&error))
    }
}

impl From<deadpool_postgres::PoolError> for EventStreamError {
    fn from(error: deadpool_postgres::PoolError) -> Self {
        Self(error.to_string())
    }
}

/// One event of the stream and its position (the cursor to continue after it).
#[derive(Debug, Clone, PartialEq)]
pub struct StreamedEvent {
    pub position: i64,
    pub payload: Value,
}

/// Reads the stream over the query pool.
#[derive(Clone)]
pub struct IntegratorEventStream {
    pool: deadpool_postgres::Pool,
}

impl IntegratorEventStream {
    /// The stream in `pool`.
    pub fn new(pool: deadpool_postgres::Pool) -> Self {
        Self { pool }
    }

    /// Up to `limit` of the workspace's events after position `after`, oldest first.
    pub async fn after(
        &self,
        workspace: uuid::Uuid,
        after: i64,
        limit: i64,
    ) -> Result<Vec<StreamedEvent>, EventStreamError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT position, payload FROM integrator_events \
                 WHERE workspace_id = $1 AND position > $2 ORDER BY position LIMIT $3",
                &[&workspace, &after, &limit],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| StreamedEvent {
                position: row.get(0),
                payload: row.get(1),
            })
            .collect())
    }
}

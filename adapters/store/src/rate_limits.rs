//! Per-token request counts in fixed 15-minute windows, kept in PostgreSQL so that every
//! `parley serve` sharing the database enforces one limit together.

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

/// Length of a rate-limit window, in seconds.
pub const WINDOW_SECONDS: i64 = 900;

/// Requests a token may make per window unless `api_tokens.rate_limit_per_window` says otherwise.
pub const DEFAULT_REQUESTS_PER_WINDOW: i64 = 1000;

/// Counts one request and reads the token's limit, in one statement and round trip.
///
/// The window is computed from the database's clock, not the server's, so servers with skewed
/// clocks still agree on it. When the upsert creates the row (the token's first request in this
/// window), the same statement deletes the token's older windows: cleanup costs one indexed
/// delete per token per quarter hour and needs no background job.
const COUNT_REQUEST: &str = "\
WITH window_now AS (
    SELECT to_timestamp((floor(extract(epoch FROM now()) / $2::bigint) * $2::bigint)::float8) AS start
), counted AS (
    INSERT INTO rate_limit_windows (token_id, window_start, count)
    SELECT $1, start, 1 FROM window_now
    ON CONFLICT (token_id, window_start)
        DO UPDATE SET count = rate_limit_windows.count + 1
    RETURNING window_start, count
), swept AS (
    DELETE FROM rate_limit_windows old
    USING counted
    WHERE counted.count = 1 AND old.token_id = $1 AND old.window_start < counted.window_start
)
SELECT counted.window_start, counted.count,
       (SELECT rate_limit_per_window FROM api_tokens WHERE id = $1)
FROM counted";

/// A token's use of the current window, this request included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowUsage {
    /// Requests allowed in the window.
    pub limit: i64,
    /// Requests made in the window, including the one just counted (and refused ones).
    pub count: i64,
    /// When the window started.
    pub window_start: DateTime<Utc>,
}

impl WindowUsage {
    /// Whether the request just counted is over the limit.
    pub fn exceeded(&self) -> bool {
        self.count > self.limit
    }

    /// Requests still allowed in the window.
    pub fn remaining(&self) -> i64 {
        (self.limit - self.count).max(0)
    }

    /// When the window ends and the count starts again from zero.
    pub fn reset_at(&self) -> DateTime<Utc> {
        self.window_start + Duration::seconds(WINDOW_SECONDS)
    }
}

/// Why a request could not be counted.
#[derive(Debug, thiserror::Error)]
pub enum RateLimitError {
    #[error("database pool: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    #[error("database: {0}")]
    Database(#[from] tokio_postgres::Error),
}

/// The request counters (`rate_limit_windows`).
#[derive(Clone)]
pub struct RateLimits {
    pool: deadpool_postgres::Pool,
}

impl RateLimits {
    /// Counters on `pool`.
    pub fn new(pool: deadpool_postgres::Pool) -> Self {
        Self { pool }
    }

    /// Counts one request of `token_id` in the current window; returns the window's usage.
    pub async fn count_request(&self, token_id: Uuid) -> Result<WindowUsage, RateLimitError> {
        let client = self.pool.get().await?;
        // Every authenticated request runs this: prepared once per connection.
        let statement = client.prepare_cached(COUNT_REQUEST).await?;
        let row = client
            .query_one(&statement, &[&token_id, &WINDOW_SECONDS])
            .await?;
        let count: i32 = row.get(1);
        let limit: Option<i32> = row.get(2);
        Ok(WindowUsage {
            limit: limit.map_or(DEFAULT_REQUESTS_PER_WINDOW, i64::from),
            count: i64::from(count),
            window_start: row.get(0),
        })
    }
}

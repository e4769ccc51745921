//! `GET /api/v2/external/health` and `GET /api/v2/external/rate-limit-test`, exactly as seed 000
//! specifies. Both need a valid token; both are rate limited like every other External API call.

use crate::extract::Caller;
use crate::rate_limit::{rfc3339, RateLimitStatus};
use crate::state::AppState;
use crate::surface::{respond, ApiError, ExternalV2};
use application::Freshness;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use serde_json::json;
use std::time::{Duration, Instant};
use store::rate_limits::WINDOW_SECONDS;

type Error = ApiError<ExternalV2>;

/// A database slower than this to answer `SELECT 1` makes the API `degraded`.
const SLOW_DATABASE: Duration = Duration::from_millis(500);

/// How long the health check waits for the database before calling the API `unhealthy`.
const DATABASE_TIMEOUT: Duration = Duration::from_secs(2);

/// `GET /api/v2/external/health`: `healthy` when the database answers within 500 ms,
/// `degraded` when it answers slower, `unhealthy` when it does not answer within 2 s or fails
/// (then `success` is false too: the seed defines it as "whether the API is healthy"; `degraded`
/// still serves). Always 200 with a valid token, as the seed documents no other status.
pub async fn health(State(state): State<AppState>, Caller(..): Caller<ExternalV2>) -> Response {
    let started = Instant::now();
    let status = match tokio::time::timeout(DATABASE_TIMEOUT, database_answers(&state)).await {
        Ok(Ok(())) if started.elapsed() <= SLOW_DATABASE => "healthy",
        Ok(Ok(())) => "degraded",
        Ok(Err(error)) => {
            tracing::warn!(%error, "health check: the database failed");
            "unhealthy"
        }
        Err(_) => {
            tracing::warn!(timeout = ?DATABASE_TIMEOUT, "health check: the database did not answer");
            "unhealthy"
        }
    };
    respond(
        StatusCode::OK,
        json!({
            "success": status != "unhealthy",
            "data": { "status": status, "timestamp": rfc3339(chrono::Utc::now()) },
        }),
        Freshness::Fresh,
    )
}

async fn database_answers(state: &AppState) -> Result<(), String> {
    let client = state.queries.get().await.map_err(|e| e.to_string())?;
    client
        .execute("SELECT 1", &[])
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// `GET /api/v2/external/rate-limit-test`: the caller's window as the rate limit counted this
/// request (the same figures as the `X-RateLimit-*` headers).
pub async fn rate_limit_test(
    Caller(..): Caller<ExternalV2>,
    counted: Option<Extension<RateLimitStatus>>,
) -> Result<Response, Error> {
    // Absent only when counting failed and the request was served anyway (fail open).
    let Some(Extension(RateLimitStatus(usage))) = counted else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            "The rate-limit counters cannot be read right now",
        ));
    };
    Ok(respond(
        StatusCode::OK,
        json!({
            "success": true,
            "data": {
                "limit": usage.limit,
                "remaining": usage.remaining(),
                "reset": rfc3339(usage.reset_at()),
                "window": WINDOW_SECONDS,
            },
        }),
        Freshness::Fresh,
    ))
}

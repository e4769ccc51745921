//! `GET /api/v2/external/events?after=CURSOR&limit=N&wait=SECONDS`: the workspace's integrator
//! events in order, with the cursor to continue from. Integrators who missed webhooks catch up
//! here without gaps; with `wait`, an empty answer is held until an event arrives (long poll).

use crate::extract::{Caller, Params};
use crate::state::AppState;
use crate::surface::{respond, ApiError, ExternalV2};
use application::Freshness;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};
use std::time::Duration;
use tokio::time::Instant;

type Error = ApiError<ExternalV2>;

/// Events per answer, by default and at most.
const DEFAULT_LIMIT: i64 = 100;
const MAX_LIMIT: i64 = 1000;
/// The longest a long poll is held.
const MAX_WAIT_SECONDS: u64 = 30;
/// How often a held long poll looks again.
const POLL_EVERY: Duration = Duration::from_millis(100);

/// Query of `GET /api/v2/external/events`.
#[derive(Deserialize)]
pub struct EventsQuery {
    /// The `nextCursor` of the previous answer; absent: from the first event.
    after: Option<String>,
    limit: Option<i64>,
    /// Seconds to wait for an event when there is none yet (0–30).
    wait: Option<u64>,
}

/// `GET /api/v2/external/events`
pub async fn list(
    State(state): State<AppState>,
    Caller(caller, ..): Caller<ExternalV2>,
    Params(query, ..): Params<ExternalV2, EventsQuery>,
) -> Result<Response, Error> {
    let after = match query.after.as_deref() {
        None | Some("") => 0,
        Some(raw) => raw
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| ApiError::validation("after: not a cursor of this stream"))?,
    };
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::validation(format!(
            "limit: between 1 and {MAX_LIMIT}"
        )));
    }
    let wait = query.wait.unwrap_or(0);
    if wait > MAX_WAIT_SECONDS {
        return Err(ApiError::validation(format!(
            "wait: at most {MAX_WAIT_SECONDS} seconds"
        )));
    }
    let deadline = Instant::now() + Duration::from_secs(wait);
    let events = loop {
        let events = state
            .event_stream
            .after(caller.workspace_id.0, after, limit + 1)
            .await
            .map_err(application::AppError::internal)?;
        if !events.is_empty() || Instant::now() + POLL_EVERY > deadline {
            break events;
        }
        tokio::time::sleep(POLL_EVERY).await;
    };
    let has_more = events.len() as i64 > limit;
    let mut events = events;
    events.truncate(limit as usize);
    let next_cursor = events.last().map(|e| e.position).unwrap_or(after);
    let payloads: Vec<Value> = events.into_iter().map(|e| e.payload).collect();
    Ok(respond(
        StatusCode::OK,
        json!({
            "success": true,
            "data": { "events": payloads },
            "meta": {
                "nextCursor": next_cursor.to_string(),
                "hasMore": has_more,
            },
        }),
        Freshness::Fresh,
    ))
}

//! Per-token rate limits on the REST surfaces (`/api/v2/external/…`, `/v1/whatsapp/…`): by
//! default 1000 requests per fixed 15-minute window, per token in `api_tokens`.
//!
//! Every authenticated request is counted in PostgreSQL (one upsert, see
//! [`store::rate_limits`]), so several `parley serve` processes on one database share the count.
//! Its response, success or error, carries `X-RateLimit-Limit`, `X-RateLimit-Remaining` and
//! `X-RateLimit-Reset` (RFC 3339, when the window ends). Over the limit the request is answered
//! 429 `RATE_LIMITED` in the surface's error envelope with `Retry-After` (seconds), and no
//! handler runs. Requests without a valid token are not counted: their handlers answer 401 as
//! before. Liveness, Meta's webhook, the OpenAPI document and GraphQL are not limited.

use crate::auth::authenticate;
use crate::extract::Authentication;
use crate::state::AppState;
use crate::surface::{ApiError, ExternalV2, WhatsAppV1};
use application::{Actor, RequestContext};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use store::rate_limits::{RateLimits, WindowUsage, WINDOW_SECONDS};

/// Requests allowed in the window.
pub const LIMIT_HEADER: &str = "x-ratelimit-limit";
/// Requests left in the window after this one.
pub const REMAINING_HEADER: &str = "x-ratelimit-remaining";
/// When the window ends (RFC 3339).
pub const RESET_HEADER: &str = "x-ratelimit-reset";

/// The rate-limit layer's state: token lookup and the shared counters.
#[derive(Clone)]
pub struct RateLimiter {
    state: AppState,
    counters: RateLimits,
}

impl RateLimiter {
    /// Counts on the query pool of `state`.
    pub fn new(state: AppState) -> Self {
        let counters = RateLimits::new(state.queries.clone());
        Self { state, counters }
    }
}

/// The window this request was counted in, in the request's extensions for handlers that
/// report it (`GET /api/v2/external/rate-limit-test`).
#[derive(Debug, Clone, Copy)]
pub struct RateLimitStatus(pub WindowUsage);

/// The REST surface a limited path belongs to (it decides the 429's envelope).
#[derive(Debug, Clone, Copy)]
enum LimitedSurface {
    ExternalV2,
    WhatsAppV1,
}

fn limited_surface(path: &str) -> Option<LimitedSurface> {
    if path.starts_with("/api/v2/external/") {
        Some(LimitedSurface::ExternalV2)
    } else if path.starts_with("/v1/whatsapp/") {
        Some(LimitedSurface::WhatsAppV1)
    } else {
        None
    }
}

/// Middleware: authenticates, counts and, over the limit, refuses the request.
pub async fn enforce(State(limiter): State<RateLimiter>, request: Request, next: Next) -> Response {
    let Some(surface) = limited_surface(request.uri().path()) else {
        return next.run(request).await;
    };
    let (mut parts, body) = request.into_parts();
    let outcome = authenticate(&parts, &limiter.state).await;
    let token_id = match &outcome {
        Ok(RequestContext {
            actor: Actor::Token(token_id),
            ..
        }) => Some(*token_id),
        _ => None,
    };
    // The handler's `Caller` takes the outcome from here instead of looking the token up again.
    parts.extensions.insert(Authentication(outcome));
    let Some(token_id) = token_id else {
        // No valid token: the handler answers 401 (or 503) as it always did, uncounted.
        return next.run(Request::from_parts(parts, body)).await;
    };
    let usage = match limiter.counters.count_request(token_id).await {
        Ok(usage) => usage,
        Err(error) => {
            // Fail open: the counters only protect the service, so a database hiccup while
            // counting must not turn into refused requests. The request is served without
            // rate-limit headers (there is no count to report).
            tracing::warn!(%error, %token_id, "could not count the request for its rate limit; serving it");
            return next.run(Request::from_parts(parts, body)).await;
        }
    };
    let mut response = if usage.exceeded() {
        too_many_requests(surface, &usage)
    } else {
        parts.extensions.insert(RateLimitStatus(usage));
        next.run(Request::from_parts(parts, body)).await
    };
    insert_headers(response.headers_mut(), &usage);
    response
}

/// 429 in the surface's envelope, with `Retry-After`.
fn too_many_requests(surface: LimitedSurface, usage: &WindowUsage) -> Response {
    let message = format!(
        "Rate limit exceeded: {} requests per {} minutes for this token; the window resets at {}",
        usage.limit,
        WINDOW_SECONDS / 60,
        rfc3339(usage.reset_at())
    );
    let (status, code) = (StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED");
    let mut response = match surface {
        LimitedSurface::ExternalV2 => {
            ApiError::<ExternalV2>::new(status, code, message).into_response()
        }
        LimitedSurface::WhatsAppV1 => {
            ApiError::<WhatsAppV1>::new(status, code, message).into_response()
        }
    };
    // Whole seconds until the window resets, rounded up, so a client that waits exactly this
    // long is never early.
    let millis = (usage.reset_at() - Utc::now()).num_milliseconds();
    let seconds = ((millis + 999) / 1000).clamp(1, WINDOW_SECONDS);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

fn insert_headers(headers: &mut HeaderMap, usage: &WindowUsage) {
    headers.insert(LIMIT_HEADER, HeaderValue::from(usage.limit));
    headers.insert(REMAINING_HEADER, HeaderValue::from(usage.remaining()));
    if let Ok(reset) = HeaderValue::from_str(&rfc3339(usage.reset_at())) {
        headers.insert(RESET_HEADER, reset);
    }
}

/// A time as the rate-limit headers and bodies write it: `2023-12-01T11:00:00Z`.
pub fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

//! Parley's REST surfaces (External API v2 under `/api/v2/external`, WhatsApp API under
//! `/v1/whatsapp`), the request-id and auth layers shared with GraphQL, per-token rate limits,
//! and the HTTP router.
//!
//! Handlers are thin: parse, call the application, map the result.

pub mod auth;
pub mod extract;
pub mod rate_limit;
pub mod request_id;
pub mod rest;
pub mod router;
pub mod state;
pub mod surface;
pub mod webhook;
pub mod webhook_replay;

pub use router::router;
pub use state::AppState;

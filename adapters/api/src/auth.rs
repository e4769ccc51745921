//! API-token authentication, shared by REST and GraphQL: `Authorization: Bearer wat_…` or
//! `X-API-Key: wat_…`, resolved to the token's workspace.

use crate::request_id::RequestId;
use crate::state::AppState;
use application::{Actor, RequestContext};
use axum::http::request::Parts;

/// Why a request is not authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthFailure {
    Missing,
    Invalid,
    /// Token storage could not be read.
    Unavailable,
}

impl AuthFailure {
    /// A message for the caller.
    pub fn message(&self) -> &'static str {
        match self {
            Self::Missing => {
                "Missing API token: send Authorization: Bearer <token> or X-API-Key: <token>"
            }
            Self::Invalid => "Invalid API token",
            Self::Unavailable => "Authentication is temporarily unavailable",
        }
    }
}

/// The token the request presents, if any.
pub fn presented_token(parts: &Parts) -> Option<String> {
    let bearer = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|v| v.trim().to_string());
    bearer.or_else(|| {
        parts
            .headers
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_string())
    })
}

/// Resolves the request's caller: its workspace, token and correlation id.
pub async fn authenticate(parts: &Parts, state: &AppState) -> Result<RequestContext, AuthFailure> {
    let token = presented_token(parts)
        .filter(|t| !t.is_empty())
        .ok_or(AuthFailure::Missing)?;
    let identity = state
        .tenancy
        .authenticate(&token)
        .await
        .map_err(|error| {
            tracing::error!(%error, "token lookup failed");
            AuthFailure::Unavailable
        })?
        .ok_or(AuthFailure::Invalid)?;
    let correlation_id = parts
        .extensions
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    Ok(RequestContext {
        workspace_id: identity.workspace_id,
        actor: Actor::Token(identity.token_id),
        correlation_id,
    })
}

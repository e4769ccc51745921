//! Extractors that report every rejection in the surface's own error format (axum's defaults
//! answer in plain text).

use crate::auth::{authenticate, AuthFailure};
use crate::state::AppState;
use crate::surface::{ApiError, Surface};
use application::RequestContext;
use axum::body::Bytes;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use serde::de::DeserializeOwned;
use std::marker::PhantomData;

/// How a request's token was resolved, put in its extensions by a layer that authenticated it
/// already (the rate limit), so that [`Caller`] does not look the token up a second time.
#[derive(Debug, Clone)]
pub struct Authentication(pub Result<RequestContext, AuthFailure>);

/// The authenticated caller, for surface `S`.
pub struct Caller<S: Surface>(pub RequestContext, pub PhantomData<S>);

impl<S: Surface> FromRequestParts<AppState> for Caller<S> {
    type Rejection = ApiError<S>;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let outcome = match parts.extensions.get::<Authentication>() {
            Some(Authentication(outcome)) => outcome.clone(),
            None => authenticate(parts, state).await,
        };
        match outcome {
            Ok(context) => Ok(Caller(context, PhantomData)),
            Err(AuthFailure::Unavailable) => Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "UNAVAILABLE",
                AuthFailure::Unavailable.message(),
            )),
            Err(failure) => Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
                failure.message(),
            )),
        }
    }
}

/// A JSON body; malformed JSON, wrong types, missing fields and oversized bodies are 4xx in `S`'s format.
pub struct Body<S: Surface, T>(pub T, pub PhantomData<S>);

impl<S: Surface, T: DeserializeOwned> FromRequest<AppState> for Body<S, T> {
    type Rejection = ApiError<S>;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        require_json(request.headers())?;
        let bytes = read_bytes(request, state).await?;
        Ok(Body(parse_json(&bytes)?, PhantomData))
    }
}

/// A JSON body the caller may leave out (nothing, or only whitespace): then `T::default()`.
pub struct OptionalBody<S: Surface, T>(pub T, pub PhantomData<S>);

impl<S: Surface, T: DeserializeOwned + Default> FromRequest<AppState> for OptionalBody<S, T> {
    type Rejection = ApiError<S>;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let headers = request.headers().clone();
        let bytes = read_bytes(request, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalBody(T::default(), PhantomData));
        }
        require_json(&headers)?;
        Ok(OptionalBody(parse_json(&bytes)?, PhantomData))
    }
}

/// The request must declare a JSON body: without any Content-Type it is 400 (the body is
/// missing, as far as the API can tell, and 400 is what the specs document), with another type
/// it is 415.
fn require_json<S: Surface>(headers: &HeaderMap) -> Result<(), ApiError<S>> {
    if is_json(headers) {
        Ok(())
    } else if !headers.contains_key(header::CONTENT_TYPE) {
        Err(ApiError::validation(
            "A JSON request body is required (Content-Type: application/json)",
        ))
    } else {
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            "Expected Content-Type: application/json",
        ))
    }
}

/// The body's bytes; over the limit is 413 in `S`'s format.
async fn read_bytes<S: Surface>(request: Request, state: &AppState) -> Result<Bytes, ApiError<S>> {
    match Bytes::from_request(request, state).await {
        Ok(bytes) => Ok(bytes),
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                "Request body is larger than 1 MiB",
            ))
        }
        Err(rejection) => Err(ApiError::validation(format!(
            "Could not read the request body: {}",
            rejection.body_text()
        ))),
    }
}

/// The body as `T`; malformed JSON, wrong types and NUL characters are 400.
fn parse_json<S: Surface, T: DeserializeOwned>(bytes: &Bytes) -> Result<T, ApiError<S>> {
    let axum::Json(value) = axum::Json::<T>::from_bytes(bytes).map_err(json_rejection)?;
    // PostgreSQL cannot store NUL in text or jsonb; refuse it here rather than fail later.
    if has_escaped_nul(bytes) {
        return Err(ApiError::validation(
            "Invalid request body: strings must not contain NUL (\\u0000) characters",
        ));
    }
    Ok(value)
}

/// Whether the request declares a JSON body (`application/json` or `application/*+json`).
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Whether valid JSON text holds a `\u0000` escape (the only way a NUL can be in it).
fn has_escaped_nul(json: &[u8]) -> bool {
    let mut i = 0;
    while i < json.len() {
        if json[i] == b'\\' {
            if json.get(i + 1) == Some(&b'u') && json.get(i + 2..i + 6) == Some(b"0000") {
                return true;
            }
            i += 2;
        } else {
            i += 1;
        }
    }
    false
}

fn json_rejection<S: Surface>(rejection: JsonRejection) -> ApiError<S> {
    let status = rejection.status();
    let code = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "PAYLOAD_TOO_LARGE",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "UNSUPPORTED_MEDIA_TYPE",
        _ => "VALIDATION_ERROR",
    };
    let message = match &rejection {
        JsonRejection::JsonDataError(e) => format!("Invalid request body: {}", e.body_text()),
        JsonRejection::JsonSyntaxError(e) => format!("Malformed JSON: {}", e.body_text()),
        JsonRejection::MissingJsonContentType(_) => {
            "Expected Content-Type: application/json".to_string()
        }
        JsonRejection::BytesRejection(_) if status == StatusCode::PAYLOAD_TOO_LARGE => {
            "Request body is larger than 1 MiB".to_string()
        }
        other => other.body_text(),
    };
    // Syntax and data errors are 400 and 422 in axum; both are the caller's bad input: 400.
    let status = if status == StatusCode::UNPROCESSABLE_ENTITY {
        StatusCode::BAD_REQUEST
    } else {
        status
    };
    ApiError::new(status, code, message)
}

/// Query parameters, with wrong types reported as 400 in `S`'s format.
pub struct Params<S: Surface, T>(pub T, pub PhantomData<S>);

impl<S: Surface, T: DeserializeOwned> FromRequestParts<AppState> for Params<S, T> {
    type Rejection = ApiError<S>;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        // A NUL cannot be stored or compared in PostgreSQL text.
        if parts
            .uri
            .query()
            .is_some_and(|q| q.contains("%00") || q.contains('\0'))
        {
            return Err(ApiError::validation(
                "Invalid query parameters: NUL (%00) characters are not allowed",
            ));
        }
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Params(value, PhantomData)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => Err(ApiError::validation(
                format!("Invalid query parameters: {}", e.body_text()),
            )),
            Err(other) => Err(ApiError::validation(other.body_text())),
        }
    }
}

/// Parses a path id; anything that is not one of our ids is simply not found.
pub fn parse_id<S: Surface>(raw: &str, what: &str) -> Result<uuid::Uuid, ApiError<S>> {
    uuid::Uuid::parse_str(raw).map_err(|_| ApiError::not_found(what))
}

/// The single path parameter (an id), raw. A segment that is not valid UTF-8 cannot be one of our
/// ids: it comes through as `None`, so the handler answers 404 in its surface's format (axum's
/// own rejection would be plain text).
pub struct PathParam<S: Surface>(pub Option<String>, pub PhantomData<S>);

impl<S: Surface> FromRequestParts<AppState> for PathParam<S> {
    type Rejection = ApiError<S>;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let raw = axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .ok()
            .map(|axum::extract::Path(id)| id);
        Ok(PathParam(raw, PhantomData))
    }
}

/// Parses the path id; anything that is not one of our ids is simply not found.
pub fn path_id<S: Surface>(raw: &PathParam<S>, what: &str) -> Result<uuid::Uuid, ApiError<S>> {
    parse_id(raw.0.as_deref().unwrap_or_default(), what)
}

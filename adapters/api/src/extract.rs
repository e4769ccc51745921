//! Extractors that report every rejection in the surface's own error format (axum's defaults
//! answer in plain text).

use crate::auth::{authenticate, AuthFailure};
use crate::state::AppState;
use crate::surface::{ApiError, Surface};
use application::RequestContext;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use std::marker::PhantomData;

/// The authenticated caller, for surface `S`.
pub struct Caller<S: Surface>(pub RequestContext, pub PhantomData<S>);

impl<S: Surface> FromRequestParts<AppState> for Caller<S> {
    type Rejection = ApiError<S>;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match authenticate(parts, state).await {
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
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(Body(value, PhantomData)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
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

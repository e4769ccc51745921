//! The two REST wire contracts differ in their error envelope; everything else is shared.
//!
//! - External API v2 (seed 000): `{"success": false, "error": {"code": "...", "message": "..."}}`
//! - WhatsApp API (seed 001): `{"success": false, "error": "...", "code": "..."}`

use application::{AppError, ErrorCode, Freshness};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use std::marker::PhantomData;

/// Response header saying whether read models already reflected the write (`fresh`/`stale`).
pub const READ_MODEL_HEADER: &str = "x-parley-read-model";

/// A REST surface: how it writes errors.
pub trait Surface: Send + Sync + 'static {
    fn error_body(code: &str, message: &str) -> Value;
}

/// The External API v2 of seed 000.
pub struct ExternalV2;
/// The WhatsApp API of seed 001.
pub struct WhatsAppV1;

impl Surface for ExternalV2 {
    fn error_body(code: &str, message: &str) -> Value {
        json!({ "success": false, "error": { "code": code, "message": message } })
    }
}

impl Surface for WhatsAppV1 {
    fn error_body(code: &str, message: &str) -> Value {
        json!({ "success": false, "error": message, "code": code })
    }
}

/// An error response in surface `S`'s format.
pub struct ApiError<S: Surface> {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    surface: PhantomData<S>,
}

impl<S: Surface> ApiError<S> {
    /// An error with an explicit status and code.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            surface: PhantomData,
        }
    }

    /// 400 with `VALIDATION_ERROR`.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::from_code(ErrorCode::ValidationError, message)
    }

    /// 404 for `what`.
    pub fn not_found(what: &str) -> Self {
        Self::from_code(ErrorCode::NotFound, format!("{what} not found"))
    }

    /// The status and wire code of an application error code.
    pub fn from_code(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            code.as_str(),
            message,
        )
    }
}

impl<S: Surface> From<AppError> for ApiError<S> {
    fn from(error: AppError) -> Self {
        match &error {
            AppError::Internal(detail) => {
                tracing::error!(%detail, "request failed");
                Self::from_code(
                    ErrorCode::Internal,
                    "Internal error; the request id identifies it in the logs",
                )
            }
            _ => Self::from_code(error.code(), error.to_string()),
        }
    }
}

impl<S: Surface> From<tokio_postgres::Error> for ApiError<S> {
    fn from(error: tokio_postgres::Error) -> Self {
        AppError::internal(error).into()
    }
}

impl<S: Surface> From<deadpool_postgres::PoolError> for ApiError<S> {
    fn from(error: deadpool_postgres::PoolError) -> Self {
        AppError::internal(error).into()
    }
}

impl<S: Surface> IntoResponse for ApiError<S> {
    fn into_response(self) -> Response {
        (self.status, Json(S::error_body(self.code, &self.message))).into_response()
    }
}

/// A successful JSON response that also says whether read models were fresh.
pub fn respond(status: StatusCode, body: Value, freshness: Freshness) -> Response {
    let mut response = (status, Json(body)).into_response();
    let value = match freshness {
        Freshness::Fresh => "fresh",
        Freshness::Stale => "stale",
    };
    response
        .headers_mut()
        .insert(READ_MODEL_HEADER, HeaderValue::from_static(value));
    response
}

//! One mapping from the application's errors to GraphQL errors: `extensions.code` carries the
//! same codes as REST; internal details are logged, never returned.

use application::AppError;
use async_graphql::{Error, ErrorExtensions};
use std::fmt::Display;
use uuid::Uuid;

/// The result type of every resolver.
pub type Result<T> = std::result::Result<T, Error>;

/// Maps an application error to a GraphQL error with `extensions.code`.
pub fn app_error(error: AppError) -> Error {
    let code = error.code().as_str();
    let message = match &error {
        AppError::Internal(detail) => {
            tracing::error!(error = %detail, "graphql: internal error");
            "Internal error".to_string()
        }
        other => other.to_string(),
    };
    Error::new(message).extend_with(|_, extensions| extensions.set("code", code))
}

/// An infrastructure failure (pool, query): INTERNAL_ERROR.
pub fn internal(error: impl Display) -> Error {
    app_error(AppError::Internal(error.to_string()))
}

/// NOT_FOUND for `what`.
pub fn not_found(what: &'static str) -> Error {
    app_error(AppError::NotFound(what))
}

/// VALIDATION_ERROR with `message`.
pub fn validation(message: impl Into<String>) -> Error {
    app_error(AppError::Validation(message.into()))
}

/// UNAVAILABLE with `message`: something the request needs (Meta's Graph API) is not there.
pub fn unavailable(message: impl Into<String>) -> Error {
    Error::new(message.into()).extend_with(|_, extensions| extensions.set("code", "UNAVAILABLE"))
}

/// Parses an id; one that cannot be ours is an unknown `what` (NOT_FOUND).
pub fn parse_id(raw: &str, what: &'static str) -> Result<Uuid> {
    Uuid::parse_str(raw.trim()).map_err(|_| not_found(what))
}

/// Lets `?` map application errors.
pub trait OrGraphql<T> {
    fn gql(self) -> Result<T>;
}

impl<T> OrGraphql<T> for std::result::Result<T, AppError> {
    fn gql(self) -> Result<T> {
        self.map_err(app_error)
    }
}

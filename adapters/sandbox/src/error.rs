//! The crate's own errors (Meta's error object is in [`crate::meta_error`]).

/// Starting the sandbox failed.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The HTTP client for webhooks could not be built.
    #[error("cannot build the webhook HTTP client: {0}")]
    HttpClient(#[source] reqwest::Error),
    /// The listener's address could not be read, or binding failed.
    #[error("cannot listen: {0}")]
    Listen(#[source] std::io::Error),
}

/// A control request was refused (answered 400 as `{"error": "..."}`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// The body does not describe a valid request.
    #[error("{0}")]
    Invalid(String),
}

/// A [`crate::SandboxClient`] call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The sandbox could not be reached or its answer not read.
    #[error("sandbox request failed: {0}")]
    Http(#[from] reqwest::Error),
    /// The sandbox answered with an error status.
    #[error("sandbox answered {status}: {body}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// The answer's body.
        body: String,
    },
}

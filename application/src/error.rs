//! The application's errors, with the codes both surfaces (REST and GraphQL) report.

use cqrs_es::AggregateError;
use domain::contact::ContactError;
use domain::conversation::ConversationError;
use domain::phone_number::PhoneNumberError;

/// A stable, machine-readable error code, the same in REST and GraphQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    ValidationError,
    InvalidPhoneNumber,
    NotFound,
    Conflict,
    Unauthorized,
    PayloadTooLarge,
    /// A free-form message outside the customer's 24-hour service window.
    WindowClosed,
    /// The recipient opted out of business messages.
    RecipientOptedOut,
    /// The recipient is blocked.
    RecipientBlocked,
    /// A reply or reaction names a message that is not in the conversation (or not sent yet).
    UnknownReplyTarget,
    /// The message content breaks one of Meta's rules (length, counts, media source).
    InvalidContent,
    /// The resource's state does not allow the action (e.g. deleting a broadcast that is sending).
    InvalidState,
    /// The template is not approved (or not in that language) for the number's WABA.
    TemplateNotApproved,
    /// The message's parameters do not fit the template's placeholders.
    TemplateMismatch,
    /// Meta's Graph API could not answer now (a transient failure); the caller may retry.
    Unavailable,
    Internal,
}

impl ErrorCode {
    /// The wire form, e.g. `VALIDATION_ERROR`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ValidationError => "VALIDATION_ERROR",
            Self::InvalidPhoneNumber => "INVALID_PHONE_NUMBER",
            Self::NotFound => "NOT_FOUND",
            Self::Conflict => "CONFLICT",
            Self::Unauthorized => "UNAUTHORIZED",
            Self::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            Self::WindowClosed => "WINDOW_CLOSED",
            Self::RecipientOptedOut => "RECIPIENT_OPTED_OUT",
            Self::RecipientBlocked => "RECIPIENT_BLOCKED",
            Self::UnknownReplyTarget => "UNKNOWN_REPLY_TARGET",
            Self::InvalidContent => "INVALID_CONTENT",
            Self::InvalidState => "INVALID_STATE",
            Self::TemplateNotApproved => "TEMPLATE_NOT_APPROVED",
            Self::TemplateMismatch => "TEMPLATE_MISMATCH",
            Self::Unavailable => "UNAVAILABLE",
            Self::Internal => "INTERNAL_ERROR",
        }
    }

    /// The HTTP status this code maps to.
    pub fn http_status(self) -> u16 {
        match self {
            Self::ValidationError
            | Self::InvalidPhoneNumber
            | Self::InvalidContent
            | Self::WindowClosed
            | Self::RecipientOptedOut
            | Self::RecipientBlocked
            | Self::UnknownReplyTarget
            | Self::InvalidState
            | Self::TemplateNotApproved
            | Self::TemplateMismatch => 400,
            Self::Unauthorized => 401,
            Self::NotFound => 404,
            Self::Conflict => 409,
            Self::PayloadTooLarge => 413,
            Self::Internal => 500,
            Self::Unavailable => 503,
        }
    }
}

/// Why a use case failed.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    InvalidPhoneNumber(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    /// A business rule refused the command; the code says which.
    #[error("{message}")]
    Refused { code: ErrorCode, message: String },
    /// Infrastructure failed (database down, corrupt event). Logged in full, reported vaguely.
    #[error("internal error: {0}")]
    Internal(String),
}

impl AppError {
    /// The code reported to callers.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Validation(_) => ErrorCode::ValidationError,
            Self::InvalidPhoneNumber(_) => ErrorCode::InvalidPhoneNumber,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::Conflict(_) => ErrorCode::Conflict,
            Self::Refused { code, .. } => *code,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }

    /// Whether the caller's request was refused (as opposed to infrastructure failing).
    pub fn is_refusal(&self) -> bool {
        !matches!(self, Self::Internal(_))
    }

    /// Wraps an infrastructure failure, with the messages of its causes.
    pub fn internal(error: impl std::error::Error) -> Self {
        Self::Internal(with_causes(&error))
    }
}

/// An error's message followed by its causes' (a database error says only "db error" itself;
/// its source says which).
pub fn with_causes(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_message = cause.to_string();
        if !message.ends_with(&cause_message) {
            message.push_str(": ");
            message.push_str(&cause_message);
        }
        source = cause.source();
    }
    message
}

impl From<domain::e164::InvalidE164> for AppError {
    fn from(error: domain::e164::InvalidE164) -> Self {
        Self::InvalidPhoneNumber(error.to_string())
    }
}

impl From<ContactError> for AppError {
    fn from(error: ContactError) -> Self {
        match error {
            ContactError::NotFound => Self::NotFound("contact"),
            ContactError::AlreadyExists(_) => Self::Conflict(error.to_string()),
            ContactError::Invalid { .. } => Self::Validation(error.to_string()),
        }
    }
}

impl From<PhoneNumberError> for AppError {
    fn from(error: PhoneNumberError) -> Self {
        match error {
            PhoneNumberError::NotFound => Self::NotFound("phone number"),
            PhoneNumberError::AlreadyRegistered(_) => Self::Conflict(error.to_string()),
            PhoneNumberError::Invalid { .. } => Self::Validation(error.to_string()),
        }
    }
}

impl From<ConversationError> for AppError {
    fn from(error: ConversationError) -> Self {
        let refused = |code| Self::Refused {
            code,
            message: error.to_string(),
        };
        match &error {
            ConversationError::NotFound => Self::NotFound("conversation"),
            ConversationError::UnknownMessage(_) => Self::NotFound("message"),
            ConversationError::WindowClosed => refused(ErrorCode::WindowClosed),
            ConversationError::RecipientOptedOut => refused(ErrorCode::RecipientOptedOut),
            ConversationError::RecipientBlocked => refused(ErrorCode::RecipientBlocked),
            ConversationError::UnknownReplyTarget(_)
            | ConversationError::ReplyTargetNotSent(_)
            | ConversationError::UnknownReactionTarget(_) => refused(ErrorCode::UnknownReplyTarget),
            ConversationError::InvalidContent(_) => refused(ErrorCode::InvalidContent),
            ConversationError::DuplicateMessage(_) | ConversationError::WamidConflict { .. } => {
                Self::Conflict(error.to_string())
            }
            ConversationError::InvalidCustomerWaId(_) => {
                Self::InvalidPhoneNumber(error.to_string())
            }
            ConversationError::ConversationMismatch | ConversationError::Invalid { .. } => {
                Self::Validation(error.to_string())
            }
        }
    }
}

impl From<domain::broadcast::BroadcastError> for AppError {
    fn from(error: domain::broadcast::BroadcastError) -> Self {
        use domain::broadcast::BroadcastError;
        match &error {
            BroadcastError::NotFound => Self::NotFound("broadcast"),
            BroadcastError::AlreadyExists => Self::Conflict(error.to_string()),
            BroadcastError::Invalid { .. } => Self::Validation(error.to_string()),
            BroadcastError::WrongStatus { .. } | BroadcastError::NoRecipients => Self::Refused {
                code: ErrorCode::InvalidState,
                message: error.to_string(),
            },
        }
    }
}

impl From<domain::template::TemplateError> for AppError {
    fn from(error: domain::template::TemplateError) -> Self {
        use domain::template::TemplateError;
        match &error {
            TemplateError::NotFound => Self::NotFound("template"),
            TemplateError::AlreadyExists { .. } => Self::Conflict(error.to_string()),
            TemplateError::Invalid { .. } => Self::Validation(error.to_string()),
            TemplateError::WrongStatus { .. } => Self::Refused {
                code: ErrorCode::InvalidState,
                message: error.to_string(),
            },
        }
    }
}

/// Maps cqrs-es's error: the aggregate's own error keeps its meaning, the rest is infrastructure.
pub fn from_aggregate_error<E: std::error::Error + Into<AppError>>(
    error: AggregateError<E>,
) -> AppError {
    match error {
        AggregateError::UserError(e) => e.into(),
        AggregateError::AggregateConflict => {
            AppError::Conflict("the resource was changed concurrently; retry".into())
        }
        other => AppError::internal(other),
    }
}

#[cfg(test)]
mod tests {
    use super::with_causes;

    #[derive(Debug, thiserror::Error)]
    #[error("db error")]
    struct Outer(#[source] Inner);

    #[derive(Debug, thiserror::Error)]
    #[error("deadlock detected")]
    struct Inner;

    #[derive(Debug, thiserror::Error)]
    #[error("database: deadlock detected")]
    struct Repeating(#[source] Inner);

    #[test]
    fn a_message_names_its_causes_once() {
        assert_eq!(with_causes(&Outer(Inner)), "db error: deadlock detected");
        assert_eq!(
            with_causes(&Repeating(Inner)),
            "database: deadlock detected"
        );
    }
}

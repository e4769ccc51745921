//! Parley's domain: the aggregates, their commands, events and rules, and the value objects they use.
//!
//! Pure: nothing here performs IO or reads a clock. Commands carry the time they were issued at.

pub mod broadcast;
pub mod contact;
pub mod conversation;
pub mod e164;
pub mod phone_number;
pub mod secret;
pub mod template;
pub mod workspace;

pub use e164::E164;
pub use secret::SealedSecret;
pub use workspace::WorkspaceId;

/// The version every event of this release is written with; bump per event when its shape changes.
pub const EVENT_VERSION_1: &str = "1";

/// A command as issued: which workspace it acts for and when, around the command itself.
#[derive(Debug, Clone, PartialEq)]
pub struct Issued<C> {
    /// The workspace the caller acts for; an aggregate owned by another workspace answers "not found".
    pub workspace_id: WorkspaceId,
    /// When the command was issued (the application's clock; the domain reads none).
    pub at: chrono::DateTime<chrono::Utc>,
    /// What is asked.
    pub command: C,
}

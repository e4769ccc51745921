//! Who asks, for which workspace, under which request id.

use domain::WorkspaceId;
use std::collections::HashMap;
use uuid::Uuid;

/// Who issued a command: an API token, or an operator at the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    Token(Uuid),
    Cli,
    /// Meta, through a verified webhook delivery.
    Meta,
    /// The outbox worker, recording what Meta answered.
    Outbox,
    /// The server's own schedule: starting scheduled broadcasts, completing finished ones,
    /// pausing on bad quality.
    Scheduler,
}

impl Actor {
    /// The form recorded in event metadata: `token:<id>` or `cli`.
    pub fn label(&self) -> String {
        match self {
            Actor::Token(id) => format!("token:{id}"),
            Actor::Cli => "cli".to_string(),
            Actor::Meta => "meta".to_string(),
            Actor::Outbox => "outbox".to_string(),
            Actor::Scheduler => "scheduler".to_string(),
        }
    }
}

/// The caller of a use case: its workspace, identity and correlation id.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub workspace_id: WorkspaceId,
    pub actor: Actor,
    /// The request's `X-Request-Id` (or one generated for it); recorded on every event it causes.
    pub correlation_id: String,
}

impl RequestContext {
    /// A context for an operator command: actor `cli`, a fresh correlation id.
    pub fn cli(workspace_id: WorkspaceId) -> Self {
        Self {
            workspace_id,
            actor: Actor::Cli,
            correlation_id: Uuid::new_v4().to_string(),
        }
    }

    /// The metadata stored beside every event this context causes.
    pub fn event_metadata(&self, at: chrono::DateTime<chrono::Utc>) -> HashMap<String, String> {
        HashMap::from([
            ("actor".to_string(), self.actor.label()),
            ("correlation_id".to_string(), self.correlation_id.clone()),
            (
                "time".to_string(),
                at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            ),
        ])
    }
}

//! The AI-agent flag of a conversation (External API v2, seed 000: `/conversations/{id}/ai-agent`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The longest reason a toggle may carry (seed 000, `AIAgentToggleRequest.reason`).
pub const MAX_AI_AGENT_REASON: usize = 500;

/// Who or what switched the AI agent (seed 000's `ai_agent_enabled_by` enum).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AiAgentChangedBy {
    /// A person, from a dashboard.
    User,
    /// An integrator, through the API.
    Api,
    /// Parley itself, by an automatic rule.
    Auto,
    /// The workspace default applied to a new conversation.
    Default,
}

impl AiAgentChangedBy {
    /// The wire form: `user`, `api`, `auto` or `default`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Api => "api",
            Self::Auto => "auto",
            Self::Default => "default",
        }
    }
}

impl fmt::Display for AiAgentChangedBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The AI agent's state, named as seed 000 reports it. Off until switched on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AiAgent {
    /// Whether the AI agent currently answers in this conversation.
    pub is_ai_agent_on: bool,
    /// When it was last switched on (kept after it is switched off).
    pub ai_agent_enabled_at: Option<DateTime<Utc>>,
    /// Who last switched it on (kept after it is switched off).
    pub ai_agent_enabled_by: Option<AiAgentChangedBy>,
    /// When it was last switched either way.
    pub ai_agent_last_toggled_at: Option<DateTime<Utc>>,
}

impl AiAgent {
    /// Folds a switch into the state.
    pub fn apply(&mut self, enabled: bool, changed_by: AiAgentChangedBy, at: DateTime<Utc>) {
        self.is_ai_agent_on = enabled;
        self.ai_agent_last_toggled_at = Some(at);
        if enabled {
            self.ai_agent_enabled_at = Some(at);
            self.ai_agent_enabled_by = Some(changed_by);
        }
    }
}

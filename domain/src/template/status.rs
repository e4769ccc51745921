//! A template's category and its review status.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// What a template is for; Meta prices and reviews templates by category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TemplateCategory {
    /// Promotions, offers, announcements.
    Marketing,
    /// Updates about a transaction or account the customer asked for.
    Utility,
    /// One-time passcodes.
    Authentication,
}

impl TemplateCategory {
    /// Every category.
    pub const ALL: [Self; 3] = [Self::Marketing, Self::Utility, Self::Authentication];

    /// Meta's name: `MARKETING`, `UTILITY` or `AUTHENTICATION`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Marketing => "MARKETING",
            Self::Utility => "UTILITY",
            Self::Authentication => "AUTHENTICATION",
        }
    }
}

impl fmt::Display for TemplateCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TemplateCategory {
    type Err = String;
    /// Meta's name, in any case (`marketing` is `MARKETING`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| format!("'{s}' is not one of MARKETING, UTILITY, AUTHENTICATION"))
    }
}

/// Where a template stands: Parley's `DRAFT` (not yet on Meta), then Meta's review and quality
/// statuses as Meta names them (the template's `status` field and its status webhooks' `event`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TemplateStatus {
    /// Parley's own: created here, not (or not successfully) submitted to Meta.
    Draft,
    /// Submitted; Meta is reviewing it.
    Pending,
    /// Meta approved it: it can be sent.
    Approved,
    /// Meta rejected it (see the reason); it can be edited and submitted again.
    Rejected,
    /// Meta paused it for low quality (3 h, then 6 h); it cannot be sent meanwhile.
    Paused,
    /// Meta disabled it for low quality; it cannot be sent.
    Disabled,
    /// A rejection is being appealed.
    InAppeal,
    /// Deletion was requested; Meta deletes it shortly.
    PendingDeletion,
    /// Meta deleted it.
    Deleted,
    /// The WABA's template limit was reached.
    LimitExceeded,
    /// Meta flagged it for low quality; it can still be sent until Meta disables it.
    Flagged,
    /// Meta lifted a flag or a disable: it can be sent again.
    Reinstated,
    /// Archived: it cannot be sent until unarchived.
    Archived,
    /// Unarchived: back to what it was, which for a template Meta had approved is sendable.
    Unarchived,
    /// Locked: it cannot be edited.
    Locked,
}

impl TemplateStatus {
    /// Every status, Parley's `DRAFT` first.
    pub const ALL: [Self; 15] = [
        Self::Draft,
        Self::Pending,
        Self::Approved,
        Self::Rejected,
        Self::Paused,
        Self::Disabled,
        Self::InAppeal,
        Self::PendingDeletion,
        Self::Deleted,
        Self::LimitExceeded,
        Self::Flagged,
        Self::Reinstated,
        Self::Archived,
        Self::Unarchived,
        Self::Locked,
    ];

    /// Meta's name (`APPROVED`, `IN_APPEAL`, …), or `DRAFT`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "DRAFT",
            Self::Pending => "PENDING",
            Self::Approved => "APPROVED",
            Self::Rejected => "REJECTED",
            Self::Paused => "PAUSED",
            Self::Disabled => "DISABLED",
            Self::InAppeal => "IN_APPEAL",
            Self::PendingDeletion => "PENDING_DELETION",
            Self::Deleted => "DELETED",
            Self::LimitExceeded => "LIMIT_EXCEEDED",
            Self::Flagged => "FLAGGED",
            Self::Reinstated => "REINSTATED",
            Self::Archived => "ARCHIVED",
            Self::Unarchived => "UNARCHIVED",
            Self::Locked => "LOCKED",
        }
    }

    /// Whether a template in this status may be sent: `APPROVED`, and the webhook events Meta
    /// sends about a template that stays active (`FLAGGED`: still sendable until disabled;
    /// `REINSTATED` and `UNARCHIVED`: active again).
    pub fn is_sendable(self) -> bool {
        matches!(
            self,
            Self::Approved | Self::Flagged | Self::Reinstated | Self::Unarchived
        )
    }

    /// Whether Meta lets a template in this status be edited (`POST /{template-id}`): approved
    /// (or otherwise sendable), rejected or paused.
    pub fn is_editable_on_meta(self) -> bool {
        self.is_sendable() || matches!(self, Self::Rejected | Self::Paused)
    }
}

impl fmt::Display for TemplateStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TemplateStatus {
    type Err = String;
    /// Meta's name in any case; an unknown name (Meta adds some) is an error, never a panic.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| format!("'{s}' is not a known template status"))
    }
}

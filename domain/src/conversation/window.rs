//! The customer-service window: when a business may send free-form (non-template) messages.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

/// How long the window stays open after the customer's last message.
pub const CUSTOMER_SERVICE_WINDOW_HOURS: i64 = 24;

/// The window opened by the customer's latest message. Meta delivers free-form messages only while
/// it is open (a closed window fails with 131047); templates go out any time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerServiceWindow {
    /// When the customer's latest message was sent (Meta's timestamp).
    pub last_inbound_at: DateTime<Utc>,
}

impl CustomerServiceWindow {
    /// The first instant the window is closed: 24 hours after the last inbound message.
    pub fn closes_at(&self) -> DateTime<Utc> {
        self.last_inbound_at + TimeDelta::hours(CUSTOMER_SERVICE_WINDOW_HOURS)
    }

    /// Whether a free-form message may be sent at `t`: strictly before [`closes_at`](Self::closes_at),
    /// so at exactly 24 hours the window is closed (erring towards Meta's refusal, not past it).
    pub fn is_open_at(&self, t: DateTime<Utc>) -> bool {
        t < self.closes_at()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_until_just_before_24_hours() {
        let start = DateTime::parse_from_rfc3339("2026-11-01T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let window = CustomerServiceWindow {
            last_inbound_at: start,
        };
        assert!(window.is_open_at(start));
        assert!(window.is_open_at(start + TimeDelta::hours(24) - TimeDelta::milliseconds(1)));
        assert!(!window.is_open_at(start + TimeDelta::hours(24)));
        assert!(!window.is_open_at(start + TimeDelta::hours(25)));
    }
}

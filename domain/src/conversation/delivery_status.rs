//! How far an outbound message got, and the rule that merges Meta's status reports into it.
//!
//! Meta's status webhooks arrive late, twice, and out of order; `delivered` may even follow `failed`
//! on multi-device users. The merge rule keeps every report that adds a fact and never moves the
//! status backwards:
//!
//! - `sent` is recorded by the acceptance itself (Meta answered the send with a wamid);
//! - `delivered` is recorded once, and not at all after `read` (read implies delivered);
//! - `read` is recorded once;
//! - `failed` is recorded once, whatever came before: Meta sent it, and its code matters.
//!
//! The status is then a function of which facts are recorded, not of their arrival order:
//! `Read` if read, else `Delivered` if delivered, else `Failed` if failed, else `Sent` if accepted,
//! else `Queued`. So a failure after delivery is kept (with its code and time) while the status stays
//! `Delivered`: the customer has the message, which is what the status answers. A failure before any
//! delivery shows as `Failed`, and a later delivery report lifts it to `Delivered`.

use super::MetaFailure;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Where an outbound message stands. Progress is ordered Queued < Sent < Delivered < Read; `Failed`
/// ranks above Sent and below Delivered (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Queued in Parley; not yet accepted by Meta.
    Queued,
    /// Accepted by Meta (it returned a wamid).
    Sent,
    /// Delivered to the customer's device.
    Delivered,
    /// Read by the customer.
    Read,
    /// Refused by Meta or not deliverable, and not known to be delivered.
    Failed,
}

impl DeliveryStatus {
    /// The wire form: `queued`, `sent`, `delivered`, `read` or `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Read => "read",
            Self::Failed => "failed",
        }
    }
}

impl fmt::Display for DeliveryStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status Meta reported for an outbound message (a `statuses[]` element). Meta's `played` (a voice
/// note was played) is not one: the adapter may report it as `Read`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportedStatus {
    /// `sent`.
    Sent,
    /// `delivered`.
    Delivered,
    /// `read`.
    Read,
    /// `failed`, with Meta's error.
    Failed(MetaFailure),
}

impl ReportedStatus {
    /// The status this report is about, ignoring a failure's details (two `failed` reports are the
    /// same report for deduplication).
    pub fn status(&self) -> DeliveryStatus {
        match self {
            Self::Sent => DeliveryStatus::Sent,
            Self::Delivered => DeliveryStatus::Delivered,
            Self::Read => DeliveryStatus::Read,
            Self::Failed(_) => DeliveryStatus::Failed,
        }
    }
}

/// An outbound message's delivery: its status and when each fact was learnt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryTrack {
    /// The status derived from the facts below.
    pub status: DeliveryStatus,
    /// When it was queued.
    pub queued_at: DateTime<Utc>,
    /// When Meta accepted it.
    pub sent_at: Option<DateTime<Utc>>,
    /// When Meta reported it delivered.
    pub delivered_at: Option<DateTime<Utc>>,
    /// When Meta reported it read.
    pub read_at: Option<DateTime<Utc>>,
    /// When it failed.
    pub failed_at: Option<DateTime<Utc>>,
    /// Why it failed.
    pub failure: Option<MetaFailure>,
}

impl DeliveryTrack {
    /// A message just queued.
    pub fn queued(at: DateTime<Utc>) -> Self {
        Self {
            status: DeliveryStatus::Queued,
            queued_at: at,
            sent_at: None,
            delivered_at: None,
            read_at: None,
            failed_at: None,
            failure: None,
        }
    }

    /// Whether `report` adds a fact (the merge rule); `false` for a duplicate or stale report.
    pub fn is_news(&self, report: &ReportedStatus) -> bool {
        match report {
            ReportedStatus::Sent => self.sent_at.is_none(),
            ReportedStatus::Delivered => self.delivered_at.is_none() && self.read_at.is_none(),
            ReportedStatus::Read => self.read_at.is_none(),
            ReportedStatus::Failed(_) => self.failure.is_none(),
        }
    }

    /// Records `report` at `at` if it is news; returns whether it was.
    pub fn record(&mut self, report: &ReportedStatus, at: DateTime<Utc>) -> bool {
        if !self.is_news(report) {
            return false;
        }
        match report {
            ReportedStatus::Sent => self.sent_at = Some(at),
            ReportedStatus::Delivered => self.delivered_at = Some(at),
            ReportedStatus::Read => self.read_at = Some(at),
            ReportedStatus::Failed(failure) => {
                self.failed_at = Some(at);
                self.failure = Some(failure.clone());
            }
        }
        self.status = self.derived_status();
        true
    }

    /// The status the recorded facts add up to (see the module docs).
    fn derived_status(&self) -> DeliveryStatus {
        if self.read_at.is_some() {
            DeliveryStatus::Read
        } else if self.delivered_at.is_some() {
            DeliveryStatus::Delivered
        } else if self.failure.is_some() {
            DeliveryStatus::Failed
        } else if self.sent_at.is_some() {
            DeliveryStatus::Sent
        } else {
            DeliveryStatus::Queued
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    fn t(minutes: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-01T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
            + TimeDelta::minutes(minutes)
    }

    fn failure() -> ReportedStatus {
        ReportedStatus::Failed(MetaFailure {
            code: 131049,
            title: "Not delivered".into(),
            message: None,
            details: None,
        })
    }

    fn replay(reports: &[ReportedStatus]) -> DeliveryTrack {
        let mut track = DeliveryTrack::queued(t(0));
        for (i, report) in reports.iter().enumerate() {
            track.record(report, t(i as i64 + 1));
        }
        track
    }

    #[test]
    fn read_then_delivered_stays_read() {
        let mut track = replay(&[ReportedStatus::Sent, ReportedStatus::Read]);
        assert!(!track.record(&ReportedStatus::Delivered, t(9)));
        assert_eq!(track.status, DeliveryStatus::Read);
        assert_eq!(track.delivered_at, None);
    }

    #[test]
    fn duplicates_are_not_news() {
        let mut track = replay(&[ReportedStatus::Sent, ReportedStatus::Delivered]);
        assert!(!track.record(&ReportedStatus::Delivered, t(9)));
        assert!(!track.record(&ReportedStatus::Sent, t(9)));
        assert_eq!(track.delivered_at, Some(t(2)));
    }

    #[test]
    fn failed_after_delivered_is_recorded_but_status_stays_delivered() {
        let mut track = replay(&[ReportedStatus::Sent, ReportedStatus::Delivered]);
        assert!(track.record(&failure(), t(9)));
        assert_eq!(track.status, DeliveryStatus::Delivered);
        assert_eq!(track.failed_at, Some(t(9)));
        assert!(
            !track.record(&failure(), t(10)),
            "a second failure is a duplicate"
        );
    }

    #[test]
    fn delivered_after_failed_lifts_the_status() {
        let track = replay(&[ReportedStatus::Sent, failure()]);
        assert_eq!(track.status, DeliveryStatus::Failed);
        let track = replay(&[ReportedStatus::Sent, failure(), ReportedStatus::Delivered]);
        assert_eq!(track.status, DeliveryStatus::Delivered);
        assert!(track.failure.is_some());
    }

    #[test]
    fn the_status_does_not_depend_on_arrival_order() {
        let reports = [
            ReportedStatus::Sent,
            ReportedStatus::Delivered,
            ReportedStatus::Read,
            failure(),
        ];
        // Every permutation of four reports settles on the same status.
        let mut indices = [0, 1, 2, 3];
        let mut statuses = std::collections::HashSet::new();
        permute(&mut indices, 0, &mut |order| {
            let ordered: Vec<_> = order.iter().map(|&i| reports[i].clone()).collect();
            statuses.insert(replay(&ordered).status);
        });
        assert_eq!(
            statuses.into_iter().collect::<Vec<_>>(),
            vec![DeliveryStatus::Read]
        );
    }

    fn permute(items: &mut [usize; 4], k: usize, visit: &mut impl FnMut(&[usize; 4])) {
        if k == items.len() {
            visit(items);
            return;
        }
        for i in k..items.len() {
            items.swap(k, i);
            permute(items, k + 1, visit);
            items.swap(k, i);
        }
    }
}

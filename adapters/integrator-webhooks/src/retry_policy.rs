//! When a failed delivery is tried again, when it is given up (dead letter), and when an
//! endpoint that keeps failing is paused.

use chrono::{DateTime, Utc};
use rand::Rng;
use std::time::Duration;
use store::webhook_deliveries::AfterFailure;

/// The delivery worker's settings.
#[derive(Debug, Clone)]
pub struct DeliveryPolicy {
    /// The wait after the first failure; it doubles after each further one…
    pub first_retry: Duration,
    /// …up to this.
    pub max_retry: Duration,
    /// A delivery failing for this long since its first attempt (or its last replay) is
    /// dead-lettered at its next failure.
    pub give_up_after: Duration,
    /// An endpoint whose every attempt has failed for this long is paused.
    pub pause_after: Duration,
    /// How long a claimed delivery is held before another worker may take it.
    pub lease: Duration,
    /// How often to look for due deliveries when there were none.
    pub poll: Duration,
    /// Requests in flight at once.
    pub concurrency: usize,
}

impl Default for DeliveryPolicy {
    fn default() -> Self {
        Self {
            first_retry: Duration::from_secs(10),
            max_retry: Duration::from_secs(60 * 60),
            give_up_after: Duration::from_secs(24 * 60 * 60),
            pause_after: Duration::from_secs(3 * 24 * 60 * 60),
            lease: Duration::from_secs(60),
            poll: Duration::from_millis(200),
            concurrency: 16,
        }
    }
}

impl DeliveryPolicy {
    /// The wait after failed attempt number `attempt` (1-based), before jitter.
    pub fn backoff(&self, attempt: i32) -> Duration {
        let doublings = attempt.saturating_sub(1).clamp(0, 30) as u32;
        self.first_retry
            .saturating_mul(2u32.saturating_pow(doublings))
            .min(self.max_retry)
    }

    /// What follows failed attempt `attempt` of a delivery retrying since `retrying_since`.
    pub fn after_failure(
        &self,
        attempt: i32,
        retrying_since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> AfterFailure {
        let failing_for = (now - retrying_since).to_std().unwrap_or_default();
        if failing_for >= self.give_up_after {
            return AfterFailure::DeadLetter;
        }
        // ±20% so that deliveries failing together do not retry together.
        let jitter = rand::thread_rng().gen_range(0.8..1.2);
        let wait = self.backoff(attempt).mul_f64(jitter);
        AfterFailure::RetryAt(now + chrono::Duration::from_std(wait).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_cap() {
        let policy = DeliveryPolicy::default();
        assert_eq!(policy.backoff(1), Duration::from_secs(10));
        assert_eq!(policy.backoff(2), Duration::from_secs(20));
        assert_eq!(policy.backoff(5), Duration::from_secs(160));
        assert_eq!(policy.backoff(30), Duration::from_secs(3600));
    }

    #[test]
    fn retries_last_at_least_a_day_then_dead_letter() {
        let policy = DeliveryPolicy::default();
        let start = Utc::now();
        // Simulate an endpoint that is down: every attempt fails.
        let (mut now, mut attempt) = (start, 1);
        while let AfterFailure::RetryAt(at) = policy.after_failure(attempt, start, now) {
            assert!(at > now);
            now = at;
            attempt += 1;
        }
        let retried_for = now - start;
        assert!(retried_for >= chrono::Duration::hours(24), "{retried_for}");
        assert!(retried_for < chrono::Duration::hours(26), "{retried_for}");
        assert!((20..60).contains(&attempt), "{attempt} attempts");
    }
}

//! Configuration from the environment; every variable has a default for local use (see README).

use std::time::Duration;

/// Settings read from the environment.
#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
    pub listen: String,
    pub secret_key: Option<String>,
    pub pool_size: usize,
    pub read_your_writes_timeout: Duration,
    /// Meta's Graph API base URL; unset means the in-process Meta sandbox.
    pub meta_graph_url: Option<String>,
    pub meta_graph_version: String,
    /// The Meta app secret webhooks are signed with (generated per run for the sandbox if unset).
    pub meta_app_secret: Option<String>,
    pub meta_verify_token: Option<String>,
    /// Where the in-process sandbox listens.
    pub sandbox_listen: String,
    /// Default messages per second per business number.
    pub meta_messages_per_second: u32,
    /// How long a claimed outbox job stays reserved before another worker may retry it.
    pub outbox_lease: Duration,
    /// How the outbox worker sends: calls in flight and jobs held at once.
    pub outbox: application::OutboxPolicy,
    /// Where integrator webhooks may go beyond public addresses (SSRF protection).
    pub webhook_addresses: integrator_webhooks::AddressPolicy,
    /// How integrator webhooks are retried and leased.
    pub webhook_delivery: integrator_webhooks::DeliveryPolicy,
}

fn millis(name: &str) -> Option<Duration> {
    var(name)
        .and_then(|v| v.parse().ok())
        .map(Duration::from_millis)
}

/// A positive count.
fn count(name: &str) -> Option<usize> {
    var(name).and_then(|v| v.parse().ok()).filter(|n| *n > 0)
}

/// Whether the variable is set to a true value (`1`, `true`, `yes`).
fn flag(name: &str) -> bool {
    var(name)
        .is_some_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes"))
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl Config {
    /// Reads the environment.
    pub fn from_env() -> Self {
        Self {
            database_url: var("DATABASE_URL")
                .unwrap_or_else(|| "postgres://parley@127.0.0.1:54329/parley".to_string()),
            listen: var("PARLEY_LISTEN").unwrap_or_else(|| "127.0.0.1:8080".to_string()),
            secret_key: var("PARLEY_SECRET_KEY"),
            pool_size: var("PARLEY_DB_POOL_SIZE")
                .and_then(|v| v.parse().ok())
                .unwrap_or(16),
            read_your_writes_timeout: Duration::from_millis(
                var("PARLEY_READ_YOUR_WRITES_TIMEOUT_MS")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(5_000),
            ),
            meta_graph_url: var("META_GRAPH_URL"),
            meta_graph_version: var("META_GRAPH_VERSION").unwrap_or_else(|| "v23.0".to_string()),
            meta_app_secret: var("META_APP_SECRET"),
            meta_verify_token: var("META_VERIFY_TOKEN"),
            sandbox_listen: var("PARLEY_SANDBOX_LISTEN")
                .unwrap_or_else(|| "127.0.0.1:8090".to_string()),
            meta_messages_per_second: var("META_MESSAGES_PER_SECOND")
                .and_then(|v| v.parse().ok())
                .filter(|n: &u32| *n > 0)
                .unwrap_or(80),
            outbox_lease: Duration::from_millis(
                var("PARLEY_OUTBOX_LEASE_MS")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(30_000),
            ),
            outbox: {
                let defaults = application::OutboxPolicy::default();
                application::OutboxPolicy {
                    concurrency: count("PARLEY_OUTBOX_CONCURRENCY").unwrap_or(defaults.concurrency),
                    max_held: count("PARLEY_OUTBOX_MAX_HELD").unwrap_or(defaults.max_held),
                    ..defaults
                }
            },
            webhook_addresses: integrator_webhooks::AddressPolicy {
                allow_loopback: flag("PARLEY_WEBHOOK_ALLOW_LOOPBACK"),
                allow_private: flag("PARLEY_WEBHOOK_ALLOW_PRIVATE"),
            },
            webhook_delivery: {
                let defaults = integrator_webhooks::DeliveryPolicy::default();
                integrator_webhooks::DeliveryPolicy {
                    first_retry: millis("PARLEY_WEBHOOK_RETRY_MS").unwrap_or(defaults.first_retry),
                    lease: millis("PARLEY_WEBHOOK_LEASE_MS").unwrap_or(defaults.lease),
                    ..defaults
                }
            },
        }
    }
}

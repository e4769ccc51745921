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
        }
    }
}

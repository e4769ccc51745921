//! The two connection pools: sqlx for postgres-es (the write side), deadpool for everything else.

use deadpool_postgres::{ManagerConfig, RecyclingMethod};
use std::str::FromStr;

/// Connection pools for one database.
#[derive(Clone)]
pub struct Pools {
    /// postgres-es's pool (its only backend); appends and loads events.
    pub events: sqlx::PgPool,
    /// Read models, projections, tenancy.
    pub queries: deadpool_postgres::Pool,
    /// The URL, for connections that must stay outside a pool (LISTEN).
    pub database_url: String,
}

/// Why the database could not be reached.
#[derive(Debug, thiserror::Error)]
pub enum PoolsError {
    #[error("invalid DATABASE_URL: {0}")]
    InvalidUrl(String),
    #[error("cannot connect to the database: {0}")]
    Connect(String),
}

impl Pools {
    /// Connects both pools, each at most `size` connections.
    pub async fn connect(database_url: &str, size: usize) -> Result<Self, PoolsError> {
        let events = sqlx::postgres::PgPoolOptions::new()
            .max_connections(size as u32)
            .acquire_timeout(std::time::Duration::from_secs(10))
            .connect(database_url)
            .await
            .map_err(|e| PoolsError::Connect(e.to_string()))?;
        let config = tokio_postgres::Config::from_str(database_url)
            .map_err(|e| PoolsError::InvalidUrl(e.to_string()))?;
        let manager = deadpool_postgres::Manager::from_config(
            config,
            tokio_postgres::NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let queries = deadpool_postgres::Pool::builder(manager)
            .max_size(size)
            .wait_timeout(Some(std::time::Duration::from_secs(10)))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| PoolsError::Connect(e.to_string()))?;
        // Fail now, not at the first request, if the database is unreachable.
        drop(
            queries
                .get()
                .await
                .map_err(|e| PoolsError::Connect(e.to_string()))?,
        );
        Ok(Self {
            events,
            queries,
            database_url: database_url.to_string(),
        })
    }
}

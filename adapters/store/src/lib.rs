//! PostgreSQL adapters: connection pools, migrations, the event store (postgres-es), workspaces
//! and API tokens with their rate-limit counters, the secret box, and the [`PgInfrastructure`]
//! the use cases run on.

pub mod aggregate_history;
pub mod announce;
pub mod broadcast_audience;
pub mod infrastructure;
pub mod integrator_events;
pub mod meta_webhooks;
pub mod migrations;
pub mod outbox;
pub mod pools;
pub mod rate_limits;
pub mod redoable;
pub mod secret_box;
pub mod tenancy;
pub mod webhook_deliveries;
pub mod webhook_endpoints;

pub use infrastructure::PgInfrastructure;
pub use pools::Pools;
pub use rate_limits::{RateLimits, WindowUsage};
pub use secret_box::{AeadSecretBox, SecretKeyError};
pub use tenancy::{Tenancy, TokenIdentity};

/// The application as wired on PostgreSQL.
pub type ParleyApp = application::Application<PgInfrastructure>;

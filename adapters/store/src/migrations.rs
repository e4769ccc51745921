//! Applies `schema/migrations/*.sql` in order, each once, under an advisory lock so that
//! concurrent `parley migrate` runs are safe.

/// The migrations, in order: (version, SQL).
const MIGRATIONS: &[(&str, &str)] = &[
    (
        "0001_event_store",
        include_str!("../../../schema/migrations/0001_event_store.sql"),
    ),
    (
        "0002_tenancy",
        include_str!("../../../schema/migrations/0002_tenancy.sql"),
    ),
    (
        "0003_read_models",
        include_str!("../../../schema/migrations/0003_read_models.sql"),
    ),
    (
        "0004_conversations",
        include_str!("../../../schema/migrations/0004_conversations.sql"),
    ),
    (
        "0005_outbox",
        include_str!("../../../schema/migrations/0005_outbox.sql"),
    ),
    (
        "0006_meta_webhooks",
        include_str!("../../../schema/migrations/0006_meta_webhooks.sql"),
    ),
    (
        "0007_media",
        include_str!("../../../schema/migrations/0007_media.sql"),
    ),
    (
        "0008_events_notify_after_commit",
        include_str!("../../../schema/migrations/0008_events_notify_after_commit.sql"),
    ),
    (
        "0009_broadcasts",
        include_str!("../../../schema/migrations/0009_broadcasts.sql"),
    ),
    (
        "0010_outbox_broadcasts_templates",
        include_str!("../../../schema/migrations/0010_outbox_broadcasts_templates.sql"),
    ),
    (
        "0011_templates",
        include_str!("../../../schema/migrations/0011_templates.sql"),
    ),
    (
        "0012_template_analytics",
        include_str!("../../../schema/migrations/0012_template_analytics.sql"),
    ),
    (
        "0013_broadcast_start_refusal",
        include_str!("../../../schema/migrations/0013_broadcast_start_refusal.sql"),
    ),
    (
        "0014_rate_limits",
        include_str!("../../../schema/migrations/0014_rate_limits.sql"),
    ),
    (
        "0015_integrator_webhooks",
        include_str!("../../../schema/migrations/0015_integrator_webhooks.sql"),
    ),
    (
        "0016_integrator_events_id_not_indexed",
        include_str!("../../../schema/migrations/0016_integrator_events_id_not_indexed.sql"),
    ),
];

/// Arbitrary key of the advisory lock that serializes migrations.
const MIGRATION_LOCK: i64 = 0x7061_726c_6579_0001;

/// Why migrating failed.
#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    #[error("database: {0}")]
    Database(#[from] tokio_postgres::Error),
    #[error("database pool: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
}

/// Applies what is missing; returns the versions applied now.
pub async fn migrate(pool: &deadpool_postgres::Pool) -> Result<Vec<&'static str>, MigrationError> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
    )
    .await?;
    let mut applied = Vec::new();
    for (version, sql) in MIGRATIONS {
        let done = tx
            .query_opt(
                "SELECT 1 FROM schema_migrations WHERE version = $1",
                &[version],
            )
            .await?
            .is_some();
        if done {
            continue;
        }
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO schema_migrations (version) VALUES ($1)",
            &[version],
        )
        .await?;
        applied.push(*version);
    }
    tx.commit().await?;
    Ok(applied)
}

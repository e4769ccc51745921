//! The projector: folds the event log into read models, durably and gap-safely.
//!
//! Each projection has a checkpoint row. One step locks that row, reads the next settled batch
//! after it, folds the batch, moves the checkpoint and commits, all in one transaction: a crash
//! leaves both the read model and the checkpoint as they were, and two processes (or a rebuild
//! and a running server) never fold the same batch twice because the row lock serializes them.

use crate::log::{self, Position, StoredEvent};
use crate::shutdown::Shutdown;
use crate::watch::CheckpointWatch;
use futures::future::BoxFuture;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_postgres::Transaction;

/// Events folded per transaction while serving.
const LIVE_BATCH: i64 = 2_000;
/// Events folded per transaction during a rebuild.
const REBUILD_BATCH: i64 = 10_000;
/// Pause after a partial batch before folding the next: under a steady stream of events this
/// lets each step fold tens of them instead of one or two (every step costs a transaction and
/// its checkpoint), for at most this much more lag. After a full batch, or after waiting
/// idle for a notification, the next step goes at once.
const LINGER: Duration = Duration::from_millis(10);
/// Safety-net poll when no notification arrives.
const IDLE_POLL: Duration = Duration::from_millis(500);
/// First retry delay while committed events wait behind an older open transaction; it doubles
/// up to [`UNSETTLED_RETRY_MAX`] while they keep waiting (the horizon is cluster-wide, so any
/// long transaction, even in another database, holds them back; polling every 2 ms for its
/// whole life would load the server for nothing).
const UNSETTLED_RETRY: Duration = Duration::from_millis(2);
const UNSETTLED_RETRY_MAX: Duration = Duration::from_millis(100);

/// Why folding failed.
#[derive(Debug, thiserror::Error)]
pub enum ProjectorError {
    #[error("database: {0}")]
    Database(#[from] tokio_postgres::Error),
    #[error("database pool: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    #[error("event {aggregate_type}/{aggregate_id}#{sequence} cannot be read: {reason}")]
    UnreadableEvent {
        aggregate_type: String,
        aggregate_id: String,
        sequence: i64,
        reason: String,
    },
    #[error("no projection named '{0}'")]
    UnknownProjection(String),
}

impl ProjectorError {
    /// An event whose payload does not deserialize into its aggregate's event type.
    pub fn unreadable(event: &StoredEvent, reason: impl ToString) -> Self {
        Self::UnreadableEvent {
            aggregate_type: event.aggregate_type.clone(),
            aggregate_id: event.aggregate_id.clone(),
            sequence: event.sequence,
            reason: reason.to_string(),
        }
    }
}

/// The order a rebuild feeds events in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RebuildOrder {
    /// The log's commit order, batch after batch, as when serving.
    Log,
    /// Aggregate by aggregate (each history in sequence order) in one transaction: for read
    /// models whose rows each depend on one aggregate only, so each row is written about once
    /// and the old rows serve readers until the rebuild commits.
    ByAggregate,
}

/// A read model: which tables it owns and how a batch of events changes them.
pub trait Projection: Send + Sync {
    /// The checkpoint name, also accepted by `parley projections rebuild NAME`.
    fn name(&self) -> &'static str;
    /// The tables it owns; a rebuild empties them.
    fn tables(&self) -> &'static [&'static str];
    /// The aggregate types it folds (`None`: all); other events reach `apply` without payload.
    fn aggregate_types(&self) -> Option<&'static [&'static str]> {
        None
    }
    /// How a rebuild feeds it; [`RebuildOrder::ByAggregate`] needs [`Projection::aggregate_types`].
    fn rebuild_order(&self) -> RebuildOrder {
        RebuildOrder::Log
    }
    /// Folds a batch (in log order) into its tables within `tx`. Events of other aggregates are ignored.
    fn apply<'a>(
        &'a self,
        tx: &'a Transaction<'a>,
        events: &'a [StoredEvent],
    ) -> BoxFuture<'a, Result<(), ProjectorError>>;
}

/// Whether `projection` folds events of `event`'s aggregate type.
fn is_of_interest(projection: &dyn Projection, event: &StoredEvent) -> bool {
    projection
        .aggregate_types()
        .is_none_or(|types| types.contains(&event.aggregate_type.as_str()))
}

/// What one step did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Step {
    /// Events read (the checkpoint moved past them); 0 when nothing was left.
    pub read: usize,
    /// Of those, events of the projection's aggregate types.
    pub folded: usize,
}

/// How far a rebuild has come.
#[derive(Debug, Clone, Copy)]
pub struct RebuildProgress {
    pub projection: &'static str,
    pub folded: u64,
    pub total: u64,
    pub elapsed: Duration,
}

/// Runs projections against the event log.
#[derive(Clone)]
pub struct Projector {
    pool: deadpool_postgres::Pool,
    projections: Vec<Arc<dyn Projection>>,
    watch: CheckpointWatch,
}

impl Projector {
    /// A projector for `projections`, reporting its progress through `watch`.
    pub fn new(
        pool: deadpool_postgres::Pool,
        projections: Vec<Arc<dyn Projection>>,
        watch: CheckpointWatch,
    ) -> Self {
        Self {
            pool,
            projections,
            watch,
        }
    }

    /// The projections it runs.
    pub fn projections(&self) -> &[Arc<dyn Projection>] {
        &self.projections
    }

    /// Creates missing checkpoint rows (at the start of the log).
    pub async fn ensure_checkpoints(&self) -> Result<(), ProjectorError> {
        let client = self.pool.get().await?;
        for projection in &self.projections {
            client
                .execute(
                    "INSERT INTO projection_checkpoints (name) VALUES ($1) ON CONFLICT (name) DO NOTHING",
                    &[&projection.name()],
                )
                .await?;
        }
        Ok(())
    }

    /// Folds the next batch of at most `limit` settled events.
    pub async fn step(
        &self,
        projection: &dyn Projection,
        limit: i64,
    ) -> Result<Step, ProjectorError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        // A read model and its checkpoint commit together, so losing this commit in a database
        // crash only means refolding the same events: no need to wait for the disk. (Anything
        // that later depends on these rows durably, such as an outbox claim, commits after
        // them in the WAL and flushes them too.)
        tx.batch_execute("SET LOCAL synchronous_commit = off")
            .await?;
        let checkpoint = tx
            .prepare_cached(
                "SELECT tx_id::text, position FROM projection_checkpoints WHERE name = $1 FOR UPDATE",
            )
            .await?;
        let row = tx.query_one(&checkpoint, &[&projection.name()]).await?;
        let tx_text: &str = row.get(0);
        let after = Position {
            tx_id: tx_text.parse().unwrap_or_default(),
            global_position: row.get(1),
        };
        let events = log::settled_after(&*tx, after, limit, projection.aggregate_types()).await?;
        let Some(last) = events.last().map(|e| e.position) else {
            return Ok(Step::default());
        };
        projection.apply(&tx, &events).await?;
        tx.execute(
            "UPDATE projection_checkpoints SET tx_id = $2::text::xid8, position = $3, updated_at = now() WHERE name = $1",
            &[&projection.name(), &last.tx_id.to_string(), &last.global_position],
        )
        .await?;
        tx.execute(
            "SELECT pg_notify('parley_checkpoints', $1)",
            &[&projection.name()],
        )
        .await?;
        tx.commit().await?;
        self.watch.checkpoint_moved_to(projection.name(), last);
        Ok(Step {
            read: events.len(),
            folded: events
                .iter()
                .filter(|e| is_of_interest(projection, e))
                .count(),
        })
    }

    /// Folds until no settled event is left; returns how many were folded.
    pub async fn catch_up(
        &self,
        projection: &dyn Projection,
        batch: i64,
    ) -> Result<u64, ProjectorError> {
        let mut folded = 0;
        loop {
            let step = self.step(projection, batch).await?;
            if step.read == 0 {
                return Ok(folded);
            }
            folded += step.folded as u64;
        }
    }

    /// Keeps every projection current until shutdown: folds, then sleeps until the log
    /// notifies new events (or the safety-net poll fires).
    pub async fn run(self, shutdown: Shutdown) {
        if let Err(error) = self.ensure_checkpoints().await {
            tracing::error!(%error, "projector cannot create its checkpoints");
        }
        let mut tasks = Vec::new();
        for projection in self.projections.clone() {
            let projector = self.clone();
            let shutdown = shutdown.clone();
            tasks.push(tokio::spawn(async move {
                projector.run_one(projection, shutdown).await
            }));
        }
        for task in tasks {
            let _ = task.await;
        }
    }

    async fn run_one(&self, projection: Arc<dyn Projection>, shutdown: Shutdown) {
        let mut wake = self.watch.event_notifications();
        let mut failures = 0u32;
        let mut unsettled_retry = UNSETTLED_RETRY;
        while !shutdown.is_triggered() {
            match self.step(projection.as_ref(), LIVE_BATCH).await {
                Ok(Step { read: 0, .. }) => {
                    failures = 0;
                    let delay = match self.has_unsettled(projection.as_ref()).await {
                        Ok(true) => {
                            let delay = unsettled_retry;
                            unsettled_retry = (unsettled_retry * 2).min(UNSETTLED_RETRY_MAX);
                            delay
                        }
                        _ => {
                            unsettled_retry = UNSETTLED_RETRY;
                            IDLE_POLL
                        }
                    };
                    tokio::select! {
                        _ = wake.changed() => {}
                        _ = tokio::time::sleep(delay) => {}
                        _ = shutdown.triggered() => {}
                    }
                }
                Ok(Step { read, .. }) => {
                    failures = 0;
                    unsettled_retry = UNSETTLED_RETRY;
                    if read < LIVE_BATCH as usize {
                        tokio::select! {
                            _ = tokio::time::sleep(LINGER) => {}
                            _ = shutdown.triggered() => {}
                        }
                    }
                }
                Err(error) => {
                    failures += 1;
                    let delay = Duration::from_millis(100 * 2u64.pow(failures.min(6)));
                    tracing::error!(projection = projection.name(), %error, ?delay, "projection step failed; retrying");
                    // The checkpoint row may be what is missing (the database was unreachable
                    // when the projector started).
                    let _ = self.ensure_checkpoints().await;
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = shutdown.triggered() => {}
                    }
                }
            }
        }
    }

    async fn has_unsettled(&self, projection: &dyn Projection) -> Result<bool, ProjectorError> {
        let client = self.pool.get().await?;
        let row = client
            .query_one(
                "SELECT tx_id::text, position FROM projection_checkpoints WHERE name = $1",
                &[&projection.name()],
            )
            .await?;
        let tx_text: &str = row.get(0);
        let after = Position {
            tx_id: tx_text.parse().unwrap_or_default(),
            global_position: row.get(1),
        };
        Ok(log::unsettled_after(&**client, after).await?)
    }

    /// Drops and refolds read models from the first event: all projections, or the one named.
    /// Reports progress after every batch.
    pub async fn rebuild(
        &self,
        name: Option<&str>,
        mut progress: impl FnMut(RebuildProgress),
    ) -> Result<u64, ProjectorError> {
        let selected: Vec<Arc<dyn Projection>> = match name {
            None => self.projections.clone(),
            Some(name) => vec![self
                .projections
                .iter()
                .find(|p| p.name() == name)
                .cloned()
                .ok_or_else(|| ProjectorError::UnknownProjection(name.to_string()))?],
        };
        self.ensure_checkpoints().await?;
        let counts = {
            let client = self.pool.get().await?;
            log::count_events(&**client).await?
        };
        let mut all_folded = 0;
        for projection in selected {
            let total: u64 = match projection.aggregate_types() {
                None => counts.values().sum::<i64>() as u64,
                Some(types) => types
                    .iter()
                    .map(|t| counts.get(*t).copied().unwrap_or(0) as u64)
                    .sum(),
            };
            if let (RebuildOrder::ByAggregate, Some(types)) =
                (projection.rebuild_order(), projection.aggregate_types())
            {
                all_folded += self
                    .rebuild_by_aggregate(projection.as_ref(), types, total, &mut progress)
                    .await?;
                continue;
            }
            self.reset(projection.as_ref()).await?;
            let started = Instant::now();
            let mut folded = 0u64;
            loop {
                let step = self.step(projection.as_ref(), REBUILD_BATCH).await?;
                folded += step.folded as u64;
                progress(RebuildProgress {
                    projection: projection.name(),
                    folded,
                    total: total.max(folded),
                    elapsed: started.elapsed(),
                });
                if step.read == 0 {
                    break;
                }
            }
            all_folded += folded;
        }
        Ok(all_folded)
    }

    /// Rebuilds a per-aggregate read model in one transaction: empty its tables, fold every
    /// settled event of its types aggregate by aggregate, and set the checkpoint to the last
    /// settled position, which every later event sorts after.
    async fn rebuild_by_aggregate(
        &self,
        projection: &dyn Projection,
        types: &[&str],
        total: u64,
        progress: &mut impl FnMut(RebuildProgress),
    ) -> Result<u64, ProjectorError> {
        let started = Instant::now();
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        tx.query_one(
            "SELECT 1 FROM projection_checkpoints WHERE name = $1 FOR UPDATE",
            &[&projection.name()],
        )
        .await?;
        // DELETE, not TRUNCATE: readers keep the old rows until this transaction commits.
        for table in projection.tables() {
            tx.batch_execute(&format!("DELETE FROM {table}")).await?;
        }
        let upto = log::last_settled(&*tx).await?.unwrap_or_default();
        let statement = tx.prepare(&log::by_aggregate_up_to_sql()).await?;
        let types: Vec<&str> = types.to_vec();
        let portal = tx
            .bind(
                &statement,
                &[&types, &upto.tx_id.to_string(), &upto.global_position],
            )
            .await?;
        let mut folded = 0u64;
        loop {
            let rows = tx.query_portal(&portal, REBUILD_BATCH as i32).await?;
            let events: Vec<StoredEvent> = rows.iter().map(StoredEvent::from_row).collect();
            // A history cut between two batches is still folded right: the second batch
            // loads what the first wrote.
            projection.apply(&tx, &events).await?;
            folded += events.len() as u64;
            progress(RebuildProgress {
                projection: projection.name(),
                folded,
                total: total.max(folded),
                elapsed: started.elapsed(),
            });
            if events.len() < REBUILD_BATCH as usize {
                break;
            }
        }
        tx.execute(
            "UPDATE projection_checkpoints SET tx_id = $2::text::xid8, position = $3, updated_at = now() WHERE name = $1",
            &[&projection.name(), &upto.tx_id.to_string(), &upto.global_position],
        )
        .await?;
        tx.execute(
            "SELECT pg_notify('parley_checkpoints', $1)",
            &[&projection.name()],
        )
        .await?;
        tx.commit().await?;
        self.watch.checkpoint_moved();
        Ok(folded)
    }

    /// Empties a projection's tables and moves its checkpoint to the start, atomically.
    async fn reset(&self, projection: &dyn Projection) -> Result<(), ProjectorError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        tx.query_one(
            "SELECT 1 FROM projection_checkpoints WHERE name = $1 FOR UPDATE",
            &[&projection.name()],
        )
        .await?;
        for table in projection.tables() {
            tx.batch_execute(&format!("TRUNCATE {table}")).await?;
        }
        tx.execute(
            "UPDATE projection_checkpoints SET tx_id = '0', position = 0, updated_at = now() WHERE name = $1",
            &[&projection.name()],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

//! Announcing committed events to projectors: at once in this process, and with a NOTIFY on
//! `parley_events` for other processes, sent after the commit rather than inside it (a NOTIFY in
//! the writing transaction would serialize every commit in the cluster behind one disk flush).

use cqrs_es::{Aggregate, AggregateError, EventEnvelope, EventStore};
use projections::CheckpointWatch;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::Notify;

/// Wakes projectors after commits; bursts of commits coalesce into one NOTIFY.
#[derive(Clone)]
pub struct EventAnnouncer {
    watch: CheckpointWatch,
    pending: Arc<Notify>,
}

impl EventAnnouncer {
    /// An announcer that sends its NOTIFYs on `pool` from a background task.
    pub fn start(pool: deadpool_postgres::Pool, watch: CheckpointWatch) -> Self {
        let pending = Arc::new(Notify::new());
        let waiting = pending.clone();
        tokio::spawn(async move {
            loop {
                waiting.notified().await;
                let sent = match pool.get().await {
                    Ok(client) => client
                        .batch_execute("SELECT pg_notify('parley_events', '')")
                        .await
                        .map_err(|e| e.to_string()),
                    Err(error) => Err(error.to_string()),
                };
                if let Err(error) = sent {
                    // Other processes' projectors still poll; nothing is lost, only later.
                    tracing::warn!(%error, "could not announce new events");
                }
            }
        });
        Self { watch, pending }
    }

    /// Says events were committed.
    pub fn committed(&self) {
        self.watch.events_appended();
        self.pending.notify_one();
    }
}

/// An event store that announces each commit.
pub struct AnnouncingStore<S> {
    inner: S,
    announcer: EventAnnouncer,
}

impl<S> AnnouncingStore<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, announcer: EventAnnouncer) -> Self {
        Self { inner, announcer }
    }
}

impl<A: Aggregate, S: EventStore<A, AC: Send>> EventStore<A> for AnnouncingStore<S> {
    type AC = S::AC;

    async fn load_events(
        &self,
        aggregate_id: &str,
    ) -> Result<Vec<EventEnvelope<A>>, AggregateError<A::Error>> {
        self.inner.load_events(aggregate_id).await
    }

    async fn load_aggregate(
        &self,
        aggregate_id: &str,
    ) -> Result<Self::AC, AggregateError<A::Error>> {
        self.inner.load_aggregate(aggregate_id).await
    }

    async fn commit(
        &self,
        events: Vec<A::Event>,
        context: Self::AC,
        metadata: HashMap<String, String>,
    ) -> Result<Vec<EventEnvelope<A>>, AggregateError<A::Error>> {
        let committed = self.inner.commit(events, context, metadata).await?;
        self.announcer.committed();
        Ok(committed)
    }
}

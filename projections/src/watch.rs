//! Read-your-writes: lets a request wait (bounded) until the read models have folded its events.
//!
//! The projector NOTIFYs `parley_checkpoints` after each commit and the log NOTIFYs `parley_events`
//! after each insert; one listener connection per process turns both into in-process signals.
//! Waiters re-check the checkpoints in the database, so this works with several processes, and a
//! missed notification only costs a short re-poll.

use crate::log::{self, Position};
use crate::runner::ProjectorError;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio_postgres::AsyncMessage;

/// Re-check interval while waiting, in case a notification is missed.
const RECHECK: Duration = Duration::from_millis(50);

/// Signals about the log and the checkpoints, and the bounded wait built on them.
#[derive(Clone)]
pub struct CheckpointWatch {
    pool: deadpool_postgres::Pool,
    projection_names: Arc<Vec<&'static str>>,
    timeout: Duration,
    events: Arc<watch::Sender<u64>>,
    checkpoints: Arc<watch::Sender<u64>>,
    /// The latest checkpoint seen per projection (committed, so safe to trust).
    known: Arc<std::sync::Mutex<std::collections::HashMap<&'static str, Position>>>,
}

impl CheckpointWatch {
    /// A watch over the named projections; waits give up after `timeout`.
    pub fn new(
        pool: deadpool_postgres::Pool,
        projection_names: Vec<&'static str>,
        timeout: Duration,
    ) -> Self {
        Self {
            pool,
            projection_names: Arc::new(projection_names),
            timeout,
            events: Arc::new(watch::channel(0).0),
            checkpoints: Arc::new(watch::channel(0).0),
            known: Arc::default(),
        }
    }

    /// Changes whenever new events may have been appended.
    pub fn event_notifications(&self) -> watch::Receiver<u64> {
        self.events.subscribe()
    }

    /// Changes whenever a projection's checkpoint may have moved (new outbox jobs, among others).
    pub fn checkpoint_notifications(&self) -> watch::Receiver<u64> {
        self.checkpoints.subscribe()
    }

    /// Says this process's projector committed `projection`'s checkpoint at `position`.
    pub fn checkpoint_moved_to(&self, projection: &'static str, position: Position) {
        self.record_position(projection, position);
        self.checkpoint_moved();
    }

    /// Says a checkpoint moved (called by the in-process projector after each commit).
    pub fn checkpoint_moved(&self) {
        self.checkpoints.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Says events were appended.
    pub fn events_appended(&self) {
        self.events.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Listens for the log's and the projectors' notifications until the process ends,
    /// reconnecting after errors.
    pub async fn listen(self, database_url: String) {
        let config = match tokio_postgres::Config::from_str(&database_url) {
            Ok(config) => config,
            Err(error) => {
                tracing::error!(%error, "invalid DATABASE_URL; read-your-writes falls back to polling");
                return;
            }
        };
        loop {
            if let Err(error) = self.listen_once(&config).await {
                tracing::warn!(%error, "notification listener lost its connection; reconnecting");
            }
            // Anything may have happened while disconnected.
            self.events_appended();
            self.checkpoint_moved();
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    async fn listen_once(
        &self,
        config: &tokio_postgres::Config,
    ) -> Result<(), tokio_postgres::Error> {
        let (client, mut connection) = config.connect(tokio_postgres::NoTls).await?;
        let (messages_tx, mut messages) = tokio::sync::mpsc::unbounded_channel();
        let driver = tokio::spawn(async move {
            let mut stream = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
            use futures::StreamExt;
            while let Some(message) = stream.next().await {
                match message {
                    Ok(message) => {
                        if messages_tx.send(message).is_err() {
                            break;
                        }
                    }
                    Err(error) => return Err(error),
                }
            }
            Ok(())
        });
        client
            .batch_execute("LISTEN parley_events; LISTEN parley_checkpoints;")
            .await?;
        while let Some(message) = messages.recv().await {
            if let AsyncMessage::Notification(note) = message {
                match note.channel() {
                    "parley_events" => self.events_appended(),
                    _ => self.checkpoint_moved(),
                }
            }
        }
        drop(client);
        match driver.await {
            Ok(result) => result,
            Err(_) => Ok(()),
        }
    }

    /// Whether every projection's checkpoint is at or past `target`. Positions this process's
    /// projector reported are checked first, in memory; the database is asked only when they
    /// do not settle it (another process's projector, or none here).
    pub async fn reached(&self, target: Position) -> Result<bool, ProjectorError> {
        if self.known_reached(target) {
            return Ok(true);
        }
        let client = self.pool.get().await?;
        let names: Vec<&str> = self.projection_names.iter().copied().collect();
        let statement = client
            .prepare_cached(
                "SELECT name, tx_id::text, position FROM projection_checkpoints WHERE name = ANY($1)",
            )
            .await?;
        let rows = client.query(&statement, &[&names]).await?;
        for row in rows {
            let name: &str = row.get(0);
            let tx_text: &str = row.get(1);
            if let Some(name) = self.projection_names.iter().find(|n| **n == name) {
                self.record_position(
                    name,
                    Position {
                        tx_id: tx_text.parse().unwrap_or_default(),
                        global_position: row.get(2),
                    },
                );
            }
        }
        Ok(self.known_reached(target))
    }

    /// Remembers a committed checkpoint (positions only move forward).
    fn record_position(&self, name: &'static str, position: Position) {
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        let entry = known.entry(name).or_default();
        if position > *entry {
            *entry = position;
        }
    }

    fn known_reached(&self, target: Position) -> bool {
        let known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        self.projection_names
            .iter()
            .all(|name| known.get(name).is_some_and(|position| *position >= target))
    }

    /// Waits until every projection has folded the given events, or the timeout passes.
    /// Returns whether they had.
    pub async fn wait_for(&self, keys: &[(String, String, i64)]) -> Result<bool, ProjectorError> {
        let target = {
            let client = self.pool.get().await?;
            match log::latest_position_of(&client, keys).await? {
                Some(position) => position,
                None => return Ok(true),
            }
        };
        let mut moved = self.checkpoints.subscribe();
        let deadline = tokio::time::Instant::now() + self.timeout;
        loop {
            if self.reached(target).await? {
                return Ok(true);
            }
            tokio::select! {
                _ = moved.changed() => {}
                _ = tokio::time::sleep(RECHECK) => {}
                _ = tokio::time::sleep_until(deadline) => return Ok(false),
            }
        }
    }
}

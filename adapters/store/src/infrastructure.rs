//! The use cases' infrastructure on PostgreSQL.

use crate::announce::{AnnouncingStore, EventAnnouncer};
use crate::pools::Pools;
use application::{AppError, Clock, EventKey, Freshness, Infrastructure, SecretBox};
use cqrs_es::persist::PersistedEventStore;
use domain::contact::Contact;
use domain::conversation::Conversation;
use domain::phone_number::PhoneNumber;
use domain::WorkspaceId;
use postgres_es::PostgresEventRepository;
use projections::CheckpointWatch;
use std::sync::Arc;
use uuid::Uuid;

/// The system clock, at PostgreSQL's precision (microseconds), so a time in an event and the
/// same time in a read-model column are equal.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        use chrono::DurationRound;
        let now = chrono::Utc::now();
        now.duration_trunc(chrono::TimeDelta::microseconds(1))
            .unwrap_or(now)
    }
}

/// An aggregate's event store: postgres-es, announcing its commits.
pub type Store<A> = AnnouncingStore<PersistedEventStore<PostgresEventRepository, A>>;

fn store<A: cqrs_es::Aggregate>(pools: &Pools, announcer: &EventAnnouncer) -> Store<A> {
    AnnouncingStore::new(
        PersistedEventStore::new_event_store(PostgresEventRepository::new(pools.events.clone())),
        announcer.clone(),
    )
}

/// Event stores per aggregate (postgres-es), read-model lookups and the read-your-writes wait.
pub struct PgInfrastructure {
    pub pools: Pools,
    contacts: Store<Contact>,
    phone_numbers: Store<PhoneNumber>,
    conversations: Store<Conversation>,
    secrets: Arc<dyn SecretBox>,
    clock: Arc<dyn Clock>,
    pub watch: CheckpointWatch,
}

impl PgInfrastructure {
    /// Wires the stores on `pools`.
    pub fn new(pools: Pools, secrets: Arc<dyn SecretBox>, watch: CheckpointWatch) -> Self {
        let announcer = EventAnnouncer::start(pools.queries.clone(), watch.clone());
        Self {
            contacts: store(&pools, &announcer),
            phone_numbers: store(&pools, &announcer),
            conversations: store(&pools, &announcer),
            pools,
            secrets,
            clock: Arc::new(SystemClock),
            watch,
        }
    }
}

impl Infrastructure for PgInfrastructure {
    type Contacts = Store<Contact>;
    type PhoneNumbers = Store<PhoneNumber>;
    type Conversations = Store<Conversation>;

    fn contact_store(&self) -> &Self::Contacts {
        &self.contacts
    }

    fn phone_number_store(&self) -> &Self::PhoneNumbers {
        &self.phone_numbers
    }

    fn conversation_store(&self) -> &Self::Conversations {
        &self.conversations
    }

    fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }

    fn secrets(&self) -> &dyn SecretBox {
        self.secrets.as_ref()
    }

    async fn wait_for_read_models(&self, events: &[EventKey]) -> Result<Freshness, AppError> {
        let keys: Vec<(String, String, i64)> = events
            .iter()
            .map(|k| {
                (
                    k.aggregate_type.to_string(),
                    k.aggregate_id.clone(),
                    k.sequence as i64,
                )
            })
            .collect();
        let reached = self
            .watch
            .wait_for(&keys)
            .await
            .map_err(AppError::internal)?;
        Ok(if reached {
            Freshness::Fresh
        } else {
            Freshness::Stale
        })
    }

    async fn contacts_in_group(
        &self,
        workspace: WorkspaceId,
        account_id: Uuid,
        group: &str,
    ) -> Result<Vec<Uuid>, AppError> {
        let client = self.pools.queries.get().await.map_err(AppError::internal)?;
        projections::contacts::ids_in_group(&**client, workspace, account_id, group)
            .await
            .map_err(AppError::internal)
    }
}

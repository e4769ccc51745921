//! The use cases' infrastructure on PostgreSQL.

use crate::announce::{AnnouncingStore, EventAnnouncer};
use crate::pools::Pools;
use application::{AppError, Clock, EventKey, Freshness, Infrastructure, SecretBox};
use cqrs_es::persist::PersistedEventStore;
use domain::broadcast::{Broadcast, BroadcastCounts, RecipientList};
use domain::contact::Contact;
use domain::conversation::Conversation;
use domain::conversation::RecipientStanding;
use domain::phone_number::PhoneNumber;
use domain::template::Template;
use domain::{WorkspaceId, E164};
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
        PersistedEventStore::new_event_store(PostgresEventRepository::new(pools.events.clone()))
            .with_upcasters(crate::aggregate_history::upcasters()),
        announcer.clone(),
    )
}

/// How many events a broadcast's snapshot may lag: a broadcast of 100,000 recipients has about
/// a hundred events of a thousand recipients each, and its state is small (bare numbers).
const BROADCAST_SNAPSHOT_EVERY: usize = 10;

/// Event stores per aggregate (postgres-es), read-model lookups and the read-your-writes wait.
pub struct PgInfrastructure {
    pub pools: Pools,
    contacts: Store<Contact>,
    phone_numbers: Store<PhoneNumber>,
    conversations: Store<Conversation>,
    broadcasts: Store<Broadcast>,
    templates: Store<Template>,
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
            broadcasts: AnnouncingStore::new(
                PersistedEventStore::new_snapshot_store(
                    PostgresEventRepository::new(pools.events.clone()),
                    BROADCAST_SNAPSHOT_EVERY,
                )
                .with_upcasters(crate::aggregate_history::upcasters()),
                announcer.clone(),
            ),
            templates: store(&pools, &announcer),
            pools,
            secrets,
            clock: Arc::new(SystemClock),
            watch,
        }
    }

    /// The secret box, for stores outside the aggregates (webhook endpoints' secrets).
    pub fn secret_box(&self) -> Arc<dyn SecretBox> {
        self.secrets.clone()
    }
}

impl Infrastructure for PgInfrastructure {
    type Contacts = Store<Contact>;
    type PhoneNumbers = Store<PhoneNumber>;
    type Conversations = Store<Conversation>;
    type Broadcasts = Store<Broadcast>;
    type Templates = Store<Template>;

    fn contact_store(&self) -> &Self::Contacts {
        &self.contacts
    }

    fn phone_number_store(&self) -> &Self::PhoneNumbers {
        &self.phone_numbers
    }

    fn conversation_store(&self) -> &Self::Conversations {
        &self.conversations
    }

    fn broadcast_store(&self) -> &Self::Broadcasts {
        &self.broadcasts
    }

    fn template_store(&self) -> &Self::Templates {
        &self.templates
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

    async fn unwilling_contacts(
        &self,
        workspace: WorkspaceId,
        account_id: Uuid,
    ) -> Result<Vec<(String, RecipientStanding)>, AppError> {
        let client = self.pools.queries.get().await.map_err(AppError::internal)?;
        let rows = client
            .query(
                "SELECT phone, NOT is_opted_in, is_blocked FROM contacts \
                 WHERE workspace_id = $1 AND account_id = $2 AND (NOT is_opted_in OR is_blocked)",
                &[&workspace.0, &account_id],
            )
            .await
            .map_err(AppError::internal)?;
        Ok(rows
            .iter()
            .map(|row| {
                (
                    row.get(0),
                    RecipientStanding {
                        opted_out: row.get(1),
                        blocked: row.get(2),
                    },
                )
            })
            .collect())
    }

    async fn broadcast_recipient_list(
        &self,
        broadcast_id: Uuid,
    ) -> Result<RecipientList, AppError> {
        let client = self.pools.queries.get().await.map_err(AppError::internal)?;
        crate::broadcast_audience::recipient_list(&**client, broadcast_id).await
    }

    async fn failed_broadcast_recipients(
        &self,
        workspace: WorkspaceId,
        broadcast_id: Uuid,
    ) -> Result<Vec<E164>, AppError> {
        let client = self.pools.queries.get().await.map_err(AppError::internal)?;
        let rows = client
            .query(
                "SELECT r.phone FROM broadcast_recipients r JOIN broadcasts b USING (broadcast_id) \
                 WHERE b.workspace_id = $1 AND r.broadcast_id = $2 AND r.status = 'failed' \
                 ORDER BY r.position",
                &[&workspace.0, &broadcast_id],
            )
            .await
            .map_err(AppError::internal)?;
        Ok(rows
            .iter()
            .filter_map(|row| E164::parse(row.get::<_, &str>(0)).ok())
            .collect())
    }

    async fn due_scheduled_broadcasts(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<(WorkspaceId, Uuid)>, AppError> {
        let client = self.pools.queries.get().await.map_err(AppError::internal)?;
        let rows = client
            .query(
                "SELECT workspace_id, broadcast_id FROM broadcasts \
                 WHERE status = 'scheduled' AND scheduled_at <= $1 ORDER BY scheduled_at",
                &[&now],
            )
            .await
            .map_err(AppError::internal)?;
        Ok(rows
            .iter()
            .map(|row| (WorkspaceId(row.get(0)), row.get(1)))
            .collect())
    }

    async fn finished_broadcasts(
        &self,
    ) -> Result<Vec<(WorkspaceId, Uuid, BroadcastCounts)>, AppError> {
        let client = self.pools.queries.get().await.map_err(AppError::internal)?;
        let rows = client
            .query(
                "SELECT workspace_id, broadcast_id, recipient_count, sent_count, delivered_count, \
                        read_count, failed_count, skipped_count \
                 FROM broadcasts WHERE status IN ('sending', 'paused') AND pending_count = 0",
                &[],
            )
            .await
            .map_err(AppError::internal)?;
        let count = |row: &tokio_postgres::Row, i: usize| row.get::<_, i32>(i).max(0) as u32;
        Ok(rows
            .iter()
            .map(|row| {
                // The read model counts current statuses; the funnel counts how far each got.
                let (sent, delivered, read) = (count(row, 3), count(row, 4), count(row, 5));
                let counts = BroadcastCounts {
                    total: count(row, 2),
                    sent: sent + delivered + read,
                    delivered: delivered + read,
                    read,
                    failed: count(row, 6),
                    skipped: count(row, 7),
                };
                (WorkspaceId(row.get(0)), row.get(1), counts)
            })
            .collect())
    }

    async fn running_broadcasts_of_number(
        &self,
        phone_number_id: Uuid,
    ) -> Result<Vec<(WorkspaceId, Uuid)>, AppError> {
        let client = self.pools.queries.get().await.map_err(AppError::internal)?;
        let rows = client
            .query(
                "SELECT workspace_id, broadcast_id FROM broadcasts \
                 WHERE phone_number_id = $1 AND status = 'sending'",
                &[&phone_number_id],
            )
            .await
            .map_err(AppError::internal)?;
        Ok(rows
            .iter()
            .map(|row| (WorkspaceId(row.get(0)), row.get(1)))
            .collect())
    }

    async fn running_broadcasts_of_template(
        &self,
        template_id: Uuid,
    ) -> Result<Vec<(WorkspaceId, Uuid)>, AppError> {
        let client = self.pools.queries.get().await.map_err(AppError::internal)?;
        let rows = client
            .query(
                "SELECT workspace_id, broadcast_id FROM broadcasts \
                 WHERE template_id = $1 AND status = 'sending'",
                &[&template_id],
            )
            .await
            .map_err(AppError::internal)?;
        Ok(rows
            .iter()
            .map(|row| (WorkspaceId(row.get(0)), row.get(1)))
            .collect())
    }

    async fn phone_numbers_of_waba(
        &self,
        waba_id: &str,
    ) -> Result<Vec<(WorkspaceId, Uuid, String)>, AppError> {
        let client = self.pools.queries.get().await.map_err(AppError::internal)?;
        let rows = client
            .query(
                "SELECT workspace_id, id, display_phone_number FROM phone_numbers WHERE waba_id = $1",
                &[&waba_id],
            )
            .await
            .map_err(AppError::internal)?;
        Ok(rows
            .iter()
            .map(|row| (WorkspaceId(row.get(0)), row.get(1), row.get(2)))
            .collect())
    }
}

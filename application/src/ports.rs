//! What the application needs from the outside world, as traits the adapters implement.

use cqrs_es::{Aggregate, EventStore};
use domain::broadcast::{Broadcast, BroadcastCounts, RecipientList};
use domain::contact::Contact;
use domain::conversation::Conversation;
use domain::conversation::RecipientStanding;
use domain::phone_number::PhoneNumber;
use domain::template::Template;
use domain::{SealedSecret, WorkspaceId, E164};
use std::future::Future;
use uuid::Uuid;

use crate::AppError;

/// The clock; tests may fix it.
pub trait Clock: Send + Sync {
    fn now(&self) -> chrono::DateTime<chrono::Utc>;
}

/// Why a secret could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SecretBoxError {
    #[error("the secret could not be decrypted with the configured key")]
    Undecryptable,
}

/// Encrypts secrets (Meta access tokens) before they enter an event, and decrypts them for use.
pub trait SecretBox: Send + Sync {
    fn seal(&self, plaintext: &str) -> SealedSecret;
    fn open(&self, sealed: &SealedSecret) -> Result<String, SecretBoxError>;
}

/// One stored event, named by its aggregate and sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventKey {
    pub aggregate_type: &'static str,
    pub aggregate_id: String,
    pub sequence: usize,
}

/// Whether read models reflected a write when the caller was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Every read model has folded the write.
    Fresh,
    /// The bounded wait ran out first; the write is durable but reads may not show it yet.
    Stale,
}

/// Everything the use cases need from infrastructure, bundled so use cases take one parameter.
pub trait Infrastructure: Send + Sync + 'static {
    type Contacts: EventStore<Contact, AC: Send>;
    type PhoneNumbers: EventStore<PhoneNumber, AC: Send>;
    type Conversations: EventStore<Conversation, AC: Send>;
    type Broadcasts: EventStore<Broadcast, AC: Send>;
    type Templates: EventStore<Template, AC: Send>;

    fn contact_store(&self) -> &Self::Contacts;
    fn phone_number_store(&self) -> &Self::PhoneNumbers;
    fn conversation_store(&self) -> &Self::Conversations;
    fn broadcast_store(&self) -> &Self::Broadcasts;
    fn template_store(&self) -> &Self::Templates;
    fn clock(&self) -> &dyn Clock;
    fn secrets(&self) -> &dyn SecretBox;

    /// Waits (bounded) until every read model has folded the given events.
    fn wait_for_read_models(
        &self,
        events: &[EventKey],
    ) -> impl Future<Output = Result<Freshness, AppError>> + Send;

    /// Ids of the workspace's live contacts on `account_id` that are in `group` (read model).
    fn contacts_in_group(
        &self,
        workspace: WorkspaceId,
        account_id: Uuid,
        group: &str,
    ) -> impl Future<Output = Result<Vec<Uuid>, AppError>> + Send;

    /// The number's contacts who opted out or are blocked, by E.164 phone (read model).
    fn unwilling_contacts(
        &self,
        workspace: WorkspaceId,
        account_id: Uuid,
    ) -> impl Future<Output = Result<Vec<(String, RecipientStanding)>, AppError>> + Send;

    /// A broadcast's recipients folded from its events (the log, not a read model), read one
    /// event at a time.
    fn broadcast_recipient_list(
        &self,
        broadcast_id: Uuid,
    ) -> impl Future<Output = Result<RecipientList, AppError>> + Send;

    /// The phones of a broadcast's recipients whose latest message failed (read model).
    fn failed_broadcast_recipients(
        &self,
        workspace: WorkspaceId,
        broadcast_id: Uuid,
    ) -> impl Future<Output = Result<Vec<E164>, AppError>> + Send;

    /// Scheduled broadcasts whose time has come (read model).
    fn due_scheduled_broadcasts(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> impl Future<Output = Result<Vec<(WorkspaceId, Uuid)>, AppError>> + Send;

    /// Sending (or paused) broadcasts with no recipient left pending, with their funnel.
    fn finished_broadcasts(
        &self,
    ) -> impl Future<Output = Result<Vec<(WorkspaceId, Uuid, BroadcastCounts)>, AppError>> + Send;

    /// The broadcasts a number is sending now.
    fn running_broadcasts_of_number(
        &self,
        phone_number_id: Uuid,
    ) -> impl Future<Output = Result<Vec<(WorkspaceId, Uuid)>, AppError>> + Send;

    /// The broadcasts sending now with a template (the Template aggregate's id).
    fn running_broadcasts_of_template(
        &self,
        template_id: Uuid,
    ) -> impl Future<Output = Result<Vec<(WorkspaceId, Uuid)>, AppError>> + Send;

    /// The registered numbers of a WABA: workspace, our id, display number (read model).
    fn phone_numbers_of_waba(
        &self,
        waba_id: &str,
    ) -> impl Future<Output = Result<Vec<(WorkspaceId, Uuid, String)>, AppError>> + Send;
}

/// The aggregate type names stored in the event log, for use cases that name events.
pub fn aggregate_type<A: Aggregate>() -> &'static str {
    A::TYPE
}

//! The integrator events: every domain event integrators may see becomes a row of
//! `integrator_events` (the event stream reads them in position order) and, in the same
//! transaction, one pending delivery per active endpoint of its workspace that wants its type.
//! Deliveries therefore come from the log itself: a crash between an event and its webhook
//! loses nothing, because both are written with this projection's checkpoint.

use crate::log::StoredEvent;
use crate::runner::{Projection, ProjectorError, RebuildOrder};
use application::integrator_events::{
    from_broadcast, from_contact, from_conversation, from_template, integrator_event_id,
    DerivedEvent, Subject,
};
use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use domain::broadcast::Broadcast;
use domain::contact::Contact;
use domain::conversation::Conversation;
use domain::template::Template;
use futures::future::BoxFuture;
use serde_json::Value;
use std::collections::HashMap;
use tokio_postgres::Transaction;
use uuid::Uuid;

/// Folds the log into `integrator_events` and fans each new one out to `webhook_deliveries`.
pub struct IntegratorEventsProjection;

/// An aggregate, as `integrator_event_subjects` keys it.
type SubjectKey = (String, String);

impl Projection for IntegratorEventsProjection {
    fn name(&self) -> &'static str {
        "integrator_events"
    }

    /// None: positions are integrators' cursors and deliveries point at them, so a rebuild
    /// refolds into the existing rows (a source event already there is skipped).
    fn tables(&self) -> &'static [&'static str] {
        &[]
    }

    fn aggregate_types(&self) -> Option<&'static [&'static str]> {
        Some(&[
            Conversation::TYPE,
            Contact::TYPE,
            Template::TYPE,
            Broadcast::TYPE,
        ])
    }

    fn rebuild_order(&self) -> RebuildOrder {
        RebuildOrder::Log
    }

    fn apply<'a>(
        &'a self,
        tx: &'a Transaction<'a>,
        events: &'a [StoredEvent],
    ) -> BoxFuture<'a, Result<(), ProjectorError>> {
        Box::pin(async move {
            let relevant: Vec<&StoredEvent> = events.iter().filter(|e| is_relevant(e)).collect();
            if relevant.is_empty() {
                return Ok(());
            }
            let mut subjects = load_subjects(tx, &relevant).await?;
            let mut changed: Vec<SubjectKey> = Vec::new();
            let mut derived: Vec<(String, DerivedEvent)> = Vec::new();
            for event in relevant {
                let key = (event.aggregate_type.clone(), event.aggregate_id.clone());
                let subject = subjects.entry(key.clone()).or_default();
                let before = subject.clone();
                if let Some(new) = derive(event, subject)? {
                    derived.push((source_key(event), new));
                }
                if *subject != before && !changed.contains(&key) {
                    changed.push(key);
                }
            }
            save_subjects(tx, &subjects, &changed).await?;
            insert_events(tx, &derived).await
        })
    }
}

/// Whether the event may become an integrator event, judged by its type before decoding.
fn is_relevant(event: &StoredEvent) -> bool {
    match event.aggregate_type.as_str() {
        Conversation::TYPE => !matches!(
            event.event_type.as_str(),
            "MessageQueued" | "DeliveryStatusHeld" | "ReadReceiptQueued"
        ),
        Contact::TYPE => true,
        Template::TYPE => matches!(
            event.event_type.as_str(),
            "TemplateCreated" | "TemplateImported" | "TemplateStatusChanged" | "TemplateDeleted"
        ),
        Broadcast::TYPE => matches!(
            event.event_type.as_str(),
            "BroadcastCreated"
                | "BroadcastStarted"
                | "BroadcastPaused"
                | "BroadcastResumed"
                | "BroadcastCompleted"
                | "BroadcastCancelled"
        ),
        _ => false,
    }
}

fn source_key(event: &StoredEvent) -> String {
    format!(
        "{}/{}/{}",
        event.aggregate_type, event.aggregate_id, event.sequence
    )
}

fn derive(
    event: &StoredEvent,
    subject: &mut Option<Subject>,
) -> Result<Option<DerivedEvent>, ProjectorError> {
    let id = event.aggregate_id.as_str();
    let unreadable = |e: serde_json::Error| ProjectorError::unreadable(event, e);
    Ok(match event.aggregate_type.as_str() {
        Conversation::TYPE => from_conversation(id, &event.payload().map_err(unreadable)?, subject),
        Contact::TYPE => from_contact(id, &event.payload().map_err(unreadable)?, subject),
        Template::TYPE => from_template(id, &event.payload().map_err(unreadable)?, subject),
        Broadcast::TYPE => from_broadcast(id, &event.payload().map_err(unreadable)?, subject),
        _ => None,
    })
}

async fn load_subjects(
    tx: &Transaction<'_>,
    events: &[&StoredEvent],
) -> Result<HashMap<SubjectKey, Option<Subject>>, ProjectorError> {
    let types: Vec<&str> = events.iter().map(|e| e.aggregate_type.as_str()).collect();
    let ids: Vec<&str> = events.iter().map(|e| e.aggregate_id.as_str()).collect();
    let rows = tx
        .query(
            "SELECT s.aggregate_type, s.aggregate_id, s.workspace_id, s.context \
             FROM integrator_event_subjects s \
             JOIN unnest($1::text[], $2::text[]) AS k (aggregate_type, aggregate_id) \
               ON s.aggregate_type = k.aggregate_type AND s.aggregate_id = k.aggregate_id",
            &[&types, &ids],
        )
        .await?;
    let mut subjects = HashMap::new();
    for row in rows {
        let context: Value = row.get(3);
        let mut subject: Subject = serde_json::from_value(context).unwrap_or_default();
        subject.workspace_id = row.get(2);
        subjects.insert((row.get(0), row.get(1)), Some(subject));
    }
    Ok(subjects)
}

async fn save_subjects(
    tx: &Transaction<'_>,
    subjects: &HashMap<SubjectKey, Option<Subject>>,
    changed: &[SubjectKey],
) -> Result<(), ProjectorError> {
    let (mut types, mut ids, mut workspaces, mut contexts) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for key in changed {
        if let Some(Some(subject)) = subjects.get(key) {
            types.push(key.0.as_str());
            ids.push(key.1.as_str());
            workspaces.push(subject.workspace_id);
            contexts.push(serde_json::to_value(subject).unwrap_or(Value::Null));
        }
    }
    if types.is_empty() {
        return Ok(());
    }
    tx.execute(
        "INSERT INTO integrator_event_subjects (aggregate_type, aggregate_id, workspace_id, context) \
         SELECT * FROM unnest($1::text[], $2::text[], $3::uuid[], $4::jsonb[]) \
         ON CONFLICT (aggregate_type, aggregate_id) \
         DO UPDATE SET workspace_id = EXCLUDED.workspace_id, context = EXCLUDED.context",
        &[&types, &ids, &workspaces, &contexts],
    )
    .await?;
    Ok(())
}

/// Inserts the events not stored yet, in log order, and a delivery for each to every active
/// endpoint of its workspace that wants its type.
async fn insert_events(
    tx: &Transaction<'_>,
    derived: &[(String, DerivedEvent)],
) -> Result<(), ProjectorError> {
    if derived.is_empty() {
        return Ok(());
    }
    let mut ids: Vec<Uuid> = Vec::with_capacity(derived.len());
    let mut keys: Vec<&str> = Vec::with_capacity(derived.len());
    let mut workspaces: Vec<Uuid> = Vec::with_capacity(derived.len());
    let mut types: Vec<&str> = Vec::with_capacity(derived.len());
    let mut ordering: Vec<&str> = Vec::with_capacity(derived.len());
    let mut occurred: Vec<DateTime<Utc>> = Vec::with_capacity(derived.len());
    let mut payloads: Vec<Value> = Vec::with_capacity(derived.len());
    for (source_key, event) in derived {
        let id = integrator_event_id(source_key);
        ids.push(id);
        keys.push(source_key);
        workspaces.push(event.workspace_id);
        types.push(event.event_type);
        ordering.push(&event.ordering_key);
        occurred.push(event.occurred_at);
        payloads.push(event.payload(id));
    }
    // The positions follow the log's order (ordinality); a refold skips what is stored.
    tx.execute(
        "WITH inserted AS ( \
           INSERT INTO integrator_events \
             (id, source_key, workspace_id, event_type, ordering_key, occurred_at, payload) \
           SELECT id, source_key, workspace_id, event_type, ordering_key, occurred_at, payload \
           FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::text[], \
                       $6::timestamptz[], $7::jsonb[]) WITH ORDINALITY \
             AS e (id, source_key, workspace_id, event_type, ordering_key, occurred_at, payload, n) \
           ORDER BY n \
           ON CONFLICT (source_key) DO NOTHING \
           RETURNING position, workspace_id, event_type, ordering_key) \
         INSERT INTO webhook_deliveries (id, endpoint_id, event_position, ordering_key) \
         SELECT gen_random_uuid(), endpoint.id, inserted.position, inserted.ordering_key \
         FROM inserted JOIN webhook_endpoints endpoint \
           ON endpoint.workspace_id = inserted.workspace_id \
         WHERE endpoint.active \
           AND (cardinality(endpoint.event_types) = 0 OR inserted.event_type = ANY (endpoint.event_types))",
        &[&ids, &keys, &workspaces, &types, &ordering, &occurred, &payloads],
    )
    .await?;
    Ok(())
}

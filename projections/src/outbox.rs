//! The outbox derivation: every conversation event that needs Meta becomes exactly one job in
//! `outbox_jobs`, written in the same transaction as this projection's checkpoint. The job holds
//! Meta's full request body, so the worker needs nothing else to send it.

use crate::log::StoredEvent;
use crate::runner::{Projection, ProjectorError, RebuildOrder};
use cqrs_es::Aggregate;
use domain::conversation::{Conversation, ConversationEvent};
use futures::future::BoxFuture;
use serde_json::{json, Value};
use tokio_postgres::Transaction;
use uuid::Uuid;

/// What a job asks of Meta.
pub const SEND_MESSAGE: &str = "send_message";
/// A read receipt for an inbound message.
pub const MARK_READ: &str = "mark_read";

/// Folds `MessageQueued` and `ReadReceiptQueued` into `outbox_jobs`.
pub struct OutboxProjection;

struct Job {
    sequence: i64,
    kind: &'static str,
    conversation_id: Uuid,
    message_id: Uuid,
    phone_number_id: Uuid,
    recipient: String,
    body: Value,
}

impl Projection for OutboxProjection {
    fn name(&self) -> &'static str {
        "outbox"
    }

    /// None: a rebuild must never empty the outbox (that would resend); refolding is a no-op
    /// because each job is keyed by its event.
    fn tables(&self) -> &'static [&'static str] {
        &[]
    }

    fn aggregate_types(&self) -> Option<&'static [&'static str]> {
        Some(&[Conversation::TYPE])
    }

    /// Jobs depend on one event each, so any order folds the same rows.
    fn rebuild_order(&self) -> RebuildOrder {
        RebuildOrder::ByAggregate
    }

    fn apply<'a>(
        &'a self,
        tx: &'a Transaction<'a>,
        events: &'a [StoredEvent],
    ) -> BoxFuture<'a, Result<(), ProjectorError>> {
        Box::pin(async move {
            let mut jobs: Vec<(String, Job)> = Vec::new();
            for event in events
                .iter()
                .filter(|e| e.aggregate_type == Conversation::TYPE)
            {
                if !matches!(
                    event.event_type.as_str(),
                    "MessageQueued" | "ReadReceiptQueued"
                ) {
                    continue;
                }
                let conversation_id = Uuid::parse_str(&event.aggregate_id)
                    .map_err(|e| ProjectorError::unreadable(event, e))?;
                let payload: ConversationEvent = event
                    .payload()
                    .map_err(|e| ProjectorError::unreadable(event, e))?;
                if let Some(job) = job_for(event.sequence, conversation_id, payload) {
                    jobs.push((event.aggregate_id.clone(), job));
                }
            }
            if jobs.is_empty() {
                return Ok(());
            }
            let ids: Vec<&str> = jobs.iter().map(|(id, _)| id.as_str()).collect();
            let sequences: Vec<i64> = jobs.iter().map(|(_, j)| j.sequence).collect();
            let kinds: Vec<&str> = jobs.iter().map(|(_, j)| j.kind).collect();
            let conversations: Vec<Uuid> = jobs.iter().map(|(_, j)| j.conversation_id).collect();
            let messages: Vec<Uuid> = jobs.iter().map(|(_, j)| j.message_id).collect();
            let numbers: Vec<Uuid> = jobs.iter().map(|(_, j)| j.phone_number_id).collect();
            let recipients: Vec<&str> = jobs.iter().map(|(_, j)| j.recipient.as_str()).collect();
            let bodies: Vec<&Value> = jobs.iter().map(|(_, j)| &j.body).collect();
            tx.execute(
                "INSERT INTO outbox_jobs (aggregate_type, aggregate_id, sequence, kind, conversation_id, \
                                          message_id, phone_number_id, recipient, body) \
                 SELECT $1, * FROM UNNEST($2::text[], $3::bigint[], $4::text[], $5::uuid[], $6::uuid[], \
                                          $7::uuid[], $8::text[], $9::jsonb[]) \
                 ON CONFLICT (aggregate_type, aggregate_id, sequence) DO NOTHING",
                &[
                    &Conversation::TYPE,
                    &ids,
                    &sequences,
                    &kinds,
                    &conversations,
                    &messages,
                    &numbers,
                    &recipients,
                    &bodies,
                ],
            )
            .await?;
            Ok(())
        })
    }
}

/// The job an event asks for, with Meta's request body.
fn job_for(sequence: i64, conversation_id: Uuid, event: ConversationEvent) -> Option<Job> {
    match event {
        ConversationEvent::MessageQueued {
            message_id,
            content,
            reply_to,
            phone_number_id,
            customer_wa_id,
            broadcast_id: None,
            ..
        } => {
            let mut body = json!({
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": format!("+{customer_wa_id}"),
                // Echoed in every status webhook, so statuses find the message even before
                // Parley has recorded Meta's wamid.
                "biz_opaque_callback_data": message_id.0.to_string(),
            });
            if let Value::Object(fields) = serde_json::to_value(&content).ok()? {
                body.as_object_mut()?.extend(fields);
            }
            if let Some(target) = reply_to {
                body["context"] = json!({ "message_id": target.wamid });
            }
            Some(Job {
                sequence,
                kind: SEND_MESSAGE,
                conversation_id,
                message_id: message_id.0,
                phone_number_id,
                recipient: customer_wa_id,
                body,
            })
        }
        ConversationEvent::ReadReceiptQueued {
            message_id,
            wamid,
            phone_number_id,
            ..
        } => Some(Job {
            sequence,
            kind: MARK_READ,
            conversation_id,
            message_id: message_id.0,
            phone_number_id,
            recipient: String::new(),
            body: json!({
                "messaging_product": "whatsapp",
                "status": "read",
                "message_id": wamid,
            }),
        }),
        _ => None,
    }
}

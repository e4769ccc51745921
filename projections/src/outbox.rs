//! The outbox derivation: every event that needs Meta becomes its jobs in `outbox_jobs`, written
//! in the same transaction as this projection's checkpoint: one per queued conversation message
//! or read receipt, one per recipient when a broadcast starts (or retries its failed). A job holds
//! Meta's full request body, so the worker needs nothing else to send it.

use crate::log::StoredEvent;
use crate::runner::{Projection, ProjectorError, RebuildOrder};
use application::JobKind;
use cqrs_es::Aggregate;
use domain::broadcast::{
    broadcast_message_id, recipient_message, Broadcast, BroadcastEvent, TemplateSnapshot,
};
use domain::conversation::{conversation_id, Conversation, ConversationEvent};
use domain::phone_number::{PhoneNumber, PhoneNumberEvent};
use domain::template::{Template, TemplateEvent};
use domain::E164;
use futures::future::BoxFuture;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use tokio_postgres::Transaction;
use uuid::Uuid;

/// Job priorities: lower is claimed first.
const PRIORITY_CONVERSATION: i16 = 0;
const PRIORITY_TEMPLATE: i16 = 1;
const PRIORITY_BROADCAST: i16 = 2;

/// Folds the events that need Meta into `outbox_jobs`: conversation sends and read receipts,
/// broadcast sends (one job per recipient when sending starts), and keeps the bookkeeping those
/// need (a broadcast's audience and holds, a number's messaging-limit tier).
pub struct OutboxProjection;

struct Job {
    aggregate_type: &'static str,
    aggregate_id: String,
    sequence: i64,
    kind: &'static str,
    conversation_id: Option<Uuid>,
    message_id: Option<Uuid>,
    phone_number_id: Uuid,
    recipient: String,
    body: Value,
    broadcast_id: Option<Uuid>,
    priority: i16,
}

impl Projection for OutboxProjection {
    fn name(&self) -> &'static str {
        "outbox"
    }

    /// None: a rebuild must never empty the outbox (that would resend); refolding is a no-op
    /// because each job is keyed by its event and recipient, and the bookkeeping is idempotent.
    fn tables(&self) -> &'static [&'static str] {
        &[]
    }

    fn aggregate_types(&self) -> Option<&'static [&'static str]> {
        Some(&[
            Conversation::TYPE,
            Broadcast::TYPE,
            PhoneNumber::TYPE,
            Template::TYPE,
        ])
    }

    /// A broadcast's jobs need its audience folded first: the log's order.
    fn rebuild_order(&self) -> RebuildOrder {
        RebuildOrder::Log
    }

    fn apply<'a>(
        &'a self,
        tx: &'a Transaction<'a>,
        events: &'a [StoredEvent],
    ) -> BoxFuture<'a, Result<(), ProjectorError>> {
        Box::pin(async move {
            let mut jobs: Vec<Job> = Vec::new();
            for event in events {
                match event.aggregate_type.as_str() {
                    Conversation::TYPE => {
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
                        jobs.extend(job_for(event, conversation_id, payload));
                    }
                    Broadcast::TYPE => {
                        // Its jobs may depend on rows written by earlier events of this batch.
                        insert_jobs(tx, std::mem::take(&mut jobs)).await?;
                        let payload: BroadcastEvent = event
                            .payload()
                            .map_err(|e| ProjectorError::unreadable(event, e))?;
                        let broadcast_id = Uuid::parse_str(&event.aggregate_id)
                            .map_err(|e| ProjectorError::unreadable(event, e))?;
                        let new_jobs = fold_broadcast(tx, event, broadcast_id, payload).await?;
                        if !new_jobs.is_empty() {
                            insert_jobs(tx, new_jobs).await?;
                            // Jobs of a paused broadcast (a retry while paused) wait with it.
                            tx.execute(
                                "UPDATE outbox_jobs SET state = 'held' WHERE broadcast_id = $1 \
                                 AND state = 'pending' \
                                 AND EXISTS (SELECT 1 FROM outbox_held_broadcasts WHERE broadcast_id = $1)",
                                &[&broadcast_id],
                            )
                            .await?;
                        }
                    }
                    Template::TYPE => {
                        if !matches!(
                            event.event_type.as_str(),
                            "TemplateSubmitted" | "TemplateComponentsUpdated" | "TemplateDeleted"
                        ) {
                            continue;
                        }
                        let payload: TemplateEvent = event
                            .payload()
                            .map_err(|e| ProjectorError::unreadable(event, e))?;
                        jobs.extend(template_job(event, payload));
                    }
                    PhoneNumber::TYPE => {
                        if event.event_type != "PhoneNumberMessagingLimitChanged" {
                            continue;
                        }
                        let phone_number_id = Uuid::parse_str(&event.aggregate_id)
                            .map_err(|e| ProjectorError::unreadable(event, e))?;
                        if let PhoneNumberEvent::PhoneNumberMessagingLimitChanged { tier, .. } =
                            event
                                .payload()
                                .map_err(|e| ProjectorError::unreadable(event, e))?
                        {
                            let daily = tier.daily_recipients().map(|n| n as i32);
                            tx.execute(
                                "INSERT INTO phone_number_throughput (phone_number_id, daily_recipients, tier_known) \
                                 VALUES ($1, $2, true) ON CONFLICT (phone_number_id) DO UPDATE \
                                 SET daily_recipients = EXCLUDED.daily_recipients, tier_known = true",
                                &[&phone_number_id, &daily],
                            )
                            .await?;
                        }
                    }
                    _ => {}
                }
            }
            insert_jobs(tx, jobs).await
        })
    }
}

/// Writes jobs in one statement; a job already written (a refold) is left alone.
async fn insert_jobs(tx: &Transaction<'_>, jobs: Vec<Job>) -> Result<(), ProjectorError> {
    if jobs.is_empty() {
        return Ok(());
    }
    let types: Vec<&str> = jobs.iter().map(|j| j.aggregate_type).collect();
    let ids: Vec<&str> = jobs.iter().map(|j| j.aggregate_id.as_str()).collect();
    let sequences: Vec<i64> = jobs.iter().map(|j| j.sequence).collect();
    let kinds: Vec<&str> = jobs.iter().map(|j| j.kind).collect();
    let conversations: Vec<Option<Uuid>> = jobs.iter().map(|j| j.conversation_id).collect();
    let messages: Vec<Option<Uuid>> = jobs.iter().map(|j| j.message_id).collect();
    let numbers: Vec<Uuid> = jobs.iter().map(|j| j.phone_number_id).collect();
    let recipients: Vec<&str> = jobs.iter().map(|j| j.recipient.as_str()).collect();
    let bodies: Vec<&Value> = jobs.iter().map(|j| &j.body).collect();
    let broadcasts: Vec<Option<Uuid>> = jobs.iter().map(|j| j.broadcast_id).collect();
    let priorities: Vec<i16> = jobs.iter().map(|j| j.priority).collect();
    tx.execute(
        "INSERT INTO outbox_jobs (aggregate_type, aggregate_id, sequence, kind, conversation_id, \
                                  message_id, phone_number_id, recipient, body, broadcast_id, priority) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::text[], $5::uuid[], $6::uuid[], \
                              $7::uuid[], $8::text[], $9::jsonb[], $10::uuid[], $11::smallint[]) \
         ON CONFLICT (aggregate_type, aggregate_id, sequence, recipient) DO NOTHING",
        &[
            &types,
            &ids,
            &sequences,
            &kinds,
            &conversations,
            &messages,
            &numbers,
            &recipients,
            &bodies,
            &broadcasts,
            &priorities,
        ],
    )
    .await?;
    Ok(())
}

/// Folds one broadcast event into the outbox's bookkeeping; answers the jobs it asks for.
async fn fold_broadcast(
    tx: &Transaction<'_>,
    event: &StoredEvent,
    broadcast_id: Uuid,
    payload: BroadcastEvent,
) -> Result<Vec<Job>, ProjectorError> {
    match payload {
        BroadcastEvent::BroadcastCreated {
            phone_number_id,
            template,
            ..
        } => {
            let base = Value::from(template.components);
            tx.execute(
                "INSERT INTO outbox_broadcasts (broadcast_id, phone_number_id, base_components) \
                 VALUES ($1, $2, $3) ON CONFLICT (broadcast_id) DO NOTHING",
                &[&broadcast_id, &phone_number_id, &base],
            )
            .await?;
        }
        BroadcastEvent::BroadcastRecipientsAdded { recipients, .. } => {
            let phones: Vec<&str> = recipients.iter().map(|r| r.phone.as_str()).collect();
            let variables: Vec<Value> = recipients
                .iter()
                .map(|r| serde_json::to_value(&r.variables).unwrap_or_default())
                .collect();
            tx.execute(
                "INSERT INTO outbox_broadcast_audience (broadcast_id, phone, position, variables) \
                 SELECT $1, r.phone, $2::bigint * 10000 + r.ord, r.variables \
                 FROM UNNEST($3::text[], $4::jsonb[]) WITH ORDINALITY AS r(phone, variables, ord) \
                 ON CONFLICT (broadcast_id, phone) DO NOTHING",
                &[&broadcast_id, &event.sequence, &phones, &variables],
            )
            .await?;
        }
        BroadcastEvent::BroadcastRecipientsRemoved { phones, .. } => {
            let phones: Vec<&str> = phones.iter().map(|p| p.as_str()).collect();
            tx.execute(
                "DELETE FROM outbox_broadcast_audience WHERE broadcast_id = $1 AND phone = ANY($2)",
                &[&broadcast_id, &phones],
            )
            .await?;
        }
        BroadcastEvent::BroadcastStarted {
            template, skipped, ..
        } => {
            let skipped: HashSet<String> = skipped
                .into_iter()
                .map(|s| s.phone.as_str().to_string())
                .collect();
            let rows = tx
                .query(
                    "SELECT phone, variables FROM outbox_broadcast_audience \
                     WHERE broadcast_id = $1 ORDER BY position",
                    &[&broadcast_id],
                )
                .await?;
            let audience = rows
                .iter()
                .map(|row| (row.get::<_, String>(0), row.get::<_, Value>(1)))
                .filter(|(phone, _)| !skipped.contains(phone));
            return broadcast_jobs(tx, event, broadcast_id, &template, 0, audience).await;
        }
        BroadcastEvent::BroadcastFailedRecipientsRetried { round, phones, .. } => {
            let phones: Vec<&str> = phones.iter().map(|p| p.as_str()).collect();
            let rows = tx
                .query(
                    "SELECT phone, variables FROM outbox_broadcast_audience \
                     WHERE broadcast_id = $1 AND phone = ANY($2) ORDER BY position",
                    &[&broadcast_id, &phones],
                )
                .await?;
            let template = started_template(tx, event, broadcast_id).await?;
            let audience = rows
                .iter()
                .map(|row| (row.get::<_, String>(0), row.get::<_, Value>(1)));
            return match template {
                Some(template) => {
                    broadcast_jobs(tx, event, broadcast_id, &template, round, audience).await
                }
                None => Ok(vec![]),
            };
        }
        BroadcastEvent::BroadcastPaused { reason, .. } => {
            tx.execute(
                "INSERT INTO outbox_held_broadcasts (broadcast_id, reason) VALUES ($1, $2) \
                 ON CONFLICT (broadcast_id) DO NOTHING",
                &[&broadcast_id, &reason.describe()],
            )
            .await?;
            // Jobs already claimed still go; the rest wait.
            tx.execute(
                "UPDATE outbox_jobs SET state = 'held' WHERE broadcast_id = $1 AND state = 'pending'",
                &[&broadcast_id],
            )
            .await?;
        }
        BroadcastEvent::BroadcastResumed { .. } => {
            tx.execute(
                "DELETE FROM outbox_held_broadcasts WHERE broadcast_id = $1 AND reason <> 'cancelled'",
                &[&broadcast_id],
            )
            .await?;
            tx.execute(
                "UPDATE outbox_jobs SET state = 'pending', not_before = now() \
                 WHERE broadcast_id = $1 AND state = 'held'",
                &[&broadcast_id],
            )
            .await?;
        }
        BroadcastEvent::BroadcastCancelled { .. } => {
            tx.execute(
                "INSERT INTO outbox_held_broadcasts (broadcast_id, reason) VALUES ($1, 'cancelled') \
                 ON CONFLICT (broadcast_id) DO UPDATE SET reason = 'cancelled'",
                &[&broadcast_id],
            )
            .await?;
            tx.execute(
                "UPDATE outbox_jobs SET state = 'cancelled', finished_at = now() \
                 WHERE broadcast_id = $1 AND state IN ('pending', 'held')",
                &[&broadcast_id],
            )
            .await?;
        }
        BroadcastEvent::BroadcastScheduled { .. }
        | BroadcastEvent::BroadcastScheduleCancelled { .. }
        | BroadcastEvent::BroadcastScheduledStartRefused { .. }
        | BroadcastEvent::BroadcastCompleted { .. }
        | BroadcastEvent::BroadcastDeleted { .. } => {}
    }
    Ok(vec![])
}

/// The job a template event asks for: create, edit or delete on Meta.
fn template_job(event: &StoredEvent, payload: TemplateEvent) -> Option<Job> {
    let (kind, phone_number_id, body) = match payload {
        TemplateEvent::TemplateSubmitted {
            phone_number_id,
            waba_id,
            meta_template_id,
            request,
            ..
        } => {
            let kind = if meta_template_id.is_some() {
                JobKind::EditTemplate
            } else {
                JobKind::CreateTemplate
            };
            let body = json!({
                "waba_id": waba_id, "meta_template_id": meta_template_id, "request": request,
            });
            (kind, phone_number_id, body)
        }
        TemplateEvent::TemplateComponentsUpdated {
            sent_to_meta: true,
            meta_template_id,
            phone_number_id,
            waba_id,
            request,
            ..
        } => {
            let body = json!({
                "waba_id": waba_id, "meta_template_id": meta_template_id, "request": request,
            });
            (JobKind::EditTemplate, phone_number_id, body)
        }
        TemplateEvent::TemplateDeleted {
            meta_template_id: Some(meta_template_id),
            phone_number_id,
            waba_id,
            name,
            ..
        } => {
            let body = json!({
                "waba_id": waba_id, "meta_template_id": meta_template_id, "name": name,
            });
            (JobKind::DeleteTemplate, phone_number_id, body)
        }
        _ => return None,
    };
    let Some(phone_number_id) = phone_number_id else {
        // Only numbers hold Meta tokens; a template no number is known for cannot be sent.
        tracing::warn!(template = %event.aggregate_id, "template job without a phone number: not sent to Meta");
        return None;
    };
    Some(Job {
        aggregate_type: Template::TYPE,
        aggregate_id: event.aggregate_id.clone(),
        sequence: event.sequence,
        kind: kind.as_str(),
        conversation_id: None,
        message_id: None,
        phone_number_id,
        recipient: String::new(),
        body,
        broadcast_id: None,
        priority: PRIORITY_TEMPLATE,
    })
}

/// The template snapshot the broadcast started with (for a retry round).
async fn started_template(
    tx: &Transaction<'_>,
    event: &StoredEvent,
    broadcast_id: Uuid,
) -> Result<Option<TemplateSnapshot>, ProjectorError> {
    let row = tx
        .query_opt(
            "SELECT payload::text FROM events WHERE aggregate_type = $1 AND aggregate_id = $2 \
             AND event_type = 'BroadcastStarted' ORDER BY sequence DESC LIMIT 1",
            &[&Broadcast::TYPE, &broadcast_id.to_string()],
        )
        .await?;
    let Some(row) = row else { return Ok(None) };
    let text: String = row.get(0);
    let payload: BroadcastEvent = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| serde_json::from_value(v).ok())
        .ok_or_else(|| ProjectorError::unreadable(event, "its BroadcastStarted cannot be read"))?;
    Ok(match payload {
        BroadcastEvent::BroadcastStarted { template, .. } => Some(template),
        _ => None,
    })
}

/// How many of a broadcast's jobs [`broadcast_jobs`] builds before inserting them.
const JOBS_PER_INSERT: usize = 1000;

/// One send job per recipient of `audience` (phone, variables) in sending round `round`. Full
/// chunks of [`JOBS_PER_INSERT`] are inserted here; the last chunk is returned (never empty
/// when there was a job) for the caller to insert.
async fn broadcast_jobs(
    tx: &Transaction<'_>,
    event: &StoredEvent,
    broadcast_id: Uuid,
    template: &TemplateSnapshot,
    round: u32,
    audience: impl Iterator<Item = (String, Value)>,
) -> Result<Vec<Job>, ProjectorError> {
    let Some(row) = tx
        .query_opt(
            "SELECT phone_number_id, base_components FROM outbox_broadcasts WHERE broadcast_id = $1",
            &[&broadcast_id],
        )
        .await?
    else {
        return Ok(vec![]);
    };
    let phone_number_id: Uuid = row.get(0);
    let base: Vec<Value> = serde_json::from_value(row.get(1)).unwrap_or_default();
    let mut jobs = Vec::new();
    for (phone, variables) in audience {
        let Ok(e164) = E164::parse(&phone) else {
            continue;
        };
        let variables: BTreeMap<String, String> =
            serde_json::from_value(variables).unwrap_or_default();
        let content = match recipient_message(template, &base, &variables) {
            Ok(content) => content,
            Err(error) => {
                // The application checked every recipient's variables before starting; a
                // recipient failing here means the rules changed since: leave a trace.
                tracing::error!(%broadcast_id, %phone, %error, "broadcast recipient cannot be bound");
                continue;
            }
        };
        let message_id = broadcast_message_id(broadcast_id, &e164, round);
        let wa_id = e164.wa_id().to_string();
        let mut body = json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": e164.as_str(),
            "biz_opaque_callback_data": message_id.0.to_string(),
        });
        if let (Some(fields), Ok(Value::Object(content))) =
            (body.as_object_mut(), serde_json::to_value(&content))
        {
            fields.extend(content);
        }
        if jobs.len() == JOBS_PER_INSERT {
            // A large audience goes in a chunk at a time: a hundred thousand bodies held at once
            // would take hundreds of MB.
            insert_jobs(tx, std::mem::take(&mut jobs)).await?;
        }
        jobs.push(Job {
            aggregate_type: Broadcast::TYPE,
            aggregate_id: event.aggregate_id.clone(),
            sequence: event.sequence,
            kind: JobKind::BroadcastSend.as_str(),
            conversation_id: Some(conversation_id(phone_number_id, &wa_id)),
            message_id: Some(message_id.0),
            phone_number_id,
            recipient: wa_id,
            body,
            broadcast_id: Some(broadcast_id),
            priority: PRIORITY_BROADCAST,
        });
    }
    Ok(jobs)
}

/// The job an event asks for, with Meta's request body.
fn job_for(event: &StoredEvent, conversation_id: Uuid, payload: ConversationEvent) -> Option<Job> {
    let sequence = event.sequence;
    let aggregate_id = event.aggregate_id.clone();
    match payload {
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
                aggregate_type: Conversation::TYPE,
                aggregate_id,
                sequence,
                kind: JobKind::SendMessage.as_str(),
                conversation_id: Some(conversation_id),
                message_id: Some(message_id.0),
                phone_number_id,
                recipient: customer_wa_id,
                body,
                broadcast_id: None,
                priority: PRIORITY_CONVERSATION,
            })
        }
        ConversationEvent::ReadReceiptQueued {
            message_id,
            wamid,
            phone_number_id,
            ..
        } => Some(Job {
            aggregate_type: Conversation::TYPE,
            aggregate_id,
            sequence,
            kind: JobKind::MarkRead.as_str(),
            conversation_id: Some(conversation_id),
            message_id: Some(message_id.0),
            phone_number_id,
            recipient: String::new(),
            broadcast_id: None,
            priority: PRIORITY_CONVERSATION,
            body: json!({
                "messaging_product": "whatsapp",
                "status": "read",
                "message_id": wamid,
            }),
        }),
        _ => None,
    }
}

//! The broadcasts read model: one row per broadcast (`broadcasts`: lifecycle, template, counts of
//! recipients by current status) and one per recipient (`broadcast_recipients`: variables, the
//! current round's message and how far it got).
//!
//! Folded from two aggregates in log order: the Broadcast's events shape the audience and the
//! lifecycle; the Conversation's status events (`MessageAcceptedByMeta`, `MessageDelivered`,
//! `MessageRead`, `MessageFailed`) move the recipient whose current message they name. A
//! recipient's status only climbs (pending < sent < failed < delivered < read; skipped is final);
//! the one way back is a retry of the failed, which gives the recipient a new message.
//!
//! Counts are kept incrementally: every statement that changes recipients returns each row's old
//! and new status, and the same statement adds the differences to the broadcast's counts. A
//! batch's status events are merged per message first and written by one statement, so a status
//! event for a message that is no broadcast's costs one index probe.
//!
//! The queries live in [`queries`] (re-exported here).

mod queries;

pub use queries::*;

use crate::log::StoredEvent;
use crate::runner::{Projection, ProjectorError, RebuildOrder};
use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use domain::broadcast::{
    broadcast_message_id, Broadcast, BroadcastEvent, BroadcastRecipient, PauseReason,
    SkippedRecipient,
};
use domain::conversation::{Conversation, ConversationEvent, MetaFailure};
use domain::E164;
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use tokio_postgres::types::ToSql;
use tokio_postgres::Transaction;
use uuid::Uuid;

/// Folds broadcast events and the recipients' message statuses into `broadcasts` and
/// `broadcast_recipients`.
pub struct BroadcastsProjection;

/// The conversation events that move a recipient (the others are not decoded).
const STATUS_EVENTS: &[&str] = &[
    "MessageAcceptedByMeta",
    "MessageDelivered",
    "MessageRead",
    "MessageFailed",
];

impl Projection for BroadcastsProjection {
    fn name(&self) -> &'static str {
        "broadcasts"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["broadcasts", "broadcast_recipients"]
    }

    fn aggregate_types(&self) -> Option<&'static [&'static str]> {
        Some(&[Broadcast::TYPE, Conversation::TYPE])
    }

    /// Recipients' rows join a broadcast's events with their conversations' events: log order.
    fn rebuild_order(&self) -> RebuildOrder {
        RebuildOrder::Log
    }

    fn apply<'a>(
        &'a self,
        tx: &'a Transaction<'a>,
        events: &'a [StoredEvent],
    ) -> BoxFuture<'a, Result<(), ProjectorError>> {
        Box::pin(async move {
            let mut statuses = StatusBatch::default();
            for event in events {
                if event.aggregate_type == Broadcast::TYPE {
                    // Statuses noted so far name the messages as they were before this event
                    // (a retry replaces them): write them first.
                    statuses.flush(tx).await?;
                    let id = Uuid::parse_str(&event.aggregate_id)
                        .map_err(|e| ProjectorError::unreadable(event, e))?;
                    let payload: BroadcastEvent = event
                        .payload()
                        .map_err(|e| ProjectorError::unreadable(event, e))?;
                    fold_broadcast(tx, id, event.sequence, payload).await?;
                } else if event.aggregate_type == Conversation::TYPE
                    && STATUS_EVENTS.contains(&event.event_type.as_str())
                {
                    let payload: ConversationEvent = event
                        .payload()
                        .map_err(|e| ProjectorError::unreadable(event, e))?;
                    statuses.note(payload);
                }
            }
            statuses.flush(tx).await
        })
    }
}

/// Where a recipient stands: their current message's status, or `skipped`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecipientStatus {
    /// Waiting for a message to be sent (a draft's recipients, and those not sent yet).
    Pending,
    /// Meta accepted the message.
    Sent,
    /// Meta refused the message or reported it failed.
    Failed,
    /// The message reached the recipient's phone.
    Delivered,
    /// The recipient read the message.
    Read,
    /// Left out when sending started (opted out, blocked, variables that do not fit).
    Skipped,
}

impl RecipientStatus {
    /// Every status, by rank.
    pub const ALL: [RecipientStatus; 6] = [
        Self::Pending,
        Self::Sent,
        Self::Failed,
        Self::Delivered,
        Self::Read,
        Self::Skipped,
    ];

    /// The wire form: `pending`, `sent`, `failed`, `delivered`, `read` or `skipped`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Delivered => "delivered",
            Self::Read => "read",
            Self::Skipped => "skipped",
        }
    }

    /// How far the status is: a recipient's status never moves to a lower rank (except when a
    /// retry gives them a new message); `skipped` outranks everything.
    pub fn rank(self) -> i16 {
        match self {
            Self::Pending => 0,
            Self::Sent => 1,
            Self::Failed => 2,
            Self::Delivered => 3,
            Self::Read => 4,
            Self::Skipped => 5,
        }
    }
}

impl fmt::Display for RecipientStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RecipientStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| {
                format!("'{s}' is not one of pending, sent, failed, delivered, read, skipped")
            })
    }
}

/// The recipient's `error` for a failure of their message: Meta's code and title.
pub fn failure_text(failure: &MetaFailure) -> String {
    if failure.title.trim().is_empty() {
        failure.code.to_string()
    } else {
        format!("{}: {}", failure.code, failure.title)
    }
}

/// The sort key of the `index`th recipient of the event at `sequence`: insertion order across
/// the broadcast's events (an event adds at most a thousand).
fn position(sequence: i64, index: usize) -> i64 {
    (sequence << 32) + index as i64
}

/// What a batch's status events did to one message, merged in log order: the highest status
/// reached, and the first time (and wamid, and failure) of each.
#[derive(Debug, Clone, PartialEq)]
struct MessageProgress {
    status: RecipientStatus,
    wamid: Option<String>,
    sent_at: Option<DateTime<Utc>>,
    delivered_at: Option<DateTime<Utc>>,
    read_at: Option<DateTime<Utc>>,
    failed_at: Option<DateTime<Utc>>,
    failure: Option<MetaFailure>,
    /// The latest event time.
    last_at: DateTime<Utc>,
}

impl MessageProgress {
    fn new(at: DateTime<Utc>) -> Self {
        Self {
            status: RecipientStatus::Pending,
            wamid: None,
            sent_at: None,
            delivered_at: None,
            read_at: None,
            failed_at: None,
            failure: None,
            last_at: at,
        }
    }

    fn record(
        &mut self,
        status: RecipientStatus,
        wamid: Option<String>,
        failure: Option<MetaFailure>,
        at: DateTime<Utc>,
    ) {
        if status.rank() > self.status.rank() {
            self.status = status;
        }
        if self.wamid.is_none() {
            self.wamid = wamid;
        }
        let time = match status {
            RecipientStatus::Sent => &mut self.sent_at,
            RecipientStatus::Delivered => &mut self.delivered_at,
            RecipientStatus::Read => &mut self.read_at,
            RecipientStatus::Failed => &mut self.failed_at,
            RecipientStatus::Pending | RecipientStatus::Skipped => return,
        };
        time.get_or_insert(at);
        if self.failure.is_none() {
            self.failure = failure;
        }
        self.last_at = self.last_at.max(at);
    }
}

/// The status events of a batch (since its last broadcast event), merged per message.
#[derive(Debug, Default)]
struct StatusBatch {
    messages: HashMap<Uuid, MessageProgress>,
}

impl StatusBatch {
    /// Notes a conversation event; only the four status events count.
    fn note(&mut self, event: ConversationEvent) {
        let (message_id, status, wamid, failure, at) = match event {
            ConversationEvent::MessageAcceptedByMeta {
                message_id,
                wamid,
                at,
            } => (message_id, RecipientStatus::Sent, Some(wamid), None, at),
            ConversationEvent::MessageDelivered {
                message_id,
                wamid,
                at,
            } => (
                message_id,
                RecipientStatus::Delivered,
                Some(wamid),
                None,
                at,
            ),
            ConversationEvent::MessageRead {
                message_id,
                wamid,
                at,
            } => (message_id, RecipientStatus::Read, Some(wamid), None, at),
            ConversationEvent::MessageFailed {
                message_id,
                wamid,
                failure,
                at,
            } => (
                message_id,
                RecipientStatus::Failed,
                wamid,
                Some(failure),
                at,
            ),
            _ => return,
        };
        self.messages
            .entry(message_id.0)
            .or_insert_with(|| MessageProgress::new(at))
            .record(status, wamid.map(|w| w.as_str().to_string()), failure, at);
    }

    /// Writes the noted progress to the recipients whose current message it names, and the
    /// resulting count changes to their broadcasts: one statement. Empties the batch.
    async fn flush(&mut self, tx: &Transaction<'_>) -> Result<(), ProjectorError> {
        if self.messages.is_empty() {
            return Ok(());
        }
        let messages: Vec<(Uuid, MessageProgress)> = self.messages.drain().collect();
        let column = |get: &dyn Fn(&MessageProgress) -> Option<DateTime<Utc>>| {
            messages
                .iter()
                .map(|(_, p)| get(p))
                .collect::<Vec<Option<DateTime<Utc>>>>()
        };
        let message_id: Vec<Uuid> = messages.iter().map(|(id, _)| *id).collect();
        let rank: Vec<i16> = messages.iter().map(|(_, p)| p.status.rank()).collect();
        let status: Vec<&str> = messages.iter().map(|(_, p)| p.status.as_str()).collect();
        let wamid: Vec<Option<&str>> = messages.iter().map(|(_, p)| p.wamid.as_deref()).collect();
        let sent_at = column(&|p| p.sent_at);
        let delivered_at = column(&|p| p.delivered_at);
        let read_at = column(&|p| p.read_at);
        let failed_at = column(&|p| p.failed_at);
        let error: Vec<Option<String>> = messages
            .iter()
            .map(|(_, p)| p.failure.as_ref().map(failure_text))
            .collect();
        let error_code: Vec<Option<i64>> = messages
            .iter()
            .map(|(_, p)| p.failure.as_ref().map(|f| f.code))
            .collect();
        let last_at: Vec<DateTime<Utc>> = messages.iter().map(|(_, p)| p.last_at).collect();
        // A status only climbs; each time and the first failure are kept once known.
        let changes = "UPDATE broadcast_recipients r SET \
                 status_rank = GREATEST(r.status_rank, s.rank), \
                 status = CASE WHEN s.rank > r.status_rank THEN s.status ELSE r.status END, \
                 wamid = COALESCE(r.wamid, s.wamid), \
                 sent_at = COALESCE(r.sent_at, s.sent_at), \
                 delivered_at = COALESCE(r.delivered_at, s.delivered_at), \
                 read_at = COALESCE(r.read_at, s.read_at), \
                 failed_at = COALESCE(r.failed_at, s.failed_at), \
                 error = COALESCE(r.error, s.error), \
                 error_code = COALESCE(r.error_code, s.error_code) \
             FROM (SELECT o.broadcast_id, o.phone, o.status AS old_status, u.* \
                   FROM UNNEST($1::uuid[], $2::smallint[], $3::text[], $4::text[], $5::timestamptz[], \
                               $6::timestamptz[], $7::timestamptz[], $8::timestamptz[], $9::text[], \
                               $10::bigint[], $11::timestamptz[]) \
                        AS u(message_id, rank, status, wamid, sent_at, delivered_at, read_at, \
                             failed_at, error, error_code, last_at) \
                   JOIN broadcast_recipients o ON o.message_id = u.message_id \
                   FOR UPDATE OF o) s \
             WHERE r.broadcast_id = s.broadcast_id AND r.phone = s.phone \
             RETURNING r.broadcast_id, s.old_status, r.status AS new_status, s.last_at AS at";
        let params: [&(dyn ToSql + Sync); 11] = [
            &message_id,
            &rank,
            &status,
            &wamid,
            &sent_at,
            &delivered_at,
            &read_at,
            &failed_at,
            &error,
            &error_code,
            &last_at,
        ];
        tx.execute(&with_count_changes(changes), &params).await?;
        Ok(())
    }
}

/// Wraps `changes`, a statement changing recipients that returns `broadcast_id, old_status,
/// new_status, at` per row (old NULL for a row inserted, new NULL for one deleted), so that the
/// same statement adds each broadcast's differences to its counts and moves its
/// `last_event_at` to the latest `at`.
fn with_count_changes(changes: &str) -> String {
    let mut deltas = vec!["count(new_status) - count(old_status) AS recipient_count".to_string()];
    let mut sets = vec!["recipient_count = b.recipient_count + d.recipient_count".to_string()];
    for status in RecipientStatus::ALL {
        let s = status.as_str();
        deltas.push(format!(
            "count(*) FILTER (WHERE new_status = '{s}') - count(*) FILTER (WHERE old_status = '{s}') AS {s}_count"
        ));
        sets.push(format!("{s}_count = b.{s}_count + d.{s}_count"));
    }
    format!(
        "WITH changed AS ({changes}), \
         deltas AS (SELECT broadcast_id, {deltas}, max(at) AS at FROM changed GROUP BY broadcast_id) \
         UPDATE broadcasts b SET {sets}, last_event_at = GREATEST(b.last_event_at, d.at) \
         FROM deltas d WHERE b.broadcast_id = d.broadcast_id",
        deltas = deltas.join(", "),
        sets = sets.join(", "),
    )
}

/// Sets the broadcast's fields in `sets` (parameters from `$3`) as of the event at `$2`.
async fn update_broadcast(
    tx: &Transaction<'_>,
    id: Uuid,
    at: DateTime<Utc>,
    sets: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<(), ProjectorError> {
    let sql = format!(
        "UPDATE broadcasts SET {sets}{comma} updated_at = $2, \
                last_event_at = GREATEST(last_event_at, $2) \
         WHERE broadcast_id = $1",
        comma = if sets.is_empty() { "" } else { "," },
    );
    let mut all: Vec<&(dyn ToSql + Sync)> = vec![&id, &at];
    all.extend_from_slice(params);
    tx.execute(&sql, &all).await?;
    Ok(())
}

/// Folds one event of broadcast `id`, the `sequence`th of its history.
async fn fold_broadcast(
    tx: &Transaction<'_>,
    id: Uuid,
    sequence: i64,
    event: BroadcastEvent,
) -> Result<(), ProjectorError> {
    match event {
        BroadcastEvent::BroadcastCreated {
            workspace_id,
            phone_number_id,
            name,
            description,
            template,
            at,
        } => {
            let template = serde_json::to_value(&template).expect("a template serializes");
            tx.execute(
                "INSERT INTO broadcasts (broadcast_id, workspace_id, phone_number_id, name, description, \
                                         template, status, created_at, updated_at, last_event_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, 'draft', $7, $7, $7) \
                 ON CONFLICT (broadcast_id) DO NOTHING",
                &[&id, &workspace_id.0, &phone_number_id, &name, &description, &template, &at],
            )
            .await?;
        }
        BroadcastEvent::BroadcastRecipientsAdded { recipients, at } => {
            add_recipients(tx, id, sequence, &recipients, at).await?;
            update_broadcast(tx, id, at, "", &[]).await?;
        }
        BroadcastEvent::BroadcastRecipientsRemoved { phones, at } => {
            let phones: Vec<&str> = phones.iter().map(E164::as_str).collect();
            let changes = "DELETE FROM broadcast_recipients \
                 WHERE broadcast_id = $1 AND phone = ANY($2::text[]) \
                 RETURNING broadcast_id, status AS old_status, NULL::text AS new_status, $3::timestamptz AS at";
            tx.execute(&with_count_changes(changes), &[&id, &phones, &at])
                .await?;
            update_broadcast(tx, id, at, "", &[]).await?;
        }
        BroadcastEvent::BroadcastScheduled { scheduled_at, at } => {
            update_broadcast(
                tx,
                id,
                at,
                "status = 'scheduled', scheduled_at = $3, start_refusal = NULL",
                &[&scheduled_at],
            )
            .await?;
        }
        BroadcastEvent::BroadcastScheduleCancelled { at } => {
            update_broadcast(tx, id, at, "status = 'draft', scheduled_at = NULL", &[]).await?;
        }
        BroadcastEvent::BroadcastScheduledStartRefused { reason, at } => {
            update_broadcast(
                tx,
                id,
                at,
                "status = 'draft', scheduled_at = NULL, start_refusal = $3",
                &[&reason],
            )
            .await?;
        }
        BroadcastEvent::BroadcastStarted {
            template,
            skipped,
            at,
            ..
        } => {
            start(tx, id, &skipped, at).await?;
            update_broadcast(
                tx,
                id,
                at,
                "status = 'sending', started_at = $3, template_id = $4, start_refusal = NULL",
                &[&at, &template.template_id],
            )
            .await?;
        }
        BroadcastEvent::BroadcastPaused { reason, at } => {
            update_broadcast(
                tx,
                id,
                at,
                "status = 'paused', pause_reason = $3, pause_code = $4",
                &[&reason.describe(), &pause_code(&reason)],
            )
            .await?;
        }
        BroadcastEvent::BroadcastResumed { at } => {
            update_broadcast(
                tx,
                id,
                at,
                "status = 'sending', pause_reason = NULL, pause_code = NULL",
                &[],
            )
            .await?;
        }
        BroadcastEvent::BroadcastFailedRecipientsRetried { round, phones, at } => {
            let round = i32::try_from(round).unwrap_or(i32::MAX);
            retry(tx, id, round, &phones, at).await?;
            // Like the aggregate: a finished broadcast sends again; a paused one stays paused.
            update_broadcast(
                tx,
                id,
                at,
                "round = $3, completed_at = NULL, \
                 status = CASE WHEN status IN ('completed', 'failed') THEN 'sending' ELSE status END",
                &[&round],
            )
            .await?;
        }
        BroadcastEvent::BroadcastCompleted { status, at, .. } => {
            update_broadcast(
                tx,
                id,
                at,
                "status = $3, completed_at = $2, pause_reason = NULL, pause_code = NULL",
                &[&status.as_str()],
            )
            .await?;
        }
        BroadcastEvent::BroadcastCancelled { at } => {
            update_broadcast(tx, id, at, "status = 'cancelled', scheduled_at = NULL", &[]).await?;
        }
        BroadcastEvent::BroadcastDeleted { .. } => {
            tx.execute(
                "DELETE FROM broadcast_recipients WHERE broadcast_id = $1",
                &[&id],
            )
            .await?;
            tx.execute("DELETE FROM broadcasts WHERE broadcast_id = $1", &[&id])
                .await?;
        }
    }
    Ok(())
}

/// The machine code of a pause reason: its serde tag (`MANUAL`, `QUALITY_RED`, …).
fn pause_code(reason: &PauseReason) -> Option<String> {
    let value = serde_json::to_value(reason).ok()?;
    value.get("code")?.as_str().map(str::to_owned)
}

/// Inserts new recipients as pending; a phone already in is left as it is.
async fn add_recipients(
    tx: &Transaction<'_>,
    id: Uuid,
    sequence: i64,
    recipients: &[BroadcastRecipient],
    at: DateTime<Utc>,
) -> Result<(), ProjectorError> {
    if recipients.is_empty() {
        return Ok(());
    }
    let phones: Vec<&str> = recipients.iter().map(|r| r.phone.as_str()).collect();
    let positions: Vec<i64> = (0..recipients.len())
        .map(|index| position(sequence, index))
        .collect();
    let names: Vec<Option<&str>> = recipients.iter().map(|r| r.name.as_deref()).collect();
    let variables: Vec<serde_json::Value> = recipients
        .iter()
        .map(|r| serde_json::to_value(&r.variables).expect("variables serialize"))
        .collect();
    let changes = "INSERT INTO broadcast_recipients (broadcast_id, phone, position, name, variables, status, status_rank) \
         SELECT $1, u.phone, u.position, u.name, u.variables, 'pending', 0 \
         FROM UNNEST($2::text[], $3::bigint[], $4::text[], $5::jsonb[]) AS u(phone, position, name, variables) \
         ON CONFLICT (broadcast_id, phone) DO NOTHING \
         RETURNING broadcast_id, NULL::text AS old_status, status AS new_status, $6::timestamptz AS at";
    tx.execute(
        &with_count_changes(changes),
        &[&id, &phones, &positions, &names, &variables, &at],
    )
    .await?;
    Ok(())
}

/// One recipient's row as sending starts.
#[derive(Debug, Clone, PartialEq)]
struct StartRow {
    phone: String,
    message_id: Option<Uuid>,
    status: RecipientStatus,
    skip_reason: Option<&'static str>,
    error: Option<String>,
}

/// What starting does to each of `phones`: the skipped are skipped with their reason, everyone
/// else gets round 0's message.
fn start_rows(
    broadcast_id: Uuid,
    phones: Vec<String>,
    skipped: &[SkippedRecipient],
) -> Vec<StartRow> {
    let reasons: HashMap<&str, _> = skipped
        .iter()
        .map(|s| (s.phone.as_str(), &s.reason))
        .collect();
    phones
        .into_iter()
        .filter_map(|phone| match reasons.get(phone.as_str()) {
            Some(reason) => Some(StartRow {
                phone,
                message_id: None,
                status: RecipientStatus::Skipped,
                skip_reason: Some(reason.code()),
                error: Some(reason.describe()),
            }),
            None => {
                let e164 = E164::parse(&phone).ok()?;
                Some(StartRow {
                    message_id: Some(broadcast_message_id(broadcast_id, &e164, 0).0),
                    phone,
                    status: RecipientStatus::Pending,
                    skip_reason: None,
                    error: None,
                })
            }
        })
        .collect()
}

/// Freezes the audience: every recipient gets round 0's message id, or is skipped.
async fn start(
    tx: &Transaction<'_>,
    id: Uuid,
    skipped: &[SkippedRecipient],
    at: DateTime<Utc>,
) -> Result<(), ProjectorError> {
    let phones: Vec<String> = tx
        .query(
            "SELECT phone FROM broadcast_recipients WHERE broadcast_id = $1",
            &[&id],
        )
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let rows = start_rows(id, phones, skipped);
    if rows.is_empty() {
        return Ok(());
    }
    let phone: Vec<&str> = rows.iter().map(|r| r.phone.as_str()).collect();
    let message_id: Vec<Option<Uuid>> = rows.iter().map(|r| r.message_id).collect();
    let status: Vec<&str> = rows.iter().map(|r| r.status.as_str()).collect();
    let rank: Vec<i16> = rows.iter().map(|r| r.status.rank()).collect();
    let skip_reason: Vec<Option<&str>> = rows.iter().map(|r| r.skip_reason).collect();
    let error: Vec<Option<&str>> = rows.iter().map(|r| r.error.as_deref()).collect();
    let changes = "UPDATE broadcast_recipients r SET \
             message_id = s.message_id, status = s.status, status_rank = s.rank, \
             skip_reason = s.skip_reason, error = s.error, round = 0 \
         FROM (SELECT o.broadcast_id, o.phone, o.status AS old_status, u.message_id, u.status, u.rank, \
                      u.skip_reason, u.error \
               FROM UNNEST($2::text[], $3::uuid[], $4::text[], $5::smallint[], $6::text[], $7::text[]) \
                    AS u(phone, message_id, status, rank, skip_reason, error) \
               JOIN broadcast_recipients o ON o.broadcast_id = $1 AND o.phone = u.phone \
               FOR UPDATE OF o) s \
         WHERE r.broadcast_id = s.broadcast_id AND r.phone = s.phone \
         RETURNING r.broadcast_id, s.old_status, r.status AS new_status, $8::timestamptz AS at";
    tx.execute(
        &with_count_changes(changes),
        &[
            &id,
            &phone,
            &message_id,
            &status,
            &rank,
            &skip_reason,
            &error,
            &at,
        ],
    )
    .await?;
    Ok(())
}

/// Gives `phones` a new message (round `round`): pending again, with nothing of the old one.
async fn retry(
    tx: &Transaction<'_>,
    id: Uuid,
    round: i32,
    phones: &[E164],
    at: DateTime<Utc>,
) -> Result<(), ProjectorError> {
    if phones.is_empty() {
        return Ok(());
    }
    let message_round = u32::try_from(round).unwrap_or(0);
    let phone: Vec<&str> = phones.iter().map(E164::as_str).collect();
    let message_id: Vec<Uuid> = phones
        .iter()
        .map(|p| broadcast_message_id(id, p, message_round).0)
        .collect();
    let changes = "UPDATE broadcast_recipients r SET \
             message_id = s.message_id, status = 'pending', status_rank = 0, round = $4, \
             wamid = NULL, error = NULL, error_code = NULL, \
             sent_at = NULL, delivered_at = NULL, read_at = NULL, failed_at = NULL \
         FROM (SELECT o.broadcast_id, o.phone, o.status AS old_status, u.message_id \
               FROM UNNEST($2::text[], $3::uuid[]) AS u(phone, message_id) \
               JOIN broadcast_recipients o ON o.broadcast_id = $1 AND o.phone = u.phone \
               WHERE o.status <> 'skipped' \
               FOR UPDATE OF o) s \
         WHERE r.broadcast_id = s.broadcast_id AND r.phone = s.phone \
         RETURNING r.broadcast_id, s.old_status, r.status AS new_status, $5::timestamptz AS at";
    tx.execute(
        &with_count_changes(changes),
        &[&id, &phone, &message_id, &round, &at],
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;
    use domain::broadcast::SkipReason;
    use domain::conversation::{MessageId, Wamid};

    fn t(minutes: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-01T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
            + TimeDelta::minutes(minutes)
    }

    fn msg(n: u128) -> MessageId {
        MessageId(Uuid::from_u128(n))
    }

    fn wamid(raw: &str) -> Wamid {
        Wamid::parse(raw).unwrap()
    }

    fn failure(code: i64) -> MetaFailure {
        MetaFailure {
            code,
            title: "Message undeliverable".into(),
            message: None,
            details: None,
        }
    }

    fn accepted(n: u128, at: DateTime<Utc>) -> ConversationEvent {
        ConversationEvent::MessageAcceptedByMeta {
            message_id: msg(n),
            wamid: wamid(&format!("wamid.{n}")),
            at,
        }
    }

    fn delivered(n: u128, at: DateTime<Utc>) -> ConversationEvent {
        ConversationEvent::MessageDelivered {
            message_id: msg(n),
            wamid: wamid(&format!("wamid.{n}")),
            at,
        }
    }

    fn read(n: u128, at: DateTime<Utc>) -> ConversationEvent {
        ConversationEvent::MessageRead {
            message_id: msg(n),
            wamid: wamid(&format!("wamid.{n}")),
            at,
        }
    }

    fn failed(n: u128, code: i64, at: DateTime<Utc>) -> ConversationEvent {
        ConversationEvent::MessageFailed {
            message_id: msg(n),
            wamid: None,
            failure: failure(code),
            at,
        }
    }

    fn batch(events: Vec<ConversationEvent>) -> StatusBatch {
        let mut batch = StatusBatch::default();
        for event in events {
            batch.note(event);
        }
        batch
    }

    #[test]
    fn statuses_rank_and_read_back() {
        let ranks: Vec<i16> = RecipientStatus::ALL.iter().map(|s| s.rank()).collect();
        assert_eq!(ranks, vec![0, 1, 2, 3, 4, 5]);
        for status in RecipientStatus::ALL {
            assert_eq!(status.as_str().parse::<RecipientStatus>(), Ok(status));
        }
        assert!("queued".parse::<RecipientStatus>().is_err());
        assert_eq!(
            serde_json::to_value(RecipientStatus::Delivered).unwrap(),
            "delivered"
        );
    }

    #[test]
    fn a_batch_keeps_the_highest_status_and_the_first_of_each_time() {
        let b = batch(vec![
            accepted(1, t(1)),
            read(1, t(3)),
            delivered(1, t(2)),
            // A failure after delivery (another device) does not lower the status; its time
            // and Meta's error are kept.
            failed(1, 131026, t(4)),
            failed(1, 131049, t(5)),
            delivered(1, t(6)),
        ]);
        let p = &b.messages[&msg(1).0];
        assert_eq!(p.status, RecipientStatus::Read);
        assert_eq!(p.wamid.as_deref(), Some("wamid.1"));
        assert_eq!(
            (p.sent_at, p.delivered_at, p.read_at, p.failed_at),
            (Some(t(1)), Some(t(2)), Some(t(3)), Some(t(4)))
        );
        assert_eq!(p.failure.as_ref().map(|f| f.code), Some(131026));
        assert_eq!(p.last_at, t(6));
    }

    #[test]
    fn a_refused_send_is_failed_and_other_events_are_not_noted() {
        let b = batch(vec![
            failed(2, 131047, t(1)),
            ConversationEvent::AiAgentChanged {
                enabled: true,
                changed_by: domain::conversation::AiAgentChangedBy::Api,
                reason: None,
                at: t(2),
            },
        ]);
        assert_eq!(b.messages.len(), 1);
        let p = &b.messages[&msg(2).0];
        assert_eq!(p.status, RecipientStatus::Failed);
        assert_eq!(p.wamid, None);
        assert_eq!(
            p.failure.as_ref().map(failure_text).as_deref(),
            Some("131047: Message undeliverable")
        );
    }

    #[test]
    fn merging_does_not_depend_on_where_batches_are_cut() {
        // Applying the merge of a whole history equals applying the merges of its parts in
        // turn with the same rules the SQL uses (max rank, first of each value).
        let history = vec![
            accepted(3, t(1)),
            failed(3, 131026, t(2)),
            read(3, t(4)),
            delivered(3, t(3)),
        ];
        let whole = batch(history.clone()).messages[&msg(3).0].clone();
        for cut in 1..history.len() {
            let first = batch(history[..cut].to_vec()).messages[&msg(3).0].clone();
            let second = batch(history[cut..].to_vec()).messages[&msg(3).0].clone();
            let merged = MessageProgress {
                status: if second.status.rank() > first.status.rank() {
                    second.status
                } else {
                    first.status
                },
                wamid: first.wamid.clone().or(second.wamid.clone()),
                sent_at: first.sent_at.or(second.sent_at),
                delivered_at: first.delivered_at.or(second.delivered_at),
                read_at: first.read_at.or(second.read_at),
                failed_at: first.failed_at.or(second.failed_at),
                failure: first.failure.clone().or(second.failure.clone()),
                last_at: first.last_at.max(second.last_at),
            };
            assert_eq!(merged, whole, "cut after {cut}");
        }
    }

    #[test]
    fn starting_skips_the_skipped_and_names_everyone_elses_message() {
        let id = Uuid::from_u128(77);
        let skipped = vec![SkippedRecipient {
            phone: E164::parse("+16505550002").unwrap(),
            reason: SkipReason::OptedOut,
        }];
        let rows = start_rows(
            id,
            vec!["+16505550001".into(), "+16505550002".into()],
            &skipped,
        );
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].status, RecipientStatus::Pending);
        assert_eq!(
            rows[0].message_id,
            Some(broadcast_message_id(id, &E164::parse("+16505550001").unwrap(), 0).0)
        );
        assert_eq!(rows[1].status, RecipientStatus::Skipped);
        assert_eq!(rows[1].message_id, None);
        assert_eq!(rows[1].skip_reason, Some("OPTED_OUT"));
        assert_eq!(
            rows[1].error.as_deref(),
            Some("skipped: the contact opted out")
        );
    }

    #[test]
    fn pause_codes_are_the_reasons_tags() {
        assert_eq!(pause_code(&PauseReason::Manual).as_deref(), Some("MANUAL"));
        assert_eq!(
            pause_code(&PauseReason::QualityRed).as_deref(),
            Some("QUALITY_RED")
        );
        assert_eq!(
            pause_code(&PauseReason::TemplateUnavailable {
                status: "PAUSED".into()
            })
            .as_deref(),
            Some("TEMPLATE_UNAVAILABLE")
        );
    }

    #[test]
    fn positions_follow_events_then_their_order() {
        assert!(position(2, 999) < position(3, 0));
        assert!(position(3, 0) < position(3, 1));
    }

    #[test]
    fn count_changes_cover_every_status() {
        let sql = with_count_changes("SELECT 1");
        for status in RecipientStatus::ALL {
            assert!(sql.contains(&format!(
                "{s}_count = b.{s}_count + d.{s}_count",
                s = status.as_str()
            )));
        }
        assert!(sql.contains("recipient_count = b.recipient_count + d.recipient_count"));
    }
}

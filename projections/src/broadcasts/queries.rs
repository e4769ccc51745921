//! Queries over the broadcasts read model: the list and one broadcast, a broadcast's recipients
//! and their summary, and what the scheduler and the completion check need.

use super::RecipientStatus;
use chrono::{DateTime, Utc};
use domain::broadcast::{BroadcastCounts, BroadcastStatus, BroadcastTemplate};
use domain::{WorkspaceId, E164};
use serde_json::Value;
use std::collections::BTreeMap;
use tokio_postgres::{GenericClient, Row};
use uuid::Uuid;

/// A broadcast's recipients by their current status (read from the broadcast's row, kept
/// exact by the projection).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecipientCounts {
    /// Every recipient.
    pub total: i64,
    /// Not sent yet.
    pub pending: i64,
    /// Accepted by Meta, not delivered yet.
    pub sent: i64,
    /// Delivered, not read yet.
    pub delivered: i64,
    /// Read.
    pub read: i64,
    /// Failed (and not delivered since).
    pub failed: i64,
    /// Left out when sending started.
    pub skipped: i64,
}

impl RecipientCounts {
    /// Recipients whose message got at least as far as Meta: sent, delivered or read.
    pub fn sent_total(&self) -> i64 {
        self.sent + self.delivered + self.read
    }

    /// Recipients whose message reached their phone: delivered or read.
    pub fn delivered_total(&self) -> i64 {
        self.delivered + self.read
    }

    /// Recipients whose current status is `status`.
    pub fn of(&self, status: RecipientStatus) -> i64 {
        match status {
            RecipientStatus::Pending => self.pending,
            RecipientStatus::Sent => self.sent,
            RecipientStatus::Failed => self.failed,
            RecipientStatus::Delivered => self.delivered,
            RecipientStatus::Read => self.read,
            RecipientStatus::Skipped => self.skipped,
        }
    }

    /// The funnel as the Broadcast aggregate records it when sending completes.
    pub fn funnel(&self) -> BroadcastCounts {
        let count = |n: i64| u32::try_from(n.max(0)).unwrap_or(u32::MAX);
        BroadcastCounts {
            total: count(self.total),
            sent: count(self.sent_total()),
            delivered: count(self.delivered_total()),
            read: count(self.read),
            failed: count(self.failed),
            skipped: count(self.skipped),
        }
    }

    fn from_row(row: &Row) -> Self {
        let count = |name: &str| i64::from(row.get::<_, i32>(name));
        Self {
            total: count("recipient_count"),
            pending: count("pending_count"),
            sent: count("sent_count"),
            delivered: count("delivered_count"),
            read: count("read_count"),
            failed: count("failed_count"),
            skipped: count("skipped_count"),
        }
    }
}

/// The count columns [`RecipientCounts::from_row`] reads.
const COUNT_COLUMNS: &str = "recipient_count, pending_count, sent_count, delivered_count, \
                             read_count, failed_count, skipped_count";

/// A broadcast as the read model holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct BroadcastView {
    /// The Broadcast aggregate's id.
    pub broadcast_id: Uuid,
    /// The owning workspace.
    pub workspace_id: WorkspaceId,
    /// Our id of the number it sends from.
    pub phone_number_id: Uuid,
    /// Its name.
    pub name: String,
    /// Its description, if any.
    pub description: Option<String>,
    /// The template as the creator named it (name, language, shared components).
    pub template: BroadcastTemplate,
    /// The Template aggregate sending started with; `None` before the start.
    pub template_id: Option<Uuid>,
    /// Where it is in its life.
    pub status: BroadcastStatus,
    /// How many recipients it has.
    pub recipient_count: i64,
    /// Recipients not sent yet.
    pub pending_count: i64,
    /// Recipients whose message Meta accepted, not delivered yet (the funnel's "sent" is
    /// sent + delivered + read).
    pub sent_count: i64,
    /// Recipients whose message was delivered, not read yet (the funnel's "delivered" is
    /// delivered + read).
    pub delivered_count: i64,
    /// Recipients who read their message.
    pub read_count: i64,
    /// Recipients whose message failed.
    pub failed_count: i64,
    /// Recipients left out when sending started.
    pub skipped_count: i64,
    /// Why it is paused, as a sentence; `None` unless paused.
    pub pause_reason: Option<String>,
    /// Why it is paused, as a code (`MANUAL`, `QUALITY_RED`, `TEMPLATE_UNAVAILABLE`).
    pub pause_code: Option<String>,
    /// Why its scheduled start was refused (it went back to draft); cleared by a new schedule.
    pub start_refusal: Option<String>,
    /// The sending round: 0, then one more per retry of the failed.
    pub round: i32,
    /// When it is to start, while scheduled.
    pub scheduled_at: Option<DateTime<Utc>>,
    /// When sending started.
    pub started_at: Option<DateTime<Utc>>,
    /// When every recipient was final (cleared by a retry).
    pub completed_at: Option<DateTime<Utc>>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Its latest event's time.
    pub updated_at: DateTime<Utc>,
    /// The latest event's time, its own or one of its messages'.
    pub last_event_at: DateTime<Utc>,
}

/// Reads the stored template; a field that cannot be read stays empty.
fn template_from(value: &Value) -> BroadcastTemplate {
    serde_json::from_value(value.clone()).unwrap_or_else(|_| BroadcastTemplate {
        name: value["name"].as_str().unwrap_or_default().to_string(),
        language: value["language"].as_str().unwrap_or_default().to_string(),
        components: Vec::new(),
    })
}

impl BroadcastView {
    /// Its recipients by current status.
    pub fn counts(&self) -> RecipientCounts {
        RecipientCounts {
            total: self.recipient_count,
            pending: self.pending_count,
            sent: self.sent_count,
            delivered: self.delivered_count,
            read: self.read_count,
            failed: self.failed_count,
            skipped: self.skipped_count,
        }
    }

    fn from_row(row: &Row) -> Self {
        let counts = RecipientCounts::from_row(row);
        Self {
            broadcast_id: row.get("broadcast_id"),
            workspace_id: WorkspaceId(row.get("workspace_id")),
            phone_number_id: row.get("phone_number_id"),
            name: row.get("name"),
            description: row.get("description"),
            template: template_from(&row.get::<_, Value>("template")),
            template_id: row.get("template_id"),
            status: row
                .get::<_, &str>("status")
                .parse()
                .unwrap_or(BroadcastStatus::Draft),
            recipient_count: counts.total,
            pending_count: counts.pending,
            sent_count: counts.sent,
            delivered_count: counts.delivered,
            read_count: counts.read,
            failed_count: counts.failed,
            skipped_count: counts.skipped,
            pause_reason: row.get("pause_reason"),
            pause_code: row.get("pause_code"),
            start_refusal: row.get("start_refusal"),
            round: row.get("round"),
            scheduled_at: row.get("scheduled_at"),
            started_at: row.get("started_at"),
            completed_at: row.get("completed_at"),
            created_at: row.get("created_at"),
            updated_at: row.get("updated_at"),
            last_event_at: row.get("last_event_at"),
        }
    }
}

const BROADCAST_COLUMNS: &str = "broadcast_id, workspace_id, phone_number_id, name, description, \
     template, template_id, status, recipient_count, pending_count, sent_count, delivered_count, \
     read_count, failed_count, skipped_count, pause_reason, pause_code, start_refusal, round, \
     scheduled_at, started_at, completed_at, created_at, updated_at, last_event_at";

/// A recipient of a broadcast as the read model holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecipientView {
    /// The broadcast.
    pub broadcast_id: Uuid,
    /// The recipient's number, E.164 with `+`.
    pub phone: String,
    /// Insertion order (a sort key, not contiguous).
    pub position: i64,
    /// The name given with the recipient.
    pub name: Option<String>,
    /// The variables their message is personalised with.
    pub variables: BTreeMap<String, String>,
    /// Where they stand.
    pub status: RecipientStatus,
    /// Our id of the current round's message; `None` before sending starts, or if skipped.
    pub message_id: Option<Uuid>,
    /// Meta's id of that message, once accepted.
    pub wamid: Option<String>,
    /// Meta's code and title of the message's first failure, or why the recipient was skipped.
    pub error: Option<String>,
    /// Meta's code of that failure.
    pub error_code: Option<i64>,
    /// Why the recipient was skipped (`OPTED_OUT`, `BLOCKED`, `INVALID_VARIABLES`).
    pub skip_reason: Option<String>,
    /// The round of the current message.
    pub round: i32,
    /// When Meta accepted the message.
    pub sent_at: Option<DateTime<Utc>>,
    /// When it was delivered.
    pub delivered_at: Option<DateTime<Utc>>,
    /// When it was read.
    pub read_at: Option<DateTime<Utc>>,
    /// When it failed.
    pub failed_at: Option<DateTime<Utc>>,
}

impl RecipientView {
    fn from_row(row: &Row) -> Self {
        Self {
            broadcast_id: row.get("broadcast_id"),
            phone: row.get("phone"),
            position: row.get("position"),
            name: row.get("name"),
            variables: serde_json::from_value(row.get::<_, Value>("variables")).unwrap_or_default(),
            status: row
                .get::<_, &str>("status")
                .parse()
                .unwrap_or(RecipientStatus::Pending),
            message_id: row.get("message_id"),
            wamid: row.get("wamid"),
            error: row.get("error"),
            error_code: row.get("error_code"),
            skip_reason: row.get("skip_reason"),
            round: row.get("round"),
            sent_at: row.get("sent_at"),
            delivered_at: row.get("delivered_at"),
            read_at: row.get("read_at"),
            failed_at: row.get("failed_at"),
        }
    }
}

const RECIPIENT_COLUMNS: &str =
    "r.broadcast_id, r.phone, r.position, r.name, r.variables, r.status, \
     r.message_id, r.wamid, r.error, r.error_code, r.skip_reason, r.round, r.sent_at, \
     r.delivered_at, r.read_at, r.failed_at";

/// The workspace's broadcasts, newest first (then by id, descending), optionally only one
/// number's (our phone-number id) and of one status (`draft`, `sending`, …), one page at a time;
/// with how many match in all.
pub async fn list_broadcasts(
    client: &impl GenericClient,
    workspace: WorkspaceId,
    phone_number_id: Option<Uuid>,
    status: Option<&str>,
    limit: i64,
    skip: i64,
) -> Result<(Vec<BroadcastView>, i64), tokio_postgres::Error> {
    let conditions = "workspace_id = $1 AND ($2::uuid IS NULL OR phone_number_id = $2) \
                      AND ($3::text IS NULL OR status = $3)";
    let total: i64 = client
        .query_one(
            &format!("SELECT count(*) FROM broadcasts WHERE {conditions}"),
            &[&workspace.0, &phone_number_id, &status],
        )
        .await?
        .get(0);
    let rows = client
        .query(
            &format!(
                "SELECT {BROADCAST_COLUMNS} FROM broadcasts WHERE {conditions} \
                 ORDER BY created_at DESC, broadcast_id DESC OFFSET $4 LIMIT $5"
            ),
            &[
                &workspace.0,
                &phone_number_id,
                &status,
                &skip.max(0),
                &limit.max(0),
            ],
        )
        .await?;
    Ok((rows.iter().map(BroadcastView::from_row).collect(), total))
}

/// One broadcast of the workspace; `None` if it does not exist (or was deleted) or is another
/// workspace's.
pub async fn get_broadcast(
    client: &impl GenericClient,
    workspace: WorkspaceId,
    broadcast_id: Uuid,
) -> Result<Option<BroadcastView>, tokio_postgres::Error> {
    let row = client
        .query_opt(
            &format!(
                "SELECT {BROADCAST_COLUMNS} FROM broadcasts WHERE workspace_id = $1 AND broadcast_id = $2"
            ),
            &[&workspace.0, &broadcast_id],
        )
        .await?;
    Ok(row.as_ref().map(BroadcastView::from_row))
}

/// A broadcast's recipients in insertion order, optionally of one status (`pending`, `sent`,
/// `failed`, `delivered`, `read`, `skipped`), one page at a time; with how many match in all.
/// Empty for a broadcast that is not the workspace's.
pub async fn list_recipients(
    client: &impl GenericClient,
    workspace: WorkspaceId,
    broadcast_id: Uuid,
    status: Option<&str>,
    limit: i64,
    skip: i64,
) -> Result<(Vec<RecipientView>, i64), tokio_postgres::Error> {
    let from = "FROM broadcast_recipients r \
                JOIN broadcasts b ON b.broadcast_id = r.broadcast_id AND b.workspace_id = $1 \
                WHERE r.broadcast_id = $2 AND ($3::text IS NULL OR r.status = $3)";
    let total = matching_recipients(client, workspace, broadcast_id, status).await?;
    let rows = client
        .query(
            &format!("SELECT {RECIPIENT_COLUMNS} {from} ORDER BY r.position OFFSET $4 LIMIT $5"),
            &[
                &workspace.0,
                &broadcast_id,
                &status,
                &skip.max(0),
                &limit.max(0),
            ],
        )
        .await?;
    Ok((rows.iter().map(RecipientView::from_row).collect(), total))
}

/// How many of a broadcast's recipients have `status` (all when `None`), from the counts on its
/// row: a recount would read every recipient of a large broadcast on each page.
async fn matching_recipients(
    client: &impl GenericClient,
    workspace: WorkspaceId,
    broadcast_id: Uuid,
    status: Option<&str>,
) -> Result<i64, tokio_postgres::Error> {
    let Some(counts) = recipient_summary(client, workspace, broadcast_id).await? else {
        return Ok(0);
    };
    Ok(match status.map(str::parse::<RecipientStatus>) {
        None => counts.total,
        Some(Ok(status)) => counts.of(status),
        Some(Err(_)) => 0,
    })
}

/// A broadcast's recipients by current status (from its row, not a recount); `None` if it is
/// not the workspace's.
pub async fn recipient_summary(
    client: &impl GenericClient,
    workspace: WorkspaceId,
    broadcast_id: Uuid,
) -> Result<Option<RecipientCounts>, tokio_postgres::Error> {
    let row = client
        .query_opt(
            &format!(
                "SELECT {COUNT_COLUMNS} FROM broadcasts WHERE workspace_id = $1 AND broadcast_id = $2"
            ),
            &[&workspace.0, &broadcast_id],
        )
        .await?;
    Ok(row.as_ref().map(RecipientCounts::from_row))
}

/// The phones of a broadcast's recipients whose current message failed, in insertion order
/// (empty if the broadcast is not the workspace's).
pub async fn failed_recipient_phones(
    client: &impl GenericClient,
    workspace: WorkspaceId,
    broadcast_id: Uuid,
) -> Result<Vec<E164>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT r.phone FROM broadcast_recipients r \
             JOIN broadcasts b ON b.broadcast_id = r.broadcast_id AND b.workspace_id = $1 \
             WHERE r.broadcast_id = $2 AND r.status = 'failed' ORDER BY r.position",
            &[&workspace.0, &broadcast_id],
        )
        .await?;
    Ok(rows
        .iter()
        .filter_map(|row| E164::parse(row.get::<_, &str>(0)).ok())
        .collect())
}

/// Scheduled broadcasts whose time has come at `now`, the longest waiting first.
pub async fn due_scheduled_broadcasts(
    client: &impl GenericClient,
    now: DateTime<Utc>,
) -> Result<Vec<(WorkspaceId, Uuid)>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT workspace_id, broadcast_id FROM broadcasts \
             WHERE status = 'scheduled' AND scheduled_at <= $1 ORDER BY scheduled_at, broadcast_id",
            &[&now],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| (WorkspaceId(row.get(0)), row.get(1)))
        .collect())
}

/// Sending (or paused) broadcasts with no recipient left pending, with their counts: the ones
/// to complete.
pub async fn sending_broadcasts_with_nothing_pending(
    client: &impl GenericClient,
) -> Result<Vec<(WorkspaceId, Uuid, RecipientCounts)>, tokio_postgres::Error> {
    let rows = client
        .query(
            &format!(
                "SELECT workspace_id, broadcast_id, {COUNT_COLUMNS} FROM broadcasts \
                 WHERE status IN ('sending', 'paused') AND pending_count = 0 ORDER BY broadcast_id"
            ),
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| {
            (
                WorkspaceId(row.get("workspace_id")),
                row.get("broadcast_id"),
                RecipientCounts::from_row(row),
            )
        })
        .collect())
}

/// The broadcasts a number is sending now (status `sending`).
pub async fn running_broadcasts_of_number(
    client: &impl GenericClient,
    phone_number_id: Uuid,
) -> Result<Vec<(WorkspaceId, Uuid)>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT workspace_id, broadcast_id FROM broadcasts \
             WHERE phone_number_id = $1 AND status = 'sending' ORDER BY broadcast_id",
            &[&phone_number_id],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| (WorkspaceId(row.get(0)), row.get(1)))
        .collect())
}

/// Like [`list_broadcasts`], but keyset-paged: after the (created_at, broadcast_id) of the
/// previous page's last broadcast, so broadcasts created meanwhile shift nothing.
pub async fn list_broadcasts_after(
    client: &impl GenericClient,
    workspace: WorkspaceId,
    phone_number_id: Option<Uuid>,
    status: Option<&str>,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<(Vec<BroadcastView>, i64), tokio_postgres::Error> {
    let conditions = "workspace_id = $1 AND ($2::uuid IS NULL OR phone_number_id = $2) \
                      AND ($3::text IS NULL OR status = $3)";
    let total: i64 = client
        .query_one(
            &format!("SELECT count(*) FROM broadcasts WHERE {conditions}"),
            &[&workspace.0, &phone_number_id, &status],
        )
        .await?
        .get(0);
    let (after_at, after_id) = after.unzip();
    let rows = client
        .query(
            &format!(
                "SELECT {BROADCAST_COLUMNS} FROM broadcasts WHERE {conditions} \
                 AND ($4::timestamptz IS NULL OR (created_at, broadcast_id) < ($4, $5::uuid)) \
                 ORDER BY created_at DESC, broadcast_id DESC LIMIT $6"
            ),
            &[
                &workspace.0,
                &phone_number_id,
                &status,
                &after_at,
                &after_id,
                &limit.max(0),
            ],
        )
        .await?;
    Ok((rows.iter().map(BroadcastView::from_row).collect(), total))
}

/// Like [`list_recipients`], but keyset-paged: after the `position` of the previous page's last
/// recipient, so recipients whose status changes meanwhile are neither skipped nor repeated.
pub async fn list_recipients_after(
    client: &impl GenericClient,
    workspace: WorkspaceId,
    broadcast_id: Uuid,
    status: Option<&str>,
    after_position: Option<i64>,
    limit: i64,
) -> Result<(Vec<RecipientView>, i64), tokio_postgres::Error> {
    let from = "FROM broadcast_recipients r \
                JOIN broadcasts b ON b.broadcast_id = r.broadcast_id AND b.workspace_id = $1 \
                WHERE r.broadcast_id = $2 AND ($3::text IS NULL OR r.status = $3)";
    let total = matching_recipients(client, workspace, broadcast_id, status).await?;
    let rows = client
        .query(
            &format!(
                "SELECT {RECIPIENT_COLUMNS} {from} AND ($4::bigint IS NULL OR r.position > $4) \
                 ORDER BY r.position LIMIT $5"
            ),
            &[
                &workspace.0,
                &broadcast_id,
                &status,
                &after_position,
                &limit.max(0),
            ],
        )
        .await?;
    Ok((rows.iter().map(RecipientView::from_row).collect(), total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_funnel_counts_how_far_each_recipient_got() {
        let counts = RecipientCounts {
            total: 10,
            pending: 1,
            sent: 2,
            delivered: 3,
            read: 1,
            failed: 2,
            skipped: 1,
        };
        assert_eq!((counts.sent_total(), counts.delivered_total()), (6, 4));
        assert_eq!(
            counts.funnel(),
            BroadcastCounts {
                total: 10,
                sent: 6,
                delivered: 4,
                read: 1,
                failed: 2,
                skipped: 1,
            }
        );
    }

    #[test]
    fn a_stored_template_reads_back() {
        let template = BroadcastTemplate {
            name: "spring_sale".into(),
            language: "en_US".into(),
            components: vec![json!({"type": "header"})],
        };
        assert_eq!(
            template_from(&serde_json::to_value(&template).unwrap()),
            template
        );
        let odd = template_from(&json!({"name": "x", "language": "de", "components": "?"}));
        assert_eq!((odd.name.as_str(), odd.language.as_str()), ("x", "de"));
    }
}

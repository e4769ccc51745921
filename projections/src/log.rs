//! Reading the event log in commit-safe order.
//!
//! `global_position` is assigned at insert, not at commit, so a plain `global_position > cursor`
//! would skip an event whose transaction commits after a higher position was read. We read only
//! rows of settled transactions, `tx_id < pg_snapshot_xmin(pg_current_snapshot())`, ordered by
//! `(tx_id, global_position)`: every transaction that could still add rows below that horizon has
//! finished, and any new one gets a larger xid. A long-open transaction delays projections; it
//! never makes them skip.

use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::HashMap;
use tokio_postgres::{GenericClient, Row};

/// A place in the log, in commit-safe order: the writing transaction, then the global position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct Position {
    pub tx_id: u64,
    pub global_position: i64,
}

/// One event as stored, with its place in the log.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
    pub payload: Value,
    pub metadata: Value,
    pub position: Position,
    pub recorded_at: DateTime<Utc>,
}

/// The columns [`StoredEvent::from_row`] reads. The xid is read as text under another name:
/// an output column named `tx_id` would make `ORDER BY tx_id` sort by that text ("10000" before
/// "9999"), which skips events and cannot use the commit-order index.
const COLUMNS: &str =
    "events.aggregate_type, events.aggregate_id, events.sequence, events.event_type, \
     events.event_version, events.payload::text AS payload_text, events.metadata::text AS metadata_text, \
     events.tx_id::text AS tx_text, events.global_position, events.recorded_at";

fn parse_json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

impl StoredEvent {
    fn from_row(row: &Row) -> Self {
        let tx_text: &str = row.get(7);
        Self {
            aggregate_type: row.get(0),
            aggregate_id: row.get(1),
            sequence: row.get(2),
            event_type: row.get(3),
            event_version: row.get(4),
            payload: parse_json(row.get(5)),
            metadata: parse_json(row.get(6)),
            position: Position {
                tx_id: tx_text.parse().unwrap_or_default(),
                global_position: row.get(8),
            },
            recorded_at: row.get(9),
        }
    }

    /// The event as one JSON object (for `parley events list` and audit views).
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "aggregate_type": self.aggregate_type,
            "aggregate_id": self.aggregate_id,
            "sequence": self.sequence,
            "global_position": self.position.global_position,
            "event_type": self.event_type,
            "event_version": self.event_version,
            "payload": self.payload,
            "metadata": self.metadata,
            "recorded_at": self.recorded_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        })
    }
}

/// The next settled events after `after`, at most `limit`, in commit-safe order.
pub async fn settled_after(
    client: &impl GenericClient,
    after: Position,
    limit: i64,
) -> Result<Vec<StoredEvent>, tokio_postgres::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM events \
         WHERE (events.tx_id, events.global_position) > ($1::text::xid8, $2) \
           AND events.tx_id < pg_snapshot_xmin(pg_current_snapshot()) \
         ORDER BY events.tx_id, events.global_position LIMIT $3"
    );
    let rows = client
        .query(
            &sql,
            &[&after.tx_id.to_string(), &after.global_position, &limit],
        )
        .await?;
    Ok(rows.iter().map(StoredEvent::from_row).collect())
}

/// Whether events exist after `after` whose transactions are not settled yet (committed but
/// behind an older open transaction, or still in flight).
pub async fn unsettled_after(
    client: &impl GenericClient,
    after: Position,
) -> Result<bool, tokio_postgres::Error> {
    let row = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM events WHERE (tx_id, global_position) > ($1::text::xid8, $2))",
            &[&after.tx_id.to_string(), &after.global_position],
        )
        .await?;
    Ok(row.get(0))
}

/// One aggregate's events in sequence order.
pub async fn events_of(
    client: &impl GenericClient,
    aggregate_type: &str,
    aggregate_id: &str,
) -> Result<Vec<StoredEvent>, tokio_postgres::Error> {
    let sql = format!("SELECT {COLUMNS} FROM events WHERE aggregate_type = $1 AND aggregate_id = $2 ORDER BY sequence");
    let rows = client
        .query(&sql, &[&aggregate_type, &aggregate_id])
        .await?;
    Ok(rows.iter().map(StoredEvent::from_row).collect())
}

/// The latest position among the given events (aggregate type, id, sequence); `None` if none is stored.
pub async fn latest_position_of(
    client: &impl GenericClient,
    keys: &[(String, String, i64)],
) -> Result<Option<Position>, tokio_postgres::Error> {
    if keys.is_empty() {
        return Ok(None);
    }
    let types: Vec<&str> = keys.iter().map(|k| k.0.as_str()).collect();
    let ids: Vec<&str> = keys.iter().map(|k| k.1.as_str()).collect();
    let sequences: Vec<i64> = keys.iter().map(|k| k.2).collect();
    let row = client
        .query_opt(
            "SELECT e.tx_id::text, e.global_position FROM events e \
             JOIN UNNEST($1::text[], $2::text[], $3::bigint[]) AS k(t, i, s) \
               ON e.aggregate_type = k.t AND e.aggregate_id = k.i AND e.sequence = k.s \
             ORDER BY e.tx_id DESC, e.global_position DESC LIMIT 1",
            &[&types, &ids, &sequences],
        )
        .await?;
    Ok(row.map(|row| {
        let tx_text: &str = row.get(0);
        Position {
            tx_id: tx_text.parse().unwrap_or_default(),
            global_position: row.get(1),
        }
    }))
}

/// Counts of events per aggregate type (for progress and audits).
pub async fn count_events(
    client: &impl GenericClient,
) -> Result<HashMap<String, i64>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT aggregate_type, count(*) FROM events GROUP BY aggregate_type",
            &[],
        )
        .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

//! Reading the event log in commit-safe order.
//!
//! `global_position` is assigned at insert, not at commit, so a plain `global_position > cursor`
//! would skip an event whose transaction commits after a higher position was read. We read only
//! rows of settled transactions, `tx_id < pg_snapshot_xmin(pg_current_snapshot())`, ordered by
//! `(tx_id, global_position)`: every transaction that could still add rows below that horizon has
//! finished, and any new one gets a larger xid. A long-open transaction delays projections; it
//! never makes them skip.

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::HashMap;
use tokio_postgres::types::ToSql;
use tokio_postgres::{GenericClient, Row};

/// A place in the log, in commit-safe order: the writing transaction, then the global position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Hash)]
pub struct Position {
    pub tx_id: u64,
    pub global_position: i64,
}

/// One event as stored, with its place in the log. Payload and metadata stay JSON text until a
/// fold asks for them: a projection decodes only the events it folds, straight into its type.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub aggregate_type: String,
    pub aggregate_id: String,
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
    /// The payload as JSON text; `null` when the reader was not interested in this aggregate type.
    pub payload_json: String,
    /// The metadata (actor, correlation id, time) as JSON text.
    pub metadata_json: String,
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

/// [`COLUMNS`], but the payload only for the aggregate types in `$4` (all when `$4` is NULL):
/// a projection reads every event to move its checkpoint, yet decodes only its own.
const COLUMNS_FOR_TYPES: &str =
    "events.aggregate_type, events.aggregate_id, events.sequence, events.event_type, \
     events.event_version, \
     CASE WHEN $4::text[] IS NULL OR events.aggregate_type = ANY($4::text[]) THEN events.payload::text \
          ELSE 'null' END AS payload_text, \
     events.metadata::text AS metadata_text, \
     events.tx_id::text AS tx_text, events.global_position, events.recorded_at";

fn parse_json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

impl StoredEvent {
    /// Decodes the payload into the aggregate's event type.
    pub fn payload<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(&self.payload_json)
    }

    /// The metadata as a JSON value.
    pub fn metadata(&self) -> Value {
        parse_json(&self.metadata_json)
    }

    pub(crate) fn from_row(row: &Row) -> Self {
        let tx_text: &str = row.get(7);
        Self {
            aggregate_type: row.get(0),
            aggregate_id: row.get(1),
            sequence: row.get(2),
            event_type: row.get(3),
            event_version: row.get(4),
            payload_json: row.get(5),
            metadata_json: row.get(6),
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
            "payload": parse_json(&self.payload_json),
            "metadata": self.metadata(),
            "recorded_at": self.recorded_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        })
    }
}

/// The next settled events after `after`, at most `limit`, in commit-safe order. Payloads are
/// read only for `aggregate_types` (all when `None`); other events come with a `null` payload.
pub async fn settled_after(
    client: &impl GenericClient,
    after: Position,
    limit: i64,
    aggregate_types: Option<&[&str]>,
) -> Result<Vec<StoredEvent>, tokio_postgres::Error> {
    let sql = format!(
        "SELECT {COLUMNS_FOR_TYPES} FROM events \
         WHERE (events.tx_id, events.global_position) > ($1::text::xid8, $2) \
           AND events.tx_id < pg_snapshot_xmin(pg_current_snapshot()) \
         ORDER BY events.tx_id, events.global_position LIMIT $3"
    );
    let rows = client
        .query(
            &sql,
            &[
                &after.tx_id.to_string(),
                &after.global_position,
                &limit,
                &aggregate_types,
            ],
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
    // Not `EXISTS (…)`: PostgreSQL plans that as a sequential scan, which reads the whole log
    // whenever nothing is found. Ordered with a limit, it is one probe of the commit-order index.
    let row = client
        .query_opt(
            "SELECT 1 FROM events WHERE (tx_id, global_position) > ($1::text::xid8, $2) \
             ORDER BY tx_id, global_position LIMIT 1",
            &[&after.tx_id.to_string(), &after.global_position],
        )
        .await?;
    Ok(row.is_some())
}

/// Whether an event at or below global position `up_to` is not settled yet: committed (or in
/// flight) behind an older transaction still open anywhere on the cluster.
pub async fn unsettled_up_to(
    client: &impl GenericClient,
    up_to: i64,
) -> Result<bool, tokio_postgres::Error> {
    // Only rows of recent transactions (at or above the horizon) are candidates: a range of the
    // commit-order index, not a scan of the log.
    let row = client
        .query_opt(
            "SELECT 1 FROM events WHERE tx_id >= pg_snapshot_xmin(pg_current_snapshot()) \
               AND global_position <= $1 LIMIT 1",
            &[&up_to],
        )
        .await?;
    Ok(row.is_some())
}

/// One aggregate's events of the given types in sequence order, as a stream: the rows are read
/// as they are consumed, so a long history (a large broadcast's recipients) is never in memory
/// all at once.
pub async fn stream_events_of(
    client: &impl GenericClient,
    aggregate_type: &str,
    aggregate_id: &str,
    event_types: &[&str],
) -> Result<
    impl futures::Stream<Item = Result<StoredEvent, tokio_postgres::Error>>,
    tokio_postgres::Error,
> {
    use futures::TryStreamExt;
    let sql = format!(
        "SELECT {COLUMNS} FROM events \
         WHERE aggregate_type = $1 AND aggregate_id = $2 AND event_type = ANY($3) ORDER BY sequence"
    );
    let rows = client
        .query_raw(
            &sql,
            [
                &aggregate_type as &(dyn ToSql + Sync),
                &aggregate_id,
                &event_types,
            ],
        )
        .await?;
    Ok(rows.map_ok(|row| StoredEvent::from_row(&row)))
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
    client: &deadpool_postgres::Client,
    keys: &[(String, String, i64)],
) -> Result<Option<Position>, tokio_postgres::Error> {
    if keys.is_empty() {
        return Ok(None);
    }
    let types: Vec<&str> = keys.iter().map(|k| k.0.as_str()).collect();
    let ids: Vec<&str> = keys.iter().map(|k| k.1.as_str()).collect();
    let sequences: Vec<i64> = keys.iter().map(|k| k.2).collect();
    // Every write waiting for its read models runs this: prepared once per connection.
    let statement = client
        .prepare_cached(
            "SELECT e.tx_id::text, e.global_position FROM events e \
             JOIN UNNEST($1::text[], $2::text[], $3::bigint[]) AS k(t, i, s) \
               ON e.aggregate_type = k.t AND e.aggregate_id = k.i AND e.sequence = k.s \
             ORDER BY e.tx_id DESC, e.global_position DESC LIMIT 1",
        )
        .await?;
    let row = client
        .query_opt(&statement, &[&types, &ids, &sequences])
        .await?;
    Ok(row.map(|row| {
        let tx_text: &str = row.get(0);
        Position {
            tx_id: tx_text.parse().unwrap_or_default(),
            global_position: row.get(1),
        }
    }))
}

/// The last settled position (`None` for an empty log): every event at or before it is settled,
/// and every event written later sorts after it.
pub async fn last_settled(
    client: &impl GenericClient,
) -> Result<Option<Position>, tokio_postgres::Error> {
    let row = client
        .query_opt(
            "SELECT tx_id::text, global_position FROM events \
             WHERE tx_id < pg_snapshot_xmin(pg_current_snapshot()) \
             ORDER BY tx_id DESC, global_position DESC LIMIT 1",
            &[],
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

/// The SQL of a cursor over every settled event of `$1` (aggregate types) up to `$2` (a
/// position's xid as text) and `$3` (its global position), aggregate by aggregate, each in
/// sequence order: the order a rebuild folds per-aggregate read models in.
pub fn by_aggregate_up_to_sql() -> String {
    format!(
        "SELECT {COLUMNS} FROM events \
         WHERE events.aggregate_type = ANY($1::text[]) \
           AND (events.tx_id, events.global_position) <= ($2::text::xid8, $3) \
         ORDER BY events.aggregate_type, events.aggregate_id, events.sequence"
    )
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

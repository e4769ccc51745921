//! The contacts read model: one row per live contact, folded with the aggregate's own rules,
//! and the queries the REST and GraphQL surfaces run against it.

use crate::log::StoredEvent;
use crate::runner::{Projection, ProjectorError, RebuildOrder};
use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use domain::contact::{Contact, ContactEvent, ContactState};
use domain::{WorkspaceId, E164};
use futures::future::BoxFuture;
use std::collections::{BTreeMap, HashMap};
use tokio_postgres::{GenericClient, Row, Transaction};
use uuid::Uuid;

/// Folds contact events into `contacts`.
pub struct ContactsProjection;

const STATE_COLUMNS: &str = "id, workspace_id, account_id, phone, name, email, company, tags, groups, is_opted_in, \
                             is_blocked, custom_fields, notes, opt_in_date, opt_out_date, created_at, updated_at";

impl Projection for ContactsProjection {
    fn name(&self) -> &'static str {
        "contacts"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["contacts"]
    }

    fn aggregate_types(&self) -> Option<&'static [&'static str]> {
        Some(&[Contact::TYPE])
    }

    fn rebuild_order(&self) -> RebuildOrder {
        RebuildOrder::ByAggregate
    }

    fn apply<'a>(
        &'a self,
        tx: &'a Transaction<'a>,
        events: &'a [StoredEvent],
    ) -> BoxFuture<'a, Result<(), ProjectorError>> {
        Box::pin(async move {
            let mut ours: Vec<(Uuid, ContactEvent)> = Vec::new();
            for event in events.iter().filter(|e| e.aggregate_type == Contact::TYPE) {
                let id = Uuid::parse_str(&event.aggregate_id)
                    .map_err(|e| ProjectorError::unreadable(event, e))?;
                let payload = event
                    .payload()
                    .map_err(|e| ProjectorError::unreadable(event, e))?;
                ours.push((id, payload));
            }
            if ours.is_empty() {
                return Ok(());
            }
            let ids: Vec<Uuid> = ours.iter().map(|(id, _)| *id).collect();
            let mut contacts = load_states(tx, &ids).await?;
            for (id, event) in ours {
                let contact = contacts.entry(id).or_default();
                contact.apply(event);
            }
            write_states(tx, contacts).await
        })
    }
}

async fn load_states(
    tx: &Transaction<'_>,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, Contact>, ProjectorError> {
    let sql = format!("SELECT {STATE_COLUMNS} FROM contacts WHERE id = ANY($1)");
    let rows = tx.query(&sql, &[&ids]).await?;
    let mut states = HashMap::with_capacity(ids.len());
    for row in rows {
        let id: Uuid = row.get(0);
        let phone: String = row.get(3);
        let custom_fields: serde_json::Value = row.get(11);
        let state = ContactState {
            workspace_id: WorkspaceId(row.get(1)),
            account_id: row.get(2),
            phone: E164::parse(&phone).map_err(|e| ProjectorError::UnreadableEvent {
                aggregate_type: Contact::TYPE.into(),
                aggregate_id: id.to_string(),
                sequence: -1,
                reason: e.to_string(),
            })?,
            name: row.get(4),
            email: row.get(5),
            company: row.get(6),
            tags: row.get(7),
            groups: row.get(8),
            is_opted_in: row.get(9),
            is_blocked: row.get(10),
            custom_fields: serde_json::from_value(custom_fields).unwrap_or_default(),
            notes: row.get(12),
            opt_in_date: row.get(13),
            opt_out_date: row.get(14),
            created_at: row.get(15),
            updated_at: row.get(16),
        };
        states.insert(id, Contact { state: Some(state) });
    }
    Ok(states)
}

async fn write_states(
    tx: &Transaction<'_>,
    contacts: HashMap<Uuid, Contact>,
) -> Result<(), ProjectorError> {
    let mut live = Vec::with_capacity(contacts.len());
    let mut deleted = Vec::new();
    for (id, contact) in &contacts {
        match &contact.state {
            Some(state) => live.push((*id, state)),
            None => deleted.push(*id),
        }
    }
    if !deleted.is_empty() {
        tx.execute("DELETE FROM contacts WHERE id = ANY($1)", &[&deleted])
            .await?;
    }
    if live.is_empty() {
        return Ok(());
    }
    // One typed array per column, sent in binary: no JSON to build or parse on either side.
    let ids: Vec<Uuid> = live.iter().map(|(id, _)| *id).collect();
    let workspaces: Vec<Uuid> = live.iter().map(|(_, c)| c.workspace_id.0).collect();
    let accounts: Vec<Uuid> = live.iter().map(|(_, c)| c.account_id).collect();
    let phones: Vec<&str> = live.iter().map(|(_, c)| c.phone.as_str()).collect();
    let wa_ids: Vec<&str> = live.iter().map(|(_, c)| c.phone.wa_id()).collect();
    let names: Vec<&str> = live.iter().map(|(_, c)| c.name.as_str()).collect();
    let emails: Vec<Option<&str>> = live.iter().map(|(_, c)| c.email.as_deref()).collect();
    let companies: Vec<Option<&str>> = live.iter().map(|(_, c)| c.company.as_deref()).collect();
    let tags: Vec<String> = live
        .iter()
        .map(|(_, c)| text_array_literal(&c.tags))
        .collect();
    let groups: Vec<String> = live
        .iter()
        .map(|(_, c)| text_array_literal(&c.groups))
        .collect();
    let opted_in: Vec<bool> = live.iter().map(|(_, c)| c.is_opted_in).collect();
    let opt_in_dates: Vec<Option<DateTime<Utc>>> =
        live.iter().map(|(_, c)| c.opt_in_date).collect();
    let opt_out_dates: Vec<Option<DateTime<Utc>>> =
        live.iter().map(|(_, c)| c.opt_out_date).collect();
    let blocked: Vec<bool> = live.iter().map(|(_, c)| c.is_blocked).collect();
    let custom_fields: Vec<serde_json::Value> = live
        .iter()
        .map(|(_, c)| serde_json::to_value(&c.custom_fields).expect("string map serializes"))
        .collect();
    let notes: Vec<Option<&str>> = live.iter().map(|(_, c)| c.notes.as_deref()).collect();
    let created: Vec<DateTime<Utc>> = live.iter().map(|(_, c)| c.created_at).collect();
    let updated: Vec<DateTime<Utc>> = live.iter().map(|(_, c)| c.updated_at).collect();
    tx.execute(
        "INSERT INTO contacts (id, workspace_id, account_id, phone, wa_id, name, email, company, tags, groups, \
                               is_opted_in, opt_in_date, opt_out_date, is_blocked, custom_fields, notes, created_at, updated_at) \
         SELECT id, workspace_id, account_id, phone, wa_id, name, email, company, tags::text[], groups::text[], \
                is_opted_in, opt_in_date, opt_out_date, is_blocked, custom_fields, notes, created_at, updated_at \
         FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], \
                     $9::text[], $10::text[], $11::bool[], $12::timestamptz[], $13::timestamptz[], $14::bool[], \
                     $15::jsonb[], $16::text[], $17::timestamptz[], $18::timestamptz[]) \
              AS r(id, workspace_id, account_id, phone, wa_id, name, email, company, tags, groups, is_opted_in, \
                   opt_in_date, opt_out_date, is_blocked, custom_fields, notes, created_at, updated_at) \
         ON CONFLICT (id) DO UPDATE SET workspace_id = EXCLUDED.workspace_id, account_id = EXCLUDED.account_id, \
              phone = EXCLUDED.phone, wa_id = EXCLUDED.wa_id, name = EXCLUDED.name, email = EXCLUDED.email, \
              company = EXCLUDED.company, tags = EXCLUDED.tags, groups = EXCLUDED.groups, \
              is_opted_in = EXCLUDED.is_opted_in, opt_in_date = EXCLUDED.opt_in_date, opt_out_date = EXCLUDED.opt_out_date, \
              is_blocked = EXCLUDED.is_blocked, custom_fields = EXCLUDED.custom_fields, notes = EXCLUDED.notes, \
              created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at",
        &[
            &ids, &workspaces, &accounts, &phones, &wa_ids, &names, &emails, &companies, &tags,
            &groups, &opted_in, &opt_in_dates, &opt_out_dates, &blocked, &custom_fields, &notes,
            &created, &updated,
        ],
    )
    .await?;
    Ok(())
}

/// A PostgreSQL array literal of `items` (each quoted, `"` and `\` escaped): UNNEST cannot take
/// an array of arrays of different lengths, so each row's list travels as its literal.
fn text_array_literal(items: &[String]) -> String {
    let mut literal = String::from("{");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            literal.push(',');
        }
        literal.push('"');
        for ch in item.chars() {
            if ch == '"' || ch == '\\' {
                literal.push('\\');
            }
            literal.push(ch);
        }
        literal.push('"');
    }
    literal.push('}');
    literal
}

/// A contact as the read model holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct ContactView {
    pub id: Uuid,
    pub account_id: Uuid,
    pub phone: String,
    pub wa_id: String,
    pub name: String,
    pub email: Option<String>,
    pub company: Option<String>,
    pub tags: Vec<String>,
    pub groups: Vec<String>,
    pub is_opted_in: bool,
    pub opt_in_date: Option<DateTime<Utc>>,
    pub opt_out_date: Option<DateTime<Utc>>,
    pub is_blocked: bool,
    pub custom_fields: BTreeMap<String, String>,
    pub notes: Option<String>,
    pub last_message_sent_at: Option<DateTime<Utc>>,
    pub last_message_received_at: Option<DateTime<Utc>>,
    pub messages_sent_count: i64,
    pub messages_received_count: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const VIEW_COLUMNS: &str = "id, account_id, phone, wa_id, name, email, company, tags, groups, is_opted_in, opt_in_date, \
                            opt_out_date, is_blocked, custom_fields, notes, last_message_sent_at, last_message_received_at, \
                            messages_sent_count, messages_received_count, created_at, updated_at";

impl ContactView {
    fn from_row(row: &Row) -> Self {
        let custom_fields: serde_json::Value = row.get(13);
        Self {
            id: row.get(0),
            account_id: row.get(1),
            phone: row.get(2),
            wa_id: row.get(3),
            name: row.get(4),
            email: row.get(5),
            company: row.get(6),
            tags: row.get(7),
            groups: row.get(8),
            is_opted_in: row.get(9),
            opt_in_date: row.get(10),
            opt_out_date: row.get(11),
            is_blocked: row.get(12),
            custom_fields: serde_json::from_value(custom_fields).unwrap_or_default(),
            notes: row.get(14),
            last_message_sent_at: row.get(15),
            last_message_received_at: row.get(16),
            messages_sent_count: row.get(17),
            messages_received_count: row.get(18),
            created_at: row.get(19),
            updated_at: row.get(20),
        }
    }
}

/// Filters for listing an account's contacts (seed 001's query parameters).
#[derive(Debug, Clone, Default)]
pub struct ContactFilter {
    /// Case-insensitive substring of name, phone, email or company.
    pub search: Option<String>,
    pub tag: Option<String>,
    pub group: Option<String>,
    pub opted_in: Option<bool>,
}

/// Where a page starts: an offset, or after a (name, id) key for cursor pagination.
#[derive(Debug, Clone)]
pub enum PageStart {
    Skip(i64),
    After { name: String, id: Uuid },
}

/// One page of contacts and how many match in all.
#[derive(Debug, Clone)]
pub struct ContactPage {
    pub contacts: Vec<ContactView>,
    pub total: i64,
}

fn like_pattern(text: &str) -> String {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// Lists the account's contacts sorted by name, filtered, one page at a time.
pub async fn list(
    client: &impl GenericClient,
    workspace: WorkspaceId,
    account_id: Uuid,
    filter: &ContactFilter,
    start: &PageStart,
    limit: i64,
) -> Result<ContactPage, tokio_postgres::Error> {
    let search = filter
        .search
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .map(|s| like_pattern(s.trim()));
    let conditions = "workspace_id = $1 AND account_id = $2 \
        AND ($3::text IS NULL OR name ILIKE $3 OR phone ILIKE $3 OR email ILIKE $3 OR company ILIKE $3) \
        AND ($4::text IS NULL OR $4 = ANY(tags)) \
        AND ($5::text IS NULL OR $5 = ANY(groups)) \
        AND ($6::boolean IS NULL OR is_opted_in = $6)";
    let total: i64 = client
        .query_one(
            &format!("SELECT count(*) FROM contacts WHERE {conditions}"),
            &[
                &workspace.0,
                &account_id,
                &search,
                &filter.tag,
                &filter.group,
                &filter.opted_in,
            ],
        )
        .await?
        .get(0);
    let (skip, after_name, after_id) = match start {
        PageStart::Skip(skip) => (*skip, None, None),
        PageStart::After { name, id } => (0, Some(name.clone()), Some(*id)),
    };
    let rows = client
        .query(
            &format!(
                "SELECT {VIEW_COLUMNS} FROM contacts WHERE {conditions} \
                 AND ($7::text IS NULL OR (name, id) > ($7, $8::uuid)) \
                 ORDER BY name, id OFFSET $9 LIMIT $10"
            ),
            &[
                &workspace.0,
                &account_id,
                &search,
                &filter.tag,
                &filter.group,
                &filter.opted_in,
                &after_name,
                &after_id,
                &skip,
                &limit,
            ],
        )
        .await?;
    Ok(ContactPage {
        contacts: rows.iter().map(ContactView::from_row).collect(),
        total,
    })
}

/// One contact of the workspace, if it exists.
pub async fn get(
    client: &impl GenericClient,
    workspace: WorkspaceId,
    id: Uuid,
) -> Result<Option<ContactView>, tokio_postgres::Error> {
    let row = client
        .query_opt(
            &format!("SELECT {VIEW_COLUMNS} FROM contacts WHERE workspace_id = $1 AND id = $2"),
            &[&workspace.0, &id],
        )
        .await?;
    Ok(row.as_ref().map(ContactView::from_row))
}

/// The tags and groups in use on the account, sorted (the `filters` of a contact listing).
pub async fn available_labels(
    client: &impl GenericClient,
    workspace: WorkspaceId,
    account_id: Uuid,
) -> Result<(Vec<String>, Vec<String>), tokio_postgres::Error> {
    let row = client
        .query_one(
            "SELECT \
               ARRAY(SELECT DISTINCT t FROM contacts, unnest(tags) t WHERE workspace_id = $1 AND account_id = $2 ORDER BY t), \
               ARRAY(SELECT DISTINCT g FROM contacts, unnest(groups) g WHERE workspace_id = $1 AND account_id = $2 ORDER BY g)",
            &[&workspace.0, &account_id],
        )
        .await?;
    Ok((row.get(0), row.get(1)))
}

/// A group derived from contacts, with its counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupCount {
    pub name: String,
    pub total_count: i64,
    pub opted_in_count: i64,
}

/// Totals over the account's contacts, for the groups listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSummary {
    pub total_contacts: i64,
    pub opted_in_contacts: i64,
    pub group_count: i64,
}

/// The account's groups (derived from contacts) with counts, sorted by name.
pub async fn groups(
    client: &impl GenericClient,
    workspace: WorkspaceId,
    account_id: Uuid,
) -> Result<(Vec<GroupCount>, GroupSummary), tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT g, count(*), count(*) FILTER (WHERE is_opted_in) FROM contacts, unnest(groups) g \
             WHERE workspace_id = $1 AND account_id = $2 GROUP BY g ORDER BY g",
            &[&workspace.0, &account_id],
        )
        .await?;
    let groups: Vec<GroupCount> = rows
        .iter()
        .map(|r| GroupCount {
            name: r.get(0),
            total_count: r.get(1),
            opted_in_count: r.get(2),
        })
        .collect();
    let totals = client
        .query_one(
            "SELECT count(*), count(*) FILTER (WHERE is_opted_in) FROM contacts WHERE workspace_id = $1 AND account_id = $2",
            &[&workspace.0, &account_id],
        )
        .await?;
    let summary = GroupSummary {
        total_contacts: totals.get(0),
        opted_in_contacts: totals.get(1),
        group_count: groups.len() as i64,
    };
    Ok((groups, summary))
}

/// Ids of the account's contacts in `group`.
pub async fn ids_in_group(
    client: &impl GenericClient,
    workspace: WorkspaceId,
    account_id: Uuid,
    group: &str,
) -> Result<Vec<Uuid>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT id FROM contacts WHERE workspace_id = $1 AND account_id = $2 AND $3 = ANY(groups)",
            &[&workspace.0, &account_id, &group],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

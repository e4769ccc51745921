//! The phone-numbers read model. It records whether a number has an access token, never the token.

use crate::log::StoredEvent;
use crate::runner::{Projection, ProjectorError, RebuildOrder};
use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use domain::phone_number::{PhoneNumber, PhoneNumberEvent};
use domain::WorkspaceId;
use futures::future::BoxFuture;
use tokio_postgres::{GenericClient, Row, Transaction};
use uuid::Uuid;

/// Folds phone-number events into `phone_numbers`.
pub struct PhoneNumbersProjection;

impl Projection for PhoneNumbersProjection {
    fn name(&self) -> &'static str {
        "phone_numbers"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["phone_numbers"]
    }

    fn aggregate_types(&self) -> Option<&'static [&'static str]> {
        Some(&[PhoneNumber::TYPE])
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
            // Few events, rarely: fold each from the aggregate's full history for simplicity.
            let mut touched: Vec<Uuid> = Vec::new();
            for event in events
                .iter()
                .filter(|e| e.aggregate_type == PhoneNumber::TYPE)
            {
                let id = Uuid::parse_str(&event.aggregate_id)
                    .map_err(|e| ProjectorError::unreadable(event, e))?;
                if !touched.contains(&id) {
                    touched.push(id);
                }
            }
            for id in touched {
                let mut number = PhoneNumber::default();
                // Only the events up to this batch's end count; later ones are not settled yet.
                let last = events
                    .iter()
                    .filter(|e| {
                        e.aggregate_type == PhoneNumber::TYPE && e.aggregate_id == id.to_string()
                    })
                    .map(|e| e.sequence)
                    .max()
                    .unwrap_or_default();
                for event in crate::log::events_of(tx, PhoneNumber::TYPE, &id.to_string()).await? {
                    if event.sequence > last {
                        break;
                    }
                    let payload: PhoneNumberEvent = event
                        .payload()
                        .map_err(|e| ProjectorError::unreadable(&event, e))?;
                    number.apply(payload);
                }
                write(tx, id, &number).await?;
            }
            Ok(())
        })
    }
}

async fn write(tx: &Transaction<'_>, id: Uuid, number: &PhoneNumber) -> Result<(), ProjectorError> {
    let Some(state) = &number.state else {
        tx.execute("DELETE FROM phone_numbers WHERE id = $1", &[&id])
            .await?;
        return Ok(());
    };
    tx.execute(
        "INSERT INTO phone_numbers (id, workspace_id, phone_number_id, waba_id, waba_name, display_phone_number, \
                                    display_name, verified_name, status, has_access_token, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
         ON CONFLICT (id) DO UPDATE SET workspace_id = EXCLUDED.workspace_id, phone_number_id = EXCLUDED.phone_number_id, \
             waba_id = EXCLUDED.waba_id, waba_name = EXCLUDED.waba_name, display_phone_number = EXCLUDED.display_phone_number, \
             display_name = EXCLUDED.display_name, verified_name = EXCLUDED.verified_name, status = EXCLUDED.status, \
             has_access_token = EXCLUDED.has_access_token, created_at = EXCLUDED.created_at, updated_at = EXCLUDED.updated_at",
        &[
            &id,
            &state.workspace_id.0,
            &state.phone_number_id,
            &state.waba_id,
            &state.waba_name,
            &state.display_phone_number.as_str(),
            &state.display_name,
            &state.verified_name,
            &state.status.as_str(),
            &state.access_token.is_some(),
            &state.registered_at,
            &state.updated_at,
        ],
    )
    .await?;
    Ok(())
}

/// A phone number as the read model holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct PhoneNumberView {
    pub id: Uuid,
    pub phone_number_id: String,
    pub waba_id: String,
    pub waba_name: Option<String>,
    pub display_phone_number: String,
    pub display_name: Option<String>,
    pub verified_name: Option<String>,
    pub status: String,
    pub has_access_token: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str =
    "id, phone_number_id, waba_id, waba_name, display_phone_number, display_name, verified_name, \
                       status, has_access_token, created_at, updated_at";

impl PhoneNumberView {
    fn from_row(row: &Row) -> Self {
        Self {
            id: row.get(0),
            phone_number_id: row.get(1),
            waba_id: row.get(2),
            waba_name: row.get(3),
            display_phone_number: row.get(4),
            display_name: row.get(5),
            verified_name: row.get(6),
            status: row.get(7),
            has_access_token: row.get(8),
            created_at: row.get(9),
            updated_at: row.get(10),
        }
    }
}

/// The workspace's phone numbers, oldest first.
pub async fn list(
    client: &impl GenericClient,
    workspace: WorkspaceId,
) -> Result<Vec<PhoneNumberView>, tokio_postgres::Error> {
    let rows = client
        .query(
            &format!("SELECT {COLUMNS} FROM phone_numbers WHERE workspace_id = $1 ORDER BY created_at, id"),
            &[&workspace.0],
        )
        .await?;
    Ok(rows.iter().map(PhoneNumberView::from_row).collect())
}

/// One phone number of the workspace, if it exists.
pub async fn get(
    client: &impl GenericClient,
    workspace: WorkspaceId,
    id: Uuid,
) -> Result<Option<PhoneNumberView>, tokio_postgres::Error> {
    let row = client
        .query_opt(
            &format!("SELECT {COLUMNS} FROM phone_numbers WHERE workspace_id = $1 AND id = $2"),
            &[&workspace.0, &id],
        )
        .await?;
    Ok(row.as_ref().map(PhoneNumberView::from_row))
}

//! `parley webhooks replay`: stored raw Meta deliveries run through ingestion again, in arrival
//! order, one at a time.
//!
//! Ingestion is idempotent, so a replay only changes what was never applied (a delivery cut
//! short by a crash, a part refused by an older Parley): a redelivered message or status
//! changes nothing, and a management update is skipped once its aggregate holds its events or
//! later ones (`application::meta_deliveries`). Events a replay writes carry the delivery's own
//! correlation id, as if it had been applied the first time.

use meta::ingest::{apply_delivery, IngestError};
use serde::Serialize;
use store::meta_webhooks::{DeliverySelection, MetaWebhookLog};
use store::ParleyApp;

/// How many stored deliveries are read at a time.
const BATCH: i64 = 200;

/// What a replay did, summed over its deliveries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReplaySummary {
    /// Deliveries run through ingestion.
    pub deliveries: u64,
    /// Inbound messages applied (a message already known counts, and changes nothing).
    pub messages: u64,
    /// Statuses applied (likewise).
    pub statuses: u64,
    /// Template and phone-number updates applied (likewise).
    pub management: u64,
    /// Parts refused, with the delivery and why.
    pub rejected: Vec<String>,
    /// Meta phone-number ids no registered number has, with the delivery.
    pub unknown_phone_numbers: Vec<String>,
    /// Deliveries that are not Meta's envelope.
    pub unreadable: u64,
    /// Events the replayed deliveries wrote: 0 when everything had been applied before.
    pub events_written: i64,
}

/// Why a replay stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("no stored Meta delivery has id {0}")]
    NoSuchDelivery(i64),
    /// The database failed; deliveries before `delivery` were replayed.
    #[error("replay stopped at delivery {delivery}: {source}")]
    Stopped {
        delivery: i64,
        source: application::AppError,
    },
    #[error(transparent)]
    Log(#[from] application::AppError),
}

/// Runs the selected deliveries through ingestion again and records each one's new outcome.
pub async fn replay(
    app: &ParleyApp,
    log: &MetaWebhookLog,
    selection: DeliverySelection,
) -> Result<ReplaySummary, ReplayError> {
    let start = log.last_event_position().await?;
    let mut summary = ReplaySummary::default();
    let mut replayed = Vec::new();
    let mut after_id = 0;
    loop {
        let deliveries = log.selected(selection, after_id, BATCH).await?;
        let Some(last) = deliveries.last() else {
            break;
        };
        after_id = last.id;
        for delivery in deliveries {
            let correlation = application::meta_delivery_correlation(delivery.id);
            let outcome = match apply_delivery(app, &delivery.body, &correlation).await {
                Ok(outcome) => outcome,
                Err(IngestError::Unreadable(reason)) => {
                    summary.unreadable += 1;
                    summary.deliveries += 1;
                    let outcome = serde_json::json!({ "unreadable": reason });
                    log.mark_processed(delivery.id, &outcome).await?;
                    continue;
                }
                Err(IngestError::Application(source)) => {
                    return Err(ReplayError::Stopped {
                        delivery: delivery.id,
                        source,
                    })
                }
            };
            summary.deliveries += 1;
            summary.messages += u64::from(outcome.messages);
            summary.statuses += u64::from(outcome.statuses);
            summary.management += u64::from(outcome.management);
            let id = delivery.id;
            summary.rejected.extend(
                outcome
                    .rejected
                    .iter()
                    .map(|reason| format!("delivery {id}: {reason}")),
            );
            summary.unknown_phone_numbers.extend(
                outcome
                    .unknown_phone_numbers
                    .iter()
                    .map(|number| format!("delivery {id}: {number}")),
            );
            let outcome = serde_json::to_value(&outcome).unwrap_or_default();
            log.mark_processed(delivery.id, &outcome).await?;
            replayed.push(delivery.id);
        }
    }
    if let (DeliverySelection::One(id), 0) = (selection, summary.deliveries) {
        return Err(ReplayError::NoSuchDelivery(id));
    }
    summary.events_written = log.events_caused_after(start, &replayed).await?;
    Ok(summary)
}

//! A broadcast's recipient list, folded from its additions and removals as they stream from the
//! log: a broadcast of 100,000 recipients reads about a hundred events of a thousand each, one
//! at a time (loading them all first, as an aggregate load does, cost ~150 MB at once).

use crate::aggregate_history::{envelope, upcasters};
use application::AppError;
use cqrs_es::Aggregate;
use domain::broadcast::{Broadcast, RecipientList};
use futures::TryStreamExt;
use projections::log::stream_events_of;
use tokio_postgres::GenericClient;
use uuid::Uuid;

/// The recipients of `broadcast_id` as its events say (an unknown broadcast has none).
pub async fn recipient_list(
    client: &impl GenericClient,
    broadcast_id: Uuid,
) -> Result<RecipientList, AppError> {
    let upcasters = upcasters();
    let id = broadcast_id.to_string();
    let events = stream_events_of(client, Broadcast::TYPE, &id, &RecipientList::EVENT_TYPES)
        .await
        .map_err(AppError::internal)?;
    futures::pin_mut!(events);
    let mut list = RecipientList::default();
    while let Some(stored) = events.try_next().await.map_err(AppError::internal)? {
        let event = envelope::<Broadcast>(&stored, &upcasters).map_err(AppError::internal)?;
        list.apply(event.payload);
    }
    Ok(list)
}

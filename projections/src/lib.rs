//! Read models folded from the event log, and the projector that keeps them current.
//!
//! The projector tails `events` in commit-safe order (see [`log`]), hands each batch to every
//! [`Projection`], and writes the read-model changes and its checkpoint in one transaction.

pub mod broadcasts;
pub mod contacts;
pub mod conversations;
pub mod integrator_events;
pub mod log;
pub mod messages;
pub mod outbox;
pub mod phone_numbers;
pub mod runner;
pub mod shutdown;
pub mod template_analytics;
pub mod templates;
pub mod watch;

pub use log::{Position, StoredEvent};
pub use runner::{Projection, Projector, ProjectorError, RebuildOrder, RebuildProgress};
pub use shutdown::Shutdown;
pub use watch::CheckpointWatch;

use std::sync::Arc;

/// Every read model Parley maintains, in the order they are folded.
pub fn all_projections() -> Vec<Arc<dyn Projection>> {
    vec![
        Arc::new(phone_numbers::PhoneNumbersProjection),
        Arc::new(contacts::ContactsProjection),
        Arc::new(conversations::ConversationsProjection),
        Arc::new(broadcasts::BroadcastsProjection),
        Arc::new(templates::TemplatesProjection),
        Arc::new(template_analytics::TemplateAnalyticsProjection),
        Arc::new(outbox::OutboxProjection),
        Arc::new(integrator_events::IntegratorEventsProjection),
    ]
}

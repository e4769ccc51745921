//! Parley's use cases. Adapters call these; they add command metadata (actor, correlation id,
//! time), pick aggregate ids, enforce tenancy, and wait for read models to catch up.

pub mod broadcasts;
pub mod command_bus;
pub mod contacts;
pub mod context;
pub mod conversations;
pub mod error;
pub mod integrator_events;
pub mod meta_deliveries;
pub mod meta_management;
pub mod outbox;
pub mod phone_health;
pub mod phone_numbers;
pub mod ports;
pub mod templates;
pub mod webhook_routing;

pub use broadcasts::{
    BroadcastChanged, BroadcastInput, BroadcastStartOutcome, RecipientsAdded, RecipientsRemoved,
};
pub use command_bus::{contains_nul, CommandBus, Committed};
pub use contacts::{BulkAction, BulkOutcome, ContactInput, ImportOutcome};
pub use context::{Actor, RequestContext};
pub use conversations::{
    customer_wa_id, BroadcastSendOutcome, InboundFromMeta, MetaCredentials, OutboundMessage,
    PhoneNumberRef, QueuedMessage, Routed, SendTrace, StatusFromMeta,
};
pub use error::{AppError, ErrorCode};
pub use meta_deliveries::{
    meta_delivery_correlation, meta_delivery_part_correlation, DeliveryPart,
};
pub use meta_management::{
    BusinessProfile, BusinessProfileUpdate, CodeMethod, MetaManagement, MetaTemplate,
    PhoneNumberHealth, TemplateSubmission,
};
pub use outbox::{GatewayError, JobKind, MetaGateway, OutboxJob, OutboxPolicy, OutboxQueue};
pub use phone_numbers::{PhoneNumberChangesInput, PhoneNumberInput};
pub use ports::{Clock, EventKey, Freshness, Infrastructure, SecretBox, SecretBoxError};
pub use templates::{SyncReport, TemplateChanged, TemplateInput};

/// The use cases, over the infrastructure that carries them out.
pub struct Application<I: Infrastructure> {
    pub infra: I,
    /// Numbers' workspaces for routing Meta's webhooks.
    webhook_routes: webhook_routing::WebhookRoutes,
}

impl<I: Infrastructure> Application<I> {
    /// Wraps the infrastructure.
    pub fn new(infra: I) -> Self {
        Self {
            infra,
            webhook_routes: Default::default(),
        }
    }
}

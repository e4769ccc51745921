//! What every handler shares.

use crate::webhook::{MetaWebhookSettings, WebhookApplier};
use integrator_webhooks::{AddressPolicy, WebhookSender};
use std::sync::Arc;
use std::time::Duration;
use store::integrator_events::IntegratorEventStream;
use store::meta_webhooks::MetaWebhookLog;
use store::webhook_deliveries::WebhookDeliveries;
use store::webhook_endpoints::WebhookEndpoints;
use store::{ParleyApp, Tenancy};

/// Shared handler state: the application, token lookup, and the read-model pool.
#[derive(Clone)]
pub struct AppState {
    pub app: Arc<ParleyApp>,
    pub tenancy: Tenancy,
    pub queries: deadpool_postgres::Pool,
    pub meta_webhooks: MetaWebhookSettings,
    /// Stores Meta's deliveries.
    pub webhook_log: MetaWebhookLog,
    /// Applies them.
    pub webhook_applier: WebhookApplier,
    /// Meta's Graph API, for calls made while the caller waits (media uploads).
    pub graph: Option<Arc<meta::GraphClient>>,
    /// Integrators' webhook endpoints.
    pub webhook_endpoints: WebhookEndpoints,
    /// Their deliveries and delivery log.
    pub webhook_deliveries: WebhookDeliveries,
    /// The integrator event stream.
    pub event_stream: IntegratorEventStream,
    /// Sends test webhooks, and says where webhooks may go.
    pub webhook_sender: WebhookSender,
}

/// How long a test webhook waits for the receiver.
const TEST_WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

impl AppState {
    /// Wraps the application.
    pub fn new(app: Arc<ParleyApp>) -> Self {
        let queries = app.infra.pools.queries.clone();
        Self {
            tenancy: Tenancy::new(queries.clone()),
            webhook_log: MetaWebhookLog::new(queries.clone()),
            webhook_applier: WebhookApplier::new(app.clone(), MetaWebhookLog::new(queries.clone())),
            meta_webhooks: MetaWebhookSettings::default(),
            graph: None,
            webhook_endpoints: WebhookEndpoints::new(queries.clone(), app.infra.secret_box()),
            webhook_deliveries: WebhookDeliveries::new(queries.clone()),
            event_stream: IntegratorEventStream::new(queries.clone()),
            webhook_sender: webhook_sender(AddressPolicy::default()),
            queries,
            app,
        }
    }

    /// Calls Meta's Graph API through `graph` for synchronous calls.
    pub fn with_graph(mut self, graph: Arc<meta::GraphClient>) -> Self {
        self.graph = Some(graph);
        self
    }

    /// Sends webhooks only where `policy` allows.
    pub fn with_webhook_policy(mut self, policy: AddressPolicy) -> Self {
        self.webhook_sender = webhook_sender(policy);
        self
    }

    /// Accepts Meta's webhook with these secrets.
    pub fn with_meta_webhooks(mut self, settings: MetaWebhookSettings) -> Self {
        self.meta_webhooks = settings;
        self
    }
}

fn webhook_sender(policy: AddressPolicy) -> WebhookSender {
    // Building fails only when the TLS backend cannot start, which nothing works without.
    WebhookSender::new(policy, TEST_WEBHOOK_TIMEOUT).expect("an HTTP client for webhooks")
}

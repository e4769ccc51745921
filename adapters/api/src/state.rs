//! What every handler shares.

use crate::webhook::{MetaWebhookSettings, WebhookApplier};
use std::sync::Arc;
use store::meta_webhooks::MetaWebhookLog;
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
}

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
            queries,
            app,
        }
    }

    /// Calls Meta's Graph API through `graph` for synchronous calls.
    pub fn with_graph(mut self, graph: Arc<meta::GraphClient>) -> Self {
        self.graph = Some(graph);
        self
    }

    /// Accepts Meta's webhook with these secrets.
    pub fn with_meta_webhooks(mut self, settings: MetaWebhookSettings) -> Self {
        self.meta_webhooks = settings;
        self
    }
}

//! What every handler shares.

use std::sync::Arc;
use store::{ParleyApp, Tenancy};

/// Shared handler state: the application, token lookup, and the read-model pool.
#[derive(Clone)]
pub struct AppState {
    pub app: Arc<ParleyApp>,
    pub tenancy: Tenancy,
    pub queries: deadpool_postgres::Pool,
}

impl AppState {
    /// Wraps the application.
    pub fn new(app: Arc<ParleyApp>) -> Self {
        let queries = app.infra.pools.queries.clone();
        Self {
            tenancy: Tenancy::new(queries.clone()),
            queries,
            app,
        }
    }
}

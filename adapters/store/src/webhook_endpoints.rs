//! Integrators' webhook endpoints: a workspace's configuration, kept as plain rows like its
//! tokens. Each endpoint has a signing secret (`whsec_` + 32 random bytes, base64url), shown
//! once when it is created or rotated and stored sealed with `PARLEY_SECRET_KEY`, because it
//! must be read back to sign. A rotation keeps the previous secret signing until it expires.

use application::SecretBox;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use domain::{SealedSecret, WorkspaceId};
use rand::RngCore;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres::Row;
use uuid::Uuid;

const SECRET_PREFIX: &str = "whsec_";

/// Why an endpoint operation failed.
#[derive(Debug, thiserror::Error)]
pub enum EndpointStoreError {
    #[error("database: {0}")]
    Database(String),
    #[error("the endpoint's signing secret cannot be opened with the configured key")]
    Undecryptable,
}

impl From<tokio_postgres::Error> for EndpointStoreError {
    fn from(error: tokio_postgres::Error) -> Self {
        Self::Database(application::error::with_causes(&error))
    }
}

impl From<deadpool_postgres::PoolError> for EndpointStoreError {
    fn from(error: deadpool_postgres::PoolError) -> Self {
        Self::Database(error.to_string())
    }
}

/// What a workspace registers (already validated by the caller).
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointInput {
    pub url: String,
    pub description: String,
    /// Empty: every event type.
    pub event_types: Vec<String>,
    pub active: bool,
    pub custom_headers: BTreeMap<String, String>,
}

/// A change to an endpoint; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EndpointChanges {
    pub url: Option<String>,
    pub description: Option<String>,
    pub event_types: Option<Vec<String>>,
    pub active: Option<bool>,
    pub custom_headers: Option<BTreeMap<String, String>>,
}

/// An endpoint as its workspace sees it (never its secrets).
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub url: String,
    pub description: String,
    pub event_types: Vec<String>,
    pub active: bool,
    pub custom_headers: BTreeMap<String, String>,
    /// Set while deliveries are paused (automatically after failing too long, or by hand).
    pub paused_at: Option<DateTime<Utc>>,
    pub paused_reason: Option<String>,
    /// Since when every attempt has failed.
    pub failing_since: Option<DateTime<Utc>>,
    /// Until when the previous secret still signs, during a rotation.
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Endpoint {
    /// `disabled` (not active), `paused`, or `active`.
    pub fn status(&self) -> &'static str {
        if !self.active {
            "disabled"
        } else if self.paused_at.is_some() {
            "paused"
        } else {
            "active"
        }
    }

    /// Until when the previous secret still signs, while a rotation lasts.
    pub fn rotation_ends_at(&self) -> Option<DateTime<Utc>> {
        self.previous_secret_expires_at
            .filter(|at| *at > Utc::now())
    }
}

/// A new signing secret: `whsec_` and 32 random bytes.
pub fn generate_signing_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{SECRET_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

const COLUMNS: &str = "id, workspace_id, url, description, event_types, active, custom_headers, \
     paused_at, paused_reason, failing_since, previous_secret_expires_at, created_at, updated_at";

fn endpoint_from(row: &Row) -> Endpoint {
    let headers: Value = row.get("custom_headers");
    Endpoint {
        id: row.get("id"),
        workspace_id: row.get("workspace_id"),
        url: row.get("url"),
        description: row.get("description"),
        event_types: row.get("event_types"),
        active: row.get("active"),
        custom_headers: serde_json::from_value(headers).unwrap_or_default(),
        paused_at: row.get("paused_at"),
        paused_reason: row.get("paused_reason"),
        failing_since: row.get("failing_since"),
        previous_secret_expires_at: row.get("previous_secret_expires_at"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    }
}

fn headers_json(headers: &BTreeMap<String, String>) -> Value {
    serde_json::to_value(headers).unwrap_or_else(|_| Value::Object(Default::default()))
}

/// Endpoint storage over the query pool.
#[derive(Clone)]
pub struct WebhookEndpoints {
    pool: deadpool_postgres::Pool,
    secrets: Arc<dyn SecretBox>,
}

impl WebhookEndpoints {
    /// Endpoints in `pool`, secrets sealed by `secrets`.
    pub fn new(pool: deadpool_postgres::Pool, secrets: Arc<dyn SecretBox>) -> Self {
        Self { pool, secrets }
    }

    /// Registers an endpoint; returns it and its signing secret (in clear, this once).
    pub async fn create(
        &self,
        workspace: WorkspaceId,
        input: &EndpointInput,
    ) -> Result<(Endpoint, String), EndpointStoreError> {
        let secret = generate_signing_secret();
        let sealed = self.secrets.seal(&secret);
        let client = self.pool.get().await?;
        let row = client
            .query_one(
                &format!(
                    "INSERT INTO webhook_endpoints (id, workspace_id, url, description, event_types, \
                     active, custom_headers, secret_sealed) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                     RETURNING {COLUMNS}"
                ),
                &[
                    &Uuid::new_v4(),
                    &workspace.0,
                    &input.url,
                    &input.description,
                    &input.event_types,
                    &input.active,
                    &headers_json(&input.custom_headers),
                    &sealed.0,
                ],
            )
            .await?;
        Ok((endpoint_from(&row), secret))
    }

    /// The workspace's endpoints, oldest first.
    pub async fn list(&self, workspace: WorkspaceId) -> Result<Vec<Endpoint>, EndpointStoreError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {COLUMNS} FROM webhook_endpoints WHERE workspace_id = $1 \
                     ORDER BY created_at, id"
                ),
                &[&workspace.0],
            )
            .await?;
        Ok(rows.iter().map(endpoint_from).collect())
    }

    /// One endpoint of the workspace.
    pub async fn get(
        &self,
        workspace: WorkspaceId,
        id: Uuid,
    ) -> Result<Option<Endpoint>, EndpointStoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                &format!(
                    "SELECT {COLUMNS} FROM webhook_endpoints WHERE workspace_id = $1 AND id = $2"
                ),
                &[&workspace.0, &id],
            )
            .await?;
        Ok(row.as_ref().map(endpoint_from))
    }

    /// The workspace's endpoint with this exact URL, if any (the newest).
    pub async fn find_by_url(
        &self,
        workspace: WorkspaceId,
        url: &str,
    ) -> Result<Option<Endpoint>, EndpointStoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                &format!(
                    "SELECT {COLUMNS} FROM webhook_endpoints WHERE workspace_id = $1 AND url = $2 \
                     ORDER BY created_at DESC LIMIT 1"
                ),
                &[&workspace.0, &url],
            )
            .await?;
        Ok(row.as_ref().map(endpoint_from))
    }

    /// Applies `changes`; `None` when the workspace has no such endpoint.
    pub async fn update(
        &self,
        workspace: WorkspaceId,
        id: Uuid,
        changes: &EndpointChanges,
    ) -> Result<Option<Endpoint>, EndpointStoreError> {
        let client = self.pool.get().await?;
        let headers = changes.custom_headers.as_ref().map(headers_json);
        let row = client
            .query_opt(
                &format!(
                    "UPDATE webhook_endpoints SET url = COALESCE($3, url), \
                     description = COALESCE($4, description), \
                     event_types = COALESCE($5, event_types), active = COALESCE($6, active), \
                     custom_headers = COALESCE($7, custom_headers), updated_at = now() \
                     WHERE workspace_id = $1 AND id = $2 RETURNING {COLUMNS}"
                ),
                &[
                    &workspace.0,
                    &id,
                    &changes.url,
                    &changes.description,
                    &changes.event_types,
                    &changes.active,
                    &headers,
                ],
            )
            .await?;
        Ok(row.as_ref().map(endpoint_from))
    }

    /// Removes the endpoint with its deliveries and their log; whether it existed.
    pub async fn delete(
        &self,
        workspace: WorkspaceId,
        id: Uuid,
    ) -> Result<bool, EndpointStoreError> {
        let client = self.pool.get().await?;
        let deleted = client
            .execute(
                "DELETE FROM webhook_endpoints WHERE workspace_id = $1 AND id = $2",
                &[&workspace.0, &id],
            )
            .await?;
        Ok(deleted > 0)
    }

    /// A new signing secret; the current one keeps signing for `overlap`. Returns the new
    /// secret in clear, this once.
    pub async fn rotate_secret(
        &self,
        workspace: WorkspaceId,
        id: Uuid,
        overlap: Duration,
    ) -> Result<Option<(Endpoint, String)>, EndpointStoreError> {
        let secret = generate_signing_secret();
        let sealed = self.secrets.seal(&secret);
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                &format!(
                    "UPDATE webhook_endpoints SET previous_secret_sealed = secret_sealed, \
                     previous_secret_expires_at = now() + make_interval(secs => $4), \
                     secret_sealed = $3, updated_at = now() \
                     WHERE workspace_id = $1 AND id = $2 RETURNING {COLUMNS}"
                ),
                &[&workspace.0, &id, &sealed.0, &overlap.as_secs_f64()],
            )
            .await?;
        Ok(row.map(|row| (endpoint_from(&row), secret)))
    }

    /// Pauses deliveries to the endpoint (by hand); `None` when it does not exist.
    pub async fn pause(
        &self,
        workspace: WorkspaceId,
        id: Uuid,
        reason: &str,
    ) -> Result<Option<Endpoint>, EndpointStoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                &format!(
                    "UPDATE webhook_endpoints SET paused_at = COALESCE(paused_at, now()), \
                     paused_reason = COALESCE(paused_reason, $3), updated_at = now() \
                     WHERE workspace_id = $1 AND id = $2 RETURNING {COLUMNS}"
                ),
                &[&workspace.0, &id, &reason],
            )
            .await?;
        Ok(row.as_ref().map(endpoint_from))
    }

    /// Resumes deliveries: pending ones are attempted again, with their failure streak forgotten.
    pub async fn resume(
        &self,
        workspace: WorkspaceId,
        id: Uuid,
    ) -> Result<Option<Endpoint>, EndpointStoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                &format!(
                    "UPDATE webhook_endpoints SET paused_at = NULL, paused_reason = NULL, \
                     failing_since = NULL, updated_at = now() \
                     WHERE workspace_id = $1 AND id = $2 RETURNING {COLUMNS}"
                ),
                &[&workspace.0, &id],
            )
            .await?;
        if row.is_some() {
            // Deliveries that waited out the pause are due now, each with a fresh retry period.
            client
                .execute(
                    "UPDATE webhook_deliveries SET next_attempt_at = now(), retrying_since = NULL \
                     WHERE endpoint_id = $1 AND state = 'pending'",
                    &[&id],
                )
                .await?;
        }
        Ok(row.as_ref().map(endpoint_from))
    }

    /// The secrets that sign for the endpoint now: the current one, then the previous one
    /// while its rotation window lasts.
    pub async fn signing_secrets(&self, id: Uuid) -> Result<Vec<String>, EndpointStoreError> {
        let client = self.pool.get().await?;
        let Some(row) = client
            .query_opt(
                "SELECT secret_sealed, \
                 CASE WHEN previous_secret_expires_at > now() THEN previous_secret_sealed END \
                 FROM webhook_endpoints WHERE id = $1",
                &[&id],
            )
            .await?
        else {
            return Ok(Vec::new());
        };
        let sealed: Vec<Option<String>> = vec![row.get(0), row.get(1)];
        sealed
            .into_iter()
            .flatten()
            .map(|s| {
                self.secrets
                    .open(&SealedSecret(s))
                    .map_err(|_| EndpointStoreError::Undecryptable)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signing_secrets_are_random_and_prefixed() {
        let (a, b) = (generate_signing_secret(), generate_signing_secret());
        assert!(a.starts_with(SECRET_PREFIX));
        assert_ne!(a, b);
        assert_eq!(a.len(), SECRET_PREFIX.len() + 43);
    }
}

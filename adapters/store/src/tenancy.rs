//! Workspaces and their API tokens. Tokens are `wat_` + 32 random bytes (base64url), shown once,
//! stored only as their SHA-256.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use domain::WorkspaceId;
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::num::NonZeroU32;
use uuid::Uuid;

const TOKEN_PREFIX: &str = "wat_";

/// Whom a valid token belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenIdentity {
    pub token_id: Uuid,
    pub workspace_id: WorkspaceId,
}

/// Workspace and token storage.
#[derive(Clone)]
pub struct Tenancy {
    pool: deadpool_postgres::Pool,
}

fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

fn pool_error(error: deadpool_postgres::PoolError) -> TenancyError {
    TenancyError::Database(error.to_string())
}

/// Why a tenancy operation failed.
#[derive(Debug, thiserror::Error)]
pub enum TenancyError {
    #[error("database: {0}")]
    Database(String),
    #[error("workspace not found")]
    WorkspaceNotFound,
}

impl From<tokio_postgres::Error> for TenancyError {
    fn from(error: tokio_postgres::Error) -> Self {
        Self::Database(error.to_string())
    }
}

impl Tenancy {
    /// Tenancy over the query pool.
    pub fn new(pool: deadpool_postgres::Pool) -> Self {
        Self { pool }
    }

    /// Creates a workspace and its first token; returns both (the token in clear, this once).
    pub async fn create_workspace(
        &self,
        name: &str,
    ) -> Result<(WorkspaceId, String), TenancyError> {
        let mut client = self.pool.get().await.map_err(pool_error)?;
        let tx = client.transaction().await?;
        let id = Uuid::new_v4();
        tx.execute(
            "INSERT INTO workspaces (id, name) VALUES ($1, $2)",
            &[&id, &name],
        )
        .await?;
        let token = insert_token(&*tx, id, "initial").await?;
        tx.commit().await?;
        Ok((WorkspaceId(id), token))
    }

    /// Issues another token for a workspace.
    pub async fn issue_token(
        &self,
        workspace: WorkspaceId,
        label: &str,
    ) -> Result<String, TenancyError> {
        let client = self.pool.get().await.map_err(pool_error)?;
        let exists = client
            .query_opt("SELECT 1 FROM workspaces WHERE id = $1", &[&workspace.0])
            .await?
            .is_some();
        if !exists {
            return Err(TenancyError::WorkspaceNotFound);
        }
        insert_token(&**client, workspace.0, label).await
    }

    /// The workspace with this name, if any (the oldest when several share it).
    pub async fn find_workspace(&self, name: &str) -> Result<Option<WorkspaceId>, TenancyError> {
        let client = self.pool.get().await.map_err(pool_error)?;
        let row = client
            .query_opt(
                "SELECT id FROM workspaces WHERE name = $1 ORDER BY created_at LIMIT 1",
                &[&name],
            )
            .await?;
        Ok(row.map(|r| WorkspaceId(r.get(0))))
    }

    /// Whether the workspace exists.
    pub async fn workspace_exists(&self, workspace: WorkspaceId) -> Result<bool, TenancyError> {
        let client = self.pool.get().await.map_err(pool_error)?;
        Ok(client
            .query_opt("SELECT 1 FROM workspaces WHERE id = $1", &[&workspace.0])
            .await?
            .is_some())
    }

    /// Sets how many requests `token` may make per rate-limit window (`None`: the default);
    /// returns whether the token exists.
    pub async fn set_rate_limit(
        &self,
        token: &str,
        requests_per_window: Option<NonZeroU32>,
    ) -> Result<bool, TenancyError> {
        let limit: Option<i32> =
            requests_per_window.map(|n| i32::try_from(n.get()).unwrap_or(i32::MAX));
        let client = self.pool.get().await.map_err(pool_error)?;
        let updated = client
            .execute(
                "UPDATE api_tokens SET rate_limit_per_window = $2 WHERE token_hash = $1",
                &[&hash(token), &limit],
            )
            .await?;
        Ok(updated > 0)
    }

    /// Whom a presented token belongs to; `None` for unknown, malformed or revoked tokens.
    pub async fn authenticate(&self, token: &str) -> Result<Option<TokenIdentity>, TenancyError> {
        if !token.starts_with(TOKEN_PREFIX) || token.len() > 128 {
            return Ok(None);
        }
        let client = self.pool.get().await.map_err(pool_error)?;
        // Every request runs this: prepared once per connection.
        let statement = client
            .prepare_cached(
                "SELECT id, workspace_id FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL",
            )
            .await?;
        let row = client.query_opt(&statement, &[&hash(token)]).await?;
        Ok(row.map(|r| TokenIdentity {
            token_id: r.get(0),
            workspace_id: WorkspaceId(r.get(1)),
        }))
    }
}

async fn insert_token(
    client: &impl tokio_postgres::GenericClient,
    workspace: Uuid,
    label: &str,
) -> Result<String, TenancyError> {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    client
        .execute(
            "INSERT INTO api_tokens (id, workspace_id, token_hash, label) VALUES ($1, $2, $3, $4)",
            &[&Uuid::new_v4(), &workspace, &hash(&token), &label],
        )
        .await?;
    Ok(token)
}

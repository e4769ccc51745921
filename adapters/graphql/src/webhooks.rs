//! Integrators' webhook endpoints over GraphQL: the same operations as REST
//! (`/api/v2/external/webhooks…`), with each endpoint's delivery log and replay. Every resolver
//! is scoped to the caller's workspace; signing secrets appear only in the answer to a creation
//! or rotation.

use crate::error::{internal, not_found, parse_id, validation, Result};
use crate::read::env;
use async_graphql::{ComplexObject, Context, InputObject, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use integrator_webhooks::endpoint_rules;
use std::collections::BTreeMap;
use std::time::Duration;
use store::webhook_deliveries::{
    AttemptSummary, DeliverySummary, ReplaySelection, REPLAY_SELECTION_HELP,
};
use store::webhook_endpoints::{Endpoint, EndpointChanges, EndpointInput};

/// The longest overlap a rotation may ask for (a week).
const MAX_ROTATION_OVERLAP_SECONDS: i32 = 7 * 24 * 60 * 60;
/// Deliveries per page, at most.
const MAX_DELIVERIES: i32 = 200;

/// A custom header sent with every delivery.
#[derive(SimpleObject, InputObject, Debug, Clone)]
#[graphql(input_name = "WebhookHeaderInput")]
pub struct WebhookHeader {
    pub name: String,
    pub value: String,
}

/// An integrator's webhook endpoint.
#[derive(SimpleObject, Debug, Clone)]
#[graphql(complex)]
pub struct WebhookEndpoint {
    pub id: ID,
    pub url: String,
    pub description: String,
    /// Event types delivered; empty means every type.
    pub events: Vec<String>,
    pub active: bool,
    /// `active`, `paused` or `disabled`.
    pub status: String,
    pub headers: Vec<WebhookHeader>,
    pub paused_at: Option<DateTime<Utc>>,
    pub paused_reason: Option<String>,
    /// Since when every attempt has failed.
    pub failing_since: Option<DateTime<Utc>>,
    /// While a rotation lasts: until when the previous secret also signs.
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Endpoint> for WebhookEndpoint {
    fn from(endpoint: Endpoint) -> Self {
        Self {
            id: ID(endpoint.id.to_string()),
            status: endpoint.status().to_string(),
            previous_secret_expires_at: endpoint.rotation_ends_at(),
            headers: endpoint
                .custom_headers
                .into_iter()
                .map(|(name, value)| WebhookHeader { name, value })
                .collect(),
            url: endpoint.url,
            description: endpoint.description,
            events: endpoint.event_types,
            active: endpoint.active,
            paused_at: endpoint.paused_at,
            paused_reason: endpoint.paused_reason,
            failing_since: endpoint.failing_since,
            created_at: endpoint.created_at,
            updated_at: endpoint.updated_at,
        }
    }
}

/// One attempt of a delivery.
#[derive(SimpleObject, Debug, Clone)]
pub struct WebhookAttempt {
    pub attempt: i32,
    pub attempted_at: DateTime<Utc>,
    /// The receiver's HTTP status, when it answered.
    pub status_code: Option<i32>,
    pub latency_ms: f64,
    pub error: Option<String>,
}

impl From<AttemptSummary> for WebhookAttempt {
    fn from(attempt: AttemptSummary) -> Self {
        Self {
            attempt: attempt.attempt,
            attempted_at: attempt.attempted_at,
            status_code: attempt.status_code,
            latency_ms: attempt.latency_ms,
            error: attempt.error,
        }
    }
}

/// One event's delivery to one endpoint.
#[derive(SimpleObject, Debug, Clone)]
#[graphql(complex)]
pub struct WebhookDelivery {
    /// Sent as `Parley-Delivery-Id`, the same on every attempt.
    pub id: ID,
    pub webhook_id: ID,
    pub event_id: ID,
    pub event_type: String,
    /// `pending`, `delivered` or `dead`.
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub dead_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<DeliverySummary> for WebhookDelivery {
    fn from(delivery: DeliverySummary) -> Self {
        Self {
            id: ID(delivery.id.to_string()),
            webhook_id: ID(delivery.endpoint_id.to_string()),
            event_id: ID(delivery.event_id.to_string()),
            event_type: delivery.event_type,
            status: delivery.state,
            attempts: delivery.attempts,
            next_attempt_at: delivery.next_attempt_at,
            last_attempt_at: delivery.last_attempt_at,
            last_status_code: delivery.last_status_code,
            last_error: delivery.last_error,
            delivered_at: delivery.delivered_at,
            dead_at: delivery.dead_at,
            created_at: delivery.created_at,
        }
    }
}

#[ComplexObject]
impl WebhookEndpoint {
    /// The delivery log, newest first.
    async fn deliveries(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "`pending`, `delivered` or `dead`.")] status: Option<String>,
        #[graphql(default = 50, desc = "At most 200.")] first: i32,
    ) -> Result<Vec<WebhookDelivery>> {
        let (state, caller) = env(ctx)?;
        if let Some(status) = &status {
            if !matches!(status.as_str(), "pending" | "delivered" | "dead") {
                return Err(validation("status: one of pending, delivered, dead"));
            }
        }
        if !(1..=MAX_DELIVERIES).contains(&first) {
            return Err(validation(format!("first: between 1 and {MAX_DELIVERIES}")));
        }
        let id = parse_id(&self.id, "webhook")?;
        let page = state
            .webhook_deliveries
            .list(
                caller.workspace_id.0,
                id,
                status.as_deref(),
                None,
                first as i64,
            )
            .await
            .map_err(internal)?;
        Ok(page.into_iter().map(Into::into).collect())
    }
}

#[ComplexObject]
impl WebhookDelivery {
    /// Every attempt, oldest first: time, status code, latency, error.
    async fn attempt_log(&self, ctx: &Context<'_>) -> Result<Vec<WebhookAttempt>> {
        let (state, caller) = env(ctx)?;
        let endpoint = parse_id(&self.webhook_id, "webhook")?;
        let delivery = parse_id(&self.id, "delivery")?;
        let (_, attempts) = state
            .webhook_deliveries
            .get(caller.workspace_id.0, endpoint, delivery)
            .await
            .map_err(internal)?
            .ok_or_else(|| not_found("delivery"))?;
        Ok(attempts.into_iter().map(Into::into).collect())
    }
}

/// A new endpoint or secret, with the secret shown this once.
#[derive(SimpleObject)]
pub struct WebhookSecretIssued {
    pub endpoint: WebhookEndpoint,
    /// `whsec_…`: keep it; it is not shown again.
    pub signing_secret: String,
}

/// An endpoint to register.
#[derive(InputObject)]
pub struct WebhookEndpointInput {
    pub url: String,
    #[graphql(default)]
    pub description: String,
    /// Empty or absent: every event type.
    #[graphql(default)]
    pub events: Vec<String>,
    #[graphql(default = true)]
    pub active: bool,
    #[graphql(default)]
    pub headers: Vec<WebhookHeader>,
}

/// Changes to an endpoint; absent fields stay as they are.
#[derive(InputObject, Default)]
pub struct WebhookEndpointChanges {
    pub url: Option<String>,
    pub description: Option<String>,
    pub events: Option<Vec<String>>,
    pub active: Option<bool>,
    pub headers: Option<Vec<WebhookHeader>>,
}

fn header_map(headers: Vec<WebhookHeader>) -> Result<BTreeMap<String, String>> {
    let count = headers.len();
    let map: BTreeMap<String, String> = headers.into_iter().map(|h| (h.name, h.value)).collect();
    if map.len() != count {
        return Err(validation("headers: a name appears twice"));
    }
    endpoint_rules::check_headers(map).map_err(|e| validation(e.to_string()))
}

fn found(endpoint: Option<Endpoint>) -> Result<WebhookEndpoint> {
    endpoint.map(Into::into).ok_or_else(|| not_found("webhook"))
}

/// Webhook queries.
pub struct WebhookQuery;

#[Object]
impl WebhookQuery {
    /// The workspace's webhook endpoints, oldest first.
    async fn webhook_endpoints(&self, ctx: &Context<'_>) -> Result<Vec<WebhookEndpoint>> {
        let (state, caller) = env(ctx)?;
        let endpoints = state
            .webhook_endpoints
            .list(caller.workspace_id)
            .await
            .map_err(internal)?;
        Ok(endpoints.into_iter().map(Into::into).collect())
    }

    /// One endpoint of the workspace.
    async fn webhook_endpoint(&self, ctx: &Context<'_>, id: ID) -> Result<WebhookEndpoint> {
        let (state, caller) = env(ctx)?;
        let id = parse_id(&id, "webhook")?;
        found(
            state
                .webhook_endpoints
                .get(caller.workspace_id, id)
                .await
                .map_err(internal)?,
        )
    }
}

/// Webhook mutations.
pub struct WebhookMutation;

#[Object]
impl WebhookMutation {
    /// Registers an endpoint; the answer carries its signing secret, shown this once.
    async fn create_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        input: WebhookEndpointInput,
    ) -> Result<WebhookSecretIssued> {
        let (state, caller) = env(ctx)?;
        let invalid = |e: integrator_webhooks::InvalidEndpoint| validation(e.to_string());
        let input = EndpointInput {
            url: endpoint_rules::check_url(&state.webhook_sender.policy(), &input.url)
                .map_err(invalid)?,
            description: endpoint_rules::check_description(input.description).map_err(invalid)?,
            event_types: endpoint_rules::check_events(input.events).map_err(invalid)?,
            active: input.active,
            custom_headers: header_map(input.headers)?,
        };
        let (endpoint, secret) = state
            .webhook_endpoints
            .create(caller.workspace_id, &input)
            .await
            .map_err(internal)?;
        Ok(WebhookSecretIssued {
            endpoint: endpoint.into(),
            signing_secret: secret,
        })
    }

    /// Changes an endpoint.
    async fn update_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        id: ID,
        changes: WebhookEndpointChanges,
    ) -> Result<WebhookEndpoint> {
        let (state, caller) = env(ctx)?;
        let id = parse_id(&id, "webhook")?;
        let invalid = |e: integrator_webhooks::InvalidEndpoint| validation(e.to_string());
        let changes = EndpointChanges {
            url: changes
                .url
                .map(|u| endpoint_rules::check_url(&state.webhook_sender.policy(), &u))
                .transpose()
                .map_err(invalid)?,
            description: changes
                .description
                .map(endpoint_rules::check_description)
                .transpose()
                .map_err(invalid)?,
            event_types: changes
                .events
                .map(endpoint_rules::check_events)
                .transpose()
                .map_err(invalid)?,
            active: changes.active,
            custom_headers: changes.headers.map(header_map).transpose()?,
        };
        found(
            state
                .webhook_endpoints
                .update(caller.workspace_id, id, &changes)
                .await
                .map_err(internal)?,
        )
    }

    /// Removes an endpoint with its delivery log; true when it existed.
    async fn delete_webhook_endpoint(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        let (state, caller) = env(ctx)?;
        let id = parse_id(&id, "webhook")?;
        let deleted = state
            .webhook_endpoints
            .delete(caller.workspace_id, id)
            .await
            .map_err(internal)?;
        if !deleted {
            return Err(not_found("webhook"));
        }
        Ok(true)
    }

    /// A new signing secret, shown this once; the previous one keeps signing for the overlap.
    async fn rotate_webhook_secret(
        &self,
        ctx: &Context<'_>,
        id: ID,
        #[graphql(
            default = 86400,
            desc = "Seconds the previous secret keeps signing (at most a week)."
        )]
        overlap_seconds: i32,
    ) -> Result<WebhookSecretIssued> {
        let (state, caller) = env(ctx)?;
        let id = parse_id(&id, "webhook")?;
        if !(0..=MAX_ROTATION_OVERLAP_SECONDS).contains(&overlap_seconds) {
            return Err(validation(format!(
                "overlapSeconds: between 0 and {MAX_ROTATION_OVERLAP_SECONDS}"
            )));
        }
        let (endpoint, secret) = state
            .webhook_endpoints
            .rotate_secret(
                caller.workspace_id,
                id,
                Duration::from_secs(overlap_seconds as u64),
            )
            .await
            .map_err(internal)?
            .ok_or_else(|| not_found("webhook"))?;
        Ok(WebhookSecretIssued {
            endpoint: endpoint.into(),
            signing_secret: secret,
        })
    }

    /// Pauses deliveries; they accumulate and are sent after resume.
    async fn pause_webhook_endpoint(&self, ctx: &Context<'_>, id: ID) -> Result<WebhookEndpoint> {
        let (state, caller) = env(ctx)?;
        let id = parse_id(&id, "webhook")?;
        found(
            state
                .webhook_endpoints
                .pause(caller.workspace_id, id, "paused through GraphQL")
                .await
                .map_err(internal)?,
        )
    }

    /// Resumes deliveries (also after an automatic pause).
    async fn resume_webhook_endpoint(&self, ctx: &Context<'_>, id: ID) -> Result<WebhookEndpoint> {
        let (state, caller) = env(ctx)?;
        let id = parse_id(&id, "webhook")?;
        found(
            state
                .webhook_endpoints
                .resume(caller.workspace_id, id)
                .await
                .map_err(internal)?,
        )
    }

    /// Sends deliveries again with their ids: one, those created in [from, to), or every
    /// dead-lettered one. Returns how many.
    async fn replay_webhook_deliveries(
        &self,
        ctx: &Context<'_>,
        id: ID,
        delivery_id: Option<ID>,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        #[graphql(default)] dead_letter: bool,
    ) -> Result<i32> {
        let (state, caller) = env(ctx)?;
        let id = parse_id(&id, "webhook")?;
        let delivery = delivery_id
            .map(|raw| parse_id(&raw, "delivery"))
            .transpose()?;
        let selection = ReplaySelection::from_fields(delivery, from, to, dead_letter)
            .ok_or_else(|| validation(REPLAY_SELECTION_HELP))?;
        if state
            .webhook_endpoints
            .get(caller.workspace_id, id)
            .await
            .map_err(internal)?
            .is_none()
        {
            return Err(not_found("webhook"));
        }
        let replayed = state
            .webhook_deliveries
            .replay(caller.workspace_id.0, id, &selection)
            .await
            .map_err(internal)?;
        Ok(replayed.min(i32::MAX as u64) as i32)
    }
}

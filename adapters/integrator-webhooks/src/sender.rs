//! The HTTP side of a webhook: one signed POST, its outcome measured. Host names resolve
//! through [`PolicyResolver`], which drops addresses the [`AddressPolicy`] refuses, so the
//! address checked is the address connected to. Redirects are not followed (a redirect could
//! point anywhere).

use crate::address_policy::AddressPolicy;
use crate::signature::{
    signature_header, DELIVERY_ID_HEADER, EVENT_TYPE_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER,
};
use chrono::{DateTime, Utc};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Resolves host names, keeping only the addresses the policy allows.
struct PolicyResolver {
    policy: AddressPolicy,
}

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy;
        let host = name.as_str().to_string();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = resolved
                .iter()
                .copied()
                .filter(|addr| policy.allows(addr.ip()))
                .collect();
            if allowed.is_empty() {
                let refused = resolved
                    .first()
                    .map(|a| a.ip().to_string())
                    .unwrap_or_else(|| "no address".into());
                return Err(
                    format!("{host} resolves to {refused}, which is not a public address").into(),
                );
            }
            let addrs: Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

/// What one POST did.
#[derive(Debug, Clone, PartialEq)]
pub struct SendOutcome {
    pub sent_at: DateTime<Utc>,
    /// The receiver's status, when it answered.
    pub status: Option<u16>,
    pub latency: Duration,
    /// Why it is not a success (no answer, or not 2xx).
    pub error: Option<String>,
}

impl SendOutcome {
    /// Whether the receiver took it (2xx).
    pub fn is_success(&self) -> bool {
        self.error.is_none()
    }
}

/// One signed webhook request.
#[derive(Debug, Clone)]
pub struct SignedRequest<'a> {
    pub url: &'a str,
    pub delivery_id: &'a str,
    pub event_type: &'a str,
    pub body: &'a [u8],
    /// The secrets that sign it (current first).
    pub secrets: &'a [String],
    pub custom_headers: &'a BTreeMap<String, String>,
}

/// Sends webhooks over one connection pool.
#[derive(Clone)]
pub struct WebhookSender {
    client: reqwest::Client,
    policy: AddressPolicy,
}

impl WebhookSender {
    /// A sender under `policy`, giving up on a receiver after `timeout`.
    pub fn new(policy: AddressPolicy, timeout: Duration) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(PolicyResolver { policy }))
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("Parley-Webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { client, policy })
    }

    /// The policy it enforces.
    pub fn policy(&self) -> AddressPolicy {
        self.policy
    }

    /// POSTs the body, signed; never fails, the outcome says what happened.
    pub async fn send(&self, request: &SignedRequest<'_>) -> SendOutcome {
        let sent_at = Utc::now();
        let started = Instant::now();
        let failed = |error: String| SendOutcome {
            sent_at,
            status: None,
            latency: started.elapsed(),
            error: Some(error),
        };
        if let Err(refused) = self.policy.check_url(request.url) {
            return failed(refused.to_string());
        }
        let timestamp = sent_at.timestamp();
        let mut builder = self.client.post(request.url);
        for (name, value) in request.custom_headers {
            builder = builder.header(name, value);
        }
        let builder = builder
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(DELIVERY_ID_HEADER, request.delivery_id)
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header(EVENT_TYPE_HEADER, request.event_type)
            .header(
                SIGNATURE_HEADER,
                signature_header(
                    request.secrets,
                    request.delivery_id,
                    timestamp,
                    request.body,
                ),
            )
            .body(request.body.to_vec());
        match builder.send().await {
            Ok(response) => {
                let status = response.status();
                // Read (a little of) the body so the connection can be reused.
                let _ = tokio::time::timeout(Duration::from_secs(1), response.bytes()).await;
                SendOutcome {
                    sent_at,
                    status: Some(status.as_u16()),
                    latency: started.elapsed(),
                    error: (!status.is_success()).then(|| format!("HTTP {}", status.as_u16())),
                }
            }
            Err(error) => failed(describe(&error)),
        }
    }
}

/// The error and its causes, which say what actually went wrong (refused, timed out, …).
fn describe(error: &reqwest::Error) -> String {
    let mut text = if error.is_timeout() {
        "timed out".to_string()
    } else if error.is_connect() {
        "could not connect".to_string()
    } else {
        "request failed".to_string()
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

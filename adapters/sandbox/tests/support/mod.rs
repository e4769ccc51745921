//! Test support: a local webhook receiver that verifies Meta's signature the way Parley must,
//! helpers to call the Graph endpoints, and a shape comparison against Meta's fixtures.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU16, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use hmac::{Hmac, Mac};
use sandbox::{Faults, Sandbox, SandboxConfig, SandboxHandle, StatusDelays};
use serde_json::{Map, Value};
use sha2::Sha256;

/// The app secret shared by the sandbox and the receiver in tests.
pub const SECRET: &str = "test-app-secret";
/// The phone number id used in tests.
pub const PNID: &str = "106540352242922";

/// One webhook POST as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Received {
    pub raw: Bytes,
    pub body: Value,
    pub signature_valid: bool,
    pub content_type: String,
}

#[derive(Default)]
struct Inner {
    received: Mutex<Vec<Received>>,
    /// Answer this many POSTs with 500 before answering 200.
    fail_next: AtomicU32,
    /// Answer every POST with this status when non-zero.
    always: AtomicU16,
}

/// A stand-in for Parley's `POST /webhook`: verifies `X-Hub-Signature-256` over the raw bytes.
pub struct Receiver {
    pub url: String,
    inner: Arc<Inner>,
}

impl Receiver {
    pub async fn start() -> Self {
        let inner = Arc::new(Inner::default());
        let app = Router::new()
            .route("/webhook", post(receive))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/webhook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, inner }
    }

    /// The next `n` POSTs get a 500.
    pub fn fail_next(&self, n: u32) {
        self.inner.fail_next.store(n, Ordering::SeqCst);
    }

    /// Every POST gets `status`.
    pub fn always_answer(&self, status: u16) {
        self.inner.always.store(status, Ordering::SeqCst);
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.received.lock().unwrap().clone()
    }

    /// Waits until at least `n` POSTs arrived (5 s at most), then returns all of them.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        self.wait_for_within(n, Duration::from_secs(5)).await
    }

    /// Waits until at least `n` POSTs arrived, `timeout` at most, then returns all of them.
    pub async fn wait_for_within(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            let received = self.received();
            if received.len() >= n {
                return received;
            }
            assert!(
                Instant::now() < deadline,
                "expected {n} webhooks, got {}: {:#?}",
                received.len(),
                received.iter().take(6).map(|r| &r.body).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Waits, then checks that exactly `n` POSTs arrived and no more come soon after.
    pub async fn expect_exactly(&self, n: usize) -> Vec<Received> {
        self.wait_for(n).await;
        tokio::time::sleep(Duration::from_millis(150)).await;
        let received = self.received();
        assert_eq!(
            received.len(),
            n,
            "{:#?}",
            received.iter().map(|r| &r.body).collect::<Vec<_>>()
        );
        received
    }
}

async fn receive(State(inner): State<Arc<Inner>>, headers: HeaderMap, raw: Bytes) -> StatusCode {
    let signature_valid = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("sha256="))
        .and_then(|hex_sig| hex::decode(hex_sig).ok())
        .is_some_and(|sig| {
            let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
            mac.update(&raw);
            mac.verify_slice(&sig).is_ok()
        });
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    inner.received.lock().unwrap().push(Received {
        raw,
        body,
        signature_valid,
        content_type,
    });
    if !signature_valid {
        return StatusCode::UNAUTHORIZED;
    }
    let always = inner.always.load(Ordering::SeqCst);
    if always != 0 {
        return StatusCode::from_u16(always).unwrap();
    }
    let failing = inner
        .fail_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if failing {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    }
}

/// A sandbox delivering to `receiver` with short status delays and fast retries.
pub async fn sandbox_for(receiver: &Receiver, faults: Faults) -> SandboxHandle {
    let mut config = SandboxConfig::new(receiver.url.clone(), SECRET);
    config.status_delays = StatusDelays {
        sent: Duration::from_millis(10),
        delivered: Duration::from_millis(20),
        read: Duration::from_millis(30),
    };
    config.faults = faults;
    config.delivery.initial_backoff = Duration::from_millis(10);
    Sandbox::bind("127.0.0.1:0", config).await.unwrap()
}

/// A sandbox with no webhook URL.
pub async fn sandbox_without_webhooks() -> SandboxHandle {
    Sandbox::bind("127.0.0.1:0", SandboxConfig::default())
        .await
        .unwrap()
}

/// POSTs a JSON body to the messages endpoint with a bearer token.
pub async fn send(sandbox: &SandboxHandle, body: &Value) -> (u16, Value) {
    send_with_auth(sandbox, body, Some("Bearer test-token")).await
}

pub async fn send_with_auth(
    sandbox: &SandboxHandle,
    body: &Value,
    authorization: Option<&str>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{}/v23.0/{PNID}/messages", sandbox.base_url()))
        .json(body);
    if let Some(authorization) = authorization {
        request = request.header("authorization", authorization);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// A text send to `to`.
pub fn text_to(to: &str) -> Value {
    serde_json::json!({"messaging_product":"whatsapp","to":to,"type":"text","text":{"body":"hello"}})
}

pub fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/meta/fixtures")
        .join(name)
}

pub fn fixture(name: &str) -> Value {
    let text = std::fs::read_to_string(fixture_path(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The JSON's structure: object keys kept, scalars replaced by their type, arrays by their first item.
pub fn shape(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), shape(v)))
                .collect::<Map<String, Value>>(),
        ),
        Value::Array(items) => Value::Array(items.first().map(shape).into_iter().collect()),
        Value::String(_) => Value::from("string"),
        Value::Number(_) => Value::from("number"),
        Value::Bool(_) => Value::from("bool"),
        Value::Null => Value::from("null"),
    }
}

/// `statuses[0]` of a status webhook.
pub fn status_of(body: &Value) -> &Value {
    &body["entry"][0]["changes"][0]["value"]["statuses"][0]
}

//! Tests: webhooks to integrators. A local receiver that verifies signatures gets every event
//! of the workspace, signed, in order per conversation, through outages (retries), into the
//! dead letter when it stays down and out of it on replay; endpoints are scoped to their
//! workspace, pause when they fail too long, and refuse private addresses. Also the seed's
//! `POST /api/v2/external/webhook/test` and the event stream.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use integrator_webhooks::signature;
use parley_tests::{test_delivery_policy, TestApp};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const CUSTOMER_WA_ID: &str = "14155550142";

/// One request the receiver got.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) delivery_id: String,
    pub(crate) timestamp: i64,
    pub(crate) signature: String,
    pub(crate) event_type: String,
    pub(crate) custom: Option<String>,
    pub(crate) body: Bytes,
    pub(crate) answered: u16,
}

impl Received {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A local HTTP receiver that answers with a status the test sets, after a delay it sets.
#[derive(Clone)]
pub(crate) struct Receiver {
    pub(crate) url: String,
    status: Arc<AtomicU16>,
    delay_ms: Arc<AtomicU64>,
    requests: Arc<Mutex<Vec<Received>>>,
}

async fn receive(State(receiver): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let delay = receiver.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let answered = receiver.status.load(Ordering::SeqCst);
    receiver.requests.lock().unwrap().push(Received {
        delivery_id: header(signature::DELIVERY_ID_HEADER),
        timestamp: header(signature::TIMESTAMP_HEADER).parse().unwrap_or(0),
        signature: header(signature::SIGNATURE_HEADER),
        event_type: header(signature::EVENT_TYPE_HEADER),
        custom: headers
            .get("x-custom")
            .map(|v| v.to_str().unwrap().to_string()),
        body,
        answered,
    });
    StatusCode::from_u16(answered).unwrap()
}

impl Receiver {
    pub(crate) async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let receiver = Receiver {
            url: format!("http://{}/hooks", listener.local_addr().unwrap()),
            status: Arc::new(AtomicU16::new(200)),
            delay_ms: Arc::new(AtomicU64::new(0)),
            requests: Arc::new(Mutex::new(Vec::new())),
        };
        let router = Router::new()
            .route("/hooks", post(receive))
            .with_state(receiver.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        receiver
    }

    pub(crate) fn answer(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    /// Answers only after `delay` (requests stay in flight meanwhile).
    pub(crate) fn delay(&self, delay: Duration) {
        self.delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    pub(crate) fn requests(&self) -> Vec<Received> {
        self.requests.lock().unwrap().clone()
    }

    /// The requests it accepted (2xx), in arrival order.
    pub(crate) fn accepted(&self) -> Vec<Received> {
        self.requests()
            .into_iter()
            .filter(|r| (200..300).contains(&r.answered))
            .collect()
    }

    /// Waits until it has accepted `count` requests.
    async fn wait_for_accepted(&self, count: usize) -> Vec<Received> {
        for _ in 0..400 {
            let accepted = self.accepted();
            if accepted.len() >= count {
                return accepted;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "{count} accepted deliveries expected, got {:?}",
            self.accepted()
                .iter()
                .map(|r| &r.event_type)
                .collect::<Vec<_>>()
        );
    }
}

async fn register(app: &TestApp, body: Value) -> (Value, String) {
    let (status, answer) = app
        .send(
            app.request(Method::POST, "/api/v2/external/webhooks")
                .json(&body),
        )
        .await;
    assert_eq!(status, 201, "{answer}");
    let secret = answer["data"]["signingSecret"]
        .as_str()
        .unwrap()
        .to_string();
    (answer["data"]["webhook"].clone(), secret)
}

/// A customer writes in: `conversation.created` and `message.received`.
async fn customer_writes(app: &TestApp, customer: &str, body: &str) {
    let outcome = app
        .sandbox
        .state()
        .deliver_inbound(sandbox::InboundRequest::text(
            app.workspace.meta_phone_number_id.clone(),
            customer,
            body,
        ))
        .await
        .unwrap();
    assert!(outcome.delivered, "{outcome:?}");
}

async fn wait_until(what: &str, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..400 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting until {what}");
}

pub(crate) fn assert_signed(received: &Received, secret: &str) {
    assert!(
        signature::verify(
            secret,
            &received.delivery_id,
            received.timestamp,
            &received.body,
            &received.signature
        ),
        "signature {} does not verify",
        received.signature
    );
    let age = chrono::Utc::now().timestamp() - received.timestamp;
    assert!(
        (0..60).contains(&age),
        "timestamp {} is {age} s old",
        received.timestamp
    );
}

#[tokio::test]
async fn a_registered_endpoint_receives_every_event_signed_and_in_order_per_conversation() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let (endpoint, secret) = register(
        &app,
        json!({
            "url": receiver.url,
            "description": "CRM sync",
            "events": ["conversation.created", "message.received"],
            "headers": { "X-Custom": "crm-42" },
        }),
    )
    .await;
    assert!(secret.starts_with("whsec_"));
    assert_eq!(endpoint["status"], "active");

    // The secret is shown once: neither the endpoint nor the list carries it.
    let path = format!(
        "/api/v2/external/webhooks/{}",
        endpoint["id"].as_str().unwrap()
    );
    let (status, shown) = app.send(app.request(Method::GET, &path)).await;
    assert_eq!(status, 200, "{shown}");
    assert!(!shown.to_string().contains(&secret));
    let (_, list) = app
        .send(app.request(Method::GET, "/api/v2/external/webhooks"))
        .await;
    assert!(!list.to_string().contains(&secret));
    assert_eq!(list["data"]["webhooks"].as_array().unwrap().len(), 1);

    for n in 0..3 {
        customer_writes(&app, CUSTOMER_WA_ID, &format!("message {n}")).await;
    }
    customer_writes(&app, "14155550143", "another customer").await;
    // 2 conversations created + 4 messages received.
    let accepted = receiver.wait_for_accepted(6).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        receiver.accepted().len(),
        6,
        "no more than one delivery each"
    );

    let mut ids = HashSet::new();
    for received in &accepted {
        assert_signed(received, &secret);
        assert!(
            ids.insert(received.delivery_id.clone()),
            "delivery ids are unique"
        );
        assert_eq!(received.custom.as_deref(), Some("crm-42"));
        let event = received.json();
        assert_eq!(event["event"], received.event_type);
        assert_eq!(event["version"], "2.0.0");
        assert_eq!(event["workspace_id"], json!(app.workspace.id.0));
        assert_eq!(
            event["whatsapp_account_id"],
            json!(app.workspace.phone_number)
        );
    }
    let first_customer: Vec<Value> = accepted
        .iter()
        .map(Received::json)
        .filter(|e| {
            e["data"]["from"] == CUSTOMER_WA_ID || e["data"]["customer_wa_id"] == CUSTOMER_WA_ID
        })
        .collect();
    let kinds: Vec<&str> = first_customer
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "conversation.created",
            "message.received",
            "message.received",
            "message.received"
        ]
    );
    let texts: Vec<&Value> = first_customer[1..]
        .iter()
        .map(|e| &e["data"]["content"]["body"])
        .collect();
    assert_eq!(
        texts,
        [
            &json!("message 0"),
            &json!("message 1"),
            &json!("message 2")
        ]
    );
}

#[tokio::test]
async fn an_outage_is_retried_with_the_same_delivery_id_and_order_is_kept() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let (endpoint, secret) = register(&app, json!({ "url": receiver.url })).await;
    receiver.answer(503);
    for n in 0..3 {
        customer_writes(&app, CUSTOMER_WA_ID, &format!("during outage {n}")).await;
    }
    // A few failed attempts, all for the conversation's first event: the rest wait behind it.
    wait_until("the receiver has refused three attempts", async || {
        receiver.requests().len() >= 3
    })
    .await;
    let refused = receiver.requests();
    let first_id = &refused[0].delivery_id;
    assert!(
        refused.iter().all(|r| &r.delivery_id == first_id),
        "{refused:?}"
    );
    receiver.answer(200);

    let accepted = receiver.wait_for_accepted(4).await;
    assert_eq!(
        &accepted[0].delivery_id, first_id,
        "the same id on every attempt"
    );
    let kinds: Vec<&str> = accepted.iter().map(|r| r.event_type.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "conversation.created",
            "message.received",
            "message.received",
            "message.received"
        ]
    );
    for received in &accepted {
        assert_signed(received, &secret);
    }

    let base = format!(
        "/api/v2/external/webhooks/{}",
        endpoint["id"].as_str().unwrap()
    );
    // The delivery log shows the failed attempts, then the success (recorded just after the
    // receiver's answer).
    let recorded = format!("{base}/deliveries");
    wait_until("every delivery is recorded", async || {
        let (_, page) = app.send(app.request(Method::GET, &recorded)).await;
        page["data"]["counts"]["delivered"] == 4
    })
    .await;
    let (status, log) = app
        .send(app.request(Method::GET, &format!("{base}/deliveries/{first_id}")))
        .await;
    assert_eq!(status, 200, "{log}");
    let delivery = &log["data"]["delivery"];
    assert_eq!(delivery["status"], "delivered");
    let attempts = delivery["attemptLog"].as_array().unwrap();
    assert!(attempts.len() >= 4, "{attempts:?}");
    assert!(attempts[..attempts.len() - 1]
        .iter()
        .all(|a| a["statusCode"] == 503 && a["error"] == "HTTP 503"));
    assert_eq!(attempts.last().unwrap()["statusCode"], 200);
    assert!(attempts
        .iter()
        .all(|a| a["latencyMs"].as_f64().unwrap() >= 0.0));

    let (_, page) = app
        .send(app.request(
            Method::GET,
            &format!("{base}/deliveries?status=delivered&limit=2"),
        ))
        .await;
    assert_eq!(page["data"]["deliveries"].as_array().unwrap().len(), 2);
    assert_eq!(page["meta"]["hasMore"], true);
    assert_eq!(page["data"]["counts"]["delivered"], 4);
    let cursor = page["meta"]["nextCursor"].as_str().unwrap();
    let (_, rest) = app
        .send(app.request(
            Method::GET,
            &format!("{base}/deliveries?status=delivered&limit=2&cursor={cursor}"),
        ))
        .await;
    assert_eq!(rest["data"]["deliveries"].as_array().unwrap().len(), 2);
    assert_eq!(rest["meta"]["hasMore"], false);
}

#[tokio::test]
async fn dead_letters_fill_while_the_receiver_stays_down_and_drain_on_replay() {
    let policy = integrator_webhooks::DeliveryPolicy {
        give_up_after: Duration::from_millis(600),
        ..test_delivery_policy()
    };
    let app = TestApp::spawn_with_delivery_policy(Duration::from_secs(5), policy).await;
    let receiver = Receiver::start().await;
    let (endpoint, secret) = register(&app, json!({ "url": receiver.url })).await;
    receiver.answer(500);
    customer_writes(&app, CUSTOMER_WA_ID, "hello").await;
    customer_writes(&app, "14155550143", "hi").await;

    let base = format!(
        "/api/v2/external/webhooks/{}",
        endpoint["id"].as_str().unwrap()
    );
    let dead_path = format!("{base}/deliveries?status=dead");
    wait_until("four deliveries are dead", async || {
        let (_, dead) = app.send(app.request(Method::GET, &dead_path)).await;
        dead["data"]["deliveries"].as_array().unwrap().len() == 4
    })
    .await;
    let (_, dead) = app.send(app.request(Method::GET, &dead_path)).await;
    let dead_ids: HashSet<String> = dead["data"]["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_string())
        .collect();
    assert!(receiver.accepted().is_empty());

    receiver.answer(200);
    let (status, replayed) = app
        .send(
            app.request(Method::POST, &format!("{base}/replay"))
                .json(&json!({ "deadLetter": true })),
        )
        .await;
    assert_eq!(status, 200, "{replayed}");
    assert_eq!(replayed["data"]["replayed"], 4);
    let accepted = receiver.wait_for_accepted(4).await;
    let accepted_ids: HashSet<String> = accepted.iter().map(|r| r.delivery_id.clone()).collect();
    assert_eq!(accepted_ids, dead_ids, "replays keep their delivery ids");
    for received in &accepted {
        assert_signed(received, &secret);
    }
    let (_, empty) = app.send(app.request(Method::GET, &dead_path)).await;
    assert!(empty["data"]["deliveries"].as_array().unwrap().is_empty());

    // One delivery can be replayed again on its own; the time-range form takes them all.
    let one = accepted[0].delivery_id.clone();
    let (status, _) = app
        .send(
            app.request(Method::POST, &format!("{base}/replay"))
                .json(&json!({ "deliveryId": one })),
        )
        .await;
    assert_eq!(status, 200);
    receiver.wait_for_accepted(5).await;
    // The receiver's answer is recorded just after it: a delivery in flight is not replayed.
    let all_path = format!("{base}/deliveries");
    wait_until("every delivery is recorded as delivered", async || {
        let (_, page) = app.send(app.request(Method::GET, &all_path)).await;
        page["data"]["counts"]["delivered"] == 4
    })
    .await;
    let (status, ranged) = app
        .send(
            app.request(Method::POST, &format!("{base}/replay"))
                .json(&json!({
                    "from": "2020-01-01T00:00:00Z", "to": "2100-01-01T00:00:00Z"
                })),
        )
        .await;
    assert_eq!(status, 200, "{ranged}");
    assert_eq!(ranged["data"]["replayed"], 4);
    receiver.wait_for_accepted(9).await;
    let (status, bad) = app
        .send(
            app.request(Method::POST, &format!("{base}/replay"))
                .json(&json!({ "deadLetter": true, "deliveryId": one })),
        )
        .await;
    assert_eq!(status, 400, "{bad}");
}

#[tokio::test]
async fn an_endpoint_failing_too_long_is_paused_and_resumes_where_it_stopped() {
    let policy = integrator_webhooks::DeliveryPolicy {
        pause_after: Duration::from_millis(500),
        ..test_delivery_policy()
    };
    let app = TestApp::spawn_with_delivery_policy(Duration::from_secs(5), policy).await;
    let receiver = Receiver::start().await;
    let (endpoint, _) = register(&app, json!({ "url": receiver.url })).await;
    let path = format!(
        "/api/v2/external/webhooks/{}",
        endpoint["id"].as_str().unwrap()
    );
    receiver.answer(500);
    customer_writes(&app, CUSTOMER_WA_ID, "hello").await;
    wait_until("the endpoint is paused", async || {
        let (_, shown) = app.send(app.request(Method::GET, &path)).await;
        shown["data"]["webhook"]["status"] == "paused"
    })
    .await;
    let (_, shown) = app.send(app.request(Method::GET, &path)).await;
    assert!(shown["data"]["webhook"]["pausedReason"]
        .as_str()
        .unwrap()
        .contains("failed since"));
    // Paused: no more attempts.
    let attempts = receiver.requests().len();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(receiver.requests().len(), attempts);

    receiver.answer(200);
    let (status, resumed) = app
        .send(app.request(Method::POST, &format!("{path}/resume")))
        .await;
    assert_eq!(status, 200, "{resumed}");
    assert_eq!(resumed["data"]["webhook"]["status"], "active");
    let accepted = receiver.wait_for_accepted(2).await;
    assert_eq!(accepted[0].event_type, "conversation.created");
    assert_eq!(accepted[1].event_type, "message.received");
}

#[tokio::test]
async fn during_a_secret_rotation_both_secrets_sign() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let (endpoint, old) = register(&app, json!({ "url": receiver.url })).await;
    let path = format!(
        "/api/v2/external/webhooks/{}",
        endpoint["id"].as_str().unwrap()
    );
    let (status, rotated) = app
        .send(app.request(Method::POST, &format!("{path}/rotate-secret")))
        .await;
    assert_eq!(status, 200, "{rotated}");
    let new = rotated["data"]["signingSecret"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(new, old);
    assert!(rotated["data"]["webhook"]["previousSecretExpiresAt"].is_string());
    customer_writes(&app, CUSTOMER_WA_ID, "hello").await;
    let accepted = receiver.wait_for_accepted(1).await;
    assert_eq!(accepted[0].signature.split(' ').count(), 2);
    assert_signed(&accepted[0], &old);
    assert_signed(&accepted[0], &new);

    // With no overlap, only the new secret signs.
    let (_, again) = app
        .send(
            app.request(Method::POST, &format!("{path}/rotate-secret"))
                .json(&json!({ "overlapSeconds": 0 })),
        )
        .await;
    let newest = again["data"]["signingSecret"].as_str().unwrap().to_string();
    customer_writes(&app, CUSTOMER_WA_ID, "again").await;
    let accepted = receiver.wait_for_accepted(3).await;
    let last = accepted.last().unwrap();
    assert_signed(last, &newest);
    assert!(!signature::verify(
        &new,
        &last.delivery_id,
        last.timestamp,
        &last.body,
        &last.signature
    ));
}

#[tokio::test]
async fn endpoints_are_validated_and_scoped_to_their_workspace() {
    let app = TestApp::spawn().await;
    for (body, needle) in [
        (
            json!({ "url": "http://169.254.169.254/latest/meta-data" }),
            "not a public address",
        ),
        (
            json!({ "url": "http://10.0.0.8/hooks" }),
            "not a public address",
        ),
        (json!({ "url": "ftp://example.com/x" }), "http and https"),
        (
            json!({ "url": "https://example.com/x", "events": ["message.sent"] }),
            "unknown event type",
        ),
        (
            json!({ "url": "https://example.com/x", "headers": { "Parley-Signature": "x" } }),
            "set by Parley",
        ),
        (
            json!({ "url": "https://example.com/x", "headers": { "bad header": "x" } }),
            "valid header name",
        ),
        (json!({ "url": 42 }), ""),
    ] {
        let (status, answer) = app
            .send(
                app.request(Method::POST, "/api/v2/external/webhooks")
                    .json(&body),
            )
            .await;
        assert_eq!(status, 400, "{body} -> {answer}");
        assert_eq!(answer["success"], false);
        assert!(
            answer["error"]["message"]
                .as_str()
                .unwrap()
                .contains(needle),
            "{answer}"
        );
    }
    let (endpoint, _) = register(&app, json!({ "url": "https://example.com/hooks" })).await;
    let path = format!(
        "/api/v2/external/webhooks/{}",
        endpoint["id"].as_str().unwrap()
    );

    let other = app.another_workspace().await;
    for method in [Method::GET, Method::DELETE] {
        let (status, _) = app.send(app.request_as(&other, method, &path)).await;
        assert_eq!(status, 404);
    }
    let (_, list) = app
        .send(app.request_as(&other, Method::GET, "/api/v2/external/webhooks"))
        .await;
    assert!(list["data"]["webhooks"].as_array().unwrap().is_empty());

    let (status, changed) = app
        .send(app.request(Method::PATCH, &path).json(&json!({
            "events": ["message.status"], "active": false, "description": "paused for now"
        })))
        .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["data"]["webhook"]["status"], "disabled");
    assert_eq!(
        changed["data"]["webhook"]["events"],
        json!(["message.status"])
    );
    let (status, _) = app.send(app.request(Method::DELETE, &path)).await;
    assert_eq!(status, 200);
    let (status, _) = app.send(app.request(Method::GET, &path)).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn the_webhook_test_sends_a_signed_sample_and_reports_the_answer() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let (status, answer) = app
        .send(
            app.request(Method::POST, "/api/v2/external/webhook/test")
                .json(&json!({ "webhookUrl": receiver.url, "eventType": "message.status" })),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let data = &answer["data"];
    assert_eq!(answer["success"], true);
    assert_eq!(data["webhookUrl"], json!(receiver.url));
    assert_eq!(data["eventType"], "message.status");
    assert_eq!(data["responseStatus"], 200);
    assert!(data["responseTime"].as_f64().unwrap() >= 0.0);
    let received = &receiver.requests()[0];
    assert_eq!(received.json()["event"], "message.status");
    assert_eq!(received.json()["test"], true);
    // Not registered: signed with a one-off secret the answer shows.
    assert_signed(received, data["signingSecret"].as_str().unwrap());

    // Registered: signed with the endpoint's secret, which the answer does not show.
    let (_, secret) = register(&app, json!({ "url": receiver.url })).await;
    receiver.answer(418);
    let (_, answer) = app
        .send(
            app.request(Method::POST, "/api/v2/external/webhook/test")
                .json(&json!({ "webhookUrl": receiver.url })),
        )
        .await;
    assert_eq!(answer["data"]["responseStatus"], 418);
    assert_eq!(answer["data"]["eventType"], "message.received");
    assert!(answer["data"].get("signingSecret").is_none());
    assert_signed(&receiver.requests()[1], &secret);

    for body in [
        json!({ "webhookUrl": "http://169.254.169.254/" }),
        json!({ "webhookUrl": "not a url" }),
    ] {
        let (status, answer) = app
            .send(
                app.request(Method::POST, "/api/v2/external/webhook/test")
                    .json(&body),
            )
            .await;
        assert_eq!(status, 400, "{answer}");
        assert_eq!(answer["error"]["code"], "INVALID_WEBHOOK_URL");
    }
    let (status, answer) = app
        .send(
            app.request(Method::POST, "/api/v2/external/webhook/test")
                .json(&json!({ "webhookUrl": receiver.url, "eventType": null })),
        )
        .await;
    assert_eq!(
        (status, &answer["error"]["code"]),
        (400, &json!("VALIDATION_ERROR"))
    );
    // No body at all: 400 (the spec's code for it), not 415.
    let (status, answer) = app
        .send(app.request(Method::POST, "/api/v2/external/webhook/test"))
        .await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer["error"]["message"]
        .as_str()
        .unwrap()
        .contains("JSON request body is required"));
}

#[tokio::test]
async fn the_event_stream_continues_from_a_cursor_and_long_polls() {
    let app = TestApp::spawn().await;
    customer_writes(&app, CUSTOMER_WA_ID, "one").await;
    customer_writes(&app, CUSTOMER_WA_ID, "two").await;
    let mut events = Vec::new();
    wait_until("three events are in the stream", async || {
        let (_, page) = app
            .send(app.request(Method::GET, "/api/v2/external/events"))
            .await;
        events = page["data"]["events"].as_array().unwrap().clone();
        events.len() == 3
    })
    .await;
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "conversation.created",
            "message.received",
            "message.received"
        ]
    );

    let (_, first) = app
        .send(app.request(Method::GET, "/api/v2/external/events?limit=2"))
        .await;
    assert_eq!(first["data"]["events"].as_array().unwrap().len(), 2);
    assert_eq!(first["meta"]["hasMore"], true);
    let cursor = first["meta"]["nextCursor"].as_str().unwrap().to_string();
    let (_, rest) = app
        .send(app.request(
            Method::GET,
            &format!("/api/v2/external/events?after={cursor}"),
        ))
        .await;
    assert_eq!(rest["data"]["events"], json!([events[2]]));
    let end = rest["meta"]["nextCursor"].as_str().unwrap().to_string();

    // Long poll: held until the next event arrives.
    let waiting = {
        let request = app.request(
            Method::GET,
            &format!("/api/v2/external/events?after={end}&wait=10"),
        );
        tokio::spawn(async move { request.send().await.unwrap().json::<Value>().await.unwrap() })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "an empty long poll waits");
    customer_writes(&app, CUSTOMER_WA_ID, "three").await;
    let answer = tokio::time::timeout(Duration::from_secs(8), waiting)
        .await
        .expect("the long poll answers when an event arrives")
        .unwrap();
    assert_eq!(
        answer["data"]["events"][0]["data"]["content"]["body"],
        "three"
    );

    // Another workspace sees none of it.
    let other = app.another_workspace().await;
    let (_, theirs) = app
        .send(app.request_as(&other, Method::GET, "/api/v2/external/events"))
        .await;
    assert!(theirs["data"]["events"].as_array().unwrap().is_empty());
    let (status, _) = app
        .send(app.request(Method::GET, "/api/v2/external/events?after=abc"))
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn dashboards_manage_endpoints_and_read_the_delivery_log_over_graphql() {
    use crate::graphql::{code, data, gql, gql_as};
    let app = TestApp::spawn().await;
    let receiver = Receiver::start().await;
    let created = data(
        gql(
            &app,
            "mutation($url: String!) { createWebhookEndpoint(input: { url: $url, \
               events: [\"message.received\"], headers: [{ name: \"X-Custom\", value: \"gql\" }] }) \
               { signingSecret endpoint { id status events headers { name value } } } }",
            json!({ "url": receiver.url }),
        )
        .await,
    );
    let issued = &created["createWebhookEndpoint"];
    let secret = issued["signingSecret"].as_str().unwrap().to_string();
    let id = issued["endpoint"]["id"].as_str().unwrap().to_string();
    assert_eq!(issued["endpoint"]["status"], "active");
    assert_eq!(
        issued["endpoint"]["headers"],
        json!([{ "name": "x-custom", "value": "gql" }])
    );

    customer_writes(&app, CUSTOMER_WA_ID, "over graphql").await;
    let accepted = receiver.wait_for_accepted(1).await;
    assert_signed(&accepted[0], &secret);
    assert_eq!(accepted[0].custom.as_deref(), Some("gql"));
    // The receiver's answer is recorded just after it arrives.
    wait_until("the delivery is recorded", async || {
        let (_, page) = app
            .send(app.request(
                Method::GET,
                &format!("/api/v2/external/webhooks/{id}/deliveries?status=delivered"),
            ))
            .await;
        page["data"]["counts"]["delivered"] == 1
    })
    .await;

    let log = data(
        gql(
            &app,
            "query($id: ID!) { webhookEndpoint(id: $id) { deliveries { id eventType status \
               attempts attemptLog { attempt statusCode error } } } }",
            json!({ "id": id }),
        )
        .await,
    );
    let deliveries = log["webhookEndpoint"]["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 1, "only message.received is wanted");
    assert_eq!(deliveries[0]["id"], json!(accepted[0].delivery_id));
    assert_eq!(deliveries[0]["status"], "delivered");
    assert_eq!(deliveries[0]["attemptLog"][0]["statusCode"], 200);

    let replayed = data(
        gql(
            &app,
            "mutation($id: ID!, $delivery: ID!) { replayWebhookDeliveries(id: $id, deliveryId: $delivery) }",
            json!({ "id": id, "delivery": accepted[0].delivery_id }),
        )
        .await,
    );
    assert_eq!(replayed["replayWebhookDeliveries"], 1);
    let again = receiver.wait_for_accepted(2).await;
    assert_eq!(again[1].delivery_id, accepted[0].delivery_id);

    let refused = gql(
        &app,
        "mutation { createWebhookEndpoint(input: { url: \"http://10.1.1.1/x\" }) { signingSecret } }",
        json!({}),
    )
    .await;
    assert_eq!(code(&refused), "VALIDATION_ERROR");
    let other = app.another_workspace().await;
    let hidden = gql_as(
        &app,
        &other,
        "query($id: ID!) { webhookEndpoint(id: $id) { id } }",
        json!({ "id": id }),
    )
    .await;
    assert_eq!(code(&hidden), "NOT_FOUND");
    let theirs = data(gql_as(&app, &other, "{ webhookEndpoints { id } }", json!({})).await);
    assert_eq!(theirs["webhookEndpoints"], json!([]));
    let deleted = data(
        gql(
            &app,
            "mutation($id: ID!) { deleteWebhookEndpoint(id: $id) }",
            json!({ "id": id }),
        )
        .await,
    );
    assert_eq!(deleted["deleteWebhookEndpoint"], true);
}

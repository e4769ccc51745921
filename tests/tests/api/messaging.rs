//! Tests: the messaging engine end to end — the conversation's rules, the outbox sending to the
//! Meta sandbox, and Meta's signed webhooks coming back.

use application::{AppError, ErrorCode, OutboundMessage, PhoneNumberRef, RequestContext};
use domain::conversation::{conversation_id, MessageId, OutboundContent};
use parley_tests::{TestApp, META_APP_SECRET, META_VERIFY_TOKEN};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;
use uuid::Uuid;

const CUSTOMER: &str = "+14155550142";
const CUSTOMER_WA_ID: &str = "14155550142";

fn context(app: &TestApp) -> RequestContext {
    RequestContext::cli(app.workspace.id)
}

fn text(body: &str) -> OutboundContent {
    serde_json::from_value(json!({"type": "text", "text": {"body": body}})).unwrap()
}

fn template(name: &str) -> OutboundContent {
    serde_json::from_value(json!({"type": "template", "template": {
        "name": name, "language": {"code": "en_US"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "Ana"}]}]
    }}))
    .unwrap()
}

async fn send(app: &TestApp, content: OutboundContent) -> Result<MessageId, AppError> {
    app.app
        .send_message(
            &context(app),
            OutboundMessage {
                phone_number: PhoneNumberRef::Id(app.workspace.phone_number),
                to: CUSTOMER.into(),
                content,
                reply_to: None,
            },
        )
        .await
        .map(|queued| queued.message_id)
}

/// The event types of the test customer's conversation, in order.
async fn conversation_events(app: &TestApp) -> Vec<String> {
    let db = app.db().await;
    let id = conversation_id(app.workspace.phone_number, CUSTOMER_WA_ID);
    projections::log::events_of(&db, "conversation", &id.to_string())
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event_type)
        .collect()
}

/// Waits until the conversation has `count` events of type `event_type`.
async fn wait_for_event(app: &TestApp, event_type: &str, count: usize) -> Vec<String> {
    for _ in 0..200 {
        let events = conversation_events(app).await;
        if events.iter().filter(|e| *e == event_type).count() >= count {
            return events;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!(
        "no {count}x {event_type} in time: {:?}",
        conversation_events(app).await
    );
}

async fn inbound_text(app: &TestApp, body: &str) -> String {
    let outcome = app
        .sandbox
        .state()
        .deliver_inbound(sandbox::InboundRequest::text(
            app.workspace.meta_phone_number_id.clone(),
            CUSTOMER_WA_ID,
            body,
        ))
        .await
        .unwrap();
    assert!(outcome.delivered, "{outcome:?}");
    outcome.wamid
}

#[tokio::test]
async fn free_text_outside_the_window_is_refused_before_meta_sees_it() {
    let app = TestApp::spawn().await;
    let error = send(&app, text("hello")).await.unwrap_err();
    assert_eq!(error.code(), ErrorCode::WindowClosed, "{error}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(app.sandbox.state().messages().messages.is_empty());
    assert!(conversation_events(&app).await.is_empty());
}

#[tokio::test]
async fn a_template_goes_from_queued_to_read_with_our_id_in_the_callback_data() {
    let app = TestApp::spawn().await;
    app.approved_template("order_update", "Your order {{1}} is ready")
        .await;
    let message_id = send(&app, template("order_update")).await.unwrap();
    let events = wait_for_event(&app, "MessageRead", 1).await;
    assert_eq!(
        events,
        vec![
            "ConversationStarted",
            "MessageQueued",
            "MessageAcceptedByMeta",
            "MessageDelivered",
            "MessageRead"
        ]
    );
    let sent = app.sandbox.state().messages().messages;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].kind, "template");
    assert_eq!(sent[0].wa_id, CUSTOMER_WA_ID);
    assert_eq!(
        sent[0].biz_opaque_callback_data.as_deref(),
        Some(message_id.0.to_string().as_str())
    );
    assert_eq!(sent[0].body["template"]["name"], "order_update");
}

#[tokio::test]
async fn an_inbound_message_opens_the_window_for_free_text_and_mark_read_reaches_meta() {
    let app = TestApp::spawn().await;
    app.approved_template("order_update", "Your order {{1}} is ready")
        .await;
    let inbound = inbound_text(&app, "Hi, is my order shipped?").await;
    wait_for_event(&app, "InboundMessageReceived", 1).await;
    send(&app, text("Yes, it left this morning."))
        .await
        .unwrap();
    wait_for_event(&app, "MessageRead", 1).await;
    let conversation = conversation_id(app.workspace.phone_number, CUSTOMER_WA_ID);
    app.app
        .mark_conversation_read(&context(&app), conversation)
        .await
        .unwrap();
    for _ in 0..200 {
        if !app.sandbox.state().messages().reads.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let reads = app.sandbox.state().messages().reads;
    assert_eq!(reads.len(), 1, "{reads:?}");
    assert_eq!(reads[0].message_id, inbound);
}

#[tokio::test]
async fn a_redelivered_inbound_webhook_changes_nothing() {
    let app = TestApp::spawn().await;
    app.sandbox
        .state()
        .update_config(&json!({"duplicate_webhooks": true}))
        .unwrap();
    inbound_text(&app, "hello twice").await;
    wait_for_event(&app, "InboundMessageReceived", 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let events = conversation_events(&app).await;
    assert_eq!(
        events,
        vec!["ConversationStarted", "InboundMessageReceived"]
    );
}

#[tokio::test]
async fn permanent_failures_are_recorded_with_meta_s_code_and_not_retried() {
    let app = TestApp::spawn().await;
    app.approved_template("order_update", "Your order {{1}} is ready")
        .await;
    app.sandbox
        .state()
        .update_config(&json!({"fail_recipients": {CUSTOMER_WA_ID: 131026}}))
        .unwrap();
    send(&app, template("order_update")).await.unwrap();
    wait_for_event(&app, "MessageFailed", 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.sandbox.state().rejections().len(), 1);
    let db = app.db().await;
    let id = conversation_id(app.workspace.phone_number, CUSTOMER_WA_ID);
    let events = projections::log::events_of(&db, "conversation", &id.to_string())
        .await
        .unwrap();
    let failed: Value = serde_json::from_str(&events.last().unwrap().payload_json).unwrap();
    assert_eq!(
        failed["MessageFailed"]["failure"]["code"], 131026,
        "{failed}"
    );
}

#[tokio::test]
async fn throughput_errors_are_retried_until_meta_accepts() {
    let app = TestApp::spawn().await;
    for name in ["first", "second", "third"] {
        app.approved_template(name, "Hello {{1}}").await;
    }
    app.sandbox
        .state()
        .update_config(&json!({"throughput_limit_mps": 1}))
        .unwrap();
    for name in ["first", "second", "third"] {
        send(&app, template(name)).await.unwrap();
    }
    wait_for_event(&app, "MessageAcceptedByMeta", 3).await;
    assert_eq!(app.sandbox.state().messages().messages.len(), 3);
}

#[tokio::test]
async fn webhook_deliveries_need_a_valid_signature() {
    let app = TestApp::spawn().await;
    let body = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/meta/fixtures/webhook_status_delivered.json"
    ))
    .unwrap();
    for signature in [None, Some("sha256=00"), Some("nonsense")] {
        let mut request = app
            .http
            .post(format!("{}/webhook", app.base_url))
            .header("content-type", "application/json")
            .body(body.clone());
        if let Some(signature) = signature {
            request = request.header("x-hub-signature-256", signature);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "{signature:?}");
    }
    let db = app.db().await;
    let stored: i64 = db
        .query_one("SELECT count(*) FROM meta_webhook_deliveries", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, 0);

    let signed = meta::sign(META_APP_SECRET.as_bytes(), &body);
    let response = app
        .http
        .post(format!("{}/webhook", app.base_url))
        .header("x-hub-signature-256", signed)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn the_webhook_handshake_echoes_the_challenge_only_for_the_right_token() {
    let app = TestApp::spawn().await;
    let url = |token: &str| {
        format!("/webhook?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=1158201444")
    };
    let response = app
        .http
        .get(format!("{}{}", app.base_url, url(META_VERIFY_TOKEN)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "1158201444");
    let (status, _) = app.send(app.request(Method::GET, &url("wrong"))).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn statuses_that_overtake_the_send_answer_are_held_and_applied() {
    let app = TestApp::spawn().await;
    app.approved_template("order_update", "Your order {{1}} is ready")
        .await;
    // Meta answers the send slowly and delivers its statuses in reverse order: read, delivered
    // and sent can all arrive before the outbox has recorded the acceptance.
    app.sandbox
        .state()
        .update_config(&json!({
            "response_delay_ms": 300,
            "out_of_order_statuses": true,
            "status_delays": {"sent_ms": 0, "delivered_ms": 10, "read_ms": 20}
        }))
        .unwrap();
    send(&app, template("order_update")).await.unwrap();
    let events = wait_for_event(&app, "MessageRead", 1).await;
    assert!(
        events.contains(&"MessageAcceptedByMeta".to_string()),
        "{events:?}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = conversation_events(&app).await;
    // Nothing after the read: the late delivered/sent reports change nothing.
    let read_at = after.iter().position(|e| e == "MessageRead").unwrap();
    assert!(
        after[read_at + 1..]
            .iter()
            .all(|e| e == "DeliveryStatusHeld"),
        "{after:?}"
    );
    let db = app.db().await;
    let status: String = db
        .query_one(
            "SELECT status FROM messages WHERE direction = 'outbound'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(status, "read");
}

#[tokio::test]
async fn the_outbox_paces_a_number_below_meta_s_throughput_limit() {
    let app = TestApp::spawn().await;
    app.approved_template("pacing", "Pacing {{1}}").await;
    let queue = store::outbox::PgOutboxQueue::new(
        app.app.infra.pools.queries.clone(),
        store::outbox::PacingConfig::default(),
        app.app.infra.watch.clone(),
    );
    queue
        .set_throughput(app.workspace.phone_number, 10)
        .await
        .unwrap();
    app.sandbox
        .state()
        .update_config(&json!({"throughput_limit_mps": 10}))
        .unwrap();
    let mut sends = Vec::new();
    for n in 0..25 {
        let context = context(&app);
        let message = template_to(app.workspace.phone_number, n);
        let application = app.app.clone();
        sends.push(tokio::spawn(async move {
            application.send_message(&context, message).await.unwrap()
        }));
    }
    for send in sends {
        send.await.unwrap();
    }
    for _ in 0..400 {
        if app.sandbox.state().messages().messages.len() == 25 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let stats = app.sandbox.state().stats();
    assert_eq!(app.sandbox.state().messages().messages.len(), 25);
    assert_eq!(stats.rejected_total, 0, "{stats:?}");
    assert!(stats.max_accepted_in_any_second <= 10, "{stats:?}");
}

#[tokio::test]
async fn an_outbox_worker_holds_no_more_jobs_than_its_bound() {
    const MAX_HELD: usize = 3;
    const MESSAGES: usize = 12;
    let app = TestApp::spawn_with_outbox_policy(application::OutboxPolicy {
        max_held: MAX_HELD,
        ..parley_tests::test_outbox_policy()
    })
    .await;
    app.approved_template("pacing", "Pacing {{1}}").await;
    // Slow answers keep jobs in hand long enough for more claims to be tried meanwhile.
    app.sandbox
        .state()
        .update_config(&json!({"response_delay_ms": 150}))
        .unwrap();
    let mut sends = Vec::new();
    for n in 0..MESSAGES {
        let (application, context) = (app.app.clone(), context(&app));
        let message = template_to(app.workspace.phone_number, n);
        sends.push(tokio::spawn(async move {
            application.send_message(&context, message).await.unwrap()
        }));
    }
    let db = app.db().await;
    let mut most_claimed = 0;
    for _ in 0..400 {
        let claimed: i64 = db
            .query_one(
                "SELECT count(*) FROM outbox_jobs WHERE state = 'claimed'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        most_claimed = most_claimed.max(claimed);
        if app.sandbox.state().messages().messages.len() == MESSAGES && claimed == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for send in sends {
        send.await.unwrap();
    }
    assert_eq!(app.sandbox.state().messages().messages.len(), MESSAGES);
    assert!(
        most_claimed >= 2,
        "the jobs were never in hand together: {most_claimed}"
    );
    assert!(
        most_claimed <= MAX_HELD as i64,
        "{most_claimed} jobs claimed at once, bound {MAX_HELD}"
    );
}

/// A template from `phone_number` to a distinct customer per `n`.
fn template_to(phone_number: Uuid, n: usize) -> OutboundMessage {
    OutboundMessage {
        phone_number: PhoneNumberRef::Id(phone_number),
        to: format!("+1415556{n:04}"),
        content: template("pacing"),
        reply_to: None,
    }
}

#[tokio::test]
async fn deliveries_for_unknown_numbers_are_kept_and_answered_200() {
    let app = TestApp::spawn().await;
    let body = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/meta/fixtures/webhook_text_message.json"
    ))
    .unwrap();
    let response = app
        .http
        .post(format!("{}/webhook", app.base_url))
        .header(
            "x-hub-signature-256",
            meta::sign(META_APP_SECRET.as_bytes(), &body),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let db = app.db().await;
    let mut outcome = Value::Null;
    for _ in 0..200 {
        let row = db
            .query_one("SELECT outcome FROM meta_webhook_deliveries", &[])
            .await
            .unwrap();
        if let Some(found) = row.get::<_, Option<Value>>(0) {
            outcome = found;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(
        outcome["unknown_phone_numbers"],
        json!(["106540352242922"]),
        "{outcome}"
    );
    let events: i64 = db
        .query_one(
            "SELECT count(*) FROM events WHERE aggregate_type = 'conversation'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(events, 0);
}

#[tokio::test]
async fn an_inbound_message_with_a_nul_character_is_reported_not_retried_forever() {
    let app = TestApp::spawn().await;
    let outcome = app
        .sandbox
        .state()
        .deliver_inbound(sandbox::InboundRequest::text(
            app.workspace.meta_phone_number_id.clone(),
            CUSTOMER_WA_ID,
            "a\u{0}b",
        ))
        .await
        .unwrap();
    assert!(outcome.delivered, "{outcome:?}");
    let db = app.db().await;
    let mut recorded = Value::Null;
    for _ in 0..200 {
        let row = db
            .query_one("SELECT outcome FROM meta_webhook_deliveries", &[])
            .await
            .unwrap();
        if let Some(found) = row.get::<_, Option<Value>>(0) {
            recorded = found;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(recorded["messages"], 0, "{recorded}");
    assert!(
        recorded["rejected"][0].as_str().unwrap().contains("NUL"),
        "{recorded}"
    );
    assert!(conversation_events(&app).await.is_empty());
}

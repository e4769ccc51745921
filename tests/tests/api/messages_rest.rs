//! Tests: the External API v2 messaging endpoints (seed 000) as an integrator sees them, with
//! the outbox sending to the Meta sandbox and its webhooks coming back.

use parley_tests::TestApp;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

const CUSTOMER: &str = "+14155550199";
const CUSTOMER_WA_ID: &str = "14155550199";

fn assert_error(what: &str, status: u16, body: &Value, expected: u16, code: &str) {
    assert_eq!(status, expected, "{what}: {body}");
    assert_eq!(body["success"], false, "{what}: {body}");
    assert_eq!(body["error"]["code"], code, "{what}: {body}");
}

async fn post(app: &TestApp, path: &str, body: Value) -> (u16, Value) {
    app.send(app.request(Method::POST, path).json(&body)).await
}

async fn get(app: &TestApp, path: &str) -> (u16, Value) {
    app.send(app.request(Method::GET, path)).await
}

async fn customer_writes(app: &TestApp, text: &str) {
    let outcome = app
        .sandbox
        .state()
        .deliver_inbound(sandbox::InboundRequest::text(
            app.workspace.meta_phone_number_id.clone(),
            CUSTOMER_WA_ID,
            text,
        ))
        .await
        .unwrap();
    assert!(outcome.delivered, "{outcome:?}");
    // Wait until the conversation shows it.
    for _ in 0..200 {
        let (_, body) = get(app, "/api/v2/external/conversations").await;
        if body["data"][0]["unreadCount"].as_i64().unwrap_or(0) > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the inbound message never showed");
}

async fn wait_for_status(app: &TestApp, message_id: &str, wanted: &str) -> Value {
    for _ in 0..200 {
        let (status, body) = get(
            app,
            &format!("/api/v2/external/messages/{message_id}/status"),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        if body["data"]["status"] == wanted {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("message {message_id} never reached {wanted}");
}

fn template_body(app: &TestApp) -> Value {
    json!({
        "phoneNumberId": app.workspace.meta_phone_number_id,
        "to": CUSTOMER,
        "template": {"name": "order_update", "language": {"code": "en_US"},
                     "components": [{"type": "body", "parameters": [{"type": "text", "text": "42"}]}]}
    })
}

#[tokio::test]
async fn a_text_to_a_closed_window_is_refused_and_a_template_reaches_read() {
    let app = TestApp::spawn().await;
    app.approved_template("order_update", "Your order {{1}} is ready")
        .await;
    let (status, body) = post(
        &app,
        "/api/v2/external/messages/send",
        json!({
            "phoneNumberId": app.workspace.meta_phone_number_id, "to": CUSTOMER, "message": "Hi!"
        }),
    )
    .await;
    assert_error("closed window", status, &body, 400, "WINDOW_CLOSED");

    let (status, body) = post(
        &app,
        "/api/v2/external/messages/send-template",
        template_body(&app),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["success"], true);
    let data = &body["data"];
    assert_eq!(data["to"], CUSTOMER);
    assert_eq!(data["from"], "+15550100001");
    assert_eq!(data["aiAgentOverride"], false);
    assert_eq!(data["conversation"]["id"], data["conversationId"]);
    let message_id = data["messageId"].as_str().unwrap().to_string();

    let read = wait_for_status(&app, &message_id, "read").await;
    assert!(read["data"]["whatsappMessageId"]
        .as_str()
        .unwrap()
        .starts_with("wamid."));
    let sent = app.sandbox.state().messages().messages;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].body["template"]["name"], "order_update");
    assert_eq!(
        sent[0].biz_opaque_callback_data.as_deref(),
        Some(message_id.as_str())
    );
}

#[tokio::test]
async fn after_the_customer_writes_free_text_flows_and_the_inbox_shows_it() {
    let app = TestApp::spawn().await;
    app.approved_template("order_update", "Your order {{1}} is ready")
        .await;
    customer_writes(&app, "Where is my order?").await;
    let (status, body) = post(&app, "/api/v2/external/messages/send", json!({
        "phoneNumberId": app.workspace.phone_number.to_string(), "to": CUSTOMER_WA_ID,
        "message": "On its way!", "ai_agent_enabled": true,
        "lead_qualification": {"lead_status": "qualified", "lead_score": 85, "lead_company": "Acme"}
    }))
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["aiAgentOverride"], true);
    assert_eq!(body["data"]["conversation"]["is_ai_agent_on"], true);
    assert_eq!(body["data"]["conversation"]["ai_agent_enabled_by"], "api");
    assert_eq!(body["data"]["conversation"]["lead_status"], "qualified");
    assert_eq!(body["data"]["conversation"]["lead_score"], 85);
    let message_id = body["data"]["messageId"].as_str().unwrap().to_string();
    let conversation = body["data"]["conversationId"].as_str().unwrap().to_string();
    wait_for_status(&app, &message_id, "read").await;

    let (status, list) = get(&app, "/api/v2/external/conversations?page=1&limit=10").await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(
        list["meta"],
        json!({"page": 1, "limit": 10, "total": 1, "totalPages": 1})
    );
    let item = &list["data"][0];
    assert_eq!(item["id"], conversation.as_str());
    assert_eq!(item["customerPhone"], CUSTOMER);
    assert_eq!(item["lastMessagePreview"], "On its way!");
    assert_eq!(item["unreadCount"], 1);
    assert_eq!(item["phoneNumber"], "+15550100001");

    let (status, messages) = get(
        &app,
        &format!("/api/v2/external/conversations/{conversation}/messages"),
    )
    .await;
    assert_eq!(status, 200, "{messages}");
    assert_eq!(messages["meta"]["total"], 2);
    assert_eq!(messages["data"][0]["direction"], "outbound");
    assert_eq!(messages["data"][0]["content"], "On its way!");
    assert_eq!(messages["data"][0]["status"], "read");
    assert_eq!(messages["data"][1]["direction"], "inbound");
    assert_eq!(messages["data"][1]["content"], "Where is my order?");
    assert_eq!(messages["data"][1]["messageType"], "text");

    // The filter by number: ours, Meta's, and another.
    for (filter, expected) in [
        (app.workspace.phone_number.to_string(), 1),
        (app.workspace.meta_phone_number_id.clone(), 1),
        ("109999999999999".to_string(), 0),
    ] {
        let (_, list) = get(
            &app,
            &format!("/api/v2/external/conversations?phoneNumberId={filter}"),
        )
        .await;
        assert_eq!(list["meta"]["total"], expected, "{filter}: {list}");
    }
}

#[tokio::test]
async fn the_ai_agent_and_lead_fields_are_toggled_and_read_back() {
    let app = TestApp::spawn().await;
    customer_writes(&app, "hello").await;
    let (_, list) = get(&app, "/api/v2/external/conversations").await;
    let conversation = list["data"][0]["id"].as_str().unwrap().to_string();
    let path = format!("/api/v2/external/conversations/{conversation}/ai-agent");

    let (status, body) = get(&app, &path).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["is_ai_agent_on"], false);

    let (status, body) = app
        .send(
            app.request(Method::PATCH, &path)
                .json(&json!({"enabled": true, "reason": "night shift"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["previousStatus"], false);
    assert_eq!(body["data"]["newStatus"], true);
    assert_eq!(body["data"]["enabledBy"], "api");
    let (_, body) = get(&app, &path).await;
    assert_eq!(body["data"]["is_ai_agent_on"], true);
    assert_eq!(body["data"]["ai_agent_enabled_by"], "api");
    let (_, list) = get(&app, "/api/v2/external/conversations").await;
    assert_eq!(list["data"][0]["is_ai_agent_on"], true);

    let lead = format!("/api/v2/external/conversations/{conversation}/lead-qualification");
    let (status, body) = app
        .send(app.request(Method::PATCH, &lead).json(&json!({
            "lead_status": "interested", "lead_score": 75, "lead_name": "John Smith",
            "raw_data": {"crm_id": "CRM_789"}, "source_api": "n8n"
        })))
        .await;
    assert_eq!(status, 200, "{body}");
    let updated = &body["data"]["conversation"];
    assert_eq!(updated["lead_status"], "interested");
    assert_eq!(updated["lead_score"], 75);
    assert_eq!(updated["lead_name"], "John Smith");
    assert_eq!(
        updated["leadQualification"]["raw_data"]["crm_id"],
        "CRM_789"
    );
    assert!(body["data"]["updatedAt"].is_string(), "{body}");

    for (bad, what) in [
        (json!({"lead_score": 101}), "score over 100"),
        (json!({"lead_score": 7.5}), "fractional score"),
        (json!({"lead_status": "sleepy"}), "unknown status"),
        (json!({}), "nothing to update"),
        (json!([1]), "not an object"),
    ] {
        let (status, body) = app.send(app.request(Method::PATCH, &lead).json(&bad)).await;
        assert_error(what, status, &body, 400, "VALIDATION_ERROR");
    }
    let (status, body) = app
        .send(
            app.request(Method::PATCH, &path)
                .json(&json!({"enabled": "yes"})),
        )
        .await;
    assert_error(
        "enabled not a boolean",
        status,
        &body,
        400,
        "VALIDATION_ERROR",
    );
}

#[tokio::test]
async fn bad_sends_are_clear_4xx_and_send_nothing() {
    let app = TestApp::spawn().await;
    customer_writes(&app, "hi").await;
    let number = app.workspace.meta_phone_number_id.clone();
    let cases = [
        (
            "/api/v2/external/messages/send",
            json!({"phoneNumberId": "109999999999999", "to": CUSTOMER, "message": "x"}),
            400,
            "VALIDATION_ERROR",
        ),
        (
            "/api/v2/external/messages/send",
            json!({"phoneNumberId": number, "to": "call me", "message": "x"}),
            400,
            "INVALID_PHONE_NUMBER",
        ),
        (
            "/api/v2/external/messages/send",
            json!({"phoneNumberId": number, "to": CUSTOMER}),
            400,
            "VALIDATION_ERROR",
        ),
        (
            "/api/v2/external/messages/send",
            json!({"phoneNumberId": number, "to": CUSTOMER, "message": ""}),
            400,
            "INVALID_CONTENT",
        ),
        (
            "/api/v2/external/messages/send",
            json!({"phoneNumberId": number, "to": CUSTOMER, "message": "x".repeat(4097)}),
            400,
            "INVALID_CONTENT",
        ),
        (
            "/api/v2/external/messages/send",
            json!({"phoneNumberId": number, "to": CUSTOMER, "message": "x", "replyToMessageId": "msg_1"}),
            400,
            "UNKNOWN_REPLY_TARGET",
        ),
        (
            "/api/v2/external/messages/send",
            json!({"phoneNumberId": number, "to": CUSTOMER, "message": "x", "replyToMessageId": uuid::Uuid::new_v4()}),
            400,
            "UNKNOWN_REPLY_TARGET",
        ),
        (
            "/api/v2/external/messages/send-interactive",
            json!({"phoneNumberId": number, "to": CUSTOMER, "interactive": {
            "type": "button", "body": {"text": "Pick"}, "action": {"buttons": [
                {"type": "reply", "reply": {"id": "1", "title": "A"}}, {"type": "reply", "reply": {"id": "2", "title": "B"}},
                {"type": "reply", "reply": {"id": "3", "title": "C"}}, {"type": "reply", "reply": {"id": "4", "title": "D"}}]}}}),
            400,
            "INVALID_CONTENT",
        ),
        (
            "/api/v2/external/messages/send-media",
            json!({"phoneNumberId": number, "to": CUSTOMER, "mediaId": uuid::Uuid::new_v4(), "mediaType": "image"}),
            404,
            "NOT_FOUND",
        ),
        (
            "/api/v2/external/messages/send-media",
            json!({"phoneNumberId": number, "to": CUSTOMER, "mediaId": "123", "mediaType": "sticker"}),
            400,
            "VALIDATION_ERROR",
        ),
    ];
    for (path, body, expected, code) in cases {
        let (status, answer) = post(&app, path, body.clone()).await;
        assert_error(&body.to_string(), status, &answer, expected, code);
    }
    let (status, body) = get(&app, "/api/v2/external/messages/not-a-uuid/status").await;
    assert_error("bad id", status, &body, 400, "VALIDATION_ERROR");
    let (status, body) = get(
        &app,
        &format!("/api/v2/external/messages/{}/status", uuid::Uuid::new_v4()),
    )
    .await;
    assert_error("unknown id", status, &body, 404, "NOT_FOUND");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(app.sandbox.state().messages().messages.is_empty());

    // Another workspace sees none of it.
    let other = app.another_workspace().await;
    let (_, list) = get(&app, "/api/v2/external/conversations").await;
    let conversation = list["data"][0]["id"].as_str().unwrap().to_string();
    let (_, theirs) = app
        .send(app.request_as(&other, Method::GET, "/api/v2/external/conversations"))
        .await;
    assert_eq!(theirs["meta"]["total"], 0, "{theirs}");
    for path in [
        format!("/api/v2/external/conversations/{conversation}/messages"),
        format!("/api/v2/external/conversations/{conversation}/ai-agent"),
    ] {
        let (status, body) = app.send(app.request_as(&other, Method::GET, &path)).await;
        assert_error(&path, status, &body, 404, "NOT_FOUND");
    }
    let (status, body) = app
        .send(
            app.request_as(&other, Method::POST, "/api/v2/external/messages/send")
                .json(&json!({
            "phoneNumberId": number, "to": CUSTOMER, "message": "x"})),
        )
        .await;
    assert_error(
        "someone else's number",
        status,
        &body,
        400,
        "VALIDATION_ERROR",
    );
}

fn png(size: usize) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.resize(size, 0);
    bytes
}

async fn upload(app: &TestApp, bytes: Vec<u8>, mime: &str) -> (u16, Value) {
    let form = reqwest::multipart::Form::new()
        .text("phoneNumberId", app.workspace.meta_phone_number_id.clone())
        .part(
            "file",
            reqwest::multipart::Part::bytes(bytes)
                .file_name("photo.png")
                .mime_str(mime)
                .unwrap(),
        );
    app.send(
        app.request(Method::POST, "/api/v2/external/media/upload")
            .multipart(form),
    )
    .await
}

#[tokio::test]
async fn uploaded_media_can_be_sent_and_meta_s_size_limits_are_413() {
    let app = TestApp::spawn().await;
    app.approved_template("order_update", "Your order {{1}} is ready")
        .await;
    customer_writes(&app, "send me the photo").await;
    let (status, body) = upload(&app, png(2048), "image/png").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["mimeType"], "image/png");
    assert_eq!(body["data"]["fileSize"], 2048);
    let media_id = body["data"]["mediaId"].as_str().unwrap().to_string();

    let (status, body) = post(
        &app,
        "/api/v2/external/messages/send-media",
        json!({
            "phoneNumberId": app.workspace.meta_phone_number_id, "to": CUSTOMER,
            "mediaId": media_id, "mediaType": "image", "caption": "Here it is"
        }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let message_id = body["data"]["messageId"].as_str().unwrap().to_string();
    wait_for_status(&app, &message_id, "read").await;
    let sent = app.sandbox.state().messages().messages;
    assert_eq!(sent[0].body["image"]["caption"], "Here it is");
    assert!(sent[0].body["image"]["id"]
        .as_str()
        .is_some_and(|id| !id.is_empty()));

    let (status, body) = upload(&app, png(5 * 1024 * 1024 + 1), "image/png").await;
    assert_error("6 MB image", status, &body, 413, "PAYLOAD_TOO_LARGE");
    let (status, body) = upload(&app, png(100), "application/x-msdownload").await;
    assert_error("exe", status, &body, 400, "VALIDATION_ERROR");
}

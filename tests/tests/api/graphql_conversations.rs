//! Tests: conversations and messages over GraphQL — queries, mutations with the application's
//! error codes, tenancy, and the WebSocket subscriptions — with customers writing in through the
//! Meta sandbox and the outbox sending to it.

use futures::{SinkExt, StreamExt};
use parley_tests::{TestApp, Workspace};
use reqwest::Method;
use serde_json::{json, Value};
use std::future::Future;
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message as WsMessage;

const ALICE: &str = "14155550101";
const BOB: &str = "14155550202";
const CAROL: &str = "14155550303";

const MESSAGE_FIELDS: &str = "id conversationId direction kind content text wamid status \
                              failure { code } replyToMessageId replyTo { id } createdAt \
                              statusHistory { status at errorCode errorTitle }";

async fn gql_as(app: &TestApp, workspace: &Workspace, query: &str, variables: Value) -> Value {
    let (status, body) = app
        .send(
            app.request_as(workspace, Method::POST, "/graphql")
                .json(&json!({ "query": query, "variables": variables })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn gql(app: &TestApp, query: &str, variables: Value) -> Value {
    gql_as(app, &app.workspace, query, variables).await
}

/// The data of a response that must have no errors.
fn data(body: Value) -> Value {
    assert!(body.get("errors").is_none(), "unexpected errors: {body}");
    body["data"].clone()
}

/// The `extensions.code` of the first error.
fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {body}"))
}

/// Polls `probe` until it returns `Some`, for up to 10 seconds.
async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    for _ in 0..400 {
        if let Some(value) = probe().await {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}");
}

/// A customer writes `body` to the workspace's number through the sandbox.
async fn customer_writes(app: &TestApp, workspace: &Workspace, wa_id: &str, body: &str) {
    let mut request =
        sandbox::InboundRequest::text(workspace.meta_phone_number_id.clone(), wa_id, body);
    request.profile_name = Some(format!("Customer {wa_id}"));
    let outcome = app.sandbox.state().deliver_inbound(request).await.unwrap();
    assert!(outcome.delivered, "{outcome:?}");
}

const LIST: &str = "query($first: Int, $after: String, $unread: Boolean, $ai: Boolean,
        $lead: LeadStatus, $search: String, $phone: ID) {
    conversations(first: $first, after: $after, unread: $unread, aiAgentOn: $ai,
                  leadStatus: $lead, search: $search, phoneNumberId: $phone) {
        totalCount
        pageInfo { hasNextPage endCursor }
        edges { cursor node { id lastMessageAt unreadCount customer { waId } } }
    } }";

/// The conversation list under `variables`.
async fn list(app: &TestApp, variables: Value) -> Value {
    data(gql(app, LIST, variables).await)["conversations"].clone()
}

/// Waits until the read model lists `count` conversations; returns the list.
async fn wait_for_conversations(app: &TestApp, count: i64) -> Value {
    eventually("the conversations", || async move {
        let page = list(app, json!({})).await;
        (page["totalCount"] == count).then_some(page)
    })
    .await
}

/// The id of the conversation with `wa_id`.
async fn conversation_of(app: &TestApp, wa_id: &str) -> String {
    let page = list(app, json!({ "search": wa_id })).await;
    assert_eq!(page["totalCount"], 1, "{page}");
    page["edges"][0]["node"]["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn conversations_are_listed_filtered_and_paged_by_cursor() {
    let app = TestApp::spawn().await;
    for (wa_id, body) in [
        (ALICE, "hello"),
        (BOB, "hi there"),
        (CAROL, "order status?"),
    ] {
        customer_writes(&app, &app.workspace, wa_id, body).await;
    }
    let all = wait_for_conversations(&app, 3).await;
    let times: Vec<&str> = all["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["lastMessageAt"].as_str().unwrap())
        .collect();
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted, "latest message first");

    // Two pages of two, the same three conversations in the same order.
    let first = list(&app, json!({ "first": 2 })).await;
    assert_eq!(first["edges"].as_array().unwrap().len(), 2);
    assert_eq!(first["pageInfo"]["hasNextPage"], true);
    let second = list(
        &app,
        json!({ "first": 2, "after": first["pageInfo"]["endCursor"] }),
    )
    .await;
    assert_eq!(second["edges"].as_array().unwrap().len(), 1);
    assert_eq!(second["pageInfo"]["hasNextPage"], false);
    assert_eq!(second["totalCount"], 3);
    let paged: Vec<&Value> = first["edges"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second["edges"].as_array().unwrap())
        .map(|e| &e["node"]["id"])
        .collect();
    let listed: Vec<&Value> = all["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["node"]["id"])
        .collect();
    assert_eq!(paged, listed);
    let bad = gql(&app, LIST, json!({ "after": "nonsense" })).await;
    assert_eq!(code(&bad), "VALIDATION_ERROR", "{bad}");
    let too_many = gql(&app, LIST, json!({ "first": 0 })).await;
    assert_eq!(code(&too_many), "VALIDATION_ERROR", "{too_many}");

    // Filters: by number (either id), unread, search.
    for phone in [
        app.workspace.phone_number.to_string(),
        app.workspace.meta_phone_number_id.clone(),
    ] {
        assert_eq!(list(&app, json!({ "phone": phone })).await["totalCount"], 3);
    }
    assert_eq!(list(&app, json!({ "unread": true })).await["totalCount"], 3);
    let bob = conversation_of(&app, BOB).await;
    let read = data(
        gql(
            &app,
            "mutation($id: ID!) { markConversationRead(id: $id) { id unreadCount } }",
            json!({ "id": bob }),
        )
        .await,
    );
    assert_eq!(read["markConversationRead"]["unreadCount"], 0);
    let unread = list(&app, json!({ "unread": true })).await;
    assert_eq!(unread["totalCount"], 2);
    assert!(unread["edges"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["node"]["id"] != bob.as_str()));
    assert_eq!(
        list(&app, json!({ "search": "Customer 1415555020" })).await["totalCount"],
        1
    );

    // One conversation in full, with its messages.
    let alice = conversation_of(&app, ALICE).await;
    let query = format!(
        "query($id: ID!) {{ conversation(id: $id) {{
            id phoneNumberId businessPhoneNumber startedAt lastMessageAt unreadCount
            customer {{ waId phone profileName contactName }}
            lastMessage {{ id direction kind text }}
            window {{ open closesAt }}
            aiAgent {{ enabled enabledAt enabledBy lastToggledAt }}
            leadQualification {{ leadStatus leadScore }}
            messages(first: 10) {{ totalCount pageInfo {{ hasNextPage }} edges {{ node {{ {MESSAGE_FIELDS} }} }} }}
        }} }}"
    );
    let conversation =
        data(gql(&app, &query, json!({ "id": alice })).await)["conversation"].clone();
    assert_eq!(
        conversation["phoneNumberId"],
        app.workspace.phone_number.to_string()
    );
    assert_eq!(
        conversation["customer"],
        json!({ "waId": ALICE, "phone": format!("+{ALICE}"),
                "profileName": format!("Customer {ALICE}"), "contactName": null })
    );
    assert_eq!(conversation["unreadCount"], 1);
    assert_eq!(conversation["window"]["open"], true);
    assert_eq!(conversation["aiAgent"]["enabled"], false);
    assert_eq!(conversation["lastMessage"]["direction"], "INBOUND");
    assert_eq!(conversation["lastMessage"]["text"], "hello");
    assert_eq!(conversation["messages"]["totalCount"], 1);
    let message = conversation["messages"]["edges"][0]["node"].clone();
    assert_eq!(message["id"], conversation["lastMessage"]["id"]);
    assert_eq!(message["direction"], "INBOUND");
    assert_eq!(message["status"], "RECEIVED");
    assert_eq!(message["kind"], "text");
    assert_eq!(message["text"], "hello");
    assert!(message["wamid"]
        .as_str()
        .is_some_and(|w| w.starts_with("wamid.")));
    assert_eq!(message["statusHistory"][0]["status"], "RECEIVED");
    let one = data(
        gql(
            &app,
            &format!("query($id: ID!) {{ message(id: $id) {{ {MESSAGE_FIELDS} }} }}"),
            json!({ "id": message["id"] }),
        )
        .await,
    );
    assert_eq!(one["message"], message);
}

#[tokio::test]
async fn send_text_inside_the_window_reaches_read_with_its_status_history() {
    let app = TestApp::spawn().await;
    app.approved_template("order_update", "Your order {{1}} is ready")
        .await;
    customer_writes(&app, &app.workspace, ALICE, "Is my order shipped?").await;
    wait_for_conversations(&app, 1).await;
    let conversation = conversation_of(&app, ALICE).await;
    let inbound_id = data(
        gql(
            &app,
            "query($id: ID!) { conversation(id: $id) { lastMessage { id } } }",
            json!({ "id": conversation }),
        )
        .await,
    )["conversation"]["lastMessage"]["id"]
        .clone();

    let sent = data(
        gql(
            &app,
            &format!(
                "mutation($phone: ID!, $to: String!, $reply: ID) {{
                    sendText(phoneNumberId: $phone, to: $to, text: \"Yes, it left today.\",
                             replyToMessageId: $reply) {{ {MESSAGE_FIELDS} }} }}"
            ),
            json!({ "phone": app.workspace.phone_number, "to": format!("+{ALICE}"),
                    "reply": inbound_id }),
        )
        .await,
    )["sendText"]
        .clone();
    assert_eq!(sent["direction"], "OUTBOUND");
    assert_eq!(sent["conversationId"], conversation.as_str());
    assert_eq!(sent["kind"], "text");
    assert_eq!(
        sent["content"],
        json!({ "type": "text", "text": { "body": "Yes, it left today." } })
    );
    assert_eq!(sent["text"], "Yes, it left today.");
    assert_eq!(sent["replyToMessageId"], inbound_id);
    assert_eq!(sent["replyTo"]["id"], inbound_id);
    assert_eq!(sent["statusHistory"][0]["status"], "QUEUED");

    let query = &format!("query($id: ID!) {{ message(id: $id) {{ {MESSAGE_FIELDS} readAt }} }}");
    let (app_ref, id) = (&app, &sent["id"]);
    let read = eventually("the message to be read", || async move {
        let message = data(gql(app_ref, query, json!({ "id": id })).await)["message"].clone();
        (message["status"] == "READ").then_some(message)
    })
    .await;
    let statuses: Vec<&Value> = read["statusHistory"]
        .as_array()
        .unwrap()
        .iter()
        .map(|change| &change["status"])
        .collect();
    assert_eq!(statuses, ["QUEUED", "SENT", "DELIVERED", "READ"]);
    assert!(read["wamid"]
        .as_str()
        .is_some_and(|w| w.starts_with("wamid.")));
    assert!(read["readAt"].is_string());
    assert!(read["failure"].is_null());

    // sendMessage takes Meta's fragment as it is; Meta's id of the number works too.
    let template = data(
        gql(
            &app,
            "mutation($input: SendMessageInput!) { sendMessage(input: $input) { kind status content } }",
            json!({ "input": {
                "phoneNumberId": app.workspace.meta_phone_number_id,
                "to": ALICE,
                "content": { "type": "template", "template": {
                    "name": "order_update", "language": { "code": "en_US" },
                    "components": [{ "type": "body", "parameters": [{ "type": "text", "text": "7" }] }] } },
            } }),
        )
        .await,
    )["sendMessage"]
        .clone();
    assert_eq!(template["kind"], "template");
    assert_eq!(template["content"]["template"]["name"], "order_update");

    // The conversation lists both ways, newest first when asked.
    let page = data(
        gql(
            &app,
            "query($id: ID!) { conversation(id: $id) { outboundCount
                messages(first: 2, order: NEWEST_FIRST) { totalCount pageInfo { hasNextPage endCursor }
                    edges { node { kind direction } } } } }",
            json!({ "id": conversation }),
        )
        .await,
    )["conversation"]
        .clone();
    assert_eq!(page["outboundCount"], 2);
    assert_eq!(page["messages"]["totalCount"], 3);
    assert_eq!(page["messages"]["edges"][0]["node"]["kind"], "template");
    assert_eq!(page["messages"]["pageInfo"]["hasNextPage"], true);
    let rest = data(
        gql(
            &app,
            "query($id: ID!, $after: String) { conversation(id: $id) {
                messages(first: 2, order: NEWEST_FIRST, after: $after) { edges { node { direction } } } } }",
            json!({ "id": conversation, "after": page["messages"]["pageInfo"]["endCursor"] }),
        )
        .await,
    );
    assert_eq!(
        rest["conversation"]["messages"]["edges"],
        json!([{ "node": { "direction": "INBOUND" } }])
    );
}

#[tokio::test]
async fn sends_refused_by_the_conversation_carry_the_application_codes() {
    let app = TestApp::spawn().await;
    let send_text = "mutation($phone: ID!, $to: String!) {
        sendText(phoneNumberId: $phone, to: $to, text: \"hello\") { id } }";
    let closed = gql(
        &app,
        send_text,
        json!({ "phone": app.workspace.phone_number, "to": format!("+{ALICE}") }),
    )
    .await;
    assert_eq!(code(&closed), "WINDOW_CLOSED", "{closed}");
    assert!(closed["data"].is_null(), "{closed}");

    let send = "mutation($input: SendMessageInput!) { sendMessage(input: $input) { id } }";
    let bad_content = gql(
        &app,
        send,
        json!({ "input": { "phoneNumberId": app.workspace.phone_number, "to": ALICE,
                           "content": { "type": "text" } } }),
    )
    .await;
    assert_eq!(code(&bad_content), "INVALID_CONTENT", "{bad_content}");
    let unknown_number = gql(
        &app,
        send_text,
        json!({ "phone": "123456789", "to": ALICE }),
    )
    .await;
    assert_eq!(code(&unknown_number), "NOT_FOUND", "{unknown_number}");
    let bad_phone = gql(
        &app,
        send_text,
        json!({ "phone": app.workspace.phone_number, "to": "not a phone" }),
    )
    .await;
    assert_eq!(code(&bad_phone), "INVALID_PHONE_NUMBER", "{bad_phone}");
    assert!(app.sandbox.state().messages().messages.is_empty());
}

#[tokio::test]
async fn the_ai_agent_and_lead_qualification_are_set_and_filtered_on() {
    let app = TestApp::spawn().await;
    customer_writes(&app, &app.workspace, ALICE, "I want a quote").await;
    customer_writes(&app, &app.workspace, BOB, "just looking").await;
    wait_for_conversations(&app, 2).await;
    let alice = conversation_of(&app, ALICE).await;

    let on = data(
        gql(
            &app,
            "mutation($id: ID!) { setAiAgent(conversationId: $id, enabled: true, reason: \"night shift\") {
                aiAgent { enabled enabledAt enabledBy lastToggledAt } } }",
            json!({ "id": alice }),
        )
        .await,
    )["setAiAgent"]["aiAgent"]
        .clone();
    assert_eq!(on["enabled"], true);
    assert_eq!(on["enabledBy"], "USER");
    assert!(on["enabledAt"].is_string() && on["lastToggledAt"].is_string());
    let with_ai = list(&app, json!({ "ai": true })).await;
    assert_eq!(with_ai["totalCount"], 1);
    assert_eq!(with_ai["edges"][0]["node"]["id"], alice.as_str());
    assert_eq!(list(&app, json!({ "ai": false })).await["totalCount"], 1);

    let update = "mutation($id: ID!, $input: LeadQualificationInput!) {
        updateLeadQualification(conversationId: $id, input: $input) { leadQualification {
            leadStatus leadScore leadName leadCompany rawData leadLastUpdated rawDataStoredAt } } }";
    let lead = data(
        gql(
            &app,
            update,
            json!({ "id": alice, "input": { "leadStatus": "HOT", "leadScore": 88,
                    "leadName": "Alice", "leadCompany": "Acme", "rawData": { "crm_id": "CRM_1" } } }),
        )
        .await,
    )["updateLeadQualification"]["leadQualification"]
        .clone();
    assert_eq!(lead["leadStatus"], "HOT");
    assert_eq!(lead["leadScore"], 88);
    assert_eq!(lead["leadName"], "Alice");
    assert_eq!(lead["rawData"], json!({ "crm_id": "CRM_1" }));
    assert!(lead["leadLastUpdated"].is_string() && lead["rawDataStoredAt"].is_string());
    // A partial update keeps the other fields.
    let partial = data(
        gql(
            &app,
            update,
            json!({ "id": alice, "input": { "leadStatus": "WARM" } }),
        )
        .await,
    )["updateLeadQualification"]["leadQualification"]
        .clone();
    assert_eq!(
        (&partial["leadStatus"], &partial["leadName"]),
        (&json!("WARM"), &json!("Alice"))
    );
    let warm = list(&app, json!({ "lead": "WARM" })).await;
    assert_eq!(warm["totalCount"], 1);
    assert_eq!(warm["edges"][0]["node"]["id"], alice.as_str());
    assert_eq!(list(&app, json!({ "lead": "HOT" })).await["totalCount"], 0);
    assert_eq!(
        list(&app, json!({ "search": "acme" })).await["totalCount"],
        1,
        "search covers the lead's company"
    );

    let bad_score = gql(
        &app,
        update,
        json!({ "id": alice, "input": { "leadScore": 101 } }),
    )
    .await;
    assert_eq!(code(&bad_score), "VALIDATION_ERROR", "{bad_score}");
    let bad_raw = gql(
        &app,
        update,
        json!({ "id": alice, "input": { "rawData": [1] } }),
    )
    .await;
    assert_eq!(code(&bad_raw), "VALIDATION_ERROR", "{bad_raw}");
    let unknown = gql(
        &app,
        update,
        json!({ "id": uuid::Uuid::new_v4(), "input": { "leadStatus": "WON" } }),
    )
    .await;
    assert_eq!(code(&unknown), "NOT_FOUND", "{unknown}");
}

#[tokio::test]
async fn another_workspace_sees_and_changes_nothing() {
    let app = TestApp::spawn().await;
    customer_writes(&app, &app.workspace, ALICE, "hello").await;
    wait_for_conversations(&app, 1).await;
    let conversation = conversation_of(&app, ALICE).await;
    let message = data(
        gql(
            &app,
            "query($id: ID!) { conversation(id: $id) { lastMessage { id } } }",
            json!({ "id": conversation }),
        )
        .await,
    )["conversation"]["lastMessage"]["id"]
        .clone();
    let other = app.another_workspace().await;

    let listed = data(gql_as(&app, &other, LIST, json!({})).await)["conversations"].clone();
    assert_eq!(listed["totalCount"], 0);
    assert_eq!(listed["edges"], json!([]));
    for (query, variables) in [
        ("query($id: ID!) { conversation(id: $id) { id } }", json!({ "id": conversation })),
        ("query($id: ID!) { message(id: $id) { id } }", json!({ "id": message })),
        (
            "query($phone: ID) { conversations(phoneNumberId: $phone) { totalCount } }",
            json!({ "phone": app.workspace.phone_number }),
        ),
        (
            "mutation($id: ID!) { markConversationRead(id: $id) { id } }",
            json!({ "id": conversation }),
        ),
        (
            "mutation($id: ID!) { setAiAgent(conversationId: $id, enabled: true) { id } }",
            json!({ "id": conversation }),
        ),
        (
            "mutation($id: ID!) { updateLeadQualification(conversationId: $id, input: { leadStatus: HOT }) { id } }",
            json!({ "id": conversation }),
        ),
        (
            "mutation($phone: ID!) { sendText(phoneNumberId: $phone, to: \"+14155550101\", text: \"hi\") { id } }",
            json!({ "phone": app.workspace.meta_phone_number_id }),
        ),
    ] {
        let body = gql_as(&app, &other, query, variables).await;
        assert_eq!(code(&body), "NOT_FOUND", "{query}: {body}");
    }
    // Nothing changed for the owner.
    let mine = data(
        gql(
            &app,
            "query($id: ID!) { conversation(id: $id) { unreadCount aiAgent { enabled }
                leadQualification { leadStatus } outboundCount } }",
            json!({ "id": conversation }),
        )
        .await,
    );
    assert_eq!(
        mine["conversation"],
        json!({ "unreadCount": 1, "aiAgent": { "enabled": false },
                "leadQualification": { "leadStatus": null }, "outboundCount": 0 })
    );
}

// ---- subscriptions ----

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A graphql-transport-ws connection to `/graphql`, initialised with `payload`.
async fn ws_connect(app: &TestApp, payload: Value) -> Socket {
    let url = format!("{}/graphql", app.base_url.replacen("http", "ws", 1));
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    send_json(
        &mut socket,
        json!({ "type": "connection_init", "payload": payload }),
    )
    .await;
    socket
}

async fn send_json(socket: &mut Socket, message: Value) {
    socket
        .send(WsMessage::Text(message.to_string().into()))
        .await
        .unwrap();
}

/// The next JSON message, or None when the socket closes (or after `wait`).
async fn next_json(socket: &mut Socket, wait: Duration) -> Option<Value> {
    loop {
        match tokio::time::timeout(wait, socket.next()).await.ok()?? {
            Ok(WsMessage::Text(text)) => return Some(serde_json::from_str(&text).unwrap()),
            Ok(WsMessage::Close(_)) | Err(_) => return None,
            Ok(_) => continue,
        }
    }
}

async fn ws_subscribe(socket: &mut Socket, id: &str, query: &str) {
    send_json(
        socket,
        json!({ "id": id, "type": "subscribe", "payload": { "query": query } }),
    )
    .await;
}

const RECEIVED: &str =
    "subscription { messageReceived { id direction text status conversationId } }";
const STATUSES: &str =
    "subscription { messageStatusChanged { messageId conversationId status at message { id status } } }";

#[tokio::test]
async fn subscriptions_report_inbound_messages_and_every_status_up_to_read() {
    let app = TestApp::spawn().await;
    app.approved_template("order_update", "Your order {{1}} is ready")
        .await;
    let mut socket = ws_connect(
        &app,
        json!({ "Authorization": format!("Bearer {}", app.workspace.token) }),
    )
    .await;
    let ack = next_json(&mut socket, Duration::from_secs(5)).await;
    assert_eq!(ack.unwrap()["type"], "connection_ack");
    ws_subscribe(&mut socket, "received", RECEIVED).await;
    ws_subscribe(&mut socket, "statuses", STATUSES).await;
    // Another workspace, subscribed to everything, with the other payload form.
    let other = app.another_workspace().await;
    let mut theirs = ws_connect(&app, json!({ "token": other.token })).await;
    assert_eq!(
        next_json(&mut theirs, Duration::from_secs(5))
            .await
            .unwrap()["type"],
        "connection_ack"
    );
    ws_subscribe(&mut theirs, "received", RECEIVED).await;
    ws_subscribe(&mut theirs, "statuses", STATUSES).await;
    // The subscriptions start reading from the checkpoint they find.
    tokio::time::sleep(Duration::from_millis(500)).await;

    customer_writes(&app, &app.workspace, ALICE, "anyone there?").await;
    let received = next_json(&mut socket, Duration::from_secs(10))
        .await
        .expect("a messageReceived event");
    assert_eq!(received["id"], "received", "{received}");
    let message = &received["payload"]["data"]["messageReceived"];
    assert_eq!(message["direction"], "INBOUND");
    assert_eq!(message["status"], "RECEIVED");
    assert_eq!(message["text"], "anyone there?");
    let conversation = message["conversationId"].clone();

    let sent = data(
        gql(
            &app,
            "mutation($phone: ID!) { sendText(phoneNumberId: $phone, to: \"+14155550101\", text: \"yes!\") { id } }",
            json!({ "phone": app.workspace.phone_number }),
        )
        .await,
    )["sendText"]["id"]
        .clone();
    let mut statuses = Vec::new();
    while statuses.last().map(String::as_str) != Some("READ") {
        let event = next_json(&mut socket, Duration::from_secs(10))
            .await
            .unwrap_or_else(|| panic!("no status after {statuses:?}"));
        assert_eq!(event["id"], "statuses", "{event}");
        let update = &event["payload"]["data"]["messageStatusChanged"];
        assert_eq!(update["messageId"], sent, "{event}");
        assert_eq!(update["conversationId"], conversation);
        assert_eq!(update["message"]["id"], sent);
        statuses.push(update["status"].as_str().unwrap().to_string());
    }
    assert_eq!(statuses, ["QUEUED", "SENT", "DELIVERED", "READ"]);

    // The other workspace heard nothing.
    assert_eq!(
        next_json(&mut theirs, Duration::from_millis(300)).await,
        None
    );

    // A bad token is refused at connection_init.
    let mut refused = ws_connect(&app, json!({ "token": "wat_nonsense" })).await;
    let answer = next_json(&mut refused, Duration::from_secs(5)).await;
    assert!(
        answer
            .as_ref()
            .is_none_or(|a| a["type"] != "connection_ack"),
        "{answer:?}"
    );
}

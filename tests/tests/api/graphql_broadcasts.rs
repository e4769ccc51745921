//! Tests: templates, broadcasts and phone-number health over GraphQL, against the Meta sandbox,
//! as a dashboard sees them: a template approved by Meta's review with its variables and
//! buttons, a broadcast whose funnel and live progress follow the sandbox's statuses, button
//! clicks per template, button and customer, the number's quality and tier, registration codes
//! and the business profile, and nothing of it visible to another workspace.

use futures::{SinkExt, StreamExt};
use parley_tests::{TestApp, Workspace};
use reqwest::Method;
use sandbox::PhoneQualityRequest;
use serde_json::{json, Value};
use std::future::Future;
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message as WsMessage;

const PROMO: &str = "spring_promo";

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

/// Polls `probe` until it returns `Some`, for up to 15 seconds.
async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    for _ in 0..600 {
        if let Some(value) = probe().await {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}");
}

const TEMPLATE_FIELDS: &str = "id metaTemplateId name language category status rejectionReason
    qualityScore components
    variables { position component name description defaultValue sampleValue required }
    buttons { index kind text }
    sendAnalytics { sends pending sent delivered read failed }
    buttonAnalytics { totalClicks uniqueClickers
                      buttons { buttonId buttonText totalClicks uniqueClicks } }";

/// Creates the promo template (a body with a described variable, two quick replies) over
/// GraphQL; returns it as created.
async fn create_promo(app: &TestApp, submit: bool) -> Value {
    let created = gql(
        app,
        &format!(
            "mutation($input: CreateTemplateInput!) {{ createTemplate(input: $input) {{ {TEMPLATE_FIELDS} }} }}"
        ),
        json!({ "input": {
            "phoneNumberId": app.workspace.phone_number,
            "name": PROMO, "category": "MARKETING", "language": "en_US", "submit": submit,
            "components": [
                {"type": "BODY", "text": "Hi {{1}}, spring sale: {{2}} off!",
                 "example": {"body_text": [["Ann", "20%"]]}},
                {"type": "BUTTONS", "buttons": [
                    {"type": "QUICK_REPLY", "text": "Yes please"},
                    {"type": "QUICK_REPLY", "text": "Stop"},
                ]},
            ],
            "variables": [
                {"position": 1, "name": "first_name", "description": "The customer's first name",
                 "sampleValue": "Ann"},
                {"position": 2, "name": "discount", "defaultValue": "10%", "sampleValue": "20%",
                 "required": false},
            ],
        }}),
    )
    .await;
    data(created)["createTemplate"].clone()
}

async fn template(app: &TestApp, id: &str) -> Value {
    data(
        gql(
            app,
            &format!("query($id: ID!) {{ template(id: $id) {{ {TEMPLATE_FIELDS} }} }}"),
            json!({ "id": id }),
        )
        .await,
    )["template"]
        .clone()
}

async fn wait_for_template_status(app: &TestApp, id: &str, wanted: &str) -> Value {
    eventually(&format!("template {wanted}"), || async {
        let found = template(app, id).await;
        (found["status"] == wanted).then_some(found)
    })
    .await
}

#[tokio::test]
async fn a_template_is_created_approved_by_meta_s_review_listed_updated_and_deleted() {
    let app = TestApp::spawn().await;
    let created = create_promo(&app, true).await;
    assert_eq!(created["status"], "PENDING", "{created}");
    assert_eq!(created["category"], "MARKETING");
    let id = created["id"].as_str().unwrap().to_string();

    // The outbox submits it; the sandbox approves it in a signed status webhook.
    let approved = wait_for_template_status(&app, &id, "APPROVED").await;
    assert!(
        approved["metaTemplateId"]
            .as_str()
            .is_some_and(|m| m.chars().all(|c| c.is_ascii_digit())),
        "{approved}"
    );
    assert_eq!(
        approved["variables"],
        json!([
            {"position": 1, "component": "BODY", "name": "first_name",
             "description": "The customer's first name", "defaultValue": null,
             "sampleValue": "Ann", "required": true},
            {"position": 2, "component": "BODY", "name": "discount", "description": null,
             "defaultValue": "10%", "sampleValue": "20%", "required": false},
        ])
    );
    assert_eq!(
        approved["buttons"],
        json!([
            {"index": 0, "kind": "QUICK_REPLY", "text": "Yes please"},
            {"index": 1, "kind": "QUICK_REPLY", "text": "Stop"},
        ])
    );
    assert_eq!(approved["components"][0]["type"], "BODY", "{approved}");
    assert_eq!(
        approved["sendAnalytics"],
        json!({"sends": 0, "pending": 0, "sent": 0, "delivered": 0, "read": 0, "failed": 0})
    );

    // A second template, kept a draft; the list filters and pages.
    let draft = data(
        gql(
            &app,
            "mutation($input: CreateTemplateInput!) { createTemplate(input: $input) { id status } }",
            json!({ "input": {
                "phoneNumberId": app.workspace.meta_phone_number_id,
                "name": "another_one", "category": "UTILITY", "language": "en_US",
                "submit": false, "components": [{"type": "BODY", "text": "Your code is ready"}],
            }}),
        )
        .await,
    )["createTemplate"]
        .clone();
    assert_eq!(draft["status"], "DRAFT");
    let draft_id = draft["id"].as_str().unwrap().to_string();
    const LIST: &str = "query($status: TemplateStatus, $first: Int, $after: String, $phone: ID) {
        templates(status: $status, first: $first, after: $after, phoneNumberId: $phone) {
            totalCount pageInfo { hasNextPage endCursor } edges { node { id name status } } } }";
    let first_page = data(gql(&app, LIST, json!({ "first": 1 })).await)["templates"].clone();
    assert_eq!(first_page["totalCount"], 2, "{first_page}");
    assert_eq!(first_page["edges"][0]["node"]["name"], "another_one");
    assert_eq!(first_page["pageInfo"]["hasNextPage"], true);
    let second_page = data(
        gql(
            &app,
            LIST,
            json!({ "first": 1, "after": first_page["pageInfo"]["endCursor"] }),
        )
        .await,
    )["templates"]
        .clone();
    assert_eq!(second_page["edges"][0]["node"]["name"], PROMO);
    assert_eq!(second_page["pageInfo"]["hasNextPage"], false);
    let drafts = data(
        gql(
            &app,
            LIST,
            json!({ "status": "DRAFT", "phone": app.workspace.phone_number }),
        )
        .await,
    )["templates"]
        .clone();
    assert_eq!(drafts["totalCount"], 1, "{drafts}");
    assert_eq!(drafts["edges"][0]["node"]["id"], draft_id.as_str());

    // The draft is edited, then submitted and approved.
    let updated = data(
        gql(
            &app,
            "mutation($id: ID!, $components: [JSON!]!) {
                updateTemplate(id: $id, components: $components) { status components } }",
            json!({ "id": draft_id, "components": [{"type": "BODY", "text": "Your order is ready"}] }),
        )
        .await,
    )["updateTemplate"]
        .clone();
    assert_eq!(updated["components"][0]["text"], "Your order is ready");
    let submitted = data(
        gql(
            &app,
            "mutation($id: ID!) { submitTemplate(id: $id) { status } }",
            json!({ "id": draft_id }),
        )
        .await,
    )["submitTemplate"]
        .clone();
    assert_eq!(submitted["status"], "PENDING");
    wait_for_template_status(&app, &draft_id, "APPROVED").await;

    // Submitting again is refused by the template's lifecycle.
    let again = gql(
        &app,
        "mutation($id: ID!) { submitTemplate(id: $id) { status } }",
        json!({ "id": draft_id }),
    )
    .await;
    assert_eq!(code(&again), "INVALID_STATE", "{again}");

    // A sync finds nothing new: both are on Meta already, as Parley has them.
    let synced = data(
        gql(
            &app,
            "mutation($phone: ID!) { syncTemplates(phoneNumberId: $phone) {
                imported updated unchanged errors templates { name } } }",
            json!({ "phone": app.workspace.phone_number }),
        )
        .await,
    )["syncTemplates"]
        .clone();
    assert_eq!(synced["imported"], 0, "{synced}");
    assert_eq!(synced["errors"], json!([]), "{synced}");
    assert_eq!(synced["templates"].as_array().unwrap().len(), 2);

    // Deleted: gone from queries.
    let deleted = data(
        gql(
            &app,
            "mutation($id: ID!) { deleteTemplate(id: $id) }",
            json!({ "id": draft_id }),
        )
        .await,
    );
    assert_eq!(deleted["deleteTemplate"], draft_id.as_str());
    let gone = gql(
        &app,
        "query($id: ID!) { template(id: $id) { id } }",
        json!({ "id": draft_id }),
    )
    .await;
    assert_eq!(code(&gone), "NOT_FOUND", "{gone}");

    // A bad name is a validation error.
    let bad = gql(
        &app,
        "mutation($input: CreateTemplateInput!) { createTemplate(input: $input) { id } }",
        json!({ "input": {
            "phoneNumberId": app.workspace.phone_number, "name": "Bad Name",
            "category": "UTILITY", "language": "en_US",
            "components": [{"type": "BODY", "text": "x"}],
        }}),
    )
    .await;
    assert_eq!(code(&bad), "VALIDATION_ERROR", "{bad}");
}

// ---- broadcasts ----

const BROADCAST_FIELDS: &str = "id name status recipientCount pauseReason pauseCode
    template { name language }
    counts { total pending sent delivered read failed skipped }
    funnel { total sent delivered read failed skipped }";

fn recipient(n: u32) -> Value {
    json!({"phone": format!("+1415558{n:04}"), "name": format!("C{n}"),
           "variables": [{"key": "1", "value": format!("Name{n}")}]})
}

async fn create_broadcast(app: &TestApp, template: &str, recipients: Vec<Value>) -> String {
    let created = data(
        gql(
            app,
            &format!(
                "mutation($input: CreateBroadcastInput!) {{ createBroadcast(input: $input) {{ {BROADCAST_FIELDS} }} }}"
            ),
            json!({ "input": {
                "phoneNumberId": app.workspace.phone_number, "name": "Spring",
                "template": {"name": template, "language": "en_US"},
                "recipients": recipients,
            }}),
        )
        .await,
    )["createBroadcast"]
        .clone();
    assert_eq!(created["status"], "DRAFT", "{created}");
    created["id"].as_str().unwrap().to_string()
}

async fn broadcast(app: &TestApp, id: &str) -> Value {
    data(
        gql(
            app,
            &format!("query($id: ID!) {{ broadcast(id: $id) {{ {BROADCAST_FIELDS} }} }}"),
            json!({ "id": id }),
        )
        .await,
    )["broadcast"]
        .clone()
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A graphql-transport-ws connection to `/graphql`, acknowledged, for `workspace`.
async fn ws_connect(app: &TestApp, workspace: &Workspace) -> Socket {
    let url = format!("{}/graphql", app.base_url.replacen("http", "ws", 1));
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let init = json!({ "type": "connection_init", "payload": { "token": workspace.token } });
    socket
        .send(WsMessage::Text(init.to_string().into()))
        .await
        .unwrap();
    let ack = next_json(&mut socket, Duration::from_secs(5)).await;
    assert_eq!(ack.unwrap()["type"], "connection_ack");
    socket
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

async fn subscribe_progress(socket: &mut Socket, broadcast: &str) {
    let query = format!(
        "subscription {{ broadcastProgress(id: \"{broadcast}\") {{ id status counts {{ pending }} funnel {{ total sent delivered read failed skipped }} }} }}"
    );
    let message = json!({ "id": "progress", "type": "subscribe", "payload": { "query": query } });
    socket
        .send(WsMessage::Text(message.to_string().into()))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_broadcast_s_funnel_recipients_and_live_progress_follow_the_sandbox() {
    let app = TestApp::spawn().await;
    app.approved_template("weekly_news", "Hi {{1}}, here is the news")
        .await;
    // One recipient opted out; Meta refuses one at once and fails another after accepting it.
    let (status, body) = app
        .send(
            app.request(Method::POST, "/v1/whatsapp/contacts")
                .json(&json!({
                    "accountId": app.workspace.phone_number, "phone": "+14155580004",
                    "name": "Opted out", "isOptedIn": false,
                })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    app.sandbox
        .state()
        .update_config(&json!({
            "fail_recipients": {"14155580002": 131026},
            "fail_recipients_async": {"14155580003": 131049},
        }))
        .unwrap();

    let id = create_broadcast(&app, "weekly_news", (0..3).map(recipient).collect()).await;
    let added = data(
        gql(
            &app,
            "mutation($id: ID!, $recipients: [BroadcastRecipientInput!]!) {
                addBroadcastRecipients(id: $id, recipients: $recipients) {
                    added duplicates totalRecipients broadcast { recipientCount } } }",
            json!({ "id": id, "recipients": (2..7).map(recipient).collect::<Vec<_>>() }),
        )
        .await,
    )["addBroadcastRecipients"]
        .clone();
    assert_eq!(
        added,
        json!({"added": 4, "duplicates": 1, "totalRecipients": 7,
               "broadcast": {"recipientCount": 7}})
    );
    let removed = data(
        gql(
            &app,
            "mutation($id: ID!) { removeBroadcastRecipients(id: $id, phones: [\"+14155580005\", \"+14155580006\"]) {
                removed totalRecipients } }",
            json!({ "id": id }),
        )
        .await,
    )["removeBroadcastRecipients"]
        .clone();
    assert_eq!(removed, json!({"removed": 2, "totalRecipients": 5}));
    let bad_phone = gql(
        &app,
        "mutation($id: ID!) { addBroadcastRecipients(id: $id, recipients: [{phone: \"12\"}]) { added } }",
        json!({ "id": id }),
    )
    .await;
    assert_eq!(code(&bad_phone), "INVALID_PHONE_NUMBER", "{bad_phone}");

    // Live progress, subscribed before sending: first the draft as it is.
    let mut socket = ws_connect(&app, &app.workspace).await;
    subscribe_progress(&mut socket, &id).await;
    let first = next_json(&mut socket, Duration::from_secs(10))
        .await
        .expect("the broadcast as it is");
    let first = &first["payload"]["data"]["broadcastProgress"];
    assert_eq!(first["status"], "DRAFT", "{first}");
    assert_eq!(first["counts"]["pending"], 5, "{first}");

    let sent = data(
        gql(
            &app,
            "mutation($id: ID!) { sendBroadcast(id: $id) {
                audience skipped { phone reason detail } broadcast { status } } }",
            json!({ "id": id }),
        )
        .await,
    )["sendBroadcast"]
        .clone();
    assert_eq!(sent["audience"], 4, "{sent}");
    assert_eq!(sent["skipped"][0]["phone"], "+14155580004", "{sent}");
    assert_eq!(sent["skipped"][0]["reason"], "OPTED_OUT");
    assert_eq!(sent["broadcast"]["status"], "SENDING");

    // Updates arrive as the recipients' statuses come in, up to the final funnel.
    let expected =
        json!({"total": 5, "sent": 2, "delivered": 2, "read": 2, "failed": 2, "skipped": 1});
    let mut seen = Vec::new();
    loop {
        let update = next_json(&mut socket, Duration::from_secs(15))
            .await
            .unwrap_or_else(|| panic!("no progress after {seen:?}"));
        assert_eq!(update["id"], "progress", "{update}");
        let progress = update["payload"]["data"]["broadcastProgress"].clone();
        assert_eq!(progress["id"], id.as_str());
        let done = progress["status"] == "COMPLETED" && progress["funnel"] == expected;
        seen.push(progress);
        if done {
            break;
        }
    }
    assert!(seen.len() >= 2, "progress came in steps: {seen:?}");
    assert!(seen.iter().any(|p| p["status"] == "SENDING"), "{seen:?}");

    let done = broadcast(&app, &id).await;
    assert_eq!(done["funnel"], expected, "{done}");
    assert_eq!(
        done["counts"],
        json!({"total": 5, "pending": 0, "sent": 0, "delivered": 0, "read": 2, "failed": 2, "skipped": 1})
    );

    // Recipients, filtered by status and paged by cursor.
    const RECIPIENTS: &str =
        "query($id: ID!, $status: BroadcastRecipientStatus, $first: Int, $after: String) {
        broadcast(id: $id) { recipients(status: $status, first: $first, after: $after) {
            totalCount pageInfo { hasNextPage endCursor }
            edges { node { phone name status error errorCode skipReason wamid
                           variables { key value } } } } } }";
    let failed = data(gql(&app, RECIPIENTS, json!({ "id": id, "status": "FAILED" })).await)
        ["broadcast"]["recipients"]
        .clone();
    assert_eq!(failed["totalCount"], 2, "{failed}");
    let codes: Vec<i64> = failed["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["errorCode"].as_i64().unwrap())
        .collect();
    assert_eq!(codes, [131026, 131049], "{failed}");
    let skipped = data(gql(&app, RECIPIENTS, json!({ "id": id, "status": "SKIPPED" })).await)
        ["broadcast"]["recipients"]
        .clone();
    assert_eq!(skipped["edges"][0]["node"]["skipReason"], "OPTED_OUT");
    let page1 = data(gql(&app, RECIPIENTS, json!({ "id": id, "first": 3 })).await)["broadcast"]
        ["recipients"]
        .clone();
    assert_eq!(page1["totalCount"], 5);
    assert_eq!(page1["pageInfo"]["hasNextPage"], true);
    assert_eq!(page1["edges"][0]["node"]["phone"], "+14155580000");
    assert_eq!(
        page1["edges"][0]["node"]["variables"],
        json!([{"key": "1", "value": "Name0"}])
    );
    assert!(page1["edges"][0]["node"]["wamid"]
        .as_str()
        .is_some_and(|w| w.starts_with("wamid.")));
    let page2 = data(
        gql(
            &app,
            RECIPIENTS,
            json!({ "id": id, "first": 3, "after": page1["pageInfo"]["endCursor"] }),
        )
        .await,
    )["broadcast"]["recipients"]
        .clone();
    let phones: Vec<&str> = page2["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["phone"].as_str().unwrap())
        .collect();
    assert_eq!(phones, ["+14155580003", "+14155580004"]);
    assert_eq!(page2["pageInfo"]["hasNextPage"], false);

    // The template's send analytics count the same messages.
    let template_id = data(
        gql(
            &app,
            "{ templates(name: \"weekly_news\") { edges { node { id sendAnalytics { sends pending sent delivered read failed } } } } }",
            json!({}),
        )
        .await,
    )["templates"]["edges"][0]["node"]
        .clone();
    assert_eq!(
        template_id["sendAnalytics"],
        json!({"sends": 4, "pending": 0, "sent": 2, "delivered": 2, "read": 2, "failed": 2}),
        "{template_id}"
    );

    // The broadcasts list filters by status.
    let listed = data(
        gql(
            &app,
            "{ completed: broadcasts(status: COMPLETED) { totalCount edges { node { id } } }
               drafts: broadcasts(status: DRAFT) { totalCount } }",
            json!({}),
        )
        .await,
    );
    assert_eq!(listed["completed"]["totalCount"], 1);
    assert_eq!(listed["completed"]["edges"][0]["node"]["id"], id.as_str());
    assert_eq!(listed["drafts"]["totalCount"], 0);

    // Meta stops refusing: the failed are retried and read.
    app.sandbox
        .state()
        .update_config(&json!({"fail_recipients": {}, "fail_recipients_async": {}}))
        .unwrap();
    let retried = data(
        gql(
            &app,
            "mutation($id: ID!) { retryFailedBroadcastRecipients(id: $id) { retried } }",
            json!({ "id": id }),
        )
        .await,
    )["retryFailedBroadcastRecipients"]
        .clone();
    assert_eq!(retried["retried"], 2);
    let after_retry = eventually("the retried recipients read", || async {
        let current = broadcast(&app, &id).await;
        (current["funnel"]["read"] == 4).then_some(current)
    })
    .await;
    assert_eq!(after_retry["funnel"]["failed"], 0, "{after_retry}");
}

#[tokio::test]
async fn a_broadcast_is_scheduled_paused_resumed_cancelled_and_deleted() {
    let app = TestApp::spawn().await;
    app.approved_template("weekly_news", "Hi {{1}}").await;
    let id = create_broadcast(&app, "weekly_news", (0..40).map(recipient).collect()).await;
    let later = chrono::Utc::now() + chrono::Duration::days(2);
    let scheduled = data(
        gql(
            &app,
            "mutation($id: ID!, $at: DateTime!) { scheduleBroadcast(id: $id, scheduledAt: $at) { status } }",
            json!({ "id": id, "at": later.to_rfc3339() }),
        )
        .await,
    );
    assert_eq!(scheduled["scheduleBroadcast"]["status"], "SCHEDULED");
    let too_late = gql(
        &app,
        "mutation($id: ID!, $at: DateTime!) { scheduleBroadcast(id: $id, scheduledAt: $at) { status } }",
        json!({ "id": id, "at": (chrono::Utc::now() + chrono::Duration::days(31)).to_rfc3339() }),
    )
    .await;
    assert!(too_late.get("errors").is_some(), "{too_late}");
    let unscheduled = data(
        gql(
            &app,
            "mutation($id: ID!) { cancelBroadcastSchedule(id: $id) { status } }",
            json!({ "id": id }),
        )
        .await,
    );
    assert_eq!(unscheduled["cancelBroadcastSchedule"]["status"], "DRAFT");

    // Slow the number down so the broadcast is still sending when paused (its pacing row
    // exists once Meta told its tier).
    app.sandbox
        .state()
        .set_phone_quality(PhoneQualityRequest {
            phone_number_id: Some(app.workspace.meta_phone_number_id.clone()),
            event: "UPGRADE".into(),
            current_limit: Some("TIER_UNLIMITED".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let db = app.db().await;
    eventually("the number's pacing slowed down", || async {
        let slowed = db
            .execute(
                "UPDATE phone_number_throughput SET messages_per_second = 5 \
                 WHERE phone_number_id = $1 AND tier_known",
                &[&app.workspace.phone_number],
            )
            .await
            .unwrap();
        (slowed == 1).then_some(())
    })
    .await;
    data(
        gql(
            &app,
            "mutation($id: ID!) { sendBroadcast(id: $id) { audience } }",
            json!({ "id": id }),
        )
        .await,
    );
    let paused = data(
        gql(
            &app,
            "mutation($id: ID!) { pauseBroadcast(id: $id) { status pauseCode pauseReason } }",
            json!({ "id": id }),
        )
        .await,
    )["pauseBroadcast"]
        .clone();
    assert_eq!(paused["status"], "PAUSED", "{paused}");
    assert_eq!(paused["pauseCode"], "MANUAL", "{paused}");
    let resumed = data(
        gql(
            &app,
            "mutation($id: ID!) { resumeBroadcast(id: $id) { status pauseReason } }",
            json!({ "id": id }),
        )
        .await,
    )["resumeBroadcast"]
        .clone();
    assert_eq!(resumed, json!({"status": "SENDING", "pauseReason": null}));
    let cancelled = data(
        gql(
            &app,
            "mutation($id: ID!) { cancelBroadcast(id: $id) { status } }",
            json!({ "id": id }),
        )
        .await,
    );
    assert_eq!(cancelled["cancelBroadcast"]["status"], "CANCELLED");
    // Cancelled: no longer changeable, but deletable.
    let refused = gql(
        &app,
        "mutation($id: ID!) { resumeBroadcast(id: $id) { status } }",
        json!({ "id": id }),
    )
    .await;
    assert_eq!(code(&refused), "INVALID_STATE", "{refused}");
    let deleted = data(
        gql(
            &app,
            "mutation($id: ID!) { deleteBroadcast(id: $id) }",
            json!({ "id": id }),
        )
        .await,
    );
    assert_eq!(deleted["deleteBroadcast"], id.as_str());
    let gone = gql(
        &app,
        "query($id: ID!) { broadcast(id: $id) { id } }",
        json!({ "id": id }),
    )
    .await;
    assert_eq!(code(&gone), "NOT_FOUND", "{gone}");
}

// ---- button clicks ----

/// Sends the promo template to `wa_id` through the conversation and returns its wamid once Meta
/// accepted it.
async fn send_promo(app: &TestApp, wa_id: &str) -> String {
    let message = data(
        gql(
            app,
            "mutation($input: SendMessageInput!) { sendMessage(input: $input) { id } }",
            json!({ "input": {
                "phoneNumberId": app.workspace.phone_number, "to": format!("+{wa_id}"),
                "content": {"type": "template", "template": {
                    "name": PROMO, "language": {"code": "en_US"},
                    "components": [{"type": "body", "parameters": [
                        {"type": "text", "text": "Ann"}, {"type": "text", "text": "25%"},
                    ]}],
                }},
            }}),
        )
        .await,
    )["sendMessage"]["id"]
        .clone();
    eventually("the promo accepted by Meta", || async {
        let found = data(
            gql(
                app,
                "query($id: ID!) { message(id: $id) { wamid } }",
                json!({ "id": message }),
            )
            .await,
        );
        found["message"]["wamid"].as_str().map(str::to_string)
    })
    .await
}

/// The customer taps a quick reply of the message `context` names.
async fn tap(app: &TestApp, wa_id: &str, context: &str, text: &str) {
    let request = sandbox::InboundRequest::new(
        app.workspace.meta_phone_number_id.clone(),
        wa_id,
        json!({
            "type": "button",
            "button": {"payload": text, "text": text},
            "context": {"from": "15550100001", "id": context},
        }),
    );
    let outcome = app.sandbox.state().deliver_inbound(request).await.unwrap();
    assert!(outcome.delivered, "{outcome:?}");
}

#[tokio::test]
async fn quick_reply_taps_on_a_template_message_count_per_button_and_per_customer() {
    let app = TestApp::spawn().await;
    let id = create_promo(&app, true).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    wait_for_template_status(&app, &id, "APPROVED").await;
    let (alice, bob) = ("14155550101", "14155550202");
    let to_alice = send_promo(&app, alice).await;
    let to_bob = send_promo(&app, bob).await;

    tap(&app, alice, &to_alice, "Yes please").await;
    tap(&app, alice, &to_alice, "Yes please").await;
    tap(&app, bob, &to_bob, "Yes please").await;
    tap(&app, bob, &to_bob, "Stop").await;
    // A plain text reply is no click.
    let outcome = app
        .sandbox
        .state()
        .deliver_inbound(sandbox::InboundRequest::text(
            app.workspace.meta_phone_number_id.clone(),
            bob,
            "thanks",
        ))
        .await
        .unwrap();
    assert!(outcome.delivered);

    let analytics = eventually("four clicks counted", || async {
        let found = template(&app, &id).await;
        (found["buttonAnalytics"]["totalClicks"] == 4).then_some(found)
    })
    .await;
    assert_eq!(
        analytics["buttonAnalytics"],
        json!({"totalClicks": 4, "uniqueClickers": 2, "buttons": [
            {"buttonId": "Yes please", "buttonText": "Yes please", "totalClicks": 3, "uniqueClicks": 2},
            {"buttonId": "Stop", "buttonText": "Stop", "totalClicks": 1, "uniqueClicks": 1},
        ]})
    );
    let sends = eventually("both promos read", || async {
        let found = template(&app, &id).await;
        (found["sendAnalytics"]["read"] == 2).then_some(found["sendAnalytics"].clone())
    })
    .await;
    assert_eq!(
        sends,
        json!({"sends": 2, "pending": 0, "sent": 2, "delivered": 2, "read": 2, "failed": 0})
    );

    // Per customer: what the lead clicked.
    let activity = data(
        gql(
            &app,
            "query($customer: String!) { customerButtonActivity(customer: $customer) {
                customerPhone totalClicks
                buttonsClicked { templateId templateName buttonText clicks } } }",
            json!({ "customer": format!("+{bob}") }),
        )
        .await,
    )["customerButtonActivity"]
        .clone();
    assert_eq!(activity["customerPhone"], format!("+{bob}"));
    assert_eq!(activity["totalClicks"], 2);
    let mut clicked: Vec<(String, i64)> = activity["buttonsClicked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            assert_eq!(b["templateName"], PROMO);
            assert_eq!(b["templateId"], id.as_str());
            (
                b["buttonText"].as_str().unwrap().to_string(),
                b["clicks"].as_i64().unwrap(),
            )
        })
        .collect();
    clicked.sort();
    assert_eq!(
        clicked,
        [("Stop".to_string(), 1), ("Yes please".to_string(), 1)]
    );

    // Every click, latest first, filtered and paged.
    const CLICKS: &str = "query($template: ID, $customer: String, $first: Int, $after: String) {
        buttonClicks(templateId: $template, customer: $customer, first: $first, after: $after) {
            totalCount pageInfo { hasNextPage endCursor }
            edges { node { customerPhone buttonText kind templateName templateMessageId } } } }";
    let alice_clicks = data(
        gql(
            &app,
            CLICKS,
            json!({ "template": id, "customer": alice, "first": 1 }),
        )
        .await,
    )["buttonClicks"]
        .clone();
    assert_eq!(alice_clicks["totalCount"], 2, "{alice_clicks}");
    assert_eq!(alice_clicks["pageInfo"]["hasNextPage"], true);
    let node = &alice_clicks["edges"][0]["node"];
    assert_eq!(node["kind"], "QUICK_REPLY");
    assert_eq!(node["customerPhone"], format!("+{alice}"));
    let rest = data(
        gql(
            &app,
            CLICKS,
            json!({ "template": id, "customer": alice, "first": 5,
                    "after": alice_clicks["pageInfo"]["endCursor"] }),
        )
        .await,
    )["buttonClicks"]
        .clone();
    assert_eq!(rest["edges"].as_array().unwrap().len(), 1, "{rest}");
    assert_eq!(rest["pageInfo"]["hasNextPage"], false);
    let all = data(gql(&app, CLICKS, json!({})).await)["buttonClicks"].clone();
    assert_eq!(all["totalCount"], 4, "the text reply is no click: {all}");

    // The read model is disposable: a rebuild from the event log gives the same rows.
    let db = app.db().await;
    let dump = |table: &'static str| {
        let db = &db;
        async move {
            db.query(
                &format!("SELECT t::text FROM {table} t ORDER BY message_id"),
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|row| row.get::<_, String>(0))
            .collect::<Vec<String>>()
        }
    };
    let (messages, clicks) = (
        dump("template_messages").await,
        dump("template_button_clicks").await,
    );
    assert_eq!((messages.len(), clicks.len()), (2, 4));
    let projector = projections::Projector::new(
        app.app.infra.pools.queries.clone(),
        projections::all_projections(),
        app.app.infra.watch.clone(),
    );
    projector
        .rebuild(Some("template_analytics"), |_| {})
        .await
        .unwrap();
    assert_eq!(dump("template_messages").await, messages);
    assert_eq!(dump("template_button_clicks").await, clicks);
}

// ---- phone-number health ----

#[tokio::test]
async fn quality_webhooks_registration_codes_and_the_business_profile() {
    let app = TestApp::spawn().await;
    const HEALTH: &str =
        "query($id: ID!) { phoneNumber(id: $id) { qualityRating messagingLimitTier status } }";
    let vars = json!({ "id": app.workspace.phone_number });
    let before = data(gql(&app, HEALTH, vars.clone()).await)["phoneNumber"].clone();
    assert_eq!(before["qualityRating"], Value::Null, "{before}");

    // Meta's quality update reaches the number.
    app.sandbox
        .state()
        .set_phone_quality(PhoneQualityRequest {
            phone_number_id: Some(app.workspace.meta_phone_number_id.clone()),
            event: "FLAGGED".into(),
            quality_rating: Some("RED".into()),
            current_limit: Some("TIER_1K".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let flagged = eventually("the RED rating", || async {
        let found = data(gql(&app, HEALTH, vars.clone()).await)["phoneNumber"].clone();
        (found["qualityRating"] == "RED").then_some(found)
    })
    .await;
    assert_eq!(flagged["messagingLimitTier"], "TIER_1K", "{flagged}");

    // Registration: verifying before a code was requested, or with a wrong code, fails.
    const VERIFY: &str = "mutation($id: ID!, $code: String!) {
        verifyRegistrationCode(phoneNumberId: $id, code: $code) { status } }";
    let early = gql(
        &app,
        VERIFY,
        json!({ "id": app.workspace.phone_number, "code": "123456" }),
    )
    .await;
    assert_eq!(code(&early), "VALIDATION_ERROR", "{early}");
    let requested = data(
        gql(
            &app,
            "mutation($id: ID!) { requestRegistrationCode(phoneNumberId: $id, method: VOICE) {
                method phoneNumber { id } } }",
            json!({ "id": app.workspace.meta_phone_number_id }),
        )
        .await,
    )["requestRegistrationCode"]
        .clone();
    assert_eq!(requested["method"], "VOICE");
    assert_eq!(
        requested["phoneNumber"]["id"],
        app.workspace.phone_number.to_string()
    );
    let short = gql(
        &app,
        VERIFY,
        json!({ "id": app.workspace.phone_number, "code": "12" }),
    )
    .await;
    assert_eq!(code(&short), "VALIDATION_ERROR", "{short}");
    let wrong = gql(
        &app,
        VERIFY,
        json!({ "id": app.workspace.phone_number, "code": "000000" }),
    )
    .await;
    assert_eq!(code(&wrong), "VALIDATION_ERROR", "{wrong}");
    let verified = data(
        gql(
            &app,
            VERIFY,
            json!({ "id": app.workspace.phone_number, "code": "123456" }),
        )
        .await,
    );
    assert_eq!(verified["verifyRegistrationCode"]["status"], "VERIFIED");

    // The business profile: read, updated, read back; Meta's limits are validation errors.
    const UPDATE: &str = "mutation($id: ID!, $input: BusinessProfileInput!) {
        updateBusinessProfile(phoneNumberId: $id, input: $input) { about description websites email } }";
    let updated = data(
        gql(
            &app,
            UPDATE,
            json!({ "id": app.workspace.phone_number, "input": {
                "about": "Fresh flowers daily", "description": "A flower shop",
                "websites": ["https://flowers.example", "https://shop.flowers.example"],
                "email": "hello@flowers.example",
            }}),
        )
        .await,
    )["updateBusinessProfile"]
        .clone();
    assert_eq!(
        updated,
        json!({"about": "Fresh flowers daily", "description": "A flower shop",
               "websites": ["https://flowers.example", "https://shop.flowers.example"],
               "email": "hello@flowers.example"})
    );
    let read_back = data(
        gql(
            &app,
            "query($id: ID!) { businessProfile(phoneNumberId: $id) { about websites } }",
            json!({ "id": app.workspace.meta_phone_number_id }),
        )
        .await,
    )["businessProfile"]
        .clone();
    assert_eq!(read_back["about"], "Fresh flowers daily");
    for input in [
        json!({"about": "a".repeat(140)}),
        json!({"description": "d".repeat(513)}),
        json!({"websites": ["https://a.example", "https://b.example", "https://c.example"]}),
    ] {
        let refused = gql(
            &app,
            UPDATE,
            json!({ "id": app.workspace.phone_number, "input": input }),
        )
        .await;
        assert_eq!(code(&refused), "VALIDATION_ERROR", "{refused}");
        assert!(
            refused["errors"][0]["message"]
                .as_str()
                .is_some_and(|m| m.contains("about")
                    || m.contains("description")
                    || m.contains("websites")),
            "{refused}"
        );
    }
    let unchanged = data(
        gql(
            &app,
            "query($id: ID!) { businessProfile(phoneNumberId: $id) { about } }",
            json!({ "id": app.workspace.phone_number }),
        )
        .await,
    );
    assert_eq!(unchanged["businessProfile"]["about"], "Fresh flowers daily");
}

// ---- tenancy ----

#[tokio::test]
async fn another_workspace_sees_and_changes_none_of_it() {
    let app = TestApp::spawn().await;
    app.approved_template("weekly_news", "Hi {{1}}").await;
    let broadcast_id = create_broadcast(&app, "weekly_news", vec![recipient(1)]).await;
    let template_id = data(gql(&app, "{ templates { edges { node { id } } } }", json!({})).await)
        ["templates"]["edges"][0]["node"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let other = app.another_workspace().await;

    let listed = data(
        gql_as(
            &app,
            &other,
            "{ templates { totalCount } broadcasts { totalCount } buttonClicks { totalCount } }",
            json!({}),
        )
        .await,
    );
    assert_eq!(
        listed,
        json!({"templates": {"totalCount": 0}, "broadcasts": {"totalCount": 0},
               "buttonClicks": {"totalCount": 0}})
    );
    for (query, variables) in [
        (
            "query($id: ID!) { template(id: $id) { id } }",
            json!({ "id": template_id }),
        ),
        (
            "query($id: ID!) { broadcast(id: $id) { id } }",
            json!({ "id": broadcast_id }),
        ),
        (
            "mutation($id: ID!) { sendBroadcast(id: $id) { audience } }",
            json!({ "id": broadcast_id }),
        ),
        (
            "mutation($id: ID!) { deleteBroadcast(id: $id) }",
            json!({ "id": broadcast_id }),
        ),
        (
            "mutation($id: ID!) { deleteTemplate(id: $id) }",
            json!({ "id": template_id }),
        ),
        (
            "query($id: ID!) { businessProfile(phoneNumberId: $id) { about } }",
            json!({ "id": app.workspace.phone_number }),
        ),
        (
            "mutation($id: ID!) { requestRegistrationCode(phoneNumberId: $id) { method } }",
            json!({ "id": app.workspace.phone_number }),
        ),
        (
            "query($id: ID!) { templates(phoneNumberId: $id) { totalCount } }",
            json!({ "id": app.workspace.phone_number }),
        ),
    ] {
        let refused = gql_as(&app, &other, query, variables).await;
        assert_eq!(code(&refused), "NOT_FOUND", "{query}: {refused}");
    }
    // The owner still has both, unchanged.
    assert_eq!(broadcast(&app, &broadcast_id).await["status"], "DRAFT");
    assert_eq!(template(&app, &template_id).await["status"], "APPROVED");

    // Nor can it follow the broadcast's progress.
    let mut socket = ws_connect(&app, &other).await;
    subscribe_progress(&mut socket, &broadcast_id).await;
    let answer = next_json(&mut socket, Duration::from_secs(5))
        .await
        .expect("an answer");
    assert_eq!(answer["payload"]["data"], Value::Null, "{answer}");
    assert_eq!(
        answer["payload"]["errors"][0]["extensions"]["code"], "NOT_FOUND",
        "{answer}"
    );
    assert_eq!(
        next_json(&mut socket, Duration::from_millis(300))
            .await
            .map(|m| m["type"].clone()),
        Some(json!("complete")),
        "the subscription ends there"
    );
}

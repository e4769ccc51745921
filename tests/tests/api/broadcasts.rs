//! Tests: templates and broadcasts over REST (seed 001) against the sandbox, as a user sees them:
//! a template approved by Meta's review, a broadcast that skips the unwilling, sends each
//! recipient their own message exactly once, pauses and resumes, honours the schedule and the
//! messaging limit, and ends with a funnel that matches its recipients.

use parley_tests::TestApp;
use reqwest::Method;
use sandbox::PhoneQualityRequest;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

const TEMPLATE: &str = "weekly_update";

async fn call(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let request = app.request(method, path);
    let request = match body {
        Some(body) => request.json(&body),
        None => request,
    };
    app.send(request).await
}

/// The number may message any number of customers (else Parley assumes the entry tier, 250).
async fn unlimited_tier(app: &TestApp) {
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
    for _ in 0..200 {
        let row = db
            .query_opt(
                "SELECT 1 FROM phone_number_throughput WHERE phone_number_id = $1 \
                 AND tier_known AND daily_recipients IS NULL",
                &[&app.workspace.phone_number],
            )
            .await
            .unwrap();
        if row.is_some() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the tier never reached the outbox");
}

fn recipient(n: u32) -> Value {
    json!({"phone": format!("+1415557{n:04}"), "name": format!("C{n}"), "variables": {"1": format!("Name{n}")}})
}

async fn create_broadcast(app: &TestApp, recipients: Vec<Value>) -> String {
    let (status, body) = call(
        app,
        Method::POST,
        "/v1/whatsapp/broadcasts",
        Some(json!({
            "accountId": app.workspace.phone_number,
            "name": "Weekly",
            "description": "news",
            "template": {"name": TEMPLATE, "language": "en_US"},
            "recipients": recipients,
        })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["broadcast"]["status"], "draft");
    body["broadcast"]["id"].as_str().unwrap().to_string()
}

async fn broadcast(app: &TestApp, id: &str) -> Value {
    let (status, body) = call(
        app,
        Method::GET,
        &format!("/v1/whatsapp/broadcasts/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["broadcast"].clone()
}

async fn wait_for_status(app: &TestApp, id: &str, wanted: &str) -> Value {
    for _ in 0..600 {
        let current = broadcast(app, id).await;
        if current["status"] == wanted {
            return current;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "broadcast {id} never became {wanted}: {}",
        broadcast(app, id).await
    );
}

async fn recipients(app: &TestApp, id: &str, query: &str) -> Value {
    let (status, body) = call(
        app,
        Method::GET,
        &format!("/v1/whatsapp/broadcasts/{id}/recipients?limit=1000{query}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test]
async fn a_template_is_approved_by_meta_s_review_and_follows_its_status_webhooks() {
    let app = TestApp::spawn().await;
    let account = app.workspace.phone_number;
    let (status, created) = call(
        &app,
        Method::POST,
        "/v1/whatsapp/templates",
        Some(json!({
            "accountId": account, "name": "order_confirmation", "category": "UTILITY",
            "language": "en_US",
            "components": [{"type": "body", "text": "Your order {{1}} ships {{2}}"}],
            "variables": [
                {"variable_name": "order_id", "position": 1, "sample_value": "123"},
                {"variable_name": "when", "position": 2, "default_value": "soon", "is_required": false},
            ],
        })),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    assert_eq!(created["template"]["status"], "PENDING");

    // The outbox submits it; the sandbox approves it and says so in a signed webhook.
    let path = format!("/v1/whatsapp/templates/order_confirmation?accountId={account}");
    let mut template = Value::Null;
    for _ in 0..200 {
        template = call(&app, Method::GET, &path, None).await.1["template"].clone();
        if template["status"] == "APPROVED" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(template["status"], "APPROVED", "{template}");
    assert!(
        template["id"]
            .as_str()
            .unwrap()
            .chars()
            .all(|c| c.is_ascii_digit()),
        "Meta's id: {template}"
    );
    assert_eq!(
        template["variables"][1]["default_value"], "soon",
        "{template}"
    );

    // A send is checked against it before Meta sees it; the default fills {{2}}.
    let send = |parameters: Value| {
        json!({
            "phoneNumberId": app.workspace.meta_phone_number_id, "to": "+14155550111",
            "template": {"name": "order_confirmation", "language": {"code": "en_US"},
                         "components": [{"type": "body", "parameters": parameters}]},
        })
    };
    let (status, refused) = call(
        &app,
        Method::POST,
        "/api/v2/external/messages/send-template",
        Some(send(json!([{"type": "text", "text": "1"}, {"type": "text", "text": "2"}, {"type": "text", "text": "3"}]))),
    )
    .await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["error"]["code"], "TEMPLATE_MISMATCH", "{refused}");
    let (status, unknown) = call(
        &app,
        Method::POST,
        "/api/v2/external/messages/send-template",
        Some(json!({
            "phoneNumberId": app.workspace.meta_phone_number_id, "to": "+14155550111",
            "template": {"name": "nope", "language": {"code": "en_US"}},
        })),
    )
    .await;
    assert_eq!(status, 400, "{unknown}");
    assert_eq!(
        unknown["error"]["code"], "TEMPLATE_NOT_APPROVED",
        "{unknown}"
    );

    // Meta pauses it: sends are refused until it is approved again.
    app.sandbox
        .state()
        .set_template_status(sandbox::TemplateStatusRequest {
            template: sandbox::TemplateRef::named("order_confirmation", "en_US"),
            event: "PAUSED".into(),
            reason: None,
            rejection_info: None,
            disable_info: None,
            other_info: None,
        })
        .await
        .unwrap();
    for _ in 0..200 {
        if call(&app, Method::GET, &path, None).await.1["template"]["status"] == "PAUSED" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let (status, paused) = call(
        &app,
        Method::POST,
        "/api/v2/external/messages/send-template",
        Some(send(json!([{"type": "text", "text": "A-1"}]))),
    )
    .await;
    assert_eq!(status, 400, "{paused}");
    assert_eq!(paused["error"]["code"], "TEMPLATE_NOT_APPROVED", "{paused}");

    // Deleting removes it from Parley and from Meta.
    let (status, _) = call(&app, Method::DELETE, &path, None).await;
    assert_eq!(status, 200);
    assert_eq!(call(&app, Method::GET, &path, None).await.0, 404);
    let client = sandbox::SandboxClient::new(app.sandbox.base_url());
    let mut on_meta = true;
    for _ in 0..200 {
        on_meta = client
            .templates()
            .await
            .unwrap()
            .iter()
            .any(|t| t.name == "order_confirmation");
        if !on_meta {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(!on_meta, "the outbox deleted it on Meta");
    let (_, synced) = call(
        &app,
        Method::POST,
        "/v1/whatsapp/templates/sync",
        Some(json!({"accountId": account})),
    )
    .await;
    assert_eq!(synced["imported"], 0, "{synced}");
    let (status, list) = call(
        &app,
        Method::GET,
        &format!("/v1/whatsapp/templates?accountId={account}"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(list["templates"], json!([]), "{list}");
}

#[tokio::test]
async fn a_broadcast_skips_the_unwilling_sends_each_recipient_once_and_completes_with_its_funnel() {
    let app = TestApp::spawn().await;
    app.approved_template(TEMPLATE, "Hi {{1}}, here is the news")
        .await;
    unlimited_tier(&app).await;
    // Two recipients opted out of this number.
    for n in [3, 4] {
        let (status, body) = call(
            &app,
            Method::POST,
            "/v1/whatsapp/contacts",
            Some(json!({
                "accountId": app.workspace.phone_number, "phone": format!("+1415557{n:04}"),
                "name": "Opted out", "isOptedIn": false,
            })),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }

    let id = create_broadcast(&app, (0..5).map(recipient).collect()).await;
    let (status, added) = call(
        &app,
        Method::PATCH,
        &format!("/v1/whatsapp/broadcasts/{id}/recipients"),
        Some(json!({"recipients": (3..40).map(recipient).collect::<Vec<_>>()})),
    )
    .await;
    assert_eq!(status, 200, "{added}");
    assert_eq!(
        (
            added["added"].as_u64(),
            added["duplicates"].as_u64(),
            added["totalRecipients"].as_u64()
        ),
        (Some(35), Some(2), Some(40))
    );
    let (status, removed) = call(
        &app,
        Method::DELETE,
        &format!("/v1/whatsapp/broadcasts/{id}/recipients"),
        Some(json!({"phones": ["+14155570039", "+14155579999"]})),
    )
    .await;
    assert_eq!(status, 200, "{removed}");
    assert_eq!(
        (
            removed["removed"].as_u64(),
            removed["totalRecipients"].as_u64()
        ),
        (Some(1), Some(39))
    );

    let (status, sent) = call(
        &app,
        Method::POST,
        &format!("/v1/whatsapp/broadcasts/{id}/send"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{sent}");
    assert_eq!(
        (sent["total"].as_u64(), sent["skipped"].as_u64()),
        (Some(39), Some(2)),
        "{sent}"
    );
    // Frozen: no more recipients, no second start.
    let (status, _) = call(
        &app,
        Method::PATCH,
        &format!("/v1/whatsapp/broadcasts/{id}/recipients"),
        Some(json!({"recipients": [recipient(77)]})),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        call(
            &app,
            Method::POST,
            &format!("/v1/whatsapp/broadcasts/{id}/send"),
            None
        )
        .await
        .0,
        400
    );

    let done = wait_for_status(&app, &id, "completed").await;
    // Each willing recipient got exactly one message, with their own variable.
    let messages = app.sandbox.state().messages().messages;
    let mut per_recipient: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for message in &messages {
        per_recipient
            .entry(message.to.clone())
            .or_default()
            .push(message.body.clone());
    }
    assert_eq!(per_recipient.len(), 37, "{per_recipient:?}");
    assert!(per_recipient.values().all(|bodies| bodies.len() == 1));
    let body = &per_recipient["+14155570007"][0];
    assert_eq!(
        body["template"]["components"][0]["parameters"][0]["text"], "Name7",
        "{body}"
    );
    assert!(!per_recipient.contains_key("+14155570003"), "opted out");

    // The funnel follows the recipients' statuses from Meta's webhooks.
    let mut final_view = done;
    for _ in 0..200 {
        final_view = broadcast(&app, &id).await;
        if final_view["readCount"] == 37 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(final_view["sentCount"], 37, "{final_view}");
    assert_eq!(final_view["deliveredCount"], 37, "{final_view}");
    assert_eq!(final_view["readCount"], 37, "{final_view}");
    assert_eq!(final_view["skippedCount"], 2, "{final_view}");
    assert_eq!(final_view["failedCount"], 0, "{final_view}");
    let listed = recipients(&app, &id, "").await;
    assert_eq!(listed["summary"]["total"], 39);
    assert_eq!(listed["summary"]["read"], 37);
    let skipped = recipients(&app, &id, "&status=skipped").await;
    assert_eq!(skipped["recipients"].as_array().unwrap().len(), 2);
    assert!(
        skipped["recipients"][0]["error"]
            .as_str()
            .unwrap()
            .contains("opted out"),
        "{skipped}"
    );

    // Only drafts and cancelled broadcasts can be deleted.
    let (status, refused) = call(
        &app,
        Method::DELETE,
        &format!("/v1/whatsapp/broadcasts/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["code"], "INVALID_STATE", "{refused}");
}

#[tokio::test]
async fn a_broadcast_with_a_template_that_is_not_approved_does_not_start() {
    let app = TestApp::spawn().await;
    let id = create_broadcast(&app, vec![recipient(1)]).await;
    let (status, body) = call(
        &app,
        Method::POST,
        &format!("/v1/whatsapp/broadcasts/{id}/send"),
        None,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "TEMPLATE_NOT_APPROVED", "{body}");
    assert_eq!(broadcast(&app, &id).await["status"], "draft");
}

#[tokio::test]
async fn a_paused_broadcast_stops_sending_until_resumed_and_a_red_rating_pauses_it() {
    let app = TestApp::spawn().await;
    app.approved_template(TEMPLATE, "Hi {{1}}").await;
    unlimited_tier(&app).await;
    // Slow the number down so the broadcast is still sending when paused.
    let db = app.db().await;
    db.execute(
        "UPDATE phone_number_throughput SET messages_per_second = 10 WHERE phone_number_id = $1",
        &[&app.workspace.phone_number],
    )
    .await
    .unwrap();
    let id = create_broadcast(&app, (0..60).map(recipient).collect()).await;
    assert_eq!(
        call(
            &app,
            Method::POST,
            &format!("/v1/whatsapp/broadcasts/{id}/send"),
            None
        )
        .await
        .0,
        200
    );
    tokio::time::sleep(Duration::from_millis(800)).await;
    let (status, paused) = call(
        &app,
        Method::POST,
        &format!("/v1/whatsapp/broadcasts/{id}/pause"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{paused}");
    assert_eq!(paused["broadcast"]["status"], "paused");
    // Sends already claimed may still leave; then nothing more.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after_pause = app.sandbox.state().messages().messages.len();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        app.sandbox.state().messages().messages.len(),
        after_pause,
        "sending stopped"
    );
    assert!(
        after_pause < 60,
        "{after_pause} sent before the pause took hold"
    );

    let (status, resumed) = call(
        &app,
        Method::POST,
        &format!("/v1/whatsapp/broadcasts/{id}/resume"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{resumed}");
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Meta flags the number: its running broadcasts pause, saying why.
    app.sandbox
        .state()
        .set_phone_quality(PhoneQualityRequest {
            phone_number_id: Some(app.workspace.meta_phone_number_id.clone()),
            event: "FLAGGED".into(),
            quality_rating: Some("RED".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let paused = wait_for_status(&app, &id, "paused").await;
    assert!(
        paused["pauseReason"].as_str().unwrap().contains("RED"),
        "{paused}"
    );
    let (status, _) = call(
        &app,
        Method::POST,
        &format!("/v1/whatsapp/broadcasts/{id}/resume"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    wait_for_status(&app, &id, "completed").await;
    let messages = app.sandbox.state().messages().messages;
    let distinct: std::collections::BTreeSet<&str> =
        messages.iter().map(|m| m.to.as_str()).collect();
    assert_eq!(
        (messages.len(), distinct.len()),
        (60, 60),
        "each recipient exactly once"
    );
}

/// Meta sets the template's status (the sandbox says so in a signed webhook).
async fn meta_sets_template_status(app: &TestApp, event: &str) {
    app.sandbox
        .state()
        .set_template_status(sandbox::TemplateStatusRequest {
            template: sandbox::TemplateRef::named(TEMPLATE, "en_US"),
            event: event.into(),
            reason: None,
            rejection_info: None,
            disable_info: None,
            other_info: None,
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn a_template_paused_by_meta_pauses_its_broadcasts_until_it_is_sendable_again() {
    let app = TestApp::spawn().await;
    app.approved_template(TEMPLATE, "Hi {{1}}").await;
    unlimited_tier(&app).await;
    let db = app.db().await;
    db.execute(
        "UPDATE phone_number_throughput SET messages_per_second = 10 WHERE phone_number_id = $1",
        &[&app.workspace.phone_number],
    )
    .await
    .unwrap();
    let id = create_broadcast(&app, (0..40).map(recipient).collect()).await;
    let send = format!("/v1/whatsapp/broadcasts/{id}/send");
    assert_eq!(call(&app, Method::POST, &send, None).await.0, 200);
    tokio::time::sleep(Duration::from_millis(500)).await;

    meta_sets_template_status(&app, "PAUSED").await;
    let paused = wait_for_status(&app, &id, "paused").await;
    assert!(
        paused["pauseReason"].as_str().unwrap().contains("PAUSED"),
        "{paused}"
    );
    // Sends already claimed may still leave; then nothing more.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after_pause = app.sandbox.state().messages().messages.len();
    assert!(after_pause < 40, "{after_pause} sent before the pause");

    // While Meta keeps the template paused, resuming would only fail every send.
    let resume = format!("/v1/whatsapp/broadcasts/{id}/resume");
    let (status, refused) = call(&app, Method::POST, &resume, None).await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (400, Some("TEMPLATE_NOT_APPROVED")),
        "{refused}"
    );
    assert_eq!(broadcast(&app, &id).await["status"], "paused");
    assert_eq!(app.sandbox.state().messages().messages.len(), after_pause);

    meta_sets_template_status(&app, "REINSTATED").await;
    let mut resumed = (0, Value::Null);
    for _ in 0..200 {
        resumed = call(&app, Method::POST, &resume, None).await;
        if resumed.0 == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(resumed.0, 200, "{}", resumed.1);
    let done = wait_for_status(&app, &id, "completed").await;
    // Sends that reached Meta between its pause and Parley's failed (132015); only those.
    let failed = recipients(&app, &id, "&status=failed").await;
    let failed = failed["recipients"].as_array().unwrap();
    assert_eq!(done["failedCount"].as_u64(), Some(failed.len() as u64));
    assert_eq!(done["sentCount"].as_u64(), Some(40 - failed.len() as u64));
    for recipient in failed {
        assert!(
            recipient["error"].as_str().unwrap_or("").contains("132015"),
            "{recipient}"
        );
    }
    if !failed.is_empty() {
        let retry = format!("/v1/whatsapp/broadcasts/{id}/retry-failed");
        assert_eq!(call(&app, Method::POST, &retry, None).await.0, 200);
        for _ in 0..200 {
            let view = broadcast(&app, &id).await;
            if view["status"] == "completed" && view["failedCount"] == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let view = broadcast(&app, &id).await;
    assert_eq!(
        (view["status"].as_str(), view["sentCount"].as_u64()),
        (Some("completed"), Some(40)),
        "{view}"
    );
    let messages = app.sandbox.state().messages().messages;
    let distinct: std::collections::BTreeSet<&str> =
        messages.iter().map(|m| m.to.as_str()).collect();
    assert_eq!(
        (messages.len(), distinct.len()),
        (40, 40),
        "each accepted once"
    );
}

#[tokio::test]
async fn a_scheduled_broadcast_starts_on_time_and_its_schedule_can_be_cancelled() {
    let app = TestApp::spawn().await;
    app.approved_template(TEMPLATE, "Hi {{1}}").await;
    unlimited_tier(&app).await;
    let id = create_broadcast(&app, (0..3).map(recipient).collect()).await;
    let schedule = |at: chrono::DateTime<chrono::Utc>| json!({"scheduledAt": at.to_rfc3339()});
    let now = chrono::Utc::now();
    // Not in the past, not more than 30 days ahead.
    for at in [
        now - chrono::Duration::seconds(5),
        now + chrono::Duration::days(31),
    ] {
        let (status, body) = call(
            &app,
            Method::POST,
            &format!("/v1/whatsapp/broadcasts/{id}/schedule"),
            Some(schedule(at)),
        )
        .await;
        assert_eq!(status, 400, "{body}");
    }
    let (status, body) = call(
        &app,
        Method::POST,
        &format!("/v1/whatsapp/broadcasts/{id}/schedule"),
        Some(schedule(now + chrono::Duration::days(2))),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["broadcast"]["status"], "scheduled");
    let (status, body) = call(
        &app,
        Method::DELETE,
        &format!("/v1/whatsapp/broadcasts/{id}/schedule"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(broadcast(&app, &id).await["status"], "draft");

    let due = chrono::Utc::now() + chrono::Duration::milliseconds(1500);
    let (status, _) = call(
        &app,
        Method::POST,
        &format!("/v1/whatsapp/broadcasts/{id}/schedule"),
        Some(schedule(due)),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(broadcast(&app, &id).await["status"], "scheduled");
    let done = wait_for_status(&app, &id, "completed").await;
    let started: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(done["startedAt"].clone()).unwrap();
    assert!(started >= due, "started {started}, due {due}");
    assert!(
        started < due + chrono::Duration::seconds(3),
        "started {started}, due {due}"
    );
    assert_eq!(done["startRefusal"], Value::Null);

    // A broadcast whose template Meta paused before its time goes back to draft, saying why.
    let later = create_broadcast(&app, (3..5).map(recipient).collect()).await;
    let due = chrono::Utc::now() + chrono::Duration::milliseconds(1500);
    let path = format!("/v1/whatsapp/broadcasts/{later}/schedule");
    assert_eq!(
        call(&app, Method::POST, &path, Some(schedule(due))).await.0,
        200
    );
    meta_sets_template_status(&app, "PAUSED").await;
    let refused = wait_for_status(&app, &later, "draft").await;
    assert!(
        refused["startRefusal"]
            .as_str()
            .is_some_and(|reason| reason.contains("PAUSED")),
        "{refused}"
    );
    assert_eq!(refused["scheduledAt"], Value::Null);
    assert_eq!(refused["startedAt"], Value::Null);
    // Once the template is back, it can be scheduled again; the refusal is then cleared.
    meta_sets_template_status(&app, "REINSTATED").await;
    let again = chrono::Utc::now() + chrono::Duration::days(1);
    let (status, body) = call(&app, Method::POST, &path, Some(schedule(again))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(broadcast(&app, &later).await["startRefusal"], Value::Null);
    assert_eq!(
        app.sandbox.state().messages().messages.len(),
        3,
        "only the first was sent"
    );
}

#[tokio::test]
async fn the_messaging_limit_holds_back_recipients_beyond_the_tier() {
    let app = TestApp::spawn().await;
    app.approved_template(TEMPLATE, "Hi {{1}}").await;
    app.sandbox
        .state()
        .set_phone_quality(PhoneQualityRequest {
            phone_number_id: Some(app.workspace.meta_phone_number_id.clone()),
            event: "DOWNGRADE".into(),
            current_limit: Some("TIER_50".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let db = app.db().await;
    for _ in 0..200 {
        let known = db
            .query_opt(
                "SELECT 1 FROM phone_number_throughput WHERE phone_number_id = $1 AND daily_recipients = 50",
                &[&app.workspace.phone_number],
            )
            .await
            .unwrap();
        if known.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let id = create_broadcast(&app, (0..60).map(recipient).collect()).await;
    assert_eq!(
        call(
            &app,
            Method::POST,
            &format!("/v1/whatsapp/broadcasts/{id}/send"),
            None
        )
        .await
        .0,
        200
    );
    for _ in 0..200 {
        if app.sandbox.state().messages().messages.len() >= 50 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(
        app.sandbox.state().messages().messages.len(),
        50,
        "the tier caps unique recipients"
    );
    let view = broadcast(&app, &id).await;
    assert_eq!(
        (view["status"].as_str(), view["pendingCount"].as_u64()),
        (Some("sending"), Some(10)),
        "{view}"
    );
}

#[tokio::test]
async fn failed_recipients_can_be_retried_and_bulk_sends_report_each_recipient() {
    let app = TestApp::spawn().await;
    app.approved_template(TEMPLATE, "Hi {{1}}").await;
    unlimited_tier(&app).await;
    // Meta refuses one recipient for good.
    app.sandbox
        .state()
        .update_config(&json!({"fail_recipients": {"14155570001": 131026}}))
        .unwrap();
    let id = create_broadcast(&app, (0..3).map(recipient).collect()).await;
    // A draft has sent nothing that could have failed: refused, not "0 retried".
    let (status, refused) = call(
        &app,
        Method::POST,
        &format!("/v1/whatsapp/broadcasts/{id}/retry-failed"),
        None,
    )
    .await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (400, Some("INVALID_STATE")),
        "{refused}"
    );
    assert_eq!(
        call(
            &app,
            Method::POST,
            &format!("/v1/whatsapp/broadcasts/{id}/send"),
            None
        )
        .await
        .0,
        200
    );
    let done = wait_for_status(&app, &id, "completed").await;
    assert_eq!(done["failedCount"], 1, "{done}");
    let failed = recipients(&app, &id, "&status=failed").await;
    assert!(
        failed["recipients"][0]["error"]
            .as_str()
            .unwrap()
            .contains("131026"),
        "{failed}"
    );

    app.sandbox
        .state()
        .update_config(&json!({"fail_recipients": {}}))
        .unwrap();
    let (status, retried) = call(
        &app,
        Method::POST,
        &format!("/v1/whatsapp/broadcasts/{id}/retry-failed"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{retried}");
    assert_eq!(retried["retried"], 1);
    for _ in 0..200 {
        let view = broadcast(&app, &id).await;
        if view["status"] == "completed" && view["failedCount"] == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let view = broadcast(&app, &id).await;
    assert_eq!(
        (view["status"].as_str(), view["failedCount"].as_u64()),
        (Some("completed"), Some(0)),
        "{view}"
    );

    // Bulk: each recipient gets its own result.
    let (status, bulk) = call(
        &app,
        Method::POST,
        "/v1/whatsapp/bulk",
        Some(json!({
            "accountId": app.workspace.phone_number,
            "template": {"name": TEMPLATE, "language": "en_US"},
            "recipients": [
                {"phone": "+14155570100", "variables": {"1": "Ana"}},
                {"phone": "+14155570101", "variables": {"7": "nobody"}},
                {"phone": "+14155570102"},
            ],
        })),
    )
    .await;
    assert_eq!(status, 200, "{bulk}");
    assert_eq!(
        bulk["summary"],
        json!({"total": 3, "sent": 1, "failed": 2}),
        "{bulk}"
    );
    assert_eq!(bulk["results"][0]["success"], true);
    assert!(
        bulk["results"][1]["error"]
            .as_str()
            .unwrap()
            .contains("'7'"),
        "{bulk}"
    );
    assert!(
        bulk["results"][2]["error"]
            .as_str()
            .unwrap()
            .contains("no value"),
        "{bulk}"
    );
    let (status, too_many) = call(
        &app,
        Method::POST,
        "/v1/whatsapp/bulk",
        Some(json!({
            "accountId": app.workspace.phone_number,
            "template": {"name": TEMPLATE, "language": "en_US"},
            "recipients": (0..101).map(|n| json!({"phone": format!("+1415558{n:04}")})).collect::<Vec<_>>(),
        })),
    )
    .await;
    assert_eq!(status, 400, "{too_many}");
}

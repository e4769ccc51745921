//! Templates, phone numbers, business profiles and management webhooks, over real HTTP, with a
//! webhook receiver that verifies Meta's signature.

mod support;

use std::time::{Duration, Instant};

use sandbox::{
    AccountUpdateRequest, Faults, PhoneQualityRequest, SandboxHandle, TemplateCategoryRequest,
    TemplateQualityRequest, TemplateRef, TemplateStatusRequest, DEFAULT_DISPLAY_PHONE_NUMBER,
    DEFAULT_WABA_ID,
};
use serde_json::{json, Value};
use support::*;

/// A WABA id other than the configured one.
const OTHER_WABA: &str = "300000000000003";

/// Calls a Graph path (`/v23.0/…`) with a bearer token and a JSON body.
async fn graph(
    sandbox: &SandboxHandle,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let url = format!("{}/v23.0/{path}", sandbox.base_url());
    graph_url(method, &url, body).await
}

async fn graph_url(method: &str, url: &str, body: Option<Value>) -> (u16, Value) {
    let http = reqwest::Client::new();
    let mut request = match method {
        "GET" => http.get(url),
        "POST" => http.post(url),
        "DELETE" => http.delete(url),
        other => panic!("unsupported method {other}"),
    }
    .bearer_auth("test-token");
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

fn template_body(name: &str, language: &str, text: &str) -> Value {
    json!({
        "name": name,
        "language": language,
        "category": "UTILITY",
        "components": [
            {"type": "HEADER", "format": "TEXT", "text": "Your order"},
            {"type": "BODY", "text": text, "example": {"body_text": [["Ana", "A-1"]]}},
            {"type": "FOOTER", "text": "Parley"}
        ]
    })
}

/// Creates a template in `waba` and returns its id.
async fn create(
    sandbox: &SandboxHandle,
    waba: &str,
    name: &str,
    language: &str,
    text: &str,
) -> String {
    let (status, answer) = graph(
        sandbox,
        "POST",
        &format!("{waba}/message_templates"),
        Some(template_body(name, language, text)),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    answer["id"].as_str().unwrap().to_string()
}

/// Polls `GET /{id}` until the template has `status` (2 s at most).
async fn wait_for_status(sandbox: &SandboxHandle, id: &str, status: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let (_, template) = graph(sandbox, "GET", id, None).await;
        if template["status"] == status {
            return template;
        }
        assert!(
            Instant::now() < deadline,
            "still {template} instead of {status}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn change_of(body: &Value) -> &Value {
    &body["entry"][0]["changes"][0]
}

fn template_send(name: &str, language: &str, parameters: &[&str]) -> Value {
    let parameters: Vec<Value> = parameters
        .iter()
        .map(|p| json!({"type": "text", "text": p}))
        .collect();
    json!({
        "messaging_product": "whatsapp",
        "to": "16505551234",
        "type": "template",
        "template": {
            "name": name,
            "language": {"code": language},
            "components": [{"type": "body", "parameters": parameters}]
        }
    })
}

#[tokio::test]
async fn a_created_template_is_pending_then_approved_by_a_signed_webhook_in_metas_shape() {
    let receiver = Receiver::start().await;
    let sandbox = sandbox_for(&receiver, Faults::default()).await;
    let body = template_body(
        "order_update",
        "en_US",
        "Hi {{1}}, order {{2}} has shipped.",
    );

    let (status, answer) = graph(
        &sandbox,
        "POST",
        &format!("{DEFAULT_WABA_ID}/message_templates"),
        Some(body.clone()),
    )
    .await;

    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        shape(&answer),
        shape(&fixture("template_create_response.json"))
    );
    assert_eq!(
        (answer["status"].as_str(), answer["category"].as_str()),
        (Some("PENDING"), Some("UTILITY"))
    );
    let id = answer["id"].as_str().unwrap().to_string();
    assert!(
        id.len() >= 15 && id.chars().all(|c| c.is_ascii_digit()),
        "{id}"
    );
    // The review takes the default 200 ms: the template is pending meanwhile.
    let (_, pending) = graph(&sandbox, "GET", &id, None).await;
    assert_eq!(pending["status"], "PENDING");
    assert!(receiver.received().is_empty());

    let received = receiver.expect_exactly(1).await;
    let webhook = &received[0];
    assert!(webhook.signature_valid);
    let mut expected = fixture("webhook_template_status_approved.json");
    expected["entry"][0]["id"] = json!(DEFAULT_WABA_ID);
    expected["entry"][0]["changes"][0]["value"] = json!({
        "event": "APPROVED",
        "message_template_id": id.parse::<u64>().unwrap(),
        "message_template_name": "order_update",
        "message_template_language": "en_US",
        "reason": "NONE",
        "message_template_category": "UTILITY"
    });
    expected["entry"][0]["time"] = webhook.body["entry"][0]["time"].clone();
    assert_eq!(webhook.body, expected);
    let age = chrono::Utc::now().timestamp() - webhook.body["entry"][0]["time"].as_i64().unwrap();
    assert!((0..5).contains(&age));

    let (status, approved) = graph(&sandbox, "GET", &id, None).await;
    assert_eq!(status, 200);
    assert_eq!(approved["status"], "APPROVED");
    assert_eq!(approved["components"], body["components"]);
    let expected_keys = fixture("template_get_by_id_response.json");
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&approved), keys(&expected_keys));
    let (_, only_status) = graph(&sandbox, "GET", &format!("{id}?fields=status"), None).await;
    assert_eq!(only_status, json!({"status": "APPROVED", "id": id}));

    // The same name and language again is refused; another language is a new template.
    let (status, duplicate) = graph(
        &sandbox,
        "POST",
        &format!("{DEFAULT_WABA_ID}/message_templates"),
        Some(body.clone()),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(duplicate["error"]["code"], 100);
    assert!(
        duplicate["error"]["error_user_msg"]
            .as_str()
            .unwrap()
            .contains("already"),
        "{duplicate}"
    );
    let mut spanish = body.clone();
    spanish["language"] = json!("es");
    let (status, _) = graph(
        &sandbox,
        "POST",
        &format!("{DEFAULT_WABA_ID}/message_templates"),
        Some(spanish),
    )
    .await;
    assert_eq!(status, 200);

    let stats = sandbox.client().stats().await.unwrap();
    assert_eq!(stats.template_submissions, 2);
    let report = sandbox.client().messages().await.unwrap();
    assert_eq!(report.management[0].field, "message_template_status_update");
    assert!(report.management[0].delivered);
}

#[tokio::test]
async fn invalid_template_creations_get_code_100_naming_the_problem() {
    let sandbox = sandbox_without_webhooks().await;
    let good = template_body("fine_name", "en_US", "Hello {{1}}");
    let cases = [
        ("name", json!("Bad-Name"), "name"),
        ("name", json!("9lives"), "name"),
        ("name", json!("a".repeat(513)), "512"),
        ("name", Value::Null, "name"),
        ("category", json!("PROMOTIONS"), "category"),
        ("language", Value::Null, "language"),
        (
            "components",
            json!([{"type": "HEADER", "format": "TEXT", "text": "x"}]),
            "BODY",
        ),
        (
            "components",
            json!([{"type": "BODY", "text": "a"}, {"type": "BODY", "text": "b"}]),
            "BODY",
        ),
        ("components", json!({"type": "BODY"}), "components"),
    ];
    for (key, value, needle) in cases {
        let mut body = good.clone();
        body[key] = value.clone();
        let (status, answer) = graph(
            &sandbox,
            "POST",
            &format!("{DEFAULT_WABA_ID}/message_templates"),
            Some(body),
        )
        .await;
        assert_eq!(status, 400, "{key}={value}: {answer}");
        assert_eq!(answer["error"]["code"], 100);
        let details = answer["error"]["error_data"]["details"].as_str().unwrap();
        assert!(details.contains(needle), "{key}={value}: {details}");
    }
    assert!(sandbox.client().templates().await.unwrap().is_empty());
}

#[tokio::test]
async fn templates_named_reject_and_the_reject_policy_get_a_rejected_webhook_and_manual_waits() {
    let receiver = Receiver::start().await;
    let sandbox = sandbox_for(&receiver, Faults::default()).await;
    let client = sandbox.client();
    client
        .update_config(&json!({"template_review_delay_ms": 20}))
        .await
        .unwrap();

    let id = create(
        &sandbox,
        DEFAULT_WABA_ID,
        "reject_promo",
        "en",
        "Buy {{1}} now!",
    )
    .await;
    let received = receiver.expect_exactly(1).await;
    assert!(received[0].signature_valid);
    assert_eq!(
        shape(&received[0].body),
        shape(&fixture("webhook_template_status_rejected.json"))
    );
    let value = &change_of(&received[0].body)["value"];
    assert_eq!(value["event"], "REJECTED");
    assert_eq!(value["reason"], "INVALID_FORMAT");
    assert_eq!(
        value["message_template_id"],
        json!(id.parse::<u64>().unwrap())
    );
    assert_eq!(value["message_template_name"], "reject_promo");
    assert_eq!(
        change_of(&received[0].body)["field"],
        "message_template_status_update"
    );
    assert_eq!(
        wait_for_status(&sandbox, &id, "REJECTED").await["status"],
        "REJECTED"
    );

    // The reject policy rejects any name.
    client
        .update_config(&json!({"template_review": "reject"}))
        .await
        .unwrap();
    let id = create(&sandbox, DEFAULT_WABA_ID, "welcome", "en", "Welcome!").await;
    let received = receiver.expect_exactly(2).await;
    assert_eq!(change_of(&received[1].body)["value"]["event"], "REJECTED");
    wait_for_status(&sandbox, &id, "REJECTED").await;

    // The manual policy leaves it pending until the control endpoint decides.
    client
        .update_config(&json!({"template_review": "manual"}))
        .await
        .unwrap();
    let id = create(&sandbox, DEFAULT_WABA_ID, "reminder", "en", "Reminder").await;
    receiver.expect_exactly(2).await;
    let (_, template) = graph(&sandbox, "GET", &id, None).await;
    assert_eq!(template["status"], "PENDING");
    let outcome = client
        .set_template_status(&TemplateStatusRequest {
            template: TemplateRef::named("reminder", "en"),
            event: "APPROVED".into(),
            reason: None,
            rejection_info: None,
            disable_info: None,
            other_info: None,
        })
        .await
        .unwrap();
    assert!(outcome.delivered);
    let received = receiver.expect_exactly(3).await;
    let value = &change_of(&received[2].body)["value"];
    assert_eq!(
        (value["event"].as_str(), value["reason"].as_str()),
        (Some("APPROVED"), Some("NONE"))
    );
    assert_eq!(received[2].body["entry"][0]["id"], DEFAULT_WABA_ID);
    let (_, template) = graph(&sandbox, "GET", &id, None).await;
    assert_eq!(template["status"], "APPROVED");

    // PAUSED with Meta's other_info, addressed by id.
    client
        .set_template_status(&TemplateStatusRequest {
            template: TemplateRef::id(id.clone()),
            event: "PAUSED".into(),
            reason: None,
            rejection_info: None,
            disable_info: None,
            other_info: Some(json!({"title": "FIRST_PAUSE", "description": "Paused for 3 hours"})),
        })
        .await
        .unwrap();
    let received = receiver.expect_exactly(4).await;
    let value = &change_of(&received[3].body)["value"];
    assert_eq!(value["event"], "PAUSED");
    assert_eq!(value["other_info"]["title"], "FIRST_PAUSE");
    let (_, template) = graph(&sandbox, "GET", &id, None).await;
    assert_eq!(template["status"], "PAUSED");

    let refused = client
        .set_template_status(&TemplateStatusRequest {
            template: TemplateRef::id(id),
            event: "APPROVE".into(),
            reason: None,
            rejection_info: None,
            disable_info: None,
            other_info: None,
        })
        .await;
    assert!(
        matches!(
            refused,
            Err(sandbox::ClientError::Status { status: 400, .. })
        ),
        "{refused:?}"
    );
    assert_eq!(sandbox.state().stats().webhooks_pending, 0);
}

#[tokio::test]
async fn template_lists_page_with_real_cursors() {
    let sandbox = sandbox_without_webhooks().await;
    for i in 0..5 {
        create(
            &sandbox,
            DEFAULT_WABA_ID,
            &format!("t{i}"),
            "en_US",
            "Hi {{1}}",
        )
        .await;
    }
    create(&sandbox, DEFAULT_WABA_ID, "t0", "pt_BR", "Oi {{1}}").await;
    create(&sandbox, OTHER_WABA, "elsewhere", "en_US", "Hi").await;
    let path = format!("{DEFAULT_WABA_ID}/message_templates");

    let (status, all) = graph(&sandbox, "GET", &path, None).await;
    assert_eq!(status, 200, "{all}");
    let names = |page: &Value| {
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                format!(
                    "{}/{}",
                    t["name"].as_str().unwrap(),
                    t["language"].as_str().unwrap()
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(&all),
        ["t0/en_US", "t1/en_US", "t2/en_US", "t3/en_US", "t4/en_US", "t0/pt_BR"]
    );
    assert!(all["paging"].get("next").is_none(), "{all}");
    let listed_keys: Vec<String> = all["data"][0]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    for key in ["name", "components", "language", "status", "category", "id"] {
        assert!(
            listed_keys.iter().any(|k| k == key),
            "{key} missing: {listed_keys:?}"
        );
    }
    assert_eq!(
        shape(&all["paging"]["cursors"]),
        shape(&fixture("templates_list_response.json")["paging"]["cursors"])
    );

    let (_, first) = graph(&sandbox, "GET", &format!("{path}?limit=2"), None).await;
    assert_eq!(names(&first), ["t0/en_US", "t1/en_US"]);
    let next = first["paging"]["next"].as_str().unwrap().to_string();
    assert!(first["paging"].get("previous").is_none());
    let (_, second) = graph_url("GET", &next, None).await;
    assert_eq!(names(&second), ["t2/en_US", "t3/en_US"]);
    let after = second["paging"]["cursors"]["after"].as_str().unwrap();
    let (_, third) = graph(
        &sandbox,
        "GET",
        &format!("{path}?limit=2&after={after}"),
        None,
    )
    .await;
    assert_eq!(names(&third), ["t4/en_US", "t0/pt_BR"]);
    assert!(third["paging"].get("next").is_none(), "{third}");
    let previous = third["paging"]["previous"].as_str().unwrap();
    let (_, back) = graph_url("GET", previous, None).await;
    assert_eq!(names(&back), ["t2/en_US", "t3/en_US"]);

    let (_, by_name) = graph(&sandbox, "GET", &format!("{path}?name=t0"), None).await;
    assert_eq!(names(&by_name), ["t0/en_US", "t0/pt_BR"]);
    let (_, other) = graph(
        &sandbox,
        "GET",
        &format!("{OTHER_WABA}/message_templates"),
        None,
    )
    .await;
    assert_eq!(names(&other), ["elsewhere/en_US"]);
    let (_, none) = graph(&sandbox, "GET", "400000000000004/message_templates", None).await;
    assert_eq!(none, json!({"data": []}));

    let (status, bad) = graph(&sandbox, "GET", &format!("{path}?after=!!"), None).await;
    assert_eq!((status, &bad["error"]["code"]), (400, &json!(100)));
}

#[tokio::test]
async fn an_edit_returns_the_template_to_pending_and_it_is_reviewed_again() {
    let receiver = Receiver::start().await;
    let sandbox = sandbox_for(&receiver, Faults::default()).await;
    sandbox
        .client()
        .update_config(&json!({"template_review_delay_ms": 100}))
        .await
        .unwrap();
    let id = create(
        &sandbox,
        DEFAULT_WABA_ID,
        "order_update",
        "en_US",
        "Hi {{1}}",
    )
    .await;
    receiver.wait_for(1).await;
    wait_for_status(&sandbox, &id, "APPROVED").await;

    let components = json!([{"type": "BODY", "text": "Hello {{1}}, your code is {{2}}."}]);
    let (status, answer) = graph(
        &sandbox,
        "POST",
        &id,
        Some(json!({"components": components, "category": "MARKETING"})),
    )
    .await;
    assert_eq!((status, &answer), (200, &json!({"success": true})));
    let (_, edited) = graph(&sandbox, "GET", &id, None).await;
    assert_eq!(edited["status"], "PENDING");
    assert_eq!(edited["category"], "MARKETING");
    assert_eq!(edited["previous_category"], "UTILITY");
    assert_eq!(edited["components"], components);

    let received = receiver.expect_exactly(2).await;
    let value = &change_of(&received[1].body)["value"];
    assert_eq!(value["event"], "APPROVED");
    assert_eq!(value["message_template_category"], "MARKETING");
    wait_for_status(&sandbox, &id, "APPROVED").await;
    assert_eq!(sandbox.client().stats().await.unwrap().template_edits, 1);

    let (status, invalid) = graph(&sandbox, "POST", &id, Some(json!({"components": []}))).await;
    assert_eq!((status, &invalid["error"]["code"]), (400, &json!(100)));
    let (status, unknown) = graph(
        &sandbox,
        "POST",
        "123456789",
        Some(json!({"components": components})),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(unknown["error"]["error_subcode"], 33);
}

#[tokio::test]
async fn delete_removes_one_language_or_all_and_unknown_names_get_metas_not_found_error() {
    let sandbox = sandbox_without_webhooks().await;
    let path = format!("{DEFAULT_WABA_ID}/message_templates");
    let english = create(&sandbox, DEFAULT_WABA_ID, "promo", "en_US", "Hi").await;
    let portuguese = create(&sandbox, DEFAULT_WABA_ID, "promo", "pt_BR", "Oi").await;
    let other = create(&sandbox, DEFAULT_WABA_ID, "other", "en_US", "Hey").await;

    let (status, answer) = graph(
        &sandbox,
        "DELETE",
        &format!("{path}?name=promo&hsm_id={portuguese}"),
        None,
    )
    .await;
    assert_eq!((status, &answer), (200, &json!({"success": true})));
    let (_, listed) = graph(&sandbox, "GET", &path, None).await;
    let ids: Vec<&str> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [english.as_str(), other.as_str()]);
    let (status, gone) = graph(&sandbox, "GET", &portuguese, None).await;
    assert_eq!((status, &gone["error"]["error_subcode"]), (400, &json!(33)));

    let (status, _) = graph(
        &sandbox,
        "POST",
        &path,
        Some(template_body("promo", "es", "Hola")),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = graph(&sandbox, "DELETE", &format!("{path}?name=promo"), None).await;
    assert_eq!(status, 200);
    let (_, listed) = graph(&sandbox, "GET", &path, None).await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);

    let (status, not_found) = graph(&sandbox, "DELETE", &format!("{path}?name=promo"), None).await;
    assert_eq!(status, 400);
    let expected = fixture("error_100_2593002_template_not_found.json");
    assert_eq!(shape(&not_found), shape(&expected));
    let error = &not_found["error"];
    for key in [
        "message",
        "type",
        "code",
        "error_subcode",
        "is_transient",
        "error_user_title",
    ] {
        assert_eq!(error[key], expected["error"][key], "{key}");
    }
    assert_eq!(
        error["error_user_msg"],
        "The message template promo wasn't found for this account."
    );
    // A wrong hsm_id for an existing name is not found either.
    let (status, _) = graph(
        &sandbox,
        "DELETE",
        &format!("{path}?name=other&hsm_id={english}"),
        None,
    )
    .await;
    assert_eq!(status, 400);
    let (status, missing) = graph(&sandbox, "DELETE", &path, None).await;
    assert_eq!((status, &missing["error"]["code"]), (400, &json!(100)));
}

#[tokio::test]
async fn template_sends_are_checked_only_for_wabas_with_templates() {
    let sandbox = sandbox_without_webhooks().await;
    let client = sandbox.client();
    client
        .update_config(&json!({"template_review_delay_ms": 0}))
        .await
        .unwrap();

    // No template known for the WABA: any template send is accepted.
    let (status, answer) = send(&sandbox, &template_send("anything", "en_US", &[])).await;
    assert_eq!(status, 200, "{answer}");

    let id = create(
        &sandbox,
        DEFAULT_WABA_ID,
        "order_update",
        "en_US",
        "Hi {{1}}, order {{2}} and {{1}}.",
    )
    .await;
    wait_for_status(&sandbox, &id, "APPROVED").await;

    let (status, answer) = send(&sandbox, &template_send("anything", "en_US", &[])).await;
    assert_eq!(status, 400);
    assert_eq!(answer["error"]["code"], 132001);
    assert_eq!(
        answer["error"]["message"],
        "(#132001) Template name does not exist in the translation"
    );
    assert_eq!(
        shape(&answer),
        shape(&fixture("error_100_mark_read_outgoing_message.json"))
    );
    let (status, answer) = send(
        &sandbox,
        &template_send("order_update", "pt_BR", &["a", "b"]),
    )
    .await;
    assert_eq!((status, &answer["error"]["code"]), (400, &json!(132001)));

    let (status, answer) = send(&sandbox, &template_send("order_update", "en_US", &["a"])).await;
    assert_eq!((status, &answer["error"]["code"]), (400, &json!(132000)));
    assert!(
        answer["error"]["error_data"]["details"]
            .as_str()
            .unwrap()
            .contains("(1)"),
        "{answer}"
    );
    let (status, answer) = send(
        &sandbox,
        &template_send("order_update", "en_US", &["a", "b", "c"]),
    )
    .await;
    assert_eq!((status, &answer["error"]["code"]), (400, &json!(132000)));

    let (status, answer) = send(
        &sandbox,
        &template_send("order_update", "en_US", &["Ana", "A-1"]),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["messages"][0]["message_status"], "accepted");
    let mut other_recipient = template_send("order_update", "en_US", &["Bo", "B-2"]);
    other_recipient["to"] = json!("+1 650 555 9999");
    assert_eq!(send(&sandbox, &other_recipient).await.0, 200);

    // A template that is not approved cannot be sent: pending 132001, paused 132015.
    client
        .update_config(&json!({"template_review": "manual"}))
        .await
        .unwrap();
    create(&sandbox, DEFAULT_WABA_ID, "waiting", "en_US", "Soon").await;
    let (status, answer) = send(&sandbox, &template_send("waiting", "en_US", &[])).await;
    assert_eq!((status, &answer["error"]["code"]), (400, &json!(132001)));
    client
        .set_template_status(&TemplateStatusRequest {
            template: TemplateRef::id(id.clone()),
            event: "PAUSED".into(),
            reason: None,
            rejection_info: None,
            disable_info: None,
            other_info: None,
        })
        .await
        .unwrap();
    let (status, answer) = send(
        &sandbox,
        &template_send("order_update", "en_US", &["a", "b"]),
    )
    .await;
    assert_eq!((status, &answer["error"]["code"]), (400, &json!(132015)));

    // A number mapped to a WABA without templates accepts any template again.
    client
        .update_config(&json!({"phone_number_wabas": {PNID: OTHER_WABA}}))
        .await
        .unwrap();
    assert_eq!(
        send(&sandbox, &template_send("anything", "en_US", &[]))
            .await
            .0,
        200
    );

    let stats = client.stats().await.unwrap();
    assert_eq!(stats.accepted, 4);
    assert_eq!(stats.rejected.get(&132001), Some(&3));
    assert_eq!(stats.rejected.get(&132000), Some(&2));
    assert_eq!(stats.rejected.get(&132015), Some(&1));
    // 16505551234 three times (accepted), 16505559999 once.
    assert_eq!(stats.unique_template_recipients_24h.get(PNID), Some(&2));
    assert_eq!(stats.template_submissions, 2);
    let rejections = client.rejections().await.unwrap();
    assert_eq!(rejections[0].kind.as_deref(), Some("template"));
}

#[tokio::test]
async fn registration_codes_and_pins_behave_like_metas() {
    let sandbox = sandbox_without_webhooks().await;
    let request_code = format!("{PNID}/request_code");
    let verify_code = format!("{PNID}/verify_code");

    // Verifying before any request fails.
    let (status, answer) = graph(
        &sandbox,
        "POST",
        &verify_code,
        Some(json!({"code": "123456"})),
    )
    .await;
    assert_eq!((status, &answer["error"]["code"]), (400, &json!(136025)));

    let (status, answer) = graph(
        &sandbox,
        "POST",
        &request_code,
        Some(json!({"code_method": "FAX", "language": "en"})),
    )
    .await;
    assert_eq!((status, &answer["error"]["code"]), (400, &json!(100)));
    assert!(answer["error"]["error_data"]["details"]
        .as_str()
        .unwrap()
        .contains("code_method"));
    let (status, answer) = graph(
        &sandbox,
        "POST",
        &request_code,
        Some(json!({"code_method": "SMS"})),
    )
    .await;
    assert_eq!((status, &answer["error"]["code"]), (400, &json!(100)));

    // Form-encoded, as many SDKs send it.
    let response = reqwest::Client::new()
        .post(format!("{}/v23.0/{request_code}", sandbox.base_url()))
        .bearer_auth("test-token")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("code_method=SMS&language=en_US")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        fixture("success_response.json")
    );

    let (status, wrong) = graph(
        &sandbox,
        "POST",
        &verify_code,
        Some(json!({"code": "000000"})),
    )
    .await;
    assert_eq!(status, 400);
    let expected = fixture("error_136025_verify_code.json");
    assert_eq!(shape(&wrong), shape(&expected));
    for key in ["message", "type", "code", "error_subcode", "is_transient"] {
        assert_eq!(wrong["error"][key], expected["error"][key], "{key}");
    }
    let (_, number) = graph(
        &sandbox,
        "GET",
        &format!("{PNID}?fields=code_verification_status"),
        None,
    )
    .await;
    assert_eq!(
        number,
        json!({"code_verification_status": "NOT_VERIFIED", "id": PNID})
    );

    let (status, answer) = graph(
        &sandbox,
        "POST",
        &verify_code,
        Some(json!({"code": 123456})),
    )
    .await;
    assert_eq!((status, &answer), (200, &json!({"success": true})));
    let (_, number) = graph(
        &sandbox,
        "GET",
        &format!("{PNID}?fields=code_verification_status"),
        None,
    )
    .await;
    assert_eq!(number["code_verification_status"], "VERIFIED");
    // A code is good once.
    let (status, _) = graph(
        &sandbox,
        "POST",
        &verify_code,
        Some(json!({"code": "123456"})),
    )
    .await;
    assert_eq!(status, 400);

    let register = format!("{PNID}/register");
    for body in [
        json!({"messaging_product": "whatsapp", "pin": "12345"}),
        json!({"messaging_product": "whatsapp", "pin": "12a456"}),
        json!({"pin": "123456"}),
    ] {
        let (status, answer) = graph(&sandbox, "POST", &register, Some(body.clone())).await;
        assert_eq!(
            (status, &answer["error"]["code"]),
            (400, &json!(100)),
            "{body}"
        );
    }
    let (status, _) = graph(
        &sandbox,
        "POST",
        &register,
        Some(json!({"messaging_product": "whatsapp", "pin": "246810"})),
    )
    .await;
    assert_eq!(status, 200);
    assert!(sandbox.state().phone_number(PNID).registered);
    let (status, answer) = graph(
        &sandbox,
        "POST",
        &register,
        Some(json!({"messaging_product": "whatsapp", "pin": "111111"})),
    )
    .await;
    assert_eq!((status, &answer["error"]["code"]), (400, &json!(133005)));
    let (status, _) = graph(
        &sandbox,
        "POST",
        &register,
        Some(json!({"messaging_product": "whatsapp", "pin": "246810"})),
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn the_business_profile_round_trips_and_each_limit_is_enforced() {
    let sandbox = sandbox_without_webhooks().await;
    let path = format!("{PNID}/whatsapp_business_profile");
    let (status, initial) = graph(&sandbox, "GET", &path, None).await;
    assert_eq!(status, 200);
    assert_eq!(initial, fixture("business_profile_response.json"));

    let update = json!({
        "messaging_product": "whatsapp",
        "about": "Fresh bread daily",
        "address": "1 Baker Street",
        "description": "A bakery",
        "email": "hello@bakery.example",
        "websites": ["https://bakery.example", "http://shop.bakery.example"],
        "vertical": "RESTAURANT",
        "profile_picture_handle": "4::aW1hZ2UvanBlZw==:ARb"
    });
    let (status, answer) = graph(&sandbox, "POST", &path, Some(update.clone())).await;
    assert_eq!((status, &answer), (200, &json!({"success": true})));
    let (_, stored) = graph(&sandbox, "GET", &path, None).await;
    let profile = &stored["data"][0];
    for key in [
        "about",
        "address",
        "description",
        "email",
        "websites",
        "vertical",
    ] {
        assert_eq!(profile[key], update[key], "{key}");
    }
    assert_eq!(profile["messaging_product"], "whatsapp");
    assert!(profile["profile_picture_url"]
        .as_str()
        .unwrap()
        .starts_with("https://"));

    let (_, some) = graph(
        &sandbox,
        "GET",
        &format!("{path}?fields=about,websites"),
        None,
    )
    .await;
    assert_eq!(
        some,
        json!({"data": [{"about": "Fresh bread daily", "websites": update["websites"], "messaging_product": "whatsapp"}]})
    );

    let cases = [
        ("about", json!("")),
        ("about", json!("a".repeat(140))),
        ("address", json!("a".repeat(257))),
        ("description", json!("a".repeat(513))),
        ("email", json!(format!("{}@example.com", "a".repeat(117)))),
        ("email", json!("no-at-sign")),
        (
            "websites",
            json!([
                "https://a.example",
                "https://b.example",
                "https://c.example"
            ]),
        ),
        ("websites", json!(["www.no-scheme.example"])),
        (
            "websites",
            json!([format!("https://{}.example", "a".repeat(250))]),
        ),
        ("websites", json!(42)),
    ];
    for (field, value) in cases {
        let body =
            json!({"messaging_product": "whatsapp", field: value.clone(), "about": "changed"});
        let body = if field == "about" {
            json!({"messaging_product": "whatsapp", "about": value})
        } else {
            body
        };
        let (status, answer) = graph(&sandbox, "POST", &path, Some(body)).await;
        assert_eq!(status, 400, "{field}={value}: {answer}");
        assert_eq!(answer["error"]["code"], 100);
        let details = answer["error"]["error_data"]["details"].as_str().unwrap();
        assert!(details.contains(field), "{field}: {details}");
    }
    let (status, answer) = graph(
        &sandbox,
        "POST",
        &path,
        Some(json!({"about": "no product"})),
    )
    .await;
    assert_eq!(status, 400);
    assert!(answer["error"]["error_data"]["details"]
        .as_str()
        .unwrap()
        .contains("messaging_product"));

    // Refused updates change nothing, not even their valid fields.
    let (_, after) = graph(&sandbox, "GET", &path, None).await;
    assert_eq!(after, stored);
}

#[tokio::test]
async fn phone_quality_control_sends_metas_webhook_and_get_reflects_it() {
    let receiver = Receiver::start().await;
    let sandbox = sandbox_for(&receiver, Faults::default()).await;
    let client = sandbox.client();

    let (status, number) = graph(&sandbox, "GET", PNID, None).await;
    assert_eq!(status, 200, "{number}");
    let fixture_number = fixture("phone_number_with_throughput_response.json");
    for key in fixture_number.as_object().unwrap().keys() {
        assert!(number.get(key).is_some(), "{key} missing from {number}");
    }
    assert_eq!(number["id"], PNID);
    assert_eq!(number["display_phone_number"], DEFAULT_DISPLAY_PHONE_NUMBER);
    assert_eq!(
        (
            number["quality_rating"].as_str(),
            number["messaging_limit_tier"].as_str(),
            number["throughput"]["level"].as_str()
        ),
        (Some("GREEN"), Some("TIER_250"), Some("STANDARD"))
    );

    let outcome = client
        .set_phone_quality(&PhoneQualityRequest {
            phone_number_id: Some(PNID.into()),
            event: "DOWNGRADE".into(),
            current_limit: Some("TIER_50".into()),
            old_limit: Some("TIER_250".into()),
            quality_rating: Some("RED".into()),
            ..PhoneQualityRequest::default()
        })
        .await
        .unwrap();
    assert!(outcome.delivered);
    let received = receiver.expect_exactly(1).await;
    assert!(received[0].signature_valid);
    let body = &received[0].body;
    assert_eq!(body["entry"][0]["id"], DEFAULT_WABA_ID);
    assert!(body["entry"][0]["time"].is_i64());
    assert_eq!(change_of(body)["field"], "phone_number_quality_update");
    assert_eq!(
        change_of(body)["value"],
        json!({"display_phone_number": DEFAULT_DISPLAY_PHONE_NUMBER, "event": "DOWNGRADE", "current_limit": "TIER_50",
               "max_daily_conversations_per_business": "TIER_50", "old_limit": "TIER_250"})
    );
    let (_, number) = graph(
        &sandbox,
        "GET",
        &format!("{PNID}?fields=quality_rating,messaging_limit_tier"),
        None,
    )
    .await;
    assert_eq!(
        number,
        json!({"quality_rating": "RED", "messaging_limit_tier": "TIER_50", "id": PNID})
    );

    // Meta's own recorded shape, plus max_daily_conversations_per_business.
    client
        .set_phone_quality(&PhoneQualityRequest {
            phone_number_id: Some(PNID.into()),
            event: "THROUGHPUT_UPGRADE".into(),
            current_limit: Some("TIER_UNLIMITED".into()),
            ..PhoneQualityRequest::default()
        })
        .await
        .unwrap();
    let received = receiver.expect_exactly(2).await;
    let mut expected = fixture("webhook_phone_number_quality_update.json");
    expected["entry"][0]["changes"][0]["value"]["max_daily_conversations_per_business"] =
        json!("TIER_UNLIMITED");
    assert_eq!(shape(&received[1].body), shape(&expected));
    assert_eq!(
        change_of(&received[1].body)["value"]["current_limit"],
        "TIER_UNLIMITED"
    );
    let (_, number) = graph(&sandbox, "GET", PNID, None).await;
    assert_eq!(number["throughput"]["level"], "HIGH");
    assert_eq!(number["messaging_limit_tier"], "TIER_UNLIMITED");
    assert_eq!(number["quality_rating"], "RED");

    let refused = client
        .set_phone_quality(&PhoneQualityRequest {
            phone_number_id: Some(PNID.into()),
            event: "SOMETHING".into(),
            ..PhoneQualityRequest::default()
        })
        .await;
    assert!(matches!(
        refused,
        Err(sandbox::ClientError::Status { status: 400, .. })
    ));
    let refused = client
        .set_phone_quality(&PhoneQualityRequest {
            phone_number_id: Some(PNID.into()),
            event: "UPGRADE".into(),
            current_limit: Some("TIER_3K".into()),
            ..PhoneQualityRequest::default()
        })
        .await;
    assert!(matches!(
        refused,
        Err(sandbox::ClientError::Status { status: 400, .. })
    ));
    receiver.expect_exactly(2).await;
}

#[tokio::test]
async fn get_by_id_tells_media_templates_phone_numbers_and_wabas_apart() {
    let sandbox = sandbox_without_webhooks().await;
    let template = create(&sandbox, DEFAULT_WABA_ID, "hello", "en_US", "Hello").await;
    let (_, found) = graph(&sandbox, "GET", &template, None).await;
    assert_eq!(found["name"], "hello");
    let (_, number) = graph(&sandbox, "GET", "100000000000001", None).await;
    assert_eq!(number["id"], "100000000000001");
    assert_eq!(number["verified_name"], "Sandbox Business");
    for unknown in [DEFAULT_WABA_ID, "not-a-number"] {
        let (status, answer) = graph(&sandbox, "GET", unknown, None).await;
        assert_eq!(status, 400, "{unknown}: {answer}");
        assert_eq!(answer["error"]["error_subcode"], 33);
    }
    let response = reqwest::get(format!("{}/v23.0/{template}", sandbox.base_url()))
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn template_quality_category_and_account_updates_arrive_in_the_fixtures_shapes() {
    let receiver = Receiver::start().await;
    let sandbox = sandbox_for(&receiver, Faults::default()).await;
    let client = sandbox.client();
    client
        .update_config(&json!({"template_review": "manual"}))
        .await
        .unwrap();
    let id = create(
        &sandbox,
        OTHER_WABA,
        "welcome_template",
        "en_US",
        "Welcome!",
    )
    .await;

    client
        .set_template_quality(&TemplateQualityRequest {
            template: TemplateRef {
                waba_id: Some(OTHER_WABA.into()),
                ..TemplateRef::named("welcome_template", "en_US")
            },
            new_quality_score: "YELLOW".into(),
            previous_quality_score: None,
        })
        .await
        .unwrap();
    let received = receiver.expect_exactly(1).await;
    assert!(received[0].signature_valid);
    assert_eq!(
        shape(&received[0].body),
        shape(&fixture("webhook_template_quality_update.json"))
    );
    assert_eq!(received[0].body["entry"][0]["id"], OTHER_WABA);
    assert_eq!(
        change_of(&received[0].body)["value"],
        json!({"previous_quality_score": "UNKNOWN", "new_quality_score": "YELLOW",
               "message_template_id": id.parse::<u64>().unwrap(), "message_template_name": "welcome_template",
               "message_template_language": "en_US"})
    );
    let (_, quality) = graph(&sandbox, "GET", &format!("{id}?fields=quality_score"), None).await;
    assert_eq!(quality["quality_score"]["score"], "YELLOW");

    client
        .set_template_category(&TemplateCategoryRequest {
            template: TemplateRef::id(id.clone()),
            new_category: "MARKETING".into(),
        })
        .await
        .unwrap();
    let received = receiver.expect_exactly(2).await;
    assert_eq!(
        shape(&received[1].body),
        shape(&fixture("webhook_template_category_update.json"))
    );
    assert_eq!(
        change_of(&received[1].body)["value"]["new_category"],
        "MARKETING"
    );
    let (_, template) = graph(&sandbox, "GET", &id, None).await;
    assert_eq!(
        (
            template["category"].as_str(),
            template["previous_category"].as_str()
        ),
        (Some("MARKETING"), Some("UTILITY"))
    );

    let disabled = fixture("webhook_account_update_disabled_update.json");
    let value = disabled["entry"][0]["changes"][0]["value"].clone();
    let request: AccountUpdateRequest = serde_json::from_value(value.clone()).unwrap();
    client.account_update(&request).await.unwrap();
    let received = receiver.expect_exactly(3).await;
    assert_eq!(shape(&received[2].body), shape(&disabled));
    assert_eq!(change_of(&received[2].body)["value"], value);
    assert_eq!(received[2].body["entry"][0]["id"], DEFAULT_WABA_ID);

    let report = client.messages().await.unwrap();
    let fields: Vec<&str> = report.management.iter().map(|m| m.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "message_template_quality_update",
            "template_category_update",
            "account_update"
        ]
    );
    let refused = client
        .set_template_category(&TemplateCategoryRequest {
            template: TemplateRef::named("no_such_template", "en_US"),
            new_category: "MARKETING".into(),
        })
        .await;
    assert!(matches!(
        refused,
        Err(sandbox::ClientError::Status { status: 400, .. })
    ));
}

#[tokio::test]
async fn review_settings_are_runtime_config() {
    let sandbox = sandbox_without_webhooks().await;
    let client = sandbox.client();
    let raw: Value = reqwest::get(format!("{}/_sandbox/config", sandbox.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(raw["template_review"], "approve");
    assert_eq!(raw["template_review_delay_ms"], 200);
    let updated = client
        .update_config(&json!({"template_review": "reject", "template_review_delay_ms": 5}))
        .await
        .unwrap();
    assert_eq!(updated.template_review, sandbox::TemplateReview::Reject);
    assert_eq!(updated.template_review_delay_ms, 5);
    assert!(client
        .update_config(&json!({"template_review": "maybe"}))
        .await
        .is_err());
}

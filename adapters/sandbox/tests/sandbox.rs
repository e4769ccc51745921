//! The sandbox against Meta's recorded shapes, with a real webhook receiver verifying signatures.

mod support;

use std::time::{Duration, Instant};

use sandbox::{
    Faults, InboundRequest, PairRate, RawWebhook, SandboxConfig, DEFAULT_DISPLAY_PHONE_NUMBER,
    DEFAULT_WABA_ID,
};
use serde_json::{json, Value};
use support::*;

#[tokio::test]
async fn a_send_answers_metas_shape_then_three_signed_statuses_arrive_in_order() {
    let receiver = Receiver::start().await;
    let sandbox = sandbox_for(&receiver, Faults::default()).await;
    let mut body = fixture("requests/request_text.json");
    body["biz_opaque_callback_data"] = json!("order-42");

    let (status, answer) = send(&sandbox, &body).await;

    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        shape(&answer),
        shape(&fixture("send_message_response.json"))
    );
    assert_eq!(
        answer["contacts"][0],
        json!({"input": "13437772910", "wa_id": "13437772910"})
    );
    let wamid = answer["messages"][0]["id"].as_str().unwrap().to_string();
    assert!(wamid.starts_with("wamid.HBgL"), "{wamid}");
    assert!(answer["messages"][0].get("message_status").is_none());

    let received = receiver.expect_exactly(3).await;
    let names: Vec<&str> = received
        .iter()
        .map(|r| status_of(&r.body)["status"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["sent", "delivered", "read"]);
    let mut previous_timestamp = 0;
    for webhook in &received {
        assert!(webhook.signature_valid, "bad signature on {}", webhook.body);
        assert_eq!(webhook.content_type, "application/json");
        let body = &webhook.body;
        assert_eq!(body["object"], "whatsapp_business_account");
        assert_eq!(body["entry"][0]["id"], DEFAULT_WABA_ID);
        assert_eq!(body["entry"][0]["changes"][0]["field"], "messages");
        let value = &body["entry"][0]["changes"][0]["value"];
        assert_eq!(value["messaging_product"], "whatsapp");
        assert_eq!(
            value["metadata"],
            json!({"display_phone_number": DEFAULT_DISPLAY_PHONE_NUMBER, "phone_number_id": PNID})
        );
        let status = status_of(body);
        assert_eq!(status["id"], wamid.as_str());
        assert_eq!(status["recipient_id"], "13437772910");
        assert_eq!(status["biz_opaque_callback_data"], "order-42");
        let timestamp: i64 = status["timestamp"].as_str().unwrap().parse().unwrap();
        assert!(timestamp >= previous_timestamp);
        previous_timestamp = timestamp;
    }

    // `sent` has the same structure as Meta's current fixture, plus the echoed callback data.
    let mut expected = fixture("webhook_status_sent.json");
    expected["entry"][0]["changes"][0]["value"]["statuses"][0]["biz_opaque_callback_data"] =
        json!("x");
    assert_eq!(shape(&received[0].body), shape(&expected));
    let sent = status_of(&received[0].body);
    assert_eq!(
        sent["pricing"],
        json!({"billable": false, "pricing_model": "PMP", "type": "free_customer_service", "category": "service"})
    );
    assert_eq!(sent["conversation"]["origin"]["type"], "service");
    // Meta bills on `sent` and one of `delivered`/`read`: here `delivered`, without the expiration.
    let delivered = status_of(&received[1].body);
    assert_eq!(delivered["conversation"]["id"], sent["conversation"]["id"]);
    assert!(delivered["conversation"]
        .get("expiration_timestamp")
        .is_none());
    assert!(delivered.get("pricing").is_some());
    let read = status_of(&received[2].body);
    assert!(read.get("conversation").is_none() && read.get("pricing").is_none());

    let report = sandbox.client().messages().await.unwrap();
    assert_eq!(report.messages.len(), 1);
    let record = &report.messages[0];
    assert_eq!(record.wamid, wamid);
    assert_eq!(record.to, "13437772910");
    assert_eq!(record.kind, "text");
    assert_eq!(record.phone_number_id, PNID);
    assert_eq!(record.biz_opaque_callback_data.as_deref(), Some("order-42"));
    assert_eq!(record.body, body);
}

#[tokio::test]
async fn every_recorded_send_body_is_accepted_and_templates_report_accepted() {
    let sandbox = sandbox_without_webhooks().await;
    let mut names: Vec<String> = std::fs::read_dir(fixture_path("requests"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        // Read receipts and template creation are not sends.
        .filter(|n| {
            !n.starts_with("request_mark_read") && !n.starts_with("request_template_create")
        })
        .collect();
    names.sort();
    assert!(names.len() >= 16);
    for name in names {
        let mut body = fixture(&format!("requests/{name}"));
        if body["to"] == "{{Recipient-Phone-Number}}" {
            body["to"] = json!("+1 650-555-1234"); // the docs example's placeholder
        }
        let (status, answer) = send(&sandbox, &body).await;
        assert_eq!(status, 200, "{name}: {answer}");
        if body["type"] == "template" {
            assert_eq!(
                shape(&answer),
                shape(&fixture("send_message_response_template_accepted.json")),
                "{name}"
            );
            assert_eq!(answer["messages"][0]["message_status"], "accepted");
        } else {
            assert_eq!(
                shape(&answer),
                shape(&fixture("send_message_response.json")),
                "{name}"
            );
        }
    }
    let (_, answer) = send(&sandbox, &text_to("+1 (650) 555-1234")).await;
    assert_eq!(
        answer["contacts"][0],
        json!({"input": "+1 (650) 555-1234", "wa_id": "16505551234"})
    );
}

#[tokio::test]
async fn mark_read_succeeds_for_incoming_ids_and_is_refused_for_outgoing_ones() {
    let receiver = Receiver::start().await;
    let sandbox = sandbox_for(&receiver, Faults::default()).await;
    for name in [
        "requests/request_mark_read_typing_indicator.json",
        "requests/request_mark_read_typing_indicator_docs.json",
    ] {
        let (status, answer) = send(&sandbox, &fixture(name)).await;
        assert_eq!(
            (status, &answer),
            (200, &fixture("success_response.json")),
            "{name}"
        );
    }

    let (_, sent) = send(&sandbox, &text_to("16505551234")).await;
    let wamid = sent["messages"][0]["id"].as_str().unwrap();
    let (status, answer) = send(
        &sandbox,
        &json!({"messaging_product": "whatsapp", "status": "read", "message_id": wamid}),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        shape(&answer),
        shape(&fixture("error_100_mark_read_outgoing_message.json"))
    );
    assert_eq!(answer["error"]["code"], 100);
    assert_eq!(answer["error"]["message"], "(#100) Invalid parameter");
    assert_eq!(
        answer["error"]["error_data"]["details"],
        format!("Message supplied to mark message as read API with message ID: {wamid} is outgoing. Please use an incoming message ID.")
    );

    // Mark-reads cause no status webhooks: only the text send's three arrive.
    receiver.expect_exactly(3).await;
    let report = sandbox.client().messages().await.unwrap();
    assert_eq!(report.reads.len(), 2);
    assert!(report.reads[0].typing_indicator);
    assert_eq!(report.rejections.len(), 1);
    assert_eq!(report.rejections[0].code, 100);
}

#[tokio::test]
async fn invalid_sends_get_metas_code_100_error_object() {
    let sandbox = sandbox_without_webhooks().await;
    let cases = [
        json!({"to": "1", "type": "text", "text": {"body": "x"}}),
        json!({"messaging_product": "sms", "to": "1", "type": "text", "text": {"body": "x"}}),
        json!({"messaging_product": "whatsapp", "type": "text", "text": {"body": "x"}}),
        json!({"messaging_product": "whatsapp", "to": "1", "text": {"body": "x"}}),
        json!({"messaging_product": "whatsapp", "to": "1", "type": "carrier_pigeon"}),
        json!({"messaging_product": "whatsapp", "to": "1", "type": "image", "text": {"body": "x"}}),
        json!({"messaging_product": "whatsapp", "to": "1", "type": "text", "text": {}}),
        json!({"messaging_product": "whatsapp", "to": "1", "type": "template", "template": {"name": "x"}}),
        json!({"messaging_product": "whatsapp", "to": "1", "type": "text", "text": {"body": "x"}, "biz_opaque_callback_data": "x".repeat(513)}),
        json!("not an object"),
    ];
    let expected = shape(&fixture("error_100_mark_read_outgoing_message.json"));
    for body in &cases {
        let (status, answer) = send(&sandbox, body).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(shape(&answer), expected, "{body}: {answer}");
        assert_eq!(answer["error"]["code"], 100);
        assert_eq!(answer["error"]["type"], "OAuthException");
        assert_eq!(
            answer["error"]["error_data"]["messaging_product"],
            "whatsapp"
        );
        assert_eq!(answer["error"]["fbtrace_id"].as_str().unwrap().len(), 23);
    }
    let stats = sandbox.client().stats().await.unwrap();
    assert_eq!(stats.accepted, 0);
    assert_eq!(stats.rejected.get(&100), Some(&(cases.len() as u64)));
    let rejections = sandbox.client().rejections().await.unwrap();
    assert_eq!(rejections[1].body, cases[1]);
    assert!(rejections[1]
        .details
        .as_deref()
        .unwrap()
        .contains("messaging_product"));
}

#[tokio::test]
async fn a_missing_or_wrong_token_gets_190_with_401() {
    let sandbox = sandbox_without_webhooks().await;
    let mut expected = fixture("error_190_invalid_oauth_token.json");
    expected["error"]
        .as_object_mut()
        .unwrap()
        .remove("error_subcode");
    for authorization in [
        None,
        Some("Bearer "),
        Some("Basic dXNlcjpwYXNz"),
        Some("Bearer"),
    ] {
        let (status, answer) = send_with_auth(&sandbox, &text_to("1"), authorization).await;
        assert_eq!(status, 401, "{authorization:?}");
        assert_eq!(shape(&answer), shape(&expected));
        assert_eq!(answer["error"]["code"], 190);
        assert_eq!(answer["error"]["message"], "Invalid OAuth access token");
    }

    let config = SandboxConfig {
        access_token: Some("the-token".into()),
        ..SandboxConfig::default()
    };
    let strict = sandbox::Sandbox::bind("127.0.0.1:0", config).await.unwrap();
    let (status, _) = send_with_auth(&strict, &text_to("1"), Some("Bearer other")).await;
    assert_eq!(status, 401);
    let (status, _) = send_with_auth(&strict, &text_to("1"), Some("bearer the-token")).await;
    assert_eq!(status, 200);
    assert_eq!(strict.state().stats().rejected.get(&190), Some(&1));
}

#[tokio::test]
async fn sends_above_the_throughput_limit_get_130429_and_sends_below_pass() {
    let faults = Faults {
        throughput_limit_mps: Some(5),
        ..Faults::default()
    };
    let receiver = Receiver::start().await;
    let sandbox = sandbox_for(&receiver, faults).await;
    let client = sandbox.client();
    client
        .update_config(&json!({"webhook_url": null}))
        .await
        .unwrap();

    let mut burst = tokio::task::JoinSet::new();
    for i in 0..12 {
        let url = format!("{}/v23.0/{PNID}/messages", sandbox.base_url());
        burst.spawn(async move {
            let response = reqwest::Client::new()
                .post(url)
                .bearer_auth("token")
                .json(&text_to(&format!("1555000{i:04}")))
                .send()
                .await
                .unwrap();
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap(),
            )
        });
    }
    let answers = burst.join_all().await;
    let accepted = answers.iter().filter(|(s, _)| *s == 200).count();
    assert_eq!(accepted, 5);
    let refused: Vec<&Value> = answers
        .iter()
        .filter(|(s, _)| *s == 400)
        .map(|(_, a)| a)
        .collect();
    assert_eq!(refused.len(), 7);
    let expected = fixture("error_130429_throughput.json");
    for answer in refused {
        assert_eq!(shape(answer), shape(&expected));
        assert_eq!(answer["error"]["code"], 130429);
        assert_eq!(answer["error"]["message"], expected["error"]["message"]);
        assert_eq!(
            answer["error"]["error_subcode"],
            expected["error"]["error_subcode"]
        );
        assert_eq!(
            answer["error"]["error_data"],
            expected["error"]["error_data"]
        );
    }
    let stats = client.stats().await.unwrap();
    assert_eq!(stats.max_accepted_in_any_second, 5);
    assert_eq!(stats.rejected.get(&130429), Some(&7));

    // A second later the window has room again.
    tokio::time::sleep(Duration::from_millis(1050)).await;
    assert_eq!(send(&sandbox, &text_to("15550001000")).await.0, 200);

    // Below the limit nothing is refused.
    client.clear().await.unwrap();
    client
        .update_config(&json!({"throughput_limit_mps": 100}))
        .await
        .unwrap();
    for i in 0..20 {
        assert_eq!(
            send(&sandbox, &text_to(&format!("1555100{i:04}"))).await.0,
            200
        );
    }
    let stats = client.stats().await.unwrap();
    assert_eq!((stats.accepted, stats.rejected_total), (20, 0));
    assert_eq!(stats.max_accepted_in_any_second, 20);
}

#[tokio::test]
async fn too_many_sends_to_one_recipient_get_131056_while_others_pass() {
    let sandbox = sandbox_without_webhooks().await;
    sandbox
        .client()
        .update_config(&json!({"pair_rate": {"max": 2, "per_seconds": 60}}))
        .await
        .unwrap();
    assert_eq!(send(&sandbox, &text_to("16505550001")).await.0, 200);
    assert_eq!(send(&sandbox, &text_to("+1 650 555 0001")).await.0, 200);
    let (status, answer) = send(&sandbox, &text_to("16505550001")).await;
    assert_eq!(status, 400);
    assert_eq!(answer["error"]["code"], 131056);
    assert_eq!(
        answer["error"]["message"],
        "(#131056) (Business Account, Consumer Account) pair rate limit hit"
    );
    assert_eq!(
        shape(&answer),
        shape(&fixture("error_100_mark_read_outgoing_message.json"))
    );
    assert_eq!(send(&sandbox, &text_to("16505550002")).await.0, 200);

    let rejections = sandbox.client().rejections().await.unwrap();
    assert_eq!(rejections.len(), 1);
    assert_eq!(rejections[0].code, 131056);
    assert_eq!(rejections[0].to.as_deref(), Some("16505550001"));
    assert_eq!(rejections[0].kind.as_deref(), Some("text"));
}

#[tokio::test]
async fn failing_recipients_fail_synchronously_or_with_a_failed_status() {
    let receiver = Receiver::start().await;
    let sandbox = sandbox_for(&receiver, Faults::default()).await;
    sandbox
        .client()
        .update_config(&json!({
            "fail_recipients": {"+1 650 555 0001": 131026},
            "fail_recipients_async": {"16505550002": 131047}
        }))
        .await
        .unwrap();

    let (status, answer) = send(&sandbox, &text_to("16505550001")).await;
    assert_eq!(status, 400);
    assert_eq!(answer["error"]["code"], 131026);
    assert_eq!(
        answer["error"]["message"],
        "(#131026) Message undeliverable"
    );

    let (status, answer) = send(&sandbox, &text_to("16505550002")).await;
    assert_eq!(status, 200);
    let wamid = answer["messages"][0]["id"].as_str().unwrap();
    let received = receiver.expect_exactly(1).await;
    assert!(received[0].signature_valid);
    let failed = status_of(&received[0].body);
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["id"], wamid);
    assert_eq!(failed["errors"][0]["code"], 131047);
    assert_eq!(failed["errors"][0]["title"], "Re-engagement message");
    let expected = fixture("webhook_status_failed_131047.json");
    assert_eq!(shape(failed), shape(status_of(&expected)));
    assert_eq!(
        failed["errors"][0]["error_data"],
        status_of(&expected)["errors"][0]["error_data"]
    );

    let stats = sandbox.client().stats().await.unwrap();
    assert_eq!(stats.accepted, 1);
    assert_eq!(stats.rejected.get(&131026), Some(&1));
}

#[tokio::test]
async fn duplicate_webhooks_deliver_every_status_twice() {
    let receiver = Receiver::start().await;
    let faults = Faults {
        duplicate_webhooks: true,
        ..Faults::default()
    };
    let sandbox = sandbox_for(&receiver, faults).await;
    assert_eq!(send(&sandbox, &text_to("16505551234")).await.0, 200);
    let received = receiver.expect_exactly(6).await;
    for pair in received.chunks(2) {
        assert_eq!(pair[0].raw, pair[1].raw);
        assert!(pair[0].signature_valid && pair[1].signature_valid);
    }
    let names: Vec<&str> = received
        .iter()
        .map(|r| status_of(&r.body)["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["sent", "sent", "delivered", "delivered", "read", "read"]
    );
    let stats = sandbox.state().stats();
    assert_eq!((stats.webhooks_delivered, stats.webhooks_pending), (6, 0));
}

#[tokio::test]
async fn out_of_order_statuses_arrive_read_first_with_true_timestamps() {
    let receiver = Receiver::start().await;
    let faults = Faults {
        out_of_order_statuses: true,
        ..Faults::default()
    };
    let sandbox = sandbox_for(&receiver, faults).await;
    sandbox
        .client()
        .update_config(
            &json!({"status_delays": {"sent_ms": 0, "delivered_ms": 600, "read_ms": 1200}}),
        )
        .await
        .unwrap();
    assert_eq!(send(&sandbox, &text_to("16505551234")).await.0, 200);
    let received = receiver.wait_for(3).await;
    let statuses: Vec<&Value> = received.iter().map(|r| status_of(&r.body)).collect();
    let names: Vec<&str> = statuses
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["read", "delivered", "sent"]);
    let ts = |s: &Value| s["timestamp"].as_str().unwrap().parse::<i64>().unwrap();
    assert!(ts(statuses[2]) <= ts(statuses[1]) && ts(statuses[1]) <= ts(statuses[0]));
    assert!(
        ts(statuses[0]) > ts(statuses[2]),
        "read's timestamp is 1.2 s after sent's"
    );
}

#[tokio::test]
async fn inbound_text_is_delivered_exactly_like_metas_webhook() {
    let receiver = Receiver::start().await;
    let sandbox = sandbox_for(&receiver, Faults::default()).await;
    let request = InboundRequest {
        display_phone_number: Some("15550783881".into()),
        profile_name: Some("Sheena Nelson".into()),
        ..InboundRequest::text(PNID, "+1 650-555-1234", "Does it come in another color?")
    };

    let outcome = sandbox.client().deliver_inbound(&request).await.unwrap();

    assert!(outcome.delivered);
    assert_eq!(outcome.status, Some(200));
    assert!(
        outcome.wamid.starts_with("wamid.HBgLMTY1MDU1NTEyMzQVAgAS"),
        "{}",
        outcome.wamid
    );
    let received = receiver.expect_exactly(1).await;
    assert!(received[0].signature_valid);
    let body = &received[0].body;
    let mut expected = fixture("webhook_text_message.json");
    let message = &body["entry"][0]["changes"][0]["value"]["messages"][0];
    expected["entry"][0]["id"] = json!(DEFAULT_WABA_ID);
    expected["entry"][0]["changes"][0]["value"]["messages"][0]["id"] = json!(outcome.wamid);
    expected["entry"][0]["changes"][0]["value"]["messages"][0]["timestamp"] =
        message["timestamp"].clone();
    assert_eq!(body, &expected);
    let age = chrono::Utc::now().timestamp()
        - message["timestamp"]
            .as_str()
            .unwrap()
            .parse::<i64>()
            .unwrap();
    assert!((0..5).contains(&age));

    let report = sandbox.client().messages().await.unwrap();
    assert_eq!(report.inbound.len(), 1);
    assert_eq!(report.inbound[0].wamid, outcome.wamid);
    assert_eq!(report.inbound[0].from, "16505551234");
}

#[tokio::test]
async fn inbound_image_is_delivered_like_metas_and_missing_media_fields_are_filled() {
    let receiver = Receiver::start().await;
    let sandbox = sandbox_for(&receiver, Faults::default()).await;
    let client = sandbox.client();
    let fixture_body = fixture("webhook_image_message.json");
    let fixture_message = fixture_body["entry"][0]["changes"][0]["value"]["messages"][0].clone();
    let request = InboundRequest {
        display_phone_number: Some("15550783881".into()),
        profile_name: Some("Sheena Nelson".into()),
        ..InboundRequest::new(
            PNID,
            "16505551234",
            json!({"type": "image", "image": fixture_message["image"].clone(), "id": fixture_message["id"].clone(), "timestamp": fixture_message["timestamp"].clone()}),
        )
    };
    let outcome = client.deliver_inbound(&request).await.unwrap();
    assert_eq!(
        outcome.wamid,
        fixture_message["id"].as_str().unwrap(),
        "a given id is kept"
    );
    let received = receiver.wait_for(1).await;
    let mut expected = fixture_body.clone();
    expected["entry"][0]["id"] = json!(DEFAULT_WABA_ID);
    assert_eq!(received[0].body, expected);

    // Only a caption: the sandbox fills id, mime_type and sha256, and the id can be downloaded.
    let outcome = client
        .deliver_inbound(&InboundRequest::new(
            PNID,
            "16505551234",
            json!({"type": "image", "image": {"caption": "hi"}}),
        ))
        .await
        .unwrap();
    assert!(outcome.delivered);
    let received = receiver.wait_for(2).await;
    let image = &received[1].body["entry"][0]["changes"][0]["value"]["messages"][0]["image"];
    assert_eq!(shape(image), shape(&fixture_message["image"]));
    assert_eq!(image["mime_type"], "image/jpeg");
    assert_eq!(
        received[1].body["entry"][0]["changes"][0]["value"]["contacts"][0]["profile"]["name"],
        "Sandbox Customer"
    );
    let media_id = image["id"].as_str().unwrap();
    let info: Value = reqwest::Client::new()
        .get(format!("{}/v23.0/{media_id}", sandbox.base_url()))
        .bearer_auth("token")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["mime_type"], "image/jpeg");

    // Invalid requests are refused with a control error.
    let refused = client
        .deliver_inbound(&InboundRequest::new(
            PNID,
            "16505551234",
            json!({"text": {"body": "no type"}}),
        ))
        .await;
    assert!(
        matches!(
            refused,
            Err(sandbox::ClientError::Status { status: 400, .. })
        ),
        "{refused:?}"
    );
}

#[tokio::test]
async fn inbound_reports_parleys_failure_after_retries_or_no_webhook_url() {
    let receiver = Receiver::start().await;
    receiver.always_answer(503);
    let sandbox = sandbox_for(&receiver, Faults::default()).await;
    let outcome = sandbox
        .state()
        .deliver_inbound(InboundRequest::text(PNID, "16505551234", "hi"))
        .await
        .unwrap();
    assert!(!outcome.delivered);
    assert_eq!(outcome.status, Some(503));
    let attempts = SandboxConfig::default().delivery.attempts as usize;
    assert_eq!(receiver.received().len(), attempts);
    let stats = sandbox.state().stats();
    assert_eq!(
        (stats.webhooks_failed, stats.webhook_attempts_failed),
        (1, attempts as u64)
    );

    let quiet = sandbox_without_webhooks().await;
    let outcome = quiet
        .client()
        .deliver_inbound(&InboundRequest::text(PNID, "1", "hi"))
        .await
        .unwrap();
    assert_eq!((outcome.delivered, outcome.status), (false, None));
}

#[tokio::test]
async fn status_webhooks_are_retried_until_parley_accepts_them() {
    let receiver = Receiver::start().await;
    receiver.fail_next(2);
    let sandbox = sandbox_for(&receiver, Faults::default()).await;
    assert_eq!(send(&sandbox, &text_to("16505551234")).await.0, 200);
    let received = receiver.expect_exactly(5).await;
    let names: Vec<&str> = received
        .iter()
        .map(|r| status_of(&r.body)["status"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["sent", "sent", "sent", "delivered", "read"]);
    let stats = sandbox.client().stats().await.unwrap();
    assert_eq!(stats.webhooks_delivered, 3);
    assert_eq!(stats.webhook_attempts_failed, 2);
    assert_eq!(stats.webhooks_failed, 0);
    assert_eq!(stats.webhooks_pending, 0);
}

#[tokio::test]
async fn an_unreachable_parley_never_slows_the_send_and_is_counted_as_failed() {
    // A port that was just free: nothing listens there.
    let unused = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/webhook", unused.local_addr().unwrap());
    drop(unused);
    let mut config = SandboxConfig::new(url, SECRET);
    config.status_delays = sandbox::StatusDelays::ZERO;
    config.delivery.attempts = 2;
    config.delivery.initial_backoff = Duration::from_millis(5);
    let sandbox = sandbox::Sandbox::bind("127.0.0.1:0", config).await.unwrap();

    let started = Instant::now();
    assert_eq!(send(&sandbox, &text_to("16505551234")).await.0, 200);
    assert!(started.elapsed() < Duration::from_millis(500));
    let deadline = Instant::now() + Duration::from_secs(5);
    while sandbox.state().stats().webhooks_pending > 0 {
        assert!(Instant::now() < deadline, "{:?}", sandbox.state().stats());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let stats = sandbox.state().stats();
    assert_eq!(
        (
            stats.webhooks_failed,
            stats.webhook_attempts_failed,
            stats.webhooks_delivered
        ),
        (3, 6, 0)
    );
}

#[tokio::test]
async fn media_upload_answers_an_id_and_stores_size_and_type() {
    let sandbox = sandbox_without_webhooks().await;
    let boundary = "sandbox-boundary";
    let file = b"\x89PNG fake image bytes";
    let mut body = Vec::new();
    for (name, value) in [("messaging_product", "whatsapp"), ("type", "image/png")] {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes(),
        );
    }
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n").as_bytes(),
    );
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let http = reqwest::Client::new();
    let upload = |body: Vec<u8>| {
        http.post(format!("{}/v23.0/{PNID}/media", sandbox.base_url()))
            .bearer_auth("token")
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
            .send()
    };

    let response = upload(body).await.unwrap();
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(
        shape(&answer),
        shape(&fixture("media_upload_response.json"))
    );
    let id = answer["id"].as_str().unwrap();
    assert!(id.chars().all(|c| c.is_ascii_digit()));

    let info: Value = http
        .get(format!("{}/v23.0/{id}", sandbox.base_url()))
        .bearer_auth("token")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(shape(&info), shape(&fixture("media_get_url_response.json")));
    assert_eq!(info["file_size"], file.len());
    assert_eq!(info["mime_type"], "image/png");
    let download = http
        .get(info["url"].as_str().unwrap())
        .bearer_auth("token")
        .send()
        .await
        .unwrap();
    assert_eq!(download.headers()["content-type"], "image/png");
    assert_eq!(download.bytes().await.unwrap().as_ref(), file);
    let anonymous = http
        .get(info["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);

    let without_file = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"messaging_product\"\r\n\r\nwhatsapp\r\n--{boundary}--\r\n"
    );
    let response = upload(without_file.into_bytes()).await.unwrap();
    assert_eq!(response.status(), 400);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["error"]["code"], 100);

    let deleted: Value = http
        .delete(format!("{}/v23.0/{id}", sandbox.base_url()))
        .bearer_auth("token")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(deleted, json!({"success": true}));
    assert_eq!(sandbox.state().stats().media_uploads, 1);
}

#[tokio::test]
async fn stats_count_accepts_rejections_and_webhooks_and_clear_resets_them() {
    let receiver = Receiver::start().await;
    let sandbox = sandbox_for(&receiver, Faults::default()).await;
    let client = sandbox.client();
    for i in 0..4 {
        assert_eq!(
            send(&sandbox, &text_to(&format!("1650555000{i}"))).await.0,
            200
        );
    }
    send(&sandbox, &json!({"messaging_product": "whatsapp"})).await;
    receiver.wait_for(12).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    let stats = loop {
        let stats = client.stats().await.unwrap();
        if stats.webhooks_delivered == 12 || Instant::now() > deadline {
            break stats;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(stats.accepted, 4);
    assert_eq!(stats.rejected_total, 1);
    assert_eq!(stats.rejected.get(&100), Some(&1));
    assert_eq!(stats.webhooks_delivered, 12);
    assert_eq!(stats.webhooks_pending, 0);
    assert_eq!(stats.max_accepted_in_any_second, 4);
    let json_stats: Value = reqwest::get(format!("{}/_sandbox/stats", sandbox.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(json_stats["rejected"], json!({"100": 1}));

    client.clear().await.unwrap();
    let report = client.messages().await.unwrap();
    assert!(report.messages.is_empty() && report.rejections.is_empty());
    let stats = client.stats().await.unwrap();
    assert_eq!(
        (
            stats.accepted,
            stats.rejected_total,
            stats.webhooks_delivered,
            stats.max_accepted_in_any_second
        ),
        (0, 0, 0, 0)
    );
}

#[tokio::test]
async fn config_updates_merge_and_refuse_unknown_keys() {
    let sandbox = sandbox_without_webhooks().await;
    let client = sandbox.client();
    let initial = client.config().await.unwrap();
    assert_eq!(initial.faults, Faults::default());
    assert_eq!(initial.status_delays, sandbox::StatusDelays::default());

    let updated = client
        .update_config(
            &json!({"throughput_limit_mps": 80, "pair_rate": {"max": 45, "per_seconds": 6}}),
        )
        .await
        .unwrap();
    assert_eq!(updated.faults.throughput_limit_mps, Some(80));
    assert_eq!(
        updated.faults.pair_rate,
        Some(PairRate {
            max: 45,
            per_seconds: 6
        })
    );
    let updated = client
        .update_config(&json!({"response_delay_ms": 5}))
        .await
        .unwrap();
    assert_eq!(
        updated.faults.throughput_limit_mps,
        Some(80),
        "other switches are kept"
    );
    let updated = client
        .update_config(&json!({"throughput_limit_mps": null}))
        .await
        .unwrap();
    assert_eq!(updated.faults.throughput_limit_mps, None);

    let raw: Value = reqwest::get(format!("{}/_sandbox/config", sandbox.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        raw["status_delays"],
        json!({"sent_ms": 50, "delivered_ms": 100, "read_ms": 150})
    );
    assert_eq!(raw["waba_id"], DEFAULT_WABA_ID);

    let refused = client.update_config(&json!({"throughput_limit": 10})).await;
    match refused {
        Err(sandbox::ClientError::Status { status, body }) => {
            assert_eq!(status, 400);
            assert!(body.contains("throughput_limit"), "{body}");
        }
        other => panic!("expected a 400, got {other:?}"),
    }
    assert!(client
        .update_config(&json!({"pair_rate": {"max": 1}}))
        .await
        .is_err());
}

#[tokio::test]
async fn response_delay_slows_graph_answers() {
    let sandbox = sandbox_without_webhooks().await;
    sandbox
        .client()
        .update_config(&json!({"response_delay_ms": 200}))
        .await
        .unwrap();
    let started = Instant::now();
    assert_eq!(send(&sandbox, &text_to("1")).await.0, 200);
    assert!(started.elapsed() >= Duration::from_millis(200));
}

#[tokio::test]
async fn raw_webhooks_are_wrapped_in_metas_envelope_with_an_entry_time() {
    let receiver = Receiver::start().await;
    let sandbox = sandbox_for(&receiver, Faults::default()).await;
    let value = json!({"event": "APPROVED", "message_template_id": 123, "message_template_name": "hello", "message_template_language": "en_US", "reason": "NONE"});
    let outcome = sandbox
        .client()
        .deliver_webhook(&RawWebhook {
            field: "message_template_status_update".into(),
            value: value.clone(),
        })
        .await
        .unwrap();
    assert!(outcome.delivered);
    let received = receiver.wait_for(1).await;
    assert!(received[0].signature_valid);
    let entry = &received[0].body["entry"][0];
    assert!(entry["time"].is_i64());
    assert_eq!(
        entry["changes"][0],
        json!({"value": value, "field": "message_template_status_update"})
    );
}

#[tokio::test]
async fn unknown_graph_paths_get_metas_object_does_not_exist_error() {
    let sandbox = sandbox_without_webhooks().await;
    let response = reqwest::Client::new()
        .post(format!(
            "{}/v23.0/123123/message_templates_typo",
            sandbox.base_url()
        ))
        .bearer_auth("token")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["error"]["code"], 100);
    assert_eq!(answer["error"]["error_subcode"], 33);
    assert_eq!(answer["error"]["type"], "GraphMethodException");
    assert!(answer["error"]["message"]
        .as_str()
        .unwrap()
        .contains("'123123'"));
}

/// Rough capacity check, not run by default: `cargo test -p sandbox --release -- --ignored --nocapture`.
/// The load generator and the webhook receiver share the machine, so the rate is a lower bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn throughput_of_sends_with_status_webhooks() {
    let receiver = Receiver::start().await;
    let sandbox = sandbox_for(&receiver, Faults::default()).await;
    let total = 20_000;
    let concurrency = 64;
    let url = format!("{}/v23.0/{PNID}/messages", sandbox.base_url());
    let http = reqwest::Client::new();
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..concurrency {
        let (http, url) = (http.clone(), url.clone());
        workers.spawn(async move {
            for i in (worker..total).step_by(concurrency) {
                let response = http
                    .post(&url)
                    .bearer_auth("token")
                    .json(&text_to(&format!("1555{i:07}")))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 200);
                response.bytes().await.unwrap();
            }
        });
    }
    workers.join_all().await;
    let elapsed = started.elapsed();
    let stats = sandbox.state().stats();
    println!(
        "{total} sends in {elapsed:?}: {:.0} sends/s; max accepted in any second {}",
        total as f64 / elapsed.as_secs_f64(),
        stats.max_accepted_in_any_second
    );
    receiver
        .wait_for_within(3 * total, Duration::from_secs(60))
        .await;
    println!(
        "all {} status webhooks delivered after {:?}",
        3 * total,
        started.elapsed()
    );
}

#[tokio::test]
async fn with_a_batch_size_statuses_that_fall_due_together_share_posts_and_none_is_lost() {
    let receiver = Receiver::start().await;
    let sandbox = sandbox_for(&receiver, Faults::default()).await;
    let client = sandbox.client();
    client
        .update_config(
            &json!({"status_batch_max": 25, "status_delays": sandbox::StatusDelays::ZERO}),
        )
        .await
        .unwrap();
    assert!(client
        .update_config(&json!({"status_batch_max": 1001}))
        .await
        .is_err());
    let url = format!("{}/v23.0/{PNID}/messages", sandbox.base_url());
    let mut sends = tokio::task::JoinSet::new();
    for i in 0..200 {
        let (url, body) = (url.clone(), text_to(&format!("1650555{i:04}")));
        sends.spawn(async move {
            let request = reqwest::Client::new()
                .post(url)
                .bearer_auth("t")
                .json(&body);
            request.send().await.unwrap().status().as_u16()
        });
    }
    while let Some(status) = sends.join_next().await {
        assert_eq!(status.unwrap(), 200);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while sandbox.state().stats().webhooks_pending > 0 {
        assert!(Instant::now() < deadline, "{:?}", sandbox.state().stats());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let posts = receiver.received();
    let mut arrivals: std::collections::HashMap<String, Vec<String>> = Default::default();
    for post in &posts {
        assert!(post.signature_valid);
        let statuses = post.body["entry"][0]["changes"][0]["value"]["statuses"]
            .as_array()
            .unwrap();
        assert!((1..=25).contains(&statuses.len()), "{}", statuses.len());
        for status in statuses {
            arrivals
                .entry(status["id"].as_str().unwrap().to_string())
                .or_default()
                .push(status["status"].as_str().unwrap().to_string());
        }
    }
    // Every status once, each message's in order, and fewer POSTs than statuses.
    assert_eq!(arrivals.len(), 200);
    for statuses in arrivals.values() {
        assert_eq!(statuses, &["sent", "delivered", "read"]);
    }
    assert!(posts.len() < 600, "{} POSTs for 600 statuses", posts.len());
    assert_eq!(sandbox.state().stats().webhooks_delivered, 600);
}

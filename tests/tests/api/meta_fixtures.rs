//! Tests: every webhook fixture of `shared/meta/fixtures` is accepted, signed as Meta signs it,
//! and produces the expected events; delivering each a second time changes nothing.

use application::{PhoneNumberInput, RequestContext};
use domain::conversation::conversation_id;
use domain::phone_number::phone_number_id;
use parley_tests::{TestApp, META_APP_SECRET};
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Duration;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/meta/fixtures");

async fn post_signed(app: &TestApp, body: &[u8]) -> u16 {
    app.http
        .post(format!("{}/webhook", app.base_url))
        .header("content-type", "application/json")
        .header(
            "x-hub-signature-256",
            meta::sign(META_APP_SECRET.as_bytes(), body),
        )
        .body(body.to_vec())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Waits until every stored delivery has been processed; returns their outcomes by id.
async fn processed_outcomes(app: &TestApp) -> Vec<Value> {
    let db = app.db().await;
    for _ in 0..400 {
        let pending: i64 = db
            .query_one(
                "SELECT count(*) FROM meta_webhook_deliveries WHERE processed_at IS NULL",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if pending == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    db.query(
        "SELECT outcome FROM meta_webhook_deliveries ORDER BY id",
        &[],
    )
    .await
    .unwrap()
    .iter()
    .map(|row| row.get::<_, Option<Value>>(0).expect("processed"))
    .collect()
}

async fn event_types(app: &TestApp, conversation: uuid::Uuid) -> Vec<String> {
    let db = app.db().await;
    projections::log::events_of(&db, "conversation", &conversation.to_string())
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event_type)
        .collect()
}

async fn register(app: &TestApp, meta_id: &str) {
    let input = PhoneNumberInput {
        phone_number_id: meta_id.into(),
        waba_id: "200000000000001".into(),
        display_phone_number: "+15550100001".into(),
        access_token: Some("EAAG-fixture".into()),
        ..Default::default()
    };
    // Several fixtures share a number; registering it again is a conflict we ignore.
    let _ = app
        .app
        .register_phone_number(&RequestContext::cli(app.workspace.id), input)
        .await;
}

#[tokio::test]
async fn every_meta_webhook_fixture_is_accepted_and_applied_once() {
    let app = TestApp::spawn().await;
    let mut names: Vec<_> = std::fs::read_dir(FIXTURES)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("webhook_") && n.ends_with(".json"))
        .collect();
    // Statuses first: some fixtures reuse one wamid for an inbound message and a status, and a
    // status naming an inbound message is (rightly) ignored.
    names.sort_by_key(|name| (!name.starts_with("webhook_status_"), name.clone()));
    assert!(names.len() >= 30, "fixtures found: {names:?}");

    for name in &names {
        let body = std::fs::read(format!("{FIXTURES}/{name}")).unwrap();
        let delivery: Value = serde_json::from_slice(&body).unwrap();
        let change = &delivery["entry"][0]["changes"][0];
        let value = &change["value"];
        let number = value["metadata"]["phone_number_id"].as_str();
        if let Some(number) = number {
            register(&app, number).await;
        }
        // Statuses name a customer; start that conversation first so the status has
        // somewhere to be held (its message was not sent through Parley).
        let status_customer = value["statuses"][0]["recipient_id"].as_str();
        if let (Some(number), Some(customer)) = (number, status_customer) {
            let start = app
                .sandbox
                .state()
                .deliver_inbound(sandbox::InboundRequest::text(number, customer, "hello"))
                .await
                .unwrap();
            assert!(start.delivered, "{name}: {start:?}");
            processed_outcomes(&app).await;
        }

        assert_eq!(post_signed(&app, &body).await, 200, "{name}");
        let outcomes = processed_outcomes(&app).await;
        let outcome = outcomes.last().unwrap();
        assert_eq!(
            outcome["rejected"],
            serde_json::json!([]),
            "{name}: {outcome}"
        );
        assert_eq!(
            outcome["unknown_phone_numbers"],
            serde_json::json!([]),
            "{name}: {outcome}"
        );

        let expected_events: BTreeSet<String>;
        let conversation;
        if let Some(message) = value["messages"].get(0) {
            let customer = message["from"].as_str().unwrap();
            conversation = Some(conversation_id(phone_number_id(number.unwrap()), customer));
            assert_eq!(outcome["messages"], 1, "{name}: {outcome}");
            expected_events = ["InboundMessageReceived".to_string()].into();
        } else if let Some(customer) = status_customer {
            conversation = Some(conversation_id(phone_number_id(number.unwrap()), customer));
            assert_eq!(outcome["statuses"], 1, "{name}: {outcome}");
            expected_events = ["DeliveryStatusHeld".to_string()].into();
        } else {
            conversation = None;
            expected_events = BTreeSet::new();
            let field = change["field"].as_str().unwrap();
            let management = [
                "message_template_status_update",
                "message_template_quality_update",
                "template_category_update",
                "phone_number_quality_update",
                "account_update",
            ];
            if management.contains(&field) {
                // Applied to the WABA's templates and numbers (none match here: nothing changes).
                assert_eq!(outcome["management"], 1, "{name}: {outcome}");
                assert_eq!(outcome["other_fields"], serde_json::json!([]), "{name}");
            } else if field != "messages" {
                assert_eq!(
                    outcome["other_fields"],
                    serde_json::json!([field]),
                    "{name}"
                );
            }
        }
        if let Some(conversation) = conversation {
            let events = event_types(&app, conversation).await;
            for expected in &expected_events {
                assert!(events.contains(expected), "{name}: {events:?}");
            }
            // The same delivery again: stored once, nothing new applied.
            assert_eq!(post_signed(&app, &body).await, 200, "{name} again");
            tokio::time::sleep(Duration::from_millis(50)).await;
            assert_eq!(
                event_types(&app, conversation).await,
                events,
                "{name} again"
            );
        }
    }
}

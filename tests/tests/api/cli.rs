//! Tests: cli. The real `parley` binary against a fresh database.

use crate::cli_support::{describe, one_json_object, Deployment, Parley, META_PHONE_NUMBER_ID};
use serde_json::Value;
use std::time::Duration;

#[tokio::test]
async fn migrate_is_idempotent_on_an_empty_database() {
    let url = parley_tests::empty_database().await;
    let parley = Parley::new(url.clone());
    let first = parley.run(&["migrate"]);
    assert!(first.status.success(), "{}", describe(&first));
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(stderr.contains("0001_event_store"), "{stderr}");
    let second = parley.run(&["migrate"]);
    assert!(second.status.success(), "{}", describe(&second));
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(stderr.contains("none (up to date)"), "{stderr}");
    let db = parley_tests::connect(&url).await;
    for table in [
        "events",
        "projection_checkpoints",
        "workspaces",
        "contacts",
        "phone_numbers",
    ] {
        db.query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .await
            .unwrap_or_else(|e| panic!("{table}: {e}"));
    }
}

#[tokio::test]
async fn workspace_phone_number_events_and_rebuild() {
    let url = parley_tests::fresh_database().await;
    let parley = Parley::new(url.clone());
    parley.ok(&["migrate"]);

    let created = one_json_object(&parley.ok(&["workspace", "create", "Acme"]));
    let workspace = created["workspace_id"].as_str().expect("workspace_id");
    uuid::Uuid::parse_str(workspace).unwrap();
    let token = created["token"].as_str().expect("token");
    assert!(token.starts_with("wat_"), "{token}");
    assert_eq!(created.as_object().unwrap().len(), 2, "{created}");

    // The Meta token comes from the environment and never reaches the log in clear.
    let secret = "EAAG-cli-secret-token-0123456789";
    let mut add = parley.command(&[
        "phone-number",
        "add",
        "--workspace",
        workspace,
        "--phone-number-id",
        "123456789012345",
        "--waba-id",
        "200000000000001",
        "--display-phone-number",
        "+15550100777",
        "--verified-name",
        "Acme Inc",
        "--status",
        "VERIFIED",
    ]);
    add.env("META_ACCESS_TOKEN", secret);
    let output = parley.run_with(add);
    assert!(output.status.success(), "{}", describe(&output));
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(!stdout.contains(secret));
    let added = one_json_object(&stdout);
    let number = added["id"].as_str().expect("id").to_string();
    assert_eq!(added.as_object().unwrap().len(), 1, "{added}");

    let db = parley_tests::connect(&url).await;
    let leaks: i64 = db
        .query_one(
            "SELECT count(*) FROM events e WHERE e::text LIKE '%' || $1 || '%'",
            &[&secret],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(leaks, 0, "the access token is stored in clear");
    let sealed: i64 = db
        .query_one(
            "SELECT count(*) FROM events WHERE aggregate_type = 'phone_number' AND aggregate_id = $1",
            &[&number],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(sealed, 1);

    // Unknown workspace: a clear error, nothing written.
    let unknown = parley.run(&[
        "phone-number",
        "add",
        "--workspace",
        &uuid::Uuid::new_v4().to_string(),
        "--phone-number-id",
        "123456789012399",
        "--waba-id",
        "1",
        "--display-phone-number",
        "+15550100778",
    ]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("does not exist"));

    // The event log, as JSON lines.
    let listed = parley.ok(&[
        "events",
        "list",
        "--aggregate-type",
        "phone_number",
        "--aggregate-id",
        &number,
    ]);
    let events: Vec<Value> = listed
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(events.len(), 1, "{listed}");
    let event = &events[0];
    assert_eq!(event["sequence"], 1);
    assert!(event["global_position"].as_i64().unwrap() > 0);
    assert_eq!(event["event_type"], "PhoneNumberRegistered", "{event}");
    assert_eq!(event["event_version"], "1");
    assert!(event["payload"].is_object());
    assert!(!event.to_string().contains(secret));
    assert_eq!(event["metadata"]["actor"], "cli");
    uuid::Uuid::parse_str(event["metadata"]["correlation_id"].as_str().unwrap()).unwrap();
    chrono::DateTime::parse_from_rfc3339(event["metadata"]["time"].as_str().unwrap()).unwrap();
    chrono::DateTime::parse_from_rfc3339(event["recorded_at"].as_str().unwrap()).unwrap();

    let none = parley.run(&[
        "events",
        "list",
        "--aggregate-type",
        "contact",
        "--aggregate-id",
        &uuid::Uuid::new_v4().to_string(),
    ]);
    assert!(!none.status.success());

    // Rebuild: all projections, then one by name; the read model holds the number.
    for args in [
        &["projections", "rebuild"][..],
        &["projections", "rebuild", "phone_numbers"][..],
    ] {
        let stdout = parley.ok(args);
        assert!(stdout.contains("events/s"), "{stdout}");
    }
    let rows: i64 = db
        .query_one(
            "SELECT count(*) FROM phone_numbers WHERE id = $1::text::uuid AND has_access_token AND status = 'VERIFIED'",
            &[&number],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 1);

    let wrong = parley.run(&["projections", "rebuild", "nonsense"]);
    assert!(!wrong.status.success(), "{}", describe(&wrong));
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert!(
        stderr.contains("no projection named 'nonsense'"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_server_killed_mid_burst_loses_no_message_and_sends_none_twice() {
    let deployment = Deployment::start("Crash").await;
    let (http, token, url) = (
        deployment.http.clone(),
        deployment.token.clone(),
        deployment.database_url.clone(),
    );
    let api = Deployment::api(deployment.api_port);
    let mut server = deployment.serve(deployment.api_port, &[]).await;

    // The template the burst sends: created through the API, approved by the sandbox's review.
    deployment
        .approved_template(
            &api,
            "crash_test",
            serde_json::json!([{"type": "BODY", "text": "Crash test"}]),
            Value::Null,
        )
        .await;

    // A burst of sends from 16 clients; the server dies partway through.
    let accepted = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut clients = Vec::new();
    for client in 0..16 {
        let (http, api, token, accepted) =
            (http.clone(), api.clone(), token.clone(), accepted.clone());
        clients.push(tokio::spawn(async move {
            for n in 0..20 {
                let body = serde_json::json!({
                    "phoneNumberId": META_PHONE_NUMBER_ID,
                    "to": format!("+1415555{client:02}{n:02}"),
                    "template": {"name": "crash_test", "language": {"code": "en_US"}},
                });
                let answer = http
                    .post(format!("{api}/api/v2/external/messages/send-template"))
                    .bearer_auth(&token)
                    .json(&body)
                    .send()
                    .await;
                let Ok(answer) = answer else { return };
                if answer.status() != 200 {
                    return;
                }
                let body: Value = answer.json().await.unwrap();
                let id = body["data"]["messageId"].as_str().unwrap().to_string();
                accepted.lock().unwrap().push(id);
            }
        }));
    }
    while accepted.lock().unwrap().len() < 60 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    server.kill();
    for client in clients {
        client.await.unwrap();
    }
    let accepted: Vec<String> = accepted.lock().unwrap().clone();
    assert!(
        accepted.len() >= 60 && accepted.len() < 320,
        "{}",
        accepted.len()
    );

    let _server = deployment.serve(deployment.api_port, &[]).await;

    // Every message whose send was acknowledged reaches `read`, and so does every message the
    // log holds (some were committed just before the kill without an answer reaching us).
    let db = parley_tests::connect(&url).await;
    let mut queued: Vec<String> = Vec::new();
    for _ in 0..600 {
        queued = db
            .query(
                "SELECT message_id::text FROM messages WHERE direction = 'outbound'",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect();
        let unread: i64 = db
            .query_one(
                "SELECT count(*) FROM messages WHERE direction = 'outbound' AND status <> 'read'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if unread == 0 && queued.len() >= accepted.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for id in &accepted {
        assert!(
            queued.contains(id),
            "acknowledged message {id} is not in the log"
        );
    }
    let unread: Vec<(String, String)> = db
        .query(
            "SELECT message_id::text, status FROM messages WHERE direction = 'outbound' AND status <> 'read'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    assert!(unread.is_empty(), "not read after the restart: {unread:?}");

    // Meta (the sandbox) saw each message exactly once.
    let report = deployment.sandbox_get("/_sandbox/messages").await;
    let mut sends: std::collections::BTreeMap<String, usize> = Default::default();
    for message in report["messages"].as_array().unwrap() {
        let id = message["biz_opaque_callback_data"]
            .as_str()
            .unwrap()
            .to_string();
        *sends.entry(id).or_default() += 1;
    }
    let twice: Vec<_> = sends.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "sent more than once: {twice:?}");
    assert_eq!(sends.len(), queued.len(), "every queued message was sent");
}

//! Tests: the operator's audit and replay commands of the real `parley` binary: `parley events
//! show` (an aggregate's state at a version or a time, folded from its events) and `parley
//! webhooks replay` (stored Meta deliveries run through ingestion again, changing nothing twice).

use crate::cli_support::{
    describe, one_json_object, Deployment, Parley, DISPLAY_PHONE_NUMBER, META_PHONE_NUMBER_ID,
    WABA_ID,
};
use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use parley_tests::TestApp;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// `parley events show …`, which must succeed; its pretty JSON.
fn show(parley: &Parley, args: &[&str]) -> Value {
    let mut all = vec!["events", "show"];
    all.extend_from_slice(args);
    let stdout = parley.ok(&all);
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

/// `parley …`, which must fail; its stderr.
fn refused(parley: &Parley, args: &[&str]) -> String {
    let output = parley.run(args);
    assert!(!output.status.success(), "{}", describe(&output));
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The recorded times of an aggregate's events, by sequence (index 0 is sequence 1).
async fn recorded_times(app: &TestApp, aggregate_type: &str, id: &str) -> Vec<DateTime<Utc>> {
    app.db()
        .await
        .query(
            "SELECT recorded_at FROM events WHERE aggregate_type = $1 AND aggregate_id = $2 \
             ORDER BY sequence",
            &[&aggregate_type, &id],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

#[tokio::test]
async fn events_show_folds_a_contact_at_a_version_and_at_a_time() {
    let app = TestApp::spawn().await;
    let parley = Parley::new(app.database_url.clone());
    let (status, created) = app
        .send(
            app.request(Method::POST, "/v1/whatsapp/contacts")
                .json(&json!({
                    "accountId": app.workspace.phone_number, "phone": "+14155550123",
                    "name": "Ada", "tags": ["lead"],
                })),
        )
        .await;
    assert_eq!(status, 200, "{created}");
    let id = created["contact"]["id"].as_str().unwrap().to_string();
    let path = format!("/v1/whatsapp/contacts/{id}");
    for body in [
        json!({"name": "Ada Lovelace"}),
        json!({"tags": ["customer"]}),
    ] {
        // Apart in time, so that each version has its own moment.
        tokio::time::sleep(Duration::from_millis(30)).await;
        let (status, updated) = app.send(app.request(Method::PUT, &path).json(&body)).await;
        assert_eq!(status, 200, "{updated}");
    }
    let times = recorded_times(&app, "contact", &id).await;
    assert_eq!(times.len(), 3, "created, renamed, retagged");

    let args = |extra: &[&str]| -> Vec<String> {
        let mut args = vec![
            "--aggregate-type".to_string(),
            "contact".to_string(),
            "--aggregate-id".to_string(),
            id.clone(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };
    let show_with = |extra: &[&str]| {
        let args = args(extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        show(&parley, &args)
    };

    // Without a point: the latest state, as the API shows it.
    let latest = show_with(&[]);
    assert_eq!(latest["aggregate_type"], "contact");
    assert_eq!(latest["aggregate_id"], id.as_str());
    assert_eq!(latest["version"], 3);
    assert_eq!(latest["latest_version"], 3);
    assert_eq!(latest["events_folded"], 3);
    assert_eq!(latest["state"]["state"]["name"], "Ada Lovelace");
    assert_eq!(latest["state"]["state"]["tags"], json!(["customer"]));
    assert_eq!(latest["recorded_at"], rfc3339(times[2]));

    // At version 1 the contact is as created; at 2 renamed but still tagged as a lead.
    let first = show_with(&["--at-version", "1"]);
    assert_eq!(first["version"], 1);
    assert_eq!(first["events_folded"], 1);
    assert_eq!(first["latest_version"], 3);
    assert_eq!(first["state"]["state"]["name"], "Ada");
    assert_eq!(first["state"]["state"]["tags"], json!(["lead"]));
    assert_eq!(first["recorded_at"], rfc3339(times[0]));
    let second = show_with(&["--at-version", "2"]);
    assert_eq!(second["state"]["state"]["name"], "Ada Lovelace");
    assert_eq!(second["state"]["state"]["tags"], json!(["lead"]));
    assert_ne!(second["state"], latest["state"]);

    // At a time: everything recorded by then. Exactly at version 2's time, and between 2 and
    // 3, it is version 2; at version 1's time given in another offset, version 1.
    let at_second = show_with(&["--at-time", &rfc3339(times[1])]);
    assert_eq!(at_second["version"], 2, "{at_second}");
    assert_eq!(at_second["state"], second["state"]);
    let between = times[1] + (times[2] - times[1]) / 2;
    assert!(between < times[2]);
    assert_eq!(show_with(&["--at-time", &rfc3339(between)])["version"], 2);
    let plus_two = FixedOffset::east_opt(2 * 3600).unwrap();
    let in_offset = times[0]
        .with_timezone(&plus_two)
        .to_rfc3339_opts(SecondsFormat::Micros, false);
    assert!(in_offset.ends_with("+02:00"), "{in_offset}");
    assert_eq!(show_with(&["--at-time", &in_offset])["version"], 1);
    assert_eq!(
        show_with(&["--at-time", "2999-01-01T00:00:00Z"])["version"],
        3
    );

    // Points that do not exist are refused, saying why.
    let before = rfc3339(times[0] - chrono::TimeDelta::seconds(1));
    let args_before = args(&["--at-time", &before]);
    let mut command: Vec<&str> = vec!["events", "show"];
    command.extend(args_before.iter().map(String::as_str));
    let stderr = refused(&parley, &command);
    assert!(stderr.contains("did not exist yet"), "{stderr}");
    assert!(stderr.contains(&rfc3339(times[0])[..19]), "{stderr}");
    let args_beyond = args(&["--at-version", "4"]);
    let mut command: Vec<&str> = vec!["events", "show"];
    command.extend(args_beyond.iter().map(String::as_str));
    let stderr = refused(&parley, &command);
    assert!(stderr.contains("its last version is 3"), "{stderr}");
    let stderr = refused(
        &parley,
        &[
            "events",
            "show",
            "--aggregate-type",
            "contact",
            "--aggregate-id",
            &id,
            "--at-version",
            "1",
            "--at-time",
            "2999-01-01T00:00:00Z",
        ],
    );
    assert!(stderr.contains("cannot be used with"), "{stderr}");
    let stderr = refused(
        &parley,
        &[
            "events",
            "show",
            "--aggregate-type",
            "contact",
            "--aggregate-id",
            &id,
            "--at-time",
            "yesterday",
        ],
    );
    assert!(stderr.contains("RFC 3339"), "{stderr}");
}

#[tokio::test]
async fn events_show_refuses_unknown_types_and_aggregates_and_hides_sealed_tokens() {
    let app = TestApp::spawn().await;
    let parley = Parley::new(app.database_url.clone());
    let number = app.workspace.phone_number.to_string();

    let stderr = refused(
        &parley,
        &[
            "events",
            "show",
            "--aggregate-type",
            "Contact",
            "--aggregate-id",
            &number,
        ],
    );
    assert!(
        stderr.contains(
            "unknown aggregate type 'Contact'; known types: contact, phone_number, conversation, broadcast, template"
        ),
        "{stderr}"
    );
    let unknown = uuid::Uuid::new_v4().to_string();
    let stderr = refused(
        &parley,
        &[
            "events",
            "show",
            "--aggregate-type",
            "contact",
            "--aggregate-id",
            &unknown,
        ],
    );
    assert!(
        stderr.contains(&format!("no events for contact {unknown}")),
        "{stderr}"
    );
    let stderr = refused(
        &parley,
        &[
            "events",
            "show",
            "--aggregate-type",
            "phone_number",
            "--aggregate-id",
            &number,
            "--at-version",
            "0",
        ],
    );
    assert!(stderr.contains("versions start at 1"), "{stderr}");

    // A phone number's state holds its Meta token sealed; the audit shows that there is one,
    // never the ciphertext.
    let shown = show(
        &parley,
        &[
            "--aggregate-type",
            "phone_number",
            "--aggregate-id",
            &number,
        ],
    );
    let state = &shown["state"]["state"];
    assert_eq!(state["phone_number_id"], app.workspace.meta_phone_number_id);
    assert_eq!(state["access_token"], "[sealed]");
    let sealed: String = app
        .db()
        .await
        .query_one(
            "SELECT payload->'PhoneNumberRegistered'->>'access_token' FROM events \
             WHERE aggregate_type = 'phone_number' AND aggregate_id = $1 AND sequence = 1",
            &[&number],
        )
        .await
        .unwrap()
        .get(0);
    assert!(sealed.len() > 16);
    assert!(!shown.to_string().contains(&sealed));
}

/// What replaying may not change: the event log and the read models, as fingerprints.
async fn fingerprint(db: &tokio_postgres::Client) -> Vec<(String, i64, String)> {
    let mut prints = Vec::new();
    for table in [
        "events",
        "contacts",
        "conversations",
        "messages",
        "message_status_history",
        "templates",
        "phone_numbers",
        "outbox_jobs",
        "integrator_events",
    ] {
        let row = db
            .query_one(
                &format!(
                    "SELECT count(*), coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') \
                     FROM {table} t"
                ),
                &[],
            )
            .await
            .unwrap_or_else(|e| panic!("{table}: {e}"));
        prints.push((table.to_string(), row.get(0), row.get(1)));
    }
    prints
}

/// The status of the replayed template in the read model.
async fn template_status(db: &tokio_postgres::Client) -> String {
    db.query_one(
        "SELECT status FROM templates WHERE name = 'replay_notice'",
        &[],
    )
    .await
    .unwrap()
    .get(0)
}

/// Polls `query` (one bigint) until it satisfies `done`, at most 30 s.
async fn wait_for(db: &tokio_postgres::Client, query: &str, done: impl Fn(i64) -> bool) -> i64 {
    let started = Instant::now();
    loop {
        let value: i64 = db.query_one(query, &[]).await.unwrap().get(0);
        if done(value) {
            return value;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{query} stuck at {value}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn webhooks_replay_twice_changes_nothing_and_applies_what_was_missed() {
    let deployment = Deployment::start("Replay").await;
    let api = Deployment::api(deployment.api_port);
    let mut server = deployment.serve(deployment.api_port, &[]).await;
    let db = parley_tests::connect(&deployment.database_url).await;
    let sandbox_post = |path: &'static str, body: Value| {
        let request = deployment
            .http
            .post(format!("{}{path}", deployment.sandbox_url))
            .json(&body);
        async move {
            let answer = request.send().await.unwrap();
            let status = answer.status();
            assert!(
                status.is_success(),
                "{path}: {status} {}",
                answer.text().await.unwrap()
            );
        }
    };

    // The sandbox reports the number's quality and account under the deployment's WABA and
    // display number, as Meta would.
    let configured = deployment
        .http
        .put(format!("{}/_sandbox/config", deployment.sandbox_url))
        .json(&json!({
            "waba_id": WABA_ID,
            "display_phone_numbers": {META_PHONE_NUMBER_ID: DISPLAY_PHONE_NUMBER},
        }))
        .send()
        .await
        .unwrap();
    assert!(
        configured.status().is_success(),
        "{}",
        configured.text().await.unwrap()
    );

    // Every kind of delivery: a template's review, then a pause and a reinstatement (an old
    // delivery replayed must not pause it again), a sent template going sent → delivered →
    // read, the customer's answer, the number's quality dropping and recovering, and an
    // account update (a fact that must not be recorded twice).
    deployment
        .approved_template(
            &api,
            "replay_notice",
            json!([{"type": "BODY", "text": "Your order shipped"}]),
            Value::Null,
        )
        .await;
    let template = json!({"waba_id": WABA_ID, "name": "replay_notice", "language": "en_US"});
    for event in ["PAUSED", "REINSTATED"] {
        let mut body = template.clone();
        body["event"] = json!(event);
        sandbox_post("/_sandbox/template-status", body).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let answer = deployment
        .http
        .post(format!("{api}/api/v2/external/messages/send-template"))
        .bearer_auth(&deployment.token)
        .json(&json!({
            "phoneNumberId": META_PHONE_NUMBER_ID, "to": "+14155550123",
            "template": {"name": "replay_notice", "language": {"code": "en_US"}},
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200, "{}", answer.text().await.unwrap());
    sandbox_post(
        "/_sandbox/inbound",
        json!({"phone_number_id": META_PHONE_NUMBER_ID, "from": "14155550123",
               "profile_name": "Ada", "message": {"type": "text", "text": {"body": "Thanks!"}}}),
    )
    .await;
    for event in ["FLAGGED", "UNFLAGGED"] {
        sandbox_post(
            "/_sandbox/phone-quality",
            json!({"phone_number_id": META_PHONE_NUMBER_ID, "event": event}),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    sandbox_post(
        "/_sandbox/account-update",
        json!({"event": "ACCOUNT_VIOLATION", "violation_info": {"violation_type": "SCAM"}}),
    )
    .await;

    wait_for(
        &db,
        "SELECT count(*) FROM messages WHERE direction = 'outbound' AND status = 'read'",
        |read| read == 1,
    )
    .await;
    wait_for(
        &db,
        "SELECT count(*) FROM messages WHERE direction = 'inbound'",
        |inbound| inbound == 1,
    )
    .await;
    wait_for(
        &db,
        "SELECT count(*) FROM events WHERE event_type = 'PhoneNumberAccountUpdated'",
        |updates| updates == 1,
    )
    .await;
    wait_for(
        &db,
        "SELECT count(*) FROM meta_webhook_deliveries WHERE processed_at IS NULL",
        |unprocessed| unprocessed == 0,
    )
    .await;
    let deliveries: i64 = db
        .query_one("SELECT count(*) FROM meta_webhook_deliveries", &[])
        .await
        .unwrap()
        .get(0);
    assert!(deliveries >= 10, "{deliveries} deliveries");
    // Every read model has folded the last event before the server stops (else the replay's
    // own fold would finish that work and look like a change).
    wait_for(
        &db,
        "SELECT count(*) FROM projection_checkpoints \
         WHERE position < (SELECT coalesce(max(global_position), 0) FROM events)",
        |behind| behind == 0,
    )
    .await;
    server.terminate(Duration::from_secs(10)).await;
    // Reinstated after the pause; the old PAUSED delivery must not bring the pause back.
    let reinstated = template_status(&db).await;
    assert_ne!(reinstated, "PAUSED");
    let before = fingerprint(&db).await;

    // Replaying everything, twice: each time every delivery runs, and nothing changes.
    for round in 1..=2 {
        let summary = one_json_object(&deployment.parley.ok(&["webhooks", "replay", "--all"]));
        assert_eq!(
            summary["deliveries"], deliveries,
            "round {round}: {summary}"
        );
        assert_eq!(summary["events_written"], 0, "round {round}: {summary}");
        assert_eq!(summary["messages"], 1, "round {round}: {summary}");
        assert!(summary["statuses"].as_u64().unwrap() >= 3, "{summary}");
        assert!(summary["management"].as_u64().unwrap() >= 6, "{summary}");
        assert_eq!(summary["rejected"], json!([]), "{summary}");
        assert_eq!(summary["unreadable"], 0, "{summary}");
        assert_eq!(
            fingerprint(&db).await,
            before,
            "round {round} changed something"
        );
        assert_eq!(template_status(&db).await, reinstated);
    }

    // A delivery stored but never applied (the process died in between) is applied by a
    // replay of it alone, once: replaying it again writes nothing.
    let body = json!({"object": "whatsapp_business_account", "entry": [{
        "id": WABA_ID, "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550100077", "phone_number_id": META_PHONE_NUMBER_ID},
            "contacts": [{"profile": {"name": "Grace"}, "wa_id": "14155550199"}],
            "messages": [{"from": "14155550199", "id": "wamid.REPLAYED-FROM-THE-LOG",
                          "timestamp": "1760000000", "type": "text", "text": {"body": "Hello?"}}],
        }}],
    }]})
    .to_string();
    let missed: i64 = db
        .query_one(
            "INSERT INTO meta_webhook_deliveries (body_sha256, body, processed_at) \
             VALUES (sha256($1), $1, now()) RETURNING id",
            &[&body.as_bytes()],
        )
        .await
        .unwrap()
        .get(0);
    let missed_id = missed.to_string();
    let summary = one_json_object(
        &deployment
            .parley
            .ok(&["webhooks", "replay", "--id", &missed_id]),
    );
    assert_eq!(summary["deliveries"], 1, "{summary}");
    assert_eq!(summary["messages"], 1, "{summary}");
    assert!(
        summary["events_written"].as_i64().unwrap() >= 1,
        "{summary}"
    );
    // The replay folded its events: the message shows without a server.
    let shown: i64 = db
        .query_one(
            "SELECT count(*) FROM messages WHERE wamid = 'wamid.REPLAYED-FROM-THE-LOG'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(shown, 1);
    let after_missed = fingerprint(&db).await;
    let again = one_json_object(
        &deployment
            .parley
            .ok(&["webhooks", "replay", "--id", &missed_id]),
    );
    assert_eq!(again["events_written"], 0, "{again}");
    let all = one_json_object(&deployment.parley.ok(&["webhooks", "replay", "--all"]));
    assert_eq!(all["deliveries"], deliveries + 1, "{all}");
    assert_eq!(all["events_written"], 0, "{all}");
    assert_eq!(fingerprint(&db).await, after_missed);

    // A time range selects by arrival; one in the future selects nothing; an unknown id and
    // no selection at all are refused.
    let future = one_json_object(&deployment.parley.ok(&[
        "webhooks",
        "replay",
        "--from",
        "2999-01-01T00:00:00Z",
    ]));
    assert_eq!(future["deliveries"], 0, "{future}");
    let first_received: DateTime<Utc> = db
        .query_one("SELECT min(received_at) FROM meta_webhook_deliveries", &[])
        .await
        .unwrap()
        .get(0);
    let ranged = one_json_object(&deployment.parley.ok(&[
        "webhooks",
        "replay",
        "--from",
        &rfc3339(first_received),
        "--to",
        &rfc3339(first_received + chrono::TimeDelta::microseconds(1)),
    ]));
    assert_eq!(ranged["deliveries"], 1, "{ranged}");
    assert_eq!(ranged["events_written"], 0, "{ranged}");
    let stderr = refused(
        &deployment.parley,
        &["webhooks", "replay", "--id", "999999"],
    );
    assert!(
        stderr.contains("no stored Meta delivery has id 999999"),
        "{stderr}"
    );
    let stderr = refused(&deployment.parley, &["webhooks", "replay"]);
    assert!(stderr.contains("--id"), "{stderr}");
    assert_eq!(fingerprint(&db).await, after_missed);
}

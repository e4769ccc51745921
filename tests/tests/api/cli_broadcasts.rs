//! Tests: the broadcast guarantees of the real `parley serve` (issue 4, "How it is checked"):
//! a broadcast survives a `kill -9` mid-send without sending anyone twice, a schedule that
//! falls due while the server is down is kept when it comes back, and several servers sharing
//! one database start a scheduled broadcast exactly once. Meta is a `parley sandbox` process
//! whose records span the servers' restarts.

use crate::cli_support::{Child, Deployment, DISPLAY_PHONE_NUMBER, META_PHONE_NUMBER_ID, WABA_ID};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

const TEMPLATE: &str = "cli_news";

/// The number's pace in these tests, and the sandbox's limit: twice the pace, so that only a
/// burst (say, a restarted server ignoring the pace) provokes Meta's 130429.
const MESSAGES_PER_SECOND: &str = "300";
const SANDBOX_LIMIT_MPS: u32 = 600;

/// The outbox lease `parley serve` uses unless told otherwise, for the tests that kill nothing.
const DEFAULT_LEASE_MS: &str = "30000";

fn phone(n: u32) -> String {
    format!("+1415557{n:04}")
}

fn recipient(n: u32) -> Value {
    json!({"phone": phone(n), "name": format!("C{n}"), "variables": {"1": format!("Name{n}")}})
}

/// A client of one server's REST API with the deployment's token.
struct Api<'a> {
    deployment: &'a Deployment,
    base: String,
}

impl<'a> Api<'a> {
    fn new(deployment: &'a Deployment, port: u16) -> Self {
        Self {
            deployment,
            base: Deployment::api(port),
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let request = self
            .deployment
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.deployment.token);
        let request = match body {
            Some(body) => request.json(&body),
            None => request,
        };
        let answer = request.send().await.unwrap();
        let status = answer.status().as_u16();
        let text = answer.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let (status, answer) = self.call(reqwest::Method::POST, path, Some(body)).await;
        assert_eq!(status, 200, "POST {path}: {answer}");
        answer
    }

    async fn broadcast(&self, id: &str) -> Value {
        let (status, body) = self
            .call(
                reqwest::Method::GET,
                &format!("/v1/whatsapp/broadcasts/{id}"),
                None,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["broadcast"].clone()
    }

    /// Polls the broadcast until `done` holds of it (at most `within`).
    async fn wait_for(&self, id: &str, within: Duration, done: impl Fn(&Value) -> bool) -> Value {
        let started = Instant::now();
        loop {
            let view = self.broadcast(id).await;
            if done(&view) {
                return view;
            }
            assert!(
                started.elapsed() < within,
                "broadcast {id} did not get there within {within:?}: {view}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A draft broadcast of the template to `recipients`, added 1000 per request.
    async fn create_broadcast(&self, recipients: &[u32]) -> String {
        let mut batches = recipients.chunks(1000);
        let first: Vec<Value> = batches
            .next()
            .unwrap()
            .iter()
            .copied()
            .map(recipient)
            .collect();
        let created = self
            .post(
                "/v1/whatsapp/broadcasts",
                json!({
                    "accountId": self.deployment.account, "name": "News", "description": "cli",
                    "template": {"name": TEMPLATE, "language": "en_US"}, "recipients": first,
                }),
            )
            .await;
        assert_eq!(created["broadcast"]["status"], "draft", "{created}");
        let id = created["broadcast"]["id"].as_str().unwrap().to_string();
        for batch in batches {
            let batch: Vec<Value> = batch.iter().copied().map(recipient).collect();
            let (status, added) = self
                .call(
                    reqwest::Method::PATCH,
                    &format!("/v1/whatsapp/broadcasts/{id}/recipients"),
                    Some(json!({ "recipients": batch })),
                )
                .await;
            assert_eq!(status, 200, "{added}");
            assert_eq!(added["added"].as_u64(), Some(batch.len() as u64), "{added}");
        }
        id
    }

    /// Every recipient of the broadcast, page by page, with the summary of the last page.
    async fn recipients(&self, id: &str) -> (Vec<Value>, Value) {
        let mut all = Vec::new();
        loop {
            let (status, page) = self
                .call(
                    reqwest::Method::GET,
                    &format!(
                        "/v1/whatsapp/broadcasts/{id}/recipients?limit=1000&skip={}",
                        all.len()
                    ),
                    None,
                )
                .await;
            assert_eq!(status, 200, "{page}");
            all.extend(page["recipients"].as_array().unwrap().iter().cloned());
            if page["pagination"]["hasMore"] != true {
                return (all, page["summary"].clone());
            }
        }
    }

    /// Opts `phones` out of the number's messages, as a business records it.
    async fn opt_out(&self, phones: impl Iterator<Item = String>) {
        for phone in phones {
            self.post(
                "/v1/whatsapp/contacts",
                json!({
                    "accountId": self.deployment.account, "phone": phone,
                    "name": "Opted out", "isOptedIn": false,
                }),
            )
            .await;
        }
    }
}

/// What the sandbox holds for the number: Meta's WABA and display number, a limit of
/// [`SANDBOX_LIMIT_MPS`], and an unlimited messaging tier (else Parley assumes the entry tier
/// of 250 recipients a day); then the approved template `Hi {{1}}`.
async fn prepare(deployment: &Deployment, api: &Api<'_>) {
    // Meta's updates apply to the numbers Parley lists; the server's projector may still be
    // folding the number the CLI registered (an update for an unlisted number is ignored).
    let listed = Instant::now();
    loop {
        let path = format!("/api/v2/external/phone-numbers/{}", deployment.account);
        let (status, body) = api.call(reqwest::Method::GET, &path, None).await;
        if status == 200 {
            break;
        }
        assert!(
            listed.elapsed() < Duration::from_secs(30),
            "the number is not listed: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let answer = deployment
        .http
        .put(format!("{}/_sandbox/config", deployment.sandbox_url))
        .json(&json!({
            "phone_number_wabas": {META_PHONE_NUMBER_ID: WABA_ID},
            "display_phone_numbers": {META_PHONE_NUMBER_ID: DISPLAY_PHONE_NUMBER.trim_start_matches('+')},
            "throughput_limit_mps": SANDBOX_LIMIT_MPS,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200, "{}", answer.text().await.unwrap());
    let answer: Value = deployment
        .http
        .post(format!("{}/_sandbox/phone-quality", deployment.sandbox_url))
        .json(&json!({
            "phone_number_id": META_PHONE_NUMBER_ID, "event": "UPGRADE",
            "current_limit": "TIER_UNLIMITED",
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["delivered"], true, "{answer}");
    let db = parley_tests::connect(&deployment.database_url).await;
    let mut known = false;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        known = db
            .query_opt(
                "SELECT 1 FROM phone_number_throughput WHERE phone_number_id = $1 \
                 AND tier_known AND daily_recipients IS NULL",
                &[&deployment.account],
            )
            .await
            .unwrap()
            .is_some();
        if known {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(known, "the unlimited tier never reached the outbox");
    deployment
        .approved_template(
            &api.base,
            TEMPLATE,
            json!([{"type": "BODY", "text": "Hi {{1}}, here is the news"}]),
            json!([{"variable_name": "name", "position": 1, "sample_value": "Ana"}]),
        )
        .await;
}

/// The sends the sandbox accepted, by recipient (digits), as their request bodies.
async fn sends_by_recipient(deployment: &Deployment) -> BTreeMap<String, Vec<Value>> {
    let report = deployment.sandbox_get("/_sandbox/messages").await;
    let mut sends: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for message in report["messages"].as_array().unwrap() {
        sends
            .entry(message["wa_id"].as_str().unwrap().to_string())
            .or_default()
            .push(message["body"].clone());
    }
    sends
}

/// Meta saw exactly one message for every recipient in `audience` (with their own variable),
/// none for anyone else, and never answered a call with an error.
async fn assert_each_sent_once(deployment: &Deployment, audience: &[u32]) {
    let sends = sends_by_recipient(deployment).await;
    let twice: Vec<(&String, usize)> = sends
        .iter()
        .map(|(to, bodies)| (to, bodies.len()))
        .filter(|(_, n)| *n > 1)
        .collect();
    assert!(twice.is_empty(), "sent more than once: {twice:?}");
    let expected: BTreeSet<String> = audience
        .iter()
        .map(|n| phone(*n).trim_start_matches('+').to_string())
        .collect();
    let sent: BTreeSet<String> = sends.keys().cloned().collect();
    let missing: Vec<_> = expected.difference(&sent).collect();
    let unexpected: Vec<_> = sent.difference(&expected).collect();
    assert!(
        missing.is_empty() && unexpected.is_empty(),
        "never sent: {missing:?}; sent though not in the audience: {unexpected:?}"
    );
    for n in audience {
        let body = &sends[phone(*n).trim_start_matches('+')][0];
        assert_eq!(
            body["template"]["components"][0]["parameters"][0]["text"],
            format!("Name{n}"),
            "{body}"
        );
    }
    let stats = deployment.sandbox_get("/_sandbox/stats").await;
    assert_eq!(stats["rejected_total"], 0, "Meta refused calls: {stats}");
}

/// The broadcast completed, every recipient in `audience` read it, the `skipped` were skipped as
/// opted out, and the broadcast's counts and the recipients' summary are the recipients'
/// statuses counted.
async fn assert_funnel(api: &Api<'_>, id: &str, audience: &[u32], skipped: &[u32]) {
    let total = audience.len() + skipped.len();
    let view = api
        .wait_for(id, Duration::from_secs(60), |v| {
            v["readCount"].as_u64() == Some(audience.len() as u64)
        })
        .await;
    let (recipients, summary) = api.recipients(id).await;
    assert_eq!(recipients.len(), total);
    let mut by_status: BTreeMap<String, u64> = BTreeMap::new();
    for recipient in &recipients {
        *by_status
            .entry(recipient["status"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    let count = |status: &str| by_status.get(status).copied().unwrap_or(0);
    assert_eq!(
        json!({
            "status": view["status"], "recipientCount": view["recipientCount"],
            "sentCount": view["sentCount"], "deliveredCount": view["deliveredCount"],
            "readCount": view["readCount"], "failedCount": view["failedCount"],
            "pendingCount": view["pendingCount"], "skippedCount": view["skippedCount"],
        }),
        json!({
            "status": "completed", "recipientCount": total,
            "sentCount": count("sent") + count("delivered") + count("read"),
            "deliveredCount": count("delivered") + count("read"),
            "readCount": count("read"), "failedCount": count("failed"),
            "pendingCount": count("pending"), "skippedCount": count("skipped"),
        }),
        "the funnel does not match the recipients' statuses {by_status:?}"
    );
    for status in ["pending", "sent", "delivered", "read", "failed", "skipped"] {
        assert_eq!(summary[status], count(status), "summary {summary}");
    }
    assert_eq!(summary["total"], total, "summary {summary}");
    assert_eq!(
        (count("read"), count("skipped")),
        (audience.len() as u64, skipped.len() as u64),
        "{by_status:?}"
    );
    let opted_out: BTreeSet<String> = skipped.iter().map(|n| phone(*n)).collect();
    for recipient in &recipients {
        let phone = recipient["phone"].as_str().unwrap();
        if opted_out.contains(phone) {
            assert_eq!(recipient["status"], "skipped", "{recipient}");
            assert!(
                recipient["error"]
                    .as_str()
                    .unwrap_or("")
                    .contains("opted out"),
                "{recipient}"
            );
        } else {
            assert!(recipient["messageId"].is_string(), "{recipient}");
        }
    }
}

/// The broadcast's `BroadcastStarted` events, as `parley events list` prints them.
fn started_events(deployment: &Deployment, id: &str) -> Vec<Value> {
    deployment
        .parley
        .ok(&[
            "events",
            "list",
            "--aggregate-type",
            "broadcast",
            "--aggregate-id",
            id,
        ])
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).expect("a JSON line"))
        .filter(|event| event["event_type"] == "BroadcastStarted")
        .collect()
}

fn time(value: &Value) -> DateTime<Utc> {
    serde_json::from_value(value.clone()).unwrap_or_else(|_| panic!("not a time: {value}"))
}

#[tokio::test]
async fn a_broadcast_killed_mid_send_resumes_after_a_restart_and_sends_no_one_twice() {
    const RECIPIENTS: u32 = 2000;
    let started = Instant::now();
    let deployment = Deployment::start("Broadcast crash").await;
    // A killed server's jobs are claimed again when their lease runs out: 8 s here (30 s by
    // default), long enough for a live server's renewals to come through on a loaded machine.
    let env = [
        ("META_MESSAGES_PER_SECOND", MESSAGES_PER_SECOND),
        ("PARLEY_OUTBOX_LEASE_MS", "8000"),
    ];
    let mut server = deployment.serve(deployment.api_port, &env).await;
    let api = Api::new(&deployment, deployment.api_port);
    prepare(&deployment, &api).await;
    // Every 80th recipient opted out.
    let skipped: Vec<u32> = (0..RECIPIENTS).filter(|n| n % 80 == 7).collect();
    let audience: Vec<u32> = (0..RECIPIENTS).filter(|n| n % 80 != 7).collect();
    api.opt_out(skipped.iter().map(|n| phone(*n))).await;
    let all: Vec<u32> = (0..RECIPIENTS).collect();
    let id = api.create_broadcast(&all).await;

    let sent = api
        .post(&format!("/v1/whatsapp/broadcasts/{id}/send"), json!({}))
        .await;
    assert_eq!(
        (sent["total"].as_u64(), sent["skipped"].as_u64()),
        (Some(RECIPIENTS as u64), Some(skipped.len() as u64)),
        "{sent}"
    );

    // Killed once a quarter of the audience has been sent, with more claimed and on its way.
    let kill_after = audience.len() as u64 / 4;
    let mut accepted = 0;
    let sending = Instant::now();
    while sending.elapsed() < Duration::from_secs(60) {
        accepted = deployment.sandbox_get("/_sandbox/stats").await["accepted"]
            .as_u64()
            .unwrap();
        if accepted >= kill_after {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        accepted >= kill_after,
        "only {accepted} sent after a minute"
    );
    server.kill();
    // Jobs are claimed up to a second ahead of their slots: the killed server held some.
    let db = parley_tests::connect(&deployment.database_url).await;
    let in_flight: i64 = db
        .query_one(
            "SELECT count(*) FROM outbox_jobs WHERE broadcast_id = $1::text::uuid AND state = 'claimed'",
            &[&id],
        )
        .await
        .unwrap()
        .get(0);
    assert!(in_flight > 0, "no send was in flight at the kill");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let at_kill = deployment.sandbox_get("/_sandbox/stats").await["accepted"]
        .as_u64()
        .unwrap();
    assert!(
        at_kill < audience.len() as u64,
        "the kill came after the last send ({at_kill})"
    );

    let _server = deployment.serve(deployment.api_port, &env).await;
    api.wait_for(&id, Duration::from_secs(120), |v| {
        v["status"] == "completed"
    })
    .await;
    assert_funnel(&api, &id, &audience, &skipped).await;
    assert_each_sent_once(&deployment, &audience).await;
    assert_eq!(started_events(&deployment, &id).len(), 1);
    eprintln!(
        "kill -9 at {at_kill} of {} sent, {in_flight} in flight; done in {:?}",
        audience.len(),
        started.elapsed()
    );
}

#[tokio::test]
async fn a_schedule_that_falls_due_while_the_server_is_down_starts_when_it_is_back() {
    const RECIPIENTS: u32 = 300;
    let deployment = Deployment::start("Broadcast schedule").await;
    let env = [
        ("META_MESSAGES_PER_SECOND", MESSAGES_PER_SECOND),
        ("PARLEY_OUTBOX_LEASE_MS", DEFAULT_LEASE_MS),
    ];
    let mut server = deployment.serve(deployment.api_port, &env).await;
    let api = Api::new(&deployment, deployment.api_port);
    prepare(&deployment, &api).await;
    let skipped: Vec<u32> = vec![3, 150];
    let audience: Vec<u32> = (0..RECIPIENTS).filter(|n| !skipped.contains(n)).collect();
    api.opt_out(skipped.iter().map(|n| phone(*n))).await;
    let all: Vec<u32> = (0..RECIPIENTS).collect();
    let id = api.create_broadcast(&all).await;

    let due = Utc::now() + chrono::Duration::seconds(5);
    let scheduled = api
        .post(
            &format!("/v1/whatsapp/broadcasts/{id}/schedule"),
            json!({"scheduledAt": due.to_rfc3339()}),
        )
        .await;
    assert_eq!(scheduled["broadcast"]["status"], "scheduled", "{scheduled}");

    // Stopped before the time, started again well after it.
    server.terminate(Duration::from_secs(15)).await;
    assert!(
        Utc::now() < due,
        "the server stopped only after the due time"
    );
    let wait = (due - Utc::now()).to_std().unwrap() + Duration::from_millis(2500);
    tokio::time::sleep(wait).await;
    assert!(
        started_events(&deployment, &id).is_empty(),
        "started while no server ran"
    );
    assert_eq!(
        deployment.sandbox_get("/_sandbox/stats").await["accepted"],
        0
    );
    let restarted = Utc::now();
    let _server = deployment.serve(deployment.api_port, &env).await;

    let done = api
        .wait_for(&id, Duration::from_secs(120), |v| {
            v["status"] == "completed"
        })
        .await;
    let started_at = time(&done["startedAt"]);
    assert!(
        started_at >= restarted && started_at < restarted + chrono::Duration::seconds(10),
        "started at {started_at}; due {due}, server back at {restarted}"
    );
    let started = started_events(&deployment, &id);
    assert_eq!(started.len(), 1, "{started:?}");
    assert!(
        started[0]["payload"].to_string().contains("\"schedule\""),
        "not started by the scheduler: {}",
        started[0]
    );
    assert_funnel(&api, &id, &audience, &skipped).await;
    assert_each_sent_once(&deployment, &audience).await;
}

#[tokio::test]
async fn servers_sharing_a_database_start_a_scheduled_broadcast_exactly_once() {
    const RECIPIENTS: u32 = 600;
    let deployment = Deployment::start("Broadcast cluster").await;
    let env = [
        ("META_MESSAGES_PER_SECOND", MESSAGES_PER_SECOND),
        ("PARLEY_OUTBOX_LEASE_MS", DEFAULT_LEASE_MS),
    ];
    let second_port = crate::cli_support::free_port();
    let servers: Vec<Child> = vec![
        deployment.serve(deployment.api_port, &env).await,
        deployment.serve(second_port, &env).await,
    ];
    let api = Api::new(&deployment, deployment.api_port);
    let second = Api::new(&deployment, second_port);
    prepare(&deployment, &api).await;
    let skipped: Vec<u32> = vec![10, 300, 599];
    let audience: Vec<u32> = (0..RECIPIENTS).filter(|n| !skipped.contains(n)).collect();
    api.opt_out(skipped.iter().map(|n| phone(*n))).await;
    let all: Vec<u32> = (0..RECIPIENTS).collect();
    // Drafted through one server, scheduled through the other.
    let id = api.create_broadcast(&all).await;
    let due = Utc::now() + chrono::Duration::seconds(4);
    let scheduled = second
        .post(
            &format!("/v1/whatsapp/broadcasts/{id}/schedule"),
            json!({"scheduledAt": due.to_rfc3339()}),
        )
        .await;
    assert_eq!(scheduled["broadcast"]["status"], "scheduled", "{scheduled}");

    let done = second
        .wait_for(&id, Duration::from_secs(120), |v| {
            v["status"] == "completed"
        })
        .await;
    let started_at = time(&done["startedAt"]);
    assert!(
        started_at >= due && started_at < due + chrono::Duration::seconds(10),
        "started at {started_at}, due {due}"
    );
    let started = started_events(&deployment, &id);
    assert_eq!(started.len(), 1, "{started:?}");
    assert_funnel(&second, &id, &audience, &skipped).await;
    assert_each_sent_once(&deployment, &audience).await;
    // Both ran all along: one start is not the work of a lone survivor.
    for port in [deployment.api_port, second_port] {
        let health = deployment
            .http
            .get(format!("{}/healthz", Deployment::api(port)))
            .send()
            .await
            .unwrap();
        assert_eq!(health.status(), 200, "the server on {port} is down");
    }
    drop(servers);
}

#[tokio::test]
async fn a_send_that_outlasts_the_outbox_lease_is_not_sent_again() {
    const RECIPIENTS: u32 = 20;
    let deployment = Deployment::start("Broadcast slow Meta").await;
    // Meta answers each send after 1.5 s; a claim reserves a job for 0.4 s, so only a worker
    // renewing the leases of the jobs it holds keeps the others from sending them again.
    let env = [
        ("META_MESSAGES_PER_SECOND", MESSAGES_PER_SECOND),
        ("PARLEY_OUTBOX_LEASE_MS", "400"),
    ];
    let _server = deployment.serve(deployment.api_port, &env).await;
    let api = Api::new(&deployment, deployment.api_port);
    prepare(&deployment, &api).await;
    let answer = deployment
        .http
        .put(format!("{}/_sandbox/config", deployment.sandbox_url))
        .json(&json!({"response_delay_ms": 1500}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200, "{}", answer.text().await.unwrap());
    let audience: Vec<u32> = (0..RECIPIENTS).collect();
    let id = api.create_broadcast(&audience).await;
    api.post(&format!("/v1/whatsapp/broadcasts/{id}/send"), json!({}))
        .await;
    api.wait_for(&id, Duration::from_secs(60), |v| v["status"] == "completed")
        .await;
    assert_funnel(&api, &id, &audience, &[]).await;
    assert_each_sent_once(&deployment, &audience).await;
}

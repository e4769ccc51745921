//! Tests of the real `parley serve` delivering integrator webhooks: a receiver that verifies
//! signatures gets every event, once per delivery id and in order per conversation, through
//! a `kill -9` of Parley with deliveries in flight and a receiver outage after the restart.

use crate::cli_support::{Deployment, META_PHONE_NUMBER_ID};
use crate::integrator_webhooks::{assert_signed, Receiver};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

const CUSTOMERS: usize = 4;

/// The webhook settings of the servers: loopback receivers allowed, quick retries, and a short
/// lease so that what a killed server held is attempted again soon.
const ENV: [(&str, &str); 3] = [
    ("PARLEY_WEBHOOK_ALLOW_LOOPBACK", "1"),
    ("PARLEY_WEBHOOK_RETRY_MS", "200"),
    ("PARLEY_WEBHOOK_LEASE_MS", "3000"),
];

fn customer(n: usize) -> String {
    format!("1415555{n:04}")
}

/// Each customer writes once, through the sandbox (as Meta would deliver it).
async fn customers_write(deployment: &Deployment, round: usize) {
    let sandbox = sandbox::SandboxClient::new(deployment.sandbox_url.clone());
    for n in 0..CUSTOMERS {
        let outcome = sandbox
            .deliver_inbound(&sandbox::InboundRequest::text(
                META_PHONE_NUMBER_ID.to_string(),
                customer(n),
                format!("round {round}"),
            ))
            .await
            .unwrap();
        assert!(outcome.delivered, "{outcome:?}");
    }
}

/// Every event of the workspace's stream, in order.
async fn stream(deployment: &Deployment, api: &str) -> Vec<Value> {
    let (mut events, mut after) = (Vec::new(), "0".to_string());
    loop {
        let page: Value = deployment
            .http
            .get(format!(
                "{api}/api/v2/external/events?after={after}&limit=1000"
            ))
            .bearer_auth(&deployment.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        events.extend(page["data"]["events"].as_array().unwrap().iter().cloned());
        after = page["meta"]["nextCursor"].as_str().unwrap().to_string();
        if page["meta"]["hasMore"] != true {
            return events;
        }
    }
}

#[tokio::test]
async fn webhooks_survive_a_kill_9_and_a_receiver_outage_once_per_delivery_id_and_in_order() {
    let deployment = Deployment::start("Webhooks crash").await;
    let mut server = deployment.serve(deployment.api_port, &ENV).await;
    let api = Deployment::api(deployment.api_port);
    let receiver = Receiver::start().await;
    let registered: Value = deployment
        .http
        .post(format!("{api}/api/v2/external/webhooks"))
        .bearer_auth(&deployment.token)
        .json(
            &json!({ "url": receiver.url, "events": ["conversation.created", "message.received"] }),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = registered["data"]["signingSecret"]
        .as_str()
        .unwrap()
        .to_string();

    // Slow answers keep deliveries in flight when the server is killed.
    receiver.delay(Duration::from_millis(400));
    for round in 0..3 {
        customers_write(&deployment, round).await;
    }
    let started = Instant::now();
    while receiver.requests().len() < 2 && started.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.kill();
    let at_kill = receiver.accepted().len();
    assert!(
        at_kill < CUSTOMERS * 4,
        "the kill came after every delivery"
    );

    // Back up while the receiver is down for a while; more customers write meanwhile.
    receiver.delay(Duration::ZERO);
    receiver.answer(503);
    let _server = deployment.serve(deployment.api_port, &ENV).await;
    customers_write(&deployment, 3).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    receiver.answer(200);

    let events = stream(&deployment, &api).await;
    assert_eq!(
        events.len(),
        CUSTOMERS * 5,
        "created + 4 messages per customer"
    );
    let started = Instant::now();
    let first_acceptances = loop {
        let mut first: BTreeMap<String, usize> = BTreeMap::new();
        for (n, received) in receiver.accepted().iter().enumerate() {
            first.entry(received.delivery_id.clone()).or_insert(n);
        }
        if first.len() >= events.len() || started.elapsed() > Duration::from_secs(60) {
            break first;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        first_acceptances.len(),
        events.len(),
        "one accepted delivery id per event"
    );

    // Each event came under one delivery id only, signed; per conversation in stream order.
    let accepted = receiver.accepted();
    let mut delivery_of_event: HashMap<String, String> = HashMap::new();
    for received in &accepted {
        assert_signed(received, &secret);
        let event_id = received.json()["id"].as_str().unwrap().to_string();
        let known = delivery_of_event
            .entry(event_id)
            .or_insert(received.delivery_id.clone());
        assert_eq!(
            known, &received.delivery_id,
            "an event under two delivery ids"
        );
    }
    for event in &events {
        assert!(delivery_of_event.contains_key(event["id"].as_str().unwrap()));
    }
    let arrival = |event: &Value| {
        let delivery = &delivery_of_event[event["id"].as_str().unwrap()];
        first_acceptances[delivery]
    };
    for n in 0..CUSTOMERS {
        let conversation: Vec<&Value> = events
            .iter()
            .filter(|e| {
                e["data"]["from"] == customer(n) || e["data"]["customer_wa_id"] == customer(n)
            })
            .collect();
        assert_eq!(conversation.len(), 5);
        let arrivals: Vec<usize> = conversation.iter().map(|e| arrival(e)).collect();
        let mut sorted = arrivals.clone();
        sorted.sort();
        assert_eq!(
            arrivals, sorted,
            "customer {n}'s events arrived out of order"
        );
        let bodies: Vec<&str> = conversation[1..]
            .iter()
            .map(|e| e["data"]["content"]["body"].as_str().unwrap())
            .collect();
        assert_eq!(bodies, ["round 0", "round 1", "round 2", "round 3"]);
    }
    eprintln!(
        "{} events, {} accepted requests ({at_kill} before the kill), {} requests in all",
        events.len(),
        accepted.len(),
        receiver.requests().len()
    );
}

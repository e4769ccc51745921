//! Tests: projector.
//!
//! Gap safety under concurrent writers and deliberately long-open transactions, exactly-once
//! folding (proven with a counting projection), resuming after a restart, a checkpoint that only
//! moves forward, and a rebuild that reproduces the read models byte for byte.

use application::{BulkAction, ContactInput, Freshness, PhoneNumberChangesInput, RequestContext};
use chrono::{DateTime, Utc};
use domain::contact::{contact_id, ContactEvent, ContactUpdate};
use domain::phone_number::PhoneNumberStatus;
use domain::E164;
use futures::future::BoxFuture;
use parley_tests::TestApp;
use projections::{
    all_projections, CheckpointWatch, Projection, Projector, ProjectorError, Shutdown, StoredEvent,
};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_postgres::Transaction;
use uuid::Uuid;

/// Counts how often each event is folded: `test_applied.applied` must end at exactly 1.
struct Counting;

impl Projection for Counting {
    fn name(&self) -> &'static str {
        "test_counting"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["test_applied"]
    }

    fn apply<'a>(
        &'a self,
        tx: &'a Transaction<'a>,
        events: &'a [StoredEvent],
    ) -> BoxFuture<'a, Result<(), ProjectorError>> {
        Box::pin(async move {
            let types: Vec<&str> = events.iter().map(|e| e.aggregate_type.as_str()).collect();
            let ids: Vec<&str> = events.iter().map(|e| e.aggregate_id.as_str()).collect();
            let sequences: Vec<i64> = events.iter().map(|e| e.sequence).collect();
            tx.execute(
                "INSERT INTO test_applied (aggregate_type, aggregate_id, sequence, applied) \
                 SELECT t, i, s, 1 FROM unnest($1::text[], $2::text[], $3::bigint[]) AS k(t, i, s) \
                 ON CONFLICT (aggregate_type, aggregate_id, sequence) \
                 DO UPDATE SET applied = test_applied.applied + 1",
                &[&types, &ids, &sequences],
            )
            .await?;
            Ok(())
        })
    }
}

async fn create_counting_table(db: &tokio_postgres::Client) {
    db.batch_execute(
        "CREATE TABLE IF NOT EXISTS test_applied (aggregate_type text, aggregate_id text, sequence bigint, \
         applied int NOT NULL, PRIMARY KEY (aggregate_type, aggregate_id, sequence))",
    )
    .await
    .unwrap();
}

/// Starts a projector over `projections` on the test database; returns its shutdown.
async fn start_projector(app: &TestApp, projections: Vec<Arc<dyn Projection>>) -> Shutdown {
    let pools = store::Pools::connect(&app.database_url, 4).await.unwrap();
    let names = projections.iter().map(|p| p.name()).collect();
    let watch = CheckpointWatch::new(pools.queries.clone(), names, Duration::from_secs(5));
    tokio::spawn(watch.clone().listen(app.database_url.clone()));
    let projector = Projector::new(pools.queries.clone(), projections, watch);
    projector.ensure_checkpoints().await.unwrap();
    let shutdown = Shutdown::new();
    tokio::spawn(projector.run(shutdown.clone()));
    shutdown
}

type Checkpoint = (u64, i64);

/// Now at PostgreSQL's precision, as Parley's own clock gives it.
fn now_micros() -> chrono::DateTime<Utc> {
    use chrono::DurationRound;
    Utc::now()
        .duration_trunc(chrono::TimeDelta::microseconds(1))
        .unwrap()
}

async fn checkpoint(db: &tokio_postgres::Client, name: &str) -> Checkpoint {
    let row = db
        .query_one(
            "SELECT tx_id::text, position FROM projection_checkpoints WHERE name = $1",
            &[&name],
        )
        .await
        .unwrap();
    (row.get::<_, &str>(0).parse().unwrap(), row.get(1))
}

/// The last event in commit-safe order.
async fn log_end(db: &tokio_postgres::Client) -> Checkpoint {
    let row = db
        .query_one(
            "SELECT tx_id::text, global_position FROM events ORDER BY tx_id DESC, global_position DESC LIMIT 1",
            &[],
        )
        .await
        .unwrap();
    (row.get::<_, &str>(0).parse().unwrap(), row.get(1))
}

/// Waits (bounded) until every named checkpoint has reached the end of the log.
async fn wait_caught_up(db: &tokio_postgres::Client, names: &[&str]) {
    let end = log_end(db).await;
    for _ in 0..400 {
        let mut all = true;
        for name in names {
            all &= checkpoint(db, name).await >= end;
        }
        if all {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("projections {names:?} did not reach {end:?}");
}

/// Samples a checkpoint until stopped; returns every value seen, in order.
fn sample_checkpoint(
    database_url: String,
    name: &'static str,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Vec<Checkpoint>> {
    tokio::spawn(async move {
        let db = parley_tests::connect(&database_url).await;
        let mut seen = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            seen.push(checkpoint(&db, name).await);
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
        seen.push(checkpoint(&db, name).await);
        seen
    })
}

fn assert_monotonic(name: &str, seen: &[Checkpoint]) {
    assert!(seen.len() > 1, "too few samples of {name}");
    for pair in seen.windows(2) {
        assert!(
            pair[0] <= pair[1],
            "checkpoint {name} moved backwards: {:?} -> {:?}",
            pair[0],
            pair[1]
        );
    }
}

/// Every event was folded by the counting projection exactly once.
async fn assert_each_event_applied_once(db: &tokio_postgres::Client) {
    let row = db
        .query_one(
            "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM test_applied), \
                    (SELECT count(*) FROM events e LEFT JOIN test_applied a USING (aggregate_type, aggregate_id, sequence) \
                     WHERE a.applied IS DISTINCT FROM 1), \
                    (SELECT coalesce(max(applied), 0) FROM test_applied)",
            &[],
        )
        .await
        .unwrap();
    let (events, applied, wrong, max): (i64, i64, i64, i32) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    assert_eq!(
        (applied, wrong),
        (events, 0),
        "{events} events, {applied} folded, {wrong} not folded exactly once (max {max} times)"
    );
}

/// A contact as the events say it is, folded here without the projector's code.
#[derive(Debug, Clone, PartialEq)]
struct Folded {
    name: String,
    tags: Vec<String>,
    groups: Vec<String>,
    is_opted_in: bool,
    updated_at: DateTime<Utc>,
}

async fn fold_contact_events(db: &tokio_postgres::Client) -> BTreeMap<String, Folded> {
    let rows = db
        .query(
            "SELECT aggregate_id, event_type, payload::text, \
                    ((payload::jsonb -> event_type) ->> 'at')::timestamptz \
             FROM events WHERE aggregate_type = 'contact' ORDER BY aggregate_id, sequence",
            &[],
        )
        .await
        .unwrap();
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    let mut contacts: BTreeMap<String, Folded> = BTreeMap::new();
    for row in rows {
        let id: String = row.get(0);
        let event_type: String = row.get(1);
        let payload: serde_json::Value = serde_json::from_str(row.get(2)).unwrap();
        let at: DateTime<Utc> = row.get(3);
        let body = &payload[&event_type];
        assert!(body.is_object(), "payload {payload} is not {event_type}");
        if event_type == "ContactCreated" {
            contacts.insert(
                id,
                Folded {
                    name: body["name"].as_str().unwrap().to_string(),
                    tags: strings(&body["tags"]),
                    groups: strings(&body["groups"]),
                    is_opted_in: body["is_opted_in"].as_bool().unwrap(),
                    updated_at: at,
                },
            );
            continue;
        }
        if event_type == "ContactDeleted" {
            contacts.remove(&id);
            continue;
        }
        let contact = contacts.get_mut(&id).expect("event of a live contact");
        contact.updated_at = at;
        match event_type.as_str() {
            "ContactDetailsChanged" => {
                if let Some(name) = body["name"].as_str() {
                    contact.name = name.to_string();
                }
            }
            "ContactTagsChanged" => contact.tags = strings(&body["tags"]),
            "ContactGroupsChanged" => contact.groups = strings(&body["groups"]),
            "ContactOptedIn" => contact.is_opted_in = true,
            "ContactOptedOut" => contact.is_opted_in = false,
            _ => {}
        }
    }
    contacts
}

async fn contacts_table(db: &tokio_postgres::Client) -> BTreeMap<String, Folded> {
    db.query(
        "SELECT id::text, name, tags, groups, is_opted_in, updated_at FROM contacts",
        &[],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| {
        (
            r.get(0),
            Folded {
                name: r.get(1),
                tags: r.get(2),
                groups: r.get(3),
                is_opted_in: r.get(4),
                updated_at: r.get(5),
            },
        )
    })
    .collect()
}

/// The contacts table equals an independent fold of the contact events.
async fn assert_contacts_match_log(db: &tokio_postgres::Client) -> BTreeMap<String, Folded> {
    let expected = fold_contact_events(db).await;
    let actual = contacts_table(db).await;
    let missing: Vec<_> = expected
        .keys()
        .filter(|k| !actual.contains_key(*k))
        .collect();
    let extra: Vec<_> = actual
        .keys()
        .filter(|k| !expected.contains_key(*k))
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "contacts missing from the table: {missing:?}; not in the log: {extra:?}"
    );
    for (id, folded) in &expected {
        assert_eq!(&actual[id], folded, "contact {id}");
    }
    actual
}

fn contact_input(phone: &str, name: &str, tags: &[&str]) -> ContactInput {
    ContactInput {
        phone: phone.to_string(),
        name: name.to_string(),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        ..Default::default()
    }
}

fn created_payload(app: &TestApp, phone: &E164, name: &str, tags: &[&str]) -> ContactEvent {
    ContactEvent::ContactCreated {
        workspace_id: app.workspace.id,
        account_id: app.workspace.phone_number,
        phone: phone.clone(),
        name: name.to_string(),
        email: None,
        company: None,
        tags: tags.iter().map(|t| t.to_string()).collect(),
        groups: vec![],
        is_opted_in: false,
        custom_fields: BTreeMap::new(),
        notes: None,
        at: now_micros(),
    }
}

/// Inserts a contact's creation (and a tag change) in a transaction held open for `hold` while
/// later transactions commit; asserts the projector does not pass it meanwhile. Returns the id.
async fn held_creation(app: &TestApp, n: usize, hold: Duration) -> String {
    let phone = E164::parse(&format!("+1555300{n:04}")).unwrap();
    let id = contact_id(app.workspace.phone_number, &phone).to_string();
    let created = created_payload(app, &phone, &format!("Held {n}"), &["held"]);
    let tagged = ContactEvent::ContactTagsChanged {
        tags: vec!["held".into(), format!("held-{n}")],
        at: now_micros(),
    };
    let metadata = serde_json::json!({
        "actor": "cli",
        "correlation_id": Uuid::new_v4().to_string(),
        "time": Utc::now().to_rfc3339(),
    })
    .to_string();
    let mut db = parley_tests::connect(&app.database_url).await;
    let tx = db.transaction().await.unwrap();
    for (sequence, event, event_type) in [
        (1i64, created, "ContactCreated"),
        (2, tagged, "ContactTagsChanged"),
    ] {
        let payload = serde_json::to_string(&event).unwrap();
        tx.execute(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
             VALUES ('contact', $1, $2, $3, '1', $4::text::json, $5::text::json)",
            &[&id, &sequence, &event_type, &payload, &metadata],
        )
        .await
        .unwrap();
    }
    let row = tx
        .query_one("SELECT pg_current_xact_id()::text", &[])
        .await
        .unwrap();
    let my_xid: u64 = row.get::<_, &str>(0).parse().unwrap();
    let observer = parley_tests::connect(&app.database_url).await;
    let started = tokio::time::Instant::now();
    while started.elapsed() < hold {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let (tx_id, _) = checkpoint(&observer, "contacts").await;
        assert!(
            tx_id < my_xid,
            "the contacts checkpoint passed open transaction {my_xid} (now at {tx_id})"
        );
    }
    tx.commit().await.unwrap();
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_and_long_open_transactions_fold_every_event_exactly_once() {
    let app = TestApp::spawn().await;
    let db = app.db().await;
    create_counting_table(&db).await;
    let counting = start_projector(&app, vec![Arc::new(Counting)]).await;
    let stop = Arc::new(AtomicBool::new(false));
    let contacts_samples = sample_checkpoint(app.database_url.clone(), "contacts", stop.clone());
    let counting_samples =
        sample_checkpoint(app.database_url.clone(), "test_counting", stop.clone());

    let app = Arc::new(app);
    let shared_phone = "+15554000000";
    let (shared, _) = app
        .app
        .create_contact(
            &RequestContext::cli(app.workspace.id),
            app.workspace.phone_number,
            contact_input(shared_phone, "Shared", &["shared"]),
        )
        .await
        .unwrap();
    let shared_tags = Arc::new(Mutex::new(BTreeSet::from(["shared".to_string()])));

    // Long-open transactions, staggered so that others commit while each one is open.
    let mut holders = Vec::new();
    for n in 0..3 {
        let app = app.clone();
        holders.push(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(150 * n as u64)).await;
            held_creation(&app, n, Duration::from_millis(1000)).await
        }));
    }
    // Sixteen writers through the application.
    const ROUNDS: usize = 5;
    let mut writers = Vec::new();
    for w in 0..16usize {
        let app = app.clone();
        let shared_tags = shared_tags.clone();
        writers.push(tokio::spawn(async move {
            let context = RequestContext::cli(app.workspace.id);
            let mut ids = Vec::new();
            for c in 0..2usize {
                let (id, _) = app
                    .app
                    .create_contact(
                        &context,
                        app.workspace.phone_number,
                        contact_input(
                            &format!("+1555200{w:02}{c:02}"),
                            &format!("W{w} C{c}"),
                            &["init"],
                        ),
                    )
                    .await
                    .unwrap();
                ids.push(id);
            }
            for round in 0..ROUNDS {
                let tag = format!("w{w}-r{round}");
                let (outcome, _) = app
                    .app
                    .bulk_update_contacts(&context, &ids, BulkAction::AddTags(vec![tag.clone()]))
                    .await
                    .unwrap();
                assert_eq!(outcome.modified, 2);
                // Everyone tags the shared contact too; conflicts are retried, and a command
                // that still loses leaves no event.
                let shared_tag = format!("s{w}-{round}");
                if let Ok((outcome, _)) = app
                    .app
                    .bulk_update_contacts(
                        &context,
                        &[shared],
                        BulkAction::AddTags(vec![shared_tag.clone()]),
                    )
                    .await
                {
                    if outcome.modified == 1 {
                        shared_tags.lock().unwrap().insert(shared_tag);
                    }
                }
            }
            app.app
                .update_contact(
                    &context,
                    ids[0],
                    ContactUpdate {
                        name: Some(format!("W{w} C0 renamed")),
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
            ids
        }));
    }
    let mut writer_ids = Vec::new();
    for writer in writers {
        writer_ids.extend(writer.await.unwrap());
    }
    let mut held_ids = Vec::new();
    for holder in holders {
        held_ids.push(holder.await.unwrap());
    }

    wait_caught_up(&db, &["contacts", "phone_numbers", "test_counting"]).await;
    stop.store(true, Ordering::Relaxed);
    assert_monotonic("contacts", &contacts_samples.await.unwrap());
    assert_monotonic("test_counting", &counting_samples.await.unwrap());
    counting.trigger();

    assert_each_event_applied_once(&db).await;
    let table = assert_contacts_match_log(&db).await;
    // And the fold itself says what the commands did.
    assert_eq!(table.len(), 1 + 32 + 3);
    for id in &writer_ids {
        let contact = &table[&id.to_string()];
        assert_eq!(contact.tags.len(), 1 + ROUNDS, "{contact:?}");
        assert_eq!(contact.tags[0], "init");
    }
    for (n, id) in held_ids.iter().enumerate() {
        assert_eq!(
            table[id].tags,
            vec!["held".to_string(), format!("held-{n}")]
        );
    }
    let shared_tags = shared_tags.lock().unwrap().clone();
    let actual: BTreeSet<String> = table[&shared.to_string()].tags.iter().cloned().collect();
    assert_eq!(actual, shared_tags);
    assert!(shared_tags.len() > 16, "too few shared tags committed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_projector_resumes_where_it_stopped() {
    let app = TestApp::spawn_with_timeout(Duration::from_millis(300)).await;
    let db = app.db().await;
    create_counting_table(&db).await;
    let counting = start_projector(&app, vec![Arc::new(Counting)]).await;
    let context = RequestContext::cli(app.workspace.id);
    let account = app.workspace.phone_number;
    let mut ids = Vec::new();
    for n in 0..5 {
        // (Fresh or not: another test's long-open transaction on the same cluster may hold
        // every projector back longer than this app's short read-your-writes timeout.)
        let (id, _) = app
            .app
            .create_contact(
                &context,
                account,
                contact_input(&format!("+155550000{n:02}"), &format!("R{n}"), &["a"]),
            )
            .await
            .unwrap();
        ids.push(id);
    }
    app.app
        .bulk_update_contacts(&context, &ids, BulkAction::AddTags(vec!["b".into()]))
        .await
        .unwrap();
    wait_caught_up(&db, &["contacts", "test_counting"]).await;

    // Stop every projector, then write while none runs.
    app.shutdown.trigger();
    counting.trigger();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stopped_at = checkpoint(&db, "contacts").await;
    let (_, freshness) = app
        .app
        .bulk_update_contacts(&context, &ids, BulkAction::AddTags(vec!["c".into()]))
        .await
        .unwrap();
    assert_eq!(freshness, Freshness::Stale, "a projector is still running");
    let (late, _) = app
        .app
        .create_contact(
            &context,
            account,
            contact_input("+15555000099", "Late", &["late"]),
        )
        .await
        .unwrap();
    app.app.delete_contact(&context, ids[4]).await.unwrap();
    app.app
        .bulk_update_contacts(&context, &ids[..4], BulkAction::OptIn)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(checkpoint(&db, "contacts").await, stopped_at);
    let stale = contacts_table(&db).await;
    assert_eq!(stale.len(), 5);
    assert_eq!(stale[&ids[0].to_string()].tags, vec!["a", "b"]);

    // A new projector on the same database picks up from the checkpoint.
    let stop = Arc::new(AtomicBool::new(false));
    let samples = sample_checkpoint(app.database_url.clone(), "contacts", stop.clone());
    let mut projections = all_projections();
    projections.push(Arc::new(Counting));
    let restarted = start_projector(&app, projections).await;
    wait_caught_up(&db, &["contacts", "phone_numbers", "test_counting"]).await;
    stop.store(true, Ordering::Relaxed);
    let samples = samples.await.unwrap();
    assert_monotonic("contacts", &samples);
    assert!(samples[0] >= stopped_at);
    restarted.trigger();

    assert_each_event_applied_once(&db).await;
    let table = assert_contacts_match_log(&db).await;
    assert_eq!(table.len(), 5);
    assert!(!table.contains_key(&ids[4].to_string()));
    assert_eq!(table[&late.to_string()].tags, vec!["late"]);
    for id in &ids[..4] {
        let contact = &table[&id.to_string()];
        assert_eq!(contact.tags, vec!["a", "b", "c"]);
        assert!(contact.is_opted_in);
    }
}

/// Every row of `table`, all columns as text, in id order.
async fn dump(db: &tokio_postgres::Client, table: &str) -> Vec<String> {
    db.query(&format!("SELECT t::text FROM {table} t ORDER BY id"), &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[tokio::test]
async fn a_rebuild_reproduces_the_read_models_exactly() {
    let app = TestApp::spawn().await;
    let context = RequestContext::cli(app.workspace.id);
    let account = app.workspace.phone_number;
    let mut ids = Vec::new();
    for n in 0..6 {
        let mut input = contact_input(
            &format!("+15556000{n:03}"),
            &format!("Rebuild {n}"),
            &["one"],
        );
        input.email = Some(format!("r{n}@example.com"));
        input.groups = vec!["g1".into()];
        input.is_opted_in = n % 2 == 0;
        input.custom_fields = BTreeMap::from([("plan".to_string(), format!("p{n}"))]);
        let (id, _) = app
            .app
            .create_contact(&context, account, input)
            .await
            .unwrap();
        ids.push(id);
    }
    app.app
        .update_contact(
            &context,
            ids[0],
            ContactUpdate {
                name: Some("Renamed".into()),
                company: Some("ACME".into()),
                notes: Some("note".into()),
                tags: Some(vec!["x".into(), "y".into()]),
                groups: Some(vec!["g2".into()]),
                custom_fields: Some(BTreeMap::from([
                    ("plan".to_string(), None),
                    ("tier".to_string(), Some("gold".to_string())),
                ])),
                is_blocked: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    app.app
        .bulk_update_contacts(&context, &ids, BulkAction::AddTags(vec!["two".into()]))
        .await
        .unwrap();
    app.app
        .bulk_update_contacts(
            &context,
            &ids[1..3],
            BulkAction::RemoveTags(vec!["one".into()]),
        )
        .await
        .unwrap();
    app.app
        .bulk_update_contacts(&context, &ids, BulkAction::OptOut)
        .await
        .unwrap();
    app.app
        .bulk_update_contacts(&context, &ids[..2], BulkAction::OptIn)
        .await
        .unwrap();
    app.app
        .rename_group(&context, account, "g1", "renamed")
        .await
        .unwrap();
    app.app.delete_contact(&context, ids[3]).await.unwrap();
    app.app.delete_contact(&context, ids[4]).await.unwrap();
    // Re-created after deletion.
    app.app
        .create_contact(
            &context,
            account,
            contact_input("+15556000004", "Back again", &["again"]),
        )
        .await
        .unwrap();
    app.app
        .update_phone_number(
            &context,
            account,
            PhoneNumberChangesInput {
                display_name: Some("Renamed number".into()),
                status: Some(PhoneNumberStatus::Verified),
                access_token: Some("EAAG-rotated".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let (second, _) = app
        .app
        .register_phone_number(
            &context,
            application::PhoneNumberInput {
                phone_number_id: format!("1{}", &Uuid::new_v4().as_u128().to_string()[..14]),
                waba_id: "200000000000009".into(),
                display_phone_number: "+15550100009".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let (third, _) = app
        .app
        .register_phone_number(
            &context,
            application::PhoneNumberInput {
                phone_number_id: format!("2{}", &Uuid::new_v4().as_u128().to_string()[..14]),
                waba_id: "200000000000010".into(),
                display_phone_number: "+15550100010".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    app.app.remove_phone_number(&context, third).await.unwrap();

    let db = app.db().await;
    wait_caught_up(&db, &["contacts", "phone_numbers"]).await;
    let contacts_before = dump(&db, "contacts").await;
    let numbers_before = dump(&db, "phone_numbers").await;
    // Six created, two deleted, one of them created again.
    assert_eq!(contacts_before.len(), 5);
    assert_eq!(numbers_before.len(), 2);
    assert!(numbers_before
        .iter()
        .any(|r| r.contains(&second.to_string())));
    assert_contacts_match_log(&db).await;

    let projector = Projector::new(
        app.app.infra.pools.queries.clone(),
        all_projections(),
        app.app.infra.watch.clone(),
    );
    let mut reports = 0;
    let folded = projector.rebuild(None, |_| reports += 1).await.unwrap();
    let events: i64 = db
        .query_one("SELECT count(*) FROM events", &[])
        .await
        .unwrap()
        .get(0);
    // Each projection reads the events of the aggregate types it folds; together they cover the
    // log (some types, like phone numbers, feed more than one projection).
    assert!(
        folded >= events as u64,
        "{folded} folded, {events} in the log"
    );
    assert!(reports >= 2);
    assert_eq!(dump(&db, "contacts").await, contacts_before);
    assert_eq!(dump(&db, "phone_numbers").await, numbers_before);

    // Rebuilding one projection by name leaves the same rows too.
    projector.rebuild(Some("contacts"), |_| {}).await.unwrap();
    assert_eq!(dump(&db, "contacts").await, contacts_before);
    let unknown = projector.rebuild(Some("nope"), |_| {}).await;
    assert!(matches!(unknown, Err(ProjectorError::UnknownProjection(_))));
}

/// Regression: the settled read once sorted by the xid's text ("1000" before "999"), so a batch
/// boundary at a power of ten moved the checkpoint past unread events.
#[tokio::test]
async fn the_log_is_read_in_numeric_commit_order() {
    let url = parley_tests::fresh_database().await;
    let db = parley_tests::connect(&url).await;
    // Old, settled transactions (ids far below the cluster's current ones), inserted out of order.
    for (tx_id, n) in [("100", 1), ("99", 2), ("10", 3), ("9", 4)] {
        let phone = E164::parse(&format!("+1555700{n:04}")).unwrap();
        let id = contact_id(Uuid::new_v4(), &phone).to_string();
        let event = ContactEvent::ContactCreated {
            workspace_id: domain::WorkspaceId(Uuid::new_v4()),
            account_id: Uuid::new_v4(),
            phone,
            name: format!("N{n}"),
            email: None,
            company: None,
            tags: vec![],
            groups: vec![],
            is_opted_in: false,
            custom_fields: BTreeMap::new(),
            notes: None,
            at: now_micros(),
        };
        db.execute(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata, tx_id) \
             VALUES ('contact', $1, 1, 'ContactCreated', '1', $2::text::json, '{}', $3::text::xid8)",
            &[&id, &serde_json::to_string(&event).unwrap(), &tx_id],
        )
        .await
        .unwrap();
    }
    let mut after = projections::Position::default();
    let mut seen = Vec::new();
    loop {
        let batch = projections::log::settled_after(&db, after, 1, None)
            .await
            .unwrap();
        let Some(event) = batch.last() else { break };
        after = event.position;
        seen.push(event.position.tx_id);
    }
    assert_eq!(seen, vec![9, 10, 99, 100]);

    // And the projector, one event per batch, folds all four.
    let pools = store::Pools::connect(&url, 2).await.unwrap();
    let watch = CheckpointWatch::new(pools.queries.clone(), vec!["contacts"], Duration::ZERO);
    let projector = Projector::new(
        pools.queries.clone(),
        vec![Arc::new(projections::contacts::ContactsProjection)],
        watch,
    );
    projector.ensure_checkpoints().await.unwrap();
    let folded = projector
        .catch_up(projector.projections()[0].as_ref(), 1)
        .await
        .unwrap();
    assert_eq!(folded, 4);
    assert_eq!(contacts_table(&db).await.len(), 4);
}

//! Tests: the broadcasts read model (`broadcasts`, `broadcast_recipients`).
//!
//! Broadcast events are appended to the event log as the Broadcast aggregate would write them
//! (its rules are tested beside it); the recipients' message events come from the real
//! Conversation aggregate through the command bus and event store, or, for the test of many
//! recipients in random order, are appended directly. A projector running only this projection
//! folds them in small batches, so rows written by one batch are loaded by the next. The queries
//! are then checked, the counts are checked against a recount, and a rebuild must reproduce every
//! row.

use application::{CommandBus, Infrastructure, RequestContext};
use chrono::{DateTime, TimeDelta, Utc};
use domain::broadcast::{
    broadcast_message_id, BroadcastCounts, BroadcastEvent, BroadcastRecipient, BroadcastStatus,
    BroadcastTemplate, PauseReason, SkipReason, SkippedRecipient, StartTrigger, TemplateSnapshot,
};
use domain::conversation::{
    conversation_id, Conversation, ConversationCommand, ConversationEvent, MessageId, MetaFailure,
    OutboundContent, RecipientStanding, ReportedStatus, TemplateLanguage, TemplateMessage, Wamid,
};
use domain::{Issued, WorkspaceId, E164, EVENT_VERSION_1};
use projections::broadcasts::{
    due_scheduled_broadcasts, failed_recipient_phones, get_broadcast, list_broadcasts,
    list_recipients, recipient_summary, running_broadcasts_of_number,
    sending_broadcasts_with_nothing_pending, BroadcastsProjection, RecipientCounts,
    RecipientStatus, RecipientView,
};
use projections::{CheckpointWatch, Projector};
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use store::{AeadSecretBox, PgInfrastructure, Pools};
use uuid::Uuid;

/// `minutes` after a fixed start (whole microseconds, as PostgreSQL stores them).
fn t(minutes: i64) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-01T10:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
        + TimeDelta::minutes(minutes)
}

fn phone(raw: &str) -> E164 {
    E164::parse(raw).unwrap()
}

fn wamid(raw: &str) -> Wamid {
    Wamid::parse(raw).unwrap()
}

fn failure(code: i64, title: &str) -> MetaFailure {
    MetaFailure {
        code,
        title: title.into(),
        message: None,
        details: None,
    }
}

fn template() -> BroadcastTemplate {
    BroadcastTemplate {
        name: "spring_sale".into(),
        language: "en_US".into(),
        components: vec![json!({"type": "header", "parameters": [{"type": "text", "text": "Hi"}]})],
    }
}

fn snapshot(template_id: Uuid) -> TemplateSnapshot {
    TemplateSnapshot {
        template_id,
        name: "spring_sale".into(),
        language: "en_US".into(),
        components: vec![json!({"type": "BODY", "text": "Hello {{1}}"})],
        variables: vec![],
    }
}

fn recipient(raw: &str, name: Option<&str>, first: &str) -> BroadcastRecipient {
    BroadcastRecipient {
        phone: phone(raw),
        name: name.map(str::to_string),
        variables: BTreeMap::from([("1".to_string(), first.to_string())]),
    }
}

fn created(workspace: WorkspaceId, number: Uuid, name: &str, at: DateTime<Utc>) -> BroadcastEvent {
    BroadcastEvent::BroadcastCreated {
        workspace_id: workspace,
        phone_number_id: number,
        name: name.into(),
        description: Some(format!("{name}, described")),
        template: template(),
        at,
    }
}

/// The template content a broadcast's message carries.
fn content() -> OutboundContent {
    OutboundContent::Template {
        template: TemplateMessage {
            name: "spring_sale".into(),
            language: TemplateLanguage {
                code: "en_US".into(),
                policy: None,
            },
            components: vec![],
        },
    }
}

/// An event as postgres-es stores it: its type is the enum variant, the payload's only key.
fn stored<E: serde::Serialize>(event: &E) -> (String, String) {
    let payload = serde_json::to_value(event).unwrap();
    let event_type = payload
        .as_object()
        .and_then(|o| o.keys().next().cloned())
        .expect("events serialize as {Variant: {...}}");
    (event_type, payload.to_string())
}

/// A database with only this projection's projector, driven by the test.
struct Harness {
    db: tokio_postgres::Client,
    infra: PgInfrastructure,
    projector: Projector,
}

impl Harness {
    async fn new() -> Self {
        let url = parley_tests::fresh_database().await;
        let pools = Pools::connect(&url, 4).await.unwrap();
        let watch = CheckpointWatch::new(pools.queries.clone(), vec!["broadcasts"], Duration::ZERO);
        let secrets =
            Arc::new(AeadSecretBox::from_encoded_key(&AeadSecretBox::generate_key()).unwrap());
        let infra = PgInfrastructure::new(pools.clone(), secrets, watch.clone());
        let projector = Projector::new(
            pools.queries.clone(),
            vec![Arc::new(BroadcastsProjection)],
            watch,
        );
        projector.ensure_checkpoints().await.unwrap();
        Self {
            db: parley_tests::connect(&url).await,
            infra,
            projector,
        }
    }

    /// Appends `events` of one aggregate after its last stored event, in one transaction.
    async fn append<E: serde::Serialize>(&self, aggregate_type: &str, id: Uuid, events: &[E]) {
        self.append_many(
            aggregate_type,
            &events.iter().map(|e| (id, e)).collect::<Vec<_>>(),
        )
        .await;
    }

    /// Appends events of several aggregates of one type, in this order, in one transaction.
    async fn append_many<E: serde::Serialize>(&self, aggregate_type: &str, events: &[(Uuid, &E)]) {
        let mut next: HashMap<Uuid, i64> = HashMap::new();
        let (mut ids, mut sequences, mut types, mut payloads) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (id, event) in events {
            if !next.contains_key(id) {
                let last: i64 = self
                    .db
                    .query_one(
                        "SELECT coalesce(max(sequence), 0) FROM events WHERE aggregate_type = $1 AND aggregate_id = $2",
                        &[&aggregate_type, &id.to_string()],
                    )
                    .await
                    .unwrap()
                    .get(0);
                next.insert(*id, last + 1);
            }
            let sequence = next.get_mut(id).unwrap();
            let (event_type, payload) = stored(*event);
            ids.push(id.to_string());
            sequences.push(*sequence);
            types.push(event_type);
            payloads.push(payload);
            *sequence += 1;
        }
        self.db
            .execute(
                "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
                 SELECT $1, u.id, u.sequence, u.event_type, $5, u.payload::json, '{}' \
                 FROM UNNEST($2::text[], $3::bigint[], $4::text[], $6::text[]) WITH ORDINALITY \
                      AS u(id, sequence, event_type, payload, n) ORDER BY u.n",
                &[&aggregate_type, &ids, &sequences, &types, &EVENT_VERSION_1, &payloads],
            )
            .await
            .unwrap();
    }

    async fn broadcast(&self, id: Uuid, events: &[BroadcastEvent]) {
        self.append("broadcast", id, events).await;
    }

    /// Runs `command` on a conversation through the aggregate and the event store; it must
    /// record something.
    async fn converse(
        &self,
        workspace: WorkspaceId,
        number: Uuid,
        customer: &E164,
        at: DateTime<Utc>,
        command: ConversationCommand,
    ) {
        let described = format!("{command:?}");
        let changed = self
            .converse_any(workspace, number, customer, at, command)
            .await;
        assert!(changed, "changed nothing: {described}");
    }

    /// Runs `command` on a conversation; answers whether it recorded anything.
    async fn converse_any(
        &self,
        workspace: WorkspaceId,
        number: Uuid,
        customer: &E164,
        at: DateTime<Utc>,
        command: ConversationCommand,
    ) -> bool {
        let id = conversation_id(number, customer.wa_id());
        let committed = CommandBus::execute::<Conversation, _>(
            self.infra.conversation_store(),
            &(),
            &id.to_string(),
            Issued {
                workspace_id: workspace,
                at,
                command,
            },
            RequestContext::cli(workspace).event_metadata(at),
        )
        .await
        .unwrap();
        committed.changed()
    }

    /// Folds until the checkpoint reaches the end of the log, `batch` events at a time (events
    /// wait while another test's transaction is open anywhere on the cluster).
    async fn fold(&self, batch: i64) {
        let projection = self.projector.projections()[0].clone();
        for _ in 0..500 {
            self.projector
                .catch_up(projection.as_ref(), batch)
                .await
                .unwrap();
            let row = self
                .db
                .query_one(
                    "SELECT (SELECT (tx_id, position) FROM projection_checkpoints WHERE name = 'broadcasts') \
                            >= (SELECT (tx_id, global_position) FROM events ORDER BY tx_id DESC, global_position DESC LIMIT 1)",
                    &[],
                )
                .await
                .unwrap();
            if row.get::<_, Option<bool>>(0).unwrap_or(true) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the broadcasts projection did not reach the end of the log");
    }

    async fn recipients(&self, ws: WorkspaceId, id: Uuid) -> Vec<RecipientView> {
        list_recipients(&self.db, ws, id, None, 1_000_000, 0)
            .await
            .unwrap()
            .0
    }

    async fn recipient(&self, ws: WorkspaceId, id: Uuid, raw: &str) -> RecipientView {
        self.recipients(ws, id)
            .await
            .into_iter()
            .find(|r| r.phone == raw)
            .unwrap_or_else(|| panic!("{raw} is a recipient"))
    }

    async fn summary(&self, ws: WorkspaceId, id: Uuid) -> RecipientCounts {
        recipient_summary(&self.db, ws, id).await.unwrap().unwrap()
    }

    /// Every broadcast whose counts differ from a recount of its recipients, or whose recipients'
    /// ranks do not match their statuses: must be none.
    async fn assert_counts_exact(&self) {
        let wrong: Vec<String> = self
            .db
            .query(
                "SELECT b.broadcast_id::text FROM broadcasts b, LATERAL ( \
                     SELECT count(*)::int AS total, \
                            count(*) FILTER (WHERE status = 'pending')::int AS pending, \
                            count(*) FILTER (WHERE status = 'sent')::int AS sent, \
                            count(*) FILTER (WHERE status = 'delivered')::int AS delivered, \
                            count(*) FILTER (WHERE status = 'read')::int AS read, \
                            count(*) FILTER (WHERE status = 'failed')::int AS failed, \
                            count(*) FILTER (WHERE status = 'skipped')::int AS skipped \
                     FROM broadcast_recipients r WHERE r.broadcast_id = b.broadcast_id) c \
                 WHERE (b.recipient_count, b.pending_count, b.sent_count, b.delivered_count, b.read_count, \
                        b.failed_count, b.skipped_count) \
                       IS DISTINCT FROM (c.total, c.pending, c.sent, c.delivered, c.read, c.failed, c.skipped)",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect();
        assert_eq!(wrong, Vec::<String>::new(), "counts differ from a recount");
        let ranks: i64 = self
            .db
            .query_one(
                "SELECT count(*) FROM broadcast_recipients WHERE status_rank <> \
                 CASE status WHEN 'pending' THEN 0 WHEN 'sent' THEN 1 WHEN 'failed' THEN 2 \
                             WHEN 'delivered' THEN 3 WHEN 'read' THEN 4 WHEN 'skipped' THEN 5 END",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(ranks, 0, "ranks match statuses");
    }

    /// Every row of both tables, all columns as text, in key order.
    async fn dump(&self) -> Vec<String> {
        let mut rows = Vec::new();
        for (table, key) in [
            ("broadcasts", "broadcast_id"),
            ("broadcast_recipients", "broadcast_id, phone"),
        ] {
            for row in self
                .db
                .query(
                    &format!("SELECT t::text FROM {table} t ORDER BY {key}"),
                    &[],
                )
                .await
                .unwrap()
            {
                rows.push(format!("{table}: {}", row.get::<_, String>(0)));
            }
        }
        rows
    }
}

fn phones(recipients: &[RecipientView]) -> Vec<&str> {
    recipients.iter().map(|r| r.phone.as_str()).collect()
}

fn counts(
    total: i64,
    [pending, sent, delivered, read, failed, skipped]: [i64; 6],
) -> RecipientCounts {
    RecipientCounts {
        total,
        pending,
        sent,
        delivered,
        read,
        failed,
        skipped,
    }
}

const A: &str = "+16505550001";
const B: &str = "+16505550002";
const C: &str = "+16505550003";
const D: &str = "+16505550004";
const E: &str = "+16505550005";
const F: &str = "+16505550006";
const G: &str = "+16505550007";

#[tokio::test]
async fn broadcasts_follow_their_events_and_their_recipients_messages() {
    let h = Harness::new().await;
    let ws = WorkspaceId(Uuid::new_v4());
    let other = WorkspaceId(Uuid::new_v4());
    let (number, second_number, other_number) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let (b1, b2, b3, b4) = (
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
    );
    let template_id = Uuid::new_v4();

    // A draft: recipients added (a phone already in changes nothing), some removed.
    h.broadcast(
        b1,
        &[
            created(ws, number, "Spring sale", t(0)),
            BroadcastEvent::BroadcastRecipientsAdded {
                recipients: vec![
                    recipient(A, Some("Ada"), "Ada"),
                    recipient(B, None, "Bob"),
                    recipient(C, Some("Cy"), "Cy"),
                ],
                at: t(1),
            },
            BroadcastEvent::BroadcastRecipientsAdded {
                recipients: vec![
                    recipient(D, None, "Di"),
                    recipient(C, Some("Not Cy"), "Not Cy"),
                    recipient(E, None, "Ed"),
                    recipient(F, None, "Flo"),
                    recipient(G, None, "Gus"),
                ],
                at: t(2),
            },
            BroadcastEvent::BroadcastRecipientsRemoved {
                phones: vec![phone(B), phone("+16505550999")],
                at: t(3),
            },
        ],
    )
    .await;
    h.fold(2).await;
    let view = get_broadcast(&h.db, ws, b1).await.unwrap().unwrap();
    assert_eq!(view.status, BroadcastStatus::Draft);
    assert_eq!(
        (view.name.as_str(), view.description.as_deref()),
        ("Spring sale", Some("Spring sale, described"))
    );
    assert_eq!((view.workspace_id, view.phone_number_id), (ws, number));
    assert_eq!(view.template, template());
    assert_eq!((view.created_at, view.updated_at), (t(0), t(3)));
    assert_eq!(view.counts(), counts(6, [6, 0, 0, 0, 0, 0]));
    let all = h.recipients(ws, b1).await;
    assert_eq!(phones(&all), [A, C, D, E, F, G]);
    let cy = &all[1];
    assert_eq!(cy.name.as_deref(), Some("Cy"), "the first add stands");
    assert_eq!(cy.variables, BTreeMap::from([("1".into(), "Cy".into())]));
    assert_eq!(
        (cy.status, cy.message_id, cy.round),
        (RecipientStatus::Pending, None, 0)
    );

    // Scheduled, unscheduled, scheduled again, then started by the scheduler: the opted-out
    // recipient is skipped, everyone else gets round 0's message.
    h.broadcast(
        b1,
        &[BroadcastEvent::BroadcastScheduled {
            scheduled_at: t(60),
            at: t(4),
        }],
    )
    .await;
    h.fold(2).await;
    assert_eq!(
        get_broadcast(&h.db, ws, b1).await.unwrap().unwrap().status,
        BroadcastStatus::Scheduled
    );
    assert_eq!(
        due_scheduled_broadcasts(&h.db, t(59)).await.unwrap(),
        vec![]
    );
    assert_eq!(
        due_scheduled_broadcasts(&h.db, t(60)).await.unwrap(),
        vec![(ws, b1)]
    );
    h.broadcast(
        b1,
        &[
            BroadcastEvent::BroadcastScheduleCancelled { at: t(5) },
            BroadcastEvent::BroadcastScheduled {
                scheduled_at: t(60),
                at: t(6),
            },
            BroadcastEvent::BroadcastStarted {
                template: snapshot(template_id),
                skipped: vec![SkippedRecipient {
                    phone: phone(D),
                    reason: SkipReason::OptedOut,
                }],
                audience: 5,
                trigger: StartTrigger::Schedule,
                at: t(60),
            },
        ],
    )
    .await;
    h.fold(2).await;
    let view = get_broadcast(&h.db, ws, b1).await.unwrap().unwrap();
    assert_eq!(view.status, BroadcastStatus::Sending);
    assert_eq!(
        (view.scheduled_at, view.started_at, view.template_id),
        (Some(t(60)), Some(t(60)), Some(template_id))
    );
    assert_eq!(view.counts(), counts(6, [5, 0, 0, 0, 0, 1]));
    assert_eq!(
        due_scheduled_broadcasts(&h.db, t(61)).await.unwrap(),
        vec![]
    );
    assert_eq!(
        running_broadcasts_of_number(&h.db, number).await.unwrap(),
        vec![(ws, b1)]
    );
    assert!(sending_broadcasts_with_nothing_pending(&h.db)
        .await
        .unwrap()
        .is_empty());
    let skipped = h.recipient(ws, b1, D).await;
    assert_eq!(skipped.status, RecipientStatus::Skipped);
    assert_eq!(skipped.skip_reason.as_deref(), Some("OPTED_OUT"));
    assert_eq!(
        skipped.error.as_deref(),
        Some("skipped: the contact opted out")
    );
    assert_eq!(skipped.message_id, None);
    for r in h.recipients(ws, b1).await.iter().filter(|r| r.phone != D) {
        assert_eq!(r.status, RecipientStatus::Pending);
        assert_eq!(
            r.message_id,
            Some(broadcast_message_id(b1, &phone(&r.phone), 0).0)
        );
    }

    // The messages, recorded on each recipient's conversation by the real aggregate.
    let message = |raw: &str, round: u32| broadcast_message_id(b1, &phone(raw), round);
    let send = |raw: &str, round: u32, outcome: Result<Wamid, MetaFailure>| {
        ConversationCommand::RecordBroadcastSend {
            message_id: message(raw, round),
            broadcast_id: b1,
            content: content(),
            phone_number_id: number,
            customer_wa_id: phone(raw).wa_id().to_string(),
            outcome,
        }
    };
    let status = |raw: &str, round: u32, w: &str, status: ReportedStatus, at| {
        ConversationCommand::RecordDeliveryStatus {
            wamid: wamid(w),
            message_id: Some(message(raw, round)),
            status,
            at,
        }
    };
    // A: sent, delivered, read.
    h.converse(
        ws,
        number,
        &phone(A),
        t(61),
        send(A, 0, Ok(wamid("wamid.A0"))),
    )
    .await;
    h.converse(
        ws,
        number,
        &phone(A),
        t(62),
        status(A, 0, "wamid.A0", ReportedStatus::Delivered, t(62)),
    )
    .await;
    h.fold(2).await;
    assert_eq!(
        get_broadcast(&h.db, ws, b1)
            .await
            .unwrap()
            .unwrap()
            .counts(),
        counts(6, [4, 0, 1, 0, 0, 1])
    );
    h.converse(
        ws,
        number,
        &phone(A),
        t(63),
        status(A, 0, "wamid.A0", ReportedStatus::Read, t(63)),
    )
    .await;
    // C: read reported before delivered.
    h.converse(
        ws,
        number,
        &phone(C),
        t(61),
        send(C, 0, Ok(wamid("wamid.C0"))),
    )
    .await;
    h.converse(
        ws,
        number,
        &phone(C),
        t(64),
        status(C, 0, "wamid.C0", ReportedStatus::Read, t(64)),
    )
    .await;
    // The aggregate keeps a delivery reported after the read to itself; were such an event in
    // the log, it would fill in the time only.
    assert!(
        !h.converse_any(
            ws,
            number,
            &phone(C),
            t(64),
            status(C, 0, "wamid.C0", ReportedStatus::Delivered, t(63)),
        )
        .await
    );
    h.append(
        "conversation",
        conversation_id(number, phone(C).wa_id()),
        &[ConversationEvent::MessageDelivered {
            message_id: message(C, 0),
            wamid: wamid("wamid.C0"),
            at: t(63),
        }],
    )
    .await;
    // E: delivered, then a failure from another device, which does not undo the delivery.
    h.converse(
        ws,
        number,
        &phone(E),
        t(61),
        send(E, 0, Ok(wamid("wamid.E0"))),
    )
    .await;
    h.converse(
        ws,
        number,
        &phone(E),
        t(65),
        status(E, 0, "wamid.E0", ReportedStatus::Delivered, t(65)),
    )
    .await;
    h.converse(
        ws,
        number,
        &phone(E),
        t(66),
        status(
            E,
            0,
            "wamid.E0",
            ReportedStatus::Failed(failure(131026, "Message undeliverable")),
            t(66),
        ),
    )
    .await;
    // F: Meta refused the send.
    h.converse(
        ws,
        number,
        &phone(F),
        t(61),
        send(
            F,
            0,
            Err(failure(131049, "Not delivered to maintain ecosystem")),
        ),
    )
    .await;
    // G: its delivery was reported before the send was recorded (held, then applied).
    h.converse(
        ws,
        number,
        &phone(G),
        t(62),
        ConversationCommand::HoldEarlyDeliveryStatus {
            phone_number_id: number,
            customer_wa_id: phone(G).wa_id().to_string(),
            wamid: wamid("wamid.G0"),
            message_id: message(G, 0),
            status: ReportedStatus::Delivered,
            at: t(62),
        },
    )
    .await;
    h.converse(
        ws,
        number,
        &phone(G),
        t(63),
        send(G, 0, Ok(wamid("wamid.G0"))),
    )
    .await;
    // A message that is no broadcast's changes nothing.
    let plain = MessageId(Uuid::new_v4());
    h.converse(
        ws,
        number,
        &phone(A),
        t(67),
        ConversationCommand::QueueMessage {
            message_id: plain,
            content: content(),
            reply_to: None,
            recipient: RecipientStanding::default(),
            phone_number_id: number,
            customer_wa_id: phone(A).wa_id().to_string(),
        },
    )
    .await;
    h.converse(
        ws,
        number,
        &phone(A),
        t(68),
        ConversationCommand::RecordSendAccepted {
            message_id: plain,
            wamid: wamid("wamid.PLAIN"),
        },
    )
    .await;
    h.fold(3).await;
    h.assert_counts_exact().await;

    let view = get_broadcast(&h.db, ws, b1).await.unwrap().unwrap();
    assert_eq!(view.counts(), counts(6, [0, 0, 2, 2, 1, 1]));
    assert_eq!(view.last_event_at, t(66));
    assert_eq!(
        view.updated_at,
        t(60),
        "message events are not the broadcast's"
    );
    let a = h.recipient(ws, b1, A).await;
    assert_eq!(a.status, RecipientStatus::Read);
    assert_eq!(a.wamid.as_deref(), Some("wamid.A0"));
    assert_eq!(
        (a.sent_at, a.delivered_at, a.read_at, a.failed_at),
        (Some(t(61)), Some(t(62)), Some(t(63)), None)
    );
    let c = h.recipient(ws, b1, C).await;
    assert_eq!(c.status, RecipientStatus::Read);
    assert_eq!((c.delivered_at, c.read_at), (Some(t(63)), Some(t(64))));
    let e = h.recipient(ws, b1, E).await;
    assert_eq!(e.status, RecipientStatus::Delivered);
    assert_eq!((e.delivered_at, e.failed_at), (Some(t(65)), Some(t(66))));
    assert_eq!(e.error.as_deref(), Some("131026: Message undeliverable"));
    let f = h.recipient(ws, b1, F).await;
    assert_eq!(f.status, RecipientStatus::Failed);
    assert_eq!(
        (f.wamid.as_deref(), f.failed_at, f.error_code),
        (None, Some(t(61)), Some(131049))
    );
    assert_eq!(
        f.error.as_deref(),
        Some("131049: Not delivered to maintain ecosystem")
    );
    let g = h.recipient(ws, b1, G).await;
    assert_eq!(g.status, RecipientStatus::Delivered);
    assert_eq!(
        (g.wamid.as_deref(), g.sent_at, g.delivered_at),
        (Some("wamid.G0"), Some(t(63)), Some(t(62)))
    );

    // Nothing is pending: the completion check finds it, with the funnel.
    let finished = sending_broadcasts_with_nothing_pending(&h.db)
        .await
        .unwrap();
    assert_eq!(finished.len(), 1);
    let (found_ws, found, found_counts) = finished[0];
    assert_eq!((found_ws, found), (ws, b1));
    assert_eq!(
        found_counts.funnel(),
        BroadcastCounts {
            total: 6,
            sent: 4,
            delivered: 4,
            read: 2,
            failed: 1,
            skipped: 1,
        }
    );
    assert_eq!(
        failed_recipient_phones(&h.db, ws, b1).await.unwrap(),
        vec![phone(F)]
    );
    assert_eq!(
        failed_recipient_phones(&h.db, other, b1).await.unwrap(),
        vec![]
    );

    // Filters and pages of recipients, in insertion order.
    let page = |status, limit, skip| list_recipients(&h.db, ws, b1, status, limit, skip);
    let (rows, total) = page(None, 2, 1).await.unwrap();
    assert_eq!((phones(&rows), total), (vec![C, D], 6));
    let (rows, total) = page(Some("delivered"), 10, 0).await.unwrap();
    assert_eq!((phones(&rows), total), (vec![E, G], 2));
    let (rows, total) = page(Some("read"), 1, 1).await.unwrap();
    assert_eq!((phones(&rows), total), (vec![C], 2));
    let (rows, total) = page(Some("sent"), 10, 0).await.unwrap();
    assert_eq!((rows.len(), total), (0, 0));
    let (rows, total) = list_recipients(&h.db, other, b1, None, 10, 0)
        .await
        .unwrap();
    assert_eq!(
        (rows.len(), total),
        (0, 0),
        "another workspace sees nothing"
    );

    // Paused by Meta's quality rating; the failed recipient gets a new message (round 1) while
    // paused; resumed; that message is delivered; a late status of the old message is ignored.
    h.broadcast(
        b1,
        &[BroadcastEvent::BroadcastPaused {
            reason: PauseReason::QualityRed,
            at: t(70),
        }],
    )
    .await;
    h.fold(2).await;
    let view = get_broadcast(&h.db, ws, b1).await.unwrap().unwrap();
    assert_eq!(view.status, BroadcastStatus::Paused);
    assert_eq!(
        view.pause_reason.as_deref(),
        Some("paused because Meta rated the phone number's quality RED")
    );
    assert_eq!(view.pause_code.as_deref(), Some("QUALITY_RED"));
    assert_eq!(
        running_broadcasts_of_number(&h.db, number).await.unwrap(),
        vec![]
    );
    h.broadcast(
        b1,
        &[
            BroadcastEvent::BroadcastFailedRecipientsRetried {
                round: 1,
                phones: vec![phone(F)],
                at: t(71),
            },
            BroadcastEvent::BroadcastResumed { at: t(72) },
        ],
    )
    .await;
    h.fold(1).await;
    let view = get_broadcast(&h.db, ws, b1).await.unwrap().unwrap();
    assert_eq!(
        (view.status, view.round, view.pause_reason.clone()),
        (BroadcastStatus::Sending, 1, None)
    );
    assert_eq!(view.counts(), counts(6, [1, 0, 2, 2, 0, 1]));
    let f = h.recipient(ws, b1, F).await;
    assert_eq!(
        (f.status, f.round, f.message_id),
        (RecipientStatus::Pending, 1, Some(message(F, 1).0))
    );
    assert_eq!((f.error, f.error_code, f.failed_at), (None, None, None));
    h.converse(
        ws,
        number,
        &phone(F),
        t(73),
        send(F, 1, Ok(wamid("wamid.F1"))),
    )
    .await;
    h.converse(
        ws,
        number,
        &phone(F),
        t(74),
        status(F, 1, "wamid.F1", ReportedStatus::Delivered, t(74)),
    )
    .await;
    // Round 0's message, refused by Meta, is reported read: it is not F's message any more.
    h.append(
        "conversation",
        conversation_id(number, phone(F).wa_id()),
        &[ConversationEvent::MessageRead {
            message_id: message(F, 0),
            wamid: wamid("wamid.F0"),
            at: t(75),
        }],
    )
    .await;
    h.fold(2).await;
    let f = h.recipient(ws, b1, F).await;
    assert_eq!(
        (
            f.status,
            f.wamid.as_deref(),
            f.sent_at,
            f.delivered_at,
            f.read_at
        ),
        (
            RecipientStatus::Delivered,
            Some("wamid.F1"),
            Some(t(73)),
            Some(t(74)),
            None
        )
    );
    h.assert_counts_exact().await;
    assert_eq!(
        get_broadcast(&h.db, ws, b1)
            .await
            .unwrap()
            .unwrap()
            .counts(),
        counts(6, [0, 0, 3, 2, 0, 1])
    );

    // Completed; a retry after completion sends again.
    h.broadcast(
        b1,
        &[BroadcastEvent::BroadcastCompleted {
            status: BroadcastStatus::Completed,
            counts: BroadcastCounts::default(),
            at: t(80),
        }],
    )
    .await;
    h.fold(2).await;
    let view = get_broadcast(&h.db, ws, b1).await.unwrap().unwrap();
    assert_eq!(
        (view.status, view.completed_at),
        (BroadcastStatus::Completed, Some(t(80)))
    );
    h.broadcast(
        b1,
        &[BroadcastEvent::BroadcastFailedRecipientsRetried {
            round: 2,
            phones: vec![phone(E)],
            at: t(81),
        }],
    )
    .await;
    h.fold(2).await;
    let view = get_broadcast(&h.db, ws, b1).await.unwrap().unwrap();
    assert_eq!(
        (view.status, view.completed_at, view.round),
        (BroadcastStatus::Sending, None, 2)
    );
    assert_eq!(view.counts(), counts(6, [1, 0, 2, 2, 0, 1]));
    let e = h.recipient(ws, b1, E).await;
    assert_eq!(
        (e.status, e.message_id, e.wamid, e.delivered_at, e.error),
        (
            RecipientStatus::Pending,
            Some(message(E, 2).0),
            None,
            None,
            None
        )
    );

    // Other broadcasts: one scheduled then cancelled then deleted, another workspace's, a draft.
    h.broadcast(
        b2,
        &[
            created(ws, number, "Doomed", t(2)),
            BroadcastEvent::BroadcastRecipientsAdded {
                recipients: vec![recipient(A, None, "Ada")],
                at: t(2),
            },
            BroadcastEvent::BroadcastScheduled {
                scheduled_at: t(90),
                at: t(3),
            },
            BroadcastEvent::BroadcastCancelled { at: t(4) },
        ],
    )
    .await;
    h.broadcast(
        b3,
        &[
            created(other, other_number, "Theirs", t(9)),
            BroadcastEvent::BroadcastRecipientsAdded {
                recipients: vec![recipient(A, None, "Ada")],
                at: t(9),
            },
        ],
    )
    .await;
    h.broadcast(b4, &[created(ws, second_number, "Later", t(5))])
        .await;
    h.fold(4).await;
    let view = get_broadcast(&h.db, ws, b2).await.unwrap().unwrap();
    assert_eq!(
        (view.status, view.scheduled_at),
        (BroadcastStatus::Cancelled, None)
    );
    let list = |status, limit, skip| list_broadcasts(&h.db, ws, None, status, limit, skip);
    let ids = |page: &(Vec<projections::broadcasts::BroadcastView>, i64)| {
        (
            page.0.iter().map(|b| b.broadcast_id).collect::<Vec<_>>(),
            page.1,
        )
    };
    assert_eq!(
        ids(&list(None, 10, 0).await.unwrap()),
        (vec![b4, b2, b1], 3)
    );
    assert_eq!(ids(&list(None, 1, 1).await.unwrap()), (vec![b2], 3));
    let of_number = |number| list_broadcasts(&h.db, ws, Some(number), None, 10, 0);
    assert_eq!(ids(&of_number(number).await.unwrap()), (vec![b2, b1], 2));
    assert_eq!(ids(&of_number(second_number).await.unwrap()), (vec![b4], 1));
    assert_eq!(ids(&of_number(other_number).await.unwrap()), (vec![], 0));
    assert_eq!(
        ids(&list(Some("draft"), 10, 0).await.unwrap()),
        (vec![b4], 1)
    );
    assert_eq!(
        ids(&list(Some("sending"), 10, 0).await.unwrap()),
        (vec![b1], 1)
    );
    assert_eq!(
        ids(&list_broadcasts(&h.db, other, None, None, 10, 0)
            .await
            .unwrap()),
        (vec![b3], 1)
    );
    assert!(get_broadcast(&h.db, ws, b3).await.unwrap().is_none());
    assert!(recipient_summary(&h.db, ws, b3).await.unwrap().is_none());
    assert_eq!(h.summary(other, b3).await, counts(1, [1, 0, 0, 0, 0, 0]));

    h.broadcast(b2, &[BroadcastEvent::BroadcastDeleted { at: t(10) }])
        .await;
    h.fold(4).await;
    assert!(get_broadcast(&h.db, ws, b2).await.unwrap().is_none());
    assert_eq!(ids(&list(None, 10, 0).await.unwrap()), (vec![b4, b1], 2));
    let left: i64 =
        h.db.query_one(
            "SELECT count(*) FROM broadcast_recipients WHERE broadcast_id = $1",
            &[&b2],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
    h.assert_counts_exact().await;

    // A rebuild from the first event (in batches of another size) reproduces every row.
    let before = h.dump().await;
    let folded = h
        .projector
        .rebuild(Some("broadcasts"), |_| {})
        .await
        .unwrap();
    assert!(folded > 0);
    assert_eq!(h.dump().await, before);
}

/// A small deterministic generator (xorshift), so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// The status a recipient ends with after `events`, by rank.
fn expected_status(events: &[ConversationEvent]) -> RecipientStatus {
    events
        .iter()
        .map(|e| match e {
            ConversationEvent::MessageAcceptedByMeta { .. } => RecipientStatus::Sent,
            ConversationEvent::MessageDelivered { .. } => RecipientStatus::Delivered,
            ConversationEvent::MessageRead { .. } => RecipientStatus::Read,
            ConversationEvent::MessageFailed { .. } => RecipientStatus::Failed,
            _ => RecipientStatus::Pending,
        })
        .max_by_key(|s| s.rank())
        .unwrap_or(RecipientStatus::Pending)
}

/// One recipient's message history: one of the orders the Conversation aggregate can record.
fn history(
    rng: &mut Rng,
    message: MessageId,
    n: usize,
    at: DateTime<Utc>,
) -> Vec<ConversationEvent> {
    let w = wamid(&format!("wamid.R{n}"));
    let accepted = ConversationEvent::MessageAcceptedByMeta {
        message_id: message,
        wamid: w.clone(),
        at,
    };
    let delivered = ConversationEvent::MessageDelivered {
        message_id: message,
        wamid: w.clone(),
        at: at + TimeDelta::seconds(1),
    };
    let read = ConversationEvent::MessageRead {
        message_id: message,
        wamid: w.clone(),
        at: at + TimeDelta::seconds(2),
    };
    let failed = |with_wamid: bool| ConversationEvent::MessageFailed {
        message_id: message,
        wamid: with_wamid.then(|| w.clone()),
        failure: failure(131026, "Message undeliverable"),
        at: at + TimeDelta::seconds(3),
    };
    match rng.below(8) {
        0 => vec![],
        1 => vec![accepted],
        2 => vec![failed(false)],
        3 => vec![accepted, delivered],
        4 => vec![accepted, delivered, read],
        5 => vec![accepted, read, delivered],
        6 => vec![accepted, delivered, failed(true)],
        _ => vec![accepted, failed(true), read],
    }
}

#[tokio::test]
async fn counts_stay_exact_for_many_recipients_whatever_the_order_and_batches() {
    let h = Harness::new().await;
    let ws = WorkspaceId(Uuid::new_v4());
    let (number, id) = (Uuid::new_v4(), Uuid::new_v4());
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    const N: usize = 2500;
    let numbers: Vec<String> = (0..N)
        .map(|i| format!("+1650{:07}", 1_000_000 + i))
        .collect();
    let mut events = vec![created(ws, number, "Big", t(0))];
    for chunk in numbers.chunks(1000) {
        events.push(BroadcastEvent::BroadcastRecipientsAdded {
            recipients: chunk.iter().map(|p| recipient(p, None, "x")).collect(),
            at: t(1),
        });
    }
    let skipped: Vec<usize> = (0..N).filter(|i| i % 357 == 5).collect();
    events.push(BroadcastEvent::BroadcastStarted {
        template: snapshot(Uuid::new_v4()),
        skipped: skipped
            .iter()
            .map(|&i| SkippedRecipient {
                phone: phone(&numbers[i]),
                reason: SkipReason::InvalidVariables {
                    detail: "variable 1 is missing".into(),
                },
            })
            .collect(),
        audience: (N - skipped.len()) as u32,
        trigger: StartTrigger::Manual,
        at: t(2),
    });
    h.broadcast(id, &events).await;

    // Every recipient's history, interleaved at random across recipients (each in its order),
    // with statuses of messages that are no broadcast's among them, written in transactions
    // of random sizes.
    let mut histories: Vec<Vec<ConversationEvent>> = (0..N)
        .map(|i| {
            if skipped.contains(&i) {
                return vec![];
            }
            let message = broadcast_message_id(id, &phone(&numbers[i]), 0);
            history(&mut rng, message, i, t(3))
        })
        .collect();
    let mut expected: Vec<RecipientStatus> = histories
        .iter()
        .enumerate()
        .map(|(i, events)| {
            if skipped.contains(&i) {
                RecipientStatus::Skipped
            } else {
                expected_status(events)
            }
        })
        .collect();
    let conversations: Vec<Uuid> = (0..N).map(|_| Uuid::new_v4()).collect();
    let mut queue: Vec<(Uuid, ConversationEvent)> = Vec::new();
    let mut next: Vec<usize> = vec![0; N];
    let mut open: Vec<usize> = (0..N).filter(|&i| !histories[i].is_empty()).collect();
    while !open.is_empty() {
        let k = rng.below(open.len());
        let i = open[k];
        queue.push((conversations[i], histories[i][next[i]].clone()));
        next[i] += 1;
        if next[i] == histories[i].len() {
            open.swap_remove(k);
        }
        if rng.below(10) == 0 {
            queue.push((
                Uuid::new_v4(),
                ConversationEvent::MessageDelivered {
                    message_id: MessageId(Uuid::new_v4()),
                    wamid: wamid("wamid.OTHER"),
                    at: t(4),
                },
            ));
        }
    }
    let mut rest = &queue[..];
    while !rest.is_empty() {
        let take = (1 + rng.below(400)).min(rest.len());
        let (chunk, tail) = rest.split_at(take);
        let refs: Vec<(Uuid, &ConversationEvent)> = chunk.iter().map(|(c, e)| (*c, e)).collect();
        h.append_many("conversation", &refs).await;
        rest = tail;
    }
    h.fold(97).await;

    let check = |expected: Vec<RecipientStatus>| {
        let h = &h;
        async move {
            h.assert_counts_exact().await;
            let rows = h.recipients(ws, id).await;
            assert_eq!(rows.len(), N);
            let wrong: Vec<(usize, RecipientStatus, RecipientStatus)> = rows
                .iter()
                .zip(&expected)
                .enumerate()
                .filter(|(_, (row, expected))| row.status != **expected)
                .map(|(i, (row, expected))| (i, row.status, *expected))
                .take(10)
                .collect();
            assert_eq!(wrong, vec![], "(recipient, status, expected)");
            let tally = |s| expected.iter().filter(|&&e| e == s).count() as i64;
            assert_eq!(
                h.summary(ws, id).await,
                counts(
                    N as i64,
                    [
                        tally(RecipientStatus::Pending),
                        tally(RecipientStatus::Sent),
                        tally(RecipientStatus::Delivered),
                        tally(RecipientStatus::Read),
                        tally(RecipientStatus::Failed),
                        tally(RecipientStatus::Skipped),
                    ]
                )
            );
        }
    };
    check(expected.clone()).await;
    assert!(expected.contains(&RecipientStatus::Failed));
    assert!(expected.contains(&RecipientStatus::Pending));

    // Retry the failed: pending again with round 1's message; then half of them are delivered
    // and the other half's old messages report a late read, which changes nothing.
    let failed = failed_recipient_phones(&h.db, ws, id).await.unwrap();
    let failed_index: Vec<usize> = (0..N)
        .filter(|&i| expected[i] == RecipientStatus::Failed)
        .collect();
    assert_eq!(
        failed,
        failed_index
            .iter()
            .map(|&i| phone(&numbers[i]))
            .collect::<Vec<_>>()
    );
    h.broadcast(
        id,
        &[BroadcastEvent::BroadcastFailedRecipientsRetried {
            round: 1,
            phones: failed.clone(),
            at: t(10),
        }],
    )
    .await;
    let mut later: Vec<(Uuid, ConversationEvent)> = Vec::new();
    for (k, &i) in failed_index.iter().enumerate() {
        expected[i] = RecipientStatus::Pending;
        let p = phone(&numbers[i]);
        if k % 2 == 0 {
            let message = broadcast_message_id(id, &p, 1);
            histories[i] = vec![
                ConversationEvent::MessageAcceptedByMeta {
                    message_id: message,
                    wamid: wamid(&format!("wamid.S{i}")),
                    at: t(11),
                },
                ConversationEvent::MessageDelivered {
                    message_id: message,
                    wamid: wamid(&format!("wamid.S{i}")),
                    at: t(12),
                },
            ];
            expected[i] = RecipientStatus::Delivered;
            for event in &histories[i] {
                later.push((conversations[i], event.clone()));
            }
        } else {
            later.push((
                conversations[i],
                ConversationEvent::MessageRead {
                    message_id: broadcast_message_id(id, &p, 0),
                    wamid: wamid(&format!("wamid.R{i}")),
                    at: t(13),
                },
            ));
        }
    }
    let refs: Vec<(Uuid, &ConversationEvent)> = later.iter().map(|(c, e)| (*c, e)).collect();
    h.append_many("conversation", &refs).await;
    h.fold(61).await;
    check(expected.clone()).await;
    let view = get_broadcast(&h.db, ws, id).await.unwrap().unwrap();
    assert_eq!((view.round, view.status), (1, BroadcastStatus::Sending));

    // A rebuild folds everything in batches of another size: the same rows.
    let before = h.dump().await;
    h.projector
        .rebuild(Some("broadcasts"), |_| {})
        .await
        .unwrap();
    assert_eq!(h.dump().await, before);
}

//! Tests: the conversations read model (`conversations`, `messages`, `message_status_history`).
//!
//! Events are written through the Conversation aggregate and the real event store (the
//! application's command bus, with the times chosen here), then folded by a projector that runs
//! only this projection, in small batches so that rows written by one batch are loaded by the
//! next. The queries are then checked against what the commands did, and a rebuild must
//! reproduce every row.

use application::{CommandBus, Infrastructure, RequestContext};
use chrono::{DateTime, TimeDelta, Utc};
use domain::conversation::{
    conversation_id, AiAgentChangedBy, Conversation, ConversationCommand, DeliveryStatus,
    Direction, InboundContent, LeadFields, LeadStatus, MessageId, MetaFailure, OutboundContent,
    RecipientStanding, ReportedStatus, TemplateLanguage, TemplateMessage, Wamid,
};
use domain::{Issued, WorkspaceId};
use projections::conversations::{
    get_conversation, list_conversations, ConversationFilter, ConversationPageStart,
    ConversationView, ConversationsProjection,
};
use projections::messages::{
    get_message, list_messages, message_status_history, MessageOrder, MessagePageStart,
    MessageStatus,
};
use projections::{CheckpointWatch, Projector};
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

fn wamid(raw: &str) -> Wamid {
    Wamid::parse(raw).unwrap()
}

fn failure() -> MetaFailure {
    MetaFailure {
        code: 131049,
        title: "Not delivered to maintain healthy ecosystem engagement".into(),
        message: None,
        details: Some("per-user marketing limit".into()),
    }
}

fn template() -> OutboundContent {
    OutboundContent::Template {
        template: TemplateMessage {
            name: "order_update".into(),
            language: TemplateLanguage {
                code: "en_US".into(),
                policy: None,
            },
            components: vec![],
        },
    }
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
        let watch =
            CheckpointWatch::new(pools.queries.clone(), vec!["conversations"], Duration::ZERO);
        let secrets =
            Arc::new(AeadSecretBox::from_encoded_key(&AeadSecretBox::generate_key()).unwrap());
        let infra = PgInfrastructure::new(pools.clone(), secrets, watch.clone());
        let projector = Projector::new(
            pools.queries.clone(),
            vec![Arc::new(ConversationsProjection)],
            watch,
        );
        projector.ensure_checkpoints().await.unwrap();
        Self {
            db: parley_tests::connect(&url).await,
            infra,
            projector,
        }
    }

    /// Runs `command` on conversation `id` through the aggregate and the event store.
    async fn issue(
        &self,
        workspace: WorkspaceId,
        id: Uuid,
        at: DateTime<Utc>,
        command: ConversationCommand,
    ) {
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
        assert!(committed.changed(), "the command changed nothing");
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
                    "SELECT (SELECT (tx_id, position) FROM projection_checkpoints WHERE name = 'conversations') \
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
        panic!("the conversations projection did not reach the end of the log");
    }

    async fn conversation(&self, workspace: WorkspaceId, id: Uuid) -> ConversationView {
        get_conversation(&self.db, workspace, id)
            .await
            .unwrap()
            .expect("the conversation is listed")
    }

    async fn list(&self, workspace: WorkspaceId, filter: ConversationFilter) -> Vec<Uuid> {
        list_conversations(
            &self.db,
            workspace,
            &filter,
            &ConversationPageStart::Skip(0),
            100,
        )
        .await
        .unwrap()
        .conversations
        .iter()
        .map(|c| c.id)
        .collect()
    }

    /// Every row of the three tables, all columns as text, in key order.
    async fn dump(&self) -> Vec<String> {
        let mut rows = Vec::new();
        for (table, key) in [
            ("conversations", "id"),
            ("messages", "message_id"),
            ("message_status_history", "message_id, sequence"),
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

fn inbound(
    phone: Uuid,
    wa_id: &str,
    raw_wamid: &str,
    body: &str,
    sent_at: DateTime<Utc>,
) -> ConversationCommand {
    ConversationCommand::ReceiveInboundMessage {
        wamid: wamid(raw_wamid),
        phone_number_id: phone,
        customer_wa_id: wa_id.into(),
        profile_name: Some("Ada Lovelace".into()),
        content: InboundContent::Text { body: body.into() },
        sent_at,
        context_wamid: None,
    }
}

fn queue(
    phone: Uuid,
    wa_id: &str,
    message_id: MessageId,
    content: OutboundContent,
) -> ConversationCommand {
    ConversationCommand::QueueMessage {
        message_id,
        content,
        reply_to: None,
        recipient: RecipientStanding::default(),
        phone_number_id: phone,
        customer_wa_id: wa_id.into(),
    }
}

fn status(
    raw_wamid: &str,
    message_id: Option<MessageId>,
    status: ReportedStatus,
    at: DateTime<Utc>,
) -> ConversationCommand {
    ConversationCommand::RecordDeliveryStatus {
        wamid: wamid(raw_wamid),
        message_id,
        status,
        at,
    }
}

fn statuses(history: &[projections::messages::StatusChange]) -> Vec<&'static str> {
    history.iter().map(|h| h.status.as_str()).collect()
}

#[tokio::test]
async fn conversations_and_messages_follow_the_events() {
    let h = Harness::new().await;
    let ws = WorkspaceId(Uuid::new_v4());
    let other = WorkspaceId(Uuid::new_v4());
    let (p1, p2, p3) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    // The other read models the view joins: the business number and the customer's contact.
    h.db.execute(
        "INSERT INTO phone_numbers (id, workspace_id, phone_number_id, waba_id, display_phone_number, status, \
                                    has_access_token, created_at, updated_at) \
         VALUES ($1, $2, '100000000000001', '200000000000001', '+15550100001', 'VERIFIED', false, now(), now())",
        &[&p1, &ws.0],
    )
    .await
    .unwrap();
    h.db.execute(
        "INSERT INTO contacts (id, workspace_id, account_id, phone, wa_id, name, is_opted_in, created_at, updated_at) \
         VALUES ($1, $2, $3, '+16505550001', '16505550001', 'Ada Contact', true, now(), now())",
        &[&Uuid::new_v4(), &ws.0, &p1],
    )
    .await
    .unwrap();

    // c1: the customer writes twice; the business reads, the customer writes again, and the
    // business answers (delivered, then a failure that does not undo the delivery).
    let c1 = conversation_id(p1, "16505550001");
    h.issue(
        ws,
        c1,
        t(0),
        inbound(p1, "16505550001", "wamid.IN1", "hello", t(0)),
    )
    .await;
    h.issue(
        ws,
        c1,
        t(10),
        inbound(p1, "16505550001", "wamid.IN2", "need help", t(10)),
    )
    .await;
    h.fold(3).await;
    let view = h.conversation(ws, c1).await;
    assert_eq!((view.unread_count, view.inbound_count), (2, 2));
    assert_eq!(view.last_inbound_at, Some(t(10)));
    h.issue(ws, c1, t(11), ConversationCommand::MarkRead).await;
    h.fold(3).await;
    assert_eq!(h.conversation(ws, c1).await.unread_count, 0);
    h.issue(
        ws,
        c1,
        t(12),
        inbound(p1, "16505550001", "wamid.IN3", "still there?", t(12)),
    )
    .await;
    let out1 = MessageId(Uuid::new_v4());
    h.issue(
        ws,
        c1,
        t(13),
        queue(p1, "16505550001", out1, OutboundContent::text("on it")),
    )
    .await;
    h.issue(
        ws,
        c1,
        t(14),
        ConversationCommand::RecordSendAccepted {
            message_id: out1,
            wamid: wamid("wamid.OUT1"),
        },
    )
    .await;
    h.issue(
        ws,
        c1,
        t(15),
        status("wamid.OUT1", Some(out1), ReportedStatus::Delivered, t(15)),
    )
    .await;
    h.issue(
        ws,
        c1,
        t(16),
        status(
            "wamid.OUT1",
            Some(out1),
            ReportedStatus::Failed(failure()),
            t(16),
        ),
    )
    .await;

    // c2: a template whose statuses arrive before Meta's answer to the send is recorded, read
    // before delivered; the AI agent is switched on and the lead is hot.
    let c2 = conversation_id(p1, "16505550002");
    let out2 = MessageId(Uuid::new_v4());
    h.issue(ws, c2, t(5), queue(p1, "16505550002", out2, template()))
        .await;
    h.issue(
        ws,
        c2,
        t(8),
        status("wamid.OUT2", None, ReportedStatus::Read, t(8)),
    )
    .await;
    h.issue(
        ws,
        c2,
        t(8),
        status("wamid.OUT2", None, ReportedStatus::Delivered, t(7)),
    )
    .await;
    h.fold(3).await;
    let held = get_message(&h.db, ws, out2.0).await.unwrap().unwrap();
    assert_eq!(
        held.message.status,
        MessageStatus::Delivery(DeliveryStatus::Queued)
    );
    assert_eq!(
        statuses(&held.history),
        ["queued"],
        "held statuses have no rows yet"
    );
    h.issue(
        ws,
        c2,
        t(9),
        ConversationCommand::RecordSendAccepted {
            message_id: out2,
            wamid: wamid("wamid.OUT2"),
        },
    )
    .await;
    h.issue(
        ws,
        c2,
        t(6),
        ConversationCommand::SetAiAgent {
            enabled: true,
            changed_by: AiAgentChangedBy::Api,
            reason: Some("night shift".into()),
        },
    )
    .await;
    h.issue(
        ws,
        c2,
        t(6),
        ConversationCommand::UpdateLeadQualification(LeadFields {
            lead_status: Some(LeadStatus::Hot),
            lead_score: Some(88),
            lead_company: Some("BigCorp Ltd".into()),
            raw_data: Some(serde_json::json!({"crm_id": "CRM_789"})),
            ..Default::default()
        }),
    )
    .await;

    // c3, on another number: a template Meta refused; the lead is qualified.
    let c3 = conversation_id(p2, "16505550003");
    let out3 = MessageId(Uuid::new_v4());
    h.issue(ws, c3, t(3), queue(p2, "16505550003", out3, template()))
        .await;
    h.issue(
        ws,
        c3,
        t(4),
        ConversationCommand::RecordSendFailed {
            message_id: out3,
            failure: failure(),
        },
    )
    .await;
    h.issue(
        ws,
        c3,
        t(4),
        ConversationCommand::UpdateLeadQualification(LeadFields {
            lead_status: Some(LeadStatus::Qualified),
            ..Default::default()
        }),
    )
    .await;

    // c5: an unread inbound message at the same time as c2's last message (a tie on the sort key).
    let c5 = conversation_id(p2, "16505550005");
    h.issue(
        ws,
        c5,
        t(5),
        inbound(p2, "16505550005", "wamid.IN5", "price?", t(5)),
    )
    .await;

    // c4: another workspace's conversation, the most recent of all.
    let c4 = conversation_id(p3, "16505550004");
    h.issue(
        other,
        c4,
        t(30),
        inbound(p3, "16505550004", "wamid.IN4", "other", t(30)),
    )
    .await;
    h.fold(3).await;

    // The list: newest last message first, ties by id descending, one workspace only.
    let (first_tied, second_tied) = if c2 > c5 { (c2, c5) } else { (c5, c2) };
    let all = vec![c1, first_tied, second_tied, c3];
    assert_eq!(h.list(ws, ConversationFilter::default()).await, all);
    assert_eq!(h.list(other, ConversationFilter::default()).await, vec![c4]);
    let page = list_conversations(
        &h.db,
        ws,
        &ConversationFilter::default(),
        &ConversationPageStart::Skip(1),
        2,
    )
    .await
    .unwrap();
    assert_eq!(page.total, 4);
    assert_eq!(
        page.conversations.iter().map(|c| c.id).collect::<Vec<_>>(),
        all[1..3]
    );
    let last = page.conversations.last().unwrap();
    let rest = list_conversations(
        &h.db,
        ws,
        &ConversationFilter::default(),
        &ConversationPageStart::After {
            last_message_at: last.last_message_at,
            id: last.id,
        },
        10,
    )
    .await
    .unwrap();
    assert_eq!(
        rest.conversations.iter().map(|c| c.id).collect::<Vec<_>>(),
        all[3..]
    );
    assert_eq!(rest.total, 4, "the total counts every match, not the rest");

    // Filters.
    let by_number = |id| ConversationFilter {
        phone_number_id: Some(id),
        ..Default::default()
    };
    assert_eq!(h.list(ws, by_number(p1)).await, vec![c1, c2]);
    assert_eq!(h.list(ws, by_number(p2)).await, vec![c5, c3]);
    assert_eq!(h.list(ws, by_number(p3)).await, Vec::<Uuid>::new());
    let unread = ConversationFilter {
        unread_only: true,
        ..Default::default()
    };
    assert_eq!(h.list(ws, unread).await, vec![c1, c5]);
    let ai = |on| ConversationFilter {
        ai_agent_on: Some(on),
        ..Default::default()
    };
    assert_eq!(h.list(ws, ai(true)).await, vec![c2]);
    assert_eq!(h.list(ws, ai(false)).await, vec![c1, c5, c3]);
    let lead = |status| ConversationFilter {
        lead_status: Some(status),
        ..Default::default()
    };
    assert_eq!(h.list(ws, lead(LeadStatus::Hot)).await, vec![c2]);
    assert_eq!(h.list(ws, lead(LeadStatus::Qualified)).await, vec![c3]);
    assert_eq!(h.list(ws, lead(LeadStatus::Won)).await, Vec::<Uuid>::new());
    let search = |text: &str| ConversationFilter {
        search: Some(text.into()),
        ..Default::default()
    };
    assert_eq!(h.list(ws, search("ada contact")).await, vec![c1]);
    assert_eq!(h.list(ws, search("bigcorp")).await, vec![c2]);
    assert_eq!(h.list(ws, search("+16505550003")).await, vec![c3]);
    assert_eq!(h.list(ws, search("lovelace")).await, vec![c1, c5]);
    assert_eq!(h.list(ws, search("100%")).await, Vec::<Uuid>::new());

    // One conversation: joins, window, counts, AI agent and lead fields.
    let view = h.conversation(ws, c1).await;
    assert_eq!(view.business_phone_number.as_deref(), Some("+15550100001"));
    assert_eq!(view.contact_name.as_deref(), Some("Ada Contact"));
    assert_eq!(view.customer_profile_name.as_deref(), Some("Ada Lovelace"));
    assert_eq!(view.customer_wa_id, "16505550001");
    assert_eq!((view.started_at, view.last_message_at), (t(0), t(13)));
    assert_eq!(view.last_message_id, Some(out1.0));
    assert_eq!(view.last_message_direction, Some(Direction::Outbound));
    assert_eq!(view.last_message_kind.as_deref(), Some("text"));
    assert_eq!(view.last_message_preview.as_deref(), Some("on it"));
    assert_eq!(view.unread_count, 1);
    assert_eq!(
        (
            view.inbound_count,
            view.outbound_count,
            view.message_count()
        ),
        (3, 1, 4)
    );
    assert_eq!(view.last_inbound_at, Some(t(12)));
    assert_eq!(view.window_closes_at(), Some(t(12 + 24 * 60)));
    assert!(view.window_open_at(t(12 + 24 * 60 - 1)));
    assert!(!view.window_open_at(t(12 + 24 * 60)));
    assert_eq!(view.updated_at, t(16));
    let c2_view = h.conversation(ws, c2).await;
    assert!(c2_view.ai_agent.is_ai_agent_on);
    assert_eq!(
        c2_view.ai_agent.ai_agent_enabled_by,
        Some(AiAgentChangedBy::Api)
    );
    assert_eq!(c2_view.ai_agent.ai_agent_enabled_at, Some(t(6)));
    assert_eq!(
        c2_view.lead_qualification.fields.lead_status,
        Some(LeadStatus::Hot)
    );
    assert_eq!(c2_view.lead_qualification.fields.lead_score, Some(88));
    assert_eq!(
        c2_view.lead_qualification.fields.raw_data,
        Some(serde_json::json!({"crm_id": "CRM_789"}))
    );
    assert_eq!(c2_view.lead_qualification.raw_data_stored_at, Some(t(6)));
    assert_eq!(
        c2_view.last_message_preview, None,
        "templates carry no text"
    );
    assert_eq!(c2_view.window_closes_at(), None);
    assert_eq!(
        c2_view.business_phone_number.as_deref(),
        Some("+15550100001")
    );
    assert_eq!(c2_view.contact_name, None);
    assert!(get_conversation(&h.db, other, c1).await.unwrap().is_none());
    assert!(get_conversation(&h.db, ws, c4).await.unwrap().is_none());

    // Messages of c1, both ways, in chat order.
    let inbound_ids: Vec<Uuid> = ["wamid.IN1", "wamid.IN2", "wamid.IN3"]
        .iter()
        .map(|w| MessageId::for_inbound(&wamid(w)).0)
        .collect();
    let chat: Vec<Uuid> = inbound_ids.iter().copied().chain([out1.0]).collect();
    let oldest = list_messages(
        &h.db,
        ws,
        c1,
        MessageOrder::OldestFirst,
        &MessagePageStart::Skip(0),
        10,
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(oldest.total, 4);
    assert_eq!(
        oldest
            .messages
            .iter()
            .map(|m| m.message_id)
            .collect::<Vec<_>>(),
        chat
    );
    let newest = list_messages(
        &h.db,
        ws,
        c1,
        MessageOrder::NewestFirst,
        &MessagePageStart::Skip(1),
        2,
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(
        newest
            .messages
            .iter()
            .map(|m| m.message_id)
            .collect::<Vec<_>>(),
        vec![chat[2], chat[1]]
    );
    let after = &newest.messages[1];
    let older = list_messages(
        &h.db,
        ws,
        c1,
        MessageOrder::NewestFirst,
        &MessagePageStart::After {
            created_at: after.created_at,
            message_id: after.message_id,
        },
        10,
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(
        older
            .messages
            .iter()
            .map(|m| m.message_id)
            .collect::<Vec<_>>(),
        vec![chat[0]]
    );
    let first = &oldest.messages[0];
    assert_eq!(first.direction, Direction::Inbound);
    assert_eq!(first.status, MessageStatus::Received);
    assert_eq!(first.wamid.as_deref(), Some("wamid.IN1"));
    assert_eq!(
        (first.kind.as_str(), first.text.as_deref()),
        ("text", Some("hello"))
    );
    assert_eq!(
        first.content,
        serde_json::json!({"type": "text", "body": "hello"})
    );
    assert!(list_messages(
        &h.db,
        other,
        c1,
        MessageOrder::OldestFirst,
        &MessagePageStart::Skip(0),
        10
    )
    .await
    .unwrap()
    .is_none());

    // Statuses: a failure after delivery is recorded but the status stays delivered.
    let detail = get_message(&h.db, ws, out1.0).await.unwrap().unwrap();
    let message = &detail.message;
    assert_eq!(
        message.status,
        MessageStatus::Delivery(DeliveryStatus::Delivered)
    );
    assert_eq!(message.wamid.as_deref(), Some("wamid.OUT1"));
    assert_eq!(
        message.content,
        serde_json::to_value(OutboundContent::text("on it")).unwrap()
    );
    assert_eq!(
        (
            message.created_at,
            message.sent_at,
            message.delivered_at,
            message.failed_at,
            message.read_at
        ),
        (t(13), Some(t(14)), Some(t(15)), Some(t(16)), None)
    );
    assert_eq!(message.failure, Some(failure()));
    assert_eq!(message.status_at(), t(15));
    assert_eq!(
        statuses(&detail.history),
        ["queued", "sent", "delivered", "failed"]
    );
    assert_eq!(detail.history[3].failure, Some(failure()));
    assert_eq!(detail.history[3].at, t(16));
    assert!(detail
        .history
        .windows(2)
        .all(|w| w[0].sequence < w[1].sequence));
    assert!(get_message(&h.db, other, out1.0).await.unwrap().is_none());

    // Out of order: read and delivered were held, then applied after the acceptance.
    let detail = get_message(&h.db, ws, out2.0).await.unwrap().unwrap();
    let message = &detail.message;
    assert_eq!(
        message.status,
        MessageStatus::Delivery(DeliveryStatus::Read)
    );
    assert_eq!(
        (message.sent_at, message.delivered_at, message.read_at),
        (Some(t(9)), Some(t(7)), Some(t(8)))
    );
    assert_eq!(message.kind, "template");
    assert_eq!(
        statuses(&detail.history),
        ["queued", "sent", "delivered", "read"]
    );

    // A refused send.
    let detail = get_message(&h.db, ws, out3.0).await.unwrap().unwrap();
    assert_eq!(
        detail.message.status,
        MessageStatus::Delivery(DeliveryStatus::Failed)
    );
    assert_eq!(detail.message.wamid, None);
    assert_eq!(detail.message.status_at(), t(4));
    assert_eq!(statuses(&detail.history), ["queued", "failed"]);

    // Histories in bulk, scoped to the workspace.
    let c4_message = MessageId::for_inbound(&wamid("wamid.IN4")).0;
    let histories = message_status_history(
        &h.db,
        ws,
        &[out1.0, out2.0, inbound_ids[0], c4_message, Uuid::new_v4()],
    )
    .await
    .unwrap();
    let mut keys: Vec<Uuid> = histories.keys().copied().collect();
    keys.sort();
    let mut expected = vec![out1.0, out2.0, inbound_ids[0]];
    expected.sort();
    assert_eq!(keys, expected);
    assert_eq!(statuses(&histories[&inbound_ids[0]]), ["received"]);
    assert_eq!(
        statuses(&histories[&out2.0]),
        ["queued", "sent", "delivered", "read"]
    );

    // A rebuild (one transaction, aggregate by aggregate) reproduces every row.
    let before = h.dump().await;
    assert_eq!(
        before
            .iter()
            .filter(|r| r.starts_with("conversations:"))
            .count(),
        5
    );
    assert_eq!(
        before.iter().filter(|r| r.starts_with("messages:")).count(),
        8
    );
    let folded = h
        .projector
        .rebuild(Some("conversations"), |_| {})
        .await
        .unwrap();
    assert!(folded > 0);
    assert_eq!(h.dump().await, before);
}

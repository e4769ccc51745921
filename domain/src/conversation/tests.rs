//! Tests of the Conversation aggregate (given/when/then with cqrs-es's `TestFramework`) and of its
//! value objects against Meta's own sample payloads (`fixtures/`, copied unchanged from
//! `shared/meta/fixtures`; provenance in its `SOURCES.md`).

use super::*;
use crate::{Issued, WorkspaceId};
use chrono::{DateTime, TimeDelta, Utc};
use cqrs_es::test::TestFramework;
use cqrs_es::{Aggregate, DomainEvent};
use serde_json::{json, Value};
use std::path::PathBuf;
use uuid::Uuid;

type ConversationTest = TestFramework<Conversation>;
type Event = ConversationEvent;
type Command = ConversationCommand;

const WA_ID: &str = "16505551234";

/// `minutes` after the first inbound message of most tests.
fn t(minutes: i64) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-01T10:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
        + TimeDelta::minutes(minutes)
}

fn workspace() -> WorkspaceId {
    WorkspaceId(Uuid::from_u128(1))
}

fn phone() -> Uuid {
    Uuid::from_u128(2)
}

fn issue_at(command: Command, at: DateTime<Utc>) -> Issued<Command> {
    Issued {
        workspace_id: workspace(),
        at,
        command,
    }
}

fn wamid(raw: &str) -> Wamid {
    Wamid::parse(raw).unwrap()
}

fn msg(n: u128) -> MessageId {
    MessageId(Uuid::from_u128(100 + n))
}

fn started() -> Event {
    Event::ConversationStarted {
        workspace_id: workspace(),
        phone_number_id: phone(),
        customer_wa_id: WA_ID.into(),
        at: t(0),
    }
}

fn receive(raw_wamid: &str, sent_at: DateTime<Utc>) -> Command {
    Command::ReceiveInboundMessage {
        wamid: wamid(raw_wamid),
        phone_number_id: phone(),
        customer_wa_id: WA_ID.into(),
        profile_name: Some("Sheena Nelson".into()),
        content: InboundContent::Text { body: "hi".into() },
        sent_at,
        context_wamid: None,
    }
}

/// The event `receive(raw_wamid, sent_at)` records when issued at `sent_at`.
fn received(raw_wamid: &str, sent_at: DateTime<Utc>) -> Event {
    Event::InboundMessageReceived {
        message_id: MessageId::for_inbound(&wamid(raw_wamid)),
        wamid: wamid(raw_wamid),
        profile_name: Some("Sheena Nelson".into()),
        content: InboundContent::Text { body: "hi".into() },
        sent_at,
        context_wamid: None,
        at: sent_at,
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
            components: vec![
                json!({"type": "body", "parameters": [{"type": "text", "text": "42"}]}),
            ],
        },
    }
}

fn queue(message_id: MessageId, content: OutboundContent) -> Command {
    queue_full(
        message_id,
        content,
        None,
        RecipientStanding::default(),
        WA_ID,
    )
}

fn queue_full(
    message_id: MessageId,
    content: OutboundContent,
    reply_to: Option<MessageId>,
    recipient: RecipientStanding,
    customer_wa_id: &str,
) -> Command {
    Command::QueueMessage {
        message_id,
        content,
        reply_to,
        recipient,
        phone_number_id: phone(),
        customer_wa_id: customer_wa_id.into(),
    }
}

fn queue_reply(message_id: MessageId, reply_to: MessageId) -> Command {
    let content = OutboundContent::text("thanks");
    queue_full(
        message_id,
        content,
        Some(reply_to),
        RecipientStanding::default(),
        WA_ID,
    )
}

fn queued(message_id: MessageId, content: OutboundContent, at: DateTime<Utc>) -> Event {
    Event::MessageQueued {
        message_id,
        content,
        reply_to: None,
        phone_number_id: phone(),
        customer_wa_id: WA_ID.into(),
        broadcast_id: None,
        at,
    }
}

fn accepted(message_id: MessageId, raw_wamid: &str, at: DateTime<Utc>) -> Event {
    Event::MessageAcceptedByMeta {
        message_id,
        wamid: wamid(raw_wamid),
        at,
    }
}

fn status(raw_wamid: &str, status: ReportedStatus, at: DateTime<Utc>) -> Command {
    Command::RecordDeliveryStatus {
        wamid: wamid(raw_wamid),
        message_id: None,
        status,
        at,
    }
}

fn failure(code: i64) -> MetaFailure {
    MetaFailure {
        code,
        title: "Message undeliverable".into(),
        message: None,
        details: None,
    }
}

/// A conversation where the customer wrote at t(0) and we sent message 1 (template) as wamid.OUT1.
fn with_sent_message() -> Vec<Event> {
    vec![
        started(),
        received("wamid.IN1", t(0)),
        queued(msg(1), template(), t(1)),
        accepted(msg(1), "wamid.OUT1", t(2)),
    ]
}

/// The events `command` (issued at `at`) leads to after `given`.
async fn run(
    given: Vec<Event>,
    command: Command,
    at: DateTime<Utc>,
) -> Result<Vec<Event>, ConversationError> {
    ConversationTest::with(())
        .given(given)
        .when_async(issue_at(command, at))
        .await
        .inspect_result()
}

fn fold(events: impl IntoIterator<Item = Event>) -> ConversationState {
    let mut conversation = Conversation::default();
    for event in events {
        conversation.apply(event);
    }
    conversation.state.expect("the conversation started")
}

fn delivery(state: &ConversationState, message_id: MessageId) -> &DeliveryTrack {
    state.messages[&message_id].delivery.as_ref().unwrap()
}

// ---- identity and starting ----

#[test]
fn conversation_ids_are_deterministic_per_phone_number_and_customer() {
    assert_eq!(
        conversation_id(phone(), WA_ID),
        conversation_id(phone(), WA_ID)
    );
    assert_ne!(
        conversation_id(phone(), WA_ID),
        conversation_id(phone(), "16505550000")
    );
    assert_ne!(
        conversation_id(phone(), WA_ID),
        conversation_id(Uuid::from_u128(3), WA_ID)
    );
    assert_eq!(conversation_id(phone(), WA_ID).get_version_num(), 5);
    let inbound = wamid("wamid.A");
    assert_eq!(
        MessageId::for_inbound(&inbound),
        MessageId::for_inbound(&inbound)
    );
}

#[tokio::test]
async fn a_template_starts_a_conversation() {
    ConversationTest::with(())
        .given_no_previous_events()
        .when_async(issue_at(queue(msg(1), template()), t(0)))
        .await
        .then_expect_events(vec![started(), queued(msg(1), template(), t(0))]);
}

#[tokio::test]
async fn an_inbound_message_starts_a_conversation() {
    ConversationTest::with(())
        .given_no_previous_events()
        .when_async(issue_at(receive("wamid.IN1", t(0)), t(0)))
        .await
        .then_expect_events(vec![started(), received("wamid.IN1", t(0))]);
}

#[tokio::test]
async fn a_customer_wa_id_must_be_6_to_15_digits() {
    for bad in [
        "+16505551234",
        "12345",
        "1234567890123456",
        "1650555123a",
        "",
    ] {
        let command = queue_full(msg(1), template(), None, RecipientStanding::default(), bad);
        let error = run(vec![], command, t(0)).await.unwrap_err();
        assert_eq!(error, ConversationError::InvalidCustomerWaId(bad.into()));
        assert_eq!(error.code(), "invalid_wa_id");
    }
    for good in ["123456", "123456789012345"] {
        let command = queue_full(msg(1), template(), None, RecipientStanding::default(), good);
        assert!(run(vec![], command, t(0)).await.is_ok(), "{good}");
    }
}

#[tokio::test]
async fn a_command_naming_another_customer_or_number_is_a_mismatch() {
    let other_customer = queue_full(
        msg(1),
        template(),
        None,
        RecipientStanding::default(),
        "16505550000",
    );
    let other_number = Command::ReceiveInboundMessage {
        wamid: wamid("wamid.IN2"),
        phone_number_id: Uuid::from_u128(3),
        customer_wa_id: WA_ID.into(),
        profile_name: None,
        content: InboundContent::Text { body: "x".into() },
        sent_at: t(1),
        context_wamid: None,
    };
    for command in [other_customer, other_number] {
        let error = run(vec![started()], command, t(1)).await.unwrap_err();
        assert_eq!(error, ConversationError::ConversationMismatch);
        assert_eq!(error.code(), "conversation_mismatch");
    }
}

#[tokio::test]
async fn another_workspace_cannot_see_the_conversation() {
    let commands = [
        queue(msg(1), template()),
        receive("wamid.IN2", t(1)),
        Command::MarkRead,
        Command::RecordSendAccepted {
            message_id: msg(1),
            wamid: wamid("wamid.OUT1"),
        },
    ];
    for command in commands {
        let mut issued = issue_at(command, t(1));
        issued.workspace_id = WorkspaceId(Uuid::from_u128(99));
        ConversationTest::with(())
            .given(with_sent_message())
            .when_async(issued)
            .await
            .then_expect_error(ConversationError::NotFound);
    }
}

#[tokio::test]
async fn commands_on_a_conversation_that_does_not_exist_are_not_found() {
    let commands = [
        Command::MarkRead,
        Command::RecordSendAccepted {
            message_id: msg(1),
            wamid: wamid("wamid.OUT1"),
        },
        Command::RecordSendFailed {
            message_id: msg(1),
            failure: failure(131026),
        },
        status("wamid.OUT1", ReportedStatus::Delivered, t(1)),
        Command::SetAiAgent {
            enabled: true,
            changed_by: AiAgentChangedBy::Api,
            reason: None,
        },
        Command::UpdateLeadQualification(LeadFields {
            lead_score: Some(1),
            ..Default::default()
        }),
    ];
    for command in commands {
        let error = run(vec![], command, t(1)).await.unwrap_err();
        assert_eq!(error.code(), "not_found");
    }
}

// ---- the customer-service window ----

#[tokio::test]
async fn free_form_messages_need_a_customer_message_first() {
    ConversationTest::with(())
        .given_no_previous_events()
        .when_async(issue_at(
            queue(msg(1), OutboundContent::text("hello")),
            t(0),
        ))
        .await
        .then_expect_error(ConversationError::WindowClosed);
    ConversationTest::with(())
        .given(vec![started(), queued(msg(1), template(), t(0))])
        .when_async(issue_at(
            queue(msg(2), OutboundContent::text("hello")),
            t(1),
        ))
        .await
        .then_expect_error(ConversationError::WindowClosed);
}

#[tokio::test]
async fn free_form_messages_within_24_hours_are_queued() {
    let content = OutboundContent::text("How can we help?");
    ConversationTest::with(())
        .given(vec![started(), received("wamid.IN1", t(0))])
        .when_async(issue_at(queue(msg(1), content.clone()), t(60)))
        .await
        .then_expect_events(vec![queued(msg(1), content, t(60))]);
}

#[tokio::test]
async fn the_window_is_closed_at_exactly_24_hours() {
    let given = vec![started(), received("wamid.IN1", t(0))];
    let just_before = t(24 * 60) - TimeDelta::seconds(1);
    assert!(run(
        given.clone(),
        queue(msg(1), OutboundContent::text("x")),
        just_before
    )
    .await
    .is_ok());
    ConversationTest::with(())
        .given(given)
        .when_async(issue_at(
            queue(msg(1), OutboundContent::text("x")),
            t(24 * 60),
        ))
        .await
        .then_expect_error(ConversationError::WindowClosed);
}

#[tokio::test]
async fn the_window_runs_from_the_latest_message_sent_even_if_it_arrived_first() {
    let given = vec![
        started(),
        received("wamid.IN2", t(60)),
        received("wamid.IN1", t(0)),
    ];
    assert_eq!(
        fold(given.clone()).window,
        Some(CustomerServiceWindow {
            last_inbound_at: t(60)
        })
    );
    assert!(run(
        given,
        queue(msg(1), OutboundContent::text("x")),
        t(24 * 60 + 30)
    )
    .await
    .is_ok());
}

#[tokio::test]
async fn templates_go_out_any_time() {
    ConversationTest::with(())
        .given(vec![started(), received("wamid.IN1", t(0))])
        .when_async(issue_at(queue(msg(1), template()), t(3 * 24 * 60)))
        .await
        .then_expect_events(vec![queued(msg(1), template(), t(3 * 24 * 60))]);
}

// ---- consent ----

#[tokio::test]
async fn opted_out_and_blocked_recipients_get_nothing_not_even_templates() {
    let given = vec![started(), received("wamid.IN1", t(0))];
    let cases = [
        (
            RecipientStanding {
                opted_out: true,
                blocked: false,
            },
            ConversationError::RecipientOptedOut,
            "recipient_opted_out",
        ),
        (
            RecipientStanding {
                opted_out: false,
                blocked: true,
            },
            ConversationError::RecipientBlocked,
            "recipient_blocked",
        ),
    ];
    for (recipient, expected, code) in cases {
        for content in [template(), OutboundContent::text("hi")] {
            let command = queue_full(msg(1), content, None, recipient, WA_ID);
            let error = run(given.clone(), command, t(1)).await.unwrap_err();
            assert_eq!(error, expected);
            assert_eq!(error.code(), code);
        }
    }
}

// ---- replies and reactions ----

#[tokio::test]
async fn a_reply_to_an_inbound_message_quotes_its_wamid() {
    let inbound = MessageId::for_inbound(&wamid("wamid.IN1"));
    ConversationTest::with(())
        .given(vec![started(), received("wamid.IN1", t(0))])
        .when_async(issue_at(queue_reply(msg(1), inbound), t(1)))
        .await
        .then_expect_events(vec![Event::MessageQueued {
            message_id: msg(1),
            content: OutboundContent::text("thanks"),
            reply_to: Some(ReplyTarget {
                message_id: inbound,
                wamid: wamid("wamid.IN1"),
            }),
            phone_number_id: phone(),
            customer_wa_id: WA_ID.into(),
            broadcast_id: None,
            at: t(1),
        }]);
}

#[tokio::test]
async fn a_reply_to_an_accepted_outbound_message_quotes_its_wamid() {
    let events = run(with_sent_message(), queue_reply(msg(2), msg(1)), t(3))
        .await
        .unwrap();
    let Event::MessageQueued { reply_to, .. } = &events[0] else {
        panic!("{events:?}")
    };
    assert_eq!(
        reply_to,
        &Some(ReplyTarget {
            message_id: msg(1),
            wamid: wamid("wamid.OUT1")
        })
    );
}

#[tokio::test]
async fn a_reply_must_name_a_sent_message_of_this_conversation() {
    ConversationTest::with(())
        .given(vec![started(), received("wamid.IN1", t(0))])
        .when_async(issue_at(queue_reply(msg(2), msg(9)), t(1)))
        .await
        .then_expect_error(ConversationError::UnknownReplyTarget(msg(9)));
    ConversationTest::with(())
        .given(vec![
            started(),
            received("wamid.IN1", t(0)),
            queued(msg(1), template(), t(1)),
        ])
        .when_async(issue_at(queue_reply(msg(2), msg(1)), t(2)))
        .await
        .then_expect_error(ConversationError::ReplyTargetNotSent(msg(1)));
}

#[tokio::test]
async fn a_reaction_must_target_a_message_of_this_conversation() {
    let reaction = |target: &str| OutboundContent::Reaction {
        reaction: ReactionMessage {
            message_id: wamid(target),
            emoji: "👍".into(),
        },
    };
    let error = run(
        with_sent_message(),
        queue(msg(2), reaction("wamid.ELSEWHERE")),
        t(3),
    )
    .await
    .unwrap_err();
    assert_eq!(
        error,
        ConversationError::UnknownReactionTarget(wamid("wamid.ELSEWHERE"))
    );
    assert_eq!(error.code(), "unknown_reaction_target");
    for target in ["wamid.IN1", "wamid.OUT1"] {
        assert!(
            run(with_sent_message(), queue(msg(2), reaction(target)), t(3))
                .await
                .is_ok()
        );
    }
}

// ---- duplicates and content ----

#[tokio::test]
async fn a_message_id_is_queued_once() {
    ConversationTest::with(())
        .given(with_sent_message())
        .when_async(issue_at(queue(msg(1), template()), t(3)))
        .await
        .then_expect_error(ConversationError::DuplicateMessage(msg(1)));
}

#[tokio::test]
async fn invalid_content_is_refused_with_its_own_code() {
    let error = run(
        vec![started(), received("wamid.IN1", t(0))],
        queue(msg(1), OutboundContent::text("x".repeat(4097))),
        t(1),
    )
    .await
    .unwrap_err();
    assert_eq!(
        error,
        ConversationError::InvalidContent(ContentError::TooLong {
            field: "text.body",
            max: 4096
        })
    );
    assert_eq!(error.code(), "content_too_long");
}

// ---- acceptance and delivery statuses ----

#[tokio::test]
async fn acceptance_names_the_message_and_marks_it_sent() {
    let given = vec![started(), queued(msg(1), template(), t(0))];
    let command = Command::RecordSendAccepted {
        message_id: msg(1),
        wamid: wamid("wamid.OUT1"),
    };
    let events = run(given.clone(), command, t(1)).await.unwrap();
    assert_eq!(events, vec![accepted(msg(1), "wamid.OUT1", t(1))]);
    let state = fold(given.into_iter().chain(events));
    assert_eq!(state.message_by_wamid[&wamid("wamid.OUT1")], msg(1));
    assert_eq!(delivery(&state, msg(1)).status, DeliveryStatus::Sent);
    assert_eq!(delivery(&state, msg(1)).sent_at, Some(t(1)));
}

#[tokio::test]
async fn acceptance_is_idempotent_and_a_second_wamid_is_a_conflict() {
    let accept = |id, raw: &str| Command::RecordSendAccepted {
        message_id: id,
        wamid: wamid(raw),
    };
    ConversationTest::with(())
        .given(with_sent_message())
        .when_async(issue_at(accept(msg(1), "wamid.OUT1"), t(3)))
        .await
        .then_expect_events(vec![]);
    ConversationTest::with(())
        .given(with_sent_message())
        .when_async(issue_at(accept(msg(1), "wamid.OTHER"), t(3)))
        .await
        .then_expect_error(ConversationError::WamidConflict {
            message_id: msg(1),
            wamid: wamid("wamid.OTHER"),
        });
    let mut given = with_sent_message();
    given.push(queued(msg(2), template(), t(3)));
    let error = run(given, accept(msg(2), "wamid.OUT1"), t(4))
        .await
        .unwrap_err();
    assert_eq!(error.code(), "wamid_conflict");
}

#[tokio::test]
async fn only_outbound_messages_of_this_conversation_are_accepted_or_failed() {
    let inbound = MessageId::for_inbound(&wamid("wamid.IN1"));
    for message_id in [msg(9), inbound] {
        let accept = Command::RecordSendAccepted {
            message_id,
            wamid: wamid("wamid.X"),
        };
        let fail = Command::RecordSendFailed {
            message_id,
            failure: failure(131026),
        };
        for command in [accept, fail] {
            let error = run(with_sent_message(), command, t(3)).await.unwrap_err();
            assert_eq!(error, ConversationError::UnknownMessage(message_id));
            assert_eq!(error.code(), "unknown_message");
        }
    }
}

#[tokio::test]
async fn delivered_then_read_are_recorded() {
    let delivered = Event::MessageDelivered {
        message_id: msg(1),
        wamid: wamid("wamid.OUT1"),
        at: t(3),
    };
    ConversationTest::with(())
        .given(with_sent_message())
        .when_async(issue_at(
            status("wamid.OUT1", ReportedStatus::Delivered, t(3)),
            t(5),
        ))
        .await
        .then_expect_events(vec![delivered.clone()]);
    let read = Event::MessageRead {
        message_id: msg(1),
        wamid: wamid("wamid.OUT1"),
        at: t(4),
    };
    let given: Vec<Event> = with_sent_message().into_iter().chain([delivered]).collect();
    ConversationTest::with(())
        .given(given.clone())
        .when_async(issue_at(
            status("wamid.OUT1", ReportedStatus::Read, t(4)),
            t(5),
        ))
        .await
        .then_expect_events(vec![read.clone()]);
    let state = fold(given.into_iter().chain([read]));
    let track = delivery(&state, msg(1));
    assert_eq!(track.status, DeliveryStatus::Read);
    assert_eq!(
        (track.delivered_at, track.read_at),
        (Some(t(3)), Some(t(4)))
    );
}

#[tokio::test]
async fn duplicate_and_stale_statuses_record_nothing() {
    let mut given = with_sent_message();
    given.push(Event::MessageDelivered {
        message_id: msg(1),
        wamid: wamid("wamid.OUT1"),
        at: t(3),
    });
    let duplicates = [
        status("wamid.OUT1", ReportedStatus::Sent, t(2)),
        status("wamid.OUT1", ReportedStatus::Delivered, t(3)),
    ];
    for command in duplicates {
        ConversationTest::with(())
            .given(given.clone())
            .when_async(issue_at(command, t(5)))
            .await
            .then_expect_events(vec![]);
    }
}

#[tokio::test]
async fn read_then_delivered_stays_read() {
    let mut given = with_sent_message();
    given.push(Event::MessageRead {
        message_id: msg(1),
        wamid: wamid("wamid.OUT1"),
        at: t(4),
    });
    ConversationTest::with(())
        .given(given.clone())
        .when_async(issue_at(
            status("wamid.OUT1", ReportedStatus::Delivered, t(3)),
            t(5),
        ))
        .await
        .then_expect_events(vec![]);
    assert_eq!(delivery(&fold(given), msg(1)).status, DeliveryStatus::Read);
}

#[tokio::test]
async fn failed_after_delivered_is_recorded_and_the_status_stays_delivered() {
    let mut given = with_sent_message();
    given.push(Event::MessageDelivered {
        message_id: msg(1),
        wamid: wamid("wamid.OUT1"),
        at: t(3),
    });
    let events = run(
        given.clone(),
        status("wamid.OUT1", ReportedStatus::Failed(failure(131049)), t(4)),
        t(5),
    )
    .await
    .unwrap();
    assert_eq!(
        events,
        vec![Event::MessageFailed {
            message_id: msg(1),
            wamid: Some(wamid("wamid.OUT1")),
            failure: failure(131049),
            at: t(4),
        }]
    );
    let state = fold(given.into_iter().chain(events));
    let track = delivery(&state, msg(1));
    assert_eq!(track.status, DeliveryStatus::Delivered);
    assert_eq!(track.failure, Some(failure(131049)));
    assert_eq!(track.failed_at, Some(t(4)));
}

#[tokio::test]
async fn a_refused_send_is_recorded_once() {
    let given = vec![started(), queued(msg(1), template(), t(0))];
    let fail = Command::RecordSendFailed {
        message_id: msg(1),
        failure: failure(131026),
    };
    let events = run(given.clone(), fail.clone(), t(1)).await.unwrap();
    let failed = Event::MessageFailed {
        message_id: msg(1),
        wamid: None,
        failure: failure(131026),
        at: t(1),
    };
    assert_eq!(events, vec![failed.clone()]);
    let given: Vec<Event> = given.into_iter().chain([failed]).collect();
    assert_eq!(
        delivery(&fold(given.clone()), msg(1)).status,
        DeliveryStatus::Failed
    );
    assert_eq!(run(given, fail, t(2)).await.unwrap(), vec![]);
}

#[tokio::test]
async fn a_status_for_an_unknown_wamid_is_held_once() {
    let given = vec![started(), queued(msg(1), template(), t(0))];
    let report = status("wamid.OUT1", ReportedStatus::Delivered, t(2));
    let held = Event::DeliveryStatusHeld {
        wamid: wamid("wamid.OUT1"),
        message_id: None,
        status: ReportedStatus::Delivered,
        at: t(2),
    };
    ConversationTest::with(())
        .given(given.clone())
        .when_async(issue_at(report.clone(), t(3)))
        .await
        .then_expect_events(vec![held.clone()]);
    let given: Vec<Event> = given.into_iter().chain([held]).collect();
    assert_eq!(fold(given.clone()).held_statuses.len(), 1);
    ConversationTest::with(())
        .given(given)
        .when_async(issue_at(report, t(4)))
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn held_statuses_are_applied_in_their_order_when_the_acceptance_names_them() {
    // Read arrived before delivered, and both before Meta's answer to the send was recorded.
    let given = vec![
        started(),
        queued(msg(1), template(), t(0)),
        Event::DeliveryStatusHeld {
            wamid: wamid("wamid.OUT1"),
            message_id: None,
            status: ReportedStatus::Read,
            at: t(3),
        },
        Event::DeliveryStatusHeld {
            wamid: wamid("wamid.OUT1"),
            message_id: None,
            status: ReportedStatus::Delivered,
            at: t(2),
        },
        Event::DeliveryStatusHeld {
            wamid: wamid("wamid.OTHER"),
            message_id: None,
            status: ReportedStatus::Sent,
            at: t(2),
        },
    ];
    let accept = Command::RecordSendAccepted {
        message_id: msg(1),
        wamid: wamid("wamid.OUT1"),
    };
    let events = run(given.clone(), accept, t(4)).await.unwrap();
    assert_eq!(
        events,
        vec![
            accepted(msg(1), "wamid.OUT1", t(4)),
            Event::MessageDelivered {
                message_id: msg(1),
                wamid: wamid("wamid.OUT1"),
                at: t(2),
            },
            Event::MessageRead {
                message_id: msg(1),
                wamid: wamid("wamid.OUT1"),
                at: t(3),
            },
        ]
    );
    let state = fold(given.into_iter().chain(events));
    assert_eq!(delivery(&state, msg(1)).status, DeliveryStatus::Read);
    assert_eq!(
        state.held_statuses,
        vec![HeldStatus {
            wamid: wamid("wamid.OTHER"),
            message_id: None,
            status: ReportedStatus::Sent,
            at: t(2),
        }],
        "only the other wamid's status is still held"
    );
}

#[tokio::test]
async fn a_held_failure_is_kept_when_the_acceptance_arrives() {
    let given = vec![
        started(),
        queued(msg(1), template(), t(0)),
        Event::DeliveryStatusHeld {
            wamid: wamid("wamid.OUT1"),
            message_id: None,
            status: ReportedStatus::Failed(failure(131047)),
            at: t(2),
        },
    ];
    let accept = Command::RecordSendAccepted {
        message_id: msg(1),
        wamid: wamid("wamid.OUT1"),
    };
    let events = run(given.clone(), accept, t(3)).await.unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[1].event_type(), "MessageFailed");
    assert_eq!(
        delivery(&fold(given.into_iter().chain(events)), msg(1)).status,
        DeliveryStatus::Failed
    );
}

#[tokio::test]
async fn a_status_carrying_our_message_id_records_the_acceptance_first() {
    let given = vec![started(), queued(msg(1), template(), t(0))];
    let report = Command::RecordDeliveryStatus {
        wamid: wamid("wamid.OUT1"),
        message_id: Some(msg(1)),
        status: ReportedStatus::Delivered,
        at: t(2),
    };
    let events = run(given.clone(), report, t(3)).await.unwrap();
    assert_eq!(
        events,
        vec![
            accepted(msg(1), "wamid.OUT1", t(2)),
            Event::MessageDelivered {
                message_id: msg(1),
                wamid: wamid("wamid.OUT1"),
                at: t(2),
            },
        ]
    );
    // The outbox's own record of the acceptance, arriving afterwards, is then a duplicate.
    let given: Vec<Event> = given.into_iter().chain(events).collect();
    let accept = Command::RecordSendAccepted {
        message_id: msg(1),
        wamid: wamid("wamid.OUT1"),
    };
    assert_eq!(run(given, accept, t(4)).await.unwrap(), vec![]);
}

#[tokio::test]
async fn a_sent_status_carrying_our_message_id_is_just_the_acceptance() {
    let report = Command::RecordDeliveryStatus {
        wamid: wamid("wamid.OUT1"),
        message_id: Some(msg(1)),
        status: ReportedStatus::Sent,
        at: t(2),
    };
    ConversationTest::with(())
        .given(vec![started(), queued(msg(1), template(), t(0))])
        .when_async(issue_at(report, t(3)))
        .await
        .then_expect_events(vec![accepted(msg(1), "wamid.OUT1", t(2))]);
}

#[tokio::test]
async fn a_status_naming_an_inbound_wamid_is_ignored() {
    ConversationTest::with(())
        .given(with_sent_message())
        .when_async(issue_at(
            status("wamid.IN1", ReportedStatus::Read, t(3)),
            t(3),
        ))
        .await
        .then_expect_events(vec![]);
}

// ---- inbound messages and read receipts ----

#[tokio::test]
async fn the_same_inbound_message_twice_records_nothing() {
    ConversationTest::with(())
        .given(vec![started(), received("wamid.IN1", t(0))])
        .when_async(issue_at(receive("wamid.IN1", t(0)), t(1)))
        .await
        .then_expect_events(vec![]);
}

#[test]
fn inbound_messages_raise_the_unread_count_and_keep_the_profile_name() {
    let state = fold([
        started(),
        received("wamid.IN1", t(0)),
        received("wamid.IN2", t(1)),
    ]);
    assert_eq!(state.unread_count, 2);
    assert_eq!(
        state.customer_profile_name.as_deref(),
        Some("Sheena Nelson")
    );
    let inbound = &state.messages[&MessageId::for_inbound(&wamid("wamid.IN2"))];
    assert_eq!(inbound.direction, Direction::Inbound);
    assert_eq!(inbound.delivery, None);
}

#[tokio::test]
async fn mark_read_queues_a_receipt_for_the_latest_inbound_message() {
    // IN2 was sent later but delivered to us first.
    let given = vec![
        started(),
        received("wamid.IN2", t(5)),
        received("wamid.IN1", t(0)),
    ];
    let receipt = Event::ReadReceiptQueued {
        message_id: MessageId::for_inbound(&wamid("wamid.IN2")),
        wamid: wamid("wamid.IN2"),
        phone_number_id: phone(),
        at: t(6),
    };
    ConversationTest::with(())
        .given(given.clone())
        .when_async(issue_at(Command::MarkRead, t(6)))
        .await
        .then_expect_events(vec![receipt.clone()]);
    let given: Vec<Event> = given.into_iter().chain([receipt]).collect();
    assert_eq!(fold(given.clone()).unread_count, 0);
    ConversationTest::with(())
        .given(given)
        .when_async(issue_at(Command::MarkRead, t(7)))
        .await
        .then_expect_events(vec![]);
}

#[tokio::test]
async fn mark_read_without_inbound_messages_does_nothing() {
    ConversationTest::with(())
        .given(vec![started(), queued(msg(1), template(), t(0))])
        .when_async(issue_at(Command::MarkRead, t(1)))
        .await
        .then_expect_events(vec![]);
}

// ---- AI agent and lead qualification ----

#[tokio::test]
async fn switching_the_ai_agent_records_changes_only() {
    let switch = |enabled| Command::SetAiAgent {
        enabled,
        changed_by: AiAgentChangedBy::User,
        reason: Some("Manual user toggle".into()),
    };
    let on = Event::AiAgentChanged {
        enabled: true,
        changed_by: AiAgentChangedBy::User,
        reason: Some("Manual user toggle".into()),
        at: t(1),
    };
    ConversationTest::with(())
        .given(vec![started()])
        .when_async(issue_at(switch(true), t(1)))
        .await
        .then_expect_events(vec![on.clone()]);
    ConversationTest::with(())
        .given(vec![started()])
        .when_async(issue_at(switch(false), t(1)))
        .await
        .then_expect_events(vec![]);
    ConversationTest::with(())
        .given(vec![started(), on.clone()])
        .when_async(issue_at(switch(true), t(2)))
        .await
        .then_expect_events(vec![]);
    let off = Event::AiAgentChanged {
        enabled: false,
        changed_by: AiAgentChangedBy::Auto,
        reason: None,
        at: t(2),
    };
    let agent = fold([started(), on, off]).ai_agent;
    assert_eq!(
        agent,
        AiAgent {
            is_ai_agent_on: false,
            ai_agent_enabled_at: Some(t(1)),
            ai_agent_enabled_by: Some(AiAgentChangedBy::User),
            ai_agent_last_toggled_at: Some(t(2)),
        }
    );
}

#[tokio::test]
async fn an_ai_agent_reason_is_at_most_500_characters() {
    let command = Command::SetAiAgent {
        enabled: true,
        changed_by: AiAgentChangedBy::Api,
        reason: Some("r".repeat(501)),
    };
    let error = run(vec![started()], command, t(1)).await.unwrap_err();
    assert_eq!(error.code(), "invalid_input");
}

#[tokio::test]
async fn lead_qualification_records_only_what_changed() {
    let first = LeadFields {
        lead_status: Some(LeadStatus::Interested),
        lead_score: Some(75),
        lead_company: Some("Acme Corporation".into()),
        ..Default::default()
    };
    let set = Event::LeadQualificationUpdated {
        changes: first.clone(),
        at: t(1),
    };
    ConversationTest::with(())
        .given(vec![started()])
        .when_async(issue_at(
            Command::UpdateLeadQualification(first.clone()),
            t(1),
        ))
        .await
        .then_expect_events(vec![set.clone()]);
    ConversationTest::with(())
        .given(vec![started(), set.clone()])
        .when_async(issue_at(Command::UpdateLeadQualification(first), t(2)))
        .await
        .then_expect_events(vec![]);
    let second = LeadFields {
        lead_status: Some(LeadStatus::Qualified),
        lead_score: Some(75),
        raw_data: Some(json!({"crm_id": "CRM_789"})),
        ..Default::default()
    };
    let changed = Event::LeadQualificationUpdated {
        changes: LeadFields {
            lead_status: Some(LeadStatus::Qualified),
            raw_data: Some(json!({"crm_id": "CRM_789"})),
            ..Default::default()
        },
        at: t(2),
    };
    ConversationTest::with(())
        .given(vec![started(), set.clone()])
        .when_async(issue_at(Command::UpdateLeadQualification(second), t(2)))
        .await
        .then_expect_events(vec![changed.clone()]);
    let lead = fold([started(), set, changed]).lead_qualification;
    assert_eq!(lead.fields.lead_status, Some(LeadStatus::Qualified));
    assert_eq!(
        lead.fields.lead_company.as_deref(),
        Some("Acme Corporation")
    );
    assert_eq!(lead.lead_last_updated, Some(t(2)));
    assert_eq!(lead.raw_data_stored_at, Some(t(2)));
}

#[tokio::test]
async fn lead_qualification_limits_are_seed_000s() {
    let command = Command::UpdateLeadQualification(LeadFields {
        lead_score: Some(101),
        ..Default::default()
    });
    let error = run(vec![started()], command, t(1)).await.unwrap_err();
    assert_eq!(
        error,
        ConversationError::Invalid {
            field: "lead_score",
            reason: "must be 0 to 100".into()
        }
    );
}

// ---- events and state as stored ----

#[test]
fn events_are_versioned_and_round_trip_through_json() {
    let events = vec![
        started(),
        received("wamid.IN1", t(0)),
        queued(msg(1), template(), t(1)),
        accepted(msg(1), "wamid.OUT1", t(2)),
        Event::DeliveryStatusHeld {
            wamid: wamid("wamid.OUT2"),
            message_id: None,
            status: ReportedStatus::Failed(failure(131047)),
            at: t(3),
        },
        Event::LeadQualificationUpdated {
            changes: LeadFields {
                lead_status: Some(LeadStatus::Hot),
                ..Default::default()
            },
            at: t(4),
        },
    ];
    for event in &events {
        assert_eq!(event.event_version(), crate::EVENT_VERSION_1);
        let json = serde_json::to_value(event).unwrap();
        assert_eq!(&serde_json::from_value::<Event>(json).unwrap(), event);
    }
    assert_eq!(events[2].event_type(), "MessageQueued");
    // The queued content is stored as Meta's send-body fragment.
    let stored = serde_json::to_value(&events[2]).unwrap();
    assert_eq!(
        stored["MessageQueued"]["content"]["template"]["name"],
        "order_update"
    );
    let state = fold(events);
    let json = serde_json::to_value(&state).unwrap();
    assert_eq!(
        serde_json::from_value::<ConversationState>(json).unwrap(),
        state
    );
}

#[test]
fn error_codes_are_distinct() {
    let errors = [
        ConversationError::NotFound,
        ConversationError::InvalidCustomerWaId(String::new()),
        ConversationError::ConversationMismatch,
        ConversationError::DuplicateMessage(msg(1)),
        ConversationError::RecipientBlocked,
        ConversationError::RecipientOptedOut,
        ConversationError::WindowClosed,
        ConversationError::UnknownReplyTarget(msg(1)),
        ConversationError::ReplyTargetNotSent(msg(1)),
        ConversationError::UnknownReactionTarget(wamid("w")),
        ConversationError::UnknownMessage(msg(1)),
        ConversationError::WamidConflict {
            message_id: msg(1),
            wamid: wamid("w"),
        },
        ConversationError::Invalid {
            field: "f",
            reason: String::new(),
        },
    ];
    let codes: std::collections::HashSet<_> = errors.iter().map(|e| e.code()).collect();
    assert_eq!(codes.len(), errors.len());
    assert!(!codes.contains("content_too_long"));
}

// ---- Meta's sample payloads ----

/// Meta's sample payloads in `shared/meta/fixtures` (beside the repository): `requests` are send
/// bodies (less template creation and read receipts, which are not messages), `webhooks` the
/// deliveries of the `messages` field.
fn fixtures(folder: &str) -> Vec<(String, Value)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/meta/fixtures");
    let dir = match folder {
        "requests" => root.join("requests"),
        _ => root,
    };
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&path).unwrap();
            (name, serde_json::from_str::<Value>(&text).unwrap())
        })
        .filter(|(name, body)| match folder {
            "requests" => !name.contains("template_create") && !name.contains("mark_read"),
            _ => {
                name.starts_with("webhook_")
                    && body["entry"][0]["changes"][0]["field"] == "messages"
            }
        })
        .collect()
}

#[test]
fn every_send_body_fixture_round_trips_through_outbound_content() {
    let mut seen = 0;
    for (name, mut body) in fixtures("requests") {
        if name.starts_with("request_template_create_") || name.starts_with("request_mark_read_") {
            continue;
        }
        // What the Meta adapter adds around the content.
        let envelope = body.as_object_mut().unwrap();
        for key in [
            "messaging_product",
            "recipient_type",
            "to",
            "context",
            "biz_opaque_callback_data",
        ] {
            envelope.remove(key);
        }
        let content: OutboundContent =
            serde_json::from_value(body.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(serde_json::to_value(&content).unwrap(), body, "{name}");
        assert_eq!(Some(content.kind()), body["type"].as_str(), "{name}");
        assert_eq!(content.validate(), Ok(()), "{name}");
        seen += 1;
    }
    assert_eq!(seen, 16, "every send-body fixture was read");
}

#[test]
fn fixture_kinds_are_typed_where_meta_has_limits() {
    let by_name: std::collections::HashMap<_, _> = fixtures("requests").into_iter().collect();
    let content =
        |name: &str| -> OutboundContent { serde_json::from_value(by_name[name].clone()).unwrap() };
    assert!(matches!(
        content("request_interactive_list.json"),
        OutboundContent::Interactive {
            interactive: InteractiveMessage::List(_)
        }
    ));
    assert!(matches!(
        content("request_interactive_reply_buttons.json"),
        OutboundContent::Interactive {
            interactive: InteractiveMessage::Button(_)
        }
    ));
    assert!(content("request_template_with_body_parameter.json").is_template());
}

/// Every element of `value.messages[]` (or `statuses[]`) in a webhook delivery, with the change's
/// `value` (for `contacts`).
fn webhook_items(delivery: &Value, key: &str) -> Vec<Value> {
    let mut items = Vec::new();
    for entry in delivery["entry"].as_array().unwrap() {
        for change in entry["changes"].as_array().unwrap() {
            if let Some(list) = change["value"][key].as_array() {
                items.extend(list.iter().cloned());
            }
        }
    }
    items
}

#[test]
fn every_webhook_message_fixture_is_read() {
    let mut read = 0;
    for (name, delivery) in fixtures("webhooks") {
        for message in webhook_items(&delivery, "messages") {
            let content =
                InboundContent::from_meta(&message).unwrap_or_else(|e| panic!("{name}: {e}"));
            // What we store reads back the same.
            let stored = serde_json::to_value(&content).unwrap();
            assert_eq!(
                serde_json::from_value::<InboundContent>(stored).unwrap(),
                content
            );
            check_inbound_fixture(&name, &content);
            read += 1;
        }
    }
    assert_eq!(read, 15, "one message in each message fixture");
}

fn check_inbound_fixture(name: &str, content: &InboundContent) {
    match name {
        "webhook_text_message.json" => assert_eq!(
            content,
            &InboundContent::Text {
                body: "Does it come in another color?".into()
            }
        ),
        "webhook_text_reply_with_context.json" => assert_eq!(content.kind(), "text"),
        "webhook_image_message.json" => {
            let InboundContent::Image(image) = content else {
                panic!("{content:?}")
            };
            assert_eq!(image.id, "1003383421387256");
            assert_eq!(image.caption.as_deref(), Some("Taj Mahal"));
            assert_eq!(image.mime_type.as_deref(), Some("image/jpeg"));
            assert!(image.sha256.is_some());
        }
        "webhook_video_message.json" => assert_eq!(content.kind(), "video"),
        "webhook_audio_voice_message.json" => {
            let InboundContent::Audio(audio) = content else {
                panic!("{content:?}")
            };
            assert!(audio.voice);
        }
        "webhook_document_message.json" => {
            let InboundContent::Document(document) = content else {
                panic!("{content:?}")
            };
            assert_eq!(document.filename.as_deref(), Some("4_641947.pdf"));
        }
        "webhook_sticker_message.json" => {
            let InboundContent::Sticker(sticker) = content else {
                panic!("{content:?}")
            };
            assert!(!sticker.animated);
            assert_eq!(sticker.mime_type.as_deref(), Some("image/webp"));
        }
        "webhook_location_message.json" => {
            let InboundContent::Location(location) = content else {
                panic!("{content:?}")
            };
            assert_eq!(location.name.as_deref(), Some("Philz Coffee"));
            assert_eq!(location.url.as_deref(), Some("https://philzcoffee.com/"));
            assert!((location.longitude + 122.16165924072).abs() < 1e-9);
        }
        "webhook_contacts_message.json" => {
            let InboundContent::Contacts { contacts } = content else {
                panic!("{content:?}")
            };
            assert_eq!(contacts[0]["name"]["formatted_name"], "Lucía Gómez");
        }
        "webhook_interactive_button_reply.json" => assert_eq!(
            content,
            &InboundContent::ButtonReply(InteractiveReply {
                id: "cancel-button".into(),
                title: "Cancel".into(),
                description: None,
            })
        ),
        "webhook_interactive_list_reply.json" => assert_eq!(
            content,
            &InboundContent::ListReply(InteractiveReply {
                id: "priority_express".into(),
                title: "Priority Mail Express".into(),
                description: Some("Next Day to 2 Days".into()),
            })
        ),
        "webhook_template_quick_reply_button.json" => assert_eq!(
            content,
            &InboundContent::Button(QuickReplyButton {
                payload: "Unsubscribe".into(),
                text: "Unsubscribe".into(),
            })
        ),
        "webhook_reaction_message.json" => {
            let InboundContent::Reaction(reaction) = content else {
                panic!("{content:?}")
            };
            assert_eq!(reaction.emoji, "👍");
            assert!(reaction.message_id.as_str().starts_with("wamid."));
        }
        "webhook_order_message.json" => {
            let InboundContent::Order(order) = content else {
                panic!("{content:?}")
            };
            assert_eq!(order.catalog_id, "194836987003835");
            assert_eq!(order.product_items.as_array().unwrap().len(), 2);
        }
        "webhook_unsupported_message.json" => {
            let InboundContent::Unsupported { meta_type, errors } = content else {
                panic!("{content:?}")
            };
            assert_eq!(meta_type, "unsupported");
            assert_eq!(errors[0]["code"], 131051);
        }
        other => panic!("no expectation for {other}"),
    }
}

#[test]
fn failed_status_fixtures_become_meta_failures() {
    let mut read = 0;
    for (name, delivery) in fixtures("webhooks") {
        for status in webhook_items(&delivery, "statuses") {
            let Some(errors) = status["errors"].as_array() else {
                continue;
            };
            let failure = MetaFailure::from_meta(&errors[0]).unwrap_or_else(|| panic!("{name}"));
            assert_eq!(Some(failure.code), errors[0]["code"].as_i64(), "{name}");
            assert!(!failure.title.is_empty(), "{name}");
            assert!(failure.details.is_some(), "{name}");
            read += 1;
        }
    }
    assert_eq!(read, 4);
    let failure = MetaFailure::from_meta(
        &webhook_items(
            &fixtures("webhooks")
                .into_iter()
                .find(|(name, _)| name == "webhook_status_failed_131047.json")
                .unwrap()
                .1,
            "statuses",
        )[0]["errors"][0],
    )
    .unwrap();
    assert_eq!(failure.title, "Re-engagement message");
}

// ---- broadcast sends ----

fn broadcast_send(outcome: Result<Wamid, MetaFailure>) -> Command {
    Command::RecordBroadcastSend {
        message_id: msg(7),
        broadcast_id: Uuid::from_u128(70),
        content: template(),
        phone_number_id: phone(),
        customer_wa_id: WA_ID.into(),
        outcome,
    }
}

#[tokio::test]
async fn a_broadcast_send_starts_the_conversation_and_records_the_accepted_message() {
    let events = run(vec![], broadcast_send(Ok(wamid("wamid.B1"))), t(1))
        .await
        .unwrap();
    assert!(matches!(events[0], Event::ConversationStarted { .. }));
    let Event::MessageQueued {
        broadcast_id,
        message_id,
        ..
    } = &events[1]
    else {
        panic!("queued: {events:?}")
    };
    assert_eq!(
        (*broadcast_id, *message_id),
        (Some(Uuid::from_u128(70)), msg(7))
    );
    assert_eq!(events[2], accepted(msg(7), "wamid.B1", t(1)));
    // Recording it again (a job repeated after a restart) changes nothing.
    let again = run(events, broadcast_send(Ok(wamid("wamid.B2"))), t(2))
        .await
        .unwrap();
    assert!(again.is_empty());
}

#[tokio::test]
async fn a_failed_broadcast_send_is_recorded_as_failed() {
    let failure = MetaFailure {
        code: 131026,
        title: "Message undeliverable".into(),
        message: None,
        details: None,
    };
    let events = run(vec![started()], broadcast_send(Err(failure.clone())), t(1))
        .await
        .unwrap();
    assert_eq!(events.len(), 2);
    assert!(matches!(&events[1], Event::MessageFailed { failure: f, .. } if *f == failure));
}

#[tokio::test]
async fn a_broadcast_sends_templates_only() {
    let command = Command::RecordBroadcastSend {
        message_id: msg(7),
        broadcast_id: Uuid::from_u128(70),
        content: OutboundContent::text("hi"),
        phone_number_id: phone(),
        customer_wa_id: WA_ID.into(),
        outcome: Ok(wamid("wamid.B1")),
    };
    let error = run(vec![], command, t(1)).await.unwrap_err();
    assert_eq!(error.code(), "template_required");
}

#[tokio::test]
async fn a_status_before_the_broadcast_send_is_recorded_is_held_then_applied() {
    let hold = Command::HoldEarlyDeliveryStatus {
        phone_number_id: phone(),
        customer_wa_id: WA_ID.into(),
        wamid: wamid("wamid.B1"),
        message_id: msg(7),
        status: ReportedStatus::Delivered,
        at: t(2),
    };
    let held = run(vec![], hold.clone(), t(2)).await.unwrap();
    assert!(matches!(held[0], Event::ConversationStarted { .. }));
    assert!(matches!(held[1], Event::DeliveryStatusHeld { .. }));
    assert!(
        run(held.clone(), hold, t(2)).await.unwrap().is_empty(),
        "held once"
    );
    let recorded = run(held, broadcast_send(Ok(wamid("wamid.B1"))), t(3))
        .await
        .unwrap();
    assert!(
        recorded.iter().any(
            |e| matches!(e, Event::MessageDelivered { message_id, .. } if *message_id == msg(7))
        ),
        "{recorded:?}"
    );
}

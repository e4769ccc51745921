//! Tests of the Broadcast aggregate: the lifecycle, the audience rules and the schedule window.

use super::*;
use crate::{Issued, WorkspaceId, E164};
use chrono::{DateTime, TimeDelta, Utc};
use cqrs_es::test::TestFramework;
use cqrs_es::Aggregate;
use std::collections::BTreeMap;
use uuid::Uuid;

type BroadcastTest = TestFramework<Broadcast>;
type Event = BroadcastEvent;
type Command = BroadcastCommand;

fn t(minutes: i64) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-01T10:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
        + TimeDelta::minutes(minutes)
}

fn workspace() -> WorkspaceId {
    WorkspaceId(Uuid::from_u128(1))
}

fn phone(n: u64) -> E164 {
    E164::parse(&format!("+1415555{n:04}")).unwrap()
}

fn recipient(n: u64) -> BroadcastRecipient {
    BroadcastRecipient {
        phone: phone(n),
        name: Some(format!("Customer {n}")),
        variables: BTreeMap::from([("1".to_string(), format!("C{n}"))]),
    }
}

fn template() -> BroadcastTemplate {
    BroadcastTemplate {
        name: "weekly_update".into(),
        language: "en_US".into(),
        components: vec![],
    }
}

fn snapshot() -> TemplateSnapshot {
    TemplateSnapshot {
        template_id: Uuid::from_u128(9),
        name: "weekly_update".into(),
        language: "en_US".into(),
        components: vec![serde_json::json!({"type": "BODY", "text": "Hi {{1}}"})],
        variables: vec![],
    }
}

fn created() -> Event {
    Event::BroadcastCreated {
        workspace_id: workspace(),
        phone_number_id: Uuid::from_u128(2),
        name: "Weekly".into(),
        description: None,
        template: template(),
        at: t(0),
    }
}

fn added(ns: &[u64]) -> Event {
    Event::BroadcastRecipientsAdded {
        recipients: ns.iter().map(|n| recipient(*n)).collect(),
        at: t(1),
    }
}

fn started(skipped: &[u64], audience: u32) -> Event {
    Event::BroadcastStarted {
        template: snapshot(),
        skipped: skipped
            .iter()
            .map(|n| SkippedRecipient {
                phone: phone(*n),
                reason: SkipReason::OptedOut,
            })
            .collect(),
        audience,
        trigger: StartTrigger::Manual,
        at: t(2),
    }
}

async fn run(
    given: Vec<Event>,
    command: Command,
    at: DateTime<Utc>,
) -> Result<Vec<Event>, BroadcastError> {
    BroadcastTest::with(())
        .given(given)
        .when_async(Issued {
            workspace_id: workspace(),
            at,
            command,
        })
        .await
        .inspect_result()
}

fn fold(events: impl IntoIterator<Item = Event>) -> BroadcastState {
    let mut broadcast = Broadcast::default();
    for event in events {
        broadcast.apply(event);
    }
    broadcast.state.expect("created")
}

fn start() -> Command {
    Command::Start {
        template: snapshot(),
        skipped: vec![],
        trigger: StartTrigger::Manual,
    }
}

#[tokio::test]
async fn a_broadcast_is_created_as_a_draft_with_its_recipients_deduplicated() {
    let draft = BroadcastDraft {
        phone_number_id: Uuid::from_u128(2),
        name: "Weekly".into(),
        description: None,
        template: template(),
        recipients: vec![recipient(1), recipient(2), recipient(1)],
    };
    let events = run(vec![], Command::CreateBroadcast(draft), t(0))
        .await
        .unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0], created());
    let Event::BroadcastRecipientsAdded { recipients, .. } = &events[1] else {
        panic!("recipients")
    };
    assert_eq!(recipients.len(), 2);
    let state = fold(events);
    assert_eq!(state.status, BroadcastStatus::Draft);
    assert_eq!(state.recipient_count(), 2);
}

#[tokio::test]
async fn creating_needs_a_name_and_a_template() {
    let mut draft = BroadcastDraft {
        phone_number_id: Uuid::from_u128(2),
        name: " ".into(),
        description: None,
        template: template(),
        recipients: vec![],
    };
    let error = run(vec![], Command::CreateBroadcast(draft.clone()), t(0))
        .await
        .unwrap_err();
    assert!(matches!(
        error,
        BroadcastError::Invalid { field: "name", .. }
    ));
    draft.name = "ok".into();
    draft.template.language = String::new();
    let error = run(vec![], Command::CreateBroadcast(draft), t(0))
        .await
        .unwrap_err();
    assert!(matches!(
        error,
        BroadcastError::Invalid {
            field: "template.language",
            ..
        }
    ));
}

#[tokio::test]
async fn adding_skips_phones_already_in_and_refuses_more_than_a_thousand() {
    let events = run(
        vec![created(), added(&[1, 2])],
        Command::AddRecipients(vec![recipient(2), recipient(3), recipient(3)]),
        t(3),
    )
    .await
    .unwrap();
    let Event::BroadcastRecipientsAdded { recipients, .. } = &events[0] else {
        panic!("added")
    };
    assert_eq!(
        recipients
            .iter()
            .map(|r| r.phone.clone())
            .collect::<Vec<_>>(),
        vec![phone(3)]
    );

    let only_duplicates = run(
        vec![created(), added(&[1])],
        Command::AddRecipients(vec![recipient(1)]),
        t(3),
    )
    .await
    .unwrap();
    assert!(only_duplicates.is_empty());

    let too_many: Vec<_> = (0..1001).map(recipient).collect();
    let error = run(vec![created()], Command::AddRecipients(too_many), t(3))
        .await
        .unwrap_err();
    assert!(matches!(
        error,
        BroadcastError::Invalid {
            field: "recipients",
            ..
        }
    ));
}

#[tokio::test]
async fn removing_takes_out_only_recipients_that_are_in() {
    let events = run(
        vec![created(), added(&[1, 2])],
        Command::RemoveRecipients(vec![phone(2), phone(7)]),
        t(3),
    )
    .await
    .unwrap();
    assert_eq!(
        events,
        vec![Event::BroadcastRecipientsRemoved {
            phones: vec![phone(2)],
            at: t(3)
        }]
    );
    let state = fold([created(), added(&[1, 2]), events[0].clone()]);
    assert_eq!(state.recipient_count(), 1);
}

#[tokio::test]
async fn scheduling_needs_recipients_a_future_time_and_at_most_thirty_days() {
    let schedule = |minutes| Command::Schedule {
        scheduled_at: t(minutes),
    };
    assert_eq!(
        run(vec![created()], schedule(60), t(3)).await.unwrap_err(),
        BroadcastError::NoRecipients
    );
    let given = vec![created(), added(&[1])];
    assert!(matches!(
        run(given.clone(), schedule(3), t(3)).await.unwrap_err(),
        BroadcastError::Invalid {
            field: "scheduledAt",
            ..
        }
    ));
    assert!(matches!(
        run(given.clone(), schedule(3 + 30 * 24 * 60 + 1), t(3))
            .await
            .unwrap_err(),
        BroadcastError::Invalid {
            field: "scheduledAt",
            ..
        }
    ));
    let events = run(given.clone(), schedule(3 + 30 * 24 * 60), t(3))
        .await
        .unwrap();
    let mut all = given.clone();
    all.extend(events);
    let state = fold(all.clone());
    assert_eq!(state.status, BroadcastStatus::Scheduled);
    // A start refused at its time returns the draft, saying why; only a scheduled one.
    let refuse = || Command::RefuseScheduledStart {
        reason: "template PAUSED".into(),
    };
    let refused = run(all.clone(), refuse(), t(4)).await.unwrap();
    assert!(matches!(
        refused.as_slice(),
        [BroadcastEvent::BroadcastScheduledStartRefused { reason, .. }] if reason == "template PAUSED"
    ));
    let mut after_refusal = all.clone();
    after_refusal.extend(refused);
    let state = fold(after_refusal.clone());
    assert_eq!(
        (state.status, state.scheduled_at),
        (BroadcastStatus::Draft, None)
    );
    assert!(run(after_refusal, refuse(), t(5)).await.is_err());
    // Cancelling the schedule returns the draft; a draft's schedule cannot be cancelled.
    let cancelled = run(all.clone(), Command::CancelSchedule, t(4))
        .await
        .unwrap();
    all.extend(cancelled);
    assert_eq!(fold(all.clone()).status, BroadcastStatus::Draft);
    assert!(matches!(
        run(all, Command::CancelSchedule, t(5)).await.unwrap_err(),
        BroadcastError::WrongStatus {
            status: BroadcastStatus::Draft,
            ..
        }
    ));
}

#[tokio::test]
async fn starting_freezes_the_audience_without_the_skipped() {
    let events = run(
        vec![created(), added(&[1, 2, 3])],
        Command::Start {
            template: snapshot(),
            skipped: vec![
                SkippedRecipient {
                    phone: phone(2),
                    reason: SkipReason::Blocked,
                },
                SkippedRecipient {
                    phone: phone(9),
                    reason: SkipReason::Blocked,
                },
            ],
            trigger: StartTrigger::Schedule,
        },
        t(2),
    )
    .await
    .unwrap();
    let Event::BroadcastStarted {
        audience, skipped, ..
    } = &events[0]
    else {
        panic!("started")
    };
    assert_eq!(*audience, 2);
    assert_eq!(
        skipped.len(),
        1,
        "a phone that is not a recipient is not reported"
    );
    let mut all = vec![created(), added(&[1, 2, 3])];
    all.extend(events);
    let state = fold(all.clone());
    assert_eq!(state.status, BroadcastStatus::Sending);
    assert!(state.is_in_audience(&phone(1)));
    assert!(!state.is_in_audience(&phone(2)));
    // Frozen: no more adds, no second start.
    assert!(matches!(
        run(
            all.clone(),
            Command::AddRecipients(vec![recipient(4)]),
            t(3)
        )
        .await
        .unwrap_err(),
        BroadcastError::WrongStatus {
            status: BroadcastStatus::Sending,
            ..
        }
    ));
    assert!(matches!(
        run(all, start(), t(3)).await.unwrap_err(),
        BroadcastError::WrongStatus { .. }
    ));
}

#[tokio::test]
async fn an_empty_broadcast_cannot_start() {
    assert_eq!(
        run(vec![created()], start(), t(2)).await.unwrap_err(),
        BroadcastError::NoRecipients
    );
}

#[tokio::test]
async fn pause_and_resume_only_while_sending_and_repeat_harmlessly() {
    let sending = vec![created(), added(&[1]), started(&[], 1)];
    let paused = run(
        sending.clone(),
        Command::Pause(PauseReason::QualityRed),
        t(3),
    )
    .await
    .unwrap();
    let mut all = sending.clone();
    all.extend(paused);
    let state = fold(all.clone());
    assert_eq!(state.status, BroadcastStatus::Paused);
    assert_eq!(state.pause_reason, Some(PauseReason::QualityRed));
    assert!(run(all.clone(), Command::Pause(PauseReason::Manual), t(4))
        .await
        .unwrap()
        .is_empty());
    let resumed = run(all.clone(), Command::Resume, t(4)).await.unwrap();
    all.extend(resumed);
    assert_eq!(fold(all).status, BroadcastStatus::Sending);
    assert!(matches!(
        run(vec![created()], Command::Pause(PauseReason::Manual), t(3))
            .await
            .unwrap_err(),
        BroadcastError::WrongStatus {
            status: BroadcastStatus::Draft,
            ..
        }
    ));
}

#[tokio::test]
async fn completion_is_failed_when_nothing_was_sent() {
    let sending = vec![created(), added(&[1, 2]), started(&[], 2)];
    let counts = BroadcastCounts {
        total: 2,
        sent: 1,
        failed: 1,
        ..Default::default()
    };
    let events = run(sending.clone(), Command::Complete(counts), t(5))
        .await
        .unwrap();
    assert!(matches!(
        events[0],
        Event::BroadcastCompleted {
            status: BroadcastStatus::Completed,
            ..
        }
    ));
    let counts = BroadcastCounts {
        total: 2,
        failed: 2,
        ..Default::default()
    };
    let events = run(sending.clone(), Command::Complete(counts), t(5))
        .await
        .unwrap();
    assert!(matches!(
        events[0],
        Event::BroadcastCompleted {
            status: BroadcastStatus::Failed,
            ..
        }
    ));
    let mut all = sending;
    all.extend(events);
    assert!(run(all, Command::Complete(counts), t(6))
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn retrying_the_failed_opens_a_new_round_for_audience_members_only() {
    let done = vec![
        created(),
        added(&[1, 2, 3]),
        started(&[3], 2),
        Event::BroadcastCompleted {
            status: BroadcastStatus::Completed,
            counts: BroadcastCounts::default(),
            at: t(5),
        },
    ];
    let events = run(
        done.clone(),
        Command::RetryFailed(vec![phone(1), phone(3), phone(8)]),
        t(6),
    )
    .await
    .unwrap();
    assert_eq!(
        events,
        vec![Event::BroadcastFailedRecipientsRetried {
            round: 1,
            phones: vec![phone(1)],
            at: t(6)
        }]
    );
    let mut all = done;
    all.extend(events);
    let state = fold(all);
    assert_eq!(state.status, BroadcastStatus::Sending);
    assert_eq!(state.round, 1);
    assert_ne!(
        broadcast_message_id(Uuid::from_u128(5), &phone(1), 0),
        broadcast_message_id(Uuid::from_u128(5), &phone(1), 1)
    );
    assert_eq!(
        broadcast_message_id(Uuid::from_u128(5), &phone(1), 0),
        broadcast_message_id(Uuid::from_u128(5), &phone(1), 0)
    );
}

#[tokio::test]
async fn only_drafts_and_cancelled_broadcasts_can_be_deleted() {
    let sending = vec![created(), added(&[1]), started(&[], 1)];
    assert!(matches!(
        run(sending.clone(), Command::Delete, t(3))
            .await
            .unwrap_err(),
        BroadcastError::WrongStatus {
            status: BroadcastStatus::Sending,
            ..
        }
    ));
    let cancelled = run(sending.clone(), Command::Cancel, t(3)).await.unwrap();
    let mut all = sending;
    all.extend(cancelled);
    let deleted = run(all.clone(), Command::Delete, t(4)).await.unwrap();
    all.extend(deleted);
    let mut broadcast = Broadcast::default();
    for event in all.clone() {
        broadcast.apply(event);
    }
    assert!(broadcast.state.is_none() && broadcast.deleted);
    assert_eq!(
        run(all, Command::Resume, t(5)).await.unwrap_err(),
        BroadcastError::NotFound
    );
}

#[tokio::test]
async fn another_workspace_cannot_see_the_broadcast() {
    let error = BroadcastTest::with(())
        .given(vec![created()])
        .when_async(Issued {
            workspace_id: WorkspaceId(Uuid::from_u128(77)),
            at: t(1),
            command: Command::Cancel,
        })
        .await
        .inspect_result()
        .unwrap_err();
    assert_eq!(error, BroadcastError::NotFound);
}

#[test]
fn the_state_of_a_large_broadcast_stays_small() {
    let mut state = fold([created()]);
    for n in 0..10_000u64 {
        state.recipients.insert(14_155_550_000 + n);
    }
    let bytes = serde_json::to_vec(&state).unwrap().len();
    assert!(bytes < 200_000, "{bytes} bytes for 10,000 recipients");
}

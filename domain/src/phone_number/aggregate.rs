//! The phone number's state and rules.

use super::commands::{PhoneNumberChanges, PhoneNumberCommand, PhoneNumberRegistration};
use super::events::{PhoneNumberEvent, PhoneNumberStatus};
use super::health::{MessagingLimitTier, QualityRating};
use crate::{Issued, SealedSecret, WorkspaceId, E164};
use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};

const MAX_TEXT: usize = 256;

/// Why a phone-number command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneNumberError {
    #[error("phone number not found")]
    NotFound,
    #[error("Meta phone number {0} is already registered")]
    AlreadyRegistered(String),
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
}

/// A registered number's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhoneNumberState {
    pub workspace_id: WorkspaceId,
    pub phone_number_id: String,
    pub waba_id: String,
    pub waba_name: Option<String>,
    pub display_phone_number: E164,
    pub display_name: Option<String>,
    pub verified_name: Option<String>,
    pub status: PhoneNumberStatus,
    pub access_token: Option<SealedSecret>,
    pub registered_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Meta's quality rating, once reported.
    #[serde(default)]
    pub quality_rating: Option<QualityRating>,
    /// Meta's messaging-limit tier, once reported.
    #[serde(default)]
    pub messaging_limit: Option<MessagingLimitTier>,
}

/// The PhoneNumber aggregate: absent until registered, absent again once removed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PhoneNumber {
    pub state: Option<PhoneNumberState>,
}

fn invalid(field: &'static str, reason: impl Into<String>) -> PhoneNumberError {
    PhoneNumberError::Invalid {
        field,
        reason: reason.into(),
    }
}

fn check_meta_id(field: &'static str, value: &str) -> Result<(), PhoneNumberError> {
    if value.is_empty() || value.len() > 64 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(field, "must be Meta's numeric id"));
    }
    Ok(())
}

fn check_text(field: &'static str, value: &Option<String>) -> Result<(), PhoneNumberError> {
    match value {
        Some(v) if v.trim().is_empty() => Err(invalid(field, "must not be empty")),
        Some(v) if v.chars().count() > MAX_TEXT => {
            Err(invalid(field, format!("at most {MAX_TEXT} characters")))
        }
        _ => Ok(()),
    }
}

impl Aggregate for PhoneNumber {
    const TYPE: &'static str = "phone_number";
    type Command = Issued<PhoneNumberCommand>;
    type Event = PhoneNumberEvent;
    type Error = PhoneNumberError;
    type Services = ();

    async fn handle(
        &mut self,
        issued: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let Issued {
            workspace_id,
            at,
            command,
        } = issued;
        let events = match command {
            PhoneNumberCommand::RegisterPhoneNumber(registration) => {
                self.register(workspace_id, registration, at)?
            }
            PhoneNumberCommand::UpdatePhoneNumber(changes) => {
                self.owned_by(workspace_id)?.changes(changes, at)?
            }
            PhoneNumberCommand::RemovePhoneNumber => {
                self.owned_by(workspace_id)?;
                vec![PhoneNumberEvent::PhoneNumberRemoved { at }]
            }
            PhoneNumberCommand::RecordHealth {
                quality_rating,
                messaging_limit,
            } => self
                .owned_by(workspace_id)?
                .health(quality_rating, messaging_limit, at),
            PhoneNumberCommand::RecordCodeRequested { method } => {
                self.owned_by(workspace_id)?;
                vec![PhoneNumberEvent::PhoneNumberVerificationCodeRequested { method, at }]
            }
            PhoneNumberCommand::RecordCodeVerified => {
                self.owned_by(workspace_id)?;
                vec![PhoneNumberEvent::PhoneNumberCodeVerified { at }]
            }
            PhoneNumberCommand::RecordBusinessProfileUpdated { changes } => {
                self.owned_by(workspace_id)?;
                vec![PhoneNumberEvent::PhoneNumberBusinessProfileUpdated { changes, at }]
            }
            PhoneNumberCommand::RecordAccountUpdate { event, detail } => {
                self.owned_by(workspace_id)?;
                vec![PhoneNumberEvent::PhoneNumberAccountUpdated { event, detail, at }]
            }
        };
        for event in events {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            PhoneNumberEvent::PhoneNumberRegistered {
                workspace_id,
                phone_number_id,
                waba_id,
                waba_name,
                display_phone_number,
                display_name,
                verified_name,
                status,
                access_token,
                at,
            } => {
                self.state = Some(PhoneNumberState {
                    workspace_id,
                    phone_number_id,
                    waba_id,
                    waba_name,
                    display_phone_number,
                    display_name,
                    verified_name,
                    status,
                    access_token,
                    registered_at: at,
                    updated_at: at,
                    quality_rating: None,
                    messaging_limit: None,
                })
            }
            PhoneNumberEvent::PhoneNumberRemoved { .. } => self.state = None,
            event => {
                if let Some(state) = self.state.as_mut() {
                    state.apply_change(event);
                }
            }
        }
    }
}

impl PhoneNumber {
    fn owned_by(&self, workspace: WorkspaceId) -> Result<&PhoneNumberState, PhoneNumberError> {
        match &self.state {
            Some(state) if state.workspace_id == workspace => Ok(state),
            _ => Err(PhoneNumberError::NotFound),
        }
    }

    fn register(
        &self,
        workspace_id: WorkspaceId,
        registration: PhoneNumberRegistration,
        at: DateTime<Utc>,
    ) -> Result<Vec<PhoneNumberEvent>, PhoneNumberError> {
        if self.state.is_some() {
            return Err(PhoneNumberError::AlreadyRegistered(
                registration.phone_number_id,
            ));
        }
        check_meta_id("phoneNumberId", &registration.phone_number_id)?;
        check_meta_id("wabaId", &registration.waba_id)?;
        check_text("wabaName", &registration.waba_name)?;
        check_text("displayName", &registration.display_name)?;
        check_text("verifiedName", &registration.verified_name)?;
        Ok(vec![PhoneNumberEvent::PhoneNumberRegistered {
            workspace_id,
            phone_number_id: registration.phone_number_id,
            waba_id: registration.waba_id,
            waba_name: registration.waba_name,
            display_phone_number: registration.display_phone_number,
            display_name: registration.display_name,
            verified_name: registration.verified_name,
            status: registration.status,
            access_token: registration.access_token,
            at,
        }])
    }
}

impl PhoneNumberState {
    fn changes(
        &self,
        changes: PhoneNumberChanges,
        at: DateTime<Utc>,
    ) -> Result<Vec<PhoneNumberEvent>, PhoneNumberError> {
        check_text("wabaName", &changes.waba_name)?;
        check_text("displayName", &changes.display_name)?;
        check_text("verifiedName", &changes.verified_name)?;
        let mut events = Vec::new();
        let waba_name = changes
            .waba_name
            .filter(|v| Some(v) != self.waba_name.as_ref());
        let display_phone_number = changes
            .display_phone_number
            .filter(|v| *v != self.display_phone_number);
        let display_name = changes
            .display_name
            .filter(|v| Some(v) != self.display_name.as_ref());
        let verified_name = changes
            .verified_name
            .filter(|v| Some(v) != self.verified_name.as_ref());
        if waba_name.is_some()
            || display_phone_number.is_some()
            || display_name.is_some()
            || verified_name.is_some()
        {
            events.push(PhoneNumberEvent::PhoneNumberDetailsChanged {
                waba_name,
                display_phone_number,
                display_name,
                verified_name,
                at,
            });
        }
        if let Some(status) = changes.status.filter(|s| *s != self.status) {
            events.push(PhoneNumberEvent::PhoneNumberStatusChanged { status, at });
        }
        // A sealed token cannot be compared with the stored one (fresh nonce each time): always record.
        if let Some(access_token) = changes.access_token {
            events.push(PhoneNumberEvent::PhoneNumberAccessTokenReplaced { access_token, at });
        }
        Ok(events)
    }

    /// The health events for what Meta now reports; an unchanged value records nothing.
    fn health(
        &self,
        quality_rating: Option<QualityRating>,
        messaging_limit: Option<MessagingLimitTier>,
        at: DateTime<Utc>,
    ) -> Vec<PhoneNumberEvent> {
        let mut events = Vec::new();
        if let Some(rating) = quality_rating.filter(|r| Some(*r) != self.quality_rating) {
            events.push(PhoneNumberEvent::PhoneNumberQualityRated {
                rating,
                previous: self.quality_rating,
                at,
            });
        }
        if let Some(tier) = messaging_limit.filter(|t| Some(*t) != self.messaging_limit) {
            events.push(PhoneNumberEvent::PhoneNumberMessagingLimitChanged {
                tier,
                previous: self.messaging_limit,
                at,
            });
        }
        events
    }

    /// Folds a change event (anything but registration and removal) into the state.
    pub fn apply_change(&mut self, event: PhoneNumberEvent) {
        self.updated_at = event.at();
        match event {
            PhoneNumberEvent::PhoneNumberDetailsChanged {
                waba_name,
                display_phone_number,
                display_name,
                verified_name,
                ..
            } => {
                if waba_name.is_some() {
                    self.waba_name = waba_name;
                }
                if let Some(number) = display_phone_number {
                    self.display_phone_number = number;
                }
                if display_name.is_some() {
                    self.display_name = display_name;
                }
                if verified_name.is_some() {
                    self.verified_name = verified_name;
                }
            }
            PhoneNumberEvent::PhoneNumberStatusChanged { status, .. } => self.status = status,
            PhoneNumberEvent::PhoneNumberAccessTokenReplaced { access_token, .. } => {
                self.access_token = Some(access_token)
            }
            PhoneNumberEvent::PhoneNumberQualityRated { rating, .. } => {
                self.quality_rating = Some(rating)
            }
            PhoneNumberEvent::PhoneNumberMessagingLimitChanged { tier, .. } => {
                self.messaging_limit = Some(tier)
            }
            PhoneNumberEvent::PhoneNumberCodeVerified { .. } => {
                self.status = PhoneNumberStatus::Verified
            }
            PhoneNumberEvent::PhoneNumberRegistered { .. }
            | PhoneNumberEvent::PhoneNumberRemoved { .. }
            | PhoneNumberEvent::PhoneNumberVerificationCodeRequested { .. }
            | PhoneNumberEvent::PhoneNumberBusinessProfileUpdated { .. }
            | PhoneNumberEvent::PhoneNumberAccountUpdated { .. } => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cqrs_es::test::TestFramework;
    use uuid::Uuid;

    fn at() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-01T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn issue(command: PhoneNumberCommand) -> Issued<PhoneNumberCommand> {
        Issued {
            workspace_id: WorkspaceId(Uuid::from_u128(1)),
            at: at(),
            command,
        }
    }

    fn registration() -> PhoneNumberRegistration {
        PhoneNumberRegistration {
            phone_number_id: "106540352242922".into(),
            waba_id: "102290129340398".into(),
            waba_name: None,
            display_phone_number: E164::parse("+15550934873").unwrap(),
            display_name: Some("Parley Demo".into()),
            verified_name: None,
            status: PhoneNumberStatus::Unverified,
            access_token: Some(SealedSecret("v1:sealed".into())),
        }
    }

    fn registered() -> PhoneNumberEvent {
        let r = registration();
        PhoneNumberEvent::PhoneNumberRegistered {
            workspace_id: WorkspaceId(Uuid::from_u128(1)),
            phone_number_id: r.phone_number_id,
            waba_id: r.waba_id,
            waba_name: None,
            display_phone_number: r.display_phone_number,
            display_name: r.display_name,
            verified_name: None,
            status: r.status,
            access_token: r.access_token,
            at: at(),
        }
    }

    #[tokio::test]
    async fn registering_records_the_number() {
        TestFramework::<PhoneNumber>::with(())
            .given_no_previous_events()
            .when_async(issue(PhoneNumberCommand::RegisterPhoneNumber(
                registration(),
            )))
            .await
            .then_expect_events(vec![registered()]);
    }

    #[tokio::test]
    async fn registering_twice_is_refused() {
        TestFramework::<PhoneNumber>::with(())
            .given(vec![registered()])
            .when_async(issue(PhoneNumberCommand::RegisterPhoneNumber(
                registration(),
            )))
            .await
            .then_expect_error(PhoneNumberError::AlreadyRegistered(
                "106540352242922".into(),
            ));
    }

    #[tokio::test]
    async fn meta_ids_must_be_numeric() {
        let mut bad = registration();
        bad.waba_id = "waba-1".into();
        TestFramework::<PhoneNumber>::with(())
            .given_no_previous_events()
            .when_async(issue(PhoneNumberCommand::RegisterPhoneNumber(bad)))
            .await
            .then_expect_error(PhoneNumberError::Invalid {
                field: "wabaId",
                reason: "must be Meta's numeric id".into(),
            });
    }

    #[tokio::test]
    async fn updating_records_only_what_changed() {
        let changes = PhoneNumberChanges {
            display_name: Some("Parley Demo".into()),
            verified_name: Some("Parley Inc".into()),
            status: Some(PhoneNumberStatus::Verified),
            ..Default::default()
        };
        TestFramework::<PhoneNumber>::with(())
            .given(vec![registered()])
            .when_async(issue(PhoneNumberCommand::UpdatePhoneNumber(changes)))
            .await
            .then_expect_events(vec![
                PhoneNumberEvent::PhoneNumberDetailsChanged {
                    waba_name: None,
                    display_phone_number: None,
                    display_name: None,
                    verified_name: Some("Parley Inc".into()),
                    at: at(),
                },
                PhoneNumberEvent::PhoneNumberStatusChanged {
                    status: PhoneNumberStatus::Verified,
                    at: at(),
                },
            ]);
    }

    #[tokio::test]
    async fn a_removed_number_is_not_found() {
        TestFramework::<PhoneNumber>::with(())
            .given(vec![
                registered(),
                PhoneNumberEvent::PhoneNumberRemoved { at: at() },
            ])
            .when_async(issue(PhoneNumberCommand::RemovePhoneNumber))
            .await
            .then_expect_error(PhoneNumberError::NotFound);
    }

    #[tokio::test]
    async fn health_records_only_what_changed() {
        let rated = PhoneNumberEvent::PhoneNumberQualityRated {
            rating: QualityRating::Green,
            previous: None,
            at: at(),
        };
        TestFramework::<PhoneNumber>::with(())
            .given(vec![registered(), rated])
            .when_async(issue(PhoneNumberCommand::RecordHealth {
                quality_rating: Some(QualityRating::Green),
                messaging_limit: Some(MessagingLimitTier::Tier10K),
            }))
            .await
            .then_expect_events(vec![PhoneNumberEvent::PhoneNumberMessagingLimitChanged {
                tier: MessagingLimitTier::Tier10K,
                previous: None,
                at: at(),
            }]);
        TestFramework::<PhoneNumber>::with(())
            .given(vec![registered()])
            .when_async(issue(PhoneNumberCommand::RecordHealth {
                quality_rating: Some(QualityRating::Red),
                messaging_limit: None,
            }))
            .await
            .then_expect_events(vec![PhoneNumberEvent::PhoneNumberQualityRated {
                rating: QualityRating::Red,
                previous: None,
                at: at(),
            }]);
    }

    #[test]
    fn a_verified_code_verifies_the_number() {
        let mut number = PhoneNumber::default();
        number.apply(registered());
        number.apply(PhoneNumberEvent::PhoneNumberCodeVerified { at: at() });
        assert_eq!(number.state.unwrap().status, PhoneNumberStatus::Verified);
    }
}

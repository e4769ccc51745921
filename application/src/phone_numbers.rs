//! Phone-number use cases: register, update, remove. The Meta access token is sealed here,
//! before it reaches the aggregate, so no event ever holds it in clear.

use crate::{AppError, Application, CommandBus, Freshness, Infrastructure, RequestContext};
use domain::phone_number::{
    phone_number_id, PhoneNumber, PhoneNumberChanges, PhoneNumberCommand, PhoneNumberRegistration,
    PhoneNumberStatus,
};
use domain::{Issued, E164};
use uuid::Uuid;

/// A number to register, as the caller sent it.
#[derive(Debug, Clone, Default)]
pub struct PhoneNumberInput {
    pub phone_number_id: String,
    pub waba_id: String,
    pub waba_name: Option<String>,
    pub display_phone_number: String,
    pub display_name: Option<String>,
    pub verified_name: Option<String>,
    pub status: Option<PhoneNumberStatus>,
    /// In clear as received; sealed before it goes further.
    pub access_token: Option<String>,
}

/// Changes to a registered number, as the caller sent them.
#[derive(Debug, Clone, Default)]
pub struct PhoneNumberChangesInput {
    pub waba_name: Option<String>,
    pub display_phone_number: Option<String>,
    pub display_name: Option<String>,
    pub verified_name: Option<String>,
    pub status: Option<PhoneNumberStatus>,
    pub access_token: Option<String>,
}

impl<I: Infrastructure> Application<I> {
    pub(crate) async fn phone_number_command(
        &self,
        context: &RequestContext,
        id: Uuid,
        command: PhoneNumberCommand,
    ) -> Result<Freshness, AppError> {
        let at = self.infra.clock().now();
        let issued = Issued {
            workspace_id: context.workspace_id,
            at,
            command,
        };
        let committed = CommandBus::execute::<PhoneNumber, _>(
            self.infra.phone_number_store(),
            &(),
            &id.to_string(),
            issued,
            context.event_metadata(at),
        )
        .await?;
        self.infra.wait_for_read_models(&committed.events).await
    }

    fn seal_token(&self, token: Option<String>) -> Result<Option<domain::SealedSecret>, AppError> {
        match token.map(|t| t.trim().to_string()) {
            Some(t) if t.is_empty() => {
                Err(AppError::Validation("accessToken must not be empty".into()))
            }
            Some(t) => Ok(Some(self.infra.secrets().seal(&t))),
            None => Ok(None),
        }
    }

    /// Registers a WhatsApp business number with the workspace; its id derives from Meta's id.
    pub async fn register_phone_number(
        &self,
        context: &RequestContext,
        input: PhoneNumberInput,
    ) -> Result<(Uuid, Freshness), AppError> {
        let display_phone_number = E164::parse(input.display_phone_number.trim())?;
        let id = phone_number_id(input.phone_number_id.trim());
        let registration = PhoneNumberRegistration {
            phone_number_id: input.phone_number_id.trim().to_string(),
            waba_id: input.waba_id.trim().to_string(),
            waba_name: input.waba_name,
            display_phone_number,
            display_name: input.display_name,
            verified_name: input.verified_name,
            status: input.status.unwrap_or(PhoneNumberStatus::Unverified),
            access_token: self.seal_token(input.access_token)?,
        };
        let freshness = self
            .phone_number_command(
                context,
                id,
                PhoneNumberCommand::RegisterPhoneNumber(registration),
            )
            .await?;
        Ok((id, freshness))
    }

    /// Changes a registered number's details, status or access token.
    pub async fn update_phone_number(
        &self,
        context: &RequestContext,
        id: Uuid,
        input: PhoneNumberChangesInput,
    ) -> Result<Freshness, AppError> {
        let display_phone_number = match input.display_phone_number {
            Some(raw) => Some(E164::parse(raw.trim())?),
            None => None,
        };
        let changes = PhoneNumberChanges {
            waba_name: input.waba_name,
            display_phone_number,
            display_name: input.display_name,
            verified_name: input.verified_name,
            status: input.status,
            access_token: self.seal_token(input.access_token)?,
        };
        self.phone_number_command(context, id, PhoneNumberCommand::UpdatePhoneNumber(changes))
            .await
    }

    /// Removes a number from the workspace.
    pub async fn remove_phone_number(
        &self,
        context: &RequestContext,
        id: Uuid,
    ) -> Result<Freshness, AppError> {
        self.phone_number_command(context, id, PhoneNumberCommand::RemovePhoneNumber)
            .await
    }
}

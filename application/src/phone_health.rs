//! A number's health and Meta-side settings: quality rating and messaging-limit tier (from
//! Meta's webhooks, or fetched), registration codes, and the business profile.

use crate::meta_management::{
    BusinessProfile, BusinessProfileUpdate, CodeMethod, MetaManagement, PhoneNumberHealth,
};
use crate::outbox::GatewayError;
use crate::{
    Actor, AppError, Application, ErrorCode, Infrastructure, PhoneNumberRef, RequestContext,
};
use domain::broadcast::PauseReason;
use domain::phone_number::{MessagingLimitTier, PhoneNumberCommand, QualityRating};
use domain::WorkspaceId;
use uuid::Uuid;

/// Business-profile limits (seed 001; Meta).
const MAX_ABOUT: usize = 139;
const MAX_DESCRIPTION: usize = 512;
const MAX_ADDRESS: usize = 256;
const MAX_EMAIL: usize = 128;
const MAX_WEBSITES: usize = 2;
const MAX_WEBSITE: usize = 256;

fn meta_context(workspace_id: WorkspaceId, correlation_id: &str) -> RequestContext {
    RequestContext {
        workspace_id,
        actor: Actor::Meta,
        correlation_id: correlation_id.to_string(),
    }
}

/// Meta's refusal as the caller sees it: Meta's own words, as a 400, or 503 when Meta could
/// not answer now.
pub(crate) fn meta_refusal(error: GatewayError) -> AppError {
    match error {
        GatewayError::Permanent(failure) => AppError::Refused {
            code: ErrorCode::ValidationError,
            message: format!(
                "Meta refused: {} ({}){}",
                failure.title,
                failure.code,
                failure
                    .message
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default()
            ),
        },
        GatewayError::Retryable { failure, .. } => AppError::Refused {
            code: ErrorCode::Unavailable,
            message: format!(
                "Meta is unavailable right now ({} {}); try again",
                failure.code, failure.title
            ),
        },
    }
}

/// Checks a business-profile update against Meta's limits.
pub fn check_business_profile(update: &BusinessProfileUpdate) -> Result<(), AppError> {
    let too_long = |field: &str, value: &Option<String>, max: usize| match value {
        Some(v) if v.chars().count() > max => Err(AppError::Validation(format!(
            "{field} must be at most {max} characters"
        ))),
        _ => Ok(()),
    };
    if matches!(&update.about, Some(a) if a.trim().is_empty()) {
        return Err(AppError::Validation("about must not be empty".into()));
    }
    too_long("about", &update.about, MAX_ABOUT)?;
    too_long("description", &update.description, MAX_DESCRIPTION)?;
    too_long("address", &update.address, MAX_ADDRESS)?;
    too_long("email", &update.email, MAX_EMAIL)?;
    if let Some(email) = &update.email {
        if !email.contains('@') {
            return Err(AppError::Validation(
                "email must be an email address".into(),
            ));
        }
    }
    if let Some(websites) = &update.websites {
        if websites.len() > MAX_WEBSITES {
            return Err(AppError::Validation(format!(
                "websites: at most {MAX_WEBSITES}"
            )));
        }
        for site in websites {
            let lower = site.to_ascii_lowercase();
            if !(lower.starts_with("http://") || lower.starts_with("https://"))
                || site.chars().count() > MAX_WEBSITE
            {
                return Err(AppError::Validation(format!(
                    "websites: '{site}' must be an http(s) URL of at most {MAX_WEBSITE} characters"
                )));
            }
        }
    }
    Ok(())
}

impl<I: Infrastructure> Application<I> {
    /// The Meta id and token of one of the workspace's numbers, for a call made while the
    /// caller waits.
    async fn number_for_meta_call(
        &self,
        context: &RequestContext,
        reference: &PhoneNumberRef,
    ) -> Result<(Uuid, String, String), AppError> {
        let (id, _) = self.resolve_phone_number(context, reference).await?;
        let credentials = self
            .meta_credentials(id)
            .await?
            .ok_or(AppError::NotFound("phone number"))?;
        let token = credentials.access_token.ok_or_else(|| AppError::Refused {
            code: ErrorCode::InvalidState,
            message: "the phone number has no Meta access token".into(),
        })?;
        Ok((id, credentials.meta_phone_number_id, token))
    }

    /// Records Meta's view of the numbers of `waba_id` shown as `display_phone_number` (a
    /// `phone_number_quality_update`); a drop to RED pauses their running broadcasts.
    pub async fn record_phone_number_health(
        &self,
        correlation_id: &str,
        waba_id: &str,
        display_phone_number: &str,
        quality_rating: Option<QualityRating>,
        messaging_limit: Option<MessagingLimitTier>,
    ) -> Result<usize, AppError> {
        let digits: String = display_phone_number
            .chars()
            .filter(char::is_ascii_digit)
            .collect();
        let numbers = self.infra.phone_numbers_of_waba(waba_id).await?;
        let mut updated = 0;
        for (workspace_id, id, display) in numbers {
            let matches = display
                .chars()
                .filter(char::is_ascii_digit)
                .eq(digits.chars());
            if !matches {
                continue;
            }
            self.apply_health(
                workspace_id,
                id,
                correlation_id,
                quality_rating,
                messaging_limit,
            )
            .await?;
            updated += 1;
        }
        Ok(updated)
    }

    /// Whether number `id` already holds what the delivery part `correlation_id` names, or
    /// something later (see [`crate::meta_deliveries`]).
    async fn superseded_number(&self, id: Uuid, correlation_id: &str) -> Result<bool, AppError> {
        match crate::DeliveryPart::of(correlation_id) {
            Some(part) => {
                let store = self.infra.phone_number_store();
                crate::meta_deliveries::superseded(store, &id.to_string(), part).await
            }
            None => Ok(false),
        }
    }

    async fn apply_health(
        &self,
        workspace_id: WorkspaceId,
        id: Uuid,
        correlation_id: &str,
        quality_rating: Option<QualityRating>,
        messaging_limit: Option<MessagingLimitTier>,
    ) -> Result<(), AppError> {
        if self.superseded_number(id, correlation_id).await? {
            return Ok(());
        }
        let context = meta_context(workspace_id, correlation_id);
        self.phone_number_command(
            &context,
            id,
            PhoneNumberCommand::RecordHealth {
                quality_rating,
                messaging_limit,
            },
        )
        .await?;
        if quality_rating == Some(QualityRating::Red) {
            let paused = self
                .pause_broadcasts_of_number(id, PauseReason::QualityRed)
                .await?;
            if paused > 0 {
                tracing::warn!(phone_number = %id, paused, "quality RED: broadcasts paused");
            }
        }
        Ok(())
    }

    /// Records an `account_update` on every number of the WABA.
    pub async fn record_account_update(
        &self,
        correlation_id: &str,
        waba_id: &str,
        event: &str,
        detail: serde_json::Value,
    ) -> Result<usize, AppError> {
        let numbers = self.infra.phone_numbers_of_waba(waba_id).await?;
        for (workspace_id, id, _) in &numbers {
            if self.superseded_number(*id, correlation_id).await? {
                continue;
            }
            let context = meta_context(*workspace_id, correlation_id);
            self.phone_number_command(
                &context,
                *id,
                PhoneNumberCommand::RecordAccountUpdate {
                    event: event.to_string(),
                    detail: detail.clone(),
                },
            )
            .await?;
        }
        Ok(numbers.len())
    }

    /// Asks Meta for the number's quality and tier and records them.
    pub async fn refresh_phone_number_health<M: MetaManagement>(
        &self,
        meta: &M,
        context: &RequestContext,
        reference: &PhoneNumberRef,
    ) -> Result<PhoneNumberHealth, AppError> {
        let (id, meta_id, token) = self.number_for_meta_call(context, reference).await?;
        let health = meta
            .phone_number_health(&meta_id, &token)
            .await
            .map_err(meta_refusal)?;
        let rating = health
            .quality_rating
            .as_deref()
            .and_then(|r| r.parse().ok());
        let tier = health
            .messaging_limit_tier
            .as_deref()
            .and_then(|t| t.parse().ok());
        self.apply_health(
            context.workspace_id,
            id,
            &context.correlation_id,
            rating,
            tier,
        )
        .await?;
        Ok(health)
    }

    /// Asks Meta to send the number's registration code.
    pub async fn request_registration_code<M: MetaManagement>(
        &self,
        meta: &M,
        context: &RequestContext,
        reference: &PhoneNumberRef,
        method: CodeMethod,
        language: &str,
    ) -> Result<(), AppError> {
        if language.trim().is_empty() || language.len() > 16 {
            return Err(AppError::Validation(
                "language must be a language code such as en_US".into(),
            ));
        }
        let (id, meta_id, token) = self.number_for_meta_call(context, reference).await?;
        meta.request_code(&meta_id, &token, method, language)
            .await
            .map_err(meta_refusal)?;
        self.phone_number_command(
            context,
            id,
            PhoneNumberCommand::RecordCodeRequested {
                method: method.as_str().to_string(),
            },
        )
        .await?;
        Ok(())
    }

    /// Sends the registration code the owner received to Meta; on success the number is verified.
    pub async fn verify_registration_code<M: MetaManagement>(
        &self,
        meta: &M,
        context: &RequestContext,
        reference: &PhoneNumberRef,
        code: &str,
    ) -> Result<(), AppError> {
        let code = code.trim();
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(AppError::Validation("code must be 6 digits".into()));
        }
        let (id, meta_id, token) = self.number_for_meta_call(context, reference).await?;
        meta.verify_code(&meta_id, &token, code)
            .await
            .map_err(meta_refusal)?;
        self.phone_number_command(context, id, PhoneNumberCommand::RecordCodeVerified)
            .await?;
        Ok(())
    }

    /// The number's business profile, read from Meta.
    pub async fn business_profile<M: MetaManagement>(
        &self,
        meta: &M,
        context: &RequestContext,
        reference: &PhoneNumberRef,
    ) -> Result<BusinessProfile, AppError> {
        let (_, meta_id, token) = self.number_for_meta_call(context, reference).await?;
        meta.business_profile(&meta_id, &token)
            .await
            .map_err(meta_refusal)
    }

    /// Updates the number's business profile on Meta and records what changed.
    pub async fn update_business_profile<M: MetaManagement>(
        &self,
        meta: &M,
        context: &RequestContext,
        reference: &PhoneNumberRef,
        update: BusinessProfileUpdate,
    ) -> Result<(), AppError> {
        check_business_profile(&update)?;
        let (id, meta_id, token) = self.number_for_meta_call(context, reference).await?;
        meta.update_business_profile(&meta_id, &token, &update)
            .await
            .map_err(meta_refusal)?;
        let mut changes = serde_json::to_value(&update).map_err(AppError::internal)?;
        if let Some(fields) = changes.as_object_mut() {
            fields.retain(|_, value| !value.is_null());
        }
        self.phone_number_command(
            context,
            id,
            PhoneNumberCommand::RecordBusinessProfileUpdated { changes },
        )
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::conversation::MetaFailure;

    #[test]
    fn business_profile_limits_are_metas() {
        let ok = BusinessProfileUpdate {
            about: Some("a".repeat(139)),
            description: Some("d".repeat(512)),
            websites: Some(vec!["https://a.example".into(), "http://b.example".into()]),
            email: Some("hello@example.com".into()),
            ..Default::default()
        };
        assert!(check_business_profile(&ok).is_ok());
        let cases = [
            BusinessProfileUpdate {
                about: Some("a".repeat(140)),
                ..Default::default()
            },
            BusinessProfileUpdate {
                about: Some(" ".into()),
                ..Default::default()
            },
            BusinessProfileUpdate {
                description: Some("d".repeat(513)),
                ..Default::default()
            },
            BusinessProfileUpdate {
                websites: Some(vec![
                    "https://a".into(),
                    "https://b".into(),
                    "https://c".into(),
                ]),
                ..Default::default()
            },
            BusinessProfileUpdate {
                websites: Some(vec!["ftp://a".into()]),
                ..Default::default()
            },
            BusinessProfileUpdate {
                email: Some("nope".into()),
                ..Default::default()
            },
        ];
        for case in cases {
            assert!(check_business_profile(&case).is_err(), "{case:?}");
        }
    }

    #[test]
    fn meta_being_unavailable_is_503_and_its_refusal_400_with_its_words() {
        let failure = |code: i64, title: &str| MetaFailure {
            code,
            title: title.into(),
            message: None,
            details: None,
        };
        let transient = meta_refusal(GatewayError::Retryable {
            after: None,
            throughput: false,
            failure: failure(2, "Service temporarily unavailable"),
        });
        assert_eq!(transient.code(), ErrorCode::Unavailable);
        assert_eq!(transient.code().http_status(), 503);
        assert!(transient.is_refusal(), "not logged as our failure");
        let refused = meta_refusal(GatewayError::Permanent(failure(100, "Invalid parameter")));
        assert_eq!(refused.code().http_status(), 400);
        assert!(
            refused.to_string().contains("Invalid parameter (100)"),
            "{refused}"
        );
    }
}

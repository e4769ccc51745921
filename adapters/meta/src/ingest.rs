//! Turns a verified webhook delivery into commands: inbound messages and delivery statuses go to
//! their conversations; template status, quality and category updates to the templates; number
//! quality and account updates to the phone numbers of the WABA. Other fields stay in the raw
//! delivery log. Applying a delivery twice changes nothing.

use crate::webhook::{
    ChangeValue, ManagementUpdate, MessagesValue, PhoneNumberQualityUpdate, StatusUpdate,
    WebhookDelivery,
};
use application::{AppError, Application, InboundFromMeta, Infrastructure, Routed, StatusFromMeta};
use chrono::{DateTime, Utc};
use domain::conversation::{InboundContent, MessageId, MetaFailure, ReportedStatus, Wamid};
use domain::phone_number::{MessagingLimitTier, QualityRating};
use serde::Serialize;
use uuid::Uuid;

/// What applying one delivery did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IngestOutcome {
    /// Inbound messages applied (a redelivered one counts; the conversation ignores it).
    pub messages: u32,
    /// Statuses applied (likewise).
    pub statuses: u32,
    /// Template and phone-number updates applied.
    pub management: u32,
    /// Changes of other fields, kept raw.
    pub other_fields: Vec<String>,
    /// Meta phone-number ids no registered number has.
    pub unknown_phone_numbers: Vec<String>,
    /// Parts that could not be read or applied, with why.
    pub rejected: Vec<String>,
}

/// Why a delivery could not be applied at all (it stays stored for a later retry or replay).
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The body is not Meta's envelope.
    #[error("not a webhook delivery: {0}")]
    Unreadable(String),
    /// The application failed (database down): try again later.
    #[error(transparent)]
    Application(#[from] AppError),
}

/// Applies one raw delivery. Business refusals of single items are reported in the outcome;
/// infrastructure failures abort so the delivery can be processed again.
pub async fn apply_delivery<I: Infrastructure>(
    app: &Application<I>,
    raw_body: &[u8],
    correlation_id: &str,
) -> Result<IngestOutcome, IngestError> {
    let delivery = WebhookDelivery::from_slice(raw_body)
        .map_err(|e| IngestError::Unreadable(e.to_string()))?;
    let mut outcome = IngestOutcome::default();
    // Collected first: a lazy iterator's closures held across the awaits below would make the
    // future not `Send`.
    let changes: Vec<_> = delivery
        .entry
        .iter()
        .flat_map(|entry| entry.changes.iter().map(move |change| (entry, change)))
        .collect();
    for (part, (entry, change)) in changes.into_iter().enumerate() {
        if let Some(update) = change.management() {
            // The part's own correlation id lets the use case tell whether this very
            // change (or a later one) already reached its aggregate: such updates are not
            // idempotent by themselves (see application::meta_deliveries).
            let part_correlation =
                application::meta_delivery_part_correlation(correlation_id, part);
            match update {
                Ok(update) => {
                    match refusal_as_report(
                        apply_management(app, &entry.id, update, &part_correlation).await,
                    )? {
                        Ok(_) => outcome.management += 1,
                        Err(reason) => outcome
                            .rejected
                            .push(format!("change '{}': {reason}", change.field)),
                    }
                }
                Err(error) => outcome
                    .rejected
                    .push(format!("change '{}': {error}", change.field)),
            }
            continue;
        }
        match change.parse() {
            Ok(ChangeValue::Messages(value)) => {
                apply_messages(app, &value, correlation_id, &mut outcome).await?
            }
            Ok(ChangeValue::Other { field, .. }) => outcome.other_fields.push(field),
            Err(error) => outcome
                .rejected
                .push(format!("change '{}': {error}", change.field)),
        }
    }
    Ok(outcome)
}

async fn apply_messages<I: Infrastructure>(
    app: &Application<I>,
    value: &MessagesValue,
    correlation_id: &str,
    outcome: &mut IngestOutcome,
) -> Result<(), AppError> {
    let number = value.metadata.phone_number_id.as_str();
    let mut unknown = false;
    for message in value.inbound_messages() {
        let message = match message {
            Ok(message) => message,
            Err(error) => {
                outcome.rejected.push(error.to_string());
                continue;
            }
        };
        let inbound = match inbound_from(&message) {
            Ok(inbound) => inbound,
            Err(reason) => {
                outcome
                    .rejected
                    .push(format!("message {}: {reason}", message.id));
                continue;
            }
        };
        match refusal_as_report(
            app.receive_inbound_message(correlation_id, number, inbound)
                .await,
        )? {
            Ok(Routed::UnknownPhoneNumber) => unknown = true,
            Ok(Routed::Conversation(_)) => outcome.messages += 1,
            Err(reason) => outcome
                .rejected
                .push(format!("message {}: {reason}", message.id)),
        }
    }
    for status in &value.statuses {
        let Some(report) = status_from(status) else {
            // `played` and statuses Meta adds later: nothing to apply yet.
            continue;
        };
        match refusal_as_report(
            app.record_delivery_status(correlation_id, number, report)
                .await,
        )? {
            Ok(Routed::UnknownPhoneNumber) => unknown = true,
            Ok(Routed::Conversation(_)) => outcome.statuses += 1,
            Err(reason) => outcome
                .rejected
                .push(format!("status {}: {reason}", status.id)),
        }
    }
    if unknown && !outcome.unknown_phone_numbers.iter().any(|n| n == number) {
        outcome.unknown_phone_numbers.push(number.to_string());
    }
    Ok(())
}

/// Applies a template or phone-number update of the WABA `waba_id`.
async fn apply_management<I: Infrastructure>(
    app: &Application<I>,
    waba_id: &str,
    update: ManagementUpdate,
    correlation_id: &str,
) -> Result<Routed, AppError> {
    match update {
        ManagementUpdate::TemplateStatus(status) => {
            let reason = status
                .reason
                .clone()
                .filter(|reason| reason != "NONE")
                .or_else(|| status.rejection_info.as_ref()?.reason.clone());
            app.record_template_status(
                correlation_id,
                waba_id,
                &status.name,
                &status.language,
                &status.message_template_id,
                &status.event,
                reason,
            )
            .await?;
        }
        ManagementUpdate::TemplateQuality(quality) => {
            app.record_template_quality(
                correlation_id,
                waba_id,
                &quality.name,
                &quality.language,
                &quality.new_quality_score,
            )
            .await?;
        }
        ManagementUpdate::TemplateCategory(category) => {
            app.record_template_category(
                correlation_id,
                waba_id,
                &category.name,
                &category.language,
                &category.new_category,
            )
            .await?;
        }
        ManagementUpdate::PhoneNumberQuality(quality) => {
            let (rating, tier) = health_from(&quality);
            app.record_phone_number_health(
                correlation_id,
                waba_id,
                &quality.display_phone_number,
                rating,
                tier,
            )
            .await?;
        }
        ManagementUpdate::Account(account) => {
            let detail = serde_json::Value::Object(account.details.clone());
            app.record_account_update(correlation_id, waba_id, &account.event, detail)
                .await?;
        }
    }
    Ok(Routed::UnknownPhoneNumber)
}

/// The rating and tier a `phone_number_quality_update` implies. Meta names the tier; the
/// rating only through the event (`FLAGGED`: quality dropped to low, `UNFLAGGED`: restored).
fn health_from(
    update: &PhoneNumberQualityUpdate,
) -> (Option<QualityRating>, Option<MessagingLimitTier>) {
    let rating = match update.event.as_str() {
        "FLAGGED" => Some(QualityRating::Red),
        "UNFLAGGED" => Some(QualityRating::Green),
        _ => None,
    };
    let tier = update
        .current_limit
        .as_deref()
        .or(update.max_daily_conversations_per_business.as_deref())
        .and_then(|tier| tier.parse().ok());
    (rating, tier)
}

/// Splits a use case's result: refusals (bad data from Meta) become a reason to report;
/// infrastructure failures stay errors.
fn refusal_as_report(result: Result<Routed, AppError>) -> Result<Result<Routed, String>, AppError> {
    match result {
        Ok(routed) => Ok(Ok(routed)),
        Err(error @ AppError::Internal(_)) => Err(error),
        Err(error) => Ok(Err(error.to_string())),
    }
}

fn inbound_from(message: &crate::webhook::InboundMessage<'_>) -> Result<InboundFromMeta, String> {
    Ok(InboundFromMeta {
        wamid: Wamid::parse(message.id).map_err(|e| e.to_string())?,
        customer_wa_id: message.from.to_string(),
        profile_name: message.profile_name.map(str::to_string),
        content: InboundContent::from_meta(message.raw).map_err(|e| e.to_string())?,
        sent_at: unix_time(message.timestamp),
        context_wamid: message.context_id.and_then(|id| Wamid::parse(id).ok()),
    })
}

fn status_from(status: &StatusUpdate) -> Option<StatusFromMeta> {
    let reported = match status.status.as_str() {
        "sent" => ReportedStatus::Sent,
        "delivered" => ReportedStatus::Delivered,
        "read" => ReportedStatus::Read,
        "failed" => ReportedStatus::Failed(
            status
                .errors
                .first()
                .map(|error| MetaFailure {
                    code: error.code,
                    title: error
                        .title
                        .clone()
                        .or_else(|| error.message.clone())
                        .unwrap_or_default(),
                    message: error.message.clone(),
                    details: error.details().map(str::to_string),
                })
                .unwrap_or(MetaFailure {
                    code: 0,
                    title: "failed without an error from Meta".into(),
                    message: None,
                    details: None,
                }),
        ),
        _ => return None,
    };
    Some(StatusFromMeta {
        wamid: Wamid::parse(status.id.as_str()).ok()?,
        recipient_wa_id: status.recipient_id.clone(),
        message_id: status
            .biz_opaque_callback_data
            .as_deref()
            .and_then(|data| Uuid::parse_str(data).ok())
            .map(MessageId),
        status: reported,
        at: unix_time(status.timestamp_secs().unwrap_or_default()),
    })
}

fn unix_time(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(seconds, 0).unwrap_or_default()
}

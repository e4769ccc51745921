//! Meta's management API (templates, registration codes, the business profile), as the use
//! cases and the outbox call it. The Graph client implements it; tests use the sandbox.

use crate::outbox::GatewayError;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::future::Future;

/// A template as Meta lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetaTemplate {
    /// Meta's id of the template.
    pub meta_template_id: String,
    pub name: String,
    pub language: String,
    /// `MARKETING`, `UTILITY` or `AUTHENTICATION` (older templates may carry other values).
    pub category: String,
    /// Meta's status: `APPROVED`, `PENDING`, `REJECTED`, `PAUSED`, …
    pub status: String,
    /// Meta's components, as JSON.
    pub components: Vec<Value>,
}

/// Meta's answer to a template creation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateSubmission {
    pub meta_template_id: String,
    pub status: String,
    pub category: String,
}

/// A number's business profile as Meta returns it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BusinessProfile {
    pub about: Option<String>,
    pub address: Option<String>,
    pub description: Option<String>,
    pub email: Option<String>,
    pub profile_picture_url: Option<String>,
    pub websites: Vec<String>,
    pub vertical: Option<String>,
}

/// The fields of a business-profile update; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BusinessProfileUpdate {
    pub about: Option<String>,
    pub address: Option<String>,
    pub description: Option<String>,
    pub email: Option<String>,
    pub websites: Option<Vec<String>>,
    pub vertical: Option<String>,
    pub profile_picture_handle: Option<String>,
}

/// A number's health as Meta reports it (`GET /{phone-number-id}?fields=…`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhoneNumberHealth {
    /// `GREEN`, `YELLOW`, `RED`, `NA` or `UNKNOWN`.
    pub quality_rating: Option<String>,
    /// `TIER_250`, `TIER_2K`, …, `TIER_UNLIMITED`.
    pub messaging_limit_tier: Option<String>,
    /// `STANDARD` or `HIGH`.
    pub throughput_level: Option<String>,
}

/// How the registration code reaches the number's owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum CodeMethod {
    Sms,
    Voice,
}

impl CodeMethod {
    /// Meta's wire form: `SMS` or `VOICE`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sms => "SMS",
            Self::Voice => "VOICE",
        }
    }
}

/// Meta's management endpoints. `access_token` is the number's token or the configured default.
pub trait MetaManagement: Send + Sync + 'static {
    /// `POST /{waba-id}/message_templates` with Meta's creation body.
    fn create_template(
        &self,
        waba_id: &str,
        access_token: &str,
        body: &Value,
    ) -> impl Future<Output = Result<TemplateSubmission, GatewayError>> + Send;
    /// `POST /{template-id}` with `{components, category?}`.
    fn edit_template(
        &self,
        meta_template_id: &str,
        access_token: &str,
        body: &Value,
    ) -> impl Future<Output = Result<(), GatewayError>> + Send;
    /// `DELETE /{waba-id}/message_templates?name=…[&hsm_id=…]`.
    fn delete_template(
        &self,
        waba_id: &str,
        access_token: &str,
        name: &str,
        meta_template_id: Option<&str>,
    ) -> impl Future<Output = Result<(), GatewayError>> + Send;
    /// Every template of the WABA, following Meta's paging.
    fn list_templates(
        &self,
        waba_id: &str,
        access_token: &str,
    ) -> impl Future<Output = Result<Vec<MetaTemplate>, GatewayError>> + Send;
    /// `POST /{phone-number-id}/request_code`.
    fn request_code(
        &self,
        meta_phone_number_id: &str,
        access_token: &str,
        method: CodeMethod,
        language: &str,
    ) -> impl Future<Output = Result<(), GatewayError>> + Send;
    /// `POST /{phone-number-id}/verify_code`.
    fn verify_code(
        &self,
        meta_phone_number_id: &str,
        access_token: &str,
        code: &str,
    ) -> impl Future<Output = Result<(), GatewayError>> + Send;
    /// `GET /{phone-number-id}?fields=quality_rating,messaging_limit_tier,throughput`.
    fn phone_number_health(
        &self,
        meta_phone_number_id: &str,
        access_token: &str,
    ) -> impl Future<Output = Result<PhoneNumberHealth, GatewayError>> + Send;
    /// `GET /{phone-number-id}/whatsapp_business_profile`.
    fn business_profile(
        &self,
        meta_phone_number_id: &str,
        access_token: &str,
    ) -> impl Future<Output = Result<BusinessProfile, GatewayError>> + Send;
    /// `POST /{phone-number-id}/whatsapp_business_profile`.
    fn update_business_profile(
        &self,
        meta_phone_number_id: &str,
        access_token: &str,
        update: &BusinessProfileUpdate,
    ) -> impl Future<Output = Result<(), GatewayError>> + Send;
}

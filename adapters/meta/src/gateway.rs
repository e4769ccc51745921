//! The outbox's and use cases' view of Meta: [`application::MetaGateway`] and
//! [`application::MetaManagement`] over the Graph API client, with Meta's errors sorted into
//! retryable and permanent.

use crate::{GraphClient, GraphError, RetryClass};
use application::outbox::{GatewayError, MetaGateway};
use application::{
    BusinessProfile, BusinessProfileUpdate, CodeMethod, MetaManagement, MetaTemplate,
    PhoneNumberHealth, TemplateSubmission,
};
use domain::conversation::{MetaFailure, Wamid};
use serde_json::Value;

impl MetaGateway for GraphClient {
    async fn send_message(
        &self,
        meta_phone_number_id: &str,
        access_token: &str,
        body: &Value,
    ) -> Result<Wamid, GatewayError> {
        let accepted = GraphClient::send_message(self, meta_phone_number_id, access_token, body)
            .await
            .map_err(gateway_error)?;
        Wamid::parse(accepted.wamid).map_err(|error| {
            GatewayError::Permanent(MetaFailure {
                code: 0,
                title: format!("Meta answered an unusable message id: {error}"),
                message: None,
                details: None,
            })
        })
    }

    async fn mark_read(
        &self,
        meta_phone_number_id: &str,
        access_token: &str,
        body: &Value,
    ) -> Result<(), GatewayError> {
        let wamid = body["message_id"].as_str().unwrap_or_default();
        GraphClient::mark_read(self, meta_phone_number_id, access_token, wamid)
            .await
            .map_err(gateway_error)
    }
}

impl MetaManagement for GraphClient {
    async fn create_template(
        &self,
        waba_id: &str,
        access_token: &str,
        body: &Value,
    ) -> Result<TemplateSubmission, GatewayError> {
        GraphClient::create_template(self, waba_id, access_token, body)
            .await
            .map_err(gateway_error)
    }

    async fn edit_template(
        &self,
        meta_template_id: &str,
        access_token: &str,
        body: &Value,
    ) -> Result<(), GatewayError> {
        GraphClient::edit_template(self, meta_template_id, access_token, body)
            .await
            .map_err(gateway_error)
    }

    /// Idempotent: a template Meta does not know (code 100, subcode 2593002) counts as deleted,
    /// so a retry after a lost answer succeeds.
    async fn delete_template(
        &self,
        waba_id: &str,
        access_token: &str,
        name: &str,
        meta_template_id: Option<&str>,
    ) -> Result<(), GatewayError> {
        match GraphClient::delete_template(self, waba_id, access_token, name, meta_template_id)
            .await
        {
            Err(error) if error.is_template_not_found() => {
                tracing::debug!(waba_id, name, "template already gone at Meta");
                Ok(())
            }
            result => result.map_err(gateway_error),
        }
    }

    async fn list_templates(
        &self,
        waba_id: &str,
        access_token: &str,
    ) -> Result<Vec<MetaTemplate>, GatewayError> {
        GraphClient::list_templates(self, waba_id, access_token)
            .await
            .map_err(gateway_error)
    }

    async fn request_code(
        &self,
        meta_phone_number_id: &str,
        access_token: &str,
        method: CodeMethod,
        language: &str,
    ) -> Result<(), GatewayError> {
        GraphClient::request_code(self, meta_phone_number_id, access_token, method, language)
            .await
            .map_err(gateway_error)
    }

    async fn verify_code(
        &self,
        meta_phone_number_id: &str,
        access_token: &str,
        code: &str,
    ) -> Result<(), GatewayError> {
        GraphClient::verify_code(self, meta_phone_number_id, access_token, code)
            .await
            .map_err(gateway_error)
    }

    async fn phone_number_health(
        &self,
        meta_phone_number_id: &str,
        access_token: &str,
    ) -> Result<PhoneNumberHealth, GatewayError> {
        GraphClient::phone_number_health(self, meta_phone_number_id, access_token)
            .await
            .map_err(gateway_error)
    }

    async fn business_profile(
        &self,
        meta_phone_number_id: &str,
        access_token: &str,
    ) -> Result<BusinessProfile, GatewayError> {
        GraphClient::business_profile(self, meta_phone_number_id, access_token)
            .await
            .map_err(gateway_error)
    }

    async fn update_business_profile(
        &self,
        meta_phone_number_id: &str,
        access_token: &str,
        update: &BusinessProfileUpdate,
    ) -> Result<(), GatewayError> {
        GraphClient::update_business_profile(self, meta_phone_number_id, access_token, update)
            .await
            .map_err(gateway_error)
    }
}

/// Sorts a Graph failure for the outbox, keeping Meta's code and title for the message's record.
fn gateway_error(error: GraphError) -> GatewayError {
    let failure = match &error {
        GraphError::Meta(meta) => MetaFailure {
            code: meta.code,
            title: meta
                .error_user_title
                .clone()
                .unwrap_or_else(|| meta.message.clone()),
            message: Some(meta.message.clone()),
            details: meta.details().map(str::to_string),
        },
        other => MetaFailure {
            code: 0,
            title: other.to_string(),
            message: None,
            details: None,
        },
    };
    match error.retry_class() {
        RetryClass::Retryable { after } => GatewayError::Retryable {
            after,
            throughput: error.is_throughput(),
            failure,
        },
        RetryClass::Permanent => GatewayError::Permanent(failure),
    }
}

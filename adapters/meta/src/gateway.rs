//! The outbox's view of Meta: [`application::MetaGateway`] over the Graph API client, with
//! Meta's errors sorted into retryable and permanent.

use crate::{GraphClient, GraphError, RetryClass};
use application::outbox::{GatewayError, MetaGateway};
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

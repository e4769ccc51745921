//! A small HTTP client for the control endpoints, for `parley sandbox` commands and tests that
//! drive a sandbox running in another process.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::config::RuntimeConfig;
use crate::error::ClientError;
use crate::inbound::{InboundOutcome, InboundRequest, RawWebhook};
use crate::management::{
    AccountUpdateRequest, PhoneQualityRequest, TemplateCategoryRequest, TemplateQualityRequest,
    TemplateStatusRequest,
};
use crate::records::{DeliveryOutcome, MessagesReport, Rejection, Stats};
use crate::templates::SandboxTemplate;

/// Calls a sandbox's `/_sandbox/` endpoints over HTTP.
#[derive(Debug, Clone)]
pub struct SandboxClient {
    base_url: String,
    http: reqwest::Client,
}

impl SandboxClient {
    /// A client for the sandbox at `base_url` (e.g. `http://127.0.0.1:8090`).
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into().trim_end_matches('/').to_string(),
            http: reqwest::Client::new(),
        }
    }

    /// The sandbox's base URL.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Delivers a customer message to Parley through the sandbox (`POST /_sandbox/inbound`).
    pub async fn deliver_inbound(
        &self,
        request: &InboundRequest,
    ) -> Result<InboundOutcome, ClientError> {
        self.send(self.http.post(self.url("inbound")).json(request))
            .await
    }

    /// Delivers any webhook change (`POST /_sandbox/webhook`).
    pub async fn deliver_webhook(
        &self,
        webhook: &RawWebhook,
    ) -> Result<DeliveryOutcome, ClientError> {
        self.send(self.http.post(self.url("webhook")).json(webhook))
            .await
    }

    /// Everything recorded (`GET /_sandbox/messages`).
    pub async fn messages(&self) -> Result<MessagesReport, ClientError> {
        self.send(self.http.get(self.url("messages"))).await
    }

    /// The refused calls (`GET /_sandbox/rejections`).
    pub async fn rejections(&self) -> Result<Vec<Rejection>, ClientError> {
        self.send(self.http.get(self.url("rejections"))).await
    }

    /// Forgets records and counters (`DELETE /_sandbox/messages`).
    pub async fn clear(&self) -> Result<(), ClientError> {
        let response = self.http.delete(self.url("messages")).send().await?;
        check(response).await.map(|_| ())
    }

    /// The live configuration (`GET /_sandbox/config`).
    pub async fn config(&self) -> Result<RuntimeConfig, ClientError> {
        self.send(self.http.get(self.url("config"))).await
    }

    /// Applies a partial update, e.g. `json!({"throughput_limit_mps": 80})` (`PUT /_sandbox/config`).
    pub async fn update_config(
        &self,
        update: &impl Serialize,
    ) -> Result<RuntimeConfig, ClientError> {
        self.send(self.http.put(self.url("config")).json(update))
            .await
    }

    /// Every template of every WABA (`GET /_sandbox/templates`).
    pub async fn templates(&self) -> Result<Vec<SandboxTemplate>, ClientError> {
        self.send(self.http.get(self.url("templates"))).await
    }

    /// Sets a template's status and sends its status webhook (`POST /_sandbox/template-status`).
    pub async fn set_template_status(
        &self,
        request: &TemplateStatusRequest,
    ) -> Result<DeliveryOutcome, ClientError> {
        self.send(self.http.post(self.url("template-status")).json(request))
            .await
    }

    /// Changes a template's quality score and says so (`POST /_sandbox/template-quality`).
    pub async fn set_template_quality(
        &self,
        request: &TemplateQualityRequest,
    ) -> Result<DeliveryOutcome, ClientError> {
        self.send(self.http.post(self.url("template-quality")).json(request))
            .await
    }

    /// Recategorises a template and says so (`POST /_sandbox/template-category`).
    pub async fn set_template_category(
        &self,
        request: &TemplateCategoryRequest,
    ) -> Result<DeliveryOutcome, ClientError> {
        self.send(self.http.post(self.url("template-category")).json(request))
            .await
    }

    /// Changes a number's quality or tier and says so (`POST /_sandbox/phone-quality`).
    pub async fn set_phone_quality(
        &self,
        request: &PhoneQualityRequest,
    ) -> Result<DeliveryOutcome, ClientError> {
        self.send(self.http.post(self.url("phone-quality")).json(request))
            .await
    }

    /// Sends an `account_update` webhook (`POST /_sandbox/account-update`).
    pub async fn account_update(
        &self,
        request: &AccountUpdateRequest,
    ) -> Result<DeliveryOutcome, ClientError> {
        self.send(self.http.post(self.url("account-update")).json(request))
            .await
    }

    /// The counters (`GET /_sandbox/stats`).
    pub async fn stats(&self) -> Result<Stats, ClientError> {
        self.send(self.http.get(self.url("stats"))).await
    }

    fn url(&self, path: &str) -> String {
        format!("{}/_sandbox/{path}", self.base_url)
    }

    async fn send<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, ClientError> {
        let response = check(request.send().await?).await?;
        Ok(response.json().await?)
    }
}

/// Turns a non-2xx answer into [`ClientError::Status`] with its body.
async fn check(response: reqwest::Response) -> Result<reqwest::Response, ClientError> {
    let status = response.status();
    if status.is_success() {
        Ok(response)
    } else {
        let body = response.text().await.unwrap_or_default();
        Err(ClientError::Status {
            status: status.as_u16(),
            body,
        })
    }
}

//! The Meta sandbox: a simulator of the Graph API endpoints Parley calls (send, mark-read, media,
//! templates, phone numbers and their business profile) and of Meta's signed webhooks (statuses
//! of accepted sends, customers' inbound messages, template reviews and other management events).
//!
//! It runs in-process for `parley serve`, tests and benchmarks ([`Sandbox::spawn`], or
//! [`router`] to embed it), and as `parley sandbox` ([`SandboxClient`] drives it over HTTP).
//! Shapes follow `shared/meta/README.md` and its fixtures; the fault switches (throughput and
//! pair-rate limits, failing recipients, duplicate and out-of-order webhooks, latency) are set
//! at start ([`Faults`]) or live through `PUT /_sandbox/config`.
//!
//! Templates are reviewed after `template_review_delay_ms` by the `template_review` policy
//! (names starting with `reject_` are always rejected); phone number verification codes are
//! always [`SANDBOX_VERIFICATION_CODE`] (`123456`).

#![warn(missing_docs)]

mod client;
mod config;
mod control;
mod envelope;
mod error;
mod graph;
mod graph_numbers;
mod graph_templates;
mod ids;
mod inbound;
mod management;
mod meta_error;
mod numbers;
mod records;
mod state;
mod status_batches;
mod templates;
mod webhooks;

use std::net::SocketAddr;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::Router;
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use client::SandboxClient;
pub use config::{
    DeliveryPolicy, Faults, PairRate, RuntimeConfig, SandboxConfig, StatusDelays, TemplateReview,
    DEFAULT_APP_SECRET, DEFAULT_DISPLAY_PHONE_NUMBER, DEFAULT_TEMPLATE_REVIEW_DELAY_MS,
    DEFAULT_WABA_ID, MAX_STATUS_BATCH,
};
pub use envelope::MESSAGE_TYPES;
pub use error::{ClientError, ControlError, SandboxError};
pub use inbound::{InboundOutcome, InboundRequest, RawWebhook, DEFAULT_PROFILE_NAME};
pub use management::{
    AccountUpdateRequest, PhoneQualityRequest, TemplateCategoryRequest, TemplateQualityRequest,
    TemplateRef, TemplateStatusRequest, PHONE_QUALITY_EVENTS, QUALITY_SCORES,
};
pub use meta_error::{
    describe, http_status_for, ErrorInfo, GraphError, GraphErrorBody, GraphErrorData, GraphFailure,
    INVALID_PARAMETER_CODE, INVALID_TOKEN_CODE, PAIR_RATE_CODE, PIN_MISMATCH_CODE,
    TEMPLATE_DISABLED_CODE, TEMPLATE_PARAM_COUNT_CODE, TEMPLATE_PAUSED_CODE,
    TEMPLATE_UNAVAILABLE_CODE, THROUGHPUT_CODE, VERIFY_CODE_ERROR_CODE,
};
pub use numbers::{
    BusinessProfile, SandboxPhoneNumber, DEFAULT_VERIFIED_NAME, MESSAGING_LIMIT_TIERS,
    QUALITY_RATINGS, SANDBOX_VERIFICATION_CODE,
};
pub use records::{
    DeliveryOutcome, InboundRecord, ManagementWebhook, MarkRead, MessagesReport, Rejection,
    SentMessage, Stats,
};
pub use state::{MediaItem, SandboxState};
pub use templates::{
    SandboxTemplate, REJECTED_NAME_PREFIX, TEMPLATE_CATEGORIES, TEMPLATE_STATUSES,
};
pub use webhooks::{signature, SIGNATURE_HEADER};

/// Largest media upload accepted: Meta's document limit (100 MB) plus multipart overhead.
const MAX_MEDIA_UPLOAD: usize = 101 * 1024 * 1024;

/// All sandbox routes over `state`, for embedding in another server.
///
/// Graph routes accept any version segment (`/v23.0/…`, `/v99/…`); control routes live under
/// `/_sandbox/`; any other path gets Meta's 100/33 "object does not exist" error.
pub fn router(state: SandboxState) -> Router {
    Router::new()
        .route("/_sandbox/templates", get(control::list_templates))
        .route(
            "/_sandbox/template-status",
            post(control::post_template_status),
        )
        .route(
            "/_sandbox/template-quality",
            post(control::post_template_quality),
        )
        .route(
            "/_sandbox/template-category",
            post(control::post_template_category),
        )
        .route("/_sandbox/phone-quality", post(control::post_phone_quality))
        .route(
            "/_sandbox/account-update",
            post(control::post_account_update),
        )
        .route(
            "/_sandbox/messages",
            get(control::list_messages).delete(control::clear_messages),
        )
        .route("/_sandbox/rejections", get(control::list_rejections))
        .route("/_sandbox/inbound", post(control::post_inbound))
        .route("/_sandbox/webhook", post(control::post_raw_webhook))
        .route(
            "/_sandbox/config",
            get(control::get_config).put(control::put_config),
        )
        .route("/_sandbox/stats", get(control::get_stats))
        .route("/_sandbox/healthz", get(control::healthz))
        .route("/_sandbox/media/{media_id}", get(graph::download_media))
        .route(
            "/{version}/{phone_number_id}/messages",
            post(graph::post_messages),
        )
        .route(
            "/{version}/{phone_number_id}/media",
            post(graph::post_media).layer(DefaultBodyLimit::max(MAX_MEDIA_UPLOAD)),
        )
        .route(
            "/{version}/{waba_id}/message_templates",
            get(graph_templates::get_templates)
                .post(graph_templates::post_templates)
                .delete(graph_templates::delete_templates),
        )
        .route(
            "/{version}/{phone_number_id}/request_code",
            post(graph_numbers::post_request_code),
        )
        .route(
            "/{version}/{phone_number_id}/verify_code",
            post(graph_numbers::post_verify_code),
        )
        .route(
            "/{version}/{phone_number_id}/register",
            post(graph_numbers::post_register),
        )
        .route(
            "/{version}/{phone_number_id}/deregister",
            post(graph_numbers::post_deregister),
        )
        .route(
            "/{version}/{phone_number_id}/whatsapp_business_profile",
            get(graph_numbers::get_business_profile).post(graph_numbers::post_business_profile),
        )
        .route(
            "/{version}/{id}",
            get(graph::get_object)
                .post(graph_templates::post_object)
                .delete(graph::delete_media),
        )
        .fallback(graph::unknown_path)
        .with_state(state)
}

/// Starts sandboxes.
pub struct Sandbox;

impl Sandbox {
    /// Serves a new sandbox on `listener` in a background task (inside a Tokio runtime); it stops
    /// when the handle drops.
    pub fn spawn(
        listener: TcpListener,
        config: SandboxConfig,
    ) -> Result<SandboxHandle, SandboxError> {
        let addr = listener.local_addr().map_err(SandboxError::Listen)?;
        let state = SandboxState::new(config)?;
        let app = router(state.clone());
        let (shutdown, stopped) = oneshot::channel::<()>();
        // No Nagle delay: every answer is one small write that should leave at once.
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    // A dropped handle closes the channel, which stops the server as well.
                    let _ = stopped.await;
                })
                .await;
            if let Err(error) = served {
                tracing::error!(%error, "sandbox server stopped");
            }
        });
        tracing::info!(%addr, "Meta sandbox listening");
        Ok(SandboxHandle {
            addr,
            state,
            shutdown: Some(shutdown),
            task: Some(task),
        })
    }

    /// Binds `addr` (e.g. `"127.0.0.1:0"`) and serves a new sandbox on it.
    pub async fn bind(
        addr: impl ToSocketAddrs,
        config: SandboxConfig,
    ) -> Result<SandboxHandle, SandboxError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(SandboxError::Listen)?;
        Self::spawn(listener, config)
    }
}

/// A running sandbox; dropping it stops the server and any pending webhook deliveries.
pub struct SandboxHandle {
    /// The address it listens on.
    pub addr: SocketAddr,
    state: SandboxState,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl SandboxHandle {
    /// `http://{addr}`: the Graph API base URL to give Parley (it adds `/{version}/…`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The sandbox's state, for in-process inspection without HTTP.
    pub fn state(&self) -> &SandboxState {
        &self.state
    }

    /// A control client for this sandbox.
    pub fn client(&self) -> SandboxClient {
        SandboxClient::new(self.base_url())
    }

    /// Stops the server, waits for it to finish, and cancels pending webhooks.
    pub async fn shutdown(mut self) {
        self.state.close();
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for SandboxHandle {
    fn drop(&mut self) {
        self.state.close();
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

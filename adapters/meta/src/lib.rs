//! Meta's WhatsApp Cloud API as Parley sees it: a Graph API client, Meta's error object and
//! its retry classification, webhook signatures and the webhook payload model.
//!
//! The facts behind this crate (endpoints, error codes, payload shapes) come from
//! `shared/meta/README.md`; section numbers in comments ("README §6.2") refer to it.
//! Access tokens are passed per call and never stored, so no type here holds one.

#![warn(missing_docs)]

pub mod client;
pub mod error;
pub mod gateway;
pub mod ingest;
pub mod signature;
pub mod webhook;

pub use client::{
    ConfigError, GraphClient, GraphConfig, SendAccepted, DEFAULT_BASE_URL, DEFAULT_VERSION,
    MAX_TEMPLATE_PAGES,
};
pub use error::{
    classify_code, GraphError, MetaApiError, RetryClass, PAIR_RATE_CODE, REQUEST_CODE_ERROR_CODE,
    TEMPLATE_NOT_FOUND_SUBCODE, THROUGHPUT_CODE, VERIFY_CODE_ERROR_CODE,
};
pub use signature::{sign, verify_signature, SIGNATURE_HEADER};
pub use webhook::{
    parse_timestamp, AccountUpdate, Change, ChangeValue, Contact, Entry, InboundMessage,
    ManagementChange, ManagementUpdate, MessageShapeError, MessagesValue, MetaWebhookError,
    Metadata, PhoneNumberQualityUpdate, Profile, StatusUpdate, TemplateCategoryUpdate,
    TemplateOtherInfo, TemplateQualityUpdate, TemplateRejectionInfo, TemplateStatusUpdate,
    WebhookDelivery, WebhookErrorData, ACCOUNT_UPDATE_FIELD, MESSAGES_FIELD,
    PHONE_NUMBER_QUALITY_FIELD, TEMPLATE_CATEGORY_FIELD, TEMPLATE_QUALITY_FIELD,
    TEMPLATE_STATUS_FIELD,
};

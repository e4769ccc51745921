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
};
pub use error::{
    classify_code, GraphError, MetaApiError, RetryClass, PAIR_RATE_CODE, THROUGHPUT_CODE,
};
pub use signature::{sign, verify_signature, SIGNATURE_HEADER};
pub use webhook::{
    parse_timestamp, Change, ChangeValue, Contact, Entry, InboundMessage, MessageShapeError,
    MessagesValue, MetaWebhookError, Metadata, Profile, StatusUpdate, WebhookDelivery,
    WebhookErrorData, MESSAGES_FIELD,
};

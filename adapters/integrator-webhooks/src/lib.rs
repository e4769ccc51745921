//! Webhooks to integrators: the signature scheme, where webhooks may go (SSRF protection), the
//! signed HTTP request, the retry policy and the delivery worker. What is delivered comes from
//! the event log (see the `integrator_events` projection); this crate only carries it out.

pub mod address_policy;
pub mod endpoint_rules;
pub mod retry_policy;
pub mod sender;
pub mod signature;
pub mod worker;

pub use address_policy::{AddressPolicy, UrlRefused};
pub use endpoint_rules::InvalidEndpoint;
pub use retry_policy::DeliveryPolicy;
pub use sender::{SendOutcome, SignedRequest, WebhookSender};
pub use worker::DeliveryWorker;

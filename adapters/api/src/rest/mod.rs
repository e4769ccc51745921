//! REST handlers, one module per resource.

pub mod broadcasts;
pub mod contacts;
pub mod events;
pub mod groups;
pub mod health;
pub mod media;
pub mod messages;
pub mod phone_numbers;
pub mod templates;
pub mod webhook_test;
pub mod webhooks;

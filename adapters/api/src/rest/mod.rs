//! REST handlers, one module per resource.

pub mod broadcasts;
pub mod contacts;
pub mod groups;
pub mod media;
pub mod messages;
pub mod phone_numbers;
pub mod templates;

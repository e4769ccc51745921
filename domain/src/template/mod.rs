//! The Template aggregate: a WhatsApp message template of one of the workspace's WABAs (a name in
//! a language), its components in Meta's shape, metadata about its variables, and its lifecycle
//! from a Parley draft through Meta's review (driven by Meta's status webhooks).
//!
//! It also owns the checks a template message passes before it is queued
//! ([`TemplateState::check_send`]) and the binding of a broadcast recipient's variables into a
//! message ([`TemplateState::bind`], [`bind_message`]).
//!
//! Parameters are positional (`{{1}}`, `{{2}}`, …, numbered without gaps in the body, `{{1}}` in a
//! TEXT header); named parameters (`{{customer_name}}`) are refused with a message saying so:
//! names live in the variable metadata instead, and binding accepts them.

#![deny(missing_docs)]

mod aggregate;
mod binding;
mod commands;
mod components;
mod events;
mod meta_body;
mod status;
mod variables;

#[cfg(test)]
mod tests;

pub use aggregate::{
    check_language, check_template_name, Template, TemplateError, TemplateState, MAX_LANGUAGE,
    MAX_TEMPLATE_NAME,
};
pub use binding::{
    bind_message, check_message_components, check_text_parameter, TemplateSendError,
};
pub use commands::{TemplateCommand, TemplateDraft};
pub use components::{
    placeholders, validate_components, BodyComponent, ButtonKind, ButtonsComponent,
    FooterComponent, HeaderComponent, HeaderFormat, OtherComponent, Placeholders, Rules,
    TemplateButton, TemplateComponent, MAX_BODY, MAX_BUTTONS, MAX_BUTTON_TEXT, MAX_FOOTER,
    MAX_HEADER,
};
pub use events::TemplateEvent;
pub use meta_body::{components_with_examples, meta_create_body, meta_edit_body};
pub use status::{TemplateCategory, TemplateStatus};
pub use variables::{
    complete_variables, prune_variables, validate_variables, TemplateVariable, VariableComponent,
};

use crate::WorkspaceId;
use uuid::Uuid;

/// Namespace for template ids: a template is UUIDv5(workspace, WABA, name, language), Meta's own
/// identity of a template, so creating or importing the same template twice collides on the
/// event key, and a status webhook (which names the template) finds it without a lookup table.
const TEMPLATE_ID_NAMESPACE: Uuid = Uuid::from_u128(0x5c0f_3a1e_7b7e_4f0a_9d55_c0a7_ac70_0003);

/// The deterministic id of the workspace's template `name` in `language` on WABA `waba_id`.
pub fn template_id(workspace: WorkspaceId, waba_id: &str, name: &str, language: &str) -> Uuid {
    let mut key = workspace.0.as_bytes().to_vec();
    key.extend_from_slice(format!("{waba_id}/{name}/{language}").as_bytes());
    Uuid::new_v5(&TEMPLATE_ID_NAMESPACE, &key)
}

//! A recipient's message: the broadcast's template, frozen when sending started, bound to the
//! recipient's variables.

use super::TemplateSnapshot;
use crate::conversation::OutboundContent;
use crate::template::{bind_message, TemplateComponent, TemplateSendError, TemplateVariable};
use serde_json::Value;
use std::collections::BTreeMap;

/// The template message `variables` make of `snapshot` (plus the broadcast's `base_components`).
pub fn recipient_message(
    snapshot: &TemplateSnapshot,
    base_components: &[Value],
    variables: &BTreeMap<String, String>,
) -> Result<OutboundContent, TemplateSendError> {
    let components: Vec<TemplateComponent> = read(&snapshot.components, "components")?;
    let metadata: Vec<TemplateVariable> = read(&snapshot.variables, "variables")?;
    let template = bind_message(
        &snapshot.name,
        &snapshot.language,
        &components,
        &metadata,
        variables,
        base_components,
    )?;
    Ok(OutboundContent::Template { template })
}

/// The snapshot holds these types as JSON (they were serialized from them).
fn read<T: serde::de::DeserializeOwned>(
    values: &[Value],
    what: &str,
) -> Result<Vec<T>, TemplateSendError> {
    values
        .iter()
        .map(|value| {
            serde_json::from_value(value.clone()).map_err(|error| {
                TemplateSendError::InvalidComponent {
                    component: format!("template {what}"),
                    reason: error.to_string(),
                }
            })
        })
        .collect()
}

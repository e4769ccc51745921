//! The checks a template message passes before Meta sees it, and the binding of a broadcast
//! recipient's variables into one.
//!
//! A send names the template and gives parameters per component, Meta's way:
//! `{"type":"header","parameters":[…]}`, `{"type":"body","parameters":[…]}` and
//! `{"type":"button","sub_type":"url","index":"0","parameters":[…]}`. Meta refuses a send whose
//! parameters do not fit the template (#132000) only after it was queued; these checks refuse it
//! before, with a message that says which component is wrong.

use super::aggregate::TemplateState;
use super::components::{Placeholders, TemplateButton, TemplateComponent, MAX_BODY, MAX_HEADER};
use super::status::TemplateStatus;
use super::variables::{complete_variables, TemplateVariable, VariableComponent};
use crate::conversation::{TemplateLanguage, TemplateMessage};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Meta's limit on a body parameter when the body is the template's only component.
const MAX_BODY_ONLY: usize = 32_768;
/// Meta refuses a text parameter with more consecutive spaces than this.
const MAX_CONSECUTIVE_SPACES: usize = 4;

/// Why a template message cannot be sent as it is. [`code`](Self::code) is stable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateSendError {
    /// The template is not approved (or otherwise sendable).
    #[error("the template is {status}: only an APPROVED template can be sent")]
    NotApproved {
        /// Its status.
        status: TemplateStatus,
    },
    /// The message names another template.
    #[error("the message names template '{got}', not '{expected}'")]
    NameMismatch {
        /// The template's name.
        expected: String,
        /// The message's.
        got: String,
    },
    /// The message asks for another language than the template's.
    #[error("the template is in {expected}, the message asks for {got}")]
    LanguageMismatch {
        /// The template's language.
        expected: String,
        /// The message's.
        got: String,
    },
    /// A component got more or fewer parameters than its placeholders (and defaults could not
    /// make up for it).
    #[error("{component}: the template expects {expected} parameter(s), the message gives {got}")]
    ParameterCount {
        /// `header`, `body` or `button[i]`.
        component: String,
        /// What the template needs.
        expected: usize,
        /// What the message gave.
        got: usize,
    },
    /// Parameters for a component (or button) the template does not have.
    #[error("{component}: the template has no such component")]
    UnexpectedComponent {
        /// `header`, `body`, `button[i]` or the given type.
        component: String,
    },
    /// A component entry that is malformed or does not fit (no type, a wrong `sub_type`, …).
    #[error("{component}: {reason}")]
    InvalidComponent {
        /// `header`, `body`, `button[i]` or `components[i]`.
        component: String,
        /// What is wrong.
        reason: String,
    },
    /// A parameter Meta would refuse (empty, too long, a new line, a wrong type).
    #[error("{component} parameter {position}: {reason}")]
    InvalidParameter {
        /// `header`, `body` or `button[i]`.
        component: String,
        /// 1-based, like the placeholder it fills.
        position: usize,
        /// What is wrong.
        reason: String,
    },
    /// A variable got no value and has no default.
    #[error("variable '{name}' ({component} {{{{{position}}}}}) has no value and no default")]
    MissingVariable {
        /// Its name (its key, `"2"` or `"header.1"`, when it has no metadata).
        name: String,
        /// `HEADER` or `BODY`.
        component: VariableComponent,
        /// Its position.
        position: u32,
    },
    /// A value for a variable the template does not have.
    #[error("the template has no variable '{0}' (use a position like \"1\", \"header.1\", or a variable's name)")]
    UnknownVariable(String),
    /// Two keys name the same placeholder with different values.
    #[error("'{first}' and '{second}' name the same variable with different values")]
    ConflictingVariables {
        /// One key.
        first: String,
        /// The other.
        second: String,
    },
}

impl TemplateSendError {
    /// The stable machine code: `TEMPLATE_NOT_APPROVED`, `TEMPLATE_NAME_MISMATCH`,
    /// `TEMPLATE_LANGUAGE_MISMATCH`, `TEMPLATE_PARAMETER_MISMATCH`,
    /// `TEMPLATE_UNEXPECTED_COMPONENT`, `TEMPLATE_INVALID_COMPONENT`,
    /// `TEMPLATE_INVALID_PARAMETER`, `TEMPLATE_MISSING_VARIABLE`, `TEMPLATE_UNKNOWN_VARIABLE`,
    /// `TEMPLATE_CONFLICTING_VARIABLES`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotApproved { .. } => "TEMPLATE_NOT_APPROVED",
            Self::NameMismatch { .. } => "TEMPLATE_NAME_MISMATCH",
            Self::LanguageMismatch { .. } => "TEMPLATE_LANGUAGE_MISMATCH",
            Self::ParameterCount { .. } => "TEMPLATE_PARAMETER_MISMATCH",
            Self::UnexpectedComponent { .. } => "TEMPLATE_UNEXPECTED_COMPONENT",
            Self::InvalidComponent { .. } => "TEMPLATE_INVALID_COMPONENT",
            Self::InvalidParameter { .. } => "TEMPLATE_INVALID_PARAMETER",
            Self::MissingVariable { .. } => "TEMPLATE_MISSING_VARIABLE",
            Self::UnknownVariable(_) => "TEMPLATE_UNKNOWN_VARIABLE",
            Self::ConflictingVariables { .. } => "TEMPLATE_CONFLICTING_VARIABLES",
        }
    }
}

/// Meta's rules for a text parameter: not blank, at most `max` characters, no new line or tab,
/// at most four consecutive spaces. The error is the reason.
pub fn check_text_parameter(text: &str, max: usize) -> Result<(), String> {
    if text.trim().is_empty() {
        return Err("must not be empty".into());
    }
    let chars = text.chars().count();
    if chars > max {
        return Err(format!("has {chars} characters; at most {max}"));
    }
    if text.contains(['\n', '\r', '\t']) {
        return Err("cannot contain a new line or a tab".into());
    }
    if text.contains(&" ".repeat(MAX_CONSECUTIVE_SPACES + 1)) {
        return Err(format!(
            "cannot contain more than {MAX_CONSECUTIVE_SPACES} consecutive spaces"
        ));
    }
    Ok(())
}

fn invalid_component(component: impl Into<String>, reason: impl Into<String>) -> TemplateSendError {
    TemplateSendError::InvalidComponent {
        component: component.into(),
        reason: reason.into(),
    }
}

fn text_parameter(text: &str) -> Value {
    json!({"type": "text", "text": text})
}

/// A component entry of a send, as far as it was read.
struct Entry<'a> {
    /// Where it is in the message's components.
    slot: usize,
    parameters: &'a [Value],
    sub_type: Option<String>,
}

fn parameter_type(parameter: &Value) -> Option<String> {
    parameter
        .get("type")
        .and_then(Value::as_str)
        .map(str::to_ascii_lowercase)
}

/// Checks the text parameters of `parameters` (those of type `text`), naming `component`.
fn check_parameters(
    component: &str,
    parameters: &[Value],
    max: usize,
) -> Result<(), TemplateSendError> {
    for (i, parameter) in parameters.iter().enumerate() {
        let invalid = |reason: String| TemplateSendError::InvalidParameter {
            component: component.to_string(),
            position: i + 1,
            reason,
        };
        let Some(kind) = parameter_type(parameter) else {
            return Err(invalid(
                "needs a 'type' (text, currency, date_time, …)".into(),
            ));
        };
        if kind == "text" {
            let text = parameter
                .get("text")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid("a text parameter needs a 'text' string".into()))?;
            check_text_parameter(text, max).map_err(invalid)?;
        }
    }
    Ok(())
}

/// Checks a send's component entries against the template's `components` and fills, when
/// `fill_defaults`, a header or body the send gave no parameters for from the variables'
/// defaults (`variables` complete, see [`complete_variables`]). Returns the entries to send.
pub fn check_message_components(
    components: &[TemplateComponent],
    variables: &[TemplateVariable],
    sent: &[Value],
    fill_defaults: bool,
) -> Result<Vec<Value>, TemplateSendError> {
    let placeholders = Placeholders::of(components);
    let header = components.iter().find_map(|c| match c {
        TemplateComponent::Header(h) => Some(h),
        _ => None,
    });
    let has_body = components
        .iter()
        .any(|c| matches!(c, TemplateComponent::Body(_)));
    let buttons: &[TemplateButton] = components
        .iter()
        .find_map(|c| match c {
            TemplateComponent::Buttons(b) => Some(b.buttons.as_slice()),
            _ => None,
        })
        .unwrap_or_default();
    let body_max = if components.len() == 1 {
        MAX_BODY_ONLY
    } else {
        MAX_BODY
    };

    // Read the entries.
    let mut header_entry: Option<Entry> = None;
    let mut body_entry: Option<Entry> = None;
    let mut button_entries: BTreeMap<usize, Entry> = BTreeMap::new();
    for (slot, entry) in sent.iter().enumerate() {
        let at = format!("components[{slot}]");
        let Some(object) = entry.as_object() else {
            return Err(invalid_component(at, "must be an object"));
        };
        let Some(kind) = object.get("type").and_then(Value::as_str) else {
            return Err(invalid_component(
                at,
                "needs a 'type' (header, body, button)",
            ));
        };
        let kind = kind.to_ascii_lowercase();
        let parameters: &[Value] = match object.get("parameters") {
            None | Some(Value::Null) => &[],
            Some(Value::Array(parameters)) => parameters,
            Some(_) => return Err(invalid_component(kind, "'parameters' must be an array")),
        };
        let sub_type = object
            .get("sub_type")
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase);
        let read = Entry {
            slot,
            parameters,
            sub_type,
        };
        match kind.as_str() {
            "header" | "body" => {
                let (exists, seen) = if kind == "header" {
                    (header.is_some(), &mut header_entry)
                } else {
                    (has_body, &mut body_entry)
                };
                if !exists {
                    return Err(TemplateSendError::UnexpectedComponent { component: kind });
                }
                if seen.is_some() {
                    return Err(invalid_component(kind, "is given twice"));
                }
                *seen = Some(read);
            }
            "button" => {
                let index = match object.get("index") {
                    Some(Value::Number(n)) => n.as_u64(),
                    Some(Value::String(s)) => s.trim().parse::<u64>().ok(),
                    _ => None,
                };
                let Some(index) = index.and_then(|i| usize::try_from(i).ok()) else {
                    return Err(invalid_component(
                        "button",
                        "needs an 'index': the button's position, from 0",
                    ));
                };
                let component = format!("button[{index}]");
                if index >= buttons.len() {
                    return Err(TemplateSendError::UnexpectedComponent { component });
                }
                if button_entries.insert(index, read).is_some() {
                    return Err(invalid_component(component, "is given twice"));
                }
            }
            other => {
                let known = components
                    .iter()
                    .any(|c| c.kind().eq_ignore_ascii_case(other));
                if !known {
                    return Err(TemplateSendError::UnexpectedComponent { component: kind });
                }
            }
        }
    }

    let mut out: Vec<Value> = sent.to_vec();
    let mut filled: Vec<(Option<usize>, Value)> = Vec::new();
    let defaults = |component: VariableComponent, positions: &[u32]| -> Option<Value> {
        let parameters = positions
            .iter()
            .map(|position| {
                variables
                    .iter()
                    .find(|v| v.component == component && v.position == *position)
                    .and_then(|v| v.default_value.as_deref())
                    .map(text_parameter)
            })
            .collect::<Option<Vec<_>>>()?;
        Some(json!({"type": component.send_type(), "parameters": parameters}))
    };

    // Header.
    if let Some(header) = header {
        let given = header_entry.as_ref().map_or(0, |e| e.parameters.len());
        let slot = header_entry.as_ref().map(|e| e.slot);
        if let Some(media) = header.format.media_parameter() {
            if given != 1 {
                return Err(TemplateSendError::ParameterCount {
                    component: "header".into(),
                    expected: 1,
                    got: given,
                });
            }
            let parameter = &header_entry
                .as_ref()
                .map(|e| e.parameters)
                .unwrap_or_default()[0];
            if parameter_type(parameter).as_deref() != Some(media) {
                return Err(TemplateSendError::InvalidParameter {
                    component: "header".into(),
                    position: 1,
                    reason: format!("a {} header needs a '{media}' parameter", header.format),
                });
            }
        } else if header.format == super::components::HeaderFormat::Text {
            let expected = placeholders.header.len();
            match (given, fill_defaults) {
                (0, true) if expected > 0 => {
                    match defaults(VariableComponent::Header, &placeholders.header) {
                        Some(entry) => filled.push((slot, entry)),
                        None => {
                            return Err(TemplateSendError::ParameterCount {
                                component: "header".into(),
                                expected,
                                got: 0,
                            })
                        }
                    }
                }
                (given, _) if given != expected => {
                    return Err(TemplateSendError::ParameterCount {
                        component: "header".into(),
                        expected,
                        got: given,
                    })
                }
                _ => {
                    let parameters = header_entry
                        .as_ref()
                        .map(|e| e.parameters)
                        .unwrap_or_default();
                    check_parameters("header", parameters, MAX_HEADER)?;
                }
            }
        }
    }

    // Body.
    if has_body {
        let expected = placeholders.body.len();
        let given = body_entry.as_ref().map_or(0, |e| e.parameters.len());
        let slot = body_entry.as_ref().map(|e| e.slot);
        match (given, fill_defaults) {
            (0, true) if expected > 0 => {
                match defaults(VariableComponent::Body, &placeholders.body) {
                    Some(entry) => filled.push((slot, entry)),
                    None => {
                        return Err(TemplateSendError::ParameterCount {
                            component: "body".into(),
                            expected,
                            got: 0,
                        })
                    }
                }
            }
            (given, _) if given != expected => {
                return Err(TemplateSendError::ParameterCount {
                    component: "body".into(),
                    expected,
                    got: given,
                })
            }
            _ => {
                let parameters = body_entry
                    .as_ref()
                    .map(|e| e.parameters)
                    .unwrap_or_default();
                check_parameters("body", parameters, body_max)?;
            }
        }
    }

    // Buttons.
    for (index, button) in buttons.iter().enumerate() {
        let component = format!("button[{index}]");
        let entry = button_entries.get(&index);
        let given = entry.map_or(0, |e| e.parameters.len());
        match entry {
            None if button.needs_parameter() => {
                return Err(TemplateSendError::ParameterCount {
                    component,
                    expected: 1,
                    got: 0,
                })
            }
            None => {}
            Some(_) if !button.takes_parameter() => {
                return Err(invalid_component(
                    component,
                    format!(
                        "a {} button without a variable takes no parameters",
                        button.kind
                    ),
                ))
            }
            Some(entry) => {
                let known = !matches!(button.kind, super::components::ButtonKind::Other(_));
                let expected_sub_type = button.kind.sub_type();
                match &entry.sub_type {
                    Some(sub_type) if known && *sub_type != expected_sub_type => {
                        return Err(invalid_component(
                            component,
                            format!(
                                "the template's button {index} is {}: its sub_type is '{expected_sub_type}', not '{sub_type}'",
                                button.kind
                            ),
                        ))
                    }
                    None => {
                        return Err(invalid_component(
                            component,
                            format!("needs a 'sub_type' ('{expected_sub_type}')"),
                        ))
                    }
                    _ => {}
                }
                if known && given != 1 {
                    return Err(TemplateSendError::ParameterCount {
                        component,
                        expected: 1,
                        got: given,
                    });
                }
                check_parameters(&component, entry.parameters, MAX_BODY)?;
            }
        }
    }

    for (slot, entry) in filled {
        match slot {
            Some(slot) => out[slot] = entry,
            None => out.push(entry),
        }
    }
    out.sort_by_key(|entry| {
        match entry
            .get("type")
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("header") => 0,
            Some("body") => 1,
            Some("button") => 2,
            _ => 3,
        }
    });
    Ok(out)
}

/// Resolves a binding key to the variable it names: a body position (`"2"`, `"body.2"`), a
/// header position (`"header.1"`), or a variable's name.
fn resolve<'a>(key: &str, variables: &'a [TemplateVariable]) -> Option<&'a TemplateVariable> {
    let trimmed = key.trim();
    let lower = trimmed.to_ascii_lowercase();
    let positional = |component: VariableComponent, digits: &str| {
        let position: u32 = digits.parse().ok()?;
        variables
            .iter()
            .find(|v| v.component == component && v.position == position)
    };
    if !trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_digit()) {
        return positional(VariableComponent::Body, trimmed);
    }
    if let Some(digits) = lower.strip_prefix("body.") {
        return positional(VariableComponent::Body, digits);
    }
    if let Some(digits) = lower.strip_prefix("header.") {
        return positional(VariableComponent::Header, digits);
    }
    variables.iter().find(|v| v.name == trimmed)
}

/// Builds the message of template `name`/`language` (whose `components` and variable
/// metadata `variables` are given) from `values` keyed by position (`"1"`, `"header.1"`) or
/// variable name, plus `base_components` every recipient gets (a media header, button
/// parameters); a header or body bound here replaces one of `base_components`. A value that is
/// missing or blank takes the variable's default. The result is checked like a send.
pub fn bind_message(
    name: &str,
    language: &str,
    components: &[TemplateComponent],
    variables: &[TemplateVariable],
    values: &BTreeMap<String, String>,
    base_components: &[Value],
) -> Result<TemplateMessage, TemplateSendError> {
    let complete = complete_variables(components, variables);
    let mut chosen: BTreeMap<(VariableComponent, u32), (&str, &str)> = BTreeMap::new();
    for (key, value) in values {
        let variable = resolve(key, &complete)
            .ok_or_else(|| TemplateSendError::UnknownVariable(key.clone()))?;
        let slot = (variable.component, variable.position);
        match chosen.get(&slot) {
            Some((first, earlier)) if earlier != value => {
                return Err(TemplateSendError::ConflictingVariables {
                    first: first.to_string(),
                    second: key.clone(),
                })
            }
            Some(_) => {}
            None => {
                chosen.insert(slot, (key.as_str(), value.as_str()));
            }
        }
    }
    let mut bound: BTreeMap<VariableComponent, Vec<Value>> = BTreeMap::new();
    for variable in &complete {
        let given = chosen
            .get(&(variable.component, variable.position))
            .map(|(_, value)| *value)
            .filter(|value| !value.trim().is_empty());
        let value = given.or(variable.default_value.as_deref()).ok_or_else(|| {
            TemplateSendError::MissingVariable {
                name: variable.name.clone(),
                component: variable.component,
                position: variable.position,
            }
        })?;
        bound
            .entry(variable.component)
            .or_default()
            .push(text_parameter(value));
    }
    let mut entries: Vec<Value> = Vec::new();
    for (component, parameters) in &bound {
        let mut entry = Map::new();
        entry.insert("type".into(), json!(component.send_type()));
        entry.insert("parameters".into(), Value::Array(parameters.clone()));
        entries.push(Value::Object(entry));
    }
    for base in base_components {
        let kind = base
            .get("type")
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase);
        let replaced = match kind.as_deref() {
            Some("header") => bound.contains_key(&VariableComponent::Header),
            Some("body") => bound.contains_key(&VariableComponent::Body),
            _ => false,
        };
        if !replaced {
            entries.push(base.clone());
        }
    }
    let components = check_message_components(components, &complete, &entries, false)?;
    Ok(TemplateMessage {
        name: name.to_string(),
        language: TemplateLanguage {
            code: language.to_string(),
            policy: None,
        },
        components,
    })
}

impl TemplateState {
    /// Metadata for every placeholder: the template's own where given, implicit elsewhere
    /// (named `"1"`, `"header.1"`, required, no default).
    pub fn variables_complete(&self) -> Vec<TemplateVariable> {
        complete_variables(&self.components, &self.variables)
    }

    /// Checks a template message against this template: sendable status, same name and
    /// language, parameters that fit each component (a header or body the message gives no
    /// parameters for is filled from the variables' defaults). Returns the message to send.
    pub fn check_send(
        &self,
        message: &TemplateMessage,
    ) -> Result<TemplateMessage, TemplateSendError> {
        if !self.status.is_sendable() {
            return Err(TemplateSendError::NotApproved {
                status: self.status,
            });
        }
        if message.name != self.name {
            return Err(TemplateSendError::NameMismatch {
                expected: self.name.clone(),
                got: message.name.clone(),
            });
        }
        if message.language.code != self.language {
            return Err(TemplateSendError::LanguageMismatch {
                expected: self.language.clone(),
                got: message.language.code.clone(),
            });
        }
        let components = check_message_components(
            &self.components,
            &self.variables_complete(),
            &message.components,
            true,
        )?;
        Ok(TemplateMessage {
            components,
            ..message.clone()
        })
    }

    /// Builds a broadcast recipient's message from `variables` keyed by position (`"1"`,
    /// `"header.1"`) or name, with `base_components` (see [`bind_message`]). Does not check the
    /// status: a broadcast binds against the template it froze when it was approved.
    pub fn bind(
        &self,
        variables: &BTreeMap<String, String>,
        base_components: &[Value],
    ) -> Result<TemplateMessage, TemplateSendError> {
        bind_message(
            &self.name,
            &self.language,
            &self.components,
            &self.variables,
            variables,
            base_components,
        )
    }
}

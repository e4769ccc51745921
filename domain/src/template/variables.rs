//! Metadata about a template's variables: a name, a description, a default and a sample for
//! each `{{n}}` of the header or the body.

use super::binding::check_text_parameter;
use super::components::{Placeholders, TemplateComponent, MAX_BODY, MAX_HEADER};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

const MAX_NAME: usize = 64;
const MAX_DESCRIPTION: usize = 500;

/// Which component's `{{n}}` a variable fills.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum VariableComponent {
    /// The `TEXT` header's `{{1}}`.
    Header,
    /// A body placeholder.
    #[default]
    Body,
}

impl VariableComponent {
    /// `HEADER` or `BODY`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Header => "HEADER",
            Self::Body => "BODY",
        }
    }

    /// The component's `type` in a send (`header` or `body`).
    pub fn send_type(self) -> &'static str {
        match self {
            Self::Header => "header",
            Self::Body => "body",
        }
    }
}

impl fmt::Display for VariableComponent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for VariableComponent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for VariableComponent {
    /// `HEADER` or `BODY` in any case; null is `BODY`.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Option::<String>::deserialize(deserializer)? {
            None => Ok(Self::Body),
            Some(s) if s.eq_ignore_ascii_case("body") => Ok(Self::Body),
            Some(s) if s.eq_ignore_ascii_case("header") => Ok(Self::Header),
            Some(s) => Err(D::Error::custom(format!(
                "component '{s}' is not one of HEADER, BODY"
            ))),
        }
    }
}

/// What Parley knows about one `{{n}}` of a template. Reads seed 003's names too
/// (`variable_name`, `component_type`, `is_required`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateVariable {
    /// The `n` of `{{n}}`, from 1.
    pub position: u32,
    /// The header's or the body's `{{n}}` (default: body).
    #[serde(default, alias = "component_type")]
    pub component: VariableComponent,
    /// A name unique in the template, usable instead of the position when binding values.
    #[serde(alias = "variable_name")]
    pub name: String,
    /// For people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Sent when no value is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_value: Option<String>,
    /// The example Meta's review sees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_value: Option<String>,
    /// Whether a caller must give a value; `false` needs a `default_value` (Meta needs a value
    /// for every placeholder). Defaults to `true`.
    #[serde(
        default = "required_by_default",
        alias = "is_required",
        deserialize_with = "required_or_null"
    )]
    pub required: bool,
}

fn required_by_default() -> bool {
    true
}

fn required_or_null<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    Ok(Option::<bool>::deserialize(deserializer)?.unwrap_or(true))
}

impl TemplateVariable {
    /// The metadata a placeholder without any has: named by its key (`"1"`, `"header.1"`),
    /// required, no default, no sample.
    pub fn implicit(component: VariableComponent, position: u32) -> Self {
        Self {
            position,
            component,
            name: Self::key_of(component, position),
            description: None,
            default_value: None,
            sample_value: None,
            required: true,
        }
    }

    /// The key that names a placeholder by position when binding: `"2"` for the body's
    /// `{{2}}`, `"header.1"` for the header's `{{1}}`.
    pub fn key_of(component: VariableComponent, position: u32) -> String {
        match component {
            VariableComponent::Body => position.to_string(),
            VariableComponent::Header => format!("header.{position}"),
        }
    }

    /// This variable's positional key.
    pub fn key(&self) -> String {
        Self::key_of(self.component, self.position)
    }

    /// What Meta's review sees for this variable: the sample, else the default, else the name.
    pub fn example(&self) -> &str {
        self.sample_value
            .as_deref()
            .or(self.default_value.as_deref())
            .unwrap_or(&self.name)
    }

    fn fits(&self, placeholders: &Placeholders) -> bool {
        let positions = match self.component {
            VariableComponent::Header => &placeholders.header,
            VariableComponent::Body => &placeholders.body,
        };
        positions.contains(&self.position)
    }
}

fn check_optional(field: &str, value: &Option<String>, max: usize) -> Result<(), String> {
    match value {
        Some(v) if v.chars().count() > max => {
            Err(format!("{field} has more than {max} characters"))
        }
        _ => Ok(()),
    }
}

/// Checks variable metadata against `components` (which are valid): each names a placeholder
/// that exists, at most one per placeholder, names unique and not another placeholder's key,
/// defaults sendable as Meta parameters.
pub fn validate_variables(
    components: &[TemplateComponent],
    variables: &[TemplateVariable],
) -> Result<(), String> {
    let placeholders = Placeholders::of(components);
    for (i, variable) in variables.iter().enumerate() {
        let at = format!("variables[{i}]");
        let key = variable.key();
        let shown = format!("{} {{{{{}}}}}", variable.component, variable.position);
        if !variable.fits(&placeholders) {
            return Err(format!("{at}: the template has no {shown}"));
        }
        if variables[..i]
            .iter()
            .any(|v| v.component == variable.component && v.position == variable.position)
        {
            return Err(format!("{at}: {shown} is described twice"));
        }
        let name = variable.name.as_str();
        if name.trim().is_empty() || name.trim() != name {
            return Err(format!(
                "{at}: name must be non-empty, without surrounding spaces"
            ));
        }
        if name.chars().count() > MAX_NAME {
            return Err(format!("{at}: name has more than {MAX_NAME} characters"));
        }
        let looks_positional = name.bytes().all(|b| b.is_ascii_digit())
            || name.to_ascii_lowercase().starts_with("header.")
            || name.to_ascii_lowercase().starts_with("body.");
        if looks_positional && name != key {
            return Err(format!(
                "{at}: name '{name}' would be read as a position; use '{key}' or a word"
            ));
        }
        if variables[..i].iter().any(|v| v.name == name) {
            return Err(format!("{at}: name '{name}' is used twice"));
        }
        check_optional(
            &format!("{at}: description"),
            &variable.description,
            MAX_DESCRIPTION,
        )?;
        let max = match variable.component {
            VariableComponent::Header => MAX_HEADER,
            VariableComponent::Body => MAX_BODY,
        };
        check_optional(&format!("{at}: sample_value"), &variable.sample_value, max)?;
        if let Some(default) = &variable.default_value {
            check_text_parameter(default, max)
                .map_err(|reason| format!("{at}: default_value {reason}"))?;
        }
        if !variable.required && variable.default_value.is_none() {
            return Err(format!(
                "{at}: an optional variable needs a default_value (Meta needs a value for every placeholder)"
            ));
        }
    }
    Ok(())
}

/// The variables that still name a placeholder of `components` (after the components changed).
pub fn prune_variables(
    components: &[TemplateComponent],
    variables: &[TemplateVariable],
) -> Vec<TemplateVariable> {
    let placeholders = Placeholders::of(components);
    variables
        .iter()
        .filter(|v| v.fits(&placeholders))
        .cloned()
        .collect()
}

/// Metadata for every placeholder of `components`, header first then body by position: the
/// given metadata where there is some, [`TemplateVariable::implicit`] elsewhere.
pub fn complete_variables(
    components: &[TemplateComponent],
    variables: &[TemplateVariable],
) -> Vec<TemplateVariable> {
    let placeholders = Placeholders::of(components);
    let slots = placeholders
        .header
        .iter()
        .map(|p| (VariableComponent::Header, *p))
        .chain(
            placeholders
                .body
                .iter()
                .map(|p| (VariableComponent::Body, *p)),
        );
    slots
        .map(|(component, position)| {
            variables
                .iter()
                .find(|v| v.component == component && v.position == position)
                .cloned()
                .unwrap_or_else(|| TemplateVariable::implicit(component, position))
        })
        .collect()
}

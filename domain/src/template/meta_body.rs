//! The bodies Parley sends to Meta's template API: creation (`POST /{waba-id}/message_templates`)
//! and edit (`POST /{template-id}`). Meta needs an example for every variable; where the
//! components carry none, one is made from the variables' samples.

use super::components::{Placeholders, TemplateComponent};
use super::status::TemplateCategory;
use super::variables::{complete_variables, TemplateVariable, VariableComponent};
use serde_json::{json, Map, Value};

/// What a URL button's `{{1}}` becomes in the example Meta reviews, when none is given.
const URL_EXAMPLE_VALUE: &str = "example";

/// Meta's creation body: `{name, category, language, components}`, with examples added.
pub fn meta_create_body(
    name: &str,
    language: &str,
    category: TemplateCategory,
    components: &[TemplateComponent],
    variables: &[TemplateVariable],
) -> Value {
    json!({
        "name": name,
        "category": category.as_str(),
        "language": language,
        "components": components_with_examples(components, variables),
    })
}

/// Meta's edit body: `{components}`, with examples added.
pub fn meta_edit_body(components: &[TemplateComponent], variables: &[TemplateVariable]) -> Value {
    json!({ "components": components_with_examples(components, variables) })
}

/// Adds `example` to `example_key` of `component` unless it has one there already.
fn add_example(component: &mut Map<String, Value>, example_key: &str, example: Value) {
    let entry = component
        .entry("example")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(examples) = entry {
        examples.entry(example_key).or_insert(example);
    }
}

/// The components as Meta's JSON, each variable with an example: `example.body_text: [[…]]`,
/// `example.header_text: […]` (from each variable's sample, else default, else name) and a
/// dynamic URL button's `example: ["https://…/example"]`.
pub fn components_with_examples(
    components: &[TemplateComponent],
    variables: &[TemplateVariable],
) -> Vec<Value> {
    let placeholders = Placeholders::of(components);
    let complete = complete_variables(components, variables);
    let examples = |component: VariableComponent| -> Vec<Value> {
        complete
            .iter()
            .filter(|v| v.component == component)
            .map(|v| Value::String(v.example().to_string()))
            .collect()
    };
    components
        .iter()
        .map(|component| {
            let mut json = component.to_json();
            match component {
                TemplateComponent::Header(h)
                    if h.text.is_some() && !placeholders.header.is_empty() =>
                {
                    add_example(
                        &mut json,
                        "header_text",
                        Value::Array(examples(VariableComponent::Header)),
                    );
                }
                TemplateComponent::Body(b) if b.text.is_some() && !placeholders.body.is_empty() => {
                    add_example(
                        &mut json,
                        "body_text",
                        Value::Array(vec![Value::Array(examples(VariableComponent::Body))]),
                    );
                }
                TemplateComponent::Buttons(b) => {
                    if let Some(Value::Array(buttons)) = json.get_mut("buttons") {
                        for (button, json) in b.buttons.iter().zip(buttons.iter_mut()) {
                            let dynamic_url = button.url.as_deref().filter(|u| u.contains("{{1}}"));
                            if let (Some(url), None, Value::Object(json)) =
                                (dynamic_url, &button.example, json)
                            {
                                json.insert(
                                    "example".into(),
                                    json!([url.replace("{{1}}", URL_EXAMPLE_VALUE)]),
                                );
                            }
                        }
                    }
                }
                _ => {}
            }
            Value::Object(json)
        })
        .collect()
}

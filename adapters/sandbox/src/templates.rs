//! Message templates (README §3): what each WABA submitted, the checks Meta answers with code 100
//! on creation and edit, cursor paging, the send-time checks (132000, 132001, 132015, 132016) and
//! the review that decides a submission.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::config::TemplateReview;
use crate::management::TemplateStatusValue;
use crate::meta_error::{
    GraphFailure, TEMPLATE_DISABLED_CODE, TEMPLATE_PARAM_COUNT_CODE, TEMPLATE_PAUSED_CODE,
    TEMPLATE_UNAVAILABLE_CODE,
};
use crate::state::SandboxState;

/// Meta's template categories.
pub const TEMPLATE_CATEGORIES: [&str; 3] = ["AUTHENTICATION", "MARKETING", "UTILITY"];

/// Meta's template statuses, also the `event` of `message_template_status_update` (README §3).
pub const TEMPLATE_STATUSES: [&str; 14] = [
    "APPROVED",
    "PENDING",
    "REJECTED",
    "PAUSED",
    "DISABLED",
    "IN_APPEAL",
    "PENDING_DELETION",
    "DELETED",
    "LIMIT_EXCEEDED",
    "FLAGGED",
    "REINSTATED",
    "ARCHIVED",
    "UNARCHIVED",
    "LOCKED",
];

/// The prefix of template names the review always rejects, whatever the policy.
pub const REJECTED_NAME_PREFIX: &str = "reject_";

/// Templates per page when a list names no `limit`.
const DEFAULT_PAGE_SIZE: usize = 25;

const COMPONENT_TYPES: [&str; 7] = [
    "HEADER",
    "BODY",
    "FOOTER",
    "BUTTONS",
    "CAROUSEL",
    "LIMITED_TIME_OFFER",
    "CALL_PERMISSION_REQUEST",
];

/// One template as the sandbox keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SandboxTemplate {
    /// Meta's numeric template id (the `hsm_id`).
    pub id: String,
    /// The WABA it was created in.
    pub waba_id: String,
    /// The template name.
    pub name: String,
    /// The language code (`en_US`, `pt_BR`, …).
    pub language: String,
    /// `AUTHENTICATION`, `MARKETING` or `UTILITY`.
    pub category: String,
    /// The category before the last change, when it changed.
    pub previous_category: Option<String>,
    /// One of [`TEMPLATE_STATUSES`].
    pub status: String,
    /// `POSITIONAL` or `NAMED`.
    pub parameter_format: String,
    /// The components as submitted.
    pub components: Value,
    /// `GREEN`, `YELLOW`, `RED` or `UNKNOWN` (new templates).
    pub quality_score: String,
    /// Submissions for review so far: 1 at creation, one more per edit.
    pub submissions: u32,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

impl SandboxTemplate {
    /// The template as Graph answers it (`template_get_by_id_response.json`), reduced to the
    /// requested `fields` (plus `id`) when there are any.
    pub(crate) fn graph_json(&self, fields: Option<&str>) -> Value {
        #[derive(Serialize)]
        struct Out<'a> {
            name: &'a str,
            parameter_format: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            previous_category: Option<&'a str>,
            components: &'a Value,
            language: &'a str,
            status: &'a str,
            category: &'a str,
            id: &'a str,
        }
        let out = Out {
            name: &self.name,
            parameter_format: &self.parameter_format,
            previous_category: self.previous_category.as_deref(),
            components: &self.components,
            language: &self.language,
            status: &self.status,
            category: &self.category,
            id: &self.id,
        };
        let Ok(Value::Object(mut all)) = serde_json::to_value(out) else {
            return Value::Null;
        };
        let Some(fields) = fields.map(field_list).filter(|f| !f.is_empty()) else {
            return Value::Object(all);
        };
        let mut chosen = Map::new();
        for field in fields {
            if field == "quality_score" {
                chosen.insert(
                    field.to_string(),
                    serde_json::json!({"score": self.quality_score, "date": self.created_at.timestamp()}),
                );
            } else if let Some(value) = all.remove(field) {
                chosen.insert(field.to_string(), value);
            }
        }
        chosen.insert("id".to_string(), Value::from(self.id.clone()));
        Value::Object(chosen)
    }

    /// The template's numeric id, as webhooks carry it.
    pub(crate) fn numeric_id(&self) -> u64 {
        self.id.parse().unwrap_or_default()
    }
}

/// The names in a Graph `fields=a,b{c}` parameter (sub-selections are ignored).
pub(crate) fn field_list(fields: &str) -> Vec<&str> {
    fields
        .split(',')
        .map(|f| f.split('{').next().unwrap_or_default().trim())
        .filter(|f| !f.is_empty())
        .collect()
}

/// A validated creation request.
#[derive(Debug)]
pub(crate) struct NewTemplate {
    pub name: String,
    pub language: String,
    pub category: String,
    pub parameter_format: String,
    pub components: Value,
}

/// A validated edit: new components and/or a new category.
#[derive(Debug)]
pub(crate) struct TemplateEdit {
    pub components: Option<Value>,
    pub category: Option<String>,
}

/// Checks a `POST /{waba-id}/message_templates` body; the error is the `details` of a code 100.
pub(crate) fn validate_create(body: &Map<String, Value>) -> Result<NewTemplate, String> {
    let name = required_string(body, "name")?;
    if name.chars().count() > 512 {
        return Err("Param name must be at most 512 characters long.".to_string());
    }
    let mut chars = name.chars();
    let well_formed = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !well_formed {
        return Err(format!(
            "Param name must start with a lowercase letter and contain only lowercase letters, digits and underscores - got \"{name}\"."
        ));
    }
    let language = required_string(body, "language")?;
    let valid_language = language.len() <= 15
        && language
            .chars()
            .all(|c| c.is_ascii_alphabetic() || c == '_');
    if !valid_language {
        return Err(format!(
            "Param language is not a valid language code - got \"{language}\"."
        ));
    }
    let category = category(body.get("category"))?
        .ok_or_else(|| "The parameter category is required.".to_string())?;
    let parameter_format = match body.get("parameter_format") {
        None | Some(Value::Null) => "POSITIONAL".to_string(),
        Some(Value::String(f)) if f.eq_ignore_ascii_case("positional") => "POSITIONAL".to_string(),
        Some(Value::String(f)) if f.eq_ignore_ascii_case("named") => "NAMED".to_string(),
        Some(other) => {
            return Err(format!(
                "Param parameter_format must be one of {{POSITIONAL, NAMED}} - got {other}."
            ))
        }
    };
    match body.get("allow_category_change") {
        None | Some(Value::Null | Value::Bool(_)) => {}
        Some(_) => return Err("Param allow_category_change must be a boolean.".to_string()),
    }
    let components = body
        .get("components")
        .cloned()
        .ok_or_else(|| "The parameter components is required.".to_string())?;
    validate_components(&components, &category)?;
    Ok(NewTemplate {
        name,
        language,
        category,
        parameter_format,
        components,
    })
}

/// Checks a `POST /{template-id}` body against the template's current category.
pub(crate) fn validate_edit(
    body: &Map<String, Value>,
    current_category: &str,
) -> Result<TemplateEdit, String> {
    let category = category(body.get("category"))?;
    let components = body.get("components").filter(|c| !c.is_null()).cloned();
    if components.is_none() && category.is_none() {
        return Err("The parameter components is required.".to_string());
    }
    if let Some(components) = &components {
        validate_components(components, category.as_deref().unwrap_or(current_category))?;
    }
    Ok(TemplateEdit {
        components,
        category,
    })
}

/// An optional category, upper-cased, checked against [`TEMPLATE_CATEGORIES`].
fn category(value: Option<&Value>) -> Result<Option<String>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(c)) if TEMPLATE_CATEGORIES.contains(&c.to_uppercase().as_str()) => {
            Ok(Some(c.to_uppercase()))
        }
        Some(other) => Err(format!(
            "Param category must be one of {{AUTHENTICATION, MARKETING, UTILITY}} - got {other}."
        )),
    }
}

/// Meta's component rules: exactly one BODY, at most one HEADER, FOOTER and BUTTONS, and the
/// documented length limits (README §3, §7).
fn validate_components(components: &Value, category: &str) -> Result<(), String> {
    let Value::Array(items) = components else {
        return Err("Param components must be an array.".to_string());
    };
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, component) in items.iter().enumerate() {
        let kind = component
            .get("type")
            .and_then(Value::as_str)
            .map(str::to_uppercase)
            .ok_or_else(|| format!("The parameter components[{i}]['type'] is required."))?;
        if !COMPONENT_TYPES.contains(&kind.as_str()) {
            return Err(format!(
                "Param components[{i}]['type'] must be one of {{{}}} - got \"{kind}\".",
                COMPONENT_TYPES.join(", ")
            ));
        }
        *seen.entry(kind.clone()).or_default() += 1;
        let text = component.get("text");
        if text.is_some_and(|t| !t.is_string()) {
            return Err(format!("Param components[{i}]['text'] must be a string."));
        }
        let text = text.and_then(Value::as_str);
        match kind.as_str() {
            "BODY" => match text {
                Some(text) if text.chars().count() > 1024 => {
                    return Err(format!(
                        "Param components[{i}]['text'] must be at most 1024 characters long."
                    ))
                }
                Some(text) if text.trim().is_empty() => {
                    return Err(format!("Param components[{i}]['text'] must not be empty."))
                }
                None if category != "AUTHENTICATION" => {
                    return Err(format!(
                        "The parameter components[{i}]['text'] is required."
                    ))
                }
                _ => {}
            },
            "HEADER" | "FOOTER" if text.is_some_and(|t| t.chars().count() > 60) => {
                return Err(format!(
                    "Param components[{i}]['text'] must be at most 60 characters long."
                ));
            }
            "BUTTONS" => match component.get("buttons") {
                Some(Value::Array(buttons)) if (1..=10).contains(&buttons.len()) => {}
                _ => {
                    return Err(format!(
                        "Param components[{i}]['buttons'] must be an array of 1 to 10 buttons."
                    ))
                }
            },
            _ => {}
        }
    }
    match seen.get("BODY") {
        Some(1) => {}
        Some(_) => {
            return Err(
                "Param components must contain exactly one BODY component - got more than one."
                    .to_string(),
            )
        }
        None => return Err("Param components must contain exactly one BODY component.".to_string()),
    }
    for single in ["HEADER", "FOOTER", "BUTTONS"] {
        if seen.get(single).is_some_and(|&n| n > 1) {
            return Err(format!(
                "Param components must contain at most one {single} component."
            ));
        }
    }
    Ok(())
}

fn required_string(body: &Map<String, Value>, key: &str) -> Result<String, String> {
    match body.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(Value::String(_)) | None | Some(Value::Null) => {
            Err(format!("The parameter {key} is required."))
        }
        Some(_) => Err(format!("Param {key} must be a string.")),
    }
}

/// The distinct variables (`{{1}}`, `{{first_name}}`) in a template's BODY text.
pub(crate) fn body_variables(components: &Value) -> usize {
    let text = components
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| {
            c.get("type")
                .and_then(Value::as_str)
                .is_some_and(|t| t.eq_ignore_ascii_case("BODY"))
        })
        .and_then(|c| c.get("text"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        let name = after[..end].trim();
        if !name.is_empty() {
            names.insert(name.to_string());
        }
        rest = &after[end + 2..];
    }
    names.len()
}

/// The body parameters of a template send (`template.components[type=body].parameters`).
fn sent_body_parameters(template: &Value) -> usize {
    template
        .get("components")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|c| {
            c.get("type")
                .and_then(Value::as_str)
                .is_some_and(|t| t.eq_ignore_ascii_case("body"))
        })
        .filter_map(|c| c.get("parameters").and_then(Value::as_array))
        .map(Vec::len)
        .sum()
}

/// One page of a template list.
pub(crate) struct Page {
    pub data: Vec<SandboxTemplate>,
    pub before: Option<String>,
    pub after: Option<String>,
    pub has_next: bool,
    pub has_previous: bool,
}

/// Which templates a list asks for.
pub(crate) struct ListQuery {
    pub name: Option<String>,
    pub status: Option<String>,
    pub limit: usize,
    pub after: Option<u64>,
    pub before: Option<u64>,
}

impl ListQuery {
    /// Reads `limit`, `after`, `before`, `name` and `status`; the error is a code-100 `details`.
    pub(crate) fn parse(query: &BTreeMap<String, String>) -> Result<Self, String> {
        let limit = match query.get("limit") {
            None => DEFAULT_PAGE_SIZE,
            Some(l) => match l.parse::<usize>() {
                Ok(l) if l >= 1 => l.min(1000),
                _ => {
                    return Err(format!(
                        "Param limit must be a positive integer - got \"{l}\"."
                    ))
                }
            },
        };
        let cursor = |key: &str| -> Result<Option<u64>, String> {
            query
                .get(key)
                .filter(|c| !c.is_empty())
                .map(|c| {
                    decode_cursor(c).ok_or_else(|| format!("Param {key} is not a valid cursor."))
                })
                .transpose()
        };
        Ok(Self {
            name: query.get("name").filter(|n| !n.is_empty()).cloned(),
            status: query
                .get("status")
                .filter(|s| !s.is_empty())
                .map(|s| s.to_uppercase()),
            limit,
            after: cursor("after")?,
            before: cursor("before")?,
        })
    }
}

/// An opaque cursor for a position in creation order, base64 like Meta's.
fn encode_cursor(seq: u64) -> String {
    URL_SAFE_NO_PAD.encode(seq.to_string())
}

fn decode_cursor(cursor: &str) -> Option<u64> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    String::from_utf8(bytes).ok()?.parse().ok()
}

/// Every template the sandbox holds, in creation order.
#[derive(Default)]
pub(crate) struct Templates {
    /// By creation sequence, the order lists and cursors use.
    by_seq: BTreeMap<u64, SandboxTemplate>,
    seq_of_id: HashMap<String, u64>,
    /// (WABA, name, language) → sequence, for creation and send checks.
    seq_of_key: HashMap<(String, String, String), u64>,
    /// Templates per WABA, so that a send can tell "this WABA has templates" without a scan.
    per_waba: HashMap<String, usize>,
    /// Ids that were deleted, so that `GET /{id}` keeps answering "does not exist" for them.
    deleted: HashSet<String>,
    next_seq: u64,
    /// Accepted creations, for the stats (reset by a clear).
    pub created: u64,
    /// Accepted edits, for the stats (reset by a clear).
    pub edited: u64,
}

impl Templates {
    fn insert(&mut self, template: SandboxTemplate) {
        self.next_seq += 1;
        let seq = self.next_seq;
        self.seq_of_id.insert(template.id.clone(), seq);
        self.seq_of_key.insert(key_of(&template), seq);
        *self.per_waba.entry(template.waba_id.clone()).or_default() += 1;
        self.by_seq.insert(seq, template);
    }

    /// A template by id.
    pub(crate) fn get(&self, id: &str) -> Option<&SandboxTemplate> {
        self.by_seq.get(self.seq_of_id.get(id)?)
    }

    fn get_mut(&mut self, id: &str) -> Option<&mut SandboxTemplate> {
        self.by_seq.get_mut(self.seq_of_id.get(id)?)
    }

    /// A template by WABA, name and language.
    pub(crate) fn find(
        &self,
        waba_id: &str,
        name: &str,
        language: &str,
    ) -> Option<&SandboxTemplate> {
        let key = (waba_id.to_string(), name.to_string(), language.to_string());
        self.by_seq.get(self.seq_of_key.get(&key)?)
    }

    /// Whether a WABA has created any template (that is not deleted).
    pub(crate) fn has_waba(&self, waba_id: &str) -> bool {
        self.per_waba.get(waba_id).is_some_and(|&n| n > 0)
    }

    /// Whether templates were ever created in this WABA.
    pub(crate) fn knows_waba(&self, waba_id: &str) -> bool {
        self.per_waba.contains_key(waba_id)
    }

    /// Whether `id` names a template that was deleted.
    pub(crate) fn was_deleted(&self, id: &str) -> bool {
        self.deleted.contains(id)
    }

    fn remove(&mut self, id: &str) -> Option<SandboxTemplate> {
        let seq = self.seq_of_id.remove(id)?;
        let template = self.by_seq.remove(&seq)?;
        self.seq_of_key.remove(&key_of(&template));
        if let Some(n) = self.per_waba.get_mut(&template.waba_id) {
            *n -= 1;
        }
        self.deleted.insert(template.id.clone());
        Some(template)
    }

    /// All templates, in creation order.
    pub(crate) fn all(&self) -> Vec<SandboxTemplate> {
        self.by_seq.values().cloned().collect()
    }

    /// One page of a WABA's templates.
    pub(crate) fn page(&self, waba_id: &str, query: &ListQuery) -> Page {
        let matching = |(_, t): &(&u64, &SandboxTemplate)| {
            t.waba_id == waba_id
                && query.name.as_ref().is_none_or(|n| &t.name == n)
                && query.status.as_ref().is_none_or(|s| &t.status == s)
        };
        let mut chosen: Vec<(u64, &SandboxTemplate)> = if let Some(before) = query.before {
            let mut earlier: Vec<_> = self
                .by_seq
                .range(..before)
                .rev()
                .filter(matching)
                .take(query.limit)
                .map(|(s, t)| (*s, t))
                .collect();
            earlier.reverse();
            earlier
        } else {
            let start = query.after.map_or(0, |a| a + 1);
            self.by_seq
                .range(start..)
                .filter(matching)
                .take(query.limit)
                .map(|(s, t)| (*s, t))
                .collect()
        };
        let first = chosen.first().map(|(s, _)| *s);
        let last = chosen.last().map(|(s, _)| *s);
        let has_next = last.is_some_and(|l| self.by_seq.range(l + 1..).any(|e| matching(&e)));
        let has_previous = first.is_some_and(|f| self.by_seq.range(..f).any(|e| matching(&e)));
        Page {
            data: chosen.drain(..).map(|(_, t)| t.clone()).collect(),
            before: first.map(encode_cursor),
            after: last.map(encode_cursor),
            has_next,
            has_previous,
        }
    }
}

fn key_of(template: &SandboxTemplate) -> (String, String, String) {
    (
        template.waba_id.clone(),
        template.name.clone(),
        template.language.clone(),
    )
}

/// What a review decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Approved,
    Rejected,
}

impl SandboxState {
    /// Stores a new template as `PENDING` and starts its review, unless the WABA already has one
    /// with that name and language.
    pub(crate) fn create_template(
        &self,
        waba_id: &str,
        new: NewTemplate,
    ) -> Result<SandboxTemplate, GraphFailure> {
        let template = {
            let mut templates = self.templates();
            if templates.find(waba_id, &new.name, &new.language).is_some() {
                return Err(GraphFailure::user_error(
                    crate::meta_error::INVALID_PARAMETER_CODE,
                    2388024,
                    "Invalid parameter",
                    "Message template already exists",
                    format!(
                        "There is already {} content for the template {}. You can create a new template and try again.",
                        new.language, new.name
                    ),
                ));
            }
            let template = SandboxTemplate {
                id: crate::ids::template_id(),
                waba_id: waba_id.to_string(),
                name: new.name,
                language: new.language,
                category: new.category,
                previous_category: None,
                status: "PENDING".to_string(),
                parameter_format: new.parameter_format,
                components: new.components,
                quality_score: "UNKNOWN".to_string(),
                submissions: 1,
                created_at: Utc::now(),
            };
            templates.insert(template.clone());
            templates.created += 1;
            template
        };
        self.schedule_review(&template);
        Ok(template)
    }

    /// Applies an edit: the template goes back to `PENDING` and is reviewed again.
    pub(crate) fn edit_template(
        &self,
        id: &str,
        body: &Map<String, Value>,
    ) -> Result<SandboxTemplate, GraphFailure> {
        let template = {
            let mut templates = self.templates();
            let Some(template) = templates.get_mut(id) else {
                return Err(GraphFailure::unknown_object(id));
            };
            let edit =
                validate_edit(body, &template.category).map_err(GraphFailure::invalid_parameter)?;
            if let Some(components) = edit.components {
                template.components = components;
            }
            if let Some(category) = edit.category {
                if category != template.category {
                    template.previous_category =
                        Some(std::mem::replace(&mut template.category, category));
                }
            }
            template.status = "PENDING".to_string();
            template.submissions += 1;
            let template = template.clone();
            templates.edited += 1;
            template
        };
        self.schedule_review(&template);
        Ok(template)
    }

    /// Deletes every language of `name` in a WABA, or only the template `hsm_id`; the deleted
    /// templates, or Meta's 100/2593002 when nothing matched.
    pub(crate) fn delete_templates(
        &self,
        waba_id: &str,
        name: &str,
        hsm_id: Option<&str>,
    ) -> Result<Vec<SandboxTemplate>, GraphFailure> {
        let mut templates = self.templates();
        let ids: Vec<String> = templates
            .by_seq
            .values()
            .filter(|t| t.waba_id == waba_id && t.name == name)
            .filter(|t| hsm_id.is_none_or(|h| t.id == h))
            .map(|t| t.id.clone())
            .collect();
        if ids.is_empty() {
            return Err(GraphFailure::template_not_found(name));
        }
        Ok(ids.iter().filter_map(|id| templates.remove(id)).collect())
    }

    /// A template by id.
    pub fn template(&self, id: &str) -> Option<SandboxTemplate> {
        self.templates().get(id).cloned()
    }

    /// Every template of every WABA, in creation order (`GET /_sandbox/templates`).
    pub fn all_templates(&self) -> Vec<SandboxTemplate> {
        self.templates().all()
    }

    /// Meta's send-time template checks, only for WABAs that created templates in the sandbox
    /// (a WABA with none accepts any template send, as benchmarks and older tests rely on).
    pub(crate) fn check_template_send(
        &self,
        phone_number_id: &str,
        template: &Value,
    ) -> Result<(), GraphFailure> {
        if self.templates().per_waba.is_empty() {
            return Ok(());
        }
        let waba_id = self.waba_id_of(phone_number_id);
        let templates = self.templates();
        if !templates.has_waba(&waba_id) {
            return Ok(());
        }
        let name = template
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let language = template
            .pointer("/language/code")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let Some(found) = templates.find(&waba_id, name, language) else {
            return Err(GraphFailure::with_details(
                TEMPLATE_UNAVAILABLE_CODE,
                format!("template name ({name}) does not exist in {language}"),
            ));
        };
        match found.status.as_str() {
            "APPROVED" => {}
            "PAUSED" => {
                return Err(GraphFailure::with_details(
                    TEMPLATE_PAUSED_CODE,
                    format!("Template {name} is paused due to low quality, so it cannot be sent in a template message."),
                ))
            }
            "DISABLED" => {
                return Err(GraphFailure::with_details(
                    TEMPLATE_DISABLED_CODE,
                    format!("Template {name} has been disabled due to low quality, so it cannot be sent in a template message."),
                ))
            }
            status => {
                return Err(GraphFailure::with_details(
                    TEMPLATE_UNAVAILABLE_CODE,
                    format!("template name ({name}) in {language} is not approved (status {status})"),
                ))
            }
        }
        let expected = body_variables(&found.components);
        let given = sent_body_parameters(template);
        if given != expected {
            return Err(GraphFailure::with_details(
                TEMPLATE_PARAM_COUNT_CODE,
                format!("body: number of localizable_params ({given}) does not match the expected number of params ({expected})"),
            ));
        }
        Ok(())
    }

    /// Sets a template's status (and optionally category or quality) under the lock; the
    /// template afterwards, or `None` if it no longer exists.
    pub(crate) fn update_template(
        &self,
        id: &str,
        change: impl FnOnce(&mut SandboxTemplate),
    ) -> Option<SandboxTemplate> {
        let mut templates = self.templates();
        let template = templates.get_mut(id)?;
        change(template);
        Some(template.clone())
    }

    /// Starts the review of a template's latest submission: after the configured delay it is
    /// approved or rejected (by policy, or by a `reject_` name) and the status webhook is sent.
    /// The manual policy leaves it `PENDING`.
    fn schedule_review(&self, template: &SandboxTemplate) {
        let config = self.config();
        let verdict = if template.name.starts_with(REJECTED_NAME_PREFIX) {
            Verdict::Rejected
        } else {
            match config.template_review {
                TemplateReview::Approve => Verdict::Approved,
                TemplateReview::Reject => Verdict::Rejected,
                TemplateReview::Manual => return,
            }
        };
        let delay = Duration::from_millis(config.template_review_delay_ms);
        let (id, submission) = (template.id.clone(), template.submissions);
        let state = self.clone();
        self.counters()
            .pending
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            if !state.is_closed() {
                state.finish_review(&id, submission, verdict).await;
            }
            state
                .counters()
                .pending
                .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        });
    }

    /// Applies a verdict if the submission is still the latest and still pending (an edit or a
    /// control call in the meantime wins), then sends the status webhook.
    async fn finish_review(&self, id: &str, submission: u32, verdict: Verdict) {
        let decided = {
            let mut templates = self.templates();
            let Some(template) = templates.get_mut(id) else {
                return;
            };
            if template.submissions != submission || template.status != "PENDING" {
                return;
            }
            template.status = match verdict {
                Verdict::Approved => "APPROVED",
                Verdict::Rejected => "REJECTED",
            }
            .to_string();
            template.clone()
        };
        let value = match verdict {
            Verdict::Approved => {
                TemplateStatusValue::new(&decided, "APPROVED", Some("NONE".into()))
            }
            Verdict::Rejected => TemplateStatusValue {
                rejection_info: Some(serde_json::json!({
                    "reason": "The sandbox rejected this template (its name starts with `reject_`, or the review policy is `reject`).",
                    "recommendation": "Rename the template or set the sandbox's template_review to `approve`, then submit it again."
                })),
                ..TemplateStatusValue::new(&decided, "REJECTED", Some("INVALID_FORMAT".into()))
            },
        };
        self.deliver_management(
            decided.waba_id.clone(),
            "message_template_status_update",
            &value,
        )
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn create(body: Value) -> Result<NewTemplate, String> {
        validate_create(body.as_object().unwrap())
    }

    fn valid() -> Value {
        json!({"name": "order_update", "language": "en_US", "category": "utility",
               "components": [{"type": "BODY", "text": "Hi {{1}}, order {{2}} ships {{1}}."}]})
    }

    #[test]
    fn counts_distinct_body_variables() {
        assert_eq!(body_variables(&valid()["components"]), 2);
        assert_eq!(
            body_variables(
                &json!([{"type": "HEADER", "text": "{{1}}"}, {"type": "BODY", "text": "{{ name }} and {{order_id}}"}])
            ),
            2
        );
        assert_eq!(
            body_variables(&json!([{"type": "BODY", "text": "no variables"}])),
            0
        );
    }

    #[test]
    fn validates_creation_like_meta() {
        let ok = create(valid()).unwrap();
        assert_eq!(
            (ok.category.as_str(), ok.parameter_format.as_str()),
            ("UTILITY", "POSITIONAL")
        );
        let with = |key: &str, value: Value| {
            let mut body = valid();
            body[key] = value;
            create(body).unwrap_err()
        };
        assert!(with("name", json!("Order")).contains("name"));
        assert!(with("name", json!("1order")).contains("name"));
        assert!(with("name", json!("a".repeat(513))).contains("512"));
        assert!(with("category", json!("PROMO")).contains("category"));
        assert!(with("components", json!([])).contains("BODY"));
        assert!(with(
            "components",
            json!([{"type": "BODY", "text": "a"}, {"type": "BODY", "text": "b"}])
        )
        .contains("exactly one BODY"));
        assert!(with(
            "components",
            json!([{"type": "HEADER", "format": "TEXT", "text": "x"}])
        )
        .contains("BODY"));
        assert!(with(
            "components",
            json!([{"type": "BODY", "text": "x".repeat(1025)}])
        )
        .contains("1024"));
        assert!(with("parameter_format", json!("weird")).contains("parameter_format"));
    }

    #[test]
    fn cursors_round_trip() {
        assert_eq!(decode_cursor(&encode_cursor(42)), Some(42));
        assert_eq!(decode_cursor("not a cursor!"), None);
    }
}

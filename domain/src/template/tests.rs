//! Tests of the Template aggregate (given/when/then with cqrs-es's `TestFramework`), of its
//! components against Meta's own template payloads (`shared/meta/fixtures`), and of the send
//! checks and broadcast binding.

use super::*;
use crate::conversation::{TemplateLanguage, TemplateMessage};
use crate::{Issued, WorkspaceId};
use chrono::{DateTime, TimeDelta, Utc};
use cqrs_es::test::TestFramework;
use cqrs_es::{Aggregate, DomainEvent};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;
use uuid::Uuid;

type TemplateTest = TestFramework<Template>;
type Event = TemplateEvent;
type Command = TemplateCommand;

const WABA: &str = "102290129340398";
const META_ID: &str = "1297883712183052";

fn t(minutes: i64) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-01T10:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
        + TimeDelta::minutes(minutes)
}

fn workspace() -> WorkspaceId {
    WorkspaceId(Uuid::from_u128(1))
}

fn phone() -> Uuid {
    Uuid::from_u128(2)
}

fn issue_at(command: Command, at: DateTime<Utc>) -> Issued<Command> {
    Issued {
        workspace_id: workspace(),
        at,
        command,
    }
}

fn issue(command: Command) -> Issued<Command> {
    issue_at(command, t(1))
}

fn components(raw: Value) -> Vec<TemplateComponent> {
    serde_json::from_value(raw).unwrap()
}

fn variables(raw: Value) -> Vec<TemplateVariable> {
    serde_json::from_value(raw).unwrap()
}

/// Seed 003's "Create Template" request.
fn seed_components() -> Vec<TemplateComponent> {
    components(json!([
        {"type": "BODY", "text": "Hi {{1}}! Your order #{{2}} status: {{3}}",
         "example": {"body_text": [["John", "12345", "shipped"]]}}
    ]))
}

fn seed_variables() -> Vec<TemplateVariable> {
    variables(json!([
        {"variable_name": "customer_name", "position": 1, "description": "Customer's name",
         "default_value": "Customer", "sample_value": "John", "is_required": false},
        {"variable_name": "order_id", "position": 2, "description": "Order number",
         "sample_value": "12345", "is_required": true},
        {"variable_name": "status", "position": 3, "description": "Order status",
         "default_value": "processing", "sample_value": "shipped"}
    ]))
}

fn draft() -> TemplateDraft {
    TemplateDraft {
        phone_number_id: Some(phone()),
        waba_id: WABA.into(),
        name: "order_update".into(),
        language: "en".into(),
        category: TemplateCategory::Utility,
        components: seed_components(),
        variables: seed_variables(),
    }
}

fn draft_with(components: Value, variables: Value) -> TemplateDraft {
    TemplateDraft {
        components: self::components(components),
        variables: self::variables(variables),
        ..draft()
    }
}

fn created() -> Event {
    let d = draft();
    Event::TemplateCreated {
        workspace_id: workspace(),
        phone_number_id: d.phone_number_id,
        waba_id: d.waba_id,
        name: d.name,
        language: d.language,
        category: d.category,
        components: d.components,
        variables: d.variables,
        at: t(0),
    }
}

fn submitted() -> Event {
    Event::TemplateSubmitted {
        phone_number_id: Some(phone()),
        waba_id: WABA.into(),
        name: "order_update".into(),
        language: "en".into(),
        meta_template_id: None,
        request: meta_create_body(
            "order_update",
            "en",
            TemplateCategory::Utility,
            &seed_components(),
            &seed_variables(),
        ),
        at: t(1),
    }
}

fn accepted() -> Event {
    Event::TemplateSubmissionAccepted {
        meta_template_id: META_ID.into(),
        status: TemplateStatus::Pending,
        category: TemplateCategory::Utility,
        at: t(2),
    }
}

fn status_changed(status: TemplateStatus, previous: TemplateStatus) -> Event {
    Event::TemplateStatusChanged {
        status,
        previous,
        reason: None,
        meta_template_id: None,
        at: t(3),
    }
}

fn approved_history() -> Vec<Event> {
    vec![
        created(),
        submitted(),
        accepted(),
        status_changed(TemplateStatus::Approved, TemplateStatus::Pending),
    ]
}

fn state_after(events: Vec<Event>) -> TemplateState {
    let mut template = Template::default();
    for event in events {
        template.apply(event);
    }
    template.state.unwrap()
}

fn invalid_field(result: Result<Vec<Event>, TemplateError>) -> (&'static str, String) {
    match result {
        Err(TemplateError::Invalid { field, reason }) => (field, reason),
        other => panic!("expected Invalid, got {other:?}"),
    }
}

/// Runs `command` on a template built from `given`: its events, or its error.
async fn run(given: Vec<Event>, command: Command) -> Result<Vec<Event>, TemplateError> {
    TemplateTest::with(())
        .given(given)
        .when_async(issue(command))
        .await
        .inspect_result()
}

// ---- ids, names, categories, statuses ----

#[test]
fn template_ids_are_deterministic_per_workspace_waba_name_and_language() {
    let id = template_id(workspace(), WABA, "order_update", "en");
    assert_eq!(id, template_id(workspace(), WABA, "order_update", "en"));
    assert_eq!(id.get_version_num(), 5);
    for other in [
        template_id(WorkspaceId(Uuid::from_u128(9)), WABA, "order_update", "en"),
        template_id(workspace(), "1", "order_update", "en"),
        template_id(workspace(), WABA, "order_updates", "en"),
        template_id(workspace(), WABA, "order_update", "en_US"),
    ] {
        assert_ne!(id, other);
    }
}

#[tokio::test]
async fn names_must_be_lowercase_words() {
    for good in ["order_update", "a", "a1_b_", "hello_world_2"] {
        let d = TemplateDraft {
            name: good.into(),
            ..draft()
        };
        assert!(
            run(vec![], Command::CreateTemplate(d)).await.is_ok(),
            "{good}"
        );
    }
    for bad in [
        "Order",
        "1abc",
        "_a",
        "a-b",
        "",
        "a b",
        "héllo",
        &"a".repeat(513),
    ] {
        let d = TemplateDraft {
            name: bad.into(),
            ..draft()
        };
        let (field, _) = invalid_field(run(vec![], Command::CreateTemplate(d)).await);
        assert_eq!(field, "name", "{bad}");
    }
    assert!(check_template_name(&"a".repeat(512)).is_ok());
}

#[tokio::test]
async fn languages_waba_ids_are_checked() {
    for good in ["en", "en_US", "pt_BR", "fil"] {
        assert!(check_language(good).is_ok(), "{good}");
    }
    for bad in ["", "_en", "en-US ", "en/US", "abcdefghijklmnopq"] {
        assert!(check_language(bad).is_err(), "{bad}");
    }
    let d = TemplateDraft {
        waba_id: "waba-1".into(),
        ..draft()
    };
    let (field, _) = invalid_field(run(vec![], Command::CreateTemplate(d)).await);
    assert_eq!(field, "waba_id");
}

#[test]
fn categories_are_metas() {
    assert_eq!("MARKETING".parse(), Ok(TemplateCategory::Marketing));
    assert_eq!("utility".parse(), Ok(TemplateCategory::Utility));
    assert_eq!(
        "Authentication".parse(),
        Ok(TemplateCategory::Authentication)
    );
    assert!("TRANSACTIONAL".parse::<TemplateCategory>().is_err());
    for category in TemplateCategory::ALL {
        assert_eq!(
            serde_json::to_value(category).unwrap(),
            json!(category.as_str())
        );
        assert_eq!(category.to_string().parse(), Ok(category));
    }
}

#[test]
fn statuses_are_metas_and_unknown_ones_are_errors() {
    for status in TemplateStatus::ALL {
        assert_eq!(status.as_str().parse(), Ok(status));
        assert_eq!(
            serde_json::to_value(status).unwrap(),
            json!(status.as_str())
        );
    }
    assert_eq!("in_appeal".parse(), Ok(TemplateStatus::InAppeal));
    assert_eq!(
        serde_json::to_value(TemplateStatus::PendingDeletion).unwrap(),
        json!("PENDING_DELETION")
    );
    assert!("SOMETHING_NEW".parse::<TemplateStatus>().is_err());
    assert!(TemplateStatus::Approved.is_sendable());
    assert!(TemplateStatus::Flagged.is_sendable());
    for unsendable in [
        TemplateStatus::Draft,
        TemplateStatus::Pending,
        TemplateStatus::Rejected,
        TemplateStatus::Paused,
        TemplateStatus::Disabled,
    ] {
        assert!(!unsendable.is_sendable());
    }
}

// ---- components ----

#[test]
fn components_read_any_case_and_write_metas() {
    let read = components(json!([
        {"type": "header", "format": "text", "text": "Order {{1}}"},
        {"type": "body", "text": "Hi {{1}}"},
        {"type": "Footer", "text": "Thanks"},
        {"type": "buttons", "buttons": [
            {"type": "quick_reply", "text": "Yes"},
            {"type": "url", "text": "Track", "url": "https://x.example/t/{{1}}"},
            {"type": "phone_number", "text": "Call", "phone_number": "+15550001111"},
            {"type": "copy_code", "example": "SAVE10"},
            {"type": "fancy_new_button", "text": "New", "whatever": {"k": 1}}
        ]}
    ]));
    assert!(matches!(read[1], TemplateComponent::Body(_)));
    assert_eq!(
        serde_json::to_value(&read).unwrap(),
        json!([
            {"type": "HEADER", "format": "TEXT", "text": "Order {{1}}"},
            {"type": "BODY", "text": "Hi {{1}}"},
            {"type": "FOOTER", "text": "Thanks"},
            {"type": "BUTTONS", "buttons": [
                {"type": "QUICK_REPLY", "text": "Yes"},
                {"type": "URL", "text": "Track", "url": "https://x.example/t/{{1}}"},
                {"type": "PHONE_NUMBER", "text": "Call", "phone_number": "+15550001111"},
                {"type": "COPY_CODE", "example": "SAVE10"},
                {"type": "FANCY_NEW_BUTTON", "text": "New", "whatever": {"k": 1}}
            ]}
        ])
    );
    let TemplateComponent::Buttons(buttons) = &read[3] else {
        panic!()
    };
    assert_eq!(
        buttons.buttons[4].kind,
        ButtonKind::Other("FANCY_NEW_BUTTON".into())
    );
}

#[test]
fn unknown_keys_and_component_types_are_kept() {
    let raw = json!([
        {"type": "BODY", "add_security_recommendation": true},
        {"type": "FOOTER", "code_expiration_minutes": 10},
        {"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "COPY_CODE", "text": "Copy code"}]},
        {"type": "CAROUSEL", "cards": [{"components": [{"type": "HEADER", "format": "IMAGE"}]}]},
        {"type": "HEADER", "format": "IMAGE", "example": {"header_handle": ["4::aW1h"]}, "mystery": [1, 2]}
    ]);
    let read = components(raw.clone());
    assert_eq!(read[3].kind(), "CAROUSEL");
    assert_eq!(serde_json::to_value(&read).unwrap(), raw);
}

#[test]
fn malformed_components_do_not_parse() {
    for (bad, says) in [
        (json!({"text": "no type"}), "type"),
        (json!({"type": "BODY", "text": 5}), "text"),
        (json!({"type": "HEADER"}), "format"),
        (json!({"type": "BUTTONS"}), "buttons"),
        (json!({"type": "BUTTONS", "buttons": ["x"]}), "buttons[0]"),
        (
            json!({"type": "BUTTONS", "buttons": [{"text": "x"}]}),
            "type",
        ),
    ] {
        let error = serde_json::from_value::<TemplateComponent>(bad.clone())
            .unwrap_err()
            .to_string();
        assert!(error.contains(says), "{bad}: {error}");
    }
}

/// Every template Meta listed (and the one it returned by id) reads into typed components and
/// writes back to exactly Meta's JSON; each passes the import rules.
#[test]
fn metas_template_fixtures_round_trip() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/meta/fixtures");
    let read = |name: &str| -> Value {
        let path = root.join(name);
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        serde_json::from_str(&text).unwrap()
    };
    let list = read("templates_list_response.json");
    let mut templates: Vec<Value> = list["data"].as_array().unwrap().clone();
    templates.push(read("template_get_by_id_response.json"));
    assert!(templates.len() > 20);
    for template in &templates {
        let label = format!("{} ({})", template["name"], template["language"]);
        let raw = template["components"].clone();
        let typed: Vec<TemplateComponent> =
            serde_json::from_value(raw.clone()).unwrap_or_else(|e| panic!("{label}: {e}"));
        assert_eq!(serde_json::to_value(&typed).unwrap(), raw, "{label}");
        for (component, raw) in typed.iter().zip(raw.as_array().unwrap()) {
            let one: TemplateComponent = serde_json::from_value(raw.clone()).unwrap();
            assert_eq!(&one, component);
        }
        let category: TemplateCategory = template["category"].as_str().unwrap().parse().unwrap();
        validate_components(&typed, category, Rules::Import)
            .unwrap_or_else(|e| panic!("{label}: {e}"));
    }
    // Typed where it matters.
    let by_id: Vec<TemplateComponent> =
        serde_json::from_value(templates.last().unwrap()["components"].clone()).unwrap();
    assert_eq!(Placeholders::of(&by_id).body, vec![1, 2]);
    let TemplateComponent::Buttons(buttons) = &by_id[1] else {
        panic!()
    };
    assert_eq!(buttons.buttons[0].kind, ButtonKind::PhoneNumber);
    assert_eq!(
        buttons.buttons[0].phone_number.as_deref(),
        Some("+59898400766")
    );
    assert_eq!(
        buttons.buttons[1].url.as_deref(),
        Some("https://www.luckyshrub.com/support")
    );
}

/// The creation requests Meta documents pass Parley's creation rules (positional) or are
/// refused with a clear message (named).
#[test]
fn metas_creation_request_fixtures() {
    let root =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/meta/fixtures/requests");
    let read = |name: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(root.join(name)).unwrap()).unwrap()
    };
    let positional = read("request_template_create_positional.json");
    let typed = components(positional["components"].clone());
    assert_eq!(
        serde_json::to_value(&typed).unwrap(),
        positional["components"]
    );
    assert_eq!(
        validate_components(&typed, TemplateCategory::Marketing, Rules::Create),
        Ok(())
    );
    let named = read("request_template_create_named.json");
    let typed = components(named["components"].clone());
    let error =
        validate_components(&typed, TemplateCategory::Marketing, Rules::Create).unwrap_err();
    assert!(
        error.contains("named parameter {{name}} is not supported"),
        "{error}"
    );
}

fn component_error(raw: Value) -> String {
    validate_components(&components(raw), TemplateCategory::Marketing, Rules::Create).unwrap_err()
}

#[test]
fn component_rules() {
    let ok = |raw: Value| {
        validate_components(&components(raw), TemplateCategory::Marketing, Rules::Create)
    };
    assert_eq!(
        ok(json!([
            {"type": "HEADER", "format": "TEXT", "text": "Hello {{1}}"},
            {"type": "BODY", "text": "b".repeat(1024)},
            {"type": "FOOTER", "text": "f".repeat(60)},
            {"type": "BUTTONS", "buttons": [
                {"type": "URL", "text": "One", "url": "https://a.example/{{1}}"},
                {"type": "URL", "text": "Two", "url": "https://b.example"},
                {"type": "PHONE_NUMBER", "text": "t".repeat(25), "phone_number": "+15550001111"},
                {"type": "COPY_CODE", "example": "SAVE"},
                {"type": "QUICK_REPLY", "text": "Yes"}
            ]}
        ])),
        Ok(())
    );
    let cases = [
        (json!([]), "exactly one BODY"),
        (json!([{"type": "FOOTER", "text": "x"}]), "exactly one BODY"),
        (
            json!([{"type": "BODY", "text": "a"}, {"type": "BODY", "text": "b"}]),
            "at most one BODY",
        ),
        (
            json!([{"type": "HEADER", "format": "TEXT", "text": "a"}, {"type": "HEADER", "format": "TEXT", "text": "b"}, {"type": "BODY", "text": "b"}]),
            "at most one HEADER",
        ),
        (
            json!([{"type": "BODY", "text": "b".repeat(1025)}]),
            "at most 1024",
        ),
        (json!([{"type": "BODY", "text": "  "}]), "must not be empty"),
        (json!([{"type": "BODY"}]), "needs a text"),
        (
            json!([{"type": "HEADER", "format": "TEXT", "text": "h".repeat(61)}, {"type": "BODY", "text": "b"}]),
            "at most 60",
        ),
        (
            json!([{"type": "HEADER", "format": "TEXT", "text": "{{1}} {{2}}"}, {"type": "BODY", "text": "b"}]),
            "at most one variable",
        ),
        (
            json!([{"type": "HEADER", "format": "TEXT", "text": "{{2}}"}, {"type": "BODY", "text": "b"}]),
            "without gaps",
        ),
        (
            json!([{"type": "HEADER", "format": "IMAGE"}, {"type": "BODY", "text": "b"}]),
            "header_handle",
        ),
        (
            json!([{"type": "HEADER", "format": "IMAGE", "text": "x", "example": {"header_handle": ["h"]}}, {"type": "BODY", "text": "b"}]),
            "only a TEXT header",
        ),
        (
            json!([{"type": "BODY", "text": "b"}, {"type": "FOOTER", "text": "f".repeat(61)}]),
            "at most 60",
        ),
        (
            json!([{"type": "BODY", "text": "b"}, {"type": "FOOTER", "text": "Hi {{1}}"}]),
            "cannot have variables",
        ),
        (
            json!([{"type": "BODY", "text": "Hi {{1}} and {{3}}"}]),
            "without gaps",
        ),
        (
            json!([{"type": "BODY", "text": "Hi {{2}}"}]),
            "without gaps",
        ),
        (
            json!([{"type": "BODY", "text": "Hi {{0}}"}]),
            "is not a placeholder",
        ),
        (
            json!([{"type": "BODY", "text": "Hi {{ 1 x }}"}]),
            "is not a placeholder",
        ),
        (
            json!([{"type": "BODY", "text": "Hi {{customer_name}}"}]),
            "named parameter {{customer_name}} is not supported",
        ),
        (
            json!([{"type": "BODY", "text": "b"}, {"type": "BUTTONS", "buttons": []}]),
            "1 to 10",
        ),
        (
            json!([{"type": "BODY", "text": "b"}, {"type": "BUTTONS", "buttons": vec![json!({"type": "QUICK_REPLY", "text": "x"}); 11]}]),
            "1 to 10",
        ),
        (
            json!([{"type": "BODY", "text": "b"}, {"type": "BUTTONS", "buttons": vec![json!({"type": "URL", "text": "x", "url": "https://a.example"}); 3]}]),
            "at most 2 URL",
        ),
        (
            json!([{"type": "BODY", "text": "b"}, {"type": "BUTTONS", "buttons": vec![json!({"type": "PHONE_NUMBER", "text": "x", "phone_number": "+1555"}); 2]}]),
            "at most 1 PHONE_NUMBER",
        ),
        (
            json!([{"type": "BODY", "text": "b"}, {"type": "BUTTONS", "buttons": vec![json!({"type": "COPY_CODE", "example": "x"}); 2]}]),
            "at most 1 COPY_CODE",
        ),
        (
            json!([{"type": "BODY", "text": "b"}, {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "t".repeat(26)}]}]),
            "at most 25",
        ),
        (
            json!([{"type": "BODY", "text": "b"}, {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY"}]}]),
            "needs a text",
        ),
        (
            json!([{"type": "BODY", "text": "b"}, {"type": "BUTTONS", "buttons": [{"type": "URL", "text": "x", "url": "ftp://a"}]}]),
            "http(s)",
        ),
        (
            json!([{"type": "BODY", "text": "b"}, {"type": "BUTTONS", "buttons": [{"type": "URL", "text": "x", "url": "https://a.example/{{1}}/x"}]}]),
            "at its end",
        ),
        (
            json!([{"type": "BODY", "text": "b"}, {"type": "BUTTONS", "buttons": [{"type": "PHONE_NUMBER", "text": "x", "phone_number": "call me"}]}]),
            "phone_number",
        ),
    ];
    for (raw, says) in cases {
        let error = component_error(raw.clone());
        assert!(error.contains(says), "{raw}: {error}");
    }
}

#[test]
fn authentication_templates_may_leave_texts_to_meta() {
    let auth = components(json!([
        {"type": "BODY", "add_security_recommendation": true},
        {"type": "FOOTER", "code_expiration_minutes": 10},
        {"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "COPY_CODE", "text": "Copy code"}]}
    ]));
    assert_eq!(
        validate_components(&auth, TemplateCategory::Authentication, Rules::Create),
        Ok(())
    );
    assert!(validate_components(&auth, TemplateCategory::Utility, Rules::Create).is_err());
    // The code is the body's one parameter.
    assert_eq!(Placeholders::of(&auth).body, vec![1]);
}

#[test]
fn placeholders_are_positional_and_distinct() {
    assert_eq!(
        placeholders("Hi {{2}}, {{1}} and {{2}} again"),
        Ok(vec![1, 2])
    );
    assert_eq!(
        placeholders("no variables, just {{ and }}"),
        Err("'{{ and }}' is not a placeholder: use {{1}}, {{2}}, …".to_string())
    );
    assert_eq!(placeholders("dangling {{1"), Ok(vec![]));
    assert_eq!(placeholders("{{1}}{{2}}"), Ok(vec![1, 2]));
}

// ---- variables ----

#[test]
fn variables_read_seed_003s_names() {
    let vars = seed_variables();
    assert_eq!(vars[0].name, "customer_name");
    assert_eq!(vars[0].component, VariableComponent::Body);
    assert!(!vars[0].required);
    assert_eq!(vars[0].default_value.as_deref(), Some("Customer"));
    assert!(vars[1].required);
    assert!(vars[2].required, "is_required defaults to true");
    let full: TemplateVariable = serde_json::from_value(json!({
        "variable_id": "var_001", "variable_name": "customer_name", "position": 1,
        "component_type": "BODY", "extraction_field": null, "default_value": "Customer",
        "sample_value": "John", "description": "Customer's full name", "is_required": null,
        "placeholder": "e.g., John Smith"
    }))
    .unwrap();
    assert!(full.required);
    assert_eq!(full.description.as_deref(), Some("Customer's full name"));
    let header: TemplateVariable =
        serde_json::from_value(json!({"name": "title", "position": 1, "component": "header"}))
            .unwrap();
    assert_eq!(header.component, VariableComponent::Header);
    assert_eq!(
        serde_json::to_value(&header).unwrap(),
        json!({"position": 1, "component": "HEADER", "name": "title", "required": true})
    );
    assert!(serde_json::from_value::<TemplateVariable>(
        json!({"name": "x", "position": 1, "component": "footer"})
    )
    .is_err());
}

#[test]
fn variable_rules() {
    let comps = components(json!([
        {"type": "HEADER", "format": "TEXT", "text": "Order {{1}}"},
        {"type": "BODY", "text": "Hi {{1}}, order {{2}}"}
    ]));
    let check = |raw: Value| validate_variables(&comps, &variables(raw));
    assert_eq!(
        check(json!([
            {"name": "order", "position": 1, "component": "HEADER"},
            {"name": "customer", "position": 1},
            {"name": "2", "position": 2}
        ])),
        Ok(())
    );
    let cases = [
        (json!([{"name": "x", "position": 3}]), "no BODY {{3}}"),
        (
            json!([{"name": "x", "position": 2, "component": "HEADER"}]),
            "no HEADER {{2}}",
        ),
        (json!([{"name": "x", "position": 0}]), "no BODY {{0}}"),
        (
            json!([{"name": "a", "position": 1}, {"name": "b", "position": 1}]),
            "described twice",
        ),
        (
            json!([{"name": "a", "position": 1}, {"name": "a", "position": 2}]),
            "used twice",
        ),
        (json!([{"name": "2", "position": 1}]), "read as a position"),
        (
            json!([{"name": "header.1", "position": 1}]),
            "read as a position",
        ),
        (json!([{"name": " a", "position": 1}]), "surrounding spaces"),
        (json!([{"name": "", "position": 1}]), "non-empty"),
        (
            json!([{"name": "a", "position": 1, "required": false}]),
            "needs a default_value",
        ),
        (
            json!([{"name": "a", "position": 1, "default_value": "two\nlines"}]),
            "new line",
        ),
        (
            json!([{"name": "a", "position": 1, "component": "HEADER", "default_value": "x".repeat(61)}]),
            "at most 60",
        ),
    ];
    for (raw, says) in cases {
        let error = check(raw.clone()).unwrap_err();
        assert!(error.contains(says), "{raw}: {error}");
    }
}

#[test]
fn every_placeholder_has_metadata_explicit_or_implicit() {
    let comps = components(json!([
        {"type": "HEADER", "format": "TEXT", "text": "Order {{1}}"},
        {"type": "BODY", "text": "Hi {{1}}, order {{2}}"}
    ]));
    let explicit = variables(json!([{"name": "order_id", "position": 2, "sample_value": "A1"}]));
    let complete = complete_variables(&comps, &explicit);
    assert_eq!(
        complete,
        vec![
            TemplateVariable::implicit(VariableComponent::Header, 1),
            TemplateVariable::implicit(VariableComponent::Body, 1),
            explicit[0].clone(),
        ]
    );
    assert_eq!(complete[0].name, "header.1");
    assert_eq!(complete[1].name, "1");
    assert!(complete[1].required && complete[1].default_value.is_none());
    let state = state_after(vec![created()]);
    assert_eq!(state.variables_complete(), seed_variables());
}

// ---- lifecycle ----

#[tokio::test]
async fn creating_records_a_draft() {
    TemplateTest::with(())
        .given_no_previous_events()
        .when_async(issue_at(Command::CreateTemplate(draft()), t(0)))
        .await
        .then_expect_events(vec![created()]);
    let state = state_after(vec![created()]);
    assert_eq!(state.status, TemplateStatus::Draft);
    assert_eq!(state.meta_template_id, None);
    assert_eq!(state.created_at, t(0));
    assert!(!state.deleted);
}

#[tokio::test]
async fn creating_twice_is_refused() {
    assert_eq!(
        run(vec![created()], Command::CreateTemplate(draft())).await,
        Err(TemplateError::AlreadyExists {
            name: "order_update".into(),
            language: "en".into()
        })
    );
}

#[tokio::test]
async fn creation_checks_components_and_variables() {
    let bad_components = draft_with(json!([{"type": "FOOTER", "text": "x"}]), json!([]));
    let (field, reason) = invalid_field(run(vec![], Command::CreateTemplate(bad_components)).await);
    assert_eq!(
        (field, reason.as_str()),
        (
            "components",
            "components: a template needs exactly one BODY"
        )
    );
    let bad_variables = draft_with(
        json!([{"type": "BODY", "text": "Hi {{1}}"}]),
        json!([{"name": "x", "position": 2}]),
    );
    let (field, reason) = invalid_field(run(vec![], Command::CreateTemplate(bad_variables)).await);
    assert_eq!(field, "variables");
    assert!(reason.contains("no BODY {{2}}"), "{reason}");
}

#[tokio::test]
async fn submitting_sends_metas_creation_body_with_examples() {
    TemplateTest::with(())
        .given(vec![created()])
        .when_async(issue(Command::SubmitTemplate))
        .await
        .then_expect_events(vec![submitted()]);
    let Event::TemplateSubmitted { request, .. } = submitted() else {
        panic!()
    };
    assert_eq!(
        request,
        json!({
            "name": "order_update",
            "category": "UTILITY",
            "language": "en",
            "components": [{"type": "BODY", "text": "Hi {{1}}! Your order #{{2}} status: {{3}}",
                            "example": {"body_text": [["John", "12345", "shipped"]]}}]
        })
    );
    let state = state_after(vec![created(), submitted()]);
    assert_eq!(state.status, TemplateStatus::Pending);
}

#[tokio::test]
async fn meta_accepts_then_approves() {
    TemplateTest::with(())
        .given(vec![created(), submitted()])
        .when_async(issue_at(
            Command::RecordSubmissionAccepted {
                meta_template_id: META_ID.into(),
                status: "PENDING".into(),
                category: "UTILITY".into(),
            },
            t(2),
        ))
        .await
        .then_expect_events(vec![accepted()]);
    TemplateTest::with(())
        .given(vec![created(), submitted(), accepted()])
        .when_async(issue_at(
            Command::RecordMetaStatus {
                status: TemplateStatus::Approved,
                reason: Some("NONE".into()),
                meta_template_id: Some(META_ID.into()),
            },
            t(3),
        ))
        .await
        .then_expect_events(vec![status_changed(
            TemplateStatus::Approved,
            TemplateStatus::Pending,
        )]);
    let state = state_after(approved_history());
    assert_eq!(state.status, TemplateStatus::Approved);
    assert_eq!(state.meta_template_id.as_deref(), Some(META_ID));
    assert_eq!(state.rejection_reason, None);
    assert_eq!(state.updated_at, t(3));
}

#[tokio::test]
async fn meta_may_change_the_category_on_acceptance() {
    let events = run(
        vec![created(), submitted()],
        Command::RecordSubmissionAccepted {
            meta_template_id: META_ID.into(),
            status: "SOMETHING_NEW".into(),
            category: "MARKETING".into(),
        },
    )
    .await
    .unwrap();
    let state = state_after([vec![created(), submitted()], events].concat());
    assert_eq!(state.category, TemplateCategory::Marketing);
    assert_eq!(
        state.status,
        TemplateStatus::Pending,
        "unknown statuses stay PENDING"
    );
}

#[tokio::test]
async fn acceptance_already_known_records_nothing() {
    // A repeated job, or a status webhook that arrived first with Meta's id.
    let approved_first = vec![
        created(),
        submitted(),
        Event::TemplateStatusChanged {
            status: TemplateStatus::Approved,
            previous: TemplateStatus::Pending,
            reason: None,
            meta_template_id: Some(META_ID.into()),
            at: t(2),
        },
    ];
    let accept = Command::RecordSubmissionAccepted {
        meta_template_id: META_ID.into(),
        status: "PENDING".into(),
        category: "UTILITY".into(),
    };
    assert_eq!(
        run(approved_first.clone(), accept.clone()).await,
        Ok(vec![])
    );
    assert_eq!(state_after(approved_first).status, TemplateStatus::Approved);
    assert_eq!(
        run(vec![created()], accept).await,
        Err(TemplateError::WrongStatus {
            action: "record Meta's acceptance of",
            status: TemplateStatus::Draft
        })
    );
}

#[tokio::test]
async fn repeated_statuses_record_nothing() {
    for reason in [None, Some("NONE".to_string()), Some(" ".to_string())] {
        assert_eq!(
            run(
                approved_history(),
                Command::RecordMetaStatus {
                    status: TemplateStatus::Approved,
                    reason,
                    meta_template_id: Some(META_ID.into()),
                },
            )
            .await,
            Ok(vec![])
        );
    }
}

#[tokio::test]
async fn rejection_keeps_metas_reason_and_allows_resubmission_as_an_edit() {
    let rejected = Event::TemplateStatusChanged {
        status: TemplateStatus::Rejected,
        previous: TemplateStatus::Pending,
        reason: Some("INVALID_FORMAT".into()),
        meta_template_id: None,
        at: t(3),
    };
    TemplateTest::with(())
        .given(vec![created(), submitted(), accepted()])
        .when_async(issue_at(
            Command::RecordMetaStatus {
                status: TemplateStatus::Rejected,
                reason: Some("INVALID_FORMAT".into()),
                meta_template_id: Some(META_ID.into()),
            },
            t(3),
        ))
        .await
        .then_expect_events(vec![rejected.clone()]);
    let history = vec![created(), submitted(), accepted(), rejected];
    let state = state_after(history.clone());
    assert_eq!(state.status, TemplateStatus::Rejected);
    assert_eq!(state.rejection_reason.as_deref(), Some("INVALID_FORMAT"));
    let events = run(history, Command::SubmitTemplate).await.unwrap();
    let [Event::TemplateSubmitted {
        meta_template_id,
        request,
        ..
    }] = events.as_slice()
    else {
        panic!("{events:?}")
    };
    assert_eq!(meta_template_id.as_deref(), Some(META_ID));
    assert_eq!(
        request,
        &meta_edit_body(&seed_components(), &seed_variables())
    );
    assert!(
        request.get("name").is_none(),
        "an edit body has only the components"
    );
}

#[tokio::test]
async fn paused_then_approved_again() {
    let paused = run(
        approved_history(),
        Command::RecordMetaStatus {
            status: TemplateStatus::Paused,
            reason: Some("FIRST_PAUSE".into()),
            meta_template_id: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(
        paused,
        vec![Event::TemplateStatusChanged {
            status: TemplateStatus::Paused,
            previous: TemplateStatus::Approved,
            reason: Some("FIRST_PAUSE".into()),
            meta_template_id: None,
            at: t(1),
        }]
    );
    let history = [approved_history(), paused].concat();
    assert_eq!(state_after(history.clone()).status, TemplateStatus::Paused);
    let unpaused = run(
        history.clone(),
        Command::RecordMetaStatus {
            status: TemplateStatus::Approved,
            reason: None,
            meta_template_id: None,
        },
    )
    .await
    .unwrap();
    let state = state_after([history, unpaused].concat());
    assert_eq!(state.status, TemplateStatus::Approved);
    assert_eq!(state.rejection_reason, None);
}

#[tokio::test]
async fn submission_is_only_from_draft_or_rejected() {
    for history in [vec![created(), submitted()], approved_history()] {
        let status = state_after(history.clone()).status;
        assert_eq!(
            run(history, Command::SubmitTemplate).await,
            Err(TemplateError::WrongStatus {
                action: "submit",
                status
            })
        );
    }
}

#[tokio::test]
async fn a_refused_submission_is_rejected_and_can_be_fixed_and_resubmitted() {
    let failed = Event::TemplateSubmissionFailed {
        reason: "Invalid parameter: body has adjacent variables".into(),
        code: Some(100),
        at: t(1),
    };
    TemplateTest::with(())
        .given(vec![created(), submitted()])
        .when_async(issue(Command::RecordSubmissionFailed {
            reason: "Invalid parameter: body has adjacent variables".into(),
            code: Some(100),
        }))
        .await
        .then_expect_events(vec![failed.clone()]);
    let history = vec![created(), submitted(), failed];
    let state = state_after(history.clone());
    assert_eq!(state.status, TemplateStatus::Rejected);
    assert!(state.rejection_reason.unwrap().contains("adjacent"));
    // Fixed locally: Meta does not have it, so it is a draft again.
    let fixed = run(
        history.clone(),
        Command::UpdateComponents {
            components: components(
                json!([{"type": "BODY", "text": "Hi {{1}}, order {{2}} is {{3}}."}]),
            ),
            variables: None,
        },
    )
    .await
    .unwrap();
    let [Event::TemplateComponentsUpdated {
        sent_to_meta: false,
        request: None,
        variables,
        ..
    }] = fixed.as_slice()
    else {
        panic!("{fixed:?}")
    };
    assert_eq!(variables, &seed_variables(), "all three still fit");
    let history = [history, fixed].concat();
    assert_eq!(state_after(history.clone()).status, TemplateStatus::Draft);
    let resubmitted = run(history, Command::SubmitTemplate).await.unwrap();
    assert!(matches!(
        resubmitted.as_slice(),
        [Event::TemplateSubmitted {
            meta_template_id: None,
            ..
        }]
    ));
    // A refusal recorded when nothing is pending is moot.
    assert_eq!(
        run(
            approved_history(),
            Command::RecordSubmissionFailed {
                reason: "late".into(),
                code: None
            }
        )
        .await,
        Err(TemplateError::WrongStatus {
            action: "record Meta's refusal of",
            status: TemplateStatus::Approved
        })
    );
}

#[tokio::test]
async fn updating_a_template_on_meta_edits_it_there() {
    let new_components = components(json!([
        {"type": "body", "text": "Hello {{1}}, your order {{2}} shipped."}
    ]));
    let events = run(
        approved_history(),
        Command::UpdateComponents {
            components: new_components.clone(),
            variables: None,
        },
    )
    .await
    .unwrap();
    let pruned = seed_variables()[..2].to_vec();
    assert_eq!(
        events,
        vec![Event::TemplateComponentsUpdated {
            components: new_components.clone(),
            variables: pruned.clone(),
            sent_to_meta: true,
            meta_template_id: Some(META_ID.into()),
            phone_number_id: Some(phone()),
            waba_id: WABA.into(),
            request: Some(json!({"components": [
                {"type": "BODY", "text": "Hello {{1}}, your order {{2}} shipped.",
                 "example": {"body_text": [["John", "12345"]]}}
            ]})),
            at: t(1),
        }]
    );
    let state = state_after([approved_history(), events].concat());
    assert_eq!(state.status, TemplateStatus::Pending);
    assert_eq!(state.components, new_components);
    assert_eq!(state.variables, pruned);
}

#[tokio::test]
async fn update_rules() {
    // Unchanged: nothing.
    assert_eq!(
        run(
            approved_history(),
            Command::UpdateComponents {
                components: seed_components(),
                variables: Some(seed_variables()),
            }
        )
        .await,
        Ok(vec![])
    );
    // In flight to Meta: refused.
    assert_eq!(
        run(
            vec![created(), submitted()],
            Command::UpdateComponents {
                components: seed_components(),
                variables: None,
            }
        )
        .await,
        Err(TemplateError::WrongStatus {
            action: "update",
            status: TemplateStatus::Pending
        })
    );
    // Under Meta's review after an edit: Meta allows no edit.
    assert_eq!(
        run(
            vec![created(), submitted(), accepted()],
            Command::UpdateComponents {
                components: seed_components(),
                variables: None,
            }
        )
        .await,
        Err(TemplateError::WrongStatus {
            action: "update",
            status: TemplateStatus::Pending
        })
    );
    // New variables are checked against the new components.
    let (field, _) = invalid_field(
        run(
            vec![created()],
            Command::UpdateComponents {
                components: components(json!([{"type": "BODY", "text": "Hi {{1}}"}])),
                variables: Some(variables(json!([{"name": "x", "position": 2}]))),
            },
        )
        .await,
    );
    assert_eq!(field, "variables");
    // A draft just changes.
    let events = run(
        vec![created()],
        Command::UpdateComponents {
            components: components(json!([{"type": "BODY", "text": "Hi {{1}}"}])),
            variables: Some(vec![]),
        },
    )
    .await
    .unwrap();
    assert!(matches!(
        events.as_slice(),
        [Event::TemplateComponentsUpdated {
            sent_to_meta: false,
            meta_template_id: None,
            ..
        }]
    ));
}

fn deleted(meta_template_id: Option<&str>, at: DateTime<Utc>) -> Event {
    Event::TemplateDeleted {
        meta_template_id: meta_template_id.map(Into::into),
        phone_number_id: Some(phone()),
        waba_id: WABA.into(),
        name: "order_update".into(),
        language: "en".into(),
        at,
    }
}

#[tokio::test]
async fn deleting_and_what_follows() {
    TemplateTest::with(())
        .given(approved_history())
        .when_async(issue_at(Command::DeleteTemplate, t(5)))
        .await
        .then_expect_events(vec![deleted(Some(META_ID), t(5))]);
    TemplateTest::with(())
        .given(vec![created()])
        .when_async(issue_at(Command::DeleteTemplate, t(5)))
        .await
        .then_expect_events(vec![deleted(None, t(5))]);
    let gone = [approved_history(), vec![deleted(Some(META_ID), t(5))]].concat();
    assert!(state_after(gone.clone()).deleted);
    for command in [
        Command::DeleteTemplate,
        Command::SubmitTemplate,
        Command::UpdateComponents {
            components: seed_components(),
            variables: None,
        },
        Command::RecordMetaStatus {
            status: TemplateStatus::Deleted,
            reason: None,
            meta_template_id: Some(META_ID.into()),
        },
        Command::RecordQualityScore {
            score: "GREEN".into(),
        },
        Command::RecordCategoryChange {
            category: TemplateCategory::Marketing,
        },
    ] {
        assert_eq!(
            run(gone.clone(), command.clone()).await,
            Err(TemplateError::NotFound),
            "{command:?}"
        );
    }
    // Created again: a fresh draft.
    let again = run(gone.clone(), Command::CreateTemplate(draft()))
        .await
        .unwrap();
    let state = state_after([gone, again].concat());
    assert!(!state.deleted);
    assert_eq!(state.status, TemplateStatus::Draft);
    assert_eq!(state.meta_template_id, None);
}

#[tokio::test]
async fn deletion_rules() {
    // The creation request is in flight.
    assert!(matches!(
        run(vec![created(), submitted()], Command::DeleteTemplate).await,
        Err(TemplateError::WrongStatus {
            status: TemplateStatus::Pending,
            ..
        })
    ));
    // Meta deleted it already: nothing to delete there.
    let meta_deleted = [
        approved_history(),
        vec![status_changed(
            TemplateStatus::Deleted,
            TemplateStatus::Approved,
        )],
    ]
    .concat();
    assert_eq!(
        run(meta_deleted, Command::DeleteTemplate).await,
        Ok(vec![deleted(None, t(1))])
    );
}

#[tokio::test]
async fn unknown_and_foreign_templates_are_not_found() {
    for command in [
        Command::SubmitTemplate,
        Command::RecordMetaStatus {
            status: TemplateStatus::Approved,
            reason: None,
            meta_template_id: Some(META_ID.into()),
        },
    ] {
        assert_eq!(
            run(vec![], command.clone()).await,
            Err(TemplateError::NotFound)
        );
    }
    TemplateTest::with(())
        .given(approved_history())
        .when_async(Issued {
            workspace_id: WorkspaceId(Uuid::from_u128(99)),
            at: t(1),
            command: Command::DeleteTemplate,
        })
        .await
        .then_expect_error(TemplateError::NotFound);
}

#[tokio::test]
async fn draft_is_not_a_status_meta_sends() {
    let (field, _) = invalid_field(
        run(
            approved_history(),
            Command::RecordMetaStatus {
                status: TemplateStatus::Draft,
                reason: None,
                meta_template_id: None,
            },
        )
        .await,
    );
    assert_eq!(field, "status");
}

#[tokio::test]
async fn quality_and_category_record_only_changes() {
    let rated = run(
        approved_history(),
        Command::RecordQualityScore {
            score: "green".into(),
        },
    )
    .await
    .unwrap();
    assert_eq!(
        rated,
        vec![Event::TemplateQualityChanged {
            score: "GREEN".into(),
            previous: None,
            at: t(1),
        }]
    );
    let history = [approved_history(), rated].concat();
    assert_eq!(
        state_after(history.clone()).quality_score.as_deref(),
        Some("GREEN")
    );
    assert_eq!(
        run(
            history.clone(),
            Command::RecordQualityScore {
                score: "GREEN".into()
            }
        )
        .await,
        Ok(vec![])
    );
    assert_eq!(
        run(
            history.clone(),
            Command::RecordCategoryChange {
                category: TemplateCategory::Utility
            }
        )
        .await,
        Ok(vec![])
    );
    let recategorized = run(
        history.clone(),
        Command::RecordCategoryChange {
            category: TemplateCategory::Marketing,
        },
    )
    .await
    .unwrap();
    assert_eq!(
        recategorized,
        vec![Event::TemplateCategoryChanged {
            category: TemplateCategory::Marketing,
            previous: TemplateCategory::Utility,
            at: t(1),
        }]
    );
    assert_eq!(
        state_after([history, recategorized].concat()).category,
        TemplateCategory::Marketing
    );
}

// ---- import and sync ----

fn import(status: TemplateStatus, components: Value) -> Command {
    Command::ImportFromMeta {
        phone_number_id: Some(phone()),
        meta_template_id: META_ID.into(),
        waba_id: WABA.into(),
        name: "order_update".into(),
        language: "en".into(),
        category: "utility".into(),
        status,
        components: self::components(components),
    }
}

fn imported() -> Event {
    Event::TemplateImported {
        workspace_id: workspace(),
        phone_number_id: Some(phone()),
        waba_id: WABA.into(),
        name: "order_update".into(),
        language: "en".into(),
        category: TemplateCategory::Utility,
        status: TemplateStatus::Approved,
        components: seed_components(),
        meta_template_id: META_ID.into(),
        at: t(1),
    }
}

fn seed_components_json() -> Value {
    serde_json::to_value(seed_components()).unwrap()
}

#[tokio::test]
async fn importing_takes_over_what_parley_lacks() {
    TemplateTest::with(())
        .given_no_previous_events()
        .when_async(issue(import(
            TemplateStatus::Approved,
            seed_components_json(),
        )))
        .await
        .then_expect_events(vec![imported()]);
    let state = state_after(vec![imported()]);
    assert_eq!(state.status, TemplateStatus::Approved);
    assert_eq!(state.meta_template_id.as_deref(), Some(META_ID));
    assert!(state.variables.is_empty());
    assert_eq!(state.variables_complete().len(), 3);
    // Over a deleted one too.
    let gone = vec![created(), deleted(None, t(0))];
    assert_eq!(
        run(
            gone,
            import(TemplateStatus::Approved, seed_components_json())
        )
        .await,
        Ok(vec![imported()])
    );
}

#[tokio::test]
async fn syncing_records_only_what_differs() {
    // Equal: nothing.
    assert_eq!(
        run(
            vec![imported()],
            import(TemplateStatus::Approved, seed_components_json())
        )
        .await,
        Ok(vec![])
    );
    // The status only.
    assert_eq!(
        run(
            vec![imported()],
            import(TemplateStatus::Paused, seed_components_json())
        )
        .await,
        Ok(vec![Event::TemplateSyncedFromMeta {
            meta_template_id: None,
            category: None,
            status: Some(TemplateStatus::Paused),
            components: None,
            variables: None,
            at: t(1),
        }])
    );
    // Parley's own draft: Meta's id, status and components; metadata that no longer fits goes.
    let meta_components = json!([{"type": "BODY", "text": "Hi {{1}}!"}]);
    let events = run(
        vec![created()],
        import(TemplateStatus::Approved, meta_components.clone()),
    )
    .await
    .unwrap();
    assert_eq!(
        events,
        vec![Event::TemplateSyncedFromMeta {
            meta_template_id: Some(META_ID.into()),
            category: None,
            status: Some(TemplateStatus::Approved),
            components: Some(components(meta_components)),
            variables: Some(seed_variables()[..1].to_vec()),
            at: t(1),
        }]
    );
    let state = state_after([vec![created()], events].concat());
    assert_eq!(state.status, TemplateStatus::Approved);
    assert_eq!(state.variables, seed_variables()[..1].to_vec());
    assert_eq!(state.meta_template_id.as_deref(), Some(META_ID));
}

#[tokio::test]
async fn imports_are_checked() {
    let mut command = import(TemplateStatus::Approved, seed_components_json());
    if let Command::ImportFromMeta { category, .. } = &mut command {
        *category = "TRANSACTIONAL".into();
    }
    let (field, _) = invalid_field(run(vec![], command).await);
    assert_eq!(field, "category");
    let (field, reason) = invalid_field(
        run(
            vec![],
            import(
                TemplateStatus::Approved,
                json!([{"type": "BODY", "text": "Hi {{name}}"}]),
            ),
        )
        .await,
    );
    assert_eq!(field, "components");
    assert!(reason.contains("named parameter"), "{reason}");
    // What Meta approved is not held to Parley's creation limits.
    assert!(run(
        vec![],
        import(
            TemplateStatus::Approved,
            json!([{"type": "HEADER", "format": "IMAGE"}, {"type": "BODY", "text": "b".repeat(1100)}])
        )
    )
    .await
    .is_ok());
}

// ---- sending ----

fn message(components: Value) -> TemplateMessage {
    TemplateMessage {
        name: "order_update".into(),
        language: TemplateLanguage {
            code: "en".into(),
            policy: None,
        },
        components: serde_json::from_value(components).unwrap(),
    }
}

fn approved() -> TemplateState {
    state_after(approved_history())
}

/// An approved template with every kind of parameter.
fn rich() -> TemplateState {
    let mut state = approved();
    state.components = components(json!([
        {"type": "HEADER", "format": "TEXT", "text": "Order {{1}}"},
        {"type": "BODY", "text": "Hi {{1}}, your order {{2}} is {{3}}."},
        {"type": "FOOTER", "text": "Thanks"},
        {"type": "BUTTONS", "buttons": [
            {"type": "QUICK_REPLY", "text": "Stop"},
            {"type": "URL", "text": "Track", "url": "https://x.example/t/{{1}}"}
        ]}
    ]));
    state.variables = variables(json!([
        {"name": "order_ref", "position": 1, "component": "HEADER", "default_value": "#"},
        {"name": "customer_name", "position": 1, "default_value": "Customer", "required": false},
        {"name": "order_id", "position": 2},
        {"name": "status", "position": 3, "default_value": "processing"}
    ]));
    state
}

fn text(value: &str) -> Value {
    json!({"type": "text", "text": value})
}

fn body(values: &[&str]) -> Value {
    json!({"type": "body", "parameters": values.iter().map(|v| text(v)).collect::<Vec<_>>()})
}

fn url_button(value: &str) -> Value {
    json!({"type": "button", "sub_type": "url", "index": "1", "parameters": [text(value)]})
}

#[test]
fn check_send_fills_defaults_for_a_component_given_nothing() {
    let mut state = approved();
    state.variables = variables(json!([
        {"name": "customer_name", "position": 1, "default_value": "Customer"},
        {"name": "order_id", "position": 2, "default_value": "n/a"},
        {"name": "status", "position": 3, "default_value": "processing"}
    ]));
    let sent = state.check_send(&message(json!([]))).unwrap();
    assert_eq!(
        sent.components,
        vec![body(&["Customer", "n/a", "processing"])]
    );
    // An empty parameter list is the same as none.
    let sent = state
        .check_send(&message(json!([{"type": "body", "parameters": []}])))
        .unwrap();
    assert_eq!(
        sent.components,
        vec![body(&["Customer", "n/a", "processing"])]
    );
    // Given parameters are kept as they are.
    let given = message(json!([{"type": "BODY", "parameters": [
        {"type": "TEXT", "text": "Ann"}, {"type": "text", "text": "42"}, {"type": "text", "text": "sent"}
    ]}]));
    assert_eq!(state.check_send(&given).unwrap(), given);
}

#[test]
fn check_send_counts_parameters() {
    let state = approved();
    // order_id has no default: nothing given cannot be made up for.
    assert_eq!(
        state.check_send(&message(json!([]))),
        Err(TemplateSendError::ParameterCount {
            component: "body".into(),
            expected: 3,
            got: 0
        })
    );
    // Defaults fill only a component given nothing at all.
    assert_eq!(
        state.check_send(&message(json!([body(&["Ann"])]))),
        Err(TemplateSendError::ParameterCount {
            component: "body".into(),
            expected: 3,
            got: 1
        })
    );
    assert_eq!(
        state
            .check_send(&message(json!([body(&["a", "b", "c", "d"])])))
            .unwrap_err()
            .code(),
        "TEMPLATE_PARAMETER_MISMATCH"
    );
    assert!(state
        .check_send(&message(json!([body(&["a", "b", "c"])])))
        .is_ok());
}

#[test]
fn check_send_needs_an_approved_template_in_its_language() {
    let mut state = approved();
    state.status = TemplateStatus::Paused;
    let error = state
        .check_send(&message(json!([body(&["a", "b", "c"])])))
        .unwrap_err();
    assert_eq!(
        error,
        TemplateSendError::NotApproved {
            status: TemplateStatus::Paused
        }
    );
    assert_eq!(error.code(), "TEMPLATE_NOT_APPROVED");
    assert_eq!(
        error.to_string(),
        "the template is PAUSED: only an APPROVED template can be sent"
    );
    let mut other_language = message(json!([body(&["a", "b", "c"])]));
    other_language.language.code = "en_US".into();
    let error = approved().check_send(&other_language).unwrap_err();
    assert_eq!(
        error,
        TemplateSendError::LanguageMismatch {
            expected: "en".into(),
            got: "en_US".into()
        }
    );
    assert_eq!(error.code(), "TEMPLATE_LANGUAGE_MISMATCH");
}

#[test]
fn check_send_refuses_components_the_template_lacks() {
    let state = approved();
    for (entry, component) in [
        (
            json!({"type": "header", "parameters": [text("x")]}),
            "header",
        ),
        (url_button("x"), "button[1]"),
        (json!({"type": "carousel", "cards": []}), "carousel"),
    ] {
        assert_eq!(
            state.check_send(&message(json!([body(&["a", "b", "c"]), entry]))),
            Err(TemplateSendError::UnexpectedComponent {
                component: component.into()
            })
        );
    }
}

#[test]
fn check_send_checks_headers_buttons_and_parameter_values() {
    let state = rich();
    // Header and body from defaults? order_id has none, so the body must be given; the header
    // is filled; the URL button's variable must be given.
    let sent = state
        .check_send(&message(json!([
            url_button("A1"),
            body(&["Ann", "A1", "sent"])
        ])))
        .unwrap();
    assert_eq!(
        sent.components,
        vec![
            json!({"type": "header", "parameters": [text("#")]}),
            body(&["Ann", "A1", "sent"]),
            url_button("A1"),
        ]
    );
    assert_eq!(
        state.check_send(&message(json!([body(&["Ann", "A1", "sent"])]))),
        Err(TemplateSendError::ParameterCount {
            component: "button[1]".into(),
            expected: 1,
            got: 0
        })
    );
    let wrong_sub_type =
        json!({"type": "button", "sub_type": "quick_reply", "index": 1, "parameters": [text("x")]});
    assert_eq!(
        state
            .check_send(&message(json!([body(&["a", "b", "c"]), wrong_sub_type])))
            .unwrap_err()
            .code(),
        "TEMPLATE_INVALID_COMPONENT"
    );
    let payload = json!({"type": "button", "sub_type": "quick_reply", "index": 0, "parameters": [{"type": "payload", "payload": "STOP"}]});
    assert!(state
        .check_send(&message(json!([
            body(&["a", "b", "c"]),
            url_button("x"),
            payload
        ])))
        .is_ok());
    for (bad, reason) in [
        ("two\nlines", "new line"),
        ("too     many spaces", "consecutive spaces"),
        (" ", "must not be empty"),
    ] {
        let error = state
            .check_send(&message(json!([body(&["a", bad, "c"]), url_button("x")])))
            .unwrap_err();
        assert_eq!(error.code(), "TEMPLATE_INVALID_PARAMETER");
        assert!(error.to_string().contains(reason), "{error}");
        assert!(
            error.to_string().starts_with("body parameter 2:"),
            "{error}"
        );
    }
    let long_header = json!({"type": "header", "parameters": [text(&"h".repeat(61))]});
    let error = state
        .check_send(&message(json!([
            long_header,
            body(&["a", "b", "c"]),
            url_button("x")
        ])))
        .unwrap_err();
    assert!(error.to_string().contains("at most 60"), "{error}");
}

#[test]
fn check_send_takes_metas_send_fixtures() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/meta/fixtures");
    let read = |name: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(root.join(name)).unwrap()).unwrap()
    };
    // sample_shipping_confirmation (en_US) as Meta lists it, sent as Meta's sample sends it.
    let listed = read("templates_list_response.json")["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "sample_shipping_confirmation" && t["language"] == "en_US")
        .unwrap()
        .clone();
    let mut state = approved();
    state.name = "sample_shipping_confirmation".into();
    state.language = "en_US".into();
    state.components = components(listed["components"].clone());
    state.variables = vec![];
    let send = read("requests/request_template_with_body_parameter.json");
    let template: TemplateMessage = serde_json::from_value(send["template"].clone()).unwrap();
    assert_eq!(state.check_send(&template).unwrap(), template);
    // A media header with currency and date-time body parameters.
    let send = read("requests/request_template_media_header_currency_datetime.json");
    let template: TemplateMessage = serde_json::from_value(send["template"].clone()).unwrap();
    state.name = template.name.clone();
    state.language = template.language.code.clone();
    state.components = components(json!([
        {"type": "HEADER", "format": "IMAGE", "example": {"header_handle": ["4::x"]}},
        {"type": "BODY", "text": "{{1}} paid {{2}} on {{3}}."}
    ]));
    assert_eq!(state.check_send(&template).unwrap(), template);
    // Without the image.
    let mut headless = template.clone();
    headless.components.remove(0);
    assert_eq!(
        state.check_send(&headless),
        Err(TemplateSendError::ParameterCount {
            component: "header".into(),
            expected: 1,
            got: 0
        })
    );
}

#[test]
fn bind_by_position_and_name() {
    let state = rich();
    let values: BTreeMap<String, String> =
        [("customer_name", "Ann"), ("2", "A1"), ("header.1", "A1")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    let base = vec![url_button("A1")];
    let bound = state.bind(&values, &base).unwrap();
    assert_eq!(bound.name, "order_update");
    assert_eq!(bound.language.code, "en");
    assert_eq!(
        bound.components,
        vec![
            json!({"type": "header", "parameters": [text("A1")]}),
            body(&["Ann", "A1", "processing"]),
            url_button("A1"),
        ]
    );
    // The bound message passes the send check unchanged.
    assert_eq!(state.check_send(&bound).unwrap(), bound);
}

fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn bind_refuses_unknown_missing_and_conflicting_variables() {
    let state = approved();
    assert_eq!(
        state.bind(&vars(&[("2", "A1"), ("nickname", "x")]), &[]),
        Err(TemplateSendError::UnknownVariable("nickname".into()))
    );
    assert_eq!(
        state.bind(&vars(&[("2", "A1"), ("4", "x")]), &[]),
        Err(TemplateSendError::UnknownVariable("4".into()))
    );
    assert_eq!(
        state.bind(&vars(&[("2", "A1"), ("header.1", "x")]), &[]),
        Err(TemplateSendError::UnknownVariable("header.1".into()))
    );
    let missing = state
        .bind(&vars(&[("customer_name", "Ann")]), &[])
        .unwrap_err();
    assert_eq!(
        missing,
        TemplateSendError::MissingVariable {
            name: "order_id".into(),
            component: VariableComponent::Body,
            position: 2
        }
    );
    assert_eq!(missing.code(), "TEMPLATE_MISSING_VARIABLE");
    assert_eq!(
        missing.to_string(),
        "variable 'order_id' (BODY {{2}}) has no value and no default"
    );
    // A blank value is no value.
    assert!(matches!(
        state.bind(&vars(&[("order_id", "  ")]), &[]),
        Err(TemplateSendError::MissingVariable { position: 2, .. })
    ));
    assert_eq!(
        state.bind(
            &vars(&[("1", "Ann"), ("customer_name", "Bob"), ("2", "x")]),
            &[]
        ),
        Err(TemplateSendError::ConflictingVariables {
            first: "1".into(),
            second: "customer_name".into()
        })
    );
    // The same value under two keys is fine.
    assert!(state
        .bind(
            &vars(&[("1", "Ann"), ("customer_name", "Ann"), ("body.2", "x")]),
            &[]
        )
        .is_ok());
}

#[test]
fn bind_uses_defaults_and_implicit_names() {
    let state = approved();
    let bound = state.bind(&vars(&[("order_id", "A1")]), &[]).unwrap();
    assert_eq!(
        bound.components,
        vec![body(&["Customer", "A1", "processing"])]
    );
    // Without metadata a placeholder is bound by position only.
    let mut plain = approved();
    plain.variables = vec![];
    let bound = plain
        .bind(&vars(&[("1", "a"), ("2", "b"), ("3", "c")]), &[])
        .unwrap();
    assert_eq!(bound.components, vec![body(&["a", "b", "c"])]);
    assert_eq!(
        plain.bind(&vars(&[("1", "a"), ("3", "c")]), &[]),
        Err(TemplateSendError::MissingVariable {
            name: "2".into(),
            component: VariableComponent::Body,
            position: 2
        })
    );
}

#[test]
fn bind_merges_base_components() {
    let mut state = approved();
    state.components = components(json!([
        {"type": "HEADER", "format": "IMAGE", "example": {"header_handle": ["4::x"]}},
        {"type": "BODY", "text": "Hi {{1}}"}
    ]));
    state.variables = vec![];
    let image = json!({"type": "header", "parameters": [{"type": "image", "image": {"link": "https://x.example/a.png"}}]});
    // A body in the base is replaced by the bound one.
    let stale_body = body(&["stale"]);
    let bound = state
        .bind(&vars(&[("1", "Ann")]), &[image.clone(), stale_body])
        .unwrap();
    assert_eq!(bound.components, vec![image.clone(), body(&["Ann"])]);
    // Without the image the message cannot be sent.
    assert_eq!(
        state.bind(&vars(&[("1", "Ann")]), &[]),
        Err(TemplateSendError::ParameterCount {
            component: "header".into(),
            expected: 1,
            got: 0
        })
    );
    // Variable values follow Meta's parameter rules.
    assert_eq!(
        state
            .bind(&vars(&[("1", "a\tb")]), std::slice::from_ref(&image))
            .unwrap_err()
            .code(),
        "TEMPLATE_INVALID_PARAMETER"
    );
}

#[test]
fn send_error_codes_are_stable() {
    let errors = [
        (
            TemplateSendError::NotApproved {
                status: TemplateStatus::Draft,
            },
            "TEMPLATE_NOT_APPROVED",
        ),
        (
            TemplateSendError::NameMismatch {
                expected: "a".into(),
                got: "b".into(),
            },
            "TEMPLATE_NAME_MISMATCH",
        ),
        (
            TemplateSendError::LanguageMismatch {
                expected: "a".into(),
                got: "b".into(),
            },
            "TEMPLATE_LANGUAGE_MISMATCH",
        ),
        (
            TemplateSendError::ParameterCount {
                component: "body".into(),
                expected: 1,
                got: 0,
            },
            "TEMPLATE_PARAMETER_MISMATCH",
        ),
        (
            TemplateSendError::UnexpectedComponent {
                component: "header".into(),
            },
            "TEMPLATE_UNEXPECTED_COMPONENT",
        ),
        (
            TemplateSendError::InvalidComponent {
                component: "body".into(),
                reason: "x".into(),
            },
            "TEMPLATE_INVALID_COMPONENT",
        ),
        (
            TemplateSendError::InvalidParameter {
                component: "body".into(),
                position: 1,
                reason: "x".into(),
            },
            "TEMPLATE_INVALID_PARAMETER",
        ),
        (
            TemplateSendError::MissingVariable {
                name: "a".into(),
                component: VariableComponent::Body,
                position: 1,
            },
            "TEMPLATE_MISSING_VARIABLE",
        ),
        (
            TemplateSendError::UnknownVariable("a".into()),
            "TEMPLATE_UNKNOWN_VARIABLE",
        ),
        (
            TemplateSendError::ConflictingVariables {
                first: "a".into(),
                second: "b".into(),
            },
            "TEMPLATE_CONFLICTING_VARIABLES",
        ),
    ];
    for (error, code) in errors {
        assert_eq!(error.code(), code);
        assert!(!error.to_string().is_empty());
    }
    assert_eq!(
        TemplateSendError::ParameterCount {
            component: "body".into(),
            expected: 3,
            got: 1
        }
        .to_string(),
        "body: the template expects 3 parameter(s), the message gives 1"
    );
}

// ---- Meta's bodies ----

#[test]
fn meta_bodies_carry_an_example_for_every_variable() {
    let comps = components(json!([
        {"type": "HEADER", "format": "TEXT", "text": "Order {{1}}"},
        {"type": "BODY", "text": "Hi {{1}}, order {{2}} is {{3}}."},
        {"type": "BUTTONS", "buttons": [
            {"type": "URL", "text": "Track", "url": "https://x.example/t/{{1}}"},
            {"type": "URL", "text": "Shop", "url": "https://x.example/shop"}
        ]}
    ]));
    let vars = variables(json!([
        {"name": "customer_name", "position": 1, "sample_value": "John", "default_value": "Customer"},
        {"name": "order_id", "position": 2, "default_value": "n/a"}
    ]));
    assert_eq!(
        meta_create_body(
            "order_update",
            "en_US",
            TemplateCategory::Utility,
            &comps,
            &vars
        ),
        json!({
            "name": "order_update",
            "category": "UTILITY",
            "language": "en_US",
            "components": [
                {"type": "HEADER", "format": "TEXT", "text": "Order {{1}}",
                 "example": {"header_text": ["header.1"]}},
                {"type": "BODY", "text": "Hi {{1}}, order {{2}} is {{3}}.",
                 "example": {"body_text": [["John", "n/a", "3"]]}},
                {"type": "BUTTONS", "buttons": [
                    {"type": "URL", "text": "Track", "url": "https://x.example/t/{{1}}",
                     "example": ["https://x.example/t/example"]},
                    {"type": "URL", "text": "Shop", "url": "https://x.example/shop"}
                ]}
            ]
        })
    );
    // Examples given are kept; components without variables get none.
    let given = components(json!([
        {"type": "BODY", "text": "Hi {{1}}", "example": {"body_text": [["Zed"]]}},
        {"type": "FOOTER", "text": "Bye"}
    ]));
    assert_eq!(
        meta_edit_body(&given, &vars),
        json!({"components": [
            {"type": "BODY", "text": "Hi {{1}}", "example": {"body_text": [["Zed"]]}},
            {"type": "FOOTER", "text": "Bye"}
        ]})
    );
    let plain = components(json!([{"type": "BODY", "text": "No variables"}]));
    assert_eq!(
        meta_edit_body(&plain, &[]),
        json!({"components": [{"type": "BODY", "text": "No variables"}]})
    );
}

// ---- events ----

#[test]
fn events_are_named_versioned_and_round_trip() {
    let events = [
        created(),
        submitted(),
        accepted(),
        status_changed(TemplateStatus::Approved, TemplateStatus::Pending),
        imported(),
        deleted(Some(META_ID), t(4)),
    ];
    for event in events {
        assert_eq!(event.event_version(), crate::EVENT_VERSION_1);
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(
            json.as_object().unwrap().keys().next().unwrap(),
            &event.event_type()
        );
        let back: Event = serde_json::from_value(json).unwrap();
        assert_eq!(back, event);
        assert!(back.at() >= t(0));
    }
    assert_eq!(created().event_type(), "TemplateCreated");
    assert_eq!(Template::TYPE, "template");
}

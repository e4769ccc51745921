//! Tests: openapi. `/api/v2/openapi.json` serves `schema/openapi.json`; the document lists
//! exactly the (method, path) pairs the router serves; live responses match the documented schemas.

use parley_tests::TestApp;
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use uuid::Uuid;

/// Every route `adapters/api/src/router.rs` registers, as (OpenAPI method, OpenAPI path).
///
/// THIS LIST MUST FOLLOW router.rs: a route added, changed or removed there is added, changed or
/// removed here, and documented in `schema/openapi.json`. GraphQL (`/graphql`, merged in by
/// `adapters/graphql`) is not a REST route and is described by `schema/graphql` instead.
const ROUTES: &[(&str, &str)] = &[
    ("get", "/healthz"),
    ("get", "/api/v2/openapi.json"),
    ("get", "/api/v2/external/health"),
    ("get", "/api/v2/external/rate-limit-test"),
    ("get", "/api/v2/external/phone-numbers"),
    ("post", "/api/v2/external/phone-numbers"),
    ("get", "/api/v2/external/phone-numbers/{id}"),
    ("patch", "/api/v2/external/phone-numbers/{id}"),
    ("delete", "/api/v2/external/phone-numbers/{id}"),
    ("get", "/v1/whatsapp/contacts"),
    ("post", "/v1/whatsapp/contacts"),
    ("post", "/v1/whatsapp/contacts/import"),
    ("post", "/v1/whatsapp/contacts/bulk"),
    ("delete", "/v1/whatsapp/contacts/bulk"),
    ("get", "/v1/whatsapp/contacts/{contactId}"),
    ("put", "/v1/whatsapp/contacts/{contactId}"),
    ("delete", "/v1/whatsapp/contacts/{contactId}"),
    ("get", "/v1/whatsapp/groups"),
    ("post", "/v1/whatsapp/groups"),
    ("delete", "/v1/whatsapp/groups"),
    ("get", "/v1/whatsapp/templates"),
    ("post", "/v1/whatsapp/templates"),
    ("post", "/v1/whatsapp/templates/sync"),
    ("get", "/v1/whatsapp/templates/{templateName}"),
    ("patch", "/v1/whatsapp/templates/{templateName}"),
    ("delete", "/v1/whatsapp/templates/{templateName}"),
    ("post", "/v1/whatsapp/templates/{templateName}/submit"),
    ("get", "/v1/whatsapp/business-profile"),
    ("post", "/v1/whatsapp/business-profile"),
    (
        "post",
        "/v1/whatsapp/phone-numbers/{phoneNumberId}/request-code",
    ),
    ("post", "/v1/whatsapp/phone-numbers/{phoneNumberId}/verify"),
    ("post", "/v1/whatsapp/bulk"),
    ("get", "/v1/whatsapp/broadcasts"),
    ("post", "/v1/whatsapp/broadcasts"),
    ("get", "/v1/whatsapp/broadcasts/{broadcastId}"),
    ("delete", "/v1/whatsapp/broadcasts/{broadcastId}"),
    ("post", "/v1/whatsapp/broadcasts/{broadcastId}/send"),
    ("post", "/v1/whatsapp/broadcasts/{broadcastId}/schedule"),
    ("delete", "/v1/whatsapp/broadcasts/{broadcastId}/schedule"),
    ("get", "/v1/whatsapp/broadcasts/{broadcastId}/recipients"),
    ("patch", "/v1/whatsapp/broadcasts/{broadcastId}/recipients"),
    ("delete", "/v1/whatsapp/broadcasts/{broadcastId}/recipients"),
    ("post", "/v1/whatsapp/broadcasts/{broadcastId}/pause"),
    ("post", "/v1/whatsapp/broadcasts/{broadcastId}/resume"),
    ("post", "/v1/whatsapp/broadcasts/{broadcastId}/cancel"),
    ("post", "/v1/whatsapp/broadcasts/{broadcastId}/retry-failed"),
    ("post", "/api/v2/external/messages/send"),
    ("post", "/api/v2/external/messages/send-media"),
    ("post", "/api/v2/external/messages/send-template"),
    ("post", "/api/v2/external/messages/send-interactive"),
    ("get", "/api/v2/external/messages/{messageId}/status"),
    ("get", "/api/v2/external/conversations"),
    (
        "get",
        "/api/v2/external/conversations/{conversationId}/messages",
    ),
    (
        "get",
        "/api/v2/external/conversations/{conversationId}/ai-agent",
    ),
    (
        "patch",
        "/api/v2/external/conversations/{conversationId}/ai-agent",
    ),
    (
        "patch",
        "/api/v2/external/conversations/{conversationId}/lead-qualification",
    ),
    ("post", "/api/v2/external/media/upload"),
    ("post", "/api/v2/external/webhook/test"),
    ("get", "/api/v2/external/events"),
    ("get", "/api/v2/external/webhooks"),
    ("post", "/api/v2/external/webhooks"),
    ("get", "/api/v2/external/webhooks/{webhookId}"),
    ("patch", "/api/v2/external/webhooks/{webhookId}"),
    ("delete", "/api/v2/external/webhooks/{webhookId}"),
    (
        "post",
        "/api/v2/external/webhooks/{webhookId}/rotate-secret",
    ),
    ("post", "/api/v2/external/webhooks/{webhookId}/pause"),
    ("post", "/api/v2/external/webhooks/{webhookId}/resume"),
    ("get", "/api/v2/external/webhooks/{webhookId}/deliveries"),
    (
        "get",
        "/api/v2/external/webhooks/{webhookId}/deliveries/{deliveryId}",
    ),
    ("post", "/api/v2/external/webhooks/{webhookId}/replay"),
    ("get", "/webhook"),
    ("post", "/webhook"),
];

/// The OpenAPI operation keys of a path item (HEAD is implied by GET in axum and in practice).
const METHODS: &[&str] = &["get", "put", "post", "delete", "options", "patch", "trace"];

const PATH_ITEM_KEYS: &[&str] = &[
    "get",
    "put",
    "post",
    "delete",
    "options",
    "head",
    "patch",
    "trace",
    "summary",
    "description",
    "servers",
    "parameters",
    "$ref",
];

fn file_text() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../schema/openapi.json");
    std::fs::read_to_string(path).expect("read schema/openapi.json")
}

fn document() -> Value {
    serde_json::from_str(&file_text()).expect("schema/openapi.json is JSON")
}

/// The documented (method, path) pairs.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let paths = doc["paths"].as_object().expect("paths");
    let mut out = BTreeSet::new();
    for (path, item) in paths {
        for (key, _) in item.as_object().expect("path item") {
            assert!(
                PATH_ITEM_KEYS.contains(&key.as_str()),
                "{path}: unexpected key {key}"
            );
            if METHODS.contains(&key.as_str()) || key == "head" {
                out.insert((key.clone(), path.clone()));
            }
        }
    }
    out
}

fn resolve<'a>(doc: &'a Value, node: &'a Value) -> &'a Value {
    match node.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let pointer = reference
                .strip_prefix('#')
                .unwrap_or_else(|| panic!("non-local $ref {reference}"));
            let target = doc
                .pointer(pointer)
                .unwrap_or_else(|| panic!("dangling $ref {reference}"));
            resolve(doc, target)
        }
        None => node,
    }
}

/// A small OpenAPI 3.0 schema check: `$ref`, `allOf`, `type`, `nullable`, `enum`, `format`
/// (uuid, date-time), `required`, `properties`, `additionalProperties`, `items`. With `strict`,
/// an object key the schema does not list is an error too (the document is meant to be complete).
fn validate(
    doc: &Value,
    schema: &Value,
    value: &Value,
    at: &str,
    strict: bool,
    errors: &mut Vec<String>,
) {
    let schema = resolve(doc, schema);
    if let Some(parts) = schema.get("allOf").and_then(Value::as_array) {
        for part in parts {
            validate(doc, part, value, at, false, errors);
        }
    }
    if value.is_null() {
        if schema.get("type").is_some() && schema.get("nullable") != Some(&Value::Bool(true)) {
            errors.push(format!("{at}: null, but the schema is not nullable"));
        }
        return;
    }
    if let Some(kind) = schema.get("type").and_then(Value::as_str) {
        let ok = match kind {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            other => panic!("{at}: unknown schema type {other}"),
        };
        if !ok {
            errors.push(format!("{at}: {value} is not of type {kind}"));
            return;
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
        if !allowed.contains(value) {
            errors.push(format!("{at}: {value} is not one of {allowed:?}"));
        }
    }
    if let (Some(format), Some(text)) =
        (schema.get("format").and_then(Value::as_str), value.as_str())
    {
        let ok = match format {
            "uuid" => Uuid::parse_str(text).is_ok(),
            "date-time" => chrono::DateTime::parse_from_rfc3339(text).is_ok(),
            _ => true,
        };
        if !ok {
            errors.push(format!("{at}: {text:?} is not a {format}"));
        }
    }
    if let Some(object) = value.as_object() {
        for key in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let key = key.as_str().expect("required names are strings");
            if !object.contains_key(key) {
                errors.push(format!("{at}: required key {key:?} is missing"));
            }
        }
        let properties = schema.get("properties").and_then(Value::as_object);
        for (key, item) in object {
            let here = format!("{at}.{key}");
            match properties.and_then(|p| p.get(key)) {
                Some(property) => validate(doc, property, item, &here, strict, errors),
                None => match schema.get("additionalProperties") {
                    Some(Value::Bool(false)) => {
                        errors.push(format!("{here}: not allowed by the schema"))
                    }
                    Some(extra) if extra.is_object() => {
                        validate(doc, extra, item, &here, strict, errors)
                    }
                    _ if strict && properties.is_some() => {
                        errors.push(format!("{here}: key not documented"))
                    }
                    _ => {}
                },
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (index, item) in array.iter().enumerate() {
            validate(doc, items, item, &format!("{at}[{index}]"), strict, errors);
        }
    }
}

fn assert_valid(doc: &Value, schema: &Value, value: &Value, what: &str, strict: bool) {
    let mut errors = Vec::new();
    validate(doc, schema, value, "$", strict, &mut errors);
    assert!(
        errors.is_empty(),
        "{what} does not match its documented schema:\n  {}\nbody: {value:#}",
        errors.join("\n  ")
    );
}

/// Asserts that `status` is documented for the operation and `body` matches its JSON schema.
fn check_as(doc: &Value, method: &str, path: &str, status: u16, body: &Value, strict: bool) {
    let operation = &doc["paths"][path][method];
    assert!(operation.is_object(), "{method} {path} is not documented");
    let response = operation["responses"]
        .get(status.to_string())
        .unwrap_or_else(|| panic!("{method} {path} answered {status}, not documented: {body}"));
    let response = resolve(doc, response);
    let content = response["content"]
        .as_object()
        .unwrap_or_else(|| panic!("{method} {path} {status}: no content documented"));
    match content.get("application/json") {
        Some(media) => assert_valid(
            doc,
            &media["schema"],
            body,
            &format!("{method} {path} {status}"),
            strict,
        ),
        None => assert!(
            body.is_null(),
            "{method} {path} {status}: JSON not documented"
        ),
    }
}

/// `check_as`, strictly: every key of the body is documented.
fn check(doc: &Value, method: &str, path: &str, status: u16, body: &Value) {
    check_as(doc, method, path, status, body, true)
}

/// How the server answered a (method, path).
#[derive(Debug, PartialEq)]
enum Answer {
    /// A handler answered (any status but the two below).
    Served(u16, Value),
    /// The router's fallback: 404 with a message starting "No route for".
    NoRoute,
    /// The path is routed but not for this method.
    MethodNotAllowed,
}

fn error_message(body: &Value) -> &str {
    // WhatsApp API: {"error": "..."}; External API: {"error": {"message": "..."}}.
    body["error"]
        .as_str()
        .or_else(|| body["error"]["message"].as_str())
        .unwrap_or_default()
}

fn concrete(template: &str) -> String {
    // Every path parameter is an id; a fresh UUID reaches the handler (which then says 404).
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        let end = rest[start..].find('}').expect("closed parameter") + start;
        out.push_str(&rest[..start]);
        out.push_str(&Uuid::new_v4().to_string());
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Requests (method, template) with a valid token, the operation's required query parameters and
/// an empty JSON object as body when the operation takes one.
async fn probe(app: &TestApp, method: &str, template: &str, operation: Option<&Value>) -> Answer {
    let mut path = concrete(template);
    let mut query = Vec::new();
    let mut has_body = false;
    if let Some(operation) = operation {
        for parameter in operation["parameters"].as_array().into_iter().flatten() {
            if parameter["in"] == "query" && parameter["required"] == true {
                let name = parameter["name"].as_str().unwrap();
                assert_eq!(
                    name, "accountId",
                    "{method} {template}: unexpected required query"
                );
                query.push(format!("{name}={}", app.workspace.phone_number));
            }
        }
        has_body = operation.get("requestBody").is_some();
    }
    if !query.is_empty() {
        path = format!("{path}?{}", query.join("&"));
    }
    let method_ = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
    let mut request = app.request(method_, &path);
    if has_body {
        request = request.json(&json!({}));
    }
    let (status, body) = app.send(request).await;
    match status {
        405 => Answer::MethodNotAllowed,
        404 if error_message(&body).starts_with("No route for") => Answer::NoRoute,
        _ => Answer::Served(status, body),
    }
}

#[test]
fn the_openapi_document_is_well_formed() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.0.3");
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["ApiKeyAuth"]["type"], "http");
    assert_eq!(schemes["ApiKeyAuth"]["scheme"], "bearer");
    assert_eq!(schemes["ApiKeyHeader"]["type"], "apiKey");
    assert_eq!(schemes["ApiKeyHeader"]["in"], "header");
    assert_eq!(schemes["ApiKeyHeader"]["name"], "X-API-Key");

    // Every $ref resolves.
    fn refs(doc: &Value, node: &Value) {
        match node {
            Value::Object(map) => {
                if map.contains_key("$ref") {
                    resolve(doc, node);
                }
                map.values().for_each(|v| refs(doc, v));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(doc, v)),
            _ => {}
        }
    }
    refs(&doc, &doc);

    // Meta's webhook authenticates by signature, not by token.
    let open = ["/healthz", "/api/v2/openapi.json", "/webhook"];
    let mut operation_ids = BTreeSet::new();
    for (method, path) in documented(&doc) {
        let operation = &doc["paths"][&path][&method];
        let what = format!("{method} {path}");
        // Security: none for liveness and the document, both token forms for everything else.
        let security = operation
            .get("security")
            .unwrap_or(&doc["security"])
            .as_array()
            .unwrap_or_else(|| panic!("{what}: security"));
        if open.contains(&path.as_str()) {
            assert!(security.is_empty(), "{what} needs no token");
        } else {
            assert_eq!(
                security,
                &vec![json!({"ApiKeyAuth": []}), json!({"ApiKeyHeader": []})],
                "{what}: security"
            );
            assert!(
                operation["responses"].get("401").is_some(),
                "{what}: 401 not documented"
            );
        }
        if let Some(id) = operation["operationId"].as_str() {
            assert!(
                operation_ids.insert(id.to_string()),
                "duplicate operationId {id}"
            );
        }
        let responses = operation["responses"].as_object().expect("responses");
        assert!(
            responses.keys().any(|status| status.starts_with('2')),
            "{what}: no success response"
        );
        // Every {param} of the path is declared as a required path parameter, and vice versa.
        let declared: BTreeSet<String> = operation["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| resolve(&doc, p))
            .filter(|p| p["in"] == "path")
            .map(|p| {
                assert_eq!(p["required"], true, "{what}: path parameters are required");
                p["name"].as_str().unwrap().to_string()
            })
            .collect();
        let in_path: BTreeSet<String> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(str::to_string)
            .collect();
        assert_eq!(declared, in_path, "{what}: path parameters");
        // Request bodies are JSON objects (or a multipart form, for uploads).
        if let Some(body) = operation.get("requestBody") {
            let content = &body["content"];
            let schema = match content.get("application/json") {
                Some(json) => resolve(&doc, &json["schema"]),
                None => resolve(&doc, &content["multipart/form-data"]["schema"]),
            };
            assert_eq!(schema["type"], "object", "{what}: body schema");
        }
    }
}

#[tokio::test]
async fn served_openapi_json_equals_schema_openapi_json() {
    let app = TestApp::spawn().await;
    // No token needed.
    let response = app
        .http
        .get(format!("{}/api/v2/openapi.json", app.base_url))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    let text = response.text().await.unwrap();
    let served: Value = serde_json::from_str(&text).expect("the served document parses");
    assert_eq!(
        served,
        document(),
        "served document differs from schema/openapi.json"
    );
    assert_eq!(
        text,
        file_text(),
        "served bytes differ from schema/openapi.json"
    );
}

#[tokio::test]
async fn openapi_documents_exactly_the_served_routes() {
    let app = TestApp::spawn().await;
    let doc = document();
    let documented = documented(&doc);

    // The router's fallback is recognisable (the probe below relies on it).
    assert_eq!(
        probe(&app, "get", "/api/v2/external/no-such-thing", None).await,
        Answer::NoRoute
    );
    assert_eq!(
        probe(&app, "get", "/v1/whatsapp/no-such-thing", None).await,
        Answer::NoRoute
    );

    // Every documented operation is served, and answers with a documented status and shape.
    for (method, path) in &documented {
        let operation = &doc["paths"][path][method];
        match probe(&app, method, path, Some(operation)).await {
            Answer::Served(status, body) => {
                let strict = operation.get("operationId").is_some();
                check_as(&doc, method, path, status, &body, strict);
            }
            other => panic!("documented {method} {path} is not served: {other:?}"),
        }
    }

    // On documented paths, every undocumented method is not served.
    let paths: BTreeSet<&String> = documented.iter().map(|(_, path)| path).collect();
    for path in paths {
        for method in METHODS {
            if documented.contains(&(method.to_string(), path.clone())) {
                continue;
            }
            let answer = probe(&app, method, path, None).await;
            assert!(
                matches!(answer, Answer::MethodNotAllowed | Answer::NoRoute),
                "{method} {path} is served but not documented: {answer:?}"
            );
        }
    }

    // Every route of router.rs (mirrored in ROUTES) is served and documented.
    let routes: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(routes.len(), ROUTES.len(), "ROUTES has duplicates");
    for (method, path) in &routes {
        assert!(
            matches!(probe(&app, method, path, None).await, Answer::Served(..)),
            "ROUTES lists {method} {path}, which is not served"
        );
    }
    let undocumented: Vec<_> = routes.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routes).collect();
    assert!(
        undocumented.is_empty(),
        "routes not documented: {undocumented:?}"
    );
    assert!(
        unrouted.is_empty(),
        "documented but not in ROUTES: {unrouted:?}"
    );
}

#[tokio::test]
async fn openapi_schemas_match_live_phone_number_responses() {
    let app = TestApp::spawn().await;
    let doc = document();
    let list = "/api/v2/external/phone-numbers";
    let one = "/api/v2/external/phone-numbers/{id}";

    // The list: seed 000's operation; every ExternalPhoneNumber key present on every number.
    let (status, body) = app.send(app.request(Method::GET, list)).await;
    assert_eq!(status, 200, "{body}");
    check_as(&doc, "get", list, status, &body, false);
    assert_eq!(body["success"], true);
    let numbers = body["data"]["phoneNumbers"]
        .as_array()
        .expect("data.phoneNumbers");
    assert_eq!(numbers.len(), 1);
    let seed = &doc["components"]["schemas"]["ExternalPhoneNumber"]["properties"];
    for number in numbers {
        for key in seed.as_object().unwrap().keys() {
            assert!(
                number.get(key).is_some(),
                "phone number lacks {key}: {number}"
            );
        }
        for key in seed["whatsappAccount"]["properties"]
            .as_object()
            .unwrap()
            .keys()
        {
            assert!(
                number["whatsappAccount"].get(key).is_some(),
                "whatsappAccount lacks {key}"
            );
        }
        assert_valid(
            &doc,
            &json!({"$ref": "#/components/schemas/PhoneNumber"}),
            number,
            "listed number",
            true,
        );
    }
    assert_eq!(numbers[0]["id"], app.workspace.phone_number.to_string());

    let own = format!("{list}/{}", app.workspace.phone_number);
    let (status, body) = app.send(app.request(Method::GET, &own)).await;
    assert_eq!(status, 200, "{body}");
    check(&doc, "get", one, status, &body);
    assert_eq!(body["data"]["phoneNumber"], numbers[0]);

    // Register, update, remove.
    let registration = json!({
        "phoneNumberId": "109876543210987",
        "wabaId": "200000000000009",
        "wabaName": "Docs WABA",
        "phoneNumber": "+15550109999",
        "status": "PENDING",
        "accessToken": "EAAG-docs",
    });
    let (status, body) = app
        .send(app.request(Method::POST, list).json(&registration))
        .await;
    assert_eq!(status, 201, "{body}");
    check(&doc, "post", list, status, &body);
    let created = &body["data"]["phoneNumber"];
    assert_eq!(created["displayName"], Value::Null);
    assert_eq!(created["hasAccessToken"], true);
    let id = created["id"].as_str().unwrap().to_string();

    let (status, body) = app
        .send(app.request(Method::POST, list).json(&registration))
        .await;
    assert_eq!(status, 409, "{body}");
    check(&doc, "post", list, status, &body);
    assert_eq!(body["error"]["code"], "CONFLICT");

    let (status, body) = app
        .send(app.request(Method::POST, list).json(&json!({"phoneNumberId": "1", "wabaId": "2", "phoneNumber": "+15550100002", "bogus": 1})))
        .await;
    assert_eq!(status, 400, "{body}");
    check(&doc, "post", list, status, &body);

    let (status, body) = app
        .send(
            app.request(Method::POST, list)
                .json(&json!({"phoneNumberId": "1", "wabaId": "2", "phoneNumber": "not a number"})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    check(&doc, "post", list, status, &body);
    assert_eq!(body["error"]["code"], "INVALID_PHONE_NUMBER");

    let path = format!("{list}/{id}");
    let (status, body) = app
        .send(
            app.request(Method::PATCH, &path)
                .json(&json!({"displayName": "Docs", "status": "VERIFIED"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    check(&doc, "patch", one, status, &body);
    assert_eq!(body["data"]["phoneNumber"]["displayName"], "Docs");

    let (status, body) = app.send(app.request(Method::DELETE, &path)).await;
    assert_eq!(status, 200, "{body}");
    check(&doc, "delete", one, status, &body);
    assert_eq!(body["data"]["id"], id);

    let (status, body) = app.send(app.request(Method::GET, &path)).await;
    assert_eq!(status, 404, "{body}");
    check(&doc, "get", one, status, &body);

    // 401 without a token, in the External API envelope.
    let (status, body) = app
        .send(app.http.get(format!("{}{list}", app.base_url)))
        .await;
    assert_eq!(status, 401, "{body}");
    check_as(&doc, "get", list, status, &body, false);
    assert_valid(
        &doc,
        &json!({"$ref": "#/components/schemas/ExternalError"}),
        &body,
        "401",
        true,
    );
    assert_eq!(body["error"]["code"], "UNAUTHORIZED");
}

#[tokio::test]
async fn openapi_schemas_match_live_whatsapp_responses() {
    let app = TestApp::spawn().await;
    let doc = document();
    let account = app.workspace.phone_number.to_string();
    let contacts = "/v1/whatsapp/contacts";
    let contact = "/v1/whatsapp/contacts/{contactId}";
    let groups = "/v1/whatsapp/groups";

    let new_contact = json!({
        "accountId": account,
        "phone": "+14155550101",
        "name": "Ada",
        "tags": ["vip"],
        "groups": ["customers"],
        "customFields": {"plan": "pro"},
    });
    let (status, body) = app
        .send(app.request(Method::POST, contacts).json(&new_contact))
        .await;
    assert_eq!(status, 200, "{body}");
    check(&doc, "post", contacts, status, &body);
    assert_eq!(body["success"], true);
    let id = body["contact"]["id"].as_str().unwrap().to_string();
    assert_eq!(body["contact"]["email"], Value::Null);

    let (status, body) = app
        .send(app.request(Method::POST, contacts).json(&new_contact))
        .await;
    assert_eq!(status, 409, "{body}");
    check(&doc, "post", contacts, status, &body);
    assert_eq!(body["code"], "CONFLICT");

    let (status, body) = app
        .send(
            app.request(Method::POST, contacts)
                .json(&json!({"accountId": account, "phone": "12", "name": "X"})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    check(&doc, "post", contacts, status, &body);

    let (status, body) = app
        .send(app.request(
            Method::GET,
            &format!("{contacts}?accountId={account}&limit=10"),
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    check(&doc, "get", contacts, status, &body);
    for key in ["success", "contacts", "filters", "pagination"] {
        assert!(body.get(key).is_some(), "contacts list lacks {key}");
    }
    assert_eq!(body["pagination"]["total"], 1);

    let (status, body) = app
        .send(app.request(
            Method::GET,
            &format!("{contacts}?accountId={}", Uuid::new_v4()),
        ))
        .await;
    assert_eq!(status, 404, "{body}");
    check(&doc, "get", contacts, status, &body);

    let (status, body) = app
        .send(app.request(
            Method::GET,
            &format!("{contacts}?accountId={account}&limit=zero"),
        ))
        .await;
    assert_eq!(status, 400, "{body}");
    check(&doc, "get", contacts, status, &body);

    let path = format!("{contacts}/{id}");
    let (status, body) = app.send(app.request(Method::GET, &path)).await;
    assert_eq!(status, 200, "{body}");
    check(&doc, "get", contact, status, &body);

    let (status, body) = app
        .send(app.request(Method::PUT, &path).json(&json!({"email": "ada@example.com", "isOptedIn": false, "customFields": {"plan": null}})))
        .await;
    assert_eq!(status, 200, "{body}");
    check(&doc, "put", contact, status, &body);
    assert!(body["contact"]["optOutDate"].is_string());

    let (status, body) = app
        .send(
            app.request(Method::POST, "/v1/whatsapp/contacts/bulk")
                .json(
                    &json!({"action": "addTags", "contactIds": [id, "not-an-id"], "tags": ["new"]}),
                ),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    check(&doc, "post", "/v1/whatsapp/contacts/bulk", status, &body);

    let (status, body) = app
        .send(
            app.request(Method::POST, "/v1/whatsapp/contacts/bulk")
                .json(&json!({"action": "dance", "contactIds": [id]})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    check(&doc, "post", "/v1/whatsapp/contacts/bulk", status, &body);

    let (status, body) = app
        .send(
            app.request(Method::POST, "/v1/whatsapp/contacts/import")
                .json(&json!({
                    "accountId": account,
                    "contacts": [
                        {"phone": "+14155550101", "name": "Ada again"},
                        {"phone": "+14155550102", "name": "Grace"},
                        {"phone": "nope", "name": "Bad"},
                    ],
                    "defaultGroups": ["imported"],
                })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    check(&doc, "post", "/v1/whatsapp/contacts/import", status, &body);
    assert_eq!(
        body["summary"],
        json!({"total": 3, "created": 1, "skipped": 1, "failed": 1})
    );

    let (status, body) = app
        .send(app.request(Method::GET, &format!("{groups}?accountId={account}")))
        .await;
    assert_eq!(status, 200, "{body}");
    check(&doc, "get", groups, status, &body);
    for key in ["success", "groups", "summary"] {
        assert!(body.get(key).is_some(), "groups list lacks {key}");
    }

    let (status, body) = app
        .send(
            app.request(Method::POST, groups)
                .json(&json!({"accountId": account, "oldName": "customers", "newName": "clients"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    check(&doc, "post", groups, status, &body);

    let (status, body) = app
        .send(
            app.request(Method::DELETE, groups)
                .json(&json!({"accountId": account, "groupName": "imported"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    check(&doc, "delete", groups, status, &body);

    let (status, body) = app
        .send(
            app.request(Method::DELETE, groups)
                .json(&json!({"accountId": account})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    check(&doc, "delete", groups, status, &body);

    let (status, body) = app.send(app.request(Method::DELETE, &path)).await;
    assert_eq!(status, 200, "{body}");
    check(&doc, "delete", contact, status, &body);

    let (status, body) = app.send(app.request(Method::GET, &path)).await;
    assert_eq!(status, 404, "{body}");
    check(&doc, "get", contact, status, &body);

    let (status, body) = app
        .send(
            app.request(Method::DELETE, "/v1/whatsapp/contacts/bulk")
                .json(&json!({"contactIds": [id]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    check(&doc, "delete", "/v1/whatsapp/contacts/bulk", status, &body);

    // 401 without a token, and 415 with a content type other than JSON, in the WhatsApp envelope.
    let (status, body) = app
        .send(
            app.http
                .get(format!("{}{groups}?accountId={account}", app.base_url)),
        )
        .await;
    assert_eq!(status, 401, "{body}");
    check(&doc, "get", groups, status, &body);
    assert_eq!(body["code"], "UNAUTHORIZED");

    let (status, body) = app
        .send(
            app.request(Method::POST, contacts)
                .header("content-type", "text/plain")
                .body("{}"),
        )
        .await;
    assert_eq!(status, 415, "{body}");
    check(&doc, "post", contacts, status, &body);
}

/// Sends `method path` with an optional JSON body and the default workspace's token.
async fn call(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let request = app.request(method, path);
    let request = match body {
        Some(body) => request.json(&body),
        None => request,
    };
    app.send(request).await
}

#[tokio::test]
async fn openapi_schemas_match_live_template_responses() {
    let app = TestApp::spawn().await;
    let doc = document();
    let account = app.workspace.phone_number.to_string();
    let templates = "/v1/whatsapp/templates";
    let template = "/v1/whatsapp/templates/{templateName}";
    let submit = "/v1/whatsapp/templates/{templateName}/submit";
    let sync = "/v1/whatsapp/templates/sync";

    // An approved template, the way a business gets one (created on Meta, synced into Parley).
    app.approved_template("docs_update", "Hi {{1}}, here is the news")
        .await;
    // The approval may reach the read model a moment after the aggregate (a webhook of its own).
    let mut body = Value::Null;
    for _ in 0..200 {
        let (status, listed) = call(
            &app,
            Method::GET,
            &format!("{templates}?accountId={account}"),
            None,
        )
        .await;
        assert_eq!(status, 200, "{listed}");
        check(&doc, "get", templates, status, &listed);
        body = listed;
        if body["templates"][0]["status"] == "APPROVED" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let listed = body["templates"].as_array().expect("templates");
    assert_eq!(listed.len(), 1, "{body}");
    assert_eq!(listed[0]["status"], "APPROVED");
    assert_eq!(listed[0]["variables"][0]["name"], "1", "{body}");

    let (status, body) = call(
        &app,
        Method::GET,
        &format!("{templates}/docs_update?accountId={account}&language=en_US"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    check(&doc, "get", template, status, &body);
    assert!(
        body["template"]["id"]
            .as_str()
            .unwrap()
            .chars()
            .all(|c| c.is_ascii_digit()),
        "Meta's id: {body}"
    );

    for query in [
        format!("accountId={account}&language=fr"),
        format!("accountId={}", Uuid::new_v4()),
    ] {
        let (status, body) = call(
            &app,
            Method::GET,
            &format!("{templates}/docs_update?{query}"),
            None,
        )
        .await;
        assert_eq!(status, 404, "{body}");
        check(&doc, "get", template, status, &body);
    }
    let (status, body) = call(&app, Method::GET, templates, None).await;
    assert_eq!(status, 400, "{body}");
    check(&doc, "get", templates, status, &body);

    // A draft with seed 003's variable metadata, updated, then submitted.
    let draft = json!({
        "accountId": account, "name": "order_confirmation", "category": "utility",
        "language": "en_US", "submit": false,
        "components": [{"type": "body", "text": "Your order {{1}} ships {{2}}"}],
        "variables": [
            {"variable_name": "order_id", "position": 1, "sample_value": "123"},
            {"variable_name": "when", "component_type": "BODY", "position": 2,
             "default_value": "soon", "is_required": false},
        ],
    });
    let (status, body) = call(&app, Method::POST, templates, Some(draft.clone())).await;
    assert_eq!(status, 200, "{body}");
    check(&doc, "post", templates, status, &body);
    assert_eq!(body["template"]["status"], "DRAFT");
    assert_eq!(body["template"]["id"], body["template"]["parleyId"]);
    assert_eq!(body["template"]["variables"][1]["default_value"], "soon");
    assert_eq!(body["template"]["variables"][1]["required"], false);

    let (status, body) = call(&app, Method::POST, templates, Some(draft.clone())).await;
    assert_eq!(status, 409, "{body}");
    check(&doc, "post", templates, status, &body);
    assert_eq!(body["code"], "CONFLICT");

    let mut bad = draft.clone();
    bad["name"] = json!("Order Confirmation");
    let (status, body) = call(&app, Method::POST, templates, Some(bad)).await;
    assert_eq!(status, 400, "{body}");
    check(&doc, "post", templates, status, &body);
    let mut elsewhere = draft.clone();
    elsewhere["accountId"] = json!(Uuid::new_v4());
    let (status, body) = call(&app, Method::POST, templates, Some(elsewhere)).await;
    assert_eq!(status, 404, "{body}");
    check(&doc, "post", templates, status, &body);

    let named = format!("{templates}/order_confirmation");
    let (status, body) = call(
        &app,
        Method::PATCH,
        &named,
        Some(json!({
            "accountId": account,
            "components": [{"type": "BODY", "text": "Your order {{1}} is confirmed"}],
        })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    check(&doc, "patch", template, status, &body);
    assert_eq!(body["template"]["status"], "DRAFT");

    let (status, body) = call(
        &app,
        Method::PATCH,
        &named,
        Some(json!({"accountId": account, "components": [{"type": "FOOTER", "text": "x"}]})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    check(&doc, "patch", template, status, &body);

    let submitted = format!("{named}/submit");
    let (status, body) = call(
        &app,
        Method::POST,
        &submitted,
        Some(json!({"accountId": account})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    check(&doc, "post", submit, status, &body);
    assert_eq!(body["template"]["status"], "PENDING");
    assert_eq!(body["template"]["variables"].as_array().unwrap().len(), 1);

    let (status, body) = call(
        &app,
        Method::POST,
        &submitted,
        Some(json!({"accountId": account})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    check(&doc, "post", submit, status, &body);
    assert_eq!(body["code"], "INVALID_STATE");

    let (status, body) = call(
        &app,
        Method::POST,
        sync,
        Some(json!({"accountId": account})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    check(&doc, "post", sync, status, &body);

    // Deleting a draft.
    let mut other = draft.clone();
    other["name"] = json!("docs_draft");
    let (status, body) = call(&app, Method::POST, templates, Some(other)).await;
    assert_eq!(status, 200, "{body}");
    let path = format!("{templates}/docs_draft?accountId={account}");
    let (status, body) = call(&app, Method::DELETE, &path, None).await;
    assert_eq!(status, 200, "{body}");
    check(&doc, "delete", template, status, &body);
    assert_eq!(
        body["message"],
        "Template \"docs_draft\" deleted successfully"
    );
    let (status, body) = call(&app, Method::DELETE, &path, None).await;
    assert_eq!(status, 404, "{body}");
    check(&doc, "delete", template, status, &body);

    // The business profile and the registration codes, on Meta (the sandbox).
    let profile = "/v1/whatsapp/business-profile";
    let (status, body) = call(
        &app,
        Method::GET,
        &format!("{profile}?accountId={account}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    check(&doc, "get", profile, status, &body);
    let (status, body) = call(
        &app,
        Method::POST,
        profile,
        Some(json!({"accountId": account, "about": "Docs", "websites": ["https://example.com"]})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    check(&doc, "post", profile, status, &body);
    let (status, body) = call(
        &app,
        Method::GET,
        &format!("{profile}?accountId={account}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    check(&doc, "get", profile, status, &body);
    assert_eq!(body["businessProfile"]["about"], "Docs", "{body}");
    for bad in [
        json!({"accountId": account, "about": "a".repeat(140)}),
        json!({"accountId": account, "websites": ["a", "b", "c"]}),
        json!({"accountId": account, "bogus": 1}),
    ] {
        let (status, body) = call(&app, Method::POST, profile, Some(bad)).await;
        assert_eq!(status, 400, "{body}");
        check(&doc, "post", profile, status, &body);
    }

    let request_code = "/v1/whatsapp/phone-numbers/{phoneNumberId}/request-code";
    let verify = "/v1/whatsapp/phone-numbers/{phoneNumberId}/verify";
    let number = format!("/v1/whatsapp/phone-numbers/{account}");
    let (status, body) = call(&app, Method::POST, &format!("{number}/request-code"), None).await;
    assert_eq!(status, 200, "{body}");
    check(&doc, "post", request_code, status, &body);
    assert_eq!(body["method"], "SMS");
    let by_meta_id = format!(
        "/v1/whatsapp/phone-numbers/{}/request-code",
        app.workspace.meta_phone_number_id
    );
    let (status, body) = call(
        &app,
        Method::POST,
        &by_meta_id,
        Some(json!({"method": "VOICE", "language": "de"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    check(&doc, "post", request_code, status, &body);
    assert_eq!(body["message"], "Verification code sent via VOICE");
    let (status, body) = call(
        &app,
        Method::POST,
        &format!("{number}/request-code"),
        Some(json!({"method": "FAX"})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    check(&doc, "post", request_code, status, &body);
    let (status, body) = call(
        &app,
        Method::POST,
        &format!("/v1/whatsapp/phone-numbers/{}/request-code", Uuid::new_v4()),
        None,
    )
    .await;
    assert_eq!(status, 404, "{body}");
    check(&doc, "post", request_code, status, &body);

    for (code, expected) in [("12", 400), ("000000", 400), ("123456", 200)] {
        let (status, body) = call(
            &app,
            Method::POST,
            &format!("{number}/verify"),
            Some(json!({ "code": code })),
        )
        .await;
        assert_eq!(status, expected, "{code}: {body}");
        check(&doc, "post", verify, status, &body);
    }
}

#[tokio::test]
async fn openapi_schemas_match_live_broadcast_responses() {
    let app = TestApp::spawn().await;
    let doc = document();
    let account = app.workspace.phone_number.to_string();
    let broadcasts = "/v1/whatsapp/broadcasts";
    let one = "/v1/whatsapp/broadcasts/{broadcastId}";
    let recipients = "/v1/whatsapp/broadcasts/{broadcastId}/recipients";
    let schedule = "/v1/whatsapp/broadcasts/{broadcastId}/schedule";
    app.approved_template("docs_news", "Hi {{1}}, here is the news")
        .await;
    let (status, body) = call(
        &app,
        Method::POST,
        "/v1/whatsapp/contacts",
        Some(json!({"accountId": account, "phone": "+14155570003", "name": "Out", "isOptedIn": false})),
    )
    .await;
    assert_eq!(status, 200, "{body}");

    let create = |name: &str, template: &str, recipients: Value| {
        json!({
            "accountId": account, "name": name, "description": "docs",
            "template": {"name": template, "language": "en_US"}, "recipients": recipients,
        })
    };
    let (status, body) = call(
        &app,
        Method::POST,
        broadcasts,
        Some(create(
            "Docs",
            "docs_news",
            json!([
                {"phone": "+14155570001", "name": "Ann", "variables": {"1": "Ann"}},
                {"phone": "+14155570001", "name": "Ann again"},
                {"phone": "+14155570002"},
            ]),
        )),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    check(&doc, "post", broadcasts, status, &body);
    assert_eq!(body["broadcast"]["status"], "draft");
    assert_eq!(body["broadcast"]["recipientCount"], 2);
    let id = body["broadcast"]["id"].as_str().unwrap().to_string();
    let path = format!("{broadcasts}/{id}");

    for (bad, expected) in [
        (create("Docs", "docs_news", json!([{"phone": "nope"}])), 400),
        (
            json!({"accountId": account, "template": {"name": "x", "language": "en"}}),
            400,
        ),
        (create("", "docs_news", json!([])), 400),
        (
            json!({"accountId": Uuid::new_v4(), "name": "X", "template": {"name": "x", "language": "en"}}),
            404,
        ),
    ] {
        let (status, body) = call(&app, Method::POST, broadcasts, Some(bad)).await;
        assert_eq!(status, expected, "{body}");
        check(&doc, "post", broadcasts, status, &body);
    }

    let (status, body) = call(
        &app,
        Method::GET,
        &format!("{broadcasts}?accountId={account}&status=draft&limit=10"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    check(&doc, "get", broadcasts, status, &body);
    assert_eq!(body["pagination"]["total"], 1, "{body}");
    for query in [
        format!("accountId={account}&status=bogus"),
        format!("accountId={account}&limit=0"),
        String::new(),
    ] {
        let (status, body) = call(&app, Method::GET, &format!("{broadcasts}?{query}"), None).await;
        assert_eq!(status, 400, "{query}: {body}");
        check(&doc, "get", broadcasts, status, &body);
    }
    let (status, body) = call(
        &app,
        Method::GET,
        &format!("{broadcasts}?accountId={}", Uuid::new_v4()),
        None,
    )
    .await;
    assert_eq!(status, 404, "{body}");
    check(&doc, "get", broadcasts, status, &body);

    let (status, body) = call(&app, Method::GET, &path, None).await;
    assert_eq!(status, 200, "{body}");
    check(&doc, "get", one, status, &body);

    // Recipients: added (one duplicate), removed, listed; bad input.
    let listed = format!("{path}/recipients");
    let (status, body) = call(
        &app,
        Method::PATCH,
        &listed,
        Some(json!({"recipients": [
            {"phone": "+14155570002"},
            {"phone": "+14155570003", "variables": {"1": "Out"}},
            {"phone": "+14155570004", "variables": {"1": "Dee"}},
        ]})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    check(&doc, "patch", recipients, status, &body);
    assert_eq!(
        (body["added"].as_u64(), body["duplicates"].as_u64()),
        (Some(2), Some(1))
    );
    for bad in [
        json!({"recipients": []}),
        json!({"recipients": [{"phone": "12"}]}),
        json!({"recipients": [{"phone": "+14155570009", "colour": "red"}]}),
    ] {
        let (status, body) = call(&app, Method::PATCH, &listed, Some(bad)).await;
        assert_eq!(status, 400, "{body}");
        check(&doc, "patch", recipients, status, &body);
    }
    let (status, body) = call(
        &app,
        Method::DELETE,
        &listed,
        Some(json!({"phones": ["+14155570004", "+14155579999"]})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    check(&doc, "delete", recipients, status, &body);
    assert_eq!(body["totalRecipients"], 3);
    let (status, body) = call(&app, Method::DELETE, &listed, Some(json!({"phones": []}))).await;
    assert_eq!(status, 400, "{body}");
    check(&doc, "delete", recipients, status, &body);
    let (status, body) = call(&app, Method::GET, &listed, None).await;
    assert_eq!(status, 200, "{body}");
    check(&doc, "get", recipients, status, &body);
    assert_eq!(body["summary"]["pending"], 3, "{body}");
    let (status, body) = call(&app, Method::GET, &format!("{listed}?status=lost"), None).await;
    assert_eq!(status, 400, "{body}");
    check(&doc, "get", recipients, status, &body);

    // Schedule, unschedule; lifecycle refusals on a draft.
    let scheduled = format!("{path}/schedule");
    let at = |offset: chrono::Duration| json!({"scheduledAt": (chrono::Utc::now() + offset).to_rfc3339()});
    for bad in [
        at(-chrono::Duration::minutes(1)),
        at(chrono::Duration::days(31)),
        json!({"scheduledAt": "tomorrow"}),
    ] {
        let (status, body) = call(&app, Method::POST, &scheduled, Some(bad)).await;
        assert_eq!(status, 400, "{body}");
        check(&doc, "post", schedule, status, &body);
    }
    let (status, body) = call(
        &app,
        Method::POST,
        &scheduled,
        Some(at(chrono::Duration::days(1))),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    check(&doc, "post", schedule, status, &body);
    assert_eq!(body["broadcast"]["status"], "scheduled");
    for expected in [200, 400] {
        let (status, body) = call(&app, Method::DELETE, &scheduled, None).await;
        assert_eq!(status, expected, "{body}");
        check(&doc, "delete", schedule, status, &body);
    }
    for action in ["pause", "resume", "cancel"] {
        let (status, body) = call(&app, Method::POST, &format!("{path}/{action}"), None).await;
        assert_eq!(status, 400, "{action}: {body}");
        check(&doc, "post", &format!("{one}/{action}"), status, &body);
        assert_eq!(body["code"], "INVALID_STATE");
    }

    // A broadcast of a template that is not approved does not start; a draft is deleted.
    let (status, body) = call(
        &app,
        Method::POST,
        broadcasts,
        Some(create(
            "Nope",
            "no_such_template",
            json!([{"phone": "+14155570001"}]),
        )),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let other = format!("{broadcasts}/{}", body["broadcast"]["id"].as_str().unwrap());
    let send = "/v1/whatsapp/broadcasts/{broadcastId}/send";
    let (status, body) = call(&app, Method::POST, &format!("{other}/send"), None).await;
    assert_eq!(status, 400, "{body}");
    check(&doc, "post", send, status, &body);
    assert_eq!(body["code"], "TEMPLATE_NOT_APPROVED");
    // Scheduled, then cancelled for good, then deleted.
    let (status, _) = call(
        &app,
        Method::POST,
        &format!("{other}/schedule"),
        Some(at(chrono::Duration::hours(1))),
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = call(&app, Method::POST, &format!("{other}/cancel"), None).await;
    assert_eq!(status, 200, "{body}");
    check(&doc, "post", &format!("{one}/cancel"), status, &body);
    assert_eq!(body["broadcast"]["status"], "cancelled");
    let (status, body) = call(&app, Method::DELETE, &other, None).await;
    assert_eq!(status, 200, "{body}");
    check(&doc, "delete", one, status, &body);
    let (status, body) = call(&app, Method::GET, &other, None).await;
    assert_eq!(status, 404, "{body}");
    check(&doc, "get", one, status, &body);

    // Sending: the opted-out contact and the recipient without a value for {{1}} are skipped.
    let (status, body) = call(&app, Method::POST, &format!("{path}/send"), None).await;
    assert_eq!(status, 200, "{body}");
    check(&doc, "post", send, status, &body);
    assert_eq!(
        (body["total"].as_u64(), body["skipped"].as_u64()),
        (Some(3), Some(2)),
        "{body}"
    );
    let (status, body) = call(&app, Method::POST, &format!("{path}/send"), None).await;
    assert_eq!(status, 400, "{body}");
    check(&doc, "post", send, status, &body);
    // Pause and resume race the (short) sending: either is documented.
    for action in ["pause", "resume"] {
        let (status, body) = call(&app, Method::POST, &format!("{path}/{action}"), None).await;
        assert!(status == 200 || status == 400, "{action}: {body}");
        check(&doc, "post", &format!("{one}/{action}"), status, &body);
    }
    let _ = call(&app, Method::POST, &format!("{path}/resume"), None).await;
    let mut done = Value::Null;
    for _ in 0..600 {
        done = call(&app, Method::GET, &path, None).await.1;
        if done["broadcast"]["status"] == "completed" && done["broadcast"]["readCount"] == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    check(&doc, "get", one, 200, &done);
    assert_eq!(done["broadcast"]["status"], "completed", "{done}");
    assert_eq!(done["broadcast"]["skippedCount"], 2, "{done}");
    assert!(done["broadcast"]["completedAt"].is_string(), "{done}");
    let (status, body) = call(&app, Method::GET, &format!("{listed}?limit=10"), None).await;
    assert_eq!(status, 200, "{body}");
    check(&doc, "get", recipients, status, &body);
    assert_eq!(body["summary"]["skipped"], 2, "{body}");
    let (status, body) = call(&app, Method::GET, &format!("{listed}?status=skipped"), None).await;
    assert_eq!(status, 200, "{body}");
    check(&doc, "get", recipients, status, &body);
    assert!(body["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["error"].as_str().unwrap().starts_with("skipped: ")));

    let (status, body) = call(&app, Method::POST, &format!("{path}/retry-failed"), None).await;
    assert_eq!(status, 200, "{body}");
    check(
        &doc,
        "post",
        "/v1/whatsapp/broadcasts/{broadcastId}/retry-failed",
        status,
        &body,
    );
    assert_eq!(body["retried"], 0);
    let (status, body) = call(&app, Method::DELETE, &path, None).await;
    assert_eq!(status, 400, "{body}");
    check(&doc, "delete", one, status, &body);
    assert_eq!(body["code"], "INVALID_STATE");

    // Bulk: a result per recipient.
    let bulk = "/v1/whatsapp/bulk";
    let (status, body) = call(
        &app,
        Method::POST,
        bulk,
        Some(json!({
            "accountId": account,
            "template": {"name": "docs_news", "language": "en_US"},
            "recipients": [
                {"phone": "+14155570100", "variables": {"1": "Ana"}},
                {"phone": "+14155570101"},
                {"phone": "not a phone", "variables": {"1": "X"}},
            ],
        })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    check(&doc, "post", bulk, status, &body);
    assert_eq!(body["summary"], json!({"total": 3, "sent": 1, "failed": 2}));
    for (bad, expected) in [
        (
            json!({"accountId": account, "template": {"name": "docs_news", "language": "en_US"},
                   "recipients": (0..101).map(|n| json!({"phone": format!("+1415558{n:04}")})).collect::<Vec<_>>()}),
            400,
        ),
        (
            json!({"accountId": Uuid::new_v4(), "template": {"name": "docs_news", "language": "en_US"},
                   "recipients": [{"phone": "+14155570100"}]}),
            404,
        ),
    ] {
        let (status, body) = call(&app, Method::POST, bulk, Some(bad)).await;
        assert_eq!(status, expected, "{body}");
        check(&doc, "post", bulk, status, &body);
    }

    // 415 without a JSON content type; 405 in the WhatsApp envelope.
    let (status, body) = app
        .send(
            app.request(Method::PATCH, &listed)
                .header("content-type", "text/plain")
                .body("{}"),
        )
        .await;
    assert_eq!(status, 415, "{body}");
    check(&doc, "patch", recipients, status, &body);
    let (status, body) = call(&app, Method::PUT, broadcasts, None).await;
    assert_eq!(status, 405, "{body}");
    assert_valid(
        &doc,
        &json!({"$ref": "#/components/schemas/WhatsAppError"}),
        &body,
        "405",
        true,
    );
    assert_eq!(body["code"], "METHOD_NOT_ALLOWED");
}

#[tokio::test]
async fn openapi_schemas_match_live_rate_limit_responses() {
    let app = TestApp::spawn().await;
    let doc = document();
    let health = "/api/v2/external/health";
    let rate_limit_test = "/api/v2/external/rate-limit-test";
    for path in [health, rate_limit_test] {
        let (status, body) = call(&app, Method::GET, path, None).await;
        assert_eq!(status, 200, "{body}");
        check(&doc, "get", path, status, &body);
        let (status, body) = app
            .send(app.http.get(format!("{}{path}", app.base_url)))
            .await;
        assert_eq!(status, 401, "{body}");
        check(&doc, "get", path, status, &body);
    }

    // Two requests counted already: over a limit of one, 429 in each surface's documented envelope.
    store::Tenancy::new(app.app.infra.pools.queries.clone())
        .set_rate_limit(&app.workspace.token, std::num::NonZeroU32::new(1))
        .await
        .unwrap();
    let contacts = "/v1/whatsapp/contacts";
    for (path, template) in [
        (rate_limit_test.to_string(), rate_limit_test),
        (health.to_string(), health),
        (
            format!("{contacts}?accountId={}", app.workspace.phone_number),
            contacts,
        ),
    ] {
        let (status, body) = call(&app, Method::GET, &path, None).await;
        assert_eq!(status, 429, "{path}: {body}");
        check(&doc, "get", template, status, &body);
    }
}

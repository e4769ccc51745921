//! Tests: tokens, workspaces and request ids, across every REST endpoint.

use parley_tests::{TestApp, Workspace};
use reqwest::Method;
use serde_json::{json, Value};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Surface {
    V1,
    V2,
}

/// Every REST endpoint, with a body that would be valid for the default workspace.
fn endpoints(app: &TestApp, contact: &str) -> Vec<(Method, String, Option<Value>, Surface)> {
    let account = app.workspace.phone_number.to_string();
    let number = &account;
    vec![
        (
            Method::GET,
            "/api/v2/external/phone-numbers".into(),
            None,
            Surface::V2,
        ),
        (
            Method::POST,
            "/api/v2/external/phone-numbers".into(),
            Some(
                json!({"phoneNumberId": "555000111222333", "wabaId": "1234567",
                        "phoneNumber": "+14155550100"}),
            ),
            Surface::V2,
        ),
        (
            Method::GET,
            format!("/api/v2/external/phone-numbers/{number}"),
            None,
            Surface::V2,
        ),
        (
            Method::PATCH,
            format!("/api/v2/external/phone-numbers/{number}"),
            Some(json!({"displayName": "Renamed"})),
            Surface::V2,
        ),
        (
            Method::DELETE,
            format!("/api/v2/external/phone-numbers/{number}"),
            None,
            Surface::V2,
        ),
        (
            Method::GET,
            format!("/v1/whatsapp/contacts?accountId={account}"),
            None,
            Surface::V1,
        ),
        (
            Method::POST,
            "/v1/whatsapp/contacts".into(),
            Some(json!({"accountId": account, "phone": "+14155550999", "name": "X"})),
            Surface::V1,
        ),
        (
            Method::GET,
            format!("/v1/whatsapp/contacts/{contact}"),
            None,
            Surface::V1,
        ),
        (
            Method::PUT,
            format!("/v1/whatsapp/contacts/{contact}"),
            Some(json!({"name": "Changed"})),
            Surface::V1,
        ),
        (
            Method::DELETE,
            format!("/v1/whatsapp/contacts/{contact}"),
            None,
            Surface::V1,
        ),
        (
            Method::POST,
            "/v1/whatsapp/contacts/import".into(),
            Some(json!({"accountId": account,
                        "contacts": [{"phone": "+14155550998", "name": "Y"}]})),
            Surface::V1,
        ),
        (
            Method::POST,
            "/v1/whatsapp/contacts/bulk".into(),
            Some(json!({"action": "block", "contactIds": [contact]})),
            Surface::V1,
        ),
        (
            Method::DELETE,
            "/v1/whatsapp/contacts/bulk".into(),
            Some(json!({"contactIds": [contact]})),
            Surface::V1,
        ),
        (
            Method::GET,
            format!("/v1/whatsapp/groups?accountId={account}"),
            None,
            Surface::V1,
        ),
        (
            Method::POST,
            "/v1/whatsapp/groups".into(),
            Some(json!({"accountId": account, "oldName": "customers", "newName": "clients"})),
            Surface::V1,
        ),
        (
            Method::DELETE,
            "/v1/whatsapp/groups".into(),
            Some(json!({"accountId": account, "groupName": "customers"})),
            Surface::V1,
        ),
    ]
}

fn assert_unauthorized(surface: Surface, what: &str, status: u16, body: &Value) {
    assert_eq!(status, 401, "{what}: {body}");
    assert_eq!(body["success"], false, "{what}: {body}");
    match surface {
        Surface::V2 => {
            assert_eq!(body["error"]["code"], "UNAUTHORIZED", "{what}: {body}");
            assert!(body["error"]["message"].is_string(), "{what}: {body}");
        }
        Surface::V1 => {
            assert_eq!(body["code"], "UNAUTHORIZED", "{what}: {body}");
            assert!(body["error"].is_string(), "{what}: {body}");
        }
    }
}

async fn create_contact(app: &TestApp) -> String {
    let (status, body) = app
        .send(
            app.request(Method::POST, "/v1/whatsapp/contacts")
                .json(&json!({
                    "accountId": app.workspace.phone_number.to_string(),
                    "phone": "+14155550123", "name": "Ada", "tags": ["vip"],
                    "groups": ["customers"]
                })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["contact"]["id"].as_str().unwrap().to_string()
}

/// Everything the default workspace can observe of its own data.
async fn snapshot(app: &TestApp) -> Vec<Value> {
    let account = app.workspace.phone_number;
    let mut seen = Vec::new();
    for path in [
        format!("/v1/whatsapp/contacts?accountId={account}"),
        format!("/v1/whatsapp/groups?accountId={account}"),
        "/api/v2/external/phone-numbers".to_string(),
    ] {
        let (status, body) = app.send(app.request(Method::GET, &path)).await;
        assert_eq!(status, 200, "{path}: {body}");
        seen.push(body);
    }
    seen
}

#[tokio::test]
async fn every_endpoint_needs_a_valid_token() {
    let app = TestApp::spawn().await;
    let contact = create_contact(&app).await;
    let before = snapshot(&app).await;
    for (method, path, body, surface) in endpoints(&app, &contact) {
        let url = format!("{}{}", app.base_url, path);
        let with_body = |r: reqwest::RequestBuilder| match &body {
            Some(b) => r.json(b),
            None => r,
        };
        let what = format!("{method} {path}");
        let (status, answer) = app
            .send(with_body(app.http.request(method.clone(), &url)))
            .await;
        assert_unauthorized(surface, &format!("{what} without token"), status, &answer);
        for (header, value) in [
            ("authorization", "Bearer wat_not-a-real-token".to_string()),
            ("authorization", format!("Bearer {}x", app.workspace.token)),
            ("authorization", "Bearer ".to_string()),
            ("authorization", format!("Basic {}", app.workspace.token)),
            ("x-api-key", "wat_wrong".to_string()),
            ("x-api-key", "".to_string()),
        ] {
            let (status, answer) = app
                .send(with_body(
                    app.http
                        .request(method.clone(), &url)
                        .header(header, &value),
                ))
                .await;
            assert_unauthorized(
                surface,
                &format!("{what} with {header}: {value}"),
                status,
                &answer,
            );
        }
    }
    assert_eq!(snapshot(&app).await, before, "refused calls change nothing");
}

#[tokio::test]
async fn x_api_key_works_like_bearer() {
    let app = TestApp::spawn().await;
    let contact = create_contact(&app).await;
    let mut all = endpoints(&app, &contact);
    // The number goes last: its contacts API is gone with it.
    all.sort_by_key(|(_, _, _, surface)| *surface == Surface::V2);
    for (method, path, body, _) in all {
        let mut request = app
            .http
            .request(method.clone(), format!("{}{}", app.base_url, path))
            .header("x-api-key", &app.workspace.token);
        if let Some(body) = &body {
            request = request.json(body);
        }
        let (status, answer) = app.send(request).await;
        assert!(
            (200..300).contains(&status),
            "{method} {path} with X-API-Key: {status} {answer}"
        );
    }
    // The last calls deleted the contact and the number: the key was honoured for writes too.
    let (status, _) = app
        .send(app.request(
            Method::GET,
            &format!(
                "/api/v2/external/phone-numbers/{}",
                app.workspace.phone_number
            ),
        ))
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn another_workspace_can_neither_see_nor_change_the_data() {
    let app = TestApp::spawn().await;
    let contact = create_contact(&app).await;
    let other: Workspace = app.another_workspace().await;
    let before = snapshot(&app).await;
    for (method, path, body, _) in endpoints(&app, &contact) {
        let mut request = app.request_as(&other, method.clone(), &path);
        if let Some(body) = &body {
            request = request.json(body);
        }
        let (status, answer) = app.send(request).await;
        let what = format!("{method} {path}: {status} {answer}");
        match (method.as_str(), path.as_str()) {
            ("GET", "/api/v2/external/phone-numbers") => {
                assert_eq!(status, 200, "{what}");
                let numbers = answer["data"]["phoneNumbers"].as_array().unwrap();
                assert_eq!(numbers.len(), 1, "{what}");
                assert_eq!(numbers[0]["id"], other.phone_number.to_string(), "{what}");
            }
            // Registering a new Meta number is the other workspace's own business.
            ("POST", "/api/v2/external/phone-numbers") => assert_eq!(status, 201, "{what}"),
            ("POST", "/v1/whatsapp/contacts/bulk") => {
                assert_eq!(status, 200, "{what}");
                assert_eq!(answer["matched"], 0, "{what}");
                assert_eq!(answer["modified"], 0, "{what}");
            }
            ("DELETE", "/v1/whatsapp/contacts/bulk") => {
                assert_eq!(status, 200, "{what}");
                assert_eq!(answer["deleted"], 0, "{what}");
            }
            _ => {
                assert_eq!(status, 404, "{what}");
                assert_eq!(answer["success"], false, "{what}");
            }
        }
    }
    // Registering the first workspace's Meta number again is refused.
    let (_, list) = app
        .send(app.request(Method::GET, "/api/v2/external/phone-numbers"))
        .await;
    let meta_id = list["data"]["phoneNumbers"][0]["phoneNumberId"].clone();
    let (status, answer) = app
        .send(
            app.request_as(&other, Method::POST, "/api/v2/external/phone-numbers")
                .json(&json!({"phoneNumberId": meta_id, "wabaId": "1234567",
                              "phoneNumber": "+14155550100", "displayName": "Hijack"})),
        )
        .await;
    assert_eq!(status, 409, "{answer}");

    assert_eq!(
        snapshot(&app).await,
        before,
        "the first workspace's data is unchanged"
    );
    let (status, got) = app
        .send(app.request(Method::GET, &format!("/v1/whatsapp/contacts/{contact}")))
        .await;
    assert_eq!(status, 200);
    assert_eq!(got["contact"]["name"], "Ada");
    assert_eq!(got["contact"]["isBlocked"], false);
    assert_eq!(got["contact"]["groups"], json!(["customers"]));

    // The other workspace's own contact on the same phone is independent.
    let (status, own) = app
        .send(
            app.request_as(&other, Method::POST, "/v1/whatsapp/contacts")
                .json(&json!({"accountId": other.phone_number.to_string(),
                              "phone": "+14155550123", "name": "Other Ada"})),
        )
        .await;
    assert_eq!(status, 200, "{own}");
    assert_ne!(own["contact"]["id"], contact.as_str());
    let (_, list) = app
        .send(app.request_as(
            &other,
            Method::GET,
            &format!("/v1/whatsapp/contacts?accountId={}", other.phone_number),
        ))
        .await;
    assert_eq!(list["pagination"]["total"], 1);
    assert_eq!(list["contacts"][0]["name"], "Other Ada");
    assert_eq!(snapshot(&app).await[0], before[0]);
}

#[tokio::test]
async fn the_request_id_is_echoed_and_recorded_with_the_actor() {
    let app = TestApp::spawn().await;
    let response = app
        .request(Method::POST, "/v1/whatsapp/contacts")
        .header("x-request-id", "corr-4711-abc")
        .json(&json!({"accountId": app.workspace.phone_number.to_string(),
                      "phone": "+14155550123", "name": "Ada"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-request-id"], "corr-4711-abc");
    let response = app
        .request(
            Method::PATCH,
            &format!(
                "/api/v2/external/phone-numbers/{}",
                app.workspace.phone_number
            ),
        )
        .header("x-request-id", "corr-4712-def")
        .json(&json!({"displayName": "New name"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-request-id"], "corr-4712-def");

    // Without one, an id is generated and echoed, also on errors.
    let response = app
        .http
        .get(format!("{}/api/v2/external/phone-numbers", app.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let generated = response.headers()["x-request-id"].to_str().unwrap();
    assert!(!generated.is_empty());

    let db = app.db().await;
    let token_id: uuid::Uuid = db
        .query_one(
            "SELECT id FROM api_tokens WHERE workspace_id = $1 LIMIT 1",
            &[&app.workspace.id.0],
        )
        .await
        .unwrap()
        .get(0);
    let rows = db
        .query("SELECT metadata::text FROM events", &[])
        .await
        .unwrap();
    let metadata: Vec<Value> = rows
        .iter()
        .map(|r| serde_json::from_str(&r.get::<_, String>(0)).unwrap())
        .collect();
    for id in ["corr-4711-abc", "corr-4712-def"] {
        let mine: Vec<&Value> = metadata
            .iter()
            .filter(|m| m["correlation_id"] == id)
            .collect();
        assert!(!mine.is_empty(), "{id} in {metadata:?}");
        for m in mine {
            let actor = m["actor"].as_str().unwrap();
            let uuid = actor.strip_prefix("token:").expect(actor);
            let uuid: uuid::Uuid = uuid.parse().expect(actor);
            assert_eq!(uuid, token_id, "the caller's token");
            assert!(m["time"].is_string(), "{m}");
        }
    }
    // The harness registered the first number from the CLI.
    assert!(metadata.iter().any(|m| m["actor"] == "cli"), "{metadata:?}");
}

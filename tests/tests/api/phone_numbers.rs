//! Tests: `/api/v2/external/phone-numbers` (seed 000's `ExternalPhoneNumber`, plus our
//! register/get/update/remove).

use parley_tests::TestApp;
use reqwest::Method;
use serde_json::{json, Value};

const PATH: &str = "/api/v2/external/phone-numbers";
const SECRET: &str = "EAAG-very-secret-token-4711";

fn registration(meta_id: &str) -> Value {
    json!({
        "phoneNumberId": meta_id, "wabaId": "300000000000001", "wabaName": "Acme WABA",
        "phoneNumber": "+14155550199", "displayName": "Acme Support",
        "verifiedName": "Acme Inc", "status": "VERIFIED", "accessToken": SECRET
    })
}

/// Asserts `number` has exactly seed 000's `ExternalPhoneNumber` keys, every one present (the
/// names may be null), plus the documented `hasAccessToken`, `createdAt` and `updatedAt`.
fn assert_external_shape(number: &Value) {
    let object = number.as_object().expect("an object");
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "createdAt",
            "displayName",
            "hasAccessToken",
            "id",
            "phoneNumber",
            "phoneNumberId",
            "status",
            "updatedAt",
            "verifiedName",
            "whatsappAccount"
        ],
        "{number}"
    );
    for key in [
        "id",
        "phoneNumberId",
        "phoneNumber",
        "status",
        "createdAt",
        "updatedAt",
    ] {
        assert!(object[key].is_string(), "{key} is a string in {number}");
    }
    for key in ["displayName", "verifiedName"] {
        assert!(
            object[key].is_string() || object[key].is_null(),
            "{key} in {number}"
        );
    }
    assert!(object["hasAccessToken"].is_boolean(), "{number}");
    let status = number["status"].as_str().unwrap();
    assert!(
        ["VERIFIED", "UNVERIFIED", "PENDING"].contains(&status),
        "{status}"
    );
    let account = number["whatsappAccount"]
        .as_object()
        .expect("whatsappAccount");
    let mut keys: Vec<&str> = account.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["id", "status", "wabaName"], "{number}");
    assert!(account["id"].is_string(), "{number}");
    assert!(account["wabaName"].is_string() || account["wabaName"].is_null());
    assert_eq!(account["status"], "ACTIVE");
    let id: uuid::Uuid = number["id"].as_str().unwrap().parse().expect("a UUID id");
    assert!(!id.is_nil());
}

async fn raw(_app: &TestApp, request: reqwest::RequestBuilder) -> (u16, String) {
    let response = request.send().await.unwrap();
    (
        response.status().as_u16(),
        response.text().await.unwrap_or_default(),
    )
}

#[tokio::test]
async fn the_list_has_the_seed_shape() {
    let app = TestApp::spawn().await;
    let (status, body) = app.send(app.request(Method::GET, PATH)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["success"], true);
    let numbers = body["data"]["phoneNumbers"].as_array().unwrap();
    assert_eq!(numbers.len(), 1, "{body}");
    let n = &numbers[0];
    assert_external_shape(n);
    assert_eq!(n["id"], app.workspace.phone_number.to_string());
    assert_eq!(n["phoneNumber"], "+15550100001");
    assert_eq!(n["displayName"], "Test");
    assert_eq!(n["verifiedName"], "Test Inc");
    assert_eq!(n["whatsappAccount"]["id"], "200000000000001");
    assert_eq!(n["whatsappAccount"]["wabaName"], "Test WABA");
    assert_eq!(n["whatsappAccount"]["status"], "ACTIVE");
    assert!(n["phoneNumberId"].as_str().unwrap().len() >= 15);
}

#[tokio::test]
async fn register_update_and_remove() {
    let app = TestApp::spawn().await;
    let response = app
        .request(Method::POST, PATH)
        .json(&registration("987654321012345"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["x-parley-read-model"], "fresh");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["success"], true);
    let n = &body["data"]["phoneNumber"];
    assert_external_shape(n);
    assert_eq!(n["phoneNumberId"], "987654321012345");
    assert_eq!(n["phoneNumber"], "+14155550199");
    assert_eq!(n["status"], "VERIFIED");
    assert_eq!(n["whatsappAccount"]["id"], "300000000000001");
    assert_eq!(n["whatsappAccount"]["wabaName"], "Acme WABA");
    let id = n["id"].as_str().unwrap().to_string();

    // Listed and readable at once.
    let (_, list) = app.send(app.request(Method::GET, PATH)).await;
    let numbers = list["data"]["phoneNumbers"].as_array().unwrap();
    assert_eq!(numbers.len(), 2);
    assert!(numbers.iter().any(|x| x["id"] == id.as_str()));
    let (status, got) = app
        .send(app.request(Method::GET, &format!("{PATH}/{id}")))
        .await;
    assert_eq!(status, 200);
    assert_eq!(&got["data"]["phoneNumber"], n);

    // The number is usable as a WhatsApp account at once.
    let (status, body) = app
        .send(
            app.request(Method::POST, "/v1/whatsapp/contacts")
                .json(&json!({"accountId": id, "phone": "+14155550123", "name": "A"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // Same Meta id again: conflict.
    let (status, body) = app
        .send(
            app.request(Method::POST, PATH)
                .json(&registration("987654321012345")),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["success"], false);
    assert_eq!(body["error"]["code"], "CONFLICT");
    assert!(body["error"]["message"].is_string());

    // Update: partial.
    let (status, body) = app
        .send(
            app.request(Method::PATCH, &format!("{PATH}/{id}"))
                .json(&json!({"displayName": "Acme Sales", "status": "PENDING",
                              "phoneNumber": "+14155550200"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let n = &body["data"]["phoneNumber"];
    assert_external_shape(n);
    assert_eq!(n["displayName"], "Acme Sales");
    assert_eq!(n["status"], "PENDING");
    assert_eq!(n["phoneNumber"], "+14155550200");
    assert_eq!(n["verifiedName"], "Acme Inc", "untouched");
    let (_, got) = app
        .send(app.request(Method::GET, &format!("{PATH}/{id}")))
        .await;
    assert_eq!(&got["data"]["phoneNumber"], n);

    // Bad updates.
    for bad in [
        json!({"status": "GREAT"}),
        json!({"phoneNumber": "555-0100"}),
        json!({"accessToken": ""}),
        json!({"unknownField": 1}),
    ] {
        let (status, body) = app
            .send(
                app.request(Method::PATCH, &format!("{PATH}/{id}"))
                    .json(&bad),
            )
            .await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["success"], false);
        assert!(body["error"]["code"].is_string());
    }
    let (_, again) = app
        .send(app.request(Method::GET, &format!("{PATH}/{id}")))
        .await;
    assert_eq!(
        &again["data"]["phoneNumber"], n,
        "refused updates change nothing"
    );

    // Remove, then it is gone.
    let (status, body) = app
        .send(app.request(Method::DELETE, &format!("{PATH}/{id}")))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["success"], true);
    for method in [Method::GET, Method::DELETE] {
        let (status, body) = app
            .send(app.request(method.clone(), &format!("{PATH}/{id}")))
            .await;
        assert_eq!(status, 404, "{method}: {body}");
        assert_eq!(body["error"]["code"], "NOT_FOUND");
    }
    let (status, _) = app
        .send(
            app.request(Method::PATCH, &format!("{PATH}/{id}"))
                .json(&json!({"displayName": "x"})),
        )
        .await;
    assert_eq!(status, 404);
    let (_, list) = app.send(app.request(Method::GET, PATH)).await;
    assert_eq!(list["data"]["phoneNumbers"].as_array().unwrap().len(), 1);
    // Its contacts API is gone with it.
    let (status, _) = app
        .send(app.request(
            Method::GET,
            &format!("/v1/whatsapp/contacts?accountId={id}"),
        ))
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn invalid_registrations_are_refused() {
    let app = TestApp::spawn().await;
    for phone in [
        "14155550199",
        "+1 415 555 0199",
        "+0123456789",
        "+12",
        "abc",
        "",
    ] {
        let mut body = registration("987654321012346");
        body["phoneNumber"] = json!(phone);
        let (status, answer) = app.send(app.request(Method::POST, PATH).json(&body)).await;
        assert_eq!(status, 400, "{phone}: {answer}");
        assert_eq!(answer["success"], false);
        assert_eq!(answer["error"]["code"], "INVALID_PHONE_NUMBER", "{phone}");
    }
    for (field, value) in [
        ("phoneNumberId", json!("")),
        ("phoneNumberId", json!("not digits")),
        ("wabaId", json!("")),
        ("status", json!("GREAT")),
        ("phoneNumberId", json!(12345)),
    ] {
        let mut body = registration("987654321012347");
        body[field] = value.clone();
        let (status, answer) = app.send(app.request(Method::POST, PATH).json(&body)).await;
        assert_eq!(status, 400, "{field}={value}: {answer}");
        assert_eq!(answer["error"]["code"], "VALIDATION_ERROR");
    }
    let (status, answer) = app
        .send(
            app.request(Method::POST, PATH)
                .json(&json!({"wabaId": "1"})),
        )
        .await;
    assert_eq!(status, 400, "{answer}");
    let (_, list) = app.send(app.request(Method::GET, PATH)).await;
    assert_eq!(list["data"]["phoneNumbers"].as_array().unwrap().len(), 1);

    // The least a registration needs; the optional names are null, every key still there.
    let (status, body) = app
        .send(app.request(Method::POST, PATH).json(&json!({
            "phoneNumberId": "987654321012349", "wabaId": "300000000000001",
            "phoneNumber": "+14155550198"
        })))
        .await;
    assert_eq!(status, 201, "{body}");
    let n = &body["data"]["phoneNumber"];
    assert_external_shape(n);
    assert!(n["displayName"].is_null());
    assert_eq!(n["status"], "UNVERIFIED");
    assert_eq!(n["hasAccessToken"], false);
    let (_, list) = app.send(app.request(Method::GET, PATH)).await;
    for number in list["data"]["phoneNumbers"].as_array().unwrap() {
        assert_external_shape(number);
    }
}

#[tokio::test]
async fn the_access_token_never_leaves_and_is_sealed_at_rest() {
    let app = TestApp::spawn().await;
    let (status, text) = raw(
        &app,
        app.request(Method::POST, PATH)
            .json(&registration("987654321012348")),
    )
    .await;
    assert_eq!(status, 201);
    assert!(!text.contains(SECRET), "{text}");
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["data"]["phoneNumber"]["hasAccessToken"], true);
    let id = body["data"]["phoneNumber"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let rotated = "EAAG-rotated-secret-0815";
    let mut texts = vec![text];
    for request in [
        app.request(Method::GET, PATH),
        app.request(Method::GET, &format!("{PATH}/{id}")),
        app.request(Method::PATCH, &format!("{PATH}/{id}"))
            .json(&json!({"accessToken": rotated})),
        app.request(Method::GET, &format!("{PATH}/{id}")),
        app.request(Method::POST, PATH)
            .json(&registration("987654321012348")),
    ] {
        let (_, text) = raw(&app, request).await;
        texts.push(text);
    }
    let (_, graphql) = raw(
        &app,
        app.request(Method::POST, "/graphql")
            .json(&json!({"query": "{ __typename }"})),
    )
    .await;
    texts.push(graphql);
    for text in &texts {
        assert!(!text.contains(SECRET), "{text}");
        assert!(!text.contains(rotated), "{text}");
        assert!(!text.contains("EAAG-test-access-token"), "{text}");
    }

    let db = app.db().await;
    let rows = db
        .query("SELECT payload::text FROM events", &[])
        .await
        .unwrap();
    assert!(rows.len() >= 3);
    for row in rows {
        let payload: String = row.get(0);
        assert!(!payload.contains(SECRET), "{payload}");
        assert!(!payload.contains(rotated), "{payload}");
        assert!(!payload.contains("EAAG"), "{payload}");
    }
}

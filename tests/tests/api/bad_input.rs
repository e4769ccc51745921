//! Tests: bad input is a clear 4xx in the surface's error format, never a 500, and nothing is
//! partially written.

use parley_tests::TestApp;
use reqwest::Method;
use serde_json::{json, Value};

const CONTACTS: &str = "/v1/whatsapp/contacts";
const NUMBERS: &str = "/api/v2/external/phone-numbers";

fn assert_v1_error(what: &str, status: u16, body: &Value, expected: u16, code: &str) {
    assert_eq!(status, expected, "{what}: {body}");
    assert_eq!(body["success"], false, "{what}: {body}");
    assert_eq!(body["code"], code, "{what}: {body}");
    assert!(
        body["error"].as_str().is_some_and(|m| !m.is_empty()),
        "{what}: {body}"
    );
}

fn assert_v2_error(what: &str, status: u16, body: &Value, expected: u16, code: &str) {
    assert_eq!(status, expected, "{what}: {body}");
    assert_eq!(body["success"], false, "{what}: {body}");
    assert_eq!(body["error"]["code"], code, "{what}: {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{what}: {body}"
    );
}

async fn create(app: &TestApp, phone: &str, name: &str) -> String {
    let (status, body) = app
        .send(app.request(Method::POST, CONTACTS).json(&json!({
            "accountId": app.workspace.phone_number.to_string(),
            "phone": phone, "name": name, "tags": ["t"], "groups": ["g"],
            "customFields": {"k": "v"}
        })))
        .await;
    assert_eq!(status, 200, "{body}");
    body["contact"]["id"].as_str().unwrap().to_string()
}

/// Everything the workspace can see of its contacts.
async fn contacts_state(app: &TestApp) -> Value {
    let (status, body) = app
        .send(app.request(
            Method::GET,
            &format!(
                "{CONTACTS}?accountId={}&limit=1000",
                app.workspace.phone_number
            ),
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn raw_json(app: &TestApp, method: Method, path: &str, text: &str) -> (u16, Value) {
    app.send(
        app.request(method, path)
            .header("content-type", "application/json")
            .body(text.to_string()),
    )
    .await
}

#[tokio::test]
async fn malformed_and_mistyped_bodies_are_400() {
    let app = TestApp::spawn().await;
    let account = app.workspace.phone_number.to_string();
    let id = create(&app, "+14155550001", "Ada").await;
    let before = contacts_state(&app).await;

    let bodies: Vec<(Method, String, String)> = vec![
        (Method::POST, CONTACTS.into(), "{".into()),
        (Method::POST, CONTACTS.into(), "not json".into()),
        (Method::POST, CONTACTS.into(), "".into()),
        (Method::POST, CONTACTS.into(), "[]".into()),
        (Method::POST, CONTACTS.into(), "null".into()),
        (
            Method::POST,
            CONTACTS.into(),
            format!(
                r#"{{"accountId":"{account}","phone":"+14155550002","name":"B","tags":"vip"}}"#
            ),
        ),
        (
            Method::POST,
            CONTACTS.into(),
            format!(
                r#"{{"accountId":"{account}","phone":"+14155550002","name":"B","isOptedIn":"yes"}}"#
            ),
        ),
        (
            Method::POST,
            CONTACTS.into(),
            format!(
                r#"{{"accountId":"{account}","phone":"+14155550002","name":"B","customFields":{{"a":1}}}}"#
            ),
        ),
        (
            Method::POST,
            CONTACTS.into(),
            format!(r#"{{"accountId":"{account}","phone":14155550002,"name":"B"}}"#),
        ),
        (
            Method::POST,
            CONTACTS.into(),
            format!(r#"{{"accountId":"{account}","phone":"+14155550002","name":5}}"#),
        ),
        (
            Method::POST,
            CONTACTS.into(),
            format!(r#"{{"accountId":"{account}","phone":"+14155550002"}}"#),
        ),
        (
            Method::POST,
            CONTACTS.into(),
            format!(r#"{{"accountId":"{account}","name":"B"}}"#),
        ),
        (
            Method::POST,
            CONTACTS.into(),
            r#"{"phone":"+14155550002","name":"B"}"#.into(),
        ),
        (
            Method::POST,
            CONTACTS.into(),
            format!(r#"{{"accountId":"{account}","phone":"+14155550002","name":"   "}}"#),
        ),
        (Method::PUT, format!("{CONTACTS}/{id}"), "{".into()),
        (
            Method::PUT,
            format!("{CONTACTS}/{id}"),
            r#"{"tags":"vip"}"#.into(),
        ),
        (
            Method::PUT,
            format!("{CONTACTS}/{id}"),
            r#"{"isOptedIn":"yes"}"#.into(),
        ),
        (
            Method::PUT,
            format!("{CONTACTS}/{id}"),
            r#"{"isBlocked":1}"#.into(),
        ),
        (
            Method::PUT,
            format!("{CONTACTS}/{id}"),
            r#"{"customFields":["a"]}"#.into(),
        ),
        (
            Method::PUT,
            format!("{CONTACTS}/{id}"),
            r#"{"name":""}"#.into(),
        ),
        (
            Method::PUT,
            format!("{CONTACTS}/{id}"),
            r#"{"tags":["ok", 5]}"#.into(),
        ),
        (Method::POST, format!("{CONTACTS}/import"), "{".into()),
        (
            Method::POST,
            format!("{CONTACTS}/import"),
            format!(r#"{{"accountId":"{account}"}}"#),
        ),
        (
            Method::POST,
            format!("{CONTACTS}/import"),
            format!(r#"{{"accountId":"{account}","contacts":[]}}"#),
        ),
        (
            Method::POST,
            format!("{CONTACTS}/import"),
            format!(r#"{{"accountId":"{account}","contacts":"x"}}"#),
        ),
        (
            Method::POST,
            format!("{CONTACTS}/import"),
            format!(
                r#"{{"accountId":"{account}","contacts":[{{"phone":"+14155550003","name":"C"}},{{"phone":"+14155550004"}}]}}"#
            ),
        ),
        (
            Method::POST,
            format!("{CONTACTS}/import"),
            format!(
                r#"{{"accountId":"{account}","contacts":[{{"phone":"+14155550003","name":"C"}}],"skipDuplicates":"no"}}"#
            ),
        ),
        (Method::POST, format!("{CONTACTS}/bulk"), "{".into()),
        (
            Method::POST,
            format!("{CONTACTS}/bulk"),
            format!(r#"{{"contactIds":["{id}"]}}"#),
        ),
        (
            Method::POST,
            format!("{CONTACTS}/bulk"),
            r#"{"action":"block"}"#.into(),
        ),
        (
            Method::POST,
            format!("{CONTACTS}/bulk"),
            format!(r#"{{"action":"block","contactIds":"{id}"}}"#),
        ),
        (
            Method::POST,
            format!("{CONTACTS}/bulk"),
            format!(r#"{{"action":"nuke","contactIds":["{id}"]}}"#),
        ),
        (
            Method::POST,
            format!("{CONTACTS}/bulk"),
            format!(r#"{{"action":"addTags","contactIds":["{id}"],"tags":"vip"}}"#),
        ),
        (
            Method::POST,
            format!("{CONTACTS}/bulk"),
            format!(r#"{{"action":"removeGroups","contactIds":["{id}"]}}"#),
        ),
        (Method::DELETE, format!("{CONTACTS}/bulk"), "{}".into()),
        (
            Method::DELETE,
            format!("{CONTACTS}/bulk"),
            r#"{"contactIds":[]}"#.into(),
        ),
        (
            Method::POST,
            "/v1/whatsapp/groups".into(),
            format!(r#"{{"accountId":"{account}","oldName":"g"}}"#),
        ),
        (
            Method::POST,
            "/v1/whatsapp/groups".into(),
            format!(r#"{{"accountId":"{account}","oldName":"g","newName":""}}"#),
        ),
        (
            Method::POST,
            "/v1/whatsapp/groups".into(),
            format!(r#"{{"accountId":"{account}","oldName":"g","newName":"g"}}"#),
        ),
        (
            Method::DELETE,
            "/v1/whatsapp/groups".into(),
            format!(r#"{{"accountId":"{account}"}}"#),
        ),
        (
            Method::DELETE,
            "/v1/whatsapp/groups".into(),
            format!(r#"{{"accountId":"{account}","groupName":"  "}}"#),
        ),
        (
            Method::DELETE,
            "/v1/whatsapp/groups".into(),
            r#"{"groupName":"g"}"#.into(),
        ),
    ];
    for (method, path, text) in bodies {
        let (status, body) = raw_json(&app, method.clone(), &path, &text).await;
        assert_v1_error(
            &format!("{method} {path} {text}"),
            status,
            &body,
            400,
            "VALIDATION_ERROR",
        );
    }
    assert_eq!(contacts_state(&app).await, before, "nothing was written");
    // The message names the offending field.
    let (_, body) = raw_json(
        &app,
        Method::PUT,
        &format!("{CONTACTS}/{id}"),
        r#"{"tags":"vip"}"#,
    )
    .await;
    assert!(body["error"].as_str().unwrap().contains("tags"), "{body}");
    let (_, body) = raw_json(
        &app,
        Method::PUT,
        &format!("{CONTACTS}/{id}"),
        r#"{"isOptedIn":"yes"}"#,
    )
    .await;
    assert!(
        body["error"].as_str().unwrap().contains("isOptedIn"),
        "{body}"
    );

    let v2: Vec<(Method, String, &str)> = vec![
        (Method::POST, NUMBERS.into(), "{"),
        (Method::POST, NUMBERS.into(), "[1]"),
        (
            Method::POST,
            NUMBERS.into(),
            r#"{"phoneNumberId":"123456789012345"}"#,
        ),
        (
            Method::POST,
            NUMBERS.into(),
            r#"{"phoneNumberId":123,"wabaId":"1","phoneNumber":"+14155550100"}"#,
        ),
        (
            Method::PATCH,
            format!("{NUMBERS}/{}", app.workspace.phone_number),
            r#"{"displayName":5}"#,
        ),
        (
            Method::PATCH,
            format!("{NUMBERS}/{}", app.workspace.phone_number),
            "nope",
        ),
    ];
    for (method, path, text) in v2 {
        let (status, body) = raw_json(&app, method.clone(), &path, text).await;
        assert_v2_error(
            &format!("{method} {path} {text}"),
            status,
            &body,
            400,
            "VALIDATION_ERROR",
        );
    }
    let (_, list) = app.send(app.request(Method::GET, NUMBERS)).await;
    assert_eq!(list["data"]["phoneNumbers"][0]["displayName"], "Test");

    // A body that is not declared JSON is refused in the surface's format too.
    let (status, body) = app
        .send(
            app.request(Method::POST, CONTACTS)
                .header("content-type", "text/plain")
                .body(format!(
                    r#"{{"accountId":"{account}","phone":"+14155550002","name":"B"}}"#
                )),
        )
        .await;
    assert!((400..500).contains(&status), "{status} {body}");
    assert_eq!(body["success"], false, "{body}");
    assert!(body["code"].is_string(), "{body}");
    assert_eq!(contacts_state(&app).await, before);
}

#[tokio::test]
async fn bad_query_parameters_are_400() {
    let app = TestApp::spawn().await;
    let account = app.workspace.phone_number;
    for query in [
        format!("accountId={account}&limit=abc"),
        format!("accountId={account}&limit=0"),
        format!("accountId={account}&limit=-1"),
        format!("accountId={account}&limit=1.5"),
        format!("accountId={account}&limit=1001"),
        format!("accountId={account}&limit=99999999999999999999999"),
        format!("accountId={account}&skip=-1"),
        format!("accountId={account}&skip=x"),
        format!("accountId={account}&optedIn=yes"),
        "".to_string(),
        "accountId=".to_string(),
    ] {
        let (status, body) = app
            .send(app.request(Method::GET, &format!("{CONTACTS}?{query}")))
            .await;
        assert_v1_error(&query, status, &body, 400, "VALIDATION_ERROR");
    }
    let (status, body) = app
        .send(app.request(Method::GET, "/v1/whatsapp/groups"))
        .await;
    assert_v1_error(
        "groups without accountId",
        status,
        &body,
        400,
        "VALIDATION_ERROR",
    );

    // Odd but harmless search text is just text.
    for search in [
        "%25",
        "%27%3B%20DROP%20TABLE%20events%3B--",
        "%5C",
        "%E2%9C%93",
        "%00",
    ] {
        let (status, body) = app
            .send(app.request(
                Method::GET,
                &format!("{CONTACTS}?accountId={account}&search={search}&tag={search}"),
            ))
            .await;
        assert!(
            status == 200 || status == 400,
            "search={search}: {status} {body}"
        );
        assert_ne!(body, Value::Null, "search={search}");
        if status == 200 {
            assert_eq!(body["pagination"]["total"], 0, "search={search}");
        } else {
            assert_v1_error(search, status, &body, 400, "VALIDATION_ERROR");
        }
    }
}

#[tokio::test]
async fn invalid_phone_numbers_are_refused_everywhere() {
    let app = TestApp::spawn().await;
    let account = app.workspace.phone_number.to_string();
    let phones = [
        "14155550123",
        "+1 415 555 0123",
        "+1-415-555-0123",
        "+(1)4155550123",
        "+0123456789",
        "+123456",
        "+1234567890123456",
        "+1415555O123",
        "++14155550123",
        "",
        "phone",
    ];
    for phone in phones {
        let (status, body) = app
            .send(app.request(Method::POST, CONTACTS).json(&json!({
                "accountId": account, "phone": phone, "name": "X"
            })))
            .await;
        assert_eq!(status, 400, "{phone:?}: {body}");
        assert_eq!(body["success"], false);
        assert!(
            body["code"] == "INVALID_PHONE_NUMBER"
                || (phone.is_empty() && body["code"] == "VALIDATION_ERROR"),
            "{phone:?}: {body}"
        );
        let (status, body) = app
            .send(app.request(Method::POST, NUMBERS).json(&json!({
                "phoneNumberId": "123456789012399", "wabaId": "1234567", "phoneNumber": phone
            })))
            .await;
        assert_eq!(status, 400, "{phone:?}: {body}");
        assert!(
            body["error"]["code"] == "INVALID_PHONE_NUMBER"
                || (phone.is_empty() && body["error"]["code"] == "VALIDATION_ERROR"),
            "{phone:?}: {body}"
        );
    }
    // In an import, each bad row fails on its own.
    let rows: Vec<Value> = phones
        .iter()
        .map(|p| json!({"phone": p, "name": "X"}))
        .chain([json!({"phone": "+14155550123", "name": "Good"})])
        .collect();
    let (status, body) = app
        .send(
            app.request(Method::POST, &format!("{CONTACTS}/import"))
                .json(&json!({"accountId": account, "contacts": rows})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["summary"]["failed"], phones.len());
    assert_eq!(body["summary"]["created"], 1);
    for (row, phone) in body["results"].as_array().unwrap().iter().zip(phones) {
        assert_eq!(row["phone"], phone);
        assert_eq!(row["success"], false);
        assert!(row["error"].is_string(), "{row}");
    }
    let state = contacts_state(&app).await;
    assert_eq!(state["pagination"]["total"], 1);
    let (_, list) = app.send(app.request(Method::GET, NUMBERS)).await;
    assert_eq!(list["data"]["phoneNumbers"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn unknown_foreign_and_malformed_ids_are_404() {
    let app = TestApp::spawn().await;
    let other = app.another_workspace().await;
    let foreign = {
        let (status, body) = app
            .send(
                app.request_as(&other, Method::POST, CONTACTS)
                    .json(&json!({"accountId": other.phone_number.to_string(),
                                  "phone": "+14155550777", "name": "Theirs"})),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["contact"]["id"].as_str().unwrap().to_string()
    };
    let unknown = uuid::Uuid::new_v4().to_string();
    for id in [
        unknown.as_str(),
        foreign.as_str(),
        "not-a-uuid",
        "123",
        "%20",
        "00000000-0000-0000-0000-00000000000g",
        "%E2%9C%93",
        "%FF",
        "%C0%AF",
    ] {
        for (method, body) in [
            (Method::GET, None),
            (Method::PUT, Some(json!({"name": "Mine now"}))),
            (Method::DELETE, None),
        ] {
            let mut request = app.request(method.clone(), &format!("{CONTACTS}/{id}"));
            if let Some(body) = &body {
                request = request.json(body);
            }
            let (status, answer) = app.send(request).await;
            assert_v1_error(
                &format!("{method} contact {id}"),
                status,
                &answer,
                404,
                "NOT_FOUND",
            );
        }
        for (method, body) in [
            (Method::GET, None),
            (Method::PATCH, Some(json!({"displayName": "Mine now"}))),
            (Method::DELETE, None),
        ] {
            let mut request = app.request(method.clone(), &format!("{NUMBERS}/{id}"));
            if let Some(body) = &body {
                request = request.json(body);
            }
            let (status, answer) = app.send(request).await;
            assert_v2_error(
                &format!("{method} number {id}"),
                status,
                &answer,
                404,
                "NOT_FOUND",
            );
        }
    }
    // Unknown, foreign and malformed accounts.
    for account in [
        unknown.clone(),
        other.phone_number.to_string(),
        "acc_1".into(),
    ] {
        let (status, body) = app
            .send(app.request(Method::GET, &format!("{CONTACTS}?accountId={account}")))
            .await;
        assert_v1_error(&account, status, &body, 404, "NOT_FOUND");
        let (status, body) = app
            .send(app.request(
                Method::GET,
                &format!("/v1/whatsapp/groups?accountId={account}"),
            ))
            .await;
        assert_v1_error(&account, status, &body, 404, "NOT_FOUND");
        for (method, path, body) in [
            (
                Method::POST,
                CONTACTS.to_string(),
                json!({"accountId": account, "phone": "+14155550001", "name": "X"}),
            ),
            (
                Method::POST,
                format!("{CONTACTS}/import"),
                json!({"accountId": account, "contacts": [{"phone": "+14155550001", "name": "X"}]}),
            ),
            (
                Method::POST,
                "/v1/whatsapp/groups".to_string(),
                json!({"accountId": account, "oldName": "a", "newName": "b"}),
            ),
            (
                Method::DELETE,
                "/v1/whatsapp/groups".to_string(),
                json!({"accountId": account, "groupName": "a"}),
            ),
            (
                Method::POST,
                "/v1/whatsapp/templates".to_string(),
                json!({"accountId": account, "name": "x", "category": "UTILITY",
                       "language": "en_US", "components": [{"type": "BODY", "text": "Hi"}]}),
            ),
            (
                Method::POST,
                "/v1/whatsapp/broadcasts".to_string(),
                json!({"accountId": account, "name": "X",
                       "template": {"name": "x", "language": "en_US"}}),
            ),
            (
                Method::POST,
                "/v1/whatsapp/business-profile".to_string(),
                json!({"accountId": account, "about": "Hi"}),
            ),
        ] {
            let (status, answer) = app
                .send(app.request(method.clone(), &path).json(&body))
                .await;
            let what = format!("{method} {path} {account}");
            assert_v1_error(&what, status, &answer, 404, "NOT_FOUND");
            assert_eq!(answer["error"], "WhatsApp account not found", "{what}");
        }
        for path in ["templates", "broadcasts", "business-profile"] {
            let path = format!("/v1/whatsapp/{path}?accountId={account}");
            let (status, answer) = app.send(app.request(Method::GET, &path)).await;
            assert_v1_error(&path, status, &answer, 404, "NOT_FOUND");
            assert_eq!(answer["error"], "WhatsApp account not found", "{path}");
        }
    }
    // Unknown routes answer in the surface's format.
    let (status, body) = app
        .send(app.request(Method::GET, "/v1/whatsapp/nothing"))
        .await;
    assert_v1_error("unknown v1 route", status, &body, 404, "NOT_FOUND");
    let (status, body) = app
        .send(app.request(Method::GET, "/api/v2/external/nothing"))
        .await;
    assert_v2_error("unknown v2 route", status, &body, 404, "NOT_FOUND");

    // The other workspace's contact is untouched.
    let (status, body) = app
        .send(app.request_as(&other, Method::GET, &format!("{CONTACTS}/{foreign}")))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["contact"]["name"], "Theirs");
    assert_eq!(contacts_state(&app).await["pagination"]["total"], 0);
}

#[tokio::test]
async fn oversized_bodies_and_batches_are_refused_whole() {
    let app = TestApp::spawn().await;
    let account = app.workspace.phone_number.to_string();
    let a = create(&app, "+14155550001", "A").await;
    let b = create(&app, "+14155550002", "B").await;
    let before = contacts_state(&app).await;

    // Over 1 MiB: 413 in the surface's format.
    let big = "x".repeat(1024 * 1024 + 10);
    let (status, body) = app
        .send(app.request(Method::POST, CONTACTS).json(&json!({
            "accountId": account, "phone": "+14155550003", "name": "Big", "notes": big
        })))
        .await;
    assert_v1_error("big contact", status, &body, 413, "PAYLOAD_TOO_LARGE");
    let (status, body) = app
        .send(app.request(Method::POST, NUMBERS).json(&json!({
            "phoneNumberId": "123456789012398", "wabaId": "1234567",
            "phoneNumber": "+14155550100", "displayName": big
        })))
        .await;
    assert_v2_error("big number", status, &body, 413, "PAYLOAD_TOO_LARGE");
    // An operation whose body is optional refuses the same way, and asks for JSON when it has one.
    let request_code = format!("/v1/whatsapp/phone-numbers/{account}/request-code");
    let (status, body) = app
        .send(
            app.request(Method::POST, &request_code)
                .json(&json!({"method": "SMS", "language": big})),
        )
        .await;
    assert_v1_error("big request-code", status, &body, 413, "PAYLOAD_TOO_LARGE");
    let (status, body) = app
        .send(
            app.request(Method::POST, &request_code)
                .header("content-type", "text/plain")
                .body(r#"{"method": "SMS"}"#),
        )
        .await;
    assert_v1_error(
        "text request-code",
        status,
        &body,
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    );
    let rows: Vec<Value> = (0..900)
        .map(|i| json!({"phone": format!("+1415700{i:04}"), "name": "y".repeat(1200)}))
        .collect();
    let (status, body) = app
        .send(
            app.request(Method::POST, &format!("{CONTACTS}/import"))
                .json(&json!({"accountId": account, "contacts": rows})),
        )
        .await;
    assert_v1_error("big import", status, &body, 413, "PAYLOAD_TOO_LARGE");

    // Too many rows or ids: 400, nothing done.
    let rows: Vec<Value> = (0..1001)
        .map(|i| json!({"phone": format!("+1415700{i:04}"), "name": "Row"}))
        .collect();
    let (status, body) = app
        .send(
            app.request(Method::POST, &format!("{CONTACTS}/import"))
                .json(&json!({"accountId": account, "contacts": rows})),
        )
        .await;
    assert_v1_error("1001 rows", status, &body, 400, "VALIDATION_ERROR");
    let mut ids: Vec<String> = vec![a.clone(), b.clone()];
    ids.extend((0..499).map(|_| uuid::Uuid::new_v4().to_string()));
    for request in [
        json!({"action": "block", "contactIds": ids}),
        json!({"action": "addTags", "contactIds": ids, "tags": ["x"]}),
    ] {
        let (status, body) = app
            .send(
                app.request(Method::POST, &format!("{CONTACTS}/bulk"))
                    .json(&request),
            )
            .await;
        assert_v1_error("501 ids", status, &body, 400, "VALIDATION_ERROR");
    }
    let (status, body) = app
        .send(
            app.request(Method::DELETE, &format!("{CONTACTS}/bulk"))
                .json(&json!({"contactIds": ids})),
        )
        .await;
    assert_v1_error("501 ids delete", status, &body, 400, "VALIDATION_ERROR");
    // A bad action with good ids: nothing changes.
    let (status, body) = app
        .send(
            app.request(Method::POST, &format!("{CONTACTS}/bulk"))
                .json(&json!({"action": "Block", "contactIds": [a, b]})),
        )
        .await;
    assert_v1_error("bad action", status, &body, 400, "VALIDATION_ERROR");
    // Oversized fields within the limit are validation errors, not database errors.
    let (status, body) = app
        .send(
            app.request(Method::PUT, &format!("{CONTACTS}/{a}"))
                .json(&json!({"name": "n".repeat(100_000)})),
        )
        .await;
    assert_v1_error("huge name", status, &body, 400, "VALIDATION_ERROR");
    assert_eq!(contacts_state(&app).await, before, "nothing was written");

    // Exactly 500 ids and 1000 rows are fine.
    let mut ids: Vec<String> = vec![a.clone(), b.clone()];
    ids.extend((0..498).map(|_| uuid::Uuid::new_v4().to_string()));
    let (status, body) = app
        .send(
            app.request(Method::POST, &format!("{CONTACTS}/bulk"))
                .json(&json!({"action": "block", "contactIds": ids})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["matched"], 2);
}

#[tokio::test]
async fn nul_characters_are_refused_not_a_server_error() {
    let app = TestApp::spawn().await;
    let account = app.workspace.phone_number.to_string();
    let id = create(&app, "+14155550001", "A").await;
    let before = contacts_state(&app).await;
    for body in [
        json!({"accountId": account, "phone": "+14155550002", "name": "A\u{0}B"}),
        json!({"accountId": account, "phone": "+14155550002", "name": "B", "tags": ["\u{0}"]}),
        json!({"accountId": account, "phone": "+14155550002", "name": "B",
               "customFields": {"k\u{0}": "v"}}),
    ] {
        let (status, answer) = app
            .send(app.request(Method::POST, CONTACTS).json(&body))
            .await;
        assert_v1_error(&body.to_string(), status, &answer, 400, "VALIDATION_ERROR");
    }
    let (status, answer) = app
        .send(
            app.request(Method::PUT, &format!("{CONTACTS}/{id}"))
                .json(&json!({"notes": "x\u{0}y"})),
        )
        .await;
    assert_v1_error("nul notes", status, &answer, 400, "VALIDATION_ERROR");
    let (status, answer) = app
        .send(app.request(Method::POST, NUMBERS).json(&json!({
            "phoneNumberId": "123456789012397", "wabaId": "1234567",
            "phoneNumber": "+14155550100", "displayName": "a\u{0}"
        })))
        .await;
    assert_v2_error("nul display name", status, &answer, 400, "VALIDATION_ERROR");
    assert_eq!(contacts_state(&app).await, before);
}

#[tokio::test]
async fn a_bulk_call_refused_for_one_contact_changes_none() {
    let app = TestApp::spawn().await;
    let account = app.workspace.phone_number.to_string();
    let full: Vec<String> = (0..99).map(|i| format!("tag{i}")).collect();
    let (status, body) = app
        .send(app.request(Method::POST, CONTACTS).json(&json!({
            "accountId": account, "phone": "+14155550001", "name": "Full", "tags": full
        })))
        .await;
    assert_eq!(status, 200, "{body}");
    let a = body["contact"]["id"].as_str().unwrap().to_string();
    let b = create(&app, "+14155550002", "B").await;
    let before = contacts_state(&app).await;
    let db = app.db().await;
    let count = "SELECT count(*) FROM events";
    let events: i64 = db.query_one(count, &[]).await.unwrap().get(0);
    // 101 tags would be too many for the first contact only.
    let (status, body) = app
        .send(
            app.request(Method::POST, &format!("{CONTACTS}/bulk"))
                .json(&json!({"action": "addTags", "contactIds": [a, b], "tags": ["x", "y"]})),
        )
        .await;
    assert_v1_error("too many tags", status, &body, 400, "VALIDATION_ERROR");
    // A label that is too long for everyone.
    let (status, body) = app
        .send(
            app.request(Method::POST, &format!("{CONTACTS}/bulk"))
                .json(&json!({"action": "addGroups", "contactIds": [a, b],
                              "groups": ["g".repeat(101)]})),
        )
        .await;
    assert_v1_error("long group", status, &body, 400, "VALIDATION_ERROR");
    let (status, body) = app
        .send(
            app.request(Method::POST, "/v1/whatsapp/groups")
                .json(&json!({
                    "accountId": account, "oldName": "g", "newName": "n".repeat(101)
                })),
        )
        .await;
    assert_v1_error("long group name", status, &body, 400, "VALIDATION_ERROR");
    let after: i64 = db.query_one(count, &[]).await.unwrap().get(0);
    assert_eq!(after, events, "no event was written");
    assert_eq!(contacts_state(&app).await, before, "no contact changed");
}

#[tokio::test]
async fn a_wrong_method_on_a_known_path_is_405_in_the_surface_format() {
    let app = TestApp::spawn().await;
    let (status, body) = app.send(app.request(Method::PATCH, CONTACTS)).await;
    assert_v1_error("PATCH contacts", status, &body, 405, "METHOD_NOT_ALLOWED");
    let (status, body) = app.send(app.request(Method::PUT, NUMBERS)).await;
    assert_v2_error(
        "PUT phone numbers",
        status,
        &body,
        405,
        "METHOD_NOT_ALLOWED",
    );
}

#[tokio::test]
async fn graphql_input_with_nul_characters_is_refused_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let account = app.workspace.phone_number.to_string();
    let before = contacts_state(&app).await;
    let mutation = "mutation($input: CreateContactInput!) { createContact(input: $input) { id } }";
    let by_variable = json!({"query": mutation, "variables": {"input": {
        "accountId": account, "phone": "+14155550003", "name": "A\u{0}B"}}});
    let inline = format!(
        "mutation {{ createContact(input: {{ accountId: \"{account}\", phone: \"+14155550004\", name: \"A\\u0000B\" }}) {{ id }} }}"
    );
    for request in [by_variable, json!({ "query": inline })] {
        let (status, body) = app
            .send(app.request(Method::POST, "/graphql").json(&request))
            .await;
        assert_eq!(status, 400, "{request}: {body}");
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "VALIDATION_ERROR",
            "{body}"
        );
    }
    assert_eq!(contacts_state(&app).await, before);
}

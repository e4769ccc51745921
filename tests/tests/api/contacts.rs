//! Tests: the WhatsApp contacts and groups API (seed 001) as a user sees it.

use parley_tests::TestApp;
use reqwest::Method;
use serde_json::{json, Value};

/// Creates a contact on the default workspace's number; returns its id.
async fn create(app: &TestApp, body: Value) -> String {
    let mut body = body;
    body["accountId"] = json!(app.workspace.phone_number.to_string());
    let (status, created) = app
        .send(
            app.request(Method::POST, "/v1/whatsapp/contacts")
                .json(&body),
        )
        .await;
    assert_eq!(status, 200, "{created}");
    created["contact"]["id"].as_str().unwrap().to_string()
}

async fn get(app: &TestApp, id: &str) -> (u16, Value) {
    app.send(app.request(Method::GET, &format!("/v1/whatsapp/contacts/{id}")))
        .await
}

async fn list(app: &TestApp, query: &str) -> Value {
    let account = app.workspace.phone_number;
    let (status, body) = app
        .send(app.request(
            Method::GET,
            &format!("/v1/whatsapp/contacts?accountId={account}{query}"),
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

fn names(list: &Value) -> Vec<String> {
    list["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect()
}

async fn groups(app: &TestApp, account: &str) -> Value {
    let url = format!("/v1/whatsapp/groups?accountId={account}");
    let (status, body) = app.send(app.request(Method::GET, &url)).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn bulk(app: &TestApp, body: Value) -> (u16, Value) {
    app.send(
        app.request(Method::POST, "/v1/whatsapp/contacts/bulk")
            .json(&body),
    )
    .await
}

#[tokio::test]
async fn a_created_contact_is_listed_at_once() {
    let app = TestApp::spawn().await;
    let account = app.workspace.phone_number.to_string();
    let (status, body) = app
        .send(
            app.request(Method::POST, "/v1/whatsapp/contacts")
                .json(&json!({
                    "accountId": account, "phone": "+14155550123", "name": "Ada Lovelace",
                    "tags": ["vip"], "groups": ["customers"], "customFields": {"plan": "pro"}
                })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["contact"]["phone"], "+14155550123");
    let (status, list) = app
        .send(app.request(
            Method::GET,
            &format!("/v1/whatsapp/contacts?accountId={account}"),
        ))
        .await;
    assert_eq!(status, 200);
    assert_eq!(list["pagination"]["total"], 1);
    assert_eq!(list["contacts"][0]["name"], "Ada Lovelace");
    assert_eq!(list["filters"]["tags"], json!(["vip"]));
}

#[tokio::test]
async fn create_answers_the_seed_shape_and_a_duplicate_phone_is_a_conflict() {
    let app = TestApp::spawn().await;
    let account = app.workspace.phone_number.to_string();
    let response = app
        .request(Method::POST, "/v1/whatsapp/contacts")
        .json(&json!({
            "accountId": account, "phone": "+14155550123", "name": "Ada Lovelace",
            "email": "ada@example.com", "company": "Analytical Engines",
            "tags": ["vip", "newsletter"], "groups": ["customers"],
            "customFields": {"plan": "pro"}, "notes": "first"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-parley-read-model"], "fresh");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["success"], true);
    let c = &body["contact"];
    assert!(c["id"].is_string());
    assert_eq!(c["accountId"], account);
    assert_eq!(c["phone"], "+14155550123");
    assert_eq!(c["waId"], "14155550123");
    assert_eq!(c["name"], "Ada Lovelace");
    assert_eq!(c["email"], "ada@example.com");
    assert_eq!(c["company"], "Analytical Engines");
    assert_eq!(c["tags"], json!(["vip", "newsletter"]));
    assert_eq!(c["groups"], json!(["customers"]));
    assert_eq!(c["isOptedIn"], true, "isOptedIn defaults to true");
    assert!(c["optInDate"].is_string());
    assert_eq!(c["isBlocked"], false);
    assert_eq!(c["messagesSentCount"], 0);
    assert_eq!(c["messagesReceivedCount"], 0);
    assert_eq!(c["customFields"], json!({"plan": "pro"}));
    assert_eq!(c["notes"], "first");
    assert!(c["createdAt"].is_string());
    assert!(c["updatedAt"].is_string());

    // Read-your-writes: the GET right after sees it, in the same shape.
    let id = c["id"].as_str().unwrap();
    let (status, got) = get(&app, id).await;
    assert_eq!(status, 200);
    assert_eq!(&got["contact"], c);

    let (status, dup) = app
        .send(
            app.request(Method::POST, "/v1/whatsapp/contacts")
                .json(&json!({"accountId": account, "phone": "+14155550123", "name": "Other"})),
        )
        .await;
    assert_eq!(status, 409, "{dup}");
    assert_eq!(dup["success"], false);
    assert_eq!(dup["code"], "CONFLICT");
    assert!(dup["error"].is_string());
    let (_, got) = get(&app, id).await;
    assert_eq!(
        got["contact"]["name"], "Ada Lovelace",
        "the first one stays"
    );

    // Opted out at creation: no opt-in date.
    let other = create(
        &app,
        json!({"phone": "+14155550124", "name": "Bob", "isOptedIn": false}),
    )
    .await;
    let (_, got) = get(&app, &other).await;
    assert_eq!(got["contact"]["isOptedIn"], false);
}

#[tokio::test]
async fn update_is_partial_replaces_labels_and_merges_custom_fields() {
    let app = TestApp::spawn().await;
    let id = create(
        &app,
        json!({
            "phone": "+14155550123", "name": "Ada", "email": "ada@example.com",
            "company": "AE", "tags": ["vip", "old"], "groups": ["customers"],
            "customFields": {"plan": "pro", "remove_me": "x"}, "notes": "n1"
        }),
    )
    .await;
    let response = app
        .request(Method::PUT, &format!("/v1/whatsapp/contacts/{id}"))
        .json(&json!({
            "name": "Ada Lovelace", "tags": ["premium"], "groups": ["a", "b"],
            "customFields": {"plan": "enterprise", "remove_me": null, "new": "1"}
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-parley-read-model"], "fresh");
    let updated: Value = response.json().await.unwrap();
    let (_, got) = get(&app, &id).await;
    let c = &got["contact"];
    assert_eq!(
        &updated["contact"], c,
        "the update answers the stored contact"
    );
    assert_eq!(c["name"], "Ada Lovelace");
    assert_eq!(c["email"], "ada@example.com", "untouched fields stay");
    assert_eq!(c["company"], "AE");
    assert_eq!(c["notes"], "n1");
    assert_eq!(c["tags"], json!(["premium"]));
    assert_eq!(c["groups"], json!(["a", "b"]));
    assert_eq!(
        c["customFields"],
        json!({"plan": "enterprise", "new": "1"}),
        "merged; null removes"
    );
    assert_eq!(c["isOptedIn"], true);
    assert!(c["optOutDate"].is_null());

    // Opting out stamps optOutDate.
    let (status, out) = app
        .send(
            app.request(Method::PUT, &format!("/v1/whatsapp/contacts/{id}"))
                .json(&json!({"isOptedIn": false})),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    let (_, got) = get(&app, &id).await;
    assert_eq!(got["contact"]["isOptedIn"], false);
    assert!(got["contact"]["optOutDate"].is_string(), "{got}");
    assert_eq!(got["contact"]["tags"], json!(["premium"]));
    let opt_in_before = got["contact"]["optInDate"].clone();

    // Opting back in stamps a new optInDate.
    app.send(
        app.request(Method::PUT, &format!("/v1/whatsapp/contacts/{id}"))
            .json(&json!({"isOptedIn": true})),
    )
    .await;
    let (_, got) = get(&app, &id).await;
    assert_eq!(got["contact"]["isOptedIn"], true);
    assert!(got["contact"]["optInDate"].is_string());
    assert_ne!(got["contact"]["optInDate"], opt_in_before);

    // Blocking and unblocking.
    app.send(
        app.request(Method::PUT, &format!("/v1/whatsapp/contacts/{id}"))
            .json(&json!({"isBlocked": true})),
    )
    .await;
    let (_, got) = get(&app, &id).await;
    assert_eq!(got["contact"]["isBlocked"], true);
    app.send(
        app.request(Method::PUT, &format!("/v1/whatsapp/contacts/{id}"))
            .json(&json!({"isBlocked": false})),
    )
    .await;
    let (_, got) = get(&app, &id).await;
    assert_eq!(got["contact"]["isBlocked"], false);

    // An empty update changes nothing and still answers the contact.
    let (status, same) = app
        .send(
            app.request(Method::PUT, &format!("/v1/whatsapp/contacts/{id}"))
                .json(&json!({})),
        )
        .await;
    assert_eq!(status, 200, "{same}");
    assert_eq!(same["contact"], got["contact"]);
}

#[tokio::test]
async fn a_deleted_contact_is_gone_and_its_phone_can_be_used_again() {
    let app = TestApp::spawn().await;
    let id = create(&app, json!({"phone": "+14155550123", "name": "Ada"})).await;
    let response = app
        .request(Method::DELETE, &format!("/v1/whatsapp/contacts/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-parley-read-model"], "fresh");
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({"success": true, "message": "Contact deleted successfully"})
    );
    let (status, got) = get(&app, &id).await;
    assert_eq!(status, 404, "{got}");
    assert_eq!(got["code"], "NOT_FOUND");
    assert_eq!(list(&app, "").await["pagination"]["total"], 0);
    let (status, _) = app
        .send(app.request(Method::DELETE, &format!("/v1/whatsapp/contacts/{id}")))
        .await;
    assert_eq!(status, 404, "deleting twice");
    let (status, _) = app
        .send(
            app.request(Method::PUT, &format!("/v1/whatsapp/contacts/{id}"))
                .json(&json!({"name": "x"})),
        )
        .await;
    assert_eq!(status, 404, "updating a deleted contact");
    let again = create(&app, json!({"phone": "+14155550123", "name": "Ada II"})).await;
    let (status, got) = get(&app, &again).await;
    assert_eq!(status, 200);
    assert_eq!(got["contact"]["name"], "Ada II");
    assert_eq!(got["contact"]["tags"], json!([]));
}

#[tokio::test]
async fn list_filters_paginates_and_offers_the_available_labels() {
    let app = TestApp::spawn().await;
    create(
        &app,
        json!({"phone": "+14155550001", "name": "Alice Smith", "email": "alice@acme.io",
               "company": "Acme", "tags": ["vip"], "groups": ["customers"]}),
    )
    .await;
    create(
        &app,
        json!({"phone": "+14155550002", "name": "Bob Jones", "company": "Globex",
               "tags": ["lead"], "groups": ["prospects"], "isOptedIn": false}),
    )
    .await;
    create(
        &app,
        json!({"phone": "+447700900003", "name": "Carol White", "email": "carol@example.org",
               "tags": ["vip", "lead"], "groups": ["customers", "prospects"]}),
    )
    .await;

    let all = list(&app, "").await;
    assert_eq!(all["success"], true);
    assert_eq!(
        names(&all),
        ["Alice Smith", "Bob Jones", "Carol White"],
        "sorted by name"
    );
    assert_eq!(
        all["pagination"],
        json!({"total": 3, "limit": 50, "skip": 0, "hasMore": false})
    );
    let mut tags: Vec<Value> = all["filters"]["tags"].as_array().unwrap().clone();
    tags.sort_by_key(|t| t.to_string());
    assert_eq!(tags, [json!("lead"), json!("vip")]);
    let mut groups: Vec<Value> = all["filters"]["groups"].as_array().unwrap().clone();
    groups.sort_by_key(|t| t.to_string());
    assert_eq!(groups, [json!("customers"), json!("prospects")]);

    // Search over name, phone, email and company, case-insensitively.
    assert_eq!(names(&list(&app, "&search=alice").await), ["Alice Smith"]);
    assert_eq!(names(&list(&app, "&search=JONES").await), ["Bob Jones"]);
    assert_eq!(names(&list(&app, "&search=7700900").await), ["Carol White"]);
    assert_eq!(
        names(&list(&app, "&search=example.org").await),
        ["Carol White"]
    );
    assert_eq!(names(&list(&app, "&search=globex").await), ["Bob Jones"]);
    assert_eq!(names(&list(&app, "&search=nobody").await).len(), 0);
    // Characters that mean something to SQL LIKE are taken literally.
    assert_eq!(names(&list(&app, "&search=%25").await).len(), 0);
    assert_eq!(names(&list(&app, "&search=_").await).len(), 0);

    assert_eq!(
        names(&list(&app, "&tag=vip").await),
        ["Alice Smith", "Carol White"]
    );
    assert_eq!(
        names(&list(&app, "&group=prospects").await),
        ["Bob Jones", "Carol White"]
    );
    assert_eq!(
        names(&list(&app, "&optedIn=true").await),
        ["Alice Smith", "Carol White"]
    );
    assert_eq!(names(&list(&app, "&optedIn=false").await), ["Bob Jones"]);
    let both = list(&app, "&tag=lead&group=customers&optedIn=true").await;
    assert_eq!(names(&both), ["Carol White"]);
    assert_eq!(both["pagination"]["total"], 1);
    // Filters do not narrow the offered labels.
    assert_eq!(both["filters"]["tags"].as_array().unwrap().len(), 2);

    let page = list(&app, "&limit=2").await;
    assert_eq!(names(&page), ["Alice Smith", "Bob Jones"]);
    assert_eq!(
        page["pagination"],
        json!({"total": 3, "limit": 2, "skip": 0, "hasMore": true})
    );
    let page = list(&app, "&limit=2&skip=2").await;
    assert_eq!(names(&page), ["Carol White"]);
    assert_eq!(
        page["pagination"],
        json!({"total": 3, "limit": 2, "skip": 2, "hasMore": false})
    );
    let page = list(&app, "&limit=2&skip=10").await;
    assert_eq!(names(&page).len(), 0);
    assert_eq!(page["pagination"]["total"], 3);
    assert_eq!(page["pagination"]["hasMore"], false);
    let page = list(&app, "&tag=vip&limit=1").await;
    assert_eq!(names(&page), ["Alice Smith"]);
    assert_eq!(page["pagination"]["total"], 2);
    assert_eq!(page["pagination"]["hasMore"], true);
}

#[tokio::test]
async fn import_creates_skips_and_fails_per_row() {
    let app = TestApp::spawn().await;
    let account = app.workspace.phone_number.to_string();
    let existing = create(
        &app,
        json!({"phone": "+14155550001", "name": "Existing", "tags": ["old"]}),
    )
    .await;
    let rows = json!([
        {"phone": "+14155550001", "name": "Dup"},
        {"phone": "+14155550002", "name": "New One", "tags": ["own"], "groups": ["g1"],
         "email": "n@example.com", "customFields": {"k": "v"}},
        {"phone": "12345", "name": "Bad Phone"},
        {"phone": "+14155550003", "name": "New Two"},
    ]);
    let response = app
        .request(Method::POST, "/v1/whatsapp/contacts/import")
        .json(&json!({
            "accountId": account, "contacts": rows,
            "defaultTags": ["imported"], "defaultGroups": ["new-leads"]
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-parley-read-model"], "fresh");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["success"], true);
    assert_eq!(
        body["summary"],
        json!({"total": 4, "created": 2, "skipped": 1, "failed": 1})
    );
    let results = body["results"].as_array().unwrap();
    assert_eq!(results[0]["phone"], "+14155550001");
    assert_eq!(results[0]["success"], false);
    assert_eq!(results[0]["contactId"], existing.as_str());
    assert!(results[0]["error"].is_string());
    assert_eq!(results[1]["success"], true);
    assert_eq!(results[1]["name"], "New One");
    assert_eq!(results[2]["phone"], "12345");
    assert_eq!(results[2]["success"], false);
    assert!(results[2]["error"].is_string());
    assert!(results[2].get("contactId").is_none() || results[2]["contactId"].is_null());
    assert_eq!(results[3]["success"], true);

    let new_one = results[1]["contactId"].as_str().unwrap();
    let (status, got) = get(&app, new_one).await;
    assert_eq!(status, 200);
    let c = &got["contact"];
    assert_eq!(c["tags"], json!(["own", "imported"]));
    assert_eq!(c["groups"], json!(["g1", "new-leads"]));
    assert_eq!(c["email"], "n@example.com");
    assert_eq!(c["customFields"], json!({"k": "v"}));
    assert_eq!(c["isOptedIn"], true);
    let (_, got) = get(&app, &existing).await;
    assert_eq!(
        got["contact"]["name"], "Existing",
        "a skipped row changes nothing"
    );
    assert_eq!(got["contact"]["tags"], json!(["old"]));
    assert_eq!(list(&app, "").await["pagination"]["total"], 3);
    assert_eq!(
        names(&list(&app, "&tag=imported").await),
        ["New One", "New Two"]
    );

    // skipDuplicates=false: duplicates fail instead.
    let (status, body) = app
        .send(
            app.request(Method::POST, "/v1/whatsapp/contacts/import")
                .json(&json!({
                    "accountId": account, "skipDuplicates": false,
                    "contacts": [{"phone": "+14155550001", "name": "Dup"},
                                 {"phone": "+14155550004", "name": "Fresh"}]
                })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["summary"],
        json!({"total": 2, "created": 1, "skipped": 0, "failed": 1})
    );
    assert_eq!(body["results"][0]["success"], false);
    assert!(body["results"][0]["error"].is_string());
    assert_eq!(body["results"][1]["success"], true);

    // More than 1000 rows: refused, nothing written.
    let many: Vec<Value> = (0..1001)
        .map(|i| json!({"phone": format!("+1415600{i:04}"), "name": format!("N{i}")}))
        .collect();
    let (status, body) = app
        .send(
            app.request(Method::POST, "/v1/whatsapp/contacts/import")
                .json(&json!({"accountId": account, "contacts": many})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "VALIDATION_ERROR");
    assert_eq!(list(&app, "").await["pagination"]["total"], 4);
}

#[tokio::test]
async fn bulk_actions_report_matched_and_modified() {
    let app = TestApp::spawn().await;
    let a = create(
        &app,
        json!({"phone": "+14155550001", "name": "A", "tags": ["vip"], "groups": ["g1"]}),
    )
    .await;
    let b = create(&app, json!({"phone": "+14155550002", "name": "B"})).await;
    let unknown = uuid::Uuid::new_v4().to_string();
    let ids = json!([a, b, unknown]);

    type Check = dyn Fn(&Value, &Value) -> bool;
    let cases: Vec<(Value, usize, &Check)> = vec![
        (
            json!({"action": "addTags", "contactIds": ids, "tags": ["vip", "new"]}),
            2,
            &|a, b| a["tags"] == json!(["vip", "new"]) && b["tags"] == json!(["vip", "new"]),
        ),
        (
            json!({"action": "removeTags", "contactIds": ids, "tags": ["vip"]}),
            2,
            &|a, b| a["tags"] == json!(["new"]) && b["tags"] == json!(["new"]),
        ),
        (
            json!({"action": "addGroups", "contactIds": ids, "groups": ["g1"]}),
            1,
            &|a, b| a["groups"] == json!(["g1"]) && b["groups"] == json!(["g1"]),
        ),
        (
            json!({"action": "removeGroups", "contactIds": ids, "groups": ["g1"]}),
            2,
            &|a, b| a["groups"] == json!([]) && b["groups"] == json!([]),
        ),
        (
            json!({"action": "optOut", "contactIds": ids}),
            2,
            &|a, b| {
                a["isOptedIn"] == false && b["isOptedIn"] == false && a["optOutDate"].is_string()
            },
        ),
        (
            json!({"action": "optOut", "contactIds": ids}),
            0,
            &|a, _| a["isOptedIn"] == false,
        ),
        (json!({"action": "optIn", "contactIds": ids}), 2, &|a, b| {
            a["isOptedIn"] == true && b["isOptedIn"] == true
        }),
        (json!({"action": "block", "contactIds": ids}), 2, &|a, b| {
            a["isBlocked"] == true && b["isBlocked"] == true
        }),
        (
            json!({"action": "unblock", "contactIds": ids}),
            2,
            &|a, b| a["isBlocked"] == false && b["isBlocked"] == false,
        ),
    ];
    for (request, modified, check) in cases {
        let (status, body) = bulk(&app, request.clone()).await;
        assert_eq!(status, 200, "{request}: {body}");
        assert_eq!(body["success"], true);
        assert_eq!(body["action"], request["action"]);
        assert_eq!(body["matched"], 2, "{request}: unknown ids are not matched");
        assert_eq!(body["modified"], modified, "{request}: {body}");
        let (_, ga) = get(&app, &a).await;
        let (_, gb) = get(&app, &b).await;
        assert!(
            check(&ga["contact"], &gb["contact"]),
            "{request}: {ga} {gb}"
        );
    }

    // Unknown ids only: nothing matched.
    let (status, body) = bulk(
        &app,
        json!({"action": "block", "contactIds": [unknown, "not-a-uuid"]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["matched"], 0);
    assert_eq!(body["modified"], 0);

    // Validation: tags missing for addTags, too many ids, unknown action.
    for request in [
        json!({"action": "addTags", "contactIds": [a]}),
        json!({"action": "addTags", "contactIds": [a], "tags": []}),
        json!({"action": "addGroups", "contactIds": [a], "tags": ["x"]}),
        json!({"action": "explode", "contactIds": [a]}),
        json!({"action": "block", "contactIds": []}),
        json!({"action": "block",
               "contactIds": (0..501).map(|_| a.clone()).collect::<Vec<_>>()}),
    ] {
        let (status, body) = bulk(&app, request.clone()).await;
        assert_eq!(status, 400, "{request}: {body}");
        assert_eq!(body["success"], false);
        assert_eq!(body["code"], "VALIDATION_ERROR");
    }
    let (_, ga) = get(&app, &a).await;
    assert_eq!(
        ga["contact"]["isBlocked"], false,
        "refused calls change nothing"
    );

    // Bulk delete.
    let response = app
        .request(Method::DELETE, "/v1/whatsapp/contacts/bulk")
        .json(&json!({"contactIds": [a, unknown, "junk"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-parley-read-model"], "fresh");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({"success": true, "deleted": 1}));
    assert_eq!(get(&app, &a).await.0, 404);
    assert_eq!(get(&app, &b).await.0, 200);
    let (status, body) = app
        .send(
            app.request(Method::DELETE, "/v1/whatsapp/contacts/bulk")
                .json(&json!({"contactIds": [a, b]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["deleted"], 1,
        "an already deleted contact is not counted"
    );
    assert_eq!(list(&app, "").await["pagination"]["total"], 0);
}

#[tokio::test]
async fn groups_are_listed_with_counts_renamed_and_deleted() {
    let app = TestApp::spawn().await;
    let account = app.workspace.phone_number.to_string();
    let a = create(
        &app,
        json!({"phone": "+14155550001", "name": "A", "groups": ["customers", "vip"]}),
    )
    .await;
    let b = create(
        &app,
        json!({"phone": "+14155550002", "name": "B", "groups": ["customers"], "isOptedIn": false}),
    )
    .await;
    create(&app, json!({"phone": "+14155550003", "name": "C"})).await;

    let body = groups(&app, &account).await;
    assert_eq!(body["success"], true);
    let mut listed = body["groups"].as_array().unwrap().clone();
    listed.sort_by_key(|g| g["name"].as_str().unwrap().to_string());
    assert_eq!(
        listed,
        [
            json!({"name": "customers", "totalCount": 2, "optedInCount": 1}),
            json!({"name": "vip", "totalCount": 1, "optedInCount": 1}),
        ]
    );
    assert_eq!(
        body["summary"],
        json!({"totalContacts": 3, "optedInContacts": 2, "groupCount": 2})
    );

    // Rename.
    let response = app
        .request(Method::POST, "/v1/whatsapp/groups")
        .json(&json!({"accountId": account, "oldName": "customers", "newName": "clients"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-parley-read-model"], "fresh");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["success"], true);
    assert_eq!(body["modified"], 2);
    assert!(body["message"].is_string());
    let (_, ga) = get(&app, &a).await;
    assert_eq!(ga["contact"]["groups"], json!(["clients", "vip"]));
    let (_, gb) = get(&app, &b).await;
    assert_eq!(gb["contact"]["groups"], json!(["clients"]));
    let names: Vec<Value> = groups(&app, &account).await["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].clone())
        .collect();
    assert!(names.contains(&json!("clients")) && !names.contains(&json!("customers")));

    // Renaming a group nobody has modifies nothing; same name is refused.
    let (status, body) = app
        .send(
            app.request(Method::POST, "/v1/whatsapp/groups")
                .json(&json!({"accountId": account, "oldName": "customers", "newName": "x"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["modified"], 0);
    let (status, body) = app
        .send(
            app.request(Method::POST, "/v1/whatsapp/groups")
                .json(&json!({"accountId": account, "oldName": "vip", "newName": "vip"})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "VALIDATION_ERROR");

    // Delete: the group goes, the contacts stay.
    let (status, body) = app
        .send(
            app.request(Method::DELETE, "/v1/whatsapp/groups")
                .json(&json!({"accountId": account, "groupName": "clients"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["modified"], 2);
    let (status, ga) = get(&app, &a).await;
    assert_eq!(status, 200);
    assert_eq!(ga["contact"]["groups"], json!(["vip"]));
    let (status, gb) = get(&app, &b).await;
    assert_eq!(status, 200);
    assert_eq!(gb["contact"]["groups"], json!([]));
    let body = groups(&app, &account).await;
    assert_eq!(
        body["groups"],
        json!([{"name": "vip", "totalCount": 1, "optedInCount": 1}])
    );
    assert_eq!(
        body["summary"],
        json!({"totalContacts": 3, "optedInContacts": 2, "groupCount": 1})
    );
}

#[tokio::test]
async fn the_same_phone_twice_at_once_is_created_once() {
    let app = TestApp::spawn().await;
    let account = app.workspace.phone_number.to_string();
    // Within one import.
    let (status, body) = app
        .send(
            app.request(Method::POST, "/v1/whatsapp/contacts/import")
                .json(&json!({
                    "accountId": account,
                    "contacts": [{"phone": "+14155550001", "name": "First"},
                                 {"phone": "+14155550001", "name": "Second"},
                                 {"phone": " +14155550001 ", "name": "Third"}]
                })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["summary"]["created"], 1, "{body}");
    assert_eq!(body["summary"]["skipped"], 2, "{body}");
    assert_eq!(list(&app, "").await["pagination"]["total"], 1);

    // Concurrent creates: one wins, the others are conflicts, never a server error.
    let requests = (0..6).map(|i| {
        app.send(
            app.request(Method::POST, "/v1/whatsapp/contacts")
                .json(&json!({"accountId": account, "phone": "+14155550002",
                              "name": format!("Racer {i}")})),
        )
    });
    let answers = futures::future::join_all(requests).await;
    let created = answers.iter().filter(|(s, _)| *s == 200).count();
    assert_eq!(created, 1, "{answers:?}");
    assert!(
        answers.iter().all(|(s, _)| *s == 200 || *s == 409),
        "{answers:?}"
    );
    assert_eq!(list(&app, "").await["pagination"]["total"], 2);

    // Concurrent bulk calls on the same contact all succeed, and none is lost.
    let id = body["results"][0]["contactId"]
        .as_str()
        .unwrap()
        .to_string();
    let requests = (0..4).map(|i| {
        bulk(
            &app,
            json!({"action": "addTags", "contactIds": [id], "tags": [format!("t{i}")]}),
        )
    });
    let answers = futures::future::join_all(requests).await;
    assert!(
        answers.iter().all(|(s, b)| *s == 200 && b["modified"] == 1),
        "{answers:?}"
    );
    let (_, got) = get(&app, &id).await;
    let mut tags: Vec<String> = got["contact"]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect();
    tags.sort();
    assert_eq!(tags, ["t0", "t1", "t2", "t3"]);
}

#[tokio::test]
async fn tags_and_groups_keep_quotes_backslashes_commas_and_braces() {
    let app = TestApp::spawn().await;
    let awkward = vec![
        "say \"hi\"".to_string(),
        "back\\slash".to_string(),
        "a,b".to_string(),
        "{braced}".to_string(),
        "NULL".to_string(),
        " spaced ".to_string(),
    ];
    let id = create(
        &app,
        json!({"phone": "+14155550177", "name": "Odd", "tags": awkward, "groups": awkward}),
    )
    .await;
    let (status, body) = get(&app, &id).await;
    assert_eq!(status, 200, "{body}");
    let mut expected: Vec<String> = awkward.iter().map(|t| t.trim().to_string()).collect();
    expected.sort();
    for field in ["tags", "groups"] {
        let mut got: Vec<String> = serde_json::from_value(body["contact"][field].clone()).unwrap();
        got.sort();
        assert_eq!(got, expected, "{field}: {body}");
    }
}

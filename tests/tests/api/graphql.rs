//! Tests: the GraphQL surface at `/graphql` (queries, mutations, errors, tenancy, SDL export).

use parley_tests::{TestApp, Workspace};
use reqwest::Method;
use serde_json::{json, Value};

const CONTACT_FIELDS: &str = "id accountId phone waId name email company tags groups isOptedIn \
                              isBlocked customFields { key value } notes createdAt updatedAt";

pub(crate) async fn gql_as(
    app: &TestApp,
    workspace: &Workspace,
    query: &str,
    variables: Value,
) -> Value {
    let (status, body) = app
        .send(
            app.request_as(workspace, Method::POST, "/graphql")
                .json(&json!({ "query": query, "variables": variables })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

pub(crate) async fn gql(app: &TestApp, query: &str, variables: Value) -> Value {
    gql_as(app, &app.workspace, query, variables).await
}

/// The data of a response that must have no errors.
pub(crate) fn data(body: Value) -> Value {
    assert!(body.get("errors").is_none(), "unexpected errors: {body}");
    body["data"].clone()
}

/// The `extensions.code` of the first error.
pub(crate) fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {body}"))
}

async fn create_contact(app: &TestApp, input: Value) -> Value {
    let query = format!(
        "mutation($input: CreateContactInput!) {{ createContact(input: $input) {{ {CONTACT_FIELDS} }} }}"
    );
    data(gql(app, &query, json!({ "input": input })).await)["createContact"].clone()
}

async fn import(app: &TestApp, account: &str, rows: Value) -> Value {
    let body = gql(
        app,
        "mutation($input: ImportContactsInput!) { importContacts(input: $input) {
            summary { total created skipped failed }
            results { phone name status success contactId error contact { id name } } } }",
        json!({ "input": { "accountId": account, "contacts": rows } }),
    )
    .await;
    data(body)["importContacts"].clone()
}

fn custom_fields(contact: &Value) -> Value {
    let mut map = serde_json::Map::new();
    for field in contact["customFields"].as_array().unwrap() {
        map.insert(
            field["key"].as_str().unwrap().to_string(),
            field["value"].clone(),
        );
    }
    Value::Object(map)
}

#[test]
fn the_exported_sdl_matches_the_schema() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../schema/graphql/schema.graphql"
    );
    let sdl = graphql::sdl();
    if std::env::var("UPDATE_SCHEMA").as_deref() == Ok("1") {
        std::fs::write(path, &sdl).expect("write schema/graphql/schema.graphql");
        return;
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == sdl,
        "schema/graphql/schema.graphql drifted from graphql::sdl(); rerun this test with UPDATE_SCHEMA=1"
    );
}

#[test]
fn the_schema_never_exposes_an_access_token_field() {
    let sdl = graphql::sdl();
    let phone_number = sdl
        .split("type PhoneNumber {")
        .nth(1)
        .and_then(|rest| rest.split('}').next())
        .expect("type PhoneNumber in the SDL");
    assert!(phone_number.contains("hasAccessToken: Boolean!"));
    assert!(!phone_number.contains("accessToken:"), "{phone_number}");
}

#[tokio::test]
async fn a_contact_is_created_read_updated_and_deleted() {
    let app = TestApp::spawn().await;
    let account = app.workspace.phone_number.to_string();
    let created = create_contact(
        &app,
        json!({
            "accountId": account, "phone": "+14155550123", "name": "Ada Lovelace",
            "email": "ada@example.com", "tags": ["vip"], "groups": ["customers"],
            "customFields": [{"key": "plan", "value": "pro"}, {"key": "tier", "value": "gold"}]
        }),
    )
    .await;
    assert_eq!(created["phone"], "+14155550123");
    assert_eq!(created["accountId"], account);
    assert_eq!(created["isOptedIn"], true);
    assert_eq!(
        custom_fields(&created),
        json!({"plan": "pro", "tier": "gold"})
    );
    let id = created["id"].as_str().unwrap().to_string();

    let query = format!("query($id: ID!) {{ contact(id: $id) {{ {CONTACT_FIELDS} }} }}");
    let read = data(gql(&app, &query, json!({ "id": id })).await)["contact"].clone();
    assert_eq!(read, created);

    let listed = data(
        gql(
            &app,
            "query($a: ID!) { contacts(accountId: $a) { totalCount edges { node { id name } } } }",
            json!({ "a": account }),
        )
        .await,
    );
    assert_eq!(listed["contacts"]["totalCount"], 1);
    assert_eq!(listed["contacts"]["edges"][0]["node"]["id"], id);

    // Custom fields merge; a null value removes a field; tags replace.
    let update = format!(
        "mutation($id: ID!, $input: UpdateContactInput!) {{ updateContact(id: $id, input: $input) {{ {CONTACT_FIELDS} }} }}"
    );
    let updated = data(
        gql(
            &app,
            &update,
            json!({ "id": id, "input": {
                "name": "Ada King", "tags": ["vip", "newsletter"], "isBlocked": true,
                "customFields": [{"key": "tier", "value": null}, {"key": "city", "value": "London"}]
            }}),
        )
        .await,
    )["updateContact"]
        .clone();
    assert_eq!(updated["name"], "Ada King");
    assert_eq!(updated["email"], "ada@example.com");
    assert_eq!(updated["isBlocked"], true);
    let mut tags: Vec<String> = serde_json::from_value(updated["tags"].clone()).unwrap();
    tags.sort();
    assert_eq!(tags, ["newsletter", "vip"]);
    assert_eq!(
        custom_fields(&updated),
        json!({"city": "London", "plan": "pro"})
    );

    let deleted = data(
        gql(
            &app,
            "mutation($id: ID!) { deleteContact(id: $id) }",
            json!({ "id": id }),
        )
        .await,
    );
    assert_eq!(deleted["deleteContact"], id);
    let gone = gql(&app, &query, json!({ "id": id })).await;
    assert_eq!(code(&gone), "NOT_FOUND", "{gone}");
    assert_eq!(gone["data"]["contact"], Value::Null);
}

#[tokio::test]
async fn contacts_page_by_cursor() {
    let app = TestApp::spawn().await;
    let account = app.workspace.phone_number.to_string();
    let rows: Vec<Value> = ["Eve", "Bob", "Dan", "Ann", "Cid"]
        .iter()
        .enumerate()
        .map(|(i, name)| json!({ "phone": format!("+1415555010{i}"), "name": name, "tags": ["t"] }))
        .collect();
    let imported = import(&app, &account, json!(rows)).await;
    assert_eq!(imported["summary"]["created"], 5, "{imported}");

    let query = "query($a: ID!, $after: String) {
        contacts(accountId: $a, first: 2, after: $after) {
            totalCount pageInfo { hasNextPage endCursor } edges { cursor node { name } } } }";
    let mut after = Value::Null;
    let mut names = Vec::new();
    let mut pages = Vec::new();
    loop {
        let page = data(gql(&app, query, json!({ "a": account, "after": after })).await)
            ["contacts"]
            .clone();
        assert_eq!(page["totalCount"], 5);
        let edges = page["edges"].as_array().unwrap();
        pages.push(edges.len());
        for edge in edges {
            names.push(edge["node"]["name"].as_str().unwrap().to_string());
        }
        assert_eq!(
            page["pageInfo"]["endCursor"],
            edges.last().unwrap()["cursor"]
        );
        if page["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
        assert!(pages.len() < 5, "pagination does not end");
    }
    assert_eq!(pages, [2, 2, 1]);
    assert_eq!(names, ["Ann", "Bob", "Cid", "Dan", "Eve"]);

    // Filters apply across pages; a filtered page reports the filtered total.
    let filtered = data(
        gql(
            &app,
            "query($a: ID!) { contacts(accountId: $a, search: \"an\", first: 10) { totalCount edges { node { name } } } }",
            json!({ "a": account }),
        )
        .await,
    );
    assert_eq!(filtered["contacts"]["totalCount"], 2);

    let bad = gql(
        &app,
        "query($a: ID!) { contacts(accountId: $a, after: \"garbage\") { totalCount } }",
        json!({ "a": account }),
    )
    .await;
    assert_eq!(code(&bad), "VALIDATION_ERROR", "{bad}");
    let bad = gql(
        &app,
        "query($a: ID!) { contacts(accountId: $a, first: 0) { totalCount } }",
        json!({ "a": account }),
    )
    .await;
    assert_eq!(code(&bad), "VALIDATION_ERROR", "{bad}");
}

#[tokio::test]
async fn import_reports_each_row() {
    let app = TestApp::spawn().await;
    let account = app.workspace.phone_number.to_string();
    create_contact(
        &app,
        json!({ "accountId": account, "phone": "+14155550100", "name": "Existing" }),
    )
    .await;
    let imported = import(
        &app,
        &account,
        json!([
            { "phone": "+14155550101", "name": "New" },
            { "phone": "+14155550100", "name": "Duplicate" },
            { "phone": "not a phone", "name": "Broken" },
        ]),
    )
    .await;
    assert_eq!(
        imported["summary"],
        json!({"total": 3, "created": 1, "skipped": 1, "failed": 1})
    );
    let results = imported["results"].as_array().unwrap();
    assert_eq!(results[0]["status"], "CREATED");
    assert_eq!(results[0]["success"], true);
    assert_eq!(results[0]["contact"]["name"], "New");
    assert_eq!(results[1]["status"], "SKIPPED");
    assert_eq!(results[1]["contact"]["name"], "Existing");
    assert_eq!(results[2]["status"], "FAILED");
    assert_eq!(results[2]["contactId"], Value::Null);
    assert!(results[2]["error"].is_string());
}

#[tokio::test]
async fn bulk_updates_and_deletes_contacts() {
    let app = TestApp::spawn().await;
    let account = app.workspace.phone_number.to_string();
    let mut ids = Vec::new();
    for (i, name) in ["A", "B", "C"].iter().enumerate() {
        let contact = create_contact(
            &app,
            json!({ "accountId": account, "phone": format!("+1415555020{i}"), "name": name }),
        )
        .await;
        ids.push(contact["id"].as_str().unwrap().to_string());
    }
    let bulk = "mutation($input: BulkUpdateContactsInput!) { bulkUpdateContacts(input: $input) {
        action matched modified contacts { id tags groups isOptedIn isBlocked } } }";
    let result = data(
        gql(
            &app,
            bulk,
            json!({ "input": { "contactIds": [ids[0], ids[1], "not-a-uuid"], "action": "ADD_TAGS", "tags": ["promo"] } }),
        )
        .await,
    )["bulkUpdateContacts"]
        .clone();
    assert_eq!(result["action"], "ADD_TAGS");
    assert_eq!(result["matched"], 2);
    assert_eq!(result["modified"], 2);
    for contact in result["contacts"].as_array().unwrap() {
        assert_eq!(contact["tags"], json!(["promo"]));
    }

    for (action, field, expected) in [
        ("OPT_OUT", "isOptedIn", false),
        ("OPT_IN", "isOptedIn", true),
        ("BLOCK", "isBlocked", true),
        ("UNBLOCK", "isBlocked", false),
    ] {
        let result = data(
            gql(
                &app,
                bulk,
                json!({ "input": { "contactIds": ids, "action": action } }),
            )
            .await,
        )["bulkUpdateContacts"]
            .clone();
        assert_eq!(result["matched"], 3, "{action}: {result}");
        for contact in result["contacts"].as_array().unwrap() {
            assert_eq!(contact[field], expected, "{action}: {contact}");
        }
    }

    let result = data(
        gql(
            &app,
            bulk,
            json!({ "input": { "contactIds": ids, "action": "ADD_GROUPS", "groups": ["g1"] } }),
        )
        .await,
    )["bulkUpdateContacts"]
        .clone();
    assert_eq!(result["modified"], 3);
    let result = data(
        gql(
            &app,
            bulk,
            json!({ "input": { "contactIds": [ids[2]], "action": "REMOVE_GROUPS", "groups": ["g1"] } }),
        )
        .await,
    )["bulkUpdateContacts"]
        .clone();
    assert_eq!(result["contacts"][0]["groups"], json!([]));
    let result = data(
        gql(
            &app,
            bulk,
            json!({ "input": { "contactIds": [ids[0]], "action": "REMOVE_TAGS", "tags": ["promo"] } }),
        )
        .await,
    )["bulkUpdateContacts"]
        .clone();
    assert_eq!(result["contacts"][0]["tags"], json!([]));

    let missing_tags = gql(
        &app,
        bulk,
        json!({ "input": { "contactIds": ids, "action": "ADD_TAGS" } }),
    )
    .await;
    assert_eq!(code(&missing_tags), "VALIDATION_ERROR", "{missing_tags}");
    let empty = gql(
        &app,
        bulk,
        json!({ "input": { "contactIds": [], "action": "BLOCK" } }),
    )
    .await;
    assert_eq!(code(&empty), "VALIDATION_ERROR", "{empty}");

    let deleted = data(
        gql(
            &app,
            "mutation($ids: [ID!]!) { bulkDeleteContacts(contactIds: $ids) { deleted } }",
            json!({ "ids": [ids[0], ids[1]] }),
        )
        .await,
    );
    assert_eq!(deleted["bulkDeleteContacts"]["deleted"], 2);
    let listed = data(
        gql(
            &app,
            "query($a: ID!) { contacts(accountId: $a) { totalCount edges { node { id } } } }",
            json!({ "a": account }),
        )
        .await,
    );
    assert_eq!(listed["contacts"]["totalCount"], 1);
    assert_eq!(listed["contacts"]["edges"][0]["node"]["id"], ids[2]);
}

#[tokio::test]
async fn groups_are_counted_renamed_and_deleted() {
    let app = TestApp::spawn().await;
    let account = app.workspace.phone_number.to_string();
    create_contact(
        &app,
        json!({ "accountId": account, "phone": "+14155550301", "name": "A",
        "groups": ["club", "staff"], "tags": ["x"] }),
    )
    .await;
    create_contact(
        &app,
        json!({ "accountId": account, "phone": "+14155550302", "name": "B",
        "groups": ["club"], "isOptedIn": false, "tags": ["y"] }),
    )
    .await;

    let groups = data(
        gql(
            &app,
            "query($a: ID!) {
                groups(accountId: $a) { groups { name totalCount optedInCount } summary { totalContacts optedInContacts groupCount } }
                availableLabels(accountId: $a) { tags groups } }",
            json!({ "a": account }),
        )
        .await,
    );
    assert_eq!(
        groups["groups"]["groups"],
        json!([
            {"name": "club", "totalCount": 2, "optedInCount": 1},
            {"name": "staff", "totalCount": 1, "optedInCount": 1},
        ])
    );
    assert_eq!(
        groups["groups"]["summary"],
        json!({"totalContacts": 2, "optedInContacts": 1, "groupCount": 2})
    );
    assert_eq!(
        groups["availableLabels"],
        json!({"tags": ["x", "y"], "groups": ["club", "staff"]})
    );

    let renamed = data(
        gql(
            &app,
            "mutation($a: ID!) { renameGroup(accountId: $a, oldName: \"club\", newName: \"members\") {
                matched modified group { name totalCount } groups { groups { name } } } }",
            json!({ "a": account }),
        )
        .await,
    )["renameGroup"]
        .clone();
    assert_eq!(renamed["matched"], 2);
    assert_eq!(
        renamed["group"],
        json!({"name": "members", "totalCount": 2})
    );
    assert_eq!(
        renamed["groups"]["groups"],
        json!([{"name": "members"}, {"name": "staff"}])
    );

    let same = gql(
        &app,
        "mutation($a: ID!) { renameGroup(accountId: $a, oldName: \"x\", newName: \"x\") { matched } }",
        json!({ "a": account }),
    )
    .await;
    assert_eq!(code(&same), "VALIDATION_ERROR", "{same}");

    let deleted = data(
        gql(
            &app,
            "mutation($a: ID!) { deleteGroup(accountId: $a, name: \"staff\") {
                matched modified group { name } groups { summary { groupCount totalContacts } } } }",
            json!({ "a": account }),
        )
        .await,
    )["deleteGroup"]
        .clone();
    assert_eq!(deleted["modified"], 1);
    assert_eq!(deleted["group"], Value::Null);
    assert_eq!(
        deleted["groups"]["summary"],
        json!({"groupCount": 1, "totalContacts": 2})
    );
}

#[tokio::test]
async fn mutation_errors_carry_codes() {
    let app = TestApp::spawn().await;
    let account = app.workspace.phone_number.to_string();
    let create = "mutation($input: CreateContactInput!) { createContact(input: $input) { id } }";
    let input = json!({ "accountId": account, "phone": "+14155550401", "name": "First" });
    data(gql(&app, create, json!({ "input": input })).await);

    let duplicate = gql(&app, create, json!({ "input": input })).await;
    assert_eq!(code(&duplicate), "CONFLICT", "{duplicate}");
    assert_eq!(duplicate["data"], Value::Null);

    let bad_phone = gql(
        &app,
        create,
        json!({ "input": { "accountId": account, "phone": "12ab", "name": "Bad" } }),
    )
    .await;
    assert_eq!(code(&bad_phone), "INVALID_PHONE_NUMBER", "{bad_phone}");

    let unknown_account = gql(
        &app,
        create,
        json!({ "input": { "accountId": uuid::Uuid::new_v4(), "phone": "+14155550402", "name": "X" } }),
    )
    .await;
    assert_eq!(code(&unknown_account), "NOT_FOUND", "{unknown_account}");

    let not_a_uuid = gql(
        &app,
        "mutation { updateContact(id: \"nope\", input: { name: \"X\" }) { id } }",
        json!({}),
    )
    .await;
    assert_eq!(code(&not_a_uuid), "NOT_FOUND", "{not_a_uuid}");

    let null_custom = gql(
        &app,
        create,
        json!({ "input": { "accountId": account, "phone": "+14155550403", "name": "Y",
                           "customFields": [{"key": "k", "value": null}] } }),
    )
    .await;
    assert_eq!(code(&null_custom), "VALIDATION_ERROR", "{null_custom}");

    let bad_registration = gql(
        &app,
        "mutation { registerPhoneNumber(input: { phoneNumberId: \"123456789012345\", wabaId: \"1\", displayPhoneNumber: \"call me\" }) { id } }",
        json!({}),
    )
    .await;
    assert_eq!(
        code(&bad_registration),
        "INVALID_PHONE_NUMBER",
        "{bad_registration}"
    );
}

#[tokio::test]
async fn without_a_valid_token_it_is_401() {
    let app = TestApp::spawn().await;
    let query = json!({ "query": "{ phoneNumbers { id } }" });
    let response = app
        .http
        .post(format!("{}/graphql", app.base_url))
        .json(&query)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(code(&body), "UNAUTHORIZED");

    let (status, body) = app
        .send(
            app.http
                .post(format!("{}/graphql", app.base_url))
                .bearer_auth("wat_not_a_real_token")
                .json(&query),
        )
        .await;
    assert_eq!(status, 401);
    assert_eq!(code(&body), "UNAUTHORIZED");
}

#[tokio::test]
async fn phone_numbers_are_registered_updated_and_removed_without_exposing_tokens() {
    let app = TestApp::spawn().await;
    let fields = "id phoneNumberId wabaId wabaName displayPhoneNumber displayName verifiedName status hasAccessToken";
    let registered = gql(
        &app,
        &format!("mutation($input: RegisterPhoneNumberInput!) {{ registerPhoneNumber(input: $input) {{ {fields} }} }}"),
        json!({ "input": {
            "phoneNumberId": "109876543210987", "wabaId": "300000000000003", "wabaName": "Shop",
            "displayPhoneNumber": "+15550109999", "status": "VERIFIED", "accessToken": "EAAG-very-secret"
        }}),
    )
    .await;
    assert!(!registered.to_string().contains("EAAG-very-secret"));
    let registered = data(registered)["registerPhoneNumber"].clone();
    assert_eq!(registered["status"], "VERIFIED");
    assert_eq!(registered["hasAccessToken"], true);
    assert_eq!(registered["displayPhoneNumber"], "+15550109999");
    let id = registered["id"].as_str().unwrap().to_string();

    let again = gql(
        &app,
        "mutation { registerPhoneNumber(input: { phoneNumberId: \"109876543210987\", wabaId: \"3\", displayPhoneNumber: \"+15550109999\" }) { id } }",
        json!({}),
    )
    .await;
    assert_eq!(code(&again), "CONFLICT", "{again}");

    let updated = data(
        gql(
            &app,
            &format!("mutation($id: ID!) {{ updatePhoneNumber(id: $id, input: {{ displayName: \"Shop Main\", status: PENDING }}) {{ {fields} }} }}"),
            json!({ "id": id }),
        )
        .await,
    )["updatePhoneNumber"]
        .clone();
    assert_eq!(updated["displayName"], "Shop Main");
    assert_eq!(updated["status"], "PENDING");
    assert_eq!(updated["wabaName"], "Shop");

    let listed = data(
        gql(
            &app,
            &format!("{{ phoneNumbers {{ {fields} }} }}"),
            json!({}),
        )
        .await,
    );
    assert_eq!(listed["phoneNumbers"].as_array().unwrap().len(), 2);
    let one = data(
        gql(
            &app,
            "query($id: ID!) { phoneNumber(id: $id) { id displayName } }",
            json!({ "id": id }),
        )
        .await,
    );
    assert_eq!(one["phoneNumber"]["displayName"], "Shop Main");

    let removed = data(
        gql(
            &app,
            "mutation($id: ID!) { removePhoneNumber(id: $id) }",
            json!({ "id": id }),
        )
        .await,
    );
    assert_eq!(removed["removePhoneNumber"], id);
    let gone = gql(
        &app,
        "query($id: ID!) { phoneNumber(id: $id) { id } }",
        json!({ "id": id }),
    )
    .await;
    assert_eq!(code(&gone), "NOT_FOUND", "{gone}");
    let listed = data(gql(&app, "{ phoneNumbers { id } }", json!({})).await);
    assert_eq!(
        listed["phoneNumbers"],
        json!([{ "id": app.workspace.phone_number.to_string() }])
    );
}

#[tokio::test]
async fn another_workspace_can_neither_see_nor_change_anything() {
    let app = TestApp::spawn().await;
    let other = app.another_workspace().await;
    let account = app.workspace.phone_number.to_string();
    let contact = create_contact(
        &app,
        json!({ "accountId": account, "phone": "+14155550501", "name": "Mine", "groups": ["g"] }),
    )
    .await;
    let id = contact["id"].as_str().unwrap().to_string();

    let numbers = data(gql_as(&app, &other, "{ phoneNumbers { id } }", json!({})).await);
    assert_eq!(
        numbers["phoneNumbers"],
        json!([{ "id": other.phone_number.to_string() }])
    );

    let own = data(
        gql_as(
            &app,
            &other,
            "query($a: ID!) { contacts(accountId: $a) { totalCount edges { node { id } } } groups(accountId: $a) { groups { name } } }",
            json!({ "a": other.phone_number.to_string() }),
        )
        .await,
    );
    assert_eq!(own["contacts"], json!({ "totalCount": 0, "edges": [] }));
    assert_eq!(own["groups"]["groups"], json!([]));

    let not_found = [
        ("query($id: ID!) { phoneNumber(id: $id) { id } }", json!({ "id": account })),
        ("query($id: ID!) { contacts(accountId: $id) { totalCount } }", json!({ "id": account })),
        ("query($id: ID!) { groups(accountId: $id) { summary { totalContacts } } }", json!({ "id": account })),
        ("query($id: ID!) { availableLabels(accountId: $id) { tags } }", json!({ "id": account })),
        ("query($id: ID!) { contact(id: $id) { id } }", json!({ "id": id })),
        ("mutation($id: ID!) { updateContact(id: $id, input: { name: \"Stolen\" }) { id } }", json!({ "id": id })),
        ("mutation($id: ID!) { deleteContact(id: $id) }", json!({ "id": id })),
        ("mutation($id: ID!) { updatePhoneNumber(id: $id, input: { displayName: \"Stolen\" }) { id } }", json!({ "id": account })),
        ("mutation($id: ID!) { removePhoneNumber(id: $id) }", json!({ "id": account })),
        ("mutation($id: ID!) { renameGroup(accountId: $id, oldName: \"g\", newName: \"h\") { matched } }", json!({ "id": account })),
        ("mutation($id: ID!) { deleteGroup(accountId: $id, name: \"g\") { matched } }", json!({ "id": account })),
        ("mutation($id: ID!) { createContact(input: { accountId: $id, phone: \"+14155550502\", name: \"X\" }) { id } }", json!({ "id": account })),
        ("mutation($id: ID!) { importContacts(input: { accountId: $id, contacts: [{ phone: \"+14155550503\", name: \"X\" }] }) { summary { created } } }", json!({ "id": account })),
    ];
    for (query, variables) in not_found {
        let body = gql_as(&app, &other, query, variables).await;
        assert_eq!(code(&body), "NOT_FOUND", "{query}: {body}");
    }

    let bulk = data(
        gql_as(
            &app,
            &other,
            "mutation($id: ID!) { bulkUpdateContacts(input: { contactIds: [$id], action: BLOCK }) { matched modified contacts { id } } }",
            json!({ "id": id }),
        )
        .await,
    );
    assert_eq!(
        bulk["bulkUpdateContacts"],
        json!({ "matched": 0, "modified": 0, "contacts": [] })
    );
    let bulk_delete = data(
        gql_as(
            &app,
            &other,
            "mutation($id: ID!) { bulkDeleteContacts(contactIds: [$id]) { deleted } }",
            json!({ "id": id }),
        )
        .await,
    );
    assert_eq!(bulk_delete["bulkDeleteContacts"]["deleted"], 0);

    // The owner still sees everything unchanged.
    let query = format!("query($id: ID!) {{ contact(id: $id) {{ {CONTACT_FIELDS} }} }}");
    let mine = data(gql(&app, &query, json!({ "id": id })).await)["contact"].clone();
    assert_eq!(mine, contact);
    let numbers = data(gql(&app, "{ phoneNumbers { id displayName } }", json!({})).await);
    assert_eq!(
        numbers["phoneNumbers"],
        json!([{ "id": account, "displayName": "Test" }])
    );
}

#[tokio::test]
async fn mutations_report_read_model_freshness() {
    let app = TestApp::spawn().await;
    let response = app
        .request(Method::POST, "/graphql")
        .json(&json!({
            "query": "mutation($a: ID!) { createContact(input: { accountId: $a, phone: \"+14155550601\", name: \"F\" }) { id } }",
            "variables": { "a": app.workspace.phone_number.to_string() },
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response
            .headers()
            .get("x-parley-read-model")
            .and_then(|v| v.to_str().ok()),
        Some("fresh")
    );
    let body: Value = response.json().await.unwrap();
    assert!(body["data"]["createContact"]["id"].is_string(), "{body}");
}

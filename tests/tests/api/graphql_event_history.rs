//! Tests: GraphQL `eventHistory`: an aggregate's events for dashboards (who did what, when,
//! from which request), paged, and scoped to the caller's workspace even when an aggregate
//! changed hands.

use application::{PhoneNumberInput, RequestContext};
use parley_tests::{TestApp, Workspace};
use reqwest::Method;
use serde_json::{json, Value};

const HISTORY: &str = "query($type: String!, $id: ID!, $first: Int, $after: String) {
    eventHistory(aggregateType: $type, aggregateId: $id, first: $first, after: $after) {
        totalCount
        pageInfo { hasNextPage endCursor }
        edges { cursor node {
            sequence eventType eventVersion payload recordedAt actor correlationId metadata
        } }
    } }";

/// Runs a GraphQL request as `workspace` with `X-Request-Id: request_id`.
async fn gql(
    app: &TestApp,
    workspace: &Workspace,
    request_id: &str,
    query: &str,
    variables: Value,
) -> Value {
    let (status, body) = app
        .send(
            app.request_as(workspace, Method::POST, "/graphql")
                .header("x-request-id", request_id)
                .json(&json!({ "query": query, "variables": variables })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn history(
    app: &TestApp,
    workspace: &Workspace,
    aggregate_type: &str,
    id: &str,
    first: Option<i32>,
    after: Option<&str>,
) -> Value {
    gql(
        app,
        workspace,
        "history",
        HISTORY,
        json!({"type": aggregate_type, "id": id, "first": first, "after": after}),
    )
    .await
}

fn data(body: Value) -> Value {
    assert!(body.get("errors").is_none(), "unexpected errors: {body}");
    body["data"]["eventHistory"].clone()
}

fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {body}"))
}

fn event_types(history: &Value) -> Vec<&str> {
    history["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|edge| edge["node"]["eventType"].as_str().unwrap())
        .collect()
}

/// The `actor` of the workspace's API token, as event metadata records it.
async fn token_actor(app: &TestApp, workspace: &Workspace) -> String {
    let id: uuid::Uuid = app
        .db()
        .await
        .query_one(
            "SELECT id FROM api_tokens WHERE workspace_id = $1",
            &[&workspace.id.0],
        )
        .await
        .unwrap()
        .get(0);
    format!("token:{id}")
}

async fn create_contact(app: &TestApp, workspace: &Workspace, request_id: &str) -> String {
    let body = gql(
        app,
        workspace,
        request_id,
        "mutation($input: CreateContactInput!) { createContact(input: $input) { id } }",
        json!({"input": {"accountId": workspace.phone_number, "phone": "+14155550123", "name": "Ada"}}),
    )
    .await;
    assert!(body.get("errors").is_none(), "{body}");
    body["data"]["createContact"]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn event_history_shows_who_did_what_when_and_from_which_request() {
    let app = TestApp::spawn().await;
    let me = app.workspace.clone();
    let id = create_contact(&app, &me, "req-create-0001").await;
    let renamed = gql(
        &app,
        &me,
        "req-rename-0002",
        "mutation($id: ID!) { updateContact(id: $id, input: {name: \"Ada Lovelace\"}) { name } }",
        json!({"id": id}),
    )
    .await;
    assert!(renamed.get("errors").is_none(), "{renamed}");

    let all = data(history(&app, &me, "contact", &id, None, None).await);
    assert_eq!(all["totalCount"], 2, "{all}");
    assert_eq!(all["pageInfo"]["hasNextPage"], false);
    let (created, updated) = (&all["edges"][0]["node"], &all["edges"][1]["node"]);
    assert_eq!(created["sequence"], 1);
    assert_eq!(created["eventType"], "ContactCreated");
    assert_eq!(created["eventVersion"], "1");
    assert_eq!(created["payload"]["ContactCreated"]["name"], "Ada");
    assert_eq!(updated["sequence"], 2);
    assert_eq!(updated["eventType"], event_types(&all)[1]);
    assert_ne!(updated["eventType"], "ContactCreated");
    assert!(updated["payload"].to_string().contains("Ada Lovelace"));

    // Who: the workspace's token. From which request: the caller's X-Request-Id. When: the
    // commit, and the command's own time in the metadata.
    let actor = token_actor(&app, &me).await;
    assert_eq!(created["actor"], actor.as_str());
    assert_eq!(updated["actor"], actor.as_str());
    assert_eq!(created["correlationId"], "req-create-0001");
    assert_eq!(updated["correlationId"], "req-rename-0002");
    assert_eq!(created["metadata"]["correlation_id"], "req-create-0001");
    let recorded = |node: &Value| {
        chrono::DateTime::parse_from_rfc3339(node["recordedAt"].as_str().unwrap()).unwrap()
    };
    assert!(recorded(created) <= recorded(updated));
    assert!(created["metadata"]["time"].is_string());

    // Pages: one event at a time, continuing from the cursor.
    let first = data(history(&app, &me, "contact", &id, Some(1), None).await);
    assert_eq!(event_types(&first), vec!["ContactCreated"]);
    assert_eq!(first["pageInfo"]["hasNextPage"], true);
    assert_eq!(first["totalCount"], 2);
    let cursor = first["pageInfo"]["endCursor"].as_str().unwrap().to_string();
    let second = data(history(&app, &me, "contact", &id, Some(1), Some(&cursor)).await);
    assert_eq!(second["edges"][0]["node"]["sequence"], 2);
    assert_eq!(second["pageInfo"]["hasNextPage"], false);

    // The phone number the CLI registered: actor `cli`, its sealed token hidden.
    let number = data(
        history(
            &app,
            &me,
            "phone_number",
            &me.phone_number.to_string(),
            None,
            None,
        )
        .await,
    );
    let registered = &number["edges"][0]["node"];
    assert_eq!(registered["eventType"], "PhoneNumberRegistered");
    assert_eq!(registered["actor"], "cli");
    assert_eq!(
        registered["payload"]["PhoneNumberRegistered"]["access_token"],
        "[sealed]"
    );

    // Bad arguments are the caller's mistake.
    let unknown_type = history(&app, &me, "Contact", &id, None, None).await;
    assert_eq!(code(&unknown_type), "VALIDATION_ERROR", "{unknown_type}");
    let message = unknown_type["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("contact, phone_number, conversation, broadcast, template"),
        "{message}"
    );
    let bad_cursor = history(&app, &me, "contact", &id, None, Some("nope")).await;
    assert_eq!(code(&bad_cursor), "VALIDATION_ERROR", "{bad_cursor}");
    let zero = history(&app, &me, "contact", &id, Some(0), None).await;
    assert_eq!(code(&zero), "VALIDATION_ERROR", "{zero}");
}

#[tokio::test]
async fn another_workspaces_aggregate_is_invisible() {
    let app = TestApp::spawn().await;
    let me = app.workspace.clone();
    let other = app.another_workspace().await;
    let theirs = create_contact(&app, &other, "req-other").await;
    let mine = create_contact(&app, &me, "req-mine").await;

    // Each sees its own contact's history and not the other's: NOT_FOUND, as for an unknown id.
    assert_eq!(
        data(history(&app, &other, "contact", &theirs, None, None).await)["totalCount"],
        1
    );
    for (workspace, id) in [(&me, &theirs), (&other, &mine)] {
        let hidden = history(&app, workspace, "contact", id, None, None).await;
        assert_eq!(code(&hidden), "NOT_FOUND", "{hidden}");
        assert!(!hidden.to_string().contains("Ada"), "{hidden}");
    }
    let their_number = other.phone_number.to_string();
    let hidden = history(&app, &me, "phone_number", &their_number, None, None).await;
    assert_eq!(code(&hidden), "NOT_FOUND", "{hidden}");
    let unknown = uuid::Uuid::new_v4().to_string();
    let missing = history(&app, &me, "contact", &unknown, None, None).await;
    assert_eq!(code(&missing), "NOT_FOUND", "{missing}");
    assert_eq!(
        missing["errors"][0]["message"],
        hidden["errors"][0]["message"]
    );
}

#[tokio::test]
async fn a_number_that_changed_workspaces_shows_each_only_its_own_events() {
    let app = TestApp::spawn().await;
    let first_owner = app.workspace.clone();
    let next_owner = app.another_workspace().await;
    // The number's aggregate id comes from Meta's id: registered again by another workspace
    // after its removal, it is the same aggregate, now owned by someone else.
    let number = first_owner.phone_number;
    app.app
        .remove_phone_number(&RequestContext::cli(first_owner.id), number)
        .await
        .unwrap();
    let input = PhoneNumberInput {
        phone_number_id: first_owner.meta_phone_number_id.clone(),
        waba_id: "200000000000002".into(),
        waba_name: None,
        display_phone_number: "+15550100002".into(),
        display_name: Some("Next owner".into()),
        verified_name: None,
        status: None,
        access_token: None,
    };
    let (registered_again, _) = app
        .app
        .register_phone_number(&RequestContext::cli(next_owner.id), input)
        .await
        .unwrap();
    assert_eq!(registered_again, number);

    let id = number.to_string();
    let before = data(history(&app, &first_owner, "phone_number", &id, None, None).await);
    assert_eq!(
        event_types(&before),
        vec!["PhoneNumberRegistered", "PhoneNumberRemoved"],
        "{before}"
    );
    let after = data(history(&app, &next_owner, "phone_number", &id, None, None).await);
    assert_eq!(
        event_types(&after),
        vec!["PhoneNumberRegistered"],
        "{after}"
    );
    assert_eq!(after["edges"][0]["node"]["sequence"], 3);
    assert_eq!(after["totalCount"], 1);
    assert!(!after.to_string().contains("200000000000001"), "{after}");
    assert!(!before.to_string().contains("Next owner"), "{before}");
}

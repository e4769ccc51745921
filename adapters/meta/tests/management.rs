//! The Graph client's management endpoints (templates, registration, business profile, number
//! health) and their `application::MetaManagement` mapping, against a local fake Graph API.

mod common;

use application::{
    BusinessProfile, BusinessProfileUpdate, CodeMethod, GatewayError, MetaManagement,
    PhoneNumberHealth,
};
use common::{
    bearer, fixture, only_request, serve, serve_sequence, Canned, Recorder, PHONE_NUMBER_ID, TOKEN,
};
use meta::{GraphClient, GraphConfig, GraphError, RetryClass, MAX_TEMPLATE_PAGES};
use serde_json::{json, Value};
use std::time::Duration;

const WABA_ID: &str = "102290129340398";
const TEMPLATE_ID: &str = "1297883712183052";
const TEMPLATE_FIELDS: &str = "id,name,language,status,category,components";

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn creation_body() -> Value {
    json!({
        "name": "seasonal_promotion",
        "category": "MARKETING",
        "language": "nl",
        "parameter_format": "positional",
        "components": [
            { "type": "BODY", "text": "Thank you for your order, {{1}}!", "example": { "body_text": [["Ignacio"]] } }
        ]
    })
}

/// Asserts a request's method, path, query pairs and bearer token.
fn assert_request(seen: &common::Seen, method: &str, path: &str, query: &[(&str, &str)]) {
    assert_eq!(seen.method, method, "{seen:?}");
    assert_eq!(seen.path, path, "{seen:?}");
    assert_eq!(seen.query_pairs(), pairs(query), "{seen:?}");
    assert_eq!(seen.authorization.as_deref(), Some(bearer().as_str()));
}

fn requests(seen: &Recorder) -> Vec<common::Seen> {
    seen.lock().unwrap().clone()
}

/// A Meta error's code and subcode, panicking on any other error.
fn meta_codes(error: &GraphError) -> (i64, Option<i64>) {
    let GraphError::Meta(meta) = error else {
        panic!("expected a Meta error, got {error:?}")
    };
    (meta.code, meta.error_subcode)
}

// ---------------------------------------------------------------- templates

#[tokio::test]
async fn create_template_posts_the_body_and_reads_the_submission() {
    let (client, seen) = serve(Canned::new(200, fixture("template_create_response.json"))).await;
    let submission = client
        .create_template(WABA_ID, TOKEN, &creation_body())
        .await
        .unwrap();
    assert_eq!(submission.meta_template_id, "1297883712183052");
    assert_eq!(submission.status, "PENDING");
    assert_eq!(submission.category, "MARKETING");

    let request = only_request(&seen);
    assert_request(
        &request,
        "POST",
        "/v23.0/102290129340398/message_templates",
        &[],
    );
    assert_eq!(request.content_type.as_deref(), Some("application/json"));
    assert_eq!(request.json(), creation_body());
}

#[tokio::test]
async fn create_template_accepts_an_integer_id_and_a_missing_category() {
    let (client, _) = serve(Canned::new(
        200,
        r#"{"id":1297883712183052,"status":"PENDING"}"#,
    ))
    .await;
    let submission = client
        .create_template(WABA_ID, TOKEN, &creation_body())
        .await
        .unwrap();
    assert_eq!(submission.meta_template_id, "1297883712183052");
    // The category asked for stands in for the one Meta did not answer.
    assert_eq!(submission.category, "MARKETING");

    let (client, _) = serve(Canned::new(200, r#"{"status":"PENDING"}"#)).await;
    let error = client
        .create_template(WABA_ID, TOKEN, &creation_body())
        .await
        .unwrap_err();
    assert!(
        matches!(error, GraphError::Decode { status: 200, .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn edit_template_posts_to_the_template_and_expects_success() {
    let body =
        json!({ "components": [{ "type": "BODY", "text": "New text" }], "category": "UTILITY" });
    let (client, seen) = serve(Canned::new(200, fixture("success_response.json"))).await;
    client
        .edit_template(TEMPLATE_ID, TOKEN, &body)
        .await
        .unwrap();
    let request = only_request(&seen);
    assert_request(&request, "POST", "/v23.0/1297883712183052", &[]);
    assert_eq!(request.json(), body);

    let (client, _) = serve(Canned::new(200, r#"{"success":false}"#)).await;
    let error = client
        .edit_template(TEMPLATE_ID, TOKEN, &body)
        .await
        .unwrap_err();
    assert!(matches!(error, GraphError::Decode { .. }), "{error:?}");
}

#[tokio::test]
async fn ids_cannot_escape_their_path_segment() {
    let (client, seen) = serve(Canned::new(200, fixture("success_response.json"))).await;
    client
        .edit_template("../1?x=y", TOKEN, &json!({}))
        .await
        .unwrap();
    let request = only_request(&seen);
    assert_eq!(request.path, "/v23.0/..%2F1%3Fx=y");
    assert_eq!(request.query, None);
}

#[tokio::test]
async fn delete_template_sends_the_name_and_optionally_the_id() {
    let (client, seen) = serve(Canned::new(200, fixture("success_response.json"))).await;
    client
        .delete_template(WABA_ID, TOKEN, "order confirmation&x", None)
        .await
        .unwrap();
    client
        .delete_template(WABA_ID, TOKEN, "order_confirmation", Some(TEMPLATE_ID))
        .await
        .unwrap();
    let seen = requests(&seen);
    assert_eq!(seen.len(), 2);
    assert_request(
        &seen[0],
        "DELETE",
        "/v23.0/102290129340398/message_templates",
        &[("name", "order confirmation&x")],
    );
    assert!(seen[0].body.is_empty());
    assert_request(
        &seen[1],
        "DELETE",
        "/v23.0/102290129340398/message_templates",
        &[("name", "order_confirmation"), ("hsm_id", TEMPLATE_ID)],
    );
}

#[tokio::test]
async fn a_missing_template_is_reported_as_such_and_is_permanent() {
    let (client, _) = serve(Canned::new(
        400,
        fixture("error_100_2593002_template_not_found.json"),
    ))
    .await;
    let error = client
        .delete_template(WABA_ID, TOKEN, "fake name", None)
        .await
        .unwrap_err();
    assert_eq!(meta_codes(&error), (100, Some(2593002)));
    assert!(error.is_template_not_found());
    assert!(!error.is_verify_code_error());
    assert_eq!(error.meta_subcode(), Some(meta::TEMPLATE_NOT_FOUND_SUBCODE));
    assert_eq!(error.retry_class(), RetryClass::Permanent);

    // get_template meets the same error for an unknown id.
    let error = client.get_template("1", TOKEN).await.unwrap_err();
    assert!(error.is_template_not_found());

    // Another code 100 is not "template not found".
    let (client, _) = serve(Canned::new(
        400,
        fixture("error_100_33_object_does_not_exist.json"),
    ))
    .await;
    let error = client
        .delete_template(WABA_ID, TOKEN, "x", None)
        .await
        .unwrap_err();
    assert_eq!(meta_codes(&error), (100, Some(33)));
    assert!(!error.is_template_not_found());
}

#[tokio::test]
async fn list_templates_reads_a_single_live_page() {
    let (client, seen) = serve(Canned::new(200, fixture("templates_list_response.json"))).await;
    let templates = client.list_templates(WABA_ID, TOKEN).await.unwrap();
    // The last page still has `cursors.after` but no `next`: one request only.
    let request = only_request(&seen);
    assert_request(
        &request,
        "GET",
        "/v23.0/102290129340398/message_templates",
        &[("fields", TEMPLATE_FIELDS), ("limit", "100")],
    );
    assert!(request.body.is_empty());

    let raw: Value = serde_json::from_str(&fixture("templates_list_response.json")).unwrap();
    let data = raw["data"].as_array().unwrap();
    assert_eq!(templates.len(), data.len());
    assert_eq!(templates.len(), 25);
    for (template, raw) in templates.iter().zip(data) {
        assert_eq!(template.meta_template_id, raw["id"].as_str().unwrap());
        assert_eq!(template.name, raw["name"].as_str().unwrap());
        assert_eq!(template.language, raw["language"].as_str().unwrap());
        assert_eq!(template.status, raw["status"].as_str().unwrap());
        assert_eq!(template.category, raw["category"].as_str().unwrap());
        assert_eq!(
            &Value::from(template.components.clone()),
            &raw["components"]
        );
    }
    let first = &templates[0];
    assert_eq!(
        (
            first.meta_template_id.as_str(),
            first.name.as_str(),
            first.language.as_str(),
            first.status.as_str(),
            first.category.as_str(),
            first.components.len()
        ),
        (
            "711633970112948",
            "hello_world",
            "en_US",
            "APPROVED",
            "MARKETING",
            3
        )
    );
    let pt = templates
        .iter()
        .find(|t| t.name == "sample_purchase_feedback" && t.language == "pt_BR")
        .unwrap();
    assert_eq!(pt.meta_template_id, "4820664911376445");
}

fn template_json(id: Value, name: &str) -> Value {
    json!({ "id": id, "name": name, "language": "en_US", "status": "APPROVED", "category": "UTILITY",
            "components": [{ "type": "BODY", "text": name }] })
}

#[tokio::test]
async fn list_templates_follows_the_paging_until_next_is_gone() {
    let page1 = json!({
        "data": [template_json(json!("1"), "a"), template_json(json!(2), "b")],
        "paging": { "cursors": { "before": "B0", "after": "C1" },
                    "next": "https://graph.facebook.com/v23.0/102290129340398/message_templates?access_token=LEAK&limit=100&after=IGNORED" }
    });
    // No cursors: the cursor comes from `next`'s query.
    let page2 = json!({
        "data": [template_json(json!("3"), "c")],
        "paging": { "next": "https://graph.facebook.com/v23.0/102290129340398/message_templates?limit=100&after=C2%3D%3D" }
    });
    let page3 = json!({
        "data": [template_json(json!("4"), "d")],
        "paging": { "cursors": { "before": "B3", "after": "C3" } }
    });
    let (client, seen) = serve_sequence(
        [page1, page2, page3]
            .iter()
            .map(|page| Canned::new(200, page.to_string()))
            .collect(),
    )
    .await;
    let templates = client.list_templates(WABA_ID, TOKEN).await.unwrap();
    let ids: Vec<&str> = templates
        .iter()
        .map(|t| t.meta_template_id.as_str())
        .collect();
    assert_eq!(ids, ["1", "2", "3", "4"]);
    assert_eq!(templates[2].name, "c");

    let seen = requests(&seen);
    assert_eq!(seen.len(), 3);
    let path = "/v23.0/102290129340398/message_templates";
    assert_request(
        &seen[0],
        "GET",
        path,
        &[("fields", TEMPLATE_FIELDS), ("limit", "100")],
    );
    assert_request(
        &seen[1],
        "GET",
        path,
        &[
            ("fields", TEMPLATE_FIELDS),
            ("limit", "100"),
            ("after", "C1"),
        ],
    );
    assert_request(
        &seen[2],
        "GET",
        path,
        &[
            ("fields", TEMPLATE_FIELDS),
            ("limit", "100"),
            ("after", "C2=="),
        ],
    );
    // The token in Meta's `next` link is never followed or echoed.
    assert!(seen
        .iter()
        .all(|s| !s.query.as_deref().unwrap_or_default().contains("LEAK")));
}

#[tokio::test]
async fn list_templates_stops_on_a_repeated_cursor_or_an_empty_page() {
    let looping = json!({
        "data": [template_json(json!("1"), "a")],
        "paging": { "cursors": { "after": "SAME" }, "next": "https://graph.facebook.com/x?after=SAME" }
    });
    let (client, seen) = serve(Canned::new(200, looping.to_string())).await;
    let templates = client.list_templates(WABA_ID, TOKEN).await.unwrap();
    assert_eq!(requests(&seen).len(), 2);
    assert_eq!(templates.len(), 2);

    let empty = json!({ "data": [], "paging": { "cursors": { "after": "X" }, "next": "https://graph.facebook.com/x?after=X" } });
    let (client, seen) = serve(Canned::new(200, empty.to_string())).await;
    assert!(client
        .list_templates(WABA_ID, TOKEN)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(requests(&seen).len(), 1);

    let (client, _) = serve(Canned::new(200, r#"{"data":[]}"#)).await;
    assert!(client
        .list_templates(WABA_ID, TOKEN)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn list_templates_gives_up_after_the_page_limit() {
    let pages: Vec<Canned> = (0..=MAX_TEMPLATE_PAGES)
        .map(|n| {
            let page = json!({
                "data": [template_json(json!(n), "t")],
                "paging": { "cursors": { "after": format!("C{n}") }, "next": format!("https://graph.facebook.com/x?after=C{n}") }
            });
            Canned::new(200, page.to_string())
        })
        .collect();
    let (client, seen) = serve_sequence(pages).await;
    let error = client.list_templates(WABA_ID, TOKEN).await.unwrap_err();
    assert!(
        matches!(&error, GraphError::Decode { reason, .. } if reason.contains("did not end")),
        "{error:?}"
    );
    assert_eq!(requests(&seen).len(), MAX_TEMPLATE_PAGES);
}

#[tokio::test]
async fn a_failing_page_fails_the_listing_with_its_retry_class() {
    let page1 = json!({
        "data": [template_json(json!("1"), "a")],
        "paging": { "cursors": { "after": "C1" }, "next": "https://graph.facebook.com/x?after=C1" }
    });
    let mut limited = Canned::new(429, fixture("error_4_app_request_limit.json"));
    limited.headers.push(("retry-after", "30".to_owned()));
    let (client, seen) = serve_sequence(vec![Canned::new(200, page1.to_string()), limited]).await;
    let error = client.list_templates(WABA_ID, TOKEN).await.unwrap_err();
    assert_eq!(meta_codes(&error).0, 4);
    assert_eq!(
        error.retry_class(),
        RetryClass::Retryable {
            after: Some(Duration::from_secs(30))
        }
    );
    assert_eq!(requests(&seen).len(), 2);
}

#[tokio::test]
async fn get_template_reads_the_live_response() {
    let (client, seen) = serve(Canned::new(
        200,
        fixture("template_get_by_id_response.json"),
    ))
    .await;
    let template = client.get_template(TEMPLATE_ID, TOKEN).await.unwrap();
    assert_eq!(template.meta_template_id, TEMPLATE_ID);
    assert_eq!(template.name, "seasonal_promotion");
    assert_eq!(template.language, "nl");
    assert_eq!(template.status, "PENDING");
    assert_eq!(template.category, "MARKETING");
    assert_eq!(template.components.len(), 2);
    assert_eq!(template.components[0]["type"], "BODY");
    assert_eq!(
        template.components[1]["buttons"][1]["url"],
        "https://www.luckyshrub.com/support"
    );
    let request = only_request(&seen);
    assert_request(
        &request,
        "GET",
        "/v23.0/1297883712183052",
        &[("fields", TEMPLATE_FIELDS)],
    );
}

// ---------------------------------------------------------------- registration

#[tokio::test]
async fn request_code_posts_the_method_and_language() {
    let (client, seen) = serve(Canned::new(200, fixture("success_response.json"))).await;
    client
        .request_code(PHONE_NUMBER_ID, TOKEN, CodeMethod::Sms, "en")
        .await
        .unwrap();
    client
        .request_code(PHONE_NUMBER_ID, TOKEN, CodeMethod::Voice, "pt_BR")
        .await
        .unwrap();
    let seen = requests(&seen);
    let path = "/v23.0/106540352242922/request_code";
    assert_request(&seen[0], "POST", path, &[]);
    assert_eq!(
        seen[0].json(),
        json!({"code_method": "SMS", "language": "en"})
    );
    assert_request(&seen[1], "POST", path, &[]);
    assert_eq!(
        seen[1].json(),
        json!({"code_method": "VOICE", "language": "pt_BR"})
    );
}

#[tokio::test]
async fn request_code_errors_are_permanent() {
    let (client, _) = serve(Canned::new(400, fixture("error_136024_request_code.json"))).await;
    let error = client
        .request_code(PHONE_NUMBER_ID, TOKEN, CodeMethod::Sms, "en")
        .await
        .unwrap_err();
    assert_eq!(
        meta_codes(&error),
        (meta::REQUEST_CODE_ERROR_CODE, Some(2388091))
    );
    // Not in Meta's retry table; is_transient is false, so resending codes is not automatic.
    assert_eq!(error.retry_class(), RetryClass::Permanent);
    let GraphError::Meta(meta) = &error else {
        unreachable!()
    };
    assert_eq!(
        meta.error_user_msg.as_deref(),
        Some("Tente novamente depois de um tempo.")
    );
}

#[tokio::test]
async fn verify_code_posts_the_code_and_maps_a_wrong_one() {
    let (client, seen) = serve(Canned::new(200, fixture("success_response.json"))).await;
    client
        .verify_code(PHONE_NUMBER_ID, TOKEN, "123456")
        .await
        .unwrap();
    let request = only_request(&seen);
    assert_request(&request, "POST", "/v23.0/106540352242922/verify_code", &[]);
    assert_eq!(request.json(), json!({"code": "123456"}));

    let (client, _) = serve(Canned::new(400, fixture("error_136025_verify_code.json"))).await;
    let error = client
        .verify_code(PHONE_NUMBER_ID, TOKEN, "000000")
        .await
        .unwrap_err();
    assert_eq!(
        meta_codes(&error),
        (meta::VERIFY_CODE_ERROR_CODE, Some(2388093))
    );
    assert!(error.is_verify_code_error());
    assert!(!error.is_template_not_found());
    assert_eq!(error.retry_class(), RetryClass::Permanent);
    assert!(!format!("{error} {error:?}").contains(TOKEN));
}

#[tokio::test]
async fn register_posts_the_pin() {
    let (client, seen) = serve(Canned::new(200, fixture("success_response.json"))).await;
    client
        .register(PHONE_NUMBER_ID, TOKEN, "654321")
        .await
        .unwrap();
    let request = only_request(&seen);
    assert_request(&request, "POST", "/v23.0/106540352242922/register", &[]);
    assert_eq!(
        request.json(),
        json!({"messaging_product": "whatsapp", "pin": "654321"})
    );
}

// ---------------------------------------------------------------- profile and health

const PROFILE_FIELDS: &str =
    "about,address,description,email,profile_picture_url,websites,vertical";

#[tokio::test]
async fn business_profile_reads_the_live_response() {
    let (client, seen) = serve(Canned::new(200, fixture("business_profile_response.json"))).await;
    let profile = client
        .business_profile(PHONE_NUMBER_ID, TOKEN)
        .await
        .unwrap();
    assert_eq!(
        profile,
        BusinessProfile {
            about: Some("A very cool business".into()),
            address: Some("123, Main Street, New York, NY, 10001".into()),
            description: Some("This is a description".into()),
            email: Some("testing@gmail.com".into()),
            profile_picture_url: None,
            websites: vec!["https://www.google.com/".into()],
            vertical: Some("EDU".into()),
        }
    );
    let request = only_request(&seen);
    assert_request(
        &request,
        "GET",
        "/v23.0/106540352242922/whatsapp_business_profile",
        &[("fields", PROFILE_FIELDS)],
    );
}

#[tokio::test]
async fn a_sparse_or_empty_business_profile_answer() {
    let (client, _) = serve(Canned::new(
        200,
        r#"{"data":[{"messaging_product":"whatsapp","vertical":"UNDEFINED","websites":null}]}"#,
    ))
    .await;
    let profile = client
        .business_profile(PHONE_NUMBER_ID, TOKEN)
        .await
        .unwrap();
    assert_eq!(
        profile,
        BusinessProfile {
            vertical: Some("UNDEFINED".into()),
            ..BusinessProfile::default()
        }
    );

    let (client, _) = serve(Canned::new(200, r#"{"data":[]}"#)).await;
    let error = client
        .business_profile(PHONE_NUMBER_ID, TOKEN)
        .await
        .unwrap_err();
    assert!(matches!(error, GraphError::Decode { .. }), "{error:?}");
}

#[tokio::test]
async fn update_business_profile_sends_only_the_given_fields() {
    let (client, seen) = serve(Canned::new(200, fixture("success_response.json"))).await;
    let update = BusinessProfileUpdate {
        about: Some("Open 9-5".into()),
        email: Some("hello@example.com".into()),
        websites: Some(vec![
            "https://example.com".into(),
            "https://example.org".into(),
        ]),
        vertical: Some("RETAIL".into()),
        ..BusinessProfileUpdate::default()
    };
    client
        .update_business_profile(PHONE_NUMBER_ID, TOKEN, &update)
        .await
        .unwrap();
    let request = only_request(&seen);
    assert_request(
        &request,
        "POST",
        "/v23.0/106540352242922/whatsapp_business_profile",
        &[],
    );
    assert_eq!(
        request.json(),
        json!({
            "messaging_product": "whatsapp",
            "about": "Open 9-5",
            "email": "hello@example.com",
            "websites": ["https://example.com", "https://example.org"],
            "vertical": "RETAIL",
        })
    );
}

#[tokio::test]
async fn phone_number_health_reads_quality_tier_and_throughput() {
    let (client, seen) = serve(Canned::new(
        200,
        fixture("phone_number_with_throughput_response.json"),
    ))
    .await;
    let health = client
        .phone_number_health(PHONE_NUMBER_ID, TOKEN)
        .await
        .unwrap();
    assert_eq!(
        health,
        PhoneNumberHealth {
            quality_rating: Some("GREEN".into()),
            messaging_limit_tier: None,
            throughput_level: Some("STANDARD".into()),
        }
    );
    let request = only_request(&seen);
    assert_request(
        &request,
        "GET",
        "/v23.0/106540352242922",
        &[("fields", "quality_rating,messaging_limit_tier,throughput")],
    );

    // The live list entry of a number carries the tier.
    let list: Value = serde_json::from_str(&fixture("phone_numbers_list_response.json")).unwrap();
    let (client, _) = serve(Canned::new(200, list["data"][0].to_string())).await;
    let health = client
        .phone_number_health(PHONE_NUMBER_ID, TOKEN)
        .await
        .unwrap();
    assert_eq!(health.quality_rating.as_deref(), Some("GREEN"));
    assert_eq!(health.messaging_limit_tier.as_deref(), Some("TIER_250"));
    assert_eq!(health.throughput_level, None);

    let (client, _) = serve(Canned::new(200, r#"{"id":"1"}"#)).await;
    assert_eq!(
        client
            .phone_number_health(PHONE_NUMBER_ID, TOKEN)
            .await
            .unwrap(),
        PhoneNumberHealth::default()
    );
}

// ---------------------------------------------------------------- MetaManagement

/// Calls through the application's port rather than the inherent methods.
fn port(client: &GraphClient) -> &impl MetaManagement {
    client
}

#[tokio::test]
async fn the_port_answers_the_clients_results() {
    let (client, _) = serve(Canned::new(200, fixture("template_create_response.json"))).await;
    let submission = port(&client)
        .create_template(WABA_ID, TOKEN, &creation_body())
        .await
        .unwrap();
    assert_eq!(submission.meta_template_id, TEMPLATE_ID);

    let (client, _) = serve(Canned::new(200, fixture("templates_list_response.json"))).await;
    assert_eq!(
        port(&client)
            .list_templates(WABA_ID, TOKEN)
            .await
            .unwrap()
            .len(),
        25
    );

    let (client, seen) = serve(Canned::new(200, fixture("success_response.json"))).await;
    let api = port(&client);
    api.edit_template(TEMPLATE_ID, TOKEN, &json!({"components": []}))
        .await
        .unwrap();
    api.delete_template(WABA_ID, TOKEN, "x", Some(TEMPLATE_ID))
        .await
        .unwrap();
    api.request_code(PHONE_NUMBER_ID, TOKEN, CodeMethod::Sms, "en")
        .await
        .unwrap();
    api.verify_code(PHONE_NUMBER_ID, TOKEN, "123456")
        .await
        .unwrap();
    api.update_business_profile(PHONE_NUMBER_ID, TOKEN, &BusinessProfileUpdate::default())
        .await
        .unwrap();
    let paths: Vec<(String, String)> = requests(&seen)
        .into_iter()
        .map(|s| (s.method, s.path))
        .collect();
    assert_eq!(
        paths,
        pairs(&[
            ("POST", "/v23.0/1297883712183052"),
            ("DELETE", "/v23.0/102290129340398/message_templates"),
            ("POST", "/v23.0/106540352242922/request_code"),
            ("POST", "/v23.0/106540352242922/verify_code"),
            ("POST", "/v23.0/106540352242922/whatsapp_business_profile"),
        ])
    );

    let (client, _) = serve(Canned::new(200, fixture("business_profile_response.json"))).await;
    let profile = port(&client)
        .business_profile(PHONE_NUMBER_ID, TOKEN)
        .await
        .unwrap();
    assert_eq!(profile.vertical.as_deref(), Some("EDU"));

    let (client, _) = serve(Canned::new(
        200,
        fixture("phone_number_with_throughput_response.json"),
    ))
    .await;
    let health = port(&client)
        .phone_number_health(PHONE_NUMBER_ID, TOKEN)
        .await
        .unwrap();
    assert_eq!(health.throughput_level.as_deref(), Some("STANDARD"));
}

#[tokio::test]
async fn the_port_treats_an_already_deleted_template_as_deleted() {
    let (client, seen) = serve(Canned::new(
        400,
        fixture("error_100_2593002_template_not_found.json"),
    ))
    .await;
    port(&client)
        .delete_template(WABA_ID, TOKEN, "fake name", None)
        .await
        .unwrap();
    assert_eq!(requests(&seen).len(), 1);

    // Any other failure of a delete is still a failure.
    let (client, _) = serve(Canned::new(
        401,
        fixture("error_190_invalid_oauth_token.json"),
    ))
    .await;
    let error = port(&client)
        .delete_template(WABA_ID, TOKEN, "x", None)
        .await
        .unwrap_err();
    let GatewayError::Permanent(failure) = error else {
        panic!("{error:?}")
    };
    assert_eq!(failure.code, 190);
}

#[tokio::test]
async fn the_port_maps_meta_errors_to_gateway_errors() {
    // A wrong registration code: permanent, with Meta's user title and message.
    let (client, _) = serve(Canned::new(400, fixture("error_136025_verify_code.json"))).await;
    let error = port(&client)
        .verify_code(PHONE_NUMBER_ID, TOKEN, "000000")
        .await
        .unwrap_err();
    let GatewayError::Permanent(failure) = error else {
        panic!("{error:?}")
    };
    assert_eq!(failure.code, 136025);
    assert_eq!(failure.title, "Não foi possível verificar o código");
    assert_eq!(failure.message.as_deref(), Some("Verify code error"));
    assert_eq!(failure.details, None);

    // A missing template on edit is permanent.
    let (client, _) = serve(Canned::new(
        400,
        fixture("error_100_2593002_template_not_found.json"),
    ))
    .await;
    let error = port(&client)
        .edit_template(TEMPLATE_ID, TOKEN, &json!({"components": []}))
        .await
        .unwrap_err();
    let GatewayError::Permanent(failure) = error else {
        panic!("{error:?}")
    };
    assert_eq!(
        (failure.code, failure.title.as_str()),
        (100, "Message Template Not Found")
    );

    // Meta overloaded: retryable, not a throughput problem.
    let (client, _) = serve(Canned::new(
        500,
        fixture("error_2_service_temporarily_unavailable.json"),
    ))
    .await;
    let error = port(&client)
        .list_templates(WABA_ID, TOKEN)
        .await
        .unwrap_err();
    let GatewayError::Retryable {
        after,
        throughput,
        failure,
    } = error
    else {
        panic!("{error:?}")
    };
    assert_eq!((after, throughput, failure.code), (None, false, 2));

    // The app's call limit, with the usage header's wait.
    let mut limited = Canned::new(429, fixture("error_4_app_request_limit.json"));
    limited.headers.push((
        "x-business-use-case-usage",
        r#"{"102290129340398":[{"type":"whatsapp","call_count":100,"estimated_time_to_regain_access":2}]}"#.to_owned(),
    ));
    let (client, _) = serve(limited).await;
    let error = port(&client)
        .business_profile(PHONE_NUMBER_ID, TOKEN)
        .await
        .unwrap_err();
    let GatewayError::Retryable { after, failure, .. } = error else {
        panic!("{error:?}")
    };
    assert_eq!((after, failure.code), (Some(Duration::from_secs(120)), 4));

    // No connection at all: retryable, code 0.
    let address = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let client = GraphClient::new(GraphConfig {
        base_url: format!("http://{address}"),
        version: "v23.0".to_owned(),
        timeout: Duration::from_secs(5),
    })
    .unwrap();
    let error = port(&client)
        .phone_number_health(PHONE_NUMBER_ID, TOKEN)
        .await
        .unwrap_err();
    let GatewayError::Retryable { failure, .. } = error else {
        panic!("{error:?}")
    };
    assert_eq!(failure.code, 0);
    assert!(!failure.title.contains(TOKEN));
}

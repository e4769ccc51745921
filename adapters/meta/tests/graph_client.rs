//! The Graph client against a local axum server that plays Meta with the recorded fixtures.

mod common;

use std::time::Duration;

use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Request};
use common::{
    fixture, fixtures_dir, only_request, serve, serve_with_timeout, Canned, PHONE_NUMBER_ID, TOKEN,
};
use meta::{GraphClient, GraphConfig, GraphError, RetryClass};
use serde_json::{json, Value};

fn text_body() -> Value {
    json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "+16505551234",
        "type": "text",
        "text": { "body": "hello" }
    })
}

#[tokio::test]
async fn send_message_posts_the_body_and_reads_the_live_response() {
    let (client, seen) = serve(Canned::new(200, fixture("send_message_response.json"))).await;
    let accepted = client
        .send_message(PHONE_NUMBER_ID, TOKEN, &text_body())
        .await
        .unwrap();
    assert_eq!(
        accepted.wamid,
        "wamid.HBgLMTM0Mzc3NzI5MTAVAgARGBIyQzU4M0Q4MDc2NDY4ODgwNjUA"
    );
    assert_eq!(accepted.wa_id, "13437772910");
    assert_eq!(accepted.message_status, None);

    let request = only_request(&seen);
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/v23.0/106540352242922/messages");
    assert_eq!(
        request.authorization.as_deref(),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(request.content_type.as_deref(), Some("application/json"));
    assert_eq!(
        serde_json::from_slice::<Value>(&request.body).unwrap(),
        text_body()
    );
}

#[tokio::test]
async fn send_message_reads_message_status_and_the_docs_response() {
    let (client, _) = serve(Canned::new(
        200,
        fixture("send_message_response_template_accepted.json"),
    ))
    .await;
    let accepted = client
        .send_message(PHONE_NUMBER_ID, TOKEN, &text_body())
        .await
        .unwrap();
    assert_eq!(
        accepted.wamid,
        "wamid.HBgLMTM0Mzc3NzI5MTAVAgARGBI2REE3M0I0NEYzQjM1NkI2MDcA"
    );
    assert_eq!(accepted.message_status.as_deref(), Some("accepted"));

    let (client, _) = serve(Canned::new(200, fixture("send_message_response_docs.json"))).await;
    let accepted = client
        .send_message(PHONE_NUMBER_ID, TOKEN, &text_body())
        .await
        .unwrap();
    assert_eq!(
        accepted.wamid,
        "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJCOTY3NDc0NDFDRUI3NTA0Q0UA"
    );
    assert_eq!(accepted.wa_id, "16505551234");
}

#[tokio::test]
async fn send_message_trims_the_wa_id_and_tolerates_no_contacts() {
    let body =
        r#"{"contacts":[{"input":"+48","wa_id":"48XXXXXXXXX "}],"messages":[{"id":"wamid.A"}]}"#;
    let (client, _) = serve(Canned::new(200, body)).await;
    let accepted = client
        .send_message(PHONE_NUMBER_ID, TOKEN, &text_body())
        .await
        .unwrap();
    assert_eq!(accepted.wa_id, "48XXXXXXXXX");

    let (client, _) = serve(Canned::new(
        200,
        r#"{"messages":[{"id":"wamid.B","extra":1}]}"#,
    ))
    .await;
    let accepted = client
        .send_message(PHONE_NUMBER_ID, TOKEN, &text_body())
        .await
        .unwrap();
    assert_eq!(
        (accepted.wamid.as_str(), accepted.wa_id.as_str()),
        ("wamid.B", "")
    );
}

#[tokio::test]
async fn a_success_without_a_message_id_is_a_decode_error() {
    for body in [
        r#"{"messaging_product":"whatsapp","messages":[]}"#,
        "not json",
        "",
    ] {
        let (client, _) = serve(Canned::new(200, body)).await;
        let error = client
            .send_message(PHONE_NUMBER_ID, TOKEN, &text_body())
            .await
            .unwrap_err();
        assert!(
            matches!(error, GraphError::Decode { status: 200, .. }),
            "{body:?}: {error:?}"
        );
        // Meta may have accepted it; resending could duplicate the message.
        assert_eq!(error.retry_class(), RetryClass::Permanent);
    }
}

#[tokio::test]
async fn mark_read_sends_the_read_body() {
    let (client, seen) = serve(Canned::new(200, fixture("success_response.json"))).await;
    client
        .mark_read(PHONE_NUMBER_ID, TOKEN, "wamid.IN")
        .await
        .unwrap();
    let request = only_request(&seen);
    assert_eq!(request.path, "/v23.0/106540352242922/messages");
    assert_eq!(
        serde_json::from_slice::<Value>(&request.body).unwrap(),
        json!({"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.IN"})
    );
}

#[tokio::test]
async fn mark_read_with_typing_adds_the_indicator() {
    let (client, seen) = serve(Canned::new(200, fixture("success_response.json"))).await;
    client
        .mark_read_with_typing(PHONE_NUMBER_ID, TOKEN, "wamid.IN")
        .await
        .unwrap();
    let body: Value = serde_json::from_slice(&only_request(&seen).body).unwrap();
    assert_eq!(body["typing_indicator"], json!({"type": "text"}));
    assert_eq!(body["status"], "read");
}

#[tokio::test]
async fn success_false_is_not_success() {
    let (client, _) = serve(Canned::new(200, r#"{"success":false}"#)).await;
    let error = client
        .mark_read(PHONE_NUMBER_ID, TOKEN, "wamid.IN")
        .await
        .unwrap_err();
    assert!(matches!(error, GraphError::Decode { .. }), "{error:?}");
}

#[tokio::test]
async fn upload_media_sends_multipart_and_returns_the_id() {
    let (client, seen) = serve(Canned::new(200, fixture("media_upload_response.json"))).await;
    let bytes = b"\x89PNG\r\n\x1a\nfake".to_vec();
    let id = client
        .upload_media(
            PHONE_NUMBER_ID,
            TOKEN,
            bytes.clone(),
            "image/png",
            "photo.png",
        )
        .await
        .unwrap();
    assert_eq!(id, "3281363908663165");

    let request = only_request(&seen);
    assert_eq!(request.path, "/v23.0/106540352242922/media");
    assert_eq!(
        request.authorization.as_deref(),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    let replayed = Request::builder()
        .header("content-type", request.content_type.unwrap())
        .body(Body::from(request.body))
        .unwrap();
    let mut form = Multipart::from_request(replayed, &()).await.unwrap();
    let mut fields = Vec::new();
    while let Some(field) = form.next_field().await.unwrap() {
        let name = field.name().unwrap().to_owned();
        let file_name = field.file_name().map(str::to_owned);
        let content_type = field.content_type().map(str::to_owned);
        let data = field.bytes().await.unwrap().to_vec();
        fields.push((name, file_name, content_type, data));
    }
    assert_eq!(fields.len(), 3);
    assert_eq!(
        fields[0],
        ("messaging_product".into(), None, None, b"whatsapp".to_vec())
    );
    assert_eq!(
        fields[1],
        ("type".into(), None, None, b"image/png".to_vec())
    );
    assert_eq!(
        fields[2],
        (
            "file".into(),
            Some("photo.png".into()),
            Some("image/png".into()),
            bytes
        )
    );
}

#[tokio::test]
async fn upload_media_refuses_a_malformed_mime_type_before_sending() {
    let (client, seen) = serve(Canned::new(200, fixture("media_upload_response.json"))).await;
    let error = client
        .upload_media(
            PHONE_NUMBER_ID,
            TOKEN,
            vec![1, 2, 3],
            "not a mime\n",
            "x.bin",
        )
        .await
        .unwrap_err();
    assert!(matches!(error, GraphError::InvalidRequest(_)), "{error:?}");
    assert!(seen.lock().unwrap().is_empty());
}

/// What each error fixture must turn into. The HTTP statuses are the ones Meta used or
/// documented for that body (RUBY recordings: 400; OAS: 401/429/500); codes drive the class.
struct ErrorCase {
    file: &'static str,
    http_status: u16,
    code: i64,
    subcode: Option<i64>,
    kind: &'static str,
    retryable: bool,
    throughput: bool,
}

const ERROR_CASES: &[ErrorCase] = &[
    ErrorCase {
        file: "error_100_2593002_template_not_found.json",
        http_status: 400,
        code: 100,
        subcode: Some(2593002),
        kind: "OAuthException",
        retryable: false,
        throughput: false,
    },
    ErrorCase {
        file: "error_100_33_object_does_not_exist.json",
        http_status: 400,
        code: 100,
        subcode: Some(33),
        kind: "GraphMethodException",
        retryable: false,
        throughput: false,
    },
    ErrorCase {
        file: "error_100_mark_read_outgoing_message.json",
        http_status: 400,
        code: 100,
        subcode: None,
        kind: "OAuthException",
        retryable: false,
        throughput: false,
    },
    ErrorCase {
        file: "error_130429_throughput.json",
        http_status: 400,
        code: 130429,
        subcode: Some(2494055),
        kind: "OAuthException",
        retryable: true,
        throughput: true,
    },
    ErrorCase {
        file: "error_136024_request_code.json",
        http_status: 400,
        code: 136024,
        subcode: Some(2388091),
        kind: "OAuthException",
        retryable: false,
        throughput: false,
    },
    ErrorCase {
        file: "error_136025_verify_code.json",
        http_status: 400,
        code: 136025,
        subcode: Some(2388093),
        kind: "OAuthException",
        retryable: false,
        throughput: false,
    },
    ErrorCase {
        file: "error_190_invalid_oauth_token.json",
        http_status: 401,
        code: 190,
        subcode: Some(463),
        kind: "OAuthException",
        retryable: false,
        throughput: false,
    },
    ErrorCase {
        file: "error_2_service_temporarily_unavailable.json",
        http_status: 500,
        code: 2,
        subcode: None,
        kind: "GraphMethodException",
        retryable: true,
        throughput: false,
    },
    ErrorCase {
        file: "error_4_app_request_limit.json",
        http_status: 429,
        code: 4,
        subcode: Some(2446079),
        kind: "OAuthException",
        retryable: true,
        throughput: false,
    },
];

#[test]
fn every_error_fixture_has_a_case() {
    let mut files: Vec<String> = std::fs::read_dir(fixtures_dir())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.starts_with("error_") && name.ends_with(".json"))
        .collect();
    files.sort();
    let mut cased: Vec<String> = ERROR_CASES.iter().map(|c| c.file.to_owned()).collect();
    cased.sort();
    assert_eq!(files, cased);
}

#[tokio::test]
async fn every_error_fixture_becomes_a_meta_error() {
    for case in ERROR_CASES {
        let body = fixture(case.file);
        let raw: Value = serde_json::from_str(&body).unwrap();
        let (client, _) = serve(Canned::new(case.http_status, body)).await;
        let error = client
            .send_message(PHONE_NUMBER_ID, TOKEN, &text_body())
            .await
            .unwrap_err();
        let GraphError::Meta(meta) = &error else {
            panic!("{}: expected a Meta error, got {error:?}", case.file);
        };
        assert_eq!(meta.http_status, case.http_status, "{}", case.file);
        assert_eq!(meta.code, case.code, "{}", case.file);
        assert_eq!(meta.error_subcode, case.subcode, "{}", case.file);
        assert_eq!(meta.kind.as_deref(), Some(case.kind), "{}", case.file);
        assert_eq!(
            meta.message,
            raw["error"]["message"].as_str().unwrap(),
            "{}",
            case.file
        );
        assert_eq!(
            meta.fbtrace_id.as_deref(),
            raw["error"]["fbtrace_id"].as_str(),
            "{}",
            case.file
        );
        assert_eq!(
            meta.is_transient,
            raw["error"]["is_transient"].as_bool(),
            "{}",
            case.file
        );
        assert_eq!(
            meta.error_data.as_ref(),
            raw["error"].get("error_data"),
            "{}",
            case.file
        );
        assert_eq!(
            error.retry_class().is_retryable(),
            case.retryable,
            "{}",
            case.file
        );
        assert_eq!(error.is_throughput(), case.throughput, "{}", case.file);
        assert!(!error.is_pair_rate(), "{}", case.file);
        assert_eq!(error.meta_code(), Some(case.code));
        assert!(!format!("{error} {error:?}").contains(TOKEN));
    }
}

#[tokio::test]
async fn error_details_and_user_texts_are_kept() {
    let (client, _) = serve(Canned::new(
        400,
        fixture("error_100_mark_read_outgoing_message.json"),
    ))
    .await;
    let error = client
        .mark_read(PHONE_NUMBER_ID, TOKEN, "wamid.OUT")
        .await
        .unwrap_err();
    let GraphError::Meta(meta) = &error else {
        panic!("{error:?}")
    };
    assert!(meta
        .details()
        .unwrap()
        .ends_with("is outgoing. Please use an incoming message ID."));
    assert!(error.to_string().contains("is outgoing"), "{error}");

    let (client, _) = serve(Canned::new(
        400,
        fixture("error_100_2593002_template_not_found.json"),
    ))
    .await;
    let error = client
        .send_message(PHONE_NUMBER_ID, TOKEN, &text_body())
        .await
        .unwrap_err();
    let GraphError::Meta(meta) = &error else {
        panic!("{error:?}")
    };
    assert_eq!(
        meta.error_user_title.as_deref(),
        Some("Message Template Not Found")
    );
    assert_eq!(
        meta.error_user_msg.as_deref(),
        Some("The message template fake name wasn't found for this account.")
    );
    assert_eq!(meta.details(), None);

    let (client, _) = serve(Canned::new(400, fixture("error_130429_throughput.json"))).await;
    let error = client
        .send_message(PHONE_NUMBER_ID, TOKEN, &text_body())
        .await
        .unwrap_err();
    let GraphError::Meta(meta) = &error else {
        panic!("{error:?}")
    };
    assert_eq!(
        meta.details(),
        Some("Cloud API message throughput has been reached.")
    );
}

#[tokio::test]
async fn the_usage_header_sets_the_retry_delay() {
    let mut canned = Canned::new(429, fixture("error_4_app_request_limit.json"));
    canned.headers.push((
        "x-business-use-case-usage",
        r#"{"102290129340398":[{"type":"whatsapp","call_count":100,"total_cputime":2,"total_time":2,"estimated_time_to_regain_access":7}]}"#.to_owned(),
    ));
    let (client, _) = serve(canned).await;
    let error = client
        .send_message(PHONE_NUMBER_ID, TOKEN, &text_body())
        .await
        .unwrap_err();
    assert_eq!(
        error.retry_class(),
        RetryClass::Retryable {
            after: Some(Duration::from_secs(7 * 60))
        }
    );
}

#[tokio::test]
async fn a_pair_rate_error_is_flagged_for_the_throttler() {
    // No fixture holds a synchronous 131056; this is the same envelope with that code.
    let body = r#"{"error":{"message":"(#131056) (Business Account, Consumer Account) pair rate limit hit","type":"OAuthException","code":131056,"error_data":{"messaging_product":"whatsapp","details":"Message failed to send because there were too many messages sent from this phone number to the same phone number in a short period of time."},"fbtrace_id":"A"}}"#;
    let (client, _) = serve(Canned::new(400, body)).await;
    let error = client
        .send_message(PHONE_NUMBER_ID, TOKEN, &text_body())
        .await
        .unwrap_err();
    assert!(error.is_pair_rate());
    assert!(!error.is_throughput());
    assert_eq!(error.retry_class(), RetryClass::Retryable { after: None });
}

#[tokio::test]
async fn non_json_error_bodies_become_http_errors() {
    let (client, _) = serve(Canned::new(502, "<html><body>Bad Gateway</body></html>")).await;
    let error = client
        .send_message(PHONE_NUMBER_ID, TOKEN, &text_body())
        .await
        .unwrap_err();
    let GraphError::Http {
        status,
        body_excerpt,
    } = &error
    else {
        panic!("{error:?}")
    };
    assert_eq!(*status, 502);
    assert!(body_excerpt.contains("Bad Gateway"));
    assert!(error.retry_class().is_retryable());

    let (client, _) = serve(Canned::new(404, r#"{"unexpected":"shape"}"#)).await;
    let error = client
        .send_message(PHONE_NUMBER_ID, TOKEN, &text_body())
        .await
        .unwrap_err();
    assert!(
        matches!(error, GraphError::Http { status: 404, .. }),
        "{error:?}"
    );
    assert_eq!(error.retry_class(), RetryClass::Permanent);

    let (client, _) = serve(Canned::new(503, "x".repeat(10_000))).await;
    let error = client
        .send_message(PHONE_NUMBER_ID, TOKEN, &text_body())
        .await
        .unwrap_err();
    let GraphError::Http { body_excerpt, .. } = &error else {
        panic!("{error:?}")
    };
    assert_eq!(body_excerpt.len(), 512);
}

#[tokio::test]
async fn a_slow_answer_is_a_timeout() {
    let mut canned = Canned::new(200, fixture("send_message_response.json"));
    canned.delay = Duration::from_secs(3);
    let (client, _) = serve_with_timeout(canned, Duration::from_millis(200)).await;
    let error = client
        .send_message(PHONE_NUMBER_ID, TOKEN, &text_body())
        .await
        .unwrap_err();
    assert!(matches!(error, GraphError::Timeout), "{error:?}");
    assert!(error.retry_class().is_retryable());
}

#[tokio::test]
async fn a_closed_port_is_a_connect_error() {
    // Bind then drop, so the port is very likely closed.
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
    let error = client
        .send_message(PHONE_NUMBER_ID, TOKEN, &text_body())
        .await
        .unwrap_err();
    assert!(matches!(error, GraphError::Connect(_)), "{error:?}");
    assert!(error.retry_class().is_retryable());
    assert!(!format!("{error} {error:?} {client:?}").contains(TOKEN));
}

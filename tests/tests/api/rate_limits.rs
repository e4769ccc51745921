//! Tests: per-token rate limits on the REST surfaces (issue 5): the `X-RateLimit-*` headers on
//! every authenticated response, 429 with `Retry-After` in each surface's envelope, per-token
//! limits, one count shared by two `parley serve` processes, cleanup of old windows, and
//! `GET /api/v2/external/health` and `…/rate-limit-test` as seed 000 specifies them.

use crate::cli_support::Deployment;
use chrono::{DateTime, Duration as Span, Utc};
use parley_tests::{TestApp, Workspace};
use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::{json, Value};
use std::num::NonZeroU32;
use std::time::Duration;
use store::{Pools, Tenancy};
use uuid::Uuid;

const WINDOW_SECONDS: i64 = 900;

/// The rate-limit headers of a response.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Limits {
    limit: i64,
    remaining: i64,
    reset: String,
}

impl Limits {
    fn reset_at(&self) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(&self.reset)
            .unwrap_or_else(|e| panic!("X-RateLimit-Reset {:?}: {e}", self.reset))
            .with_timezone(&Utc)
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).map(|v| v.to_str().expect("ASCII header"))
}

fn limits(headers: &HeaderMap) -> Limits {
    let integer = |name: &str| -> i64 {
        header(headers, name)
            .unwrap_or_else(|| panic!("no {name} header: {headers:?}"))
            .parse()
            .unwrap_or_else(|e| panic!("{name} is not an integer: {e}"))
    };
    Limits {
        limit: integer("x-ratelimit-limit"),
        remaining: integer("x-ratelimit-remaining"),
        reset: header(headers, "x-ratelimit-reset")
            .expect("no X-RateLimit-Reset header")
            .to_string(),
    }
}

fn has_no_limits(headers: &HeaderMap) -> bool {
    [
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
    ]
    .iter()
    .all(|name| headers.get(*name).is_none())
}

/// Sends a request; returns its status, headers and JSON body (Null when not JSON).
async fn call(request: reqwest::RequestBuilder) -> (u16, HeaderMap, Value) {
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap_or_default();
    (
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

/// Windows are fixed quarter hours: when the current one ends within ten seconds, waits until it
/// has, so that a test's requests all fall in one window.
async fn clear_of_window_end() {
    let window_ms = WINDOW_SECONDS * 1000;
    let left = window_ms - Utc::now().timestamp_millis().rem_euclid(window_ms);
    if left < 10_000 {
        tokio::time::sleep(Duration::from_millis(left as u64 + 200)).await;
    }
}

/// The start of the window `at` falls in.
fn window_start(at: DateTime<Utc>) -> DateTime<Utc> {
    let seconds = at.timestamp().div_euclid(WINDOW_SECONDS) * WINDOW_SECONDS;
    DateTime::from_timestamp(seconds, 0).unwrap()
}

fn tenancy(app: &TestApp) -> Tenancy {
    Tenancy::new(app.app.infra.pools.queries.clone())
}

/// The workspace again, with another of its tokens.
fn with_token(workspace: &Workspace, token: String) -> Workspace {
    Workspace {
        token,
        ..workspace.clone()
    }
}

fn assert_external_rate_limited(body: &Value) {
    assert_eq!(body["success"], false, "{body}");
    assert_eq!(body["error"]["code"], "RATE_LIMITED", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert_eq!(body.as_object().unwrap().len(), 2, "{body}");
}

/// `Retry-After`: whole seconds until the window resets.
fn retry_after(headers: &HeaderMap, limits: &Limits) -> i64 {
    let seconds: i64 = header(headers, "retry-after")
        .expect("no Retry-After header")
        .parse()
        .expect("Retry-After in seconds");
    assert!((1..=WINDOW_SECONDS).contains(&seconds), "{seconds}");
    let until_reset = (limits.reset_at() - Utc::now()).num_seconds();
    assert!(
        (seconds - until_reset).abs() <= 2,
        "Retry-After {seconds} s, but the window resets in {until_reset} s"
    );
    seconds
}

#[tokio::test]
async fn rate_limit_headers_are_on_every_authenticated_response_and_count_down() {
    let app = TestApp::spawn().await;
    let account = app.workspace.phone_number;
    clear_of_window_end().await;

    // Successes, 4xx errors and unknown paths of both surfaces: each counted, each with headers.
    let requests = [
        (
            Method::GET,
            "/api/v2/external/phone-numbers".to_string(),
            None,
            200,
        ),
        (
            Method::GET,
            format!("/v1/whatsapp/contacts?accountId={account}"),
            None,
            200,
        ),
        (
            Method::GET,
            format!("/api/v2/external/phone-numbers/{}", Uuid::new_v4()),
            None,
            404,
        ),
        (
            Method::POST,
            "/v1/whatsapp/contacts".to_string(),
            Some(json!({"phone": 12})),
            400,
        ),
        (
            Method::GET,
            "/api/v2/external/no-such-thing".to_string(),
            None,
            404,
        ),
        (Method::PUT, "/v1/whatsapp/groups".to_string(), None, 405),
    ];
    let mut seen = Vec::new();
    for (method, path, body, expected) in requests {
        let mut request = app.request(method.clone(), &path);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let (status, headers, body) = call(request).await;
        assert_eq!(status, expected, "{method} {path}: {body}");
        seen.push(limits(&headers));
    }
    let first = &seen[0];
    assert_eq!(first.limit, 1000);
    assert_eq!(first.remaining, 999);
    for (n, limits) in seen.iter().enumerate() {
        assert_eq!(limits.limit, 1000);
        assert_eq!(limits.remaining, 999 - n as i64, "{seen:?}");
        assert_eq!(limits.reset, first.reset, "one window: {seen:?}");
    }
    // `2023-12-01T11:00:00Z`: UTC, whole seconds, the end of the current quarter hour.
    let reset = first.reset_at();
    assert!(
        first.reset.ends_with('Z') && !first.reset.contains('.'),
        "{first:?}"
    );
    assert_eq!(reset.timestamp() % WINDOW_SECONDS, 0, "{first:?}");
    assert_eq!(
        reset,
        window_start(Utc::now()) + Span::seconds(WINDOW_SECONDS)
    );

    // The X-API-Key form counts against the same token.
    let (status, headers, _) = call(
        app.http
            .get(format!("{}/api/v2/external/phone-numbers", app.base_url))
            .header("x-api-key", &app.workspace.token),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(limits(&headers).remaining, 993);

    // Without a valid token: 401 as always, no headers, not counted.
    let url = format!("{}/api/v2/external/phone-numbers", app.base_url);
    let v1 = format!("{}/v1/whatsapp/contacts?accountId={account}", app.base_url);
    for request in [
        app.http.get(&url),
        app.http.get(&url).bearer_auth("wat_not-a-token"),
        app.http.get(&v1).header("x-api-key", "nope"),
    ] {
        let (status, headers, body) = call(request).await;
        assert_eq!(status, 401, "{body}");
        assert!(has_no_limits(&headers), "{headers:?}");
    }

    // Liveness, the document, Meta's webhook and GraphQL are not limited, token or not.
    for (method, path) in [
        (Method::GET, "/healthz"),
        (Method::GET, "/api/v2/openapi.json"),
        (Method::GET, "/webhook"),
    ] {
        let (_, headers, _) = call(app.request(method.clone(), path)).await;
        assert!(has_no_limits(&headers), "{method} {path}: {headers:?}");
    }
    let (status, headers, body) = call(
        app.request(Method::POST, "/graphql")
            .json(&json!({"query": "{ __typename }"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(has_no_limits(&headers), "graphql: {headers:?}");

    let (_, headers, _) = call(app.request(Method::GET, "/api/v2/external/phone-numbers")).await;
    assert_eq!(
        limits(&headers).remaining,
        992,
        "only authenticated REST requests count"
    );
}

#[tokio::test]
async fn a_token_over_its_own_limit_gets_429_while_another_token_of_the_workspace_does_not() {
    let app = TestApp::spawn().await;
    let tenancy = tenancy(&app);
    let limited = app.workspace.clone();
    assert!(tenancy
        .set_rate_limit(&limited.token, NonZeroU32::new(3))
        .await
        .unwrap());
    let other = with_token(
        &limited,
        tenancy.issue_token(limited.id, "second").await.unwrap(),
    );
    let phone_numbers = "/api/v2/external/phone-numbers";
    let contacts = format!("/v1/whatsapp/contacts?accountId={}", limited.phone_number);
    clear_of_window_end().await;

    for remaining in [2, 1, 0] {
        let (status, headers, body) =
            call(app.request_as(&limited, Method::GET, phone_numbers)).await;
        assert_eq!(status, 200, "{body}");
        let seen = limits(&headers);
        assert_eq!((seen.limit, seen.remaining), (3, remaining), "{seen:?}");
    }

    // The 4th: 429 in the External API envelope, with Retry-After; no handler runs.
    let (status, headers, body) = call(app.request_as(&limited, Method::GET, phone_numbers)).await;
    assert_eq!(status, 429, "{body}");
    assert_external_rate_limited(&body);
    let refused = limits(&headers);
    assert_eq!((refused.limit, refused.remaining), (3, 0));
    retry_after(&headers, &refused);
    assert!(headers.get("x-request-id").is_some());
    let db = app.db().await;
    let events = || async {
        let row = db
            .query_one("SELECT count(*) FROM events", &[])
            .await
            .unwrap();
        row.get::<_, i64>(0)
    };
    let before = events().await;
    let (status, headers, body) = call(
        app.request_as(&limited, Method::POST, "/api/v2/external/messages/send")
            .json(&json!({"phoneNumberId": limited.meta_phone_number_id, "to": "+14155550123", "message": "hi"})),
    )
    .await;
    assert_eq!(status, 429, "{body}");
    assert_external_rate_limited(&body);
    assert_eq!(limits(&headers), refused);
    retry_after(&headers, &refused);
    assert_eq!(events().await, before, "a refused send records nothing");

    // The WhatsApp API answers in its own envelope.
    let (status, headers, body) = call(app.request_as(&limited, Method::GET, &contacts)).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["success"], false, "{body}");
    assert_eq!(body["code"], "RATE_LIMITED", "{body}");
    assert!(body["error"].is_string(), "{body}");
    assert_eq!(limits(&headers), refused);
    retry_after(&headers, &refused);

    // The workspace's other token has its own count and the default limit.
    let (status, headers, body) = call(app.request_as(&other, Method::GET, &contacts)).await;
    assert_eq!(status, 200, "{body}");
    let seen = limits(&headers);
    assert_eq!((seen.limit, seen.remaining), (1000, 999));
    assert_eq!(seen.reset, refused.reset);

    // Back to the default: the refused requests counted too (3 served, 3 refused, this one).
    assert!(tenancy.set_rate_limit(&limited.token, None).await.unwrap());
    let (status, headers, body) = call(app.request_as(&limited, Method::GET, phone_numbers)).await;
    assert_eq!(status, 200, "{body}");
    let seen = limits(&headers);
    assert_eq!((seen.limit, seen.remaining), (1000, 993));
    assert!(!tenancy
        .set_rate_limit("wat_no-such-token", NonZeroU32::new(5))
        .await
        .unwrap());
}

#[tokio::test]
async fn two_parley_servers_on_one_database_share_each_tokens_count() {
    let deployment = Deployment::start("Rate limits").await;
    let first = deployment.serve(deployment.api_port, &[]).await;
    let second_port = crate::cli_support::free_port();
    let second = deployment.serve(second_port, &[]).await;
    let servers = [
        Deployment::api(deployment.api_port),
        Deployment::api(second_port),
    ];
    let pools = Pools::connect(&deployment.database_url, 2).await.unwrap();
    let tenancy = Tenancy::new(pools.queries.clone());
    assert!(tenancy
        .set_rate_limit(&deployment.token, NonZeroU32::new(5))
        .await
        .unwrap());
    let get = |server: &str, token: &str| {
        deployment
            .http
            .get(format!("{server}/api/v2/external/rate-limit-test"))
            .bearer_auth(token)
    };
    clear_of_window_end().await;

    // Alternating between the servers, one count: 4, 3, 2, 1, 0 left, then refused on both.
    for (n, remaining) in [4, 3, 2, 1, 0].into_iter().enumerate() {
        let (status, headers, body) = call(get(&servers[n % 2], &deployment.token)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(limits(&headers).remaining, remaining);
        assert_eq!(body["data"]["remaining"], remaining, "{body}");
    }
    for server in &servers {
        let (status, headers, body) = call(get(server, &deployment.token)).await;
        assert_eq!(status, 429, "{server}: {body}");
        assert_external_rate_limited(&body);
        retry_after(&headers, &limits(&headers));
    }

    // Concurrent requests on both servers: every one counted once, none lost.
    let workspace = tenancy
        .authenticate(&deployment.token)
        .await
        .unwrap()
        .unwrap()
        .workspace_id;
    let token = tenancy.issue_token(workspace, "burst").await.unwrap();
    let burst = (0..40).map(|n| call(get(&servers[n % 2], &token)));
    let mut remaining: Vec<i64> = futures::future::join_all(burst)
        .await
        .into_iter()
        .map(|(status, headers, body)| {
            assert_eq!(status, 200, "{body}");
            limits(&headers).remaining
        })
        .collect();
    remaining.sort_unstable();
    assert_eq!(remaining, (960..1000).collect::<Vec<i64>>());
    drop((first, second));
}

#[tokio::test]
async fn the_first_request_of_a_window_deletes_only_that_tokens_older_windows() {
    let app = TestApp::spawn().await;
    let other = app.another_workspace().await;
    let db = app.db().await;
    let token_of = |workspace: domain::WorkspaceId| {
        let db = &db;
        async move {
            let row = db
                .query_one(
                    "SELECT id FROM api_tokens WHERE workspace_id = $1",
                    &[&workspace.0],
                )
                .await
                .unwrap();
            row.get::<_, Uuid>(0)
        }
    };
    let (mine, theirs) = (token_of(app.workspace.id).await, token_of(other.id).await);
    clear_of_window_end().await;
    let current = window_start(Utc::now());
    for (token, ago) in [(mine, 1), (mine, 2), (theirs, 1)] {
        db.execute(
            "INSERT INTO rate_limit_windows (token_id, window_start, count) VALUES ($1, $2, 50)",
            &[&token, &(current - Span::seconds(WINDOW_SECONDS * ago))],
        )
        .await
        .unwrap();
    }
    let windows = |token: Uuid| {
        let db = &db;
        async move {
            db.query(
                "SELECT window_start, count FROM rate_limit_windows WHERE token_id = $1 ORDER BY window_start",
                &[&token],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get::<_, DateTime<Utc>>(0), r.get::<_, i32>(1)))
            .collect::<Vec<_>>()
        }
    };

    for count in [1, 2] {
        let (status, headers, _) = call(app.request(Method::GET, "/api/v2/external/health")).await;
        assert_eq!(status, 200);
        assert_eq!(
            limits(&headers).remaining,
            1000 - count as i64,
            "old windows do not count"
        );
        assert_eq!(windows(mine).await, vec![(current, count)]);
    }
    assert_eq!(
        windows(theirs).await,
        vec![(current - Span::seconds(WINDOW_SECONDS), 50)],
        "another token's windows are its own business"
    );
}

#[tokio::test]
async fn health_and_rate_limit_test_answer_as_seed_000_specifies() {
    let app = TestApp::spawn().await;
    clear_of_window_end().await;

    let (status, headers, body) = call(app.request(Method::GET, "/api/v2/external/health")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["success"], true, "{body}");
    assert_eq!(body["data"]["status"], "healthy", "{body}");
    let timestamp = DateTime::parse_from_rfc3339(body["data"]["timestamp"].as_str().unwrap())
        .expect("an RFC 3339 timestamp");
    assert!(
        (Utc::now() - timestamp.with_timezone(&Utc))
            .num_seconds()
            .abs()
            <= 5
    );
    assert_eq!(body.as_object().unwrap().len(), 2, "{body}");
    assert_eq!(body["data"].as_object().unwrap().len(), 2, "{body}");
    assert_eq!(limits(&headers).remaining, 999);

    let (status, headers, body) = call(
        app.http
            .get(format!("{}/api/v2/external/health", app.base_url))
            .header("x-api-key", &app.workspace.token),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(limits(&headers).remaining, 998);

    // rate-limit-test: this request counted, the body says what the headers say.
    for remaining in [997, 996] {
        let (status, headers, body) =
            call(app.request(Method::GET, "/api/v2/external/rate-limit-test")).await;
        assert_eq!(status, 200, "{body}");
        let seen = limits(&headers);
        assert_eq!(seen.remaining, remaining);
        assert_eq!(
            body,
            json!({"success": true, "data": {
                "limit": 1000, "remaining": remaining, "reset": seen.reset, "window": 900,
            }})
        );
    }

    // Both need a token: 401 in the Error format, without rate-limit headers.
    for path in [
        "/api/v2/external/health",
        "/api/v2/external/rate-limit-test",
    ] {
        let url = format!("{}{path}", app.base_url);
        for request in [
            app.http.get(&url),
            app.http.get(&url).bearer_auth("wat_wrong"),
        ] {
            let (status, headers, body) = call(request).await;
            assert_eq!(status, 401, "{path}: {body}");
            assert_eq!(body["success"], false, "{body}");
            assert_eq!(body["error"]["code"], "UNAUTHORIZED", "{body}");
            assert!(body["error"]["message"].is_string(), "{body}");
            assert!(has_no_limits(&headers), "{path}: {headers:?}");
        }
    }
}

//! A local axum server that plays the Graph API with the recorded fixtures, shared by the
//! client tests. Each test binary uses a different part of it.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::to_bytes;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::Router;
use meta::{GraphClient, GraphConfig};
use serde_json::Value;

pub const TOKEN: &str = "EAAG-test-token-never-logged";
pub const PHONE_NUMBER_ID: &str = "106540352242922";

/// Reads a fixture from `shared/meta/fixtures` (provenance in its `SOURCES.md`).
pub fn fixture(name: &str) -> String {
    let path = fixtures_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/meta/fixtures")
}

/// What the fake Graph API saw of one request.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    /// The raw query string, if any.
    pub query: Option<String>,
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

impl Seen {
    /// The decoded query pairs, in order.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        let query = self.query.as_deref().unwrap_or_default();
        url_decode_pairs(query)
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("request body is not JSON ({e}): {:?}", self.body))
    }
}

/// Decodes `a=1&b=x%20y` (with `+` as space) into pairs.
fn url_decode_pairs(query: &str) -> Vec<(String, String)> {
    reqwest::Url::parse(&format!("http://x/?{query}"))
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// A canned answer: status, extra headers, body, and an optional delay.
#[derive(Clone)]
pub struct Canned {
    pub status: StatusCode,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
    pub delay: Duration,
}

impl Canned {
    pub fn new(status: u16, body: impl Into<String>) -> Canned {
        Canned {
            status: StatusCode::from_u16(status).unwrap(),
            headers: Vec::new(),
            body: body.into(),
            delay: Duration::ZERO,
        }
    }
}

pub type Recorder = Arc<Mutex<Vec<Seen>>>;

/// Starts a fake Graph API on a free loopback port that answers every request with `canned`.
pub async fn serve(canned: Canned) -> (GraphClient, Recorder) {
    serve_with_timeout(canned, Duration::from_secs(5)).await
}

/// Like [`serve`], with the client's timeout.
pub async fn serve_with_timeout(canned: Canned, timeout: Duration) -> (GraphClient, Recorder) {
    serve_sequence_with_timeout(vec![canned], timeout).await
}

/// Answers the n-th request with `answers[n]`, and every later one with the last answer.
pub async fn serve_sequence(answers: Vec<Canned>) -> (GraphClient, Recorder) {
    serve_sequence_with_timeout(answers, Duration::from_secs(5)).await
}

async fn serve_sequence_with_timeout(
    answers: Vec<Canned>,
    timeout: Duration,
) -> (GraphClient, Recorder) {
    assert!(!answers.is_empty(), "at least one canned answer");
    let answers = Arc::new(answers);
    let seen: Recorder = Arc::new(Mutex::new(Vec::new()));
    let recorder = seen.clone();
    let app = Router::new().fallback(move |request: Request| {
        let answers = answers.clone();
        let recorder = recorder.clone();
        async move {
            let (parts, body) = request.into_parts();
            let header = |name: &str| {
                parts
                    .headers
                    .get(name)
                    .map(|v| v.to_str().unwrap().to_owned())
            };
            let record = Seen {
                method: parts.method.to_string(),
                path: parts.uri.path().to_owned(),
                query: parts.uri.query().map(str::to_owned),
                authorization: header("authorization"),
                content_type: header("content-type"),
                body: to_bytes(body, usize::MAX).await.unwrap().to_vec(),
            };
            let canned = {
                let mut seen = recorder.lock().unwrap();
                seen.push(record);
                answers[(seen.len() - 1).min(answers.len() - 1)].clone()
            };
            tokio::time::sleep(canned.delay).await;
            let mut headers = HeaderMap::new();
            headers.insert("content-type", HeaderValue::from_static("application/json"));
            for (name, value) in canned.headers {
                headers.insert(
                    HeaderName::from_static(name),
                    HeaderValue::from_str(&value).unwrap(),
                );
            }
            (canned.status, headers, canned.body).into_response()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let client = GraphClient::new(GraphConfig {
        base_url: format!("http://{address}"),
        version: "v23.0".to_owned(),
        timeout,
    })
    .unwrap();
    (client, seen)
}

/// The one request the server saw.
pub fn only_request(seen: &Recorder) -> Seen {
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1, "exactly one request expected");
    seen[0].clone()
}

/// `Bearer {TOKEN}`.
pub fn bearer() -> String {
    format!("Bearer {TOKEN}")
}

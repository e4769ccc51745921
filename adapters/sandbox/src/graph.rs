//! The Graph API endpoints Parley calls: send and mark-read (README §1), media (§2), and
//! `GET /{id}` for whichever object the id names (media, template or phone number).

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::envelope::{classify, Call};
use crate::graph_numbers::is_phone_number_id;
use crate::ids;
use crate::meta_error::GraphFailure;
use crate::state::{MediaItem, SandboxState, SendRequest};
use crate::webhooks::run_status_plan;

/// The success answer of a send, fields in Meta's order.
#[derive(Serialize)]
struct SendResponse {
    messaging_product: &'static str,
    contacts: [ContactOut; 1],
    messages: [MessageOut; 1],
}

#[derive(Serialize)]
struct ContactOut {
    input: String,
    wa_id: String,
}

#[derive(Serialize)]
struct MessageOut {
    id: String,
    /// Only template sends carry it in Meta's recordings (README §1.3).
    #[serde(skip_serializing_if = "Option::is_none")]
    message_status: Option<&'static str>,
}

/// The bearer token of a request, if it has a non-empty one.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Refuses requests without an acceptable bearer token with Meta's 190.
pub(crate) fn authorize(state: &SandboxState, headers: &HeaderMap) -> Result<(), GraphFailure> {
    match bearer(headers) {
        Some(token) if state.token_accepted(token) => Ok(()),
        _ => Err(GraphFailure::invalid_token()),
    }
}

/// Waits the configured added latency of Graph answers.
pub(crate) async fn response_delay(state: &SandboxState) {
    let delay = state.response_delay();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
}

/// A Graph call's parameters: the query string, overridden by a JSON or form-encoded body.
pub(crate) fn params(
    query: &BTreeMap<String, String>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Map<String, Value>, GraphFailure> {
    let mut params: Map<String, Value> = query
        .iter()
        .map(|(k, v)| (k.clone(), Value::from(v.clone())))
        .collect();
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(params);
    }
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if form {
        let text = std::str::from_utf8(body)
            .map_err(|_| GraphFailure::invalid_parameter("The request body is not valid UTF-8."))?;
        let url = reqwest::Url::parse(&format!("http://sandbox/?{text}")).map_err(|_| {
            GraphFailure::invalid_parameter("The request body is not valid form data.")
        })?;
        for (key, value) in url.query_pairs() {
            params.insert(key.into_owned(), Value::from(value.into_owned()));
        }
        return Ok(params);
    }
    match serde_json::from_slice(body) {
        Ok(Value::Object(fields)) => {
            params.extend(fields);
            Ok(params)
        }
        _ => Err(GraphFailure::invalid_parameter(
            "The request body must be a JSON object.",
        )),
    }
}

/// `POST /{version}/{phone_number_id}/messages`: a send or a mark-read.
pub(crate) async fn post_messages(
    State(state): State<SandboxState>,
    Path((_version, phone_number_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    response_delay(&state).await;
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    if let Err(failure) = authorize(&state, &headers) {
        return state
            .record_rejection(&phone_number_id, parsed.unwrap_or(Value::Null), failure)
            .into_response();
    }
    let Some(body) = parsed else {
        let failure = GraphFailure::invalid_parameter("The request body is not valid JSON.");
        return state
            .record_rejection(&phone_number_id, Value::Null, failure)
            .into_response();
    };
    let call = match classify(&body) {
        Ok(call) => call,
        Err(details) => {
            let failure = GraphFailure::invalid_parameter(details);
            return state
                .record_rejection(&phone_number_id, body, failure)
                .into_response();
        }
    };
    match call {
        Call::MarkRead {
            message_id,
            typing_indicator,
        } => match state.mark_read(&phone_number_id, &message_id, typing_indicator, body) {
            Ok(()) => Json(json!({"success": true})).into_response(),
            Err(failure) => failure.into_response(),
        },
        Call::Send(send) => {
            let template = send.kind == "template";
            if template {
                if let Err(failure) = state.check_template_send(&phone_number_id, &body["template"])
                {
                    return state
                        .record_rejection(&phone_number_id, body, failure)
                        .into_response();
                }
            }
            let to = send.to.clone();
            let wa_id = send.wa_id.clone();
            let request = SendRequest {
                phone_number_id,
                to: send.to,
                wa_id: send.wa_id,
                kind: send.kind,
                biz_opaque_callback_data: send.biz_opaque_callback_data,
                body,
            };
            match state.admit(request) {
                Ok(admitted) => {
                    if let Some(plan) = admitted.plan {
                        tokio::spawn(run_status_plan(state.clone(), plan));
                    }
                    Json(SendResponse {
                        messaging_product: "whatsapp",
                        contacts: [ContactOut { input: to, wa_id }],
                        messages: [MessageOut {
                            id: admitted.wamid,
                            message_status: template.then_some("accepted"),
                        }],
                    })
                    .into_response()
                }
                Err(failure) => failure.into_response(),
            }
        }
    }
}

/// `POST /{version}/{phone_number_id}/media`: multipart `messaging_product`, `file`, `type`.
pub(crate) async fn post_media(
    State(state): State<SandboxState>,
    Path((_version, phone_number_id)): Path<(String, String)>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Json<Value>, GraphFailure> {
    response_delay(&state).await;
    authorize(&state, &headers)?;
    let mut multipart = multipart.map_err(|e| {
        GraphFailure::invalid_parameter(format!("The request must be multipart/form-data: {e}"))
    })?;
    let mut product = None;
    let mut declared_type = None;
    let mut file = None;
    loop {
        let field = multipart.next_field().await.map_err(|e| {
            GraphFailure::invalid_parameter(format!("Malformed multipart body: {e}"))
        })?;
        let Some(field) = field else { break };
        let name = field.name().unwrap_or_default().to_string();
        let content_type = field.content_type().map(str::to_string);
        let filename = field.file_name().map(str::to_string);
        let data = field.bytes().await.map_err(|e| {
            GraphFailure::invalid_parameter(format!("Malformed multipart body: {e}"))
        })?;
        match name.as_str() {
            "messaging_product" => product = Some(String::from_utf8_lossy(&data).into_owned()),
            "type" => declared_type = Some(String::from_utf8_lossy(&data).into_owned()),
            "file" => file = Some((data, content_type, filename)),
            _ => {}
        }
    }
    match product.as_deref() {
        Some("whatsapp") => {}
        Some(other) => {
            return Err(GraphFailure::invalid_parameter(format!(
                "Param messaging_product must be one of {{WHATSAPP}} - got \"{other}\"."
            )))
        }
        None => {
            return Err(GraphFailure::invalid_parameter(
                "The parameter messaging_product is required.",
            ))
        }
    }
    let Some((bytes, content_type, filename)) = file else {
        return Err(GraphFailure::invalid_parameter(
            "The parameter file is required.",
        ));
    };
    // The `type` field wins over the part's own content type, as the docs list it separately.
    let mime_type = declared_type
        .filter(|t| !t.is_empty())
        .or(content_type)
        .unwrap_or_else(|| "application/octet-stream".to_string());
    let id = ids::media_id();
    state.store_media(
        MediaItem {
            id: id.clone(),
            phone_number_id,
            mime_type,
            sha256_hex: hex::encode(Sha256::digest(&bytes)),
            filename,
            bytes,
        },
        true,
    );
    Ok(Json(json!({ "id": id })))
}

/// `GET /{version}/{id}`: a media file's URL response, a template, or a phone number, by what
/// the id names; anything else is Meta's "object does not exist".
pub(crate) async fn get_object(
    State(state): State<SandboxState>,
    Path((_version, id)): Path<(String, String)>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Result<Json<Value>, GraphFailure> {
    authorize(&state, &headers)?;
    let fields = query.get("fields").map(String::as_str);
    if let Some(media) = state.media(&id) {
        return Ok(media_answer(&media, &headers));
    }
    if let Some(template) = state.template(&id) {
        return Ok(Json(template.graph_json(fields)));
    }
    if is_phone_number_id(&state, &id) {
        return Ok(Json(state.phone_number_json(&id, fields)));
    }
    Err(GraphFailure::unknown_object(&id))
}

/// The media URL response (`media_get_url_response.json`).
fn media_answer(media: &MediaItem, headers: &HeaderMap) -> Json<Value> {
    let media_id = &media.id;
    // The download URL points back at this sandbox, at whatever address the caller used.
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    Json(json!({
        "url": format!("http://{host}/_sandbox/media/{media_id}"),
        "mime_type": media.mime_type,
        "sha256": media.sha256_hex,
        "file_size": media.bytes.len(),
        "id": media.id,
        "messaging_product": "whatsapp",
    }))
}

/// `DELETE /{version}/{media_id}`: `{"success": true}`.
pub(crate) async fn delete_media(
    State(state): State<SandboxState>,
    Path((_version, media_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Json<Value>, GraphFailure> {
    authorize(&state, &headers)?;
    if state.delete_media(&media_id) {
        Ok(Json(json!({"success": true})))
    } else {
        Err(GraphFailure::unknown_object(&media_id))
    }
}

/// `GET /_sandbox/media/{media_id}`: the bytes, behind the bearer token as Meta's media URLs are.
pub(crate) async fn download_media(
    State(state): State<SandboxState>,
    Path(media_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(failure) = authorize(&state, &headers) {
        return failure.into_response();
    }
    match state.media(&media_id) {
        Some(media) => ([(header::CONTENT_TYPE, media.mime_type)], media.bytes).into_response(),
        // Meta answers 404 for an expired URL; the client is expected to fetch a new one.
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Any other path: Meta's 100/33 "object does not exist" answer.
pub(crate) async fn unknown_path(uri: Uri) -> GraphFailure {
    let id = uri
        .path()
        .trim_matches('/')
        .split('/')
        .nth(1)
        .unwrap_or_default()
        .to_string();
    GraphFailure::unknown_object(&id)
}

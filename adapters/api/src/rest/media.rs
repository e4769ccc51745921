//! `POST /api/v2/external/media/upload` (seed 000): keeps the file, uploads it to Meta with the
//! number's token, and answers the id `send-media` takes.

use crate::extract::Caller;
use crate::state::AppState;
use crate::surface::{respond, ApiError, ExternalV2};
use application::{Freshness, PhoneNumberRef, RequestContext};
use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

type Error = ApiError<ExternalV2>;

/// The largest upload Meta accepts of any kind (documents), plus room for the form around it.
pub const MAX_UPLOAD_BYTES: usize = 100 * 1024 * 1024 + 64 * 1024;

const MB: usize = 1024 * 1024;

/// Meta's limit for a MIME type (README §2), or `None` when Meta does not take the type.
fn meta_limit(mime_type: &str) -> Option<usize> {
    let essence = mime_type.split(';').next().unwrap_or_default().trim();
    match essence {
        "image/jpeg" | "image/png" => Some(5 * MB),
        // WebP is sent as a sticker: 500 KB animated (100 KB static; Meta checks that itself).
        "image/webp" => Some(500 * 1024),
        "audio/aac" | "audio/amr" | "audio/mpeg" | "audio/mp4" | "audio/ogg" => Some(16 * MB),
        "video/mp4" | "video/3gpp" => Some(16 * MB),
        "text/plain"
        | "application/pdf"
        | "application/vnd.ms-excel"
        | "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        | "application/msword"
        | "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        | "application/vnd.ms-powerpoint"
        | "application/vnd.openxmlformats-officedocument.presentationml.presentation" => {
            Some(100 * MB)
        }
        _ => None,
    }
}

struct Upload {
    phone_number_id: Option<String>,
    bytes: Vec<u8>,
    mime_type: String,
    file_name: Option<String>,
}

async fn read_form(mut form: Multipart) -> Result<Upload, Error> {
    let bad = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                "File too large",
            )
        } else {
            ApiError::validation(format!("Invalid multipart body: {}", e.body_text()))
        }
    };
    let mut upload = Upload {
        phone_number_id: None,
        bytes: Vec::new(),
        mime_type: String::new(),
        file_name: None,
    };
    let mut has_file = false;
    while let Some(field) = form.next_field().await.map_err(bad)? {
        match field.name() {
            Some("phoneNumberId") => {
                upload.phone_number_id = Some(field.text().await.map_err(bad)?)
            }
            Some("file") => {
                upload.mime_type = field
                    .content_type()
                    .unwrap_or("application/octet-stream")
                    .to_string();
                upload.file_name = field.file_name().map(str::to_string);
                upload.bytes = field.bytes().await.map_err(bad)?.to_vec();
                has_file = true;
            }
            Some(other) => {
                return Err(ApiError::validation(format!(
                    "Unknown form field '{other}'"
                )))
            }
            None => return Err(ApiError::validation("A form field has no name")),
        }
    }
    if !has_file {
        return Err(ApiError::validation("The form needs a 'file' field"));
    }
    Ok(upload)
}

/// `POST /api/v2/external/media/upload`
pub async fn upload(
    State(state): State<AppState>,
    Caller(caller, ..): Caller<ExternalV2>,
    form: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response, Error> {
    let form = form.map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            format!("Expected a multipart/form-data body: {}", e.body_text()),
        )
    })?;
    let upload = read_form(form).await?;
    let phone = upload
        .phone_number_id
        .as_deref()
        .ok_or_else(|| ApiError::validation("The form needs a 'phoneNumberId' field"))?;
    let limit = meta_limit(&upload.mime_type).ok_or_else(|| {
        ApiError::validation(format!(
            "Meta does not accept '{}' files (images: jpeg, png; stickers: webp; audio: aac, amr, mp3, m4a, ogg; video: mp4, 3gp; documents: txt, pdf, Office)",
            upload.mime_type
        ))
    })?;
    if upload.bytes.is_empty() {
        return Err(ApiError::validation("The file is empty"));
    }
    if upload.bytes.len() > limit {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            format!(
                "File too large: Meta accepts '{}' files up to {} bytes",
                upload.mime_type, limit
            ),
        ));
    }
    let (number, _) = state
        .app
        .resolve_phone_number(&caller, &PhoneNumberRef::parse(phone))
        .await?;
    let credentials = state
        .app
        .meta_credentials(number)
        .await?
        .ok_or_else(|| ApiError::not_found("Phone number"))?;
    let token = credentials
        .access_token
        .ok_or_else(|| ApiError::validation("The phone number has no Meta access token"))?;
    let graph = state.graph.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            "Media uploads are not configured on this server",
        )
    })?;
    let meta_media_id = graph
        .upload_media(
            &credentials.meta_phone_number_id,
            &token,
            upload.bytes.clone(),
            &upload.mime_type,
            upload.file_name.as_deref().unwrap_or("upload"),
        )
        .await
        .map_err(|error| {
            tracing::warn!(%error, "media upload to Meta failed");
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "META_ERROR",
                format!("Meta refused the upload: {error}"),
            )
        })?;
    let id = store_media(&state, &caller, number, &meta_media_id, &upload).await?;
    Ok(respond(
        StatusCode::OK,
        json!({ "success": true, "data": {
            "mediaId": id,
            "mimeType": upload.mime_type,
            "fileSize": upload.bytes.len(),
        }}),
        Freshness::Fresh,
    ))
}

async fn store_media(
    state: &AppState,
    caller: &RequestContext,
    phone_number: Uuid,
    meta_media_id: &str,
    upload: &Upload,
) -> Result<Uuid, Error> {
    let id = Uuid::new_v4();
    let digest = Sha256::digest(&upload.bytes).to_vec();
    let client = state.queries.get().await?;
    client
        .execute(
            "INSERT INTO media (id, workspace_id, phone_number_id, meta_media_id, mime_type, file_name, \
                                size_bytes, sha256, bytes) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                &id,
                &caller.workspace_id.0,
                &phone_number,
                &meta_media_id,
                &upload.mime_type,
                &upload.file_name,
                &(upload.bytes.len() as i64),
                &digest,
                &upload.bytes,
            ],
        )
        .await?;
    Ok(id)
}

/// Meta's id of the workspace's uploaded media `raw_id`; also accepts Meta's own media id
/// (digits) so files uploaded elsewhere can be sent.
pub async fn meta_media_id(
    state: &AppState,
    caller: &RequestContext,
    raw_id: &str,
) -> Result<Option<String>, Error> {
    let raw_id = raw_id.trim();
    if let Ok(id) = Uuid::parse_str(raw_id) {
        let client = state.queries.get().await?;
        let row = client
            .query_opt(
                "SELECT meta_media_id FROM media WHERE id = $1 AND workspace_id = $2",
                &[&id, &caller.workspace_id.0],
            )
            .await?;
        return Ok(row.map(|row| row.get(0)));
    }
    let is_meta_id =
        !raw_id.is_empty() && raw_id.len() <= 64 && raw_id.bytes().all(|b| b.is_ascii_digit());
    Ok(is_meta_id.then(|| raw_id.to_string()))
}

//! The template endpoints of the Graph API (README §3): create, list, edit and delete.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap};
use axum::Json;
use serde::Serialize;
use serde_json::{json, Value};

use crate::graph::{authorize, params, response_delay};
use crate::meta_error::GraphFailure;
use crate::state::SandboxState;
use crate::templates::{validate_create, ListQuery};

/// The answer of a creation (`template_create_response.json`).
#[derive(Serialize)]
pub(crate) struct Created {
    id: String,
    status: String,
    category: String,
}

/// `POST /{version}/{waba_id}/message_templates`: validates, stores as `PENDING`, starts the review.
pub(crate) async fn post_templates(
    State(state): State<SandboxState>,
    Path((_version, waba_id)): Path<(String, String)>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Created>, GraphFailure> {
    response_delay(&state).await;
    authorize(&state, &headers)?;
    let mut params = params(&query, &headers, &body)?;
    // A form-encoded creation carries `components` as JSON text.
    if let Some(Value::String(text)) = params.get("components") {
        if let Ok(parsed) = serde_json::from_str::<Value>(text) {
            params.insert("components".to_string(), parsed);
        }
    }
    let new = validate_create(&params).map_err(GraphFailure::invalid_parameter)?;
    let template = state.create_template(&waba_id, new)?;
    Ok(Json(Created {
        id: template.id,
        status: template.status,
        category: template.category,
    }))
}

/// `GET /{version}/{waba_id}/message_templates?limit=&after=&before=&name=&status=&fields=`:
/// one page in creation order, with Meta's `paging.cursors` and a `next` URL when more follow.
pub(crate) async fn get_templates(
    State(state): State<SandboxState>,
    Path((version, waba_id)): Path<(String, String)>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Result<Json<Value>, GraphFailure> {
    response_delay(&state).await;
    authorize(&state, &headers)?;
    let list = ListQuery::parse(&query).map_err(GraphFailure::invalid_parameter)?;
    let page = state.templates().page(&waba_id, &list);
    let fields = query.get("fields").map(String::as_str);
    let data: Vec<Value> = page.data.iter().map(|t| t.graph_json(fields)).collect();
    let (Some(before), Some(after)) = (page.before, page.after) else {
        return Ok(Json(json!({ "data": data })));
    };
    // Links point back at this sandbox, at whatever address the caller used, like Meta's do.
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    let link = |cursor_key: &str, cursor: &str| {
        let mut pairs: Vec<(String, String)> = query
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "after" | "before" | "limit"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        pairs.push(("limit".to_string(), list.limit.to_string()));
        pairs.push((cursor_key.to_string(), cursor.to_string()));
        let mut url = reqwest::Url::parse(&format!(
            "http://{host}/{version}/{waba_id}/message_templates"
        ))
        .expect("the sandbox's own address parses");
        url.query_pairs_mut().extend_pairs(pairs);
        url.to_string()
    };
    let mut paging = json!({ "cursors": { "before": before, "after": after } });
    if page.has_next {
        paging["next"] = Value::from(link("after", &after));
    }
    if page.has_previous {
        paging["previous"] = Value::from(link("before", &before));
    }
    Ok(Json(json!({ "data": data, "paging": paging })))
}

/// `DELETE /{version}/{waba_id}/message_templates?name=X[&hsm_id=Y]`: every language of `name`,
/// or only the template `hsm_id`.
pub(crate) async fn delete_templates(
    State(state): State<SandboxState>,
    Path((_version, waba_id)): Path<(String, String)>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, GraphFailure> {
    response_delay(&state).await;
    authorize(&state, &headers)?;
    let params = params(&query, &headers, &body)?;
    let text = |key: &str| {
        params
            .get(key)
            .and_then(|v| match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .filter(|s| !s.is_empty())
    };
    let Some(name) = text("name") else {
        return Err(GraphFailure::invalid_parameter(
            "The parameter name is required.",
        ));
    };
    state.delete_templates(&waba_id, &name, text("hsm_id").as_deref())?;
    Ok(Json(json!({"success": true})))
}

/// `POST /{version}/{template_id}`: an edit (`{components, category?}`); any other id is Meta's
/// "object does not exist".
pub(crate) async fn post_object(
    State(state): State<SandboxState>,
    Path((_version, id)): Path<(String, String)>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, GraphFailure> {
    response_delay(&state).await;
    authorize(&state, &headers)?;
    if state.template(&id).is_none() {
        return Err(GraphFailure::unknown_object(&id));
    }
    let mut params = params(&query, &headers, &body)?;
    if let Some(Value::String(text)) = params.get("components") {
        if let Ok(parsed) = serde_json::from_str::<Value>(text) {
            params.insert("components".to_string(), parsed);
        }
    }
    state.edit_template(&id, &params)?;
    Ok(Json(json!({"success": true})))
}

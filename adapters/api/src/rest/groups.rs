//! `/v1/whatsapp/groups`: groups derived from contacts (seed 001), with rename and delete.

use super::contacts::account_id;
use crate::extract::{Body, Caller, Params};
use crate::state::AppState;
use crate::surface::{respond, ApiError, WhatsAppV1};
use application::Freshness;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use projections::contacts;
use serde::Deserialize;
use serde_json::json;

type Error = ApiError<WhatsAppV1>;

/// Query of `GET /v1/whatsapp/groups`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListQuery {
    account_id: Option<String>,
}

/// `GET /v1/whatsapp/groups`
pub async fn list(
    State(state): State<AppState>,
    Caller(caller, ..): Caller<WhatsAppV1>,
    Params(query, ..): Params<WhatsAppV1, ListQuery>,
) -> Result<Response, Error> {
    let account = account_id(query.account_id.as_deref().unwrap_or_default())?;
    state.app.ensure_account(&caller, account).await?;
    let client = state.queries.get().await?;
    let (groups, summary) = contacts::groups(&**client, caller.workspace_id, account).await?;
    let groups: Vec<_> = groups
        .iter()
        .map(|g| json!({ "name": g.name, "totalCount": g.total_count, "optedInCount": g.opted_in_count }))
        .collect();
    Ok(respond(
        StatusCode::OK,
        json!({
            "success": true,
            "groups": groups,
            "summary": {
                "totalContacts": summary.total_contacts,
                "optedInContacts": summary.opted_in_contacts,
                "groupCount": summary.group_count,
            },
        }),
        Freshness::Fresh,
    ))
}

/// Body of `POST /v1/whatsapp/groups` (rename).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RenameRequest {
    account_id: String,
    old_name: String,
    new_name: String,
}

/// `POST /v1/whatsapp/groups`: renames a group on every contact that has it.
pub async fn rename(
    State(state): State<AppState>,
    Caller(caller, ..): Caller<WhatsAppV1>,
    Body(body, ..): Body<WhatsAppV1, RenameRequest>,
) -> Result<Response, Error> {
    let account = account_id(&body.account_id)?;
    let (outcome, freshness) = state
        .app
        .rename_group(&caller, account, &body.old_name, &body.new_name)
        .await?;
    Ok(respond(
        StatusCode::OK,
        json!({
            "success": true,
            "message": format!("Group '{}' renamed to '{}'", body.old_name.trim(), body.new_name.trim()),
            "modified": outcome.modified,
        }),
        freshness,
    ))
}

/// Body of `DELETE /v1/whatsapp/groups`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteRequest {
    account_id: String,
    group_name: String,
}

/// `DELETE /v1/whatsapp/groups`: removes the group from every contact; contacts stay.
pub async fn delete(
    State(state): State<AppState>,
    Caller(caller, ..): Caller<WhatsAppV1>,
    Body(body, ..): Body<WhatsAppV1, DeleteRequest>,
) -> Result<Response, Error> {
    let account = account_id(&body.account_id)?;
    let (outcome, freshness) = state
        .app
        .delete_group(&caller, account, &body.group_name)
        .await?;
    Ok(respond(
        StatusCode::OK,
        json!({
            "success": true,
            "message": format!("Group '{}' deleted", body.group_name.trim()),
            "modified": outcome.modified,
        }),
        freshness,
    ))
}

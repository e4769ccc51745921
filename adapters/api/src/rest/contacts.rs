//! `/v1/whatsapp/contacts…`: the WhatsApp contacts API of seed 001, wire-compatible.
//! `accountId` is our phone-number id and must belong to the caller's workspace.

use crate::extract::{path_id, Body, Caller, Params, PathParam};
use crate::state::AppState;
use crate::surface::{respond, ApiError, WhatsAppV1};
use application::contacts::MAX_BULK;
use application::{AppError, BulkAction, ContactInput, Freshness, ImportOutcome};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use domain::contact::ContactUpdate;
use domain::WorkspaceId;
use projections::contacts::{self, ContactFilter, ContactView, PageStart};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use uuid::Uuid;

type Error = ApiError<WhatsAppV1>;

const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 1000;

/// A contact in the seed's shape (the superset of its list, get, create and update shapes).
pub fn contact_json(view: &ContactView) -> Value {
    json!({
        "id": view.id,
        "accountId": view.account_id,
        "phone": view.phone,
        "waId": view.wa_id,
        "name": view.name,
        "email": view.email,
        "company": view.company,
        "tags": view.tags,
        "groups": view.groups,
        "isOptedIn": view.is_opted_in,
        "optInDate": view.opt_in_date,
        "optOutDate": view.opt_out_date,
        "isBlocked": view.is_blocked,
        "lastMessageSentAt": view.last_message_sent_at,
        "lastMessageReceivedAt": view.last_message_received_at,
        "messagesSentCount": view.messages_sent_count,
        "messagesReceivedCount": view.messages_received_count,
        "customFields": view.custom_fields,
        "notes": view.notes,
        "createdAt": view.created_at,
        "updatedAt": view.updated_at,
    })
}

/// Parses `accountId`: an id that cannot be ours is an unknown account.
pub fn account_id(raw: &str) -> Result<Uuid, Error> {
    if raw.trim().is_empty() {
        return Err(ApiError::validation("accountId is required"));
    }
    Uuid::parse_str(raw.trim()).map_err(|_| ApiError::not_found("WhatsApp account"))
}

/// An error of a call naming `accountId`: a number that is not the caller's is seed 001's
/// `WhatsApp account not found`; anything else as usual.
pub fn account_error(error: AppError) -> Error {
    match error {
        AppError::NotFound("phone number") => ApiError::not_found("WhatsApp account"),
        other => other.into(),
    }
}

async fn contact_response(
    state: &AppState,
    workspace: WorkspaceId,
    id: Uuid,
    freshness: Freshness,
) -> Result<Response, Error> {
    let client = state.queries.get().await?;
    let view = contacts::get(&**client, workspace, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Contact"))?;
    Ok(respond(
        StatusCode::OK,
        json!({ "success": true, "contact": contact_json(&view) }),
        freshness,
    ))
}

/// Query of `GET /v1/whatsapp/contacts`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListQuery {
    account_id: Option<String>,
    search: Option<String>,
    tag: Option<String>,
    group: Option<String>,
    opted_in: Option<String>,
    limit: Option<i64>,
    skip: Option<i64>,
}

/// `GET /v1/whatsapp/contacts`
pub async fn list(
    State(state): State<AppState>,
    Caller(caller, ..): Caller<WhatsAppV1>,
    Params(query, ..): Params<WhatsAppV1, ListQuery>,
) -> Result<Response, Error> {
    let account = account_id(query.account_id.as_deref().unwrap_or_default())?;
    let opted_in = match query.opted_in.as_deref() {
        None | Some("") => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(other) => {
            return Err(ApiError::validation(format!(
                "optedIn must be 'true' or 'false', not '{other}'"
            )))
        }
    };
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::validation(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        )));
    }
    let skip = query.skip.unwrap_or(0);
    if skip < 0 {
        return Err(ApiError::validation("skip must not be negative"));
    }
    state.app.ensure_account(&caller, account).await?;
    let filter = ContactFilter {
        search: query.search,
        tag: query.tag.filter(|t| !t.is_empty()),
        group: query.group.filter(|g| !g.is_empty()),
        opted_in,
    };
    let client = state.queries.get().await?;
    let page = contacts::list(
        &**client,
        caller.workspace_id,
        account,
        &filter,
        &PageStart::Skip(skip),
        limit,
    )
    .await?;
    let (tags, groups) =
        contacts::available_labels(&**client, caller.workspace_id, account).await?;
    let listed: Vec<Value> = page.contacts.iter().map(contact_json).collect();
    let has_more = skip + (listed.len() as i64) < page.total;
    Ok(respond(
        StatusCode::OK,
        json!({
            "success": true,
            "contacts": listed,
            "filters": { "tags": tags, "groups": groups },
            "pagination": { "total": page.total, "limit": limit, "skip": skip, "hasMore": has_more },
        }),
        Freshness::Fresh,
    ))
}

/// Body of `POST /v1/whatsapp/contacts`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateRequest {
    account_id: String,
    phone: String,
    name: String,
    email: Option<String>,
    company: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    groups: Vec<String>,
    is_opted_in: Option<bool>,
    #[serde(default)]
    custom_fields: BTreeMap<String, String>,
    notes: Option<String>,
}

/// `POST /v1/whatsapp/contacts`: 200 with the contact, 409 when the phone exists on the account.
pub async fn create(
    State(state): State<AppState>,
    Caller(caller, ..): Caller<WhatsAppV1>,
    Body(body, ..): Body<WhatsAppV1, CreateRequest>,
) -> Result<Response, Error> {
    let account = account_id(&body.account_id)?;
    let input = ContactInput {
        phone: body.phone,
        name: body.name,
        email: body.email,
        company: body.company,
        tags: body.tags,
        groups: body.groups,
        is_opted_in: body.is_opted_in.unwrap_or(true),
        custom_fields: body.custom_fields,
        notes: body.notes,
    };
    let (id, freshness) = state.app.create_contact(&caller, account, input).await?;
    contact_response(&state, caller.workspace_id, id, freshness).await
}

/// `GET /v1/whatsapp/contacts/{contactId}`
pub async fn get(
    State(state): State<AppState>,
    Caller(caller, ..): Caller<WhatsAppV1>,
    id: PathParam<WhatsAppV1>,
) -> Result<Response, Error> {
    let id = path_id(&id, "Contact")?;
    contact_response(&state, caller.workspace_id, id, Freshness::Fresh).await
}

/// Body of `PUT /v1/whatsapp/contacts/{contactId}`: every field optional.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateRequest {
    name: Option<String>,
    email: Option<String>,
    company: Option<String>,
    tags: Option<Vec<String>>,
    groups: Option<Vec<String>>,
    is_opted_in: Option<bool>,
    is_blocked: Option<bool>,
    custom_fields: Option<BTreeMap<String, Option<String>>>,
    notes: Option<String>,
}

/// `PUT /v1/whatsapp/contacts/{contactId}`
pub async fn update(
    State(state): State<AppState>,
    Caller(caller, ..): Caller<WhatsAppV1>,
    id: PathParam<WhatsAppV1>,
    Body(body, ..): Body<WhatsAppV1, UpdateRequest>,
) -> Result<Response, Error> {
    let id = path_id(&id, "Contact")?;
    let update = ContactUpdate {
        name: body.name,
        email: body.email,
        company: body.company,
        notes: body.notes,
        tags: body.tags,
        groups: body.groups,
        is_opted_in: body.is_opted_in,
        is_blocked: body.is_blocked,
        custom_fields: body.custom_fields,
    };
    let (_, freshness) = state.app.update_contact(&caller, id, update).await?;
    contact_response(&state, caller.workspace_id, id, freshness).await
}

/// `DELETE /v1/whatsapp/contacts/{contactId}`
pub async fn delete(
    State(state): State<AppState>,
    Caller(caller, ..): Caller<WhatsAppV1>,
    id: PathParam<WhatsAppV1>,
) -> Result<Response, Error> {
    let id = path_id(&id, "Contact")?;
    let freshness = state.app.delete_contact(&caller, id).await?;
    Ok(respond(
        StatusCode::OK,
        json!({ "success": true, "message": "Contact deleted successfully" }),
        freshness,
    ))
}

/// One row of an import.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportRow {
    phone: String,
    name: String,
    email: Option<String>,
    company: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    custom_fields: BTreeMap<String, String>,
    notes: Option<String>,
}

/// Body of `POST /v1/whatsapp/contacts/import`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportRequest {
    account_id: String,
    contacts: Vec<ImportRow>,
    #[serde(default)]
    default_tags: Vec<String>,
    #[serde(default)]
    default_groups: Vec<String>,
    skip_duplicates: Option<bool>,
}

/// `POST /v1/whatsapp/contacts/import`: up to 1000 rows, a result per row.
pub async fn import(
    State(state): State<AppState>,
    Caller(caller, ..): Caller<WhatsAppV1>,
    Body(body, ..): Body<WhatsAppV1, ImportRequest>,
) -> Result<Response, Error> {
    let account = account_id(&body.account_id)?;
    let echo: Vec<(String, String)> = body
        .contacts
        .iter()
        .map(|c| (c.phone.clone(), c.name.clone()))
        .collect();
    let rows = body
        .contacts
        .into_iter()
        .map(|row| ContactInput {
            phone: row.phone,
            name: row.name,
            email: row.email,
            company: row.company,
            tags: row.tags,
            groups: row.groups,
            is_opted_in: true,
            custom_fields: row.custom_fields,
            notes: row.notes,
        })
        .collect();
    let (outcomes, freshness) = state
        .app
        .import_contacts(
            &caller,
            account,
            rows,
            body.default_tags,
            body.default_groups,
            body.skip_duplicates.unwrap_or(true),
        )
        .await?;
    let (mut created, mut skipped, mut failed) = (0, 0, 0);
    let results: Vec<Value> = outcomes
        .iter()
        .zip(echo)
        .map(|(outcome, (phone, name))| match outcome {
            ImportOutcome::Created(id) => {
                created += 1;
                json!({ "phone": phone, "name": name, "success": true, "contactId": id })
            }
            ImportOutcome::Skipped(id) => {
                skipped += 1;
                json!({ "phone": phone, "name": name, "success": false, "contactId": id,
                        "error": "Contact with this phone number already exists (skipped)" })
            }
            ImportOutcome::Failed(reason) => {
                failed += 1;
                json!({ "phone": phone, "name": name, "success": false, "error": reason })
            }
        })
        .collect();
    Ok(respond(
        StatusCode::OK,
        json!({
            "success": true,
            "summary": { "total": results.len(), "created": created, "skipped": skipped, "failed": failed },
            "results": results,
        }),
        freshness,
    ))
}

/// Body of `POST /v1/whatsapp/contacts/bulk`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkRequest {
    action: String,
    contact_ids: Vec<String>,
    tags: Option<Vec<String>>,
    groups: Option<Vec<String>>,
}

fn bulk_action(
    action: &str,
    tags: Option<Vec<String>>,
    groups: Option<Vec<String>>,
) -> Result<BulkAction, Error> {
    let require = |list: Option<Vec<String>>, field: &str| -> Result<Vec<String>, Error> {
        match list {
            Some(list) if !list.is_empty() => Ok(list),
            _ => Err(ApiError::validation(format!(
                "{field} is required for action '{action}'"
            ))),
        }
    };
    Ok(match action {
        "addTags" => BulkAction::AddTags(require(tags, "tags")?),
        "removeTags" => BulkAction::RemoveTags(require(tags, "tags")?),
        "addGroups" => BulkAction::AddGroups(require(groups, "groups")?),
        "removeGroups" => BulkAction::RemoveGroups(require(groups, "groups")?),
        "optIn" => BulkAction::OptIn,
        "optOut" => BulkAction::OptOut,
        "block" => BulkAction::Block,
        "unblock" => BulkAction::Unblock,
        other => {
            return Err(ApiError::validation(format!(
                "action must be one of addTags, removeTags, addGroups, removeGroups, optIn, optOut, block, unblock (got '{other}')"
            )))
        }
    })
}

/// Ids that cannot be ours are not matched, like unknown ones.
fn contact_ids(raw: &[String]) -> Result<Vec<Uuid>, Error> {
    if raw.is_empty() {
        return Err(ApiError::validation("contactIds array is required"));
    }
    if raw.len() > MAX_BULK {
        return Err(ApiError::validation(format!(
            "at most {MAX_BULK} contactIds per request"
        )));
    }
    Ok(raw
        .iter()
        .filter_map(|id| Uuid::parse_str(id).ok())
        .collect())
}

/// `POST /v1/whatsapp/contacts/bulk`
pub async fn bulk_update(
    State(state): State<AppState>,
    Caller(caller, ..): Caller<WhatsAppV1>,
    Body(body, ..): Body<WhatsAppV1, BulkRequest>,
) -> Result<Response, Error> {
    let action = bulk_action(&body.action, body.tags, body.groups)?;
    let ids = contact_ids(&body.contact_ids)?;
    let (outcome, freshness) = if ids.is_empty() {
        (Default::default(), Freshness::Fresh)
    } else {
        state
            .app
            .bulk_update_contacts(&caller, &ids, action)
            .await?
    };
    Ok(respond(
        StatusCode::OK,
        json!({ "success": true, "action": body.action, "modified": outcome.modified, "matched": outcome.matched }),
        freshness,
    ))
}

/// Body of `DELETE /v1/whatsapp/contacts/bulk`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkDeleteRequest {
    contact_ids: Vec<String>,
}

/// `DELETE /v1/whatsapp/contacts/bulk`
pub async fn bulk_delete(
    State(state): State<AppState>,
    Caller(caller, ..): Caller<WhatsAppV1>,
    Body(body, ..): Body<WhatsAppV1, BulkDeleteRequest>,
) -> Result<Response, Error> {
    let ids = contact_ids(&body.contact_ids)?;
    let (outcome, freshness) = if ids.is_empty() {
        (Default::default(), Freshness::Fresh)
    } else {
        state.app.bulk_delete_contacts(&caller, &ids).await?
    };
    Ok(respond(
        StatusCode::OK,
        json!({ "success": true, "deleted": outcome.modified }),
        freshness,
    ))
}

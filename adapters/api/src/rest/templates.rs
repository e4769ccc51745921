//! `/v1/whatsapp/templates…` (seed 001, wire-compatible, plus `/sync` and `/{name}/submit` in the
//! same style), `/v1/whatsapp/business-profile` and the phone-number registration codes
//! (`/v1/whatsapp/phone-numbers/{id}/request-code`, `/verify`). `accountId` is our phone-number id.

use crate::extract::{Body, Caller, OptionalBody, Params, PathParam};
use crate::rest::contacts::{account_error, account_id};
use crate::state::AppState;
use crate::surface::{respond, ApiError, WhatsAppV1};
use application::{
    BusinessProfileUpdate, CodeMethod, Freshness, PhoneNumberRef, RequestContext, TemplateInput,
};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use domain::template::TemplateState;
use projections::templates::{self, TemplateView};
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

type Error = ApiError<WhatsAppV1>;

/// A template in the seed's shape: `id` is Meta's id once Meta has it (Parley's id before),
/// plus Parley's `parleyId`, `variables`, `rejectionReason`, `qualityScore`.
pub fn template_json(id: Uuid, state: &TemplateState) -> Value {
    json!({
        "id": state.meta_template_id.clone().unwrap_or_else(|| id.to_string()),
        "parleyId": id,
        "name": state.name,
        "status": state.status.as_str(),
        "category": state.category.as_str(),
        "language": state.language,
        "components": state.components,
        "variables": state.variables_complete(),
        "rejectionReason": state.rejection_reason,
        "qualityScore": state.quality_score,
        "createdAt": state.created_at,
        "updatedAt": state.updated_at,
    })
}

fn graph(state: &AppState) -> Result<&meta::GraphClient, Error> {
    state.graph.as_deref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            "Meta's Graph API is not configured",
        )
    })
}

/// The templates named `name` on the account's WABA (one per language), optionally one language.
async fn named(
    state: &AppState,
    caller: &RequestContext,
    account: Uuid,
    name: &str,
    language: Option<&str>,
) -> Result<Vec<TemplateView>, Error> {
    let (_, number) = state
        .app
        .resolve_phone_number(caller, &PhoneNumberRef::Id(account))
        .await
        .map_err(account_error)?;
    let client = state.queries.get().await?;
    let found: Vec<TemplateView> =
        templates::list_templates(&**client, caller.workspace_id, &number.waba_id, Some(name))
            .await?
            .into_iter()
            .filter(|t| language.is_none_or(|l| t.state.language == l))
            .collect();
    if found.is_empty() {
        return Err(ApiError::not_found("Template"));
    }
    Ok(found)
}

/// Query naming the account (and optionally a language).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountQuery {
    account_id: Option<String>,
    language: Option<String>,
}

/// `GET /v1/whatsapp/templates`
pub async fn list(
    State(state): State<AppState>,
    Caller(caller, ..): Caller<WhatsAppV1>,
    Params(query, ..): Params<WhatsAppV1, AccountQuery>,
) -> Result<Response, Error> {
    let account = account_id(query.account_id.as_deref().unwrap_or_default())?;
    let (_, number) = state
        .app
        .resolve_phone_number(&caller, &PhoneNumberRef::Id(account))
        .await
        .map_err(account_error)?;
    let client = state.queries.get().await?;
    let listed: Vec<Value> =
        templates::list_templates(&**client, caller.workspace_id, &number.waba_id, None)
            .await?
            .iter()
            .filter(|t| {
                query
                    .language
                    .as_deref()
                    .is_none_or(|l| t.state.language == l)
            })
            .map(|t| template_json(t.template_id, &t.state))
            .collect();
    Ok(respond(
        StatusCode::OK,
        json!({ "success": true, "templates": listed }),
        Freshness::Fresh,
    ))
}

/// Body of `POST /v1/whatsapp/templates`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateRequest {
    account_id: String,
    name: String,
    category: String,
    language: String,
    components: Vec<Value>,
    #[serde(default)]
    variables: Vec<Value>,
    /// Parley: `false` keeps the template a draft (submit it later).
    submit: Option<bool>,
}

/// `POST /v1/whatsapp/templates`: created and submitted to Meta for review (status `PENDING`;
/// Meta's id follows once the outbox has submitted it).
pub async fn create(
    State(state): State<AppState>,
    Caller(caller, ..): Caller<WhatsAppV1>,
    Body(body, ..): Body<WhatsAppV1, CreateRequest>,
) -> Result<Response, Error> {
    let account = account_id(&body.account_id)?;
    let changed = state
        .app
        .create_template(
            &caller,
            TemplateInput {
                phone_number: PhoneNumberRef::Id(account),
                name: body.name,
                language: body.language,
                category: body.category,
                components: body.components,
                variables: body.variables,
            },
            body.submit.unwrap_or(true),
        )
        .await
        .map_err(account_error)?;
    Ok(respond(
        StatusCode::OK,
        json!({ "success": true, "template": template_json(changed.template_id, &changed.state) }),
        changed.freshness,
    ))
}

/// `GET /v1/whatsapp/templates/{templateName}`: the first language unless `language` is given.
pub async fn get(
    State(state): State<AppState>,
    Caller(caller, ..): Caller<WhatsAppV1>,
    name: PathParam<WhatsAppV1>,
    Params(query, ..): Params<WhatsAppV1, AccountQuery>,
) -> Result<Response, Error> {
    let account = account_id(query.account_id.as_deref().unwrap_or_default())?;
    let found = named(
        &state,
        &caller,
        account,
        name.0.as_deref().unwrap_or_default(),
        query.language.as_deref(),
    )
    .await?;
    Ok(respond(
        StatusCode::OK,
        json!({ "success": true, "template": template_json(found[0].template_id, &found[0].state) }),
        Freshness::Fresh,
    ))
}

/// Body of `PATCH /v1/whatsapp/templates/{templateName}`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateRequest {
    account_id: String,
    components: Vec<Value>,
    variables: Option<Vec<Value>>,
    language: Option<String>,
}

/// `PATCH /v1/whatsapp/templates/{templateName}`: new components (on Meta too, reviewed again).
pub async fn update(
    State(state): State<AppState>,
    Caller(caller, ..): Caller<WhatsAppV1>,
    name: PathParam<WhatsAppV1>,
    Body(body, ..): Body<WhatsAppV1, UpdateRequest>,
) -> Result<Response, Error> {
    let account = account_id(&body.account_id)?;
    let found = named(
        &state,
        &caller,
        account,
        name.0.as_deref().unwrap_or_default(),
        body.language.as_deref(),
    )
    .await?;
    let changed = state
        .app
        .update_template(
            &caller,
            found[0].template_id,
            body.components,
            body.variables,
        )
        .await?;
    let json = template_json(changed.template_id, &changed.state);
    Ok(respond(
        StatusCode::OK,
        json!({ "success": true, "template": {
            "id": json["id"], "name": json["name"], "status": json["status"], "parleyId": json["parleyId"],
        }}),
        changed.freshness,
    ))
}

/// `DELETE /v1/whatsapp/templates/{templateName}`: every language (as Meta does) unless
/// `language` narrows it.
pub async fn delete(
    State(state): State<AppState>,
    Caller(caller, ..): Caller<WhatsAppV1>,
    name: PathParam<WhatsAppV1>,
    Params(query, ..): Params<WhatsAppV1, AccountQuery>,
) -> Result<Response, Error> {
    let account = account_id(query.account_id.as_deref().unwrap_or_default())?;
    let found = named(
        &state,
        &caller,
        account,
        name.0.as_deref().unwrap_or_default(),
        query.language.as_deref(),
    )
    .await?;
    let mut freshness = Freshness::Fresh;
    for template in &found {
        if state
            .app
            .delete_template(&caller, template.template_id)
            .await?
            == Freshness::Stale
        {
            freshness = Freshness::Stale;
        }
    }
    Ok(respond(
        StatusCode::OK,
        json!({ "success": true, "message": format!("Template \"{}\" deleted successfully", name.0.as_deref().unwrap_or_default()) }),
        freshness,
    ))
}

/// Body of `POST /v1/whatsapp/templates/{templateName}/submit`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubmitRequest {
    account_id: String,
    language: Option<String>,
}

/// `POST /v1/whatsapp/templates/{templateName}/submit`: a draft or rejected template to review.
pub async fn submit(
    State(state): State<AppState>,
    Caller(caller, ..): Caller<WhatsAppV1>,
    name: PathParam<WhatsAppV1>,
    Body(body, ..): Body<WhatsAppV1, SubmitRequest>,
) -> Result<Response, Error> {
    let account = account_id(&body.account_id)?;
    let found = named(
        &state,
        &caller,
        account,
        name.0.as_deref().unwrap_or_default(),
        body.language.as_deref(),
    )
    .await?;
    let changed = state
        .app
        .submit_template(&caller, found[0].template_id)
        .await?;
    Ok(respond(
        StatusCode::OK,
        json!({ "success": true, "template": template_json(changed.template_id, &changed.state) }),
        changed.freshness,
    ))
}

/// Body naming the account.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountBody {
    account_id: String,
}

/// `POST /v1/whatsapp/templates/sync`: imports what Meta has, updates what changed.
pub async fn sync(
    State(state): State<AppState>,
    Caller(caller, ..): Caller<WhatsAppV1>,
    Body(body, ..): Body<WhatsAppV1, AccountBody>,
) -> Result<Response, Error> {
    let account = account_id(&body.account_id)?;
    let report = state
        .app
        .sync_templates(graph(&state)?, &caller, &PhoneNumberRef::Id(account))
        .await
        .map_err(account_error)?;
    Ok(respond(
        StatusCode::OK,
        json!({
            "success": report.errors.is_empty(),
            "imported": report.imported,
            "updated": report.updated,
            "unchanged": report.unchanged,
            "errors": report.errors,
        }),
        Freshness::Fresh,
    ))
}

/// `GET /v1/whatsapp/business-profile`: read from Meta.
pub async fn business_profile(
    State(state): State<AppState>,
    Caller(caller, ..): Caller<WhatsAppV1>,
    Params(query, ..): Params<WhatsAppV1, AccountQuery>,
) -> Result<Response, Error> {
    let account = account_id(query.account_id.as_deref().unwrap_or_default())?;
    let profile = state
        .app
        .business_profile(graph(&state)?, &caller, &PhoneNumberRef::Id(account))
        .await
        .map_err(account_error)?;
    Ok(respond(
        StatusCode::OK,
        json!({ "success": true, "businessProfile": {
            "about": profile.about,
            "address": profile.address,
            "description": profile.description,
            "email": profile.email,
            "profilePictureUrl": profile.profile_picture_url,
            "websites": profile.websites,
            "vertical": profile.vertical,
        }}),
        Freshness::Fresh,
    ))
}

/// Body of `POST /v1/whatsapp/business-profile`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProfileRequest {
    account_id: String,
    about: Option<String>,
    address: Option<String>,
    description: Option<String>,
    email: Option<String>,
    websites: Option<Vec<String>>,
    vertical: Option<String>,
    profile_picture_handle: Option<String>,
}

/// `POST /v1/whatsapp/business-profile`: only the fields given change.
pub async fn update_business_profile(
    State(state): State<AppState>,
    Caller(caller, ..): Caller<WhatsAppV1>,
    Body(body, ..): Body<WhatsAppV1, ProfileRequest>,
) -> Result<Response, Error> {
    let account = account_id(&body.account_id)?;
    let update = BusinessProfileUpdate {
        about: body.about,
        address: body.address,
        description: body.description,
        email: body.email,
        websites: body.websites,
        vertical: body.vertical,
        profile_picture_handle: body.profile_picture_handle,
    };
    state
        .app
        .update_business_profile(
            graph(&state)?,
            &caller,
            &PhoneNumberRef::Id(account),
            update,
        )
        .await
        .map_err(account_error)?;
    Ok(respond(
        StatusCode::OK,
        json!({ "success": true, "message": "Business profile updated successfully" }),
        Freshness::Fresh,
    ))
}

/// Body of `POST /v1/whatsapp/phone-numbers/{phoneNumberId}/request-code`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct RequestCodeRequest {
    method: Option<CodeMethod>,
    language: Option<String>,
}

/// `POST /v1/whatsapp/phone-numbers/{phoneNumberId}/request-code`
pub async fn request_code(
    State(state): State<AppState>,
    Caller(caller, ..): Caller<WhatsAppV1>,
    id: PathParam<WhatsAppV1>,
    // The body is optional here (seed 001): none means SMS.
    OptionalBody(body, ..): OptionalBody<WhatsAppV1, RequestCodeRequest>,
) -> Result<Response, Error> {
    let method = body.method.unwrap_or(CodeMethod::Sms);
    let language = body.language.unwrap_or_else(|| "en_US".into());
    state
        .app
        .request_registration_code(
            graph(&state)?,
            &caller,
            &PhoneNumberRef::parse(id.0.as_deref().unwrap_or_default()),
            method,
            &language,
        )
        .await?;
    Ok(respond(
        StatusCode::OK,
        json!({ "message": format!("Verification code sent via {}", method.as_str()), "method": method.as_str() }),
        Freshness::Fresh,
    ))
}

/// Body of `POST /v1/whatsapp/phone-numbers/{phoneNumberId}/verify`.
#[derive(Deserialize)]
pub struct VerifyRequest {
    code: String,
}

/// `POST /v1/whatsapp/phone-numbers/{phoneNumberId}/verify`
pub async fn verify_code(
    State(state): State<AppState>,
    Caller(caller, ..): Caller<WhatsAppV1>,
    id: PathParam<WhatsAppV1>,
    Body(body, ..): Body<WhatsAppV1, VerifyRequest>,
) -> Result<Response, Error> {
    state
        .app
        .verify_registration_code(
            graph(&state)?,
            &caller,
            &PhoneNumberRef::parse(id.0.as_deref().unwrap_or_default()),
            &body.code,
        )
        .await?;
    let now = chrono::Utc::now();
    Ok(respond(
        StatusCode::OK,
        json!({
            "message": "Phone number verified successfully",
            "metaVerifiedAt": now,
            "metaVerificationExpiresAt": now + chrono::Duration::days(90),
        }),
        Freshness::Fresh,
    ))
}

//! Reads from the read models, always scoped to the caller's workspace.

use crate::error::{internal, not_found, unavailable, Result};
use crate::types::{Contact, GroupList, PhoneNumber};
use api::AppState;
use application::{Freshness, MetaManagement, RequestContext};
use async_graphql::Context;
use uuid::Uuid;

/// The shared state and the caller of this request.
pub fn env<'a>(ctx: &Context<'a>) -> Result<(&'a AppState, &'a RequestContext)> {
    Ok((ctx.data::<AppState>()?, ctx.data::<RequestContext>()?))
}

/// Records a write's freshness in the `X-Parley-Read-Model` response header (stale wins).
pub fn record(ctx: &Context<'_>, freshness: Freshness) {
    const HEADER: &str = api::surface::READ_MODEL_HEADER;
    match freshness {
        Freshness::Stale => {
            ctx.insert_http_header(HEADER, "stale");
        }
        Freshness::Fresh => {
            if !ctx.http_header_contains(HEADER) {
                ctx.insert_http_header(HEADER, "fresh");
            }
        }
    }
}

/// The client of Meta's management endpoints (the sandbox's under `make run`); UNAVAILABLE when
/// Parley was started without one.
pub fn meta(state: &AppState) -> Result<&impl MetaManagement> {
    state
        .graph
        .as_deref()
        .ok_or_else(|| unavailable("Meta's Graph API is not configured"))
}

/// A query connection.
pub async fn client(state: &AppState) -> Result<deadpool_postgres::Object> {
    state.queries.get().await.map_err(internal)
}

/// The workspace's contact, if any.
pub async fn contact_opt(ctx: &Context<'_>, id: Uuid) -> Result<Option<Contact>> {
    let (state, caller) = env(ctx)?;
    let client = client(state).await?;
    let view = projections::contacts::get(&**client, caller.workspace_id, id)
        .await
        .map_err(internal)?;
    Ok(view.map(Contact::from))
}

/// The workspace's contact, or NOT_FOUND.
pub async fn contact(ctx: &Context<'_>, id: Uuid) -> Result<Contact> {
    contact_opt(ctx, id)
        .await?
        .ok_or_else(|| not_found("contact"))
}

/// The workspace's phone number, or NOT_FOUND.
pub async fn phone_number(ctx: &Context<'_>, id: Uuid) -> Result<PhoneNumber> {
    let (state, caller) = env(ctx)?;
    let client = client(state).await?;
    projections::phone_numbers::get(&**client, caller.workspace_id, id)
        .await
        .map_err(internal)?
        .ok_or_else(|| not_found("phone number"))?
        .try_into()
}

/// The account's groups with counts (the account must already be checked as the caller's).
pub async fn groups(ctx: &Context<'_>, account_id: Uuid) -> Result<GroupList> {
    let (state, caller) = env(ctx)?;
    let client = client(state).await?;
    let (groups, summary) =
        projections::contacts::groups(&**client, caller.workspace_id, account_id)
            .await
            .map_err(internal)?;
    Ok(GroupList {
        groups: groups.into_iter().map(Into::into).collect(),
        summary: summary.into(),
    })
}

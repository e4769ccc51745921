//! Queries: the read models, scoped to the caller's workspace.

use crate::cursor;
use crate::error::{internal, parse_id, validation, OrGraphql, Result};
use crate::read::{self, env};
use crate::types::{
    AvailableLabels, Contact, ContactConnection, ContactEdge, GroupList, PageInfo, PhoneNumber,
};
use async_graphql::{Context, Object, ID};
use projections::contacts::{ContactFilter, PageStart};

/// Page size when `first` is not given.
pub const DEFAULT_PAGE_SIZE: i32 = 50;
/// The largest `first`.
pub const MAX_PAGE_SIZE: i32 = 1000;

/// Contact and phone-number queries (merged into [`crate::QueryRoot`]).
pub struct ContactQuery;

#[Object]
impl ContactQuery {
    /// The workspace's phone numbers, oldest first.
    async fn phone_numbers(&self, ctx: &Context<'_>) -> Result<Vec<PhoneNumber>> {
        let (state, caller) = env(ctx)?;
        let client = read::client(state).await?;
        projections::phone_numbers::list(&**client, caller.workspace_id)
            .await
            .map_err(internal)?
            .into_iter()
            .map(PhoneNumber::try_from)
            .collect()
    }

    /// One phone number of the workspace (NOT_FOUND otherwise).
    async fn phone_number(&self, ctx: &Context<'_>, id: ID) -> Result<Option<PhoneNumber>> {
        let id = parse_id(&id, "phone number")?;
        read::phone_number(ctx, id).await.map(Some)
    }

    /// A page of an account's contacts, sorted by name then id, filtered.
    #[allow(clippy::too_many_arguments)]
    async fn contacts(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The phone number (our id) whose contacts to list.")] account_id: ID,
        #[graphql(desc = "Case-insensitive substring of name, phone, email or company.")]
        search: Option<String>,
        tag: Option<String>,
        group: Option<String>,
        opted_in: Option<bool>,
        #[graphql(default = 50, desc = "Page size, 1 to 1000 (default 50).")] first: i32,
        #[graphql(desc = "The `endCursor` of the previous page.")] after: Option<String>,
    ) -> Result<ContactConnection> {
        let (state, caller) = env(ctx)?;
        let account = parse_id(&account_id, "WhatsApp account")?;
        if !(1..=MAX_PAGE_SIZE).contains(&first) {
            return Err(validation(format!(
                "first must be between 1 and {MAX_PAGE_SIZE}"
            )));
        }
        let start = match after.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
            None => PageStart::Skip(0),
            Some(raw) => {
                let (name, id) =
                    cursor::decode(raw).ok_or_else(|| validation("after is not a valid cursor"))?;
                PageStart::After { name, id }
            }
        };
        state.app.ensure_account(caller, account).await.gql()?;
        let filter = ContactFilter {
            search,
            tag: tag.filter(|t| !t.is_empty()),
            group: group.filter(|g| !g.is_empty()),
            opted_in,
        };
        let client = read::client(state).await?;
        let page = projections::contacts::list(
            &**client,
            caller.workspace_id,
            account,
            &filter,
            &start,
            i64::from(first) + 1,
        )
        .await
        .map_err(internal)?;
        let has_next_page = page.contacts.len() > first as usize;
        let edges: Vec<ContactEdge> = page
            .contacts
            .into_iter()
            .take(first as usize)
            .map(|view| ContactEdge {
                cursor: cursor::encode(&view.name, view.id),
                node: Contact::from(view),
            })
            .collect();
        Ok(ContactConnection {
            page_info: PageInfo {
                has_next_page,
                end_cursor: edges.last().map(|e| e.cursor.clone()),
            },
            edges,
            total_count: page.total,
        })
    }

    /// One contact of the workspace (NOT_FOUND otherwise).
    async fn contact(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Contact>> {
        let id = parse_id(&id, "contact")?;
        read::contact(ctx, id).await.map(Some)
    }

    /// An account's groups (derived from its contacts) with counts, and totals.
    async fn groups(&self, ctx: &Context<'_>, account_id: ID) -> Result<GroupList> {
        let (state, caller) = env(ctx)?;
        let account = parse_id(&account_id, "WhatsApp account")?;
        state.app.ensure_account(caller, account).await.gql()?;
        read::groups(ctx, account).await
    }

    /// The tags and groups in use on an account (for filters).
    async fn available_labels(&self, ctx: &Context<'_>, account_id: ID) -> Result<AvailableLabels> {
        let (state, caller) = env(ctx)?;
        let account = parse_id(&account_id, "WhatsApp account")?;
        state.app.ensure_account(caller, account).await.gql()?;
        let client = read::client(state).await?;
        let (tags, groups) =
            projections::contacts::available_labels(&**client, caller.workspace_id, account)
                .await
                .map_err(internal)?;
        Ok(AvailableLabels { tags, groups })
    }
}

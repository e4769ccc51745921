//! Mutations: one per command. Each returns the changed object read back from the read model
//! (the application waits for the read models before it returns).

use crate::error::{parse_id, validation, OrGraphql, Result};
use crate::read::{self, env, record};
use crate::types::*;
use application::contacts::MAX_BULK;
use application::{
    BulkAction, ContactInput, ImportOutcome, PhoneNumberChangesInput, PhoneNumberInput,
};
use async_graphql::{Context, Object, ID};
use domain::contact::ContactUpdate;
use uuid::Uuid;

/// Contact and phone-number mutations (merged into [`crate::MutationRoot`]).
pub struct ContactMutation;

fn bulk_action(
    kind: BulkActionKind,
    tags: Option<Vec<String>>,
    groups: Option<Vec<String>>,
) -> Result<BulkAction> {
    let require = |list: Option<Vec<String>>, field: &str| -> Result<Vec<String>> {
        match list {
            Some(list) if !list.is_empty() => Ok(list),
            _ => Err(validation(format!("{field} is required for this action"))),
        }
    };
    Ok(match kind {
        BulkActionKind::AddTags => BulkAction::AddTags(require(tags, "tags")?),
        BulkActionKind::RemoveTags => BulkAction::RemoveTags(require(tags, "tags")?),
        BulkActionKind::AddGroups => BulkAction::AddGroups(require(groups, "groups")?),
        BulkActionKind::RemoveGroups => BulkAction::RemoveGroups(require(groups, "groups")?),
        BulkActionKind::OptIn => BulkAction::OptIn,
        BulkActionKind::OptOut => BulkAction::OptOut,
        BulkActionKind::Block => BulkAction::Block,
        BulkActionKind::Unblock => BulkAction::Unblock,
    })
}

/// Bulk ids: ids that cannot be ours are not matched, like unknown ones.
fn contact_ids(raw: &[ID]) -> Result<Vec<Uuid>> {
    if raw.is_empty() {
        return Err(validation("contactIds must not be empty"));
    }
    if raw.len() > MAX_BULK {
        return Err(validation(format!(
            "at most {MAX_BULK} contactIds per request"
        )));
    }
    let mut ids: Vec<Uuid> = raw
        .iter()
        .filter_map(|id| Uuid::parse_str(id.trim()).ok())
        .collect();
    ids.sort();
    ids.dedup();
    Ok(ids)
}

fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

#[Object]
impl ContactMutation {
    /// Registers a WhatsApp business number with the workspace.
    async fn register_phone_number(
        &self,
        ctx: &Context<'_>,
        input: RegisterPhoneNumberInput,
    ) -> Result<PhoneNumber> {
        let (state, caller) = env(ctx)?;
        let input = PhoneNumberInput {
            phone_number_id: input.phone_number_id,
            waba_id: input.waba_id,
            waba_name: input.waba_name,
            display_phone_number: input.display_phone_number,
            display_name: input.display_name,
            verified_name: input.verified_name,
            status: input.status.map(Into::into),
            access_token: input.access_token,
        };
        let (id, freshness) = state.app.register_phone_number(caller, input).await.gql()?;
        record(ctx, freshness);
        read::phone_number(ctx, id).await
    }

    /// Changes a number's details, status or access token.
    async fn update_phone_number(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdatePhoneNumberInput,
    ) -> Result<PhoneNumber> {
        let (state, caller) = env(ctx)?;
        let id = parse_id(&id, "phone number")?;
        let changes = PhoneNumberChangesInput {
            waba_name: input.waba_name,
            display_phone_number: input.display_phone_number,
            display_name: input.display_name,
            verified_name: input.verified_name,
            status: input.status.map(Into::into),
            access_token: input.access_token,
        };
        let freshness = state
            .app
            .update_phone_number(caller, id, changes)
            .await
            .gql()?;
        record(ctx, freshness);
        read::phone_number(ctx, id).await
    }

    /// Removes a number from the workspace; returns its id.
    async fn remove_phone_number(&self, ctx: &Context<'_>, id: ID) -> Result<ID> {
        let (state, caller) = env(ctx)?;
        let uuid = parse_id(&id, "phone number")?;
        let freshness = state.app.remove_phone_number(caller, uuid).await.gql()?;
        record(ctx, freshness);
        Ok(ID(uuid.to_string()))
    }

    /// Creates a contact; CONFLICT when the phone already has one on the account.
    async fn create_contact(
        &self,
        ctx: &Context<'_>,
        input: CreateContactInput,
    ) -> Result<Contact> {
        let (state, caller) = env(ctx)?;
        let account = parse_id(&input.account_id, "WhatsApp account")?;
        let contact = ContactInput {
            phone: input.phone,
            name: input.name,
            email: input.email,
            company: input.company,
            tags: input.tags,
            groups: input.groups,
            is_opted_in: input.is_opted_in,
            custom_fields: new_custom_fields(input.custom_fields)?,
            notes: input.notes,
        };
        let (id, freshness) = state
            .app
            .create_contact(caller, account, contact)
            .await
            .gql()?;
        record(ctx, freshness);
        read::contact(ctx, id).await
    }

    /// Updates a contact partially; custom fields merge, a null value removes a field.
    async fn update_contact(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateContactInput,
    ) -> Result<Contact> {
        let (state, caller) = env(ctx)?;
        let id = parse_id(&id, "contact")?;
        let update = ContactUpdate {
            name: input.name,
            email: input.email,
            company: input.company,
            notes: input.notes,
            tags: input.tags,
            groups: input.groups,
            is_opted_in: input.is_opted_in,
            is_blocked: input.is_blocked,
            custom_fields: input.custom_fields.map(custom_field_changes),
        };
        let (_, freshness) = state.app.update_contact(caller, id, update).await.gql()?;
        record(ctx, freshness);
        read::contact(ctx, id).await
    }

    /// Deletes a contact (its history stays in the event log); returns its id.
    async fn delete_contact(&self, ctx: &Context<'_>, id: ID) -> Result<ID> {
        let (state, caller) = env(ctx)?;
        let uuid = parse_id(&id, "contact")?;
        let freshness = state.app.delete_contact(caller, uuid).await.gql()?;
        record(ctx, freshness);
        Ok(ID(uuid.to_string()))
    }

    /// Imports up to 1000 contacts; a result per row, in input order.
    async fn import_contacts(
        &self,
        ctx: &Context<'_>,
        input: ImportContactsInput,
    ) -> Result<ImportContactsResult> {
        let (state, caller) = env(ctx)?;
        let account = parse_id(&input.account_id, "WhatsApp account")?;
        let echo: Vec<(String, String)> = input
            .contacts
            .iter()
            .map(|c| (c.phone.clone(), c.name.clone()))
            .collect();
        let rows = input
            .contacts
            .into_iter()
            .map(|row| {
                Ok(ContactInput {
                    phone: row.phone,
                    name: row.name,
                    email: row.email,
                    company: row.company,
                    tags: row.tags,
                    groups: row.groups,
                    is_opted_in: row.is_opted_in,
                    custom_fields: new_custom_fields(row.custom_fields)?,
                    notes: row.notes,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let (outcomes, freshness) = state
            .app
            .import_contacts(
                caller,
                account,
                rows,
                input.default_tags,
                input.default_groups,
                input.skip_duplicates,
            )
            .await
            .gql()?;
        record(ctx, freshness);
        let mut summary = ImportSummary::default();
        let results = outcomes
            .into_iter()
            .zip(echo)
            .map(|(outcome, (phone, name))| {
                summary.total += 1;
                let (status, contact_id, error) = match outcome {
                    ImportOutcome::Created(id) => {
                        summary.created += 1;
                        (ImportRowStatus::Created, Some(id), None)
                    }
                    ImportOutcome::Skipped(id) => {
                        summary.skipped += 1;
                        (
                            ImportRowStatus::Skipped,
                            Some(id),
                            Some("Contact with this phone number already exists (skipped)".into()),
                        )
                    }
                    ImportOutcome::Failed(reason) => {
                        summary.failed += 1;
                        (ImportRowStatus::Failed, None, Some(reason))
                    }
                };
                ImportRowResult {
                    phone,
                    name,
                    success: status == ImportRowStatus::Created,
                    status,
                    contact_id: contact_id.map(|id| ID(id.to_string())),
                    error,
                }
            })
            .collect();
        Ok(ImportContactsResult { summary, results })
    }

    /// Runs one action on up to 500 contacts. Unknown or foreign ids are not matched.
    async fn bulk_update_contacts(
        &self,
        ctx: &Context<'_>,
        input: BulkUpdateContactsInput,
    ) -> Result<BulkUpdateResult> {
        let (state, caller) = env(ctx)?;
        let action = bulk_action(input.action, input.tags, input.groups)?;
        let ids = contact_ids(&input.contact_ids)?;
        let outcome = if ids.is_empty() {
            Default::default()
        } else {
            let (outcome, freshness) = state
                .app
                .bulk_update_contacts(caller, &ids, action)
                .await
                .gql()?;
            record(ctx, freshness);
            outcome
        };
        Ok(BulkUpdateResult {
            action: input.action,
            matched: count(outcome.matched),
            modified: count(outcome.modified),
            ids,
        })
    }

    /// Deletes up to 500 contacts. Unknown or foreign ids are not matched.
    async fn bulk_delete_contacts(
        &self,
        ctx: &Context<'_>,
        contact_ids: Vec<ID>,
    ) -> Result<BulkDeleteResult> {
        let (state, caller) = env(ctx)?;
        let ids = self::contact_ids(&contact_ids)?;
        let outcome = if ids.is_empty() {
            Default::default()
        } else {
            let (outcome, freshness) = state.app.bulk_delete_contacts(caller, &ids).await.gql()?;
            record(ctx, freshness);
            outcome
        };
        Ok(BulkDeleteResult {
            deleted: count(outcome.modified),
        })
    }

    /// Renames a group on every contact of the account that has it.
    async fn rename_group(
        &self,
        ctx: &Context<'_>,
        account_id: ID,
        old_name: String,
        new_name: String,
    ) -> Result<GroupChangeResult> {
        let (state, caller) = env(ctx)?;
        let account = parse_id(&account_id, "WhatsApp account")?;
        let (outcome, freshness) = state
            .app
            .rename_group(caller, account, &old_name, &new_name)
            .await
            .gql()?;
        record(ctx, freshness);
        Ok(GroupChangeResult {
            matched: count(outcome.matched),
            modified: count(outcome.modified),
            account_id: account,
            group_name: Some(new_name.trim().to_string()),
        })
    }

    /// Removes a group from every contact of the account; the contacts stay.
    async fn delete_group(
        &self,
        ctx: &Context<'_>,
        account_id: ID,
        name: String,
    ) -> Result<GroupChangeResult> {
        let (state, caller) = env(ctx)?;
        let account = parse_id(&account_id, "WhatsApp account")?;
        let (outcome, freshness) = state.app.delete_group(caller, account, &name).await.gql()?;
        record(ctx, freshness);
        Ok(GroupChangeResult {
            matched: count(outcome.matched),
            modified: count(outcome.modified),
            account_id: account,
            group_name: None,
        })
    }
}

//! Contact use cases: create, update, delete, import, bulk actions, and group rename/delete.

use crate::{
    AppError, Application, CommandBus, Committed, EventKey, Freshness, Infrastructure,
    RequestContext,
};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, AggregateContext, EventStore};
use domain::contact::{
    contact_id, normalize_labels, Contact, ContactCommand, ContactUpdate, NewContact,
};
use domain::phone_number::PhoneNumber;
use domain::{Issued, E164};
use futures::stream::{self, StreamExt};
use std::collections::BTreeMap;
use uuid::Uuid;

/// At most this many contacts per import call (seed 001).
pub const MAX_IMPORT: usize = 1000;
/// At most this many contacts per bulk call (seed 001).
pub const MAX_BULK: usize = 500;
/// Commands an import or bulk call runs at once.
const PARALLEL_COMMANDS: usize = 8;

/// A contact to create, as the caller sent it (the phone not yet parsed).
#[derive(Debug, Clone, Default)]
pub struct ContactInput {
    pub phone: String,
    pub name: String,
    pub email: Option<String>,
    pub company: Option<String>,
    pub tags: Vec<String>,
    pub groups: Vec<String>,
    pub is_opted_in: bool,
    pub custom_fields: BTreeMap<String, String>,
    pub notes: Option<String>,
}

/// How one row of an import ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportOutcome {
    Created(Uuid),
    Skipped(Uuid),
    Failed(String),
}

/// A bulk action on contacts (seed 001's `action`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BulkAction {
    AddTags(Vec<String>),
    RemoveTags(Vec<String>),
    AddGroups(Vec<String>),
    RemoveGroups(Vec<String>),
    OptIn,
    OptOut,
    Block,
    Unblock,
}

impl BulkAction {
    fn command(&self) -> ContactCommand {
        match self {
            Self::AddTags(t) => ContactCommand::AddTags(t.clone()),
            Self::RemoveTags(t) => ContactCommand::RemoveTags(t.clone()),
            Self::AddGroups(g) => ContactCommand::AddGroups(g.clone()),
            Self::RemoveGroups(g) => ContactCommand::RemoveGroups(g.clone()),
            Self::OptIn => ContactCommand::OptIn,
            Self::OptOut => ContactCommand::OptOut,
            Self::Block => ContactCommand::Block,
            Self::Unblock => ContactCommand::Unblock,
        }
    }
}

/// How many contacts a bulk call found and changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BulkOutcome {
    pub matched: usize,
    pub modified: usize,
}

impl<I: Infrastructure> Application<I> {
    /// Fails with "WhatsApp account not found" unless `account_id` is a live phone number of the
    /// caller's workspace. Read from the event log, so it is never stale.
    pub async fn ensure_account(
        &self,
        context: &RequestContext,
        account_id: Uuid,
    ) -> Result<(), AppError> {
        let mut loaded = self
            .infra
            .phone_number_store()
            .load_aggregate(&account_id.to_string())
            .await
            .map_err(AppError::internal)?;
        let number: &mut PhoneNumber = loaded.aggregate();
        match &number.state {
            Some(state) if state.workspace_id == context.workspace_id => Ok(()),
            _ => Err(AppError::NotFound("WhatsApp account")),
        }
    }

    async fn contact_command(
        &self,
        context: &RequestContext,
        id: Uuid,
        command: ContactCommand,
    ) -> Result<Committed, AppError> {
        let at = self.infra.clock().now();
        let issued = Issued {
            workspace_id: context.workspace_id,
            at,
            command,
        };
        CommandBus::execute::<Contact, _>(
            self.infra.contact_store(),
            &(),
            &id.to_string(),
            issued,
            context.event_metadata(at),
        )
        .await
    }

    /// Lets the contact decide on `command` without committing anything.
    async fn decide_contact_command(
        &self,
        context: &RequestContext,
        id: Uuid,
        command: ContactCommand,
    ) -> Result<(), AppError> {
        let issued = Issued {
            workspace_id: context.workspace_id,
            at: self.infra.clock().now(),
            command,
        };
        let mut loaded = self
            .infra
            .contact_store()
            .load_aggregate(&id.to_string())
            .await
            .map_err(AppError::internal)?;
        let contact: &mut Contact = loaded.aggregate();
        let sink: EventSink<Contact> = EventSink::default();
        contact
            .handle(issued, &(), &sink)
            .await
            .map_err(AppError::from)
    }

    /// Creates a contact on `account_id`; 409 when the phone already has one there.
    pub async fn create_contact(
        &self,
        context: &RequestContext,
        account_id: Uuid,
        input: ContactInput,
    ) -> Result<(Uuid, Freshness), AppError> {
        self.ensure_account(context, account_id).await?;
        let (id, committed) = self.create_one(context, account_id, input).await?;
        let freshness = self.infra.wait_for_read_models(&committed.events).await?;
        Ok((id, freshness))
    }

    async fn create_one(
        &self,
        context: &RequestContext,
        account_id: Uuid,
        input: ContactInput,
    ) -> Result<(Uuid, Committed), AppError> {
        let phone = E164::parse(input.phone.trim())?;
        let id = contact_id(account_id, &phone);
        let new = NewContact {
            account_id,
            phone: Some(phone),
            name: input.name,
            email: input.email,
            company: input.company,
            tags: input.tags,
            groups: input.groups,
            is_opted_in: input.is_opted_in,
            custom_fields: input.custom_fields,
            notes: input.notes,
        };
        let committed = self
            .contact_command(context, id, ContactCommand::CreateContact(new))
            .await?;
        Ok((id, committed))
    }

    /// Applies a partial update; returns whether anything changed.
    pub async fn update_contact(
        &self,
        context: &RequestContext,
        id: Uuid,
        update: ContactUpdate,
    ) -> Result<(bool, Freshness), AppError> {
        let committed = self
            .contact_command(context, id, ContactCommand::UpdateContact(update))
            .await?;
        let freshness = self.infra.wait_for_read_models(&committed.events).await?;
        Ok((committed.changed(), freshness))
    }

    /// Deletes a contact; its history stays in the event log.
    pub async fn delete_contact(
        &self,
        context: &RequestContext,
        id: Uuid,
    ) -> Result<Freshness, AppError> {
        let committed = self
            .contact_command(context, id, ContactCommand::DeleteContact)
            .await?;
        self.infra.wait_for_read_models(&committed.events).await
    }

    /// Imports up to [`MAX_IMPORT`] contacts; each row succeeds, is skipped as a duplicate, or
    /// fails with its reason. Default tags and groups are added to every row's own.
    pub async fn import_contacts(
        &self,
        context: &RequestContext,
        account_id: Uuid,
        rows: Vec<ContactInput>,
        default_tags: Vec<String>,
        default_groups: Vec<String>,
        skip_duplicates: bool,
    ) -> Result<(Vec<ImportOutcome>, Freshness), AppError> {
        if rows.is_empty() {
            return Err(AppError::Validation("contacts must not be empty".into()));
        }
        if rows.len() > MAX_IMPORT {
            return Err(AppError::Validation(format!(
                "at most {MAX_IMPORT} contacts per import"
            )));
        }
        self.ensure_account(context, account_id).await?;
        let results: Vec<(ImportOutcome, Vec<EventKey>)> = stream::iter(rows)
            .map(|mut row| {
                row.tags =
                    normalize_labels(row.tags.into_iter().chain(default_tags.iter().cloned()));
                row.groups =
                    normalize_labels(row.groups.into_iter().chain(default_groups.iter().cloned()));
                async move {
                    let id = match E164::parse(row.phone.trim()) {
                        Ok(phone) => contact_id(account_id, &phone),
                        Err(invalid) => {
                            return (ImportOutcome::Failed(invalid.to_string()), vec![])
                        }
                    };
                    match self.create_one(context, account_id, row).await {
                        Ok((_, committed)) => (ImportOutcome::Created(id), committed.events),
                        Err(AppError::Conflict(message)) => match skip_duplicates {
                            true => (ImportOutcome::Skipped(id), vec![]),
                            false => (ImportOutcome::Failed(message), vec![]),
                        },
                        Err(AppError::Internal(message)) => (
                            ImportOutcome::Failed(format!("internal error: {message}")),
                            vec![],
                        ),
                        Err(other) => (ImportOutcome::Failed(other.to_string()), vec![]),
                    }
                }
            })
            .buffered(PARALLEL_COMMANDS)
            .collect()
            .await;
        let events: Vec<EventKey> = results
            .iter()
            .flat_map(|(_, e)| e.iter().cloned())
            .collect();
        let freshness = self.infra.wait_for_read_models(&events).await?;
        Ok((
            results.into_iter().map(|(outcome, _)| outcome).collect(),
            freshness,
        ))
    }

    /// Runs one bulk action on up to [`MAX_BULK`] contacts. Ids that are unknown, deleted or of
    /// another workspace are not matched.
    pub async fn bulk_update_contacts(
        &self,
        context: &RequestContext,
        ids: &[Uuid],
        action: BulkAction,
    ) -> Result<(BulkOutcome, Freshness), AppError> {
        check_bulk_size(ids)?;
        let command = action.command();
        self.run_on_each(context, ids, |_| command.clone()).await
    }

    /// Deletes up to [`MAX_BULK`] contacts; returns how many existed and were deleted.
    pub async fn bulk_delete_contacts(
        &self,
        context: &RequestContext,
        ids: &[Uuid],
    ) -> Result<(BulkOutcome, Freshness), AppError> {
        check_bulk_size(ids)?;
        self.run_on_each(context, ids, |_| ContactCommand::DeleteContact)
            .await
    }

    /// Renames a group on every contact of the account that has it.
    pub async fn rename_group(
        &self,
        context: &RequestContext,
        account_id: Uuid,
        old_name: &str,
        new_name: &str,
    ) -> Result<(BulkOutcome, Freshness), AppError> {
        let (old_name, new_name) = (old_name.trim(), new_name.trim());
        if old_name.is_empty() || new_name.is_empty() {
            return Err(AppError::Validation(
                "oldName and newName must not be empty".into(),
            ));
        }
        if old_name == new_name {
            return Err(AppError::Validation(
                "newName must differ from oldName".into(),
            ));
        }
        self.ensure_account(context, account_id).await?;
        let ids = self
            .infra
            .contacts_in_group(context.workspace_id, account_id, old_name)
            .await?;
        let command = ContactCommand::RenameGroup {
            from: old_name.to_string(),
            to: new_name.to_string(),
        };
        self.run_on_each(context, &ids, |_| command.clone()).await
    }

    /// Removes a group from every contact of the account; the contacts stay.
    pub async fn delete_group(
        &self,
        context: &RequestContext,
        account_id: Uuid,
        name: &str,
    ) -> Result<(BulkOutcome, Freshness), AppError> {
        let name = name.trim();
        if name.is_empty() {
            return Err(AppError::Validation("groupName must not be empty".into()));
        }
        self.ensure_account(context, account_id).await?;
        let ids = self
            .infra
            .contacts_in_group(context.workspace_id, account_id, name)
            .await?;
        let command = ContactCommand::RemoveGroups(vec![name.to_string()]);
        self.run_on_each(context, &ids, |_| command.clone()).await
    }

    async fn run_on_each(
        &self,
        context: &RequestContext,
        ids: &[Uuid],
        command_for: impl Fn(Uuid) -> ContactCommand,
    ) -> Result<(BulkOutcome, Freshness), AppError> {
        let mut unique = ids.to_vec();
        unique.sort();
        unique.dedup();
        // Decide every command before committing any, so that a command one contact refuses
        // (e.g. one tag too many) leaves all of them unchanged instead of some.
        let decisions: Vec<Result<(), AppError>> = stream::iter(unique.iter().copied())
            .map(|id| self.decide_contact_command(context, id, command_for(id)))
            .buffer_unordered(PARALLEL_COMMANDS)
            .collect()
            .await;
        for decision in decisions {
            match decision {
                Ok(()) | Err(AppError::NotFound(_)) => {}
                Err(other) => return Err(other),
            }
        }
        let results: Vec<Result<Committed, AppError>> = stream::iter(unique)
            .map(|id| self.contact_command(context, id, command_for(id)))
            .buffer_unordered(PARALLEL_COMMANDS)
            .collect()
            .await;
        let mut outcome = BulkOutcome::default();
        let mut events = Vec::new();
        for result in results {
            match result {
                Ok(committed) => {
                    outcome.matched += 1;
                    outcome.modified += usize::from(committed.changed());
                    events.extend(committed.events);
                }
                Err(AppError::NotFound(_)) => {}
                Err(other) => return Err(other),
            }
        }
        let freshness = self.infra.wait_for_read_models(&events).await?;
        Ok((outcome, freshness))
    }
}

fn check_bulk_size(ids: &[Uuid]) -> Result<(), AppError> {
    if ids.is_empty() {
        return Err(AppError::Validation("contactIds must not be empty".into()));
    }
    if ids.len() > MAX_BULK {
        return Err(AppError::Validation(format!(
            "at most {MAX_BULK} contactIds per request"
        )));
    }
    Ok(())
}

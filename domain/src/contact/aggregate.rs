//! The contact's state and rules.

use super::commands::{ContactCommand, ContactUpdate, NewContact};
use super::events::ContactEvent;
use super::normalize_labels;
use crate::{Issued, WorkspaceId, E164};
use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use uuid::Uuid;

const MAX_NAME: usize = 256;
const MAX_TEXT: usize = 256;
const MAX_NOTES: usize = 10_000;
const MAX_LABELS: usize = 100;
const MAX_LABEL: usize = 100;
const MAX_CUSTOM_FIELDS: usize = 100;
const MAX_CUSTOM_VALUE: usize = 1_000;

/// Why a contact command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContactError {
    #[error("contact not found")]
    NotFound,
    #[error("a contact with phone {0} already exists on this account")]
    AlreadyExists(E164),
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
}

/// A live contact's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContactState {
    pub workspace_id: WorkspaceId,
    pub account_id: Uuid,
    pub phone: E164,
    pub name: String,
    pub email: Option<String>,
    pub company: Option<String>,
    pub tags: Vec<String>,
    pub groups: Vec<String>,
    pub is_opted_in: bool,
    pub is_blocked: bool,
    pub custom_fields: BTreeMap<String, String>,
    pub notes: Option<String>,
    pub opt_in_date: Option<DateTime<Utc>>,
    pub opt_out_date: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The Contact aggregate: absent until created, absent again once deleted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Contact {
    pub state: Option<ContactState>,
}

impl Contact {
    /// The live state if it belongs to `workspace`; another workspace's contact does not exist for it.
    fn owned_by(&self, workspace: WorkspaceId) -> Result<&ContactState, ContactError> {
        match &self.state {
            Some(state) if state.workspace_id == workspace => Ok(state),
            _ => Err(ContactError::NotFound),
        }
    }
}

fn invalid(field: &'static str, reason: impl Into<String>) -> ContactError {
    ContactError::Invalid {
        field,
        reason: reason.into(),
    }
}

fn check_len(field: &'static str, value: &str, max: usize) -> Result<(), ContactError> {
    if value.chars().count() > max {
        return Err(invalid(field, format!("at most {max} characters")));
    }
    Ok(())
}

fn check_name(name: &str) -> Result<String, ContactError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(invalid("name", "must not be empty"));
    }
    check_len("name", name, MAX_NAME)?;
    Ok(name.to_string())
}

fn check_labels(field: &'static str, labels: Vec<String>) -> Result<Vec<String>, ContactError> {
    let labels = normalize_labels(labels);
    if labels.len() > MAX_LABELS {
        return Err(invalid(field, format!("at most {MAX_LABELS} entries")));
    }
    for label in &labels {
        check_len(field, label, MAX_LABEL)?;
    }
    Ok(labels)
}

fn check_custom_field(key: &str, value: Option<&str>) -> Result<(), ContactError> {
    if key.trim().is_empty() {
        return Err(invalid("customFields", "field names must not be empty"));
    }
    check_len("customFields", key, MAX_LABEL)?;
    if let Some(value) = value {
        check_len("customFields", value, MAX_CUSTOM_VALUE)?;
    }
    Ok(())
}

fn check_optional(
    field: &'static str,
    value: Option<String>,
    max: usize,
) -> Result<Option<String>, ContactError> {
    match value {
        Some(v) => {
            check_len(field, &v, max)?;
            Ok(Some(v))
        }
        None => Ok(None),
    }
}

impl Aggregate for Contact {
    const TYPE: &'static str = "contact";
    type Command = Issued<ContactCommand>;
    type Event = ContactEvent;
    type Error = ContactError;
    type Services = ();

    async fn handle(
        &mut self,
        issued: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let Issued {
            workspace_id,
            at,
            command,
        } = issued;
        let events = match command {
            ContactCommand::CreateContact(new) => self.create(workspace_id, new, at)?,
            other => {
                let state = self.owned_by(workspace_id)?;
                changes(state, other, at)?
            }
        };
        for event in events {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            ContactEvent::ContactCreated {
                workspace_id,
                account_id,
                phone,
                name,
                email,
                company,
                tags,
                groups,
                is_opted_in,
                custom_fields,
                notes,
                at,
            } => {
                self.state = Some(ContactState {
                    workspace_id,
                    account_id,
                    phone,
                    name,
                    email,
                    company,
                    tags,
                    groups,
                    is_opted_in,
                    is_blocked: false,
                    custom_fields,
                    notes,
                    opt_in_date: is_opted_in.then_some(at),
                    opt_out_date: None,
                    created_at: at,
                    updated_at: at,
                })
            }
            ContactEvent::ContactDeleted { .. } => self.state = None,
            event => {
                if let Some(state) = self.state.as_mut() {
                    state.apply_change(event);
                }
            }
        }
    }
}

impl Contact {
    fn create(
        &self,
        workspace_id: WorkspaceId,
        new: NewContact,
        at: DateTime<Utc>,
    ) -> Result<Vec<ContactEvent>, ContactError> {
        let phone = new.phone.ok_or_else(|| invalid("phone", "is required"))?;
        if self.state.is_some() {
            return Err(ContactError::AlreadyExists(phone));
        }
        for (key, value) in &new.custom_fields {
            check_custom_field(key, Some(value))?;
        }
        if new.custom_fields.len() > MAX_CUSTOM_FIELDS {
            return Err(invalid(
                "customFields",
                format!("at most {MAX_CUSTOM_FIELDS} fields"),
            ));
        }
        Ok(vec![ContactEvent::ContactCreated {
            workspace_id,
            account_id: new.account_id,
            phone,
            name: check_name(&new.name)?,
            email: check_optional("email", new.email, MAX_TEXT)?,
            company: check_optional("company", new.company, MAX_TEXT)?,
            tags: check_labels("tags", new.tags)?,
            groups: check_labels("groups", new.groups)?,
            is_opted_in: new.is_opted_in,
            custom_fields: new.custom_fields,
            notes: check_optional("notes", new.notes, MAX_NOTES)?,
            at,
        }])
    }
}

/// The events that turn `state` into what `command` asks; none when it already is.
fn changes(
    state: &ContactState,
    command: ContactCommand,
    at: DateTime<Utc>,
) -> Result<Vec<ContactEvent>, ContactError> {
    let mut events = Vec::new();
    match command {
        ContactCommand::CreateContact(_) => unreachable!("handled by Contact::create"),
        ContactCommand::UpdateContact(update) => events = update_events(state, update, at)?,
        ContactCommand::AddTags(tags) => {
            let tags = check_labels("tags", state.tags.iter().cloned().chain(tags).collect())?;
            push_tags(&mut events, state, tags, at);
        }
        ContactCommand::RemoveTags(tags) => {
            let tags = state
                .tags
                .iter()
                .filter(|t| !tags.contains(t))
                .cloned()
                .collect();
            push_tags(&mut events, state, tags, at);
        }
        ContactCommand::AddGroups(groups) => {
            let groups = check_labels(
                "groups",
                state.groups.iter().cloned().chain(groups).collect(),
            )?;
            push_groups(&mut events, state, groups, at);
        }
        ContactCommand::RemoveGroups(groups) => {
            let groups = state
                .groups
                .iter()
                .filter(|g| !groups.contains(g))
                .cloned()
                .collect();
            push_groups(&mut events, state, groups, at);
        }
        ContactCommand::RenameGroup { from, to } => {
            let renamed = state
                .groups
                .iter()
                .map(|g| if *g == from { to.clone() } else { g.clone() });
            let groups = check_labels("groups", renamed.collect())?;
            push_groups(&mut events, state, groups, at);
        }
        ContactCommand::OptIn => push_opt_in(&mut events, state, true, at),
        ContactCommand::OptOut => push_opt_in(&mut events, state, false, at),
        ContactCommand::Block => push_block(&mut events, state, true, at),
        ContactCommand::Unblock => push_block(&mut events, state, false, at),
        ContactCommand::DeleteContact => events.push(ContactEvent::ContactDeleted { at }),
    }
    Ok(events)
}

fn update_events(
    state: &ContactState,
    update: ContactUpdate,
    at: DateTime<Utc>,
) -> Result<Vec<ContactEvent>, ContactError> {
    let mut events = Vec::new();
    let name = match update.name {
        Some(name) => Some(check_name(&name)?).filter(|n| *n != state.name),
        None => None,
    };
    let email = check_optional("email", update.email, MAX_TEXT)?
        .filter(|e| Some(e) != state.email.as_ref());
    let company = check_optional("company", update.company, MAX_TEXT)?
        .filter(|c| Some(c) != state.company.as_ref());
    let notes = check_optional("notes", update.notes, MAX_NOTES)?
        .filter(|n| Some(n) != state.notes.as_ref());
    if name.is_some() || email.is_some() || company.is_some() || notes.is_some() {
        events.push(ContactEvent::ContactDetailsChanged {
            name,
            email,
            company,
            notes,
            at,
        });
    }
    if let Some(tags) = update.tags {
        push_tags(&mut events, state, check_labels("tags", tags)?, at);
    }
    if let Some(groups) = update.groups {
        push_groups(&mut events, state, check_labels("groups", groups)?, at);
    }
    if let Some(fields) = update.custom_fields {
        let mut set = BTreeMap::new();
        let mut removed = Vec::new();
        for (key, value) in fields {
            check_custom_field(&key, value.as_deref())?;
            match value {
                Some(value) if state.custom_fields.get(&key) != Some(&value) => {
                    set.insert(key, value);
                }
                None if state.custom_fields.contains_key(&key) => removed.push(key),
                _ => {}
            }
        }
        let kept = state
            .custom_fields
            .keys()
            .filter(|k| !removed.contains(k) && !set.contains_key(*k))
            .count();
        if kept + set.len() > MAX_CUSTOM_FIELDS {
            return Err(invalid(
                "customFields",
                format!("at most {MAX_CUSTOM_FIELDS} fields"),
            ));
        }
        if !set.is_empty() || !removed.is_empty() {
            events.push(ContactEvent::ContactCustomFieldsChanged { set, removed, at });
        }
    }
    if let Some(opted_in) = update.is_opted_in {
        push_opt_in(&mut events, state, opted_in, at);
    }
    if let Some(blocked) = update.is_blocked {
        push_block(&mut events, state, blocked, at);
    }
    Ok(events)
}

fn push_tags(
    events: &mut Vec<ContactEvent>,
    state: &ContactState,
    tags: Vec<String>,
    at: DateTime<Utc>,
) {
    if tags != state.tags {
        events.push(ContactEvent::ContactTagsChanged { tags, at });
    }
}

fn push_groups(
    events: &mut Vec<ContactEvent>,
    state: &ContactState,
    groups: Vec<String>,
    at: DateTime<Utc>,
) {
    if groups != state.groups {
        events.push(ContactEvent::ContactGroupsChanged { groups, at });
    }
}

fn push_opt_in(
    events: &mut Vec<ContactEvent>,
    state: &ContactState,
    opted_in: bool,
    at: DateTime<Utc>,
) {
    match (state.is_opted_in, opted_in) {
        (false, true) => events.push(ContactEvent::ContactOptedIn { at }),
        (true, false) => events.push(ContactEvent::ContactOptedOut { at }),
        _ => {}
    }
}

fn push_block(
    events: &mut Vec<ContactEvent>,
    state: &ContactState,
    blocked: bool,
    at: DateTime<Utc>,
) {
    match (state.is_blocked, blocked) {
        (false, true) => events.push(ContactEvent::ContactBlocked { at }),
        (true, false) => events.push(ContactEvent::ContactUnblocked { at }),
        _ => {}
    }
}

impl ContactState {
    /// Folds a change event (anything but creation and deletion) into the state.
    pub fn apply_change(&mut self, event: ContactEvent) {
        self.updated_at = event.at();
        match event {
            ContactEvent::ContactDetailsChanged {
                name,
                email,
                company,
                notes,
                ..
            } => {
                if let Some(name) = name {
                    self.name = name;
                }
                if email.is_some() {
                    self.email = email;
                }
                if company.is_some() {
                    self.company = company;
                }
                if notes.is_some() {
                    self.notes = notes;
                }
            }
            ContactEvent::ContactTagsChanged { tags, .. } => self.tags = tags,
            ContactEvent::ContactGroupsChanged { groups, .. } => self.groups = groups,
            ContactEvent::ContactCustomFieldsChanged { set, removed, .. } => {
                for key in removed {
                    self.custom_fields.remove(&key);
                }
                self.custom_fields.extend(set);
            }
            ContactEvent::ContactOptedIn { at } => {
                self.is_opted_in = true;
                self.opt_in_date = Some(at);
            }
            ContactEvent::ContactOptedOut { at } => {
                self.is_opted_in = false;
                self.opt_out_date = Some(at);
            }
            ContactEvent::ContactBlocked { .. } => self.is_blocked = true,
            ContactEvent::ContactUnblocked { .. } => self.is_blocked = false,
            ContactEvent::ContactCreated { .. } | ContactEvent::ContactDeleted { .. } => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cqrs_es::test::TestFramework;

    type ContactTest = TestFramework<Contact>;

    fn at() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-01T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn workspace() -> WorkspaceId {
        WorkspaceId(Uuid::from_u128(1))
    }

    fn issue(command: ContactCommand) -> Issued<ContactCommand> {
        Issued {
            workspace_id: workspace(),
            at: at(),
            command,
        }
    }

    fn phone() -> E164 {
        E164::parse("+14155550123").unwrap()
    }

    fn created() -> ContactEvent {
        ContactEvent::ContactCreated {
            workspace_id: workspace(),
            account_id: Uuid::from_u128(2),
            phone: phone(),
            name: "Ada".into(),
            email: None,
            company: None,
            tags: vec!["vip".into()],
            groups: vec!["customers".into()],
            is_opted_in: true,
            custom_fields: BTreeMap::from([("plan".to_string(), "pro".to_string())]),
            notes: None,
            at: at(),
        }
    }

    fn new_contact() -> NewContact {
        NewContact {
            account_id: Uuid::from_u128(2),
            phone: Some(phone()),
            name: " Ada ".into(),
            tags: vec!["vip".into(), "vip".into(), " ".into()],
            groups: vec!["customers".into()],
            is_opted_in: true,
            custom_fields: BTreeMap::from([("plan".to_string(), "pro".to_string())]),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn creating_normalizes_name_and_labels() {
        ContactTest::with(())
            .given_no_previous_events()
            .when_async(issue(ContactCommand::CreateContact(new_contact())))
            .await
            .then_expect_events(vec![created()]);
    }

    #[tokio::test]
    async fn creating_twice_is_a_conflict() {
        ContactTest::with(())
            .given(vec![created()])
            .when_async(issue(ContactCommand::CreateContact(new_contact())))
            .await
            .then_expect_error(ContactError::AlreadyExists(phone()));
    }

    #[tokio::test]
    async fn a_deleted_contact_can_be_created_again() {
        ContactTest::with(())
            .given(vec![created(), ContactEvent::ContactDeleted { at: at() }])
            .when_async(issue(ContactCommand::CreateContact(new_contact())))
            .await
            .then_expect_events(vec![created()]);
    }

    #[tokio::test]
    async fn another_workspace_cannot_see_the_contact() {
        let mut command = issue(ContactCommand::OptOut);
        command.workspace_id = WorkspaceId(Uuid::from_u128(99));
        ContactTest::with(())
            .given(vec![created()])
            .when_async(command)
            .await
            .then_expect_error(ContactError::NotFound);
    }

    #[tokio::test]
    async fn custom_fields_merge_and_null_removes() {
        let update = ContactUpdate {
            custom_fields: Some(BTreeMap::from([
                ("plan".to_string(), None),
                ("tier".to_string(), Some("gold".to_string())),
                ("absent".to_string(), None),
            ])),
            ..Default::default()
        };
        ContactTest::with(())
            .given(vec![created()])
            .when_async(issue(ContactCommand::UpdateContact(update)))
            .await
            .then_expect_events(vec![ContactEvent::ContactCustomFieldsChanged {
                set: BTreeMap::from([("tier".to_string(), "gold".to_string())]),
                removed: vec!["plan".to_string()],
                at: at(),
            }]);
    }

    #[tokio::test]
    async fn an_update_that_changes_nothing_records_nothing() {
        let update = ContactUpdate {
            name: Some("Ada".into()),
            tags: Some(vec!["vip".into()]),
            is_opted_in: Some(true),
            is_blocked: Some(false),
            ..Default::default()
        };
        ContactTest::with(())
            .given(vec![created()])
            .when_async(issue(ContactCommand::UpdateContact(update)))
            .await
            .then_expect_events(vec![]);
    }

    #[tokio::test]
    async fn opting_out_and_blocking_are_timestamped_events() {
        let update = ContactUpdate {
            is_opted_in: Some(false),
            is_blocked: Some(true),
            ..Default::default()
        };
        ContactTest::with(())
            .given(vec![created()])
            .when_async(issue(ContactCommand::UpdateContact(update)))
            .await
            .then_expect_events(vec![
                ContactEvent::ContactOptedOut { at: at() },
                ContactEvent::ContactBlocked { at: at() },
            ]);
    }

    #[tokio::test]
    async fn bulk_tag_actions_add_and_remove() {
        ContactTest::with(())
            .given(vec![created()])
            .when_async(issue(ContactCommand::AddTags(vec![
                "new".into(),
                "vip".into(),
            ])))
            .await
            .then_expect_events(vec![ContactEvent::ContactTagsChanged {
                tags: vec!["vip".into(), "new".into()],
                at: at(),
            }]);
        ContactTest::with(())
            .given(vec![created()])
            .when_async(issue(ContactCommand::RemoveTags(vec!["vip".into()])))
            .await
            .then_expect_events(vec![ContactEvent::ContactTagsChanged {
                tags: vec![],
                at: at(),
            }]);
    }

    #[tokio::test]
    async fn renaming_a_group_keeps_its_place() {
        ContactTest::with(())
            .given(vec![created()])
            .when_async(issue(ContactCommand::RenameGroup {
                from: "customers".into(),
                to: "active".into(),
            }))
            .await
            .then_expect_events(vec![ContactEvent::ContactGroupsChanged {
                groups: vec!["active".into()],
                at: at(),
            }]);
    }

    #[tokio::test]
    async fn an_empty_name_is_refused() {
        let mut new = new_contact();
        new.name = "  ".into();
        ContactTest::with(())
            .given_no_previous_events()
            .when_async(issue(ContactCommand::CreateContact(new)))
            .await
            .then_expect_error(ContactError::Invalid {
                field: "name",
                reason: "must not be empty".into(),
            });
    }
}

//! The template's state and rules.
//!
//! Lifecycle: `CreateTemplate` writes a `DRAFT`; `SubmitTemplate` (from `DRAFT` or `REJECTED`)
//! makes it `PENDING` and the outbox sends it to Meta, whose answer is recorded
//! (`RecordSubmissionAccepted`: Meta's id, usually still `PENDING`; `RecordSubmissionFailed`:
//! `REJECTED` with Meta's message); from then on Meta's status webhooks drive the status
//! (`APPROVED`, `REJECTED`, `PAUSED`, …), a repeated status recording nothing.
//!
//! Editing (`UpdateComponents`): a template Meta has is edited there (allowed while Meta allows
//! edits: approved, rejected or paused) and goes back to `PENDING`; a template Meta does not
//! have (a draft, or one whose creation Meta refused) just changes and is a `DRAFT` again. While
//! the creation request is in flight (`PENDING` without Meta's id) it can be neither edited nor
//! deleted: Meta's answer, which the outbox records within seconds, decides what Meta has.
//!
//! A deleted template is kept (flagged) so that its id can be created again; every other
//! command answers "not found".

use super::binding::TemplateSendError;
use super::commands::{TemplateCommand, TemplateDraft};
use super::components::{validate_components, Rules, TemplateComponent};
use super::events::TemplateEvent;
use super::meta_body::{meta_create_body, meta_edit_body};
use super::status::{TemplateCategory, TemplateStatus};
use super::variables::{prune_variables, validate_variables, TemplateVariable};
use crate::{Issued, WorkspaceId};
use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Meta's limit on a template name.
pub const MAX_TEMPLATE_NAME: usize = 512;
/// The longest language code accepted.
pub const MAX_LANGUAGE: usize = 16;
const MAX_META_ID: usize = 64;
const MAX_REASON: usize = 2000;

/// Why a template command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// No such template in the workspace (or it was deleted).
    #[error("template not found")]
    NotFound,
    /// A template with this name and language already exists on the WABA.
    #[error("template '{name}' ({language}) already exists")]
    AlreadyExists {
        /// Its name.
        name: String,
        /// Its language.
        language: String,
    },
    /// A field breaks a rule.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field (`name`, `language`, `components`, `variables`, …).
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The template's status does not allow this.
    #[error("cannot {action} a template that is {status}")]
    WrongStatus {
        /// What was asked (`submit`, `update`, `delete`, …).
        action: &'static str,
        /// The status it is in.
        status: TemplateStatus,
    },
}

/// A template's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplateState {
    /// The owner.
    pub workspace_id: WorkspaceId,
    /// The PhoneNumber aggregate it was created (or last imported) through; `None` if unknown.
    pub phone_number_id: Option<Uuid>,
    /// Meta's WhatsApp Business Account id.
    pub waba_id: String,
    /// Its name.
    pub name: String,
    /// Its language, e.g. `en_US`.
    pub language: String,
    /// Its category.
    pub category: TemplateCategory,
    /// Its components, in Meta's shape.
    pub components: Vec<TemplateComponent>,
    /// Explicit variable metadata (see [`TemplateState::variables_complete`] for all).
    pub variables: Vec<TemplateVariable>,
    /// Where it stands.
    pub status: TemplateStatus,
    /// Meta's reason for the current status (a rejection's, a pause's), if it gave one.
    pub rejection_reason: Option<String>,
    /// Meta's id, once Meta has the template.
    pub meta_template_id: Option<String>,
    /// Meta's quality score, once rated.
    pub quality_score: Option<String>,
    /// When it was created or imported.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Deleted: only creating it again is possible.
    pub deleted: bool,
}

/// The Template aggregate: absent until created or imported.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Template {
    /// Its state, once created (kept, flagged, when deleted).
    pub state: Option<TemplateState>,
}

fn invalid(field: &'static str, reason: impl Into<String>) -> TemplateError {
    TemplateError::Invalid {
        field,
        reason: reason.into(),
    }
}

/// `^[a-z][a-z0-9_]*$`, at most 512 characters.
pub fn check_template_name(name: &str) -> Result<(), TemplateError> {
    let mut chars = name.chars();
    let well_formed = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !well_formed {
        return Err(invalid(
            "name",
            format!("'{name}' must start with a lowercase letter and have only lowercase letters, digits and underscores"),
        ));
    }
    if name.len() > MAX_TEMPLATE_NAME {
        return Err(invalid(
            "name",
            format!("at most {MAX_TEMPLATE_NAME} characters"),
        ));
    }
    Ok(())
}

/// A language code like `en` or `en_US`: a letter, then letters, digits or `_`, at most 16.
pub fn check_language(language: &str) -> Result<(), TemplateError> {
    let mut chars = language.chars();
    let well_formed = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !well_formed || language.len() > MAX_LANGUAGE {
        return Err(invalid(
            "language",
            format!("'{language}' is not a language code like en or en_US (at most {MAX_LANGUAGE} characters)"),
        ));
    }
    Ok(())
}

fn check_waba_id(waba_id: &str) -> Result<(), TemplateError> {
    if waba_id.is_empty()
        || waba_id.len() > MAX_META_ID
        || !waba_id.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(invalid("waba_id", "must be Meta's numeric id"));
    }
    Ok(())
}

fn check_meta_template_id(id: &str) -> Result<(), TemplateError> {
    if id.trim().is_empty() || id.len() > MAX_META_ID || id.chars().any(char::is_whitespace) {
        return Err(invalid("meta_template_id", "must be Meta's template id"));
    }
    Ok(())
}

/// Meta's `reason`, trimmed; empty and `NONE` are no reason.
fn meaningful_reason(reason: Option<String>) -> Option<String> {
    reason
        .map(|r| r.trim().chars().take(MAX_REASON).collect::<String>())
        .filter(|r| !r.is_empty() && !r.eq_ignore_ascii_case("NONE"))
}

fn check_components(
    components: &[TemplateComponent],
    category: TemplateCategory,
    rules: Rules,
) -> Result<(), TemplateError> {
    validate_components(components, category, rules).map_err(|reason| invalid("components", reason))
}

fn check_variables(
    components: &[TemplateComponent],
    variables: &[TemplateVariable],
) -> Result<(), TemplateError> {
    validate_variables(components, variables).map_err(|reason| invalid("variables", reason))
}

impl Aggregate for Template {
    const TYPE: &'static str = "template";
    type Command = Issued<TemplateCommand>;
    type Event = TemplateEvent;
    type Error = TemplateError;
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
            TemplateCommand::CreateTemplate(draft) => self.create(workspace_id, draft, at)?,
            TemplateCommand::ImportFromMeta {
                phone_number_id,
                meta_template_id,
                waba_id,
                name,
                language,
                category,
                status,
                components,
            } => self.import(
                workspace_id,
                Imported {
                    phone_number_id,
                    meta_template_id,
                    waba_id,
                    name,
                    language,
                    category,
                    status,
                    components,
                },
                at,
            )?,
            TemplateCommand::SubmitTemplate => self.owned_by(workspace_id)?.submit(at)?,
            TemplateCommand::RecordSubmissionAccepted {
                meta_template_id,
                status,
                category,
            } => self
                .owned_by(workspace_id)?
                .accepted(meta_template_id, &status, &category, at)?,
            TemplateCommand::RecordSubmissionFailed { reason, code } => {
                self.owned_by(workspace_id)?.failed(reason, code, at)?
            }
            TemplateCommand::UpdateComponents {
                components,
                variables,
            } => self
                .owned_by(workspace_id)?
                .update(components, variables, at)?,
            TemplateCommand::DeleteTemplate => self.owned_by(workspace_id)?.delete(at)?,
            TemplateCommand::RecordMetaStatus {
                status,
                reason,
                meta_template_id,
            } => self
                .owned_by(workspace_id)?
                .meta_status(status, reason, meta_template_id, at)?,
            TemplateCommand::RecordQualityScore { score } => {
                self.owned_by(workspace_id)?.quality(&score, at)?
            }
            TemplateCommand::RecordCategoryChange { category } => {
                let state = self.owned_by(workspace_id)?;
                if category == state.category {
                    vec![]
                } else {
                    vec![TemplateEvent::TemplateCategoryChanged {
                        category,
                        previous: state.category,
                        at,
                    }]
                }
            }
        };
        for event in events {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            TemplateEvent::TemplateCreated {
                workspace_id,
                phone_number_id,
                waba_id,
                name,
                language,
                category,
                components,
                variables,
                at,
            } => {
                self.state = Some(TemplateState {
                    workspace_id,
                    phone_number_id,
                    waba_id,
                    name,
                    language,
                    category,
                    components,
                    variables,
                    status: TemplateStatus::Draft,
                    rejection_reason: None,
                    meta_template_id: None,
                    quality_score: None,
                    created_at: at,
                    updated_at: at,
                    deleted: false,
                })
            }
            TemplateEvent::TemplateImported {
                workspace_id,
                phone_number_id,
                waba_id,
                name,
                language,
                category,
                status,
                components,
                meta_template_id,
                at,
            } => {
                self.state = Some(TemplateState {
                    workspace_id,
                    phone_number_id,
                    waba_id,
                    name,
                    language,
                    category,
                    components,
                    variables: Vec::new(),
                    status,
                    rejection_reason: None,
                    meta_template_id: Some(meta_template_id),
                    quality_score: None,
                    created_at: at,
                    updated_at: at,
                    deleted: false,
                })
            }
            event => {
                if let Some(state) = self.state.as_mut() {
                    state.apply_change(event);
                }
            }
        }
    }
}

/// A template as Meta lists it (the fields of [`TemplateCommand::ImportFromMeta`]).
struct Imported {
    phone_number_id: Option<Uuid>,
    meta_template_id: String,
    waba_id: String,
    name: String,
    language: String,
    category: String,
    status: TemplateStatus,
    components: Vec<TemplateComponent>,
}

impl Template {
    /// The live state if it belongs to `workspace`; another workspace's template, or a deleted
    /// one, does not exist for it.
    fn owned_by(&self, workspace: WorkspaceId) -> Result<&TemplateState, TemplateError> {
        match &self.state {
            Some(state) if state.workspace_id == workspace && !state.deleted => Ok(state),
            _ => Err(TemplateError::NotFound),
        }
    }

    fn create(
        &self,
        workspace_id: WorkspaceId,
        draft: TemplateDraft,
        at: DateTime<Utc>,
    ) -> Result<Vec<TemplateEvent>, TemplateError> {
        if self.state.as_ref().is_some_and(|s| !s.deleted) {
            return Err(TemplateError::AlreadyExists {
                name: draft.name,
                language: draft.language,
            });
        }
        check_waba_id(&draft.waba_id)?;
        check_template_name(&draft.name)?;
        check_language(&draft.language)?;
        check_components(&draft.components, draft.category, Rules::Create)?;
        check_variables(&draft.components, &draft.variables)?;
        Ok(vec![TemplateEvent::TemplateCreated {
            workspace_id,
            phone_number_id: draft.phone_number_id,
            waba_id: draft.waba_id,
            name: draft.name,
            language: draft.language,
            category: draft.category,
            components: draft.components,
            variables: draft.variables,
            at,
        }])
    }

    fn import(
        &self,
        workspace_id: WorkspaceId,
        meta: Imported,
        at: DateTime<Utc>,
    ) -> Result<Vec<TemplateEvent>, TemplateError> {
        check_waba_id(&meta.waba_id)?;
        check_template_name(&meta.name)?;
        check_language(&meta.language)?;
        check_meta_template_id(&meta.meta_template_id)?;
        let category: TemplateCategory = meta
            .category
            .parse()
            .map_err(|reason: String| invalid("category", reason))?;
        if meta.status == TemplateStatus::Draft {
            return Err(invalid("status", "DRAFT is Parley's status, not Meta's"));
        }
        check_components(&meta.components, category, Rules::Import)?;
        let state = match &self.state {
            Some(state) if !state.deleted => {
                if state.workspace_id != workspace_id {
                    return Err(TemplateError::NotFound);
                }
                state
            }
            _ => {
                return Ok(vec![TemplateEvent::TemplateImported {
                    workspace_id,
                    phone_number_id: meta.phone_number_id,
                    waba_id: meta.waba_id,
                    name: meta.name,
                    language: meta.language,
                    category,
                    status: meta.status,
                    components: meta.components,
                    meta_template_id: meta.meta_template_id,
                    at,
                }])
            }
        };
        let meta_template_id =
            Some(meta.meta_template_id).filter(|id| state.meta_template_id.as_ref() != Some(id));
        let category = Some(category).filter(|c| *c != state.category);
        let status = Some(meta.status).filter(|s| *s != state.status);
        let (components, variables) = if meta.components == state.components {
            (None, None)
        } else {
            let pruned = prune_variables(&meta.components, &state.variables);
            let variables = Some(pruned).filter(|v| *v != state.variables);
            (Some(meta.components), variables)
        };
        if meta_template_id.is_none()
            && category.is_none()
            && status.is_none()
            && components.is_none()
        {
            return Ok(vec![]);
        }
        Ok(vec![TemplateEvent::TemplateSyncedFromMeta {
            meta_template_id,
            category,
            status,
            components,
            variables,
            at,
        }])
    }
}

impl TemplateState {
    /// Whether Meta has this template (it has given its id).
    pub fn is_on_meta(&self) -> bool {
        self.meta_template_id.is_some()
    }

    /// Checks that a message may use this template at all (see [`Self::check_send`] for the
    /// parameters too).
    pub fn check_sendable(&self) -> Result<(), TemplateSendError> {
        if self.status.is_sendable() {
            Ok(())
        } else {
            Err(TemplateSendError::NotApproved {
                status: self.status,
            })
        }
    }

    fn submit(&self, at: DateTime<Utc>) -> Result<Vec<TemplateEvent>, TemplateError> {
        if !matches!(
            self.status,
            TemplateStatus::Draft | TemplateStatus::Rejected
        ) {
            return Err(TemplateError::WrongStatus {
                action: "submit",
                status: self.status,
            });
        }
        let request = match &self.meta_template_id {
            Some(_) => meta_edit_body(&self.components, &self.variables),
            None => meta_create_body(
                &self.name,
                &self.language,
                self.category,
                &self.components,
                &self.variables,
            ),
        };
        Ok(vec![TemplateEvent::TemplateSubmitted {
            phone_number_id: self.phone_number_id,
            waba_id: self.waba_id.clone(),
            name: self.name.clone(),
            language: self.language.clone(),
            meta_template_id: self.meta_template_id.clone(),
            request,
            at,
        }])
    }

    fn accepted(
        &self,
        meta_template_id: String,
        status: &str,
        category: &str,
        at: DateTime<Utc>,
    ) -> Result<Vec<TemplateEvent>, TemplateError> {
        check_meta_template_id(&meta_template_id)?;
        if self.meta_template_id.as_ref() == Some(&meta_template_id) {
            // Recorded already (a repeated job), or a status webhook told it first.
            return Ok(vec![]);
        }
        if self.status != TemplateStatus::Pending {
            return Err(TemplateError::WrongStatus {
                action: "record Meta's acceptance of",
                status: self.status,
            });
        }
        let status = status
            .parse::<TemplateStatus>()
            .ok()
            .filter(|s| *s != TemplateStatus::Draft)
            .unwrap_or(TemplateStatus::Pending);
        let category = category.parse().unwrap_or(self.category);
        Ok(vec![TemplateEvent::TemplateSubmissionAccepted {
            meta_template_id,
            status,
            category,
            at,
        }])
    }

    fn failed(
        &self,
        reason: String,
        code: Option<i64>,
        at: DateTime<Utc>,
    ) -> Result<Vec<TemplateEvent>, TemplateError> {
        if self.status != TemplateStatus::Pending {
            return Err(TemplateError::WrongStatus {
                action: "record Meta's refusal of",
                status: self.status,
            });
        }
        let reason = meaningful_reason(Some(reason))
            .unwrap_or_else(|| "Meta refused the template".to_string());
        Ok(vec![TemplateEvent::TemplateSubmissionFailed {
            reason,
            code,
            at,
        }])
    }

    fn update(
        &self,
        components: Vec<TemplateComponent>,
        variables: Option<Vec<TemplateVariable>>,
        at: DateTime<Utc>,
    ) -> Result<Vec<TemplateEvent>, TemplateError> {
        let on_meta = self.is_on_meta();
        let editable = if on_meta {
            self.status.is_editable_on_meta()
        } else {
            matches!(
                self.status,
                TemplateStatus::Draft | TemplateStatus::Rejected
            )
        };
        if !editable {
            return Err(TemplateError::WrongStatus {
                action: "update",
                status: self.status,
            });
        }
        check_components(&components, self.category, Rules::Create)?;
        let variables = match variables {
            Some(variables) => {
                check_variables(&components, &variables)?;
                variables
            }
            None => prune_variables(&components, &self.variables),
        };
        if components == self.components && variables == self.variables {
            return Ok(vec![]);
        }
        let request = on_meta.then(|| meta_edit_body(&components, &variables));
        Ok(vec![TemplateEvent::TemplateComponentsUpdated {
            components,
            variables,
            sent_to_meta: on_meta,
            meta_template_id: self.meta_template_id.clone(),
            phone_number_id: self.phone_number_id,
            waba_id: self.waba_id.clone(),
            request,
            at,
        }])
    }

    fn delete(&self, at: DateTime<Utc>) -> Result<Vec<TemplateEvent>, TemplateError> {
        if self.status == TemplateStatus::Pending && !self.is_on_meta() {
            // The creation request is in flight: what Meta will have is not known yet.
            return Err(TemplateError::WrongStatus {
                action: "delete (wait for Meta's answer to the submission)",
                status: self.status,
            });
        }
        let gone_on_meta = matches!(
            self.status,
            TemplateStatus::Deleted | TemplateStatus::PendingDeletion
        );
        Ok(vec![TemplateEvent::TemplateDeleted {
            meta_template_id: self.meta_template_id.clone().filter(|_| !gone_on_meta),
            phone_number_id: self.phone_number_id,
            waba_id: self.waba_id.clone(),
            name: self.name.clone(),
            language: self.language.clone(),
            at,
        }])
    }

    fn meta_status(
        &self,
        status: TemplateStatus,
        reason: Option<String>,
        meta_template_id: Option<String>,
        at: DateTime<Utc>,
    ) -> Result<Vec<TemplateEvent>, TemplateError> {
        if status == TemplateStatus::Draft {
            return Err(invalid("status", "DRAFT is Parley's status, not Meta's"));
        }
        let reason = meaningful_reason(reason);
        let meta_template_id = meta_template_id
            .map(|id| id.trim().to_string())
            .filter(|id| !id.is_empty() && self.meta_template_id.as_ref() != Some(id));
        if let Some(id) = &meta_template_id {
            check_meta_template_id(id)?;
        }
        if status == self.status && reason == self.rejection_reason && meta_template_id.is_none() {
            return Ok(vec![]);
        }
        Ok(vec![TemplateEvent::TemplateStatusChanged {
            status,
            previous: self.status,
            reason,
            meta_template_id,
            at,
        }])
    }

    fn quality(&self, score: &str, at: DateTime<Utc>) -> Result<Vec<TemplateEvent>, TemplateError> {
        let score = score.trim().to_ascii_uppercase();
        if score.is_empty() || score.len() > MAX_META_ID {
            return Err(invalid(
                "score",
                "must be Meta's quality score (GREEN, YELLOW, RED, UNKNOWN)",
            ));
        }
        if self.quality_score.as_ref() == Some(&score) {
            return Ok(vec![]);
        }
        Ok(vec![TemplateEvent::TemplateQualityChanged {
            score,
            previous: self.quality_score.clone(),
            at,
        }])
    }

    /// Folds a change event (anything but creation and import) into the state.
    pub fn apply_change(&mut self, event: TemplateEvent) {
        self.updated_at = event.at();
        match event {
            TemplateEvent::TemplateSubmitted { .. } => {
                self.status = TemplateStatus::Pending;
                self.rejection_reason = None;
            }
            TemplateEvent::TemplateSubmissionAccepted {
                meta_template_id,
                status,
                category,
                ..
            } => {
                self.meta_template_id = Some(meta_template_id);
                self.status = status;
                self.category = category;
            }
            TemplateEvent::TemplateSubmissionFailed { reason, .. } => {
                self.status = TemplateStatus::Rejected;
                self.rejection_reason = Some(reason);
            }
            TemplateEvent::TemplateComponentsUpdated {
                components,
                variables,
                sent_to_meta,
                ..
            } => {
                self.components = components;
                self.variables = variables;
                self.status = if sent_to_meta {
                    TemplateStatus::Pending
                } else {
                    TemplateStatus::Draft
                };
                self.rejection_reason = None;
            }
            TemplateEvent::TemplateDeleted { .. } => self.deleted = true,
            TemplateEvent::TemplateStatusChanged {
                status,
                reason,
                meta_template_id,
                ..
            } => {
                self.status = status;
                self.rejection_reason = reason;
                if meta_template_id.is_some() {
                    self.meta_template_id = meta_template_id;
                }
            }
            TemplateEvent::TemplateQualityChanged { score, .. } => self.quality_score = Some(score),
            TemplateEvent::TemplateCategoryChanged { category, .. } => self.category = category,
            TemplateEvent::TemplateSyncedFromMeta {
                meta_template_id,
                category,
                status,
                components,
                variables,
                ..
            } => {
                if meta_template_id.is_some() {
                    self.meta_template_id = meta_template_id;
                }
                if let Some(category) = category {
                    self.category = category;
                }
                if let Some(status) = status {
                    self.status = status;
                    self.rejection_reason = None;
                }
                if let Some(components) = components {
                    self.components = components;
                }
                if let Some(variables) = variables {
                    self.variables = variables;
                }
            }
            TemplateEvent::TemplateCreated { .. } | TemplateEvent::TemplateImported { .. } => {}
        }
    }
}

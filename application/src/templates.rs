//! Template use cases: create (and submit for review through the outbox), update, delete, sync
//! from Meta; Meta's status, quality and category webhooks; the checks a template message passes
//! before Meta sees it; the outbox's template jobs.

use crate::meta_management::{MetaManagement, MetaTemplate};
use crate::outbox::{GatewayError, OutboxJob};
use crate::{
    Actor, AppError, Application, CommandBus, Committed, ErrorCode, Freshness, Infrastructure,
    JobKind, PhoneNumberRef, RequestContext,
};
use cqrs_es::{AggregateContext, EventStore};
use domain::broadcast::{PauseReason, TemplateSnapshot};
use domain::conversation::{MetaFailure, OutboundContent, Wamid};
use domain::template::{
    template_id, Template, TemplateCategory, TemplateCommand, TemplateComponent, TemplateDraft,
    TemplateSendError, TemplateState, TemplateStatus, TemplateVariable,
};
use domain::{Issued, WorkspaceId};
use serde_json::Value;
use uuid::Uuid;

/// A template as a caller describes it (components and variables as JSON, checked here).
#[derive(Debug, Clone)]
pub struct TemplateInput {
    pub phone_number: PhoneNumberRef,
    pub name: String,
    pub language: String,
    pub category: String,
    pub components: Vec<Value>,
    pub variables: Vec<Value>,
}

/// A template's state after a command, for the answer.
#[derive(Debug, Clone)]
pub struct TemplateChanged {
    pub template_id: Uuid,
    pub state: TemplateState,
    pub freshness: Freshness,
}

/// What a sync from Meta did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    pub imported: usize,
    pub updated: usize,
    pub unchanged: usize,
    /// One line per template that could not be taken over, with why.
    pub errors: Vec<String>,
}

fn parse_components(raw: Vec<Value>) -> Result<Vec<TemplateComponent>, AppError> {
    raw.into_iter()
        .enumerate()
        .map(|(i, c)| {
            serde_json::from_value(c)
                .map_err(|e| AppError::Validation(format!("components[{i}]: {e}")))
        })
        .collect()
}

fn parse_variables(raw: Vec<Value>) -> Result<Vec<TemplateVariable>, AppError> {
    raw.into_iter()
        .enumerate()
        .map(|(i, v)| {
            serde_json::from_value(v)
                .map_err(|e| AppError::Validation(format!("variables[{i}]: {e}")))
        })
        .collect()
}

fn parse_category(raw: &str) -> Result<TemplateCategory, AppError> {
    raw.trim().to_ascii_uppercase().parse().map_err(|_| {
        AppError::Validation("category must be one of AUTHENTICATION, MARKETING, UTILITY".into())
    })
}

impl From<TemplateSendError> for AppError {
    fn from(error: TemplateSendError) -> Self {
        let code = match error {
            TemplateSendError::NotApproved { .. } => ErrorCode::TemplateNotApproved,
            _ => ErrorCode::TemplateMismatch,
        };
        AppError::Refused {
            code,
            message: error.to_string(),
        }
    }
}

fn meta_context(workspace_id: WorkspaceId, actor: Actor, correlation_id: &str) -> RequestContext {
    RequestContext {
        workspace_id,
        actor,
        correlation_id: correlation_id.to_string(),
    }
}

impl<I: Infrastructure> Application<I> {
    async fn template_command(
        &self,
        context: &RequestContext,
        id: Uuid,
        command: TemplateCommand,
    ) -> Result<Committed, AppError> {
        let at = self.infra.clock().now();
        CommandBus::execute::<Template, _>(
            self.infra.template_store(),
            &(),
            &id.to_string(),
            Issued {
                workspace_id: context.workspace_id,
                at,
                command,
            },
            context.event_metadata(at),
        )
        .await
    }

    /// The template's state, if it exists (and is the workspace's).
    async fn load_template(
        &self,
        workspace: WorkspaceId,
        id: Uuid,
    ) -> Result<Option<TemplateState>, AppError> {
        let mut loaded = self
            .infra
            .template_store()
            .load_aggregate(&id.to_string())
            .await
            .map_err(AppError::internal)?;
        let template: &mut Template = loaded.aggregate();
        Ok(template
            .state
            .take()
            .filter(|state| state.workspace_id == workspace && !state.deleted))
    }

    /// The workspace's template, or not found.
    pub async fn template_state(
        &self,
        context: &RequestContext,
        id: Uuid,
    ) -> Result<TemplateState, AppError> {
        self.load_template(context.workspace_id, id)
            .await?
            .ok_or(AppError::NotFound("template"))
    }

    async fn template_changed(
        &self,
        context: &RequestContext,
        id: Uuid,
        committed: Committed,
    ) -> Result<TemplateChanged, AppError> {
        let freshness = self.infra.wait_for_read_models(&committed.events).await?;
        Ok(TemplateChanged {
            template_id: id,
            state: self.template_state(context, id).await?,
            freshness,
        })
    }

    /// The id of the workspace's template `name` in `language` on the number's WABA.
    pub async fn template_id_for(
        &self,
        context: &RequestContext,
        phone_number: &PhoneNumberRef,
        name: &str,
        language: &str,
    ) -> Result<Uuid, AppError> {
        let (_, number) = self.resolve_phone_number(context, phone_number).await?;
        Ok(template_id(
            context.workspace_id,
            &number.waba_id,
            name,
            language,
        ))
    }

    /// Creates a template on the number's WABA; with `submit`, also submits it to Meta for
    /// review (the outbox calls Meta; the status then follows Meta's webhooks).
    pub async fn create_template(
        &self,
        context: &RequestContext,
        input: TemplateInput,
        submit: bool,
    ) -> Result<TemplateChanged, AppError> {
        let (phone_number_id, number) = self
            .resolve_phone_number(context, &input.phone_number)
            .await?;
        let draft = TemplateDraft {
            phone_number_id: Some(phone_number_id),
            waba_id: number.waba_id.clone(),
            name: input.name.trim().to_string(),
            language: input.language.trim().to_string(),
            category: parse_category(&input.category)?,
            components: parse_components(input.components)?,
            variables: parse_variables(input.variables)?,
        };
        let id = template_id(
            context.workspace_id,
            &number.waba_id,
            &draft.name,
            &draft.language,
        );
        let mut committed = self
            .template_command(context, id, TemplateCommand::CreateTemplate(draft))
            .await?;
        if submit {
            let submitted = self
                .template_command(context, id, TemplateCommand::SubmitTemplate)
                .await?;
            committed.events.extend(submitted.events);
        }
        self.template_changed(context, id, committed).await
    }

    /// Submits a draft (or rejected) template to Meta for review.
    pub async fn submit_template(
        &self,
        context: &RequestContext,
        id: Uuid,
    ) -> Result<TemplateChanged, AppError> {
        let committed = self
            .template_command(context, id, TemplateCommand::SubmitTemplate)
            .await?;
        self.template_changed(context, id, committed).await
    }

    /// Replaces a template's components (and variables, if given); a template on Meta is
    /// edited there and reviewed again.
    pub async fn update_template(
        &self,
        context: &RequestContext,
        id: Uuid,
        components: Vec<Value>,
        variables: Option<Vec<Value>>,
    ) -> Result<TemplateChanged, AppError> {
        let components = parse_components(components)?;
        let variables = variables.map(parse_variables).transpose()?;
        let committed = self
            .template_command(
                context,
                id,
                TemplateCommand::UpdateComponents {
                    components,
                    variables,
                },
            )
            .await?;
        self.template_changed(context, id, committed).await
    }

    /// Deletes a template (on Meta too, through the outbox, if it is there).
    pub async fn delete_template(
        &self,
        context: &RequestContext,
        id: Uuid,
    ) -> Result<Freshness, AppError> {
        let committed = self
            .template_command(context, id, TemplateCommand::DeleteTemplate)
            .await?;
        self.infra.wait_for_read_models(&committed.events).await
    }

    /// Takes over what Meta has for the number's WABA: imports templates Parley lacks, updates
    /// those that changed.
    pub async fn sync_templates<M: MetaManagement>(
        &self,
        meta: &M,
        context: &RequestContext,
        phone_number: &PhoneNumberRef,
    ) -> Result<SyncReport, AppError> {
        let (phone_number_id, number) = self.resolve_phone_number(context, phone_number).await?;
        let credentials = self
            .meta_credentials(phone_number_id)
            .await?
            .ok_or(AppError::NotFound("phone number"))?;
        let token = credentials.access_token.ok_or_else(|| AppError::Refused {
            code: ErrorCode::InvalidState,
            message: "the phone number has no Meta access token".into(),
        })?;
        let listed = meta
            .list_templates(&number.waba_id, &token)
            .await
            .map_err(crate::phone_health::meta_refusal)?;
        let mut report = SyncReport::default();
        let mut events = Vec::new();
        for template in listed {
            match self
                .import_template(context, phone_number_id, &number.waba_id, template.clone())
                .await
            {
                Ok((committed, existed)) => {
                    match (committed.changed(), existed) {
                        (false, _) => report.unchanged += 1,
                        (true, false) => report.imported += 1,
                        (true, true) => report.updated += 1,
                    }
                    events.extend(committed.events);
                }
                Err(error) if error.is_refusal() => report.errors.push(format!(
                    "{} ({}): {error}",
                    template.name, template.language
                )),
                Err(error) => return Err(error),
            }
        }
        self.infra.wait_for_read_models(&events).await?;
        Ok(report)
    }

    async fn import_template(
        &self,
        context: &RequestContext,
        phone_number_id: Uuid,
        waba_id: &str,
        template: MetaTemplate,
    ) -> Result<(Committed, bool), AppError> {
        let id = template_id(
            context.workspace_id,
            waba_id,
            &template.name,
            &template.language,
        );
        let existed = self
            .load_template(context.workspace_id, id)
            .await?
            .is_some();
        let status: TemplateStatus = template.status.parse().map_err(|_| {
            AppError::Validation(format!("unknown template status '{}'", template.status))
        })?;
        let committed = self
            .template_command(
                context,
                id,
                TemplateCommand::ImportFromMeta {
                    phone_number_id: Some(phone_number_id),
                    meta_template_id: template.meta_template_id,
                    waba_id: waba_id.to_string(),
                    name: template.name,
                    language: template.language,
                    category: template.category,
                    status,
                    components: parse_components(template.components)?,
                },
            )
            .await?;
        Ok((committed, existed))
    }

    /// Runs `command` on the template `name`/`language` of `waba_id` in every workspace that
    /// has a number on that WABA; templates Parley does not have are left alone.
    async fn template_update_from_meta(
        &self,
        correlation_id: &str,
        waba_id: &str,
        name: &str,
        language: &str,
        command: TemplateCommand,
    ) -> Result<Vec<(WorkspaceId, Uuid)>, AppError> {
        let mut workspaces: Vec<WorkspaceId> = self
            .infra
            .phone_numbers_of_waba(waba_id)
            .await?
            .into_iter()
            .map(|(workspace, ..)| workspace)
            .collect();
        workspaces.sort_by_key(|w| w.0);
        workspaces.dedup();
        let mut applied = Vec::new();
        let part = crate::DeliveryPart::of(correlation_id);
        for workspace in workspaces {
            let context = meta_context(workspace, Actor::Meta, correlation_id);
            let id = template_id(workspace, waba_id, name, language);
            if let Some(part) = part {
                let store = self.infra.template_store();
                if crate::meta_deliveries::superseded(store, &id.to_string(), part).await? {
                    continue;
                }
            }
            match self.template_command(&context, id, command.clone()).await {
                Ok(_) => applied.push((workspace, id)),
                Err(AppError::NotFound(_)) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(applied)
    }

    /// Meta's `message_template_status_update`.
    #[allow(clippy::too_many_arguments)]
    pub async fn record_template_status(
        &self,
        correlation_id: &str,
        waba_id: &str,
        name: &str,
        language: &str,
        meta_template_id: &str,
        event: &str,
        reason: Option<String>,
    ) -> Result<usize, AppError> {
        let status: TemplateStatus = event
            .parse()
            .map_err(|_| AppError::Validation(format!("unknown template status '{event}'")))?;
        let applied = self
            .template_update_from_meta(
                correlation_id,
                waba_id,
                name,
                language,
                TemplateCommand::RecordMetaStatus {
                    status,
                    reason,
                    meta_template_id: Some(meta_template_id.to_string()),
                },
            )
            .await?;
        if !status.is_sendable() {
            // Every further send would fail at Meta (132015/132016): stop and say why.
            for (_, template) in &applied {
                let running = self.infra.running_broadcasts_of_template(*template).await?;
                let reason = PauseReason::TemplateUnavailable {
                    status: status.as_str().to_string(),
                };
                self.pause_broadcasts(running, reason).await?;
            }
        }
        Ok(applied.len())
    }

    /// Meta's `message_template_quality_update`.
    pub async fn record_template_quality(
        &self,
        correlation_id: &str,
        waba_id: &str,
        name: &str,
        language: &str,
        score: &str,
    ) -> Result<usize, AppError> {
        self.template_update_from_meta(
            correlation_id,
            waba_id,
            name,
            language,
            TemplateCommand::RecordQualityScore {
                score: score.to_string(),
            },
        )
        .await
        .map(|applied| applied.len())
    }

    /// Meta's `template_category_update`.
    pub async fn record_template_category(
        &self,
        correlation_id: &str,
        waba_id: &str,
        name: &str,
        language: &str,
        category: &str,
    ) -> Result<usize, AppError> {
        let category = parse_category(category)?;
        self.template_update_from_meta(
            correlation_id,
            waba_id,
            name,
            language,
            TemplateCommand::RecordCategoryChange { category },
        )
        .await
        .map(|applied| applied.len())
    }

    /// The approved template a broadcast will send, frozen for the broadcast.
    pub async fn approved_template_snapshot(
        &self,
        workspace: WorkspaceId,
        waba_id: &str,
        name: &str,
        language: &str,
    ) -> Result<TemplateSnapshot, AppError> {
        let id = template_id(workspace, waba_id, name, language);
        let state = self.load_template(workspace, id).await?.ok_or_else(|| {
            AppError::Refused {
                code: ErrorCode::TemplateNotApproved,
                message: format!(
                    "template '{name}' ({language}) does not exist for this number's WABA; create it or sync templates from Meta"
                ),
            }
        })?;
        state.check_sendable()?;
        Ok(TemplateSnapshot {
            template_id: id,
            name: state.name.clone(),
            language: state.language.clone(),
            components: state
                .components
                .iter()
                .map(|c| serde_json::to_value(c).unwrap_or_default())
                .collect(),
            variables: state
                .variables
                .iter()
                .map(|v| serde_json::to_value(v).unwrap_or_default())
                .collect(),
        })
    }

    /// Checks a template message against the stored template of the number's WABA and fills
    /// defaults; other content passes unchanged.
    pub(crate) async fn checked_content(
        &self,
        workspace: WorkspaceId,
        waba_id: &str,
        content: OutboundContent,
    ) -> Result<OutboundContent, AppError> {
        let OutboundContent::Template { template } = content else {
            return Ok(content);
        };
        let id = template_id(workspace, waba_id, &template.name, &template.language.code);
        let state = self.load_template(workspace, id).await?.ok_or_else(|| {
            AppError::Refused {
                code: ErrorCode::TemplateNotApproved,
                message: format!(
                    "template '{}' ({}) does not exist for this number's WABA; create it or sync templates from Meta",
                    template.name, template.language.code
                ),
            }
        })?;
        let template = state.check_send(&template)?;
        Ok(OutboundContent::Template { template })
    }
}

/// Calls Meta for a template job; a success is recorded on the template here.
pub(crate) async fn run_template_job<I: Infrastructure, G: MetaManagement>(
    app: &Application<I>,
    gateway: &G,
    job: &OutboxJob,
    token: &str,
) -> Result<Option<Wamid>, GatewayError> {
    let waba_id = job.body["waba_id"].as_str().unwrap_or_default();
    let recorded = match job.kind {
        JobKind::CreateTemplate => {
            let submission = gateway
                .create_template(waba_id, token, &job.body["request"])
                .await?;
            record_on_template(
                app,
                job,
                TemplateCommand::RecordSubmissionAccepted {
                    meta_template_id: submission.meta_template_id,
                    status: submission.status,
                    category: submission.category,
                },
            )
            .await
        }
        JobKind::EditTemplate => {
            let meta_template_id = job.body["meta_template_id"].as_str().unwrap_or_default();
            gateway
                .edit_template(meta_template_id, token, &job.body["request"])
                .await?;
            Ok(())
        }
        JobKind::DeleteTemplate => {
            let name = job.body["name"].as_str().unwrap_or_default();
            let meta_template_id = job.body["meta_template_id"].as_str();
            gateway
                .delete_template(waba_id, token, name, meta_template_id)
                .await?;
            Ok(())
        }
        _ => Ok(()),
    };
    // Meta did it; if recording failed the job runs again, and `template_job_done` sees the
    // recorded answer or Meta answers the repeat.
    recorded.map_err(|error| GatewayError::Retryable {
        after: None,
        throughput: false,
        failure: MetaFailure {
            code: 0,
            title: format!("recording Meta's answer failed: {error}"),
            message: None,
            details: None,
        },
    })?;
    Ok(None)
}

async fn record_on_template<I: Infrastructure>(
    app: &Application<I>,
    job: &OutboxJob,
    command: TemplateCommand,
) -> Result<(), AppError> {
    let id = Uuid::parse_str(&job.aggregate_id).map_err(AppError::internal)?;
    let mut loaded = app
        .infra
        .template_store()
        .load_aggregate(&id.to_string())
        .await
        .map_err(AppError::internal)?;
    let template: &mut Template = loaded.aggregate();
    let Some(state) = template.state.as_ref() else {
        return Ok(());
    };
    let context = meta_context(state.workspace_id, Actor::Outbox, &job.aggregate_id);
    match app.template_command(&context, id, command).await {
        Ok(_) => Ok(()),
        // Deleted or changed meanwhile: Meta's answer is moot.
        Err(error) if error.is_refusal() => Ok(()),
        Err(error) => Err(error),
    }
}

/// Records that Meta refused a template job for good.
pub(crate) async fn record_template_job_failure<I: Infrastructure>(
    app: &Application<I>,
    job: &OutboxJob,
    failure: MetaFailure,
) -> Result<(), AppError> {
    match job.kind {
        JobKind::CreateTemplate | JobKind::EditTemplate => {
            let reason = match &failure.message {
                Some(message) => format!("{}: {message}", failure.title),
                None => failure.title.clone(),
            };
            record_on_template(
                app,
                job,
                TemplateCommand::RecordSubmissionFailed {
                    reason,
                    code: Some(failure.code),
                },
            )
            .await
        }
        _ => {
            tracing::warn!(job = job.id, code = failure.code, title = %failure.title, "outbox: template deletion failed on Meta");
            Ok(())
        }
    }
}

/// Whether an earlier attempt of a template job already got Meta's answer recorded.
pub(crate) async fn template_job_done<I: Infrastructure>(
    app: &Application<I>,
    job: &OutboxJob,
) -> Result<bool, AppError> {
    if job.kind != JobKind::CreateTemplate {
        return Ok(false);
    }
    let id = Uuid::parse_str(&job.aggregate_id).map_err(AppError::internal)?;
    let mut loaded = app
        .infra
        .template_store()
        .load_aggregate(&id.to_string())
        .await
        .map_err(AppError::internal)?;
    let template: &mut Template = loaded.aggregate();
    Ok(template
        .state
        .as_ref()
        .is_some_and(|state| state.meta_template_id.is_some()))
}

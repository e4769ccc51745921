//! The templates read model: each template's state, folded by the aggregate's own `apply`.

use crate::log::StoredEvent;
use crate::runner::{Projection, ProjectorError, RebuildOrder};
use cqrs_es::Aggregate;
use domain::template::{Template, TemplateEvent, TemplateState};
use domain::WorkspaceId;
use futures::future::BoxFuture;
use tokio_postgres::{GenericClient, Transaction};
use uuid::Uuid;

/// Folds template events into `templates`.
pub struct TemplatesProjection;

impl Projection for TemplatesProjection {
    fn name(&self) -> &'static str {
        "templates"
    }

    fn tables(&self) -> &'static [&'static str] {
        &["templates"]
    }

    fn aggregate_types(&self) -> Option<&'static [&'static str]> {
        Some(&[Template::TYPE])
    }

    fn rebuild_order(&self) -> RebuildOrder {
        RebuildOrder::ByAggregate
    }

    fn apply<'a>(
        &'a self,
        tx: &'a Transaction<'a>,
        events: &'a [StoredEvent],
    ) -> BoxFuture<'a, Result<(), ProjectorError>> {
        Box::pin(async move {
            for event in events.iter().filter(|e| e.aggregate_type == Template::TYPE) {
                let id = Uuid::parse_str(&event.aggregate_id)
                    .map_err(|e| ProjectorError::unreadable(event, e))?;
                let payload: TemplateEvent = event
                    .payload()
                    .map_err(|e| ProjectorError::unreadable(event, e))?;
                // Templates change rarely: fold each event onto the stored state, in order.
                let stored = tx
                    .query_opt("SELECT state FROM templates WHERE template_id = $1", &[&id])
                    .await?;
                let mut template = Template {
                    state: match stored {
                        Some(row) => Some(
                            serde_json::from_value(row.get(0))
                                .map_err(|e| ProjectorError::unreadable(event, e))?,
                        ),
                        None => None,
                    },
                };
                template.apply(payload);
                let Some(state) = template.state else {
                    continue;
                };
                let json = serde_json::to_value(&state)
                    .map_err(|e| ProjectorError::unreadable(event, e))?;
                tx.execute(
                    "INSERT INTO templates (template_id, workspace_id, phone_number_id, waba_id, name, \
                                            language, category, status, meta_template_id, deleted, state, \
                                            created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
                     ON CONFLICT (template_id) DO UPDATE SET phone_number_id = EXCLUDED.phone_number_id, \
                        category = EXCLUDED.category, status = EXCLUDED.status, \
                        meta_template_id = EXCLUDED.meta_template_id, deleted = EXCLUDED.deleted, \
                        state = EXCLUDED.state, updated_at = EXCLUDED.updated_at",
                    &[
                        &id,
                        &state.workspace_id.0,
                        &state.phone_number_id,
                        &state.waba_id,
                        &state.name,
                        &state.language,
                        &state.category.as_str(),
                        &state.status.as_str(),
                        &state.meta_template_id,
                        &state.deleted,
                        &json,
                        &state.created_at,
                        &state.updated_at,
                    ],
                )
                .await?;
            }
            Ok(())
        })
    }
}

/// A template as the read model has it.
#[derive(Debug, Clone)]
pub struct TemplateView {
    pub template_id: Uuid,
    pub state: TemplateState,
}

/// The workspace's live templates on a WABA, by name then language; `name` narrows to one name.
pub async fn list_templates(
    client: &impl GenericClient,
    workspace: WorkspaceId,
    waba_id: &str,
    name: Option<&str>,
) -> Result<Vec<TemplateView>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT template_id, state FROM templates \
             WHERE workspace_id = $1 AND waba_id = $2 AND NOT deleted \
               AND ($3::text IS NULL OR name = $3) \
             ORDER BY name, language",
            &[&workspace.0, &waba_id, &name],
        )
        .await?;
    Ok(rows
        .iter()
        .filter_map(|row| {
            Some(TemplateView {
                template_id: row.get(0),
                state: serde_json::from_value(row.get(1)).ok()?,
            })
        })
        .collect())
}

/// All the workspace's live templates, by name then language.
pub async fn list_workspace_templates(
    client: &impl GenericClient,
    workspace: WorkspaceId,
) -> Result<Vec<TemplateView>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT template_id, state FROM templates WHERE workspace_id = $1 AND NOT deleted \
             ORDER BY name, language",
            &[&workspace.0],
        )
        .await?;
    Ok(rows
        .iter()
        .filter_map(|row| {
            Some(TemplateView {
                template_id: row.get(0),
                state: serde_json::from_value(row.get(1)).ok()?,
            })
        })
        .collect())
}

/// One live template of the workspace, if it exists.
pub async fn get_template(
    client: &impl GenericClient,
    workspace: WorkspaceId,
    template_id: Uuid,
) -> Result<Option<TemplateView>, tokio_postgres::Error> {
    let row = client
        .query_opt(
            "SELECT template_id, state FROM templates \
             WHERE workspace_id = $1 AND template_id = $2 AND NOT deleted",
            &[&workspace.0, &template_id],
        )
        .await?;
    Ok(row.and_then(|row| {
        Some(TemplateView {
            template_id: row.get(0),
            state: serde_json::from_value(row.get(1)).ok()?,
        })
    }))
}

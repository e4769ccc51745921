//! Broadcast use cases: drafting (recipients), scheduling, starting (the audience frozen, the
//! template checked, unwilling recipients skipped), pausing, resuming, cancelling, retrying the
//! failed; the scheduler and the completion check the server runs; bulk sends.

use crate::{
    Actor, AppError, Application, CommandBus, Committed, Freshness, Infrastructure, PhoneNumberRef,
    RequestContext,
};
use cqrs_es::{AggregateContext, EventStore};
use domain::broadcast::{
    recipient_message, Broadcast, BroadcastCommand, BroadcastDraft, BroadcastRecipient,
    BroadcastState, BroadcastTemplate, PauseReason, SkipReason, SkippedRecipient, StartTrigger,
};
use domain::conversation::RecipientStanding;
use domain::{Issued, WorkspaceId, E164};
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

/// A broadcast as a caller describes it when creating it.
#[derive(Debug, Clone)]
pub struct BroadcastInput {
    pub phone_number: PhoneNumberRef,
    pub name: String,
    pub description: Option<String>,
    pub template: BroadcastTemplate,
    pub recipients: Vec<BroadcastRecipient>,
}

/// What adding recipients did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecipientsAdded {
    pub added: usize,
    pub duplicates: usize,
    pub total: usize,
}

/// What removing recipients did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecipientsRemoved {
    pub removed: usize,
    pub total: usize,
}

/// A broadcast's state after a command, for the answer.
#[derive(Debug, Clone)]
pub struct BroadcastChanged {
    pub broadcast_id: Uuid,
    pub state: BroadcastState,
    pub freshness: Freshness,
}

/// What starting a broadcast found.
#[derive(Debug, Clone)]
pub struct BroadcastStartOutcome {
    pub broadcast_id: Uuid,
    pub audience: usize,
    pub skipped: Vec<SkippedRecipient>,
    pub freshness: Freshness,
}

fn system_context(workspace_id: WorkspaceId, correlation_id: &str) -> RequestContext {
    RequestContext {
        workspace_id,
        actor: Actor::Scheduler,
        correlation_id: correlation_id.to_string(),
    }
}

impl<I: Infrastructure> Application<I> {
    async fn broadcast_command(
        &self,
        context: &RequestContext,
        broadcast_id: Uuid,
        command: BroadcastCommand,
    ) -> Result<Committed, AppError> {
        let at = self.infra.clock().now();
        CommandBus::execute::<Broadcast, _>(
            self.infra.broadcast_store(),
            &(),
            &broadcast_id.to_string(),
            Issued {
                workspace_id: context.workspace_id,
                at,
                command,
            },
            context.event_metadata(at),
        )
        .await
    }

    /// The broadcast's state as the workspace may see it.
    pub async fn broadcast_state(
        &self,
        context: &RequestContext,
        broadcast_id: Uuid,
    ) -> Result<BroadcastState, AppError> {
        let mut loaded = self
            .infra
            .broadcast_store()
            .load_aggregate(&broadcast_id.to_string())
            .await
            .map_err(AppError::internal)?;
        let broadcast: &mut Broadcast = loaded.aggregate();
        match broadcast.state.take() {
            Some(state) if state.workspace_id == context.workspace_id => Ok(state),
            _ => Err(AppError::NotFound("broadcast")),
        }
    }

    async fn changed(
        &self,
        context: &RequestContext,
        broadcast_id: Uuid,
        committed: Committed,
    ) -> Result<BroadcastChanged, AppError> {
        let freshness = self.infra.wait_for_read_models(&committed.events).await?;
        Ok(BroadcastChanged {
            broadcast_id,
            state: self.broadcast_state(context, broadcast_id).await?,
            freshness,
        })
    }

    /// Creates a draft broadcast on one of the workspace's numbers.
    pub async fn create_broadcast(
        &self,
        context: &RequestContext,
        input: BroadcastInput,
    ) -> Result<BroadcastChanged, AppError> {
        let (phone_number_id, _) = self
            .resolve_phone_number(context, &input.phone_number)
            .await?;
        let broadcast_id = Uuid::new_v4();
        let committed = self
            .broadcast_command(
                context,
                broadcast_id,
                BroadcastCommand::CreateBroadcast(BroadcastDraft {
                    phone_number_id,
                    name: input.name,
                    description: input.description,
                    template: input.template,
                    recipients: input.recipients,
                }),
            )
            .await?;
        self.changed(context, broadcast_id, committed).await
    }

    /// Adds recipients to a draft; phones already in are counted as duplicates.
    pub async fn add_broadcast_recipients(
        &self,
        context: &RequestContext,
        broadcast_id: Uuid,
        recipients: Vec<BroadcastRecipient>,
    ) -> Result<(RecipientsAdded, Freshness), AppError> {
        let asked = recipients.len();
        let before = self
            .broadcast_state(context, broadcast_id)
            .await?
            .recipient_count();
        let committed = self
            .broadcast_command(
                context,
                broadcast_id,
                BroadcastCommand::AddRecipients(recipients),
            )
            .await?;
        let changed = self.changed(context, broadcast_id, committed).await?;
        let total = changed.state.recipient_count();
        let added = total.saturating_sub(before).min(asked);
        Ok((
            RecipientsAdded {
                added,
                duplicates: asked - added,
                total,
            },
            changed.freshness,
        ))
    }

    /// Removes recipients from a draft.
    pub async fn remove_broadcast_recipients(
        &self,
        context: &RequestContext,
        broadcast_id: Uuid,
        phones: Vec<E164>,
    ) -> Result<(RecipientsRemoved, Freshness), AppError> {
        let before = self
            .broadcast_state(context, broadcast_id)
            .await?
            .recipient_count();
        let committed = self
            .broadcast_command(
                context,
                broadcast_id,
                BroadcastCommand::RemoveRecipients(phones),
            )
            .await?;
        let changed = self.changed(context, broadcast_id, committed).await?;
        let total = changed.state.recipient_count();
        Ok((
            RecipientsRemoved {
                removed: before.saturating_sub(total),
                total,
            },
            changed.freshness,
        ))
    }

    /// Schedules a draft.
    pub async fn schedule_broadcast(
        &self,
        context: &RequestContext,
        broadcast_id: Uuid,
        scheduled_at: chrono::DateTime<chrono::Utc>,
    ) -> Result<BroadcastChanged, AppError> {
        let committed = self
            .broadcast_command(
                context,
                broadcast_id,
                BroadcastCommand::Schedule { scheduled_at },
            )
            .await?;
        self.changed(context, broadcast_id, committed).await
    }

    /// Runs a simple lifecycle command (cancel schedule, pause, resume, cancel, delete).
    pub async fn change_broadcast(
        &self,
        context: &RequestContext,
        broadcast_id: Uuid,
        command: BroadcastCommand,
    ) -> Result<Freshness, AppError> {
        if matches!(command, BroadcastCommand::Resume) {
            // Resuming with a template Meta paused or disabled would only fail every send.
            let state = self.broadcast_state(context, broadcast_id).await?;
            let (_, number) = self
                .resolve_phone_number(context, &PhoneNumberRef::Id(state.phone_number_id))
                .await?;
            self.approved_template_snapshot(
                context.workspace_id,
                &number.waba_id,
                &state.template.name,
                &state.template.language,
            )
            .await?;
        }
        let committed = self
            .broadcast_command(context, broadcast_id, command)
            .await?;
        self.infra.wait_for_read_models(&committed.events).await
    }

    /// Starts sending: checks the template is approved for the number, skips recipients who
    /// opted out, are blocked or whose variables do not fit the template, and freezes the
    /// audience. Sending then proceeds through the outbox.
    pub async fn start_broadcast(
        &self,
        context: &RequestContext,
        broadcast_id: Uuid,
        trigger: StartTrigger,
    ) -> Result<BroadcastStartOutcome, AppError> {
        let state = self.broadcast_state(context, broadcast_id).await?;
        let (_, number) = self
            .resolve_phone_number(context, &PhoneNumberRef::Id(state.phone_number_id))
            .await?;
        let template = self
            .approved_template_snapshot(
                context.workspace_id,
                &number.waba_id,
                &state.template.name,
                &state.template.language,
            )
            .await?;
        let recipients = self
            .infra
            .broadcast_recipient_list(broadcast_id)
            .await?
            .into_members();
        let unwilling: HashMap<String, RecipientStanding> = self
            .infra
            .unwilling_contacts(context.workspace_id, state.phone_number_id)
            .await?
            .into_iter()
            .collect();
        let mut skipped = Vec::new();
        for (phone, variables) in &recipients {
            let reason = match unwilling.get(phone.as_str()) {
                Some(standing) if standing.blocked => Some(SkipReason::Blocked),
                Some(standing) if standing.opted_out => Some(SkipReason::OptedOut),
                _ => recipient_message(&template, &state.template.components, variables)
                    .err()
                    .map(|error| SkipReason::InvalidVariables {
                        detail: error.to_string(),
                    }),
            };
            if let Some(reason) = reason {
                skipped.push(SkippedRecipient {
                    phone: phone.clone(),
                    reason,
                });
            }
        }
        let committed = self
            .broadcast_command(
                context,
                broadcast_id,
                BroadcastCommand::Start {
                    template,
                    skipped: skipped.clone(),
                    trigger,
                },
            )
            .await?;
        let freshness = self.infra.wait_for_read_models(&committed.events).await?;
        Ok(BroadcastStartOutcome {
            broadcast_id,
            audience: recipients.len() - skipped.len(),
            skipped,
            freshness,
        })
    }

    /// Sends a new message to every recipient whose message failed.
    pub async fn retry_failed_broadcast_recipients(
        &self,
        context: &RequestContext,
        broadcast_id: Uuid,
    ) -> Result<(usize, Freshness), AppError> {
        self.broadcast_state(context, broadcast_id).await?;
        let failed = self
            .infra
            .failed_broadcast_recipients(context.workspace_id, broadcast_id)
            .await?;
        let count = failed.len();
        // The broadcast decides even with nobody to retry: a draft, say, is refused rather
        // than answered "0 retried".
        let committed = self
            .broadcast_command(context, broadcast_id, BroadcastCommand::RetryFailed(failed))
            .await?;
        let freshness = self.infra.wait_for_read_models(&committed.events).await?;
        Ok((count, freshness))
    }

    /// The scheduler's tick: starts every scheduled broadcast whose time has come. With several
    /// processes ticking, the broadcast's event key lets exactly one start it.
    pub async fn start_due_broadcasts(&self) -> Result<usize, AppError> {
        let due = self
            .infra
            .due_scheduled_broadcasts(self.infra.clock().now())
            .await?;
        let mut started = 0;
        for (workspace_id, broadcast_id) in due {
            let context = system_context(workspace_id, &format!("schedule:{broadcast_id}"));
            match self
                .start_broadcast(&context, broadcast_id, StartTrigger::Schedule)
                .await
            {
                Ok(_) => started += 1,
                // Started by another process or gone meanwhile: nothing to do here.
                Err(AppError::Conflict(_)) | Err(AppError::NotFound(_)) => {}
                // It cannot start (its template is no longer approved, say): back to draft,
                // saying why, rather than retrying every tick unseen.
                Err(error) if error.is_refusal() => {
                    tracing::warn!(%broadcast_id, %error, "scheduled broadcast cannot start");
                    let refuse = BroadcastCommand::RefuseScheduledStart {
                        reason: format!("could not start at its scheduled time: {error}"),
                    };
                    match self.broadcast_command(&context, broadcast_id, refuse).await {
                        Ok(_) => {}
                        // No longer scheduled (cancelled or started meanwhile).
                        Err(error) if error.is_refusal() => {}
                        Err(error) => return Err(error),
                    }
                }
                Err(error) => return Err(error),
            }
        }
        Ok(started)
    }

    /// The completion check: a broadcast whose every recipient is final completes, with the
    /// funnel at that moment.
    pub async fn complete_finished_broadcasts(&self) -> Result<usize, AppError> {
        let finished = self.infra.finished_broadcasts().await?;
        let mut completed = 0;
        for (workspace_id, broadcast_id, counts) in finished {
            let context = system_context(workspace_id, &format!("complete:{broadcast_id}"));
            match self
                .broadcast_command(&context, broadcast_id, BroadcastCommand::Complete(counts))
                .await
            {
                Ok(committed) if committed.changed() => completed += 1,
                Ok(_) => {}
                Err(error) if error.is_refusal() => {}
                Err(error) => return Err(error),
            }
        }
        Ok(completed)
    }

    /// Queues one template message for a bulk send: the template is bound to the recipient's
    /// variables (defaults filled), checked, and queued in the recipient's conversation.
    pub async fn send_bulk_template(
        &self,
        context: &RequestContext,
        phone_number: PhoneNumberRef,
        to: &str,
        template: &BroadcastTemplate,
        variables: &BTreeMap<String, String>,
    ) -> Result<domain::conversation::MessageId, AppError> {
        let (_, number) = self.resolve_phone_number(context, &phone_number).await?;
        let snapshot = self
            .approved_template_snapshot(
                context.workspace_id,
                &number.waba_id,
                &template.name,
                &template.language,
            )
            .await?;
        let content = recipient_message(&snapshot, &template.components, variables)?;
        let queued = self
            .send_message(
                context,
                crate::OutboundMessage {
                    phone_number,
                    to: to.to_string(),
                    content,
                    reply_to: None,
                },
            )
            .await?;
        Ok(queued.message_id)
    }

    /// Pauses every running broadcast of a number, saying why.
    pub async fn pause_broadcasts_of_number(
        &self,
        phone_number_id: Uuid,
        reason: PauseReason,
    ) -> Result<usize, AppError> {
        let running = self
            .infra
            .running_broadcasts_of_number(phone_number_id)
            .await?;
        self.pause_broadcasts(running, reason).await
    }

    /// Pauses these running broadcasts, saying why; counts those it paused.
    pub(crate) async fn pause_broadcasts(
        &self,
        running: Vec<(WorkspaceId, Uuid)>,
        reason: PauseReason,
    ) -> Result<usize, AppError> {
        let mut paused = 0;
        for (workspace_id, broadcast_id) in running {
            let context = system_context(workspace_id, &format!("pause:{broadcast_id}"));
            match self
                .broadcast_command(
                    &context,
                    broadcast_id,
                    BroadcastCommand::Pause(reason.clone()),
                )
                .await
            {
                Ok(committed) if committed.changed() => paused += 1,
                Ok(_) => {}
                Err(error) if error.is_refusal() => {}
                Err(error) => return Err(error),
            }
        }
        Ok(paused)
    }
}

/// Runs the broadcast scheduler and completion check every `period` until `stop` resolves.
/// Every process may run it: starting and completing are decided by the broadcast itself.
pub async fn run_supervisor<I: Infrastructure>(
    app: std::sync::Arc<Application<I>>,
    period: std::time::Duration,
    stop: impl std::future::Future<Output = ()> + Send,
) {
    tokio::pin!(stop);
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = tick.tick() => {}
        }
        if let Err(error) = app.start_due_broadcasts().await {
            tracing::error!(%error, "broadcast scheduler failed; retrying next tick");
        }
        if let Err(error) = app.complete_finished_broadcasts().await {
            tracing::error!(%error, "broadcast completion check failed; retrying next tick");
        }
    }
}

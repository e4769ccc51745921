//! The outbox worker: claims jobs derived from the event log, calls Meta at the pace the
//! queue assigned, and records the outcome on the conversation.
//!
//! Crash safety. A job is claimed with a lease in a short transaction (never held open across
//! the call to Meta), then sent, then its outcome is recorded as an event, then the job is
//! closed. While the process lives it renews the leases of the jobs it holds four times per
//! lease, however slow an attempt is (a loaded database, a slow Meta); if it dies at any point
//! the lease expires and another worker (or this one after a restart) claims the job again.
//! (Renewals go through the query pool: one delayed by more than three quarters of the lease
//! lets the job go early, so the lease must stay well above the pool's worst wait; the default
//! 30 s does.) Before sending again it asks the conversation whether Meta already accepted the
//! message (the acceptance may have been recorded, or a status webhook carrying our message id
//! in `biz_opaque_callback_data` may have arrived meanwhile): if so it closes the job without
//! sending. A message is therefore sent twice only when the process dies
//! after Meta accepted the request and before the acceptance was recorded, *and* no status
//! webhook for it arrived before the lease ran out: a window of one database commit after Meta's
//! response, widened only if Meta's webhooks are late by more than the lease.

use crate::{AppError, Application, Infrastructure, MetaCredentials, SendTrace};
use chrono::{DateTime, Utc};
use domain::conversation::{MessageId, MetaFailure, Wamid};
use serde_json::Value;
use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// What a job asks of Meta.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    /// `POST /{phone-number-id}/messages` with a conversation's message.
    SendMessage,
    /// `POST /{phone-number-id}/messages` with `status: read`.
    MarkRead,
    /// `POST /{phone-number-id}/messages` with a broadcast's template message to one recipient.
    BroadcastSend,
    /// `POST /{waba-id}/message_templates`: submits a template for review.
    CreateTemplate,
    /// `POST /{template-id}`: sends a template's new components.
    EditTemplate,
    /// `DELETE /{waba-id}/message_templates`: deletes a template.
    DeleteTemplate,
}

impl JobKind {
    /// The kind stored in `outbox_jobs.kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SendMessage => "send_message",
            Self::MarkRead => "mark_read",
            Self::BroadcastSend => "broadcast_send",
            Self::CreateTemplate => "create_template",
            Self::EditTemplate => "edit_template",
            Self::DeleteTemplate => "delete_template",
        }
    }

    /// Reads a stored kind; unknown kinds (from a newer release) are treated as sends, which
    /// the worker records as failed rather than dropping.
    pub fn parse(kind: &str) -> Self {
        [
            Self::MarkRead,
            Self::BroadcastSend,
            Self::CreateTemplate,
            Self::EditTemplate,
            Self::DeleteTemplate,
        ]
        .into_iter()
        .find(|k| k.as_str() == kind)
        .unwrap_or(Self::SendMessage)
    }

    /// Whether the job sends a message to a customer (paced per recipient).
    pub fn is_send(self) -> bool {
        matches!(self, Self::SendMessage | Self::BroadcastSend)
    }
}

/// A claimed job, due at `send_at`.
#[derive(Debug, Clone)]
pub struct OutboxJob {
    pub id: i64,
    pub kind: JobKind,
    /// The aggregate whose event asked for the job (a template's id for template jobs).
    pub aggregate_id: String,
    /// The broadcast a broadcast send belongs to.
    pub broadcast_id: Option<Uuid>,
    pub conversation_id: Uuid,
    pub message_id: MessageId,
    pub phone_number_id: Uuid,
    pub recipient: String,
    /// Meta's request body.
    pub body: Value,
    /// Attempts so far, this one included.
    pub attempts: i32,
    /// When the pacing allows the call.
    pub send_at: DateTime<Utc>,
    /// The least time between two calls for this job's business number.
    pub spacing: Duration,
}

/// The queue of outbox jobs (PostgreSQL in production).
pub trait OutboxQueue: Send + Sync + 'static {
    /// Claims up to `limit` due jobs (pending, or claimed with an expired lease), assigning
    /// each a send time that respects the number's throughput and the recipient's pair rate.
    fn claim(&self, limit: i64) -> impl Future<Output = Result<Vec<OutboxJob>, AppError>> + Send;
    /// Closes a job: done, or failed for good (the failure is already recorded as an event).
    fn finish(
        &self,
        job_id: i64,
        failed: Option<&str>,
    ) -> impl Future<Output = Result<(), AppError>> + Send;
    /// Closes jobs as done, many in one statement (a broadcast closes a thousand a second).
    fn finish_done(&self, job_ids: &[i64]) -> impl Future<Output = Result<(), AppError>> + Send;
    /// Puts a job back to be tried again at `not_before`.
    fn retry_at(
        &self,
        job_id: i64,
        not_before: DateTime<Utc>,
        error: &str,
    ) -> impl Future<Output = Result<(), AppError>> + Send;
    /// How long a claim (or a renewal) reserves a job.
    fn lease(&self) -> Duration;
    /// Renews the leases of jobs this worker still holds: reserved for [`OutboxQueue::lease`]
    /// from now. Jobs already closed are left alone.
    fn renew_leases(&self, job_ids: &[i64]) -> impl Future<Output = Result<(), AppError>> + Send;
    /// Slows the number down after Meta said its throughput was exceeded.
    fn back_off_number(
        &self,
        phone_number_id: Uuid,
        pause: Duration,
    ) -> impl Future<Output = Result<(), AppError>> + Send;
    /// Resolves when new jobs may be due (or after a short poll).
    fn wait_for_jobs(&self) -> impl Future<Output = ()> + Send;
}

/// How a call to Meta failed, as the outbox needs to know it.
#[derive(Debug, Clone)]
pub enum GatewayError {
    /// Try again later (throughput, pair rate, transient, 5xx, timeout, connection).
    Retryable {
        after: Option<Duration>,
        throughput: bool,
        failure: MetaFailure,
    },
    /// Will not succeed as is (invalid recipient, template error, auth, window).
    Permanent(MetaFailure),
}

/// Meta's Graph API, as the outbox calls it.
pub trait MetaGateway: Send + Sync + 'static {
    /// Sends a message; answers Meta's wamid.
    fn send_message(
        &self,
        meta_phone_number_id: &str,
        access_token: &str,
        body: &Value,
    ) -> impl Future<Output = Result<Wamid, GatewayError>> + Send;
    /// Sends a read receipt.
    fn mark_read(
        &self,
        meta_phone_number_id: &str,
        access_token: &str,
        body: &Value,
    ) -> impl Future<Output = Result<(), GatewayError>> + Send;
}

/// Retry and concurrency settings.
#[derive(Debug, Clone)]
pub struct OutboxPolicy {
    /// Attempts before a retryable failure becomes permanent.
    pub max_attempts: i32,
    /// First retry delay; doubles per attempt up to `max_backoff`, with full jitter.
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// Jobs claimed per round trip.
    pub claim_batch: i64,
    /// Calls to Meta in flight at once, per process.
    pub concurrency: usize,
    /// Jobs one worker holds at once, from their claim until they are closed. A claim hands out
    /// slots at the number's pace, but jobs are sent only as fast as this machine can: without
    /// a bound, the claimed jobs waiting for a call permit piled up (20,000 tasks, 100 MB, in a
    /// 100,000-recipient broadcast) and left later than their slots.
    pub max_held: usize,
}

impl Default for OutboxPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 10,
            base_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(300),
            claim_batch: 200,
            concurrency: 128,
            max_held: 2000,
        }
    }
}

impl OutboxPolicy {
    /// The delay before attempt `attempts + 1`: exponential with full jitter, at least `after`.
    pub fn backoff(&self, attempts: i32, after: Option<Duration>) -> Duration {
        let exponent = attempts.clamp(1, 20) as u32 - 1;
        let ceiling = self
            .base_backoff
            .saturating_mul(2u32.saturating_pow(exponent))
            .min(self.max_backoff);
        let jittered = ceiling.mul_f64(rand::random::<f64>().max(0.1));
        jittered.max(after.unwrap_or_default())
    }
}

/// How long the worker reuses a number's credentials before reading them again: a token
/// replaced or a number removed reaches the sends within this time.
const CREDENTIALS_TTL: Duration = Duration::from_secs(2);

/// Each number's credentials as last read. Reading them replays the number's events and opens
/// its sealed token, which a broadcast would otherwise do a thousand times a second.
#[derive(Default)]
struct CredentialsCache {
    read: std::sync::Mutex<
        std::collections::HashMap<Uuid, (std::time::Instant, Option<MetaCredentials>)>,
    >,
}

impl CredentialsCache {
    /// The number's credentials, read again when older than [`CREDENTIALS_TTL`].
    async fn get<I: Infrastructure>(
        &self,
        app: &Application<I>,
        phone_number_id: Uuid,
    ) -> Result<Option<MetaCredentials>, AppError> {
        let lock = || self.read.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((read_at, credentials)) = lock().get(&phone_number_id) {
            if read_at.elapsed() < CREDENTIALS_TTL {
                return Ok(credentials.clone());
            }
        }
        let credentials = app.meta_credentials(phone_number_id).await?;
        lock().insert(
            phone_number_id,
            (std::time::Instant::now(), credentials.clone()),
        );
        Ok(credentials)
    }
}

/// The shared pacing hands out slots, but a job can reach its slot late (loading credentials
/// under load), and late jobs would then leave together. This keeps this process's calls for
/// one number at least the number's spacing apart, whatever their slots.
#[derive(Default)]
struct LocalSpacing {
    next: std::sync::Mutex<std::collections::HashMap<Uuid, tokio::time::Instant>>,
}

impl LocalSpacing {
    /// When a call due at `slot` may go, reserving that moment.
    fn next(
        &self,
        number: Uuid,
        slot: tokio::time::Instant,
        spacing: Duration,
    ) -> tokio::time::Instant {
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        let earliest = next.get(&number).copied().unwrap_or(slot);
        let at = slot.max(earliest);
        next.insert(number, at + spacing);
        at
    }
}

/// The failure recorded when a number cannot be used at all.
fn no_credentials(reason: &str) -> MetaFailure {
    MetaFailure {
        code: 0,
        title: format!("Parley could not send: {reason}"),
        message: None,
        details: None,
    }
}

/// Runs the outbox until `stop` resolves.
pub async fn run_worker<I, Q, G>(
    app: Arc<Application<I>>,
    queue: Arc<Q>,
    gateway: Arc<G>,
    policy: OutboxPolicy,
    stop: impl Future<Output = ()> + Send,
) where
    I: Infrastructure,
    Q: OutboxQueue,
    G: MetaGateway + crate::MetaManagement,
{
    let local = Arc::new(WorkerLocal {
        permits: tokio::sync::Semaphore::new(policy.concurrency),
        spacing: LocalSpacing::default(),
        credentials: CredentialsCache::default(),
    });
    let policy = Arc::new(policy);
    // The jobs this worker holds, from their claim until they are closed (or given up on).
    let held: Arc<std::sync::Mutex<HashSet<i64>>> = Arc::default();
    tokio::spawn(renew_leases(queue.clone(), Arc::downgrade(&held)));
    let done = Arc::new(DoneJobs::default());
    tokio::spawn(close_done_jobs(queue.clone(), done.clone(), held.clone()));
    tokio::pin!(stop);
    loop {
        let room = policy.max_held.saturating_sub(lock(&held).len()) as i64;
        // Claims wait for room for a fair batch: a claim is a transaction on the shared pace
        // rows, and claiming the few jobs each close frees would multiply them.
        if room < policy.claim_batch.min(policy.max_held as i64 / 2).max(1) {
            tokio::select! {
                _ = &mut stop => return,
                _ = tokio::time::sleep(PARTIAL_CLAIM_PAUSE) => {}
            }
            continue;
        }
        let jobs = tokio::select! {
            _ = &mut stop => return,
            jobs = queue.claim(policy.claim_batch.min(room)) => jobs,
        };
        let jobs = match jobs {
            Ok(jobs) => jobs,
            Err(error) => {
                tracing::error!(%error, "outbox: claiming jobs failed");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        if jobs.is_empty() {
            tokio::select! {
                _ = &mut stop => return,
                _ = queue.wait_for_jobs() => {}
            }
            continue;
        }
        // Fewer jobs than asked for: the queue is drained or its numbers are booked up to the
        // pacing horizon, so claiming again at once would find next to nothing.
        let partial = (jobs.len() as i64) < policy.claim_batch;
        lock(&held).extend(jobs.iter().map(|job| job.id));
        for job in jobs {
            let (app, queue, gateway, policy, held, local, done) = (
                app.clone(),
                queue.clone(),
                gateway.clone(),
                policy.clone(),
                held.clone(),
                local.clone(),
                done.clone(),
            );
            tokio::spawn(async move {
                let id = job.id;
                match process(&app, &*queue, &*gateway, &policy, &local, job).await {
                    // Still held (its lease renewed) until the batch closing it commits.
                    Ok(Processed::Done) => done.push(id),
                    Ok(Processed::Settled) => {
                        lock(&held).remove(&id);
                    }
                    Err(error) => {
                        // No longer renewed: the lease runs out and the job is claimed again.
                        tracing::error!(job = id, %error, "outbox: job could not be completed");
                        lock(&held).remove(&id);
                    }
                }
            });
        }
        if partial {
            tokio::select! {
                _ = &mut stop => return,
                _ = tokio::time::sleep(PARTIAL_CLAIM_PAUSE) => {}
            }
        }
    }
}

/// The pause after a claim that brought fewer jobs than asked for.
const PARTIAL_CLAIM_PAUSE: Duration = Duration::from_millis(20);

fn lock(held: &std::sync::Mutex<HashSet<i64>>) -> std::sync::MutexGuard<'_, HashSet<i64>> {
    held.lock().unwrap_or_else(|e| e.into_inner())
}

/// How often jobs whose outcome is recorded are closed, together.
const CLOSE_PERIOD: Duration = Duration::from_millis(20);

/// Jobs whose outcome is recorded, waiting to be closed as done. Closing them one statement each
/// would cost a transaction per send; a job not closed yet (a crash) is claimed again and found
/// already recorded, so the delay risks nothing.
#[derive(Default)]
struct DoneJobs {
    ids: std::sync::Mutex<Vec<i64>>,
}

impl DoneJobs {
    fn push(&self, id: i64) {
        self.ids.lock().unwrap_or_else(|e| e.into_inner()).push(id);
    }

    fn take(&self) -> Vec<i64> {
        std::mem::take(&mut *self.ids.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// Closes the jobs in `done` every [`CLOSE_PERIOD`] and releases them from `held`, until the
/// worker and its job tasks are gone (closing what they left last).
async fn close_done_jobs<Q: OutboxQueue>(
    queue: Arc<Q>,
    done: Arc<DoneJobs>,
    held: Arc<std::sync::Mutex<HashSet<i64>>>,
) {
    loop {
        tokio::time::sleep(CLOSE_PERIOD).await;
        let last = Arc::strong_count(&done) == 1;
        let ids = done.take();
        if ids.is_empty() {
            if last {
                return;
            }
            continue;
        }
        if let Err(error) = queue.finish_done(&ids).await {
            // Their leases run out and they are claimed again, found recorded, and closed.
            tracing::error!(%error, jobs = ids.len(), "outbox: closing done jobs failed");
        }
        let mut held = lock(&held);
        for id in ids {
            held.remove(&id);
        }
    }
}

/// Renews the leases of the jobs in `held` four times per lease, until the worker and its jobs
/// are gone. A job is thus claimed again when its holder stopped renewing (it died), not because
/// an attempt was slow: a slow attempt may already have been accepted by Meta.
async fn renew_leases<Q: OutboxQueue>(
    queue: Arc<Q>,
    held: std::sync::Weak<std::sync::Mutex<HashSet<i64>>>,
) {
    let period = (queue.lease() / 4).max(Duration::from_millis(10));
    loop {
        tokio::time::sleep(period).await;
        let Some(held) = held.upgrade() else { return };
        let ids: Vec<i64> = lock(&held).iter().copied().collect();
        drop(held);
        if ids.is_empty() {
            continue;
        }
        if let Err(error) = queue.renew_leases(&ids).await {
            tracing::error!(%error, "outbox: renewing leases failed");
        }
    }
}

/// What one worker's job tasks share: calls in flight, spacing per number, credentials.
struct WorkerLocal {
    permits: tokio::sync::Semaphore,
    spacing: LocalSpacing,
    credentials: CredentialsCache,
}

/// What is left to do with a job once [`process`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Processed {
    /// Its outcome is recorded: close it as done (batched with others by [`DoneJobs`]).
    Done,
    /// Already closed or rescheduled.
    Settled,
}

/// Sends one job and records what happened.
async fn process<I, Q, G>(
    app: &Application<I>,
    queue: &Q,
    gateway: &G,
    policy: &OutboxPolicy,
    local: &WorkerLocal,
    job: OutboxJob,
) -> Result<Processed, AppError>
where
    I: Infrastructure,
    Q: OutboxQueue,
    G: MetaGateway + crate::MetaManagement,
{
    // A permit bounds the work in flight, never the wait for a slot: jobs booked up to the
    // horizon wait without one, so a full second of slots never starves the calls due now.
    let WorkerLocal {
        permits,
        spacing,
        credentials,
    } = local;
    let permit = permits.acquire().await.map_err(AppError::internal)?;
    let (workspace_id, meta_id, token) = match credentials.get(app, job.phone_number_id).await? {
        Some(MetaCredentials {
            workspace_id,
            meta_phone_number_id,
            access_token: Some(token),
        }) => (workspace_id, meta_phone_number_id, token),
        Some(_) => {
            fail(
                app,
                queue,
                &job,
                no_credentials("the number has no access token"),
            )
            .await?;
            return Ok(Processed::Settled);
        }
        None => {
            fail(app, queue, &job, no_credentials("the number was removed")).await?;
            return Ok(Processed::Settled);
        }
    };
    if job.attempts > 1 {
        // An earlier attempt may have got through (we crashed before closing the job).
        match earlier_attempt(app, &job).await? {
            SendTrace::Recorded => return Ok(Processed::Done),
            SendTrace::AcceptedAs(wamid) => {
                record_outcome(app, workspace_id, &job, Ok(wamid)).await?;
                return Ok(Processed::Done);
            }
            SendTrace::None => {}
        }
    }
    drop(permit);
    let slot =
        tokio::time::Instant::now() + (job.send_at - Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep_until(slot).await;
    let _permit = permits.acquire().await.map_err(AppError::internal)?;
    // Spaced from this process's previous call to the number as they actually leave.
    let at = spacing.next(
        job.phone_number_id,
        tokio::time::Instant::now(),
        job.spacing,
    );
    tokio::time::sleep_until(at).await;
    let outcome = match job.kind {
        JobKind::SendMessage | JobKind::BroadcastSend => gateway
            .send_message(&meta_id, &token, &job.body)
            .await
            .map(Some),
        JobKind::MarkRead => gateway
            .mark_read(&meta_id, &token, &job.body)
            .await
            .map(|_| None),
        JobKind::CreateTemplate | JobKind::EditTemplate | JobKind::DeleteTemplate => {
            crate::templates::run_template_job(app, gateway, &job, &token).await
        }
    };
    match outcome {
        Ok(Some(wamid)) => {
            record_outcome(app, workspace_id, &job, Ok(wamid)).await?;
            Ok(Processed::Done)
        }
        Ok(None) => Ok(Processed::Done),
        Err(GatewayError::Retryable {
            after,
            throughput,
            failure,
        }) => {
            if throughput {
                queue
                    .back_off_number(job.phone_number_id, Duration::from_secs(1))
                    .await?;
            }
            if job.attempts >= policy.max_attempts {
                fail(app, queue, &job, failure).await?;
                return Ok(Processed::Settled);
            }
            let delay = policy.backoff(job.attempts, after);
            tracing::warn!(
                job = job.id,
                code = failure.code,
                ?delay,
                "outbox: retrying"
            );
            let not_before = Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
            queue
                .retry_at(
                    job.id,
                    not_before,
                    &format!("{} {}", failure.code, failure.title),
                )
                .await?;
            Ok(Processed::Settled)
        }
        Err(GatewayError::Permanent(failure)) => {
            fail(app, queue, &job, failure).await?;
            Ok(Processed::Settled)
        }
    }
}

/// Records a permanent failure on the message (sends only) and closes the job.
async fn fail<I: Infrastructure, Q: OutboxQueue>(
    app: &Application<I>,
    queue: &Q,
    job: &OutboxJob,
    failure: MetaFailure,
) -> Result<(), AppError> {
    let summary = format!("{} {}", failure.code, failure.title);
    match job.kind {
        JobKind::SendMessage | JobKind::BroadcastSend => {
            let workspace_id = match app.meta_credentials(job.phone_number_id).await? {
                Some(credentials) => credentials.workspace_id,
                None => {
                    tracing::warn!(job = job.id, error = %summary, "outbox: number removed");
                    return queue.finish(job.id, Some(&summary)).await;
                }
            };
            record_outcome(app, workspace_id, job, Err(failure)).await?;
        }
        JobKind::CreateTemplate | JobKind::EditTemplate | JobKind::DeleteTemplate => {
            crate::templates::record_template_job_failure(app, job, failure).await?;
        }
        JobKind::MarkRead => {
            tracing::warn!(job = job.id, error = %summary, "outbox: read receipt failed")
        }
    }
    queue.finish(job.id, Some(&summary)).await
}

/// What an earlier attempt of the job left behind.
async fn earlier_attempt<I: Infrastructure>(
    app: &Application<I>,
    job: &OutboxJob,
) -> Result<SendTrace, AppError> {
    let recorded = |done: bool| {
        if done {
            SendTrace::Recorded
        } else {
            SendTrace::None
        }
    };
    match job.kind {
        JobKind::SendMessage => app
            .message_was_accepted(job.conversation_id, job.message_id)
            .await
            .map(recorded),
        JobKind::BroadcastSend => {
            app.broadcast_send_trace(job.conversation_id, job.message_id)
                .await
        }
        JobKind::CreateTemplate | JobKind::EditTemplate | JobKind::DeleteTemplate => {
            crate::templates::template_job_done(app, job)
                .await
                .map(recorded)
        }
        JobKind::MarkRead => Ok(SendTrace::None),
    }
}

/// Records Meta's answer to a send on the message's conversation.
async fn record_outcome<I: Infrastructure>(
    app: &Application<I>,
    workspace_id: domain::WorkspaceId,
    job: &OutboxJob,
    outcome: Result<Wamid, MetaFailure>,
) -> Result<(), AppError> {
    match job.kind {
        JobKind::BroadcastSend => {
            let content = serde_json::from_value(serde_json::json!({
                "type": "template",
                "template": job.body["template"],
            }))
            .map_err(AppError::internal)?;
            app.record_broadcast_send(
                workspace_id,
                crate::BroadcastSendOutcome {
                    broadcast_id: job.broadcast_id.unwrap_or_default(),
                    message_id: job.message_id,
                    phone_number_id: job.phone_number_id,
                    customer_wa_id: job.recipient.clone(),
                    content,
                    outcome,
                },
            )
            .await
        }
        _ => {
            app.record_send_outcome(job.conversation_id, job.message_id, outcome)
                .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_honours_meta_s_wait() {
        let policy = OutboxPolicy::default();
        for attempts in 1..30 {
            let delay = policy.backoff(attempts, None);
            assert!(delay <= policy.max_backoff);
            let ceiling = policy.base_backoff * 2u32.pow((attempts.min(20) - 1) as u32);
            assert!(delay <= ceiling.min(policy.max_backoff));
        }
        assert!(policy.backoff(1, Some(Duration::from_secs(60))) >= Duration::from_secs(60));
    }
}

//! `parley bench …`: benchmarks against DATABASE_URL, Parley in this process and the Meta
//! sandbox in a child process.
//!
//! [`Bench`] migrates the database, then wires what `parley serve` runs, on its own ports: the
//! API server on 127.0.0.1:0, the projector, the outbox worker and the broadcast supervisor when
//! a phase wants them. The Meta sandbox runs as `parley sandbox` in a child process
//! ([`SandboxProcess`]), configured through its control API (zero status delays, a 1000/s
//! throughput limit, webhooks back to the server), so that this process's peak RSS is Parley's
//! alone: the sandbox keeps every send it accepted, with its body, and its webhook tasks. A fresh
//! workspace gets a token, a phone number whose per-number limit is raised to 1000/s, and an
//! approved template. [`messaging`] and [`broadcast`] drive it.
//!
//! Figures go to stdout, one per line (`name: value`, a note after `#` where the method needs
//! one); progress goes to stderr.

pub mod broadcast;
pub mod messaging;

use crate::config::Config;
use application::{OutboxPolicy, PhoneNumberInput, RequestContext};
use domain::phone_number::PhoneNumberStatus;
use domain::WorkspaceId;
use projections::{all_projections, CheckpointWatch, Projector, Shutdown};
use serde_json::json;
use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use store::outbox::{PacingConfig, PgOutboxQueue};
use store::{AeadSecretBox, ParleyApp, PgInfrastructure, Pools, Tenancy};
use uuid::Uuid;

/// The per-number limit the bench raises its number to, and the sandbox's 130429 threshold.
const PER_NUMBER_LIMIT: u32 = 1000;
/// How long the system may take to settle between phases before the bench gives up.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(600);
/// How long the sandbox process may take to answer its control API after it is spawned.
const SANDBOX_START_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the broadcast supervisor looks for finished broadcasts (as `parley serve`).
const SUPERVISOR_PERIOD: Duration = Duration::from_secs(1);
/// The template [`approve_template`] creates, with one body variable (`{{1}}`).
const TEMPLATE_NAME: &str = "order_update";
const TEMPLATE_LANGUAGE: &str = "en_US";

/// Prints one figure on stdout, at once (a later phase may take minutes, or fail).
fn figure(name: &str, value: impl std::fmt::Display) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{name}: {value}");
    let _ = out.flush();
}

fn progress(message: impl std::fmt::Display) {
    eprintln!("bench: {message}");
}

/// The nearest-rank percentile, in milliseconds (NaN when there is nothing to rank).
fn percentile_ms(values: &[Duration], percent: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort();
    let rank = ((percent / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1].as_secs_f64() * 1000.0
}

/// This process's VmHWM (the resident set's high-water mark), in MiB: Parley's peak RSS.
fn peak_rss_mb() -> Result<f64, String> {
    peak_rss_mb_of("/proc/self/status")
}

/// VmHWM from a `/proc/<pid>/status` file, in MiB.
fn peak_rss_mb_of(status_path: &str) -> Result<f64, String> {
    let status = std::fs::read_to_string(status_path)
        .map_err(|e| format!("cannot read {status_path}: {e}"))?;
    let kb: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| format!("no VmHWM in {status_path}"))?;
    Ok(kb / 1024.0)
}

/// A connection of its own (outside the pools), for probes that must not wait for a pooled one.
async fn connect(url: &str) -> Result<tokio_postgres::Client, String> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .map_err(|e| format!("cannot connect to the database: {e}"))?;
    tokio::spawn(connection);
    Ok(client)
}

/// The Meta sandbox as a child process (`parley sandbox`), driven through its control API.
/// Dropping it kills the process, so that it ends with the bench, also when the bench fails.
struct SandboxProcess {
    child: Child,
    client: sandbox::SandboxClient,
    http: reqwest::Client,
}

/// One send the sandbox accepted, as the bench reads it: [`sandbox::SentMessage`] without its
/// request body.
#[derive(serde::Deserialize)]
struct AcceptedSend {
    wa_id: String,
    biz_opaque_callback_data: Option<String>,
    accepted_at: chrono::DateTime<chrono::Utc>,
}

/// The part of `GET /_sandbox/messages` the bench reads.
#[derive(serde::Deserialize)]
struct AcceptedSends {
    messages: Vec<AcceptedSend>,
}

impl SandboxProcess {
    /// Spawns this executable as `parley sandbox` on a free local port, delivering webhooks to
    /// `webhook_url` signed with `app_secret`, and waits until it answers.
    async fn start(webhook_url: &str, app_secret: &str) -> Result<Self, String> {
        let listen = format!("127.0.0.1:{}", free_local_port()?);
        let executable = std::env::current_exe()
            .map_err(|e| format!("cannot find the parley executable: {e}"))?;
        let child = Command::new(executable)
            .args(["sandbox", "--listen", &listen, "--webhook-url", webhook_url])
            .env("META_APP_SECRET", app_secret)
            .stdin(Stdio::null())
            // The bench's stdout carries the figures alone; the sandbox logs to stderr.
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start the sandbox process: {e}"))?;
        let mut process = Self {
            child,
            client: sandbox::SandboxClient::new(format!("http://{listen}")),
            http: reqwest::Client::new(),
        };
        process.wait_until_answering().await?;
        Ok(process)
    }

    /// Polls the control API until it answers; fails if the process exits first (e.g. the port
    /// was taken meanwhile) or takes longer than [`SANDBOX_START_TIMEOUT`].
    async fn wait_until_answering(&mut self) -> Result<(), String> {
        let started = std::time::Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().map_err(|e| e.to_string())? {
                return Err(format!("the sandbox process exited at start ({status})"));
            }
            if self.client.config().await.is_ok() {
                return Ok(());
            }
            if started.elapsed() > SANDBOX_START_TIMEOUT {
                return Err(format!(
                    "the sandbox process did not answer at {} within {SANDBOX_START_TIMEOUT:?}",
                    self.client.base_url()
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The sends the sandbox accepted since it was last cleared, in acceptance order.
    ///
    /// `GET /_sandbox/messages` read without the request bodies:
    /// [`sandbox::SandboxClient::messages`] would build a JSON tree of every body (tens of MB for
    /// a large run) in this process, whose peak RSS the bench reports as Parley's.
    async fn accepted_sends(&self) -> Result<Vec<AcceptedSend>, String> {
        let url = format!("{}/_sandbox/messages", self.client.base_url());
        let read = |e: reqwest::Error| format!("cannot read the sandbox's messages: {e}");
        let report: AcceptedSends = self
            .http
            .get(url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(read)?
            .json()
            .await
            .map_err(read)?;
        Ok(report.messages)
    }

    /// The sandbox's counters.
    async fn stats(&self) -> Result<sandbox::Stats, String> {
        self.client
            .stats()
            .await
            .map_err(|e| format!("cannot read the sandbox's stats: {e}"))
    }

    /// The sandbox process's peak RSS (VmHWM), in MiB.
    fn peak_rss_mb(&self) -> Result<f64, String> {
        peak_rss_mb_of(&format!("/proc/{}/status", self.child.id()))
    }
}

impl Drop for SandboxProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A local port free at the time of the call. The sandbox binds it a moment later; another
/// process taking it in between makes the sandbox exit, which [`SandboxProcess::start`] reports.
fn free_local_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}

/// What the sandbox saw across phases (its records are cleared between phases so that each
/// phase reads only its own sends, and so that they do not pile up in memory).
#[derive(Debug, Clone, Default)]
struct SandboxTotals {
    rejections: u64,
    by_code: BTreeMap<u32, u64>,
    max_in_any_second: u64,
}

/// Everything `parley serve` runs, wired in this process, plus the bench's workspace.
struct Bench {
    app: Arc<ParleyApp>,
    pools: Pools,
    queue: Arc<PgOutboxQueue>,
    graph: Arc<meta::GraphClient>,
    sandbox: SandboxProcess,
    sandbox_totals: Mutex<SandboxTotals>,
    /// Stops the projector and the webhook leftovers task.
    shutdown: Shutdown,
    base_url: String,
    http: reqwest::Client,
    token: String,
    workspace: WorkspaceId,
    phone_number: Uuid,
    meta_phone_number_id: String,
    next_recipient: AtomicU64,
    /// The outbox worker's policy, from the environment as for `parley serve`.
    outbox: OutboxPolicy,
}

/// A running outbox worker or broadcast supervisor; the bench stops the worker in phases that
/// must not dispatch.
struct BackgroundTask {
    stop: Shutdown,
    task: tokio::task::JoinHandle<()>,
}

impl BackgroundTask {
    /// Stops it and waits for its loop to end. A worker's jobs already claimed finish on their
    /// own (the messaging bench's settle waits for them).
    async fn stop(self) {
        self.stop.trigger();
        let _ = self.task.await;
    }
}

impl Bench {
    async fn start(config: &Config) -> Result<Self, String> {
        let pools = Pools::connect(&config.database_url, config.pool_size)
            .await
            .map_err(|e| e.to_string())?;
        store::migrations::migrate(&pools.queries)
            .await
            .map_err(|e| format!("migrating: {e}"))?;
        let names = all_projections().iter().map(|p| p.name()).collect();
        let watch = CheckpointWatch::new(
            pools.queries.clone(),
            names,
            config.read_your_writes_timeout,
        );
        tokio::spawn(watch.clone().listen(pools.database_url.clone()));
        // A throwaway key: it only seals the bench number's access token, which dies with the run.
        let key = AeadSecretBox::generate_key();
        let secrets = Arc::new(AeadSecretBox::from_encoded_key(&key).map_err(|e| e.to_string())?);
        let app = Arc::new(ParleyApp::new(PgInfrastructure::new(
            pools.clone(),
            secrets,
            watch.clone(),
        )));
        let shutdown = Shutdown::new();
        let projector = Projector::new(pools.queries.clone(), all_projections(), watch.clone());
        projector
            .ensure_checkpoints()
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(projector.run(shutdown.clone()));

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        let base_url = format!(
            "http://{}",
            listener.local_addr().map_err(|e| e.to_string())?
        );
        let app_secret = Uuid::new_v4().simple().to_string();
        let sandbox = SandboxProcess::start(&format!("{base_url}/webhook"), &app_secret).await?;
        sandbox
            .client
            .update_config(&json!({
                "status_delays": sandbox::StatusDelays::ZERO,
                // Any send above the limit is refused with 130429 and shows in sandbox_rejections.
                "throughput_limit_mps": PER_NUMBER_LIMIT,
                // Meta puts up to 1000 updates in one POST when it has many to deliver; the
                // sandbox batches statuses that wait for a free POST, up to 100.
                "status_batch_max": 100,
            }))
            .await
            .map_err(|e| format!("cannot configure the sandbox: {e}"))?;
        let graph = Arc::new(
            meta::GraphClient::new(meta::GraphConfig {
                base_url: sandbox.client.base_url().to_string(),
                version: config.meta_graph_version.clone(),
                timeout: Duration::from_secs(30),
            })
            .map_err(|e| e.to_string())?,
        );
        let queue = Arc::new(PgOutboxQueue::new(
            pools.queries.clone(),
            PacingConfig {
                default_messages_per_second: config.meta_messages_per_second,
                ..Default::default()
            },
            watch,
        ));
        let state = api::AppState::new(app.clone())
            .with_meta_webhooks(api::webhook::MetaWebhookSettings {
                app_secret: Some(Arc::new(app_secret.into_bytes())),
                verify_token: None,
            })
            .with_graph(graph.clone());
        tokio::spawn(
            state
                .webhook_applier
                .clone()
                .run_sweeps(shutdown.clone().triggered_owned()),
        );
        let router = api::router::with_common_layers(
            api::router(state.clone()).merge(graphql::router(state)),
        );
        tokio::spawn(async move { axum::serve(listener, router).await });

        let tenancy = Tenancy::new(pools.queries.clone());
        let (workspace, token) = tenancy
            .create_workspace("bench")
            .await
            .map_err(|e| e.to_string())?;
        // The bench's clients make far more than the default 1000 requests per window.
        tenancy
            .set_rate_limit(&token, std::num::NonZeroU32::new(i32::MAX as u32))
            .await
            .map_err(|e| e.to_string())?;
        // A random Meta id, so that runs sharing a database do not share conversations.
        let meta_phone_number_id = format!(
            "{}",
            100_000_000_000_000u64 + (Uuid::new_v4().as_u128() % 899_999_999_999_999) as u64
        );
        let (phone_number, _) = app
            .register_phone_number(
                &RequestContext::cli(workspace),
                PhoneNumberInput {
                    phone_number_id: meta_phone_number_id.clone(),
                    waba_id: sandbox::DEFAULT_WABA_ID.into(),
                    waba_name: Some("Parley Bench".into()),
                    display_phone_number: "+15550100001".into(),
                    display_name: Some("Parley Bench".into()),
                    verified_name: Some("Parley Bench".into()),
                    status: Some(PhoneNumberStatus::Verified),
                    access_token: Some("sandbox-access-token".into()),
                },
            )
            .await
            .map_err(|e| e.to_string())?;
        queue
            .set_throughput(phone_number, PER_NUMBER_LIMIT)
            .await
            .map_err(|e| e.to_string())?;
        progress(format!(
            "api {base_url}, sandbox {} (process {}), phone number {meta_phone_number_id} at {PER_NUMBER_LIMIT}/s",
            sandbox.client.base_url(),
            sandbox.child.id()
        ));
        let bench = Self {
            app,
            pools,
            queue,
            graph,
            sandbox,
            sandbox_totals: Mutex::new(SandboxTotals::default()),
            shutdown,
            base_url,
            http: reqwest::Client::new(),
            token,
            workspace,
            phone_number,
            meta_phone_number_id,
            next_recipient: AtomicU64::new(0),
            outbox: config.outbox.clone(),
        };
        // The template reaches Meta through the outbox: a worker runs while it is reviewed.
        let worker = bench.start_worker();
        let approved = approve_template(&bench.app, bench.workspace, bench.phone_number).await;
        worker.stop().await;
        approved?;
        Ok(bench)
    }

    /// Starts an outbox worker as `parley serve` does.
    fn start_worker(&self) -> BackgroundTask {
        let stop = Shutdown::new();
        let task = tokio::spawn(application::outbox::run_worker(
            self.app.clone(),
            self.queue.clone(),
            self.graph.clone(),
            self.outbox.clone(),
            stop.clone().triggered_owned(),
        ));
        BackgroundTask { stop, task }
    }

    /// Starts the broadcast scheduler and completion check as `parley serve` does.
    fn start_supervisor(&self) -> BackgroundTask {
        let stop = Shutdown::new();
        let task = tokio::spawn(application::broadcasts::run_supervisor(
            self.app.clone(),
            SUPERVISOR_PERIOD,
            stop.clone().triggered_owned(),
        ));
        BackgroundTask { stop, task }
    }

    /// A recipient no earlier message went to, so the pair rate never applies.
    fn next_recipient(&self) -> String {
        let n = self.next_recipient.fetch_add(1, Ordering::Relaxed);
        format!("+1555{n:07}")
    }
}

/// Creates the template every bench message sends and waits until the sandbox's review
/// (delivered as Meta's status webhook) approves it.
async fn approve_template(
    app: &ParleyApp,
    workspace: WorkspaceId,
    phone_number: Uuid,
) -> Result<(), String> {
    let context = RequestContext::cli(workspace);
    let created = app
        .create_template(
            &context,
            application::TemplateInput {
                phone_number: application::PhoneNumberRef::Id(phone_number),
                name: TEMPLATE_NAME.into(),
                language: TEMPLATE_LANGUAGE.into(),
                category: "UTILITY".into(),
                components: vec![json!({"type": "BODY", "text": "Your order {{1}} is ready"})],
                variables: vec![json!({"position": 1, "name": "order", "sample_value": "42"})],
            },
            true,
        )
        .await
        .map_err(|e| e.to_string())?;
    for _ in 0..200 {
        let state = app
            .template_state(&context, created.template_id)
            .await
            .map_err(|e| e.to_string())?;
        if state.status == domain::template::TemplateStatus::Approved {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err("the sandbox never approved the bench template".into())
}

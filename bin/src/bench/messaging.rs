//! `parley bench messaging`: the messaging benchmark (issue 3, "Benchmark").
//!
//! It runs on the system [`Bench`] wires (no broadcast supervisor: no broadcast runs), with the
//! Meta sandbox in a child process, so that peak RSS is Parley's process alone. Every
//! message goes to a recipient of its own, so the per-recipient pair rate (a 10-message burst,
//! then one per 6 s) never holds one back.
//!
//! The phases, each starting from a settled system (no job pending, no webhook in flight, every
//! outbound message `read`):
//!
//! 1. REST accept rate: `--clients` HTTP clients send `send-template` for `--seconds`, with the
//!    outbox worker paused so that the figure is the accept path alone (request, command, event,
//!    read-your-writes wait, 200). The backlog is dispatched afterwards, untimed.
//! 2. pgbench on the same cluster for as long: one single-row INSERT per transaction, 8 clients.
//! 3. Dispatch: `--messages` messages are queued through the application with the worker paused,
//!    then the worker starts; the rate is taken between the first and the last acceptance the
//!    sandbox records, with status webhooks flowing as usual.
//! 4. Accept → read: `--latency-rate` REST sends per second for `--phase-seconds`, each timed
//!    from its 200 to the first poll that finds its `messages` row `read`.
//! 5. Projector lag: `--lag-rate` send commands per second through the application for
//!    `--phase-seconds`, worker paused (so the rate is the commands driven, not multiplied by
//!    the outcome and status commands each send causes), measured by a probe (see [`lag_probe`]).
//!
//! Beside the figures, a few lines break them down to show where the time goes: REST
//! latency, the accept rate without HTTP, the outbox's share of accept → read, and the lag per
//! projection and spent waiting for older transactions to end.

use super::{
    connect, figure, peak_rss_mb, percentile_ms, progress, Bench, PER_NUMBER_LIMIT, SETTLE_TIMEOUT,
    TEMPLATE_LANGUAGE, TEMPLATE_NAME,
};
use crate::config::Config;
use application::{Freshness, OutboundMessage, PhoneNumberRef, RequestContext};
use domain::conversation::OutboundContent;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinSet;
use uuid::Uuid;

/// Options of `parley bench messaging`.
#[derive(Debug, Clone, clap::Args)]
pub struct MessagingOptions {
    /// Duration of the REST accept phase and of the pgbench run, in seconds.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Messages queued for the dispatch phase.
    #[arg(long, default_value_t = 10_000)]
    pub messages: u64,
    /// Concurrent HTTP clients of the REST accept phase.
    #[arg(long, default_value_t = 32)]
    pub clients: usize,
    /// pgbench clients.
    #[arg(long, default_value_t = 8)]
    pub pgbench_clients: usize,
    /// REST sends per second of the accept → read phase.
    #[arg(long, default_value_t = 200)]
    pub latency_rate: u32,
    /// Send commands per second of the projector-lag phase.
    #[arg(long, default_value_t = 1000)]
    pub lag_rate: u32,
    /// Duration of the accept → read and projector-lag phases, in seconds.
    #[arg(long, default_value_t = 5)]
    pub phase_seconds: u64,
    /// The pgbench binary (default: `pgbench` on PATH, else /usr/lib/postgresql/*/bin/pgbench).
    #[arg(long)]
    pub pgbench: Option<String>,
}

/// Runs the messaging benchmark against `config.database_url`.
pub async fn run(config: &Config, options: MessagingOptions) -> Result<(), String> {
    let pgbench = find_pgbench(options.pgbench.as_deref())?;
    let bench = Arc::new(Bench::start(config).await?);

    // Phase 1: the REST accept path alone.
    progress(format!(
        "phase 1: {} REST clients sending templates for {} s (outbox paused)",
        options.clients, options.seconds
    ));
    let rest = rest_accept_phase(&bench, options.clients, options.seconds).await;
    let rest_per_s = rest.accepted as f64 / rest.elapsed.as_secs_f64();
    figure("rest_send_accepted_per_s", format!("{rest_per_s:.0}"));
    figure("rest_send_non_200", rest.failed);
    figure(
        "rest_send_latency_p50_ms",
        format!("{:.1}", percentile_ms(&rest.latencies, 50.0)),
    );
    figure(
        "rest_send_latency_p99_ms",
        format!("{:.1}", percentile_ms(&rest.latencies, 99.0)),
    );
    if let Some(error) = &rest.first_error {
        progress(format!("first REST failure: {error}"));
    }
    progress(format!(
        "dispatching the {} messages of phase 1 (untimed)",
        rest.accepted
    ));
    let worker = bench.start_worker();
    bench.settle().await?;
    worker.stop().await;
    bench.collect_sandbox().await?;

    // Phase 2: pgbench on the same PostgreSQL, nothing else running.
    progress(format!(
        "phase 2: pgbench, {} clients, single-row INSERT, {} s",
        options.pgbench_clients, options.seconds
    ));
    let tps = bench
        .pgbench(&pgbench, options.pgbench_clients, options.seconds)
        .await?;
    figure(
        &format!("pgbench_insert_tps_{}_clients", options.pgbench_clients),
        format!("{tps:.0}"),
    );
    figure(
        "rest_vs_pgbench_ratio",
        format!("{:.2}  # target >= 0.5", rest_per_s / tps),
    );

    // Phase 3: dispatch of a queued backlog at the per-number limit.
    progress(format!(
        "phase 3: queueing {} messages through the application (outbox paused)",
        options.messages
    ));
    let queued = queue_backlog(&bench, options.messages, 64).await?;
    figure(
        "queue_direct_per_s",
        format!(
            "{:.0}  # send commands through the application, 64 tasks, no HTTP",
            options.messages as f64 / queued.as_secs_f64()
        ),
    );
    bench.wait_for_pending_jobs(options.messages).await?;
    progress("phase 3: outbox started, dispatching");
    let worker_started = chrono::Utc::now();
    let worker = bench.start_worker();
    let dispatch = bench
        .measure_dispatch(options.messages, worker_started)
        .await?;
    figure(
        "dispatch_per_s",
        format!("{:.0}  # target >= 1000 sustained", dispatch.per_second),
    );
    figure(
        "dispatch_max_in_any_1s_window",
        format!("{}  # limit {PER_NUMBER_LIMIT}", dispatch.max_in_any_second),
    );
    bench.settle().await?;
    bench.collect_sandbox().await?;

    // Phase 4: accept → read with the whole pipeline running (the worker stays on).
    progress(format!(
        "phase 4: {} REST sends/s for {} s, timing 200 -> read",
        options.latency_rate, options.phase_seconds
    ));
    let latency = accept_to_read_phase(&bench, options.latency_rate, options.phase_seconds).await?;
    let poll_note = format!(
        "{} messages; read seen by a poll every {:.1} ms, so up to that much late",
        latency.latencies.len(),
        latency.poll_interval_ms
    );
    figure(
        "accept_to_read_p50_ms",
        format!(
            "{:.1}  # {poll_note}",
            percentile_ms(&latency.latencies, 50.0)
        ),
    );
    figure(
        "accept_to_read_p99_ms",
        format!(
            "{:.1}  # target < 50",
            percentile_ms(&latency.latencies, 99.0)
        ),
    );
    figure(
        "accept_to_sandbox_p50_p99_ms",
        format!(
            "{:.1}/{:.1}  # of which 200 -> accepted by the sandbox (outbox pickup and call; 0 if before the 200)",
            percentile_ms(&latency.to_sandbox, 50.0),
            percentile_ms(&latency.to_sandbox, 99.0)
        ),
    );
    if latency.unfinished > 0 {
        figure("accept_to_read_never_read", latency.unfinished);
    }
    bench.settle().await?;
    worker.stop().await;
    bench.collect_sandbox().await?;

    // Phase 5: projector lag under a steady command rate.
    progress(format!(
        "phase 5: {} send commands/s for {} s (outbox paused), probing projector lag",
        options.lag_rate, options.phase_seconds
    ));
    let lag = projector_lag_phase(&bench, options.lag_rate, options.phase_seconds).await?;
    figure(
        "projector_lag_commands_per_s",
        format!(
            "{:.0}  # send commands completed per second while driving",
            lag.commands_per_s
        ),
    );
    let lag_note = format!(
        "{} events; commit seen -> every checkpoint past it, probe every {:.1} ms (+-1 interval)",
        lag.samples.all.len(),
        lag.samples.poll_interval_ms
    );
    figure(
        "projector_lag_p50_ms",
        format!("{:.1}  # {lag_note}", percentile_ms(&lag.samples.all, 50.0)),
    );
    figure(
        "projector_lag_p99_ms",
        format!(
            "{:.1}  # target < 20",
            percentile_ms(&lag.samples.all, 99.0)
        ),
    );
    let by_projection: Vec<String> = lag
        .samples
        .by_projection
        .iter()
        .map(|(name, lags)| {
            format!(
                "{name} {:.1}/{:.1}",
                percentile_ms(lags, 50.0),
                percentile_ms(lags, 99.0)
            )
        })
        .collect();
    figure(
        "projector_lag_by_projection_p50_p99_ms",
        by_projection.join(", "),
    );
    figure(
        "projector_lag_settle_wait_p50_p99_ms",
        format!(
            "{:.1}/{:.1}  # of which commit seen -> no older transaction open (xmin past it)",
            percentile_ms(&lag.samples.settle, 50.0),
            percentile_ms(&lag.samples.settle, 99.0)
        ),
    );

    bench.collect_sandbox().await?;
    let totals = bench.sandbox_totals.lock().unwrap().clone();
    figure(
        "sandbox_rejections",
        format!("{}  # by code: {:?}", totals.rejections, totals.by_code),
    );
    figure(
        "sandbox_max_accepted_in_any_1s_all_phases",
        totals.max_in_any_second,
    );
    figure(
        "peak_rss_mb",
        format!(
            "{:.0}  # target < 300; VmHWM of Parley's process (server, projector, worker, the bench's clients), the sandbox not included",
            peak_rss_mb()?
        ),
    );
    figure(
        "sandbox_peak_rss_mb",
        format!(
            "{:.0}  # VmHWM of the sandbox's own process, for reference (its records are cleared between phases)",
            bench.sandbox.peak_rss_mb()?
        ),
    );
    bench.shutdown.trigger();
    Ok(())
}

fn find_pgbench(given: Option<&str>) -> Result<String, String> {
    if let Some(path) = given {
        return Ok(path.to_string());
    }
    let on_path = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|dir| dir.join("pgbench"))
        .find(|candidate| candidate.is_file());
    if let Some(path) = on_path {
        return Ok(path.display().to_string());
    }
    // Debian keeps the server-side tools out of PATH; take the newest installed version.
    let mut versions: Vec<(u32, std::path::PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|_| "pgbench not found: install it or pass --pgbench PATH".to_string())?
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let path = entry.path().join("bin/pgbench");
            path.is_file().then_some((version, path))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, path)| path.display().to_string())
        .ok_or_else(|| "pgbench not found: install it or pass --pgbench PATH".to_string())
}

impl Bench {
    /// `POST /api/v2/external/messages/send-template`; Ok with our message id on a 200.
    async fn post_template(&self, to: &str) -> Result<Uuid, String> {
        let response = self
            .http
            .post(format!(
                "{}/api/v2/external/messages/send-template",
                self.base_url
            ))
            .bearer_auth(&self.token)
            .json(&json!({
                "phoneNumberId": self.meta_phone_number_id,
                "to": to,
                "template": template(),
            }))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(|e| e.to_string())?;
        if status != 200 {
            return Err(format!("{status} {}", String::from_utf8_lossy(&body)));
        }
        let body: Value = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
        body["data"]["messageId"]
            .as_str()
            .and_then(|id| Uuid::parse_str(id).ok())
            .ok_or_else(|| format!("no messageId in {body}"))
    }

    /// Queues a template through the application, as the REST handler does minus HTTP.
    async fn send_direct(&self) -> Result<Freshness, String> {
        let content: OutboundContent =
            serde_json::from_value(json!({"type": "template", "template": template()}))
                .map_err(|e| e.to_string())?;
        let queued = self
            .app
            .send_message(
                &RequestContext::cli(self.workspace),
                OutboundMessage {
                    phone_number: PhoneNumberRef::Id(self.phone_number),
                    to: self.next_recipient(),
                    content,
                    reply_to: None,
                },
            )
            .await
            .map_err(|e| e.to_string())?;
        Ok(queued.freshness)
    }

    /// Waits until nothing is in flight: no outbox job pending or claimed, no webhook on its
    /// way or unprocessed, every outbound message `read` (or failed).
    async fn settle(&self) -> Result<(), String> {
        let started = Instant::now();
        let client = self.pools.queries.get().await.map_err(|e| e.to_string())?;
        loop {
            let row = client
                .query_one(
                    "SELECT (SELECT count(*) FROM outbox_jobs WHERE state IN ('pending', 'claimed')), \
                            (SELECT count(*) FROM messages WHERE direction = 'outbound' \
                                AND status NOT IN ('read', 'failed')), \
                            (SELECT count(*) FROM meta_webhook_deliveries WHERE processed_at IS NULL)",
                    &[],
                )
                .await
                .map_err(|e| e.to_string())?;
            let (jobs, unread, unprocessed): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
            let webhooks = self.sandbox.stats().await?.webhooks_pending;
            if jobs == 0 && unread == 0 && unprocessed == 0 && webhooks == 0 {
                progress(format!(
                    "settled in {:.1} s",
                    started.elapsed().as_secs_f64()
                ));
                return Ok(());
            }
            if started.elapsed() > SETTLE_TIMEOUT {
                return Err(format!(
                    "not settled after {SETTLE_TIMEOUT:?}: {jobs} jobs pending, {unread} messages not read, \
                     {webhooks} webhooks in flight, {unprocessed} deliveries unprocessed"
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Adds the sandbox's counters to the totals and clears its records for the next phase.
    async fn collect_sandbox(&self) -> Result<(), String> {
        let stats = self.sandbox.stats().await?;
        {
            let mut totals = self.sandbox_totals.lock().unwrap();
            totals.rejections += stats.rejected_total;
            for (code, count) in stats.rejected {
                *totals.by_code.entry(code).or_default() += count;
            }
            totals.max_in_any_second = totals
                .max_in_any_second
                .max(stats.max_accepted_in_any_second);
        }
        self.sandbox
            .client
            .clear()
            .await
            .map_err(|e| format!("cannot clear the sandbox: {e}"))
    }

    /// pgbench with a one-INSERT script on this database; its `tps`.
    async fn pgbench(&self, binary: &str, clients: usize, seconds: u64) -> Result<f64, String> {
        let client = self.pools.queries.get().await.map_err(|e| e.to_string())?;
        client
            .batch_execute(
                "CREATE TABLE IF NOT EXISTS bench_insert (id bigserial PRIMARY KEY, payload text)",
            )
            .await
            .map_err(|e| e.to_string())?;
        drop(client);
        let script = std::env::temp_dir().join(format!("parley-bench-{}.sql", std::process::id()));
        std::fs::write(
            &script,
            "INSERT INTO bench_insert (payload) VALUES ('parley bench');\n",
        )
        .map_err(|e| e.to_string())?;
        let mut command = std::process::Command::new(binary);
        command
            .args([
                "-n",
                "-c",
                &clients.to_string(),
                "-j",
                "2",
                "-T",
                &seconds.to_string(),
                "-f",
            ])
            .arg(&script)
            .arg(&self.pools.database_url);
        // pgbench blocks for its whole run; keep it off the runtime's two threads.
        let output = tokio::task::spawn_blocking(move || command.output())
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("cannot run {binary}: {e}"));
        let _ = std::fs::remove_file(&script);
        let output = output?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            return Err(format!(
                "pgbench failed ({}): {}{}",
                output.status,
                stdout,
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        // "tps = 4242.424242 (without initial connection time)"
        stdout
            .lines()
            .find_map(|line| line.trim().strip_prefix("tps = "))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| format!("no tps in pgbench's output: {stdout}"))
    }

    /// Waits until the outbox projection has turned the queued messages into pending jobs.
    async fn wait_for_pending_jobs(&self, expected: u64) -> Result<(), String> {
        let client = self.pools.queries.get().await.map_err(|e| e.to_string())?;
        let started = Instant::now();
        loop {
            let pending: i64 = client
                .query_one(
                    "SELECT count(*) FROM outbox_jobs WHERE state = 'pending'",
                    &[],
                )
                .await
                .map_err(|e| e.to_string())?
                .get(0);
            if pending as u64 >= expected {
                return Ok(());
            }
            if started.elapsed() > SETTLE_TIMEOUT {
                return Err(format!("only {pending} of {expected} jobs appeared"));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits for `expected` acceptances in the sandbox and rates them.
    async fn measure_dispatch(
        &self,
        expected: u64,
        worker_started: chrono::DateTime<chrono::Utc>,
    ) -> Result<Dispatch, String> {
        let started = Instant::now();
        loop {
            let stats = self.sandbox.stats().await?;
            if stats.accepted >= expected {
                break;
            }
            if started.elapsed() > SETTLE_TIMEOUT {
                return Err(format!(
                    "only {} of {expected} messages reached the sandbox ({} rejected)",
                    stats.accepted, stats.rejected_total
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let accepted = self.sandbox.accepted_sends().await?;
        let (Some(first), Some(last)) = (accepted.first(), accepted.last()) else {
            return Err("the sandbox recorded no message".into());
        };
        let span = (last.accepted_at - first.accepted_at)
            .to_std()
            .unwrap_or_default()
            .as_secs_f64();
        progress(format!(
            "phase 3: {} accepted over {span:.2} s, the first {} ms after the worker started",
            accepted.len(),
            (first.accepted_at - worker_started).num_milliseconds()
        ));
        Ok(Dispatch {
            // n acceptances span n - 1 intervals.
            per_second: (accepted.len() as f64 - 1.0) / span.max(1e-9),
            max_in_any_second: self.sandbox.stats().await?.max_accepted_in_any_second,
        })
    }
}

/// The template every bench message sends.
fn template() -> Value {
    json!({
        "name": TEMPLATE_NAME,
        "language": {"code": TEMPLATE_LANGUAGE},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "42"}]}]
    })
}

struct Dispatch {
    per_second: f64,
    max_in_any_second: u64,
}

#[derive(Default)]
struct RestTally {
    accepted: u64,
    failed: u64,
    latencies: Vec<Duration>,
    first_error: Option<String>,
    elapsed: Duration,
}

/// Phase 1: `clients` closed-loop HTTP clients for `seconds`; requests still in flight at the
/// deadline are counted, and the elapsed time runs until the last one is answered.
async fn rest_accept_phase(bench: &Arc<Bench>, clients: usize, seconds: u64) -> RestTally {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let mut tasks = JoinSet::new();
    for _ in 0..clients {
        let bench = bench.clone();
        tasks.spawn(async move {
            let mut tally = RestTally::default();
            while Instant::now() < deadline {
                let to = bench.next_recipient();
                let sent = Instant::now();
                match bench.post_template(&to).await {
                    Ok(_) => {
                        tally.accepted += 1;
                        tally.latencies.push(sent.elapsed());
                    }
                    Err(error) => {
                        tally.failed += 1;
                        tally.first_error.get_or_insert(error);
                    }
                }
            }
            tally
        });
    }
    let mut total = RestTally::default();
    while let Some(Ok(tally)) = tasks.join_next().await {
        total.accepted += tally.accepted;
        total.failed += tally.failed;
        total.latencies.extend(tally.latencies);
        if total.first_error.is_none() {
            total.first_error = tally.first_error;
        }
    }
    total.elapsed = started.elapsed();
    total
}

/// Phase 3's backlog: `count` sends through the application from `tasks` concurrent tasks;
/// returns how long queueing took.
async fn queue_backlog(bench: &Arc<Bench>, count: u64, tasks: usize) -> Result<Duration, String> {
    let started = Instant::now();
    let issued = Arc::new(AtomicU64::new(0));
    let stale = Arc::new(AtomicU64::new(0));
    let mut set = JoinSet::new();
    for _ in 0..tasks {
        let (bench, issued, stale) = (bench.clone(), issued.clone(), stale.clone());
        set.spawn(async move {
            while issued.fetch_add(1, Ordering::Relaxed) < count {
                if bench.send_direct().await? == Freshness::Stale {
                    stale.fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok::<(), String>(())
        });
    }
    while let Some(done) = set.join_next().await {
        done.map_err(|e| e.to_string())??;
    }
    let elapsed = started.elapsed();
    let stale = stale.load(Ordering::Relaxed);
    if stale > 0 {
        progress(format!(
            "{stale} sends answered before the read models caught up"
        ));
    }
    Ok(elapsed)
}

struct LatencyResult {
    /// 200 → `read` in the read model.
    latencies: Vec<Duration>,
    /// 200 → the sandbox accepted the send: the outbox's share of the latencies.
    to_sandbox: Vec<Duration>,
    unfinished: usize,
    poll_interval_ms: f64,
}

/// When a send's 200 arrived, on both clocks: the monotonic one for the latency, the wall clock
/// to compare with the sandbox's `accepted_at`.
#[derive(Clone, Copy)]
struct AcceptedAt {
    instant: Instant,
    wall: chrono::DateTime<chrono::Utc>,
}

/// Phase 4: REST sends at `rate` per second for `seconds`, each timed from its 200 until a
/// dedicated connection, polling every millisecond for the ids still waiting, finds its
/// `messages` row `read`. The poll's period (plus its query time) bounds how late a read is seen.
async fn accept_to_read_phase(
    bench: &Arc<Bench>,
    rate: u32,
    seconds: u64,
) -> Result<LatencyResult, String> {
    let accepted: Arc<Mutex<HashMap<Uuid, AcceptedAt>>> = Arc::default();
    let sending_done = Arc::new(AtomicBool::new(false));
    let db = connect(&bench.pools.database_url).await?;
    let poller = {
        let (accepted, sending_done) = (accepted.clone(), sending_done.clone());
        tokio::spawn(async move {
            let statement = db
                .prepare(
                    "SELECT message_id FROM messages WHERE message_id = ANY($1) AND status = 'read'",
                )
                .await
                .map_err(|e| e.to_string())?;
            let mut latencies = Vec::new();
            let mut polls = 0u64;
            let started = Instant::now();
            let mut ticker = tokio::time::interval(Duration::from_millis(1));
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            let mut drained_at = None;
            loop {
                ticker.tick().await;
                let ids: Vec<Uuid> = accepted.lock().unwrap().keys().copied().collect();
                if ids.is_empty() {
                    if sending_done.load(Ordering::Relaxed) {
                        break;
                    }
                    continue;
                }
                if sending_done.load(Ordering::Relaxed) {
                    // Give stragglers a bounded time once sending stopped.
                    let since = *drained_at.get_or_insert_with(Instant::now);
                    if since.elapsed() > Duration::from_secs(30) {
                        break;
                    }
                }
                let rows = db
                    .query(&statement, &[&ids])
                    .await
                    .map_err(|e| e.to_string())?;
                polls += 1;
                let seen = Instant::now();
                let mut accepted = accepted.lock().unwrap();
                for row in rows {
                    let id: Uuid = row.get(0);
                    if let Some(at) = accepted.remove(&id) {
                        latencies.push((id, at, seen.saturating_duration_since(at.instant)));
                    }
                }
            }
            let interval_ms = started.elapsed().as_secs_f64() * 1000.0 / polls.max(1) as f64;
            Ok::<_, String>((latencies, interval_ms))
        })
    };

    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate.max(1) as f64));
    let end = Instant::now() + Duration::from_secs(seconds);
    let mut sends = JoinSet::new();
    let failures = Arc::new(AtomicU64::new(0));
    while Instant::now() < end {
        ticker.tick().await;
        let (bench, accepted, failures) = (bench.clone(), accepted.clone(), failures.clone());
        sends.spawn(async move {
            match bench.post_template(&bench.next_recipient()).await {
                Ok(id) => {
                    let at = AcceptedAt {
                        instant: Instant::now(),
                        wall: chrono::Utc::now(),
                    };
                    accepted.lock().unwrap().insert(id, at);
                }
                Err(error) => {
                    if failures.fetch_add(1, Ordering::Relaxed) == 0 {
                        progress(format!("first REST failure: {error}"));
                    }
                }
            }
        });
    }
    while sends.join_next().await.is_some() {}
    sending_done.store(true, Ordering::Relaxed);
    let (reads, poll_interval_ms) = poller.await.map_err(|e| e.to_string())??;
    // Our message id reaches the sandbox as biz_opaque_callback_data.
    let sandbox_accepted: HashMap<String, chrono::DateTime<chrono::Utc>> = bench
        .sandbox
        .accepted_sends()
        .await?
        .into_iter()
        .filter_map(|m| Some((m.biz_opaque_callback_data?, m.accepted_at)))
        .collect();
    let to_sandbox = reads
        .iter()
        .filter_map(|(id, at, _)| sandbox_accepted.get(&id.to_string()).map(|s| *s - at.wall))
        .map(|d| d.to_std().unwrap_or_default())
        .collect();
    let latencies = reads.into_iter().map(|(_, _, latency)| latency).collect();
    let failures = failures.load(Ordering::Relaxed);
    if failures > 0 {
        progress(format!("{failures} sends were not accepted"));
    }
    let unfinished = accepted.lock().unwrap().len();
    Ok(LatencyResult {
        latencies,
        to_sandbox,
        unfinished,
        poll_interval_ms,
    })
}

struct LagResult {
    samples: LagSamples,
    commands_per_s: f64,
}

/// Phase 5: send commands through the application at `rate` per second for `seconds`, while
/// [`lag_probe`] measures the projector's lag.
async fn projector_lag_phase(
    bench: &Arc<Bench>,
    rate: u32,
    seconds: u64,
) -> Result<LagResult, String> {
    let db = connect(&bench.pools.database_url).await?;
    let driving_done = Arc::new(AtomicBool::new(false));
    let probe = tokio::spawn(lag_probe(db, driving_done.clone()));

    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate.max(1) as f64));
    let started = Instant::now();
    let end = started + Duration::from_secs(seconds);
    let mut sends = JoinSet::new();
    while Instant::now() < end {
        ticker.tick().await;
        let bench = bench.clone();
        sends.spawn(async move { bench.send_direct().await });
    }
    let mut completed = 0u64;
    let mut failed = 0u64;
    while let Some(done) = sends.join_next().await {
        match done {
            Ok(Ok(_)) => completed += 1,
            Ok(Err(error)) => {
                if failed == 0 {
                    progress(format!("first failed command: {error}"));
                }
                failed += 1;
            }
            Err(error) => return Err(error.to_string()),
        }
    }
    let elapsed = started.elapsed();
    driving_done.store(true, Ordering::Relaxed);
    let samples = probe.await.map_err(|e| e.to_string())??;
    if failed > 0 {
        progress(format!("{failed} commands failed"));
    }
    Ok(LagResult {
        samples,
        commands_per_s: completed as f64 / elapsed.as_secs_f64(),
    })
}

/// A commit-safe position in the log: (transaction id, global position), the order in which
/// the projector folds and its checkpoints advance.
type LogPosition = (u64, i64);

/// Measures projector lag: for every event committed while it runs, the time from when its
/// commit first becomes visible until every projection's checkpoint is at or past it.
///
/// Method: one connection polls every millisecond with a single statement (so one snapshot)
/// returning the snapshot's xmin, every checkpoint `(tx_id, position)`, and every event with
/// `tx_id >=` the previous poll's xmin. Any transaction that commits after a snapshot was
/// in progress at it (so its id is at least that xmin) or started later, so this sees each
/// newly committed event exactly at the first poll after its commit, however commits interleave
/// with `global_position` order (a plain `max(global_position)` would misdate late committers).
/// An event's lag is the time of the first poll whose smallest checkpoint is at or past it,
/// minus the time of the first poll that saw it. Both ends are quantized to the polling period
/// (reported with the figures), so each lag is accurate to about ± one period; a lag shorter
/// than that can read 0.
async fn lag_probe(
    db: tokio_postgres::Client,
    driving_done: Arc<AtomicBool>,
) -> Result<LagSamples, String> {
    let statement = db
        .prepare(
            "SELECT 0, pg_snapshot_xmin(pg_current_snapshot())::text, 0::bigint, '' \
             UNION ALL SELECT 1, tx_id::text, position, name FROM projection_checkpoints \
             UNION ALL SELECT 2, tx_id::text, global_position, '' FROM events \
                       WHERE tx_id >= $1::text::xid8",
        )
        .await
        .map_err(|e| e.to_string())?;
    let mut xmin: u64 = 0;
    // Events seen and not yet passed by every checkpoint, with when they were first seen; and
    // the same per projection, to tell which one lags.
    let mut waiting: BTreeMap<LogPosition, Instant> = BTreeMap::new();
    let mut waiting_by: BTreeMap<String, BTreeMap<LogPosition, Instant>> = BTreeMap::new();
    // Events seen whose transaction is not yet below xmin, i.e. not yet settled: an older
    // transaction is still open, so no projector may fold them yet.
    let mut unsettled: BTreeMap<LogPosition, Instant> = BTreeMap::new();
    // Events already seen whose transaction is at or after xmin (the next poll returns them again).
    let mut seen: HashMap<i64, u64> = HashMap::new();
    let mut samples = LagSamples::default();
    let mut polls = 0u64;
    let mut first_poll = true;
    let started = Instant::now();
    let mut done_at = None;
    let mut ticker = tokio::time::interval(Duration::from_millis(1));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        ticker.tick().await;
        if driving_done.load(Ordering::Relaxed) {
            let since = *done_at.get_or_insert_with(Instant::now);
            // Everything folded (and a moment for the last commands' events to show), or give up.
            if (waiting.is_empty() && since.elapsed() > Duration::from_millis(200))
                || since.elapsed() > Duration::from_secs(60)
            {
                break;
            }
        }
        let polled_at = Instant::now();
        let rows = db
            .query(&statement, &[&xmin.to_string()])
            .await
            .map_err(|e| e.to_string())?;
        polls += 1;
        let mut checkpoints: Vec<(String, LogPosition)> = Vec::new();
        let mut events: Vec<LogPosition> = Vec::new();
        for row in rows {
            let tx: u64 = row.get::<_, &str>(1).parse().map_err(|_| "bad xid8")?;
            let position: i64 = row.get(2);
            match row.get::<_, i32>(0) {
                0 => xmin = tx,
                1 => checkpoints.push((row.get(3), (tx, position))),
                _ => events.push((tx, position)),
            }
        }
        for (tx, position) in events {
            // The first poll only learns what exists already; it measures nothing.
            if seen.insert(position, tx).is_none() && !first_poll {
                waiting.insert((tx, position), polled_at);
                unsettled.insert((tx, position), polled_at);
                for (name, _) in &checkpoints {
                    waiting_by
                        .entry(name.clone())
                        .or_default()
                        .insert((tx, position), polled_at);
                }
            }
        }
        first_poll = false;
        seen.retain(|_, tx| *tx >= xmin);
        // Settled: every transaction older than the event's has ended (tx < xmin).
        drain_passed(&mut unsettled, (xmin, -1), polled_at, &mut samples.settle);
        for (name, checkpoint) in &checkpoints {
            if let Some(waiting) = waiting_by.get_mut(name) {
                let lags = samples.by_projection.entry(name.clone()).or_default();
                drain_passed(waiting, *checkpoint, polled_at, lags);
            }
        }
        if let Some(slowest) = checkpoints.iter().map(|(_, c)| *c).min() {
            drain_passed(&mut waiting, slowest, polled_at, &mut samples.all);
        }
    }
    if !waiting.is_empty() {
        progress(format!(
            "{} events were still not folded everywhere when the probe stopped",
            waiting.len()
        ));
    }
    samples.poll_interval_ms = started.elapsed().as_secs_f64() * 1000.0 / polls.max(1) as f64;
    Ok(samples)
}

/// Moves every waiting event at or before `checkpoint` into `lags`, timed to `now`.
fn drain_passed(
    waiting: &mut BTreeMap<LogPosition, Instant>,
    checkpoint: LogPosition,
    now: Instant,
    lags: &mut Vec<Duration>,
) {
    while let Some(entry) = waiting.first_entry() {
        if *entry.key() > checkpoint {
            break;
        }
        lags.push(now.saturating_duration_since(entry.remove()));
    }
}

/// What [`lag_probe`] measured.
#[derive(Default)]
struct LagSamples {
    /// Per event, until every projection's checkpoint passed it: the projector lag.
    all: Vec<Duration>,
    /// Per event, until this projection's checkpoint passed it.
    by_projection: BTreeMap<String, Vec<Duration>>,
    /// Per event, until it was settled (the part of the lag spent waiting for older transactions).
    settle: Vec<Duration>,
    poll_interval_ms: f64,
}

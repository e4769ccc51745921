//! `parley bench broadcast`: the broadcast benchmark (issue 4, "Benchmark").
//!
//! It runs on the system [`Bench`] wires (the Meta sandbox in a child process), with the outbox
//! worker and the broadcast supervisor on, after the sandbox has raised the number's messaging
//! limit to unlimited (a `phone_number_quality_update` webhook, as Meta sends it): the entry
//! tier would hold all but 250 recipients back for a day. One broadcast is driven over REST as an integrator would:
//!
//! 1. Adding: a draft is created (`POST /v1/whatsapp/broadcasts`), then `--recipients`
//!    recipients are added by `PATCH …/recipients`, `--batch` per call, one call after the other
//!    (each call answers after the read models have the recipients). Timed as the sum of the
//!    calls: from the first request to the last answer, less building each body before its call.
//! 2. Sending: `POST …/send`, then until the broadcast is `completed` and every recipient final:
//!    - one task reads `GET /v1/whatsapp/broadcasts/{id}` every `--read-interval-ms`, timing each
//!      call; the first answer whose counts have every recipient final (delivered, read, failed
//!      or skipped) dates "all final", the first that says `completed` dates the completion;
//!    - another reads a page of `GET …/recipients` (100 recipients) as often, timing each call.
//! 3. Dispatch, from the sandbox's records once everything is final: the rate between the first
//!    and the last acceptance, the most acceptances in any sliding one-second window and in any
//!    calendar second, and that no recipient got two messages.
//!
//! Peak RSS is read before the bench fetches the sandbox's records for step 3, so it is what
//! Parley's process (server, projector, worker, the bench's clients) reached while running. The
//! sandbox, holding every send it accepted, is a process of its own: its peak is printed apart,
//! also read before it serializes its records for step 3.

use super::{
    figure, peak_rss_mb, percentile_ms, progress, Bench, PER_NUMBER_LIMIT, SETTLE_TIMEOUT,
};
use crate::config::Config;
use chrono::{DateTime, Utc};
use domain::broadcast::MAX_RECIPIENTS_PER_ADD;
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long the bench waits for every recipient to be final, beyond [`SETTLE_TIMEOUT`], per
/// recipient: a slow system still gets its figures (ten times the time at the limit).
const WAIT_PER_RECIPIENT: Duration = Duration::from_millis(10);

/// Recipients per page of the recipients list read during the send.
const RECIPIENTS_PAGE: u32 = 100;

/// Options of `parley bench broadcast`.
#[derive(Debug, Clone, clap::Args)]
pub struct BroadcastOptions {
    /// Recipients of the broadcast.
    #[arg(long, default_value_t = 100_000)]
    pub recipients: u32,
    /// Recipients added per `PATCH …/recipients` call (the API takes at most 1000).
    #[arg(long, default_value_t = MAX_RECIPIENTS_PER_ADD)]
    pub batch: usize,
    /// How often the broadcast's status and a page of its recipients are read during the send.
    #[arg(long, default_value_t = 100)]
    pub read_interval_ms: u64,
}

/// Runs the broadcast benchmark against `config.database_url`.
pub async fn run(config: &Config, options: BroadcastOptions) -> Result<(), String> {
    if !(1..=MAX_RECIPIENTS_PER_ADD).contains(&options.batch) {
        return Err(format!(
            "--batch must be between 1 and {MAX_RECIPIENTS_PER_ADD}"
        ));
    }
    let bench = Arc::new(Bench::start(config).await?);
    raise_messaging_limit(&bench).await?;
    let worker = bench.start_worker();
    let supervisor = bench.start_supervisor();

    // Step 1: the draft and its recipients.
    let broadcast_id = bench.create_draft().await?;
    progress(format!(
        "adding {} recipients to broadcast {broadcast_id}, {} per call",
        options.recipients, options.batch
    ));
    let adding = add_recipients(
        &bench,
        &broadcast_id,
        options.recipients,
        options.batch as u32,
    )
    .await?;
    figure(
        "add_recipients_s",
        format!(
            "{:.2}  # target < 10; {} PATCH calls one after another",
            adding.elapsed.as_secs_f64(),
            adding.calls.len()
        ),
    );
    figure(
        "add_recipients_per_s",
        format!(
            "{:.0}",
            options.recipients as f64 / adding.elapsed.as_secs_f64()
        ),
    );
    figure(
        "add_recipients_call_p50_p99_max_ms",
        latency_summary(&adding.calls),
    );

    // Step 2: send, read while it goes, wait for every recipient to be final.
    progress("sending");
    let send_started_at = Utc::now();
    let send_started = Instant::now();
    let answer = bench
        .call_v1(
            Method::POST,
            &format!("/v1/whatsapp/broadcasts/{broadcast_id}/send"),
            None,
        )
        .await?;
    let send_answer = send_started.elapsed();
    figure(
        "send_answer_ms",
        format!(
            "{:.1}  # POST …/send: audience frozen, answered with {answer}",
            send_answer.as_secs_f64() * 1000.0
        ),
    );
    let interval = Duration::from_millis(options.read_interval_ms.max(1));
    let completed = Arc::new(AtomicBool::new(false));
    let recipient_reads = tokio::spawn(read_recipients(
        bench.clone(),
        broadcast_id.clone(),
        interval,
        completed.clone(),
    ));
    let deadline = SETTLE_TIMEOUT + WAIT_PER_RECIPIENT * options.recipients;
    let watched = watch_status(&bench, &broadcast_id, interval, send_started, deadline).await;
    completed.store(true, Ordering::Relaxed);
    let recipient_reads = recipient_reads.await.map_err(|e| e.to_string())?;
    let watched = watched?;
    let rss = peak_rss_mb()?;
    let sandbox_rss = bench.sandbox.peak_rss_mb()?;

    let since_send = |at: Option<Duration>| match at {
        Some(at) => format!("{:.1}", at.as_secs_f64()),
        None => "never".to_string(),
    };
    figure(
        "send_to_all_final_s",
        format!(
            "{}  # POST …/send -> first GET whose counts have every recipient delivered, read, failed or skipped (read every {} ms)",
            since_send(watched.all_final),
            interval.as_millis()
        ),
    );
    figure(
        "send_to_completed_s",
        format!(
            "{}  # -> first GET saying completed (the supervisor checks every second)",
            since_send(watched.completed)
        ),
    );
    figure("final_counts", counts_summary(&watched.last));
    figure(
        "status_read_p50_p99_max_ms",
        format!(
            "{}  # GET /v1/whatsapp/broadcasts/{{id}} during the send, {} reads",
            latency_summary(&watched.reads),
            watched.reads.len()
        ),
    );
    figure(
        "recipients_read_p50_p99_max_ms",
        format!(
            "{}  # GET …/recipients?limit={RECIPIENTS_PAGE} (page and summary) during the send, {} reads",
            latency_summary(&recipient_reads.reads),
            recipient_reads.reads.len()
        ),
    );
    if watched.failed_reads + recipient_reads.failed > 0 {
        figure(
            "reads_failed",
            watched.failed_reads + recipient_reads.failed,
        );
    }

    // Step 3: what reached the sandbox.
    let dispatch = dispatch_from_sandbox(&bench, send_started_at).await?;
    figure(
        "dispatch_per_s",
        format!(
            "{:.1}  # limit {PER_NUMBER_LIMIT}, target within 5%: {:.1}% of it; {} acceptances, first to last",
            dispatch.per_second,
            dispatch.per_second * 100.0 / PER_NUMBER_LIMIT as f64,
            dispatch.accepted
        ),
    );
    figure(
        "dispatch_full_seconds_min_median_max",
        format!(
            "{}/{}/{}  # acceptances per calendar second, the first and last (partial) seconds left out",
            dispatch.full_seconds.0, dispatch.full_seconds.1, dispatch.full_seconds.2
        ),
    );
    figure(
        "dispatch_max_in_any_1s_sliding",
        format!(
            "{}  # limit {PER_NUMBER_LIMIT}; from the sandbox's acceptance times (sandbox's own count: {})",
            dispatch.max_sliding, dispatch.sandbox_max_sliding
        ),
    );
    figure(
        "dispatch_max_in_any_1s_fixed",
        format!("{}  # limit {PER_NUMBER_LIMIT}", dispatch.max_fixed),
    );
    figure(
        "send_to_first_acceptance_ms",
        dispatch.first_after_send.num_milliseconds(),
    );
    figure(
        "last_acceptance_to_all_final_ms",
        match watched.all_final_at {
            Some(at) => (at - dispatch.last_at).num_milliseconds().to_string(),
            None => "never".to_string(),
        },
    );
    figure(
        "recipients_sent_twice",
        format!(
            "{}  # acceptances beyond one per recipient",
            dispatch.accepted - dispatch.distinct_recipients
        ),
    );
    figure(
        "sandbox_rejections",
        format!("{}  # by code: {:?}", dispatch.rejections, dispatch.by_code),
    );
    figure(
        "peak_rss_mb",
        format!(
            "{rss:.0}  # target < 300; VmHWM of Parley's process (server, projector, worker, the bench's clients), the sandbox not included"
        ),
    );
    figure(
        "sandbox_peak_rss_mb",
        format!(
            "{sandbox_rss:.0}  # VmHWM of the sandbox's own process (holding its record of every send), for reference"
        ),
    );

    worker.stop().await;
    supervisor.stop().await;
    bench.shutdown.trigger();
    if watched.completed.is_none() {
        return Err("the broadcast did not complete".into());
    }
    Ok(())
}

/// Raises the number's messaging-limit tier to unlimited through the sandbox's quality webhook
/// and waits until the outbox knows it.
async fn raise_messaging_limit(bench: &Bench) -> Result<(), String> {
    bench
        .sandbox
        .client
        .set_phone_quality(&sandbox::PhoneQualityRequest {
            phone_number_id: Some(bench.meta_phone_number_id.clone()),
            event: "UPGRADE".into(),
            current_limit: Some("TIER_UNLIMITED".into()),
            ..Default::default()
        })
        .await
        .map_err(|e| format!("cannot raise the messaging limit in the sandbox: {e}"))?;
    let client = bench.pools.queries.get().await.map_err(|e| e.to_string())?;
    let started = Instant::now();
    loop {
        let known = client
            .query_opt(
                "SELECT 1 FROM phone_number_throughput WHERE phone_number_id = $1 \
                 AND tier_known AND daily_recipients IS NULL",
                &[&bench.phone_number],
            )
            .await
            .map_err(|e| e.to_string())?;
        if known.is_some() {
            return Ok(());
        }
        if started.elapsed() > Duration::from_secs(30) {
            return Err("the unlimited tier never reached the outbox".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The request body of one PATCH call: `count` recipients from the `first`-th on, each new and
/// with their own `{{1}}`. Built just before its call (all of them at once held ~150 MB in this
/// process, whose peak RSS the bench reports as Parley's), outside the call's timing.
fn recipient_batch(bench: &Bench, first: u32, count: u32) -> Vec<u8> {
    let recipients: Vec<Value> = (first..first + count)
        .map(|n| {
            json!({
                "phone": bench.next_recipient(),
                "name": format!("Customer {n}"),
                "variables": {"1": format!("A-{n}")},
            })
        })
        .collect();
    json!({ "recipients": recipients }).to_string().into_bytes()
}

/// How long adding took, in all and per call.
struct Adding {
    elapsed: Duration,
    calls: Vec<Duration>,
}

/// Step 1: the PATCH calls one after the other; each must add its whole batch. The time in all
/// is the calls' (one after the other, so from the first request to the last answer, less the
/// building of the bodies between them).
async fn add_recipients(
    bench: &Bench,
    broadcast_id: &str,
    recipients: u32,
    batch: u32,
) -> Result<Adding, String> {
    let path = format!("/v1/whatsapp/broadcasts/{broadcast_id}/recipients");
    let mut calls = Vec::new();
    let mut total = 0;
    for first in (0..recipients).step_by(batch as usize) {
        let body = recipient_batch(bench, first, batch.min(recipients - first));
        let call_started = Instant::now();
        let answer = bench.call_v1(Method::PATCH, &path, Some(body)).await?;
        calls.push(call_started.elapsed());
        if answer["duplicates"] != 0 {
            return Err(format!("fresh recipients counted as duplicates: {answer}"));
        }
        total = answer["totalRecipients"].as_u64().unwrap_or_default();
    }
    progress(format!(
        "the broadcast has {total} recipients after {} calls",
        calls.len()
    ));
    Ok(Adding {
        elapsed: calls.iter().sum(),
        calls,
    })
}

/// What the status reader saw.
struct Watched {
    /// From the send's request to the first answer with every recipient final.
    all_final: Option<Duration>,
    /// The same moment on the wall clock, to compare with the sandbox's acceptance times.
    all_final_at: Option<DateTime<Utc>>,
    /// From the send's request to the first answer saying `completed`.
    completed: Option<Duration>,
    /// The last answer's broadcast.
    last: Value,
    reads: Vec<Duration>,
    failed_reads: u64,
}

/// Reads the broadcast every `interval` until it is completed and every recipient is final (or
/// `deadline` passes), timing each call and dating both moments. The broadcast
/// completes when no recipient is pending any more, which may come before Meta's last
/// `delivered` or `read`. Progress every ten seconds.
async fn watch_status(
    bench: &Bench,
    broadcast_id: &str,
    interval: Duration,
    send_started: Instant,
    deadline: Duration,
) -> Result<Watched, String> {
    let path = format!("/v1/whatsapp/broadcasts/{broadcast_id}");
    let mut watched = Watched {
        all_final: None,
        all_final_at: None,
        completed: None,
        last: Value::Null,
        reads: Vec::new(),
        failed_reads: 0,
    };
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_progress = Instant::now();
    while watched.completed.is_none() || watched.all_final.is_none() {
        ticker.tick().await;
        if send_started.elapsed() > deadline {
            progress(format!(
                "gave up after {deadline:?}: {}",
                counts_summary(&watched.last)
            ));
            break;
        }
        let read_started = Instant::now();
        let broadcast = match bench.call_v1(Method::GET, &path, None).await {
            Ok(answer) => answer["broadcast"].clone(),
            Err(error) => {
                if watched.failed_reads == 0 {
                    progress(format!("first failed status read: {error}"));
                }
                watched.failed_reads += 1;
                continue;
            }
        };
        watched.reads.push(read_started.elapsed());
        let count = |name: &str| broadcast[name].as_u64().unwrap_or_default();
        // `deliveredCount` is a funnel figure: it includes the read.
        let finished = count("deliveredCount") + count("failedCount") + count("skippedCount");
        if watched.all_final.is_none() && finished >= count("recipientCount") {
            watched.all_final = Some(send_started.elapsed());
            watched.all_final_at = Some(Utc::now());
        }
        if watched.completed.is_none() && broadcast["status"] == "completed" {
            watched.completed = Some(send_started.elapsed());
        }
        if last_progress.elapsed() > Duration::from_secs(10) {
            last_progress = Instant::now();
            progress(format!(
                "{:.0} s: {}",
                send_started.elapsed().as_secs_f64(),
                counts_summary(&broadcast)
            ));
        }
        watched.last = broadcast;
    }
    Ok(watched)
}

/// What the recipients reader saw.
struct RecipientReads {
    reads: Vec<Duration>,
    failed: u64,
}

/// Reads the first page of the broadcast's recipients every `interval` until `done`.
async fn read_recipients(
    bench: Arc<Bench>,
    broadcast_id: String,
    interval: Duration,
    done: Arc<AtomicBool>,
) -> RecipientReads {
    let path = format!("/v1/whatsapp/broadcasts/{broadcast_id}/recipients?limit={RECIPIENTS_PAGE}");
    let mut result = RecipientReads {
        reads: Vec::new(),
        failed: 0,
    };
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !done.load(Ordering::Relaxed) {
        ticker.tick().await;
        let started = Instant::now();
        match bench.call_v1(Method::GET, &path, None).await {
            Ok(_) => result.reads.push(started.elapsed()),
            Err(error) => {
                if result.failed == 0 {
                    progress(format!("first failed recipients read: {error}"));
                }
                result.failed += 1;
            }
        }
    }
    result
}

/// What the sandbox accepted during the broadcast.
struct Dispatch {
    accepted: u64,
    distinct_recipients: u64,
    per_second: f64,
    max_sliding: u64,
    sandbox_max_sliding: u64,
    max_fixed: u64,
    /// Acceptances per calendar second over the seconds wholly inside the send: min, median, max.
    full_seconds: (u64, u64, u64),
    first_after_send: chrono::TimeDelta,
    last_at: DateTime<Utc>,
    rejections: u64,
    by_code: BTreeMap<u32, u64>,
}

/// Step 3: rates and windows from the sandbox's records (every send of this run is the
/// broadcast's: nothing else sends).
async fn dispatch_from_sandbox(
    bench: &Bench,
    send_started: DateTime<Utc>,
) -> Result<Dispatch, String> {
    let stats = bench.sandbox.stats().await?;
    let accepted = bench.sandbox.accepted_sends().await?;
    let mut times: Vec<DateTime<Utc>> = accepted.iter().map(|m| m.accepted_at).collect();
    times.sort();
    let (Some(&first), Some(&last)) = (times.first(), times.last()) else {
        return Err("the sandbox accepted no message".into());
    };
    let distinct: HashSet<&str> = accepted.iter().map(|m| m.wa_id.as_str()).collect();
    let span = (last - first).to_std().unwrap_or_default().as_secs_f64();
    let mut per_calendar_second: BTreeMap<i64, u64> = BTreeMap::new();
    for at in &times {
        *per_calendar_second.entry(at.timestamp()).or_default() += 1;
    }
    let max_fixed = per_calendar_second
        .values()
        .copied()
        .max()
        .unwrap_or_default();
    // The first and last seconds are partial (the send starts and ends inside them).
    let mut full: Vec<u64> = per_calendar_second.values().copied().collect();
    full = full
        .get(1..full.len().saturating_sub(1))
        .unwrap_or_default()
        .to_vec();
    full.sort_unstable();
    let full_seconds = match (full.first(), full.last()) {
        (Some(&min), Some(&max)) => (min, full[full.len() / 2], max),
        _ => (0, 0, 0),
    };
    Ok(Dispatch {
        accepted: times.len() as u64,
        distinct_recipients: distinct.len() as u64,
        // n acceptances span n - 1 intervals.
        per_second: (times.len() as f64 - 1.0) / span.max(1e-9),
        max_sliding: max_in_sliding_second(&times),
        sandbox_max_sliding: stats.max_accepted_in_any_second,
        max_fixed,
        full_seconds,
        first_after_send: first - send_started,
        last_at: last,
        rejections: stats.rejected_total,
        by_code: stats.rejected,
    })
}

/// The most of `times` (sorted) within any span shorter than one second.
fn max_in_sliding_second(times: &[DateTime<Utc>]) -> u64 {
    let second = chrono::TimeDelta::seconds(1);
    let mut best = 0;
    let mut start = 0;
    for (end, &at) in times.iter().enumerate() {
        while at - times[start] >= second {
            start += 1;
        }
        best = best.max(end - start + 1);
    }
    best as u64
}

/// "p50/p99/max" in milliseconds.
fn latency_summary(values: &[Duration]) -> String {
    let max = values.iter().max().copied().unwrap_or_default();
    format!(
        "{:.1}/{:.1}/{:.1}",
        percentile_ms(values, 50.0),
        percentile_ms(values, 99.0),
        max.as_secs_f64() * 1000.0
    )
}

/// A broadcast's status and counts on one line.
fn counts_summary(broadcast: &Value) -> String {
    let count = |name: &str| broadcast[name].as_u64().unwrap_or_default();
    format!(
        "{} of {}: pending {}, sent {}, delivered {}, read {}, failed {}, skipped {}",
        broadcast["status"].as_str().unwrap_or("?"),
        count("recipientCount"),
        count("pendingCount"),
        count("sentCount"),
        count("deliveredCount"),
        count("readCount"),
        count("failedCount"),
        count("skippedCount"),
    )
}

impl Bench {
    /// Creates an empty draft broadcast of the bench template on the bench number; its id.
    async fn create_draft(&self) -> Result<String, String> {
        let body = json!({
            "accountId": self.phone_number,
            "name": "Bench broadcast",
            "description": "parley bench broadcast",
            "template": {"name": super::TEMPLATE_NAME, "language": super::TEMPLATE_LANGUAGE},
        });
        let answer = self
            .call_v1(
                Method::POST,
                "/v1/whatsapp/broadcasts",
                Some(body.to_string().into_bytes()),
            )
            .await?;
        answer["broadcast"]["id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("no broadcast id in {answer}"))
    }

    /// A call to the WhatsApp API with the bench's token; the answer's JSON on a 200.
    async fn call_v1(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Value, String> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base_url))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        let response = request.send().await.map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(|e| e.to_string())?;
        if status != 200 {
            return Err(format!("{status} {}", String::from_utf8_lossy(&body)));
        }
        serde_json::from_slice(&body).map_err(|e| e.to_string())
    }
}

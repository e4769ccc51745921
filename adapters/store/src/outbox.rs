//! The outbox queue on PostgreSQL: claims with `FOR UPDATE SKIP LOCKED`, leases, and pacing
//! shared by every worker process.
//!
//! Pacing is GCRA ("theoretical arrival time") kept in `send_pace`, one row per business number
//! and one per (number, recipient). A claim locks the rows it needs, hands each job the earliest
//! slot both allow, and moves the rows on, all in the claim's transaction: two processes never
//! hand out the same slot, so together they stay under the number's throughput and the pair rate.

use crate::redoable::execute_redoable;
use application::outbox::{JobKind, OutboxJob, OutboxQueue};
use application::AppError;
use chrono::{DateTime, Utc};
use domain::conversation::MessageId;
use projections::CheckpointWatch;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// Slack added to each second of a number's pacing, for the jitter between a slot and the send.
const PACING_ALLOWANCE_NANOS: i64 = 50_000_000;

/// Recipients a number may message per 24 h when Meta has not told its tier: the entry tier.
const ASSUMED_DAILY_RECIPIENTS: i64 = 250;

/// How much a 130429 slows a number, and the most it can be slowed.
const SLOWDOWN_STEP: f32 = 1.5;
const MAX_SLOWDOWN: f32 = 8.0;
/// The slowdown halves every this many seconds without another 130429.
const SLOWDOWN_HALF_LIFE_SECS: f64 = 30.0;

/// When a job held back by the messaging limit is looked at again.
const TIER_RECHECK: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

/// Pacing and lease settings.
#[derive(Debug, Clone)]
pub struct PacingConfig {
    /// Messages per second per business number, unless `phone_number_throughput` says otherwise.
    pub default_messages_per_second: u32,
    /// The steady interval between two messages to the same recipient.
    pub pair_interval: Duration,
    /// How many messages a recipient may get back to back before the interval applies.
    pub pair_burst: u32,
    /// How long a claimed job stays reserved after its send time before another worker may take it.
    pub lease: Duration,
    /// Jobs are claimed only for slots within this horizon; later ones wait in the queue.
    pub horizon: Duration,
}

impl Default for PacingConfig {
    fn default() -> Self {
        Self {
            // Meta's default per-number throughput.
            default_messages_per_second: 80,
            // Meta's pair rate is about one message per 6 s with short bursts allowed.
            pair_interval: Duration::from_secs(6),
            pair_burst: 10,
            lease: Duration::from_secs(30),
            horizon: Duration::from_secs(1),
        }
    }
}

/// [`OutboxQueue`] on the query pool.
#[derive(Clone)]
pub struct PgOutboxQueue {
    pool: deadpool_postgres::Pool,
    pacing: PacingConfig,
    watch: CheckpointWatch,
    /// How many due jobs the next claim reads (see [`MIN_CLAIM`]).
    claim_size: Arc<AtomicI64>,
}

/// The fewest due jobs a claim reads. A claim reads fewer than the worker asks for while its
/// numbers are booked up to the horizon: reading (and locking) two hundred jobs to take the
/// twenty whose slots have come free would cost more than the sends. It grows back, doubling,
/// as soon as claims are no longer cut short.
const MIN_CLAIM: i64 = 16;

impl PgOutboxQueue {
    /// A queue on `pool`, woken by the projector's checkpoint notifications.
    pub fn new(
        pool: deadpool_postgres::Pool,
        pacing: PacingConfig,
        watch: CheckpointWatch,
    ) -> Self {
        Self {
            pool,
            pacing,
            watch,
            claim_size: Arc::new(AtomicI64::new(i64::MAX)),
        }
    }

    /// Sets a number's throughput (messages per second).
    pub async fn set_throughput(
        &self,
        phone_number_id: Uuid,
        messages_per_second: u32,
    ) -> Result<(), AppError> {
        let client = self.pool.get().await.map_err(AppError::internal)?;
        client
            .execute(
                "INSERT INTO phone_number_throughput (phone_number_id, messages_per_second) VALUES ($1, $2) \
                 ON CONFLICT (phone_number_id) DO UPDATE SET messages_per_second = EXCLUDED.messages_per_second",
                &[&phone_number_id, &(messages_per_second as i32)],
            )
            .await
            .map_err(AppError::internal)?;
        Ok(())
    }
}

fn number_key(phone_number_id: Uuid) -> String {
    format!("number:{phone_number_id}")
}

fn pair_key(phone_number_id: Uuid, recipient: &str) -> String {
    format!("pair:{phone_number_id}:{recipient}")
}

fn chrono(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}

/// One GCRA step: the earliest slot at or after `earliest` for a key whose theoretical
/// arrival time is `tat`, and the key's next arrival time.
fn gcra_slot(
    tat: DateTime<Utc>,
    earliest: DateTime<Utc>,
    interval: chrono::Duration,
    tolerance: chrono::Duration,
) -> (DateTime<Utc>, DateTime<Utc>) {
    let slot = earliest.max(tat - tolerance);
    (slot, tat.max(slot) + interval)
}

struct Due {
    id: i64,
    kind: JobKind,
    aggregate_id: String,
    broadcast_id: Option<Uuid>,
    conversation_id: Uuid,
    message_id: Uuid,
    phone_number_id: Uuid,
    recipient: String,
    body: serde_json::Value,
    attempts: i32,
    reserved_slot: Option<DateTime<Utc>>,
}

/// A number's limits as the claim uses them.
struct NumberLimits {
    messages_per_second: Option<i32>,
    /// Unique broadcast recipients per rolling 24 h; `None` is unlimited.
    daily_recipients: Option<i64>,
    /// How much slower than its throughput the number goes after a 130429.
    slowdown: f32,
}

/// What is left of a number's messaging limit in this claim.
struct TierAllowance {
    remaining: i64,
    /// Recipients already counted in the last 24 h (messaging them again costs nothing).
    recent: std::collections::HashSet<String>,
}

impl PgOutboxQueue {
    /// The messaging-limit allowance of each number with broadcast jobs in `due` that has a
    /// limit. Numbers never seen get the assumed entry tier.
    async fn tier_allowance(
        &self,
        tx: &tokio_postgres::Transaction<'_>,
        due: &[Due],
        limits: &HashMap<Uuid, NumberLimits>,
    ) -> Result<HashMap<Uuid, TierAllowance>, AppError> {
        let mut allowance = HashMap::new();
        for job in due.iter().filter(|j| j.kind == JobKind::BroadcastSend) {
            if allowance.contains_key(&job.phone_number_id) {
                continue;
            }
            let daily = match limits.get(&job.phone_number_id) {
                Some(limits) => limits.daily_recipients,
                None => Some(ASSUMED_DAILY_RECIPIENTS),
            };
            let Some(daily) = daily else { continue };
            let recipients: Vec<&str> = due
                .iter()
                .filter(|j| j.phone_number_id == job.phone_number_id)
                .map(|j| j.recipient.as_str())
                .collect();
            let row = tx
                .query_one(
                    "SELECT count(*), \
                            coalesce(array_agg(recipient) FILTER (WHERE recipient = ANY($2)), '{}') \
                     FROM business_initiated_recipients \
                     WHERE phone_number_id = $1 AND last_sent_at > now() - interval '24 hours'",
                    &[&job.phone_number_id, &recipients],
                )
                .await
                .map_err(AppError::internal)?;
            let used: i64 = row.get(0);
            let recent: Vec<String> = row.get(1);
            allowance.insert(
                job.phone_number_id,
                TierAllowance {
                    remaining: daily - used,
                    recent: recent.into_iter().collect(),
                },
            );
        }
        Ok(allowance)
    }
}

impl OutboxQueue for PgOutboxQueue {
    async fn claim(&self, limit: i64) -> Result<Vec<OutboxJob>, AppError> {
        let limit = limit.min(self.claim_size.load(Ordering::Relaxed)).max(1);
        let mut client = self.pool.get().await.map_err(AppError::internal)?;
        let tx = client.transaction().await.map_err(AppError::internal)?;
        // Jobs whose worker died: their lease ran out, so they are due again. Rows another
        // transaction holds (being closed or renewed right now) are left to it: waiting for them
        // could deadlock with its own row order.
        tx.execute(
            "UPDATE outbox_jobs SET state = 'pending', not_before = now() \
             WHERE id IN (SELECT id FROM outbox_jobs WHERE state = 'claimed' AND lease_until < now() \
                          FOR UPDATE SKIP LOCKED)",
            &[],
        )
        .await
        .map_err(AppError::internal)?;
        let rows = tx
            .query(
                "SELECT id, kind, coalesce(conversation_id, '00000000-0000-0000-0000-000000000000'), \
                        coalesce(message_id, '00000000-0000-0000-0000-000000000000'), phone_number_id, \
                        recipient, body, attempts, reserved_slot, now(), aggregate_id, broadcast_id \
                 FROM outbox_jobs WHERE state = 'pending' AND not_before <= now() \
                 ORDER BY priority, not_before, id LIMIT $1 FOR UPDATE SKIP LOCKED",
                &[&limit],
            )
            .await
            .map_err(AppError::internal)?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let now: DateTime<Utc> = rows[0].get(9);
        let due: Vec<Due> = rows
            .iter()
            .map(|row| Due {
                id: row.get(0),
                kind: JobKind::parse(row.get(1)),
                aggregate_id: row.get(10),
                broadcast_id: row.get(11),
                conversation_id: row.get(2),
                message_id: row.get(3),
                phone_number_id: row.get(4),
                recipient: row.get(5),
                body: row.get(6),
                attempts: row.get(7),
                reserved_slot: row.get(8),
            })
            .collect();

        // Lock (creating as needed) every pace row this batch touches, in key order.
        let mut keys: Vec<String> = Vec::new();
        let mut numbers: Vec<Uuid> = Vec::new();
        for job in &due {
            keys.push(number_key(job.phone_number_id));
            numbers.push(job.phone_number_id);
            if job.kind.is_send() {
                keys.push(pair_key(job.phone_number_id, &job.recipient));
            }
        }
        keys.sort();
        keys.dedup();
        numbers.sort();
        numbers.dedup();
        tx.execute(
            "INSERT INTO send_pace (key, tat) SELECT k, now() FROM UNNEST($1::text[]) AS k \
             ON CONFLICT (key) DO NOTHING",
            &[&keys],
        )
        .await
        .map_err(AppError::internal)?;
        let mut tats: HashMap<String, DateTime<Utc>> = tx
            .query(
                "SELECT key, tat FROM send_pace WHERE key = ANY($1) ORDER BY key FOR UPDATE",
                &[&keys],
            )
            .await
            .map_err(AppError::internal)?
            .iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect();
        let limits: HashMap<Uuid, NumberLimits> = tx
            .query(
                "SELECT phone_number_id, messages_per_second, \
                        CASE WHEN tier_known THEN daily_recipients ELSE $2::integer END, \
                        (1 + (slowdown - 1) * power(0.5::float8, extract(epoch FROM now() - coalesce(slowed_at, now()))::float8 / $3::float8))::real \
                 FROM phone_number_throughput WHERE phone_number_id = ANY($1)",
                &[&numbers, &(ASSUMED_DAILY_RECIPIENTS as i32), &SLOWDOWN_HALF_LIFE_SECS],
            )
            .await
            .map_err(AppError::internal)?
            .iter()
            .map(|row| {
                let limits = NumberLimits {
                    messages_per_second: row.get(1),
                    daily_recipients: row.get::<_, Option<i32>>(2).map(i64::from),
                    slowdown: row.get::<_, f32>(3).max(1.0),
                };
                (row.get(0), limits)
            })
            .collect();
        let mut allowance = self.tier_allowance(&tx, &due, &limits).await?;
        let mut newly_counted: Vec<(Uuid, String)> = Vec::new();

        let pair_interval = chrono(self.pacing.pair_interval);
        let pair_tolerance = pair_interval * (self.pacing.pair_burst.max(1) as i32 - 1);
        let horizon = now + chrono(self.pacing.horizon);
        let mut claimed = Vec::new();
        // Jobs left as they were because their number is booked up to the horizon.
        let mut cut_short = 0usize;
        // (id, not_before, reserved_slot) of jobs put back for later.
        let mut deferred: Vec<(i64, DateTime<Utc>, Option<DateTime<Utc>>)> = Vec::new();
        for job in due {
            if job.kind == JobKind::BroadcastSend {
                if let Some(tier) = allowance.get_mut(&job.phone_number_id) {
                    if !tier.recent.contains(&job.recipient) {
                        if tier.remaining <= 0 {
                            // The messaging limit is used up for now: look again later.
                            deferred.push((job.id, now + TIER_RECHECK, job.reserved_slot));
                            continue;
                        }
                        tier.remaining -= 1;
                        tier.recent.insert(job.recipient.clone());
                        newly_counted.push((job.phone_number_id, job.recipient.clone()));
                    }
                }
            }
            let mut earliest = now;
            let mut reserved = job.reserved_slot;
            // The recipient's pair slot reserved by this claim, with the key's previous value.
            let mut reserved_now = None;
            if job.kind.is_send() && reserved.is_none() {
                let key = pair_key(job.phone_number_id, &job.recipient);
                let (slot, next) = gcra_slot(tats[&key], now, pair_interval, pair_tolerance);
                let previous = tats.insert(key.clone(), next);
                reserved_now = previous.map(|previous| (key, previous));
                reserved = Some(slot);
            }
            if let Some(slot) = reserved {
                earliest = earliest.max(slot);
            }
            if earliest > horizon {
                // The recipient's pair rate holds this one back; its slot stays reserved.
                deferred.push((job.id, earliest, reserved));
                continue;
            }
            let number = limits.get(&job.phone_number_id);
            let per_second = number
                .and_then(|n| n.messages_per_second)
                .unwrap_or(self.pacing.default_messages_per_second as i32)
                .max(1);
            let slowdown = number.map_or(1.0, |n| n.slowdown) as f64;
            // `per_second` slots in every 1.05 s, not 1 s: sends leave a little after their slots,
            // unevenly (connection setup, scheduling), and Meta counts arrivals in any one-second
            // window, so exact spacing would graze the limit.
            let interval = chrono::Duration::nanoseconds(
                ((1_000_000_000 + PACING_ALLOWANCE_NANOS) as f64 * slowdown / per_second as f64)
                    as i64,
            );
            let key = number_key(job.phone_number_id);
            let tat = tats[&key];
            let (slot, next) = gcra_slot(tat, earliest, interval, chrono::Duration::zero());
            if slot > horizon {
                // The number is booked past the horizon: the job stays as it was, first in line
                // for a later claim, and gives back the pair slot it was just given.
                if let Some((key, previous)) = reserved_now {
                    tats.insert(key, previous);
                }
                cut_short += 1;
                continue;
            }
            tats.insert(key, next);
            claimed.push(OutboxJob {
                id: job.id,
                kind: job.kind,
                aggregate_id: job.aggregate_id,
                broadcast_id: job.broadcast_id,
                conversation_id: job.conversation_id,
                message_id: MessageId(job.message_id),
                phone_number_id: job.phone_number_id,
                recipient: job.recipient,
                body: job.body,
                attempts: job.attempts + 1,
                send_at: slot,
                spacing: interval.to_std().unwrap_or_default(),
            });
        }

        let ids: Vec<i64> = claimed.iter().map(|j| j.id).collect();
        let leases: Vec<DateTime<Utc>> = claimed
            .iter()
            .map(|j| j.send_at + chrono(self.pacing.lease))
            .collect();
        tx.execute(
            "UPDATE outbox_jobs j SET state = 'claimed', attempts = j.attempts + 1, lease_until = c.lease \
             FROM UNNEST($1::bigint[], $2::timestamptz[]) AS c(id, lease) WHERE j.id = c.id",
            &[&ids, &leases],
        )
        .await
        .map_err(AppError::internal)?;
        if !deferred.is_empty() {
            let ids: Vec<i64> = deferred.iter().map(|d| d.0).collect();
            let not_before: Vec<DateTime<Utc>> = deferred.iter().map(|d| d.1).collect();
            let reserved: Vec<Option<DateTime<Utc>>> = deferred.iter().map(|d| d.2).collect();
            tx.execute(
                "UPDATE outbox_jobs j SET not_before = d.not_before, reserved_slot = d.reserved \
                 FROM UNNEST($1::bigint[], $2::timestamptz[], $3::timestamptz[]) AS d(id, not_before, reserved) \
                 WHERE j.id = d.id",
                &[&ids, &not_before, &reserved],
            )
            .await
            .map_err(AppError::internal)?;
        }
        if !newly_counted.is_empty() {
            let numbers: Vec<Uuid> = newly_counted.iter().map(|c| c.0).collect();
            let recipients: Vec<&str> = newly_counted.iter().map(|c| c.1.as_str()).collect();
            tx.execute(
                "INSERT INTO business_initiated_recipients (phone_number_id, recipient, last_sent_at) \
                 SELECT n, r, now() FROM UNNEST($1::uuid[], $2::text[]) AS t(n, r) \
                 ON CONFLICT (phone_number_id, recipient) DO UPDATE SET last_sent_at = now()",
                &[&numbers, &recipients],
            )
            .await
            .map_err(AppError::internal)?;
        }
        let keys: Vec<&String> = tats.keys().collect();
        let values: Vec<DateTime<Utc>> = tats.values().copied().collect();
        tx.execute(
            "UPDATE send_pace p SET tat = t.tat FROM UNNEST($1::text[], $2::timestamptz[]) AS t(key, tat) \
             WHERE p.key = t.key",
            &[&keys, &values],
        )
        .await
        .map_err(AppError::internal)?;
        tx.commit().await.map_err(AppError::internal)?;
        let next_size = if cut_short > 0 {
            (claimed.len() as i64 * 3 / 2).max(MIN_CLAIM)
        } else if rows.len() as i64 == limit {
            limit.saturating_mul(2)
        } else {
            limit
        };
        self.claim_size.store(next_size, Ordering::Relaxed);
        Ok(claimed)
    }

    async fn finish(&self, job_id: i64, failed: Option<&str>) -> Result<(), AppError> {
        let state = if failed.is_some() { "failed" } else { "done" };
        // Safe to redo: a lost close or reschedule means the job is claimed again when its lease
        // runs out and the worker finds the message already accepted (or retries it, as it was
        // about to). A claim, by contrast, is committed durably.
        execute_redoable(
            &self.pool,
            "UPDATE outbox_jobs SET state = $2, last_error = coalesce($3, last_error), \
                    lease_until = NULL, finished_at = now() WHERE id = $1",
            &[&job_id, &state, &failed],
        )
        .await
    }

    async fn finish_done(&self, job_ids: &[i64]) -> Result<(), AppError> {
        // Redoable for the same reason as `finish`.
        execute_redoable(
            &self.pool,
            // Rows locked in id order, as `renew_leases` does: two statements updating the
            // same jobs in different orders deadlock.
            "UPDATE outbox_jobs SET state = 'done', lease_until = NULL, finished_at = now() \
             WHERE id IN (SELECT id FROM outbox_jobs WHERE id = ANY($1) ORDER BY id FOR UPDATE)",
            &[&job_ids],
        )
        .await
    }

    async fn retry_at(
        &self,
        job_id: i64,
        not_before: DateTime<Utc>,
        error: &str,
    ) -> Result<(), AppError> {
        execute_redoable(
            &self.pool,
            "UPDATE outbox_jobs SET state = 'pending', not_before = $2, last_error = $3, \
                    lease_until = NULL, reserved_slot = NULL WHERE id = $1",
            &[&job_id, &not_before, &error],
        )
        .await
    }

    fn lease(&self) -> Duration {
        self.pacing.lease
    }

    async fn renew_leases(&self, job_ids: &[i64]) -> Result<(), AppError> {
        let client = self.pool.get().await.map_err(AppError::internal)?;
        client
            .execute(
                // Only leases running out within half a lease: a claim leases a job until a
                // lease after its slot, so most held jobs are closed before they need this, and
                // rewriting thousands of rows every period slowed every other outbox statement.
                "UPDATE outbox_jobs SET lease_until = greatest(lease_until, now() + $2::bigint * interval '1 millisecond') \
                 WHERE id IN (SELECT id FROM outbox_jobs WHERE id = ANY($1) AND state = 'claimed' \
                                AND lease_until < now() + $2::bigint * interval '0.5 millisecond' \
                              ORDER BY id FOR UPDATE)",
                &[&job_ids, &(self.pacing.lease.as_millis() as i64)],
            )
            .await
            .map_err(AppError::internal)?;
        Ok(())
    }

    async fn back_off_number(
        &self,
        phone_number_id: Uuid,
        pause: Duration,
    ) -> Result<(), AppError> {
        let client = self.pool.get().await.map_err(AppError::internal)?;
        client
            .execute(
                // From now, not added up: one burst over the limit brings many 130429s at once
                // (before, each pushed the number back another `pause`: a minute for sixty).
                "UPDATE send_pace SET tat = greatest(tat, now() + $2::bigint * interval '1 millisecond') \
                 WHERE key = $1",
                &[&number_key(phone_number_id), &(pause.as_millis() as i64)],
            )
            .await
            .map_err(AppError::internal)?;
        // And slow its pace from now on, until calm returns (the slowdown decays in `claim`);
        // the 130429s of one burst (within a second) count as one step.
        client
            .execute(
                "INSERT INTO phone_number_throughput (phone_number_id, slowdown, slowed_at) \
                 VALUES ($1, $2, now()) ON CONFLICT (phone_number_id) DO UPDATE \
                 SET slowdown = CASE WHEN phone_number_throughput.slowed_at > now() - interval '1 second' \
                                     THEN phone_number_throughput.slowdown \
                                     ELSE least(greatest(phone_number_throughput.slowdown, 1) * $2, $3) END, \
                     slowed_at = now()",
                &[&phone_number_id, &SLOWDOWN_STEP, &MAX_SLOWDOWN],
            )
            .await
            .map_err(AppError::internal)?;
        Ok(())
    }

    async fn wait_for_jobs(&self) {
        let mut moved = self.watch.checkpoint_notifications();
        tokio::select! {
            _ = moved.changed() => {}
            // Retries and pair-rate slots come due without any notification.
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcra_spaces_slots_by_the_interval_after_the_burst() {
        let start = Utc::now();
        let interval = chrono::Duration::seconds(6);
        let tolerance = interval * 2; // a burst of three
        let mut tat = start;
        let mut slots = Vec::new();
        for _ in 0..5 {
            let (slot, next) = gcra_slot(tat, start, interval, tolerance);
            slots.push((slot - start).num_seconds());
            tat = next;
        }
        assert_eq!(slots, vec![0, 0, 0, 6, 12]);
    }
}

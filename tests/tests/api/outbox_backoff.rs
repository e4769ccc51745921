//! Tests: how the outbox queue backs a number off after Meta's 130429 (throughput exceeded).

use application::OutboxQueue;
use parley_tests::fresh_database;
use projections::CheckpointWatch;
use std::time::Duration;
use store::outbox::{PacingConfig, PgOutboxQueue};
use store::Pools;
use uuid::Uuid;

/// One burst over the limit brings many 130429s at once; together they pause the number about
/// a second and slow it one step, not a second and a step per rejection.
#[tokio::test]
async fn a_burst_of_throughput_errors_pauses_a_number_once() {
    let url = fresh_database().await;
    let pools = Pools::connect(&url, 2).await.unwrap();
    let watch = CheckpointWatch::new(pools.queries.clone(), vec![], Duration::from_secs(1));
    let queue = PgOutboxQueue::new(pools.queries.clone(), PacingConfig::default(), watch);
    let number = Uuid::new_v4();
    let db = pools.queries.get().await.unwrap();
    db.execute(
        "INSERT INTO send_pace (key, tat) VALUES ($1, now())",
        &[&format!("number:{number}")],
    )
    .await
    .unwrap();

    for _ in 0..20 {
        queue
            .back_off_number(number, Duration::from_secs(1))
            .await
            .unwrap();
    }

    let row = db
        .query_one(
            "SELECT extract(epoch FROM p.tat - now())::float8, t.slowdown::float8 \
             FROM send_pace p, phone_number_throughput t \
             WHERE p.key = $1 AND t.phone_number_id = $2",
            &[&format!("number:{number}"), &number],
        )
        .await
        .unwrap();
    let (paused_for, slowdown): (f64, f64) = (row.get(0), row.get(1));
    assert!(paused_for <= 1.5, "paused for {paused_for} s");
    assert!((slowdown - 1.5).abs() < 1e-6, "slowdown {slowdown}");
}

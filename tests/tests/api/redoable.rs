//! Tests: redoable writes (one pipelined transaction with `synchronous_commit = off`).

use parley_tests::fresh_database;
use store::redoable::execute_redoable;
use store::Pools;

/// A write commits; a failing one is rolled back and reported, and leaves its connection
/// outside any transaction for the next user of the pool.
#[tokio::test]
async fn a_failing_redoable_write_is_rolled_back_and_leaves_no_transaction_open() {
    let url = fresh_database().await;
    // One connection, so that every call below shares it.
    let pools = Pools::connect(&url, 1).await.unwrap();
    let pool = &pools.queries;
    pool.get()
        .await
        .unwrap()
        // The session's own setting (the test cluster's default is off), to see it survive.
        .batch_execute(
            "SET synchronous_commit = on; \
             CREATE TABLE redone (id int PRIMARY KEY, note text NOT NULL)",
        )
        .await
        .unwrap();
    let insert = "INSERT INTO redone (id, note) VALUES ($1, $2)";

    execute_redoable(pool, insert, &[&1i32, &"first"])
        .await
        .unwrap();
    let duplicate = execute_redoable(pool, insert, &[&1i32, &"again"]).await;
    assert!(duplicate.is_err(), "a duplicate key must be reported");
    execute_redoable(pool, insert, &[&2i32, &"second"])
        .await
        .unwrap();

    let client = pool.get().await.unwrap();
    let notes: Vec<String> = client
        .query("SELECT note FROM redone ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(notes, ["first", "second"]);
    // Outside a transaction, `now()` moves between statements.
    let first: chrono::DateTime<chrono::Utc> =
        client.query_one("SELECT now()", &[]).await.unwrap().get(0);
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let second: chrono::DateTime<chrono::Utc> =
        client.query_one("SELECT now()", &[]).await.unwrap().get(0);
    assert!(
        second > first,
        "the connection was left inside a transaction"
    );
    let setting: String = client
        .query_one("SHOW synchronous_commit", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(setting, "on", "SET LOCAL must not outlive its transaction");
}

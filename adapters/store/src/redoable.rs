//! Writes that are safe to redo after a database crash, committed without waiting for the disk.
//! Anything written durably later flushes them too (the WAL is sequential), so only the newest
//! few can be lost, and losing them only means doing the same work again.

use application::AppError;
use tokio_postgres::types::ToSql;

/// Runs one statement in its own transaction with `synchronous_commit = off`.
///
/// The transaction's three messages (begin, the statement, commit) are pipelined: sent together
/// and answered together, one round trip instead of four. These writes come once per message
/// sent and per webhook applied, so the round trips add up. A failing statement aborts the
/// transaction, and the pipelined COMMIT then rolls it back.
pub async fn execute_redoable(
    pool: &deadpool_postgres::Pool,
    statement: &str,
    parameters: &[&(dyn ToSql + Sync)],
) -> Result<(), AppError> {
    let client = pool.get().await.map_err(AppError::internal)?;
    // Prepared beforehand (once per connection), so that the pipelined execution is sent at
    // once rather than after a round trip of its own, between BEGIN and COMMIT.
    let prepared = client
        .prepare_cached(statement)
        .await
        .map_err(AppError::internal)?;
    // Each request is sent when its future is first polled, and `join!` polls them in order.
    let (begun, executed, committed) = tokio::join!(
        client.batch_execute("BEGIN; SET LOCAL synchronous_commit = off"),
        client.execute(&prepared, parameters),
        client.batch_execute("COMMIT"),
    );
    begun.map_err(AppError::internal)?;
    executed.map_err(AppError::internal)?;
    committed.map_err(AppError::internal)
}

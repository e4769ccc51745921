//! Writes that are safe to redo after a database crash, committed without waiting for the disk.
//! Anything written durably later flushes them too (the WAL is sequential), so only the newest
//! few can be lost, and losing them only means doing the same work again.

use application::AppError;
use tokio_postgres::types::ToSql;

/// Runs one statement in its own transaction with `synchronous_commit = off`.
pub async fn execute_redoable(
    pool: &deadpool_postgres::Pool,
    statement: &str,
    parameters: &[&(dyn ToSql + Sync)],
) -> Result<(), AppError> {
    let mut client = pool.get().await.map_err(AppError::internal)?;
    let tx = client.transaction().await.map_err(AppError::internal)?;
    tx.batch_execute("SET LOCAL synchronous_commit = off")
        .await
        .map_err(AppError::internal)?;
    tx.execute(statement, parameters)
        .await
        .map_err(AppError::internal)?;
    tx.commit().await.map_err(AppError::internal)
}

//! Graceful shutdown shared by every long-running task (projector, and later outbox and scheduler).

use tokio::sync::watch;

/// A shutdown signal: clone it into each task; `trigger` once to stop them all.
#[derive(Clone)]
pub struct Shutdown {
    sender: std::sync::Arc<watch::Sender<bool>>,
    receiver: watch::Receiver<bool>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl Shutdown {
    /// A signal not yet triggered.
    pub fn new() -> Self {
        let (sender, receiver) = watch::channel(false);
        Self {
            sender: std::sync::Arc::new(sender),
            receiver,
        }
    }

    /// Asks every task holding a clone to stop.
    pub fn trigger(&self) {
        let _ = self.sender.send(true);
    }

    /// Whether shutdown was asked for.
    pub fn is_triggered(&self) -> bool {
        *self.receiver.borrow()
    }

    /// Completes once shutdown is asked for.
    pub async fn triggered(&self) {
        let mut receiver = self.receiver.clone();
        let _ = receiver.wait_for(|stop| *stop).await;
    }

    /// [`Shutdown::triggered`] as a future that owns its handle, for spawned tasks.
    pub async fn triggered_owned(self) {
        self.triggered().await
    }
}

//! Status webhooks batched as Meta batches them under load: statuses that fall due while every
//! batched POST is in flight wait, and go together in the next one (up to the batch size the
//! send was accepted with). A quiet sandbox still posts each status on its own.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};

use tokio::sync::oneshot;

use crate::state::SandboxState;
use crate::webhooks::{post_signed_updates, Envelope, MessagesValue, Metadata, Status};

/// Batched status POSTs in flight at once. Few, so that statuses gather while Parley is busy
/// answering; Meta's own batching is likewise a matter of its backlog.
const BATCH_POSTS_IN_FLIGHT: usize = 4;

/// Where a status goes: only statuses for the same webhook, WABA and number share a POST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BatchTarget {
    pub url: String,
    pub waba_id: String,
    pub metadata: Metadata,
}

/// A status waiting for its POST.
struct Queued {
    target: BatchTarget,
    status: Status,
    batch_max: usize,
    posted: oneshot::Sender<()>,
}

/// The statuses waiting to be posted, and how many tasks are posting them.
#[derive(Default)]
pub(crate) struct StatusBatches {
    waiting: Mutex<Waiting>,
}

#[derive(Default)]
struct Waiting {
    queue: VecDeque<Queued>,
    posting: usize,
}

impl StatusBatches {
    fn lock(&self) -> MutexGuard<'_, Waiting> {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Waiting {
    /// The oldest waiting status with the next ones for the same target, in order, up to its
    /// batch size; the others keep their places.
    fn take_batch(&mut self) -> Option<Vec<Queued>> {
        let first = self.queue.pop_front()?;
        let max = first.batch_max.max(1);
        let mut batch = vec![first];
        let mut passed_over = Vec::new();
        while batch.len() < max {
            let Some(next) = self.queue.pop_front() else {
                break;
            };
            if next.target == batch[0].target {
                batch.push(next);
            } else {
                passed_over.push(next);
            }
        }
        for queued in passed_over.into_iter().rev() {
            self.queue.push_front(queued);
        }
        Some(batch)
    }
}

/// Posts `status` in a batch with whatever else waits for the same target; resolves once the
/// POST carrying it is over (acknowledged, or given up after its retries).
pub(crate) async fn post_status(
    state: &SandboxState,
    target: BatchTarget,
    status: Status,
    batch_max: usize,
) {
    let (posted, done) = oneshot::channel();
    let start_poster = {
        let mut waiting = state.status_batches().lock();
        waiting.queue.push_back(Queued {
            target,
            status,
            batch_max,
            posted,
        });
        // Under the same lock as the posters' last look at the queue: nothing is stranded.
        let start = waiting.posting < BATCH_POSTS_IN_FLIGHT;
        if start {
            waiting.posting += 1;
        }
        start
    };
    if start_poster {
        tokio::spawn(post_batches(state.clone()));
    }
    let _ = done.await;
}

/// Posts batches until no status waits.
async fn post_batches(state: SandboxState) {
    loop {
        let batch = {
            let mut waiting = state.status_batches().lock();
            match waiting.take_batch() {
                Some(batch) => batch,
                None => {
                    waiting.posting -= 1;
                    return;
                }
            }
        };
        let target = batch[0].target.clone();
        let updates = batch.len() as u64;
        let mut statuses = Vec::with_capacity(batch.len());
        let mut posted = Vec::with_capacity(batch.len());
        for queued in batch {
            statuses.push(queued.status);
            posted.push(queued.posted);
        }
        let value = MessagesValue::<()> {
            messaging_product: "whatsapp",
            metadata: target.metadata,
            contacts: None,
            messages: None,
            statuses: Some(statuses),
        };
        let body = Envelope::new(target.waba_id, "messages", None, value).to_bytes();
        post_signed_updates(&state, &target.url, body, updates).await;
        for sender in posted {
            let _ = sender.send(());
        }
    }
}

//! Which workspace a Meta phone number id belongs to, as Meta's webhooks need it: every status
//! and inbound message names its number, and under a broadcast thousands arrive each second.

use domain::WorkspaceId;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// How long a number's workspace is reused before its events are read again. A number's
/// workspace never changes while it is registered; a removal reaches webhooks within this time.
const ROUTE_TTL: Duration = Duration::from_secs(2);

/// Registered numbers' workspaces as recently read. Only numbers found are kept, so that a
/// number registered a moment ago is routed at once.
#[derive(Default)]
pub struct WebhookRoutes {
    found: Mutex<HashMap<Uuid, (Instant, WorkspaceId)>>,
}

impl WebhookRoutes {
    /// The workspace of number `id`, if read less than [`ROUTE_TTL`] ago.
    pub fn recent(&self, id: Uuid) -> Option<WorkspaceId> {
        let found = self.found.lock().unwrap_or_else(|e| e.into_inner());
        found
            .get(&id)
            .filter(|(read_at, _)| read_at.elapsed() < ROUTE_TTL)
            .map(|(_, workspace)| *workspace)
    }

    /// Remembers that number `id` belongs to `workspace`, as just read.
    pub fn remember(&self, id: Uuid, workspace: WorkspaceId) {
        let mut found = self.found.lock().unwrap_or_else(|e| e.into_inner());
        found.insert(id, (Instant::now(), workspace));
    }
}

//! A secret as the domain keeps it: already encrypted, never in clear.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An encrypted secret (such as a Meta access token). Only the application's secret box can open it;
/// its `Debug` prints nothing of the content so it cannot leak through logs.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SealedSecret(pub String);

impl fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealedSecret(..)")
    }
}

//! Opaque contact cursors: URL-safe base64 of `{"name": ..., "id": ...}`, the (name, id) sort key
//! the contact listing pages by.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Serialize, Deserialize)]
struct Key {
    name: String,
    id: Uuid,
}

/// The cursor of a contact at (name, id).
pub fn encode(name: &str, id: Uuid) -> String {
    let json = serde_json::to_vec(&Key {
        name: name.to_string(),
        id,
    })
    .expect("cursor key serializes");
    URL_SAFE_NO_PAD.encode(json)
}

/// The (name, id) a cursor stands for, if it is one of ours.
pub fn decode(cursor: &str) -> Option<(String, Uuid)> {
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor.trim().trim_end_matches('='))
        .ok()?;
    let key: Key = serde_json::from_slice(&bytes).ok()?;
    Some((key.name, key.id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let id = Uuid::new_v4();
        assert_eq!(decode(&encode("Ada é", id)), Some(("Ada é".into(), id)));
        assert_eq!(decode("not a cursor"), None);
    }
}

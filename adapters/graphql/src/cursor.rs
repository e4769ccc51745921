//! Opaque keyset cursors: URL-safe base64 of the JSON sort key of the last item of a page.
//! Contacts page by (name, id), conversations by (last_message_at, id), messages by
//! (created_at, message_id), templates by (name, language), broadcast recipients by position,
//! broadcasts by (created_at, id) and button clicks by (clicked_at, message id).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Serialize, Deserialize)]
struct Key {
    name: String,
    id: Uuid,
}

/// A (time, id) sort key: conversations and messages.
#[derive(Serialize, Deserialize)]
struct TimeKey {
    at: DateTime<Utc>,
    id: Uuid,
}

/// A template's sort key: (name, language) is unique per WABA.
#[derive(Serialize, Deserialize)]
struct TemplateKey {
    name: String,
    language: String,
}

/// A broadcast recipient's sort key: their insertion position.
#[derive(Serialize, Deserialize)]
struct PositionKey {
    position: i64,
}

fn encode_key(key: &impl Serialize) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(key).expect("cursor key serializes"))
}

fn decode_key<K: DeserializeOwned>(cursor: &str) -> Option<K> {
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor.trim().trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The cursor of a contact at (name, id).
pub fn encode(name: &str, id: Uuid) -> String {
    encode_key(&Key {
        name: name.to_string(),
        id,
    })
}

/// The (name, id) a cursor stands for, if it is one of ours.
pub fn decode(cursor: &str) -> Option<(String, Uuid)> {
    let key: Key = decode_key(cursor)?;
    Some((key.name, key.id))
}

/// The cursor of a conversation or message at (time, id).
pub fn encode_time(at: DateTime<Utc>, id: Uuid) -> String {
    encode_key(&TimeKey { at, id })
}

/// The (time, id) a conversation or message cursor stands for, if it is one of ours.
pub fn decode_time(cursor: &str) -> Option<(DateTime<Utc>, Uuid)> {
    let key: TimeKey = decode_key(cursor)?;
    Some((key.at, key.id))
}

/// The cursor of a template at (name, language).
pub fn encode_template(name: &str, language: &str) -> String {
    encode_key(&TemplateKey {
        name: name.to_string(),
        language: language.to_string(),
    })
}

/// The (name, language) a template cursor stands for, if it is one of ours.
pub fn decode_template(cursor: &str) -> Option<(String, String)> {
    let key: TemplateKey = decode_key(cursor)?;
    Some((key.name, key.language))
}

/// The cursor of a broadcast recipient at `position`.
pub fn encode_position(position: i64) -> String {
    encode_key(&PositionKey { position })
}

/// The position a recipient cursor stands for, if it is one of ours.
pub fn decode_position(cursor: &str) -> Option<i64> {
    let key: PositionKey = decode_key(cursor)?;
    Some(key.position)
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

    #[test]
    fn time_keys_round_trip_to_the_microsecond() {
        let id = Uuid::new_v4();
        let at = DateTime::from_timestamp_micros(1_790_000_000_123_456).unwrap();
        assert_eq!(decode_time(&encode_time(at, id)), Some((at, id)));
        assert_eq!(decode_time(&encode("Ada", id)), None);
    }

    #[test]
    fn template_and_position_keys_round_trip() {
        assert_eq!(
            decode_template(&encode_template("promo", "en_US")),
            Some(("promo".into(), "en_US".into()))
        );
        assert_eq!(decode_position(&encode_position(42 << 32)), Some(42 << 32));
        assert_eq!(decode_position(&encode_template("a", "b")), None);
    }
}

//! Identifiers in the forms Meta uses: wamids, media ids, conversation ids, fbtrace ids.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use rand::Rng;

/// Which side sent a message; Meta's wamids differ in one byte, which the sandbox keeps.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Direction {
    Outgoing,
    Incoming,
}

/// A new wamid shaped like Meta's: `wamid.` + base64 of a small record holding the user's number.
///
/// Real wamids are base64 of `1C 18 <len> <wa_id> 15 02 00 <11|12> 18 <len> <hex id> 00`; copying
/// that layout keeps lengths and prefixes (`wamid.HBgL…`) realistic for column sizes and logs.
/// 20 random hex characters (80 bits) make collisions negligible at benchmark volumes.
pub(crate) fn wamid(wa_id: &str, direction: Direction) -> String {
    let mut rng = rand::thread_rng();
    let digits = if wa_id.len() > 32 {
        &wa_id[..32]
    } else {
        wa_id
    };
    let mut raw = Vec::with_capacity(64);
    raw.extend_from_slice(&[0x1c, 0x18, digits.len() as u8]);
    raw.extend_from_slice(digits.as_bytes());
    let marker = match direction {
        Direction::Outgoing => 0x11,
        Direction::Incoming => 0x12,
    };
    raw.extend_from_slice(&[0x15, 0x02, 0x00, marker, 0x18, 20]);
    let id: u128 = rng.gen();
    raw.extend_from_slice(format!("{:020X}", id & ((1u128 << 80) - 1)).as_bytes());
    raw.push(0x00);
    format!("wamid.{}", STANDARD.encode(raw))
}

/// A numeric media id like Meta's (16 digits).
pub(crate) fn media_id() -> String {
    rand::thread_rng()
        .gen_range(1_000_000_000_000_000u64..10_000_000_000_000_000u64)
        .to_string()
}

/// A numeric template id like Meta's (16 digits, below 2^53 so JSON readers keep it exact).
pub(crate) fn template_id() -> String {
    rand::thread_rng()
        .gen_range(1_000_000_000_000_000u64..9_000_000_000_000_000u64)
        .to_string()
}

/// A conversation id: 32 lowercase hex characters, as in Meta's status webhooks.
pub(crate) fn conversation_id() -> String {
    format!("{:032x}", rand::thread_rng().gen::<u128>())
}

/// An `fbtrace_id`: 23 URL-safe base64 characters, as in Meta's error objects.
pub(crate) fn fbtrace_id() -> String {
    let bytes: [u8; 18] = rand::thread_rng().gen();
    let mut s = URL_SAFE_NO_PAD.encode(bytes);
    s.truncate(23);
    s
}

/// The digits of a phone number as Meta's `wa_id` (`+1 (650) 555-1234` → `16505551234`).
pub(crate) fn wa_id_of(to: &str) -> String {
    to.chars().filter(char::is_ascii_digit).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wamids_look_like_metas() {
        let id = wamid("13437772910", Direction::Outgoing);
        assert!(id.starts_with("wamid.HBgLMTM0Mzc3NzI5MTAVAgAR"), "{id}");
        assert!(id.len() <= 128);
        let inbound = wamid("16505551234", Direction::Incoming);
        assert!(
            inbound.starts_with("wamid.HBgLMTY1MDU1NTEyMzQVAgAS"),
            "{inbound}"
        );
        assert_ne!(
            wamid("1", Direction::Outgoing),
            wamid("1", Direction::Outgoing)
        );
    }

    #[test]
    fn wa_ids_are_digits() {
        assert_eq!(wa_id_of("+1 (650) 555-1234"), "16505551234");
    }

    #[test]
    fn fbtrace_ids_have_metas_length() {
        assert_eq!(fbtrace_id().len(), 23);
        assert_eq!(media_id().len(), 16);
    }
}

//! Why Meta did not send or deliver a message.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A failure as Meta reports it: synchronously when refusing a send, or in a `failed` status webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetaFailure {
    /// Meta's error code, e.g. 131047 (re-engagement: the window was closed).
    pub code: i64,
    /// Meta's short title, e.g. `Re-engagement message`.
    pub title: String,
    /// Meta's message, when it differs from or adds to the title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Meta's `error_data.details`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
}

impl MetaFailure {
    /// Reads one of Meta's error objects: an element of a webhook's `errors[]`
    /// (`{code, title, message, error_data: {details}}`) or a Graph API response's `error`
    /// (`{code, message, error_data: {details}}`, which has no title: the message stands in).
    /// `None` when there is no integer `code`.
    pub fn from_meta(error: &Value) -> Option<Self> {
        let code = error.get("code")?.as_i64()?;
        let text = |key: &str| error.get(key).and_then(Value::as_str).map(str::to_owned);
        let message = text("message");
        let title = text("title")
            .or_else(|| message.clone())
            .unwrap_or_default();
        let details = error
            .get("error_data")
            .and_then(|data| data.get("details"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        Some(Self {
            code,
            title,
            message,
            details,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_a_graph_api_error_without_title() {
        let failure = MetaFailure::from_meta(&json!({
            "message": "(#130429) Rate limit hit", "type": "OAuthException", "code": 130429,
            "error_data": {"messaging_product": "whatsapp", "details": "slow down"}
        }))
        .unwrap();
        assert_eq!(failure.code, 130429);
        assert_eq!(failure.title, "(#130429) Rate limit hit");
        assert_eq!(failure.details.as_deref(), Some("slow down"));
        assert_eq!(MetaFailure::from_meta(&json!({"title": "x"})), None);
    }
}

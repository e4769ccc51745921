//! Which domain events integrators see, and how: the `event` names of webhooks and the event
//! stream, and the JSON each carries. Seed 000's `ExternalWebhookEvent` is the shape where it
//! applies (`event`, `conversation_id`, `whatsapp_account_id`, `timestamp`, `version`, and the
//! AI-agent fields); every event adds `id`, `workspace_id` and a `data` object.
//!
//! Pure: the projection that stores these events keeps, per aggregate, the [`Subject`] that
//! later events need (only an aggregate's first event names its workspace).

use chrono::{DateTime, SecondsFormat, Utc};
use domain::broadcast::BroadcastEvent;
use domain::contact::ContactEvent;
use domain::conversation::ConversationEvent;
use domain::template::TemplateEvent;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use uuid::Uuid;

/// The API version integrator events report (`version` of `ExternalWebhookEvent`).
pub const INTEGRATOR_EVENT_VERSION: &str = "2.0.0";

/// Every event type an integrator can receive or filter on.
pub const INTEGRATOR_EVENT_TYPES: &[&str] = &[
    "message.received",
    "message.status",
    "conversation.created",
    "conversation.updated",
    "ai_agent.status_changed",
    "contact.created",
    "contact.updated",
    "contact.deleted",
    "template.created",
    "template.status_changed",
    "template.deleted",
    "broadcast.started",
    "broadcast.paused",
    "broadcast.resumed",
    "broadcast.completed",
    "broadcast.cancelled",
];

/// Whether `name` is an integrator event type.
pub fn is_integrator_event_type(name: &str) -> bool {
    INTEGRATOR_EVENT_TYPES.contains(&name)
}

/// What the projection remembers of an aggregate between its events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Subject {
    /// The owning workspace.
    pub workspace_id: Uuid,
    /// A conversation's phone number (our id): `whatsapp_account_id` in payloads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number_id: Option<Uuid>,
    /// A conversation's customer (WhatsApp id, digits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_wa_id: Option<String>,
    /// A conversation's AI-agent state, for `previous_status`.
    #[serde(default)]
    pub ai_agent_enabled: bool,
}

/// An integrator event derived from one domain event, before it is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct DerivedEvent {
    /// Its `event` name, one of [`INTEGRATOR_EVENT_TYPES`].
    pub event_type: &'static str,
    /// Its workspace.
    pub workspace_id: Uuid,
    /// Events with the same key reach an endpoint in order (the aggregate's id).
    pub ordering_key: String,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// The fields beside `id`, `event`, `timestamp`, `version` and `workspace_id`.
    pub fields: Map<String, Value>,
}

impl DerivedEvent {
    /// The JSON integrators receive, under the stored event's `id`.
    pub fn payload(&self, id: Uuid) -> Value {
        let mut payload = Map::new();
        payload.insert("id".into(), json!(id));
        payload.insert("event".into(), json!(self.event_type));
        payload.insert(
            "timestamp".into(),
            json!(self
                .occurred_at
                .to_rfc3339_opts(SecondsFormat::Millis, true)),
        );
        payload.insert("version".into(), json!(INTEGRATOR_EVENT_VERSION));
        payload.insert("workspace_id".into(), json!(self.workspace_id));
        payload.extend(self.fields.clone());
        Value::Object(payload)
    }
}

/// The stable id of the integrator event derived from the domain event at `source_key`.
pub fn integrator_event_id(source_key: &str) -> Uuid {
    /// Namespace of integrator event ids (a random constant).
    const NAMESPACE: Uuid = Uuid::from_u128(0x5f0e_62c1_8a8b_4c1e_9d0b_58f4_1a7c_2e93);
    Uuid::new_v5(&NAMESPACE, source_key.as_bytes())
}

/// The domain event's fields, without the enum tag: `{"MessageRead": {...}}` → `{...}`.
fn inner_fields(event: &impl Serialize) -> Map<String, Value> {
    match serde_json::to_value(event) {
        Ok(Value::Object(tagged)) => match tagged.into_iter().next() {
            Some((_, Value::Object(fields))) => fields,
            _ => Map::new(),
        },
        _ => Map::new(),
    }
}

fn object(pairs: Vec<(&str, Value)>) -> Map<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// A conversation event as integrators see it, updating the conversation's subject.
pub fn from_conversation(
    conversation_id: &str,
    event: &ConversationEvent,
    subject: &mut Option<Subject>,
) -> Option<DerivedEvent> {
    if let ConversationEvent::ConversationStarted {
        workspace_id,
        phone_number_id,
        customer_wa_id,
        ..
    } = event
    {
        *subject = Some(Subject {
            workspace_id: workspace_id.0,
            phone_number_id: Some(*phone_number_id),
            customer_wa_id: Some(customer_wa_id.clone()),
            ai_agent_enabled: false,
        });
    }
    let known = subject.as_mut()?;
    let (event_type, data, extra) = match event {
        ConversationEvent::ConversationStarted { .. } => (
            "conversation.created",
            json!({ "customer_wa_id": known.customer_wa_id }),
            Vec::new(),
        ),
        ConversationEvent::InboundMessageReceived {
            message_id,
            wamid,
            profile_name,
            content,
            sent_at,
            context_wamid,
            ..
        } => (
            "message.received",
            json!({
                "message_id": message_id.0,
                "wamid": wamid,
                "from": known.customer_wa_id,
                "profile_name": profile_name,
                "content": content,
                "sent_at": sent_at,
                "context_wamid": context_wamid,
            }),
            Vec::new(),
        ),
        ConversationEvent::MessageAcceptedByMeta {
            message_id, wamid, ..
        } => (
            "message.status",
            json!({ "message_id": message_id.0, "wamid": wamid, "status": "sent" }),
            Vec::new(),
        ),
        ConversationEvent::MessageDelivered {
            message_id, wamid, ..
        } => (
            "message.status",
            json!({ "message_id": message_id.0, "wamid": wamid, "status": "delivered" }),
            Vec::new(),
        ),
        ConversationEvent::MessageRead {
            message_id, wamid, ..
        } => (
            "message.status",
            json!({ "message_id": message_id.0, "wamid": wamid, "status": "read" }),
            Vec::new(),
        ),
        ConversationEvent::MessageFailed {
            message_id,
            wamid,
            failure,
            ..
        } => (
            "message.status",
            json!({
                "message_id": message_id.0,
                "wamid": wamid,
                "status": "failed",
                "error": failure,
            }),
            Vec::new(),
        ),
        ConversationEvent::LeadQualificationUpdated { changes, .. } => (
            "conversation.updated",
            json!({ "lead_qualification": changes }),
            Vec::new(),
        ),
        ConversationEvent::AiAgentChanged {
            enabled,
            changed_by,
            reason,
            ..
        } => {
            let previous = known.ai_agent_enabled;
            known.ai_agent_enabled = *enabled;
            (
                "ai_agent.status_changed",
                json!({ "reason": reason }),
                vec![
                    ("ai_agent_enabled", json!(enabled)),
                    ("enabled_by", json!(changed_by.as_str())),
                    ("previous_status", json!(previous)),
                    ("new_status", json!(enabled)),
                ],
            )
        }
        ConversationEvent::MessageQueued { .. }
        | ConversationEvent::DeliveryStatusHeld { .. }
        | ConversationEvent::ReadReceiptQueued { .. } => return None,
    };
    let mut fields = object(vec![
        ("conversation_id", json!(conversation_id)),
        ("whatsapp_account_id", json!(known.phone_number_id)),
    ]);
    fields.extend(object(extra));
    fields.insert("data".into(), data);
    Some(DerivedEvent {
        event_type,
        workspace_id: known.workspace_id,
        ordering_key: conversation_id.to_string(),
        occurred_at: event.at(),
        fields,
    })
}

/// A contact event as integrators see it.
pub fn from_contact(
    contact_id: &str,
    event: &ContactEvent,
    subject: &mut Option<Subject>,
) -> Option<DerivedEvent> {
    if let ContactEvent::ContactCreated { workspace_id, .. } = event {
        *subject = Some(Subject {
            workspace_id: workspace_id.0,
            ..Default::default()
        });
    }
    let known = subject.as_ref()?;
    let event_type = match event {
        ContactEvent::ContactCreated { .. } => "contact.created",
        ContactEvent::ContactDeleted { .. } => "contact.deleted",
        _ => "contact.updated",
    };
    let mut data = inner_fields(event);
    data.remove("workspace_id");
    data.remove("at");
    data.insert(
        "change".into(),
        json!(cqrs_es::DomainEvent::event_type(event)),
    );
    Some(DerivedEvent {
        event_type,
        workspace_id: known.workspace_id,
        ordering_key: contact_id.to_string(),
        occurred_at: event.at(),
        fields: object(vec![
            ("contact_id", json!(contact_id)),
            ("data", Value::Object(data)),
        ]),
    })
}

/// A template event as integrators see it (creation, status changes, deletion).
pub fn from_template(
    template_id: &str,
    event: &TemplateEvent,
    subject: &mut Option<Subject>,
) -> Option<DerivedEvent> {
    if let TemplateEvent::TemplateCreated { workspace_id, .. }
    | TemplateEvent::TemplateImported { workspace_id, .. } = event
    {
        *subject = Some(Subject {
            workspace_id: workspace_id.0,
            ..Default::default()
        });
    }
    let known = subject.as_ref()?;
    let (event_type, data) = match event {
        TemplateEvent::TemplateCreated {
            name,
            language,
            category,
            ..
        } => (
            "template.created",
            json!({ "name": name, "language": language, "category": category, "status": "DRAFT" }),
        ),
        TemplateEvent::TemplateImported {
            name,
            language,
            category,
            status,
            ..
        } => (
            "template.created",
            json!({ "name": name, "language": language, "category": category, "status": status }),
        ),
        TemplateEvent::TemplateStatusChanged {
            status,
            previous,
            reason,
            ..
        } => (
            "template.status_changed",
            json!({ "status": status, "previous_status": previous, "reason": reason }),
        ),
        TemplateEvent::TemplateDeleted { .. } => ("template.deleted", json!({})),
        _ => return None,
    };
    Some(DerivedEvent {
        event_type,
        workspace_id: known.workspace_id,
        ordering_key: template_id.to_string(),
        occurred_at: event.at(),
        fields: object(vec![("template_id", json!(template_id)), ("data", data)]),
    })
}

/// A broadcast event as integrators see it (its lifecycle, not its recipients).
pub fn from_broadcast(
    broadcast_id: &str,
    event: &BroadcastEvent,
    subject: &mut Option<Subject>,
) -> Option<DerivedEvent> {
    if let BroadcastEvent::BroadcastCreated { workspace_id, .. } = event {
        *subject = Some(Subject {
            workspace_id: workspace_id.0,
            ..Default::default()
        });
    }
    let known = subject.as_ref()?;
    let (event_type, data) = match event {
        BroadcastEvent::BroadcastStarted {
            audience,
            skipped,
            trigger,
            ..
        } => (
            "broadcast.started",
            json!({ "audience": audience, "skipped": skipped.len(), "trigger": trigger }),
        ),
        BroadcastEvent::BroadcastPaused { reason, .. } => {
            ("broadcast.paused", json!({ "reason": reason }))
        }
        BroadcastEvent::BroadcastResumed { .. } => ("broadcast.resumed", json!({})),
        BroadcastEvent::BroadcastCompleted { status, counts, .. } => (
            "broadcast.completed",
            json!({ "status": status, "counts": counts }),
        ),
        BroadcastEvent::BroadcastCancelled { .. } => ("broadcast.cancelled", json!({})),
        _ => return None,
    };
    Some(DerivedEvent {
        event_type,
        workspace_id: known.workspace_id,
        ordering_key: broadcast_id.to_string(),
        occurred_at: event.at(),
        fields: object(vec![("broadcast_id", json!(broadcast_id)), ("data", data)]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::conversation::{AiAgentChangedBy, MessageId, Wamid};
    use domain::WorkspaceId;

    fn started(workspace: Uuid, number: Uuid) -> ConversationEvent {
        ConversationEvent::ConversationStarted {
            workspace_id: WorkspaceId(workspace),
            phone_number_id: number,
            customer_wa_id: "15551234567".into(),
            at: Utc::now(),
        }
    }

    #[test]
    fn a_conversation_names_its_workspace_number_and_customer_in_later_events() {
        let (workspace, number) = (Uuid::new_v4(), Uuid::new_v4());
        let mut subject = None;
        let created = from_conversation("c1", &started(workspace, number), &mut subject).unwrap();
        assert_eq!(created.event_type, "conversation.created");
        let read = ConversationEvent::MessageRead {
            message_id: MessageId(Uuid::new_v4()),
            wamid: Wamid::parse("wamid.ABC").unwrap(),
            at: Utc::now(),
        };
        let status = from_conversation("c1", &read, &mut subject).unwrap();
        assert_eq!(status.event_type, "message.status");
        assert_eq!(status.workspace_id, workspace);
        assert_eq!(status.ordering_key, "c1");
        let payload = status.payload(Uuid::nil());
        assert_eq!(payload["whatsapp_account_id"], json!(number));
        assert_eq!(payload["data"]["status"], "read");
        assert_eq!(payload["version"], INTEGRATOR_EVENT_VERSION);
    }

    #[test]
    fn ai_agent_changes_report_the_previous_status() {
        let mut subject = None;
        from_conversation("c1", &started(Uuid::new_v4(), Uuid::new_v4()), &mut subject);
        let switch = |enabled| ConversationEvent::AiAgentChanged {
            enabled,
            changed_by: AiAgentChangedBy::Api,
            reason: None,
            at: Utc::now(),
        };
        let on = from_conversation("c1", &switch(true), &mut subject).unwrap();
        assert_eq!(on.fields["previous_status"], json!(false));
        assert_eq!(on.fields["new_status"], json!(true));
        assert_eq!(on.fields["enabled_by"], json!("api"));
        let off = from_conversation("c1", &switch(false), &mut subject).unwrap();
        assert_eq!(off.fields["previous_status"], json!(true));
    }

    #[test]
    fn events_of_an_aggregate_whose_workspace_is_unknown_are_left_out() {
        let mut subject = None;
        let read = ConversationEvent::MessageRead {
            message_id: MessageId(Uuid::new_v4()),
            wamid: Wamid::parse("wamid.ABC").unwrap(),
            at: Utc::now(),
        };
        assert!(from_conversation("c1", &read, &mut subject).is_none());
    }

    #[test]
    fn ids_are_stable_per_source_event() {
        assert_eq!(
            integrator_event_id("Conversation/c1/3"),
            integrator_event_id("Conversation/c1/3")
        );
        assert_ne!(
            integrator_event_id("Conversation/c1/3"),
            integrator_event_id("Conversation/c1/4")
        );
    }
}

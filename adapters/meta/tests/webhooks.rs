//! Every webhook fixture parses, with the fields Parley acts on.

use std::path::PathBuf;
use std::time::Duration;

use meta::{
    sign, verify_signature, AccountUpdate, ChangeValue, ManagementUpdate, MessageShapeError,
    MessagesValue, PhoneNumberQualityUpdate, RetryClass, TemplateCategoryUpdate,
    TemplateQualityUpdate, TemplateRejectionInfo, TemplateStatusUpdate, WebhookDelivery,
};
use serde_json::json;

fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/meta/fixtures")
}

/// Reads a fixture from `shared/meta/fixtures` (provenance in its `SOURCES.md`).
fn fixture(name: &str) -> Vec<u8> {
    let path = fixtures_dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The one change of a single-change fixture, parsed.
fn only_change(name: &str) -> (WebhookDelivery, ChangeValue) {
    let delivery =
        WebhookDelivery::from_slice(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(delivery.object, "whatsapp_business_account", "{name}");
    assert_eq!(delivery.changes().count(), 1, "{name}");
    let change = delivery.entry[0].changes[0]
        .parse()
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    (delivery, change)
}

fn messages_value(name: &str) -> MessagesValue {
    match only_change(name).1 {
        ChangeValue::Messages(value) => value,
        other => panic!("{name}: expected a messages change, got {other:?}"),
    }
}

/// An incoming message fixture and what it must yield.
struct MessageCase {
    file: &'static str,
    from: &'static str,
    id: &'static str,
    timestamp: i64,
    kind: &'static str,
    profile_name: Option<&'static str>,
    context_id: Option<&'static str>,
}

const SHEENA: Option<&str> = Some("Sheena Nelson");
const SHEENA_FROM: &str = "16505551234";

const MESSAGE_CASES: &[MessageCase] = &[
    MessageCase {
        file: "webhook_audio_voice_message.json",
        from: "972987654321",
        id: "wamid.xyzxyz",
        timestamp: 1697043473,
        kind: "audio",
        profile_name: Some("Test Name"),
        context_id: None,
    },
    MessageCase {
        file: "webhook_contacts_message.json",
        from: SHEENA_FROM,
        id: "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
        timestamp: 1744344496,
        kind: "contacts",
        profile_name: SHEENA,
        context_id: None,
    },
    MessageCase {
        file: "webhook_document_message.json",
        from: "1111111111111",
        id: "wamid.HBgABIYNNTUyxMEFFk5NzATY2QT0TY2QT0zMDkzNhUCFDNFQjBFMNzARjFDQQ1AA==",
        timestamp: 1673034392,
        kind: "document",
        profile_name: Some("Mauricio Binda"),
        context_id: None,
    },
    MessageCase {
        file: "webhook_image_message.json",
        from: SHEENA_FROM,
        id: "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
        timestamp: 1744344496,
        kind: "image",
        profile_name: SHEENA,
        context_id: None,
    },
    MessageCase {
        file: "webhook_interactive_button_reply.json",
        from: SHEENA_FROM,
        id: "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTZBQzg0MzQ4QjRCM0NGNkVGOAA=",
        timestamp: 1750025136,
        kind: "interactive",
        profile_name: SHEENA,
        context_id: Some("wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MEM2RUJFNkI0RENGQTVDRjUA"),
    },
    MessageCase {
        file: "webhook_interactive_list_reply.json",
        from: SHEENA_FROM,
        id: "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUJDQ0NDM0FEODY4ODkzOTc5RgA=",
        timestamp: 1749854575,
        kind: "interactive",
        profile_name: SHEENA,
        context_id: Some("wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJGMzEyNzhENTZDMzNGODlDRDgA"),
    },
    MessageCase {
        file: "webhook_location_message.json",
        from: SHEENA_FROM,
        id: "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTU2MjZEMDBGRkE3MENEMDE0RQA=",
        timestamp: 1744344496,
        kind: "location",
        profile_name: SHEENA,
        context_id: None,
    },
    MessageCase {
        file: "webhook_order_message.json",
        from: SHEENA_FROM,
        id: "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTEyQjFGNzI1QTQxMjI5QTMyOQA=",
        timestamp: 1750096325,
        kind: "order",
        profile_name: SHEENA,
        context_id: None,
    },
    MessageCase {
        file: "webhook_reaction_message.json",
        from: SHEENA_FROM,
        id: "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
        timestamp: 1749419544,
        kind: "reaction",
        profile_name: SHEENA,
        context_id: None,
    },
    MessageCase {
        file: "webhook_sticker_message.json",
        from: "1111111111111",
        id: "wamid.nBgN6TUyN2k5NzAzM5kzNhUCABI8FDNFQjAxQkE5REI4NEUzQ5Y5QTNgAA==",
        timestamp: 1673028387,
        kind: "sticker",
        profile_name: Some("Mauricio Binda"),
        context_id: None,
    },
    MessageCase {
        file: "webhook_template_quick_reply_button.json",
        from: SHEENA_FROM,
        id: "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUU0M0MxQzQzMUJCMTMwNUZFOQA=",
        timestamp: 1750091045,
        kind: "button",
        profile_name: SHEENA,
        context_id: Some("wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJFNjk2OTMwNEZCQjhGMzUyQUYA"),
    },
    MessageCase {
        file: "webhook_text_message.json",
        from: SHEENA_FROM,
        id: "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
        timestamp: 1749416383,
        kind: "text",
        profile_name: SHEENA,
        context_id: None,
    },
    MessageCase {
        file: "webhook_text_reply_with_context.json",
        from: SHEENA_FROM,
        id: "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTA2NTUwRkNEMDdFQjJCRUU0NQA=",
        timestamp: 1750016800,
        kind: "text",
        profile_name: SHEENA,
        context_id: Some("wamid.HBgLMTY1MDM4Nzk0MzkVAgARGA9wcm9kdWN0X2lucXVpcnkA"),
    },
    MessageCase {
        file: "webhook_unsupported_message.json",
        from: SHEENA_FROM,
        id: "wamid.HBgLMTQyMDU1NTA3NDkVAgASGBI5N0MwRjg0RTVBNUI1RDA2OTkA",
        timestamp: 1750090702,
        kind: "unsupported",
        profile_name: SHEENA,
        context_id: None,
    },
    MessageCase {
        file: "webhook_video_message.json",
        from: "1111111111111",
        id: "wamid.HBgNNTUyNzk5NzAzMDkzNhUCABIYFDNFQjAwQjVGQUFGOEVDMTUyMTJBAA==",
        timestamp: 1673029501,
        kind: "video",
        profile_name: Some("Mauricio Binda"),
        context_id: None,
    },
];

/// A status fixture and what it must yield.
struct StatusCase {
    file: &'static str,
    id: &'static str,
    status: &'static str,
    timestamp: i64,
    recipient_id: &'static str,
    error_code: Option<i64>,
    biz_opaque_callback_data: Option<&'static str>,
    has_pricing: bool,
}

const STATUS_CASES: &[StatusCase] = &[
    StatusCase {
        file: "webhook_status_delivered.json",
        id: "wamid.xyzxyz",
        status: "delivered",
        timestamp: 1698266945,
        recipient_id: "972987654321",
        error_code: None,
        biz_opaque_callback_data: None,
        has_pricing: true,
    },
    StatusCase {
        file: "webhook_status_failed_130472.json",
        id: "wamid.xyzxyz",
        status: "failed",
        timestamp: 1689380458,
        recipient_id: "972987654321",
        error_code: Some(130472),
        biz_opaque_callback_data: None,
        has_pricing: false,
    },
    StatusCase {
        file: "webhook_status_failed_131047.json",
        id: "wamid.HBgNN5NzAzMDkTUyNzkzNhUEjA1MjUwNCAUIyNEYUQ0OTVGNTY0MwA=",
        status: "failed",
        timestamp: 1682651887,
        recipient_id: "5511111111111",
        error_code: Some(131047),
        biz_opaque_callback_data: None,
        has_pricing: false,
    },
    StatusCase {
        file: "webhook_status_failed_131049.json",
        id: "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI0QUQ2MjA4NEYyRkExNjMyREUA",
        status: "failed",
        timestamp: 1751142888,
        recipient_id: "16505551234",
        error_code: Some(131049),
        biz_opaque_callback_data: None,
        has_pricing: false,
    },
    StatusCase {
        file: "webhook_status_failed_131053.json",
        id: "wamid.HBgNNTUyNzk5NzAUZBQTI3MzRGRDA3MjgzMDkzNhUCABEYEjNCR2OQA=",
        status: "failed",
        timestamp: 1677783372,
        recipient_id: "1111111111111",
        error_code: Some(131053),
        biz_opaque_callback_data: None,
        has_pricing: false,
    },
    StatusCase {
        file: "webhook_status_read.json",
        id: "wamid.xyzxyz",
        status: "read",
        timestamp: 1689380458,
        recipient_id: "972987654321",
        error_code: None,
        biz_opaque_callback_data: None,
        has_pricing: true,
    },
    StatusCase {
        file: "webhook_status_sent.json",
        id: "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=",
        status: "sent",
        timestamp: 1750030073,
        recipient_id: "16505551234",
        error_code: None,
        biz_opaque_callback_data: None,
        has_pricing: true,
    },
    StatusCase {
        file: "webhook_status_sent_cbp_legacy.json",
        id: "wamid.xyzxyz",
        status: "sent",
        timestamp: 1698266945,
        recipient_id: "972987654321",
        error_code: None,
        biz_opaque_callback_data: None,
        has_pricing: true,
    },
    StatusCase {
        file: "webhook_status_sent_with_biz_opaque_callback_data.json",
        id: "wamid.xyzxyz",
        status: "sent",
        timestamp: 1698266945,
        recipient_id: "972987654321",
        error_code: None,
        biz_opaque_callback_data: Some("some data"),
        has_pricing: true,
    },
];

/// A non-`messages` fixture: its field, entry time and `value.event` (if it has one).
struct OtherCase {
    file: &'static str,
    field: &'static str,
    time: i64,
    event: Option<&'static str>,
}

const OTHER_CASES: &[OtherCase] = &[
    OtherCase {
        file: "webhook_account_update_disabled_update.json",
        field: "account_update",
        time: 1743451903,
        event: Some("DISABLED_UPDATE"),
    },
    OtherCase {
        file: "webhook_account_update_restriction.json",
        field: "account_update",
        time: 1641330498,
        event: Some("ACCOUNT_RESTRICTION"),
    },
    OtherCase {
        file: "webhook_account_update_verified_account.json",
        field: "account_update",
        time: 1604703058,
        event: Some("VERIFIED_ACCOUNT"),
    },
    OtherCase {
        file: "webhook_account_update_violation.json",
        field: "account_update",
        time: 1743451903,
        event: Some("ACCOUNT_VIOLATION"),
    },
    OtherCase {
        file: "webhook_phone_number_name_update.json",
        field: "phone_number_name_update",
        time: 1608243053,
        event: None,
    },
    OtherCase {
        file: "webhook_phone_number_quality_update.json",
        field: "phone_number_quality_update",
        time: 1748454394,
        event: Some("THROUGHPUT_UPGRADE"),
    },
    OtherCase {
        file: "webhook_template_category_update.json",
        field: "template_category_update",
        time: 1750344882,
        event: None,
    },
    OtherCase {
        file: "webhook_template_quality_update.json",
        field: "message_template_quality_update",
        time: 1674864290,
        event: None,
    },
    OtherCase {
        file: "webhook_template_status_approved.json",
        field: "message_template_status_update",
        time: 1751247548,
        event: Some("APPROVED"),
    },
    OtherCase {
        file: "webhook_template_status_rejected.json",
        field: "message_template_status_update",
        time: 1751247548,
        event: Some("REJECTED"),
    },
];

/// Fixtures whose `value` holds only `errors[]`.
const ERRORS_ONLY_CASES: &[&str] = &["webhook_errors_130429.json"];

#[test]
fn every_webhook_fixture_has_a_case() {
    let mut files: Vec<String> = std::fs::read_dir(fixtures_dir())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.starts_with("webhook_") && name.ends_with(".json"))
        .collect();
    files.sort();
    let mut cased: Vec<String> = MESSAGE_CASES
        .iter()
        .map(|c| c.file)
        .chain(STATUS_CASES.iter().map(|c| c.file))
        .chain(OTHER_CASES.iter().map(|c| c.file))
        .chain(ERRORS_ONLY_CASES.iter().copied())
        .map(str::to_owned)
        .collect();
    cased.sort();
    assert_eq!(files, cased);
}

#[test]
fn message_fixtures_give_the_common_fields_and_profile_name() {
    for case in MESSAGE_CASES {
        let value = messages_value(case.file);
        assert_eq!(value.messaging_product, "whatsapp", "{}", case.file);
        assert!(!value.metadata.phone_number_id.is_empty(), "{}", case.file);
        assert!(
            value.statuses.is_empty() && value.errors.is_empty(),
            "{}",
            case.file
        );
        let messages: Vec<_> = value.inbound_messages().collect();
        assert_eq!(messages.len(), 1, "{}", case.file);
        let message = messages[0]
            .as_ref()
            .unwrap_or_else(|e| panic!("{}: {e}", case.file));
        assert_eq!(message.from, case.from, "{}", case.file);
        assert_eq!(message.id, case.id, "{}", case.file);
        assert_eq!(message.timestamp, case.timestamp, "{}", case.file);
        assert_eq!(message.kind, case.kind, "{}", case.file);
        assert_eq!(message.profile_name, case.profile_name, "{}", case.file);
        assert_eq!(message.context_id, case.context_id, "{}", case.file);
        // The type-specific payload stays in the raw object, under the type's name.
        assert!(
            message.raw.get(case.kind).is_some() || case.kind == "unsupported",
            "{}",
            case.file
        );
    }
}

#[test]
fn type_specific_payloads_are_reachable_in_raw() {
    let value = messages_value("webhook_audio_voice_message.json");
    assert_eq!(value.messages[0]["audio"]["voice"], json!(true));
    let value = messages_value("webhook_unsupported_message.json");
    assert_eq!(value.messages[0]["errors"][0]["code"], json!(131051));
    let value = messages_value("webhook_interactive_list_reply.json");
    assert_eq!(
        value.messages[0]["interactive"]["list_reply"]["id"],
        json!("priority_express")
    );
    let value = messages_value("webhook_text_message.json");
    assert_eq!(value.metadata.phone_number_id, "106540352242922");
    assert_eq!(value.metadata.display_phone_number, "15550783881");
    assert_eq!(value.contacts[0].wa_id, "16505551234");
}

#[test]
fn status_fixtures_give_status_errors_and_callback_data() {
    for case in STATUS_CASES {
        let value = messages_value(case.file);
        assert!(
            value.messages.is_empty() && value.errors.is_empty(),
            "{}",
            case.file
        );
        assert_eq!(value.statuses.len(), 1, "{}", case.file);
        let status = &value.statuses[0];
        assert_eq!(status.id, case.id, "{}", case.file);
        assert_eq!(status.status, case.status, "{}", case.file);
        assert_eq!(
            status.timestamp_secs(),
            Some(case.timestamp),
            "{}",
            case.file
        );
        assert_eq!(status.recipient_id, case.recipient_id, "{}", case.file);
        assert_eq!(
            status.errors.first().map(|e| e.code),
            case.error_code,
            "{}",
            case.file
        );
        assert_eq!(
            status.biz_opaque_callback_data.as_deref(),
            case.biz_opaque_callback_data,
            "{}",
            case.file
        );
        assert_eq!(status.pricing.is_some(), case.has_pricing, "{}", case.file);
        if case.status == "failed" {
            let error = &status.errors[0];
            assert!(
                error.title.is_some() && error.details().is_some(),
                "{}",
                case.file
            );
        }
    }
}

#[test]
fn failed_statuses_carry_retry_advice() {
    let value = messages_value("webhook_status_failed_131047.json");
    let error = &value.statuses[0].errors[0];
    assert_eq!(error.title.as_deref(), Some("Re-engagement message"));
    assert!(error.details().unwrap().contains("more than 24 hours"));
    assert_eq!(error.retry_class(), RetryClass::Permanent);

    let value = messages_value("webhook_status_failed_131049.json");
    assert_eq!(
        value.statuses[0].errors[0].retry_class(),
        RetryClass::Retryable {
            after: Some(Duration::from_secs(24 * 3600))
        }
    );

    let value = messages_value("webhook_status_failed_131053.json");
    let error = &value.statuses[0].errors[0];
    assert_eq!(error.href, None);
    assert_eq!(
        error.details(),
        Some("Unsupported Video mime type text/html. Please use one of video/3gpp, video/mp4.")
    );
}

#[test]
fn pricing_and_conversation_stay_raw() {
    let value = messages_value("webhook_status_sent.json");
    let status = &value.statuses[0];
    assert_eq!(
        status.pricing.as_ref().unwrap()["pricing_model"],
        json!("PMP")
    );
    assert_eq!(status.pricing.as_ref().unwrap()["type"], json!("regular"));
    assert_eq!(
        status.conversation.as_ref().unwrap()["expiration_timestamp"],
        json!("1750116480")
    );
}

#[test]
fn value_level_errors_parse() {
    for file in ERRORS_ONLY_CASES {
        let value = messages_value(file);
        assert!(
            value.messages.is_empty() && value.statuses.is_empty() && value.contacts.is_empty()
        );
        assert_eq!(value.errors.len(), 1);
        let error = &value.errors[0];
        assert_eq!(error.code, 130429);
        assert_eq!(error.title.as_deref(), Some("Rate limit hit"));
        assert!(error
            .details()
            .unwrap()
            .starts_with("Message failed to send because there were too many"));
        assert_eq!(
            error.href.as_deref(),
            Some("/documentation/business-messaging/whatsapp/support/error-codes")
        );
        assert!(error.retry_class().is_retryable());
    }
}

#[test]
fn other_fields_stay_raw_with_their_name() {
    for case in OTHER_CASES {
        let (delivery, change) = only_change(case.file);
        assert_eq!(delivery.entry[0].time, Some(case.time), "{}", case.file);
        let ChangeValue::Other { field, value } = change else {
            panic!("{}: expected a raw change", case.file);
        };
        assert_eq!(field, case.field, "{}", case.file);
        assert_eq!(
            value.get("event").and_then(|e| e.as_str()),
            case.event,
            "{}",
            case.file
        );
        let (entry_id, iter_field, iter_value) = delivery.changes().next().unwrap();
        assert_eq!(
            (entry_id, iter_field, iter_value),
            (delivery.entry[0].id.as_str(), case.field, &value)
        );
    }
    // The integer template id survives as an integer (README §8).
    let (_, change) = only_change("webhook_template_status_approved.json");
    let ChangeValue::Other { value, .. } = change else {
        panic!()
    };
    assert_eq!(value["message_template_id"], json!(1689556908129832_i64));
}

/// The typed management update each management fixture must give (README §5.7).
fn expected_management(file: &str) -> Option<ManagementUpdate> {
    let details = |value: serde_json::Value| value.as_object().unwrap().clone();
    let update = match file {
        "webhook_template_status_approved.json" => {
            ManagementUpdate::TemplateStatus(TemplateStatusUpdate {
                event: "APPROVED".into(),
                message_template_id: "1689556908129832".into(),
                name: "order_confirmation".into(),
                language: "en_US".into(),
                reason: Some("NONE".into()),
                category: Some("UTILITY".into()),
                other_info: None,
                rejection_info: None,
                disable_info: None,
            })
        }
        "webhook_template_status_rejected.json" => {
            ManagementUpdate::TemplateStatus(TemplateStatusUpdate {
                event: "REJECTED".into(),
                message_template_id: "1689556908129835".into(),
                name: "abandoned_cart".into(),
                language: "en".into(),
                reason: Some("INVALID_FORMAT".into()),
                category: Some("MARKETING".into()),
                other_info: None,
                rejection_info: Some(TemplateRejectionInfo {
                    reason: Some("Your template has parameters placed next to each other (like {{1}}{{2}}) without text or punctuation between them.".into()),
                    recommendation: Some("Separate parameters with descriptive text and ensure each parameter is clearly contextualized.".into()),
                }),
                disable_info: None,
            })
        }
        "webhook_template_quality_update.json" => {
            ManagementUpdate::TemplateQuality(TemplateQualityUpdate {
                previous_quality_score: Some("GREEN".into()),
                new_quality_score: "YELLOW".into(),
                message_template_id: "806312974732579".into(),
                name: "welcome_template".into(),
                language: "en_US".into(),
            })
        }
        "webhook_template_category_update.json" => {
            ManagementUpdate::TemplateCategory(TemplateCategoryUpdate {
                message_template_id: "12345678".into(),
                name: "my_message_template".into(),
                language: "he".into(),
                new_category: "MARKETING".into(),
                previous_category: None,
            })
        }
        "webhook_phone_number_quality_update.json" => {
            ManagementUpdate::PhoneNumberQuality(PhoneNumberQualityUpdate {
                display_phone_number: "15550783881".into(),
                event: "THROUGHPUT_UPGRADE".into(),
                current_limit: Some("TIER_UNLIMITED".into()),
                old_limit: None,
                max_daily_conversations_per_business: None,
            })
        }
        "webhook_account_update_disabled_update.json" => ManagementUpdate::Account(AccountUpdate {
            event: "DISABLED_UPDATE".into(),
            details: details(json!({
                "ban_info": { "waba_ban_state": "REINSTATE", "waba_ban_date": "April 17, 2025" }
            })),
        }),
        "webhook_account_update_restriction.json" => ManagementUpdate::Account(AccountUpdate {
            event: "ACCOUNT_RESTRICTION".into(),
            details: details(json!({
                "restriction_info": [
                    { "restriction_type": "RESTRICTED_BIZ_INITIATED_MESSAGING", "expiration": 1641330498 },
                    { "restriction_type": "RESTRICTED_ADD_PHONE_NUMBER_ACTION", "expiration": 1641330498 }
                ]
            })),
        }),
        "webhook_account_update_verified_account.json" => {
            ManagementUpdate::Account(AccountUpdate {
                event: "VERIFIED_ACCOUNT".into(),
                details: details(json!({ "phone_number": "1111111111111" })),
            })
        }
        "webhook_account_update_violation.json" => ManagementUpdate::Account(AccountUpdate {
            event: "ACCOUNT_VIOLATION".into(),
            details: details(json!({ "violation_info": { "violation_type": "ADULT" } })),
        }),
        _ => return None,
    };
    Some(update)
}

#[test]
fn management_fixtures_parse_to_their_typed_update_with_the_waba_id() {
    let mut typed = 0;
    for case in OTHER_CASES {
        let delivery = WebhookDelivery::from_slice(&fixture(case.file)).unwrap();
        let change = &delivery.entry[0].changes[0];
        let expected = expected_management(case.file);
        let updates: Vec<_> = delivery.management_updates().collect();
        let Some(expected) = expected else {
            // phone_number_name_update is not typed: no management view, still raw in parse().
            assert!(change.management().is_none(), "{}", case.file);
            assert!(updates.is_empty(), "{}", case.file);
            continue;
        };
        typed += 1;
        let update = change
            .management()
            .unwrap_or_else(|| panic!("{}: no management view", case.file))
            .unwrap_or_else(|e| panic!("{}: {e}", case.file));
        assert_eq!(update, expected, "{}", case.file);
        assert_eq!(update.field(), case.field, "{}", case.file);
        // parse() keeps answering the raw value, as before.
        assert!(
            matches!(change.parse(), Ok(ChangeValue::Other { .. })),
            "{}",
            case.file
        );

        assert_eq!(updates.len(), 1, "{}", case.file);
        let with_waba = &updates[0];
        assert_eq!(with_waba.waba_id, delivery.entry[0].id, "{}", case.file);
        assert_eq!(with_waba.time, Some(case.time), "{}", case.file);
        assert_eq!(with_waba.field, case.field, "{}", case.file);
        assert_eq!(
            with_waba.update.as_ref().unwrap(),
            &expected,
            "{}",
            case.file
        );
    }
    assert_eq!(typed, 9);
    let delivery =
        WebhookDelivery::from_slice(&fixture("webhook_template_status_approved.json")).unwrap();
    let update = delivery.management_updates().next().unwrap();
    assert_eq!(update.waba_id, "102290129340398");
    assert_eq!(
        update.update.unwrap().message_template_id(),
        Some("1689556908129832")
    );
}

#[test]
fn messages_fixtures_have_no_management_view() {
    for file in MESSAGE_CASES
        .iter()
        .map(|c| c.file)
        .chain(STATUS_CASES.iter().map(|c| c.file))
        .chain(ERRORS_ONLY_CASES.iter().copied())
    {
        let delivery = WebhookDelivery::from_slice(&fixture(file)).unwrap();
        assert!(delivery.management_updates().next().is_none(), "{file}");
        assert!(
            delivery.entry[0].changes[0].management().is_none(),
            "{file}"
        );
    }
}

#[test]
fn management_values_tolerate_variants_and_report_broken_ones() {
    let delivery = WebhookDelivery::from_slice(
        json!({
            "object": "whatsapp_business_account",
            "entry": [
                { "id": "W1", "time": 1, "changes": [
                    { "field": "messages", "value": { "messaging_product": "whatsapp", "metadata": { "display_phone_number": "1", "phone_number_id": "P1" } } },
                    { "field": "message_template_status_update", "value": {
                        "event": "PAUSED", "message_template_id": "77", "message_template_name": "n",
                        "message_template_language": "en", "reason": null,
                        "other_info": { "title": "FIRST_PAUSE", "description": "Paused for 3 hours" },
                        "disable_info": { "disable_date": 1700000000 }, "brand_new": true } },
                    { "field": "message_template_status_update", "value": { "event": "APPROVED" } }
                ] },
                { "id": "W2", "changes": [
                    { "field": "phone_number_quality_update", "value": {
                        "display_phone_number": "1", "event": "UPGRADE", "old_limit": "TIER_1K",
                        "current_limit": "TIER_10K", "max_daily_conversations_per_business": 10000 } },
                    { "field": "template_category_update", "value": {
                        "message_template_id": 5, "message_template_name": "t",
                        "message_template_language": "es", "previous_category": "UTILITY", "new_category": "MARKETING" } },
                    { "field": "user_preferences", "value": {} }
                ] }
            ]
        })
        .to_string()
        .as_bytes(),
    )
    .unwrap();
    let updates: Vec<_> = delivery.management_updates().collect();
    let summary: Vec<(&str, &str, bool)> = updates
        .iter()
        .map(|u| (u.waba_id, u.field, u.update.is_ok()))
        .collect();
    assert_eq!(
        summary,
        [
            ("W1", "message_template_status_update", true),
            ("W1", "message_template_status_update", false),
            ("W2", "phone_number_quality_update", true),
            ("W2", "template_category_update", true),
        ]
    );
    let Ok(ManagementUpdate::TemplateStatus(paused)) = &updates[0].update else {
        panic!("{:?}", updates[0].update)
    };
    assert_eq!(paused.reason, None);
    assert_eq!(paused.category, None);
    assert_eq!(
        paused.other_info.as_ref().unwrap().title.as_deref(),
        Some("FIRST_PAUSE")
    );
    assert_eq!(
        paused.disable_info,
        Some(json!({ "disable_date": 1700000000 }))
    );
    let Ok(ManagementUpdate::PhoneNumberQuality(quality)) = &updates[2].update else {
        panic!()
    };
    assert_eq!(
        (
            quality.old_limit.as_deref(),
            quality.current_limit.as_deref(),
            quality.max_daily_conversations_per_business.as_deref()
        ),
        (Some("TIER_1K"), Some("TIER_10K"), Some("10000"))
    );
    let Ok(ManagementUpdate::TemplateCategory(category)) = &updates[3].update else {
        panic!()
    };
    assert_eq!(category.message_template_id, "5");
    assert_eq!(category.previous_category.as_deref(), Some("UTILITY"));
    assert_eq!(updates[3].time, None);
}

#[test]
fn changes_walks_every_entry_and_change_in_order() {
    let body = json!({
        "object": "whatsapp_business_account",
        "entry": [
            { "id": "A", "changes": [
                { "field": "messages", "value": { "messaging_product": "whatsapp", "metadata": { "display_phone_number": "1", "phone_number_id": "P1" }, "statuses": [] } },
                { "field": "account_update", "value": { "event": "X" } }
            ] },
            { "id": "B", "time": 5, "changes": [ { "field": "user_preferences", "value": {} } ] }
        ]
    });
    let delivery = WebhookDelivery::from_slice(body.to_string().as_bytes()).unwrap();
    let seen: Vec<(&str, &str)> = delivery
        .changes()
        .map(|(id, field, _)| (id, field))
        .collect();
    assert_eq!(
        seen,
        [
            ("A", "messages"),
            ("A", "account_update"),
            ("B", "user_preferences")
        ]
    );
}

#[test]
fn unknown_fields_and_integer_timestamps_are_tolerated() {
    let value = json!({
        "messaging_product": "whatsapp",
        "metadata": { "display_phone_number": "1", "phone_number_id": "P1", "new_thing": true },
        "contacts": [ { "profile": { "name": "N", "username": "@n" }, "wa_id": "W", "user_id": "US.1", "extra": 1 } ],
        "messages": [ { "from": "W", "id": "wamid.1", "timestamp": 1700000000, "type": "text", "text": { "body": "x" } } ],
        "statuses": [ { "id": "wamid.2", "status": "played", "timestamp": 1700000001, "recipient_id": "W", "recipient_user_id": "US.1" } ],
        "brand_new_list": []
    });
    let parsed = MessagesValue::from_value(&value).unwrap();
    let message = parsed.inbound_messages().next().unwrap().unwrap();
    assert_eq!(
        (message.timestamp, message.profile_name),
        (1_700_000_000, Some("N"))
    );
    assert_eq!(
        parsed.contacts[0]
            .profile
            .as_ref()
            .unwrap()
            .username
            .as_deref(),
        Some("@n")
    );
    assert_eq!(parsed.statuses[0].status, "played");
    assert_eq!(parsed.statuses[0].timestamp_secs(), Some(1_700_000_001));
}

#[test]
fn a_message_without_its_common_fields_is_reported_not_skipped() {
    let value = json!({
        "messaging_product": "whatsapp",
        "metadata": { "display_phone_number": "1", "phone_number_id": "P1" },
        "messages": [
            { "from": "W", "id": "wamid.1", "timestamp": "1", "type": "text" },
            { "from": "W", "timestamp": "1", "type": "text" },
            { "from": "W", "id": "wamid.3", "timestamp": "soon", "type": "text" }
        ]
    });
    let parsed = MessagesValue::from_value(&value).unwrap();
    let results: Vec<_> = parsed.inbound_messages().collect();
    assert!(results[0].is_ok());
    assert_eq!(
        results[1],
        Err(MessageShapeError {
            index: 1,
            field: "id"
        })
    );
    assert_eq!(
        results[2],
        Err(MessageShapeError {
            index: 2,
            field: "timestamp"
        })
    );
}

#[test]
fn an_empty_wa_id_matches_no_profile() {
    let value = json!({
        "messaging_product": "whatsapp",
        "metadata": { "display_phone_number": "1", "phone_number_id": "P1" },
        "contacts": [ { "profile": { "name": "Username user" }, "wa_id": "" } ],
        "messages": [ { "from": "", "id": "wamid.1", "timestamp": "1", "type": "text" } ]
    });
    let parsed = MessagesValue::from_value(&value).unwrap();
    assert_eq!(
        parsed
            .inbound_messages()
            .next()
            .unwrap()
            .unwrap()
            .profile_name,
        None
    );
    assert_eq!(parsed.profile_name(""), None);
}

#[test]
fn a_broken_messages_change_does_not_break_the_delivery() {
    let body = json!({
        "object": "whatsapp_business_account",
        "entry": [ { "id": "A", "changes": [
            { "field": "messages", "value": { "statuses": "not a list" } },
            { "field": "messages", "value": { "messaging_product": "whatsapp", "metadata": { "display_phone_number": "1", "phone_number_id": "P1" } } }
        ] } ]
    });
    let delivery = WebhookDelivery::from_slice(body.to_string().as_bytes()).unwrap();
    assert!(delivery.entry[0].changes[0].parse().is_err());
    assert!(matches!(
        delivery.entry[0].changes[1].parse(),
        Ok(ChangeValue::Messages(_))
    ));
}

#[test]
fn fixture_bytes_verify_against_their_own_signature() {
    let body = fixture("webhook_text_message.json");
    let header = sign(b"app-secret", &body);
    assert!(verify_signature(b"app-secret", &body, Some(&header)));
    // Re-serializing (here: compacting) changes the bytes, so the signature no longer matches.
    let reserialized =
        serde_json::to_vec(&serde_json::from_slice::<serde_json::Value>(&body).unwrap()).unwrap();
    assert!(!verify_signature(
        b"app-secret",
        &reserialized,
        Some(&header)
    ));
}

//! A conversation's lead-qualification fields (External API v2, seed 000:
//! `PATCH /conversations/{id}/lead-qualification`), named and limited exactly as seed 000 has them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;
use std::str::FromStr;

/// The longest text most fields take.
const MAX_FIELD: usize = 255;
/// The longest `lead_notes`.
const MAX_NOTES: usize = 1000;
/// The highest `lead_score`.
const MAX_SCORE: u8 = 100;

/// Where the lead stands (seed 000's `lead_status` enum).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeadStatus {
    /// `new_lead`.
    NewLead,
    /// `contacted`.
    Contacted,
    /// `interested`.
    Interested,
    /// `in_progress`.
    InProgress,
    /// `qualified`.
    Qualified,
    /// `hot`.
    Hot,
    /// `warm`.
    Warm,
    /// `cold`.
    Cold,
    /// `lost`.
    Lost,
    /// `won`.
    Won,
    /// `disqualified`.
    Disqualified,
}

impl LeadStatus {
    /// Every status, in seed 000's order.
    pub const ALL: [LeadStatus; 11] = [
        Self::NewLead,
        Self::Contacted,
        Self::Interested,
        Self::InProgress,
        Self::Qualified,
        Self::Hot,
        Self::Warm,
        Self::Cold,
        Self::Lost,
        Self::Won,
        Self::Disqualified,
    ];

    /// The wire form, e.g. `new_lead`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NewLead => "new_lead",
            Self::Contacted => "contacted",
            Self::Interested => "interested",
            Self::InProgress => "in_progress",
            Self::Qualified => "qualified",
            Self::Hot => "hot",
            Self::Warm => "warm",
            Self::Cold => "cold",
            Self::Lost => "lost",
            Self::Won => "won",
            Self::Disqualified => "disqualified",
        }
    }
}

impl fmt::Display for LeadStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for LeadStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Self::ALL.iter().map(|s| s.as_str()).collect();
                format!("'{s}' is not one of {}", names.join(", "))
            })
    }
}

/// The lead-qualification fields. In a command it is a partial update (a PATCH: `None` leaves a field
/// as it is); in an event it holds only the fields that changed; in the state, `None` is never set.
/// Its JSON omits `None` fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LeadFields {
    /// The lead's status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_status: Option<LeadStatus>,
    /// 0 to 100. Seed 000 types the request's score as a number but reports an integer; we keep the
    /// integer, so the edge refuses fractions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_score: Option<u8>,
    /// Company name, up to 255 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_company: Option<String>,
    /// The lead's name (may differ from the customer's profile name), up to 255 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_name: Option<String>,
    /// Notes, up to 1000 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_notes: Option<String>,
    /// Where the lead came from, up to 255 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_source: Option<String>,
    /// Budget range, up to 255 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_budget: Option<String>,
    /// Purchase timeline, up to 255 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_timeline: Option<String>,
    /// Industry, up to 255 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_industry: Option<String>,
    /// Job title, up to 255 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_job_title: Option<String>,
    /// Location, up to 255 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_location: Option<String>,
    /// When the lead was qualified (given by the caller).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_qualification_date: Option<DateTime<Utc>>,
    /// Raw data from the external system: a JSON object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_data: Option<Value>,
    /// Processed data: a JSON object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processed_data: Option<Value>,
    /// Which API supplied the data, up to 255 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_api: Option<String>,
    /// The lead's id in the external system, up to 255 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
}

/// The lead fields of a conversation, as seed 000 reports them (`leadQualification.stored_at` is
/// `raw_data_stored_at` here).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LeadQualification {
    /// The fields' current values.
    pub fields: LeadFields,
    /// When any lead field last changed (`lead_last_updated`).
    pub lead_last_updated: Option<DateTime<Utc>>,
    /// When `raw_data`, `processed_data` or `source_api` last changed (`leadQualification.stored_at`).
    pub raw_data_stored_at: Option<DateTime<Utc>>,
}

impl LeadFields {
    /// Whether no field is set.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Checks seed 000's limits; on failure, the field's name and why.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if let Some(score) = self.lead_score {
            if score > MAX_SCORE {
                return Err(("lead_score", format!("must be 0 to {MAX_SCORE}")));
            }
        }
        let texts = [
            ("lead_company", &self.lead_company, MAX_FIELD),
            ("lead_name", &self.lead_name, MAX_FIELD),
            ("lead_notes", &self.lead_notes, MAX_NOTES),
            ("lead_source", &self.lead_source, MAX_FIELD),
            ("lead_budget", &self.lead_budget, MAX_FIELD),
            ("lead_timeline", &self.lead_timeline, MAX_FIELD),
            ("lead_industry", &self.lead_industry, MAX_FIELD),
            ("lead_job_title", &self.lead_job_title, MAX_FIELD),
            ("lead_location", &self.lead_location, MAX_FIELD),
            ("source_api", &self.source_api, MAX_FIELD),
            ("external_id", &self.external_id, MAX_FIELD),
        ];
        for (field, value, max) in texts {
            if matches!(value, Some(v) if v.chars().count() > max) {
                return Err((field, format!("at most {max} characters")));
            }
        }
        for (field, value) in [
            ("raw_data", &self.raw_data),
            ("processed_data", &self.processed_data),
        ] {
            if matches!(value, Some(v) if !v.is_object()) {
                return Err((field, "must be a JSON object".into()));
            }
        }
        Ok(())
    }
}

/// `new` if it differs from `current`.
fn changed<T: PartialEq>(new: Option<T>, current: &Option<T>) -> Option<T> {
    new.filter(|value| Some(value) != current.as_ref())
}

impl LeadQualification {
    /// The part of `update` that would change something; empty when nothing would.
    pub fn changes(&self, update: LeadFields) -> LeadFields {
        let current = &self.fields;
        LeadFields {
            lead_status: changed(update.lead_status, &current.lead_status),
            lead_score: changed(update.lead_score, &current.lead_score),
            lead_company: changed(update.lead_company, &current.lead_company),
            lead_name: changed(update.lead_name, &current.lead_name),
            lead_notes: changed(update.lead_notes, &current.lead_notes),
            lead_source: changed(update.lead_source, &current.lead_source),
            lead_budget: changed(update.lead_budget, &current.lead_budget),
            lead_timeline: changed(update.lead_timeline, &current.lead_timeline),
            lead_industry: changed(update.lead_industry, &current.lead_industry),
            lead_job_title: changed(update.lead_job_title, &current.lead_job_title),
            lead_location: changed(update.lead_location, &current.lead_location),
            lead_qualification_date: changed(
                update.lead_qualification_date,
                &current.lead_qualification_date,
            ),
            raw_data: changed(update.raw_data, &current.raw_data),
            processed_data: changed(update.processed_data, &current.processed_data),
            source_api: changed(update.source_api, &current.source_api),
            external_id: changed(update.external_id, &current.external_id),
        }
    }

    /// Folds recorded changes into the state.
    pub fn apply(&mut self, changes: LeadFields, at: DateTime<Utc>) {
        let stores_raw_data = changes.raw_data.is_some()
            || changes.processed_data.is_some()
            || changes.source_api.is_some();
        let fields = &mut self.fields;
        let LeadFields {
            lead_status,
            lead_score,
            lead_company,
            lead_name,
            lead_notes,
            lead_source,
            lead_budget,
            lead_timeline,
            lead_industry,
            lead_job_title,
            lead_location,
            lead_qualification_date,
            raw_data,
            processed_data,
            source_api,
            external_id,
        } = changes;
        // `Option::or` keeps the current value where the change leaves a field out.
        fields.lead_status = lead_status.or(fields.lead_status);
        fields.lead_score = lead_score.or(fields.lead_score);
        fields.lead_company = lead_company.or(fields.lead_company.take());
        fields.lead_name = lead_name.or(fields.lead_name.take());
        fields.lead_notes = lead_notes.or(fields.lead_notes.take());
        fields.lead_source = lead_source.or(fields.lead_source.take());
        fields.lead_budget = lead_budget.or(fields.lead_budget.take());
        fields.lead_timeline = lead_timeline.or(fields.lead_timeline.take());
        fields.lead_industry = lead_industry.or(fields.lead_industry.take());
        fields.lead_job_title = lead_job_title.or(fields.lead_job_title.take());
        fields.lead_location = lead_location.or(fields.lead_location.take());
        fields.lead_qualification_date = lead_qualification_date.or(fields.lead_qualification_date);
        fields.raw_data = raw_data.or(fields.raw_data.take());
        fields.processed_data = processed_data.or(fields.processed_data.take());
        fields.source_api = source_api.or(fields.source_api.take());
        fields.external_id = external_id.or(fields.external_id.take());
        self.lead_last_updated = Some(at);
        if stores_raw_data {
            self.raw_data_stored_at = Some(at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn statuses_use_seed_000_names() {
        for status in LeadStatus::ALL {
            assert_eq!(status.as_str().parse::<LeadStatus>(), Ok(status));
            assert_eq!(
                serde_json::to_value(status).unwrap(),
                json!(status.as_str())
            );
        }
        assert!("Qualified".parse::<LeadStatus>().is_err());
    }

    #[test]
    fn an_update_serializes_only_its_fields() {
        let update: LeadFields =
            serde_json::from_value(json!({"lead_status": "qualified", "lead_score": 85})).unwrap();
        assert_eq!(update.lead_status, Some(LeadStatus::Qualified));
        assert_eq!(
            serde_json::to_value(&update).unwrap(),
            json!({"lead_status": "qualified", "lead_score": 85})
        );
    }

    #[test]
    fn limits_follow_seed_000() {
        let ok = LeadFields {
            lead_score: Some(100),
            lead_notes: Some("n".repeat(1000)),
            lead_company: Some("c".repeat(255)),
            raw_data: Some(json!({})),
            ..Default::default()
        };
        assert_eq!(ok.validate(), Ok(()));
        let cases = [
            (
                LeadFields {
                    lead_score: Some(101),
                    ..Default::default()
                },
                "lead_score",
            ),
            (
                LeadFields {
                    lead_notes: Some("n".repeat(1001)),
                    ..Default::default()
                },
                "lead_notes",
            ),
            (
                LeadFields {
                    external_id: Some("e".repeat(256)),
                    ..Default::default()
                },
                "external_id",
            ),
            (
                LeadFields {
                    processed_data: Some(json!([1])),
                    ..Default::default()
                },
                "processed_data",
            ),
        ];
        for (update, field) in cases {
            assert_eq!(update.validate().unwrap_err().0, field);
        }
    }
}

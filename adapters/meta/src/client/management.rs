//! The Graph client's management endpoints: templates (README §3), registration, the business
//! profile and a number's health (README §4). They answer with the `application` crate's types.

use application::{
    BusinessProfile, BusinessProfileUpdate, CodeMethod, MetaTemplate, PhoneNumberHealth,
    TemplateSubmission,
};
use reqwest::Url;
use serde::{Deserialize, Deserializer};
use serde_json::{json, Map, Value};

use super::{GraphClient, SuccessWire};
use crate::error::GraphError;

/// Most pages [`GraphClient::list_templates`] reads before giving up; with 100 templates a
/// page that is 10,000 templates, above Meta's largest per-WABA limit of 6,000 (README §3).
pub const MAX_TEMPLATE_PAGES: usize = 100;

/// Templates asked for per page.
const TEMPLATE_PAGE_SIZE: &str = "100";

/// The template fields Parley reads, asked for explicitly so the answer's shape is known.
const TEMPLATE_FIELDS: &str = "id,name,language,status,category,components";

/// The business-profile fields Parley reads (README §4).
const PROFILE_FIELDS: &str =
    "about,address,description,email,profile_picture_url,websites,vertical";

/// The phone-number fields behind [`PhoneNumberHealth`] (README §4).
const HEALTH_FIELDS: &str = "quality_rating,messaging_limit_tier,throughput";

/// Wire shape of the template creation answer: `{"id", "status", "category"}`.
#[derive(Deserialize)]
struct TemplateSubmissionWire {
    #[serde(deserialize_with = "string_or_integer")]
    id: String,
    status: String,
    #[serde(default)]
    category: Option<String>,
}

/// Wire shape of one template, from the list or `GET /{template-id}`.
#[derive(Deserialize)]
struct TemplateWire {
    #[serde(deserialize_with = "string_or_integer")]
    id: String,
    name: String,
    language: String,
    #[serde(default)]
    category: String,
    status: String,
    #[serde(default)]
    components: Vec<Value>,
}

impl From<TemplateWire> for MetaTemplate {
    fn from(wire: TemplateWire) -> MetaTemplate {
        MetaTemplate {
            meta_template_id: wire.id,
            name: wire.name,
            language: wire.language,
            category: wire.category,
            status: wire.status,
            components: wire.components,
        }
    }
}

/// Wire shape of one page of templates: `{"data": [...], "paging": {...}}`.
#[derive(Deserialize)]
struct TemplatePageWire {
    #[serde(default)]
    data: Vec<TemplateWire>,
    #[serde(default)]
    paging: Option<PagingWire>,
}

/// Graph's cursor paging: `next` is present only when there is a next page.
#[derive(Deserialize)]
struct PagingWire {
    #[serde(default)]
    cursors: Option<CursorsWire>,
    #[serde(default)]
    next: Option<String>,
}

/// `paging.cursors`.
#[derive(Deserialize)]
struct CursorsWire {
    #[serde(default)]
    after: Option<String>,
}

impl PagingWire {
    /// The `after` cursor of the next page, or `None` on the last page.
    ///
    /// Graph leaves `next` out on the last page while still giving `cursors.after`, so `next`
    /// decides whether to go on. The cursor comes from `cursors.after`, or else from `next`'s
    /// query; `next` itself is not fetched, since it points at Meta's host and carries the token.
    fn next_cursor(&self) -> Option<String> {
        let next = self.next.as_deref().filter(|next| !next.is_empty())?;
        self.cursors
            .as_ref()
            .and_then(|cursors| cursors.after.clone())
            .filter(|after| !after.is_empty())
            .or_else(|| {
                Url::parse(next)
                    .ok()?
                    .query_pairs()
                    .find_map(|(key, value)| {
                        (key == "after" && !value.is_empty()).then(|| value.into_owned())
                    })
            })
    }
}

/// Wire shape of the business profile answer: `{"data": [{...}]}`.
#[derive(Deserialize)]
struct ProfileListWire {
    #[serde(default)]
    data: Vec<ProfileWire>,
}

/// One business profile as Meta sends it.
#[derive(Deserialize)]
struct ProfileWire {
    about: Option<String>,
    address: Option<String>,
    description: Option<String>,
    email: Option<String>,
    profile_picture_url: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    websites: Vec<String>,
    vertical: Option<String>,
}

impl From<ProfileWire> for BusinessProfile {
    fn from(wire: ProfileWire) -> BusinessProfile {
        BusinessProfile {
            about: wire.about,
            address: wire.address,
            description: wire.description,
            email: wire.email,
            profile_picture_url: wire.profile_picture_url,
            websites: wire.websites,
            vertical: wire.vertical,
        }
    }
}

/// Wire shape of a number with the health fields.
#[derive(Deserialize)]
struct HealthWire {
    quality_rating: Option<String>,
    messaging_limit_tier: Option<String>,
    throughput: Option<ThroughputWire>,
}

/// `throughput`: `{"level": "STANDARD"}`.
#[derive(Deserialize)]
struct ThroughputWire {
    level: Option<String>,
}

impl GraphClient {
    /// Submits a template for review (`POST /{waba_id}/message_templates` with Meta's creation body).
    pub async fn create_template(
        &self,
        waba_id: &str,
        token: &str,
        body: &Value,
    ) -> Result<TemplateSubmission, GraphError> {
        let request = self
            .http
            .post(self.url(&[waba_id, "message_templates"]))
            .bearer_auth(token)
            .json(body);
        let wire: TemplateSubmissionWire = self.execute("create_template", request).await?;
        // Meta has always answered the category so far; fall back to the one asked for.
        let category = wire.category.unwrap_or_else(|| {
            body.get("category")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        });
        Ok(TemplateSubmission {
            meta_template_id: wire.id,
            status: wire.status,
            category,
        })
    }

    /// Edits a template (`POST /{meta_template_id}` with `{components, category?}`).
    pub async fn edit_template(
        &self,
        meta_template_id: &str,
        token: &str,
        body: &Value,
    ) -> Result<(), GraphError> {
        let request = self
            .http
            .post(self.url(&[meta_template_id]))
            .bearer_auth(token)
            .json(body);
        let SuccessWire = self.execute("edit_template", request).await?;
        Ok(())
    }

    /// Deletes a template by name in every language, or only `hsm_id` when given
    /// (`DELETE /{waba_id}/message_templates?name=…[&hsm_id=…]`).
    ///
    /// A missing template is an error; see [`GraphError::is_template_not_found`].
    pub async fn delete_template(
        &self,
        waba_id: &str,
        token: &str,
        name: &str,
        hsm_id: Option<&str>,
    ) -> Result<(), GraphError> {
        let mut url = self.url(&[waba_id, "message_templates"]);
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("name", name);
            if let Some(hsm_id) = hsm_id {
                query.append_pair("hsm_id", hsm_id);
            }
        }
        let request = self.http.delete(url).bearer_auth(token);
        let SuccessWire = self.execute("delete_template", request).await?;
        Ok(())
    }

    /// Every template of the WABA (`GET /{waba_id}/message_templates`), following the paging.
    ///
    /// Stops when Meta gives no `paging.next`, an empty page, or a cursor it already gave; more
    /// than [`MAX_TEMPLATE_PAGES`] pages is an error rather than a silently partial list.
    pub async fn list_templates(
        &self,
        waba_id: &str,
        token: &str,
    ) -> Result<Vec<MetaTemplate>, GraphError> {
        let mut templates = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..MAX_TEMPLATE_PAGES {
            let mut url = self.url(&[waba_id, "message_templates"]);
            {
                let mut query = url.query_pairs_mut();
                query
                    .append_pair("fields", TEMPLATE_FIELDS)
                    .append_pair("limit", TEMPLATE_PAGE_SIZE);
                if let Some(after) = &after {
                    query.append_pair("after", after);
                }
            }
            let request = self.http.get(url).bearer_auth(token);
            let page: TemplatePageWire = self.execute("list_templates", request).await?;
            let page_was_empty = page.data.is_empty();
            templates.extend(page.data.into_iter().map(MetaTemplate::from));
            let next = page.paging.as_ref().and_then(PagingWire::next_cursor);
            match next {
                Some(cursor) if !page_was_empty && after.as_deref() != Some(cursor.as_str()) => {
                    after = Some(cursor);
                }
                _ => return Ok(templates),
            }
        }
        Err(GraphError::Decode {
            status: 200,
            reason: format!(
                "template paging did not end after {MAX_TEMPLATE_PAGES} pages ({} templates read)",
                templates.len()
            ),
            body_excerpt: String::new(),
        })
    }

    /// One template by Meta's id (`GET /{meta_template_id}`).
    pub async fn get_template(
        &self,
        meta_template_id: &str,
        token: &str,
    ) -> Result<MetaTemplate, GraphError> {
        let mut url = self.url(&[meta_template_id]);
        url.query_pairs_mut().append_pair("fields", TEMPLATE_FIELDS);
        let request = self.http.get(url).bearer_auth(token);
        let wire: TemplateWire = self.execute("get_template", request).await?;
        Ok(wire.into())
    }

    /// Sends a registration code by SMS or voice (`POST /{phone_number_id}/request_code`).
    pub async fn request_code(
        &self,
        phone_number_id: &str,
        token: &str,
        method: CodeMethod,
        language: &str,
    ) -> Result<(), GraphError> {
        let body = json!({ "code_method": method.as_str(), "language": language });
        self.post_success(
            "request_code",
            &[phone_number_id, "request_code"],
            token,
            &body,
        )
        .await
    }

    /// Checks the registration code the owner received (`POST /{phone_number_id}/verify_code`).
    pub async fn verify_code(
        &self,
        phone_number_id: &str,
        token: &str,
        code: &str,
    ) -> Result<(), GraphError> {
        let body = json!({ "code": code });
        self.post_success(
            "verify_code",
            &[phone_number_id, "verify_code"],
            token,
            &body,
        )
        .await
    }

    /// Registers the number for Cloud API with its two-step PIN (`POST /{phone_number_id}/register`).
    pub async fn register(
        &self,
        phone_number_id: &str,
        token: &str,
        pin: &str,
    ) -> Result<(), GraphError> {
        let body = json!({ "messaging_product": "whatsapp", "pin": pin });
        self.post_success("register", &[phone_number_id, "register"], token, &body)
            .await
    }

    /// The number's business profile (`GET /{phone_number_id}/whatsapp_business_profile`).
    pub async fn business_profile(
        &self,
        phone_number_id: &str,
        token: &str,
    ) -> Result<BusinessProfile, GraphError> {
        let mut url = self.url(&[phone_number_id, "whatsapp_business_profile"]);
        url.query_pairs_mut().append_pair("fields", PROFILE_FIELDS);
        let request = self.http.get(url).bearer_auth(token);
        let list: ProfileListWire = self.execute("business_profile", request).await?;
        list.data
            .into_iter()
            .next()
            .map(BusinessProfile::from)
            .ok_or_else(|| GraphError::Decode {
                status: 200,
                reason: "the business profile response has no data[0]".to_owned(),
                body_excerpt: String::new(),
            })
    }

    /// Updates the given fields of the business profile, leaving the others
    /// (`POST /{phone_number_id}/whatsapp_business_profile`).
    pub async fn update_business_profile(
        &self,
        phone_number_id: &str,
        token: &str,
        update: &BusinessProfileUpdate,
    ) -> Result<(), GraphError> {
        self.post_success(
            "update_business_profile",
            &[phone_number_id, "whatsapp_business_profile"],
            token,
            &profile_update_body(update),
        )
        .await
    }

    /// The number's quality rating, messaging tier and throughput level
    /// (`GET /{phone_number_id}?fields=quality_rating,messaging_limit_tier,throughput`).
    pub async fn phone_number_health(
        &self,
        phone_number_id: &str,
        token: &str,
    ) -> Result<PhoneNumberHealth, GraphError> {
        let mut url = self.url(&[phone_number_id]);
        url.query_pairs_mut().append_pair("fields", HEALTH_FIELDS);
        let request = self.http.get(url).bearer_auth(token);
        let wire: HealthWire = self.execute("phone_number_health", request).await?;
        Ok(PhoneNumberHealth {
            quality_rating: wire.quality_rating,
            messaging_limit_tier: wire.messaging_limit_tier,
            throughput_level: wire.throughput.and_then(|t| t.level),
        })
    }
}

/// `messaging_product` plus only the fields the update sets (README §4).
fn profile_update_body(update: &BusinessProfileUpdate) -> Value {
    let mut body = Map::new();
    body.insert("messaging_product".into(), "whatsapp".into());
    let texts = [
        ("about", &update.about),
        ("address", &update.address),
        ("description", &update.description),
        ("email", &update.email),
        ("vertical", &update.vertical),
        ("profile_picture_handle", &update.profile_picture_handle),
    ];
    for (name, value) in texts {
        if let Some(value) = value {
            body.insert(name.into(), value.clone().into());
        }
    }
    if let Some(websites) = &update.websites {
        body.insert("websites".into(), websites.clone().into());
    }
    Value::Object(body)
}

/// An id Meta sends as a string in one place and as an integer in another (README §8).
fn string_or_integer<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        Integer(u64),
    }
    Ok(match Raw::deserialize(deserializer)? {
        Raw::Text(text) => text,
        Raw::Integer(number) => number.to_string(),
    })
}

/// A list Meta may send as `null`.
fn null_as_empty<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(deserializer)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paging(value: Value) -> PagingWire {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn next_decides_and_the_cursor_comes_from_cursors_or_next() {
        // The last page still has an `after` cursor but no `next`.
        assert_eq!(
            paging(json!({"cursors": {"before": "B", "after": "A"}})).next_cursor(),
            None
        );
        assert_eq!(
            paging(json!({"cursors": {"after": "A"}, "next": "https://graph.facebook.com/v23.0/1/message_templates?after=X"}))
                .next_cursor()
                .as_deref(),
            Some("A")
        );
        assert_eq!(
            paging(json!({"next": "https://graph.facebook.com/v23.0/1/message_templates?access_token=T&limit=2&after=QVF%3D"}))
                .next_cursor()
                .as_deref(),
            Some("QVF=")
        );
        assert_eq!(
            paging(json!({"next": "https://graph.facebook.com/v23.0/1/message_templates?limit=2"}))
                .next_cursor(),
            None
        );
        assert_eq!(paging(json!({"next": ""})).next_cursor(), None);
    }

    #[test]
    fn a_profile_update_carries_only_the_set_fields() {
        assert_eq!(
            profile_update_body(&BusinessProfileUpdate::default()),
            json!({"messaging_product": "whatsapp"})
        );
        let update = BusinessProfileUpdate {
            about: Some("Open 9-5".into()),
            websites: Some(vec![]),
            profile_picture_handle: Some("4::aW1h".into()),
            ..BusinessProfileUpdate::default()
        };
        assert_eq!(
            profile_update_body(&update),
            json!({
                "messaging_product": "whatsapp",
                "about": "Open 9-5",
                "websites": [],
                "profile_picture_handle": "4::aW1h",
            })
        );
    }
}

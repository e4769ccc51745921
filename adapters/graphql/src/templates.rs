//! Templates over GraphQL: the list and one template (components, variable metadata, review
//! status, quality), their send analytics and the button-click analytics of seed 003 (per
//! template and button, per customer), and a mutation per template command.

use crate::conversation_types::{after_key, page_size};
use crate::conversations::resolve_phone_number;
use crate::error::{internal, not_found, parse_id, validation, OrGraphql, Result};
use crate::read::{self, env, record};
use crate::types::PageInfo;
use application::{customer_wa_id, PhoneNumberRef, TemplateInput};
use async_graphql::{ComplexObject, Context, Enum, InputObject, Json, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use domain::template::{TemplateComponent, TemplateState};
use projections::template_analytics::{self, ButtonClickView, ClickFilter};
use projections::templates::TemplateView;
use serde_json::Value;
use uuid::Uuid;

/// Where a template stands: Parley's DRAFT, then Meta's review and quality statuses.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "domain::template::TemplateStatus")]
pub enum TemplateStatus {
    /// Created in Parley, not (successfully) submitted to Meta.
    Draft,
    /// Submitted; Meta is reviewing it.
    Pending,
    /// Approved by Meta: it can be sent.
    Approved,
    /// Rejected by Meta (see `rejectionReason`); edit and submit it again.
    Rejected,
    /// Paused by Meta for low quality.
    Paused,
    /// Disabled by Meta for low quality.
    Disabled,
    InAppeal,
    PendingDeletion,
    Deleted,
    LimitExceeded,
    /// Flagged for low quality; still sendable until Meta disables it.
    Flagged,
    Reinstated,
    Archived,
    Unarchived,
    Locked,
}

/// What a template is for.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "domain::template::TemplateCategory")]
pub enum TemplateCategory {
    Marketing,
    Utility,
    Authentication,
}

/// Which component's `{{n}}` a variable fills.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(
    name = "TemplateVariableComponent",
    remote = "domain::template::VariableComponent"
)]
pub enum VariableComponent {
    /// The TEXT header's `{{1}}`.
    Header,
    /// A body placeholder.
    Body,
}

/// What Parley knows about one `{{n}}` of a template (seed 003's variable metadata). Every
/// placeholder has one; those not described are named by their key and required.
#[derive(SimpleObject, Debug, Clone)]
pub struct TemplateVariable {
    /// The `n` of `{{n}}`, from 1.
    pub position: i32,
    pub component: VariableComponent,
    /// Unique in the template; usable instead of the position when giving values.
    pub name: String,
    pub description: Option<String>,
    /// Sent when no value is given.
    pub default_value: Option<String>,
    /// The example Meta's review sees.
    pub sample_value: Option<String>,
    /// Whether a value must be given (false when there is a default).
    pub required: bool,
}

impl From<domain::template::TemplateVariable> for TemplateVariable {
    fn from(variable: domain::template::TemplateVariable) -> Self {
        Self {
            position: i32::try_from(variable.position).unwrap_or(i32::MAX),
            component: variable.component.into(),
            name: variable.name,
            description: variable.description,
            default_value: variable.default_value,
            sample_value: variable.sample_value,
            required: variable.required,
        }
    }
}

/// One button of a template, in Meta's order.
#[derive(SimpleObject, Debug, Clone)]
pub struct TemplateButton {
    /// Its index in the BUTTONS component (a send addresses buttons by it).
    pub index: i32,
    /// Meta's type: QUICK_REPLY, URL, PHONE_NUMBER, COPY_CODE, OTP, FLOW, …
    pub kind: String,
    /// The label (a quick reply's click reports it as `buttonText`).
    pub text: Option<String>,
    pub url: Option<String>,
    pub phone_number: Option<String>,
}

/// A message template of one of the workspace's WABAs.
pub struct Template {
    id: Uuid,
    state: TemplateState,
}

impl From<TemplateView> for Template {
    fn from(view: TemplateView) -> Self {
        Self {
            id: view.template_id,
            state: view.state,
        }
    }
}

#[Object]
impl Template {
    /// Parley's id.
    async fn id(&self) -> ID {
        ID(self.id.to_string())
    }

    /// Meta's id, once Meta has the template.
    async fn meta_template_id(&self) -> Option<&str> {
        self.state.meta_template_id.as_deref()
    }

    /// Our id of the number it was created (or last imported) through.
    async fn phone_number_id(&self) -> Option<ID> {
        self.state.phone_number_id.map(|id| ID(id.to_string()))
    }

    /// Meta's WhatsApp Business Account id.
    async fn waba_id(&self) -> &str {
        &self.state.waba_id
    }

    async fn name(&self) -> &str {
        &self.state.name
    }

    /// e.g. `en_US`.
    async fn language(&self) -> &str {
        &self.state.language
    }

    async fn category(&self) -> TemplateCategory {
        self.state.category.into()
    }

    async fn status(&self) -> TemplateStatus {
        self.state.status.into()
    }

    /// Meta's reason for the current status (a rejection's, a pause's), if it gave one.
    async fn rejection_reason(&self) -> Option<&str> {
        self.state.rejection_reason.as_deref()
    }

    /// Meta's quality score (GREEN, YELLOW, RED, UNKNOWN), once rated.
    async fn quality_score(&self) -> Option<&str> {
        self.state.quality_score.as_deref()
    }

    /// The components (HEADER, BODY, FOOTER, BUTTONS, …) in Meta's JSON shape.
    async fn components(&self) -> Result<Vec<Json<Value>>> {
        self.state
            .components
            .iter()
            .map(|component| serde_json::to_value(component).map(Json).map_err(internal))
            .collect()
    }

    /// Metadata of every placeholder, header first, by position.
    async fn variables(&self) -> Vec<TemplateVariable> {
        self.state
            .variables_complete()
            .into_iter()
            .map(Into::into)
            .collect()
    }

    /// The buttons, in Meta's order.
    async fn buttons(&self) -> Vec<TemplateButton> {
        self.state
            .components
            .iter()
            .filter_map(|component| match component {
                TemplateComponent::Buttons(buttons) => Some(&buttons.buttons),
                _ => None,
            })
            .flatten()
            .enumerate()
            .map(|(index, button)| TemplateButton {
                index: i32::try_from(index).unwrap_or(i32::MAX),
                kind: button.kind.as_str().to_string(),
                text: button.text.clone(),
                url: button.url.clone(),
                phone_number: button.phone_number.clone(),
            })
            .collect()
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.state.created_at
    }

    async fn updated_at(&self) -> DateTime<Utc> {
        self.state.updated_at
    }

    /// What became of the messages sent with it (in conversations and broadcasts).
    async fn send_analytics(&self, ctx: &Context<'_>) -> Result<TemplateSendAnalytics> {
        let (state, caller) = env(ctx)?;
        let client = read::client(state).await?;
        let stats = template_analytics::send_stats(&**client, caller.workspace_id, self.id)
            .await
            .map_err(internal)?;
        Ok(TemplateSendAnalytics {
            sends: stats.sends(),
            pending: stats.queued,
            sent: stats.sent + stats.delivered_total(),
            delivered: stats.delivered_total(),
            read: stats.read,
            failed: stats.failed,
        })
    }

    /// Clicks on its buttons by customers replying to its messages, per button.
    async fn button_analytics(&self, ctx: &Context<'_>) -> Result<TemplateButtonAnalytics> {
        let (state, caller) = env(ctx)?;
        let client = read::client(state).await?;
        let (buttons, clickers) =
            template_analytics::button_stats(&**client, caller.workspace_id, self.id)
                .await
                .map_err(internal)?;
        Ok(TemplateButtonAnalytics {
            template_id: ID(self.id.to_string()),
            template_name: self.state.name.clone(),
            total_clicks: buttons.iter().map(|b| b.total_clicks).sum(),
            unique_clickers: clickers,
            buttons: buttons
                .into_iter()
                .map(|b| ButtonClickStats {
                    button_id: b.button_id,
                    button_text: b.button_text,
                    total_clicks: b.total_clicks,
                    unique_clicks: b.unique_clicks,
                })
                .collect(),
        })
    }
}

/// A template's messages as a funnel: a read message counts as sent and delivered too.
#[derive(SimpleObject, Debug, Clone, Copy, PartialEq, Eq)]
pub struct TemplateSendAnalytics {
    /// Every message sent with the template.
    pub sends: i64,
    /// Not answered by Meta yet.
    pub pending: i64,
    /// Accepted by Meta (whatever happened next, short of failing).
    pub sent: i64,
    /// Reached the customer's phone (delivered or read).
    pub delivered: i64,
    pub read: i64,
    pub failed: i64,
}

/// Clicks on one button.
#[derive(SimpleObject, Debug, Clone)]
pub struct ButtonClickStats {
    /// A quick reply's payload (the button's id in an interactive reply).
    pub button_id: String,
    pub button_text: String,
    pub total_clicks: i64,
    /// Customers who clicked it.
    pub unique_clicks: i64,
}

/// A template's button clicks, most clicked button first.
#[derive(SimpleObject, Debug, Clone)]
pub struct TemplateButtonAnalytics {
    pub template_id: ID,
    pub template_name: String,
    pub total_clicks: i64,
    /// Customers who clicked any of its buttons.
    pub unique_clickers: i64,
    pub buttons: Vec<ButtonClickStats>,
}

/// Which kind of reply a click was.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "projections::template_analytics::ClickKind")]
pub enum ButtonClickKind {
    /// A tap on a template's quick-reply button.
    QuickReply,
    /// A tap on an interactive message's reply button.
    ButtonReply,
    /// A choice from an interactive list.
    ListReply,
}

/// A customer's tap on a button of one of our messages.
#[derive(SimpleObject, Debug, Clone)]
pub struct ButtonClick {
    /// Our id of the customer's reply.
    pub id: ID,
    pub conversation_id: ID,
    /// Our id of the business number.
    pub phone_number_id: ID,
    /// The customer, E.164.
    pub customer_phone: String,
    /// The customer's WhatsApp id (digits).
    pub customer_wa_id: String,
    /// The template whose message was replied to; null when it was no template message.
    pub template_id: Option<ID>,
    pub template_name: Option<String>,
    pub template_language: Option<String>,
    /// Our id of the message replied to, when it was a template message.
    pub template_message_id: Option<ID>,
    pub kind: ButtonClickKind,
    /// A quick reply's payload, an interactive button's or row's id.
    pub button_id: String,
    pub button_text: String,
    /// When the customer tapped it (Meta's time).
    pub clicked_at: DateTime<Utc>,
}

impl From<ButtonClickView> for ButtonClick {
    fn from(view: ButtonClickView) -> Self {
        Self {
            id: ID(view.message_id.to_string()),
            conversation_id: ID(view.conversation_id.to_string()),
            phone_number_id: ID(view.phone_number_id.to_string()),
            customer_phone: format!("+{}", view.customer_wa_id),
            customer_wa_id: view.customer_wa_id,
            template_id: view.template_id.map(|id| ID(id.to_string())),
            template_name: view.template_name,
            template_language: view.template_language,
            template_message_id: view.template_message_id.map(|id| ID(id.to_string())),
            kind: view.kind.into(),
            button_id: view.button_id,
            button_text: view.button_text,
            clicked_at: view.clicked_at,
        }
    }
}

/// A click in a page of clicks.
#[derive(SimpleObject, Debug)]
pub struct ButtonClickEdge {
    /// Pass as `after` to continue after this click.
    pub cursor: String,
    pub node: ButtonClick,
}

/// A page of button clicks, latest first.
#[derive(SimpleObject, Debug)]
pub struct ButtonClickConnection {
    pub edges: Vec<ButtonClickEdge>,
    pub page_info: PageInfo,
    /// How many clicks match the filters in all pages.
    pub total_count: i64,
}

/// One button a customer clicked, with how often.
#[derive(SimpleObject, Debug, Clone)]
pub struct CustomerButtonClicks {
    pub template_id: Option<ID>,
    pub template_name: Option<String>,
    pub button_id: String,
    pub button_text: String,
    pub clicks: i64,
    pub last_clicked_at: DateTime<Utc>,
}

/// A customer's (lead's) button activity, the latest clicked button first.
#[derive(SimpleObject, Debug, Clone)]
pub struct CustomerButtonActivity {
    /// E.164.
    pub customer_phone: String,
    pub customer_wa_id: String,
    pub total_clicks: i64,
    pub buttons_clicked: Vec<CustomerButtonClicks>,
}

/// A template in a page of templates.
pub struct TemplateEdge {
    cursor: String,
    node: Template,
}

#[Object]
impl TemplateEdge {
    /// Pass as `after` to continue after this template.
    async fn cursor(&self) -> &str {
        &self.cursor
    }

    async fn node(&self) -> &Template {
        &self.node
    }
}

/// A page of templates, by name then language.
#[derive(SimpleObject)]
pub struct TemplateConnection {
    pub edges: Vec<TemplateEdge>,
    pub page_info: PageInfo,
    /// How many templates match the filters in all pages.
    pub total_count: i64,
}

/// What a sync from Meta did.
#[derive(SimpleObject, Debug)]
#[graphql(complex)]
pub struct TemplateSyncResult {
    /// Templates Meta had that Parley did not.
    pub imported: i32,
    /// Templates that changed on Meta.
    pub updated: i32,
    pub unchanged: i32,
    /// One line per template that could not be taken over, with why.
    pub errors: Vec<String>,
    #[graphql(skip)]
    pub phone_number_id: Uuid,
}

#[ComplexObject]
impl TemplateSyncResult {
    /// The number's templates after the sync.
    async fn templates(&self, ctx: &Context<'_>) -> Result<Vec<Template>> {
        let views = templates_of_number(ctx, self.phone_number_id, None).await?;
        Ok(views.into_iter().map(Template::from).collect())
    }
}

/// Metadata of one placeholder, as seed 003 describes it.
#[derive(InputObject, Debug, Clone)]
pub struct TemplateVariableInput {
    /// The `n` of `{{n}}`, from 1.
    pub position: i32,
    #[graphql(default_with = "VariableComponent::Body")]
    pub component: VariableComponent,
    pub name: String,
    pub description: Option<String>,
    pub default_value: Option<String>,
    pub sample_value: Option<String>,
    /// false needs a `defaultValue`.
    #[graphql(default = true)]
    pub required: bool,
}

impl TemplateVariableInput {
    fn into_json(self) -> Result<Value> {
        let position = u32::try_from(self.position)
            .map_err(|_| validation("variables: position must be 1 or more"))?;
        serde_json::to_value(domain::template::TemplateVariable {
            position,
            component: self.component.into(),
            name: self.name,
            description: self.description,
            default_value: self.default_value,
            sample_value: self.sample_value,
            required: self.required,
        })
        .map_err(internal)
    }
}

fn variables_json(variables: Vec<TemplateVariableInput>) -> Result<Vec<Value>> {
    variables
        .into_iter()
        .map(TemplateVariableInput::into_json)
        .collect()
}

/// A template to create on a number's WABA.
#[derive(InputObject, Debug)]
pub struct CreateTemplateInput {
    /// Our id or Meta's id of the business number.
    pub phone_number_id: ID,
    /// `^[a-z][a-z0-9_]*$`.
    pub name: String,
    pub category: TemplateCategory,
    /// e.g. `en_US`.
    pub language: String,
    /// HEADER, BODY, FOOTER, BUTTONS in Meta's JSON shape.
    pub components: Vec<Json<Value>>,
    #[graphql(default)]
    pub variables: Vec<TemplateVariableInput>,
    /// Submit it to Meta for review at once (true, the default) or keep it a draft.
    #[graphql(default = true)]
    pub submit: bool,
}

/// The workspace's live templates on the number's WABA, by name then language.
async fn templates_of_number(
    ctx: &Context<'_>,
    phone_number: Uuid,
    name: Option<&str>,
) -> Result<Vec<TemplateView>> {
    let (state, caller) = env(ctx)?;
    let (_, number) = state
        .app
        .resolve_phone_number(caller, &PhoneNumberRef::Id(phone_number))
        .await
        .gql()?;
    let client = read::client(state).await?;
    projections::templates::list_templates(&**client, caller.workspace_id, &number.waba_id, name)
        .await
        .map_err(internal)
}

/// The workspace's template, or NOT_FOUND.
async fn template(ctx: &Context<'_>, id: Uuid) -> Result<Template> {
    let (state, caller) = env(ctx)?;
    let client = read::client(state).await?;
    projections::templates::get_template(&**client, caller.workspace_id, id)
        .await
        .map_err(internal)?
        .map(Template::from)
        .ok_or_else(|| not_found("template"))
}

/// A customer named by E.164 or Meta's digits-only form, as a WhatsApp id.
fn customer(raw: &str) -> Result<String> {
    customer_wa_id(raw).gql()
}

/// Template and button-analytics queries.
pub struct TemplateQuery;

#[Object]
impl TemplateQuery {
    /// A page of the workspace's templates, by name then language.
    #[allow(clippy::too_many_arguments)]
    async fn templates(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this number's WABA's (our id or Meta's id).")]
        phone_number_id: Option<ID>,
        #[graphql(desc = "Only templates of this name (every language).")] name: Option<String>,
        status: Option<TemplateStatus>,
        category: Option<TemplateCategory>,
        #[graphql(desc = "Page size, 1 to 1000 (default 50).")] first: Option<i32>,
        #[graphql(desc = "The `endCursor` of the previous page.")] after: Option<String>,
    ) -> Result<TemplateConnection> {
        let limit = page_size(first)? as usize;
        let after = match after.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
            None => None,
            Some(raw) => Some(
                crate::cursor::decode_template(raw)
                    .ok_or_else(|| validation("after is not a valid cursor"))?,
            ),
        };
        let name = name.as_deref().map(str::trim).filter(|n| !n.is_empty());
        let views = match phone_number_id {
            Some(raw) => {
                let number = resolve_phone_number(ctx, &raw).await?;
                templates_of_number(ctx, number, name).await?
            }
            None => {
                let (state, caller) = env(ctx)?;
                let client = read::client(state).await?;
                projections::templates::list_workspace_templates(&**client, caller.workspace_id)
                    .await
                    .map_err(internal)?
                    .into_iter()
                    .filter(|view| name.is_none_or(|n| view.state.name == n))
                    .collect()
            }
        };
        // Templates are few per workspace (Meta caps them per WABA): filtered and paged here.
        let matching: Vec<TemplateView> = views
            .into_iter()
            .filter(|view| status.is_none_or(|s| TemplateStatus::from(view.state.status) == s))
            .filter(|view| {
                category.is_none_or(|c| TemplateCategory::from(view.state.category) == c)
            })
            .collect();
        let total_count = matching.len() as i64;
        let mut page: Vec<TemplateView> = matching
            .into_iter()
            .filter(|view| {
                after.as_ref().is_none_or(|(name, language)| {
                    (view.state.name.as_str(), view.state.language.as_str())
                        > (name.as_str(), language.as_str())
                })
            })
            .take(limit + 1)
            .collect();
        let has_next_page = page.len() > limit;
        page.truncate(limit);
        let edges: Vec<TemplateEdge> = page
            .into_iter()
            .map(|view| TemplateEdge {
                cursor: crate::cursor::encode_template(&view.state.name, &view.state.language),
                node: view.into(),
            })
            .collect();
        Ok(TemplateConnection {
            page_info: PageInfo {
                has_next_page,
                end_cursor: edges.last().map(|e| e.cursor.clone()),
            },
            edges,
            total_count,
        })
    }

    /// One template of the workspace, with its variables and analytics (NOT_FOUND otherwise).
    async fn template(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Template>> {
        let id = parse_id(&id, "template")?;
        template(ctx, id).await.map(Some)
    }

    /// A page of the workspace's button clicks, latest first, filtered.
    async fn button_clicks(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only clicks on this template's messages.")] template_id: Option<ID>,
        #[graphql(desc = "Only this customer's: E.164 or Meta's digits-only form.")]
        customer: Option<String>,
        #[graphql(desc = "Only clicks to this business number (our id or Meta's id).")]
        phone_number_id: Option<ID>,
        #[graphql(desc = "Page size, 1 to 1000 (default 50).")] first: Option<i32>,
        #[graphql(desc = "The `endCursor` of the previous page.")] after: Option<String>,
    ) -> Result<ButtonClickConnection> {
        let limit = page_size(first)?;
        let after = after_key(after)?;
        let filter = ClickFilter {
            template_id: template_id
                .map(|raw| parse_id(&raw, "template"))
                .transpose()?,
            customer_wa_id: customer
                .as_deref()
                .filter(|c| !c.trim().is_empty())
                .map(self::customer)
                .transpose()?,
            phone_number_id: match phone_number_id {
                Some(raw) => Some(resolve_phone_number(ctx, &raw).await?),
                None => None,
            },
        };
        let (state, caller) = env(ctx)?;
        let client = read::client(state).await?;
        let (clicks, total_count) = template_analytics::list_clicks(
            &**client,
            caller.workspace_id,
            &filter,
            after,
            limit + 1,
        )
        .await
        .map_err(internal)?;
        let has_next_page = clicks.len() as i64 > limit;
        let edges: Vec<ButtonClickEdge> = clicks
            .into_iter()
            .take(limit as usize)
            .map(|view| ButtonClickEdge {
                cursor: crate::cursor::encode_time(view.clicked_at, view.message_id),
                node: view.into(),
            })
            .collect();
        Ok(ButtonClickConnection {
            page_info: PageInfo {
                has_next_page,
                end_cursor: edges.last().map(|e| e.cursor.clone()),
            },
            edges,
            total_count,
        })
    }

    /// The buttons a customer (lead) clicked, per template and button.
    async fn customer_button_activity(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The customer: E.164 or Meta's digits-only form.")] customer: String,
        #[graphql(desc = "Only clicks to this business number (our id or Meta's id).")]
        phone_number_id: Option<ID>,
    ) -> Result<CustomerButtonActivity> {
        let wa_id = self::customer(&customer)?;
        let number = match phone_number_id {
            Some(raw) => Some(resolve_phone_number(ctx, &raw).await?),
            None => None,
        };
        let (state, caller) = env(ctx)?;
        let client = read::client(state).await?;
        let buttons = template_analytics::customer_button_stats(
            &**client,
            caller.workspace_id,
            &wa_id,
            number,
        )
        .await
        .map_err(internal)?;
        Ok(CustomerButtonActivity {
            customer_phone: format!("+{wa_id}"),
            total_clicks: buttons.iter().map(|b| b.clicks).sum(),
            customer_wa_id: wa_id,
            buttons_clicked: buttons
                .into_iter()
                .map(|b| CustomerButtonClicks {
                    template_id: b.template_id.map(|id| ID(id.to_string())),
                    template_name: b.template_name,
                    button_id: b.button_id,
                    button_text: b.button_text,
                    clicks: b.clicks,
                    last_clicked_at: b.last_clicked_at,
                })
                .collect(),
        })
    }
}

/// Template mutations.
pub struct TemplateMutation;

#[Object]
impl TemplateMutation {
    /// Creates a template on the number's WABA and (unless `submit` is false) submits it to
    /// Meta for review: PENDING until Meta's status webhook says APPROVED or REJECTED.
    async fn create_template(
        &self,
        ctx: &Context<'_>,
        input: CreateTemplateInput,
    ) -> Result<Template> {
        let (state, caller) = env(ctx)?;
        let template = TemplateInput {
            phone_number: PhoneNumberRef::parse(&input.phone_number_id),
            name: input.name,
            language: input.language,
            category: domain::template::TemplateCategory::from(input.category)
                .as_str()
                .to_string(),
            components: input.components.into_iter().map(|c| c.0).collect(),
            variables: variables_json(input.variables)?,
        };
        let changed = state
            .app
            .create_template(caller, template, input.submit)
            .await
            .gql()?;
        record(ctx, changed.freshness);
        Ok(Template {
            id: changed.template_id,
            state: changed.state,
        })
    }

    /// Submits a draft (or rejected) template to Meta for review.
    async fn submit_template(&self, ctx: &Context<'_>, id: ID) -> Result<Template> {
        let (state, caller) = env(ctx)?;
        let id = parse_id(&id, "template")?;
        let changed = state.app.submit_template(caller, id).await.gql()?;
        record(ctx, changed.freshness);
        Ok(Template {
            id: changed.template_id,
            state: changed.state,
        })
    }

    /// Replaces a template's components (and its variable metadata, if given); a template on
    /// Meta is edited there and reviewed again.
    async fn update_template(
        &self,
        ctx: &Context<'_>,
        id: ID,
        components: Vec<Json<Value>>,
        variables: Option<Vec<TemplateVariableInput>>,
    ) -> Result<Template> {
        let (state, caller) = env(ctx)?;
        let id = parse_id(&id, "template")?;
        let variables = variables.map(variables_json).transpose()?;
        let components = components.into_iter().map(|c| c.0).collect();
        let changed = state
            .app
            .update_template(caller, id, components, variables)
            .await
            .gql()?;
        record(ctx, changed.freshness);
        Ok(Template {
            id: changed.template_id,
            state: changed.state,
        })
    }

    /// Deletes a template (on Meta too, if it is there); returns its id.
    async fn delete_template(&self, ctx: &Context<'_>, id: ID) -> Result<ID> {
        let (state, caller) = env(ctx)?;
        let uuid = parse_id(&id, "template")?;
        let freshness = state.app.delete_template(caller, uuid).await.gql()?;
        record(ctx, freshness);
        Ok(ID(uuid.to_string()))
    }

    /// Takes over what Meta has for the number's WABA: imports the templates Parley lacks and
    /// updates those that changed.
    async fn sync_templates(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Our id or Meta's id of the business number.")] phone_number_id: ID,
    ) -> Result<TemplateSyncResult> {
        let (state, caller) = env(ctx)?;
        let number = resolve_phone_number(ctx, &phone_number_id).await?;
        let report = state
            .app
            .sync_templates(read::meta(state)?, caller, &PhoneNumberRef::Id(number))
            .await
            .gql()?;
        let count = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
        Ok(TemplateSyncResult {
            imported: count(report.imported),
            updated: count(report.updated),
            unchanged: count(report.unchanged),
            errors: report.errors,
            phone_number_id: number,
        })
    }
}

//! A number's health and Meta-side settings over GraphQL: its quality rating and messaging-limit
//! tier (fields of `PhoneNumber`), registration codes, and the business profile (seed 001's
//! limits: about ≤ 139, description ≤ 512, at most 2 websites; checked by the application).

use crate::conversations::resolve_phone_number;
use crate::error::{parse_id, OrGraphql, Result};
use crate::read::{self, env};
use crate::types::PhoneNumber;
use application::{BusinessProfileUpdate, CodeMethod as AppCodeMethod, PhoneNumberRef};
use async_graphql::{ComplexObject, Context, Enum, InputObject, Object, SimpleObject, ID};
use domain::phone_number::PhoneNumberState;

/// Meta's quality rating of a number.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "domain::phone_number::QualityRating")]
pub enum QualityRating {
    Green,
    Yellow,
    /// Running broadcasts of the number are paused.
    Red,
    /// Not rated yet.
    Unknown,
}

/// How many unique customers a number may start conversations with in 24 hours.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "domain::phone_number::MessagingLimitTier")]
pub enum MessagingLimitTier {
    #[graphql(name = "TIER_50")]
    Tier50,
    #[graphql(name = "TIER_250")]
    Tier250,
    #[graphql(name = "TIER_1K")]
    Tier1K,
    #[graphql(name = "TIER_2K")]
    Tier2K,
    #[graphql(name = "TIER_10K")]
    Tier10K,
    #[graphql(name = "TIER_100K")]
    Tier100K,
    #[graphql(name = "TIER_UNLIMITED")]
    Unlimited,
    /// Meta has not assigned one (Parley assumes the entry tier, 250).
    #[graphql(name = "TIER_NOT_SET")]
    NotSet,
}

/// How the registration code reaches the number's owner.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "application::CodeMethod")]
pub enum CodeMethod {
    Sms,
    Voice,
}

/// The number's state in the event store (the read model does not keep its health).
async fn number_state(ctx: &Context<'_>, number: &PhoneNumber) -> Result<PhoneNumberState> {
    let (state, caller) = env(ctx)?;
    let id = parse_id(&number.id, "phone number")?;
    let (_, found) = state
        .app
        .resolve_phone_number(caller, &PhoneNumberRef::Id(id))
        .await
        .gql()?;
    Ok(found)
}

#[ComplexObject]
impl PhoneNumber {
    /// Meta's quality rating (from its `phone_number_quality_update` webhooks); null until
    /// Meta rated the number.
    async fn quality_rating(&self, ctx: &Context<'_>) -> Result<Option<QualityRating>> {
        Ok(number_state(ctx, self)
            .await?
            .quality_rating
            .map(Into::into))
    }

    /// Meta's messaging-limit tier; null until Meta reported one.
    async fn messaging_limit_tier(&self, ctx: &Context<'_>) -> Result<Option<MessagingLimitTier>> {
        Ok(number_state(ctx, self)
            .await?
            .messaging_limit
            .map(Into::into))
    }
}

/// A number's WhatsApp business profile, as Meta has it.
#[derive(SimpleObject, Debug, Clone)]
pub struct BusinessProfile {
    pub about: Option<String>,
    pub address: Option<String>,
    pub description: Option<String>,
    pub email: Option<String>,
    pub profile_picture_url: Option<String>,
    pub websites: Vec<String>,
    pub vertical: Option<String>,
}

impl From<application::BusinessProfile> for BusinessProfile {
    fn from(profile: application::BusinessProfile) -> Self {
        Self {
            about: profile.about,
            address: profile.address,
            description: profile.description,
            email: profile.email,
            profile_picture_url: profile.profile_picture_url,
            websites: profile.websites,
            vertical: profile.vertical,
        }
    }
}

/// Changes to a business profile; absent fields stay as they are.
#[derive(InputObject, Debug, Default)]
pub struct BusinessProfileInput {
    /// At most 139 characters, not blank.
    pub about: Option<String>,
    /// At most 256 characters.
    pub address: Option<String>,
    /// At most 512 characters.
    pub description: Option<String>,
    /// At most 128 characters.
    pub email: Option<String>,
    /// At most 2 http(s) URLs.
    pub websites: Option<Vec<String>>,
    /// Meta's business category, e.g. RETAIL.
    pub vertical: Option<String>,
    /// A handle from Meta's resumable upload.
    pub profile_picture_handle: Option<String>,
}

/// A registration code on its way.
#[derive(SimpleObject)]
pub struct RegistrationCodeRequested {
    pub method: CodeMethod,
    pub phone_number: PhoneNumber,
}

/// Business-profile queries.
pub struct PhoneHealthQuery;

#[Object]
impl PhoneHealthQuery {
    /// The number's business profile, read from Meta.
    async fn business_profile(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Our id or Meta's id of the business number.")] phone_number_id: ID,
    ) -> Result<BusinessProfile> {
        let (state, caller) = env(ctx)?;
        let number = resolve_phone_number(ctx, &phone_number_id).await?;
        let profile = state
            .app
            .business_profile(read::meta(state)?, caller, &PhoneNumberRef::Id(number))
            .await
            .gql()?;
        Ok(profile.into())
    }
}

/// Registration-code, business-profile and health mutations.
pub struct PhoneHealthMutation;

#[Object]
impl PhoneHealthMutation {
    /// Asks Meta to send the number's registration code by SMS or voice call.
    async fn request_registration_code(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Our id or Meta's id of the business number.")] phone_number_id: ID,
        #[graphql(default_with = "CodeMethod::Sms")] method: CodeMethod,
        #[graphql(default = "en_US", desc = "The language of the message, e.g. en_US.")]
        language: String,
    ) -> Result<RegistrationCodeRequested> {
        let (state, caller) = env(ctx)?;
        let number = resolve_phone_number(ctx, &phone_number_id).await?;
        state
            .app
            .request_registration_code(
                read::meta(state)?,
                caller,
                &PhoneNumberRef::Id(number),
                AppCodeMethod::from(method),
                &language,
            )
            .await
            .gql()?;
        Ok(RegistrationCodeRequested {
            method,
            phone_number: read::phone_number(ctx, number).await?,
        })
    }

    /// Sends Meta the 6-digit code the owner received; on success the number is VERIFIED.
    async fn verify_registration_code(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Our id or Meta's id of the business number.")] phone_number_id: ID,
        code: String,
    ) -> Result<PhoneNumber> {
        let (state, caller) = env(ctx)?;
        let number = resolve_phone_number(ctx, &phone_number_id).await?;
        state
            .app
            .verify_registration_code(
                read::meta(state)?,
                caller,
                &PhoneNumberRef::Id(number),
                &code,
            )
            .await
            .gql()?;
        read::phone_number(ctx, number).await
    }

    /// Changes the given fields of the number's business profile on Meta and returns the
    /// profile as Meta then has it.
    async fn update_business_profile(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Our id or Meta's id of the business number.")] phone_number_id: ID,
        input: BusinessProfileInput,
    ) -> Result<BusinessProfile> {
        let (state, caller) = env(ctx)?;
        let number = resolve_phone_number(ctx, &phone_number_id).await?;
        let reference = PhoneNumberRef::Id(number);
        let meta = read::meta(state)?;
        let update = BusinessProfileUpdate {
            about: input.about,
            address: input.address,
            description: input.description,
            email: input.email,
            websites: input.websites,
            vertical: input.vertical,
            profile_picture_handle: input.profile_picture_handle,
        };
        state
            .app
            .update_business_profile(meta, caller, &reference, update)
            .await
            .gql()?;
        let profile = state
            .app
            .business_profile(meta, caller, &reference)
            .await
            .gql()?;
        Ok(profile.into())
    }

    /// Asks Meta for the number's quality rating and messaging-limit tier and records them
    /// (a drop to RED pauses its running broadcasts).
    async fn refresh_phone_number_health(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Our id or Meta's id of the business number.")] phone_number_id: ID,
    ) -> Result<PhoneNumber> {
        let (state, caller) = env(ctx)?;
        let number = resolve_phone_number(ctx, &phone_number_id).await?;
        state
            .app
            .refresh_phone_number_health(read::meta(state)?, caller, &PhoneNumberRef::Id(number))
            .await
            .gql()?;
        read::phone_number(ctx, number).await
    }
}

//! Parley's GraphQL surface at `/graphql` (GraphiQL on GET): the read models as queries, every
//! command as a mutation. Errors carry the same codes as REST in `extensions.code`.

use api::auth::{authenticate, AuthFailure};
use api::AppState;
use application::RequestContext;
use async_graphql::http::GraphiQLSource;
use async_graphql::{Context, EmptySubscription, Object, Schema, SimpleObject};
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// The schema type.
pub type ParleySchema = Schema<QueryRoot, MutationRoot, EmptySubscription>;

/// Builds the schema (no per-request data; the caller is added per request).
pub fn schema(state: AppState) -> ParleySchema {
    Schema::build(QueryRoot, MutationRoot, EmptySubscription)
        .data(state)
        .finish()
}

/// The SDL, as exported to `schema/graphql/schema.graphql`.
pub fn sdl() -> String {
    Schema::build(QueryRoot, MutationRoot, EmptySubscription)
        .finish()
        .sdl()
}

/// `/graphql`: GraphiQL on GET, queries and mutations on POST.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/graphql", get(graphiql).post(execute))
        .with_state(state)
}

async fn graphiql() -> Html<String> {
    Html(GraphiQLSource::build().endpoint("/graphql").finish())
}

struct Authenticated(Result<RequestContext, AuthFailure>);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(authenticate(parts, state).await))
    }
}

async fn execute(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    request: async_graphql_axum::GraphQLRequest,
) -> Response {
    let caller = match caller {
        Ok(caller) => caller,
        Err(failure) => {
            let status = match failure {
                AuthFailure::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::UNAUTHORIZED,
            };
            let body = serde_json::json!({
                "data": null,
                "errors": [{ "message": failure.message(), "extensions": { "code": "UNAUTHORIZED" } }],
            });
            return (status, axum::Json(body)).into_response();
        }
    };
    let schema = schema(state);
    let response = schema.execute(request.into_inner().data(caller)).await;
    async_graphql_axum::GraphQLResponse::from(response).into_response()
}

/// A WhatsApp business phone number of the workspace.
#[derive(SimpleObject)]
pub struct PhoneNumber {
    pub id: String,
    pub phone_number_id: String,
    pub waba_id: String,
    pub display_phone_number: String,
    pub display_name: Option<String>,
    pub verified_name: Option<String>,
    pub status: String,
}

/// Queries.
pub struct QueryRoot;

#[Object]
impl QueryRoot {
    /// The workspace's phone numbers.
    async fn phone_numbers(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<PhoneNumber>> {
        let state = ctx.data::<AppState>()?;
        let caller = ctx.data::<RequestContext>()?;
        let client = state
            .queries
            .get()
            .await
            .map_err(|e| async_graphql::Error::new(e.to_string()))?;
        let numbers = projections::phone_numbers::list(&**client, caller.workspace_id)
            .await
            .map_err(|e| async_graphql::Error::new(e.to_string()))?;
        Ok(numbers
            .into_iter()
            .map(|n| PhoneNumber {
                id: n.id.to_string(),
                phone_number_id: n.phone_number_id,
                waba_id: n.waba_id,
                display_phone_number: n.display_phone_number,
                display_name: n.display_name,
                verified_name: n.verified_name,
                status: n.status,
            })
            .collect())
    }
}

/// Mutations.
pub struct MutationRoot;

#[Object]
impl MutationRoot {
    /// Removes a phone number from the workspace.
    async fn remove_phone_number(
        &self,
        ctx: &Context<'_>,
        id: String,
    ) -> async_graphql::Result<bool> {
        let state = ctx.data::<AppState>()?;
        let caller = ctx.data::<RequestContext>()?;
        let id = uuid::Uuid::parse_str(&id)
            .map_err(|_| async_graphql::Error::new("phone number not found"))?;
        state
            .app
            .remove_phone_number(caller, id)
            .await
            .map_err(|e| async_graphql::Error::new(e.to_string()))?;
        Ok(true)
    }
}

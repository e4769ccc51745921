//! Parley's GraphQL surface at `/graphql` (GraphiQL on GET): the read models as queries, every
//! command as a mutation. Errors carry the same codes as REST in `extensions.code`.
//!
//! Every resolver is scoped to the caller's workspace (`RequestContext` in the request data);
//! an id of another workspace is NOT_FOUND. The SDL is exported to `schema/graphql/schema.graphql`
//! ([`sdl`]); a test keeps the two in step.

pub mod cursor;
pub mod error;
pub mod mutation;
pub mod query;
pub mod read;
pub mod types;

pub use error::app_error;
pub use mutation::MutationRoot;
pub use query::QueryRoot;

use api::auth::{authenticate, AuthFailure};
use api::AppState;
use application::RequestContext;
use async_graphql::http::GraphiQLSource;
use async_graphql::{EmptySubscription, Schema};
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};

/// The schema type.
pub type ParleySchema = Schema<QueryRoot, MutationRoot, EmptySubscription>;

/// Where the exported SDL lives, relative to the workspace root.
pub const SDL_PATH: &str = "schema/graphql/schema.graphql";

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
    let schema = schema(state.clone());
    Router::new()
        .route("/graphql", get(graphiql).post(execute))
        .layer(Extension(schema))
        .with_state(state)
}

/// Whether the query or its variables hold a NUL character, which PostgreSQL text cannot store;
/// refused up front like REST does, rather than failing at the database.
fn carries_nul(request: &async_graphql::Request) -> bool {
    fn in_json(value: &serde_json::Value) -> bool {
        match value {
            serde_json::Value::String(text) => text.contains('\0'),
            serde_json::Value::Array(items) => items.iter().any(in_json),
            serde_json::Value::Object(fields) => {
                fields.iter().any(|(key, value)| key.contains('\0') || in_json(value))
            }
            _ => false,
        }
    }
    // In the query text a NUL can only arrive escaped (`\u0000` or `\u{0}`).
    request.query.contains('\0')
        || request.query.contains("\\u0000")
        || request.query.contains("\\u{0}")
        || serde_json::to_value(&request.variables).is_ok_and(|vars| in_json(&vars))
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
    Extension(schema): Extension<ParleySchema>,
    State(_state): State<AppState>,
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
    let request = request.into_inner();
    if carries_nul(&request) {
        let body = serde_json::json!({
            "data": null,
            "errors": [{
                "message": "Strings must not contain NUL (\\u0000) characters",
                "extensions": { "code": "VALIDATION_ERROR" },
            }],
        });
        return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
    }
    let response = schema.execute(request.data(caller)).await;
    async_graphql_axum::GraphQLResponse::from(response).into_response()
}

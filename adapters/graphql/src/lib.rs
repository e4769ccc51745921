//! Parley's GraphQL surface at `/graphql` (GraphiQL on GET): the read models as queries, every
//! command as a mutation, message events as subscriptions over WebSocket on the same path.
//! Errors carry the same codes as REST in `extensions.code`.
//!
//! Every resolver is scoped to the caller's workspace (`RequestContext` in the request data, or
//! in the connection data for WebSocket subscriptions); an id of another workspace is NOT_FOUND.
//! The SDL is exported to `schema/graphql/schema.graphql` ([`sdl`]); a test keeps the two in step.

pub mod broadcasts;
pub mod conversation_types;
pub mod conversations;
pub mod cursor;
pub mod error;
pub mod event_history;
pub mod mutation;
pub mod phone_health;
pub mod query;
pub mod read;
pub mod subscription;
pub mod templates;
pub mod types;
pub mod webhooks;

pub use error::app_error;
pub use subscription::SubscriptionRoot;

use api::auth::{authenticate, AuthFailure};
use api::AppState;
use application::RequestContext;
use async_graphql::http::{GraphiQLSource, ALL_WEBSOCKET_PROTOCOLS};
use async_graphql::{MergedObject, Schema};
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};

/// Every query: numbers and contacts, conversations and messages, templates and their
/// analytics, broadcasts, business profiles, webhook endpoints and their delivery logs, and any
/// aggregate's event history.
#[derive(MergedObject)]
pub struct QueryRoot(
    query::ContactQuery,
    conversations::ConversationQuery,
    templates::TemplateQuery,
    broadcasts::BroadcastQuery,
    phone_health::PhoneHealthQuery,
    event_history::EventHistoryQuery,
    webhooks::WebhookQuery,
);

/// Every mutation: numbers and contacts, conversations and messages, templates, broadcasts,
/// registration codes and business profiles, integrators' webhook endpoints.
#[derive(MergedObject)]
pub struct MutationRoot(
    mutation::ContactMutation,
    conversations::ConversationMutation,
    templates::TemplateMutation,
    broadcasts::BroadcastMutation,
    phone_health::PhoneHealthMutation,
    webhooks::WebhookMutation,
);

/// The schema type.
pub type ParleySchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// Where the exported SDL lives, relative to the workspace root.
pub const SDL_PATH: &str = "schema/graphql/schema.graphql";

fn builder() -> async_graphql::SchemaBuilder<QueryRoot, MutationRoot, SubscriptionRoot> {
    Schema::build(
        QueryRoot(
            query::ContactQuery,
            conversations::ConversationQuery,
            templates::TemplateQuery,
            broadcasts::BroadcastQuery,
            phone_health::PhoneHealthQuery,
            event_history::EventHistoryQuery,
            webhooks::WebhookQuery,
        ),
        MutationRoot(
            mutation::ContactMutation,
            conversations::ConversationMutation,
            templates::TemplateMutation,
            broadcasts::BroadcastMutation,
            phone_health::PhoneHealthMutation,
            webhooks::WebhookMutation,
        ),
        SubscriptionRoot,
    )
}

/// Builds the schema (no per-request data; the caller is added per request or connection).
pub fn schema(state: AppState) -> ParleySchema {
    builder().data(state).finish()
}

/// The SDL, as exported to `schema/graphql/schema.graphql`.
pub fn sdl() -> String {
    builder().finish().sdl()
}

/// `/graphql`: GraphiQL on GET, queries and mutations on POST, subscriptions over a WebSocket
/// upgrade of GET.
pub fn router(state: AppState) -> Router {
    let schema = schema(state.clone());
    Router::new()
        .route("/graphql", get(get_graphql).post(execute))
        .layer(Extension(schema))
        .with_state(state)
}

/// Whether the query or its variables hold a NUL character, which PostgreSQL text cannot store;
/// refused up front like REST does, rather than failing at the database.
fn carries_nul(request: &async_graphql::Request) -> bool {
    // In the query text a NUL can only arrive escaped (`\u0000` or `\u{0}`).
    request.query.contains('\0')
        || request.query.contains("\\u0000")
        || request.query.contains("\\u{0}")
        || serde_json::to_value(&request.variables)
            .is_ok_and(|vars| application::contains_nul(&vars))
}

async fn graphiql() -> Html<String> {
    Html(
        GraphiQLSource::build()
            .endpoint("/graphql")
            .subscription_endpoint("/graphql")
            .finish(),
    )
}

/// GET `/graphql`: a WebSocket upgrade serves subscriptions (graphql-ws protocols, the caller
/// authenticated in `connection_init`); anything else gets GraphiQL.
async fn get_graphql(
    Extension(schema): Extension<ParleySchema>,
    State(state): State<AppState>,
    request: Request,
) -> Response {
    let (mut parts, _body) = request.into_parts();
    let upgrade_requested = parts
        .headers
        .get(header::UPGRADE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.eq_ignore_ascii_case("websocket"));
    if !upgrade_requested {
        return graphiql().await.into_response();
    }
    let protocol = match GraphQLProtocol::from_request_parts(&mut parts, &state).await {
        Ok(protocol) => protocol,
        Err(rejection) => return rejection.into_response(),
    };
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &state).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| {
            GraphQLWebSocket::new(socket, schema, protocol)
                .on_connection_init(move |payload| subscription::connection_init(state, payload))
                .serve()
        })
        .into_response()
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

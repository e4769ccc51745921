//! Black-box API tests: real PostgreSQL, real HTTP. One binary, a module per feature.

mod bad_input;
mod broadcasts;
mod broadcasts_projection;
mod cli;
mod cli_broadcasts;
mod cli_events;
mod cli_integrator_webhooks;
mod cli_support;
mod contacts;
mod conversations_projection;
mod graphql;
mod graphql_broadcasts;
mod graphql_conversations;
mod graphql_event_history;
mod integrator_webhooks;
mod messages_rest;
mod messaging;
mod meta_fixtures;
mod openapi;
mod outbox_backoff;
mod phone_numbers;
mod projector;
mod rate_limits;
mod redoable;
mod tenancy;

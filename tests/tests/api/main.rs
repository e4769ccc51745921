//! Black-box API tests: real PostgreSQL, real HTTP. One binary, a module per feature.

mod bad_input;
mod cli;
mod contacts;
mod graphql;
mod messaging;
mod openapi;
mod phone_numbers;
mod projector;
mod tenancy;

//! Tests: graphql.

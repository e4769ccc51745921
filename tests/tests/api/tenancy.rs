//! Tests: tenancy.

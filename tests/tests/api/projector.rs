//! Tests: projector.

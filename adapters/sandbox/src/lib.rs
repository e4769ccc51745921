//! The Meta sandbox.

//! Tests: phone_numbers.

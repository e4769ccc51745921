//! Black-box API tests: real PostgreSQL, real HTTP. One binary, a module per feature.

mod contacts;

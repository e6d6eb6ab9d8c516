//! Integration tests of `bot-core` through its public API.

mod numbers;

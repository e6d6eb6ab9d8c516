//! Integration tests of `bot-core` through its public API.

mod interpret;
mod numbers;
mod providers;
mod sim;
mod store;

//! Integration tests of `bot-core` through its public API.

mod bounds;
mod conversation;
mod engine;
mod http_server;
mod interpret;
mod numbers;
mod providers;
mod push;
mod sim;
mod store;

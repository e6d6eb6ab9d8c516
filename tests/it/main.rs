//! Integration tests of the workspace as a whole: project rules, the CLI contract, the
//! live bot, and what survives a crash.

mod cli;
mod console;
mod crash;
mod live;
mod tidy;

//! Integration tests of the workspace as a whole: project rules and the CLI contract.

mod cli;
mod console;
mod live;
mod tidy;

//! Integration tests of the workspace as a whole: project rules, the CLI contract, the
//! live binary and several instances of it.

mod cli;
mod console;
mod live;
mod scale;
mod tidy;

//! Integration tests of the workspace as a whole: project rules, the CLI contract, the
//! live binary and several instances of it, and what survives a crash.

mod cli;
mod console;
mod crash;
mod live;
mod scale;
mod tidy;

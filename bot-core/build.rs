//! Rebuilds the crate when a migration changes, so `sqlx::migrate!` embeds new files, and
//! trains the event-stage model from the corpus's `train` side (deterministically: the
//! same corpus gives the same bytes), which `interpret::classify` embeds.

use std::path::PathBuf;

#[allow(dead_code)]
#[path = "src/interpret/learn.rs"]
mod learn;

fn main() {
    println!("cargo:rerun-if-changed=../migrations");
    println!("cargo:rerun-if-changed=data/events/train.tsv");
    println!("cargo:rerun-if-changed=src/interpret/learn.rs");
    let train = std::fs::read_to_string("data/events/train.tsv")
        .unwrap_or_else(|error| panic!("reading data/events/train.tsv: {error}"));
    let examples = learn::read_examples(&train);
    assert!(!examples.is_empty(), "data/events/train.tsv has no usable rows");
    let model = learn::train(&examples, &learn::Params::default());
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_else(|| panic!("cargo sets OUT_DIR")));
    std::fs::write(out_dir.join("stage_model.bin"), model.to_bytes())
        .unwrap_or_else(|error| panic!("writing the stage model: {error}"));
}

//! Tidy checks of the project's own rules, read from the source tree.

use std::path::{Path, PathBuf};

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if name == "target" || name.to_string_lossy().starts_with('.') {
            continue;
        }
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// Architecture invariant: the core knows no chat platform.
#[test]
fn bot_core_depends_on_no_chat_library() {
    let manifest =
        std::fs::read_to_string(workspace_root().join("bot-core/Cargo.toml")).expect("bot-core manifest");
    for library in ["teloxide", "serenity", "poise", "twilight"] {
        assert!(
            !manifest
                .lines()
                .any(|line| line.trim_start().starts_with(library)),
            "bot-core/Cargo.toml depends on {library}: chat libraries belong in the adapters"
        );
    }
}

/// Every Rust file opens with a `//!` comment saying what it is for.
#[test]
fn every_rust_file_has_a_module_doc() {
    let mut files = Vec::new();
    for dir in ["src", "bot-core", "telegram", "discord", "tests"] {
        rust_files(&workspace_root().join(dir), &mut files);
    }
    assert!(files.len() > 10, "found only {} Rust files", files.len());
    let missing: Vec<String> = files
        .iter()
        .filter(|path| {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            !text.trim_start().starts_with("//!")
        })
        .map(|path| path.display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "files without a //! doc comment:\n{}",
        missing.join("\n")
    );
}

/// The product reads nothing from the shared team folder at build or run time.
#[test]
fn nothing_reads_the_shared_folder() {
    let mut files = Vec::new();
    for dir in ["src", "bot-core", "telegram", "discord"] {
        rust_files(&workspace_root().join(dir), &mut files);
    }
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            !text.contains("../shared") && !text.contains("../../shared"),
            "{} refers to ../shared",
            path.display()
        );
    }
}

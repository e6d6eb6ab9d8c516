//! `parcelbot`: the composition root and only binary of the parcel bot.
//!
//! It reads the configuration, sets up logging, and dispatches to a subcommand. All
//! behaviour lives in `bot-core` and the chat adapters; this file only wires (and holds
//! the console adapter, [`console`]).

mod console;
mod live;

use std::io::{BufRead, Write};
use std::path::PathBuf;

use anyhow::Context;
use bot_core::clock::{Clock, SystemClock};
use bot_core::interpret::classify::{Strategy, classify, stage_model};
use bot_core::interpret::evaluate::{coverage, cross_validate, evaluate, read_corpus};
use bot_core::interpret::learn::Params;
use bot_core::interpret::{AssessInput, Assessment, assess};
use bot_core::number::{Found, TrackingNumber, TrackingNumberError, recognise_in};
use bot_core::provider::Providers;
use bot_core::settings::{LogFormat, Settings};
use bot_core::track::{SourceReport, TrackError, track_once};
use clap::{Parser, Subcommand};

/// A chat bot that follows AliExpress parcels.
#[derive(Debug, Parser)]
#[command(name = "parcelbot", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Recognise tracking numbers: format, carrier, check digit, typo repair.
    ///
    /// Each argument (or, with none, each line of standard input) is one input; every
    /// number found in it gives one line of output.
    Number {
        /// Print one JSON object per number instead of a sentence.
        #[arg(long)]
        json: bool,
        /// Inputs; standard input is read line by line when none is given.
        inputs: Vec<String>,
    },
    /// Classify event texts into stages: reads `text` or `text<TAB>lang` lines from stdin;
    /// or measure the classifier on a labelled corpus file.
    Classify {
        /// Print `{"stage": "<code>"}` per line instead of `<code><TAB><text>`.
        #[arg(long)]
        json: bool,
        /// Measure the built-in classifier on this labelled TSV (the corpus format of
        /// `bot-core/data/events/`): accuracy overall, per language, stage and source,
        /// the share with no stage, and the 20 commonest confusions.
        #[arg(long, value_name = "TSV", conflicts_with = "cv")]
        eval: Option<PathBuf>,
        /// Cross-validate by source on this labelled TSV (meant for `train.tsv`): each
        /// fold of sources is classified by a model trained on the others.
        #[arg(long, value_name = "TSV")]
        cv: Option<PathBuf>,
        /// How many folds `--cv` deals the sources into.
        #[arg(long, default_value_t = 5, requires = "cv")]
        folds: usize,
        /// How rules and model are combined, for comparison (`--eval`, `--cv`).
        #[arg(long, value_enum, default_value_t = StrategyArg::KnownFirst)]
        strategy: StrategyArg,
        /// Also list every row got wrong (never use it on `validation.tsv`: rules written
        /// after reading its misses would make it training data).
        #[arg(long)]
        misses: bool,
    },
    /// Judge one parcel: reads one JSON case from stdin (number, now, events, ...).
    Assess {
        /// Print the assessment as JSON instead of its summary.
        #[arg(long)]
        json: bool,
    },
    /// Track one number now: ask the configured providers, follow a handoff, judge it.
    ///
    /// Prints the same assessment as `assess`; exits non-zero when no provider could be
    /// reached.
    Track {
        /// Print the assessment as JSON (the shape `assess --json` prints).
        #[arg(long)]
        json: bool,
        /// The tracking number.
        number: String,
    },
    /// The live bot: the engine and every chat adapter whose token is set
    /// (`TELEGRAM_BOT_TOKEN`), until Ctrl-C (what `cargo run` starts when a token is set).
    Run,
    /// The chat in this terminal, with the simulated carrier and simulated time (what
    /// `cargo run` starts when no chat token is set).
    Console {
        /// Run this transcript (one input per line, `/wait 3d` allowed, `#` comments)
        /// and print every reply and proactive message, instead of reading the keyboard.
        #[arg(long)]
        script: Option<PathBuf>,
        /// Simulated time to start at (RFC 3339), for reproducible transcripts.
        #[arg(long)]
        start: Option<chrono::DateTime<chrono::Utc>>,
    },
}

/// `classify --strategy`: how rules and model are combined.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum StrategyArg {
    /// The rules, then the model where no rule fits.
    RulesFirst,
    /// The rules of the trap stages, then the model, then the other rules.
    TrapsFirst,
    /// The model alone.
    ModelOnly,
    /// The rules alone.
    RulesOnly,
    /// The model where it is 95% sure, else the rules, else the model.
    Confident,
    /// A wording seen in training as taught, else the rules, else the model (what the
    /// bot does).
    KnownFirst,
}

impl From<StrategyArg> for Strategy {
    fn from(argument: StrategyArg) -> Strategy {
        match argument {
            StrategyArg::RulesFirst => Strategy::RulesFirst,
            StrategyArg::TrapsFirst => Strategy::TrapsFirst,
            StrategyArg::ModelOnly => Strategy::ModelOnly,
            StrategyArg::RulesOnly => Strategy::RulesOnly,
            StrategyArg::Confident => Strategy::Confident(950),
            StrategyArg::KnownFirst => Strategy::KnownFirst,
        }
    }
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("parcelbot: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = Settings::load().context("loading configuration")?;
    init_logging(settings.log_format);
    tracing::debug!(data_dir = %settings.data_dir.display(), database = %settings.database.redacted(), "configuration loaded");
    match cli.command {
        Some(Command::Number { json, inputs }) => number_command(json, inputs),
        Some(Command::Classify {
            json,
            eval,
            cv,
            folds,
            strategy,
            misses,
        }) => match (eval, cv) {
            (Some(path), _) => evaluate_command(&path, None, strategy.into(), misses),
            (None, Some(path)) => evaluate_command(&path, Some(folds), strategy.into(), misses),
            (None, None) => classify_command(json),
        },
        Some(Command::Assess { json }) => assess_command(json),
        Some(Command::Track { json, number }) => track_command(&settings, json, &number),
        Some(Command::Console { script, start }) => console::run(&settings, script.as_deref(), start),
        Some(Command::Run) => live::run(&settings, live::Tokens::from_env()),
        None => default_run(&settings),
    }
}

/// Logs to standard error at the level of `RUST_LOG` (default: warn), as text or as
/// one JSON object per line (`log.format`), spans included (an HTTP request's id).
fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
}

fn number_command(json: bool, inputs: Vec<String>) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if inputs.is_empty() {
        for_each_line(std::io::stdin().lock(), |line| {
            print_numbers(&mut out, line, json)
        })?;
    } else {
        for input in &inputs {
            print_numbers(&mut out, input, json)?;
        }
    }
    Ok(())
}

fn print_numbers(out: &mut impl Write, input: &str, json: bool) -> anyhow::Result<()> {
    for Found { span, recognition } in recognise_in(input) {
        if json {
            // Each number reports its own slice of the input, so the output grows with
            // the input, not with the input times the numbers in it.
            let slice = input.get(span).unwrap_or(input);
            let line = serde_json::to_string(&recognition.report(slice)).context("encoding JSON")?;
            writeln!(out, "{line}")?;
        } else {
            writeln!(out, "{}", recognition.note())?;
        }
    }
    Ok(())
}

fn classify_command(json: bool) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for_each_line(std::io::stdin().lock(), |line| {
        // The optional language after a tab is informative only: the rules read every
        // language at once.
        let text = line.split('\t').next().unwrap_or_default();
        let stage = classify(None, text).without_context(text);
        if json {
            writeln!(out, "{}", serde_json::json!({ "stage": stage }))?;
        } else {
            let code = stage.map_or("unknown", |s| s.as_code());
            writeln!(out, "{code}\t{text}")?;
        }
        Ok(())
    })
}

/// Calls `each` with every line of `input` (without its line ending). A line that is
/// not valid UTF-8 is reported on standard error with its number and skipped: one bad
/// byte must not cost the rest of a batch.
///
/// # Errors
/// When reading fails, or when `each` fails.
fn for_each_line(
    mut input: impl BufRead,
    mut each: impl FnMut(&str) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut bytes = Vec::new();
    let mut number = 0_u64;
    loop {
        bytes.clear();
        if input
            .read_until(b'\n', &mut bytes)
            .context("reading standard input")?
            == 0
        {
            return Ok(());
        }
        number += 1;
        let line = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        match std::str::from_utf8(line) {
            Ok(line) => each(line)?,
            Err(error) => eprintln!(
                "parcelbot: line {number} skipped: not valid UTF-8 (byte {} of the line)",
                error.valid_up_to() + 1
            ),
        }
    }
}

/// `classify --eval` and `classify --cv`: the report of [`evaluate`] or [`cross_validate`].
fn evaluate_command(
    path: &std::path::Path,
    folds: Option<usize>,
    strategy: Strategy,
    misses: bool,
) -> anyhow::Result<()> {
    let tsv = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let rows = read_corpus(&tsv).with_context(|| format!("reading the corpus in {}", path.display()))?;
    let (sources, languages, carriers) = coverage(&rows);
    let report = match folds {
        Some(folds) => cross_validate(strategy, &rows, folds, &Params::default()),
        None => evaluate(strategy, stage_model(), &rows),
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    writeln!(
        out,
        "{}: {} rows from {sources} sources, {carriers} carriers, {languages} languages{}",
        path.display(),
        rows.len(),
        folds.map_or(String::new(), |folds| format!(
            ", cross-validated by source in {folds} folds"
        )),
    )?;
    write!(out, "{report}")?;
    if misses {
        writeln!(out, "misses:")?;
        for (row, got) in &report.misses {
            let got = got.map_or("no stage", |stage| stage.as_code());
            writeln!(
                out,
                "  {} -> {got}\t{}\t{}\t{}",
                row.stage.as_code(),
                row.text,
                row.lang,
                row.carrier
            )?;
        }
    }
    Ok(())
}

/// The largest `assess` case read (about a million events).
const MAX_ASSESS_BYTES: u64 = 256 << 20;

fn assess_command(json: bool) -> anyhow::Result<()> {
    let mut input = Vec::new();
    std::io::Read::read_to_end(
        &mut std::io::Read::take(std::io::stdin().lock(), MAX_ASSESS_BYTES + 1),
        &mut input,
    )
    .context("reading standard input")?;
    if input.len() as u64 > MAX_ASSESS_BYTES {
        anyhow::bail!(
            "the case is larger than {} MiB; give fewer events",
            MAX_ASSESS_BYTES >> 20
        );
    }
    let case: AssessInput = serde_json::from_slice(&input)
        .context("reading the case: expected JSON with number, now and events")?;
    let stdout = std::io::stdout();
    print_assessment(&mut stdout.lock(), &assess(case), json)
}

/// The assessment as `assess` and `track` print it: JSON, or its summary.
fn print_assessment(out: &mut impl Write, assessment: &Assessment, json: bool) -> anyhow::Result<()> {
    if json {
        writeln!(
            out,
            "{}",
            serde_json::to_string(assessment).context("encoding JSON")?
        )?;
    } else {
        writeln!(out, "{}", assessment.summary)?;
    }
    Ok(())
}

fn track_command(settings: &Settings, json: bool, input: &str) -> anyhow::Result<()> {
    let number = TrackingNumber::parse(input).map_err(|error| match error {
        TrackingNumberError::Invalid { number, suggestions } if !suggestions.is_empty() => anyhow::anyhow!(
            "{number} does not pass its check digit; did you mean {}?",
            suggestions.join(" or ")
        ),
        other => anyhow::anyhow!("{input:?}: {other}"),
    })?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let clock = SystemClock;
    let providers = Providers::from_settings(&settings.providers, clock).context("setting up providers")?;
    tracing::info!(providers = ?providers.names(), "tracking");
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if !number.is_known_format() && !json {
        writeln!(
            out,
            "{} has a shape I do not know; asking the sources that detect the carrier themselves.",
            number.as_str()
        )?;
    }
    let report = match runtime.block_on(track_once(&providers, &number, None, clock.now())) {
        Ok(report) => report,
        Err(TrackError::Unreachable(results)) => {
            // No source answered: no verdict, but every source's failure is said.
            for source in SourceReport::of(&results) {
                eprintln!("  {}", source.line());
            }
            anyhow::bail!("tracking failed: {}", TrackError::Unreachable(results));
        }
        Err(other) => return Err(other).context("tracking failed"),
    };
    let sources = report.sources();
    if json {
        let mut value = serde_json::to_value(&report.assessment).context("encoding JSON")?;
        if let Some(object) = value.as_object_mut() {
            object.insert(
                "sources".to_owned(),
                serde_json::to_value(&sources).context("encoding JSON")?,
            );
        }
        writeln!(out, "{value}")?;
    } else {
        print_assessment(&mut out, &report.assessment, false)?;
        for source in &sources {
            writeln!(out, "  {}", source.line())?;
        }
    }
    Ok(())
}

/// `cargo run`: the live bot when a chat token is set, else the console chat.
fn default_run(settings: &Settings) -> anyhow::Result<()> {
    let tokens = live::Tokens::from_env();
    if tokens.any() {
        live::run(settings, tokens)
    } else {
        console::run(settings, None, None)
    }
}

//! Measuring text classification on the labelled corpus (`bot-core/data/events/`):
//! accuracy overall and per language, stage and source, the share left without a stage,
//! and the commonest confusions; and cross-validation by source over the `train` side,
//! which is how the rules and the model's settings are chosen without reading
//! `validation`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::Stage;
use super::classify::{Classification, Strategy, classify_by};
use super::learn::{self, Example, Model, Params, Side};

/// One labelled row of the corpus.
#[derive(Debug, Clone)]
pub struct CorpusRow {
    /// The carrier's text, as written.
    pub text: String,
    /// Its language (ISO 639-1).
    pub lang: String,
    /// Who wrote it.
    pub carrier: String,
    /// The stage it means.
    pub stage: Stage,
    /// The side of the border, when the corpus says.
    pub side: Option<Side>,
    /// Where it was found (repository and path, or URL).
    pub source: String,
}

impl CorpusRow {
    /// The source the split is made by: the repository or the web site, since files of
    /// one repository share their wording.
    pub fn source_group(&self) -> String {
        source_group(&self.source)
    }
}

/// The repository (`github:owner/repo`) or web site a source belongs to.
pub fn source_group(source: &str) -> String {
    let source = source.trim();
    if let Some(rest) = source.strip_prefix("github:") {
        let mut parts = rest.split('/');
        if let (Some(owner), Some(repo)) = (parts.next(), parts.next()) {
            let repo = repo.split('@').next().unwrap_or(repo);
            return format!("github:{owner}/{repo}");
        }
    }
    if let Some((_, rest)) = source.split_once("://") {
        let host = rest.split('/').next().unwrap_or(rest);
        return host.trim_start_matches("www.").to_owned();
    }
    source.to_owned()
}

/// Why a corpus file cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    /// The header lacks a column the evaluation needs.
    #[error("the header has no {0:?} column")]
    MissingColumn(&'static str),
    /// A row names a stage that is not one of the codes.
    #[error("line {line}: {stage:?} is not a stage code")]
    UnknownStage {
        /// The line number (1 is the header).
        line: usize,
        /// What the row says.
        stage: String,
    },
    /// A row has fewer cells than the header.
    #[error("line {line}: {cells} cells, the header has more")]
    ShortRow {
        /// The line number.
        line: usize,
        /// How many cells it has.
        cells: usize,
    },
}

/// Reads a corpus TSV with a header (`text`, `lang`, `carrier`, `stage`, and optionally
/// `side` and `source`).
///
/// # Errors
/// A missing column, a row with too few cells or an unknown stage code.
pub fn read_corpus(tsv: &str) -> Result<Vec<CorpusRow>, CorpusError> {
    let mut lines = tsv.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split('\t').collect();
    let position = |name: &'static str| {
        header
            .iter()
            .position(|column| *column == name)
            .ok_or(CorpusError::MissingColumn(name))
    };
    let text_at = position("text")?;
    let lang_at = position("lang")?;
    let carrier_at = position("carrier")?;
    let stage_at = position("stage")?;
    let side_at = position("side").ok();
    let source_at = position("source").ok();
    let needed = [text_at, lang_at, carrier_at, stage_at]
        .into_iter()
        .max()
        .unwrap_or(0);
    let mut rows = Vec::new();
    for (index, line) in lines.enumerate() {
        let line_number = index + 2;
        if line.trim().is_empty() {
            continue;
        }
        let cells: Vec<&str> = line.split('\t').collect();
        if cells.len() <= needed {
            return Err(CorpusError::ShortRow {
                line: line_number,
                cells: cells.len(),
            });
        }
        let stage = Stage::from_code(cells[stage_at].trim()).ok_or_else(|| CorpusError::UnknownStage {
            line: line_number,
            stage: cells[stage_at].to_owned(),
        })?;
        let cell = |at: Option<usize>| at.and_then(|at| cells.get(at)).map_or("", |value| value.trim());
        rows.push(CorpusRow {
            text: cells[text_at].to_owned(),
            lang: cells[lang_at].trim().to_owned(),
            carrier: cells[carrier_at].trim().to_owned(),
            stage,
            side: Side::from_column(cell(side_at)),
            source: cell(source_at).to_owned(),
        });
    }
    Ok(rows)
}

/// The stage a row gets: its text classified, side-dependent wording resolved by the
/// row's side when the corpus gives one (as the timeline resolves it from earlier
/// events), else as [`Classification::without_context`] does.
pub fn predict(strategy: Strategy, model: &Model, row: &CorpusRow) -> Option<Stage> {
    let classification = classify_by(strategy, model, None, &row.text);
    match (classification, row.side) {
        (Classification::Sided(_), Some(side)) => classification.resolve(side == Side::Destination),
        _ => classification.without_context(&row.text),
    }
}

/// Right and total for one slice of the corpus.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tally {
    /// Rows given the labelled stage.
    pub correct: usize,
    /// Rows in the slice.
    pub total: usize,
}

impl Tally {
    fn add(&mut self, correct: bool) {
        self.total += 1;
        self.correct += usize::from(correct);
    }

    /// The share right, in percent (100 for an empty slice).
    pub fn percent(&self) -> f64 {
        if self.total == 0 {
            100.0
        } else {
            100.0 * self.correct as f64 / self.total as f64
        }
    }
}

/// What an evaluation found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Every row.
    pub overall: Tally,
    /// Rows the classifier gave no stage.
    pub no_stage: usize,
    /// Per language.
    pub by_lang: BTreeMap<String, Tally>,
    /// Per labelled stage (so the share is the stage's recall).
    pub by_stage: BTreeMap<Stage, Tally>,
    /// Per source group.
    pub by_source: BTreeMap<String, Tally>,
    /// Labelled stage and what was given instead, with how often.
    pub confusions: BTreeMap<(Stage, Option<Stage>), usize>,
    /// The rows got wrong, with what they got (shown only on request: reading the misses
    /// of `validation` would make it training data).
    pub misses: Vec<(CorpusRow, Option<Stage>)>,
}

impl Report {
    fn record(&mut self, row: &CorpusRow, got: Option<Stage>) {
        let correct = got == Some(row.stage);
        self.overall.add(correct);
        self.no_stage += usize::from(got.is_none());
        self.by_lang.entry(row.lang.clone()).or_default().add(correct);
        self.by_stage.entry(row.stage).or_default().add(correct);
        self.by_source.entry(row.source_group()).or_default().add(correct);
        if !correct {
            *self.confusions.entry((row.stage, got)).or_default() += 1;
            self.misses.push((row.clone(), got));
        }
    }

    /// The share of rows with no stage, in percent.
    pub fn no_stage_percent(&self) -> f64 {
        if self.overall.total == 0 {
            0.0
        } else {
            100.0 * self.no_stage as f64 / self.overall.total as f64
        }
    }

    /// The most frequent confusions, most frequent first.
    pub fn top_confusions(&self, count: usize) -> Vec<((Stage, Option<Stage>), usize)> {
        let mut confusions: Vec<_> = self.confusions.iter().map(|(pair, n)| (*pair, *n)).collect();
        confusions.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        confusions.truncate(count);
        confusions
    }
}

impl fmt::Display for Report {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        let line = |out: &mut fmt::Formatter<'_>, name: &str, tally: &Tally| {
            writeln!(
                out,
                "  {name:<34} {:>6.1}%  {:>5}/{:<5}",
                tally.percent(),
                tally.correct,
                tally.total
            )
        };
        writeln!(
            out,
            "accuracy {:.1}% ({}/{}), no stage {:.1}% ({})",
            self.overall.percent(),
            self.overall.correct,
            self.overall.total,
            self.no_stage_percent(),
            self.no_stage
        )?;
        writeln!(out, "per language:")?;
        for (lang, tally) in &self.by_lang {
            line(out, lang, tally)?;
        }
        writeln!(out, "per stage (recall):")?;
        for (stage, tally) in &self.by_stage {
            line(out, stage.as_code(), tally)?;
        }
        writeln!(out, "per source:")?;
        for (source, tally) in &self.by_source {
            line(out, source, tally)?;
        }
        writeln!(out, "top confusions (labelled -> given):")?;
        for ((expected, got), count) in self.top_confusions(20) {
            let got = got.map_or("no stage", Stage::as_code);
            writeln!(out, "  {count:>4}  {} -> {got}", expected.as_code())?;
        }
        Ok(())
    }
}

/// Evaluates a model (with the rules) on labelled rows.
pub fn evaluate(strategy: Strategy, model: &Model, rows: &[CorpusRow]) -> Report {
    let mut report = Report::default();
    for row in rows {
        report.record(row, predict(strategy, model, row));
    }
    report
}

/// The rows as training examples.
pub fn examples(rows: &[CorpusRow]) -> Vec<Example> {
    rows.iter()
        .map(|row| Example {
            text: row.text.clone(),
            class: Stage::ALL
                .iter()
                .position(|stage| *stage == row.stage)
                .unwrap_or(0),
            side: row.side,
        })
        .collect()
}

/// Cross-validation by source: the source groups are dealt into `folds` folds (largest
/// first, each to the smallest fold, so folds are of similar size), and each fold is
/// classified by a model trained on the others. The figure says how the classifier does
/// on sources it has never seen, without touching `validation`.
pub fn cross_validate(strategy: Strategy, rows: &[CorpusRow], folds: usize, params: &Params) -> Report {
    let folds = folds.max(2);
    let mut sizes: BTreeMap<String, usize> = BTreeMap::new();
    for row in rows {
        *sizes.entry(row.source_group()).or_default() += 1;
    }
    let mut groups: Vec<(String, usize)> = sizes.into_iter().collect();
    groups.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut fold_sizes = vec![0usize; folds];
    let mut fold_of: BTreeMap<String, usize> = BTreeMap::new();
    for (group, size) in groups {
        let smallest = (0..folds)
            .min_by_key(|fold| (fold_sizes[*fold], *fold))
            .unwrap_or(0);
        fold_sizes[smallest] += size;
        fold_of.insert(group, smallest);
    }
    let mut report = Report::default();
    for fold in 0..folds {
        let in_fold = |row: &CorpusRow| fold_of.get(&row.source_group()) == Some(&fold);
        let training: Vec<CorpusRow> = rows.iter().filter(|row| !in_fold(row)).cloned().collect();
        let model = learn::train(&examples(&training), params);
        for row in rows.iter().filter(|row| in_fold(row)) {
            report.record(row, predict(strategy, &model, row));
        }
    }
    report
}

/// How many distinct source groups, languages and carriers some rows come from.
pub fn coverage(rows: &[CorpusRow]) -> (usize, usize, usize) {
    let sources: BTreeSet<String> = rows.iter().map(CorpusRow::source_group).collect();
    let langs: BTreeSet<&str> = rows.iter().map(|row| row.lang.as_str()).collect();
    let carriers: BTreeSet<&str> = rows.iter().map(|row| row.carrier.as_str()).collect();
    (sources.len(), langs.len(), carriers.len())
}

//! The statistical half of text classification: folding, hashed features (character
//! n-grams and words), and a multinomial logistic-regression model trained from the
//! corpus's `train` side.
//!
//! This file depends on nothing but `std` and `unicode-normalization`, because the build
//! script includes it (`#[path]`) to train the model from `data/events/train.tsv` at
//! build time; the library includes the same file to read that model and to offer the
//! trainer to `parcelbot classify --cv`. One file, so training and inference can never
//! featurise differently.
//!
//! Why a small trainer of our own: the crates that train linear text models (`linfa`
//! with `ndarray`, `smartcore`) bring a numeric stack several times larger than the
//! model, train on dense matrices (100k hashed features × 2,000 texts), and do not give
//! bit-for-bit identical output across runs without pinning their internals. Softmax
//! regression with AdaGrad over sparse hashed features is forty lines and deterministic.

use unicode_normalization::UnicodeNormalization;

/// The stage codes the model predicts, in the order of `Stage::ALL` (a unit test in
/// `classify` checks that the two agree).
pub const STAGE_CODES: [&str; 17] = [
    "info_received",
    "accepted",
    "origin_sorting",
    "export",
    "line_haul",
    "arrived_destination",
    "customs",
    "customs_held",
    "customs_released",
    "handed_to_last_mile",
    "domestic_transit",
    "out_for_delivery",
    "delivery_failed",
    "pickup_available",
    "delivered",
    "returning",
    "exception",
];

/// How many classes the model scores.
pub const CLASSES: usize = STAGE_CODES.len();

/// Hashed features fall into 2^BUCKET_BITS buckets: 131,072 buckets × 17 weights × 4 bytes
/// is 8.9 MB in memory, under the 20 MB the model may cost.
pub const BUCKET_BITS: u32 = 17;
const BUCKET_MASK: u64 = (1 << BUCKET_BITS) - 1;

/// Which side of the border an event happened on, when the caller knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// In the sending country.
    Origin,
    /// In the receiving country.
    Destination,
}

impl Side {
    /// Reads the corpus's `side` column (`origin`, `destination`, or empty).
    pub fn from_column(value: &str) -> Option<Side> {
        match value.trim() {
            "origin" => Some(Side::Origin),
            "destination" => Some(Side::Destination),
            _ => None,
        }
    }

    fn bucket(self) -> usize {
        let seed = match self {
            Side::Origin => 0x5eed_0001,
            Side::Destination => 0x5eed_0002,
        };
        (mix(FNV_OFFSET ^ seed, 0) & BUCKET_MASK) as usize
    }
}

/// Folds text for matching: lower case, accents removed, everything that is not a letter
/// or digit turned into one space, padded with a space at each end.
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push(' ');
    let mut last_space = true;
    let mut push = |c: char, out: &mut String| {
        if c.is_alphanumeric() {
            out.push(c);
            last_space = false;
        } else if !last_space {
            out.push(' ');
            last_space = true;
        }
    };
    if text.is_ascii() {
        for c in text.chars() {
            push(c.to_ascii_lowercase(), &mut out);
        }
    } else {
        for c in text.nfd() {
            if unicode_normalization::char::is_combining_mark(c) {
                continue;
            }
            for lower in c.to_lowercase() {
                // Letters with no decomposition that people still type without their mark.
                match lower {
                    'ı' => push('i', &mut out),
                    'ł' => push('l', &mut out),
                    'ø' => push('o', &mut out),
                    'đ' => push('d', &mut out),
                    'ß' => {
                        push('s', &mut out);
                        push('s', &mut out);
                    }
                    _ => push(lower, &mut out),
                }
            }
        }
    }
    if !out.ends_with(' ') {
        out.push(' ');
    }
    out
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn mix(hash: u64, value: u32) -> u64 {
    let mut hash = hash;
    for byte in value.to_le_bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    hash
}

/// Scripts written without spaces between words, where two characters already make a
/// word: character bigrams carry their meaning.
fn is_ideographic(c: char) -> bool {
    matches!(c, '\u{3040}'..='\u{30FF}' | '\u{3400}'..='\u{9FFF}' | '\u{F900}'..='\u{FAFF}')
}

/// The longest text featurised: a carrier's status is a sentence or two; the rest of a
/// 100 kB paste adds nothing but cost.
const MAX_CHARS: usize = 200;

/// Calls `emit` with the bucket of every feature of `text`: character n-grams of 3 and 4
/// (2 in ideographic scripts) over the folded text with digits collapsed to one `0`,
/// whole words, and word pairs. Returns how many features were emitted.
pub fn features(text: &str, emit: impl FnMut(usize)) -> usize {
    features_of_folded(&fold(text), emit)
}

/// [`features`] of a text already folded with [`fold`].
pub fn features_of_folded(folded: &str, mut emit: impl FnMut(usize)) -> usize {
    let mut chars: Vec<char> = Vec::with_capacity(folded.len().min(MAX_CHARS));
    for c in folded.chars() {
        if chars.len() >= MAX_CHARS {
            break;
        }
        let c = if c.is_numeric() { '0' } else { c };
        if c == '0' && chars.last() == Some(&'0') {
            continue;
        }
        chars.push(c);
    }
    let mut count = 0;
    let mut push = |hash: u64| {
        emit((hash & BUCKET_MASK) as usize);
        count += 1;
    };
    // Character n-grams: one hash grown character by character from each start, so the
    // n-grams of every length cost one multiplication per character.
    for start in 0..chars.len() {
        let mut hash = FNV_OFFSET;
        for (length, &c) in chars[start..].iter().take(4).enumerate() {
            hash = mix(hash, c as u32);
            let length = length + 1;
            if length >= 3 || (length == 2 && (is_ideographic(c) || is_ideographic(chars[start]))) {
                push(hash);
            }
        }
    }
    // Words and word pairs, in their own hash space (seeded differently).
    let mut previous: Option<u64> = None;
    let mut word = FNV_OFFSET ^ 0x77;
    let mut in_word = false;
    for &c in &chars {
        if c == ' ' {
            if in_word {
                push(word);
                if let Some(before) = previous {
                    push(mix(before ^ 0x9e37_79b9, (word >> 16) as u32));
                }
                previous = Some(word);
                word = FNV_OFFSET ^ 0x77;
                in_word = false;
            }
        } else {
            word = mix(word, c as u32);
            in_word = true;
        }
    }
    count
}

/// One labelled example.
#[derive(Debug, Clone)]
pub struct Example {
    /// The carrier's text.
    pub text: String,
    /// The index of its stage in [`STAGE_CODES`].
    pub class: usize,
    /// The side of the border, when the corpus says.
    pub side: Option<Side>,
}

/// Training settings.
#[derive(Debug, Clone, Copy)]
pub struct Params {
    /// Passes over the examples.
    pub epochs: usize,
    /// AdaGrad's base step.
    pub rate: f32,
    /// How much rare stages are weighted up: an example of a stage with `n` examples
    /// weighs `(mean / n) ^ balance` (0 = no balancing, 1 = fully balanced).
    pub balance: f32,
    /// The shuffle's seed: training is deterministic for a given seed.
    pub seed: u64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            epochs: 12,
            rate: 0.2,
            balance: 0.0,
            seed: 0x7061_7263_656c,
        }
    }
}

/// A trained model: a weight row per bucket, and one bias per class.
pub struct Model {
    /// `weights[bucket]` holds the bucket's weight for each class.
    pub weights: Vec<[f32; CLASSES]>,
    /// The bias of each class.
    pub bias: [f32; CLASSES],
}

/// What the model says of one text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    /// The most likely class.
    pub best: usize,
    /// Its probability.
    pub confidence: f32,
    /// The share of the text's features that training saw (a hashed bucket with
    /// weights): low for words in no known language, such as "blah blah".
    pub known: f32,
}

impl Model {
    fn empty() -> Model {
        Model {
            weights: vec![[0.0; CLASSES]; 1 << BUCKET_BITS],
            bias: [0.0; CLASSES],
        }
    }

    /// The class scores of a folded text (before the side), and how many features it had.
    fn base_scores(&self, folded: &str) -> ([f32; CLASSES], usize, usize) {
        let mut sums = [0.0f32; CLASSES];
        let mut known = 0;
        let count = features_of_folded(folded, |bucket| {
            let row = &self.weights[bucket];
            // Training moves every class of a bucket it sees, so one weight tells.
            known += usize::from(row[0] != 0.0);
            for (sum, weight) in sums.iter_mut().zip(row) {
                *sum += weight;
            }
        });
        (sums, count, known)
    }

    /// Scores a text, with the side of the border when known.
    pub fn score(&self, text: &str, side: Option<Side>) -> Option<Scored> {
        let (sums, count, known) = self.base_scores(&fold(text));
        if count == 0 {
            return None;
        }
        Some(self.finish(&sums, count, known, side))
    }

    /// Scores a folded text once for each side of the border, featurising it once.
    pub fn score_both_sides(&self, folded: &str) -> Option<(Scored, Scored)> {
        let (sums, count, known) = self.base_scores(folded);
        if count == 0 {
            return None;
        }
        Some((
            self.finish(&sums, count, known, Some(Side::Origin)),
            self.finish(&sums, count, known, Some(Side::Destination)),
        ))
    }

    fn finish(&self, sums: &[f32; CLASSES], count: usize, known: usize, side: Option<Side>) -> Scored {
        let value = feature_value(count + usize::from(side.is_some()));
        let mut logits = [0.0f32; CLASSES];
        for class in 0..CLASSES {
            logits[class] = self.bias[class] + sums[class] * value;
        }
        if let Some(side) = side {
            for (logit, weight) in logits.iter_mut().zip(&self.weights[side.bucket()]) {
                *logit += weight * value;
            }
        }
        let probabilities = softmax(&logits);
        let mut best = 0;
        for class in 1..CLASSES {
            if probabilities[class] > probabilities[best] {
                best = class;
            }
        }
        Scored {
            best,
            confidence: probabilities[best],
            known: known as f32 / count as f32,
        }
    }

    /// The model as bytes: a header, the biases, then every non-zero bucket as its index
    /// and weights, little-endian.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&BUCKET_BITS.to_le_bytes());
        out.extend_from_slice(&(CLASSES as u32).to_le_bytes());
        for bias in self.bias {
            out.extend_from_slice(&bias.to_le_bytes());
        }
        for (bucket, row) in self.weights.iter().enumerate() {
            if row.iter().all(|weight| *weight == 0.0) {
                continue;
            }
            out.extend_from_slice(&(bucket as u32).to_le_bytes());
            for weight in row {
                out.extend_from_slice(&weight.to_le_bytes());
            }
        }
        out
    }

    /// Reads what [`Model::to_bytes`] wrote; `None` when the bytes are not such a model
    /// (another bucket count or class count, or cut short).
    pub fn from_bytes(bytes: &[u8]) -> Option<Model> {
        let mut reader = Reader { bytes };
        if reader.take(MAGIC.len())? != MAGIC
            || reader.u32()? != BUCKET_BITS
            || reader.u32()? != CLASSES as u32
        {
            return None;
        }
        let mut model = Model::empty();
        for bias in &mut model.bias {
            *bias = reader.f32()?;
        }
        while !reader.bytes.is_empty() {
            let bucket = reader.u32()? as usize;
            let row = model.weights.get_mut(bucket)?;
            for weight in row.iter_mut() {
                *weight = reader.f32()?;
            }
        }
        Some(model)
    }
}

const MAGIC: &[u8] = b"PBSTAGE1";

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, count: usize) -> Option<&'a [u8]> {
        if self.bytes.len() < count {
            return None;
        }
        let (head, tail) = self.bytes.split_at(count);
        self.bytes = tail;
        Some(head)
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    fn f32(&mut self) -> Option<f32> {
        Some(f32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
}

/// Each feature's value: the feature vector has unit length, so long texts do not
/// outvote short ones.
fn feature_value(count: usize) -> f32 {
    1.0 / (count.max(1) as f32).sqrt()
}

fn softmax(logits: &[f32; CLASSES]) -> [f32; CLASSES] {
    let top = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut out = [0.0f32; CLASSES];
    let mut total = 0.0;
    for (probability, logit) in out.iter_mut().zip(logits) {
        *probability = (logit - top).exp();
        total += *probability;
    }
    for probability in &mut out {
        *probability /= total;
    }
    out
}

/// Trains softmax regression on the examples with AdaGrad, deterministically.
pub fn train(examples: &[Example], params: &Params) -> Model {
    let mut model = Model::empty();
    let mut squared = vec![[0.0f32; CLASSES]; 1 << BUCKET_BITS];
    let mut bias_squared = [0.0f32; CLASSES];
    // Each example's buckets once, in the order they came.
    let featurised: Vec<Vec<usize>> = examples
        .iter()
        .map(|example| {
            let mut buckets = Vec::new();
            features(&example.text, |bucket| buckets.push(bucket));
            if let Some(side) = example.side {
                buckets.push(side.bucket());
            }
            buckets
        })
        .collect();
    let mut per_class = [0usize; CLASSES];
    for example in examples {
        per_class[example.class] += 1;
    }
    let present = per_class.iter().filter(|count| **count > 0).count().max(1);
    let mean = examples.len() as f32 / present as f32;
    let class_weight: Vec<f32> = per_class
        .iter()
        .map(|count| (mean / (*count).max(1) as f32).powf(params.balance))
        .collect();
    let mut order: Vec<usize> = (0..examples.len()).collect();
    let mut state = params.seed | 1;
    for _ in 0..params.epochs {
        // Fisher-Yates with a xorshift generator: the same order on every machine.
        for index in (1..order.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            order.swap(index, (state % (index as u64 + 1)) as usize);
        }
        for &index in &order {
            let buckets = &featurised[index];
            if buckets.is_empty() {
                continue;
            }
            let value = feature_value(buckets.len());
            let mut logits = model.bias;
            for &bucket in buckets {
                for (logit, weight) in logits.iter_mut().zip(&model.weights[bucket]) {
                    *logit += weight * value;
                }
            }
            let mut gradient = softmax(&logits);
            gradient[examples[index].class] -= 1.0;
            let weight = class_weight[examples[index].class];
            for class in 0..CLASSES {
                gradient[class] *= weight;
                bias_squared[class] += gradient[class] * gradient[class];
                model.bias[class] -= params.rate * gradient[class] / (bias_squared[class].sqrt() + 1e-6);
            }
            for &bucket in buckets {
                let weights = &mut model.weights[bucket];
                let sums = &mut squared[bucket];
                for class in 0..CLASSES {
                    let step = gradient[class] * value;
                    sums[class] += step * step;
                    weights[class] -= params.rate * step / (sums[class].sqrt() + 1e-6);
                }
            }
        }
    }
    model
}

/// Reads corpus rows (a TSV with a header naming at least `text` and `stage`, and
/// optionally `side`) into examples; rows with an unknown stage are skipped.
pub fn read_examples(tsv: &str) -> Vec<Example> {
    let mut lines = tsv.lines();
    let Some(header) = lines.next() else {
        return Vec::new();
    };
    let columns: Vec<&str> = header.split('\t').collect();
    let position = |name: &str| columns.iter().position(|column| *column == name);
    let (Some(text_at), Some(stage_at)) = (position("text"), position("stage")) else {
        return Vec::new();
    };
    let side_at = position("side");
    lines
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('\t').collect();
            let text = *cells.get(text_at)?;
            let class = STAGE_CODES
                .iter()
                .position(|code| Some(code) == cells.get(stage_at))?;
            let side = side_at
                .and_then(|at| cells.get(at))
                .and_then(|value| Side::from_column(value));
            Some(Example {
                text: text.to_owned(),
                class,
                side,
            })
        })
        .collect()
}

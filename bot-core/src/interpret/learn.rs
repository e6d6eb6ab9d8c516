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

/// Hashed features fall into 2^BUCKET_BITS buckets: 131,072 buckets × 17 one-byte weights
/// is 2.2 MB in memory, far under the 20 MB the model may cost.
pub const BUCKET_BITS: u32 = 17;

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
        bucket_of(mix(FNV_OFFSET ^ seed, 0))
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

/// One FNV-1a step over a whole character (not its bytes: one multiplication per
/// character; [`bucket_of`] mixes the result once more).
#[inline]
fn mix(hash: u64, value: u32) -> u64 {
    (hash ^ u64::from(value)).wrapping_mul(FNV_PRIME)
}

/// The vocabulary has 2^VOCABULARY_BITS bits (512 kB).
const VOCABULARY_BITS: u32 = 22;

fn vocabulary_bit(hash: u64) -> usize {
    (hash.wrapping_mul(0xD6E8_FEB8_6659_FD93) >> (64 - VOCABULARY_BITS)) as usize
}

/// The bucket of a hash: the high bits after a Fibonacci multiplication, which spreads
/// the last character (FNV's own multiplication leaves it in the low bits).
#[inline]
fn bucket_of(hash: u64) -> usize {
    (hash.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - BUCKET_BITS)) as usize
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
pub fn features(text: &str, emit: impl FnMut(usize, Option<u64>)) -> usize {
    features_of_folded(&fold(text), emit)
}

/// [`features`] of a text already folded with [`fold`].
///
/// `emit` gets each feature's bucket and, for the features that say which words a text
/// is written in (4-grams, ideographic pairs, words, word pairs), its whole hash too:
/// the model's vocabulary is kept by whole hash, so that a bucket shared by chance with a
/// seen feature does not make an unknown word look known.
pub fn features_of_folded(folded: &str, mut emit: impl FnMut(usize, Option<u64>)) -> usize {
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
    let mut push = |hash: u64, lexical: bool| {
        emit(bucket_of(hash), lexical.then_some(hash));
        count += 1;
    };
    // Character n-grams: one hash grown character by character from each start, so the
    // n-grams of every length cost one multiplication per character.
    for start in 0..chars.len() {
        let mut hash = FNV_OFFSET;
        for (length, &c) in chars[start..].iter().take(4).enumerate() {
            hash = mix(hash, c as u32);
            let length = length + 1;
            let ideographic = is_ideographic(c) || is_ideographic(chars[start]);
            if length >= 3 || (length == 2 && ideographic) {
                push(hash, length == 4 || (length == 2 && ideographic));
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
                push(word, true);
                if let Some(before) = previous {
                    push(mix(before ^ 0x9e37_79b9, (word >> 16) as u32), true);
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
///
/// Weights are kept as `i8` times one scale: a row is then 17 bytes, a quarter of its
/// `f32` size, and the table (2.2 MB) stays in the processor's cache far more often while
/// a text's few hundred rows are summed, which is where classification spends its time.
/// The rounding moves a text's logits by about a hundredth.
pub struct Model {
    /// `weights[bucket]` holds the bucket's weight for each class, in units of `scale`.
    pub weights: Vec<[i8; CLASSES]>,
    /// What one unit of a weight is worth.
    pub scale: f32,
    /// The lexical features training saw, one bit per value of their hash's top
    /// `VOCABULARY_BITS` bits (about 1% of unseen words collide with a seen one).
    pub vocabulary: Vec<u64>,
    /// The bias of each class.
    pub bias: [f32; CLASSES],
    /// The wordings it was trained on, by the hash of their folded text, with what the
    /// model reads in each on either side of the border (sorted by hash): a wording seen
    /// before is answered by one look-up, and as it was taught.
    pub known: Vec<(u64, u8, u8)>,
}

/// What the model read in a wording it was trained on: its class with the parcel still
/// in the origin country, and once it has left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Known {
    /// The class on the origin side.
    pub origin: usize,
    /// The class on the destination side.
    pub destination: usize,
}

/// The hash a folded text is known by.
pub fn text_hash(folded: &str) -> u64 {
    folded
        .trim()
        .chars()
        .fold(FNV_OFFSET, |hash, c| mix(hash, c as u32))
}

/// What the model says of one text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    /// The most likely class.
    pub best: usize,
    /// Its probability.
    pub confidence: f32,
    /// The share of the text's features that training saw: low for words in no known
    /// language, such as "blah blah".
    pub known: f32,
}

impl Model {
    /// Rounds trained `f32` weights to the compact form.
    fn compact(weights: &[[f32; CLASSES]], bias: [f32; CLASSES], vocabulary: Vec<u64>) -> Model {
        let largest = weights
            .iter()
            .flat_map(|row| row.iter())
            .fold(0.0f32, |largest, weight| largest.max(weight.abs()));
        let scale = if largest > 0.0 { largest / 127.0 } else { 1.0 };
        let weights = weights
            .iter()
            .map(|row| row.map(|weight| (weight / scale).round().clamp(-127.0, 127.0) as i8))
            .collect();
        Model {
            weights,
            scale,
            vocabulary,
            bias,
            known: Vec::new(),
        }
    }

    /// Remembers what the model reads in each training text.
    fn learn_known(&mut self, examples: &[Example]) {
        let mut known: Vec<(u64, u8, u8)> = examples
            .iter()
            .filter_map(|example| {
                let folded = fold(&example.text);
                let (origin, destination) = self.score_both_sides(&folded)?;
                Some((text_hash(&folded), origin.best as u8, destination.best as u8))
            })
            .collect();
        known.sort_unstable();
        known.dedup_by_key(|entry| entry.0);
        self.known = known;
    }

    /// What the model read in this (folded) text when it was trained on it, with the
    /// wording's index among the known ones.
    pub fn recall(&self, folded: &str) -> Option<(usize, Known)> {
        let hash = text_hash(folded);
        let at = self.known.binary_search_by_key(&hash, |entry| entry.0).ok()?;
        let (_, origin, destination) = self.known[at];
        Some((
            at,
            Known {
                origin: usize::from(origin),
                destination: usize::from(destination),
            },
        ))
    }

    fn empty() -> Model {
        Model {
            weights: vec![[0; CLASSES]; 1 << BUCKET_BITS],
            scale: 1.0,
            vocabulary: vec![0; (1 << VOCABULARY_BITS) / 64],
            bias: [0.0; CLASSES],
            known: Vec::new(),
        }
    }

    fn has_seen(&self, hash: u64) -> bool {
        let bit = vocabulary_bit(hash);
        self.vocabulary
            .get(bit / 64)
            .is_some_and(|word| word & (1 << (bit % 64)) != 0)
    }

    /// The class sums of a folded text (in weight units, before the side), how many
    /// features it had, and how many of them training saw.
    fn base_scores(&self, folded: &str) -> ([i32; CLASSES], usize, f32) {
        let mut sums = [0i32; CLASSES];
        let (mut lexical, mut known) = (0usize, 0usize);
        let count = features_of_folded(folded, |bucket, whole| {
            if let Some(hash) = whole {
                lexical += 1;
                known += usize::from(self.has_seen(hash));
            }
            for (sum, weight) in sums.iter_mut().zip(&self.weights[bucket]) {
                *sum += i32::from(*weight);
            }
        });
        (sums, count, known as f32 / lexical.max(1) as f32)
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

    fn finish(&self, sums: &[i32; CLASSES], count: usize, known: f32, side: Option<Side>) -> Scored {
        let mut sums = *sums;
        if let Some(side) = side {
            for (sum, weight) in sums.iter_mut().zip(&self.weights[side.bucket()]) {
                *sum += i32::from(*weight);
            }
        }
        let value = feature_value(count + usize::from(side.is_some())) * self.scale;
        let mut logits = [0.0f32; CLASSES];
        for class in 0..CLASSES {
            logits[class] = self.bias[class] + sums[class] as f32 * value;
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
            known,
        }
    }

    /// The model as bytes: a header, the scale and biases, then every bucket training saw
    /// as its index and weights, little-endian.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&BUCKET_BITS.to_le_bytes());
        out.extend_from_slice(&(CLASSES as u32).to_le_bytes());
        out.extend_from_slice(&self.scale.to_le_bytes());
        for bias in self.bias {
            out.extend_from_slice(&bias.to_le_bytes());
        }
        out.extend_from_slice(&(self.known.len() as u32).to_le_bytes());
        for (hash, origin, destination) in &self.known {
            out.extend_from_slice(&hash.to_le_bytes());
            out.extend_from_slice(&[*origin, *destination]);
        }
        let bits: Vec<u32> = (0..self.vocabulary.len() * 64)
            .filter(|bit| self.vocabulary[bit / 64] & (1 << (bit % 64)) != 0)
            .map(|bit| bit as u32)
            .collect();
        out.extend_from_slice(&(bits.len() as u32).to_le_bytes());
        for bit in bits {
            out.extend_from_slice(&bit.to_le_bytes());
        }
        for (bucket, row) in self.weights.iter().enumerate() {
            if row.iter().all(|weight| *weight == 0) {
                continue;
            }
            out.extend_from_slice(&(bucket as u32).to_le_bytes());
            out.extend(row.iter().map(|weight| weight.to_le_bytes()[0]));
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
        model.scale = reader.f32()?;
        for bias in &mut model.bias {
            *bias = reader.f32()?;
        }
        let known = reader.u32()? as usize;
        for _ in 0..known {
            let hash = u64::from_le_bytes(reader.take(8)?.try_into().ok()?);
            let classes = reader.take(2)?;
            model.known.push((hash, classes[0], classes[1]));
        }
        let bits = reader.u32()? as usize;
        for _ in 0..bits {
            let bit = reader.u32()? as usize;
            *model.vocabulary.get_mut(bit / 64)? |= 1 << (bit % 64);
        }
        while !reader.bytes.is_empty() {
            let bucket = reader.u32()? as usize;
            let row = model.weights.get_mut(bucket)?;
            for (weight, byte) in row.iter_mut().zip(reader.take(CLASSES)?) {
                *weight = i8::from_le_bytes([*byte]);
            }
        }
        Some(model)
    }
}

const MAGIC: &[u8] = b"PBSTAGE4";

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
    let mut weights = vec![[0.0f32; CLASSES]; 1 << BUCKET_BITS];
    let mut bias = [0.0f32; CLASSES];
    let mut vocabulary = vec![0u64; (1 << VOCABULARY_BITS) / 64];
    let mut squared = vec![[0.0f32; CLASSES]; 1 << BUCKET_BITS];
    let mut bias_squared = [0.0f32; CLASSES];
    // Each example's buckets once, in the order they came.
    let featurised: Vec<Vec<usize>> = examples
        .iter()
        .map(|example| {
            let mut buckets = Vec::new();
            features(&example.text, |bucket, whole| {
                buckets.push(bucket);
                if let Some(hash) = whole {
                    let bit = vocabulary_bit(hash);
                    vocabulary[bit / 64] |= 1 << (bit % 64);
                }
            });
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
            let mut logits = bias;
            for &bucket in buckets {
                for (logit, weight) in logits.iter_mut().zip(&weights[bucket]) {
                    *logit += weight * value;
                }
            }
            let mut gradient = softmax(&logits);
            gradient[examples[index].class] -= 1.0;
            let weight = class_weight[examples[index].class];
            for class in 0..CLASSES {
                gradient[class] *= weight;
                bias_squared[class] += gradient[class] * gradient[class];
                bias[class] -= params.rate * gradient[class] / (bias_squared[class].sqrt() + 1e-6);
            }
            for &bucket in buckets {
                let row = &mut weights[bucket];
                let sums = &mut squared[bucket];
                for class in 0..CLASSES {
                    let step = gradient[class] * value;
                    sums[class] += step * step;
                    row[class] -= params.rate * step / (sums[class].sqrt() + 1e-6);
                }
            }
        }
    }
    let mut model = Model::compact(&weights, bias, vocabulary);
    model.learn_known(examples);
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

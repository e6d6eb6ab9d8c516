//! Benchmark: recognition throughput on a mixed set of 100,000 inputs, on one core.
//!
//! Run with `cargo bench -p bot-core --bench recognition`. The mix imitates what buyers
//! paste: mostly clean numbers of the common formats, some inside sentences or spaced
//! out, some typos (which trigger repair), order numbers and junk. Target: at least
//! 1,000,000 inputs per second.

use std::hint::black_box;
use std::time::Instant;

use bot_core::number::checksum::s10_check_digit;
use bot_core::number::recognise;

const INPUTS: usize = 100_000;
const ROUNDS: usize = 20;

/// A small deterministic generator so every run measures the same inputs.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn digits(&mut self, count: usize) -> String {
        (0..count)
            .map(|_| char::from(b'0' + (self.next() % 10) as u8))
            .collect()
    }
}

fn s10(rng: &mut Lcg) -> String {
    let services = ["RB", "LX", "UA", "EE", "CP", "RR", "LP", "UY"];
    let countries = ["CN", "GB", "NL", "ES", "FR", "DE", "US", "YP"];
    let serial = rng.digits(8);
    let check = s10_check_digit(&serial).unwrap_or(0);
    let service = services[(rng.next() % 8) as usize];
    let country = countries[(rng.next() % 8) as usize];
    format!("{service}{serial}{check}{country}")
}

fn mixed_inputs() -> Vec<String> {
    let mut rng = Lcg(42);
    (0..INPUTS)
        .map(|index| match index % 20 {
            0..=6 => s10(&mut rng),
            7 | 8 => format!("LP{}", rng.digits(14)),
            9 => format!("YT{}", rng.digits(16)),
            10 => "1Z5R89390357567127".to_owned(),
            11 => "9400111206206406260787".to_owned(),
            12 => rng.digits(12),
            13 => format!("8{}", rng.digits(15)),
            14 => format!("my tracking number is {} thanks", s10(&mut rng)),
            15 => {
                let number = s10(&mut rng);
                format!("{} {} {}", &number[..2], &number[2..7], &number[7..])
            }
            16 => s10(&mut rng).replacen('5', "S", 1),
            17 => {
                let mut number = s10(&mut rng).into_bytes();
                number.swap(4, 5);
                String::from_utf8(number).unwrap_or_default()
            }
            18 => "where is my parcel?".to_owned(),
            _ => format!("CNFR{}HD", rng.digits(13)),
        })
        .collect()
}

fn main() {
    let inputs = mixed_inputs();
    // Warm up: compiles the catalogue and touches every code path once.
    let mut found = 0usize;
    for input in &inputs {
        found += recognise(input).len();
    }
    let mut best = f64::MAX;
    for _ in 0..ROUNDS {
        let started = Instant::now();
        for input in &inputs {
            found += black_box(recognise(black_box(input))).len();
        }
        best = best.min(started.elapsed().as_secs_f64());
    }
    let per_second = INPUTS as f64 / best;
    println!(
        "recognition: {INPUTS} mixed inputs in {:.1} ms (best of {ROUNDS}) = {:.0} inputs/s on one core, {:.2} µs/input ({found} numbers found in all rounds)",
        best * 1e3,
        per_second,
        best * 1e6 / INPUTS as f64
    );
}

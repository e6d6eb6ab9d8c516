//! Check-digit algorithms used by tracking-number formats.
//!
//! The algorithms and their parameters follow the vendored `tracking_number_data` files
//! (`validation.checksum`), so that a format defined there is checked exactly as its
//! authors intended. Every function here is pure and allocation-free: recognition runs
//! them on every candidate and typo repair runs them on every variant.

use serde::Deserialize;

/// A check-digit algorithm with its parameters, as named in the courier data files.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case")]
pub enum Checksum {
    /// UPU S10: weighted sum mod 11, remainder 0 gives 5 and remainder 1 gives 0.
    S10 {
        /// Weights over the eight serial digits.
        weightings: Vec<u32>,
    },
    /// Weighted alternating sum mod 10 (letters count as `(ascii - 3) % 10`, as UPS does).
    Mod10 {
        /// Multiplier of the digits at even zero-based positions.
        #[serde(default)]
        evens_multiplier: Option<u32>,
        /// Multiplier of the digits at odd zero-based positions.
        #[serde(default)]
        odds_multiplier: Option<u32>,
    },
    /// The whole serial read as an integer, mod 7.
    Mod7,
    /// The Luhn algorithm over the serial.
    Luhn,
    /// ISO 7064 MOD 37,36 with an alphanumeric check character (DPD).
    #[serde(rename = "mod_37_36")]
    Mod37_36,
    /// Weighted sum, then mod `modulo1`, then mod `modulo2` (FedEx).
    SumProductWithWeightingsAndModulo {
        /// Weights over the serial digits.
        weightings: Vec<u32>,
        /// First modulus.
        modulo1: u32,
        /// Second modulus.
        modulo2: u32,
    },
}

impl Checksum {
    /// Whether `check` is the right check character for `serial`.
    ///
    /// Both are upper-case ASCII without separators. A serial holding a character the
    /// algorithm cannot weigh simply fails.
    pub fn passes(&self, serial: &str, check: &str) -> bool {
        let mut check_chars = check.chars();
        let (Some(check_char), None) = (check_chars.next(), check_chars.next()) else {
            return false;
        };
        match self {
            Checksum::Mod37_36 => mod_37_36(serial) == Some(check_char),
            _ => match (self.expected_digit(serial), check_char.to_digit(10)) {
                (Some(expected), Some(actual)) => expected == actual,
                _ => false,
            },
        }
    }

    /// The check digit a numeric algorithm expects for `serial`, if it can weigh it.
    fn expected_digit(&self, serial: &str) -> Option<u32> {
        match self {
            Checksum::S10 { weightings } => {
                let total = weighted_sum(serial, weightings)?;
                Some(match total % 11 {
                    0 => 5,
                    1 => 0,
                    remainder => 11 - remainder,
                })
            }
            Checksum::Mod10 {
                evens_multiplier,
                odds_multiplier,
            } => {
                let mut total = 0u32;
                for (index, byte) in serial.bytes().enumerate() {
                    let value = match byte {
                        b'0'..=b'9' => u32::from(byte - b'0'),
                        b'A'..=b'Z' => (u32::from(byte) - 3) % 10,
                        _ => return None,
                    };
                    let multiplier = if index % 2 == 0 {
                        evens_multiplier.unwrap_or(1)
                    } else {
                        odds_multiplier.unwrap_or(1)
                    };
                    total += value * multiplier;
                }
                Some((10 - total % 10) % 10)
            }
            Checksum::Mod7 => {
                let mut remainder = 0u32;
                for byte in serial.bytes() {
                    let digit = digit_value(byte)?;
                    remainder = (remainder * 10 + digit) % 7;
                }
                Some(remainder)
            }
            Checksum::Luhn => {
                let mut total = 0u32;
                for (index, byte) in serial.bytes().rev().enumerate() {
                    let mut value = digit_value(byte)?;
                    if index % 2 == 0 {
                        value *= 2;
                        if value > 9 {
                            value -= 9;
                        }
                    }
                    total += value;
                }
                Some((10 - total % 10) % 10)
            }
            Checksum::SumProductWithWeightingsAndModulo {
                weightings,
                modulo1,
                modulo2,
            } => {
                let total = weighted_sum(serial, weightings)?;
                Some(total % modulo1 % modulo2)
            }
            Checksum::Mod37_36 => None,
        }
    }
}

/// The S10 check digit of an eight-digit serial, or `None` when it is not eight digits.
pub fn s10_check_digit(serial: &str) -> Option<u32> {
    if serial.len() != 8 {
        return None;
    }
    Checksum::S10 {
        weightings: vec![8, 6, 4, 2, 3, 5, 9, 7],
    }
    .expected_digit(serial)
}

fn digit_value(byte: u8) -> Option<u32> {
    byte.is_ascii_digit().then(|| u32::from(byte - b'0'))
}

/// Sum of digit × weight, pairing digits and weights from the left as the data files do
/// (extra digits beyond the weights are ignored, like Python's `zip`).
fn weighted_sum(serial: &str, weightings: &[u32]) -> Option<u32> {
    let mut total = 0u32;
    for (byte, weight) in serial.bytes().zip(weightings) {
        total += digit_value(byte)? * weight;
    }
    Some(total)
}

/// ISO 7064 MOD 37,36 as DPD specifies it: returns the check character.
fn mod_37_36(serial: &str) -> Option<char> {
    const MODULUS: i64 = 36;
    let mut check = MODULUS;
    for byte in serial.bytes() {
        let value = match byte {
            b'0'..=b'9' => i64::from(byte - b'0'),
            b'A'..=b'Z' => i64::from(byte - b'A') + 10,
            _ => return None,
        };
        check += value;
        if check > MODULUS {
            check -= MODULUS;
        }
        check *= 2;
        if check > MODULUS {
            check -= MODULUS + 1;
        }
    }
    check = (MODULUS + 1) - check;
    if check == MODULUS {
        check = 0;
    }
    let value = u32::try_from(check).ok()?;
    char::from_digit(value, 36).map(|c| c.to_ascii_uppercase())
}

#[cfg(test)]
mod tests;

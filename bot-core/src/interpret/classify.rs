//! Classification of one event into a stage: the provider's own code first; then the
//! text, read by precise rules for the traps (returned to the sender, a pick-up station
//! signing, "not delivered") and by the statistical model (`learn`, trained at build time
//! on the corpus's `train` side) for everything else.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU16, Ordering};

use aho_corasick::{AhoCorasick, AhoCorasickKind};

use super::Stage;
pub use super::learn::fold;
use super::learn::{Known, Model, Scored};
use super::rules::{Meaning, RULES, SideDependent};

/// What one event says, before the timeline resolves side-dependent wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Classification {
    /// The event means this stage.
    Stage(Stage),
    /// The event's stage depends on which side of the border the parcel is.
    Sided(SideDependent),
    /// Neither the code nor the text says what happened.
    Unknown,
}

impl Classification {
    /// The stage when nothing else is known: a side-dependent event is taken on the
    /// destination side, except for Chinese wording, which the origin side writes.
    pub fn without_context(self, text: &str) -> Option<Stage> {
        match self {
            Classification::Stage(stage) => Some(stage),
            Classification::Sided(sides) if has_cjk(text) => Some(sides.origin),
            Classification::Sided(sides) => Some(sides.destination),
            Classification::Unknown => None,
        }
    }

    /// The stage once it is known whether the parcel has left the origin country.
    pub fn resolve(self, left_origin: bool) -> Option<Stage> {
        match self {
            Classification::Stage(stage) => Some(stage),
            Classification::Sided(sides) => Some(if left_origin {
                sides.destination
            } else {
                sides.origin
            }),
            Classification::Unknown => None,
        }
    }
}

fn has_cjk(text: &str) -> bool {
    text.chars().any(|c| ('\u{4E00}'..='\u{9FFF}').contains(&c))
}

/// Classifies an event from its provider code (if any) and its text.
pub fn classify(code: Option<&str>, text: &str) -> Classification {
    classify_with(&STAGE_MODEL, code, text)
}

/// [`classify`] with another model (cross-validation trains one per fold).
pub fn classify_with(model: &Model, code: Option<&str>, text: &str) -> Classification {
    classify_by(Strategy::default(), model, code, text)
}

/// How the rules and the model are combined (the choice is made by cross-validation on
/// `train`; the others stay for comparison with `parcelbot classify --cv --strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// The rules, then the model where no rule fits.
    RulesFirst,
    /// The rules for the trap stages only, then the model, then the other rules.
    TrapsFirst,
    /// The model alone.
    ModelOnly,
    /// The rules alone.
    RulesOnly,
    /// The model where it is at least this sure (in thousandths) on both sides of the
    /// border, else the rules, else the model.
    Confident(u16),
    /// A wording the model was trained on as the model learnt it; else the rules; else
    /// the model.
    KnownFirst,
}

impl Default for Strategy {
    /// A wording seen in training as it was taught (one look-up, no rule can overrule the
    /// corpus there), else the rules, else the model. On wordings never seen it is the
    /// rules first: 59.8% in source-wise cross-validation on `train` (5 folds), the same
    /// as the model where it is 95% sure, more than the rules alone or the model alone;
    /// and it spends the model's time only where the rules are silent.
    fn default() -> Strategy {
        Strategy::KnownFirst
    }
}

/// [`classify_with`] under a chosen [`Strategy`].
pub fn classify_by(strategy: Strategy, model: &Model, code: Option<&str>, text: &str) -> Classification {
    if let Some(stage) = code.and_then(stage_from_code) {
        return Classification::Stage(stage);
    }
    // Folded once, read by both the rules and the model.
    let folded = fold(text);
    let learned = || from_scores(model.score_both_sides(&folded));
    match strategy {
        Strategy::RulesOnly => rules_on_folded(&folded),
        Strategy::ModelOnly => learned(),
        Strategy::RulesFirst => match rules_on_folded(&folded) {
            Classification::Unknown => learned(),
            known => known,
        },
        Strategy::KnownFirst => {
            if let Some((index, known)) = model.recall(&folded) {
                return taught_reading(model, index, known, &folded);
            }
            match rules_on_folded(&folded) {
                Classification::Unknown => learned(),
                known => known,
            }
        }
        Strategy::Confident(thousandths) => {
            let scores = model.score_both_sides(&folded);
            let threshold = f32::from(thousandths) / 1000.0;
            if scores.is_some_and(|(origin, destination)| {
                origin.confidence.min(destination.confidence) >= threshold
            }) {
                return from_scores(scores);
            }
            match rules_on_folded(&folded) {
                Classification::Unknown => from_scores(scores),
                known => known,
            }
        }
        Strategy::TrapsFirst => {
            let rules = rules_on_folded(&folded);
            if let Classification::Stage(stage) = rules
                && TRAPS.contains(&stage)
            {
                return rules;
            }
            match learned() {
                Classification::Unknown => rules,
                learned => learned,
            }
        }
    }
}

/// The reading of a wording the model was trained on: as taught, except that the rules
/// keep the side-dependent reading of wording they know changes with the side (a corpus
/// row labelled on one side teaches one stage). For the built-in model the answer is
/// kept per known wording (one slot each, filled at first sight), so a wording seen in
/// training costs one look-up.
fn taught_reading(model: &Model, index: usize, known: Known, folded: &str) -> Classification {
    let memo = std::ptr::eq(model, &*STAGE_MODEL)
        .then(|| TAUGHT.get(index))
        .flatten();
    if let Some(slot) = memo {
        let code = slot.load(Ordering::Relaxed);
        if code != 0 {
            let pair = usize::from(code - 1);
            return from_classes(pair / Stage::ALL.len(), pair % Stage::ALL.len());
        }
    }
    let taught = from_classes(known.origin, known.destination);
    let reading = match taught {
        Classification::Stage(stage) if SIDE_SENSITIVE.contains(&stage) => match rules_on_folded(folded) {
            sided @ Classification::Sided(sides) if sides.origin == stage || sides.destination == stage => {
                sided
            }
            _ => taught,
        },
        _ => taught,
    };
    if let Some(slot) = memo {
        let pair = match reading {
            Classification::Stage(stage) => Some((stage, stage)),
            Classification::Sided(sides) => Some((sides.origin, sides.destination)),
            Classification::Unknown => None,
        };
        if let Some((origin, destination)) = pair {
            let class = |stage: Stage| {
                Stage::ALL
                    .iter()
                    .position(|candidate| *candidate == stage)
                    .unwrap_or(0)
            };
            let code = class(origin) * Stage::ALL.len() + class(destination) + 1;
            slot.store(u16::try_from(code).unwrap_or(0), Ordering::Relaxed);
        }
    }
    reading
}

/// One slot per wording the built-in model was trained on: 0 until first read, then 1 +
/// the pair of stage indexes (origin, destination) of its reading.
static TAUGHT: LazyLock<Vec<AtomicU16>> =
    LazyLock::new(|| (0..STAGE_MODEL.known.len()).map(|_| AtomicU16::new(0)).collect());

/// Stages that side-dependent rules can name (see `rules`): a taught wording with one of
/// them is checked against the rules' side.
const SIDE_SENSITIVE: [Stage; 6] = [
    Stage::OriginSorting,
    Stage::Export,
    Stage::ArrivedDestination,
    Stage::Customs,
    Stage::CustomsReleased,
    Stage::DomesticTransit,
];

/// Stages whose precise rules outrank the model: their wording is a near miss of a
/// commoner stage ("delivered to the sender", "not delivered", "delivered to the pick-up
/// point"), which a bag of n-grams cannot tell apart.
const TRAPS: [Stage; 4] = [
    Stage::Returning,
    Stage::Exception,
    Stage::DeliveryFailed,
    Stage::PickupAvailable,
];

/// The model trained by the build script from `data/events/train.tsv`.
static STAGE_MODEL: LazyLock<Model> = LazyLock::new(|| {
    let bytes = include_bytes!(concat!(env!("OUT_DIR"), "/stage_model.bin"));
    // The build script wrote these bytes with the same code; a failure is a build defect.
    match Model::from_bytes(bytes) {
        Some(model) => model,
        None => panic!("the embedded stage model does not read back"),
    }
});

/// The model built into the binary.
pub fn stage_model() -> &'static Model {
    &STAGE_MODEL
}

/// Below this share of a text's words and 4-grams seen in training, the model's best
/// stage is not taken: the text is in no language the model has learnt ("blah blah", a
/// stray code). The lowest of the shares tried (0.2, 0.3, 0.4) that leaves such noise
/// without a stage; higher ones cost up to 1.5 points of cross-validation on `train`,
/// where whole languages are unseen in a fold.
const MIN_KNOWN: f32 = 0.2;

/// What the model reads in a text: one stage, or two when the side of the border changes
/// its mind (which is how side-dependent wording shows).
pub fn classify_by_model(model: &Model, text: &str) -> Classification {
    from_scores(model.score_both_sides(&fold(text)))
}

/// The classification the model's scores for both sides of the border make.
fn from_scores(scores: Option<(Scored, Scored)>) -> Classification {
    let Some((origin, destination)) = scores else {
        return Classification::Unknown;
    };
    if origin.known < MIN_KNOWN {
        return Classification::Unknown;
    }
    from_classes(origin.best, destination.best)
}

/// One stage when both sides agree, a side-dependent one otherwise.
fn from_classes(origin: usize, destination: usize) -> Classification {
    let (Some(&origin_stage), Some(&destination_stage)) =
        (Stage::ALL.get(origin), Stage::ALL.get(destination))
    else {
        return Classification::Unknown;
    };
    if origin_stage == destination_stage {
        Classification::Stage(origin_stage)
    } else {
        Classification::Sided(SideDependent {
            origin: origin_stage,
            destination: destination_stage,
        })
    }
}

/// The stage a provider's status code states, or `None` for unknown or generic codes
/// (which fall back to the text).
///
/// Covers Cainiao `actionCode`s, 17TRACK statuses and sub-statuses, Ship24 `statusCode`
/// and `statusMilestone`, AfterShip tags and TrackingMore statuses.
pub fn stage_from_code(code: &str) -> Option<Stage> {
    let code = code.trim();
    use Stage::*;
    let stage = match code {
        // Cainiao: seller and warehouse.
        "CONSIGN" | "OM_CONSIGN" | "GTMS_ASN" | "GWMS_ACCEPT" | "GWMS_PACKAGE" | "PRE_READY_TO_SHIP"
        | "WMS_CONFIRMED" => InfoReceived,
        "GWMS_OUTBOUND" | "PU_PICKUP_SUCCESS" => Accepted,
        // Cainiao: first mile and sorting.
        "SC_INBOUND_SUCCESS"
        | "SC_OUTBOUND_SUCCESS"
        | "SC_HO_OUT_SUCCESS"
        | "CW_INBOUND"
        | "CW_OUTBOUND"
        | "LH_BIGBAG_SHELVE" => OriginSorting,
        // Cainiao: export customs.
        "CC_EX_START" | "CC_EX_SUCCESS" => Export,
        "CC_EX_FAILURE" => Exception,
        // Cainiao: line haul.
        "LH_HO_AIRLINE" => Export,
        "LH_HO_IN_SUCCESS"
        | "LH_DEPART"
        | "LH_HO_OUT_SUCCESS"
        | "TD_TRANS_ARRIVE"
        | "TD_TRANS_DEPART"
        | "TRANSIT_PORT_REROUTE_CALLBACK" => LineHaul,
        "LH_ARRIVE" => ArrivedDestination,
        // Cainiao: import customs.
        "CC_HO_IN_SUCCESS" | "CC_IM_START" | "CC_IM_PROCESS" | "CUSTOMS_ARRIVED_IN_AREA_CALLBACK" => Customs,
        "CC_IM_SUCCESS" | "CC_HO_OUT_SUCCESS" => CustomsReleased,
        "CC_IM_FAILURE" | "CC_IM_EXCEPTION" => CustomsHeld,
        // Cainiao: last mile. A pickup STATION signing is not the buyer receiving it.
        "GTMS_ACCEPT" | "GTMS_RELABEL" => HandedToLastMile,
        "GTMS_SC_ARRIVE" | "GTMS_SC_DEPART" | "GTMS_DO_ARRIVE" => DomesticTransit,
        "GTMS_DO_DEPART" | "GTMS_DELIVERING" | "GTMS_RE_DELIVERING" => OutForDelivery,
        "GTMS_DEL_FAILURE" | "GTMS_STA_WAIT_CUST_CHANGE_ADDRESS" => DeliveryFailed,
        "GTMS_WAIT_SELF_PICK" | "GSTA_INFORM_BUYER" | "GTMS_STA_SIGNED" => PickupAvailable,
        "GTMS_SIGNED" => Delivered,
        // Cainiao: return.
        "RT_INBOUND" | "RETURNED" | "RT_OUTBOUND" => Returning,
        "RT_DESTROY" | "EXCEPTION" => Exception,
        // 17TRACK statuses and sub-statuses.
        "InfoReceived" => InfoReceived,
        "InTransit_PickedUp" | "PickedUp" => Accepted,
        "InTransit_Departure" | "Departure" => LineHaul,
        "InTransit_Arrival" | "Arrival" => ArrivedDestination,
        "InTransit_CustomsProcessing" => Customs,
        "InTransit_CustomsReleased" => CustomsReleased,
        "InTransit_CustomsRequiringInformation" => CustomsHeld,
        "AvailableForPickup" | "AvailableForPickup_Other" => PickupAvailable,
        "OutForDelivery" | "OutForDelivery_Other" => OutForDelivery,
        "DeliveryFailure"
        | "DeliveryFailure_Other"
        | "DeliveryFailure_NoBody"
        | "DeliveryFailure_Security"
        | "DeliveryFailure_InvalidAddress"
        | "AttemptFail" => DeliveryFailed,
        "DeliveryFailure_Rejected" => Exception,
        "Delivered" | "Delivered_Other" => Delivered,
        "Exception_Returning" | "Returning" | "Exception_Returned" | "Returned" => Returning,
        "Exception"
        | "Exception_Other"
        | "Exception_NoBody"
        | "Exception_Security"
        | "Exception_Damage"
        | "Exception_Rejected"
        | "Exception_Lost"
        | "Exception_Destroyed"
        | "Exception_Cancel" => Exception,
        // Ship24 status codes.
        "data_order_created" => InfoReceived,
        "data_order_cancelled" => Exception,
        "transit_handover" => Accepted,
        "transit_origin_country_departure" => LineHaul,
        "destination_arrival" => ArrivedDestination,
        "customs_received" => Customs,
        "customs_exception" => CustomsHeld,
        "customs_rejected" => Exception,
        "customs_cleared" => CustomsReleased,
        "delivery_available_for_pickup" => PickupAvailable,
        "delivery_out_for_delivery" => OutForDelivery,
        "delivery_attempted" | "delivery_exception" => DeliveryFailed,
        "delivery_refused" => Exception,
        "delivery_delivered" => Delivered,
        "exception_return" => Returning,
        "exception_lost" | "exception_discarded" => Exception,
        // Ship24 milestones, AfterShip tags and TrackingMore statuses (in_transit, pending,
        // expired and their kin are too generic: the text decides).
        "info_received" => InfoReceived,
        "out_for_delivery" => OutForDelivery,
        "failed_attempt" | "undelivered" => DeliveryFailed,
        "available_for_pickup" | "pickup" => PickupAvailable,
        "delivered" => Delivered,
        "exception" => Exception,
        _ => return None,
    };
    Some(stage)
}

struct TextMatcher {
    automaton: AhoCorasick,
    /// For each pattern: its rule and whether it cancels the rule.
    patterns: Vec<(usize, bool)>,
}

static MATCHER: LazyLock<TextMatcher> = LazyLock::new(|| {
    let mut phrases = Vec::new();
    let mut patterns = Vec::new();
    for (index, rule) in RULES.iter().enumerate() {
        for phrase in rule.any {
            phrases.push(fold_phrase(phrase));
            patterns.push((index, false));
        }
        for phrase in rule.unless {
            phrases.push(fold_phrase(phrase));
            patterns.push((index, true));
        }
    }
    // The phrases are plain strings from our own table; building cannot fail for them, as
    // the unit tests show, so a failure is a defect worth stopping for.
    // A full DFA: about 2,000 phrases make it a few MB, and it reads each byte once.
    let automaton = match AhoCorasick::builder()
        .kind(Some(AhoCorasickKind::DFA))
        .build(&phrases)
    {
        Ok(automaton) => automaton,
        Err(error) => panic!("text rules do not compile: {error}"),
    };
    TextMatcher { automaton, patterns }
});

/// Folds a phrase like event text, but keeps a deliberate leading space (a word start).
fn fold_phrase(phrase: &str) -> String {
    let folded = fold(phrase);
    let trimmed = folded.trim();
    if phrase.starts_with(' ') {
        format!(" {trimmed}")
    } else {
        trimmed.to_owned()
    }
}

/// Classifies an event from its text alone.
pub fn classify_text(text: &str) -> Classification {
    classify_with(&STAGE_MODEL, None, text)
}

/// What the hand-written rules alone read in a text.
pub fn classify_by_rules(text: &str) -> Classification {
    rules_on_folded(&fold(text))
}

/// [`classify_by_rules`] on a text folded with [`fold`].
fn rules_on_folded(folded: &str) -> Classification {
    let matcher = &*MATCHER;
    let mut hits = [false; 64];
    let mut cancels = [false; 64];
    for found in matcher.automaton.find_overlapping_iter(folded) {
        let (rule, cancel) = matcher.patterns[found.pattern().as_usize()];
        if cancel {
            cancels[rule] = true;
        } else {
            hits[rule] = true;
        }
    }
    for (index, rule) in RULES.iter().enumerate() {
        if hits[index] && !cancels[index] {
            return match rule.meaning {
                Meaning::Fixed(stage) => Classification::Stage(stage),
                Meaning::Sided(sides) => Classification::Sided(sides),
            };
        }
    }
    Classification::Unknown
}

/// The model's class order is `Stage::ALL`'s.
#[cfg(test)]
mod order_tests {
    use super::*;
    use crate::interpret::learn::STAGE_CODES;

    #[test]
    fn model_classes_are_the_stages_in_order() {
        let codes: Vec<&str> = Stage::ALL.iter().map(|stage| stage.as_code()).collect();
        assert_eq!(codes, STAGE_CODES);
    }
}

//! Classification of one event into a stage: the provider's own code first, the text
//! when there is no code or the code is unknown or too generic.

use std::sync::LazyLock;

use aho_corasick::AhoCorasick;
use unicode_normalization::UnicodeNormalization;

use super::Stage;
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
    if let Some(stage) = code.and_then(stage_from_code) {
        return Classification::Stage(stage);
    }
    classify_text(text)
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
    let automaton = match AhoCorasick::new(&phrases) {
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
    let folded = fold(text);
    let matcher = &*MATCHER;
    let mut hits = [false; 64];
    let mut cancels = [false; 64];
    for found in matcher.automaton.find_overlapping_iter(folded.as_str()) {
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

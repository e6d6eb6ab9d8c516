//! The simulated carrier (`sim`): realistic, deterministic journeys invented from the
//! number itself, unfolding in the time of the clock it is given. It is what a new user
//! sees with no keys and no network (the console demo), and what end-to-end tests run.
//!
//! A journey starts two days before the carrier is first asked about a number (so the
//! first answer already shows the origin scans), and its events appear as the clock
//! passes their times. The wording is Cainiao's English at the origin and the
//! destination post's language after the handoff to a new local number.
//!
//! Which journey a number gets (documented in the README):
//! - a number of a service that is not tracked abroad (S10 `U…`, e.g. `UA…CN`): the
//!   untracked economy journey, whatever its digits;
//! - otherwise the *scenario digit* decides: for S10 numbers the last digit of the
//!   serial (the one before the check digit), for other numbers their last digit. See
//!   [`Scenario::from_digit`];
//! - the digit before it picks the destination: 0/4/8 the Netherlands (PostNL, Dutch),
//!   1/5/9 France (La Poste, French), 2/6 Spain (Correos, Spanish), 3/7 Brazil (Correios,
//!   Portuguese).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::{Eta, FetchResult, LinkedNumber, Lookup, Shipment, TrackingProvider, is_cainiao_format};
use crate::clock::{Clock, Saturating};
use crate::interpret::Event;
use crate::number::TrackingNumber;
use crate::number::checksum::s10_check_digit;

/// The provider's name, also the `source` of its events.
pub const NAME: &str = "sim";

/// How long before the first question a journey starts.
pub const HEAD_START: Duration = Duration::days(2);

/// What happens to a simulated parcel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scenario {
    /// Normal delivery, handed over to the destination post under a new local number.
    DeliveredWithHandoff,
    /// Held by import customs for duties, released five days later, then delivered.
    CustomsHold,
    /// Eighteen quiet days in line haul (normal for it), then arrival and delivery.
    LongSilence,
    /// The label exists but the parcel is never scanned.
    NeverScanned,
    /// An economy service that is not tracked abroad: origin scans, then silence.
    Untracked,
    /// Delivered in another city: the number belongs to another buyer.
    DeliveredElsewhere,
    /// Delivered weeks before the order date: a recycled number.
    DeliveredBeforeOrder,
    /// A failed delivery attempt, then the parcel waits at a pick-up point and is
    /// collected.
    FailedThenPickup,
    /// Refused at the destination and returned to the sender.
    Returned,
    /// Normal delivery by Cainiao's own last mile, no new number.
    DeliveredDirect,
}

impl Scenario {
    /// Every scenario.
    pub const ALL: [Scenario; 10] = [
        Scenario::DeliveredWithHandoff,
        Scenario::CustomsHold,
        Scenario::LongSilence,
        Scenario::NeverScanned,
        Scenario::Untracked,
        Scenario::DeliveredElsewhere,
        Scenario::DeliveredBeforeOrder,
        Scenario::FailedThenPickup,
        Scenario::Returned,
        Scenario::DeliveredDirect,
    ];

    /// The scenario of a scenario digit (the untracked journey is chosen by the format,
    /// not by a digit).
    pub fn from_digit(digit: u8) -> Scenario {
        match digit {
            1 => Scenario::CustomsHold,
            2 => Scenario::LongSilence,
            3 => Scenario::NeverScanned,
            4 => Scenario::DeliveredDirect,
            5 => Scenario::DeliveredElsewhere,
            6 => Scenario::DeliveredBeforeOrder,
            7 => Scenario::FailedThenPickup,
            8 => Scenario::Returned,
            _ => Scenario::DeliveredWithHandoff,
        }
    }

    /// The scenario the simulated carrier plays for `number`.
    pub fn for_number(number: &TrackingNumber) -> Scenario {
        if is_untracked_format(number) {
            return Scenario::Untracked;
        }
        Scenario::from_digit(key_digits(number).0)
    }

    /// The scenario's code, as the README lists it.
    pub fn as_code(self) -> &'static str {
        match self {
            Scenario::DeliveredWithHandoff => "delivered_with_handoff",
            Scenario::CustomsHold => "customs_hold",
            Scenario::LongSilence => "long_silence",
            Scenario::NeverScanned => "never_scanned",
            Scenario::Untracked => "untracked",
            Scenario::DeliveredElsewhere => "delivered_elsewhere",
            Scenario::DeliveredBeforeOrder => "delivered_before_order",
            Scenario::FailedThenPickup => "failed_then_pickup",
            Scenario::Returned => "returned",
            Scenario::DeliveredDirect => "delivered_direct",
        }
    }
}

/// Where the simulated parcel `number` goes: `(ISO country, the buyer's city)`. The
/// console demo uses it as the buyer's address, so that the verdicts make sense.
pub fn buyer_home(number: &TrackingNumber) -> (&'static str, &'static str) {
    let destination = destination_of(key_digits(number).1);
    (destination.country, destination.city)
}

fn is_untracked_format(number: &TrackingNumber) -> bool {
    number.format() == "s10" && number.as_str().starts_with('U')
}

/// `(scenario digit, destination digit)` of a number.
fn key_digits(number: &TrackingNumber) -> (u8, u8) {
    let text = number.as_str();
    let digits: Vec<u8> = if number.format() == "s10" && text.len() == 13 {
        text[2..10].bytes().map(|b| b - b'0').collect()
    } else {
        text.bytes()
            .filter(u8::is_ascii_digit)
            .map(|b| b - b'0')
            .collect()
    };
    let scenario = digits.last().copied().unwrap_or(0);
    let destination = digits.iter().rev().nth(1).copied().unwrap_or(0);
    (scenario, destination)
}

/// A destination country's post and its words.
struct Destination {
    country: &'static str,
    country_name: &'static str,
    post: &'static str,
    city: &'static str,
    other_city: &'static str,
    sorted: &'static str,
    out_for_delivery: &'static str,
    delivered: &'static str,
    failed: &'static str,
    pickup: &'static str,
    collected: &'static str,
    returned: &'static str,
}

const NETHERLANDS: Destination = Destination {
    country: "NL",
    country_name: "Netherlands",
    post: "PostNL",
    city: "Utrecht",
    other_city: "Groningen",
    sorted: "Zending is gesorteerd",
    out_for_delivery: "Bezorger is onderweg",
    delivered: "Zending is bezorgd",
    failed: "Zending kon niet worden bezorgd: niemand thuis",
    pickup: "Zending ligt klaar bij het PostNL-punt",
    collected: "Zending is opgehaald bij het PostNL-punt",
    returned: "Zending wordt retour gestuurd naar de afzender",
};

const FRANCE: Destination = Destination {
    country: "FR",
    country_name: "France",
    post: "La Poste",
    city: "Lyon",
    other_city: "Lille",
    sorted: "Votre colis est en attente de distribution et sera livré prochainement",
    out_for_delivery: "Votre colis est en cours de livraison",
    delivered: "Votre colis a été livré",
    failed: "Votre colis n'a pas pu être livré, le destinataire était absent",
    pickup: "Votre colis est disponible dans le point de retrait sélectionné",
    collected: "Votre colis a été remis au destinataire dans le point de retrait",
    returned: "Le colis a été refusé par le destinataire. Il est retourné à l'expéditeur",
};

const SPAIN: Destination = Destination {
    country: "ES",
    country_name: "Spain",
    post: "Correos",
    city: "Valencia",
    other_city: "Bilbao",
    sorted: "En tránsito",
    out_for_delivery: "En proceso de entrega",
    delivered: "Entregado",
    failed: "Entrega no realizada: destinatario ausente",
    pickup: "Disponible para recoger en oficina",
    collected: "Entregado en oficina",
    returned: "Devuelto al remitente",
};

const BRAZIL: Destination = Destination {
    country: "BR",
    country_name: "Brazil",
    post: "Correios",
    city: "Curitiba",
    other_city: "Recife",
    sorted: "Objeto em trânsito - por favor aguarde",
    out_for_delivery: "Objeto saiu para entrega ao destinatário",
    delivered: "Objeto entregue ao destinatário",
    failed: "Tentativa de entrega não efetuada",
    pickup: "Objeto aguardando retirada no endereço indicado",
    collected: "Objeto entregue ao destinatário na agência",
    returned: "Objeto em devolução ao remetente",
};

fn destination_of(digit: u8) -> &'static Destination {
    match digit % 4 {
        1 => &FRANCE,
        2 => &SPAIN,
        3 => &BRAZIL,
        _ => &NETHERLANDS,
    }
}

/// One step of a journey: hours after its start, and what happens.
struct Step {
    hours: i64,
    code: Option<&'static str>,
    text: String,
    location: Option<String>,
    local: bool,
}

fn cainiao(hours: i64, code: &'static str, text: &str, location: Option<&str>) -> Step {
    Step {
        hours,
        code: Some(code),
        text: text.to_owned(),
        location: location.map(str::to_owned),
        local: false,
    }
}

fn post(hours: i64, text: &str, location: Option<String>) -> Step {
    Step {
        hours,
        code: None,
        text: text.to_owned(),
        location,
        local: true,
    }
}

/// A journey: the scenario's steps for one number.
struct Journey {
    scenario: Scenario,
    destination: &'static Destination,
    local_number: Option<String>,
    steps: Vec<Step>,
}

impl Journey {
    fn plan(number: &TrackingNumber) -> Journey {
        let scenario = Scenario::for_number(number);
        let destination = destination_of(key_digits(number).1);
        let handoff = !matches!(
            scenario,
            Scenario::DeliveredDirect | Scenario::NeverScanned | Scenario::Untracked
        );
        let local_number = handoff.then(|| local_number_for(number.as_str(), destination));
        let mut steps = Vec::new();
        if scenario == Scenario::NeverScanned {
            return Journey {
                scenario,
                destination,
                local_number: None,
                steps,
            };
        }
        steps.extend([
            cainiao(0, "CONSIGN", "The seller has created the shipping label", None),
            cainiao(
                18,
                "PU_PICKUP_SUCCESS",
                "Package picked up by the carrier",
                Some("Shenzhen"),
            ),
            cainiao(
                26,
                "SC_INBOUND_SUCCESS",
                "Arrived at sorting center",
                Some("Shenzhen"),
            ),
            cainiao(
                30,
                "SC_OUTBOUND_SUCCESS",
                "Departed from sorting center",
                Some("Shenzhen"),
            ),
            cainiao(
                48,
                "CC_EX_START",
                "Export customs clearance started",
                Some("Hong Kong"),
            ),
            cainiao(
                54,
                "CC_EX_SUCCESS",
                "Export customs clearance complete",
                Some("Hong Kong"),
            ),
            cainiao(
                60,
                "LH_HO_IN_SUCCESS",
                "Received by line-haul carrier",
                Some("Hong Kong"),
            ),
            cainiao(
                80,
                "LH_DEPART",
                "Departed from departure country/region",
                Some("Hong Kong"),
            ),
        ]);
        if scenario == Scenario::Untracked {
            return Journey {
                scenario,
                destination,
                local_number,
                steps,
            };
        }
        // Line haul: two days normally; eighteen quiet days in the long-silence journey,
        // still inside what is normal for that stage.
        let mut at = if scenario == Scenario::LongSilence {
            80 + 18 * 24
        } else {
            120
        };
        let hub = format!("{}, {}", destination.city, destination.country);
        steps.push(cainiao(
            at,
            "LH_ARRIVE",
            "Arrived at destination country/region",
            Some(&hub),
        ));
        at += 10;
        steps.push(cainiao(
            at,
            "CC_IM_START",
            "Import customs clearance started",
            Some(&hub),
        ));
        if scenario == Scenario::CustomsHold {
            at += 20;
            steps.push(cainiao(
                at,
                "CC_IM_EXCEPTION",
                "Held by customs: import duties and VAT must be paid by the recipient",
                Some(&hub),
            ));
            at += 5 * 24;
            steps.push(cainiao(
                at,
                "CC_IM_SUCCESS",
                "Duties paid; released by customs",
                Some(&hub),
            ));
        } else {
            at += 30;
            steps.push(cainiao(
                at,
                "CC_IM_SUCCESS",
                "Import customs clearance complete",
                Some(&hub),
            ));
        }
        at += 12;
        if let Some(local) = &local_number {
            steps.push(cainiao(
                at,
                "GTMS_ACCEPT",
                &format!(
                    "Handed over to {} for delivery; new tracking number {local}",
                    destination.post
                ),
                Some(&hub),
            ));
            steps.last_mut().into_iter().for_each(|s| s.local = true);
            at += 24;
            steps.push(post(at, destination.sorted, Some(destination.city.to_owned())));
            at += 20;
            steps.push(post(at, destination.out_for_delivery, None));
            at += 6;
        } else {
            steps.push(cainiao(
                at,
                "GTMS_SC_ARRIVE",
                "Arrived at local delivery center",
                Some(&hub),
            ));
            at += 24;
            steps.push(cainiao(at, "GTMS_DO_DEPART", "Out for delivery", None));
            at += 6;
        }
        match scenario {
            Scenario::DeliveredElsewhere => steps.push(post(
                at,
                destination.delivered,
                Some(format!(
                    "{}, {}",
                    destination.other_city, destination.country_name
                )),
            )),
            Scenario::FailedThenPickup => {
                steps.push(post(at, destination.failed, None));
                at += 18;
                steps.push(post(at, destination.pickup, Some(destination.city.to_owned())));
                at += 72;
                steps.push(post(at, destination.collected, None));
            }
            Scenario::Returned => {
                steps.push(post(at, destination.failed, None));
                at += 48;
                steps.push(post(at, destination.returned, Some(destination.city.to_owned())));
            }
            Scenario::DeliveredDirect => {
                steps.push(cainiao(
                    at,
                    "GTMS_SIGNED",
                    "Delivered, signed by the recipient",
                    None,
                ));
            }
            _ => steps.push(post(at, destination.delivered, None)),
        }
        if scenario == Scenario::DeliveredBeforeOrder {
            // A recycled number: the whole journey ended weeks before this order.
            for step in &mut steps {
                step.hours -= 40 * 24;
            }
        }
        Journey {
            scenario,
            destination,
            local_number,
            steps,
        }
    }
}

/// A deterministic local number for the destination post: PostNL's `3S…` form, or an
/// S10 number of the destination country with a correct check digit.
fn local_number_for(number: &str, destination: &Destination) -> String {
    // FNV-1a: stable across runs and platforms, unlike the standard hasher.
    let hash = number.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let serial = format!("{:08}", hash % 100_000_000);
    if destination.country == "NL" {
        return format!("3SCNLA{serial}");
    }
    let check = s10_check_digit(&serial).unwrap_or(0);
    format!("CP{serial}{check}{}", destination.country)
}

#[derive(Debug, Clone)]
struct Anchor {
    /// The number the journey belongs to.
    origin: TrackingNumber,
    /// Hour zero of the journey.
    start: DateTime<Utc>,
}

/// The simulated carrier.
#[derive(Debug)]
pub struct SimulatedCarrier<C> {
    clock: C,
    anchors: Mutex<HashMap<String, Anchor>>,
}

impl<C: Clock> SimulatedCarrier<C> {
    /// A simulated carrier living in `clock`'s time.
    pub fn new(clock: C) -> SimulatedCarrier<C> {
        SimulatedCarrier {
            clock,
            anchors: Mutex::new(HashMap::new()),
        }
    }

    /// Hour zero of `number`'s journey, once it has been asked about.
    pub fn journey_start(&self, number: &str) -> Option<DateTime<Utc>> {
        self.anchors
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(number)
            .map(|anchor| anchor.start)
    }

    /// Starts `number`'s journey at `start` (to restore a journey after a restart, or to
    /// set up a test), unless it has started already.
    pub fn start_journey(&self, number: &TrackingNumber, start: DateTime<Utc>) {
        let mut anchors = self.anchors.lock().unwrap_or_else(PoisonError::into_inner);
        anchors
            .entry(number.as_str().to_owned())
            .or_insert_with(|| Anchor {
                origin: number.clone(),
                start,
            });
        let journey = Journey::plan(number);
        if let Some(local) = journey.local_number {
            anchors.entry(local).or_insert_with(|| Anchor {
                origin: number.clone(),
                start,
            });
        }
    }

    fn answer(&self, number: &TrackingNumber, now: DateTime<Utc>) -> Lookup {
        let anchor = {
            let known = self
                .anchors
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(number.as_str())
                .cloned();
            match known {
                Some(anchor) => anchor,
                None => {
                    self.start_journey(number, now.minus(HEAD_START));
                    Anchor {
                        origin: number.clone(),
                        start: now.minus(HEAD_START),
                    }
                }
            }
        };
        let journey = Journey::plan(&anchor.origin);
        let asked_local = anchor.origin.as_str() != number.as_str();
        if journey.scenario == Scenario::NeverScanned {
            return if is_cainiao_format(number) {
                Lookup::NotYetShipped
            } else {
                Lookup::Unknown { authoritative: false }
            };
        }
        let origin = anchor.origin.as_str();
        let local = journey.local_number.as_deref();
        let events: Vec<Event> = journey
            .steps
            .iter()
            .map(|step| (anchor.start.plus(Duration::hours(step.hours)), step))
            .filter(|(at, _)| *at <= now)
            // The destination post shows only its own leg; Cainiao shows everything.
            .filter(|(_, step)| !asked_local || step.local)
            .map(|(at, step)| Event {
                time: at.fixed_offset(),
                text: step.text.clone(),
                location: step.location.clone(),
                code: step.code.map(str::to_owned),
                source: Some(NAME.to_owned()),
                number: Some(
                    if step.local {
                        local.unwrap_or(origin)
                    } else {
                        origin
                    }
                    .to_owned(),
                ),
            })
            .collect();
        if events.is_empty() {
            return if asked_local {
                Lookup::Unknown { authoritative: false }
            } else {
                Lookup::NotYetShipped
            };
        }
        let handed_over = events.iter().any(|e| e.number.as_deref() != Some(origin));
        let linked_numbers = match (asked_local, handed_over, local) {
            (false, true, Some(local)) => vec![LinkedNumber {
                number: local.to_owned(),
                carrier: Some(journey.destination.post.to_owned()),
            }],
            _ => Vec::new(),
        };
        let last_step = journey.steps.last().map_or(0, |s| s.hours);
        Lookup::Found(Shipment {
            events,
            origin_country: Some("CN".to_owned()),
            destination_country: Some(journey.destination.country.to_owned()),
            linked_numbers,
            eta: (journey.scenario != Scenario::Untracked).then(|| Eta {
                earliest: Some(anchor.start.plus(Duration::hours(last_step - 48))),
                latest: Some(anchor.start.plus(Duration::hours(last_step + 72))),
            }),
            weight_grams: Some(120 + u32::from(key_digits(&anchor.origin).1) * 85),
        })
    }
}

impl<C: Clock> TrackingProvider for SimulatedCarrier<C> {
    fn name(&self) -> &'static str {
        NAME
    }

    fn serves(&self, _number: &TrackingNumber) -> bool {
        true
    }

    fn batch_size(&self) -> usize {
        40
    }

    async fn fetch(&self, numbers: &[TrackingNumber]) -> Vec<FetchResult> {
        let now = self.clock.now();
        numbers
            .iter()
            .map(|number| Ok(self.answer(number, now)))
            .collect()
    }
}

#[cfg(test)]
mod tests;

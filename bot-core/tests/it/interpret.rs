//! Interpretation: classification accuracy on real texts, provider codes, merging,
//! the current stage, handoffs and every verdict.

use bot_core::interpret::classify::{Classification, classify, stage_from_code};
use bot_core::interpret::event::parse_time;
use bot_core::interpret::judge::{AuthenticityVerdict, SilenceVerdict, Urgency};
use bot_core::interpret::{AssessInput, Assessment, Event, Stage, assess, merge};
use bot_core::messages::{Language, has};
use chrono::{DateTime, FixedOffset};
use proptest::prelude::*;

const EVENTS_DEV: &str = include_str!("../data/events-dev.tsv");

#[test]
fn events_dev_accuracy_is_at_least_97_percent() {
    let mut total = 0;
    let mut misses = Vec::new();
    for line in EVENTS_DEV.lines().skip(1) {
        let columns: Vec<&str> = line.split('\t').collect();
        let [text, _lang, carrier, expected] = columns[..] else {
            continue;
        };
        total += 1;
        let got = classify(None, text).without_context(text).map(Stage::as_code);
        if got != Some(expected) {
            misses.push(format!("{text:?} ({carrier}): got {got:?}, want {expected}"));
        }
    }
    let accuracy = 100.0 * (total - misses.len()) as f64 / total as f64;
    println!(
        "events-dev: {}/{total} correct, accuracy {accuracy:.1}%",
        total - misses.len()
    );
    for miss in &misses {
        println!("miss: {miss}");
    }
    assert_eq!(total, 106);
    assert!(accuracy >= 97.0, "accuracy {accuracy:.1}% below 97%");
}

#[track_caller]
fn check_code(code: &str, expect: Stage) {
    assert_eq!(stage_from_code(code), Some(expect), "{code}");
}

#[test]
fn every_listed_cainiao_code() {
    use Stage::*;
    for (code, stage) in [
        ("CONSIGN", InfoReceived),
        ("OM_CONSIGN", InfoReceived),
        ("GTMS_ASN", InfoReceived),
        ("GWMS_ACCEPT", InfoReceived),
        ("GWMS_PACKAGE", InfoReceived),
        ("GWMS_OUTBOUND", Accepted),
        ("PRE_READY_TO_SHIP", InfoReceived),
        ("PU_PICKUP_SUCCESS", Accepted),
        ("SC_INBOUND_SUCCESS", OriginSorting),
        ("SC_OUTBOUND_SUCCESS", OriginSorting),
        ("SC_HO_OUT_SUCCESS", OriginSorting),
        ("CW_INBOUND", OriginSorting),
        ("CW_OUTBOUND", OriginSorting),
        ("CC_EX_START", Export),
        ("CC_EX_SUCCESS", Export),
        ("CC_EX_FAILURE", Exception),
        ("LH_HO_IN_SUCCESS", LineHaul),
        ("LH_HO_AIRLINE", Export),
        ("LH_DEPART", LineHaul),
        ("LH_ARRIVE", ArrivedDestination),
        ("LH_HO_OUT_SUCCESS", LineHaul),
        ("TD_TRANS_ARRIVE", LineHaul),
        ("TD_TRANS_DEPART", LineHaul),
        ("CC_HO_IN_SUCCESS", Customs),
        ("CC_IM_START", Customs),
        ("CC_IM_PROCESS", Customs),
        ("CC_IM_SUCCESS", CustomsReleased),
        ("CC_IM_FAILURE", CustomsHeld),
        ("CC_HO_OUT_SUCCESS", CustomsReleased),
        ("GTMS_ACCEPT", HandedToLastMile),
        ("GTMS_SC_ARRIVE", DomesticTransit),
        ("GTMS_SC_DEPART", DomesticTransit),
        ("GTMS_DO_ARRIVE", DomesticTransit),
        ("GTMS_DO_DEPART", OutForDelivery),
        ("GTMS_DELIVERING", OutForDelivery),
        ("GTMS_DEL_FAILURE", DeliveryFailed),
        ("GTMS_RE_DELIVERING", OutForDelivery),
        ("GTMS_RELABEL", HandedToLastMile),
        ("GTMS_WAIT_SELF_PICK", PickupAvailable),
        ("GSTA_INFORM_BUYER", PickupAvailable),
        ("GTMS_STA_SIGNED", PickupAvailable),
        ("GTMS_SIGNED", Delivered),
        ("GTMS_STA_WAIT_CUST_CHANGE_ADDRESS", DeliveryFailed),
        ("RT_INBOUND", Returning),
        ("RETURNED", Returning),
        ("RT_OUTBOUND", Returning),
        ("RT_DESTROY", Exception),
        ("LAST_MILE_ASN_NOTIFY", HandedToLastMile),
        ("CUSTOMS_ARRIVED_IN_AREA_CALLBACK", Customs),
        ("TRANSIT_PORT_REROUTE_CALLBACK", LineHaul),
        ("WMS_CONFIRMED", InfoReceived),
        ("LH_BIGBAG_SHELVE", OriginSorting),
        ("EXCEPTION", Exception),
        ("CC_IM_EXCEPTION", CustomsHeld),
    ] {
        if code == "LAST_MILE_ASN_NOTIFY" {
            // A pre-advice to the last mile with no stage of its own: the text decides.
            assert_eq!(stage_from_code(code), None);
            continue;
        }
        check_code(code, stage);
    }
}

#[test]
fn aggregator_codes() {
    use Stage::*;
    for (code, stage) in [
        ("InfoReceived", InfoReceived),
        ("InTransit_PickedUp", Accepted),
        ("InTransit_Departure", LineHaul),
        ("InTransit_Arrival", ArrivedDestination),
        ("InTransit_CustomsProcessing", Customs),
        ("InTransit_CustomsReleased", CustomsReleased),
        ("InTransit_CustomsRequiringInformation", CustomsHeld),
        ("AvailableForPickup", PickupAvailable),
        ("OutForDelivery", OutForDelivery),
        ("DeliveryFailure_NoBody", DeliveryFailed),
        ("DeliveryFailure_InvalidAddress", DeliveryFailed),
        ("Delivered", Delivered),
        ("Exception_Returning", Returning),
        ("Exception_Returned", Returning),
        ("Exception_Lost", Exception),
        ("Exception_Damage", Exception),
        ("data_order_created", InfoReceived),
        ("transit_origin_country_departure", LineHaul),
        ("destination_arrival", ArrivedDestination),
        ("customs_received", Customs),
        ("customs_exception", CustomsHeld),
        ("customs_cleared", CustomsReleased),
        ("delivery_available_for_pickup", PickupAvailable),
        ("delivery_out_for_delivery", OutForDelivery),
        ("delivery_attempted", DeliveryFailed),
        ("delivery_delivered", Delivered),
        ("exception_return", Returning),
        ("exception_lost", Exception),
        ("failed_attempt", DeliveryFailed),
        ("AttemptFail", DeliveryFailed),
    ] {
        check_code(code, stage);
    }
    // Generic or unknown codes fall back to the text, never to "unknown".
    for code in [
        "InTransit_Other",
        "in_transit",
        "InTransit",
        "COMMON_INTRANSIT",
        "NEVER_SEEN_CODE",
    ] {
        assert_eq!(stage_from_code(code), None, "{code}");
        assert_eq!(
            classify(Some(code), "Delivered to the addressee"),
            Classification::Stage(Delivered)
        );
    }
    // The code wins over misleading text: a station signing is not the buyer receiving it.
    assert_eq!(
        classify(Some("GTMS_STA_SIGNED"), "Signed"),
        Classification::Stage(PickupAvailable)
    );
}

#[test]
fn text_rules_in_many_languages() {
    use Stage::*;
    for (text, stage) in [
        ("Not delivered - nobody at home", DeliveryFailed),
        ("Objeto entregue ao remetente", Returning),
        ("Entregue ao destinatário", Delivered),
        ("已签收，签收人：本人", Delivered),
        ("快件已到达【深圳转运中心】", OriginSorting),
        ("Paczka odebrana przez adresata", Delivered),
        ("Przesyłka w drodze", DomesticTransit),
        ("Gönderi dağıtıma çıkarıldı", OutForDelivery),
        ("La spedizione è in consegna", OutForDelivery),
        ("Ihre Sendung wurde zugestellt", Delivered),
        ("Die Sendung konnte nicht zugestellt werden", DeliveryFailed),
        ("El envío ha sido entregado", Delivered),
        ("Відправлення отримано", Delivered),
        ("Посылка вручена адресату", Delivered),
        ("החבילה נמסרה", Delivered),
        ("Votre colis sera livré demain", DomesticTransit),
        ("Pakket is bezorgd bij de buren", Delivered),
    ] {
        // The rules themselves: the corpus teaches some of these wordings otherwise
        // ("przesyłka w drodze" is TrackingMore's international "transit").
        let got = bot_core::interpret::classify::classify_by_rules(text).without_context(text);
        assert_eq!(got, Some(stage), "{text}");
    }
}

#[test]
fn customs_and_linehaul_office_depend_on_the_side() {
    let started = classify(None, "Customs clearance started");
    assert_eq!(started.resolve(false), Some(Stage::Export));
    assert_eq!(started.resolve(true), Some(Stage::Customs));
    let office = classify(None, "Arrived at linehaul office");
    assert_eq!(office.resolve(false), Some(Stage::Export));
    assert_eq!(office.resolve(true), Some(Stage::ArrivedDestination));
}

#[test]
fn cainiao_times_without_zone_are_china_time() {
    let with_zone = parse_time("2026-08-27 16:35:00", Some("GMT+08:00")).expect("parses");
    let without = parse_time("2026-08-27 16:35:00", Some("")).expect("parses");
    assert_eq!(with_zone, without);
    assert_eq!(with_zone.to_rfc3339(), "2026-08-27T16:35:00+08:00");
    let brasilia = parse_time("2026-08-27 16:35", Some("GMT-03:00")).expect("parses");
    assert_eq!(brasilia.to_rfc3339(), "2026-08-27T16:35:00-03:00");
}

fn t(rfc3339: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(rfc3339).expect("valid time")
}

fn event(time: &str, text: &str, source: &str) -> Event {
    Event {
        time: t(time),
        text: text.to_owned(),
        location: None,
        code: None,
        source: Some(source.to_owned()),
        number: None,
    }
}

#[test]
fn merging_converts_to_utc_dedups_and_keeps_provenance() {
    let timeline = merge(
        [
            event("2026-09-02T10:00:00+02:00", "Delivered", "ship24"),
            event("2026-09-02T08:00:30Z", "Delivered", "seventeen_track"),
            event(
                "2026-08-20T16:35:00+08:00",
                "Departed from departure country/region",
                "cainiao",
            ),
            event(
                "2026-08-20T16:35:00+08:00",
                "Departed from departure country/region",
                "cainiao",
            ),
        ],
        &["RB123456785CN"],
    );
    assert_eq!(timeline.events.len(), 2);
    assert_eq!(timeline.events[1].sources, ["seventeen_track", "ship24"]);
    assert_eq!(timeline.stage(), Some(Stage::Delivered));
}

#[test]
fn a_late_old_event_does_not_move_the_parcel_back_but_real_roll_backs_show() {
    let late = merge(
        [
            event(
                "2026-09-01T09:00:00Z",
                "Arrived at destination country/region sorting center",
                "cainiao",
            ),
            event("2026-09-01T12:00:00Z", "Outbound in sorting center", "ship24"),
        ],
        &[],
    );
    assert_eq!(late.stage(), Some(Stage::ArrivedDestination));
    let roll_back = merge(
        [
            event("2026-09-01T07:00:00Z", "Out for delivery", "ship24"),
            event("2026-09-01T19:00:00Z", "Arrived at local facility", "ship24"),
        ],
        &[],
    );
    assert_eq!(roll_back.stage(), Some(Stage::DomesticTransit));
}

#[test]
fn handoffs_from_fields_codes_and_text() {
    let mut relabel = event(
        "2026-09-01T09:00:00Z",
        "Last mile tracking number: 3SABCD123456789",
        "cainiao",
    );
    relabel.code = Some("GTMS_RELABEL".to_owned());
    let mut field = event("2026-09-02T09:00:00Z", "Delivered to the addressee", "ship24");
    field.number = Some("9400111206206406260787".to_owned());
    let timeline = merge([relabel, field], &["LP00123456789012"]);
    let numbers: Vec<(&str, Option<&str>)> = timeline
        .handoffs
        .iter()
        .map(|h| (h.number.as_str(), h.carrier.as_deref()))
        .collect();
    assert_eq!(
        numbers,
        [
            ("3SABCD123456789", Some("PostNL")),
            ("9400111206206406260787", Some("USPS"))
        ]
    );
}

fn case(json: serde_json::Value) -> Assessment {
    let input: AssessInput = serde_json::from_value(json).expect("valid case");
    assess(input)
}

#[test]
fn verdict_genuine_and_line_haul_silence() {
    let result = case(serde_json::json!({
        "number": "RB123456785CN", "now": "2026-09-20T00:00:00Z", "shipped_at": "2026-08-25T00:00:00Z",
        "events": [
            {"time": "2026-08-26T10:00:00+08:00", "text": "Accepted by carrier"},
            {"time": "2026-09-05T10:00:00+08:00", "text": "Handed over to airline"}
        ]
    }));
    assert_eq!(result.stage, Some(Stage::LineHaul));
    let silence = result.silence.expect("silence");
    assert_eq!(silence.verdict, SilenceVerdict::Normal);
    assert_eq!(silence.days, 14.9);
    assert_eq!(result.authenticity.verdict, AuthenticityVerdict::Genuine);
    assert!(result.summary.contains("normal"), "{}", result.summary);
}

#[test]
fn verdict_not_scanned_yet_then_suspicious() {
    let early = case(
        serde_json::json!({"number": "RB123456785CN", "now": "2026-09-04T00:00:00Z", "shipped_at": "2026-09-01T00:00:00Z", "events": []}),
    );
    assert_eq!(early.authenticity.verdict, AuthenticityVerdict::NotScannedYet);
    let late = case(
        serde_json::json!({"number": "RB123456785CN", "now": "2026-09-12T00:00:00Z", "shipped_at": "2026-09-01T00:00:00Z", "events": []}),
    );
    assert_eq!(late.authenticity.verdict, AuthenticityVerdict::Suspicious);
    assert_eq!(late.silence.map(|s| s.verdict), Some(SilenceVerdict::Act));
}

/// A Cainiao number without events, `days` after shipping, with what the sources said.
fn silent_cainiao_number(days: u32, sources: serde_json::Value) -> Assessment {
    case(serde_json::json!({
        "number": "LP00498000000000",
        "now": format!("2026-09-{:02}T00:00:00Z", 1 + days),
        "shipped_at": "2026-09-01T00:00:00Z",
        "events": [],
        "sources": sources
    }))
}

#[test]
fn awaiting_dispatch_is_its_own_state_with_its_own_advice() {
    let early = silent_cainiao_number(3, serde_json::json!({"not_handed_over": true}));
    assert_eq!(early.authenticity.verdict, AuthenticityVerdict::AwaitingDispatch);
    assert_eq!(early.next_step, "next.wait_dispatch");
    assert!(
        early.summary.contains("not handed the parcel over"),
        "{}",
        early.summary
    );
    let late = silent_cainiao_number(11, serde_json::json!({"not_handed_over": true}));
    assert_eq!(late.authenticity.verdict, AuthenticityVerdict::AwaitingDispatch);
    assert_eq!(late.next_step, "next.ask_seller_dispatch");
    assert_eq!(
        late.authenticity.reasons,
        vec!["awaiting_dispatch", "past_first_scan_window"]
    );
}

#[test]
fn unknown_to_cainiao_is_a_reason_only_after_the_first_scan_window() {
    let early = silent_cainiao_number(3, serde_json::json!({"unknown_to": ["cainiao"]}));
    assert_eq!(early.authenticity.verdict, AuthenticityVerdict::NotScannedYet);
    assert!(
        !early
            .authenticity
            .reasons
            .iter()
            .any(|r| r.starts_with("unknown_to"))
    );
    let late = silent_cainiao_number(11, serde_json::json!({"unknown_to": ["cainiao"]}));
    assert_eq!(late.authenticity.verdict, AuthenticityVerdict::Suspicious);
    assert!(
        late.authenticity
            .reasons
            .contains(&"unknown_to_cainiao".to_owned())
    );
    let pending = silent_cainiao_number(1, serde_json::json!({"pending": true}));
    assert_eq!(pending.authenticity.verdict, AuthenticityVerdict::NotScannedYet);
    assert!(
        pending.summary.contains("just started looking"),
        "{}",
        pending.summary
    );
}

#[test]
fn verdict_typo_and_untracked_service() {
    let typo =
        case(serde_json::json!({"number": "RB123456786CN", "now": "2026-09-04T00:00:00Z", "events": []}));
    assert_eq!(typo.authenticity.verdict, AuthenticityVerdict::Typo);
    assert_eq!(typo.authenticity.reasons, ["check_digit_bad"]);
    let untracked = case(
        serde_json::json!({"number": "UA123456785CN", "now": "2026-09-30T00:00:00Z", "shipped_at": "2026-09-01T00:00:00Z", "events": []}),
    );
    assert_eq!(
        untracked.authenticity.verdict,
        AuthenticityVerdict::UntrackedService
    );
    assert_eq!(untracked.silence.map(|s| s.verdict), Some(SilenceVerdict::Normal));
}

#[test]
fn verdict_stuck_past_the_act_limit() {
    let stuck = case(serde_json::json!({
        "number": "RB123456785CN", "now": "2026-10-20T00:00:00Z",
        "events": [{"time": "2026-09-01T10:00:00+08:00", "text": "Handed over to airline"}]
    }));
    assert_eq!(stuck.authenticity.verdict, AuthenticityVerdict::Suspicious);
    assert_eq!(stuck.authenticity.reasons, ["stuck_past_act_limit"]);
}

#[test]
fn verdict_not_yours_delivered_before_shipment_or_elsewhere() {
    let before = case(serde_json::json!({
        "number": "RB123456785CN", "now": "2026-09-10T00:00:00Z",
        "ordered_at": "2026-09-01T00:00:00Z", "shipped_at": "2026-09-03T00:00:00Z",
        "events": [
            {"time": "2026-08-10T10:00:00+08:00", "text": "Accepted"},
            {"time": "2026-08-20T10:00:00+02:00", "text": "Delivered"}
        ]
    }));
    assert_eq!(before.authenticity.verdict, AuthenticityVerdict::NotYours);
    assert_eq!(before.authenticity.reasons, ["delivered_before_order"]);
    let elsewhere = case(serde_json::json!({
        "number": "RB123456785CN", "now": "2026-09-20T00:00:00Z", "ordered_at": "2026-09-01T00:00:00Z",
        "destination": {"country": "BR", "city": "Rio de Janeiro"},
        "events": [{"time": "2026-09-18T10:00:00-03:00", "text": "Objeto entregue ao destinatário", "location": "SAO PAULO - SP"}]
    }));
    assert_eq!(elsewhere.authenticity.verdict, AuthenticityVerdict::NotYours);
    assert_eq!(elsewhere.authenticity.reasons, ["delivered_in_other_city"]);
    let home = case(serde_json::json!({
        "number": "RB123456785CN", "now": "2026-09-20T00:00:00Z", "ordered_at": "2026-09-01T00:00:00Z",
        "destination": {"country": "BR", "city": "São Paulo"},
        "events": [{"time": "2026-09-18T10:00:00-03:00", "text": "Objeto entregue ao destinatário", "location": "CEP 01310-100 SAO PAULO - SP"}]
    }));
    assert_eq!(home.authenticity.verdict, AuthenticityVerdict::Genuine);
    let moscow = case(serde_json::json!({
        "number": "RB123456785CN", "now": "2026-09-20T00:00:00Z", "destination": {"country": "RU", "city": "Moscow"},
        "events": [{"time": "2026-09-18T10:00:00+03:00", "text": "Вручение адресату", "location": "Москва 101000"}]
    }));
    assert_eq!(moscow.authenticity.verdict, AuthenticityVerdict::Genuine);
}

#[test]
fn station_signed_is_not_delivered() {
    let result = case(serde_json::json!({
        "number": "LP00123456789012", "now": "2026-09-20T00:00:00Z", "protection_ends": "2026-09-21T12:00:00Z",
        "events": [{"time": "2026-09-19T10:00:00+08:00", "text": "Signed", "code": "GTMS_STA_SIGNED"}]
    }));
    assert_eq!(result.stage, Some(Stage::PickupAvailable));
    assert_eq!(result.protection.urgency, Urgency::Urgent);
    assert_eq!(result.protection.days_left, Some(1.5));
}

#[test]
fn export_then_import_customs_in_one_timeline() {
    let result = case(serde_json::json!({
        "number": "RB123456785CN", "now": "2026-09-12T00:00:00Z",
        "events": [
            {"time": "2026-09-01T10:00:00+08:00", "text": "Customs clearance started"},
            {"time": "2026-09-02T10:00:00+08:00", "text": "Flight departed"},
            {"time": "2026-09-08T10:00:00+02:00", "text": "Customs clearance started"}
        ]
    }));
    assert_eq!(result.stage, Some(Stage::Customs));
}

#[test]
fn protection_urgency_levels() {
    for (ends, urgency) in [
        ("2026-10-30T00:00:00Z", Urgency::None),
        ("2026-09-25T00:00:00Z", Urgency::Soon),
        ("2026-09-21T00:00:00Z", Urgency::Urgent),
        ("2026-09-19T00:00:00Z", Urgency::Expired),
    ] {
        let result = case(
            serde_json::json!({"number": "RB123456785CN", "now": "2026-09-20T00:00:00Z", "protection_ends": ends, "events": [{"time": "2026-09-18T10:00:00+08:00", "text": "Handed over to airline"}]}),
        );
        assert_eq!(result.protection.urgency, urgency, "{ends}");
    }
}

#[test]
fn every_stage_has_a_catalogue_entry() {
    for stage in Stage::ALL {
        assert!(
            has(Language::English, &format!("stage.{}", stage.as_code())),
            "{stage}"
        );
    }
    for verdict in [
        "genuine",
        "not_scanned_yet",
        "typo",
        "untracked_service",
        "suspicious",
        "not_yours",
    ] {
        assert!(
            has(Language::English, &format!("authenticity.{verdict}")),
            "{verdict}"
        );
    }
}

fn arbitrary_event() -> impl Strategy<Value = Event> {
    let texts = prop::sample::select(vec![
        "Accepted",
        "Handed over to airline",
        "Arrived at destination country/region",
        "Customs clearance started",
        "Out for delivery",
        "Arrived at local facility",
        "Delivered",
        "Zending is bezorgd",
        "Returned to sender",
    ]);
    (
        0i64..40 * 24,
        texts,
        prop::sample::select(vec!["cainiao", "ship24", "seventeen_track"]),
        -12i32..=14,
    )
        .prop_map(|(hours, text, source, offset_hours)| {
            let base = t("2026-09-01T00:00:00Z") + chrono::Duration::hours(hours);
            let offset = FixedOffset::east_opt(offset_hours * 3600)
                .unwrap_or_else(|| FixedOffset::east_opt(0).expect("zero offset"));
            Event {
                time: base.with_timezone(&offset),
                text: text.to_owned(),
                location: None,
                code: None,
                source: Some(source.to_owned()),
                number: None,
            }
        })
}

proptest! {
    #[test]
    fn merging_is_order_independent_and_idempotent(events in prop::collection::vec(arbitrary_event(), 0..20), seed in any::<u64>()) {
        let merged = merge(events.clone(), &[]);
        let mut shuffled = events.clone();
        // A deterministic shuffle driven by the seed.
        let mut state = seed;
        for index in (1..shuffled.len()).rev() {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            shuffled.swap(index, (state >> 33) as usize % (index + 1));
        }
        prop_assert_eq!(&merge(shuffled, &[]), &merged);
        let doubled: Vec<Event> = events.iter().cloned().chain(events.iter().cloned()).collect();
        prop_assert_eq!(&merge(doubled, &[]), &merged);
        let again = merge(merged.events.iter().map(|e| e.event.clone()), &[]);
        prop_assert_eq!(again.events.iter().map(|e| (&e.event, e.stage)).collect::<Vec<_>>(), merged.events.iter().map(|e| (&e.event, e.stage)).collect::<Vec<_>>());
    }
}

const CORPUS_TRAIN: &str = include_str!("../../data/events/train.tsv");
const CORPUS_VALIDATION: &str = include_str!("../../data/events/validation.tsv");

fn corpus(tsv: &str) -> Vec<bot_core::interpret::evaluate::CorpusRow> {
    match bot_core::interpret::evaluate::read_corpus(tsv) {
        Ok(rows) => rows,
        Err(error) => panic!("the corpus does not read: {error}"),
    }
}

/// The split rule of `bot-core/data/events/README.md`: a source group is in validation
/// when the first 32 bits of its name's SHA-256, as a fraction, are below 0.35.
fn in_validation_by_hash(group: &str) -> bool {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(group.as_bytes());
    let first = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
    f64::from(first) / 2f64.powi(32) < 0.35
}

#[test]
fn corpus_split_follows_the_source_hash() {
    for row in corpus(CORPUS_TRAIN) {
        let group = row.source_group();
        assert!(
            group == "shared/data/events-dev.tsv" || !in_validation_by_hash(&group),
            "{group} is in train but its hash puts it in validation"
        );
    }
    for row in corpus(CORPUS_VALIDATION) {
        let group = row.source_group();
        assert!(
            in_validation_by_hash(&group),
            "{group} is in validation but its hash puts it in train"
        );
    }
}

#[test]
fn corpus_is_large_varied_and_disjoint() {
    use std::collections::BTreeSet;
    let train = corpus(CORPUS_TRAIN);
    let validation = corpus(CORPUS_VALIDATION);
    let folded = |rows: &[bot_core::interpret::evaluate::CorpusRow]| -> BTreeSet<String> {
        rows.iter()
            .map(|row| bot_core::interpret::classify::fold(&row.text))
            .collect()
    };
    let (train_texts, validation_texts) = (folded(&train), folded(&validation));
    assert_eq!(train_texts.len(), train.len(), "duplicate texts in train");
    assert_eq!(
        validation_texts.len(),
        validation.len(),
        "duplicate texts in validation"
    );
    assert!(
        train_texts.is_disjoint(&validation_texts),
        "a text is on both sides"
    );
    let all: Vec<_> = train.iter().chain(&validation).cloned().collect();
    assert!(all.len() >= 2000, "{} texts", all.len());
    let (sources, languages, carriers) = bot_core::interpret::evaluate::coverage(&all);
    assert!(
        carriers >= 40 && sources >= 40,
        "{carriers} carriers, {sources} sources"
    );
    assert!(languages >= 13, "{languages} languages");
    let present: BTreeSet<&str> = all.iter().map(|row| row.lang.as_str()).collect();
    for lang in [
        "en", "pt", "ru", "es", "fr", "de", "it", "nl", "pl", "uk", "zh", "tr", "ko",
    ] {
        assert!(present.contains(lang), "no {lang} texts");
    }
    let (validation_sources, _, _) = bot_core::interpret::evaluate::coverage(&validation);
    assert!(validation.len() >= 500 && validation_sources >= 15);
    for stage in Stage::ALL {
        let rows = all.iter().filter(|row| row.stage == stage).count();
        assert!(rows >= 40, "{} has {rows} rows", stage.as_code());
    }
}

/// The held-out figure, pinned where it stands (60.5% exact stage, 0.6% without a stage on
/// 1,483 texts from 46 sources; the floor moved from 61% when new sources grew
/// `validation`): the 95% the product aims at is not reached yet, and this test keeps it
/// from sliding back. Never read the misses of `validation`.
#[test]
fn validation_accuracy_does_not_slide_back() {
    use bot_core::interpret::classify::{Strategy, stage_model};
    let rows = corpus(CORPUS_VALIDATION);
    let report = bot_core::interpret::evaluate::evaluate(Strategy::default(), stage_model(), &rows);
    let accuracy = report.overall.percent();
    println!(
        "validation: accuracy {accuracy:.1}%, no stage {:.1}%",
        report.no_stage_percent()
    );
    assert!(
        accuracy >= 60.0,
        "validation accuracy {accuracy:.1}% fell below 60%"
    );
    assert!(
        report.no_stage_percent() <= 2.0,
        "{:.1}% without a stage",
        report.no_stage_percent()
    );
}

#[test]
fn the_embedded_model_is_the_one_train_tsv_gives() {
    use bot_core::interpret::learn::{Params, read_examples, train};
    let retrained = train(&read_examples(CORPUS_TRAIN), &Params::default());
    let embedded = bot_core::interpret::classify::stage_model();
    assert_eq!(retrained.to_bytes(), embedded.to_bytes());
}

proptest! {
    #[test]
    fn classification_never_panics_on_any_text(text in any::<String>(), code in proptest::option::of(any::<String>())) {
        let _ = classify(code.as_deref(), &text).without_context(&text);
    }
}

#[test]
fn classification_takes_empty_and_huge_texts() {
    assert_eq!(classify(None, ""), Classification::Unknown);
    assert_eq!(classify(None, " \t-–— "), Classification::Unknown);
    let huge = "Delivered to the addressee. ".repeat(4000);
    assert!(huge.len() > 100_000);
    assert_eq!(
        classify(None, &huge).without_context(&huge),
        Some(Stage::Delivered)
    );
    let noise: String = (0..110_000u32)
        .filter_map(|i| char::from_u32(0x4E00 + i % 20_000))
        .collect();
    let _ = classify(None, &noise);
}

#[track_caller]
fn check_doubts(
    place: Option<&str>,
    region: Option<&str>,
    ordered_days_before_delivery: Option<i64>,
    asked_days_after_delivery: i64,
    expect: &[&str],
) {
    use bot_core::interpret::judge::{DeliveryFacts, OrderFacts, delivery_doubts};
    let delivered = t("2026-12-07T12:00:00+00:00").to_utc();
    let country = region.and_then(bot_core::interpret::place::country_of);
    let facts = DeliveryFacts {
        place,
        region,
        country,
        first_event_at: Some(delivered - chrono::Duration::days(9)),
        delivered_at: Some(delivered),
    };
    let order = OrderFacts {
        ordered_at: ordered_days_before_delivery.map(|days| delivered - chrono::Duration::days(days)),
        country: Some("FR".to_owned()),
        city: Some("Paris".to_owned()),
        asked_at: Some(delivered + chrono::Duration::days(asked_days_after_delivery)),
        ..OrderFacts::default()
    };
    assert_eq!(delivery_doubts(&facts, &order), expect, "{place:?} {region:?}");
}

#[test]
fn deliveries_are_checked_against_the_order() {
    check_doubts(Some("Paris 75011"), None, Some(12), 1, &[]);
    check_doubts(
        Some("Lille, France"),
        None,
        Some(12),
        1,
        &["delivered_in_other_city"],
    );
    // The country from the delivery's own place, else from the destination side.
    check_doubts(
        Some("Utrecht, NL"),
        None,
        Some(12),
        1,
        &["delivered_in_other_country"],
    );
    check_doubts(
        None,
        Some("Utrecht, NL"),
        Some(12),
        1,
        &["delivered_in_other_country"],
    );
    // A hub in another city says nothing about the delivery's city.
    check_doubts(None, Some("Lyon, FR"), Some(12), 1, &[]);
    check_doubts(Some("Paris"), None, Some(3), 1, &["delivered_before_order"]);
    // Without an order date, a delivery weeks before the buyer asked is a doubt.
    check_doubts(Some("Paris"), None, None, 30, &["ended_before_asked"]);
    check_doubts(Some("Paris"), None, None, 5, &[]);
    check_doubts(Some("Paris"), None, Some(12), 30, &[]);
}

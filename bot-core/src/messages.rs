//! The message catalogue: every sentence the bot says about a stage, a verdict or a next
//! step, keyed by id, so that languages can be added without touching the logic.
//! Placeholders are written `{name}` and filled by [`render`]. English first.

/// A language the catalogue speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Language {
    /// English.
    #[default]
    English,
}

/// The English text of a message id, or `None` for an unknown id.
fn english(id: &str) -> Option<&'static str> {
    Some(match id {
        "stage.none" => "No tracking events yet.",
        "stage.info_received" => {
            "The seller has created a shipping label, but no carrier has scanned the parcel yet."
        }
        "stage.accepted" => "A carrier has the parcel in the origin country.",
        "stage.origin_sorting" => "The parcel is being sorted in the origin country.",
        "stage.export" => "The parcel has cleared export and is leaving the origin country.",
        "stage.line_haul" => {
            "The parcel is on the international leg (usually a flight); long quiet spells are normal here."
        }
        "stage.arrived_destination" => {
            "The parcel has arrived in the destination country and waits for customs."
        }
        "stage.customs" => "The parcel is going through import customs.",
        "stage.customs_held" => {
            "Customs is holding the parcel: usually duties to pay or documents to provide."
        }
        "stage.customs_released" => "Customs has released the parcel.",
        "stage.handed_to_last_mile" => {
            "The local post or courier has taken over, often under a new tracking number."
        }
        "stage.domestic_transit" => "The parcel is moving inside the destination country.",
        "stage.out_for_delivery" => "The parcel is out for delivery; it will probably arrive today.",
        "stage.delivery_failed" => "A delivery attempt failed.",
        "stage.pickup_available" => {
            "The parcel is waiting for you at a pick-up point, locker or post office."
        }
        "stage.delivered" => "The parcel is marked as delivered.",
        "stage.returning" => "The parcel is on its way back to the seller.",
        "stage.exception" => {
            "Something went wrong with the parcel (lost, damaged, refused or an address problem)."
        }
        "silence.normal" => "The last news was {ago}; that is normal at this stage (up to {normal}).",
        "silence.watch" => {
            "The last news was {ago}: longer than usual for this stage, but not yet worrying (act after {act})."
        }
        "silence.act" => "The last news was {ago}: that is too long for this stage (more than {act}).",
        "silence.first_normal" => "No news yet after {elapsed}; a first scan can take up to {normal}.",
        "silence.first_act" => "No news yet after {elapsed}: a first scan normally comes within {normal}.",
        "silence.untracked" => {
            "This service is not tracked abroad, so silence until it arrives is normal (up to {normal})."
        }
        "authenticity.genuine" => "The number looks genuine: it is moving and its events are consistent.",
        "authenticity.not_scanned_yet" => {
            "No scans yet, which is normal in the first days: sellers create numbers before handing parcels over."
        }
        "authenticity.typo" => "The number itself looks mistyped or is not a tracking number.",
        "authenticity.untracked_service" => {
            "The number belongs to a service that is not tracked abroad: silence after it leaves is expected."
        }
        "authenticity.suspicious" => {
            "This is suspicious: the number has not moved for far longer than normal."
        }
        "authenticity.not_yours" => {
            "These events may belong to another parcel: the delivery does not match your order."
        }
        "authenticity.ended_before_asked" => {
            "This is suspicious: the parcel was delivered weeks before you first asked about the number, which is how a reused number looks."
        }
        "authenticity.awaiting_dispatch" => {
            "Cainiao knows this number, but the seller has not handed the parcel over yet: it is waiting for dispatch."
        }
        "sources.pending" => {
            "The tracking services have only just started looking for this number; their first answer can take a few hours."
        }
        "authenticity.unreachable" => {
            "I could not reach the carrier, so I cannot judge this number right now."
        }
        "protection.none" => "",
        "protection.soon" => "Buyer protection ends in {days}.",
        "protection.urgent" => "Buyer protection ends in {days}: act now.",
        "protection.expired" => "Buyer protection has ended.",
        "next.wait_until" => "Next: wait until {date}.",
        "next.wait_first_scan" => {
            "Next: wait for the first scan until {date}; if nothing by then, ask the seller."
        }
        "next.wait_dispatch" => {
            "Next: wait for the seller to hand the parcel over, until {date}; if it has not left by then, ask the seller to ship it."
        }
        "next.ask_seller_dispatch" => {
            "Next: the seller has still not handed the parcel over: ask them to ship it now, or open a dispute for an order not shipped."
        }
        "notice.invalid_number" => {
            "{source} says {number} is not a valid tracking number, so I stopped following it. Check the number on the order page and send me the correct one."
        }
        "notice.expected_moved" => "The carrier now expects to deliver {window}.",
        "expected.window" => "between {earliest} and {latest}",
        "expected.day" => "on {date}",
        "expected.provider" => "Expected delivery: {window} (the carrier's estimate).",
        "expected.normal" => "Expected delivery: {window} (from how long the remaining legs normally take).",
        "expected.list" => "expected {window}",
        "journey.leg.origin" => "Origin",
        "journey.leg.export" => "Export",
        "journey.leg.flight" => "Flight",
        "journey.leg.customs" => "Arrival, customs",
        "journey.leg.last_mile" => "Last mile",
        "journey.delivery" => "Delivery",
        "journey.expected" => "expected {window}",
        "journey.delivered" => "delivered {date}",
        "journey.handoff" => "new number {number}",
        "journey.now" => "now · quiet {days} d",
        "next.message_seller" => {
            "Next: message the seller and ask what is happening and for a new tracking number if there is one."
        }
        "next.extend_or_dispute" => {
            "Next: ask the seller to extend buyer protection; if they do not, open a dispute before it ends."
        }
        "next.open_dispute" => "Next: open a dispute now, with the tracking history as evidence.",
        "next.check_mailbox" => {
            "Next: if you have nothing, check your mailbox, locker and neighbours, then write to the seller."
        }
        "next.pay_duties" => {
            "Next: look for a notice from customs or the post about duties or documents, and answer it."
        }
        "next.collect" => {
            "Next: collect the parcel (bring ID) before the pick-up deadline, or arrange a new delivery."
        }
        "next.fix_number" => "Next: check the number against the order page and track the corrected one.",
        "next.keep_evidence" => {
            "Next: take a screenshot of this tracking page and open a dispute: it is your evidence."
        }
        "next.arriving_before_deadline" => {
            "Next: it is with the local carrier and should reach you in time; if it has not arrived the day before the deadline, open a dispute."
        }
        "next.tell_order_date" => {
            "Next: tell me when you ordered (/ordered <number> <date>): a delivery before your order is not yours."
        }
        "next.delivered_elsewhere" => {
            "Next: if you did not get it, keep a screenshot of this tracking and open a dispute: the delivery does not match your address."
        }
        "next.retry_later" => "Next: I will try again later.",
        _ => return None,
    })
}

/// Renders a message with its placeholders filled. An unknown id renders as the id, so a
/// missing entry shows up in tests rather than as silence.
pub fn render(language: Language, id: &str, args: &[(&str, String)]) -> String {
    let template = match language {
        Language::English => english(id),
    };
    let Some(template) = template else {
        return id.to_owned();
    };
    let mut text = template.to_owned();
    for (name, value) in args {
        text = text.replace(&format!("{{{name}}}"), value);
    }
    text
}

/// Whether the catalogue has an entry for `id` in `language`.
pub fn has(language: Language, id: &str) -> bool {
    match language {
        Language::English => english(id).is_some(),
    }
}

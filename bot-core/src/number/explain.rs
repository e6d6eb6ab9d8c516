//! Plain-language notes about a recognised number: what it is, what that implies for
//! tracking, and what to do when something is off. Written for buyers, not for
//! logistics people.

use super::{Candidate, CheckDigit, Outcome, Recognition, Service, UnknownReason};

/// The note for one recognition.
pub fn note(recognition: &Recognition) -> String {
    let number = recognition.normalized.as_deref().unwrap_or_default();
    match recognition.outcome {
        Outcome::Recognised => match recognition.best() {
            Some(best) => recognised(number, best),
            None => unknown(number, UnknownReason::NoFormat, &[]),
        },
        Outcome::Uncertain => uncertain(number, &recognition.candidates),
        Outcome::Invalid => invalid(number, recognition),
        Outcome::OrderNumber => format!(
            "{number} looks like an AliExpress order number, not a tracking number. The \
             tracking number is on the order page under \"Track order\"; it usually starts with \
             letters (LP…, RB…CN, UY…YP, YT…) or is a local carrier's number."
        ),
        Outcome::Plausible => format!(
            "{number}: a number of a shape I do not know, so I cannot tell its carrier or \
             check it. I ask the tracking services that detect the carrier themselves."
        ),
        Outcome::Unknown(reason) => unknown(number, reason, &recognition.suggestions),
    }
}

fn check_phrase(candidate: &Candidate) -> &'static str {
    match candidate.check_digit {
        CheckDigit::Ok => ", check digit ok",
        CheckDigit::Bad => ", check digit wrong",
        CheckDigit::None => "",
    }
}

fn recognised(number: &str, best: &Candidate) -> String {
    let head = format!(
        "{number}: {} number ({}{})",
        best.carrier,
        best.product,
        check_phrase(best)
    );
    let hint = match (best.format, best.service) {
        ("s10", _) if best.carrier == "Yanwen" => {
            " YP is Yanwen's own code, not a country. Yanwen usually hands the parcel to the \
             destination post, sometimes under a new number; the bot follows it."
                .to_owned()
        }
        ("s10", Some(service)) => s10_hint(service),
        ("cainiao_lp", _) => " This is Cainiao's internal logistics number. Once the parcel is \
             handed to a postal or local carrier it usually gets another number, which the bot \
             picks up by itself."
            .to_owned(),
        (format, _) if format.starts_with("cainiao") => {
            " Cainiao is AliExpress's logistics network; the destination post often takes over \
             under a new number."
                .to_owned()
        }
        ("yunexpress" | "4px" | "sf_express" | "jt_express", _) => {
            " This is a consolidator that hands the parcel to a local carrier in your country, \
             often under a new number."
                .to_owned()
        }
        _ => String::new(),
    };
    format!("{head}.{hint}")
}

fn s10_hint(service: Service) -> String {
    match service {
        Service::Untracked => " The U service is untracked letter post: expect scans in the \
             origin country only, then silence until it reaches your mailbox. That silence is \
             normal for this service."
            .to_owned(),
        Service::Ems => " EMS is express post: tracked end to end.".to_owned(),
        Service::LetterExpress => " Letter-post express (ePacket): tracked to the destination post.".to_owned(),
        Service::Registered => " Registered post: tracked, usually to your door.".to_owned(),
        Service::Insured => " Insured post: tracked.".to_owned(),
        Service::Parcel | Service::EcommerceParcel => " Parcel post: tracked.".to_owned(),
        Service::MBag | Service::BusinessReply => " A special letter-post service that is rarely tracked abroad.".to_owned(),
        Service::Domestic => " Its service letter is reserved for domestic use: it may only be tracked inside the issuing country.".to_owned(),
        Service::Other => String::new(),
    }
}

fn carriers_list(candidates: &[Candidate]) -> String {
    let mut names: Vec<String> = Vec::new();
    for candidate in candidates.iter().filter(|c| c.valid && !c.is_order_number) {
        let name = format!("{} ({})", candidate.carrier, candidate.product);
        if !names.contains(&name) {
            names.push(name);
        }
    }
    match names.len() {
        0 => String::new(),
        1 => names.remove(0),
        _ => {
            let last = names.pop().unwrap_or_default();
            format!("{} or {last}", names.join(", "))
        }
    }
}

fn uncertain(number: &str, candidates: &[Candidate]) -> String {
    let digits_only = number.bytes().all(|b| b.is_ascii_digit());
    let why = if digits_only {
        format!(
            "a bare {}-digit number does not say which carrier issued it",
            number.len()
        )
    } else {
        "its shape fits more than one carrier".to_owned()
    };
    format!(
        "{number} could be {}: {why}. Asking the carriers will tell; if it is an AliExpress \
         parcel, the order page names the carrier.",
        carriers_list(candidates)
    )
}

fn invalid(number: &str, recognition: &Recognition) -> String {
    let Some(best) = recognition.best() else {
        return unknown(number, UnknownReason::NoFormat, &recognition.suggestions);
    };
    let mut text = match &best.problem {
        Some(super::Problem::UnknownCountry(country)) => format!(
            "{number} has the shape of a UPU postal number, but {country} is not a postal \
             operator's country code, so the number is mistyped or not a real postal number."
        ),
        _ => format!(
            "{number} looks like a {} number ({}), but its check digit does not match: a \
             character was probably mistyped or misread.",
            best.carrier, best.product
        ),
    };
    text.push_str(&suggestion_sentence(&recognition.suggestions));
    text
}

fn suggestion_sentence(suggestions: &[String]) -> String {
    match suggestions {
        [] => " Compare it character by character with the order page (O and 0, I and 1 are \
               easy to mix up)."
            .to_owned(),
        [one] => format!(" Did you mean {one}?"),
        many => format!(" Did you mean one of: {}?", many.join(", ")),
    }
}

fn unknown(number: &str, reason: UnknownReason, suggestions: &[String]) -> String {
    match reason {
        UnknownReason::Empty => "No tracking number found: the message is empty.".to_owned(),
        UnknownReason::NoDigits => "No tracking number found: tracking numbers contain digits, \
             and this text has none."
            .to_owned(),
        UnknownReason::TooShort => "No tracking number found: the digits here are too short to \
             be a tracking number (they are at least 8 characters long)."
            .to_owned(),
        UnknownReason::TooLong => "No tracking number found: this is longer than any tracking \
             number (at most about 35 characters)."
            .to_owned(),
        UnknownReason::NoFormat => {
            let mut text = format!(
                "{number} is not a tracking number I recognise: it fits no carrier's format I \
                 know."
            );
            if suggestions.is_empty() {
                text.push_str(
                    " Check it against the order page; if it is right, the carrier may \
                     be one I don't know yet.",
                );
            } else {
                text.push_str(&suggestion_sentence(suggestions));
            }
            text
        }
    }
}

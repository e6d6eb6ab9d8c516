//! The stages of a parcel's journey, as a closed set with the codes of `domain.md`.

use serde::{Deserialize, Serialize};

/// Where a parcel is. The order of the variants is the order of the journey, with the
/// two ways off it (`returning`, `exception`) last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// The seller created a label; the parcel may not have moved.
    InfoReceived,
    /// A carrier physically has the parcel.
    Accepted,
    /// In a sorting centre or export hub in the origin country.
    OriginSorting,
    /// Cleared export, leaving the origin country.
    Export,
    /// On the international leg.
    LineHaul,
    /// Reached the destination country, before customs.
    ArrivedDestination,
    /// Import customs in progress.
    Customs,
    /// Held by customs: duties, documents or inspection.
    CustomsHeld,
    /// Released by import customs.
    CustomsReleased,
    /// A local post or courier took over, often with a new number.
    HandedToLastMile,
    /// Moving inside the destination country.
    DomesticTransit,
    /// Loaded for delivery.
    OutForDelivery,
    /// A delivery attempt failed.
    DeliveryFailed,
    /// Waiting at a post office, locker or pick-up point.
    PickupAvailable,
    /// Delivered.
    Delivered,
    /// On its way back to the sender.
    Returning,
    /// Lost, damaged, refused, address problem or another failure.
    Exception,
}

/// Groups of stages that share a silence rule and a place in the journey.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StageGroup {
    /// Label only: no physical scan yet.
    Label,
    /// With a carrier in the origin country.
    Origin,
    /// Left the origin country, not yet in the destination.
    InTransit,
    /// In the destination country, before the last mile.
    Destination,
    /// Held by customs.
    Held,
    /// With the local post or courier.
    LastMile,
    /// Waiting for the buyer (failed attempt, pick-up point).
    AwaitingBuyer,
    /// Delivered.
    Delivered,
    /// Going back to the sender.
    Returning,
    /// Something went wrong.
    Exception,
}

impl Stage {
    /// Every stage, in journey order.
    pub const ALL: [Stage; 17] = [
        Stage::InfoReceived,
        Stage::Accepted,
        Stage::OriginSorting,
        Stage::Export,
        Stage::LineHaul,
        Stage::ArrivedDestination,
        Stage::Customs,
        Stage::CustomsHeld,
        Stage::CustomsReleased,
        Stage::HandedToLastMile,
        Stage::DomesticTransit,
        Stage::OutForDelivery,
        Stage::DeliveryFailed,
        Stage::PickupAvailable,
        Stage::Delivered,
        Stage::Returning,
        Stage::Exception,
    ];

    /// The code of `domain.md` (`info_received`, …, `exception`).
    pub fn as_code(self) -> &'static str {
        match self {
            Stage::InfoReceived => "info_received",
            Stage::Accepted => "accepted",
            Stage::OriginSorting => "origin_sorting",
            Stage::Export => "export",
            Stage::LineHaul => "line_haul",
            Stage::ArrivedDestination => "arrived_destination",
            Stage::Customs => "customs",
            Stage::CustomsHeld => "customs_held",
            Stage::CustomsReleased => "customs_released",
            Stage::HandedToLastMile => "handed_to_last_mile",
            Stage::DomesticTransit => "domestic_transit",
            Stage::OutForDelivery => "out_for_delivery",
            Stage::DeliveryFailed => "delivery_failed",
            Stage::PickupAvailable => "pickup_available",
            Stage::Delivered => "delivered",
            Stage::Returning => "returning",
            Stage::Exception => "exception",
        }
    }

    /// The stage with this code, if any.
    pub fn from_code(code: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|stage| stage.as_code() == code)
    }

    /// The stage's group.
    pub fn group(self) -> StageGroup {
        match self {
            Stage::InfoReceived => StageGroup::Label,
            Stage::Accepted | Stage::OriginSorting => StageGroup::Origin,
            Stage::Export | Stage::LineHaul => StageGroup::InTransit,
            Stage::ArrivedDestination | Stage::Customs | Stage::CustomsReleased => StageGroup::Destination,
            Stage::CustomsHeld => StageGroup::Held,
            Stage::HandedToLastMile | Stage::DomesticTransit | Stage::OutForDelivery => StageGroup::LastMile,
            Stage::DeliveryFailed | Stage::PickupAvailable => StageGroup::AwaitingBuyer,
            Stage::Delivered => StageGroup::Delivered,
            Stage::Returning => StageGroup::Returning,
            Stage::Exception => StageGroup::Exception,
        }
    }

    /// Whether the parcel has left the origin country at this stage.
    pub fn has_left_origin(self) -> bool {
        self >= Stage::LineHaul && self <= Stage::Delivered
    }

    /// Whether a move from `self` back to `earlier` can really happen (out for delivery,
    /// then back at the facility; released, then held again), rather than being an old
    /// event reported late.
    pub fn may_roll_back_to(self, earlier: Stage) -> bool {
        let last_mile = Stage::HandedToLastMile..=Stage::PickupAvailable;
        let customs = Stage::Customs..=Stage::CustomsReleased;
        (last_mile.contains(&self) && last_mile.contains(&earlier))
            || (customs.contains(&self) && customs.contains(&earlier))
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_code())
    }
}

//! Provider webhooks over HTTP on 127.0.0.1: verified 17TRACK and Ship24 pushes go
//! through the engine's ingest and reach the subscriber once; forged ones change nothing.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use serde_json::{Value, json};

use bot_core::clock::{Clock, SimulatedClock};
use bot_core::engine::notify::{Notifier, RecordingNotifier, SendLimits};
use bot_core::engine::{Engine, EngineSettings};
use bot_core::number::TrackingNumber;
use bot_core::provider::Providers;
use bot_core::push::{PushSecrets, SEVENTEEN_TRACK_PATH, SHIP24_PATH, router, seventeen_track_sign};
use bot_core::store::{ChatRef, Store};

use crate::store::sqlite_store;

const NUMBER: &str = "RB104729000CN";
const KEY: &str = "17track-account-key";
const SHIP24_SECRET: &str = "ship24-webhook-secret";

fn seventeen_track_update(events: Value) -> Vec<u8> {
    json!({
        "event": "TRACKING_UPDATED",
        "data": {
            "number": NUMBER, "carrier": 3011, "param": null, "tag": null,
            "track_info": {
                "latest_status": { "status": "InTransit", "sub_status": "InTransit_Other" },
                "tracking": { "providers": [ {
                    "provider": { "key": 3011, "name": "China Post" },
                    "events": events
                } ] }
            }
        }
    })
    .to_string()
    .into_bytes()
}

fn ship24_update() -> Value {
    json!({
        "trackings": [ {
            "metadata": { "generatedAt": "2026-10-09T07:00:00.000Z", "messageId": "m-1" },
            "tracker": { "trackerId": "t-1", "trackingNumber": NUMBER, "isSubscribed": true },
            "shipment": { "statusMilestone": "out_for_delivery", "trackingNumbers": [ { "tn": NUMBER } ] },
            "events": [ {
                "eventId": "e-9", "eventTrackingNumber": NUMBER,
                "status": "Out for delivery", "occurrenceDatetime": "2026-10-09T06:30:00",
                "location": "Utrecht", "courierCode": "postnl",
                "statusCode": "delivery_out_for_delivery", "statusMilestone": "out_for_delivery"
            } ]
        } ]
    })
}

#[tokio::test]
async fn verified_pushes_are_ingested_and_forged_ones_refused() {
    let clock = SimulatedClock::new(Utc.with_ymd_and_hms(2026, 10, 9, 8, 0, 0).single().expect("date"));
    let telegram = RecordingNotifier::new("telegram", SendLimits::TELEGRAM);
    let notifiers: Vec<Arc<dyn Notifier>> = vec![Arc::new(telegram.clone())];
    let engine = Arc::new(Engine::new(
        Arc::new(sqlite_store().await),
        Providers::new(Vec::new()),
        clock.clone(),
        notifiers,
        EngineSettings::default(),
    ));
    let store = engine.store();
    let chat = store
        .upsert_chat(&ChatRef::new("telegram", "1001").expect("chat"), clock.now())
        .await
        .expect("chat");
    let number = TrackingNumber::parse(NUMBER).expect("valid");
    store
        .subscribe(chat, &number, Some("lamp"), None, clock.now())
        .await
        .expect("subscribe");
    let parcel = store.subscriptions(chat).await.expect("views")[0].parcel;

    let app = router(
        Arc::clone(&engine),
        PushSecrets {
            seventeen_track_key: Some(KEY.to_owned().into()),
            ship24_secret: Some(SHIP24_SECRET.to_owned().into()),
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = reqwest::Client::new();
    let post = |path: &str, body: Vec<u8>, header: (&'static str, String)| {
        client
            .post(format!("{base}{path}"))
            .header("content-type", "application/json")
            .header(header.0, header.1)
            .body(body)
            .send()
    };

    // First news: accepted at origin (the first look tells nobody).
    let first = seventeen_track_update(json!([
        { "time_iso": "2026-10-01T10:00:00+08:00", "time_utc": "2026-10-01T02:00:00Z",
          "description": "Acceptance", "location": "Shenzhen", "stage": "PickedUp" }
    ]));
    let forged = post(
        SEVENTEEN_TRACK_PATH,
        first.clone(),
        ("sign", seventeen_track_sign(&first, "wrong-key")),
    )
    .await
    .expect("answer");
    assert_eq!(forged.status().as_u16(), 401);
    assert!(
        store.parcel_events(parcel).await.expect("events").is_empty(),
        "a forged push changes nothing"
    );
    let signed = post(
        SEVENTEEN_TRACK_PATH,
        first.clone(),
        ("sign", seventeen_track_sign(&first, KEY)),
    )
    .await
    .expect("answer");
    assert_eq!(signed.status().as_u16(), 200);
    assert_eq!(store.parcel_events(parcel).await.expect("events").len(), 1);

    // Second news: the flight. The subscriber hears it once, even when pushed twice.
    let flight = seventeen_track_update(json!([
        { "time_iso": "2026-10-01T10:00:00+08:00", "time_utc": "2026-10-01T02:00:00Z",
          "description": "Acceptance", "location": "Shenzhen", "stage": "PickedUp" },
        { "time_iso": "2026-10-03T22:00:00+08:00", "time_utc": "2026-10-03T14:00:00Z",
          "description": "Departed from the airport of origin", "location": "Shenzhen", "stage": "Departure" }
    ]));
    for _ in 0..2 {
        let response = post(
            SEVENTEEN_TRACK_PATH,
            flight.clone(),
            ("sign", seventeen_track_sign(&flight, KEY)),
        )
        .await
        .expect("answer");
        assert_eq!(response.status().as_u16(), 200);
    }
    engine.dispatch_once().await.expect("dispatch");

    // Ship24: only the new event comes; a wrong bearer is refused.
    let body = ship24_update().to_string().into_bytes();
    let forged = post(
        SHIP24_PATH,
        body.clone(),
        ("authorization", "Bearer guess".to_owned()),
    )
    .await
    .expect("answer");
    assert_eq!(forged.status().as_u16(), 401);
    let accepted = post(
        SHIP24_PATH,
        body,
        ("authorization", format!("Bearer {SHIP24_SECRET}")),
    )
    .await
    .expect("answer");
    assert_eq!(accepted.status().as_u16(), 200);
    let answer: Value = accepted.json().await.expect("json");
    assert_eq!(answer["ingested"], json!(1));
    clock.advance(chrono::Duration::seconds(5));
    engine.dispatch_once().await.expect("dispatch");

    let sent: Vec<String> = telegram.sent().iter().map(|s| s.reply.to_plain()).collect();
    assert_eq!(sent.len(), 2, "{sent:#?}");
    assert!(
        sent[0].contains("lamp") && sent[0].contains("international leg"),
        "{}",
        sent[0]
    );
    assert!(sent[1].contains("out for delivery"), "{}", sent[1]);
    assert_eq!(store.parcel_events(parcel).await.expect("events").len(), 3);

    // A number nobody follows is acknowledged and ignored; junk is a 400.
    let stranger = String::from_utf8(seventeen_track_update(json!([])))
        .expect("utf-8")
        .replace(NUMBER, "RB104729225CN");
    let stranger = stranger.into_bytes();
    let response = post(
        SEVENTEEN_TRACK_PATH,
        stranger.clone(),
        ("sign", seventeen_track_sign(&stranger, KEY)),
    )
    .await
    .expect("answer");
    assert_eq!(response.status().as_u16(), 200);
    let junk = b"not json".to_vec();
    let response = post(
        SEVENTEEN_TRACK_PATH,
        junk.clone(),
        ("sign", seventeen_track_sign(&junk, KEY)),
    )
    .await
    .expect("answer");
    assert_eq!(response.status().as_u16(), 400);
}

#[tokio::test]
async fn webhooks_without_a_secret_are_off() {
    let clock = SimulatedClock::new(Utc.with_ymd_and_hms(2026, 10, 9, 8, 0, 0).single().expect("date"));
    let engine = Arc::new(Engine::new(
        Arc::new(sqlite_store().await),
        Providers::new(Vec::new()),
        clock,
        Vec::new(),
        EngineSettings::default(),
    ));
    let app = router(engine, PushSecrets::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    for path in [SEVENTEEN_TRACK_PATH, SHIP24_PATH] {
        let response = reqwest::Client::new()
            .post(format!("{base}{path}"))
            .body("{}")
            .send()
            .await
            .expect("answer");
        assert_eq!(response.status().as_u16(), 404, "{path}");
    }
}

/// 17TRACK's webhook bodies as published: a `TRACKING_UPDATED` push kept by a public
/// integration (most likely 17TRACK's own test push) and the documentation's
/// `TRACKING_STOPPED` example (sources in the fixture folder's README).
#[test]
fn published_seventeen_track_webhook_bodies_are_read() {
    use bot_core::interpret::{Stage, merge};
    use bot_core::provider::Lookup;
    use bot_core::push::parse_seventeen_track;

    let updated = include_bytes!("../fixtures/seventeen_track/webhook_tracking_updated_published.json");
    let Ok(Some((number, Lookup::Found(shipment)))) = parse_seventeen_track(updated) else {
        panic!("the published TRACKING_UPDATED body is not read as news");
    };
    assert_eq!(number, "1Z2617V10397725789");
    assert_eq!(shipment.events.len(), 5);
    let timeline = merge(shipment.events.clone(), &[number.as_str()]);
    assert_eq!(timeline.stage(), Some(Stage::Delivered));
    let stopped = include_bytes!("../fixtures/seventeen_track/webhook_tracking_stopped_doc.json");
    assert_eq!(parse_seventeen_track(stopped), Ok(None));
    assert_eq!(seventeen_track_sign(updated, KEY).len(), 64);
}

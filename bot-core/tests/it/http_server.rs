//! The HTTP server of `http.listen` against slow and hostile clients, over real
//! sockets on 127.0.0.1: half-sent heads and bodies are cut at their timeouts, the
//! connection limit keeps file descriptors bounded, and real requests are answered all
//! along; oversized bodies get 413; every answer carries a request id.

use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::routing::{get, post};
use bot_core::ops::server::{self, HttpLimits};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn limits() -> HttpLimits {
    HttpLimits {
        header_timeout: Duration::from_secs(1),
        body_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_secs(5),
        max_connections: 64,
        max_in_flight: 16,
        max_body_bytes: 1024,
        drain: Duration::from_secs(1),
    }
}

/// Serves a small router within `limits`; returns its address and a stop switch.
async fn start(limits: HttpLimits) -> (String, tokio::sync::oneshot::Sender<()>) {
    let routes = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/echo", post(|body: Bytes| async move { body }));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address").to_string();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server::serve(
        listener,
        server::harden(routes, &limits),
        limits,
        async move {
            let _ = stopped.await;
        },
    ));
    (address, stop)
}

/// Reads until the server closes the connection (or 10 s pass); returns what came.
async fn read_to_close(stream: &mut TcpStream) -> Option<String> {
    let mut answer = Vec::new();
    match tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await {
        Ok(_) => Some(String::from_utf8_lossy(&answer).into_owned()),
        Err(_) => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_requests_are_cut_and_real_requests_are_still_answered() {
    let (address, _stop) = start(limits()).await;
    // Each real request on a connection of its own, as webhook senders arrive: a kept-
    // alive one idle past the header timeout is closed by design, which is a different
    // matter from being starved.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    // 300 clients that send half a head and wait, 40 that send a head promising a body
    // they never finish: more than the 64 connection slots.
    let mut slow = Vec::new();
    for index in 0..340 {
        let mut stream = TcpStream::connect(&address).await.expect("connects");
        let partial = if index < 300 {
            "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Le".to_owned()
        } else {
            "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\nonly a little".to_owned()
        };
        stream.write_all(partial.as_bytes()).await.expect("writes");
        slow.push(stream);
    }
    // Real requests meanwhile: each answered, within the timeouts' reach.
    let started = Instant::now();
    let mut answered = 0;
    for _ in 0..20 {
        let response = client
            .get(format!("http://{address}/healthz"))
            .timeout(Duration::from_secs(15))
            .send()
            .await
            .expect("a real request is answered");
        assert_eq!(response.status().as_u16(), 200);
        answered += 1;
    }
    let waited = started.elapsed();
    eprintln!("20 real requests beside 340 slow clients (64 slots): answered in {waited:?}");
    assert_eq!(answered, 20);
    assert!(
        waited < Duration::from_secs(12),
        "real requests waited {waited:?}"
    );
    // Every slow client was cut off: the server closed each connection, the body
    // stragglers with an answer (408 or 400), the half heads without one.
    let mut cut = 0;
    for (index, stream) in slow.iter_mut().enumerate() {
        let answer = read_to_close(stream)
            .await
            .expect("the server closes a slow connection");
        if index >= 300 {
            assert!(
                answer.contains(" 408 ") || answer.contains(" 400 "),
                "a stalled body is answered with a timeout: {answer:?}"
            );
        }
        cut += 1;
    }
    assert_eq!(cut, 340);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_are_refused_and_answers_carry_a_request_id() {
    let (address, _stop) = start(limits()).await;
    let client = reqwest::Client::new();
    let big = client
        .post(format!("http://{address}/echo"))
        .body(vec![b'x'; 4096])
        .send()
        .await
        .expect("answer");
    assert_eq!(big.status().as_u16(), 413);
    let small = client
        .post(format!("http://{address}/echo"))
        .body("hello")
        .send()
        .await
        .expect("answer");
    assert_eq!(small.status().as_u16(), 200);
    assert!(
        small.headers().contains_key("x-request-id"),
        "a request id is given"
    );
    assert_eq!(small.text().await.expect("body"), "hello");
    let named = client
        .get(format!("http://{address}/healthz"))
        .header("x-request-id", "probe-7")
        .send()
        .await
        .expect("answer");
    assert_eq!(
        named.headers().get("x-request-id").and_then(|v| v.to_str().ok()),
        Some("probe-7"),
        "a client's own id is kept"
    );
}

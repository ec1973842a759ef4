//! The `metrics` feature: exact counts for known traffic, read from a local recorder (the
//! test's runtime has one thread, so the server's tasks see it).
#![cfg(feature = "metrics")]

mod common;

#[cfg(feature = "redis")]
#[allow(dead_code)]
#[path = "common/redis_server.rs"]
mod redis_server;

use std::collections::BTreeMap;
use std::future::IntoFuture;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::Path;
use bytes::Bytes;
use metrics::{
    Counter, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use ws_controller::{ws_controller, Error, Hub};

use common::*;

/// Counters, gauges and histograms by `name{label=value,...}` (labels sorted).
#[derive(Default)]
struct TestRecorder {
    counters: Mutex<BTreeMap<String, Arc<AtomicU64>>>,
    gauges: Mutex<BTreeMap<String, Arc<AtomicU64>>>,
    histograms: Mutex<BTreeMap<String, Arc<Samples>>>,
}

#[derive(Default)]
struct Samples(Mutex<Vec<f64>>);

impl HistogramFn for Samples {
    fn record(&self, value: f64) {
        self.0.lock().unwrap().push(value);
    }
}

fn name(key: &Key) -> String {
    let mut labels: Vec<String> = key
        .labels()
        .map(|l| format!("{}={}", l.key(), l.value()))
        .collect();
    labels.sort();
    format!("{}{{{}}}", key.name(), labels.join(","))
}

fn handle<T: Default>(map: &Mutex<BTreeMap<String, Arc<T>>>, key: &Key) -> Arc<T> {
    map.lock().unwrap().entry(name(key)).or_default().clone()
}

impl Recorder for TestRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(handle(&self.counters, key))
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(handle(&self.gauges, key))
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(handle(&self.histograms, key))
    }
}

impl TestRecorder {
    fn counters(&self) -> BTreeMap<String, u64> {
        let counters = self.counters.lock().unwrap();
        counters
            .iter()
            .map(|(k, v)| (k.clone(), v.load(Ordering::SeqCst)))
            .filter(|(_, v)| *v > 0)
            .collect()
    }

    fn gauge(&self, key: &str) -> f64 {
        let gauges = self.gauges.lock().unwrap();
        f64::from_bits(gauges[key].load(Ordering::SeqCst))
    }

    fn samples(&self, key: &str) -> usize {
        let samples = self.histograms.lock().unwrap()[key].clone();
        let count = samples.0.lock().unwrap().len();
        count
    }
}

struct Chat {
    hub: Hub,
}

#[ws_controller(path = "/chat/{room}", max_connections = 1)]
impl Chat {
    #[hub]
    fn hub(&self) -> &Hub {
        &self.hub
    }

    #[on_open]
    async fn open(&self, Path(room): Path<String>) -> Result<String, Error> {
        Ok(room)
    }

    #[on_text]
    async fn text(&self, _room: &mut String, text: String) -> Result<String, Error> {
        match text.as_str() {
            "fail" => Err(Error::msg("failed on purpose")),
            "panic" => panic!("on purpose"),
            "all" => {
                self.hub.broadcast("to all").await;
                Ok("sent".to_owned())
            }
            _ => Ok(text),
        }
    }

    #[on_binary]
    async fn binary(&self, _room: &mut String, data: Bytes) -> Bytes {
        data
    }
}

#[tokio::test]
async fn known_traffic_gives_exact_counts_labelled_by_route_template() {
    let recorder = TestRecorder::default();
    let _local = metrics::set_default_local_recorder(&recorder);
    let (app, mut done) = with_done_signal(Chat { hub: Hub::new() }.into_router());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(ws_controller::serve(listener, app).into_future());

    let mut ws = connect(addr, "/chat/lobby").await;
    for text in ["a", "bb"] {
        send_text(&mut ws, text).await;
        assert_eq!(recv_text(&mut ws).await, text);
    }
    within(
        "send",
        futures_util::SinkExt::send(&mut ws, WsMessage::binary(vec![1, 2, 3])),
    )
    .await
    .unwrap();
    assert_eq!(recv(&mut ws).await, WsMessage::binary(vec![1, 2, 3]));
    send_text(&mut ws, "all").await;
    assert_eq!(recv_text(&mut ws).await, "to all");
    assert_eq!(recv_text(&mut ws).await, "sent");
    // Refused while the only slot is taken, and for a bad handshake.
    assert_eq!(http(addr, &Req::upgrade("/chat/lobby")).await.status, 503);
    let keyless = Req::upgrade("/chat/kitchen").remove("Sec-WebSocket-Key");
    assert_eq!(http(addr, &keyless).await.status, 400);
    let route = "route=/chat/{room}";
    assert_eq!(
        recorder.gauge(&format!("websocket_connections_active{{{route}}}")),
        1.0
    );
    assert_eq!(client_close(&mut ws, 1000, "").await.0, 1000);
    next_event(&mut done).await;

    for fatal in ["fail", "panic"] {
        let mut ws = connect(addr, "/chat/attic").await;
        send_text(&mut ws, fatal).await;
        assert_eq!(expect_close(&mut ws).await.0, 1011);
        next_event(&mut done).await;
    }

    let expected: BTreeMap<String, u64> = [
        ("websocket_bytes_received_total{route}", 18),
        ("websocket_bytes_sent_total{route}", 16),
        ("websocket_connections_closed_total{code=1000,route}", 1),
        ("websocket_connections_closed_total{code=1011,route}", 2),
        ("websocket_connections_opened_total{route}", 3),
        ("websocket_handler_errors_total{kind=error,route}", 1),
        ("websocket_handler_errors_total{kind=panic,route}", 1),
        ("websocket_hub_broadcasts_total{}", 1),
        ("websocket_hub_deliveries_total{}", 1),
        ("websocket_messages_received_total{kind=binary,route}", 1),
        ("websocket_messages_received_total{kind=text,route}", 5),
        ("websocket_messages_sent_total{kind=binary,route}", 1),
        ("websocket_messages_sent_total{kind=text,route}", 4),
        ("websocket_upgrades_refused_total{route,status=400}", 1),
        ("websocket_upgrades_refused_total{route,status=503}", 1),
    ]
    .into_iter()
    .map(|(k, v)| (k.replace("route", route), v))
    .collect();
    assert_eq!(recorder.counters(), expected);
    assert_eq!(
        recorder.gauge(&format!("websocket_connections_active{{{route}}}")),
        0.0
    );
    // Every message the application took was timed, the failing ones included.
    assert_eq!(
        recorder.samples(&format!("websocket_message_handling_seconds{{{route}}}")),
        6
    );
}

/// Broadcasts that arrive from another node of a Redis hub are counted where they are
/// delivered; the sending node counts its own broadcast. Both nodes share this process's
/// recorder, so the counts are the cluster's.
#[cfg(feature = "redis")]
#[tokio::test]
async fn broadcasts_from_another_node_are_counted_where_they_arrive() {
    let recorder = TestRecorder::default();
    let _local = metrics::set_default_local_recorder(&recorder);
    let redis = redis_server::RedisServer::start().await;
    let url = redis.url();
    let mut addrs = Vec::new();
    let mut hubs = Vec::new();
    for _ in 0..2 {
        let hub = Hub::redis(&url).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        addrs.push(listener.local_addr().unwrap());
        let app = Chat { hub: hub.clone() }.into_router();
        tokio::spawn(ws_controller::serve(listener, app).into_future());
        within("the hub subscribes", hub.broker_synced()).await;
        hubs.push(hub);
    }
    let mut ws = connect(addrs[1], "/chat/lobby").await;
    within("the member registers", async {
        while hubs[1].count() == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    })
    .await;
    within("the second node subscribes", hubs[1].broker_synced()).await;
    hubs[0].broadcast("from the other node").await;
    assert_eq!(recv_text(&mut ws).await, "from the other node");

    let counters = recorder.counters();
    let count = |name: &str| counters.get(name).copied().unwrap_or(0);
    assert_eq!(count("websocket_hub_broadcasts_total{}"), 1, "{counters:?}");
    assert_eq!(
        count("websocket_hub_deliveries_total{}"),
        0,
        "nobody on the sender"
    );
    assert_eq!(
        count("websocket_hub_remote_broadcasts_total{}"),
        1,
        "{counters:?}"
    );
    assert_eq!(count("websocket_hub_remote_deliveries_total{}"), 1);
    assert_eq!(count("websocket_hub_remote_missed_total{}"), 0);
}

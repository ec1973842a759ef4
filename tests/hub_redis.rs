//! One hub across two servers over a real `redis-server` (started by each test on a free
//! port of 127.0.0.1, killed at the end): exactly-once in-order delivery, rooms across
//! nodes, counts, faults (Redis down at start, killed and restarted, a subscriber cut off by
//! its output buffer limit), foreign publishers, one node's shutdown, no leaked tasks.
#![cfg(feature = "redis")]

#[path = "common/hub_node.rs"]
mod hub_node;
#[path = "common/redis_server.rs"]
mod redis_server;

use std::time::Duration;

use hub_node::{
    broadcast_right_after_joins, join, recv, tell, wait_until, within, Member, Node, LIMIT,
};
use redis_server::{free_port, RedisServer};
use tokio::time::{sleep, Instant};
use ws_controller::test::{TestClient, TestServer};
use ws_controller::{BrokerStatus, ClusterOptions, Hub, RemoteDelivery, RemoteFailure, Shutdown};

const ASK: Duration = Duration::from_secs(2);

fn options() -> ClusterOptions {
    ClusterOptions::default().health_interval(Duration::from_millis(100))
}

async fn node(url: &str) -> Node {
    node_with(url, options()).await
}

async fn node_with(url: &str, options: ClusterOptions) -> Node {
    Node::start(Hub::redis_with(url, options).unwrap()).await
}

async fn numsub(redis: &RedisServer, channel: &str) -> usize {
    let reply = redis
        .command(&[b"PUBSUB", b"NUMSUB", channel.as_bytes()])
        .await;
    let count = reply.rsplit(':').next().unwrap().trim();
    count.parse().unwrap()
}

fn published(nodes: usize) -> RemoteDelivery {
    RemoteDelivery::Published { nodes }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_clients_on_two_nodes_get_every_broadcast_once_in_sender_order() {
    let redis = RedisServer::start().await;
    let (a, b) = (node(&redis.url()).await, node(&redis.url()).await);
    let mut clients = Vec::new();
    for i in 0..200 {
        clients.push(join(if i % 2 == 0 { &a } else { &b }, "lobby").await);
    }
    assert_eq!((a.hub.count(), b.hub.count()), (100, 100));
    assert_eq!(a.hub.rooms(), vec![("lobby".to_owned(), 100)]);

    const EACH: usize = 50;
    for i in 0..EACH {
        let report = a.hub.broadcast_room("lobby", format!("a{i}")).await;
        assert_eq!(
            (report.delivered, report.dropped, report.closed),
            (100, 0, 0)
        );
        assert_eq!(report.remote, published(1));
        let report = b.hub.broadcast(format!("b{i}")).await;
        assert_eq!(report.delivered, 100);
        assert_eq!(report.remote, published(1));
    }
    let json = a.hub.broadcast_room_json("lobby", &["end"]).await.unwrap();
    assert_eq!((json.delivered, json.remote), (100, published(1)));

    let readers = clients.into_iter().map(|mut client| async move {
        let mut got = Vec::new();
        for _ in 0..2 * EACH + 1 {
            got.push(recv(&mut client).await);
        }
        got
    });
    let from = |prefix: &str| {
        (0..EACH)
            .map(|i| format!("{prefix}{i}"))
            .collect::<Vec<_>>()
    };
    for got in futures_util::future::join_all(readers).await {
        assert_eq!(got.len(), 2 * EACH + 1);
        let of = |p: &str| {
            got.iter()
                .filter(|m| m.starts_with(p))
                .cloned()
                .collect::<Vec<_>>()
        };
        // Exactly once, in the order each node sent them (a's JSON came after all of a's).
        assert_eq!(of("a"), from("a"));
        assert_eq!(of("b"), from("b"));
        let end = got.iter().position(|m| m == r#"["end"]"#).unwrap();
        let last_a = got.iter().position(|m| m == "a49").unwrap();
        assert!(end > last_a);
    }
    let state = a.hub.broker_state();
    assert_eq!(state.status, BrokerStatus::Up);
    assert_eq!(
        (state.published, state.publish_failed),
        (2 * EACH as u64 / 2 + 1, 0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_are_isolated_and_join_and_leave_work_across_nodes() {
    let redis = RedisServer::start().await;
    let (a, b) = (node(&redis.url()).await, node(&redis.url()).await);
    let mut a_x = join(&a, "x").await;
    let mut b_x = join(&b, "x").await;
    let mut b_y = join(&b, "y").await;
    // Interest: a room's channel has a subscriber per node with members in it.
    assert_eq!(numsub(&redis, "wsc:room:x").await, 2);
    assert_eq!(numsub(&redis, "wsc:room:y").await, 1);
    assert_eq!(numsub(&redis, "wsc:room:z").await, 0);

    assert_eq!(a.hub.broadcast_room("x", "to x").await.remote, published(1));
    assert_eq!(a.hub.broadcast_room("y", "to y").await.remote, published(1));
    assert_eq!(a.hub.broadcast_room("z", "to z").await.remote, published(0));
    assert_eq!(recv(&mut a_x).await, "to x");
    assert_eq!(recv(&mut b_x).await, "to x");
    // b_y's next message is the one for y: it never saw x's (or z's).
    assert_eq!(recv(&mut b_y).await, "to y");

    // A member on b joins x; messages from a reach it.
    tell(&mut b_y, "join:x").await;
    a.hub.broadcast_room("x", "x again").await;
    assert_eq!(recv(&mut a_x).await, "x again");
    assert_eq!(recv(&mut b_x).await, "x again");
    assert_eq!(recv(&mut b_y).await, "x again");
    // broadcast_room_except from b skips the sender only, on every node.
    b_x.send_text("say:from b_x").await.unwrap();
    assert_eq!(recv(&mut a_x).await, "from b_x");
    assert_eq!(recv(&mut b_y).await, "from b_x");

    // Both of b's members leave x: b unsubscribes, and a's messages no longer reach them.
    tell(&mut b_x, "leave:x").await;
    assert_eq!(numsub(&redis, "wsc:room:x").await, 2, "b_y is still in x");
    tell(&mut b_y, "leave:x").await;
    assert_eq!(numsub(&redis, "wsc:room:x").await, 1);
    assert_eq!(b.hub.rooms(), vec![("y".to_owned(), 1)]);
    assert_eq!(
        a.hub.broadcast_room("x", "x after").await.remote,
        published(0)
    );
    a.hub.broadcast_room("y", "y after").await;
    assert_eq!(recv(&mut a_x).await, "x after");
    assert_eq!(recv(&mut b_y).await, "y after");
    b.hub.broadcast("all").await;
    assert_eq!(
        recv(&mut b_x).await,
        "all",
        "b_x got nothing for x after leaving"
    );
    assert_eq!(recv(&mut a_x).await, "all");
    assert_eq!(
        b.hub.broker_state().subscriptions,
        4,
        "3 fixed channels and y"
    );
}

/// The race a join used to lose ([`broadcast_right_after_joins`]), a hundred times.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcast_right_after_a_join_returns_reaches_the_new_member_on_another_node() {
    let redis = RedisServer::start().await;
    let (a, b) = (node(&redis.url()).await, node(&redis.url()).await);
    broadcast_right_after_joins(&a, &b, 100).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_counts_sum_every_node_and_say_how_many_answered() {
    let redis = RedisServer::start().await;
    let (a, b) = (node(&redis.url()).await, node(&redis.url()).await);
    let mut clients = Vec::new();
    for _ in 0..3 {
        clients.push(join(&a, "r").await);
    }
    for room in ["r", "r", "s", "-", "-"] {
        clients.push(join(&b, room).await);
    }
    let all = a.hub.cluster_count(ASK).await;
    assert_eq!((all.total, all.answered, all.reached), (8, 2, Some(2)));
    assert!(all.is_complete());
    let r = b.hub.cluster_room_count("r", ASK).await;
    assert_eq!((r.total, r.answered), (5, 2));
    let s = a.hub.cluster_room_count("s", ASK).await;
    assert_eq!((s.total, s.answered), (1, 2));
    assert_eq!(a.hub.cluster_room_count("none", ASK).await.total, 0);
    // An in-process hub counts itself.
    let local = Hub::new().cluster_count(ASK).await;
    assert_eq!(
        (local.total, local.answered, local.reached),
        (0, 1, Some(1))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_mid_run_local_delivery_goes_on_and_everything_resumes_after_restart() {
    let mut redis = RedisServer::start().await;
    let port = redis.port;
    let (a, b) = (node(&redis.url()).await, node(&redis.url()).await);
    let mut on_a = join(&a, "room").await;
    let mut on_b = join(&b, "room").await;
    a.hub.broadcast_room("room", "before").await;
    assert_eq!(recv(&mut on_a).await, "before");
    assert_eq!(recv(&mut on_b).await, "before");

    redis.kill();
    wait_until("both nodes see the broker down", || {
        a.hub.broker_state().status == BrokerStatus::Down
            && b.hub.broker_state().status == BrokerStatus::Down
    })
    .await;
    const LOST: usize = 10;
    let started = Instant::now();
    for i in 0..LOST {
        let report = a.hub.broadcast_room("room", format!("during {i}")).await;
        assert_eq!(report.delivered, 1, "local delivery is unaffected");
        assert_eq!(
            report.remote,
            RemoteDelivery::Failed(RemoteFailure::Unavailable)
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "failing fast, not waiting"
    );
    for i in 0..LOST {
        assert_eq!(recv(&mut on_a).await, format!("during {i}"));
    }
    let lost = a.hub.broker_state();
    assert_eq!(lost.publish_rejected, LOST as u64);

    let _redis = RedisServer::start_on(port).await;
    for hub in [&a.hub, &b.hub] {
        within("resubscribed after the restart", hub.broker_synced()).await;
    }
    assert_eq!(numsub(&_redis, "wsc:room:room").await, 2);
    let report = a.hub.broadcast_room("room", "after").await;
    assert_eq!(report.remote, published(1));
    assert_eq!(recv(&mut on_a).await, "after");
    // b's member missed exactly what was sent during the outage (at-most-once).
    assert_eq!(recv(&mut on_b).await, "after");
    let b_state = b.hub.broker_state();
    assert!(b_state.connection_losses >= 1, "{b_state:?}");
    assert!(b_state.resubscriptions >= 1, "{b_state:?}");
    assert_eq!(b_state.status, BrokerStatus::Up);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_starts_while_redis_is_unreachable_and_joins_when_it_appears() {
    let port = free_port();
    let url = format!("redis://127.0.0.1:{port}");
    let hub = Hub::redis_with(&url, options()).unwrap();
    let app = ws_controller::route("/{room}", Member { hub: hub.clone() });
    let server = TestServer::bind(app).await.unwrap();
    wait_until("the node reports the broker down", || {
        hub.broker_state().status == BrokerStatus::Down
    })
    .await;
    assert!(hub.broker_state().last_error.is_some());
    // Serving locally meanwhile (the controller waits for the broker before "joined", so
    // this client registers through the hub directly).
    let mut client = server.connect("/-").await.unwrap();
    wait_until("registered", || hub.count() == 1).await;
    let id = hub.ids()[0];
    // The broker is down: the join does not wait for it.
    assert!(hub.join(id, "lobby").await);
    let report = hub.broadcast_room("lobby", "local").await;
    assert_eq!(report.delivered, 1);
    assert_eq!(
        report.remote,
        RemoteDelivery::Failed(RemoteFailure::Unavailable)
    );

    let redis = RedisServer::start_on(port).await;
    // "local" was queued while the controller still waited for the broker.
    assert_eq!(recv(&mut client).await, "local");
    within("subscribed once redis is up", hub.broker_synced()).await;
    assert_eq!(recv(&mut client).await, "joined");
    let other = node(&redis.url()).await;
    assert_eq!(
        other.hub.broadcast_room("lobby", "remote").await.remote,
        published(1)
    );
    assert_eq!(recv(&mut client).await, "remote");
    assert_eq!(
        hub.broker_state().resubscriptions,
        0,
        "a first subscription, not a re-one"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_cut_off_by_its_output_buffer_limit_notices_and_resubscribes() {
    let redis = RedisServer::start().await;
    let (a, b) = (node(&redis.url()).await, node(&redis.url()).await);
    let mut on_b = join(&b, "big").await;
    let ok = redis
        .command(&[
            b"CONFIG",
            b"SET",
            b"client-output-buffer-limit",
            b"pubsub 64kb 0 0",
        ])
        .await;
    assert_eq!(ok, "OK");
    // One message over b's pubsub buffer limit: Redis closes b's subscription connection.
    let report = a.hub.broadcast_room("big", vec![7u8; 256 << 10]).await;
    assert_eq!(report.remote, published(1));
    wait_until("b notices the cut", || {
        b.hub.broker_state().connection_losses >= 1
    })
    .await;
    within("b resubscribes", b.hub.broker_synced()).await;
    // Redis logs each client it cuts off.
    wait_until("redis logs the cut", || {
        redis.log_lines("for overcoming of output buffer limits") == 1
    })
    .await;
    wait_until("b counts the resubscription", || {
        b.hub.broker_state().resubscriptions >= 1
    })
    .await;
    assert_eq!(numsub(&redis, "wsc:room:big").await, 1);
    a.hub.broadcast_room("big", "small").await;
    // The big message may or may not have reached b before the cut; the next one does.
    let mut got = recv_any(&mut on_b).await;
    if got.len() > 1000 {
        got = recv_any(&mut on_b).await;
    }
    assert_eq!(got, "small");
}

async fn recv_any(client: &mut TestClient) -> String {
    let message = within("a message", client.recv()).await.unwrap();
    match message.as_text() {
        Some(text) => text.to_owned(),
        None => "x".repeat(message.len()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_publisher_injects_messages_and_malformed_frames_are_ignored() {
    let redis = RedisServer::start().await;
    let (a, b) = (node(&redis.url()).await, node(&redis.url()).await);
    let mut on_a = join(&a, "lobby").await;
    let mut on_b = join(&b, "lobby").await;
    let publish = |channel: &'static str, frame: &'static [u8]| {
        let redis = &redis;
        async move {
            redis
                .command(&[b"PUBLISH", channel.as_bytes(), frame])
                .await
        }
    };
    // Version 2, an unknown kind, a short frame, invalid UTF-8: ignored and counted.
    assert_eq!(
        publish("wsc:room:lobby", b"\x02\x00\0\0\0\0\0\0\0\0nope").await,
        "2"
    );
    assert_eq!(
        publish("wsc:room:lobby", b"\x01\x7f\0\0\0\0\0\0\0\0nope").await,
        "2"
    );
    assert_eq!(publish("wsc:all", b"\x01\x00").await, "2");
    assert_eq!(
        publish("wsc:all", b"\x01\x00\0\0\0\0\0\0\0\0\xff").await,
        "2"
    );
    let frame = b"\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00hello from outside";
    assert_eq!(publish("wsc:room:lobby", frame).await, "2");
    assert_eq!(recv(&mut on_a).await, "hello from outside");
    assert_eq!(recv(&mut on_b).await, "hello from outside");
    let binary = b"\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01";
    assert_eq!(publish("wsc:all", binary).await, "2");
    let got = within("binary", on_b.recv_binary()).await.unwrap();
    assert_eq!(&got[..], b"\x00\x01");
    assert_eq!(b.hub.broker_state().invalid_frames, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_node_shutting_down_leaves_the_other_and_its_rooms_alone() {
    let redis = RedisServer::start().await;
    let (a, b) = (node(&redis.url()).await, node(&redis.url()).await);
    let mut on_a = join(&a, "room").await;
    let mut on_b = vec![join(&b, "room").await, join(&b, "room").await];
    let hub = a.hub.clone();
    let shutdown = tokio::spawn(async move { hub.shutdown(Shutdown::default()).await });
    on_a.expect_close(ws_controller::CloseCode::GOING_AWAY, "Server shutting down")
        .await;
    // `expect_close` answered the close: the handshake is complete, so the close is clean.
    let report = within("a's shutdown", shutdown).await.unwrap();
    assert_eq!((report.clean, report.forced), (1, 0));
    within("a unsubscribes from its empty room", a.hub.broker_synced()).await;
    assert_eq!(numsub(&redis, "wsc:room:room").await, 1);
    assert_eq!(a.hub.broker_state().subscriptions, 3);

    let report = b.hub.broadcast_room("room", "still here").await;
    assert_eq!((report.delivered, report.remote), (2, published(0)));
    for client in &mut on_b {
        assert_eq!(recv(client).await, "still here");
    }
    let count = b.hub.cluster_count(ASK).await;
    assert_eq!(
        (count.total, count.answered),
        (2, 2),
        "a still answers, with 0"
    );
    assert_eq!(b.hub.count(), 2);
    assert!(!b.hub.is_shutting_down());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_last_hub_clone_closes_its_broker_connections() {
    let redis = RedisServer::start().await;
    let clients = |info: &str| -> usize {
        let line = info
            .lines()
            .find(|l| l.starts_with("connected_clients:"))
            .unwrap();
        line["connected_clients:".len()..].trim().parse().unwrap()
    };
    let hub = Hub::redis_with(&redis.url(), options()).unwrap();
    within("subscribed", hub.broker_synced()).await;
    // Two connections (publish, subscribe) plus the one asking.
    assert_eq!(clients(&redis.command(&[b"INFO", b"clients"]).await), 3);
    drop(hub);
    let deadline = Instant::now() + LIMIT;
    while clients(&redis.command(&[b"INFO", b"clients"]).await) != 1 {
        assert!(
            Instant::now() < deadline,
            "the hub's connections stayed open"
        );
        sleep(Duration::from_millis(20)).await;
    }
}

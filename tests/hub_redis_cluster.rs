//! One hub across two servers over a real local Redis Cluster (3 masters started by each
//! test on free ports of 127.0.0.1, killed at the end) with sharded pub/sub: rooms on
//! different shards, each subscribed on its own shard only, hub-wide broadcasts, order,
//! no echo, counts, and a broadcast right after a join.
#![cfg(feature = "redis")]

#[path = "common/hub_node.rs"]
mod hub_node;
#[path = "common/redis_cluster.rs"]
mod redis_cluster;
// Only its raw command client is used here.
#[allow(dead_code)]
#[path = "common/redis_server.rs"]
mod redis_server;

use std::time::Duration;

use hub_node::{broadcast_right_after_joins, join, recv, Node};
use redis_cluster::RedisCluster;
use redis_server::command;
use ws_controller::{BrokerStatus, ClusterOptions, Hub, RemoteDelivery};

const ASK: Duration = Duration::from_secs(2);

async fn node(cluster: &RedisCluster) -> Node {
    let options = ClusterOptions::default().health_interval(Duration::from_millis(100));
    Node::start(Hub::redis_cluster(cluster.urls(), options).unwrap()).await
}

fn published(nodes: usize) -> RemoteDelivery {
    RemoteDelivery::Published { nodes }
}

fn room_channel(room: &str) -> String {
    format!("wsc:room:{{{room}}}")
}

/// Subscribers of a sharded channel on the server at `port`.
async fn shard_subscribers(port: u16, channel: &str) -> usize {
    let reply = command(port, &[b"PUBSUB", b"SHARDNUMSUB", channel.as_bytes()]).await;
    reply.rsplit(':').next().unwrap().trim().parse().unwrap()
}

/// One room per master, with the master that owns its channel.
async fn a_room_on_every_shard(cluster: &RedisCluster) -> Vec<(String, u16)> {
    let mut rooms: Vec<(String, u16)> = Vec::new();
    for i in 0.. {
        let room = format!("room{i}");
        let master = cluster.master_of(&room_channel(&room)).await;
        if rooms.iter().all(|(_, m)| *m != master) {
            rooms.push((room, master));
        }
        if rooms.len() == cluster.masters {
            break;
        }
    }
    rooms
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_on_three_shards_reach_every_node_once_in_order_and_counts_add_up() {
    let cluster = RedisCluster::start(3, 0).await;
    let (a, b) = (node(&cluster).await, node(&cluster).await);
    let rooms = a_room_on_every_shard(&cluster).await;
    let (mut on_a, mut on_b) = (Vec::new(), Vec::new());
    for (room, _) in &rooms {
        on_a.push(join(&a, room).await);
        on_b.push(join(&b, room).await);
    }
    // Each room's channel is subscribed by both nodes on its own shard, nowhere else.
    for (room, owner) in &rooms {
        for port in &cluster.ports {
            let expected = if port == owner { 2 } else { 0 };
            let got = shard_subscribers(*port, &room_channel(room)).await;
            assert_eq!(got, expected, "{room} on {port} (owner {owner})");
        }
    }

    for (room, _) in &rooms {
        let report = a.hub.broadcast_room(room, format!("to {room}")).await;
        assert_eq!((report.delivered, report.remote), (1, published(1)));
    }
    let report = b.hub.broadcast("everyone").await;
    assert_eq!((report.delivered, report.remote), (3, published(1)));
    // Exactly once each (a's own frames come back from Redis and are ignored), and no
    // room's message reached another room. The room's and the hub-wide channel are on
    // different shards: their order is not kept on the node that did not send both.
    for (i, (room, _)) in rooms.iter().enumerate() {
        for client in [&mut on_a[i], &mut on_b[i]] {
            let mut got = [recv(client).await, recv(client).await];
            got.sort();
            assert_eq!(got, ["everyone".to_owned(), format!("to {room}")]);
        }
    }

    // A sender's order holds within a room, from both nodes at once.
    const EACH: usize = 30;
    let (room, _) = &rooms[0];
    for i in 0..EACH {
        a.hub.broadcast_room(room, format!("a{i}")).await;
        b.hub.broadcast_room(room, format!("b{i}")).await;
    }
    for client in [&mut on_a[0], &mut on_b[0]] {
        let mut got = Vec::new();
        for _ in 0..2 * EACH {
            got.push(recv(client).await);
        }
        for sender in ["a", "b"] {
            let mine: Vec<&String> = got.iter().filter(|m| m.starts_with(sender)).collect();
            let expected: Vec<String> = (0..EACH).map(|i| format!("{sender}{i}")).collect();
            assert_eq!(mine, expected.iter().collect::<Vec<_>>());
        }
    }
    // broadcast_room_except skips its sender only, across nodes.
    on_b[1].send_text("say:from b").await.unwrap();
    assert_eq!(recv(&mut on_a[1]).await, "from b");

    let all = a.hub.cluster_count(ASK).await;
    assert_eq!((all.total, all.answered, all.reached), (6, 2, Some(2)));
    let one = b.hub.cluster_room_count(&rooms[2].0, ASK).await;
    assert_eq!((one.total, one.answered), (2, 2));
    assert_eq!(a.hub.cluster_room_count("nobody", ASK).await.total, 0);

    let state = a.hub.broker_state();
    assert_eq!(state.status, BrokerStatus::Up);
    assert_eq!((state.publish_failed, state.publish_rejected), (0, 0));
    assert_eq!(state.subscriptions, 3 + rooms.len(), "3 fixed channels");
    assert_eq!(state.join_timeouts, 0);
}

/// The race a join used to lose ([`broadcast_right_after_joins`]), on a cluster: the rooms'
/// channels are spread over every shard.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcast_right_after_a_join_returns_reaches_the_new_member_on_every_shard() {
    let cluster = RedisCluster::start(3, 0).await;
    let (a, b) = (node(&cluster).await, node(&cluster).await);
    broadcast_right_after_joins(&a, &b, 100).await;
    let mut owners: Vec<u16> = Vec::new();
    for i in 0..100 {
        owners.push(cluster.master_of(&room_channel(&format!("r{i}"))).await);
    }
    owners.sort_unstable();
    owners.dedup();
    assert_eq!(owners.len(), 3, "the rooms were spread over every shard");
}

/// What one sender's broadcasts to one room became.
#[derive(Default)]
struct Sent {
    /// Sequence numbers Redis accepted, and those it did not (failed or rejected).
    published: Vec<u64>,
    failed: Vec<u64>,
}

/// Broadcasts `<sender>:<seq>` to every room, one after the other, every 5 ms until
/// `stop`, then `end:<sender>`.
async fn keep_broadcasting(
    hub: Hub,
    sender: &'static str,
    rooms: Vec<String>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Vec<Sent> {
    let mut sent: Vec<Sent> = rooms.iter().map(|_| Sent::default()).collect();
    let mut seq = 0;
    while !*stop.borrow() {
        for (room, sent) in rooms.iter().zip(&mut sent) {
            let report = hub.broadcast_room(room, format!("{sender}:{seq}")).await;
            match report.remote {
                RemoteDelivery::Published { .. } => sent.published.push(seq),
                _ => sent.failed.push(seq),
            }
        }
        seq += 1;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for room in &rooms {
        assert!(hub
            .broadcast_room(room, format!("end:{sender}"))
            .await
            .remote
            .is_ok());
    }
    sent
}

/// Reads a member's messages until both senders' `end`, returning the sequence numbers it
/// got from `remote`, in order.
async fn read_until_end(mut client: ws_controller::test::TestClient, remote: &str) -> Vec<u64> {
    let mut got = Vec::new();
    let mut ends = 0;
    while ends < 2 {
        let text = match client.recv_text().await {
            Ok(text) => text,
            Err(e) => panic!(
                "reader of {remote}: {e} after {} messages, last {:?}, ends {ends}",
                got.len(),
                got.last()
            ),
        };
        if text.starts_with("end:") {
            ends += 1;
        } else if let Some(seq) = text.strip_prefix(remote).and_then(|t| t.strip_prefix(':')) {
            got.push(seq.parse().unwrap());
        }
    }
    got
}

/// A master killed while two nodes broadcast to a room on each shard: its replica takes
/// over, the hubs resubscribe on it and every room resumes. Prints what was lost (recorded
/// in semantics.md). Ignored: it takes about ten seconds, and it FAILS in about two runs
/// of three (a known bug, see semantics.md: after the failover one node's subscription to
/// the failed shard's room is missing on the new master while the hub counts it synced).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "known bug: a subscription can be missing after a failover (semantics.md)"]
async fn a_master_killed_while_two_nodes_broadcast_its_replica_takes_over_and_rooms_resume() {
    let mut cluster = RedisCluster::start(3, 1).await;
    let (a, b) = (node(&cluster).await, node(&cluster).await);
    let rooms = a_room_on_every_shard(&cluster).await;
    let names: Vec<String> = rooms.iter().map(|(room, _)| room.clone()).collect();
    let mut readers = Vec::new();
    for room in &names {
        // Each node's member counts what arrived from the other node.
        readers.push(tokio::spawn(read_until_end(join(&a, room).await, "b")));
        readers.push(tokio::spawn(read_until_end(join(&b, room).await, "a")));
    }
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let senders = [
        tokio::spawn(keep_broadcasting(
            a.hub.clone(),
            "a",
            names.clone(),
            stop.clone(),
        )),
        tokio::spawn(keep_broadcasting(b.hub.clone(), "b", names.clone(), stop)),
    ];
    tokio::time::sleep(Duration::from_millis(500)).await;

    let (failed_room, killed) = rooms[0].clone();
    let killed_at = tokio::time::Instant::now();
    cluster.kill(killed);
    let mut promoted = None;
    let mut down = Duration::ZERO;
    let mut step = tokio::time::interval(Duration::from_millis(20));
    loop {
        step.tick().await;
        let hubs_down = [&a.hub, &b.hub]
            .iter()
            .any(|hub| hub.broker_state().status != BrokerStatus::Up);
        if hubs_down {
            down += Duration::from_millis(20);
        }
        let owner = cluster.serving_master(&room_channel(&failed_room)).await;
        if promoted.is_none() && owner.is_some_and(|port| port != killed) {
            promoted = Some(killed_at.elapsed());
        }
        if promoted.is_some() && !hubs_down {
            break;
        }
        assert!(
            killed_at.elapsed() < Duration::from_secs(20),
            "no recovery: promoted {promoted:?}, {:?}, {:?}",
            a.hub.broker_state(),
            b.hub.broker_state()
        );
    }
    for hub in [&a.hub, &b.hub] {
        hub_node::within("resubscribed", hub.broker_synced()).await;
    }
    let recovered = killed_at.elapsed();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop_tx.send(true).unwrap();
    let mut sent = Vec::new();
    for sender in senders {
        sent.push(sender.await.unwrap());
    }
    let mut got = Vec::new();
    for reader in readers {
        got.push(reader.await.unwrap());
    }

    println!(
        "failover: replica promoted after {:?}, both hubs up and resubscribed after {recovered:?} \
         (down in total {down:?} on either hub)",
        promoted.unwrap()
    );
    for (r, (room, owner)) in rooms.iter().enumerate() {
        for (s, sender) in ["a", "b"].iter().enumerate() {
            let sent = &sent[s][r];
            // The member on the other node: readers are [on a, on b] per room.
            let received = &got[2 * r + (1 - s)];
            assert!(received.windows(2).all(|w| w[0] < w[1]), "in order, once");
            let lost_published = sent
                .published
                .iter()
                .filter(|seq| received.binary_search(seq).is_err())
                .count();
            println!(
                "  room {room} (shard {owner}{}), from {sender}: {} sent, {} accepted by Redis, \
                 {} not ({} of those still arrived), {lost_published} accepted but lost",
                if *owner == killed { ", failed" } else { "" },
                sent.published.len() + sent.failed.len(),
                sent.published.len(),
                sent.failed.len(),
                sent.failed
                    .iter()
                    .filter(|seq| received.binary_search(seq).is_ok())
                    .count(),
            );
            // What was sent after the recovery arrived: the last tenth at least.
            let tail = sent.published.iter().rev().take(20);
            for seq in tail {
                assert!(
                    received.binary_search(seq).is_ok(),
                    "{room} {sender}:{seq} after recovery"
                );
            }
        }
    }
    assert_ne!(cluster.master_of(&room_channel(&failed_room)).await, killed);
}

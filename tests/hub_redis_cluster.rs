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

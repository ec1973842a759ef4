//! A real local Redis Cluster: `redis-server --cluster-enabled yes` on free ports of
//! 127.0.0.1, joined by `redis-cli --cluster create`; every server is killed and the data
//! directory removed when dropped (also when a test panics). Needs `redis_server` beside it.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::time::{sleep, Instant};

use super::redis_server::{command, free_port};

/// Milliseconds before a silent master counts as failed and its replica takes over.
pub const NODE_TIMEOUT_MS: u64 = 1000;

pub struct RedisCluster {
    /// Every server's port; the first `masters` were created as masters.
    pub ports: Vec<u16>,
    pub masters: usize,
    children: Vec<Option<Child>>,
    dir: PathBuf,
}

impl RedisCluster {
    /// `masters` masters with `replicas` replicas each, returning once every node reports
    /// `cluster_state:ok` and every replica is in sync with its master.
    pub async fn start(masters: usize, replicas: usize) -> Self {
        let count = masters * (1 + replicas);
        let ports: Vec<u16> = (0..count).map(|_| free_cluster_port()).collect();
        let dir = std::env::temp_dir().join(format!(
            "wsc-redis-cluster-{}-{}",
            std::process::id(),
            ports[0]
        ));
        std::fs::create_dir_all(&dir).expect("cluster directory");
        let mut cluster = Self {
            ports: ports.clone(),
            masters,
            children: Vec::new(),
            dir,
        };
        for &port in &ports {
            let child = cluster.spawn(port);
            cluster.children.push(Some(child));
        }
        for &port in &ports {
            wait_for(&format!("redis-server on {port}"), || async move {
                tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .is_ok()
            })
            .await;
        }
        let addresses: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let status = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("redis-cli must be on PATH (apt-get install redis-server)");
        assert!(status.success(), "redis-cli --cluster create failed");
        for &port in &ports {
            cluster.wait_ok(port).await;
        }
        for &port in &ports[masters..] {
            wait_for(&format!("replica {port} in sync"), || async move {
                command(port, &[b"INFO", b"replication"])
                    .await
                    .contains("master_link_status:up")
            })
            .await;
        }
        cluster
    }

    fn spawn(&self, port: u16) -> Child {
        let config = self.dir.join(format!("nodes-{port}.conf"));
        Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--cluster-enabled", "yes", "--cluster-config-file"])
            .arg(&config)
            .args(["--cluster-node-timeout", &NODE_TIMEOUT_MS.to_string()])
            // A replica may take over however long its master was gone, and syncs at once.
            .args(["--cluster-replica-validity-factor", "0"])
            .args(["--repl-diskless-sync-delay", "0"])
            .arg("--dir")
            .arg(&self.dir)
            .args(["--save", "", "--appendonly", "no", "--loglevel", "warning"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be on PATH (apt-get install redis-server)")
    }

    /// Waits until the node on `port` reports `cluster_state:ok`.
    pub async fn wait_ok(&self, port: u16) {
        wait_for(&format!("cluster_state:ok on {port}"), || async move {
            command(port, &[b"CLUSTER", b"INFO"])
                .await
                .contains("cluster_state:ok")
        })
        .await;
    }

    /// The URLs of every node.
    pub fn urls(&self) -> Vec<String> {
        self.ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}"))
            .collect()
    }

    /// The port of the master that owns `key`'s slot now.
    pub async fn master_of(&self, key: &str) -> u16 {
        self.serving_master(key)
            .await
            .unwrap_or_else(|| panic!("no live master owns {key}'s slot"))
    }

    /// The port of the live master that owns `key`'s slot, if any (none during a failover).
    pub async fn serving_master(&self, key: &str) -> Option<u16> {
        let any = self.live_port();
        let slot: u16 = command(any, &[b"CLUSTER", b"KEYSLOT", key.as_bytes()])
            .await
            .parse()
            .expect("slot");
        let nodes = command(any, &[b"CLUSTER", b"NODES"]).await;
        for line in nodes.lines() {
            let fields: Vec<&str> = line.split(' ').collect();
            if fields.len() < 9 || !fields[2].contains("master") || fields[2].contains("fail") {
                continue;
            }
            let owns = fields[8..].iter().any(|range| {
                let mut ends = range.split('-').map(|n| n.parse::<u16>().ok());
                match (ends.next().flatten(), ends.next()) {
                    (Some(a), Some(Some(b))) => (a..=b).contains(&slot),
                    (Some(a), None) => a == slot,
                    _ => false,
                }
            });
            if owns {
                let address = fields[1].split('@').next().unwrap_or_default();
                return address.rsplit(':').next().unwrap().parse().ok();
            }
        }
        None
    }

    /// A port whose server is running.
    fn live_port(&self) -> u16 {
        self.ports
            .iter()
            .zip(&self.children)
            .find(|(_, child)| child.is_some())
            .map(|(port, _)| *port)
            .expect("a live node")
    }

    /// Kills the server on `port` at once (SIGKILL).
    pub fn kill(&mut self, port: u16) {
        let index = self.ports.iter().position(|p| *p == port).expect("port");
        if let Some(mut child) = self.children[index].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the killed server on `port` again, with its cluster configuration.
    pub fn restart(&mut self, port: u16) {
        let index = self.ports.iter().position(|p| *p == port).expect("port");
        assert!(self.children[index].is_none(), "{port} is running");
        self.children[index] = Some(self.spawn(port));
    }
}

/// A free port whose cluster bus port (the port + 10000) is free too.
fn free_cluster_port() -> u16 {
    loop {
        let port = free_port();
        let Some(bus) = port.checked_add(10_000) else {
            continue;
        };
        if std::net::TcpListener::bind(("127.0.0.1", bus)).is_ok() {
            return port;
        }
    }
}

async fn wait_for<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        sleep(Duration::from_millis(50)).await;
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for child in self.children.iter_mut().filter_map(Option::take) {
            let mut child = child;
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

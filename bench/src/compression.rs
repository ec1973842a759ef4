//! permessage-deflate phases, with the engine client (`engine.rs`): 1 KiB JSON-like text
//! ping-pong with compression on and off, memory per compressed connection, and a 1 KiB
//! broadcast to many compressed connections with the server's deflate count.

use std::io;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ws_controller::protocol::deflate::DeflateConfig;
use ws_controller::protocol::Message;

use crate::client::bad;
use crate::engine::EngineClient;
use crate::load::{addr, stats, Broadcast, Memory, Options, Traffic, MEASURE, SMALL, STOP, WARMUP};
use crate::many::{echo_once, open_many};
use crate::ServerProcess;

/// The text messages' size.
pub const TEXT: usize = 1024;

/// The compression on/off pair: the same client (it always offers the lean mode), a
/// server that declines (`macro`) and one that accepts (`macro-deflate`).
const PAIR: [&str; 2] = ["macro", "macro-deflate"];

pub struct TextPhase {
    pub kind: String,
    pub compressed: bool,
    pub traffic: Traffic,
    /// Bytes on the client's socket per message, client to server and back.
    pub up: f64,
    pub down: f64,
}

pub struct DeflateMemory {
    pub kind: String,
    pub memory: Memory,
}

pub struct DeflateBroadcast {
    pub kind: String,
    pub broadcast: Broadcast,
    pub broadcasts: u64,
    /// Messages the server compressed over the measured rounds.
    pub compressed: u64,
    /// Bytes a recipient read per delivery.
    pub wire: f64,
}

/// The text's body for connection `id`: its 16 hex digits at 8..24 are the tag.
fn template(id: u64) -> Vec<u8> {
    crate::json_like(id, TEXT).into_bytes()
}

fn set_tag(text: &mut [u8], tag: u64) {
    text[8..24].copy_from_slice(format!("{tag:016x}").as_bytes());
}

pub async fn text_phases(options: &Options) -> io::Result<Vec<TextPhase>> {
    let servers: Vec<ServerProcess> = PAIR
        .iter()
        .map(|k| ServerProcess::start(k, options.server_cpu))
        .collect::<io::Result<_>>()?;
    let mut runs: Vec<Vec<TextPhase>> = servers.iter().map(|_| Vec::new()).collect();
    for _ in 0..options.repeat {
        for (i, server) in servers.iter().enumerate() {
            eprintln!("[{}] 1 KiB text ping-pong", server.kind);
            runs[i].push(text_pingpong(server, options).await?);
        }
    }
    Ok(runs
        .into_iter()
        .map(|mut runs| {
            runs.sort_by(|a, b| a.traffic.cpu_us().total_cmp(&b.traffic.cpu_us()));
            runs.swap_remove(runs.len() / 2)
        })
        .collect())
}

async fn text_pingpong(server: &ServerProcess, options: &Options) -> io::Result<TextPhase> {
    let state = Arc::new(AtomicU8::new(WARMUP));
    let config = DeflateConfig::lean();
    let mut tasks = Vec::new();
    let mut compressed = false;
    for id in 0..options.conns as u64 {
        let mut client = EngineClient::connect(addr(server), "/echo", Some(&config)).await?;
        compressed = client.compression.is_some();
        let state = state.clone();
        tasks.push(tokio::spawn(async move {
            let mut text = template(id);
            let (mut count, mut up, mut down) = (0u64, 0u64, 0u64);
            let mut rtts: Vec<u32> = Vec::with_capacity(1 << 16);
            for seq in 0.. {
                let phase = state.load(Ordering::Relaxed);
                if phase == STOP {
                    break;
                }
                set_tag(&mut text, (id << 40) | seq);
                let message = Message::text(String::from_utf8(text.clone()).expect("ASCII"));
                let (w, r) = (client.written_bytes, client.read_bytes);
                let sent = Instant::now();
                client.send(&message).await?;
                let echo = client.recv().await?;
                if !echo.is_text() || echo.as_bytes() != text.as_slice() {
                    return Err(bad("echoed text differs from what was sent"));
                }
                if phase == MEASURE {
                    rtts.push(sent.elapsed().as_nanos().min(u32::MAX as u128) as u32);
                    count += 1;
                    up += client.written_bytes - w;
                    down += client.read_bytes - r;
                }
            }
            Ok::<_, io::Error>((count, up, down, rtts))
        }));
    }
    tokio::time::sleep(Duration::from_secs_f64(options.warmup)).await;
    let cpu0 = server.cpu_split();
    let start = Instant::now();
    state.store(MEASURE, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs_f64(options.secs)).await;
    state.store(STOP, Ordering::Relaxed);
    let seconds = start.elapsed().as_secs_f64();
    let cpu1 = server.cpu_split();
    let server_cpu = (cpu1.0 + cpu1.1) - (cpu0.0 + cpu0.1);
    let (mut messages, mut up, mut down) = (0, 0, 0);
    let mut all = Vec::new();
    for task in tasks {
        let (c, u, d, rtts) = task.await.map_err(io::Error::other)??;
        messages += c;
        up += u;
        down += d;
        all.extend(rtts);
    }
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .map_or(0.0, |&ns| ns as f64 / 1000.0)
    };
    let per = |bytes: u64| bytes as f64 / messages.max(1) as f64;
    Ok(TextPhase {
        kind: server.kind.clone(),
        compressed,
        traffic: Traffic {
            messages,
            seconds,
            server_cpu,
            server_user: cpu1.0 - cpu0.0,
            size: TEXT,
            p50: pct(0.50),
            p99: pct(0.99),
            p999: pct(0.999),
        },
        up: per(up),
        down: per(down),
    })
}

/// Idle memory per compressed connection, each having echoed one compressed message:
/// the lean mode (as many connections as the idle phase) and context takeover.
pub async fn memories(options: &Options) -> io::Result<Vec<DeflateMemory>> {
    let mut out = Vec::new();
    for (kind, config, n) in [
        ("macro-deflate", DeflateConfig::lean(), options.idle_conns),
        (
            "macro-ctx",
            DeflateConfig::context_takeover(15),
            options.ctx_conns,
        ),
    ] {
        let server = ServerProcess::start(kind, options.server_cpu)?;
        eprintln!("[{kind}] idle memory, {n} compressed connections");
        let addr = addr(&server);
        let warm = open_many(addr, "/echo", 10, |c, i| echo_once(c, i, SMALL)).await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let before_kib = server.status_kib("VmRSS");
        let mut clients = Vec::with_capacity(n);
        let mut next = 0;
        while next < n {
            let end = n.min(next + 250);
            let batch: Vec<_> = (next..end)
                .map(|id| {
                    let config = config.clone();
                    tokio::spawn(async move {
                        let mut client =
                            EngineClient::connect(addr, "/echo", Some(&config)).await?;
                        if client.compression.is_none() {
                            return Err(bad("compression declined"));
                        }
                        let text = crate::json_like(id as u64, TEXT);
                        client.send(&Message::text(text.clone())).await?;
                        if client.recv().await?.as_bytes() != text.as_bytes() {
                            return Err(bad("echoed text differs from what was sent"));
                        }
                        Ok(client)
                    })
                })
                .collect();
            for handle in batch {
                clients.push(handle.await.map_err(io::Error::other)??);
            }
            next = end;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let idle_kib = server.status_kib("VmRSS");
        drop((clients, warm));
        out.push(DeflateMemory {
            kind: kind.to_owned(),
            memory: Memory {
                conns: n,
                before_kib,
                idle_kib,
                after_large_kib: 0,
            },
        });
    }
    Ok(out)
}

/// A 1 KiB JSON-like text broadcast to `idle_conns` connections that all offer the lean
/// mode, on the server that declines it and the one that accepts it.
pub async fn broadcasts(options: &Options) -> io::Result<Vec<DeflateBroadcast>> {
    let mut out = Vec::new();
    for kind in PAIR {
        let server = ServerProcess::start(kind, options.server_cpu)?;
        eprintln!(
            "[{kind}] 1 KiB text broadcast to {} connections",
            options.idle_conns
        );
        out.push(broadcast(&server, options).await?);
    }
    Ok(out)
}

async fn broadcast(server: &ServerProcess, options: &Options) -> io::Result<DeflateBroadcast> {
    let addr = addr(server);
    let members = options.idle_conns.max(2);
    let total = (options.broadcast_rounds * options.broadcast_burst) as u64;
    // What every recipient must receive, made once (seq from 0, as the server numbers).
    let expected: Arc<Vec<String>> =
        Arc::new((0..total).map(|seq| crate::json_like(seq, TEXT)).collect());
    let warm = open_many(addr, "/echo", 10, |c, i| echo_once(c, i, SMALL)).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(warm);
    let rss_before_kib = server.status_kib("VmRSS");
    let config = DeflateConfig::lean();
    let mut clients = Vec::with_capacity(members);
    while clients.len() < members {
        let batch: Vec<_> = (clients.len()..members.min(clients.len() + 250))
            .map(|_| {
                let config = config.clone();
                tokio::spawn(async move {
                    EngineClient::connect(addr, "/broadcast", Some(&config)).await
                })
            })
            .collect();
        for handle in batch {
            clients.push(handle.await.map_err(io::Error::other)??);
        }
    }
    let mut trigger = clients.pop().expect("two members or more");
    let received = Arc::new(AtomicU64::new(0));
    let wire = Arc::new(AtomicU64::new(0));
    let mut readers = Vec::new();
    for mut client in clients {
        let (received, wire, expected) = (received.clone(), wire.clone(), expected.clone());
        readers.push(tokio::spawn(async move {
            for text in expected.iter() {
                if client.recv().await?.as_bytes() != text.as_bytes() {
                    return Err(bad("broadcast text differs"));
                }
                received.fetch_add(1, Ordering::Relaxed);
            }
            wire.fetch_add(client.read_bytes, Ordering::Relaxed);
            Ok::<_, io::Error>(client)
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_conns_kib = server.status_kib("VmRSS");
    let command = Message::text(format!("{} {TEXT} text", options.broadcast_burst));
    let (compressed0, _) = stats(addr).await?;
    let cpu0 = server.cpu_seconds();
    let start = Instant::now();
    let mut seq = 0;
    for round in 1..=options.broadcast_rounds as u64 {
        trigger.send(&command).await?;
        for _ in 0..options.broadcast_burst {
            if trigger.recv().await?.as_bytes() != expected[seq].as_bytes() {
                return Err(bad("broadcast text differs"));
            }
            seq += 1;
        }
        let target = round * options.broadcast_burst as u64 * (members as u64 - 1);
        let waited = Instant::now();
        while received.load(Ordering::Relaxed) < target {
            if waited.elapsed() > Duration::from_secs(30) {
                return Err(bad("broadcast: deliveries missing after 30 s"));
            }
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let server_cpu = server.cpu_seconds() - cpu0;
    let (compressed1, _) = stats(addr).await?;
    for r in readers {
        r.await.map_err(io::Error::other)??;
    }
    let deliveries = total * members as u64;
    Ok(DeflateBroadcast {
        kind: server.kind.clone(),
        broadcast: Broadcast {
            members,
            deliveries,
            seconds,
            server_cpu,
            rss_before_kib,
            rss_conns_kib,
            hwm_kib: server.status_kib("VmHWM"),
        },
        broadcasts: total,
        compressed: compressed1 - compressed0,
        wire: wire.load(Ordering::Relaxed) as f64 / (total * (members as u64 - 1)) as f64,
    })
}

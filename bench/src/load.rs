//! The load generator and the report.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::client::{bad, encode, set_tag, Client, OP_BINARY, OP_TEXT};
use crate::many::{broadcast, memory};
use crate::report::{loadavg, machine, report};
use crate::ServerProcess;

pub struct Options {
    pub(crate) servers: Vec<String>,
    pub(crate) conns: usize,
    pub(crate) secs: f64,
    pub(crate) warmup: f64,
    pub(crate) idle_conns: usize,
    pub(crate) broadcast_rounds: usize,
    pub(crate) broadcast_burst: usize,
    pub(crate) server_cpu: Option<usize>,
    pub(crate) client_cpu: Option<usize>,
    pub(crate) skip: Vec<String>,
    pub(crate) repeat: usize,
    pub(crate) ctx_conns: usize,
    pub(crate) peak_clients: usize,
    pub(crate) peak_variants: Vec<String>,
}

impl Options {
    pub fn parse(args: &[String]) -> Result<Self, String> {
        let mut o = Self {
            servers: ["macro", "fastwebsockets", "tungstenite"]
                .map(String::from)
                .to_vec(),
            conns: 50,
            secs: 3.0,
            warmup: 1.0,
            idle_conns: 10_000,
            broadcast_rounds: 10,
            broadcast_burst: 20,
            server_cpu: Some(0),
            client_cpu: Some(1),
            skip: Vec::new(),
            repeat: 3,
            ctx_conns: 500,
            peak_clients: 16,
            peak_variants: crate::ALLOCATORS.iter().map(|v| v.0.to_owned()).collect(),
        };
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let mut value = || it.next().cloned().ok_or(format!("{flag} needs a value"));
            let num = |v: String| v.parse::<f64>().map_err(|e| format!("{flag}: {e}"));
            let cpu = |v: String| -> Result<Option<usize>, String> {
                if v == "none" {
                    Ok(None)
                } else {
                    v.parse().map(Some).map_err(|e| format!("{flag}: {e}"))
                }
            };
            match flag.as_str() {
                "--servers" => o.servers = value()?.split(',').map(str::to_owned).collect(),
                "--conns" => o.conns = num(value()?)? as usize,
                "--secs" => o.secs = num(value()?)?,
                "--warmup" => o.warmup = num(value()?)?,
                "--idle-conns" => o.idle_conns = num(value()?)? as usize,
                "--broadcast-rounds" => o.broadcast_rounds = num(value()?)? as usize,
                "--broadcast-burst" => o.broadcast_burst = num(value()?)? as usize,
                "--server-cpu" => o.server_cpu = cpu(value()?)?,
                "--client-cpu" => o.client_cpu = cpu(value()?)?,
                "--skip" => o.skip = value()?.split(',').map(str::to_owned).collect(),
                "--repeat" => o.repeat = (num(value()?)? as usize).max(1),
                "--ctx-conns" => o.ctx_conns = num(value()?)? as usize,
                "--peak-clients" => o.peak_clients = num(value()?)? as usize,
                "--peak-variants" => {
                    o.peak_variants = value()?.split(',').map(str::to_owned).collect()
                }
                other => return Err(format!("unknown option {other}")),
            }
        }
        Ok(o)
    }

    pub(crate) fn runs(&self, phase: &str) -> bool {
        !self.skip.iter().any(|s| s == phase)
    }
}

/// One traffic phase's figures.
#[derive(Default, Clone)]
pub(crate) struct Traffic {
    pub(crate) messages: u64,
    pub(crate) seconds: f64,
    pub(crate) server_cpu: f64,
    /// The part of `server_cpu` spent in the server's own code (utime).
    pub(crate) server_user: f64,
    pub(crate) size: usize,
    pub(crate) p50: f64,
    pub(crate) p99: f64,
    pub(crate) p999: f64,
}

impl Traffic {
    pub(crate) fn rate(&self) -> f64 {
        self.messages as f64 / self.seconds
    }
    pub(crate) fn mbps(&self) -> f64 {
        self.rate() * self.size as f64 / 1e6
    }
    pub(crate) fn cpu_us(&self) -> f64 {
        self.server_cpu * 1e6 / self.messages.max(1) as f64
    }
    pub(crate) fn user_us(&self) -> f64 {
        self.server_user * 1e6 / self.messages.max(1) as f64
    }
    pub(crate) fn cpu_share(&self) -> f64 {
        self.server_cpu / self.seconds * 100.0
    }
}

#[derive(Default, Clone)]
pub(crate) struct Memory {
    pub(crate) conns: usize,
    pub(crate) before_kib: u64,
    pub(crate) idle_kib: u64,
    pub(crate) after_large_kib: u64,
}

impl Memory {
    pub(crate) fn per_conn(&self, kib: u64) -> f64 {
        (kib as f64 - self.before_kib as f64) / self.conns.max(1) as f64
    }
}

#[derive(Default, Clone)]
pub(crate) struct Broadcast {
    pub(crate) members: usize,
    pub(crate) deliveries: u64,
    pub(crate) seconds: f64,
    pub(crate) server_cpu: f64,
    pub(crate) rss_before_kib: u64,
    pub(crate) rss_conns_kib: u64,
    pub(crate) hwm_kib: u64,
}

#[derive(Default, Clone)]
pub(crate) struct Results {
    pub(crate) kind: String,
    pub(crate) pingpong: Traffic,
    pub(crate) pipelined: Traffic,
    pub(crate) large: Traffic,
    pub(crate) memory: Option<Memory>,
    pub(crate) broadcast: Option<Broadcast>,
}

pub(crate) const SMALL: usize = 32;
pub(crate) const LARGE: usize = 64 << 10;
const PIPELINE: usize = 16;

pub fn run(options: Options) -> io::Result<()> {
    let fds = crate::raise_fd_limit();
    if let Some(cpu) = options.client_cpu {
        if !crate::pin_to(cpu) {
            eprintln!("warning: could not pin the load generator to cpu {cpu}");
        }
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    println!("# ws-controller benchmark");
    println!();
    println!("- machine: {}", machine());
    println!("- load average before: {}", loadavg());
    println!(
        "- servers pinned to cpu {:?}, load generator to cpu {:?}; open-files limit {fds}",
        options.server_cpu, options.client_cpu
    );
    println!(
        "- traffic: {} connections, {} s measured after {} s warm-up per phase; each phase \
         run {} time(s), servers interleaved, the run with the median server CPU/message shown",
        options.conns, options.secs, options.warmup, options.repeat
    );
    let mut results: Vec<Results> = options
        .servers
        .iter()
        .map(|kind| Results {
            kind: kind.clone(),
            ..Default::default()
        })
        .collect();

    let extras = runtime.block_on(async {
        if options.runs("memory") {
            for r in &mut results {
                let server = ServerProcess::start(&r.kind, options.server_cpu)?;
                eprintln!(
                    "[{}] idle memory, {} connections",
                    r.kind, options.idle_conns
                );
                r.memory = Some(memory(&server, options.idle_conns).await?);
            }
        }
        if options.runs("traffic") {
            let servers: Vec<ServerProcess> = results
                .iter()
                .map(|r| ServerProcess::start(&r.kind, options.server_cpu))
                .collect::<io::Result<_>>()?;
            // Phase-major order: both servers run each phase back to back, so drift in the
            // machine's state affects them alike.
            for (phase, size, depth) in [
                ("pingpong", SMALL, 1),
                ("pipelined", SMALL, PIPELINE),
                ("large", LARGE, 1),
            ] {
                if !options.runs(phase) {
                    continue;
                }
                let mut runs: Vec<Vec<Traffic>> = vec![Vec::new(); servers.len()];
                for _ in 0..options.repeat {
                    for (i, server) in servers.iter().enumerate() {
                        eprintln!("[{}] {phase}", server.kind);
                        runs[i].push(traffic(server, &options, size, depth).await?);
                    }
                }
                for (r, mut runs) in results.iter_mut().zip(runs) {
                    runs.sort_by(|a, b| a.cpu_us().total_cmp(&b.cpu_us()));
                    let t = runs.swap_remove(runs.len() / 2);
                    match phase {
                        "pingpong" => r.pingpong = t,
                        "pipelined" => r.pipelined = t,
                        _ => r.large = t,
                    }
                }
            }
        }
        if options.runs("broadcast") {
            for r in results.iter_mut().filter(|r| r.kind == "macro") {
                let server = ServerProcess::start(&r.kind, options.server_cpu)?;
                eprintln!(
                    "[{}] broadcast to {} connections",
                    r.kind, options.idle_conns
                );
                r.broadcast = Some(broadcast(&server, &options).await?);
            }
        }
        let mut extras = Extras::default();
        if options.runs("compression") {
            extras.text = crate::compression::text_phases(&options).await?;
        }
        if options.runs("deflate-memory") {
            extras.deflate_memory = crate::compression::memories(&options).await?;
        }
        if options.runs("deflate-broadcast") {
            extras.deflate_broadcast = crate::compression::broadcasts(&options).await?;
        }
        if options.runs("peak") {
            extras.peak = crate::peak::run(&options).await?;
        }
        Ok::<_, io::Error>(extras)
    })?;
    println!("- load average after: {}", loadavg());
    println!();
    report(&results, &extras, &options);
    Ok(())
}

/// The phases beyond the servers' common table.
#[derive(Default)]
pub(crate) struct Extras {
    pub(crate) text: Vec<crate::compression::TextPhase>,
    pub(crate) deflate_memory: Vec<crate::compression::DeflateMemory>,
    pub(crate) deflate_broadcast: Vec<crate::compression::DeflateBroadcast>,
    pub(crate) peak: Vec<crate::peak::Peak>,
}

/// The server's own counters, read over its `/stats` endpoint: (messages compressed,
/// live heap bytes).
pub(crate) async fn stats(addr: SocketAddr) -> io::Result<(u64, i64)> {
    let mut client = Client::connect(addr, "/stats", 1024).await?;
    client.write(&encode(OP_TEXT, b"stats")).await?;
    let (_, range) = client.next_frame().await?;
    let text = String::from_utf8_lossy(client.payload(range)).into_owned();
    let mut words = text
        .split_whitespace()
        .map(|w| w.parse::<i64>().unwrap_or(0));
    Ok((words.next().unwrap_or(0) as u64, words.next().unwrap_or(0)))
}

pub(crate) fn addr(server: &ServerProcess) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], server.port))
}

/// Per-connection state of a traffic phase.
struct Stream {
    client: Client,
    frame: Vec<u8>,
    expected: Vec<u8>,
    id: u64,
    seq: u64,
}

impl Stream {
    async fn open(addr: SocketAddr, id: u64, size: usize, buf: usize) -> io::Result<Self> {
        let client = Client::connect(addr, "/echo", buf).await?;
        Ok(Self {
            client,
            frame: encode(OP_BINARY, &crate::payload(0, size)),
            expected: crate::pattern(size.max(8)),
            id,
            seq: 0,
        })
    }

    fn next_tag(&mut self) -> u64 {
        let tag = (self.id << 40) | self.seq;
        self.seq += 1;
        tag
    }

    /// Appends the next message to `out`, returning its tag.
    fn push(&mut self, out: &mut Vec<u8>) -> u64 {
        let tag = self.next_tag();
        set_tag(&mut self.frame, tag);
        out.extend_from_slice(&self.frame);
        tag
    }

    /// Writes one message directly (no copy), returning its tag.
    async fn send_one(&mut self) -> io::Result<u64> {
        let tag = self.next_tag();
        set_tag(&mut self.frame, tag);
        self.client.write(&self.frame).await?;
        Ok(tag)
    }

    /// Reads the next echo and checks every byte of it.
    async fn expect(&mut self, tag: u64) -> io::Result<()> {
        let (opcode, range) = self.client.next_frame().await?;
        let data = self.client.payload(range);
        if opcode != OP_BINARY {
            return Err(bad(format!("expected a binary echo, got opcode {opcode}")));
        }
        check(data, tag, &self.expected)
    }
}

pub(crate) fn check(data: &[u8], tag: u64, expected: &[u8]) -> io::Result<()> {
    if data.len() != expected.len() {
        return Err(bad(format!(
            "echo of {} bytes, expected {}",
            data.len(),
            expected.len()
        )));
    }
    if data[..8] != tag.to_be_bytes() {
        return Err(bad(format!(
            "echo out of order: tag {:x}, expected {tag:x}",
            u64::from_be_bytes(data[..8].try_into().unwrap())
        )));
    }
    if data[8..] != expected[8..] {
        return Err(bad("echoed payload differs from what was sent"));
    }
    Ok(())
}

pub(crate) const WARMUP: u8 = 0;
pub(crate) const MEASURE: u8 = 1;
pub(crate) const STOP: u8 = 2;

async fn traffic(
    server: &ServerProcess,
    options: &Options,
    size: usize,
    depth: usize,
) -> io::Result<Traffic> {
    let state = Arc::new(AtomicU8::new(WARMUP));
    let mut tasks = Vec::new();
    for id in 0..options.conns {
        let mut stream = Stream::open(addr(server), id as u64, size, 4 * size + 4096).await?;
        let state = state.clone();
        tasks.push(tokio::spawn(async move {
            let mut rtts: Vec<u32> = Vec::with_capacity(1 << 16);
            let mut count = 0u64;
            let mut inflight: VecDeque<(u64, Instant)> = VecDeque::with_capacity(depth);
            let mut out = Vec::new();
            for _ in 0..depth {
                let tag = stream.push(&mut out);
                inflight.push_back((tag, Instant::now()));
            }
            stream.client.write(&out).await?;
            let mut due = 0;
            while let Some((tag, sent)) = inflight.pop_front() {
                stream.expect(tag).await?;
                let phase = state.load(Ordering::Relaxed);
                if phase == MEASURE {
                    rtts.push(sent.elapsed().as_nanos().min(u32::MAX as u128) as u32);
                    count += 1;
                }
                if phase == STOP {
                    continue;
                }
                due += 1;
                // Replace what arrived together in one write.
                if !stream.client.has_frame() {
                    let now = Instant::now();
                    if due == 1 {
                        let tag = stream.send_one().await?;
                        inflight.push_back((tag, now));
                    } else {
                        out.clear();
                        for _ in 0..due {
                            let tag = stream.push(&mut out);
                            inflight.push_back((tag, now));
                        }
                        stream.client.write(&out).await?;
                    }
                    due = 0;
                }
            }
            Ok::<_, io::Error>((count, rtts))
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
    let mut messages = 0;
    let mut all = Vec::new();
    for task in tasks {
        let (count, rtts) = task.await.map_err(io::Error::other)??;
        messages += count;
        all.extend(rtts);
    }
    all.sort_unstable();
    let pct = |p: f64| -> f64 {
        if all.is_empty() {
            return 0.0;
        }
        let i = ((all.len() as f64 * p) as usize).min(all.len() - 1);
        all[i] as f64 / 1000.0
    };
    Ok(Traffic {
        messages,
        seconds,
        server_cpu: (cpu1.0 + cpu1.1) - (cpu0.0 + cpu0.1),
        server_user: cpu1.0 - cpu0.0,
        size,
        p50: pct(0.50),
        p99: pct(0.99),
        p999: pct(0.999),
    })
}

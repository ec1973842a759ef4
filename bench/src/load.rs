//! The load generator and the report.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::client::{bad, encode, set_tag, Client, OP_BINARY, OP_TEXT};
use crate::ServerProcess;

pub struct Options {
    servers: Vec<String>,
    conns: usize,
    secs: f64,
    warmup: f64,
    idle_conns: usize,
    broadcast_rounds: usize,
    broadcast_burst: usize,
    server_cpu: Option<usize>,
    client_cpu: Option<usize>,
    skip: Vec<String>,
    repeat: usize,
}

impl Options {
    pub fn parse(args: &[String]) -> Result<Self, String> {
        let mut o = Self {
            servers: vec!["macro".into(), "tungstenite".into()],
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
                other => return Err(format!("unknown option {other}")),
            }
        }
        Ok(o)
    }

    fn runs(&self, phase: &str) -> bool {
        !self.skip.iter().any(|s| s == phase)
    }
}

/// One traffic phase's figures.
#[derive(Default, Clone)]
struct Traffic {
    messages: u64,
    seconds: f64,
    server_cpu: f64,
    size: usize,
    p50: f64,
    p99: f64,
    p999: f64,
}

impl Traffic {
    fn rate(&self) -> f64 {
        self.messages as f64 / self.seconds
    }
    fn mbps(&self) -> f64 {
        self.rate() * self.size as f64 / 1e6
    }
    fn cpu_us(&self) -> f64 {
        self.server_cpu * 1e6 / self.messages.max(1) as f64
    }
    fn cpu_share(&self) -> f64 {
        self.server_cpu / self.seconds * 100.0
    }
}

#[derive(Default, Clone)]
struct Memory {
    conns: usize,
    before_kib: u64,
    idle_kib: u64,
    after_large_kib: u64,
}

impl Memory {
    fn per_conn(&self, kib: u64) -> f64 {
        (kib as f64 - self.before_kib as f64) / self.conns.max(1) as f64
    }
}

#[derive(Default, Clone)]
struct Broadcast {
    members: usize,
    deliveries: u64,
    seconds: f64,
    server_cpu: f64,
    rss_before_kib: u64,
    rss_conns_kib: u64,
    hwm_kib: u64,
}

#[derive(Default, Clone)]
struct Results {
    kind: String,
    pingpong: Traffic,
    pipelined: Traffic,
    large: Traffic,
    memory: Option<Memory>,
    broadcast: Option<Broadcast>,
}

const SMALL: usize = 32;
const LARGE: usize = 64 << 10;
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

    runtime.block_on(async {
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
        Ok::<_, io::Error>(())
    })?;
    println!("- load average after: {}", loadavg());
    println!();
    report(&results, &options);
    Ok(())
}

fn addr(server: &ServerProcess) -> SocketAddr {
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

fn check(data: &[u8], tag: u64, expected: &[u8]) -> io::Result<()> {
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

const WARMUP: u8 = 0;
const MEASURE: u8 = 1;
const STOP: u8 = 2;

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
    let cpu0 = server.cpu_seconds();
    let start = Instant::now();
    state.store(MEASURE, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs_f64(options.secs)).await;
    state.store(STOP, Ordering::Relaxed);
    let seconds = start.elapsed().as_secs_f64();
    let cpu1 = server.cpu_seconds();
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
        server_cpu: cpu1 - cpu0,
        size,
        p50: pct(0.50),
        p99: pct(0.99),
        p999: pct(0.999),
    })
}

/// Opens `n` connections to `path` (a few hundred handshakes at a time), each running
/// `setup` once it is open.
async fn open_many<F, Fut>(
    addr: SocketAddr,
    path: &'static str,
    n: usize,
    setup: F,
) -> io::Result<Vec<Client>>
where
    F: Fn(Client, u64) -> Fut,
    Fut: std::future::Future<Output = io::Result<Client>> + Send + 'static,
{
    let mut clients = Vec::with_capacity(n);
    let mut next = 0;
    while next < n {
        let end = n.min(next + 250);
        let handles: Vec<_> = (next..end)
            .map(|_| tokio::spawn(Client::connect(addr, path, 1024)))
            .collect();
        let mut setups = Vec::with_capacity(handles.len());
        for (i, handle) in (next..end).zip(handles) {
            let client = handle.await.map_err(io::Error::other)??;
            setups.push(setup(client, i as u64));
        }
        for result in futures_util::future::join_all(setups).await {
            clients.push(result?);
        }
        next = end;
    }
    Ok(clients)
}

/// One echo of `size` bytes on `client`, checked.
async fn echo_once(mut client: Client, tag: u64, size: usize) -> io::Result<Client> {
    let mut frame = encode(OP_BINARY, &crate::payload(tag, size));
    set_tag(&mut frame, tag);
    client.write(&frame).await?;
    let (opcode, range) = client.next_frame().await?;
    if opcode != OP_BINARY {
        return Err(bad(format!("expected a binary echo, got opcode {opcode}")));
    }
    check(client.payload(range), tag, &crate::pattern(size.max(8)))?;
    Ok(client)
}

async fn memory(server: &ServerProcess, n: usize) -> io::Result<Memory> {
    let addr = addr(server);
    // Warm the server up (runtime, router, allocator arenas) before the baseline reading.
    let warm = open_many(addr, "/echo", 10, |c, i| echo_once(c, i, SMALL)).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before_kib = server.status_kib("VmRSS");
    let clients = open_many(addr, "/echo", n, |c, i| echo_once(c, i, SMALL)).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle_kib = server.status_kib("VmRSS");
    // The same connections, idle again after each carried one 64 KiB message.
    let mut again = Vec::with_capacity(n);
    let mut it = clients.into_iter().enumerate();
    loop {
        let batch: Vec<_> = it
            .by_ref()
            .take(250)
            .map(|(i, c)| tokio::spawn(echo_once(c, i as u64, LARGE)))
            .collect();
        if batch.is_empty() {
            break;
        }
        for h in batch {
            again.push(h.await.map_err(io::Error::other)??);
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after_large_kib = server.status_kib("VmRSS");
    drop(again);
    drop(warm);
    Ok(Memory {
        conns: n,
        before_kib,
        idle_kib,
        after_large_kib,
    })
}

async fn broadcast(server: &ServerProcess, options: &Options) -> io::Result<Broadcast> {
    const SIZE: usize = 64;
    let addr = addr(server);
    let members = options.idle_conns.max(2);
    let warm = open_many(addr, "/echo", 10, |c, i| echo_once(c, i, SMALL)).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(warm);
    let rss_before_kib = server.status_kib("VmRSS");
    let mut clients = open_many(addr, "/broadcast", members, |c, _| async move { Ok(c) }).await?;
    let mut trigger = clients.pop().expect("two members or more");
    let received = Arc::new(AtomicU64::new(0));
    let mut readers = Vec::new();
    let total = (options.broadcast_rounds * options.broadcast_burst) as u64;
    let expected = crate::pattern(SIZE);
    for mut client in clients {
        let received = received.clone();
        let expected = expected.clone();
        readers.push(tokio::spawn(async move {
            for seq in 0..total {
                let (opcode, range) = client.next_frame().await?;
                if opcode != OP_BINARY {
                    return Err(bad(format!("broadcast: opcode {opcode}")));
                }
                check(client.payload(range), seq, &expected)?;
                received.fetch_add(1, Ordering::Relaxed);
            }
            Ok::<_, io::Error>(client)
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_conns_kib = server.status_kib("VmRSS");
    let command = encode(
        OP_TEXT,
        format!("{} {SIZE}", options.broadcast_burst).as_bytes(),
    );
    let cpu0 = server.cpu_seconds();
    let start = Instant::now();
    let mut seq = 0u64;
    for round in 1..=options.broadcast_rounds as u64 {
        trigger.write(&command).await?;
        for _ in 0..options.broadcast_burst {
            let (opcode, range) = trigger.next_frame().await?;
            if opcode != OP_BINARY {
                return Err(bad(format!("broadcast: opcode {opcode}")));
            }
            check(trigger.payload(range), seq, &expected)?;
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
    for r in readers {
        r.await.map_err(io::Error::other)??;
    }
    Ok(Broadcast {
        members,
        deliveries: total * members as u64,
        seconds,
        server_cpu,
        rss_before_kib,
        rss_conns_kib,
        hwm_kib: server.status_kib("VmHWM"),
    })
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")?
                .split_once(':')
                .map(|x| x.1.trim())
        })
        .unwrap_or("unknown cpu")
        .to_owned();
    // Not available_parallelism: the load generator is pinned to one cpu.
    let cores = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{model}, {cores} cpus, Linux {}", kernel.trim())
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn report(results: &[Results], options: &Options) {
    let base = results.iter().find(|r| r.kind == "tungstenite");
    let kinds: Vec<&str> = results.iter().map(|r| r.kind.as_str()).collect();
    let mut header = String::from("| | ");
    header += &kinds.join(" | ");
    if base.is_some() && results.len() > 1 {
        for r in results.iter().filter(|r| r.kind != "tungstenite") {
            header += &format!(" | {} / tungstenite", r.kind);
        }
    }
    println!("{header} |");
    println!("|{}", "---|".repeat(header.matches(" | ").count() + 1));
    let row = |label: &str, value: &dyn Fn(&Results) -> Option<f64>, digits: usize| {
        let mut line = format!("| {label} |");
        for r in results {
            match value(r) {
                Some(v) => line += &format!(" {v:.digits$} |"),
                None => line += " – |",
            }
        }
        if let Some(b) = base.filter(|_| results.len() > 1) {
            for r in results.iter().filter(|r| r.kind != "tungstenite") {
                match (value(r), value(b)) {
                    (Some(v), Some(bv)) if bv != 0.0 => line += &format!(" {:.2} |", v / bv),
                    _ => line += " – |",
                }
            }
        }
        println!("{line}");
    };
    if options.runs("traffic") {
        for (phase, name, get) in [
            (
                "pingpong",
                "32 B ping-pong",
                (|r: &Results| r.pingpong.clone()) as fn(&Results) -> Traffic,
            ),
            ("pipelined", "32 B pipelined ×16", |r: &Results| {
                r.pipelined.clone()
            }),
            ("large", "64 KiB ping-pong", |r: &Results| r.large.clone()),
        ] {
            if !options.runs(phase) {
                continue;
            }
            let large = name.starts_with("64");
            if large {
                row(&format!("{name}: MB/s"), &|r| Some(get(r).mbps()), 0);
            } else {
                row(&format!("{name}: messages/s"), &|r| Some(get(r).rate()), 0);
            }
            row(
                &format!("{name}: server CPU µs/message"),
                &|r| Some(get(r).cpu_us()),
                2,
            );
            row(
                &format!("{name}: server CPU busy %"),
                &|r| Some(get(r).cpu_share()),
                0,
            );
            row(&format!("{name}: RTT p50 µs"), &|r| Some(get(r).p50), 0);
            row(&format!("{name}: RTT p99 µs"), &|r| Some(get(r).p99), 0);
            row(&format!("{name}: RTT p99.9 µs"), &|r| Some(get(r).p999), 0);
        }
    }
    if options.runs("memory") {
        row(
            &format!("idle memory KiB/connection ({} conns)", options.idle_conns),
            &|r| r.memory.as_ref().map(|m| m.per_conn(m.idle_kib)),
            1,
        );
        row(
            "idle memory KiB/connection after one 64 KiB echo each",
            &|r| r.memory.as_ref().map(|m| m.per_conn(m.after_large_kib)),
            1,
        );
    }
    if let Some((kind, b)) = results
        .iter()
        .find_map(|r| r.broadcast.as_ref().map(|b| (&r.kind, b)))
    {
        println!();
        println!(
            "Broadcast ({kind}): {} connections, {} rounds of {} broadcasts of 64 B \
             (each round waits until every connection has all of them):",
            b.members, options.broadcast_rounds, options.broadcast_burst
        );
        println!(
            "- {:.0} deliveries/s, server CPU {:.2} µs/delivery ({:.0} % busy)",
            b.deliveries as f64 / b.seconds,
            b.server_cpu * 1e6 / b.deliveries as f64,
            b.server_cpu / b.seconds * 100.0
        );
        println!(
            "- server RSS: {} KiB before, {} KiB with the connections open ({:.1} KiB each), peak {} KiB",
            b.rss_before_kib,
            b.rss_conns_kib,
            (b.rss_conns_kib as f64 - b.rss_before_kib as f64) / b.members as f64,
            b.hwm_kib
        );
    }
}

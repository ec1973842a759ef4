//! Cross-node broadcast through a local `redis-server`, beside the in-process hub, in one
//! run: `ws-controller-bench cluster [--conns 2000] [--rounds 20] [--burst 50] [--size 64]`.
//!
//! Everything but Redis runs in this process on one current-thread runtime (one core):
//! the members' node, the sending node (Redis mode only) and the clients. `in-process`:
//! one `Hub::new()` broadcasts to its members. `redis`: node A (no members) broadcasts and
//! node B delivers to its members, both `Hub::redis` on a `redis-server` started here on a
//! free port. Each message carries its send time; every tenth client records latencies.

use std::io;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ws_controller::{Conn, Controller, Error, Hub, Message};

use crate::client::{bad, Client, OP_BINARY};

struct Options {
    conns: usize,
    rounds: usize,
    burst: usize,
    size: usize,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        conns: 2000,
        rounds: 20,
        burst: 50,
        size: 64,
    };
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let value: usize = args
            .next()
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("{flag} needs a number"))?;
        match flag.as_str() {
            "--conns" => o.conns = value.max(1),
            "--rounds" => o.rounds = value.max(1),
            "--burst" => o.burst = value.max(1),
            "--size" => o.size = value.max(16),
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(o)
}

/// Registers every connection in the hub and keeps it open.
struct Member {
    hub: Hub,
}

impl Controller for Member {
    type Extract = ();

    fn hub(&self) -> Option<&Hub> {
        Some(&self.hub)
    }

    async fn serve(&self, mut conn: Conn, _: ()) -> Result<(), Error> {
        loop {
            conn.recv().await?;
        }
    }
}

struct Figures {
    deliveries: u64,
    seconds: f64,
    cpu: f64,
    redis_cpu: f64,
    p50: f64,
    p99: f64,
    rss_conns_kib: u64,
    hwm_kib: u64,
    redis_rss_kib: u64,
}

struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    async fn start() -> io::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()?;
        let redis = Self { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            if Instant::now() > deadline {
                return Err(bad("redis-server did not start"));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(redis)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn proc_cpu(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11).and_then(|f| f.parse().ok()).unwrap_or(0)
        + fields.get(12).and_then(|f| f.parse().ok()).unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    ticks as f64 / hz
}

fn proc_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

async fn measure(options: &Options, redis: Option<&Redis>) -> io::Result<Figures> {
    let url = redis.map(|r| format!("redis://127.0.0.1:{}", r.port));
    let (members_hub, sender) = match &url {
        None => {
            let hub = Hub::new();
            (hub.clone(), hub)
        }
        Some(url) => (
            Hub::redis(url).map_err(io::Error::other)?,
            Hub::redis(url).map_err(io::Error::other)?,
        ),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr: SocketAddr = listener.local_addr()?;
    let app = ws_controller::route(
        "/member",
        Member {
            hub: members_hub.clone(),
        },
    );
    tokio::spawn(async move { ws_controller::serve(listener, app).await });
    let mut clients = Vec::with_capacity(options.conns);
    for _ in 0..options.conns {
        clients.push(Client::connect(addr, "/member", 1024).await?);
    }
    while members_hub.count() < options.conns {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for hub in [&members_hub, &sender] {
        tokio::time::timeout(Duration::from_secs(10), hub.broker_synced())
            .await
            .map_err(|_| bad("broker not synced"))?;
    }
    let pid = std::process::id();
    let rss_conns_kib = proc_kib(pid, "VmRSS");
    let epoch = Instant::now();
    let total = (options.rounds * options.burst) as u64;
    let received = Arc::new(AtomicU64::new(0));
    let mut readers = Vec::new();
    for (i, mut client) in clients.into_iter().enumerate() {
        let received = received.clone();
        readers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            for seq in 0..total {
                let (opcode, range) = client.next_frame().await?;
                let payload = client.payload(range);
                if opcode != OP_BINARY || payload[..8] != seq.to_be_bytes() {
                    return Err(bad(format!("message {seq} missing or out of order")));
                }
                if i % 10 == 0 {
                    let sent = u64::from_be_bytes(payload[8..16].try_into().unwrap());
                    let now = epoch.elapsed().as_nanos() as u64;
                    latencies.push(now.saturating_sub(sent) as f64 / 1000.0);
                }
                received.fetch_add(1, Ordering::Relaxed);
            }
            Ok::<_, io::Error>(latencies)
        }));
    }
    let redis_pid = redis.map(|r| r.child.id());
    let redis_cpu0 = redis_pid.map_or(0.0, proc_cpu);
    let cpu0 = proc_cpu(pid);
    let start = Instant::now();
    let mut seq = 0u64;
    for round in 1..=options.rounds as u64 {
        // A burst is queued in order at the futures' first poll and awaited together, so
        // one broker round trip covers the burst (both modes are paced alike).
        let mut burst = Vec::with_capacity(options.burst);
        for _ in 0..options.burst {
            let mut payload = crate::pattern(options.size);
            payload[..8].copy_from_slice(&seq.to_be_bytes());
            let sent = epoch.elapsed().as_nanos() as u64;
            payload[8..16].copy_from_slice(&sent.to_be_bytes());
            burst.push(sender.broadcast(Message::binary(payload)));
            seq += 1;
        }
        for report in futures_util::future::join_all(burst).await {
            if !report.remote.is_ok() {
                return Err(bad(format!("broadcast failed: {report:?}")));
            }
        }
        let target = round * options.burst as u64 * options.conns as u64;
        let waited = Instant::now();
        while received.load(Ordering::Relaxed) < target {
            if waited.elapsed() > Duration::from_secs(30) {
                return Err(bad("deliveries missing after 30 s"));
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let cpu = proc_cpu(pid) - cpu0;
    let redis_cpu = redis_pid.map_or(0.0, proc_cpu) - redis_cpu0;
    let mut latencies = Vec::new();
    for reader in readers {
        latencies.extend(reader.await.map_err(io::Error::other)??);
    }
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize];
    Ok(Figures {
        deliveries: total * options.conns as u64,
        seconds,
        cpu,
        redis_cpu,
        p50: pct(0.5),
        p99: pct(0.99),
        rss_conns_kib,
        hwm_kib: proc_kib(pid, "VmHWM"),
        redis_rss_kib: redis_pid.map_or(0, |p| proc_kib(p, "VmRSS")),
    })
}

pub fn run(args: &[String]) -> io::Result<()> {
    let options = parse(args).map_err(io::Error::other)?;
    crate::raise_fd_limit();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (local, redis) = runtime.block_on(async {
        let local = measure(&options, None).await?;
        let redis = Redis::start().await?;
        let remote = measure(&options, Some(&redis)).await?;
        Ok::<_, io::Error>((local, remote))
    })?;
    println!(
        "Cross-node broadcast: {} connections, {} rounds of {} broadcasts of {} B \
         (each round waits until every connection has all of them)\n",
        options.conns, options.rounds, options.burst, options.size
    );
    println!("| | in-process | via redis-server | redis / in-process |");
    println!("|---|---|---|---|");
    let row = |name: &str, a: f64, b: f64, digits: usize| {
        println!("| {name} | {a:.digits$} | {b:.digits$} | {:.2} |", b / a);
    };
    let rate = |f: &Figures| f.deliveries as f64 / f.seconds;
    row("deliveries/s", rate(&local), rate(&redis), 0);
    row("latency p50 µs", local.p50, redis.p50, 0);
    row("latency p99 µs", local.p99, redis.p99, 0);
    let per = |f: &Figures| f.cpu * 1e6 / f.deliveries as f64;
    row("process CPU µs/delivery", per(&local), per(&redis), 3);
    println!(
        "| redis-server CPU µs/broadcast | - | {:.1} | |",
        redis.redis_cpu * 1e6 / (options.rounds * options.burst) as f64
    );
    row(
        "process RSS KiB with the connections open",
        local.rss_conns_kib as f64,
        redis.rss_conns_kib as f64,
        0,
    );
    row(
        "process peak RSS KiB",
        local.hwm_kib as f64,
        redis.hwm_kib as f64,
        0,
    );
    println!("| redis-server RSS KiB | - | {} | |", redis.redis_rss_kib);
    Ok(())
}

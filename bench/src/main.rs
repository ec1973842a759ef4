//! Benchmark harness for ws-controller. See BENCHMARKS.md at the repository root.
//!
//! ```text
//! ws-controller-bench run [options]        # the whole comparison (what scripts/bench.sh runs)
//! ws-controller-bench cluster [options]    # broadcast through redis-server vs in-process
//! ws-controller-bench server <kind>        # one server (the run starts these itself)
//! ws-controller-bench inproc [options]     # library cost per message, on in-memory streams
//! ```

mod alloc;
mod client;
mod cluster;
mod compression;
mod engine;
mod inproc;
mod load;
mod many;
mod peak;
mod report;
mod report_extras;
mod servers;

#[global_allocator]
static GLOBAL: alloc::Switch = alloc::Switch;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// The payload of message `tag` of `size` bytes: the tag (big-endian), then the pattern.
pub fn payload(tag: u64, size: usize) -> Vec<u8> {
    let mut data = pattern(size.max(8));
    data[..8].copy_from_slice(&tag.to_be_bytes());
    data.truncate(size.max(8));
    data
}

/// Deterministic filler bytes, so every echoed byte can be checked.
pub fn pattern(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i * 31 + 7) as u8).collect()
}

/// A JSON-like text of exactly `size` bytes (at least 64) whose first field is `tag`:
/// records with varying numbers, as an API's replies look, so that deflate finds what it
/// finds in real traffic rather than one repeated byte.
pub fn json_like(tag: u64, size: usize) -> String {
    let size = size.max(64);
    let mut text = format!("{{\"seq\":\"{tag:016x}\",\"items\":[");
    let mut i = 0u64;
    while text.len() < size {
        let n = tag.wrapping_mul(31).wrapping_add(i * 7919) % 100_000;
        text += &format!(
            "{{\"id\":{n},\"name\":\"user-{n}\",\"score\":{},\"active\":{}}},",
            n % 997,
            n % 3 == 0
        );
        i += 1;
    }
    text.truncate(size - 2);
    text += "]}";
    text
}

/// Raises the soft open-files limit to the hard limit (10,000 connections need it).
pub fn raise_fd_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain libc calls on a valid, initialized struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
    limit.rlim_cur
}

/// Pins the calling process to `cpu`.
pub fn pin_to(cpu: usize) -> bool {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; the macros index within it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) == 0
    }
}

/// Environment variables for a server process.
type Env = &'static [(&'static str, &'static str)];

/// The `@<allocator>` a server kind may carry: glibc malloc as it comes (the default);
/// glibc with a fixed 128 KiB mmap threshold (large blocks mapped, so freeing them unmaps);
/// glibc with `malloc_trim(0)` every second; mimalloc and jemalloc as they come and with
/// their purge delays shortened (0 ms; 1 s instead of 10 s).
pub const ALLOCATORS: &[(&str, Env)] = &[
    ("glibc", &[]),
    (
        "glibc-mmap",
        &[("GLIBC_TUNABLES", "glibc.malloc.mmap_threshold=131072")],
    ),
    ("glibc-trim", &[("WS_BENCH_TRIM_MS", "1000")]),
    ("mimalloc", &[("WS_BENCH_ALLOC", "mimalloc")]),
    (
        "mimalloc-purge0",
        &[
            ("WS_BENCH_ALLOC", "mimalloc"),
            ("MIMALLOC_PURGE_DELAY", "0"),
        ],
    ),
    ("jemalloc", &[("WS_BENCH_ALLOC", "jemalloc")]),
    (
        "jemalloc-decay1s",
        &[
            ("WS_BENCH_ALLOC", "jemalloc"),
            ("_RJEM_MALLOC_CONF", "dirty_decay_ms:1000"),
        ],
    ),
];

/// A server process under test, pinned to its core.
pub struct ServerProcess {
    pub kind: String,
    pub child: Child,
    pub port: u16,
}

impl ServerProcess {
    pub fn start(kind: &str, cpu: Option<usize>) -> std::io::Result<Self> {
        Self::start_with(kind, cpu, &[])
    }

    /// Starts a server with extra environment variables.
    pub fn start_with(
        kind: &str,
        cpu: Option<usize>,
        env: &[(&str, &str)],
    ) -> std::io::Result<Self> {
        // `<kind>@<allocator>`: the same server on another allocator (see `alloc`).
        let (base, allocator) = kind.split_once('@').unwrap_or((kind, "glibc"));
        let allocator = ALLOCATORS
            .iter()
            .find(|a| a.0 == allocator)
            .ok_or_else(|| std::io::Error::other(format!("unknown allocator {allocator}")))?
            .1;
        let exe = std::env::current_exe()?;
        let mut command = match cpu {
            Some(cpu) if which("taskset") => {
                let mut c = Command::new("taskset");
                c.arg("-c").arg(cpu.to_string()).arg(exe);
                c
            }
            _ => Command::new(exe),
        };
        let mut child = command
            .arg("server")
            .arg(base)
            .env("WS_BENCH_ALLOC", "system")
            .envs(allocator.iter().chain(env).copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let port = line
            .trim()
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| {
                std::io::Error::other(format!("server {kind} did not start: {line:?}"))
            })?;
        Ok(Self {
            kind: kind.to_owned(),
            child,
            port,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// utime + stime of the server process, in seconds.
    pub fn cpu_seconds(&self) -> f64 {
        let (user, system) = self.cpu_split();
        user + system
    }

    /// utime and stime of the server process, in seconds: its own code, and the kernel's
    /// work for it.
    pub fn cpu_split(&self) -> (f64, f64) {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap_or_default();
        // Fields after the command name (which may contain spaces) start at field 3.
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| -> f64 {
            fields
                .get(i)
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0) as f64
        };
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        (ticks(11) / hz, ticks(12) / hz)
    }

    /// A `/proc/<pid>/status` field in KiB (`VmRSS`, `VmHWM`).
    pub fn status_kib(&self, field: &str) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn which(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

fn usage() -> ! {
    eprintln!(
        "usage:\n  ws-controller-bench run [--servers macro,fastwebsockets,tungstenite] [--conns 50] \
         [--secs 3] [--warmup 1] [--idle-conns 10000] [--ctx-conns 500] [--broadcast-rounds 10] \
         [--broadcast-burst 20] [--peak-clients 16] [--peak-variants glibc,...] \
         [--server-cpu 0] [--client-cpu 1] [--repeat 3]\n    [--skip memory,traffic,pingpong,\
         pipelined,large,broadcast,compression,deflate-memory,deflate-broadcast,peak]\n  \
         ws-controller-bench cluster [--conns 2000] [--rounds 20] [--burst 50] [--size 64]\n  \
         ws-controller-bench server <kind>\n  \
         ws-controller-bench inproc [--conns 50] [--messages 20000] [--repeat 5]\n\n<kind>@<allocator> runs a server on: glibc (default), glibc-mmap, glibc-trim, \
         mimalloc, mimalloc-purge0, jemalloc, jemalloc-decay1s\n\nserver kinds:"
    );
    for (kind, what) in servers::KINDS {
        eprintln!("  {kind:15} {what}");
    }
    std::process::exit(2);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("server") => {
            let Some(kind) = args.get(1) else { usage() };
            if let Err(err) = servers::run(kind) {
                eprintln!("server {kind}: {err}");
                std::process::exit(1);
            }
        }
        Some("inproc") => {
            let options = inproc::Options::parse(&args[1..]).unwrap_or_else(|err| {
                eprintln!("{err}");
                usage()
            });
            if let Err(err) = inproc::run(&options) {
                eprintln!("benchmark failed: {err}");
                std::process::exit(1);
            }
        }
        Some("run") => {
            let options = load::Options::parse(&args[1..]).unwrap_or_else(|err| {
                eprintln!("{err}");
                usage()
            });
            if let Err(err) = load::run(options) {
                eprintln!("benchmark failed: {err}");
                std::process::exit(1);
            }
        }
        Some("cluster") => {
            if let Err(err) = cluster::run(&args[1..]) {
                eprintln!("cluster benchmark failed: {err}");
                std::process::exit(1);
            }
        }
        _ => usage(),
    }
}

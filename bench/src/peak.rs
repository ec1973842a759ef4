//! Memory after a peak: `peak_clients` connections each send 8 MiB of a 16 MiB message and
//! then reset (SO_LINGER 0); the server's RSS and live heap before, at the peak and after,
//! on each allocator variant (`crate::ALLOCATORS`). 100 connections opened at the peak stay
//! open. Two peaks in a row: glibc sizes its mmap threshold from the blocks freed, so a
//! second peak is served differently from the first.

use std::io;
use std::time::{Duration, Instant};

use crate::client::{Client, OP_BINARY};
use crate::load::{addr, stats, Options, SMALL};
use crate::many::{echo_once, open_many};
use crate::ServerProcess;

/// When RSS is read after the resets, in seconds.
pub const AFTER: [u64; 2] = [1, 5];

/// Connections opened at the peak that stay open after it.
const STAY: usize = 100;

const DECLARED: u64 = 16 << 20;
const SENT: usize = 8 << 20;
const CHUNK: usize = 64 << 10;

/// Peaks per server.
pub const ROUNDS: usize = 2;

pub struct Peak {
    pub variant: String,
    pub round: usize,
    pub before_kib: u64,
    pub peak_kib: u64,
    pub after_kib: Vec<u64>,
    pub live_before: i64,
    pub live_peak: i64,
    pub live_after: i64,
}

pub async fn run(options: &Options) -> io::Result<Vec<Peak>> {
    let mut out = Vec::new();
    for name in &options.peak_variants {
        let kind = format!("macro@{name}");
        let server =
            ServerProcess::start_with(&kind, options.server_cpu, &[("WS_BENCH_COUNT", "1")])?;
        for round in 1..=ROUNDS {
            eprintln!("[{name}] memory after a peak, round {round}");
            let mut p = peak(&server, name, options.peak_clients).await?;
            p.round = round;
            out.push(p);
        }
    }
    Ok(out)
}

async fn peak(server: &ServerProcess, name: &str, clients: usize) -> io::Result<Peak> {
    let addr = addr(server);
    let warm = open_many(addr, "/echo", 10, |c, i| echo_once(c, i, SMALL)).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before_kib = server.status_kib("VmRSS");
    let (_, live_before) = stats(addr).await?;
    // The header of a masked 16 MiB binary frame, then 8 MiB of its payload.
    let mut header = vec![0x80 | OP_BINARY, 0x80 | 127];
    header.extend_from_slice(&DECLARED.to_be_bytes());
    header.extend_from_slice(&[0; 4]); // a zero mask: the payload goes as it is
    let chunk = crate::pattern(CHUNK);
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (header, chunk) = (header.clone(), chunk.clone());
        tasks.push(tokio::spawn(async move {
            let mut client = Client::connect(addr, "/echo", 1024).await?;
            client.write(&header).await?;
            for _ in 0..SENT / CHUNK {
                client.write(&chunk).await?;
            }
            Ok::<_, io::Error>(client)
        }));
    }
    let mut open = Vec::new();
    for task in tasks {
        open.push(task.await.map_err(io::Error::other)??);
    }
    // The last bytes may still be in the socket buffers: wait until the server holds
    // them all (its live heap), at most 10 s.
    let expected = (clients * SENT) as i64;
    let waited = Instant::now();
    let mut live_peak = 0;
    while waited.elapsed() < Duration::from_secs(10) {
        live_peak = stats(addr).await?.1 - live_before;
        if live_peak >= expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let peak_kib = server.status_kib("VmRSS");
    // Connections that arrive during the peak and stay: their memory lies above the
    // peak's in the heap, as a busy server's would, so the top of the heap stays in use.
    let stay = open_many(addr, "/echo", STAY, |c, i| echo_once(c, i, SMALL)).await?;
    for client in open {
        client.reset()?;
    }
    let reset = Instant::now();
    let mut after_kib = Vec::new();
    for secs in AFTER {
        tokio::time::sleep(Duration::from_secs(secs).saturating_sub(reset.elapsed())).await;
        after_kib.push(server.status_kib("VmRSS"));
    }
    let (_, live_after) = stats(addr).await?;
    drop((warm, stay));
    Ok(Peak {
        variant: name.to_owned(),
        round: 0,
        before_kib,
        peak_kib,
        after_kib,
        live_before,
        live_peak: live_peak + live_before,
        live_after,
    })
}

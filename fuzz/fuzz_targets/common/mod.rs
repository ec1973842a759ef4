//! Helpers shared by the fuzz targets: a paused-clock runtime, an in-memory HTTP/1.1
//! connection served by hyper (as `TestServer::new` and `ws_controller::serve` do), an
//! allocation watchdog, and parsers for what the server writes back.
#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use tokio::io::{AsyncRead, AsyncReadExt, DuplexStream};
use tokio::runtime::Runtime;

pub mod spec;

/// Largest single allocation a target may make. The controllers under test accept messages
/// of at most 64 KiB and buffer at most 128 KiB for writing, so anything near this limit
/// means a length taken from the input was trusted (a frame header claiming 2^63 bytes).
pub const MAX_ALLOCATION: usize = 4 << 20;

/// The system allocator with a ceiling on single allocations and a peak counter.
pub struct Watchdog;

static LIVE: AtomicUsize = AtomicUsize::new(0);
/// The ceiling applies only while [`guarded`] runs the code under test (a panic's backtrace,
/// printed afterwards, loads debug info in large buffers).
static ARMED: AtomicBool = AtomicBool::new(false);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn too_large(size: usize) -> ! {
    // No formatting here: allocating inside the allocator would recurse.
    let _ = std::io::stderr().write_all(b"\n==fuzz== single allocation above MAX_ALLOCATION\n");
    let mut digits = [0u8; 20];
    let mut n = size;
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let _ = std::io::stderr().write_all(b"==fuzz== requested bytes: ");
    let _ = std::io::stderr().write_all(&digits[at..]);
    let _ = std::io::stderr().write_all(b"\n");
    std::process::abort();
}

unsafe impl GlobalAlloc for Watchdog {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > MAX_ALLOCATION && ARMED.load(Ordering::Relaxed) {
            too_large(layout.size());
        }
        let p = System.alloc(layout);
        if !p.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() > MAX_ALLOCATION && ARMED.load(Ordering::Relaxed) {
            too_large(layout.size());
        }
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > MAX_ALLOCATION && ARMED.load(Ordering::Relaxed) {
            too_large(new_size);
        }
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            if new_size >= layout.size() {
                let grow = new_size - layout.size();
                let live = LIVE.fetch_add(grow, Ordering::Relaxed) + grow;
                PEAK.fetch_max(live, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

/// Starts measuring the peak of live heap bytes; returns the baseline.
pub fn peak_reset() -> usize {
    let live = LIVE.load(Ordering::Relaxed);
    PEAK.store(live, Ordering::Relaxed);
    live
}

/// Heap bytes allocated above `baseline` at the peak since [`peak_reset`].
pub fn peak_since(baseline: usize) -> usize {
    PEAK.load(Ordering::Relaxed).saturating_sub(baseline)
}

thread_local! {
    static RUNTIME: Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("runtime");
}

/// Runs `f` with the allocation ceiling armed (a panic's report disarms it first: its
/// backtrace symbolisation allocates large buffers).
pub fn guarded<R>(f: impl FnOnce() -> R) -> R {
    struct Disarm;
    impl Drop for Disarm {
        fn drop(&mut self) {
            ARMED.store(false, Ordering::Relaxed);
        }
    }
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            ARMED.store(false, Ordering::Relaxed);
            previous(info);
        }));
    });
    ARMED.store(true, Ordering::Relaxed);
    let _disarm = Disarm;
    f()
}

/// Runs `fut` on the target's runtime: one thread, paused clock (timers fire as soon as
/// nothing else can run, so a 60 s timeout costs no wall time), with the allocation
/// ceiling armed, then checks that every task it spawned (hyper connection, WebSocket
/// connection) has ended within `bound` of virtual time.
pub fn run<F: std::future::Future<Output = ()>>(bound: Duration, fut: F) {
    RUNTIME.with(|rt| {
        guarded(|| {
            rt.block_on(async {
                let start = tokio::time::Instant::now();
                fut.await;
                let handle = tokio::runtime::Handle::current();
                while handle.metrics().num_alive_tasks() > 0 {
                    assert!(
                        start.elapsed() <= bound,
                        "{} task(s) still alive after {:?} of virtual time",
                        handle.metrics().num_alive_tasks(),
                        start.elapsed()
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            })
        })
    })
}

/// A client end of an in-memory HTTP/1.1 connection whose server end hyper serves with
/// upgrades and the request-head timeout, as `ws_controller::serve` does.
///
/// One difference: half-closed clients are supported, so a target can end its request
/// stream with EOF and still read the answers (hyper's default drops a connection whose
/// client half-closes, in-flight response included, which would hide every response to a
/// request the input ends with).
pub fn connect(app: &Router) -> DuplexStream {
    let (client, server) = tokio::io::duplex(64 << 10);
    let service = hyper_util::service::TowerToHyperService::new(app.clone());
    tokio::spawn(async move {
        let io = hyper_util::rt::TokioIo::new(server);
        let served = hyper::server::conn::http1::Builder::new()
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(ws_controller::DEFAULT_HANDSHAKE_TIMEOUT)
            .half_close(true)
            .serve_connection(io, service)
            .with_upgrades()
            .await;
        if let Err(err) = served {
            if std::env::var_os("FUZZ_TRACE").is_some() {
                eprintln!("hyper: {err:?}");
            }
        }
    });
    client
}

/// Reads until EOF (or `limit` bytes, which fails the target: the server must not write
/// without bound).
pub async fn read_to_end<R: AsyncRead + Unpin>(stream: &mut R, limit: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 16 << 10];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return out,
            Ok(n) => {
                out.extend_from_slice(&buf[..n]);
                assert!(out.len() <= limit, "server wrote more than {limit} bytes");
            }
        }
    }
}

/// One response head the server wrote.
#[derive(Debug)]
pub struct ResponseHead {
    pub status: u16,
    pub headers: Vec<(String, Vec<u8>)>,
    /// Bytes after the head (body, next responses, or WebSocket frames after a 101).
    pub rest_at: usize,
}

impl ResponseHead {
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    pub fn content_length(&self) -> Option<usize> {
        std::str::from_utf8(self.header("content-length")?)
            .ok()?
            .trim()
            .parse()
            .ok()
    }
}

/// Parses the response head at the start of `bytes`; `None` when incomplete. A head hyper
/// wrote that does not parse fails the target.
pub fn parse_response(bytes: &[u8]) -> Option<ResponseHead> {
    try_parse_response(bytes)
        .unwrap_or_else(|err| panic!("server wrote an unparsable response head: {err}"))
}

/// Parses the response head at the start of `bytes`; `Ok(None)` when incomplete.
pub fn try_parse_response(bytes: &[u8]) -> Result<Option<ResponseHead>, httparse::Error> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(bytes) {
        Ok(httparse::Status::Complete(n)) => Ok(Some(ResponseHead {
            status: response.code.expect("status"),
            headers: response
                .headers
                .iter()
                .map(|h| (h.name.to_owned(), h.value.to_vec()))
                .collect(),
            rest_at: n,
        })),
        Ok(httparse::Status::Partial) => Ok(None),
        Err(err) => Err(err),
    }
}

/// A frame the server wrote.
#[derive(Debug)]
pub struct Frame {
    pub fin: bool,
    pub rsv: u8,
    pub opcode: u8,
    pub masked: bool,
    pub payload: Vec<u8>,
}

/// Parses server frames; a truncated last frame is reported as `Err(frames so far)`.
pub fn parse_frames(mut bytes: &[u8]) -> Result<Vec<Frame>, Vec<Frame>> {
    let mut frames = Vec::new();
    while !bytes.is_empty() {
        if bytes.len() < 2 {
            return Err(frames);
        }
        let (b0, b1) = (bytes[0], bytes[1]);
        let masked = b1 & 0x80 != 0;
        let (len, mut at) = match b1 & 0x7f {
            126 if bytes.len() >= 4 => (u16::from_be_bytes([bytes[2], bytes[3]]) as u64, 4),
            127 if bytes.len() >= 10 => (u64::from_be_bytes(bytes[2..10].try_into().unwrap()), 10),
            126 | 127 => return Err(frames),
            n => (n as u64, 2),
        };
        let mut key = [0u8; 4];
        if masked {
            if bytes.len() < at + 4 {
                return Err(frames);
            }
            key.copy_from_slice(&bytes[at..at + 4]);
            at += 4;
        }
        if ((bytes.len() - at) as u64) < len {
            return Err(frames);
        }
        let len = len as usize;
        let mut payload = bytes[at..at + len].to_vec();
        if masked {
            for (i, b) in payload.iter_mut().enumerate() {
                *b ^= key[i % 4];
            }
        }
        frames.push(Frame {
            fin: b0 & 0x80 != 0,
            rsv: (b0 >> 4) & 0x7,
            opcode: b0 & 0x0f,
            masked,
            payload,
        });
        bytes = &bytes[at + len..];
    }
    Ok(frames)
}

/// A close code a server may put on the wire (RFC 6455 §7.4.1 and the IANA registry).
pub fn sendable_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

//! Measures what permessage-deflate costs: heap per connection in each mode, compression
//! ratios with and without context takeover, and throughput.
//!
//! ```sh
//! cargo run --release -p ws-controller-protocol --example deflate_memory
//! ```
//!
//! The figures in the rustdoc of `DeflateConfig::context_takeover` come from this.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use ws_controller_protocol::deflate::{
    accept_offer, client_offer, messages_compressed, DeflateConfig, Deflater, Inflater,
};
use ws_controller_protocol::Role;

/// Counts the bytes currently allocated through the global allocator.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live() -> usize {
    LIVE.load(Ordering::Relaxed)
}

const CONNECTIONS: usize = 1_000;

/// A JSON-like message of about 1.5 KiB, different for each `seed`.
fn message(seed: usize) -> Vec<u8> {
    let mut text = String::from("{\"type\":\"update\",\"items\":[");
    for i in 0..12 {
        let n = seed.wrapping_mul(2_654_435_761).wrapping_add(i * 7_919) % 100_000;
        text.push_str(&format!(
            "{{\"id\":{n},\"name\":\"item-{}\",\"price\":{}.{:02},\"stock\":{},\"tags\":[\"new\",\"sale\"]}},",
            n % 977,
            n % 500,
            n % 100,
            n % 37
        ));
    }
    text.push_str("{}]}");
    text.into_bytes()
}

/// Heap per connection (bytes) for 1,000 server-side pairs that each sent and received
/// one message: (Deflater + Inflater, Deflater alone, connections holding state).
fn per_connection(config: &DeflateConfig) -> (f64, f64, usize) {
    let params = accept_offer([client_offer(config).as_bytes()], config).expect("agreed");
    let outgoing = message(1);
    let mut incoming = Vec::new();
    Deflater::new(&params, Role::Client, 0).compress(&message(2), &mut incoming);

    // Warm the per-thread pools so that they are not counted per connection.
    let mut scratch = Vec::new();
    Deflater::new(&params, Role::Server, 0).compress(&outgoing, &mut scratch);
    let mut warm = Inflater::new(&params, Role::Server);
    warm.inflate(&incoming, &mut scratch, usize::MAX).unwrap();
    warm.finish(&mut scratch, usize::MAX).unwrap();
    drop(scratch);

    let mut deflaters = Vec::with_capacity(CONNECTIONS);
    let mut inflaters = Vec::with_capacity(CONNECTIONS);
    let mut out = Vec::with_capacity(64 << 10);
    let before = live();
    for _ in 0..CONNECTIONS {
        let mut deflater = Deflater::new(&params, Role::Server, 0);
        out.clear();
        deflater.compress(&outgoing, &mut out);
        deflaters.push(deflater);
    }
    let deflating = live() - before;
    for _ in 0..CONNECTIONS {
        let mut inflater = Inflater::new(&params, Role::Server);
        out.clear();
        inflater.inflate(&incoming, &mut out, usize::MAX).unwrap();
        inflater.finish(&mut out, usize::MAX).unwrap();
        assert_eq!(out, message(2));
        inflaters.push(inflater);
    }
    let total = live() - before;
    let states = deflaters
        .iter()
        .zip(&inflaters)
        .filter(|(d, i)| d.holds_state() || i.holds_state())
        .count();
    let per = |bytes: usize| bytes as f64 / CONNECTIONS as f64;
    (per(total), per(deflating), states)
}

/// Compressed size of a run of similar messages, as a share of the original.
fn ratio(config: &DeflateConfig, messages: &[Vec<u8>]) -> f64 {
    let params = accept_offer([client_offer(config).as_bytes()], config).expect("agreed");
    let mut deflater = Deflater::new(&params, Role::Server, 0);
    let mut inflater = Inflater::new(&params, Role::Client);
    let (mut original, mut compressed) = (0, 0);
    for message in messages {
        let mut payload = Vec::new();
        deflater.compress(message, &mut payload);
        let mut out = Vec::new();
        inflater.inflate(&payload, &mut out, usize::MAX).unwrap();
        inflater.finish(&mut out, usize::MAX).unwrap();
        assert_eq!(&out, message);
        original += message.len();
        compressed += payload.len();
    }
    compressed as f64 / original as f64
}

fn main() {
    let (lean, _, lean_states) = per_connection(&DeflateConfig::lean());
    println!(
        "lean: {lean:.0} heap bytes per connection ({} inline: Deflater {} + Inflater {}), \
         {lean_states} of {CONNECTIONS} hold state when idle",
        size_of::<Deflater>() + size_of::<Inflater>(),
        size_of::<Deflater>(),
        size_of::<Inflater>(),
    );
    for bits in 9..=15 {
        let (bytes, deflating, states) = per_connection(&DeflateConfig::context_takeover(bits));
        println!(
            "context_takeover({bits}): {:.1} KiB per connection (Deflater {:.1}, Inflater {:.1}), \
             {states} of {CONNECTIONS} hold state",
            bytes / 1024.0,
            deflating / 1024.0,
            (bytes - deflating) / 1024.0,
        );
    }

    let messages: Vec<Vec<u8>> = (0..200).map(message).collect();
    let size = messages.iter().map(Vec::len).sum::<usize>() / messages.len();
    println!("compressed size / original, 200 JSON-like messages of ~{size} bytes:");
    println!("  lean: {:.3}", ratio(&DeflateConfig::lean(), &messages));
    for bits in [9, 12, 15] {
        let config = DeflateConfig::context_takeover(bits);
        println!(
            "  context_takeover({bits}): {:.3}",
            ratio(&config, &messages)
        );
    }

    let params = accept_offer(
        [client_offer(&DeflateConfig::lean()).as_bytes()],
        &DeflateConfig::lean(),
    )
    .expect("agreed");
    let mut deflater = Deflater::new(&params, Role::Server, 0);
    let mut inflater = Inflater::new(&params, Role::Client);
    let counted = messages_compressed();
    let started = Instant::now();
    let mut payloads = Vec::new();
    let rounds = 50;
    for _ in 0..rounds {
        for message in &messages {
            let mut payload = Vec::new();
            deflater.compress(message, &mut payload);
            payloads.push(payload);
        }
    }
    let compressing = started.elapsed();
    assert_eq!(
        messages_compressed() - counted,
        (rounds * messages.len()) as u64,
        "one count per message"
    );
    let started = Instant::now();
    let mut out = Vec::new();
    for payload in &payloads {
        out.clear();
        inflater.inflate(payload, &mut out, usize::MAX).unwrap();
        inflater.finish(&mut out, usize::MAX).unwrap();
    }
    let inflating = started.elapsed();
    let bytes = (rounds * messages.len() * size) as f64 / (1 << 20) as f64;
    println!(
        "lean throughput, one thread: compress {:.0} MiB/s, inflate {:.0} MiB/s (of original bytes)",
        bytes / compressing.as_secs_f64(),
        bytes / inflating.as_secs_f64()
    );
}

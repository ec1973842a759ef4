//! The report's sections for compression and memory after a peak.

use crate::load::{Extras, Options};
use crate::peak::AFTER;

pub fn print(extras: &Extras, options: &Options) {
    if let [off, on] = extras.text.as_slice() {
        println!();
        println!(
            "1 KiB JSON-like text ping-pong, {} connections, engine client offering the lean \
             mode (compressed: {} / {}):",
            options.conns, off.compressed, on.compressed
        );
        println!();
        println!(
            "| | {} | {} | {} / {} |",
            off.kind, on.kind, on.kind, off.kind
        );
        println!("|---|---|---|---|");
        let row = |label: &str, a: f64, b: f64, digits: usize| {
            println!("| {label} | {a:.digits$} | {b:.digits$} | {:.2} |", b / a);
        };
        let (a, b) = (&off.traffic, &on.traffic);
        row("messages/s", a.rate(), b.rate(), 0);
        row("server CPU µs/message", a.cpu_us(), b.cpu_us(), 2);
        row("server CPU busy %", a.cpu_share(), b.cpu_share(), 0);
        row("wire bytes/message, client to server", off.up, on.up, 0);
        row("wire bytes/message, server to client", off.down, on.down, 0);
        row("RTT p50 µs", a.p50, b.p50, 0);
        row("RTT p99 µs", a.p99, b.p99, 0);
    }
    if !extras.deflate_memory.is_empty() {
        println!();
        println!("Idle memory per compressed connection (each echoed one compressed 1 KiB text):");
        println!();
        for m in &extras.deflate_memory {
            println!(
                "- {}: {:.1} KiB/connection ({} connections; RSS {} KiB before, {} KiB after)",
                m.kind,
                m.memory.per_conn(m.memory.idle_kib),
                m.memory.conns,
                m.memory.before_kib,
                m.memory.idle_kib
            );
        }
    }
    for d in &extras.deflate_broadcast {
        let b = &d.broadcast;
        println!();
        println!(
            "1 KiB text broadcast ({}): {} connections offering compression, {} rounds of {}:",
            d.kind, b.members, options.broadcast_rounds, options.broadcast_burst
        );
        println!(
            "- {:.0} deliveries/s, server CPU {:.2} µs/delivery ({:.0} % busy), {:.0} wire \
             bytes/delivery",
            b.deliveries as f64 / b.seconds,
            b.server_cpu * 1e6 / b.deliveries as f64,
            b.server_cpu / b.seconds * 100.0,
            d.wire
        );
        println!(
            "- deflate calls: {} for {} broadcasts ({:.2} per broadcast)",
            d.compressed,
            d.broadcasts,
            d.compressed as f64 / d.broadcasts as f64
        );
        println!(
            "- server RSS: {} KiB before, {} KiB with the connections open ({:.1} KiB each), \
             peak {} KiB",
            b.rss_before_kib,
            b.rss_conns_kib,
            (b.rss_conns_kib as f64 - b.rss_before_kib as f64) / b.members as f64,
            b.hwm_kib
        );
    }
    if !extras.peak.is_empty() {
        println!();
        println!(
            "Memory after a peak: {} connections each send 8 MiB of a 16 MiB message; 100 \
             more connect and stay; the {} reset (server RSS in MiB; live heap in MiB as \
             counted by the allocator wrapper; two peaks per server):",
            options.peak_clients, options.peak_clients
        );
        println!();
        let afters: Vec<String> = AFTER.iter().map(|s| format!("RSS +{s} s")).collect();
        println!(
            "| allocator | peak | RSS before | RSS at peak | {} | live heap before | at peak | after |",
            afters.join(" | ")
        );
        println!(
            "|---|---|---|---|{}---|---|---|",
            "---|".repeat(AFTER.len())
        );
        let mib = |kib: u64| kib as f64 / 1024.0;
        let live = |bytes: i64| bytes as f64 / (1 << 20) as f64;
        for p in &extras.peak {
            let afters: Vec<String> = p
                .after_kib
                .iter()
                .map(|&k| format!("{:.1}", mib(k)))
                .collect();
            println!(
                "| {} | {} | {:.1} | {:.1} | {} | {:.2} | {:.1} | {:.2} |",
                p.variant,
                p.round,
                mib(p.before_kib),
                mib(p.peak_kib),
                afters.join(" | "),
                live(p.live_before),
                live(p.live_peak),
                live(p.live_after)
            );
        }
    }
}

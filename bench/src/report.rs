//! The Markdown report.

use crate::load::{Extras, Options, Results, Traffic};

/// The servers every other one is compared with, when they ran.
const BASELINES: [&str; 2] = ["fastwebsockets", "tungstenite"];

pub(crate) fn machine() -> String {
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

pub(crate) fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

pub(crate) fn report(results: &[Results], extras: &Extras, options: &Options) {
    let kinds: Vec<&str> = results.iter().map(|r| r.kind.as_str()).collect();
    // Ratios of every other server against each baseline present, in that order.
    let bases: Vec<&Results> = BASELINES
        .iter()
        .filter_map(|b| results.iter().find(|r| r.kind == *b))
        .collect();
    let pairs: Vec<(&Results, &Results)> = bases
        .iter()
        .flat_map(|b| {
            results
                .iter()
                .filter(|r| !BASELINES.contains(&r.kind.as_str()))
                .map(move |r| (r, *b))
        })
        .collect();
    let mut header = String::from("| | ");
    header += &kinds.join(" | ");
    for (r, b) in &pairs {
        header += &format!(" | {} / {}", r.kind, b.kind);
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
        for (r, b) in &pairs {
            match (value(r), value(b)) {
                (Some(v), Some(bv)) if bv != 0.0 => line += &format!(" {:.2} |", v / bv),
                _ => line += " – |",
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
                &format!("{name}: of which user space µs/message"),
                &|r| Some(get(r).user_us()),
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
    crate::report_extras::print(extras, options);
}

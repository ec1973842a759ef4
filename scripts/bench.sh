#!/usr/bin/env bash
# Benchmarks the #[ws_controller] echo server against fastwebsockets and tokio-tungstenite
# ones in the same run (plus compression and memory-after-a-peak phases), and prints a
# Markdown report (see BENCHMARKS.md). Options go to the harness:
#   scripts/bench.sh --secs 5 --servers macro,fastwebsockets,tungstenite,macro@mimalloc
# The servers run as separate processes pinned to cpu 0, the load generator on cpu 1.
set -euo pipefail
cd "$(dirname "$0")/.."
# 10,000 idle connections need more than the usual 1024 file descriptors (the harness
# also raises its soft limit to the hard one).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
cargo build --release --locked -p ws-controller-bench --features allocators
echo "load before the run: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
bin="${CARGO_TARGET_DIR:-target}/release/ws-controller-bench"
# Ahead of other work on the machine (builds): the figures then move less. With autogroup
# scheduling a nice value only ranks processes within their session, so the harness gets a
# session of its own and that session's group is niced; the servers it starts inherit it.
# Without the permission it runs as it is.
if [[ -z "${WS_BENCH_SESSION:-}" ]] && command -v setsid >/dev/null; then
    WS_BENCH_SESSION=1 exec setsid -w "$0" "$@"
fi
echo -10 >/proc/self/autogroup 2>/dev/null || true
nice=(nice -n -10)
if command -v taskset >/dev/null; then
    exec "${nice[@]}" taskset -c 1 "$bin" run "$@"
fi
exec "${nice[@]}" "$bin" run "$@"

#!/usr/bin/env python3
"""Where dice-server's CPU per request goes, next to the bare axum baseline, under wrk.

Each server is pinned to core 0 with wrk on core 1 (as bench/http_bench.py), sampled by
`perf record` at 999 Hz (cpu-clock: this VM has no hardware counters; higher rates cost the
server noticeably) for the length of one wrk round.
Every sample's function is put in a layer (kernel network stack, hyper, tokio, allocator,
logging, metrics, ...); a layer's share of the samples times the server's measured CPU per
request gives nanoseconds per request. Writes the "where the time went" table
(bench/out/http_profile.md) and, with --symbols, the top functions of each server.
Not a test: nothing here asserts.
"""
import argparse
import collections
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from http_bench import (RELEASE, ROOT, free_port, measured_round, start,  # noqa: E402
                        wait_http, wrk, Proc)

# First match wins: the most specific crates before the general ones.
LAYERS = [
    ("allocator (malloc/free)", r"malloc|free|realloc|calloc|_int_|tcache|cfree|memalign"),
    ("JSON log line (format + sink)", r"json_log|json_line|log_sink|LogSink|tracing_subscriber|"
                                       r"tracing_core|tracing::|fmt::format|EnvFilter|Directive"),
    ("OpenTelemetry spans + export", r"opentelemetry|otel|RequestTrace|prost|BatchSpanProcessor"),
    ("metrics (prometheus-client)", r"prometheus_client|dice_workload::metrics|"
                                     r"HistogramWithExemplars"),
    ("dice-server middleware and handlers", r"dice_workload"),
    ("JSON response (serde_json)", r"serde_json|serde::"),
    ("axum routing and extractors", r"axum|matchit|tower|form_urlencoded|serde_urlencoded"),
    ("hyper HTTP/1 (parse, encode, dispatch)", r"hyper|httparse|http::|bytes::|httpdate"),
    ("tokio runtime, timers, I/O driver", r"tokio|mio|parking_lot|std::sys::.*futex"),
    ("kernel: TCP send/receive", r"tcp_|ip_|skb|sock_|inet_|__dev_queue|net_rx|loopback|"
                                  r"__netif|sk_|nf_|__napi|process_backlog|release_sock|"
                                  r"copy_.*user|_copy_|csum|dst_|raw_local|__local_bh"),
    ("kernel: epoll, syscalls, scheduling", r"epoll|ep_|syscall|entry_SYSCALL|do_sys|sys_|"
                                             r"futex|schedule|switch|__x64|irq|hrtimer|clock|"
                                             r"ktime|finish_task|pick_next|try_to_wake|"
                                             r"restore_regs|fpregs|__fget|fdget|x64_sys"),
]


def layer_of(symbol, dso):
    for name, pattern in LAYERS:
        if re.search(pattern, symbol):
            return name
    if dso.startswith("[kernel"):
        return "kernel: other"
    if "libc" in dso:
        return "libc: other (memcpy, ...)"
    return "other"


def profile(kind, seconds, connections, sink_port, before):
    """CPU-ns per request and the per-function sample counts of one wrk round."""
    port = free_port()
    server = start(kind, port, sink_port, before)
    url = f"http://127.0.0.1:{port}/roll?die=fair"
    try:
        wait_http(url)
        time.sleep(1)
        wrk(url, 2, connections)  # warm-up, as the benchmark's rounds follow a fresh start
        with tempfile.TemporaryDirectory() as tmp:
            data = os.path.join(tmp, "perf.data")
            recorder = subprocess.Popen(["perf", "record", "-F", "999", "-q", "-o", data,
                                         "-p", str(server.pid)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            measured = measured_round(server, url, seconds, connections)
            recorder.send_signal(2)
            recorder.wait(60)
            report = subprocess.run(
                ["perf", "report", "-i", data, "--stdio", "--no-children", "-q",
                 "--sort", "dso,symbol", "--percent-limit", "0"],
                capture_output=True, text=True, check=True).stdout
    finally:
        server.stop()
    functions = collections.Counter()
    for line in report.splitlines():
        m = re.match(r"\s*([\d.]+)%\s+(\S+)\s+\[.\]\s+(.*)$", line)
        if m:
            # Without a terminal perf appends empty "-" columns; instances of one generic
            # function share a name and are summed.
            symbol = re.sub(r"(\s+-)+\s*$", "", m.group(3)).strip()
            functions[(m.group(2), symbol)] += float(m.group(1))
    return measured["cpu_ms_per_request"] * 1e6, functions


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3, help="profiled rounds per server, summed")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--symbols", type=int, default=0, help="also print the top N functions")
    parser.add_argument("--kinds", default="baseline,dice-server",
                        help="comma-separated, as named in bench/http_bench.py")
    parser.add_argument("--before", help="the binary rows named '... (before)' run")
    parser.add_argument("--out", default=os.path.join(ROOT, "bench", "out", "http_profile.md"))
    args = parser.parse_args()
    kinds = args.kinds.split(",")
    sink_port = free_port()
    sink = Proc([f"{RELEASE}/otlp-sink", f"127.0.0.1:{sink_port}"], core=1)
    per_kind = {k: {"ns": [], "functions": collections.Counter()} for k in kinds}
    try:
        for _ in range(args.rounds):
            for kind in kinds:
                ns, functions = profile(kind, args.seconds, args.connections, sink_port,
                                        args.before)
                per_kind[kind]["ns"].append(ns)
                per_kind[kind]["functions"].update(functions)
                print(f"{kind:28} {ns:8.0f} CPU-ns per request", flush=True)
    finally:
        sink.stop()
    layers = {}
    for kind, found in per_kind.items():
        ns = sorted(found["ns"])[len(found["ns"]) // 2]
        total = sum(found["functions"].values()) or 1
        by_layer = collections.Counter()
        for (dso, symbol), percent in found["functions"].items():
            by_layer[layer_of(symbol, dso)] += percent / total * ns
        layers[kind] = (ns, by_layer)
    names = sorted({n for _, by in layers.values() for n in by},
                   key=lambda n: -layers[kinds[-1]][1][n])
    lines = ["| layer (by the sampled function) | " + " | ".join(f"{k} ns/req" for k in kinds) + " |",
             "|---|" + "---:|" * len(kinds)]
    for name in names:
        lines.append(f"| {name} | " + " | ".join(f"{layers[k][1][name]:.0f}" for k in kinds) + " |")
    lines.append("| **total CPU per request** | " +
                 " | ".join(f"**{layers[k][0]:.0f}**" for k in kinds) + " |")
    heading = [
        "### Where the time went (`bench/http_profile.py`, part of `BENCH_ONLY=http make bench`)",
        "",
        f"`perf record` at 999 Hz on each server under the same `wrk -c{args.connections}` load "
        f"({args.rounds} rounds of {args.seconds} s each, the median round's CPU per request), "
        "every sampled function put in a layer by its name. Profiling slows the servers, so the "
        "totals run higher than in the table above; compare the rows, not the totals.",
        "",
    ]
    text = "\n".join(heading + lines) + "\n"
    print(text)
    for kind in kinds if args.symbols else []:
        found = per_kind[kind]["functions"]
        total = sum(found.values()) or 1
        print(f"\n{kind}: top {args.symbols} functions (ns per request)")
        for (dso, symbol), percent in found.most_common(args.symbols):
            print(f"{percent / total * layers[kind][0]:7.0f}  {layer_of(symbol, dso)[:24]:24}  "
                  f"{dso[:20]:20} {symbol[:110]}")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(text)


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""What the system/GPU sampler and the system series cost dice-server, and the node exporter
for comparison. Server pinned to core 0, wrk to core 1. Writes bench/out/system.md.

- Sampler: process CPU of an idle dice-server with the default 5 s interval, against the same
  server whose sampler effectively never runs again (--sample-interval 1h), over a long idle
  window; plus the CPU one sample costs, from a 100 ms interval.
- Scrape: server CPU per /metrics request under `wrk -c1` once every system series exists, and
  the same for prometheus-node-exporter with its default collectors.
Not a test: nothing here asserts.
"""
import argparse
import os
import shutil
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from http_bench import RELEASE, USER_HZ, Proc, cpu_ticks, free_port, machine, measured_round, wait_http  # noqa: E402


def server(interval):
    port = free_port()
    env = {"DICE_LISTEN": f"127.0.0.1:{port}", "DICE_SAMPLE_INTERVAL": interval,
           "DICE_DATA_DIR": "/tmp", "RUST_LOG": "warn"}
    proc = Proc([f"{RELEASE}/dice-server"], env=env, core=0)
    wait_http(f"http://127.0.0.1:{port}/health")
    return proc, f"http://127.0.0.1:{port}"


def idle_cpu_percent(interval, seconds):
    proc, _ = server(interval)
    try:
        time.sleep(2)  # startup and the first sample are not the steady state
        before, start = cpu_ticks(proc.pid), time.time()
        time.sleep(seconds)
        cpu_s = (cpu_ticks(proc.pid) - before) / USER_HZ
        return cpu_s / (time.time() - start) * 100
    finally:
        proc.stop()


def series_count(url):
    text = urllib.request.urlopen(url, timeout=5).read().decode()
    return sum(1 for line in text.splitlines() if line and not line.startswith("#"))


def scrape_cost(proc, url, seconds):
    result = measured_round(proc, url, seconds, 1)
    return result["cpu_ms_per_request"], result["rps"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--idle-seconds", type=int, default=120)
    parser.add_argument("--scrape-seconds", type=int, default=10)
    args = parser.parse_args()

    off = idle_cpu_percent("1h", args.idle_seconds)
    default = idle_cpu_percent("5s", args.idle_seconds)
    fast = idle_cpu_percent("100ms", 20)
    per_sample_ms = max(fast - off, 0) / 100 * 0.1 * 1000  # % of a core × 100 ms per sample
    sampler_at_5s = per_sample_ms / 5000 * 100

    proc, base = server("5s")
    try:
        time.sleep(1)
        dice_series = series_count(f"{base}/metrics")
        dice_ms, dice_rps = scrape_cost(proc, f"{base}/metrics", args.scrape_seconds)
    finally:
        proc.stop()

    node = None
    exporter = shutil.which("prometheus-node-exporter") or shutil.which("node_exporter")
    if exporter:
        port = free_port()
        proc = Proc([exporter, f"--web.listen-address=127.0.0.1:{port}"], core=0)
        url = f"http://127.0.0.1:{port}/metrics"
        try:
            wait_http(url)
            node_series = series_count(url)
            node_ms, node_rps = scrape_cost(proc, url, args.scrape_seconds)
            node = (node_series, node_ms, node_rps)
        finally:
            proc.stop()

    out = []
    out.append("## System sampler and scrape cost (`BENCH_ONLY=system make bench`, bench/system_bench.py)")
    out.append("")
    out.append(f"Release dice-server pinned to one core, wrk on the other. Machine: {machine()}.")
    out.append("")
    out.append("| sampler | measured | target |")
    out.append("|---|---:|---:|")
    out.append(f"| idle dice-server, sampler every 5 s (default) | {default:.3f} % of a core | |")
    out.append(f"| idle dice-server, sampler every 1 h (effectively off) | {off:.3f} % of a core | |")
    out.append(f"| one sample (from a 100 ms interval, {args.idle_seconds}s windows above, 20 s here) | {per_sample_ms:.2f} ms CPU | |")
    out.append(f"| **sampler at the default 5 s** (one sample's CPU / 5 s) | **{sampler_at_5s:.3f} % of a core** | ≤ 0.2 % |")
    out.append("")
    out.append("| `/metrics`, one connection | series | server CPU per scrape | scrapes/s | target |")
    out.append("|---|---:|---:|---:|---:|")
    out.append(f"| dice-server, every system series present | {dice_series} | **{dice_ms:.3f} ms** | {dice_rps:.0f} | ≤ 0.5 ms |")
    if node:
        out.append(f"| prometheus-node-exporter (Debian, default collectors) | {node[0]} | {node[1]:.3f} ms | {node[2]:.0f} | |")
    else:
        out.append("| prometheus-node-exporter | SKIP: not installed | | | |")
    out.append("")
    out.append("Idle CPU is read from /proc (10 ms ticks) over the idle window; the sampler's share is the")
    out.append("difference the interval makes. Scrape CPU is the server's CPU time over the wrk run divided by")
    out.append("the scrapes answered: the system series are written from the latest sample, never read at scrape.")
    text = "\n".join(out) + "\n"
    out_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out")
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "system.md"), "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()

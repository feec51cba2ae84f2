#!/usr/bin/env python3
"""dice-server vs an uninstrumented axum baseline, under wrk, on a 2-core machine.

The server under test is pinned to core 0 and wrk to core 1. Rounds are interleaved
(baseline, dice-server, dice-server with traces) so drift in the machine hits all alike.
Writes the HTTP section of bench/RESULTS.md. Not a test: nothing here asserts.
"""
import argparse
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELEASE = os.path.join(ROOT, "target", "release")
USER_HZ = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def status_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1])
    return 0


def wait_http(url, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except Exception:
            time.sleep(0.05)
    raise RuntimeError(f"{url} never answered")


class Proc:
    def __init__(self, argv, env=None, core=None):
        full = (["taskset", "-c", str(core)] if core is not None else []) + argv
        self.p = subprocess.Popen(full, env={**os.environ, **(env or {})},
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  start_new_session=True)

    @property
    def pid(self):
        return self.p.pid

    def stop(self):
        if self.p.poll() is None:
            os.killpg(self.p.pid, signal.SIGTERM)
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.p.pid, signal.SIGKILL)
                self.p.wait()


def parse_duration_ms(text):
    value, unit = re.match(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit]


def wrk(url, seconds, connections, headers=()):
    argv = ["taskset", "-c", "1", "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for h in headers:
        argv += ["-H", h]
    out = subprocess.run(argv + [url], capture_output=True, text=True, check=True).stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": parse_duration_ms(re.search(r"^\s*50%\s+(\S+)", out, re.M).group(1)),
        "p99": parse_duration_ms(re.search(r"^\s*99%\s+(\S+)", out, re.M).group(1)),
        "requests": requests,
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
    }


def measured_round(server, url, seconds, connections, headers=()):
    before = cpu_ticks(server.pid)
    result = wrk(url, seconds, connections, headers)
    cpu_ms = (cpu_ticks(server.pid) - before) * 1000 / USER_HZ
    result["cpu_ms_per_10k"] = cpu_ms / max(result["requests"], 1) * 10_000
    result["cpu_ms_per_request"] = cpu_ms / max(result["requests"], 1)
    return result


BEFORE = " (before)"


def start(kind, port, sink_port, before=None):
    """`kind` names a row; a row ending in " (before)" runs the `before` dice-server binary."""
    if kind == "baseline":
        return Proc([f"{RELEASE}/baseline-server", f"127.0.0.1:{port}"], core=0)
    binary = before if kind.endswith(BEFORE) else f"{RELEASE}/dice-server"
    variant = kind.removesuffix(BEFORE)
    env = {"DICE_LISTEN": f"127.0.0.1:{port}", "DICE_MAX_DELAY": "0"}
    if variant == "dice-server, RUST_LOG=warn":
        env["RUST_LOG"] = "warn"
    if variant == "dice-server + traces":
        env.update({"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{sink_port}",
                    "OTEL_TRACES_SAMPLER": "always_on"})
    return Proc([binary], env=env, core=0)


def machine():
    model = "unknown CPU"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    return f"{model}, {os.cpu_count()} cores, Linux {platform.release()}, {rustc}"


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=5, help="length of one wrk round")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--out", default=os.path.join(ROOT, "bench", "out", "http.md"))
    parser.add_argument("--before", help="an earlier dice-server binary: its rows run interleaved "
                        "with the current one's, marked (before)")
    parser.add_argument("--before-name", help="what the earlier build is, for the report")
    args = parser.parse_args()

    variants = ["dice-server", "dice-server, RUST_LOG=warn", "dice-server + traces"]
    kinds = ["baseline"]
    for variant in variants:
        kinds += [variant + BEFORE, variant] if args.before else [variant]
    sink_port = free_port()
    sink = Proc([f"{RELEASE}/otlp-sink", f"127.0.0.1:{sink_port}"], core=1)
    results = {k: [] for k in kinds}
    scrapes = {}
    try:
        for rnd in range(args.rounds):
            for kind in kinds:
                port = free_port()
                server = start(kind, port, sink_port, args.before)
                wait_http(f"http://127.0.0.1:{port}/roll?die=fair")
                time.sleep(2)
                idle_rss = status_kib(server.pid, "VmRSS:")
                r = measured_round(server, f"http://127.0.0.1:{port}/roll?die=fair",
                                   args.seconds, args.connections)
                r["idle_rss_kib"] = idle_rss
                r["loaded_rss_kib"] = status_kib(server.pid, "VmHWM:")
                results[kind].append(r)
                print(f"round {rnd + 1} {kind:22} {r['rps']:>9.0f} req/s  p50 {r['p50']:.3f} ms  "
                      f"p99 {r['p99']:.3f} ms  {r['cpu_ms_per_10k']:.0f} CPU-ms/10k  "
                      f"idle {idle_rss / 1024:.1f} MiB  peak {r['loaded_rss_kib'] / 1024:.1f} MiB",
                      flush=True)
                if kind == "dice-server" and rnd == args.rounds - 1:
                    scrapes = scrape_costs(server, port, args.seconds)
                server.stop()
    finally:
        sink.stop()
    write_report(args, results, scrapes)


def scrape_costs(server, port, seconds):
    """Scrape cost after a load round: every series the run created is in the exposition."""
    for path in ["/roll?die=risky"] * 50 + ["/nope", "/roll", "/rolldice", "/health"]:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}{path}").read()
        except Exception:
            pass
    costs = {}
    for name, headers in [("Prometheus text", ()),
                          ("OpenMetrics", ("Accept: application/openmetrics-text;version=1.0.0",))]:
        r = measured_round(server, f"http://127.0.0.1:{port}/metrics", max(seconds // 2, 3), 1, headers)
        request_headers = dict(h.split(": ", 1) for h in headers)
        size = len(urllib.request.urlopen(urllib.request.Request(
            f"http://127.0.0.1:{port}/metrics", headers=request_headers)).read())
        r["bytes"] = size
        costs[name] = r
        print(f"scrape {name:16} p50 {r['p50']:.3f} ms  p99 {r['p99']:.3f} ms  "
              f"{r['cpu_ms_per_request']:.3f} CPU-ms/scrape  {size} bytes", flush=True)
    return costs


def med(rows, key):
    return statistics.median(r[key] for r in rows)


def write_report(args, results, scrapes):
    lines = [
        "## dice-server vs uninstrumented baseline (`BENCH_ONLY=http make bench`, bench/http_bench.py)",
        "",
        f"Machine: {machine()}. Server pinned to core 0, `wrk -t1 -c{args.connections} "
        f"-d{args.seconds}s` pinned to core 1, {args.rounds} interleaved rounds, medians shown "
        "(this VM's speed drifts by tens of percent between runs, so only interleaved ratios mean much). "
        "dice-server runs with `DICE_MAX_DELAY=0` and default logging (`RUST_LOG=info`: one JSON "
        "line per roll, stdout to /dev/null) unless the row says `RUST_LOG=warn` (no per-request "
        "line); traces go to a local OTLP/HTTP sink "
        "(`otlp-sink`) with `OTEL_TRACES_SAMPLER=always_on`."
        + (f" Rows marked (before) run `{os.path.relpath(args.before, ROOT)}` "
           f"({args.before_name or 'an earlier build'}) in the same rounds." if args.before else ""),
        "",
        "| server | req/s | vs baseline (median of per-round ratios) | p50 ms | p99 ms | CPU-ms / 10k req | idle RSS MiB | peak RSS MiB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for kind, rows in results.items():
        # Each round's own baseline, so machine drift between rounds cancels out.
        ratio = statistics.median(r["rps"] / b["rps"] for r, b in zip(rows, results["baseline"]))
        lines.append(
            f"| {kind} | {med(rows, 'rps'):.0f} | {ratio:.2f}x | "
            f"{med(rows, 'p50'):.3f} | {med(rows, 'p99'):.3f} | {med(rows, 'cpu_ms_per_10k'):.0f} | "
            f"{med(rows, 'idle_rss_kib') / 1024:.1f} | {med(rows, 'loaded_rss_kib') / 1024:.1f} |")
    befores = [k for k in results if k.endswith(BEFORE)]
    if befores:
        lines += ["", "The current build against the earlier one, each variant's two rows run back to back "
                  "in every round (so drift between rounds cancels):", "",
                  "| variant | req/s, current / before (median of per-round ratios) | "
                  "CPU-ms / 10k req, before → current |", "|---|---:|---:|"]
        for before in befores:
            current = before.removesuffix(BEFORE)
            ratio = statistics.median(
                c["rps"] / b["rps"] for c, b in zip(results[current], results[before]))
            lines.append(f"| {current} | {ratio:.2f}x | {med(results[before], 'cpu_ms_per_10k'):.0f} → "
                         f"{med(results[current], 'cpu_ms_per_10k'):.0f} |")
    lines += ["", "Every round (req/s, and the ratio to that round's baseline):", "",
              "| round | " + " | ".join(results) + " |", "|---|" + "---:|" * len(results)]
    for i, b in enumerate(results["baseline"]):
        cells = [f"{rows[i]['rps']:.0f} ({rows[i]['rps'] / b['rps']:.2f}x)" for rows in results.values()]
        lines.append(f"| {i + 1} | " + " | ".join(cells) + " |")
    if scrapes:
        lines += ["", f"`/metrics` on dice-server after a load round (`wrk -c1`, pinned as above):", "",
                  "| format | p50 ms | p99 ms | server CPU-ms per scrape | bytes |", "|---|---:|---:|---:|---:|"]
        for name, r in scrapes.items():
            lines.append(f"| {name} | {r['p50']:.3f} | {r['p99']:.3f} | {r['cpu_ms_per_request']:.3f} | {r['bytes']} |")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    sys.exit(main())

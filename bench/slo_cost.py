#!/usr/bin/env python3
"""What the SLO rules cost a real Prometheus holding 30 days of data (`BENCH_ONLY=slo make bench`).

Backfills 30 days of dice-server series for up to 100 DiceServices (several pods, every latency
bucket, fair and risky traffic with a daily cycle) with `promtool tsdb create-blocks-from
openmetrics`, and the series the tiled form records (its 5-minute tiles over 30 days, its
5-minute rates over the last hours) with `promtool tsdb create-blocks-from rules`, as if the
rules had run all month. Then, for N DiceServices and each form, starts Prometheus on that data
with only that form's SLO groups and reports per evaluation: group time
(`prometheus_rule_group_last_duration_seconds`), samples touched (every rule's query with
`stats=all`, `totalQueryableSamples`), and Prometheus' RSS. Markdown on stdout.

The "raw" form is bench/slo_cost/raw_form.yaml (the groups as generated before), the "tiled"
form is what `dice-operator render` generates today.
"""

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from math import pi, sin
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from http_bench import free_port, machine  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
OPERATOR = REPO / "target/release/dice-operator"
NAMESPACE = "bench"
BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
           0.75, 1.0, 2.5, 5.0, 10.0]
# Share of requests at or under each bucket: fair rolls answer in microseconds, risky ones sleep
# up to a second (dice-server's roll delay), so the tail spreads over the upper buckets.
SHARE_AT_OR_UNDER = [0.02, 0.10, 0.35, 0.62, 0.80, 0.86, 0.88, 0.89, 0.90, 0.91, 0.93, 0.955,
                     0.975, 0.99, 0.998, 1.0, 1.0]
BLOCK = 7200  # seconds: promtool re-reads its whole input once per 2-hour block, so one file each


def name(index):
    return f"dice-{index:03d}"


class Traffic:
    """Cumulative counters per pod, carried from block to block: a daily cycle between 20% and
    100% of the pod's peak, 10% risky rolls of which a sixth fail, and one hour a week at 20×
    the usual errors."""

    def __init__(self):
        self.counters = {}

    def pod(self, key, seed, peak_per_minute, start, step, steps):
        requests, errors = self.counters.get(key, (0.0, 0.0))
        out = []
        for i in range(steps):
            t = start + i * step
            day = 0.6 + 0.4 * sin(2 * pi * ((t + seed * 977) % 86400) / 86400)
            per_step = peak_per_minute * step / 60 * day
            error_share = 0.1 / 6 * 0.06
            if (t // 3600) % (24 * 7) == 30 + seed % 24:
                error_share *= 20
            requests += per_step
            errors += per_step * error_share
            out.append((int(requests), int(errors)))
        self.counters[key] = (requests, errors)
        return out


def write_openmetrics(path, traffic, services, pods, start, end, step):
    """One block's worth of samples for every series, in OpenMetrics text."""
    steps = (end - start) // step
    stamps = [str(start + i * step) for i in range(steps)]
    with open(path, "w") as f:
        for s in range(services):
            for p in range(pods):
                labels = f'job="{name(s)}",namespace="{NAMESPACE}",instance="10.0.{s}.{p}:8080",handler="/roll",method="GET"'
                counters = traffic.pod((s, p), s * 7 + p, 600 + 20 * s, start, step, steps)
                lines = []
                for status, pick in (("200", lambda c: c[0] - c[1]), ("500", lambda c: c[1])):
                    prefix = f'http_requests_total{{{labels},status="{status}"}} '
                    lines.extend(f"{prefix}{pick(c)} {ts}" for c, ts in zip(counters, stamps))
                for le, share in zip(BUCKETS + ["+Inf"], SHARE_AT_OR_UNDER + [1.0]):
                    prefix = f'http_request_duration_seconds_bucket{{{labels},le="{le}"}} '
                    lines.extend(f"{prefix}{int(c[0] * share)} {ts}" for c, ts in zip(counters, stamps))
                for suffix, factor in (("count", 1.0), ("sum", 0.045)):
                    prefix = f"http_request_duration_seconds_{suffix}{{{labels}}} "
                    lines.extend(f"{prefix}{c[0] * factor:.3f} {ts}" for c, ts in zip(counters, stamps))
                f.write("\n".join(lines))
                f.write("\n")
        f.write("# EOF\n")


def promtool(*args):
    subprocess.run(["promtool", *args], check=True, stdout=subprocess.DEVNULL)


def backfill_raw(data, services, pods, start, end, step, scratch):
    blocks = 0
    traffic = Traffic()
    text = scratch / "block.om"
    for block_start in range(start, end, BLOCK):
        write_openmetrics(text, traffic, services, pods, block_start, min(block_start + BLOCK, end), step)
        promtool("tsdb", "create-blocks-from", "openmetrics", "--quiet", str(text), str(data))
        blocks += 1
    text.unlink()
    return blocks


class Prometheus:
    def __init__(self, data, rules, scratch, interval="15s"):
        self.port = free_port()
        config = scratch / f"prometheus-{self.port}.yml"
        config.write_text(
            f"global:\n  evaluation_interval: {interval}\nrule_files: [{json.dumps(str(rules))}]\n"
            if rules else f"global:\n  evaluation_interval: {interval}\n")
        self.proc = subprocess.Popen(
            ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={data}",
             "--storage.tsdb.retention.time=60d", f"--web.listen-address=127.0.0.1:{self.port}",
             "--query.max-samples=500000000"],
            stdout=subprocess.DEVNULL, stderr=open(scratch / f"prometheus-{self.port}.log", "w"),
            start_new_session=True)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.time() + 180
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"{self.url}/-/ready", timeout=2)
                return
            except OSError:
                time.sleep(0.5)
        raise SystemExit("Prometheus did not become ready")

    def get(self, path, **params):
        query = urllib.parse.urlencode(params)
        with urllib.request.urlopen(f"{self.url}{path}?{query}", timeout=300) as response:
            return json.load(response)

    def last_durations(self):
        """rule group → seconds its last evaluation took, from Prometheus' own /metrics."""
        metric = "prometheus_rule_group_last_duration_seconds{"
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=30) as response:
            text = response.read().decode()
        durations = {}
        for line in text.splitlines():
            if line.startswith(metric):
                labels, value = line[len(metric):].rsplit("} ", 1)
                # `rule_group` is "<rule file>;<group name>".
                group = labels.split('rule_group="', 1)[1].split('"', 1)[0].split(";", 1)[-1]
                durations[group] = float(value)
        return durations

    def rss_mib(self):
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self):
        os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(timeout=60)


def manifest(services):
    spec = (REPO / "manifests/examples/full.yaml").read_text().split("spec:", 1)[1]
    return "".join(
        f"---\napiVersion: dice.dev/v1alpha1\nkind: DiceService\nmetadata:\n  name: {name(s)}\n"
        f"  namespace: {NAMESPACE}\nspec:{spec}" for s in range(services))


def tiled_groups(services, scratch):
    """The SLO groups `dice-operator render` generates for the DiceServices."""
    path = scratch / "services.yaml"
    path.write_text(manifest(services))
    out = scratch / "rendered"
    shutil.rmtree(out, ignore_errors=True)
    subprocess.run([str(OPERATOR), "render", "-f", str(path), "-o", str(out)], check=True,
                   stdout=subprocess.DEVNULL)
    groups = []
    for s in range(services):
        rule = yaml.safe_load((out / f"{name(s)}-prometheusrule.yaml").read_text())
        groups += [g for g in rule["spec"]["groups"] if ".slo-" in g["name"]]
    return groups


def raw_groups(services):
    template = yaml.safe_load((REPO / "bench/slo_cost/raw_form.yaml").read_text())["groups"]
    groups = []
    for s in range(services):
        for group in template:
            rules = [{**rule, "expr": rule["expr"]
                      .replace('job="dice-full"', f'job="{name(s)}"')
                      .replace('namespace="dice"', f'namespace="{NAMESPACE}"')}
                     for rule in group["rules"]]
            groups.append({"name": group["name"].replace("dice.dice-full", f"{NAMESPACE}.{name(s)}"),
                           "rules": rules})
    return groups


def backfill_recordings(data, start, end, scratch):
    """The series the tiled form records, as if it had run all month: tiles every 5 minutes over
    the whole range, rates every 30 s over the last 2 hours. The expressions are the tiled form's
    own (first DiceService), without its job matcher so one rule records every job."""
    first = tiled_groups(1, scratch)
    wanted = {"slo:sli_good:rate5m", "slo:sli_all:rate5m"}
    rates = [dict(r) for g in first if "interval" not in g for r in g["rules"]
             if r.get("record") in wanted]
    for rule in rates:
        rule["expr"] = rule["expr"].replace(f'job="{name(0)}",', "")
    tiles = [{**r, "record": r["record"].replace(":rate5m", ":tile5m")} for r in rates]
    prometheus = Prometheus(data, None, scratch)
    try:
        for rules, interval, since in ((tiles, "5m", start), (rates, "30s", end - 2 * 3600)):
            path = scratch / "backfill-rules.yaml"
            path.write_text(yaml.safe_dump({"groups": [{"name": "backfill", "rules": rules}]}))
            out = scratch / "recorded"
            shutil.rmtree(out, ignore_errors=True)
            promtool("tsdb", "create-blocks-from", "rules", f"--url={prometheus.url}",
                     f"--start={since}", f"--end={end}", f"--eval-interval={interval}",
                     f"--output-dir={out}", str(path))
            for block in out.iterdir():
                shutil.move(str(block), str(data / block.name))
    finally:
        prometheus.stop()


def measure(data, groups, scratch, settle):
    """Per-evaluation cost of `groups` in a Prometheus on `data` that evaluates nothing else."""
    # Every group every 15 s, to see several evaluations in a short run.
    groups = [{k: v for k, v in g.items() if k != "interval"} for g in groups]
    rules = scratch / "rules.yaml"
    rules.write_text(yaml.safe_dump({"groups": groups}, width=1000))
    # Every DiceService records the same names (with its own labels): promtool warns, rightly not fails.
    subprocess.run(["promtool", "check", "rules", str(rules)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    prometheus = Prometheus(data, rules, scratch)
    try:
        durations = {}
        deadline = time.time() + settle
        while time.time() < deadline:
            time.sleep(15)
            for group, value in prometheus.last_durations().items():
                if value > 0:
                    durations.setdefault(group, []).append(value)
        samples = 0
        for group in groups:
            for rule in group["rules"]:
                stats = prometheus.get("/api/v1/query", query=rule["expr"], stats="all")
                samples += stats["data"]["stats"]["samples"]["totalQueryableSamples"]
        rss = prometheus.rss_mib()
    finally:
        prometheus.stop()
    medians = {g: statistics.median(v) for g, v in durations.items()}
    return medians, samples, rss


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--services", default="1,10,100")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--pods", type=int, default=2)
    parser.add_argument("--step", type=int, default=60, help="seconds between samples")
    parser.add_argument("--settle", type=int, default=75, help="seconds each Prometheus runs")
    args = parser.parse_args()
    counts = [int(n) for n in args.services.split(",")]
    scratch = Path(tempfile.mkdtemp(prefix="slo-cost-"))
    data = scratch / "data"
    data.mkdir()
    try:
        end = (int(time.time()) // BLOCK + 1) * BLOCK  # past the end of the measurement
        start = end - args.days * 86400
        began = time.time()
        blocks = backfill_raw(data, max(counts), args.pods, start, end, args.step, scratch)
        raw_seconds = time.time() - began
        backfill_recordings(data, start, end, scratch)
        series = max(counts) * args.pods * (2 + len(BUCKETS) + 3)
        print("## SLO rule cost over 30 days of data (`bench/slo_cost.py`, `BENCH_ONLY=slo make bench`)")
        print()
        print(f"Real Prometheus ({subprocess.run(['prometheus', '--version'], capture_output=True, text=True).stdout.split()[2]})"
              f" on {args.days} days of backfilled dice-server series: {max(counts)} DiceServices × {args.pods} pods,"
              f" /roll with 200 and 500 counters and all {len(BUCKETS)} latency buckets ({series:,} raw series,"
              f" one sample per {args.step} s: {series * args.days * 86400 // args.step:,} samples in {blocks} blocks,"
              f" backfilled in {raw_seconds:.0f} s), a daily traffic cycle and an hour a week of 20× errors;"
              f" the tiled form's own recordings backfilled for the same month. Each row is its own Prometheus"
              f" holding only that form's SLO groups (availability and latency, the full example's spec)."
              f" Machine: {machine()}.")
        print()
        print("| DiceServices | form | groups | evaluation ms (sum of group medians) | per group ms | samples touched per evaluation | Prometheus RSS MiB |")
        print("|---:|---|---:|---:|---:|---:|---:|")
        rows = {}
        for n in counts:
            for form, groups in (("raw", raw_groups(n)), ("tiled", tiled_groups(n, scratch))):
                # Seconds between evaluations as deployed: the -long groups at their own interval.
                period = {g["name"]: 300 if "interval" in g else 30 for g in groups}
                medians, samples, rss = measure(data, groups, scratch, args.settle)
                total_ms = sum(medians.values()) * 1000
                per_hour_s = sum(seconds * 3600 / period[g] for g, seconds in medians.items())
                rows[(n, form)] = (total_ms, samples, per_hour_s)
                print(f"| {n} | {form} | {len(groups)} | {total_ms:.1f} | {total_ms / max(len(medians), 1):.2f} | {samples:,} | {rss:.0f} |")
        print()
        for n in counts:
            (raw_ms, raw_samples, raw_hour), (tiled_ms, tiled_samples, tiled_hour) = rows[(n, "raw")], rows[(n, "tiled")]
            print(f"- {n} DiceService{'s' if n > 1 else ''}: {raw_ms / max(tiled_ms, 1e-9):.1f}× less evaluation time and"
                  f" {raw_samples / max(tiled_samples, 1):.1f}× fewer samples per evaluation;"
                  f" per hour at the deployed intervals (30 s, the long groups 5 m) {raw_hour:.1f} s raw"
                  f" against {tiled_hour:.1f} s tiled.")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()

#!/usr/bin/env bash
# History store benchmark on SQLite and PostgreSQL (started here on a private port, data in a
# temp dir, stopped at the end). Writes bench/out/history.md. Not a test: nothing asserts.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench/out
work=$(mktemp -d)
chmod 755 "$work"
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | tail -n 1 || true)
as_postgres=()
[ "$(id -u)" = 0 ] && as_postgres=(runuser -u postgres --)
stop_postgres() {
  [ -n "$pg_bin" ] && [ -d "$work/pg/data" ] && "${as_postgres[@]}" "$pg_bin/pg_ctl" -D "$work/pg/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap stop_postgres EXIT
{
  echo "## History store (\`BENCH_ONLY=history make bench\`, bench/history_bench.sh → \`history-bench\`)"
  echo
  echo "7 days of 30-second samples for every stored metric (cpu, ram, one GPU, two temperature sensors,"
  echo "two disks: 7 rows per sample), inserted in hourly batches through the writer's path, then 50"
  echo "7-day queries downsampled to 500 points in the database. Machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, Linux $(uname -r)."
  echo
  echo "| database | data | insert throughput | 7-day query p50 ms | p99 ms |"
  echo "|---|---|---:|---:|---:|"
  ./target/release/history-bench "sqlite://$work/history.db?mode=rwc" "SQLite (file, WAL off, default sync)"
  if [ -n "$pg_bin" ]; then
    mkdir -p "$work/pg"
    [ "$(id -u)" = 0 ] && chown postgres: "$work/pg"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    "${as_postgres[@]}" "$pg_bin/initdb" -D "$work/pg/data" -U dice --auth=trust >/dev/null
    "${as_postgres[@]}" "$pg_bin/pg_ctl" -D "$work/pg/data" -l "$work/pg/log" -w \
      -o "-p $port -k $work/pg -c listen_addresses=127.0.0.1" start >/dev/null
    ./target/release/history-bench "postgres://dice@127.0.0.1:$port/postgres" "PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}') (local, default settings)"
  else
    echo "| PostgreSQL | SKIP: not installed | | | |"
  fi
  echo
  echo "Target: p99 ≤ 50 ms for the 7-day query. The query is an index range scan on (metric, series,"
  echo "at_ms) aggregated with GROUP BY in the database."
} > bench/out/history.md
cat bench/out/history.md

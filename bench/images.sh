#!/usr/bin/env bash
# `BENCH_ONLY=images make bench`: builds the images with `make images-local` and reports their
# sizes and start-up times under the pod restrictions (markdown on stdout).
set -euo pipefail
cd "$(dirname "$0")/.."
make --no-print-directory images-local >&2
engine=$(command -v podman || command -v docker)
tag=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
restricted=(--read-only --read-only-tmpfs=false --user 65532:65532 --cap-drop=ALL
  --security-opt=no-new-privileges --network=host)

# Milliseconds from `run` to the first 200 from /health, five times; prints the median.
server_ready_ms() {
  local image=$1 times=() port name
  for _ in 1 2 3 4 5; do
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    name=dice-bench-$$-$port
    local start=$(date +%s%N)
    "$engine" run -d --name "$name" "${restricted[@]}" --memory=128m --tmpfs /data:rw,mode=1777 \
      -e DICE_LISTEN=127.0.0.1:$port "$image" >/dev/null
    until curl -fsS -o /dev/null "http://127.0.0.1:$port/health" 2>/dev/null; do sleep 0.01; done
    times+=($(( ($(date +%s%N) - start) / 1000000 )))
    "$engine" rm -f "$name" >/dev/null
  done
  printf '%s\n' "${times[@]}" | sort -n | sed -n 3p
}

# Milliseconds for `run --rm IMAGE crd` (container start, the CRD printed, exit); median of five.
operator_run_ms() {
  local image=$1 times=()
  for _ in 1 2 3 4 5; do
    local start=$(date +%s%N)
    "$engine" run --rm "${restricted[@]}" --memory=256m "$image" crd >/dev/null
    times+=($(( ($(date +%s%N) - start) / 1000000 )))
  done
  printf '%s\n' "${times[@]}" | sort -n | sed -n 3p
}

mib() { python3 -c "print(f'{$1 / 1048576:.1f}')"; }

echo "## Container images (\`make images-local\`, \`BENCH_ONLY=images make bench\`)"
echo
echo "Built here with $("$engine" --version) from host-built, stripped release binaries on"
echo "\`localhost/dice-base:bookworm\` (images/local-base.sh: glibc, libgcc, CA certificates, tzdata,"
echo "netbase from Debian bookworm; no shell, package manager or interpreter — the container test"
echo "asserts it), through the same final stage as the registry build. Both run as 65532:65532."
echo "Compressed = \`$(basename "$engine") save\` piped through \`gzip -6\` (what a registry layer"
echo "push compresses to, roughly). Start-up is the median of five runs with the pod's restrictions"
echo "(read-only root, no capabilities, no-new-privileges, memory limit). Machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores."
echo
echo "| image | uncompressed MiB | compressed MiB | base MiB | start-up |"
echo "|---|---:|---:|---:|---|"
base=$("$engine" image inspect --format '{{.Size}}' localhost/dice-base:bookworm)
for name in dice-server dice-operator; do
  image=ghcr.io/dice-operator/$name:$tag
  size=$("$engine" image inspect --format '{{.Size}}' "$image")
  compressed=$("$engine" save "$image" 2>/dev/null | gzip -6 | wc -c)
  if [ "$name" = dice-server ]; then
    startup="$(server_ready_ms "$image") ms to /health 200"
  else
    startup="$(operator_run_ms "$image") ms for \`run --rm … crd\` (start, print, exit)"
  fi
  echo "| $name | $(mib "$size") | $(mib "$compressed") | $(mib "$base") | $startup |"
done
echo
echo "Target for dice-server: ≤ 40 MB uncompressed."

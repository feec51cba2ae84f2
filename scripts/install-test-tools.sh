#!/usr/bin/env bash
# Installs what the test suite needs, idempotently: Debian packages as root (one retry),
# otherwise a SKIP line per missing tool; the tests that need it then skip themselves.
set -uo pipefail

declare -A package_for=(
  [promtool]=prometheus [prometheus]=prometheus
  [amtool]=prometheus-alertmanager [prometheus-alertmanager]=prometheus-alertmanager
  [prometheus-blackbox-exporter]=prometheus-blackbox-exporter [wrk]=wrk [chromium]=chromium
  [pg_ctlcluster]=postgresql [perf]=linux-perf
)
wanted=("$@")
[ ${#wanted[@]} -eq 0 ] && wanted=(promtool)

missing=()
for tool in "${wanted[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("${package_for[$tool]:-$tool}")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ]; then
  echo "SKIP: cannot install ${missing[*]} (not root); the checks that need them are skipped"
  exit 0
fi

apt_install() {
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"
}
echo "installing Debian packages: ${missing[*]}"
if ! { apt-get update -qq && apt_install "${missing[@]}"; } >/tmp/dice-apt.log 2>&1; then
  sleep 5
  if ! { apt-get update -qq && apt_install "${missing[@]}"; } >>/tmp/dice-apt.log 2>&1; then
    tail -n 20 /tmp/dice-apt.log
    echo "SKIP: installing ${missing[*]} failed (see /tmp/dice-apt.log); the checks that need them are skipped"
  fi
fi
exit 0

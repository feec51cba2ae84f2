#!/usr/bin/env bash
# Builds localhost/dice-base:bookworm, a distroless-like base made from Debian packages, for
# machines that cannot pull gcr.io/distroless/cc-debian12 (no registry). Same contents that
# matter: glibc and libgcc, the CA bundle at /etc/ssl/certs/ca-certificates.crt, tzdata,
# /etc/services, /etc/passwd with nonroot (65532), a sticky /tmp — and no shell, no package
# manager, no interpreter. Idempotent: an existing image is kept (FORCE=1 rebuilds it).
#   usage: images/local-base.sh [ENGINE]     (ENGINE: podman or docker; default: whichever exists)
set -euo pipefail
engine=${1:-$(command -v podman || command -v docker)}
image=localhost/dice-base:bookworm
if [ -z "${FORCE:-}" ] && "$engine" image exists "$image" 2>/dev/null; then
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# `extract` unpacks the packages (and their dependencies) without running maintainer scripts,
# so what those scripts would generate is made here; then everything that could run as a
# shell, interpreter or package manager is removed.
root="$work/root"
mmdebstrap --quiet --variant=extract \
  --include=libc6,libgcc-s1,ca-certificates,base-files,netbase,tzdata bookworm "$root"
cat "$root"/usr/share/ca-certificates/mozilla/*.crt > "$root"/etc/ssl/certs/ca-certificates.crt
ln -sf /usr/share/zoneinfo/Etc/UTC "$root"/etc/localtime
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' \
  > "$root"/etc/passwd
printf 'root:x:0:\nnonroot:x:65532:\n' > "$root"/etc/group
printf 'hosts: files dns\n' > "$root"/etc/nsswitch.conf
mkdir -p "$root"/home/nonroot "$root"/tmp
chown 65532:65532 "$root"/home/nonroot
chmod 1777 "$root"/tmp
(cd "$root" && rm -rf bin/* sbin/* usr/bin/* usr/sbin/* usr/games usr/local/games \
  usr/share/perl* usr/lib/x86_64-linux-gnu/perl* usr/share/debconf usr/lib/ssl/misc \
  usr/share/doc usr/share/man usr/share/info usr/share/lintian usr/share/locale \
  usr/lib/x86_64-linux-gnu/gconv etc/apt etc/dpkg var/lib/dpkg var/lib/apt var/cache/* var/log/*)
tar -C "$root" -cf "$work/base.tar" .
"$engine" import --quiet "$work/base.tar" "$image" >/dev/null
echo "built $image ($("$engine" image inspect --format '{{.Size}}' "$image") bytes)"

#!/usr/bin/env bash
# `make images-local`: the two images from host-built release binaries on the Debian-made base
# (images/local-base.sh), through the same Dockerfiles and final stage as `make images` — for
# machines that reach no image registry. Installs podman (as root, with the containers.conf
# this machine kind needs) when no engine is present; prints SKIP and exits 0 when it cannot.
#   usage: scripts/build-local-images.sh REGISTRY TAG
set -uo pipefail
cd "$(dirname "$0")/.."
registry=$1 tag=$2

engine=$(command -v podman || command -v docker)
if [ -z "$engine" ] || ! command -v mmdebstrap >/dev/null; then
  if [ "$(id -u)" != 0 ]; then
    echo "SKIP: no podman/docker or mmdebstrap and not root; the container images are not built or tested"
    exit 0
  fi
  packages=(podman runc uidmap slirp4netns fuse-overlayfs mmdebstrap)
  echo "installing Debian packages: ${packages[*]}"
  # Not named `install`: that would shadow install(1), which copies the binaries below.
  apt_install() { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${packages[@]}"; }
  if ! apt_install >/tmp/dice-apt-images.log 2>&1 && ! { sleep 5; apt_install >>/tmp/dice-apt-images.log 2>&1; }; then
    tail -n 20 /tmp/dice-apt-images.log
    echo "SKIP: installing podman failed; the container images are not built or tested"
    exit 0
  fi
  engine=$(command -v podman || command -v docker)
fi
# crun refuses this machine kind's cgroup layout and raising RLIMIT_NPROC is not permitted:
# podman runs with runc and leaves the ulimits alone. An existing file is the admin's; kept.
if [ "$(basename "$engine")" = podman ] && [ ! -e /etc/containers/containers.conf ] && [ "$(id -u)" = 0 ]; then
  mkdir -p /etc/containers
  printf '[containers]\ndefault_ulimits = []\n\n[engine]\nruntime = "runc"\n' > /etc/containers/containers.conf
fi

set -e
"${CARGO:-cargo}" build --release --locked -p dice-workload -p dice-operator \
  --bin dice-server --bin dice-traffic --bin dice-operator
images/local-base.sh "$engine"
context=target/image-context
rm -rf "$context" && mkdir -p "$context/prebuilt"
for binary in dice-server dice-traffic dice-operator; do
  install -s target/release/$binary "$context/prebuilt/$binary"
done
for image in dice-server dice-operator; do
  "$engine" build --quiet -f images/$image.Dockerfile \
    --build-arg BASE_IMAGE=localhost/dice-base:bookworm --build-arg BINARIES=prebuilt \
    -t "$registry/$image:$tag" "$context" >/dev/null
  echo "built $registry/$image:$tag ($("$engine" image inspect --format '{{.Size}}' "$registry/$image:$tag") bytes)"
done

# syntax=docker/dockerfile:1
# dice-server and dice-traffic, built from the workspace root (`make images`): run as the
# distroless nonroot user with a read-only root filesystem; persistent data goes to the volume
# at /data. GPU metrics need NVML, which the NVIDIA container runtime mounts at run time.
#
# Build arguments (defaults: the release path, upstream images pinned by digest):
#   BUILDER_IMAGE  the Rust toolchain image the `compile` stage builds in
#   BASE_IMAGE     the final stage's base (images/local-base.sh makes localhost/dice-base:bookworm
#                  from Debian packages where no registry is reachable)
#   BINARIES       `compile` builds from source with --locked; `prebuilt` takes host-built
#                  release binaries from prebuilt/ in the build context (`make images-local`)
ARG BUILDER_IMAGE=docker.io/library/rust:1.95-bookworm@sha256:6258907abe69656e41cd992e0b705cdcfabcbbe3db374f92ed2d47121282d4a1
ARG BASE_IMAGE=gcr.io/distroless/cc-debian12:nonroot@sha256:9dac0a79194e45a7da0158a9c6da57b217585af0786db3845d1f0ec1a0dd182f
ARG BINARIES=compile

FROM ${BUILDER_IMAGE} AS compile
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked -p dice-workload --bin dice-server --bin dice-traffic \
 && install -D -s target/release/dice-server /out/dice-server \
 && install -D -s target/release/dice-traffic /out/dice-traffic

FROM scratch AS prebuilt
COPY prebuilt/dice-server prebuilt/dice-traffic /out/

FROM ${BINARIES} AS binaries

# The one final layout, whichever base and binaries: glibc and libgcc only (the binaries link
# them dynamically), CA certificates, tzdata; no shell, no package manager.
FROM ${BASE_IMAGE}
COPY --from=binaries /out/dice-server /out/dice-traffic /usr/local/bin/
USER 65532:65532
ENV DICE_LISTEN=0.0.0.0:8080 DICE_DATA_DIR=/data
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/dice-server"]

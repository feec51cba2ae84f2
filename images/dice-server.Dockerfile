# syntax=docker/dockerfile:1
# dice-server and dice-traffic: built from the workspace root (`make images`), run as the
# distroless nonroot user with a read-only root filesystem; persistent data goes to the volume
# at /data. GPU metrics need NVML, which the NVIDIA container runtime mounts at run time.
FROM docker.io/library/rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked -p dice-workload --bin dice-server --bin dice-traffic \
 && install -D target/release/dice-server /out/dice-server \
 && install -D target/release/dice-traffic /out/dice-traffic

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/dice-server /out/dice-traffic /usr/local/bin/
USER 65532:65532
ENV DICE_LISTEN=0.0.0.0:8080 DICE_DATA_DIR=/data
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/dice-server"]

# syntax=docker/dockerfile:1
# dice-operator, built from the workspace root (`make images`): runs as the distroless nonroot
# user with a read-only root filesystem (it writes nothing to disk).
#
# Build arguments (defaults: the release path, upstream images pinned by digest):
#   BUILDER_IMAGE  the Rust toolchain image the `compile` stage builds in
#   BASE_IMAGE     the final stage's base (images/local-base.sh makes localhost/dice-base:bookworm
#                  from Debian packages where no registry is reachable)
#   BINARIES       `compile` builds from source with --locked; `prebuilt` takes a host-built
#                  release binary from prebuilt/ in the build context (`make images-local`)
ARG BUILDER_IMAGE=docker.io/library/rust:1.95-bookworm@sha256:6258907abe69656e41cd992e0b705cdcfabcbbe3db374f92ed2d47121282d4a1
ARG BASE_IMAGE=gcr.io/distroless/cc-debian12:nonroot@sha256:9dac0a79194e45a7da0158a9c6da57b217585af0786db3845d1f0ec1a0dd182f
ARG BINARIES=compile

FROM ${BUILDER_IMAGE} AS compile
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked -p dice-operator --bin dice-operator \
 && install -D -s target/release/dice-operator /out/dice-operator

FROM scratch AS prebuilt
COPY prebuilt/dice-operator /out/

FROM ${BINARIES} AS binaries

# The one final layout, whichever base and binary: glibc and libgcc only, no shell, no package
# manager.
FROM ${BASE_IMAGE}
COPY --from=binaries /out/dice-operator /usr/local/bin/dice-operator
USER 65532:65532
EXPOSE 8081
ENTRYPOINT ["/usr/local/bin/dice-operator"]
CMD ["run"]

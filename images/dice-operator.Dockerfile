# syntax=docker/dockerfile:1
# dice-operator: built from the workspace root (`make images`), runs as the distroless nonroot
# user with a read-only root filesystem (it writes nothing to disk).
FROM docker.io/library/rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked -p dice-operator --bin dice-operator \
 && install -D target/release/dice-operator /out/dice-operator

# glibc and libgcc only: the binary links them dynamically; no shell, no package manager.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/dice-operator /usr/local/bin/dice-operator
USER 65532:65532
EXPOSE 8081
ENTRYPOINT ["/usr/local/bin/dice-operator"]
CMD ["run"]

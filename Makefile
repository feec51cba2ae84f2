# dice-operator: `make demo` runs the service locally, `make test` runs every check CI runs.
CARGO ?= cargo
NEXTEST_PROFILE := $(if $(CI),ci,default)

.PHONY: all build generate test test-tools fmt fmt-check lint unit demo bench clean

all: build

build:
	$(CARGO) build --workspace --all-targets

## generate: regenerate committed artefacts (a test fails when they drift)
generate:
	$(CARGO) run -q -p dice-operator -- crd > crds/diceservice.yaml

## test: format check, clippy with -D warnings, then every test (installs promtool when root)
test: test-tools fmt-check lint unit

test-tools:
	@scripts/install-test-tools.sh promtool

fmt:
	$(CARGO) fmt --all

fmt-check:
	$(CARGO) fmt --all -- --check

lint:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

unit:
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
		$(CARGO) nextest run --workspace --profile $(NEXTEST_PROFILE); \
	else \
		echo "cargo-nextest not found; using cargo test"; \
		$(CARGO) test --workspace; \
	fi

## demo: run dice-server on http://127.0.0.1:8080 with human-readable logs (Ctrl-C stops it)
demo:
	$(CARGO) build --release -p dice-workload
	@echo "dice-server on http://127.0.0.1:8080  — try: curl '127.0.0.1:8080/roll?die=risky'"
	@echo "metrics: curl 127.0.0.1:8080/metrics   (Ctrl-C to stop)"
	DICE_LISTEN=127.0.0.1:8080 DICE_LOG_FORMAT=pretty ./target/release/dice-server

## bench: dice-server vs the uninstrumented baseline under wrk; writes bench/RESULTS.md
bench:
	bench/run.sh

clean:
	$(CARGO) clean

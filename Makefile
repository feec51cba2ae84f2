# dice-operator: `make demo` runs the service locally, `make test` runs every check CI runs.
CARGO ?= cargo
NEXTEST_PROFILE := $(if $(CI),ci,default)
# A CI build happens once: incremental state would only cost time and disk.
ifdef CI
export CARGO_INCREMENTAL := 0
endif

.PHONY: all build generate test test-tools fmt fmt-check lint unit demo bench e2e-cluster clean

all: build

build:
	$(CARGO) build --workspace --all-targets

## generate: regenerate committed artefacts (a test fails when they drift)
generate:
	$(CARGO) run -q -p dice-operator -- crd > crds/diceservice.yaml

## test: format check, clippy with -D warnings, then every test (installs promtool when root)
test: test-tools fmt-check lint unit

test-tools:
	@scripts/install-test-tools.sh promtool amtool

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

## e2e-cluster: the operator's end-to-end scenario against the cluster in KUBECONFIG (opt-in).
## Creates and deletes a namespace dice-e2e-<time>, installs the CRD; DICE_E2E_IMAGE must be a
## dice-server image the cluster's nodes can pull (kind: `kind load docker-image`).
e2e-cluster:
	@test -n "$$KUBECONFIG" || test -f "$$HOME/.kube/config" || { echo "e2e-cluster: set KUBECONFIG to a cluster you may write to"; exit 2; }
	$(CARGO) nextest run -p dice-operator --test binary_e2e --run-ignored only --no-capture

## bench: dice-server vs the uninstrumented baseline under wrk; writes bench/RESULTS.md
bench:
	bench/run.sh

clean:
	$(CARGO) clean

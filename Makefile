# dice-operator: `make demo` runs the service locally, `make test` runs every check CI runs.
CARGO ?= cargo
NEXTEST_PROFILE := $(if $(CI),ci,default)
# A CI build happens once: incremental state would only cost time and disk.
ifdef CI
export CARGO_INCREMENTAL := 0
endif

.PHONY: all build generate images images-local test test-tools stack-tools fmt fmt-check lint unit demo bench e2e-cluster clean

all: build

build:
	$(CARGO) build --workspace --all-targets

## generate: regenerate committed artefacts (a test fails when they drift)
generate:
	$(CARGO) run -q -p dice-operator -- crd > crds/diceservice.yaml
	cp crds/diceservice.yaml charts/dice-operator/crds/diceservice.yaml
	DICE_UPDATE_DOCS=1 $(CARGO) test -q -p dice-operator --test operator -- docs:: alert_docs::
	@scripts/install-chart-tools.sh
	scripts/render-install-manifest.sh > manifests/install.yaml

## images: build the dice-operator and dice-server images with docker or podman, from source
## in the pinned Rust image onto the pinned distroless base (needs a registry)
IMAGE_REGISTRY ?= ghcr.io/dice-operator
IMAGE_TAG ?= $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
CONTAINER_ENGINE ?= $(shell command -v docker || command -v podman)
images:
	@test -n "$(CONTAINER_ENGINE)" || { echo "images: neither docker nor podman found (see docs/install.md, Images)"; exit 2; }
	$(CONTAINER_ENGINE) build -f images/dice-operator.Dockerfile -t $(IMAGE_REGISTRY)/dice-operator:$(IMAGE_TAG) .
	$(CONTAINER_ENGINE) build -f images/dice-server.Dockerfile -t $(IMAGE_REGISTRY)/dice-server:$(IMAGE_TAG) .

## images-local: the same images with no registry: host-built release binaries on a base made
## from Debian packages (installs podman as root; SKIP otherwise). `make test` runs the images.
images-local:
	@CARGO=$(CARGO) scripts/build-local-images.sh $(IMAGE_REGISTRY) $(IMAGE_TAG)

## test: format check, clippy with -D warnings, then every test (installs the Prometheus tools when root)
test: test-tools fmt-check lint images-local unit

# promtool, amtool, the programs of the live alert path (Prometheus, Alertmanager, blackbox
# exporter), Chromium for the live page's browser test and PostgreSQL for the history tests.
STACK_TOOLS := promtool amtool prometheus prometheus-alertmanager prometheus-blackbox-exporter
TEST_TOOLS := $(STACK_TOOLS) chromium pg_ctlcluster

test-tools:
	@scripts/install-test-tools.sh $(TEST_TOOLS)
	@scripts/install-chart-tools.sh

stack-tools:
	@scripts/install-test-tools.sh $(STACK_TOOLS)

fmt:
	$(CARGO) fmt --all

fmt-check:
	$(CARGO) fmt --all -- --check

lint:
	scripts/check-module-graph.py
	$(CARGO) clippy --workspace --all-targets -- -D warnings

unit:
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
		$(CARGO) nextest run --workspace --profile $(NEXTEST_PROFILE); \
	else \
		echo "cargo-nextest not found; using cargo test"; \
		$(CARGO) test --workspace; \
	fi

## demo: the full example's alert path on 127.0.0.1 — dice-server, Prometheus, Alertmanager,
## blackbox exporter, a Slack/PagerDuty capture receiver and traffic (Ctrl-C stops it all)
demo: stack-tools
	$(CARGO) build -p dice-workload -p dice-operator -p dice-stack --bins
	./target/debug/dice-stack

## e2e-cluster: the operator's end-to-end scenario against the cluster in KUBECONFIG (opt-in).
## Creates and deletes a namespace dice-e2e-<time>, installs the CRD; DICE_E2E_IMAGE must be a
## dice-server image the cluster's nodes can pull (kind: `kind load docker-image`).
e2e-cluster:
	@test -n "$$KUBECONFIG" || test -f "$$HOME/.kube/config" || { echo "e2e-cluster: set KUBECONFIG to a cluster you may write to"; exit 2; }
	$(CARGO) nextest run -p dice-operator --test operator --run-ignored only --no-capture -E 'test(/^binary_e2e::/)'

## bench: dice-server vs the uninstrumented baseline under wrk; writes bench/RESULTS.md
bench:
	bench/run.sh

clean:
	$(CARGO) clean

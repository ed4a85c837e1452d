#!/usr/bin/env bash
# The deploy test (test/deploy/prometheus.e2e.test.ts) runs Debian's prometheus against the running
# apps, and promtool on deploy/prometheus. Installs the package when missing and we are root;
# otherwise says how and fails. PROMETHEUS_PATH and PROMTOOL_PATH override the executables
# (default /usr/bin/prometheus, /usr/bin/promtool).
set -euo pipefail
BIN="${PROMETHEUS_PATH:-/usr/bin/prometheus}"
TOOL="${PROMTOOL_PATH:-/usr/bin/promtool}"
[[ -x "$BIN" && -x "$TOOL" ]] && exit 0
if [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
  echo "doubletap: installing prometheus for the deploy test (apt-get)" >&2
  apt-get update -qq
  # no recommends: the node exporter is not needed. The package's service is not used by the tests
  # (where systemd runs, it starts one on :9090; the tests use their own port and config).
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  [[ -x "$BIN" && -x "$TOOL" ]] && exit 0
  echo "doubletap: prometheus installed but $BIN or $TOOL is not executable; set PROMETHEUS_PATH / PROMTOOL_PATH" >&2
  exit 1
fi
cat >&2 <<MSG
doubletap: the deploy test needs Prometheus at $BIN and promtool at $TOOL.
  Debian/Ubuntu: sudo apt-get install -y --no-install-recommends prometheus
  or point PROMETHEUS_PATH and PROMTOOL_PATH at existing binaries (Prometheus 2.x).
MSG
exit 1

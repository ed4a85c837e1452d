#!/usr/bin/env bash
# The browser test (apps/api/test/page.e2e.test.ts) drives Debian's chromium with playwright-core.
# Installs it when missing and we are root; otherwise says how and fails.
# CHROMIUM_PATH overrides the executable (default /usr/bin/chromium).
set -euo pipefail
BIN="${CHROMIUM_PATH:-/usr/bin/chromium}"
[[ -x "$BIN" ]] && exit 0
if [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
  echo "doubletap: installing chromium for the browser test (apt-get)" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  [[ -x "$BIN" ]] && exit 0
  echo "doubletap: chromium installed but $BIN is not executable; set CHROMIUM_PATH" >&2
  exit 1
fi
cat >&2 <<MSG
doubletap: the browser test needs Chromium at $BIN.
  Debian/Ubuntu: sudo apt-get install -y chromium
  or point CHROMIUM_PATH at an existing chromium/chrome binary.
MSG
exit 1
